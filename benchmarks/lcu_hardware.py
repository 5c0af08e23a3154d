"""Textbook LCU vs multiplexed LCU vs Halmos dilation vs separate terms, on fake devices.

For n = 4, 8 data qubits, R = 2 pyramid adapters, FakeTorino (Heron, CZ) and FakeSherbrooke
(Eagle, ECR): two-qubit gates and depth after ``optimization_level=1`` (loader included;
ours placed on a line by :mod:`hwadapt.circuits.placement`, the textbook with the preset
layout), ideal and observed (device noise, Aer with the noise model restricted to the active
qubits) postselection rates, and the relative L2 error of the *signed* estimate
(``estimate`` with the uniform reference family of :mod:`hwadapt.circuits.signs`) vs exact
``y = Mx``. Ratios are against the textbook construction measured in the same run.

Run: ``.venv/bin/python benchmarks/lcu_hardware.py [--shots 4000] [--inputs 2]``;
writes ``results/benchmarks/lcu_hardware.json`` and a PNG next to it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from hwadapt.backends import get_backend
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
from hwadapt.circuits.transpile import transpile_for
from hwadapt.estimate import combine_terms, estimate, tally

OUT = Path("results/benchmarks/lcu_hardware.json")
DEVICES = ("fake_torino", "fake_sherbrooke")
METHODS = ("textbook", "efficient", "dilation", "separate")


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
        return find_line(backend, circ.num_qubits)
    return lcu_placement(backend, n, circ.num_qubits - n)


def run(shots: int, inputs: int, ns=(4, 8), R: int = 2, seed: int = 1) -> dict:
    rows = []
    for dev in DEVICES:
        be = get_backend("aer_noisy", noise_from=dev)
        for n in ns:
            th, al = _problem(n, R, seed + n)
            M = combination_matrix(th, al, n)
            beta = default_beta(al)
            rng = np.random.default_rng(seed)
            xs = rng.normal(size=(inputs, n))
            xs /= np.linalg.norm(xs, axis=1, keepdims=True)
            Y = xs @ M.T
            for method in METHODS:
                t0 = time.time()
                fams = [_circuits(method, n, th, al, x, beta) for x in xs]
                isa, reports = {}, {}
                for k, c in fams[0].items():
                    if k.startswith("_"):
                        continue
                    _, rep = transpile_for(c, be.transpile_target,
                                           initial_layout=_layout(method, c, be.transpile_target,
                                                                  n))
                    reports[k] = rep
                pubs, keys = [], []
                for i, f in enumerate(fams):
                    for k, c in f.items():
                        if k.startswith("_"):
                            continue
                        lay = _layout(method, c, be.transpile_target, n)
                        isa[(i, k)], _ = transpile_for(c, be.transpile_target,
                                                       initial_layout=lay)
                        pubs.append((isa[(i, k)], None, shots))
                        keys.append((i, k))
                res = be.run(pubs, seed=seed, tag="bench").result()
                counts = {key: r.data.meas for key, r in zip(keys, res, strict=True)}
                if method == "dilation":  # upper n modes = rejected, not HW errors
                    counts = {key: fold_dilation_counts(c, n) for key, c in counts.items()}
                O0 = combination_matrix(th[:1], [np.sign(al[0])], n)
                ref_r = xs @ O0.T  # r = sign(α_0) U_0 x
                if method == "separate":
                    terms = []
                    for t in range(R):
                        terms.append(estimate(
                            {"magnitude": [counts[(i, f"lcu{t}")] for i in range(inputs)],
                             "signs": [counts[(i, f"reference{t}")] for i in range(inputs)]},
                            n=n, alphas=[1.0], beta=1.0, reference=xs))
                    y, se = combine_terms(terms, al)
                    ideal = 1.0
                    valid = np.mean([tally(counts[(i, f"lcu{t}")], n).kept.sum() / shots
                                     for i in range(inputs) for t in range(R)])
                else:
                    K = fams[0]["_scale"] if method == "dilation" else np.abs(al).sum()
                    est = estimate({"magnitude": [counts[(i, "lcu")] for i in range(inputs)],
                                    "signs": [counts[(i, "reference")]
                                                  for i in range(inputs)]},
                                   n=n, alphas=[K], beta=beta, reference=ref_r)
                    y, se = est.y, est.stderr
                    ideal = float(np.mean(np.sum(Y**2, axis=1) / K**2))
                    valid = np.mean([tally(counts[(i, "lcu")], n).kept.sum() / shots
                                     for i in range(inputs)])
                err = float(np.mean(np.linalg.norm(y - Y, axis=1) / np.linalg.norm(Y, axis=1)))
                main = [r for k, r in reports.items() if k.startswith("lcu")]
                rows.append({
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
                    "seconds": round(time.time() - t0, 2),
                })
                print({k: (round(v, 4) if isinstance(v, float) else v)
                       for k, v in rows[-1].items()}, flush=True)
    for r in rows:
        base = next(b for b in rows if b["device"] == r["device"] and b["n"] == r["n"]
                    and b["method"] == "textbook")
        r["two_qubit_ratio_vs_textbook"] = base["two_qubit_gates"] / r["two_qubit_gates"]
        r["error_ratio_vs_textbook"] = base["rel_l2_error"] / max(r["rel_l2_error"], 1e-12)
    return {"shots": shots, "inputs": inputs, "rows": rows,
            "notes": "two_qubit_gates: loader + adapter/LCU circuit (separate: summed over the "
                     "R circuits); sign circuits counted apart. Textbook with preset layout; "
                     "others placed on a line. Errors: signed, uniform reference family."}


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
            ax.bar(np.arange(len(labels)) + 0.2 * j, vals, 0.2, label=m)
        ax.set_xticks(np.arange(len(labels)) + 0.3,
                      [f"{d.removeprefix('fake_')}\nn={n}" for d, n in labels])
        ax.set_title(key)
        if key != "valid_over_ideal":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", type=int, default=4000)
    ap.add_argument("--inputs", type=int, default=2)
    ap.add_argument("--n", type=int, nargs="+", default=[4, 8])
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = run(args.shots, args.inputs, tuple(args.n))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1))
    _plot(data, OUT.with_suffix(".png"))
    print(f"\nwrote {OUT}")
    for r in data["rows"]:
        print(f"{r['device']:16s} n={r['n']} {r['method']:9s} 2q={r['two_qubit_gates']:5d} "
              f"(x{r['two_qubit_ratio_vs_textbook']:.1f} fewer) depth={r['depth']:5d} "
              f"ideal={r['ideal_rate']:.3f} valid={r['observed_valid_rate']:.3f} "
              f"L2={r['rel_l2_error']:.3f} (x{r['error_ratio_vs_textbook']:.1f} lower)")


if __name__ == "__main__":
    main()
