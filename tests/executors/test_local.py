"""The local executor: results complete and correct, task errors raised, lost workers retried,
one compute thread per worker."""

import pytest
from executor_tasks import always_die, chatty, die_once, fail_on_three, square, worker_settings

from hwadapt.executors import LocalExecutor, WorkerLost


@pytest.mark.parametrize("workers", [1, 2])
def test_map_unordered_yields_every_result_once(workers):
    items = list(range(23))
    with LocalExecutor(workers) as ex:
        got = list(ex.map_unordered(square, items))
        assert ex.map(square, items) == [x * x for x in items]
    assert sorted(i for i, _ in got) == items
    assert all(r == square(items[i]) for i, r in got)
    assert ex.parallel == (workers > 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_task_error_is_raised_on_the_driver(workers):
    with LocalExecutor(workers) as ex, pytest.raises(ValueError, match="three"):
        ex.map(fail_on_three, list(range(6)))


def test_a_lost_worker_task_is_rerun(tmp_path):
    items = [(str(tmp_path), x) for x in range(8)]
    with LocalExecutor(2) as ex:
        assert ex.map(die_once, items) == [x + 100 for x in range(8)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"ran-{x}" for x in range(0, 8, 2)]


def test_a_worker_that_always_dies_gives_up():
    with LocalExecutor(2) as ex, pytest.raises(WorkerLost, match="fewer --workers"):
        ex.map(always_die, [1, 2], retries=1)


def test_workers_run_with_one_thread():
    with LocalExecutor(2) as ex:
        got = ex.map(worker_settings, list(range(4)))
    assert {g["threads"] for g in got} == {1}
    assert {g["omp"] for g in got} == {"1"}


def test_worker_output_does_not_reach_the_driver_terminal(capfd):
    with LocalExecutor(2) as ex:
        assert ex.map(chatty, [1, 2, 3]) == [1, 2, 3]
    out, err = capfd.readouterr()
    assert "noise" not in out and "noise" not in err
