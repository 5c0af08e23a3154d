"""Runs driven on a process pool: the same batches, seeds and counts as the serial driver,
each batch stored once by the driver; a killed parallel driver resumes to the same counts;
``[shots] batch_bindings`` splits a run into smaller batches (checked against the plan
without it)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from hwadapt.execution import batching, manager
from hwadapt.execution.ledger import Ledger
from hwadapt.executors import LocalExecutor

SPEC = """
name = "par"
seed = 23
[circuit]
qubits = 4
layout = "pyramid"
terms = 2
alphas = [0.7, -0.3]
families = ["magnitude", "signs"]
[inputs]
count = 5
seed = 3
[shots]
target_accepted = 800
budget = 2_000_000
max_rounds = 2
batch_bindings = 3
"""


def _layout(path, rid) -> list[tuple]:
    led = Ledger(path, readonly=True)
    return [(b.idx, b.round, b.shots, b.seed, b.pubs, b.status) for b in led.batches(rid)]


def _stored_once(path, rid) -> None:
    led = Ledger(path, readonly=True)
    batches = led.batches(rid)
    ids = {b.id for b in batches}
    rows = [r[0] for r in led.db.execute("SELECT batch_id FROM results") if r[0] in ids]
    assert sorted(rows) == sorted(ids)  # every batch of the run stored, once
    assert [b.idx for b in batches] == list(range(len(batches)))
    subs = [s["status"] for b in batches for s in led.submissions(b.id)]
    assert set(subs) <= {"DONE", "LOST"} and subs.count("DONE") == len(batches)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    d = tmp_path_factory.mktemp("serial")
    (d / "s.toml").write_text(SPEC)
    rid = manager.submit(d / "s.toml", "aer_noisy", d / "l.db", noise_from="fake_lagos")
    return d, rid


def test_batch_bindings_splits_the_plan_in_the_same_order():
    rng = np.random.default_rng(4)
    for _ in range(30):
        shots = [rng.choice([0, 64, 100, 700], size=int(rng.integers(1, 9))) for _ in range(3)]
        k = int(rng.integers(1, 5))
        whole = batching.plan_jobs(shots, [100] * 3, [24] * 3)
        split = batching.plan_jobs(shots, [100] * 3, [24] * 3, batching.Limits(max_bindings=k))

        def flat(jobs):
            return [(j["shots"], p["family"], i) for j in jobs for p in j["pubs"]
                    for i in p["inputs"]]

        assert flat(split) == flat(whole)
        assert all(sum(len(p["inputs"]) for p in j["pubs"]) <= k for j in split)
        assert len(split) >= max(len(whole), -(-len(flat(whole)) // k))


def test_serial_run_uses_batch_bindings(serial):
    d, rid = serial
    layout = _layout(d / "l.db", rid)
    assert len(layout) > 2
    assert all(sum(len(p["inputs"]) for p in b[4]) <= 3 for b in layout)


@pytest.mark.slow  # two worker processes import qiskit
def test_two_workers_give_the_serial_batches_and_counts(serial, tmp_path):
    d, rid = serial
    (tmp_path / "s.toml").write_text(SPEC)
    with LocalExecutor(2) as ex:
        prid = manager.submit(tmp_path / "s.toml", "aer_noisy", tmp_path / "l.db",
                              noise_from="fake_lagos", executor=ex)
    assert _layout(tmp_path / "l.db", prid) == _layout(d / "l.db", rid)
    assert manager.run_counts(tmp_path / "l.db", prid) == manager.run_counts(d / "l.db", rid)
    _stored_once(tmp_path / "l.db", prid)


@pytest.mark.slow
def test_a_killed_parallel_driver_resumes_to_the_same_counts(serial, tmp_path):
    d, rid = serial
    (tmp_path / "s.toml").write_text(SPEC)
    code = ("import sys; from hwadapt.execution import manager; "
            "from hwadapt.executors import LocalExecutor\n"
            "if __name__ == '__main__':\n"
            "    with LocalExecutor(2) as ex:\n"
            "        manager.submit(sys.argv[1], 'aer_noisy', sys.argv[2], "
            "noise_from='fake_lagos', executor=ex)\n")
    script = tmp_path / "drive.py"
    script.write_text(code)
    env = dict(os.environ, HWADAPT_CRASH_AT="after_store:2")
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "s.toml"),
                        str(tmp_path / "l.db")], env=env, capture_output=True, text=True)
    assert r.returncode == 137, r.stderr
    [prid] = [row["id"] for row in Ledger(tmp_path / "l.db", readonly=True).runs()]
    assert 0 < sum(b[5] == "done" for b in _layout(tmp_path / "l.db", prid)) < \
        len(_layout(d / "l.db", rid))
    with LocalExecutor(2) as ex:
        summaries = manager.resume(tmp_path / "l.db", prid, executor=ex)
    assert summaries[0]["status"] == "done"
    assert manager.run_counts(tmp_path / "l.db", prid) == manager.run_counts(d / "l.db", rid)
    _stored_once(tmp_path / "l.db", prid)


@pytest.mark.slow
def test_resume_without_id_drives_the_local_runs_together(serial, tmp_path, monkeypatch):
    from hwadapt.execution import parallel

    d, rid = serial
    (tmp_path / "s.toml").write_text(SPEC)
    env = dict(os.environ, HWADAPT_CRASH_AT="after_store:1")
    code = ("import sys; from hwadapt.execution import manager\n"
            "manager.submit(sys.argv[1], 'aer_noisy', sys.argv[2], noise_from='fake_lagos')\n")
    for _ in range(2):  # two killed runs of the same spec, each with one batch stored
        r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.toml"),
                            str(tmp_path / "l.db")], env=env, capture_output=True, text=True)
        assert r.returncode == 137, r.stderr
    ids = [row["id"] for row in Ledger(tmp_path / "l.db", readonly=True).runs("active")]
    assert len(ids) == 2
    calls = []
    real = parallel.drive_runs
    monkeypatch.setattr(parallel, "drive_runs",
                        lambda ledger, runs, *a, **k: calls.append(sorted(r.run_id for r in runs))
                        or real(ledger, runs, *a, **k))
    with LocalExecutor(2) as ex:
        summaries = manager.resume(tmp_path / "l.db", executor=ex)
    assert calls == [sorted(ids)]  # one drive for both runs: their batches share the workers
    assert [s["status"] for s in summaries] == ["done", "done"]
    for prid in ids:
        assert manager.run_counts(tmp_path / "l.db", prid) == manager.run_counts(d / "l.db", rid)
        _stored_once(tmp_path / "l.db", prid)
