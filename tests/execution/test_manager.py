"""Job manager end to end: submit -> fetch on local backends, kill -9/crash points then resume
(same counts, each batch stored once), and the IBM path through a service test double."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwadapt.errors import JobFailed
from hwadapt.execution import batching, drive, manager
from hwadapt.execution.ledger import Ledger

SMALL = Path(__file__).parents[2] / "jobs" / "small.toml"
CLI = [sys.executable, "-m", "hwadapt.cli"]


def _check_complete(ledger_path, run_id):
    led = Ledger(ledger_path)
    batches = led.batches(run_id)
    assert batches and all(b.status == "done" for b in batches)
    rows = led.db.execute("SELECT batch_id FROM results").fetchall()
    assert sorted(r[0] for r in rows) == sorted(b.id for b in batches)  # once each
    files = sorted(p.name for p in (led.runs_dir / run_id).glob("batch-*.npz"))
    assert files == [f"batch-{b.idx:04d}.npz" for b in batches]
    assert not list((led.runs_dir / run_id).glob("*.tmp*"))
    subs = [s["status"] for b in batches for s in led.submissions(b.id)]
    assert subs.count("DONE") >= len(batches)  # none left in flight: a local attempt
    assert set(subs) <= {"DONE", "LOST"}  # killed with its process is marked lost
    return manager.run_counts(ledger_path, run_id)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "l.db"
    rid = manager.submit(SMALL, "aer", path)
    return _check_complete(path, rid), manager.summary(Ledger(path), rid)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["exact", "aer_noisy", "fake_lagos"])
def test_submit_fetch_local_backends(tmp_path, backend):
    """fake_lagos (7 qubits) holds the 5-qubit small spec; aer_noisy uses lagos noise too."""
    path = tmp_path / "l.db"
    nf = ["--noise-from", "fake_lagos"] if backend == "aer_noisy" else []
    r = subprocess.run(CLI + ["submit", str(SMALL), "--backend", backend, *nf, "--json",
                              "--ledger", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    [s] = json.loads(r.stdout)
    assert s["status"] == "done" and s["reason"] == "all targets reached"
    assert min(s["families"][0]["accepted"]) >= 500
    f = subprocess.run(CLI + ["fetch", s["run"], "--json", "--ledger", str(path)],
                       capture_output=True, text=True)
    assert f.returncode == 0 and json.loads(f.stdout) == [s]  # idempotent
    counts = _check_complete(path, s["run"])["magnitude"]
    assert len(counts) == 4 and all(sum(c.values()) > 0 for c in counts)
    if backend != "exact":  # local noisy runs calibrate readout here, no device job
        c = subprocess.run(CLI + ["compare", s["run"], "--mitigate", "readout", "--json",
                                  "--ledger", str(path)], capture_output=True, text=True)
        assert c.returncode == 0, c.stderr
        assert (path.parent / "runs" / s["run"] / "readout-cals.json").is_file()


def test_aer_run_reaches_targets(reference):
    counts, s = reference
    assert s["status"] == "done" and min(s["families"][0]["accepted"]) >= 500
    raw = s["families"][0]["raw_shots"]
    assert raw == sum(sum(c.values()) for c in counts["magnitude"]) <= 200_000


@pytest.mark.slow
@pytest.mark.parametrize("point", ["after_plan", "after_tag", "after_submit", "after_file",
                                   "after_store", "after_store:2"])
def test_crash_then_resume_same_counts(tmp_path, reference, point):
    path = tmp_path / "l.db"
    env = {**os.environ, "HWADAPT_CRASH_AT": point}
    r = subprocess.run(CLI + ["submit", str(SMALL), "--backend", "aer", "--ledger", str(path)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 137, r.stderr
    [row] = Ledger(path).runs()
    assert row["status"] == "active"
    r = subprocess.run(CLI + ["resume", "--json", "--ledger", str(path)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert _check_complete(path, row["id"]) == reference[0]


@pytest.mark.slow
def test_real_kill_9_then_resume(tmp_path, reference):
    path = tmp_path / "l.db"
    p = subprocess.Popen(CLI + ["submit", str(SMALL), "--backend", "aer", "--ledger",
                                str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:  # kill once the run exists and work is under way
        if any((path.parent / "runs").glob("*/batch-0000.npz")):
            break  # the run is in the ledger and its first batch is stored
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    runs = Ledger(path).runs()
    assert p.returncode == -signal.SIGKILL and len(runs) == 1
    r = subprocess.run(CLI + ["resume", "--ledger", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert _check_complete(path, runs[0]["id"]) == reference[0]


# ------------------------------------------ IBM via the service test double (conftest.py)
@pytest.mark.slow
def test_ibm_detach_fetch_resume_and_token_never_stored(tmp_path, service):
    path = tmp_path / "l.db"
    rid = manager.submit(SMALL, "ibm_lagos", path, detach=True, service=service)
    led = Ledger(path)
    assert {b.status for b in led.batches(rid)} == {"submitted"}
    assert all(s["job_id"] for b in led.batches(rid) for s in led.submissions(b.id))
    n = service.submitted
    manager.fetch(path, rid, service=service)
    assert {b.status for b in led.batches(rid)} == {"done"} and service.submitted == n
    [s] = manager.resume(path, rid, service=service)
    assert s["status"] == "done" and min(s["families"][0]["accepted"]) >= 500
    for f in [path, *path.parent.rglob("*")]:
        if f.is_file():
            assert b"SECRET-TOKEN" not in f.read_bytes(), f


@pytest.mark.slow
def test_ibm_orphan_adopted_by_tag(tmp_path, service, monkeypatch):
    class Crash(Exception):
        pass

    def crash(name):
        if name == "after_submit":
            raise Crash
    monkeypatch.setattr(drive, "crash_point", crash)
    path = tmp_path / "l.db"
    with pytest.raises(Crash):
        manager.submit(SMALL, "ibm_lagos", path, service=service)
    [row] = Ledger(path).runs()
    [b0] = [b for b in Ledger(path).batches(row["id"]) if b.status == "submitted"]
    assert Ledger(path).submissions(b0.id)[0]["job_id"] is None  # the orphan
    monkeypatch.setattr(drive, "crash_point", lambda name: None)
    n = service.submitted
    manager.resume(path, service=service)
    subs = Ledger(path).submissions(b0.id)
    assert len(subs) == 1 and subs[0]["job_id"] in service.by_id
    total = len(Ledger(path).batches(row["id"]))
    assert service.submitted == n + total - 1  # b0 was adopted, not resubmitted


@pytest.mark.slow
def test_ibm_error_marks_batch_failed(tmp_path, service):
    service.final = "ERROR"
    path = tmp_path / "l.db"
    with pytest.raises(JobFailed, match="device fell over"):
        manager.submit(SMALL, "ibm_lagos", path, service=service)
    [row] = Ledger(path).runs()
    assert row["status"] == "failed" and "ERROR" in row["reason"]


def test_submit_families_creates_once_and_gives_every_binding_its_shots(tmp_path):
    from qiskit import qpy

    from hwadapt.errors import InputError
    from hwadapt.spec import build_families, load_spec

    families = build_families(load_spec(SMALL))
    path = tmp_path / "l.db"
    rid = manager.submit_families(families, "exact", path, run_id="fam-1", shots=300, seed=3)
    assert rid == "fam-1"
    led = Ledger(path)
    assert [r["id"] for r in led.runs()] == ["fam-1"] and led.run(rid)["status"] == "done"
    counts = _check_complete(path, rid)
    assert list(counts) == [f.name for f in families]
    shots = int(batching.round_shots(300))
    for f in families:  # one round, `shots` raw shots per binding, one shot count
        assert [sum(c.values()) for c in counts[f.name]] == [shots] * len(f.values)
    assert {b.shots for b in led.batches(rid)} == {shots}
    subs = [s["tag"] for b in led.batches(rid) for s in led.submissions(b.id)]
    # idempotent: the same run id is neither recreated nor resubmitted
    again = manager.submit_families(families, "exact", path, run_id="fam-1", shots=300, seed=3)
    assert again == rid and len(led.runs()) == 1
    assert [s["tag"] for b in led.batches(rid) for s in led.submissions(b.id)] == subs
    assert manager.run_counts(path, rid) == counts
    # ready-made ISA circuits are stored as given (no transpilation here)
    isa = [f.circuit.decompose(reps=4) for f in families]
    manager.submit_families(families, "exact", path, run_id="fam-2", shots=50, seed=3, isa=isa)
    with open(led.runs_dir / "fam-2" / "circuits.qpy", "rb") as fh:
        assert qpy.load(fh) == isa
    with pytest.raises(InputError, match="one transpiled circuit per family"):
        manager.submit_families(families, "exact", path, run_id="x", shots=5, seed=0,
                                isa=isa + isa)
    with pytest.raises(InputError, match="shots must be >= 1"):
        manager.submit_families(families, "exact", path, run_id="x", shots=0, seed=0)
    assert "x" not in [r["id"] for r in led.runs()]
