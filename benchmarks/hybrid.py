"""Hybrid-adapter benchmark -> results/benchmarks/hybrid.json.

Forward + backward of the unary-encoded adapter ``y = Σ_i α_i O(θ_i) x`` (pyramid RBS
adapters, R = 2 terms, batch 32, n = 6 and 8 qubits), the loss ``<w, y>`` and its gradient
w.r.t. all angles and α, float64, one thread (``hwadapt.threads``):

- ours: :class:`hwadapt.adapters.quantum.QuantumAdapter` on the exact surrogate (the
  ``gradient="exact"`` path of hybrid training: the ``n x n`` rotation from the compiled
  Givens kernel, then one matmul);
- ``torch_givens``: the same maths written plainly in torch, as a competent user would:
  the rows of ``O(θ_i)`` updated pair by pair (``2m`` row rotations, autograd records
  them), then ``x O^T``; different code, same computation; ``torch_givens_layers``: the
  same with the gates scheduled into layers of disjoint pairs, one vectorised update per
  layer (``2n - 3`` layers instead of ``n(n-1)/2`` gates: the faster of the two here);
- ``torch_statevector``: a hand-written batched statevector of the circuit (``2^n`` real
  amplitudes; the loaded states are computed once, outside the timed step, since they do not
  depend on the trainable parameters; each RBS rotates its amplitude pairs with two
  ``index_copy``), ``y_j`` read from the HW-1 amplitudes: the circuit, not the subspace;
- PennyLane (when importable): ``default.qubit`` with ``diff_method="backprop"`` (torch
  interface, broadcasting over the batch: its fastest here; lightning adjoint was 4-6x
  slower) on the same circuit: X on wire 0, the RBS unary loader of each input, then the
  adapter's gates (``SingleExcitation(2θ)`` = ``RBS(θ)`` on wires ``(a, b)``), one circuit
  per term (PennyLane's wire 0 is the most significant bit).

Every baseline's outputs and gradients are checked against ours (1e-10). The baselines that
simulate the circuit compute more than ours (a ``2^n`` state instead of the ``n``-dimensional
subspace), so their ratios measure the subspace shortcut as much as the code; the
``torch_givens*`` ratios are code against code. Rounds are interleaved (each round times every
variant: one untimed call, then the median of ``PER_ROUND``); a ratio is taken per round
against ours in the same round; the JSON holds median and spread over the rounds and the
1-minute load average before and after.

PennyLane is NOT a hwadapt dependency. Install it in a throwaway venv that sees hwadapt's:

    python3 -m venv /tmp/plvenv
    echo $PWD/.venv/lib/python3.11/site-packages > /tmp/plvenv/lib/python3.11/site-packages/hw.pth
    echo $PWD > /tmp/plvenv/lib/python3.11/site-packages/hw_src.pth
    /tmp/plvenv/bin/pip install pennylane
    /tmp/plvenv/bin/python benchmarks/hybrid.py [--rounds 20]

Without PennyLane the script says so and times the other variants.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
from adapters import _spread  # the benchmarks' one median/quartile summary

from hwadapt.adapters.quantum import QuantumAdapter
from hwadapt.circuits.layouts import layout_pairs
from hwadapt.circuits.loaders import unary_angles, unary_splits
from hwadapt.threads import set_threads

OUT = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "hybrid.json"
BATCH, RANK = 32, 2
PER_ROUND = 5  # timed calls per variant and round (after one untimed call)


def ours(n: int, x: torch.Tensor, w: torch.Tensor, state: dict):
    q = QuantumAdapter(n, RANK, dtype=torch.float64)
    q.load_state_dict(state)

    def step():
        q.zero_grad()
        y = q(x)
        (y * w).sum().backward()
        return y.detach(), q.angles.grad.clone(), q.alpha.grad.clone()

    return step


def _leaves(state: dict) -> tuple[torch.Tensor, torch.Tensor]:
    return (state["angles"].clone().requires_grad_(True),
            state["alpha"].clone().requires_grad_(True))


def _terms_step(term, angles: torch.Tensor, alpha: torch.Tensor, w: torch.Tensor,
                scale: torch.Tensor | float = 1.0):
    """The timed step of a baseline: ``y = scale · Σ_i α_i term(θ_i)``, loss ``<w, y>``,
    backward; returns ``(y, ∂θ, ∂α)``."""
    def step():
        angles.grad = alpha.grad = None
        y = sum(alpha[i] * term(angles[i]) for i in range(RANK)) * scale
        (y * w).sum().backward()
        return y.detach(), angles.grad.clone(), alpha.grad.clone()

    return step


def torch_givens(n: int, x: torch.Tensor, w: torch.Tensor, state: dict):
    """``O(θ)`` built row pair by row pair in plain torch (``G[a,a] = G[b,b] = cos``,
    ``G[a,b] = sin``, ``G[b,a] = -sin``, later gates on the left), ``y = Σ α_i x O_iᵀ``."""
    pairs = layout_pairs(n, "pyramid")
    angles, alpha = _leaves(state)
    eye = torch.eye(n, dtype=torch.float64)

    def rotation(theta: torch.Tensor) -> torch.Tensor:
        rows = list(eye.unbind(0))
        c, s = torch.cos(theta), torch.sin(theta)
        for k, (a, b) in enumerate(pairs):
            rows[a], rows[b] = c[k] * rows[a] + s[k] * rows[b], c[k] * rows[b] - s[k] * rows[a]
        return torch.stack(rows)

    return _terms_step(lambda theta: x @ rotation(theta).T, angles, alpha, w)


def _layers(pairs: list[tuple[int, int]]) -> list[list[int]]:
    """Gate indices of ``pairs`` scheduled as soon as possible into layers of disjoint pairs
    (each gate after every earlier gate that shares a qubit), in application order."""
    free: dict[int, int] = {}
    layers: list[list[int]] = []
    for k, (a, b) in enumerate(pairs):
        t = max(free.get(a, 0), free.get(b, 0))
        if t == len(layers):
            layers.append([])
        layers[t].append(k)
        free[a] = free[b] = t + 1
    return layers


def torch_givens_layers(n: int, x: torch.Tensor, w: torch.Tensor, state: dict):
    """As :func:`torch_givens`, one vectorised update per layer of disjoint pairs
    (``2n - 3`` layers for the pyramid instead of ``n(n-1)/2`` gates): ``index_copy`` of
    the rotated rows ``a`` and ``b`` of every gate of the layer at once."""
    pairs = layout_pairs(n, "pyramid")
    layers = [(torch.tensor(g), torch.tensor([pairs[k][0] for k in g]),
               torch.tensor([pairs[k][1] for k in g])) for g in _layers(pairs)]
    angles, alpha = _leaves(state)
    eye = torch.eye(n, dtype=torch.float64)

    def rotation(theta: torch.Tensor) -> torch.Tensor:
        O, c, s = eye, torch.cos(theta)[:, None], torch.sin(theta)[:, None]
        for g, a, b in layers:
            ra, rb, cg, sg = O[a], O[b], c[g], s[g]
            O = O.index_copy(0, a, cg * ra + sg * rb).index_copy(0, b, cg * rb - sg * ra)
        return O

    return _terms_step(lambda theta: x @ rotation(theta).T, angles, alpha, w)


def _rbs_pairs(n: int, a: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Basis indices (qubit ``j`` = bit ``j``) with qubit ``a`` excited and ``b`` not, and
    the same with the excitation moved to ``b``: the amplitude pairs an RBS on (a, b) mixes."""
    i = torch.arange(2 ** n)
    ia = i[((i >> a) & 1 == 1) & ((i >> b) & 1 == 0)]
    return ia, ia ^ (1 << a) ^ (1 << b)


def torch_statevector(n: int, x: torch.Tensor, w: torch.Tensor, state: dict):
    """The circuit on ``2^n`` amplitudes: ``RBS(θ)|e_a> = cos θ |e_a> - sin θ |e_b>``,
    ``RBS(θ)|e_b> = sin θ |e_a> + cos θ |e_b>`` (the Givens convention above)."""
    pairs = [_rbs_pairs(n, a, b) for a, b in layout_pairs(n, "pyramid")]
    psi0 = torch.zeros(len(x), 2 ** n, dtype=torch.float64)
    psi0[:, 1] = 1.0  # X on qubit 0
    loads = torch.as_tensor(unary_angles(x.numpy()))
    for k, (lo, mid, _) in enumerate(unary_splits(n)):  # computed once: no trainable input
        ia, ib = _rbs_pairs(n, lo, mid)
        c, s = torch.cos(loads[:, k:k + 1]), torch.sin(loads[:, k:k + 1])
        pa, pb = psi0[:, ia], psi0[:, ib]
        psi0[:, ia], psi0[:, ib] = c * pa + s * pb, c * pb - s * pa
    hw1 = torch.tensor([1 << j for j in range(n)])
    angles, alpha = _leaves(state)
    norms = x.norm(dim=-1, keepdim=True)

    def term(theta: torch.Tensor) -> torch.Tensor:
        psi, c, s = psi0, torch.cos(theta), torch.sin(theta)
        for k, (ia, ib) in enumerate(pairs):
            pa, pb = psi[:, ia], psi[:, ib]
            psi = psi.index_copy(1, ia, c[k] * pa + s[k] * pb).index_copy(
                1, ib, c[k] * pb - s[k] * pa)
        return psi[:, hw1]

    return _terms_step(term, angles, alpha, w, norms)


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

    angles, alpha = _leaves(state)
    norms = x.norm(dim=-1, keepdim=True)

    return _terms_step(lambda theta: circuit(theta)[:, hw1].real, angles, alpha, w, norms)


def _seconds(fn) -> float:
    fn()
    times = []
    for _ in range(PER_ROUND):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench(n: int, rounds: int, variants: dict) -> dict:
    """One row: every variant checked against ours, then timed in interleaved rounds."""
    torch.manual_seed(n)
    q = QuantumAdapter(n, RANK, dtype=torch.float64)
    with torch.no_grad():
        q.alpha.copy_(torch.randn(RANK, dtype=torch.float64))
    state = {k: v.detach().clone() for k, v in q.state_dict().items()}
    x = torch.randn(BATCH, n, dtype=torch.float64)
    w = torch.randn(BATCH, n, dtype=torch.float64)
    steps = {name: make(n, x, w, state) for name, make in variants.items()}
    ref = steps["ours"]()
    diffs = {}
    for name, fn in steps.items():
        diffs[name] = max(float((u - v).abs().max()) for u, v in zip(ref, fn(), strict=True))
        if not diffs[name] < 1e-10:
            raise SystemExit(f"n={n}: {name} and ours disagree by {diffs[name]:.2e}")
    load0 = os.getloadavg()[0]
    per_round: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            per_round[name].append(_seconds(fn))
    base = per_round["ours"]
    return {"n": n, "batch": BATCH, "rank": RANK, "gates_per_term": n * (n - 1) // 2,
            "rounds": rounds, "loadavg_1min": [load0, os.getloadavg()[0]],
            "max_abs_diff_vs_ours": diffs,
            "variants": {name: {"seconds": _spread(t), "ratio_vs_ours": _spread(
                [a / b for a, b in zip(t, base, strict=True)])} for name, t in per_round.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    set_threads(1)  # torch, BLAS, numba: one setting (hwadapt.threads)
    variants = {"ours": ours, "torch_givens": torch_givens,
                "torch_givens_layers": torch_givens_layers,
                "torch_statevector": torch_statevector}
    try:
        import pennylane as qml
        pl_version = qml.__version__
        variants["pennylane"] = pennylane
    except ImportError:
        pl_version = None
        print("PennyLane not importable: timing the torch baselines only (see the docstring "
              "to install it in a throwaway venv)")
    rows = []
    for n in (6, 8):
        row = bench(n, args.rounds, variants)
        rows.append(row)
        print(f"n={n}, {args.rounds} rounds, load {row['loadavg_1min'][0]:.1f} -> "
              f"{row['loadavg_1min'][1]:.1f}:")
        for name, v in row["variants"].items():
            r = v["ratio_vs_ours"]
            print(f"  {name:20s} {v['seconds']['median'] * 1e3:8.3f} ms  x {r['median']:6.1f} "
                  f"[{r['q1']:.1f}, {r['q3']:.1f}]")
    out = {"what": "forward+backward of a unary-encoded R=2 pyramid adapter, batch 32, "
                   "float64, 1 thread: hwadapt's exact surrogate vs the same maths in plain "
                   "torch (torch_givens, per gate; torch_givens_layers, per layer), a "
                   "hand-written torch statevector of the circuit and PennyLane "
                   "default.qubit backprop on the same circuit (see the script's docstring "
                   "for how each is built); ratio = baseline time / ours, per round",
           "torch": torch.__version__, "pennylane": pl_version, "cpus": os.cpu_count(),
           "rows": rows, "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
