"""Crash and concurrency trials on real processes: ``kill -9`` of ``hwadapt submit`` (and
of the ``resume`` after it) at random moments, and two drivers of one run at once.

Every trial ends with ``hwadapt resume`` until it succeeds, then checks the run against a
reference run of the same spec in one uninterrupted process (seeded batches: identical
counts expected) and counts:
- lost: a recorded run that cannot be completed, or whose counts differ from the reference;
- duplicated: a batch stored more than once, stray result files, or extra runs;
- damaged: SQLite quick_check fails, a stored file fails its checksum, or `status` says
  damaged.
Writes results/benchmarks/reliability.json (machine load recorded: the machine is shared).
Usage:
    .venv/bin/python benchmarks/reliability.py [--kill-trials 20] [--race-trials 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hwadapt.execution import manager
from hwadapt.execution.ledger import Ledger

ROOT = Path(__file__).parents[1]
SPEC = ROOT / "jobs" / "small.toml"
CLI = [sys.executable, "-m", "hwadapt.cli"]


def _cli(*args, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(CLI + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _resume_until_done(path: Path, attempts: int = 3) -> list[int]:
    codes = []
    for _ in range(attempts):
        p = _cli("resume", "--ledger", path)
        p.communicate()
        codes.append(p.returncode)
        if p.returncode == 0:
            break
    return codes


def _audit(path: Path, reference: dict, expect_runs: int | None = None) -> dict:
    """lost/duplicated/damaged (0 or 1 each) of the ledger at ``path`` after recovery."""
    out = {"lost": 0, "duplicated": 0, "damaged": 0, "runs": 0, "batches": 0}
    if not path.exists():
        return out  # killed before the ledger existed: nothing recorded, nothing lost
    led = Ledger(path, readonly=True)
    try:
        led.check_integrity()
    except Exception:  # noqa: BLE001 - any failure of the check is damage
        out["damaged"] = 1
        return out
    runs = led.runs()
    out["runs"] = len(runs)
    if expect_runs is not None and len(runs) > expect_runs:
        out["duplicated"] = 1
    for row in runs:
        s = manager.summary(led, row["id"])
        try:
            manager.verify_run(led, row["id"])
        except Exception:  # noqa: BLE001
            out["damaged"] = 1
            continue
        if s["status"] == "damaged":
            out["damaged"] = 1
        batches = led.batches(row["id"])
        out["batches"] += len(batches)
        stored = [r[0] for r in led.db.execute(
            "SELECT batch_id FROM results WHERE batch_id IN (SELECT id FROM batches WHERE "
            "run_id = ?)", (row["id"],))]
        files = sorted(p.name for p in (led.runs_dir / row["id"]).glob("batch-*"))
        if len(stored) != len(set(stored)) or files != [f"batch-{b.idx:04d}.npz"
                                                          for b in batches if b.status == "done"]:
            out["duplicated"] = 1
        if row["status"] != "done" or manager.run_counts(path, row["id"]) != reference:
            out["lost"] = 1
    led.close()
    return out


def _wait_recorded(path: Path, status: str | None = None, timeout: float = 120) -> float:
    """Seconds until the ledger at ``path`` holds a run (with ``status``, a run in that
    status), polling from a reader."""
    t, deadline = time.perf_counter(), time.time() + timeout
    while time.time() < deadline:
        if path.exists():
            led = Ledger(path, readonly=True)
            rows = [r for r in led.runs() if status is None or r["status"] == status]
            led.close()
            if rows:
                break
        time.sleep(0.01)
    return time.perf_counter() - t


def kill_trial(work: Path, reference: dict, start_s: float, drive_s: float,
               rng: random.Random) -> dict:
    """Kill ``submit`` at a random moment: 1 in 5 uniformly from its start (often before the
    run exists), else uniformly within the driving time after the run is recorded."""
    path = work / "l.db"
    p = _cli("submit", SPEC, "--backend", "aer", "--ledger", path)
    if rng.random() < 0.2:
        t_kill = rng.uniform(0.0, 3.0)
        time.sleep(t_kill)
    else:
        recorded = _wait_recorded(path)
        wait = rng.uniform(0.0, 1.0) * drive_s
        time.sleep(wait)
        t_kill = recorded + wait
    p.send_signal(signal.SIGKILL)
    p.communicate()
    trial = {"kill_submit_s": round(t_kill, 2), "submit_rc": p.returncode}
    if path.exists() and rng.random() < 0.5:  # also kill the first resume at random
        t2 = rng.uniform(0.0, 1.0) * (start_s + drive_s)
        q = _cli("resume", "--ledger", path)
        time.sleep(t2)
        q.send_signal(signal.SIGKILL)
        q.communicate()
        trial["kill_resume_s"] = round(t2, 2)
    if path.exists():
        led = Ledger(path, readonly=True)
        trial["stored_before_recovery"] = led.db.execute("SELECT count(*) FROM results"
                                                         ).fetchone()[0]
        led.close()
        trial["resume_rcs"] = _resume_until_done(path)
    trial.update(_audit(path, reference, expect_runs=1))
    return trial


def race_trial(work: Path, reference: dict, planned: Path, k: int,
               rng: random.Random) -> dict:
    work.mkdir(parents=True)
    if k % 2 == 0:  # two resumes of one planned run at once
        shutil.copy2(planned, work / "l.db")
        shutil.copytree(planned.parent / "runs", work / "runs")
        rid = Ledger(work / "l.db", readonly=True).runs()[0]["id"]
        procs = [_cli("resume", rid, "--ledger", work / "l.db") for _ in range(2)]
        kind = "resume+resume"
    else:  # submit, and a resume of every active run while it drives
        procs = [_cli("submit", SPEC, "--backend", "aer", "--ledger", work / "l.db")]
        deadline = time.time() + 60
        while time.time() < deadline and not (work / "runs").exists():
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.0))
        procs.append(_cli("resume", "--ledger", work / "l.db"))
        kind = "submit+resume"
    errs = [p.communicate()[1] for p in procs]
    rcs = [p.returncode for p in procs]
    trial = {"kind": kind, "rcs": rcs, "refused": sum("being driven by" in e for e in errs),
             "tracebacks": sum("Traceback" in e for e in errs)}
    if any(rc not in (0, 2) for rc in rcs) or trial["tracebacks"]:
        trial["unexpected"] = [e.strip().splitlines()[-1:] for e in errs]
    trial.update(_audit(work / "l.db", reference, expect_runs=1))
    return trial


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kill-trials", type=int, default=20)
    ap.add_argument("--race-trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "reliability.json"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    load = [os.getloadavg()]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        ref_path = d / "ref" / "l.db"
        t = time.perf_counter()  # an uninterrupted submit: the reference and the time scale
        p = _cli("submit", SPEC, "--backend", "aer", "--ledger", ref_path)
        start_s = _wait_recorded(ref_path)  # imports, circuits, until the run is recorded
        drive_s = _wait_recorded(ref_path, "done")  # its batches, until the run is done
        p.communicate()
        duration = time.perf_counter() - t
        assert p.returncode == 0
        reference = manager.run_counts(ref_path, Ledger(ref_path, readonly=True).runs()[0]["id"])
        planned = d / "planned" / "l.db"
        p = _cli("submit", SPEC, "--backend", "aer", "--ledger", planned,
                 env={"HWADAPT_CRASH_AT": "after_plan"})
        p.communicate()
        Ledger(planned, create=False).close()  # fold its WAL into the file before copying
        kills, races = [], []
        for k in range(args.kill_trials):
            kills.append(kill_trial(d / f"kill{k}", reference, start_s, drive_s, rng))
            print("kill", k, kills[-1], flush=True)
        for k in range(args.race_trials):
            races.append(race_trial(d / f"race{k}", reference, planned, k, rng))
            print("race", k, races[-1], flush=True)
    load.append(os.getloadavg())
    trials = kills + races
    totals = {key: sum(t[key] for t in trials) for key in ("lost", "duplicated", "damaged")}
    report = {
        "spec": str(SPEC.relative_to(ROOT)), "backend": "aer",
        "uninterrupted_submit_s": round(duration, 2),
        "of_which_until_recorded_s": round(start_s, 2),
        "of_which_driving_s": round(drive_s, 2),
        "kill_trials": len(kills), "race_trials": len(races),
        "kills_before_ledger": sum(t["runs"] == 0 for t in kills),
        "kills_with_partial_results": sum(0 < t.get("stored_before_recovery", 0) for t in kills),
        "races_refused_second_driver": sum(t["refused"] for t in races),
        "unexpected_exits": sum("unexpected" in t for t in races),
        **totals,
        "wall_s": round(time.perf_counter() - t0, 1),
        "load_avg_1_5_15": {"start": load[0], "end": load[1]},
        "note": "shared 2-core machine, other engineers' jobs running (load above)",
        "trials": {"kill": kills, "race": races},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "trials"}, indent=2))


if __name__ == "__main__":
    main()
