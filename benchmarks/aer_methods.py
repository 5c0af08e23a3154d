"""aer_noisy's Aer methods on the demo's noisy circuits, vs Aer's own ``automatic`` choice.

For data qubits 4/6/8/10 (``jobs/demo.toml`` with other ``qubits``), the magnitude family's
ISA circuit on fake_torino, restricted to its active qubits, one binding (the first input)
at the demo's first-round shots, 1 thread (``hwadapt.threads``). Each method runs in every
round, rounds interleaved; trajectory methods (statevector, matrix_product_state) run at most
``--cap`` shots and are scaled linearly to the full shots (their cost is per shot; the JSON
says which). ``automatic`` always runs the full shots: it is the baseline, timed as it runs
today. ``chosen`` is the method :func:`hwadapt.backends.aer_method.choose_method` picks.
Ratios to ``automatic`` are taken per round and summarised (median, quartiles) over the
rounds, with the 1-minute load average before and after.
Writes results/benchmarks/aer_methods.json. Usage:
    .venv/bin/python benchmarks/aer_methods.py [--qubits 4 6 8 10] [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from pathlib import Path

from adapters import _spread  # the benchmarks' one median/quartile summary

from hwadapt.backends import get_backend
from hwadapt.backends.noise import compact_circuit
from hwadapt.execution import batching, manager
from hwadapt.spec import build_families, parse_spec
from hwadapt.threads import set_threads

ROOT = Path(__file__).parents[1]
METHODS = ("automatic", "density_matrix", "statevector", "matrix_product_state")
TRAJECTORIES = ("statevector", "matrix_product_state")


def case(n: int, bindings: int = 1):
    """The demo at ``n`` data qubits: (aer_noisy backend, one pub of its first ``bindings``
    inputs, full shots)."""
    text = re.sub(r"(?m)^qubits = \d+", f"qubits = {n}", (ROOT / "jobs/demo.toml").read_text())
    spec = parse_spec(text, base_dir=ROOT / "jobs")
    fam = build_families(spec)[0]
    backend = get_backend("aer_noisy")
    isa = manager.transpile(fam.circuit, backend, spec.optimization_level, spec.seed)
    rates = manager.exact_rates(fam)
    shots = batching.first_round_shots(rates, spec.shots.target_accepted, spec.shots.pilot,
                                       len(fam.values))
    pub = (isa, fam.values[:bindings], int(batching.round_shots(int(shots.max()))))
    backend.noise_model(backend.plan([pub])[0])  # built once (cached): not in the timings
    return backend, pub


def timed(backend, pub, method: str, shots: int) -> float:
    backend.method = method
    t = time.perf_counter()
    backend.run([(pub[0], pub[1], shots)], seed=1, tag="bench").result()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qubits", type=int, nargs="+", default=[4, 6, 8, 10])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--cap", type=int, nargs=2, default=[256, 32],
                    help="shots run for statevector and matrix_product_state")
    ap.add_argument("--skip", nargs="*", default=["matrix_product_state@10"],
                    help="method@qubits pairs not timed (too slow to be a candidate)")
    ap.add_argument("--out", default=str(ROOT / "results/benchmarks/aer_methods.json"))
    args = ap.parse_args()
    set_threads(1)
    cap = dict(zip(TRAJECTORIES, args.cap, strict=True))
    load0 = os.getloadavg()
    cases = {n: case(n) for n in args.qubits}
    times = {n: {m: [] for m in METHODS} for n in args.qubits}
    for r in range(args.rounds):
        for n, (backend, pub) in cases.items():
            for m in METHODS:
                if f"{m}@{n}" in args.skip:
                    continue
                shots = min(pub[2], cap[m]) if m in TRAJECTORIES else pub[2]
                times[n][m].append(timed(backend, pub, m, shots) * pub[2] / shots)
                print(f"round {r} n={n} {m}: {times[n][m][-1]:.2f} s", flush=True)
    rows = []
    for n, (backend, pub) in cases.items():
        backend.method = None  # chosen by size and structure
        qubits, chosen = backend.plan([pub])
        med = {m: statistics.median(v) for m, v in times[n].items() if v}
        auto = times[n]["automatic"]
        rows.append({
            "data_qubits": n, "simulated_qubits": len(qubits), "shots": pub[2],
            "two_qubit_gates": compact_circuit(pub[0], qubits).count_ops().get("cz", 0),
            "chosen": chosen,
            "seconds_per_binding": {m: {k: round(x, 3) for k, x in _spread(v).items()}
                                    | {"rounds": len(v)} for m, v in times[n].items() if v},
            "ratio_to_automatic": {m: {k: round(x, 3) for k, x in _spread(
                [a / b for a, b in zip(v, auto, strict=True)]).items()}
                for m, v in times[n].items() if v},
            "chosen_vs_automatic": round(med[chosen] / med["automatic"], 3),
        })
    for row in rows:
        base = rows[0]["seconds_per_binding"][rows[0]["chosen"]]["median"]
        row["chosen_vs_smallest_chosen"] = round(
            row["seconds_per_binding"][row["chosen"]]["median"] / base, 2)
    out = {
        "what": "seconds per binding (one input) of the demo's magnitude circuit on aer_noisy "
                "(fake_torino noise restricted to its qubits), 1 thread; the demo runs 16 "
                "target + 64 calibration inputs x 3 families (magnitude, signs, signs1)",
        "trajectory_shots_run": cap, "scaled_linearly_to_full_shots": list(TRAJECTORIES),
        "not_timed": args.skip, "rounds": args.rounds,
        "load_average_before_after": [list(load0), list(os.getloadavg())],
        "cores": os.cpu_count(),
        "note": "machine shared with other work (load average above): absolute times are "
                "inflated, ratios within a round are the comparable numbers",
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
