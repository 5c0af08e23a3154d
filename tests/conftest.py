"""Shared test doubles. IBM is reached only through ``service``: a stand-in for
``QiskitRuntimeService`` (the service boundary) whose jobs run in Qiskit Runtime local testing
mode on FakeLagos, with IBM's string statuses, job ids and tags."""

import pytest

from hwadapt.backends import fake_backend, runtime
from hwadapt.execution import drive


class FakeJob:
    """What the service boundary returns: string statuses, result(), cancel()."""

    def __init__(self, local_job, tags, final="DONE"):
        self.local, self.tags, self.final, self.polls = local_job, set(tags), final, 0

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


class FakeService:
    def __init__(self, final="DONE"):
        self.device, self.by_id, self.submitted, self.final = fake_backend("fake_lagos"), {}, 0, \
            final

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
            self.inner = real(mode, options)
            self.options = self.inner.options

        def run(self, pubs):
            tags = self.options.environment.job_tags
            if not tags:  # a fake_<device> run (only the IBM path tags its jobs)
                return self.inner.run(pubs)
            svc.submitted += 1
            job = FakeJob(self.inner.run(pubs), tags, svc.final)
            svc.by_id[job.job_id()] = job
            return job

    monkeypatch.setattr("hwadapt.backends.runtime.runtime_sampler", Sampler)
    real_estimator = runtime.runtime_estimator
    svc.estimator_options = []  # the options object of every IBM Estimator job

    class Estimator:  # the same for Runtime's Estimator
        def __init__(self, mode, options=None, implementation=None):
            self.inner = real_estimator(mode, options, implementation)
            self.options = self.inner.options

        def run(self, pubs):
            if not self.options.environment.job_tags:  # a fake_<device> run
                return self.inner.run(pubs)
            svc.submitted += 1
            svc.estimator_options.append(self.options)
            job = FakeJob(self.inner.run(pubs), self.options.environment.job_tags, svc.final)
            svc.by_id[job.job_id()] = job
            return job

    monkeypatch.setattr("hwadapt.backends.runtime.runtime_estimator", Estimator)
    monkeypatch.setattr(drive, "POLL_S", 0.0)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "SECRET-TOKEN-abc123")
    return svc
