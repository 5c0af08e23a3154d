"""Shared test doubles. IBM is reached only through ``service``: a stand-in for
``QiskitRuntimeService`` (the service boundary) whose jobs run in Qiskit Runtime local testing
mode on FakeLagos, with IBM's string statuses, job ids and tags."""

import sqlite3
from pathlib import Path

import pytest

from hwadapt.backends import fake_backend, runtime
from hwadapt.execution import drive


class FakeJob:
    """What the service boundary returns: string statuses, result(), cancel(), the QPU-time
    accessors (``usage_estimation``, ``usage()``, ``metrics()``) and its mode's id."""

    USAGE_ESTIMATION_S = 3.5  # what the double's IBM "estimates" per job
    USAGE_S = 2.0  # and bills once done

    def __init__(self, local_job, tags, final="DONE", session_id=None):
        self.local, self.tags, self.final, self.polls = local_job, set(tags), final, 0
        self.session_id = session_id
        self.usage_estimation = {"quantum_seconds": self.USAGE_ESTIMATION_S}

    def usage(self):
        return self.USAGE_S if self.final == "DONE" and self.polls >= 2 else 0

    def metrics(self):
        return {"usage": {"quantum_seconds": self.usage(), "seconds": self.usage()}}

    def job_id(self):
        return "ibm-" + self.local.job_id()

    def status(self):
        self.polls += 1
        return "QUEUED" if self.polls < 2 else self.final

    def result(self):
        if self.final != "DONE":
            raise RuntimeError("result() on a failed job")
        return self.local.result()

    def error_message(self):
        return "Error 1234: device fell over" if self.final == "ERROR" else None

    def cancel(self):
        self.final = "CANCELLED"


class FakeMode:
    """A Runtime ``Batch``/``Session`` at the service boundary: an id, its jobs, close()."""

    def __init__(self, kind, session_id):
        self.kind, self.session_id, self.jobs, self.closed = kind, session_id, [], False

    def close(self):
        self.closed = True

    def status(self):
        return "Closed" if self.closed else "In progress, accepting new jobs"


REFUSAL = ("'403 Client Error: Forbidden. You are not authorized to run a session when using "
           "the open plan.'")


class FakeService:
    """``open_plan``: sessions are refused as IBM refuses them on the Open plan (True: when
    the session is opened; ``"at_run"``: at its first job)."""

    def __init__(self, final="DONE", open_plan=False):
        self.device, self.by_id, self.submitted, self.final = fake_backend("fake_lagos"), {}, 0, \
            final
        self.open_plan, self.modes = open_plan, {}

    def open_mode(self, kind, mode_id=None):
        if mode_id is not None:
            if mode_id not in self.modes:
                raise RuntimeError(f"Session not found: {mode_id}")
            return self.modes[mode_id]
        if kind == "session" and self.open_plan is True:
            raise RuntimeError(REFUSAL)
        mode = FakeMode(kind, f"{kind}-{len(self.modes)}")
        self.modes[mode.session_id] = mode
        return mode

    def backend(self, name):
        return self.device

    def job(self, job_id):
        return self.by_id[job_id]

    def jobs(self, job_tags):
        return [j for j in self.by_id.values() if set(job_tags) <= j.tags]


@pytest.fixture
def service(monkeypatch):
    svc = FakeService()
    real = runtime.runtime_sampler

    class Sampler:  # records what Runtime would see, then runs in local testing mode
        def __init__(self, mode, options=None):
            self.mode = mode if isinstance(mode, FakeMode) else None
            self.inner = real(svc.device if self.mode else mode, options)
            self.options = self.inner.options

        def run(self, pubs):
            tags = self.options.environment.job_tags
            if not tags:  # a fake_<device> run (only the IBM path tags its jobs)
                return self.inner.run(pubs)
            if self.mode is not None and self.mode.closed:
                raise RuntimeError(f"{self.mode.kind} {self.mode.session_id} is closed")
            if self.mode is not None and self.mode.kind == "session" and \
                    svc.open_plan == "at_run":
                raise RuntimeError(REFUSAL)
            svc.submitted += 1
            job = FakeJob(self.inner.run(pubs), tags, svc.final,
                          self.mode.session_id if self.mode else None)
            if self.mode is not None:
                self.mode.jobs.append(job.job_id())
            svc.by_id[job.job_id()] = job
            return job

    svc.sampler_class = Sampler
    monkeypatch.setattr("hwadapt.backends.runtime.runtime_sampler", Sampler)
    monkeypatch.setattr("hwadapt.backends.runtime.runtime_mode",
                        lambda kind, backend, service, mode_id=None:
                        service.open_mode(kind, mode_id))
    real_estimator = runtime.runtime_estimator
    svc.estimator_options = []  # the options object of every IBM Estimator job

    class Estimator:  # the same for Runtime's Estimator
        def __init__(self, mode, options=None, implementation=None):
            self.mode = mode if isinstance(mode, FakeMode) else None
            self.inner = real_estimator(svc.device if self.mode else mode, options,
                                        implementation)
            self.options = self.inner.options

        def run(self, pubs):
            if not self.options.environment.job_tags:  # a fake_<device> run
                return self.inner.run(pubs)
            svc.submitted += 1
            svc.estimator_options.append(self.options)
            job = FakeJob(self.inner.run(pubs), self.options.environment.job_tags, svc.final,
                          self.mode.session_id if self.mode else None)
            if self.mode is not None:
                self.mode.jobs.append(job.job_id())
            svc.by_id[job.job_id()] = job
            return job

    monkeypatch.setattr("hwadapt.backends.runtime.runtime_estimator", Estimator)
    monkeypatch.setattr(drive, "POLL_S", 0.0)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "SECRET-TOKEN-abc123")
    return svc


@pytest.fixture(autouse=True)
def _one_worker_unless_asked(monkeypatch):
    """Commands run their tasks in-process (``HWADAPT_WORKERS=1``, also in subprocesses)
    unless a test asks for workers: the default pool (one worker per core) would make every
    CLI test start worker processes. tests/executors and the tests that pass ``--workers``
    or an executor cover the pool and Ray."""
    monkeypatch.setenv("HWADAPT_WORKERS", "1")


def _folder_state(folder: Path) -> dict:
    """What ``folder`` stores: every file's bytes, an SQLite database (``*.db``) as its SQL
    dump (read through a read-only connection) in place of its bytes and its ``-wal``/``-shm``
    files: SQLite checkpoints the WAL into the database file whenever a connection closes,
    which an in-process command may leave to the garbage collector or a heartbeat thread, so
    the bytes move while the data stays. Comparing two snapshots shows every row and file
    written in between."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name.endswith(("-wal", "-shm")):
            continue
        if p.suffix == ".db":
            con = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
            try:
                out[p] = "\n".join(con.iterdump())
            finally:
                con.close()
        else:
            out[p] = p.read_bytes()
    return out


@pytest.fixture
def folder_state():
    """:func:`_folder_state`: ``folder_state(path)`` snapshots what a folder stores."""
    return _folder_state
