"""Scale-out: a noise sweep on 1 vs 2 workers (local and ray), ray's per-task overhead, and a
throughput model for a cluster. Writes results/benchmarks/scale_out.json.

For each executor (local, ray) and worker count (1, 2) the same sweep (``--settings``
settings of fake_torino's noise scaled, one ledger run each) runs in a fresh ledger; counts
must be identical across all of them (checked). Times: ``cold`` includes starting the
executor (process pool or Ray instance, and the workers' imports), ``warm`` starts after a
warm-up task on every worker. The ratio asked for is warm 1-worker / warm 2-worker time.

Overheads: ``--empty-tasks`` no-op tasks per executor on warm workers (seconds per task).
Model: the driver's serial time per setting (recording its run, storing its batches,
comparing: timed in the driver) and the rest of a setting's time on one worker (building the
run: circuits, transpilation, exact rates; its batches), from the 1-worker sweep; a sweep of
``--project`` settings on N nodes of ``--cores`` cores then takes about
``P·t_driver + P·t_worker / (N·cores)``. Tasks: one build per setting plus one per batch.

The numbers only mean something on a quiet machine (the load average is recorded). Usage:
    .venv/bin/python benchmarks/scale_out.py               # 8 settings, as in issue 19
    .venv/bin/python benchmarks/scale_out.py --small       # 2 settings, small spec (check)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

from hwadapt.execution.rundata import run_counts
from hwadapt.executors import get_executor
from hwadapt.fileio import atomic_write
from hwadapt.sweep import plan_settings, run_sweep

ROOT = Path(__file__).parents[1]
OUT = ROOT / "results" / "benchmarks" / "scale_out.json"
SPEC = """
name = "scale-out"
seed = 19
[circuit]
qubits = {qubits}
layout = "pyramid"
terms = 2
alphas = [0.7, -0.3]
[inputs]
count = {inputs}
seed = 3
[shots]
target_accepted = {target}
budget = 50_000_000
max_rounds = 2
"""
FULL = {"qubits": 6, "inputs": 12, "target": 6000}
SMALL = {"qubits": 4, "inputs": 4, "target": 1000}


def noop(x):
    """The empty task of the overhead measurement."""
    return x


def _warm(ex) -> None:
    """Start every worker and import the batch task there (idle executors: a no-op)."""
    ex.map(_import_tasks, list(range(2 * ex.workers)))


def _import_tasks(_):
    """Import what the build and batch tasks use (torch, Qiskit, Aer, the fake devices)."""
    import hwadapt.execution.submit  # noqa: F401
    import hwadapt.execution.tasks  # noqa: F401
    from hwadapt.backends import get_backend
    from hwadapt.spec import run_metadata  # noqa: F401

    get_backend("aer_noisy", "fake_torino")
    return os.getpid()


@contextlib.contextmanager
def _driver_time(spent: list[float]):
    """Add to ``spent[0]`` the seconds the driver spends recording runs, storing batches and
    comparing (its serial share; the tasks themselves are not timed)."""
    import hwadapt.compare
    from hwadapt.execution import drive, submit

    def timed(fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - t
        return wrapper

    saved = [(m, n, getattr(m, n)) for m, n in ((submit, "record_run"),
             (drive, "_store"), (hwadapt.compare, "compare_run"))]
    for m, n, fn in saved:
        setattr(m, n, timed(fn))
    try:
        yield
    finally:
        for m, n, fn in saved:
            setattr(m, n, fn)


def _sweep(spec: Path, settings: list[dict], name: str, workers: int, tmp: Path) -> dict:
    from hwadapt.execution import tasks

    tasks._backend.cache_clear()  # in-process runs start without cached noise models too
    t0 = time.perf_counter()
    ex = get_executor(name, workers)
    spent = [0.0]
    try:
        _warm(ex)
        t1 = time.perf_counter()
        ledger = tmp / f"{name}{workers}" / "l.db"
        with _driver_time(spent):
            state = run_sweep(spec, ledger, settings, plot=False, executor=ex)
        t2 = time.perf_counter()
        tt = time.perf_counter()
        n = 200
        ex.map(noop, list(range(n)))
        empty = (time.perf_counter() - tt) / n
    finally:
        ex.close()
    counts = [run_counts(ledger, s["run"]) for s in state["settings"]]
    from hwadapt.execution.ledger import Ledger

    led = Ledger(ledger, readonly=True)
    batches = sum(len(led.batches(s["run"])) for s in state["settings"])
    return {"executor": name, "workers": ex.workers, "cold_s": round(t2 - t0, 2),
            "warm_s": round(t2 - t1, 2), "batches": batches,
            "driver_s_per_setting": round(spent[0] / len(settings), 3),
            "empty_task_s": round(empty, 5), "_counts": counts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", type=int, default=8)
    ap.add_argument("--small", action="store_true", help="2 settings of a small spec")
    ap.add_argument("--executors", default="local,ray")
    ap.add_argument("--project", type=int, default=1000)
    ap.add_argument("--cores", type=int, default=16, help="cores per node in the projection")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    size = SMALL if args.small else FULL
    n = 2 if args.small else args.settings
    scales = [round(0.25 * k, 2) for k in range(n)]
    settings = plan_settings("fake_torino", [], scales)
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        spec = tmp / "scale_out.toml"
        spec.write_text(SPEC.format(**size))
        _sweep(spec, settings[:1], "local", 1, tmp / "warm-up")  # the driver's imports
        for name in args.executors.split(","):
            for workers in (1, 2):
                rows.append(_sweep(spec, settings, name, workers, tmp))
                print({k: v for k, v in rows[-1].items() if k != "_counts"}, flush=True)
    identical = all(r["_counts"] == rows[0]["_counts"] for r in rows)
    for r in rows:
        del r["_counts"]
    report = _report(rows, n, size, identical, load, args)
    atomic_write(args.out, lambda f: f.write(json.dumps(report, indent=1).encode()))
    print(json.dumps({k: report[k] for k in ("ratios", "identical_counts", "model")}, indent=1))


def _report(rows: list[dict], n: int, size: dict, identical: bool, load, args) -> dict:
    ratios, model = {}, {}
    for name in {r["executor"] for r in rows}:
        one = next(r for r in rows if r["executor"] == name and r["workers"] == 1)
        two = next((r for r in rows if r["executor"] == name and r["workers"] == 2), None)
        if two:
            ratios[name] = {"warm": round(one["warm_s"] / two["warm_s"], 3),
                            "cold": round(one["cold_s"] / two["cold_s"], 3)}
        driver = (two or one)["driver_s_per_setting"]  # serial on the driver, per setting
        worker = max(one["warm_s"] / n - driver, 1e-9)  # the rest of a setting, per worker
        model[name] = {
            "tasks_per_s_per_worker": round((one["batches"] + n) / (n * worker), 3),
            "settings_per_s_per_worker": round(1 / worker, 4),
            "driver_s_per_setting": driver, "worker_s_per_setting": round(worker, 3),
            "empty_task_s": one["empty_task_s"],
            f"projected_s_{args.project}_settings": {
                f"{nodes}_nodes": round(args.project * (driver + worker / (nodes * args.cores)),
                                        1) for nodes in (1, 2, 4, 8, 16, 64)},
        }
    return {"settings": n, "spec": size, "cores_per_node_projected": args.cores,
            "loadavg_before": [round(x, 2) for x in load], "loadavg_after":
            [round(x, 2) for x in os.getloadavg()], "cores_here": os.cpu_count(),
            "identical_counts": identical, "ratios": ratios, "runs": rows, "model": model,
            "note": "warm ratio = warm_s(1 worker) / warm_s(2 workers); workers run with 1 "
                    "thread each; each setting's run is built as a task and recorded by the "
                    "driver, then all batches of all settings run as tasks while the driver "
                    "stores them; projection: P·(driver + worker/(N·cores))"}


if __name__ == "__main__":
    main()
