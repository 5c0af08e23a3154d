"""The ledger's SQLite schema: tables, allowed statuses, the file's identity and version
(:mod:`hwadapt.execution.ledger` creates and checks it; tables added later, such as
``leases`` and ``estimates``, are also created in older ledgers on first use)."""

from __future__ import annotations

SCHEMA_VERSION = 1
APP_ID = "hwadapt-ledger"
BATCH_STATUSES = ("planned", "submitted", "done", "failed", "cancelled")
RUN_STATUSES = ("active", "done", "failed", "cancelled")

LEASES_TABLE = """
CREATE TABLE IF NOT EXISTS leases (
    run_id TEXT PRIMARY KEY REFERENCES runs(id),
    token TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started TEXT NOT NULL,
    taken REAL NOT NULL,
    heartbeat REAL NOT NULL
);
"""
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
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
CREATE TABLE IF NOT EXISTS batches (
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
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    tag TEXT NOT NULL UNIQUE,
    job_id TEXT,
    created REAL NOT NULL,
    status TEXT
);
CREATE TABLE IF NOT EXISTS results (
    batch_id INTEGER PRIMARY KEY REFERENCES batches(id),
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    summary TEXT NOT NULL,
    stored REAL NOT NULL
);
""" + LEASES_TABLE

ESTIMATES_TABLE = """
CREATE TABLE IF NOT EXISTS estimates (
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    pub INTEGER NOT NULL,
    evs TEXT NOT NULL,
    stds TEXT NOT NULL,
    options TEXT NOT NULL,
    metadata TEXT NOT NULL,
    PRIMARY KEY (batch_id, pub)
);
"""
SCHEMA += ESTIMATES_TABLE
