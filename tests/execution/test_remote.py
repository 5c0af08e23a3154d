"""Robust retrieval (hwadapt.execution.remote) against Runtime's known failure modes, with
service-double jobs: one polling pass over all pending jobs with backoff, results stored on
arrival before anything else, a result() that raises (cancelled meanwhile, failed), a QPY
warning on reading, and a job on a retired device still fetched."""

import warnings
from pathlib import Path

import pytest

from hwadapt.errors import InputError
from hwadapt.execution import manager, remote, usage
from hwadapt.execution.ledger import Ledger

SMALL = Path(__file__).parents[2] / "jobs" / "small.toml"


class Job:
    """A remote job: ``polls`` statuses before ``final``; a log of every call."""

    def __init__(self, name, log, polls=1, final="DONE", result="R", once=False,
                 later_status=None, warn=None):
        self.name, self.log, self.left, self.final = name, log, polls, final
        self.value, self.once, self.reads = result, once, 0
        self.later_status, self.warn = later_status, warn

    def job_id(self):
        return f"id-{self.name}"

    def status(self):
        self.log.append(("status", self.name))
        if self.left > 0:
            self.left -= 1
            return "RUNNING"
        if self.reads and self.later_status:
            return self.later_status
        return self.final

    def result(self):
        self.log.append(("result", self.name))
        self.reads += 1
        if self.warn:
            warnings.warn(self.warn, UserWarning, stacklevel=1)
        if isinstance(self.value, Exception) or (self.once and self.reads > 1):
            raise self.value if isinstance(self.value, Exception) else RuntimeError("read twice")
        return self.value

    def usage(self):
        self.log.append(("usage", self.name))
        return 1.25


def _ledger(tmp_path, n):
    led = Ledger(tmp_path / "l.db")
    led.create_run("r1", "t", "ibm_x", None, "", "0", 1, {})
    led.add_batches("r1", [{"idx": k, "round": 0, "shots": 100,
                            "pubs": [{"family": 0, "inputs": [k]}], "seed": k}
                           for k in range(n)])
    batches = led.batches("r1")
    for b in batches:
        led.add_submission(b.id, f"tag{b.idx}")
    return led, batches


def _collect(led, batches, jobs, log, sleeps=None):
    def store(ledger, run, batch, tag, result):
        log.append(("store", jobs[batch.idx].name))
        ledger.set_batch_status(batch.id, "done")

    live = [(b, jobs[b.idx], f"tag{b.idx}") for b in batches]
    remote.collect(led, None, live, None, store, poll=1.0)


@pytest.fixture
def sleeps(monkeypatch):
    out = []
    monkeypatch.setattr(remote.time, "sleep", out.append)
    return out


def test_one_pass_over_all_jobs_with_backoff(tmp_path, sleeps):
    log = []
    led, batches = _ledger(tmp_path, 3)
    jobs = [Job("a", log, polls=1), Job("b", log, polls=4), Job("c", log, polls=2)]
    _collect(led, batches, jobs, log)
    polls = [n for kind, n in log if kind == "status"]
    # pass 1: a b c; pass 2: a (done) b c; pass 3: b c (done); then b alone
    assert polls[:3] == ["a", "b", "c"] and polls[3:6] == ["a", "b", "c"]
    assert polls[6:8] == ["b", "c"] and polls[8:] == ["b", "b"]
    # pause: reset to the base when a job finished, ×1.5 while none did
    assert sleeps == [1.5, 1.0, 1.0, 1.5]
    assert {b.status for b in led.batches("r1")} == {"done"}


def test_results_stored_on_arrival_before_any_other_work(tmp_path, sleeps):
    log = []
    led, batches = _ledger(tmp_path, 2)
    jobs = [Job("a", log, polls=0, result="A", once=True),
            Job("b", log, polls=0, result="B", once=True)]
    _collect(led, batches, jobs, log)
    assert log == [("status", "a"), ("result", "a"), ("store", "a"), ("usage", "a"),
                   ("status", "b"), ("result", "b"), ("store", "b"), ("usage", "b")]
    assert [j.reads for j in jobs] == [1, 1]  # a private job's result is read once
    assert usage.run_usage(led, "r1")["used"] == pytest.approx(2.5)


def test_result_raising_on_a_cancelled_job(tmp_path, sleeps):
    log = []
    led, batches = _ledger(tmp_path, 2)
    gone = Job("a", log, polls=0, result=RuntimeError("Job id-a was cancelled"),
               later_status="CANCELLED")
    broken = Job("b", log, polls=0, result=ValueError("cannot decode result"))
    _collect(led, batches, [gone, broken], log)
    a, b = led.batches("r1")
    assert a.status == "cancelled" and "Job id-a was cancelled" in a.reason
    assert b.status == "failed" and "ValueError: cannot decode result" in b.reason
    assert [s["status"] for s in led.submissions(a.id)] == ["CANCELLED"]
    assert ("store", "a") not in log and ("store", "b") not in log


def test_cancelled_status_never_reads_the_result(tmp_path, sleeps):
    log = []
    led, batches = _ledger(tmp_path, 1)
    _collect(led, batches, [Job("a", log, polls=0, final="CANCELLED")], log)
    assert ("result", "a") not in log and led.batches("r1")[0].status == "cancelled"


def test_qpy_version_warning_on_retrieval_is_one_line_and_result_kept(tmp_path, sleeps,
                                                                     capsys):
    log = []
    led, batches = _ledger(tmp_path, 1)
    msg = ("The qpy format version being read, 17, is newer than the latest version this "
           "Qiskit supports (16).\nUpgrade qiskit.")
    _collect(led, batches, [Job("a", log, polls=0, result="A", warn=msg)], log)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["warning: job id-a: The qpy format version being read, 17, is newer than "
                   "the latest version this Qiskit supports (16)."]
    assert ("store", "a") in log and led.batches("r1")[0].status == "done"


@pytest.mark.slow
def test_job_on_a_retired_device_is_still_fetched(tmp_path, service):
    path = tmp_path / "l.db"
    rid = manager.submit(SMALL, "ibm_lagos", path, detach=True, service=service)
    from qiskit.providers.exceptions import QiskitBackendNotFoundError

    def retired(name):
        raise QiskitBackendNotFoundError(f"Unable to create configuration for {name}. This "
                                         "might happen for example when a backend is retired.")
    service.backend = retired
    s = manager.fetch(path, rid, service=service)
    assert s["batches"] == {"done": len(Ledger(path).batches(rid))}
    with pytest.raises(InputError, match="ibm_lagos is not available .*retired"):
        manager.submit(SMALL, "ibm_lagos", tmp_path / "m.db", service=service)
    assert not (tmp_path / "m.db").exists()
