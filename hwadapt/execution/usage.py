"""Execution modes and QPU time in the ledger (additive tables, made on first write).

- ``run_execution``: per run the requested mode (``job``/``batch``/``session``, NULL:
  automatic) and its ``max_qpu_seconds`` (NULL: none);
- ``modes``: every Runtime Batch/Session opened for a run (``mode_id``, ``kind``;
  ``closed`` NULL while open), so ``resume`` can reattach to an open one and ``cancel``
  can close it.
- ``usage``: per submission (its ``tag``): the model's estimate
  (:mod:`hwadapt.execution.qpu_time`), IBM's ``usage_estimation`` and, once done, the QPU
  seconds IBM billed (``job.usage()``, else ``job.metrics()["usage"]``).

Ledgers made before these tables existed are migrated by the first write (``CREATE TABLE IF
NOT EXISTS`` in the writing transaction); readers treat missing tables as empty, so a
read-only open never needs them. Imports neither Qiskit nor torch.
"""

from __future__ import annotations

import time

from hwadapt.execution.ledger import Ledger

_TABLES = """
CREATE TABLE IF NOT EXISTS run_execution (
    run_id TEXT PRIMARY KEY REFERENCES runs(id),
    mode TEXT,
    max_qpu_seconds REAL
);
CREATE TABLE IF NOT EXISTS modes (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    kind TEXT NOT NULL,
    mode_id TEXT,
    opened REAL NOT NULL,
    closed REAL
);
CREATE TABLE IF NOT EXISTS usage (
    tag TEXT PRIMARY KEY REFERENCES submissions(tag),
    estimated_s REAL,
    ibm_estimated_s REAL,
    used_s REAL
);
"""


def _migrate(db) -> None:
    for stmt in _TABLES.split(";"):
        if stmt.strip():
            db.execute(stmt)


def _has(ledger: Ledger, table: str) -> bool:
    return ledger.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                             (table,)).fetchone() is not None


# -- modes -------------------------------------------------------------------------------
def set_execution(ledger: Ledger, run_id: str, mode: str | None,
                  max_qpu_seconds: float | None) -> None:
    """Record the mode asked for at submit (None: batch when a run has several jobs) and the
    run's QPU-seconds limit (None: none)."""
    with ledger.tx() as db:
        _migrate(db)
        db.execute("INSERT OR REPLACE INTO run_execution VALUES (?, ?, ?)",
                   (run_id, mode, max_qpu_seconds))


def _execution(ledger: Ledger, run_id: str):
    if not _has(ledger, "run_execution"):
        return None
    return ledger.db.execute("SELECT * FROM run_execution WHERE run_id = ?",
                             (run_id,)).fetchone()


def requested_mode(ledger: Ledger, run_id: str) -> str | None:
    """The mode asked for at submit (None: automatic)."""
    row = _execution(ledger, run_id)
    return None if row is None else row["mode"]


def qpu_limit(ledger: Ledger, run_id: str) -> float | None:
    """The run's ``max_qpu_seconds`` (None: none)."""
    row = _execution(ledger, run_id)
    return None if row is None else row["max_qpu_seconds"]


def record_mode(ledger: Ledger, run_id: str, kind: str, mode_id: str | None) -> None:
    """Record a mode opened (or reattached) for ``run_id``; other open rows of the run close."""
    now = time.time()
    with ledger.tx() as db:
        _migrate(db)
        db.execute("UPDATE modes SET closed = ? WHERE run_id = ? AND closed IS NULL AND "
                   "coalesce(mode_id, '') != coalesce(?, '')", (now, run_id, mode_id))
        if db.execute("SELECT 1 FROM modes WHERE run_id = ? AND closed IS NULL",
                      (run_id,)).fetchone() is None:
            db.execute("INSERT INTO modes (run_id, kind, mode_id, opened) VALUES (?,?,?,?)",
                       (run_id, kind, mode_id, now))


def open_mode(ledger: Ledger, run_id: str) -> dict | None:
    """``{"kind", "mode_id"}`` of the run's open mode, or None."""
    if not _has(ledger, "modes"):
        return None
    row = ledger.db.execute("SELECT * FROM modes WHERE run_id = ? AND closed IS NULL "
                            "ORDER BY id DESC", (run_id,)).fetchone()
    return None if row is None else {"kind": row["kind"], "mode_id": row["mode_id"]}


def close_modes(ledger: Ledger, run_id: str) -> None:
    """Mark every open mode of the run closed."""
    if not _has(ledger, "modes"):
        return
    with ledger.tx() as db:
        db.execute("UPDATE modes SET closed = ? WHERE run_id = ? AND closed IS NULL",
                   (time.time(), run_id))


def modes(ledger: Ledger, run_id: str) -> list[dict]:
    """Every mode opened for the run, oldest first: kind, mode_id, open (bool)."""
    if not _has(ledger, "modes"):
        return []
    return [{"kind": r["kind"], "mode_id": r["mode_id"], "open": r["closed"] is None}
            for r in ledger.db.execute("SELECT * FROM modes WHERE run_id = ? ORDER BY id",
                                       (run_id,))]


# -- QPU time ----------------------------------------------------------------------------
def record_usage(ledger: Ledger, tag: str, **seconds: float | None) -> None:
    """Set ``estimated_s``, ``ibm_estimated_s`` and/or ``used_s`` of submission ``tag``
    (None values are left as they are)."""
    cols = {k: v for k, v in seconds.items() if v is not None}
    bad = set(cols) - {"estimated_s", "ibm_estimated_s", "used_s"}
    if bad:
        raise ValueError(f"unknown usage columns {sorted(bad)}")
    with ledger.tx() as db:
        _migrate(db)
        db.execute("INSERT OR IGNORE INTO usage (tag) VALUES (?)", (tag,))
        for k, v in cols.items():
            db.execute(f"UPDATE usage SET {k} = ? WHERE tag = ?", (float(v), tag))


def run_usage(ledger: Ledger, run_id: str) -> dict:
    """QPU seconds of a run over its submissions: ``estimated`` (model), ``ibm_estimated``
    (IBM's usage_estimation) and ``used`` (billed), each None when nothing recorded."""
    out: dict = {"estimated": None, "ibm_estimated": None, "used": None}
    if not _has(ledger, "usage"):
        return out
    row = ledger.db.execute(
        "SELECT sum(u.estimated_s) e, sum(u.ibm_estimated_s) i, sum(u.used_s) d FROM usage u "
        "JOIN submissions s ON s.tag = u.tag JOIN batches b ON b.id = s.batch_id "
        "WHERE b.run_id = ?", (run_id,)).fetchone()
    out.update(estimated=row["e"], ibm_estimated=row["i"], used=row["d"])
    return out


def job_usage(job) -> dict:
    """What a finished Runtime job says it cost: ``{"used_s": …}`` from ``job.usage()``
    (else ``job.metrics()["usage"]["quantum_seconds"]``); {} for local jobs or on error."""
    for read in (lambda: job.usage(),
                 lambda: job.metrics()["usage"]["quantum_seconds"]):
        try:
            value = read()
        except Exception:  # noqa: BLE001 - usage is informative, never fatal
            continue
        if isinstance(value, int | float) and value > 0:
            return {"used_s": float(value)}
    return {}


def job_estimate(job) -> dict:
    """IBM's estimate of a submitted job: ``{"ibm_estimated_s": …}`` from
    ``job.usage_estimation["quantum_seconds"]``; {} where there is none."""
    try:
        value = (job.usage_estimation or {}).get("quantum_seconds")
    except Exception:  # noqa: BLE001 - informative only
        return {}
    return {"ibm_estimated_s": float(value)} if isinstance(value, int | float) else {}
