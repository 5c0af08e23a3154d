"""Circuit benchmarks -> results/benchmarks/circuits.json.

(1) Two-qubit gate counts after transpiling pyramid / butterfly adapters (n = 4, 8, 12) to
    FakeTorino (CZ) and FakeSherbrooke (ECR), against the lower bound 2 × #RBS
    (butterflies need 2^m qubits, so n = 12 becomes 16 for them).
(2) hwadapt's exact subspace simulator vs Aer's statevector simulator on the same LCU
    circuit (R = 4 pyramid adapters, unary loader, 64 inputs as one parameter array),
    n = 8, 12, 16; both yield the postselected output vectors, checked to agree.

Run: .venv/bin/python benchmarks/circuits.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from qiskit.circuit import ParameterVector

from hwadapt.backends import fake_backend
from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.lcu import lcu_ancillas, lcu_circuit
from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.circuits.transpile import transpile_for
from hwadapt.simulate import postselect_state, simulate_subspace
from hwadapt.threads import aer_options, set_threads

OUT = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "circuits.json"
AER_BUDGET_S = 90.0  # per size: beyond this, time a prefix of the batch and scale


def transpile_counts(sizes: list[int]) -> list[dict]:
    rows = []
    for dev in ("fake_torino", "fake_sherbrooke"):
        backend = fake_backend(dev)
        for layout in ("pyramid", "butterfly"):
            for n in sizes:
                if layout == "butterfly" and n & (n - 1):
                    n = 1 << n.bit_length()  # butterflies need 2^m qubits: 12 -> 16
                m = num_angles(n, layout)
                qc = adapter_circuit(n, np.random.default_rng(n).uniform(-3, 3, m), layout)
                _, rep = transpile_for(qc, backend)
                row = {"device": dev, "layout": layout, "n": n, "rbs_or_fbs": m,
                       "bound_2x": 2 * m, "two_qubit": rep.two_qubit_gates,
                       "ratio_vs_bound": rep.two_qubit_gates / (2 * m), "swaps": rep.swaps,
                       "depth": rep.depth}
                rows.append(row)
                print(f"{dev:16s} {layout:9s} n={n:2d}  2q={rep.two_qubit_gates:4d}  "
                      f"bound={2 * m:4d}  ratio={row['ratio_vs_bound']:.2f}  swaps={rep.swaps}")
    return rows


def lcu_problem(n: int, R: int = 4, batch: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    us = [adapter_circuit(n, rng.uniform(-np.pi, np.pi, num_angles(n, "pyramid")))
          for _ in range(R)]
    alphas = rng.normal(size=R)
    alphas[0] = -abs(alphas[0])
    qc = lcu_circuit(us, alphas, unary_loader(n, ParameterVector("x", n - 1)))
    X = rng.normal(size=(batch, n))
    return qc, unary_angles(X), lcu_ancillas(R)


def run_exact(qc, angles, n, a):
    t = time.perf_counter()
    state = simulate_subspace(qc, angles)
    prob, psi = postselect_state(state, n, a, 1, normalize=False)
    return time.perf_counter() - t, psi.numpy(), state.indices.numel()


def run_aer(qc, angles, n, a, budget_s: float):
    from qiskit import transpile
    from qiskit_aer import AerSimulator

    sim = AerSimulator(method="statevector", **aer_options())
    circ = qc.copy()
    circ.save_statevector()
    t = time.perf_counter()
    tqc = transpile(circ, sim, optimization_level=0)
    t_transpile = time.perf_counter() - t
    params = list(tqc.parameters)
    hw1 = [1 << i for i in range(n)]

    def run(rows):
        binds = [{p: angles[rows, j].tolist() for j, p in enumerate(params)}]
        t0 = time.perf_counter()
        res = sim.run(tqc, parameter_binds=binds).result()
        dt = time.perf_counter() - t0
        return dt, np.array([np.asarray(res.data(i)["statevector"])[hw1]
                             for i in range(len(rows))])

    B = len(angles)
    dt, psi = run(np.arange(min(4, B)))
    timed = len(psi)
    if dt * B / timed <= budget_s and timed < B:
        dt, psi = run(np.arange(B))
        timed = B
    return dt * B / timed, psi, timed, t_transpile, sum(tqc.count_ops().values())


def simulator_speed(sizes: list[int], batch: int) -> list[dict]:
    rows = []
    for n in sizes:
        qc, angles, a = lcu_problem(n, batch=batch)
        run_exact(qc, angles[:2], n, a)  # warm-up (imports, caches)
        t_exact, psi_exact, support = run_exact(qc, angles, n, a)
        t_aer, psi_aer, timed, t_tr, n_ops = run_aer(qc, angles, n, a, AER_BUDGET_S)
        err = float(np.abs(psi_exact[:timed] - psi_aer).max())
        row = {"n": n, "qubits": qc.num_qubits, "R": 4, "batch": batch,
               "exact_s": t_exact, "aer_s": t_aer, "speedup": t_aer / t_exact,
               "aer_batch_timed": timed, "aer_transpile_s": t_tr, "aer_ops": n_ops,
               "exact_support": support, "full_dim": 1 << qc.num_qubits, "max_abs_diff": err}
        rows.append(row)
        print(f"LCU n={n:2d} ({qc.num_qubits} qubits, batch {batch}): exact {t_exact:.3f}s  "
              f"aer {t_aer:.2f}s{'' if timed == batch else f' (scaled from {timed})'}  "
              f"speedup {row['speedup']:.0f}x  support {support}/{1 << qc.num_qubits}  "
              f"max|diff| {err:.1e}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (smoke run)")
    args = ap.parse_args()
    set_threads()  # $HWADAPT_THREADS or the cores, for every pool (hwadapt.threads)
    sizes_t = [4, 8] if args.quick else [4, 8, 12]
    sizes_s = [8] if args.quick else [8, 12, 16]
    out = {"transpile": transpile_counts(sizes_t),
           "simulator": simulator_speed(sizes_s, 8 if args.quick else 64)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    if not args.quick:
        OUT.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
