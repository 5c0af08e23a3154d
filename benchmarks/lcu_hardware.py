"""Textbook vs multiplexed vs spectral LCU vs Halmos dilation vs separate terms, fake devices.

For n = 4, 8 data qubits, R = 2 pyramid adapters, FakeTorino (Heron, CZ) and FakeSherbrooke
(Eagle, ECR); ``spectral`` is :mod:`hwadapt.circuits.spectral_lcu` (one controlled layer):
two-qubit gates and depth after ``optimization_level=1`` (loader included;
ours placed on a line by :mod:`hwadapt.circuits.placement`, the textbook with the preset
layout), ideal and observed (device noise, Aer with the noise model restricted to the active
qubits) postselection rates, and the relative L2 error of the *signed* estimate
(reference family ``V_ref = sign(α_0) U_0``, see ``_circuits``) vs exact
``y = Mx``. Ratios are against the textbook construction measured in the same run.

Run: ``.venv/bin/python benchmarks/lcu_hardware.py [--shots 2000] [--inputs 4]
[--executor local|ray] [--workers N]``: one task per row (default: a process pool, one worker
per core, each with 1 thread); writes ``results/benchmarks/lcu_hardware.json`` as every row
lands and a PNG at the end.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hwadapt.backends import active_qubits, compact_circuit, fake_backend, restricted_noise_model
from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.dilation import (
    combination_matrix,
    dilation_circuit,
    fold_dilation_counts,
)
from hwadapt.circuits.efficient_lcu import (
    efficient_lcu_circuit,
    efficient_sign_circuit,
    separate_circuits,
)
from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.lcu import lcu_circuit
from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.circuits.placement import find_line, lcu_placement
from hwadapt.circuits.signs import default_beta
from hwadapt.circuits.spectral_lcu import spectral_lcu_circuit
from hwadapt.circuits.transpile import transpile_for
from hwadapt.estimate import combine_terms, estimate, tally
from hwadapt.threads import aer_options, set_threads

OUT = Path("results/benchmarks/lcu_hardware.json")
DENSITY_MATRIX_MAX_QUBITS = 10
"""Noisy Aer method: exact density matrix up to this many active qubits, above it
statevector trajectories with at most :data:`TRAJECTORY_SHOTS` shots per binding."""
TRAJECTORY_SHOTS = 500
"""Shot cap for trajectory rows (the 16-qubit dilation at n = 8): each shot is one noisy
statevector run; matrix_product_state trajectories did not finish in 7 minutes here."""
NOTES = ("two_qubit_gates: loader + adapter/LCU circuit after optimization_level=1 (separate: "
         "summed over the R circuits); sign circuits counted apart. Textbook with the preset "
         "layout; the others with whichever of our line placement (hwadapt.circuits."
         "placement) and the preset layout gives fewer two-qubit gates. Signs: reference "
         "family V_ref = sign(a_0) U_0 (alpha_0 -> alpha_0 + sign(alpha_0) beta). Noise: the "
         "device's noise model restricted to the active qubits; Aer density_matrix up to "
         f"{DENSITY_MATRIX_MAX_QUBITS} active qubits, statevector trajectories above with at most "
         f"{TRAJECTORY_SHOTS} shots per input (the 2n-qubit dilation at n = 8); "
         "'simulator_method' per row. rel_l2_error: mean "
         "over inputs.")
DEVICES = ("fake_torino", "fake_sherbrooke")
METHODS = ("textbook", "efficient", "spectral", "dilation", "separate")


def _problem(n: int, R: int, seed: int):
    rng = np.random.default_rng(seed)
    th = rng.uniform(-np.pi, np.pi, (R, num_angles(n, "pyramid")))
    al = rng.uniform(0.3, 1.0, R) * rng.choice([-1, 1], R)
    return th, al


def _circuits(method: str, n: int, th: np.ndarray, al: np.ndarray, x: np.ndarray, beta: float):
    """{family: measured circuit} for one input. Signs, same for every LCU arm: the reference
    branch ``V_ref = sign(α_0) U_0`` (``r = sign(α_0) U_0 x``), i.e. the same circuit with
    ``α_0 → α_0 + sign(α_0) β`` (dilation: of ``M + β sign(α_0) O_0``); separate: ``V_ref = I``
    per term (β = 1)."""
    loader = unary_loader(n, unary_angles(x))
    al_ref = al.copy()
    al_ref[0] += np.sign(al[0]) * beta
    if method == "textbook":
        adapters = [adapter_circuit(n, t) for t in th]
        out = {"lcu": lcu_circuit(adapters, al, state_prep=loader),
               "reference": lcu_circuit(adapters, al_ref, state_prep=loader)}
    elif method == "efficient":
        out = {"lcu": efficient_lcu_circuit(th, al, loader),
               "reference": efficient_sign_circuit(th, al, loader, reference="term0",
                                                   beta=beta)}
    elif method == "spectral":
        out = {"lcu": spectral_lcu_circuit(th, al, x),
               "reference": spectral_lcu_circuit(th, al_ref, x)}
    elif method == "dilation":
        M = combination_matrix(th, al, n)
        main, s = dilation_circuit(M, unary_angles(x))
        signed, _ = dilation_circuit(combination_matrix(th, al_ref, n), unary_angles(x),
                                     scale=s + beta)
        out = {"lcu": main, "reference": signed, "_scale": s}
    else:  # separate: per term, the circuit of U_i x and its sign circuit (α = 1)
        out = {}
        for i, circ in enumerate(separate_circuits(th, unary_angles(x))):
            out[f"lcu{i}"] = circ
            out[f"reference{i}"] = efficient_sign_circuit(th[i:i + 1], [1.0], loader,
                                                          reference="input", beta=1.0)
    for k, c in out.items():
        if not k.startswith("_"):
            c.measure_all()
    return out


def _layout(method: str, circ, backend, n: int):
    if method == "textbook":
        return None  # the preset pass manager's own layout (the baseline)
    if circ.num_qubits == n or method == "dilation":
        ours = find_line(backend, circ.num_qubits)
    else:
        ours = lcu_placement(backend, n, circ.num_qubits - n)
    # layout-aware: our line placement or the preset pass manager's own, fewer 2q gates wins
    mine = transpile_for(circ, backend, initial_layout=ours)[1].two_qubit_gates
    return ours if mine <= transpile_for(circ, backend)[1].two_qubit_gates else None


def _sample(pubs: list, device: str, seed: int):
    """Noisy Aer sampling with ``device``'s noise restricted to the active qubits; returns
    (results, Aer method)."""
    from qiskit_aer import AerSimulator
    from qiskit_aer.primitives import SamplerV2

    qubits = tuple(sorted(set().union(*(active_qubits(p[0]) for p in pubs))))
    small = [(compact_circuit(p[0], qubits), *p[1:]) for p in pubs]
    method = "density_matrix"
    if len(qubits) > DENSITY_MATRIX_MAX_QUBITS:
        method = "statevector"
        small = [(c, v, min(shots, TRAJECTORY_SHOTS)) for c, v, shots in small]
    sim = AerSimulator(method=method, noise_model=restricted_noise_model(device, qubits),
                       **aer_options())
    return SamplerV2.from_backend(sim, seed=seed).run(small).result(), method


def _valid_rate(counts, n: int) -> float:
    """Fraction of the shots actually taken that pass the postselection (valid outcomes)."""
    t = tally(counts, n)
    return float(t.kept.sum() / t.total)


def _write(data: dict) -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1))


def _row(task: tuple) -> dict:
    """One row of the grid: ``(device, n, method, shots, inputs, R, seed)`` -> its metrics
    (a task: independent of every other row; the ratios vs textbook are added by :func:`run`).
    """
    dev, n, method, shots, inputs, R, seed = task
    t0 = time.time()
    target = fake_backend(dev)
    th, al = _problem(n, R, seed + n)
    M = combination_matrix(th, al, n)
    beta = default_beta(al)
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(inputs, n))
    xs /= np.linalg.norm(xs, axis=1, keepdims=True)
    Y = xs @ M.T
    fams = [_circuits(method, n, th, al, x, beta) for x in xs]
    reports = {k: transpile_for(c, target, initial_layout=_layout(method, c, target, n))[1]
               for k, c in fams[0].items() if not k.startswith("_")}
    pubs, keys = [], []
    for i, f in enumerate(fams):
        for k, c in f.items():
            if not k.startswith("_"):
                isa, _ = transpile_for(c, target, initial_layout=_layout(method, c, target, n))
                pubs.append((isa, None, shots))
                keys.append((i, k))
    res, sim_method = _sample(pubs, dev, seed)
    counts = {key: r.data.meas for key, r in zip(keys, res, strict=True)}
    if method == "dilation":  # upper n modes = rejected, not HW errors
        counts = {key: fold_dilation_counts(c, n) for key, c in counts.items()}
    y, se, ideal, valid = _estimates(method, counts, fams[0], xs, Y, th, al, beta, n, R)
    err = float(np.mean(np.linalg.norm(y - Y, axis=1) / np.linalg.norm(Y, axis=1)))
    main = [r for k, r in reports.items() if k.startswith("lcu")]
    return {
        "device": dev, "n": n, "R": R, "method": method,
        "two_qubit_gates": int(sum(r.two_qubit_gates for r in main)),
        "two_qubit_gates_max_circuit": int(max(r.two_qubit_gates for r in main)),
        "depth": int(max(r.depth for r in main)),
        "swaps": int(sum(r.swaps for r in main)),
        "sign_circuit_two_qubit_gates": int(sum(
            r.two_qubit_gates for k, r in reports.items() if k.startswith("ref"))),
        "ideal_rate": ideal, "observed_valid_rate": float(valid),
        "valid_over_ideal": float(valid / ideal),
        "rel_l2_error": err, "mean_stderr": float(np.mean(se)),
        "simulator_method": sim_method,
        "shots_per_input": int(tally(next(iter(counts.values())), n).total),
        "seconds": round(time.time() - t0, 2),
    }


def _estimates(method: str, counts: dict, fam: dict, xs: np.ndarray, Y: np.ndarray,
               th: np.ndarray, al: np.ndarray, beta: float, n: int, R: int) -> tuple:
    """``(y, stderr, ideal rate, observed valid rate)`` of one row's counts."""
    inputs = len(xs)
    if method == "separate":
        terms = [estimate({"magnitude": [counts[(i, f"lcu{t}")] for i in range(inputs)],
                           "signs": [counts[(i, f"reference{t}")] for i in range(inputs)]},
                          n=n, alphas=[1.0], beta=1.0, reference=xs) for t in range(R)]
        y, se = combine_terms(terms, al)
        valid = np.mean([_valid_rate(counts[(i, f"lcu{t}")], n)
                         for i in range(inputs) for t in range(R)])
        return y, se, 1.0, valid
    O0 = combination_matrix(th[:1], [np.sign(al[0])], n)
    ref_r = xs @ O0.T  # r = sign(α_0) U_0 x
    K = fam["_scale"] if method == "dilation" else np.abs(al).sum()
    est = estimate({"magnitude": [counts[(i, "lcu")] for i in range(inputs)],
                    "signs": [counts[(i, "reference")] for i in range(inputs)]},
                   n=n, alphas=[K], beta=beta, reference=ref_r)
    ideal = float(np.mean(np.sum(Y**2, axis=1) / K**2))
    valid = np.mean([_valid_rate(counts[(i, "lcu")], n) for i in range(inputs)])
    return est.y, est.stderr, ideal, valid


def run(shots: int, inputs: int, ns=(4, 8), R: int = 2, seed: int = 1,
        devices=DEVICES, executor=None) -> dict:
    """Every (device, n, method) row, one task each on ``executor`` (default: in this
    process, in order); rows are kept in grid order and the JSON rewritten as each lands."""
    from hwadapt.executors import serial

    tasks = [(dev, n, m, shots, inputs, R, seed) for dev in devices for n in ns
             for m in METHODS]
    found: list = [None] * len(tasks)
    data = {"shots": shots, "inputs": inputs, "rows": [], "complete": False, "notes": NOTES}
    for k, row in (executor or serial()).map_unordered(_row, tasks):
        found[k] = row
        data["rows"] = [r for r in found if r is not None]
        _write(data)
        print({key: (round(v, 4) if isinstance(v, float) else v) for key, v in row.items()},
              flush=True)
    for row in found:
        base = next(b for b in found if b["device"] == row["device"] and b["n"] == row["n"]
                    and b["method"] == "textbook")
        row["two_qubit_ratio_vs_textbook"] = base["two_qubit_gates"] / row["two_qubit_gates"]
        row["error_ratio_vs_textbook"] = base["rel_l2_error"] / max(row["rel_l2_error"], 1e-12)
    data["rows"], data["complete"] = found, True
    _write(data)
    return data


def _plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    labels = sorted({(r["device"], r["n"]) for r in rows})
    for ax, key in zip(axes, ("two_qubit_gates", "valid_over_ideal", "rel_l2_error"),
                       strict=True):
        for j, m in enumerate(METHODS):
            vals = [next(r[key] for r in rows if (r["device"], r["n"]) == lab
                         and r["method"] == m) for lab in labels]
            ax.bar(np.arange(len(labels)) + 0.16 * j, vals, 0.16, label=m)
        ax.set_xticks(np.arange(len(labels)) + 0.32,
                      [f"{d.removeprefix('fake_')}\nn={n}" for d, n in labels])
        ax.set_title(key)
        if key != "valid_over_ideal":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", type=int, default=2000)
    ap.add_argument("--inputs", type=int, default=4)
    ap.add_argument("--devices", nargs="+", default=list(DEVICES))
    ap.add_argument("--n", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--executor", default=None, help="local (default) or ray: one task per row")
    ap.add_argument("--workers", default=None, help="workers (default: one per core)")
    ap.add_argument("--ray-address", default=None, help="ray: auto or <host>:<port>")
    args = ap.parse_args()
    set_threads(1)  # torch, BLAS, numba, Aer: one setting (hwadapt.threads)
    from hwadapt.executors import get_executor

    with get_executor(args.executor, args.workers, args.ray_address) as ex:
        data = run(args.shots, args.inputs, tuple(args.n), devices=tuple(args.devices),
                   executor=ex)
    _plot(data, OUT.with_suffix(".png"))
    print(f"\nwrote {OUT}")
    for r in data["rows"]:
        print(f"{r['device']:16s} n={r['n']} {r['method']:9s} 2q={r['two_qubit_gates']:5d} "
              f"(x{r['two_qubit_ratio_vs_textbook']:.1f} fewer) depth={r['depth']:5d} "
              f"ideal={r['ideal_rate']:.3f} valid={r['observed_valid_rate']:.3f} "
              f"L2={r['rel_l2_error']:.3f} (x{r['error_ratio_vs_textbook']:.1f} lower)")


if __name__ == "__main__":
    main()
