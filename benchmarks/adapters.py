"""Forward+backward time of one adapted nn.Linear(w, w), batch 128: Hamming-weight adapter
(R = 2) vs LoRA, measured in the same run; prints ratios vs LoRA and writes
results/benchmarks/adapters.json.

Variants: hamming free/orthogonal base on the "auto" path (dense ΔW folded into the weight
for 2^n <= 1024, one matmul per weight block A^(k) above: "blocks", no 2^n x 2^n matrix), on
the forced "apply" path (factorised ΔW applied to vectors) and (free base) on the forced
"dense" (at 4096 a dense 4096 x 4096 W0 + ΔW per step) and "blocks" paths; LoRA r = 1 (the
closest to HW's parameter count: r·2w >> R(n²+1)) and r = 8; and the naive build (ΔW from
C(n,k)² determinants, hamming_weight_matrix(..., method="minors")), only where feasible.

    .venv/bin/python benchmarks/adapters.py [--threads 1] [--widths 256 1024 4096]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from hwadapt.adapters import AdapterConfig, inject, trainable_parameters
from hwadapt.linalg import hamming_weight_matrix
from hwadapt.threads import set_threads

BATCH = 128
PER_ROUND = 3  # timed steps per variant and round (after one warm-up step)
NAIVE_MAX_WIDTH = 1024  # n = 12: C(24,12) = 2.7M determinants per term per step: skipped


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


def _step(layer: nn.Module, x: torch.Tensor) -> float:
    """Seconds of one forward + backward (sum of outputs); gradients cleared after."""
    t0 = time.perf_counter()
    layer(x).sum().backward()
    dt = time.perf_counter() - t0
    for p in layer.parameters():
        p.grad = None
    return dt


def step_times(layers: dict[str, nn.Module], x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median step seconds per layer over ``repeats`` rounds; each round runs every layer in
    turn (interleaved, so load changes on a shared machine hit all variants alike and the
    ratios stay comparable): one untimed step to warm its caches, then ``PER_ROUND`` timed."""
    times: dict[str, list[float]] = {name: [] for name in layers}
    for _ in range(repeats):
        for name, layer in layers.items():
            _step(layer, x)
            times[name] += [_step(layer, x) for _ in range(PER_ROUND)]
    return {name: statistics.median(t) for name, t in times.items()}


def make(width: int, cfg: AdapterConfig) -> nn.Module:
    torch.manual_seed(0)
    lay = inject(nn.Linear(width, width), cfg)
    with torch.no_grad():  # nonzero α so every path does its real work
        if hasattr(lay, "alpha"):
            lay.alpha.fill_(0.1)
    return lay


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--widths", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--out", default="results/benchmarks/adapters.json")
    args = ap.parse_args()
    set_threads(args.threads)  # torch, BLAS, numba: one setting (hwadapt.threads)
    variants = {
        "lora_r1": AdapterConfig("lora", rank=1),
        "lora_r8": AdapterConfig("lora", rank=8),
        "hw_free": AdapterConfig("hamming", rank=2),
        "hw_orthogonal": AdapterConfig("hamming", rank=2, base="orthogonal"),
        "hw_free_apply": AdapterConfig("hamming", rank=2, path="apply"),
        "hw_orthogonal_apply": AdapterConfig("hamming", rank=2, base="orthogonal", path="apply"),
        "hw_free_dense": AdapterConfig("hamming", rank=2, path="dense"),
        "hw_free_blocks": AdapterConfig("hamming", rank=2, path="blocks"),
    }
    rows = []
    for w in args.widths:
        x = torch.randn(BATCH, w)
        repeats = 150 if w <= 256 else 30 if w <= 1024 else 4
        layers = {name: make(w, cfg) for name, cfg in variants.items()}
        # the slow "apply" variants run as their own interleaved group: their large
        # temporaries slow the next variant's step in a round (cache/allocator state), which
        # made identical layers differ by ~15% depending on their place in the round
        slow = {k: v for k, v in layers.items() if getattr(v, "path", "") == "apply"}
        seconds = step_times({k: v for k, v in layers.items() if k not in slow}, x, repeats)
        seconds |= step_times(slow, x, max(2, repeats // 4))
        res = {name: dict(seconds=seconds[name], params=trainable_parameters(lay),
                          path=getattr(lay, "path", "-")) for name, lay in layers.items()}
        if w <= NAIVE_MAX_WIDTH:
            lay = make(w, variants["hw_free"])
            naive = step_times({"naive": NaiveHamming(lay)}, x, 2)
            res["hw_naive_minors"] = dict(seconds=naive["naive"],
                                          params=trainable_parameters(lay), path="minors")
        else:
            res["hw_naive_minors"] = dict(seconds=None, params=None,
                                          path="skipped: 2.7M determinants per term per step")
        base = res["lora_r8"]["seconds"]
        print(f"\nwidth {w} (n = {(w - 1).bit_length()}), batch {BATCH}, "
              f"{args.threads} thread(s); ratio = time / LoRA r=8 time")
        for name, r in res.items():
            if r["seconds"] is None:
                print(f"  {name:22s} {r['path']}")
                continue
            r["ratio_vs_lora_r8"] = r["seconds"] / base
            r["ratio_vs_lora_r1"] = r["seconds"] / res["lora_r1"]["seconds"]
            print(f"  {name:22s} {r['seconds'] * 1e3:9.3f} ms  x{r['ratio_vs_lora_r8']:6.2f} "
                  f"(vs r=1 x{r['ratio_vs_lora_r1']:6.2f})  params {r['params']:>7}  {r['path']}")
        rows.append(dict(width=w, **res))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(batch=BATCH, threads=args.threads, torch=torch.__version__,
                                   widths=rows), indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
