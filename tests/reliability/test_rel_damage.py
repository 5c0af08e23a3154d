"""A ledger that refuses damage: empty files, damaged pages, read-only opens, damaged or
missing run folders, checksum-verified artifacts, stored batches verified before resuming."""

import json
import os
import shutil
import socket
import sqlite3
import time

import numpy as np
import pytest
from reliability_helpers import SMALL, digest, settle

from hwadapt import fileio
from hwadapt.errors import InputError, LedgerDamaged, RunBusy
from hwadapt.execution import manager
from hwadapt.execution.ledger import Ledger


@pytest.mark.parametrize("args", [["status"], ["runs"], ["status", "--check"],
                                  ["status", "r1"], ["resume"], ["fetch", "r1"],
                                  ["cancel", "r1"], ["compare", "r1"],
                                  ["submit", str(SMALL), "--backend", "exact"]])
def test_empty_file_is_refused_never_initialised(cli, tmp_path, args):
    path = tmp_path / "l.db"
    path.touch()
    line = cli.one_line_error(cli.inproc(*args, "--ledger", path))
    assert "not an hwadapt ledger" in line
    assert path.stat().st_size == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["l.db"]


def test_read_only_commands_never_write(cli, two_runs):
    path, (a, _) = two_runs
    before = digest(path)
    files = sorted(p.name for p in path.parent.iterdir())
    for args in (["status"], ["runs"], ["status", a], ["status", "--check"],
                 ["status", "--json"]):
        r = cli.inproc(*args, "--ledger", path)
        assert r.returncode == 0, (args, r.stderr)
    assert digest(path) == before
    # SQLite's own read-only WAL index may appear (an empty log): nothing else
    extra = sorted(set(p.name for p in path.parent.iterdir()) - set(files))
    assert set(extra) <= {"l.db-wal", "l.db-shm"}
    assert not extra or (path.parent / "l.db-wal").stat().st_size == 0


def test_readonly_open_refuses_writes(two_runs):
    path, (a, _) = two_runs
    led = Ledger(path, readonly=True)
    assert [r["id"] for r in led.runs()] == two_runs[1]
    with pytest.raises(InputError, match="read-only"):
        led.set_run_status(a, "failed", "x")
    assert Ledger(path, readonly=True).run(a)["status"] == "done"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_ledger_in_read_only_folder_can_be_read(cli, two_runs):
    path, _ = two_runs
    os.chmod(path.parent, 0o555)
    try:
        r = cli("status", "--json", "--ledger", path)
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)) == 2
    finally:
        os.chmod(path.parent, 0o755)


def _damage(path):
    """512 random bytes over the start of a page in the middle of the file (b-tree header and
    cell pointers: what a torn or corrupted write leaves)."""
    pages = path.stat().st_size // 4096
    assert pages >= 4
    with open(path, "r+b") as f:
        f.seek((pages // 2) * 4096)
        f.write(np.random.default_rng(0).bytes(512))


@pytest.fixture
def damaged(two_runs):
    path, ids = two_runs
    led = Ledger(path)  # grow the file: many pages, so the middle one is a b-tree page
    for k in range(60):
        led.create_run(f"pad-{k}", "pad", "exact", None, "# pad\n" * 400, "0", 0, {})
    led.close()
    settle(path)
    _damage(path)
    return path, ids


@pytest.mark.parametrize("args", [["submit", str(SMALL), "--backend", "exact"], ["resume"],
                                  ["cancel", "pad-1"], ["status", "--check"],
                                  ["status"], ["runs", "--json"]])
def test_damaged_page_refused_untouched(cli, damaged, args):
    """Writers refuse after quick_check; readers (without --check) hit the damage while
    listing: one line, exit 2, either way."""
    path, _ = damaged
    before = digest(path)
    line = cli.one_line_error(cli.inproc(*args, "--ledger", path))
    assert "damaged" in line
    assert digest(path) == before


def test_damaged_page_detected_in_process(damaged):
    path, _ = damaged
    with pytest.raises(LedgerDamaged, match="quick_check"):
        Ledger(path)


@pytest.mark.parametrize("harm", ["folder", "truncate", "families", "circuits"])
def test_damaged_run_folder_marks_only_that_run(cli, two_runs, harm):
    path, (a, b) = two_runs
    run_dir = path.parent / "runs" / a
    if harm == "folder":
        shutil.rmtree(run_dir)
    elif harm == "truncate":
        (run_dir / "families.npz").write_bytes((run_dir / "families.npz").read_bytes()[:100])
    elif harm == "families":  # a valid file with other values: only the checksum tells
        with np.load(run_dir / "families.npz") as z:
            arrays = {k: z[k] for k in z.files}
        arrays["values0"] = arrays["values0"] + 0.01
        np.savez(run_dir / "families.npz", **arrays)
    else:
        with open(run_dir / "circuits.qpy", "ab") as f:
            f.write(b"x")
    before = digest(path)
    for cmd in ("status", "runs"):
        r = cli.inproc(cmd, "--json", "--ledger", path)
        assert r.returncode == 0, r.stderr
        by_id = {s["run"]: s for s in json.loads(r.stdout)}
        want = "done" if harm == "circuits" else "damaged"  # listing reads no circuits
        assert by_id[a]["status"] == want and by_id[b]["status"] == "done"
        if want == "damaged":
            assert "families.npz" in by_id[a]["reason"]
    r = cli.inproc("status", "--ledger", path)
    assert r.returncode == 0 and a in r.stdout
    for args in (["compare", a], ["resume", a]) if want == "damaged" else (["resume", a],):
        line = cli.one_line_error(cli.inproc(*args, "--ledger", path))
        assert "missing or altered" in line or "cannot be read" in line
    line = cli.one_line_error(cli.inproc("status", "--check", "--ledger", path))
    assert "1 damaged run(s): " + a in line
    assert digest(path) == before


def test_checksums_of_every_artifact_read(two_runs):
    path, (a, _) = two_runs
    led = Ledger(path, readonly=True)
    f = led.runs_dir / a / "families.npz"
    with np.load(f) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["values0"] = arrays["values0"][::-1].copy()
    np.savez(f, **arrays)
    for read in (lambda: manager.run_counts(path, a), lambda: manager.tally(led, a),
                 lambda: manager.load_run(led, a)):
        with pytest.raises(InputError, match="missing or altered"):
            read()


@pytest.mark.slow
@pytest.mark.parametrize("status", ["active", "done"])
def test_resume_verifies_stored_batches(cli, tmp_path, status):
    path = tmp_path / "l.db"
    env = {"HWADAPT_CRASH_AT": "after_store"} if status == "active" else {}
    r = cli("submit", SMALL, "--backend", "aer", "--ledger", path, env=env)
    assert r.returncode == (137 if status == "active" else 0), r.stderr
    settle(path)
    [row] = Ledger(path, readonly=True).runs()
    batch = path.parent / "runs" / row["id"] / "batch-0000.npz"
    batch.write_bytes(batch.read_bytes()[:-8] + b"corrupt!")
    before = digest(path)
    line = cli.one_line_error(cli("resume", row["id"], "--ledger", path))
    assert "batch-0000.npz" in line and "checksum" in line
    assert digest(path) == before
    if status == "active":  # resume of all active runs says so too, and stores nothing
        assert "batch-0000.npz" in cli.one_line_error(cli("resume", "--ledger", path))
        assert digest(path) == before


def test_unique_temporary_names(tmp_path, monkeypatch):
    """Two stores of one batch never share a temporary file (each process its own name)."""
    seen = []
    real = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        return real(src, dst)

    monkeypatch.setattr(fileio.os, "replace", spy)
    path = tmp_path / "l.db"
    manager.submit(SMALL, "exact", path)
    batches = [name for name in seen if name.startswith("batch-")]
    assert len(seen) == len(set(seen)) and len(batches) >= 2, seen
    assert all(str(os.getpid()) in name and name.endswith(".tmp.npz") for name in batches), seen


def test_stale_leases(two_runs):
    path, (a, _) = two_runs
    led = Ledger(path)
    token = led.acquire(a)
    led.release(a, token)
    now = time.time()
    for host, beat, busy in (("elsewhere", now, True), ("elsewhere", now - 3600, False),
                             (socket.gethostname(), now, False)):  # pid 2**22: no such pid
        with led.tx() as db:
            db.execute("INSERT OR REPLACE INTO leases VALUES (?,?,?,?,?,?,?)",
                       (a, "t", 2**22 if host != "elsewhere" else 1, host, "", now, beat))
        if busy:
            with pytest.raises(RunBusy, match="being driven by pid 1 on elsewhere"):
                led.acquire(a)
        else:
            led.release(a, led.acquire(a))
    with pytest.raises(RunBusy, match="took over"):
        led.heartbeat(a, "not-the-token")


def test_old_ledger_without_leases_table(two_runs):
    """Ledgers written before leases existed: readable as they are, the table is added by
    the first driver."""
    path, (a, _) = two_runs
    db = sqlite3.connect(path)
    db.execute("DROP TABLE leases")
    db.commit()
    db.close()
    assert manager.summary(Ledger(path, readonly=True), a)["driver"] is None
    led = Ledger(path)
    led.release(a, led.acquire(a))

