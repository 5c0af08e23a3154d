"""A service double whose jobs and modes live in a folder, so that a second process (after
``kill -9``) sees what the first submitted. Jobs run in Runtime local testing mode on FakeLagos
when their result is read, seeded, so every read gives the same counts. A job stays QUEUED
until the file ``<root>/release`` exists; the first poll writes ``<root>/polled``.

Used by test_kill9.py as a child process: ``python disk_service.py ROOT LEDGER submit|resume``.
"""

from __future__ import annotations

import json
import pickle
import sys
import uuid
from pathlib import Path

from hwadapt.backends import fake_backend, runtime

SMALL = Path(__file__).parents[2] / "jobs" / "small.toml"


class DiskMode:
    def __init__(self, root: Path, kind: str, session_id: str):
        self.root, self.kind, self.session_id = root, kind, session_id

    @property
    def file(self) -> Path:
        return self.root / "modes" / f"{self.session_id}.json"

    def close(self):
        data = json.loads(self.file.read_text())
        self.file.write_text(json.dumps({**data, "closed": True}))

    def status(self):
        return "Closed" if json.loads(self.file.read_text())["closed"] else \
            "In progress, accepting new jobs"


class DiskJob:
    def __init__(self, root: Path, job_id: str):
        self.root, self.id = root, job_id
        self.meta = json.loads((root / "jobs" / f"{job_id}.json").read_text())

    def job_id(self):
        return self.id

    def status(self):
        (self.root / "polled").touch()
        return "DONE" if (self.root / "release").exists() else "QUEUED"

    def result(self):
        with open(self.root / "jobs" / f"{self.id}.pkl", "rb") as f:
            pubs, seed = pickle.load(f)
        sampler = REAL_SAMPLER(fake_backend("fake_lagos"))
        sampler.options.simulator.seed_simulator = seed
        return sampler.run(pubs).result()

    def cancel(self):
        pass


class DiskService:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        for sub in ("jobs", "modes"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.device = fake_backend("fake_lagos")

    def backend(self, name):
        return self.device

    def job(self, job_id):
        return DiskJob(self.root, job_id)

    def jobs(self, job_tags):
        return [DiskJob(self.root, p.stem) for p in sorted((self.root / "jobs").glob("*.json"))
                if set(job_tags) <= set(json.loads(p.read_text())["tags"])]

    def open_mode(self, kind, mode_id=None):
        if mode_id is not None:
            if not (self.root / "modes" / f"{mode_id}.json").exists():
                raise RuntimeError(f"Session not found: {mode_id}")
            return DiskMode(self.root, kind, mode_id)
        mode = DiskMode(self.root, kind, f"{kind}-{uuid.uuid4().hex[:8]}")
        mode.file.write_text(json.dumps({"kind": kind, "closed": False}))
        return mode


REAL_SAMPLER = runtime.runtime_sampler


def install(root: str | Path) -> DiskService:
    """Route Runtime (sampler, modes) of ``ibm_*`` to a :class:`DiskService` at ``root``."""
    svc = DiskService(root)

    class Sampler:
        def __init__(self, mode, options=None):
            self.mode = mode if isinstance(mode, DiskMode) else None
            self.inner = REAL_SAMPLER(svc.device, options)
            self.options = self.inner.options

        def run(self, pubs):
            job_id = f"disk-{uuid.uuid4().hex[:10]}"
            seed = int(self.options.environment.job_tags[0].rsplit("-b", 1)[1].split("-")[0])
            with open(svc.root / "jobs" / f"{job_id}.pkl", "wb") as f:
                pickle.dump((pubs, seed), f)
            meta = {"tags": list(self.options.environment.job_tags),
                    "mode": self.mode.session_id if self.mode else None}
            (svc.root / "jobs" / f"{job_id}.json").write_text(json.dumps(meta))
            return DiskJob(svc.root, job_id)

    runtime.runtime_sampler = Sampler
    runtime.runtime_mode = lambda kind, backend, service, mode_id=None: \
        service.open_mode(kind, mode_id)
    return svc


if __name__ == "__main__":
    from hwadapt.execution import drive, manager

    root, ledger, action = sys.argv[1:4]
    drive.POLL_S = 0.05
    service = install(root)
    if action == "submit":
        manager.submit(SMALL, "ibm_lagos", ledger, service=service, mode="batch")
    else:
        manager.resume(ledger, service=service)
    print("finished")
