"""kill -9 during a Batch-mode IBM run (a real SIGKILL of a child process; the service double
keeps its jobs on disk, tests/execution/disk_service.py), then ``resume`` in a new process:
the run finishes with no lost or duplicated job, in the batch the first process opened, closed
at the end; the IBM token (a sentinel) appears in no ledger, run file or log."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwadapt.execution import usage
from hwadapt.execution.ledger import Ledger

CHILD = [sys.executable, str(Path(__file__).parent / "disk_service.py")]
TOKEN = "SENTINEL-TOKEN-9f8e7d"


@pytest.mark.slow
def test_kill_9_during_batch_run_then_resume(tmp_path):
    root, path = tmp_path / "ibm", tmp_path / "l.db"
    env = {**os.environ, "QISKIT_IBM_TOKEN": TOKEN,
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]),
                                          os.environ.get("PYTHONPATH", "")])}
    logs = []
    p = subprocess.Popen(CHILD + [str(root), str(path), "submit"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not (root / "polled").exists() and time.time() < deadline:
        time.sleep(0.05)  # every first-round job is submitted once polling starts
    p.send_signal(signal.SIGKILL)
    out, err = p.communicate()
    logs += [out, err]
    assert p.returncode == -signal.SIGKILL, err.decode()[-2000:]
    [run] = Ledger(path).runs()
    led = Ledger(path)
    submitted = {s["job_id"] for b in led.batches(run["id"]) for s in led.submissions(b.id)}
    assert len(submitted) >= 2 and None not in submitted
    [opened] = usage.modes(led, run["id"])
    assert opened["open"]  # killed: nothing closed it
    led.close()

    (root / "release").touch()
    r = subprocess.run(CHILD + [str(root), str(path), "resume"], env=env, capture_output=True,
                       timeout=600)
    logs += [r.stdout, r.stderr]
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    led = Ledger(path)
    batches = led.batches(run["id"])
    assert led.run(run["id"])["status"] == "done" and {b.status for b in batches} == {"done"}
    subs = [s for b in batches for s in led.submissions(b.id)]
    assert len(subs) == len(batches)  # one submission each: nothing resubmitted
    jobs = {p.stem for p in (root / "jobs").glob("*.json")}
    assert {s["job_id"] for s in subs} == jobs and submitted <= jobs  # none lost or twice
    rows = led.db.execute("SELECT batch_id FROM results").fetchall()
    assert sorted(r[0] for r in rows) == sorted(b.id for b in batches)
    # every job ran in the batch opened before the kill (reattached), closed at the end
    modes = {json.loads((root / "jobs" / f"{j}.json").read_text())["mode"] for j in jobs}
    assert modes == {opened["mode_id"]}
    assert json.loads((root / "modes" / f"{opened['mode_id']}.json").read_text())["closed"]
    assert usage.modes(led, run["id"]) == [{**opened, "open": False}]
    # the token is nowhere: ledger, run files, logs
    for f in [*tmp_path.rglob("*")]:
        if f.is_file():
            assert TOKEN.encode() not in f.read_bytes(), f
    assert all(TOKEN.encode() not in log for log in logs)
