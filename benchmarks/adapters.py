"""Forward+backward time of one adapted nn.Linear(w, w), batch 128: Hamming-weight adapter
(R = 2) vs LoRA, measured in the same run; prints ratios vs LoRA and writes
results/benchmarks/adapters.json.

Baselines: LoRA as in peft (``ΔW = B A``, ``A`` Kaiming-uniform, ``B`` zero; applied as
``W0 x + B (A x)``, no dense ``ΔW``) at r = 1 (the closest to HW's parameter count) and
r = 8; the naive HW build (ΔW from C(n,k)² determinants, ``hamming_weight_matrix(...,
method="minors")``, then one matmul) where feasible. HW variants: free/orthogonal base on the
"auto" path (2^n <= 1024: the fused dense kernel, ΔW folded into a copy of W0; above: the
fused "blocks" kernel, one gemm per weight block A^(k), no 2^n x 2^n matrix), the forced
"apply" path (factorised ΔW applied to vectors) and (free base) the forced "dense" and
"blocks" paths.

Two cases: ``first_layer`` (the input does not require grad, as for the first adapted layer:
no ∂x) and ``input_grad`` (x.requires_grad, as for every later layer: ∂x = g W costs one more
``w x w`` gemm for every method). Every compute thread pool is pinned to ``--threads``
(torch, and through threadpoolctl OpenBLAS/OpenMP, which ``torch.set_num_threads`` does not
control). Rounds are interleaved (each round runs every variant: one untimed step, then
PER_ROUND timed); a variant's ratio is taken per round against LoRA r=8 in the same round,
and the JSON holds the median and spread (min, quartiles, max) over the rounds plus the
machine load (1-minute load average) before and after each width. ``--clock cpu`` times
with the thread's CPU time instead of wall time (CPU only, --threads 1): on a machine
shared with other work it leaves out the time the process waits for a core, so ratios move
less with the load (cache sharing still counts); the JSON records the clock.

    .venv/bin/python benchmarks/adapters.py [--threads 1] [--widths 256 1024 4096]
        [--clock wall|cpu] [--device cuda]  (on a GPU: the device-generic torch path; no
        numba)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import scipy.linalg  # noqa: F401  (loads the OpenBLAS numba's np.dot calls: see main)
import torch
from torch import nn

from hwadapt.adapters import AdapterConfig, inject, trainable_parameters
from hwadapt.adapters.base import DENSE_MAX_DIM
from hwadapt.linalg import hamming_weight_matrix
from hwadapt.threads import set_threads

BATCH = 128
PER_ROUND = 3  # timed steps per variant and round (after one warm-up step)
ROUNDS = {256: 40, 1024: 15, 4096: 10}  # interleaved rounds per width (>= 10)
NAIVE_MAX_WIDTH = 1024  # n = 12: C(24,12) = 2.7M determinants per term per step: skipped
VARIANTS = {
    "lora_r1": AdapterConfig("lora", rank=1),
    "lora_r8": AdapterConfig("lora", rank=8),
    "hw_free": AdapterConfig("hamming", rank=2),
    "hw_orthogonal": AdapterConfig("hamming", rank=2, base="orthogonal"),
    "hw_free_dense": AdapterConfig("hamming", rank=2, path="dense"),
    "hw_free_blocks": AdapterConfig("hamming", rank=2, path="blocks"),
    "hw_free_apply": AdapterConfig("hamming", rank=2, path="apply"),
    "hw_orthogonal_apply": AdapterConfig("hamming", rank=2, base="orthogonal", path="apply"),
}
INPUT_GRAD = ("lora_r1", "lora_r8", "hw_free", "hw_orthogonal")  # the input_grad case


class NaiveHamming(nn.Module):
    """Baseline: the same ΔW built every step from minors (definition), then one matmul."""

    def __init__(self, lay: nn.Module):
        super().__init__()
        self.lay = lay

    def forward(self, x):
        lay = self.lay
        H = torch.stack([hamming_weight_matrix(a, "computational") for a in lay.base_matrices()])
        dW = torch.einsum("r,rij->ij", lay.alpha, H[:, : lay.d_out, : lay.d_in])
        return nn.functional.linear(x, lay.base_layer.weight + dW, lay.base_layer.bias)


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
_clock = CLOCKS["wall"]


def _step(layer: nn.Module, x: torch.Tensor) -> float:
    """Seconds of one forward + backward (sum of outputs) on ``_clock``; gradients cleared
    after."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    t0 = _clock()
    layer(x).sum().backward()
    sync()
    dt = _clock() - t0
    for p in layer.parameters():
        p.grad = None
    x.grad = None
    return dt


def _spread(v: list[float]) -> dict[str, float]:
    q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
    return dict(median=statistics.median(v), min=min(v), q1=q[0], q3=q[2], max=max(v))


def interleaved(layers: dict[str, nn.Module], x: torch.Tensor, rounds: int) -> dict[str, dict]:
    """Per layer: step seconds and ratio to ``lora_r8`` (same round), median and spread over
    ``rounds`` rounds; each round runs every layer in turn (one untimed step, then
    ``PER_ROUND`` timed, their median is the round's time), so load changes on a shared
    machine hit all variants alike."""
    per_round: dict[str, list[float]] = {name: [] for name in layers}
    for _ in range(rounds):
        for name, layer in layers.items():
            _step(layer, x)
            per_round[name].append(statistics.median(_step(layer, x) for _ in range(PER_ROUND)))
    base = per_round["lora_r8"]
    return {name: dict(seconds=_spread(t),
                       ratio_vs_lora_r8=_spread([a / b for a, b in zip(t, base, strict=True)]))
            for name, t in per_round.items()}


def make(width: int, cfg: AdapterConfig, device: str) -> nn.Module:
    torch.manual_seed(0)
    lay = inject(nn.Linear(width, width, device=device), cfg)
    with torch.no_grad():  # nonzero α so every path does its real work
        if hasattr(lay, "alpha"):
            lay.alpha.fill_(0.1)
    return lay


def bench_width(w: int, rounds: int, device: str) -> dict:
    """Both cases at width ``w``; the slow variants (forced apply, naive minors, and forced
    dense above ``DENSE_MAX_DIM``) run as their own interleaved group with LoRA r=8: their
    large temporaries slowed the next variant's step in a round (cache/allocator state) by
    ~15%; at 4096 the dense variant's 64 MB weight copies left glibc's heap trimmed, and the
    blocks variants after it took ~13,000 page faults (~25 ms) a step."""
    layers = {name: make(w, cfg, device) for name, cfg in VARIANTS.items()}
    slow = {k for k, v in layers.items() if getattr(v, "path", "") == "apply"
            or (getattr(v, "path", "") == "dense" and v.dim > DENSE_MAX_DIM)}
    if w <= NAIVE_MAX_WIDTH:
        layers["hw_naive_minors"] = NaiveHamming(make(w, VARIANTS["hw_free"], device))
        slow.add("hw_naive_minors")
    load0 = os.getloadavg()[0]
    x = torch.randn(BATCH, w, device=device)
    first = interleaved({k: v for k, v in layers.items() if k not in slow}, x, rounds)
    group = {k: layers[k] for k in ["lora_r8", *sorted(slow)]}
    first |= {k: v for k, v in interleaved(group, x, rounds).items() if k != "lora_r8"}
    xg = x.clone().requires_grad_(True)
    grad = interleaved({k: layers[k] for k in INPUT_GRAD}, xg, rounds)
    info = {k: dict(params=trainable_parameters(v),
                    path=getattr(v, "path", "minors" if k == "hw_naive_minors" else "-"))
            for k, v in layers.items()}
    return dict(width=w, n=(w - 1).bit_length(), rounds=rounds, loadavg_1min=[load0,
                os.getloadavg()[0]], variants=info, first_layer=first, input_grad=grad)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--widths", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--rounds", type=int, default=None, help="override ROUNDS (>= 10 recorded)")
    ap.add_argument("--device", default="cpu", help="cuda: the device-generic torch path")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="cpu: the thread's CPU time (CPU, --threads 1 only)")
    ap.add_argument("--out", default="results/benchmarks/adapters.json")
    args = ap.parse_args()
    if args.clock == "cpu" and (args.device != "cpu" or args.threads != 1):
        ap.error("--clock cpu times one thread on the CPU: use it with --threads 1 and no "
                 "--device")
    global _clock
    _clock = CLOCKS[args.clock]
    # every pool (hwadapt.threads); threadpoolctl limits only libraries already loaded, hence
    # the scipy.linalg import (SciPy's OpenBLAS, which numba's np.dot in the dense kernel's
    # backward calls, is otherwise loaded later, at 2 threads)
    set_threads(args.threads)
    rows = []
    for w in args.widths:
        row = bench_width(w, args.rounds or ROUNDS.get(w, 10), args.device)
        print(f"\nwidth {w} (n = {row['n']}), batch {BATCH}, {args.threads} thread(s), "
              f"{row['rounds']} rounds, load {row['loadavg_1min'][0]:.1f} -> "
              f"{row['loadavg_1min'][1]:.1f}; ratio = time / LoRA r=8 time, same round")
        for case in ("first_layer", "input_grad"):
            print(f"  {case}:")
            for name, r in row[case].items():
                s, q = r["seconds"], r["ratio_vs_lora_r8"]
                print(f"    {name:22s} {s['median'] * 1e3:9.3f} ms  x{q['median']:6.2f} "
                      f"[{q['q1']:.2f}, {q['q3']:.2f}]  params {row['variants'][name]['params']:>7}"
                      f"  {row['variants'][name]['path']}")
        rows.append(row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(
        batch=BATCH, threads=args.threads, device=args.device, clock=args.clock,
        torch=torch.__version__,
        cpus=os.cpu_count(),
        note="shared 2-core machine: 7 engineers building and testing at the same time "
             "(load average recorded per width); ratios are per round, same process",
        widths=rows), indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
