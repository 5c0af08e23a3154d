"""One driver per run, with real processes: a live lease refuses a second driver (exit 2, one
line naming the owner), a dead owner's lease is taken over, racing resumes / submit + resume
store each batch once, and racing first-time creators share one ledger."""

import json
import subprocess
import sys
import time

import pytest
from reliability_helpers import SMALL, check_complete, content

from hwadapt.execution.ledger import Ledger

HOLD = ("import sys, time\n"
        "from hwadapt.execution.ledger import Ledger\n"
        "Ledger(sys.argv[1], create=False).acquire(sys.argv[2])\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n")


def _holder(path, rid) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(path), rid], stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "held"
    return p


@pytest.mark.slow
def test_live_lease_refuses_then_dead_lease_is_taken_over(cli, planned, reference_counts):
    path, rid = planned
    holder = _holder(path, rid)
    try:
        before = content(path)
        line = cli.one_line_error(cli("resume", rid, "--ledger", path))
        assert f"pid {holder.pid}" in line and "being driven" in line
        line = cli.one_line_error(cli("fetch", rid, "--ledger", path))
        assert f"pid {holder.pid}" in line
        r = cli("resume", "--json", "--ledger", path)  # no id: leaves the run to its driver
        assert r.returncode == 0, r.stderr
        [s] = json.loads(r.stdout)
        assert s["status"] == "active" and f"pid {holder.pid}" in s["driver"]
        assert content(path) == before  # nothing executed, nothing written
    finally:
        holder.kill()
        holder.wait()
    r = cli("resume", rid, "--json", "--ledger", path)  # the owner died: taken over
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["driver"] is None
    assert check_complete(path, rid) == reference_counts
    assert Ledger(path, readonly=True).db.execute("SELECT count(*) FROM leases"
                                                  ).fetchone()[0] == 0


@pytest.mark.slow
def test_two_resumes_at_once_store_each_batch_once(cli, planned, reference_counts):
    path, rid = planned
    procs = [cli.popen("resume", rid, "--ledger", path) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes in ([0, 0], [0, 2]), outs
    for p, (_, err) in zip(procs, outs, strict=True):
        assert "Traceback" not in err
        if p.returncode == 2:
            assert "being driven by pid" in err and len(err.strip().splitlines()) == 1
    assert check_complete(path, rid) == reference_counts


@pytest.mark.slow
def test_resume_while_submit_drives(cli, tmp_path, reference_counts):
    path = tmp_path / "l.db"
    sub = cli.popen("submit", SMALL, "--backend", "aer", "--json", "--ledger", path)
    deadline = time.time() + 120
    while time.time() < deadline and not (path.exists() and Ledger(path, readonly=True).runs()):
        time.sleep(0.05)
    r = cli("resume", "--json", "--ledger", path)
    assert r.returncode == 0, r.stderr
    out, err = sub.communicate(timeout=300)
    assert sub.returncode == 0, err
    [s] = json.loads(out)
    assert s["status"] == "done"
    assert check_complete(path, s["run"]) == reference_counts


CREATE = ("import sys, time, pathlib\n"
          "from hwadapt.execution.ledger import Ledger\n"
          "go = pathlib.Path(sys.argv[2])\n"
          "while not go.exists(): time.sleep(0.001)\n"
          "Ledger(sys.argv[1]).close()\n")


def test_first_time_creators_race(tmp_path):
    path, go = tmp_path / "new" / "l.db", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", CREATE, str(path), str(go)],
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    time.sleep(1.0)  # let them all start and wait at the line
    go.touch()
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errs
    led = Ledger(path)
    assert led.runs() == [] and led.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [p.name for p in path.parent.iterdir() if p.name != "l.db" and
            not p.name.startswith("l.db-")] == []  # no temporary files left


@pytest.mark.slow
def test_two_first_time_submits(cli, tmp_path):
    path = tmp_path / "new" / "l.db"
    procs = [cli.popen("submit", SMALL, "--backend", "exact", "--json", "--ledger", path)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    runs = Ledger(path, readonly=True).runs()
    assert len(runs) == 2 and {r["status"] for r in runs} == {"done"}
