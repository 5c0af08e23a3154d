"""The ledger: one SQLite file recording runs, planned batches, submissions and results.

Tables (schema version in ``PRAGMA user_version``; WAL journal; foreign keys enforced):
- ``runs``: one row per ``hwadapt submit`` (spec text + digest, backend, status, reason).
- ``batches``: planned jobs of a run (round, shots, which family/inputs per PUB, seed).
- ``submissions``: one row per submission attempt, its unique ``tag`` written BEFORE the
  job is submitted, ``job_id`` recorded right after.
- ``results``: at most one row per batch (primary key): the stored counts file (NPZ under
  ``<ledger dir>/runs/<run_id>/``), its SHA-256 and an accepted-shots summary.
- ``estimates``: Estimator runs, one row per stored PUB (batch, pub index): ``evs``, ``stds``
  (JSON lists), the primitive ``options`` used and the PUB's ``metadata`` (JSON); made by
  :func:`hwadapt.execution.estimator_run.store_estimates` in older ledgers the first time
  it is needed (an additive migration: schema version unchanged).
- ``leases``: at most one driver per run (owner pid, host, process start time, heartbeat),
  taken in a transaction; a lease whose owner died is taken over.
No model, circuit or token is stored here; circuits live in the run directory.

Integrity: a new ledger is built under a unique temporary name and linked into place, so a
file at ``path`` is either a complete ledger or not one (a 0-byte file is refused, never
initialised). Opening for writing runs ``PRAGMA quick_check`` first and refuses a damaged file
without touching it; ``readonly=True`` opens with SQLite's ``mode=ro`` (commands that only
read never create, migrate or write a ledger).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hwadapt.errors import InputError, LedgerDamaged, RunBusy
from hwadapt.execution.leases import lease_owner, owner_alive, proc_start
from hwadapt.execution.schema import APP_ID, LEASES_TABLE, SCHEMA, SCHEMA_VERSION


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


def runs_dir_of(ledger_path: str | Path) -> Path:
    """The folder of the runs of the ledger at ``ledger_path`` (``runs`` beside it)."""
    return Path(ledger_path).parent / "runs"


class Ledger:
    """An open ledger file. Creates it if absent (``create=False``: a missing file is an
    :class:`InputError`, nothing is created; ``readonly=True`` also opens it read-only, for
    commands that only read); refuses damaged, empty or foreign files without touching them.

    Every write is one transaction (``with ledger.tx() as db``); readers see committed
    state only. Run outputs live in ``runs_dir / run_id``.
    """

    def __init__(self, path: str | Path, create: bool = True, readonly: bool = False):
        self.path = Path(path)
        self.runs_dir = runs_dir_of(self.path)
        self.readonly = readonly
        if not self.path.exists():
            if not create or readonly:
                raise InputError(f"no ledger at {str(self.path)!r}: nothing was submitted "
                                 "there; submit a job first or pass --ledger (or "
                                 "HWADAPT_LEDGER) with the ledger you used")
            self._create_file()
        if not self.path.is_file():
            raise InputError(f"ledger {str(self.path)!r} is not a file: pass --ledger with "
                             "the ledger file")
        self.db: sqlite3.Connection | None = None
        try:
            self.db = self._connect()
            self._check()
            if not readonly:
                self.check_integrity()
                if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self.db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as e:
            self.close()
            raise InputError(f"ledger {str(self.path)!r} is not a readable hwadapt ledger "
                             f"({e}); it was left untouched: move it aside or pass --ledger "
                             "with another path") from None
        except InputError:
            self.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            uri = "file:" + urllib.parse.quote(str(self.path.resolve())) + "?mode=ro"
            db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:  # WAL file in a read-only folder: no -shm
                db.close()
                if os.access(self.path.parent, os.W_OK):
                    raise
                db = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None)
        else:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA busy_timeout = 30000")
        return db

    def _create_file(self) -> None:
        """Build the schema in a uniquely named file and link it into place: concurrent
        first-time creators each build their own; the first link wins, the rest use it."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}-{uuid.uuid4().hex}.new")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(tmp, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("BEGIN IMMEDIATE")
                for stmt in SCHEMA.split(";"):
                    if stmt.strip():
                        db.execute(stmt)
                db.execute("INSERT INTO meta VALUES ('app', ?)", (APP_ID,))
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("COMMIT")
            finally:
                db.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it first: use that one
        except (OSError, sqlite3.DatabaseError) as e:
            raise InputError(f"cannot create ledger {str(self.path)!r} ({e}): pass --ledger "
                             "with a path in a writable folder") from None
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(str(tmp) + suffix).unlink(missing_ok=True)

    def _check(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        app = None
        if "meta" in tables:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'app'").fetchone()
            app = row[0] if row else None
        if app != APP_ID:
            raise InputError(f"ledger {str(self.path)!r} is not an hwadapt ledger (an empty "
                             "or foreign file); it was left untouched: pass --ledger with "
                             "another path")
        if version != SCHEMA_VERSION:
            raise InputError(f"ledger {str(self.path)!r} has schema version {version}, this "
                             f"hwadapt reads {SCHEMA_VERSION}: use the matching hwadapt version")
        self._has_leases = "leases" in tables

    def check_integrity(self) -> None:
        """``PRAGMA quick_check``; :class:`LedgerDamaged` (file untouched) if it fails."""
        try:
            rows = [r[0] for r in self.db.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as e:
            rows = [str(e)]
        if rows != ["ok"]:
            raise LedgerDamaged(f"ledger {str(self.path)!r} is damaged (SQLite quick_check: "
                                f"{rows[0]}); it was left untouched and nothing is written to "
                                "it: restore it from a backup or pass --ledger with another "
                                "path")

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction: committed on success, rolled back on any exception."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as e:
            if "readonly" not in str(e):
                raise
            raise InputError(f"ledger {str(self.path)!r} is read-only ({e}): this command "
                             "writes to it; make it writable or pass --ledger with a "
                             "writable copy") from None

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    # -- driver leases ---------------------------------------------------------------
    def acquire(self, run_id: str) -> str:
        """Take the run's driver lease (a token); :class:`RunBusy` naming the owner if another
        live process holds it. A lease whose owner died (or went silent on another host for
        ``LEASE_STALE_S``) is taken over."""
        me = os.getpid()
        token = uuid.uuid4().hex
        with self.tx() as db:
            db.execute(LEASES_TABLE)  # ledgers made before leases existed
            row = db.execute("SELECT * FROM leases WHERE run_id = ?", (run_id,)).fetchone()
            if row is not None and not (row["pid"] == me and row["host"] == socket.gethostname()
                                        ) and owner_alive(row["pid"], row["host"], row["started"],
                                                     row["heartbeat"]):
                raise RunBusy(f"run {run_id} is being driven by {lease_owner(row)}: wait for it "
                              f"(`hwadapt status {run_id}`) or stop that process; nothing was "
                              "changed")
            now = time.time()
            db.execute("INSERT OR REPLACE INTO leases VALUES (?,?,?,?,?,?,?)",
                       (run_id, token, me, socket.gethostname(), proc_start(me), now, now))
        self._has_leases = True
        return token

    def heartbeat(self, run_id: str, token: str) -> None:
        """Refresh the lease; :class:`RunBusy` if another process took it over meanwhile."""
        with self.tx() as db:
            n = db.execute("UPDATE leases SET heartbeat = ? WHERE run_id = ? AND token = ?",
                           (time.time(), run_id, token)).rowcount
        if n != 1:
            raise RunBusy(f"run {run_id}: another process took over its driver lease (this "
                          f"one looked dead); stopping here: `hwadapt status {run_id}`")

    def release(self, run_id: str, token: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM leases WHERE run_id = ? AND token = ?", (run_id, token))

    def driver(self, run_id: str) -> str | None:
        """"pid P on HOST" of another live process driving ``run_id``, else None."""
        if not self._has_leases:
            return None
        row = self.db.execute("SELECT * FROM leases WHERE run_id = ?", (run_id,)).fetchone()
        if row is None or (row["pid"] == os.getpid() and row["host"] == socket.gethostname()):
            return None
        if not owner_alive(row["pid"], row["host"], row["started"], row["heartbeat"]):
            return None
        return lease_owner(row)

    # -- runs ------------------------------------------------------------------------
    def create_run(self, run_id: str, name: str, backend: str, noise_from: str | None,
                   spec_text: str, spec_sha256: str, seed: int, artifacts: dict,
                   lease: bool = False) -> str | None:
        """Insert a new active run; ``artifacts`` maps run-dir file names to SHA-256. With
        ``lease`` this process also takes the run's driver lease in the same transaction (no
        other process can start driving it first) and its token is returned."""
        me, now = os.getpid(), time.time()
        token = uuid.uuid4().hex if lease else None
        with self.tx() as db:
            db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?, 'active', NULL)",
                       (run_id, name, now, backend, noise_from, spec_text, spec_sha256,
                        seed, json.dumps(artifacts)))
            if lease:
                db.execute(LEASES_TABLE)
                db.execute("INSERT INTO leases VALUES (?,?,?,?,?,?,?)",
                           (run_id, token, me, socket.gethostname(), proc_start(me), now, now))
                self._has_leases = True
        return token

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
