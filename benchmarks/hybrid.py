"""Hybrid-adapter benchmark -> results/benchmarks/hybrid.json.

Forward + backward of the unary-encoded adapter ``y = Σ_i α_i O(θ_i) x`` (pyramid RBS
adapters, R = 2 terms, batch 32, n = 6 and 8 qubits):

- ours: :class:`hwadapt.adapters.quantum.QuantumAdapter` on the exact surrogate (torch
  autograd through ``givens_matrix``), the ``gradient="exact"`` path of hybrid training;
- baseline: PennyLane ``default.qubit`` with ``diff_method="backprop"`` (torch interface) on
  the same circuit: X on wire 0, the RBS unary loader of each input (broadcast over the
  batch), then the adapter's RBS gates (``SingleExcitation(2θ)`` = ``RBS(θ)`` on wires
  ``(a, b)``), one circuit per term, ``y_j = Σ_i α_i <e_j|ψ_i>`` read from the state
  (PennyLane's wire 0 is the most significant bit). Outputs are checked to agree (1e-10).

Both compute the loss ``<w, y>`` and its gradient w.r.t. all angles and α, in float64, on
one thread; the time is the median of repeated runs.

PennyLane is NOT a hwadapt dependency. Install it in a throwaway venv that sees hwadapt's:

    python3 -m venv /tmp/plvenv
    echo $PWD/.venv/lib/python3.11/site-packages > /tmp/plvenv/lib/python3.11/site-packages/hw.pth
    echo $PWD > /tmp/plvenv/lib/python3.11/site-packages/hw_src.pth
    /tmp/plvenv/bin/pip install pennylane
    /tmp/plvenv/bin/python benchmarks/hybrid.py

Without PennyLane the script says so, still times ours and writes the JSON.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path

import torch

from hwadapt.adapters.quantum import QuantumAdapter
from hwadapt.circuits.layouts import layout_pairs
from hwadapt.circuits.loaders import unary_angles, unary_splits
from hwadapt.threads import set_threads

OUT = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "hybrid.json"
BATCH, RANK = 32, 2


def _median_time(fn, repeats: int, budget_s: float = 20.0) -> float:
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if time.perf_counter() - start > budget_s and len(times) >= 3:
            break
    return statistics.median(times)


def ours(n: int, x: torch.Tensor, w: torch.Tensor, state: dict):
    q = QuantumAdapter(n, RANK, dtype=torch.float64)
    q.load_state_dict(state)

    def step():
        q.zero_grad()
        y = q(x)
        (y * w).sum().backward()
        return y.detach(), q.angles.grad.clone(), q.alpha.grad.clone()

    return step


def pennylane(n: int, x: torch.Tensor, w: torch.Tensor, state: dict):
    import pennylane as qml

    dev = qml.device("default.qubit", wires=n)
    loads = torch.as_tensor(unary_angles(x.numpy()))  # (B, n-1), no gradient needed
    splits = unary_splits(n)
    pairs = layout_pairs(n, "pyramid")
    hw1 = [1 << (n - 1 - j) for j in range(n)]  # wire j excited, wire 0 = MSB

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(theta):
        qml.PauliX(0)
        for k, (lo, mid, _) in enumerate(splits):
            qml.SingleExcitation(2 * loads[:, k], wires=[lo, mid])
        for t, (a, b) in zip(theta, pairs, strict=True):
            qml.SingleExcitation(2 * t, wires=[a, b])
        return qml.state()

    angles = state["angles"].clone().requires_grad_(True)
    alpha = state["alpha"].clone().requires_grad_(True)
    norms = x.norm(dim=-1, keepdim=True)

    def step():
        angles.grad = alpha.grad = None
        y = sum(alpha[i] * circuit(angles[i])[:, hw1].real for i in range(RANK)) * norms
        (y * w).sum().backward()
        return y.detach(), angles.grad.clone(), alpha.grad.clone()

    return step


def main() -> None:
    set_threads(1)  # torch, BLAS, numba: one setting (hwadapt.threads)
    try:
        import pennylane as qml
        pl_version = qml.__version__
    except ImportError:
        pl_version = None
        print("PennyLane not importable: timing hwadapt only (see the docstring to install "
              "it in a throwaway venv)")
    rows = []
    for n in (6, 8):
        torch.manual_seed(n)
        q = QuantumAdapter(n, RANK, dtype=torch.float64)
        with torch.no_grad():
            q.alpha.copy_(torch.randn(RANK, dtype=torch.float64))
        state = {k: v.detach().clone() for k, v in q.state_dict().items()}
        x = torch.randn(BATCH, n, dtype=torch.float64)
        w = torch.randn(BATCH, n, dtype=torch.float64)
        f_ours = ours(n, x, w, state)
        row = {"n": n, "batch": BATCH, "rank": RANK, "gates_per_term": n * (n - 1) // 2,
               "ours_s": _median_time(f_ours, 200)}
        if pl_version:
            f_pl = pennylane(n, x, w, state)
            a, b = f_ours(), f_pl()
            err = max(float((u - v).abs().max()) for u, v in zip(a, b, strict=True))
            if not err < 1e-10:
                raise SystemExit(f"n={n}: PennyLane and hwadapt disagree by {err:.2e}")
            row.update(pennylane_s=_median_time(f_pl, 20), max_abs_diff=err)
            row["speedup"] = row["pennylane_s"] / row["ours_s"]
            print(f"n={n}: ours {row['ours_s'] * 1e3:.3f} ms, PennyLane default.qubit "
                  f"backprop {row['pennylane_s'] * 1e3:.2f} ms -> {row['speedup']:.0f}x "
                  f"(outputs/gradients agree to {err:.1e})")
        else:
            print(f"n={n}: ours {row['ours_s'] * 1e3:.3f} ms (no baseline)")
        rows.append(row)
    out = {"what": "forward+backward of a unary-encoded R=2 pyramid adapter, batch 32, "
                   "float64, 1 thread: hwadapt exact surrogate vs PennyLane default.qubit "
                   "backprop on the same circuit",
           "torch": torch.__version__, "pennylane": pl_version, "rows": rows,
           "target_speedup": 2.0,
           "min_speedup": min((r["speedup"] for r in rows if "speedup" in r), default=None),
           "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {OUT}")
    assert not math.isnan(rows[0]["ours_s"])


if __name__ == "__main__":
    main()
