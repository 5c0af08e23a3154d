"""Before/after of the adapter step in ONE process: HW free (R = 2, "auto" path) from a git
ref ("before", default ``main``) and from this tree ("after"), both against LoRA r=8 of
this tree, at batch 128, in the two cases of benchmarks/adapters.py (``first_layer``: the
input does not require grad; ``input_grad``: it does). Rounds are interleaved exactly as
there (:func:`adapters.interleaved`: each round runs every variant, one untimed step then
the median of 3 timed; ratios per round against LoRA r=8 of the same round), so both
versions meet the same machine load; the JSON holds median and spread per variant.

The ref's ``hwadapt`` is extracted with ``git archive`` into a temporary folder and imported
as the package ``hwadapt_ref`` (its imports of ``hwadapt`` rewritten), so both versions run
side by side; each keeps its own numba cache.

    .venv/bin/python benchmarks/adapters_ab.py [--ref main] [--widths 256 1024 4096]
        [--rounds N] [--clock cpu|wall] [--threads 1] [--out PATH]
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import adapters as bench  # benchmarks/adapters.py (this folder is sys.path[0])
import torch
from torch import nn

from hwadapt.adapters import AdapterConfig
from hwadapt.threads import set_threads

_IMPORT = re.compile(r"\b(from|import)(\s+)hwadapt\b")


def load_ref(ref: str, into: Path):
    """``hwadapt`` of git ``ref`` as the package ``hwadapt_ref`` (extracted under ``into``)."""
    root = Path(__file__).resolve().parents[1]
    data = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", ref, "hwadapt"],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    (into / "hwadapt").rename(into / "hwadapt_ref")
    for path in (into / "hwadapt_ref").rglob("*.py"):
        path.write_text(_IMPORT.sub(r"\1\2hwadapt_ref", path.read_text()))
    sys.path.insert(0, str(into))
    return importlib.import_module("hwadapt_ref.adapters")


def make_ref(pkg, width: int, device: str) -> nn.Module:
    """HW free R = 2 of the ref, built as :func:`adapters.make` builds this tree's."""
    torch.manual_seed(0)
    lay = pkg.inject(nn.Linear(width, width, device=device), pkg.AdapterConfig("hamming",
                                                                              rank=2))
    with torch.no_grad():
        lay.alpha.fill_(0.1)
    return lay


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="main", help="git ref of the 'before' version")
    ap.add_argument("--widths", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--rounds", type=int, default=None, help="default: adapters.ROUNDS")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=sorted(bench.CLOCKS), default="wall")
    ap.add_argument("--out", default="results/benchmarks/adapters_ab.json")
    args = ap.parse_args()
    if args.clock == "cpu" and args.threads != 1:
        ap.error("--clock cpu times one thread: use it with --threads 1")
    bench._clock = bench.CLOCKS[args.clock]
    set_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ref = load_ref(args.ref, Path(tmp))
        for w in args.widths:
            rounds = args.rounds or bench.ROUNDS.get(w, 10)
            layers = {"lora_r8": bench.make(w, AdapterConfig("lora", rank=8), "cpu"),
                      "hw_free_before": make_ref(ref, w, "cpu"),
                      "hw_free_after": bench.make(w, AdapterConfig("hamming", rank=2), "cpu")}
            load0 = os.getloadavg()[0]
            x = torch.randn(bench.BATCH, w)
            row = dict(width=w, rounds=rounds, first_layer=bench.interleaved(layers, x, rounds),
                       input_grad=bench.interleaved(layers, x.clone().requires_grad_(True),
                                                    rounds),
                       loadavg_1min=[load0, os.getloadavg()[0]])
            for case in ("first_layer", "input_grad"):
                r = {k: v["ratio_vs_lora_r8"] for k, v in row[case].items()}
                print(f"width {w:5d} {case:11s} LoRA r=8 "
                      f"{row[case]['lora_r8']['seconds']['median'] * 1e3:8.3f} ms | HW before "
                      f"x{r['hw_free_before']['median']:.3f} [{r['hw_free_before']['q1']:.2f},"
                      f" {r['hw_free_before']['q3']:.2f}] | after "
                      f"x{r['hw_free_after']['median']:.3f} [{r['hw_free_after']['q1']:.2f}, "
                      f"{r['hw_free_after']['q3']:.2f}]  ({rounds} rounds)", flush=True)
            rows.append(row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(ref=args.ref, batch=bench.BATCH, threads=args.threads,
                                   clock=args.clock, torch=torch.__version__, widths=rows),
                              indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
