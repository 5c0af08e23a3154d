"""Fixed costs of the command line and aer_noisy's scaling with the data qubits (issue 20,
items 3 and 4). Every measurement runs in a fresh process, rounds interleaved; the JSON holds
median, min and max per quantity and the machine load before and after.

- ``status``, ``runs``, ``backends``: wall and CPU seconds of ``hwadapt <command>`` (a ledger
  with one small exact run), process start to exit;
- ``submit`` of ``jobs/demo.toml`` on aer_noisy up to its first shot: the ``HWADAPT_TRACE``
  lines (:mod:`hwadapt.trace`), wall and CPU seconds since process start at each stage; the
  process is stopped at the first shot. One unrecorded run first fills the device cache;
- aer_noisy per binding: the demo's magnitude circuit at ``--qubits`` data qubits (the spec
  with only ``qubits`` changed), ``--bindings`` inputs in one PUB at the demo's first-round
  shots with the method aer_noisy chooses, wall and CPU seconds per binding, and each size's
  ratio to the smallest.

Usage (quiet machine, 1 thread, the full measurement):
    HWADAPT_THREADS=1 .venv/bin/python benchmarks/fixed_cost.py --rounds 10
Small version (loaded machine):
    HWADAPT_THREADS=1 .venv/bin/python benchmarks/fixed_cost.py --rounds 2 --bindings 2
Writes ``results/benchmarks/fixed_cost.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
CLI = [sys.executable, "-c", "from hwadapt.cli import main; main()"]
TINY = ('name = "tiny"\n[circuit]\nqubits = 3\nterms = 1\nalphas = [0.8]\n[inputs]\ncount = 2\n'
        "[shots]\ntarget_accepted = 50\n")


def stats(values: list[float]) -> dict:
    """Median, min, max (3 decimals) and the number of rounds."""
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "rounds": len(values)}


def command_seconds(args: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one ``hwadapt`` command in a fresh process (it must succeed);
    CPU: user + system of the child, the steadier number on a loaded machine."""
    t, c = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(CLI + args, check=True, capture_output=True, timeout=300)
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - t, u.ru_utime + u.ru_stime - c.ru_utime - c.ru_stime


def first_shot(spec: Path, ledger: Path) -> dict[str, tuple[float, float]]:
    """``{event: (wall, cpu)}`` of a traced ``hwadapt submit`` on aer_noisy, stopped at its
    first shot."""
    env = {**os.environ, "HWADAPT_TRACE": "1"}
    proc = subprocess.Popen(CLI + ["submit", str(spec), "--backend", "aer_noisy", "--ledger",
                                   str(ledger), "--json"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    marks = {}
    try:
        for line in proc.stderr:
            if line.startswith("hwadapt-trace "):
                _, wall, cpu, event = line.rstrip("\n").split(" ", 3)
                marks[event] = (float(wall), float(cpu))
                if event == "first shot":
                    break
    finally:
        proc.kill()
        proc.wait()
    if "first shot" not in marks:
        raise RuntimeError(f"submit ended before its first shot: {marks}")
    return marks


def scaling_case(n: int, bindings: int):
    """aer_noisy and one PUB: the demo's magnitude family at ``n`` data qubits, its first
    ``bindings`` inputs, the demo's first-round shots (``aer_methods.case``)."""
    from aer_methods import case  # benchmarks/ is on sys.path when run as a script

    backend, pub = case(n, bindings)
    qubits, method = backend.plan([pub])
    return backend, pub, {"data_qubits": n, "simulated_qubits": len(qubits),
                          "method": method, "shots": pub[2], "bindings": bindings}


def per_binding(backend, pub) -> tuple[float, float]:
    """(wall, CPU) seconds per binding of one aer_noisy run of ``pub``."""
    w, c = time.perf_counter(), time.process_time()
    backend.run([pub], seed=1, tag="bench").result()
    return ((time.perf_counter() - w) / len(pub[1]), (time.process_time() - c) / len(pub[1]))


def measure_cli(rounds: int, spec: Path, ledger: Path) -> dict:
    """Interleaved rounds of status/runs/backends and the first shot of the demo."""
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in ("status", "runs",
                                                                   "backends")}
    shots: list[dict] = []
    first_shot(spec, ledger.with_name("warm.db"))  # fills the device cache: not recorded
    for r in range(rounds):
        times["status"].append(command_seconds(["status", "--ledger", str(ledger)]))
        times["runs"].append(command_seconds(["runs", "--ledger", str(ledger)]))
        times["backends"].append(command_seconds(["backends"]))
        shots.append(first_shot(spec, ledger.with_name(f"submit{r}.db")))
        print(f"round {r}: " + ", ".join(f"{k} {v[-1][0]:.2f} s ({v[-1][1]:.2f} s CPU)"
                                         for k, v in times.items())
              + f", first shot {shots[-1]['first shot'][0]:.2f} s", flush=True)
    stages = {e: {"wall": stats([s[e][0] for s in shots]), "cpu": stats([s[e][1] for s in shots])}
              for e in shots[0]}
    return {"seconds": {k: {"wall": stats([w for w, _ in v]), "cpu": stats([c for _, c in v])}
                        for k, v in times.items()}, "submit_trace": stages}


def measure_scaling(rounds: int, qubits: list[int], bindings: int) -> list[dict]:
    """Per-binding wall and CPU seconds of aer_noisy at each size, rounds interleaved."""
    from hwadapt.threads import set_threads

    set_threads()  # $HWADAPT_THREADS (or the cores) for Aer, as the CLI does
    cases = {n: scaling_case(n, bindings) for n in qubits}
    got: dict[int, list[tuple[float, float]]] = {n: [] for n in qubits}
    for r in range(rounds):
        for n, (backend, pub, _) in cases.items():
            got[n].append(per_binding(backend, pub))
            print(f"round {r} n={n}: {got[n][-1][0]:.2f} s wall, {got[n][-1][1]:.2f} s CPU "
                  "per binding", flush=True)
    rows = [{**info, "wall_per_binding": stats([w for w, _ in got[n]]),
             "cpu_per_binding": stats([c for _, c in got[n]])}
            for n, (_, _, info) in cases.items()]
    for row in rows:
        for k in ("wall", "cpu"):
            row[f"{k}_ratio_to_n{rows[0]['data_qubits']}"] = round(
                row[f"{k}_per_binding"]["median"] / rows[0][f"{k}_per_binding"]["median"], 2)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--qubits", type=int, nargs="+", default=[8, 10])
    ap.add_argument("--bindings", type=int, default=4, help="inputs per timed aer_noisy PUB")
    ap.add_argument("--skip", nargs="*", default=[], choices=["cli", "scaling"])
    ap.add_argument("--out", default=str(ROOT / "results/benchmarks/fixed_cost.json"))
    args = ap.parse_args()
    load0 = os.getloadavg()
    out = {"what": __doc__.split("\n\n")[0].replace("\n", " "), "cores": os.cpu_count(),
           "threads": os.environ.get("HWADAPT_THREADS", "cores"), "rounds": args.rounds}
    with tempfile.TemporaryDirectory() as d:
        spec, ledger = Path(d) / "tiny.toml", Path(d) / "ledger.db"
        spec.write_text(TINY)
        if "cli" not in args.skip:
            subprocess.run(CLI + ["submit", str(spec), "--backend", "exact", "--ledger",
                                  str(ledger)], check=True, capture_output=True, timeout=600)
            out.update(measure_cli(args.rounds, ROOT / "jobs/demo.toml", ledger))
    if "scaling" not in args.skip:
        out["aer_noisy_per_binding"] = measure_scaling(args.rounds, args.qubits, args.bindings)
    out["load_average_before_after"] = [list(load0), list(os.getloadavg())]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "what"}, indent=1))


if __name__ == "__main__":
    main()
