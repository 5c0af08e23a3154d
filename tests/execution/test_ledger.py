"""Ledger: schema/pragma set-up, transactions, one result per batch, foreign/corrupt files."""

import sqlite3

import pytest

from hwadapt.errors import InputError
from hwadapt.execution.ledger import SCHEMA_VERSION, Ledger


def _run(led, rid="r1"):
    led.create_run(rid, "n", "aer", None, "x = 1", "abc", 3, {})
    led.add_batches(rid, [{"idx": 0, "round": 0, "shots": 64, "pubs": [{"family": 0,
                           "inputs": [0, 1]}], "seed": 9}])
    return led.batches(rid)[0]


def test_pragmas(tmp_path):
    led = Ledger(tmp_path / "l.db")
    assert led.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert led.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert led.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        led.add_batches("nope", [{"idx": 0, "round": 0, "shots": 1, "pubs": [], "seed": 0}])


def test_result_once_and_atomic(tmp_path):
    led = Ledger(tmp_path / "l.db")
    b = _run(led)
    led.add_submission(b.id, "tag-1")
    with pytest.raises(sqlite3.IntegrityError):
        led.add_submission(b.id, "tag-1")  # tags are unique
    f = led.runs_dir / "r1" / "batch-0000.npz"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"data")
    led.store_result(b.id, "tag-1", f, {"pubs": []})
    assert led.batches("r1")[0].status == "done"
    with pytest.raises(sqlite3.IntegrityError):
        led.store_result(b.id, "tag-1", f, {"pubs": []})
    assert led.result_path(led.result(b.id)) == f
    f.write_bytes(b"tampered")
    with pytest.raises(InputError, match="checksum"):
        led.result_path(led.result(b.id))


def test_failed_transaction_rolls_back(tmp_path):
    led = Ledger(tmp_path / "l.db")
    led.create_run("r1", "n", "aer", None, "x", "abc", 3, {})
    with pytest.raises(sqlite3.IntegrityError):
        led.add_batches("r1", [{"idx": 0, "round": 0, "shots": 64, "pubs": [], "seed": 1},
                               {"idx": 0, "round": 0, "shots": 64, "pubs": [], "seed": 1}])
    assert led.batches("r1") == []  # the whole round or nothing


def test_corrupt_and_foreign_files_refused_untouched(tmp_path):
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    before = bad.read_bytes()
    with pytest.raises(InputError, match="not a readable hwadapt ledger"):
        Ledger(bad)
    assert bad.read_bytes() == before
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(InputError, match="not an hwadapt ledger"):
        Ledger(foreign)
    with pytest.raises(InputError, match="no run"):
        Ledger(tmp_path / "ok.db").run("missing")
