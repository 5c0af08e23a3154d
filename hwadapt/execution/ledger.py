"""The ledger: one SQLite file recording runs, planned batches, submissions and results.

Tables (schema version in ``PRAGMA user_version``; WAL journal; foreign keys enforced):
- ``runs``: one row per ``hwadapt submit`` (spec text + digest, backend, status, reason).
- ``batches``: planned jobs of a run (round, shots, which family/inputs per PUB, seed).
- ``submissions``: one row per submission attempt, its unique ``tag`` written BEFORE the
  job is submitted, ``job_id`` recorded right after.
- ``results``: at most one row per batch (primary key): the stored counts file (NPZ under
  ``<ledger dir>/runs/<run_id>/``), its SHA-256 and an accepted-shots summary.
No model, circuit or token is stored here; circuits live in the run directory.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hwadapt.errors import InputError

SCHEMA_VERSION = 1
APP_ID = "hwadapt-ledger"
BATCH_STATUSES = ("planned", "submitted", "done", "failed", "cancelled")
RUN_STATUSES = ("active", "done", "failed", "cancelled")

_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    backend TEXT NOT NULL,
    noise_from TEXT,
    spec_text TEXT NOT NULL,
    spec_sha256 TEXT NOT NULL,
    seed INTEGER NOT NULL,
    artifacts TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN {RUN_STATUSES}),
    reason TEXT
);
CREATE TABLE batches (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    idx INTEGER NOT NULL,
    round INTEGER NOT NULL,
    shots INTEGER NOT NULL CHECK (shots > 0),
    pubs TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN {BATCH_STATUSES}),
    reason TEXT,
    UNIQUE (run_id, idx)
);
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    tag TEXT NOT NULL UNIQUE,
    job_id TEXT,
    created REAL NOT NULL,
    status TEXT
);
CREATE TABLE results (
    batch_id INTEGER PRIMARY KEY REFERENCES batches(id),
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    summary TEXT NOT NULL,
    stored REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Batch:
    """A planned job: ``pubs`` = ``[{"family": f, "inputs": [i, ...]}, ...]``, all at ``shots``."""

    id: int
    run_id: str
    idx: int
    round: int
    shots: int
    pubs: list[dict]
    seed: int
    status: str
    reason: str | None


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Ledger:
    """An open ledger file. Creates it if absent (``create=False``, for commands that only
    read: a missing file is an :class:`InputError`, nothing is created); refuses corrupt or
    foreign files.

    Every write is one transaction (``with ledger.tx() as db``); readers see committed
    state only. Run outputs live in ``runs_dir / run_id``.
    """

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        self.runs_dir = self.path.parent / "runs"
        if not create and not self.path.exists():
            raise InputError(f"no ledger at {str(self.path)!r}: nothing was submitted there; "
                             "submit a job first or pass --ledger (or HWADAPT_LEDGER) with "
                             "the ledger you used")
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if fresh:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA busy_timeout = 30000")
            if fresh:
                self._create()
            else:
                self._check()
            self.db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as e:
            raise InputError(f"ledger {str(self.path)!r} is not a readable hwadapt ledger "
                             f"({e}); it was left untouched: move it aside or pass --ledger "
                             "with another path") from None

    def _create(self) -> None:
        with self.tx() as db:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute("INSERT INTO meta VALUES ('app', ?)", (APP_ID,))
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _check(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        app = None
        if "meta" in tables:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'app'").fetchone()
            app = row[0] if row else None
        if app != APP_ID:
            raise InputError(f"ledger {str(self.path)!r} is an SQLite file but not an hwadapt "
                             "ledger; it was left untouched: pass --ledger with another path")
        if version != SCHEMA_VERSION:
            raise InputError(f"ledger {str(self.path)!r} has schema version {version}, this "
                             f"hwadapt reads {SCHEMA_VERSION}: use the matching hwadapt version")

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction: committed on success, rolled back on any exception."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    # -- runs ------------------------------------------------------------------------
    def create_run(self, run_id: str, name: str, backend: str, noise_from: str | None,
                   spec_text: str, spec_sha256: str, seed: int, artifacts: dict) -> None:
        """Insert a new active run; ``artifacts`` maps run-dir file names to SHA-256."""
        with self.tx() as db:
            db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?, 'active', NULL)",
                       (run_id, name, time.time(), backend, noise_from, spec_text, spec_sha256,
                        seed, json.dumps(artifacts)))

    def run(self, run_id: str) -> sqlite3.Row:
        """The run row, or :class:`InputError` naming ``hwadapt runs``."""
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise InputError(f"no run {run_id!r} in ledger {str(self.path)!r}: "
                             "`hwadapt runs` lists them")
        return row

    def runs(self, status: str | None = None) -> list[sqlite3.Row]:
        q, args = "SELECT * FROM runs", ()
        if status is not None:
            q, args = q + " WHERE status = ?", (status,)
        return list(self.db.execute(q + " ORDER BY created, id", args))

    def set_run_status(self, run_id: str, status: str, reason: str | None = None) -> None:
        with self.tx() as db:
            db.execute("UPDATE runs SET status = ?, reason = ? WHERE id = ?",
                       (status, reason, run_id))

    # -- batches ---------------------------------------------------------------------
    def add_batches(self, run_id: str, batches: list[dict]) -> None:
        """Insert one planning round atomically: dicts with idx, round, shots, pubs, seed."""
        with self.tx() as db:
            for b in batches:
                db.execute("INSERT INTO batches (run_id, idx, round, shots, pubs, seed, status)"
                           " VALUES (?,?,?,?,?,?, 'planned')",
                           (run_id, b["idx"], b["round"], b["shots"], json.dumps(b["pubs"]),
                            b["seed"]))

    def batches(self, run_id: str) -> list[Batch]:
        rows = self.db.execute("SELECT * FROM batches WHERE run_id = ? ORDER BY idx", (run_id,))
        return [Batch(r["id"], r["run_id"], r["idx"], r["round"], r["shots"],
                      json.loads(r["pubs"]), r["seed"], r["status"], r["reason"]) for r in rows]

    def set_batch_status(self, batch_id: int, status: str, reason: str | None = None) -> None:
        with self.tx() as db:
            db.execute("UPDATE batches SET status = ?, reason = ? WHERE id = ?",
                       (status, reason, batch_id))

    # -- submissions -----------------------------------------------------------------
    def add_submission(self, batch_id: int, tag: str) -> None:
        """Record the tag of a submission about to be made (before submitting)."""
        with self.tx() as db:
            db.execute("INSERT INTO submissions (batch_id, tag, created, status) "
                       "VALUES (?,?,?, 'PENDING')", (batch_id, tag, time.time()))
            db.execute("UPDATE batches SET status = 'submitted' WHERE id = ?", (batch_id,))

    def set_job(self, tag: str, job_id: str | None, status: str) -> None:
        with self.tx() as db:
            db.execute("UPDATE submissions SET job_id = coalesce(?, job_id), status = ? "
                       "WHERE tag = ?", (job_id, status, tag))

    def submissions(self, batch_id: int) -> list[sqlite3.Row]:
        return list(self.db.execute("SELECT * FROM submissions WHERE batch_id = ? ORDER BY id",
                                    (batch_id,)))

    # -- results ---------------------------------------------------------------------
    def store_result(self, batch_id: int, tag: str, path: Path, summary: dict) -> None:
        """Record a result file (already on disk) and mark its batch done, atomically."""
        digest = sha256_file(path)
        rel = str(path.relative_to(self.runs_dir))
        with self.tx() as db:
            db.execute("INSERT INTO results VALUES (?,?,?,?,?)",
                       (batch_id, rel, digest, json.dumps(summary), time.time()))
            db.execute("UPDATE batches SET status = 'done', reason = NULL WHERE id = ?",
                       (batch_id,))
            db.execute("UPDATE submissions SET status = 'DONE' WHERE tag = ?", (tag,))

    def result(self, batch_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM results WHERE batch_id = ?",
                               (batch_id,)).fetchone()

    def result_path(self, row: sqlite3.Row) -> Path:
        """The result file of ``row``, verified against its checksum."""
        path = self.runs_dir / row["path"]
        if not path.is_file() or sha256_file(path) != row["sha256"]:
            raise InputError(f"result file {str(path)!r} is missing or does not match its "
                             "checksum in the ledger: restore it from a backup (the ledger is "
                             "left untouched)")
        return path
