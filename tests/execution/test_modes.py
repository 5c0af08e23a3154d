"""Runtime execution modes through the service double (tests/conftest.py): one Batch for a
run's jobs, the Open-plan session refusal falling back to batch, reattaching after a crash,
closing on exit and on cancel, local backends ignoring modes; the QPU-seconds guard."""

from pathlib import Path

import pytest

from hwadapt.errors import InputError
from hwadapt.execution import drive, manager, modes, usage
from hwadapt.execution.ledger import Ledger

SMALL = Path(__file__).parents[2] / "jobs" / "small.toml"


def _jobs(led, rid):
    return [s["job_id"] for b in led.batches(rid) for s in led.submissions(b.id)]


@pytest.mark.slow
def test_batch_mode_two_shot_counts_one_batch(tmp_path, service):
    path = tmp_path / "l.db"
    rid = manager.submit(SMALL, "ibm_lagos", path, service=service, mode="batch")
    led = Ledger(path)
    first = [b for b in led.batches(rid) if b.round == 0]
    assert len({b.shots for b in first}) >= 2  # one job per shot count
    [batch] = service.modes.values()
    assert batch.kind == "batch" and batch.closed  # closed when the driver stopped
    assert sorted(batch.jobs) == sorted(_jobs(led, rid)) and len(batch.jobs) >= 2
    assert usage.modes(led, rid) == [{"kind": "batch", "mode_id": batch.session_id,
                                      "open": False}]
    # QPU time: the model's estimate, IBM's usage_estimation and the billed usage per job
    u = usage.run_usage(led, rid)
    n = len(batch.jobs)
    assert u["ibm_estimated"] == pytest.approx(n * 3.5) and u["used"] == pytest.approx(n * 2.0)
    assert u["estimated"] > 0
    assert manager.summary(led, rid)["qpu_seconds"] == u
    assert manager.summary(led, rid)["modes"] == usage.modes(led, rid)


@pytest.mark.slow
def test_default_mode_is_batch_for_several_jobs(tmp_path, service):
    path = tmp_path / "l.db"
    rid = manager.submit(SMALL, "ibm_lagos", path, service=service)
    [batch] = service.modes.values()
    assert batch.kind == "batch" and len(batch.jobs) == len(_jobs(Ledger(path), rid)) > 1


@pytest.mark.slow
@pytest.mark.parametrize("when", [True, "at_run"])
def test_session_refused_on_open_plan_falls_back_to_batch(tmp_path, service, capsys, when):
    service.open_plan = when  # refused when opened, or only at its first job
    path = tmp_path / "l.db"
    rid = manager.submit(SMALL, "ibm_lagos", path, service=service, mode="session")
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("warning:")]
    assert len(err) == 1 and "batch" in err[0] and "not authorized" in err[0]
    [batch] = [m for m in service.modes.values() if m.kind == "batch"]
    assert sorted(batch.jobs) == sorted(_jobs(Ledger(path), rid))
    assert usage.modes(Ledger(path), rid)[-1] == {"kind": "batch", "mode_id": batch.session_id,
                                                  "open": False}
    assert all(m.closed for m in service.modes.values())


@pytest.mark.slow
def test_session_where_allowed(tmp_path, service):
    manager.submit(SMALL, "ibm_lagos", tmp_path / "l.db", service=service, mode="session")
    assert [m.kind for m in service.modes.values()] == ["session"]


def _crash_on_second_submit(monkeypatch):
    """In-process stand-in for kill -9 after the 2nd submission: nothing is cleaned up."""
    class Crash(BaseException):
        pass

    hits = []

    def crash(name):
        if name == "after_submit":
            hits.append(name)
            if len(hits) == 2:
                raise Crash
    monkeypatch.setattr(drive, "crash_point", crash)
    monkeypatch.setattr(drive, "close_run_modes", lambda *a: None)  # killed: no clean-up
    return Crash


@pytest.mark.slow
@pytest.mark.parametrize("expired", [False, True])
def test_resume_reattaches_open_batch_or_opens_new(tmp_path, service, monkeypatch, expired):
    crash = _crash_on_second_submit(monkeypatch)
    path = tmp_path / "l.db"
    with pytest.raises(crash):
        manager.submit(SMALL, "ibm_lagos", path, service=service, mode="batch")
    monkeypatch.undo()  # back to the real hooks; keep the service double
    monkeypatch.setattr("hwadapt.backends.runtime.runtime_sampler",
                        service.sampler_class)
    monkeypatch.setattr("hwadapt.backends.runtime.runtime_mode",
                        lambda kind, backend, svc, mode_id=None: svc.open_mode(kind, mode_id))
    monkeypatch.setattr(drive, "POLL_S", 0.0)
    [rid] = [r["id"] for r in Ledger(path).runs()]
    [first] = service.modes.values()
    assert not first.closed and usage.open_mode(Ledger(path), rid)["mode_id"] == \
        first.session_id
    first.closed = expired  # its time limit passed meanwhile
    [s] = manager.resume(path, rid, service=service)
    led = Ledger(path)
    assert s["status"] == "done"
    jobs = _jobs(led, rid)
    assert len(jobs) == len(set(jobs)) == len(service.by_id)  # none lost, none twice
    opened = list(service.modes.values())
    assert len(opened) == (2 if expired else 1) and all(m.closed for m in opened)
    assert sorted(j for m in opened for j in m.jobs) == sorted(jobs)
    assert [m["open"] for m in usage.modes(led, rid)] == [False] * len(opened)


@pytest.mark.slow
def test_cancel_closes_the_open_mode(tmp_path, service, monkeypatch):
    crash = _crash_on_second_submit(monkeypatch)
    path = tmp_path / "l.db"
    with pytest.raises(crash):
        manager.submit(SMALL, "ibm_lagos", path, service=service, mode="batch")
    [rid] = [r["id"] for r in Ledger(path).runs()]
    [mode] = service.modes.values()
    assert not mode.closed
    monkeypatch.setattr(drive, "close_run_modes", modes.close_run_modes)  # a new process
    s = manager.cancel(path, rid, service=service)
    assert s["status"] == "cancelled" and mode.closed
    assert usage.open_mode(Ledger(path), rid) is None


def test_local_backends_accept_and_ignore_modes(tmp_path):
    path = tmp_path / "l.db"
    rid = manager.submit(SMALL, "exact", path, mode="session")
    assert Ledger(path).run(rid)["status"] == "done"
    assert usage.modes(Ledger(path), rid) == []
    with pytest.raises(InputError, match="unknown execution mode 'dedicated'"):
        manager.submit(SMALL, "exact", path, mode="dedicated")


@pytest.mark.parametrize("existing", [False, True])
def test_max_qpu_seconds_refuses_before_submitting(tmp_path, service, existing, folder_state):
    path = tmp_path / "l.db"
    if existing:
        manager.submit(SMALL, "exact", path)
    before = folder_state(tmp_path)
    with pytest.raises(InputError, match=r"estimated QPU time .* exceeds max_qpu_seconds 1"):
        manager.submit(SMALL, "ibm_lagos", path, service=service, max_qpu_seconds=1)
    assert service.submitted == 0 and service.modes == {}
    assert folder_state(tmp_path) == before  # ledger rows unchanged, no run folder


def test_max_qpu_seconds_from_the_spec(tmp_path, service):
    spec = tmp_path / "s.toml"
    spec.write_text(SMALL.read_text().replace("[shots]", "[execution]\nmax_qpu_seconds = 0.5"
                                                        "\n\n[shots]"))
    with pytest.raises(InputError, match="exceeds max_qpu_seconds 0.5"):
        manager.submit(spec, "ibm_lagos", tmp_path / "l.db", service=service)
    assert not (tmp_path / "l.db").exists() and not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_estimator_jobs_go_into_the_batch(tmp_path, service):
    spec = Path(__file__).parents[2] / "jobs" / "observables.toml"
    rid = manager.submit(spec, "ibm_lagos", tmp_path / "l.db", service=service, mode="batch")
    led = Ledger(tmp_path / "l.db")
    assert led.run(rid)["status"] == "done"
    [batch] = service.modes.values()
    assert batch.kind == "batch" and batch.closed
    assert sorted(batch.jobs) == sorted(_jobs(led, rid)) and batch.jobs
    assert usage.run_usage(led, rid)["ibm_estimated"] == pytest.approx(3.5 * len(batch.jobs))
