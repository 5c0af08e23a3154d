"""The paper's MNIST study (Raj & Coyle, Fig. 1b and table 1c): pretrain on digits A, fine-tune
on digits B with full fine-tuning, LoRA and the quantum-inspired adapters.

Model: ``fc1 (N_H×N_H) → ReLU → fc2 (N_H×N_H) → ReLU → head (N_H×5)``, inputs downsampled
to width ``N_H``. Pretrained on A = {0..4} (labels 0..4), fine-tuned on B = {5..9}
(labels digit−5).

Choices (stated because the paper does not):
- Adapters go on the two hidden layers ``fc1`` and ``fc2`` (frozen bases); full fine-tuning
  trains both. The 5-way **head is trained in every arm**, starting from the pretrained
  head (B's labels differ from A's, so no arm can work with a frozen head); its
  ``N_H·5 + 5`` parameters are reported separately from the arm's own ("body") parameters.
- Forgetting: A-accuracy after fine-tuning is measured with the fine-tuned body and the
  **pretrained A head** (kept aside, frozen), i.e. how much the shared representation
  drifted; the B head cannot classify A. Before fine-tuning, and for adapters at step 0,
  this equals the pretrained A-accuracy exactly.
- ``lora-matched`` takes the LoRA rank whose parameter count is closest to the compound
  LC adapter's (at least 1); ``lora-r8`` uses r = 8.
- ``head-only`` (not in the paper) is the control: the body frozen, only the head trained;
  what an adapter arm gains over it is what the adapter itself contributes.
- Adam; learning rate ``lr_full`` for full fine-tuning and pretraining, ``lr_adapter`` for
  the adapter and head-only arms (adapters start at ΔW = 0 and need larger steps, as in
  LoRA practice). One learning rate per family, not tuned per arm.

Determinism: ``torch.manual_seed`` per (seed, arm), seeded shuffles,
``torch.use_deterministic_algorithms(True)`` and a fixed thread count during the study.
"""

from __future__ import annotations

import copy
import json
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hwadapt.training.data import MnistData, load_mnist
from hwadapt.training.study_config import ARMS, StudyConfig

DIGITS_A = (0, 1, 2, 3, 4)
DIGITS_B = (5, 6, 7, 8, 9)
ADAPTED_LAYERS = ("fc1", "fc2")

class MLP(nn.Module):
    """``fc1 (h→h) → ReLU → fc2 (h→h) → ReLU → head (h→classes)``; input ``(B, h)``."""

    def __init__(self, hidden: int, classes: int = 5) -> None:
        super().__init__()
        self.fc1 = nn.Linear(hidden, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Body output ``(B, h)`` (after the second ReLU)."""
        return torch.relu(self.fc2(torch.relu(self.fc1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _arm_seed(seed: int, arm: str) -> int:
    return seed * 1_000_003 + zlib.crc32(arm.encode())


def accuracy(body: Callable[[torch.Tensor], torch.Tensor], head: nn.Module, x: torch.Tensor,
             y: torch.Tensor) -> float:
    """Fraction of ``argmax(head(body(x))) == y``."""
    with torch.no_grad():
        return float((head(body(x)).argmax(-1) == y).float().mean())


def _train_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                 y: torch.Tensor, batch_size: int, gen: torch.Generator) -> float:
    model.train()
    perm = torch.randperm(len(x), generator=gen)
    total = 0.0
    for i in range(0, len(x), batch_size):
        idx = perm[i:i + batch_size]
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    model.eval()
    return total / len(x)


def pretrain(data: MnistData, cfg: StudyConfig, seed: int,
             on_epoch: Callable[[], None] = lambda: None) -> MLP:
    """Train a fresh :class:`MLP` on A's training split for ``cfg.pretrain_epochs``."""
    torch.manual_seed(seed)
    model = MLP(cfg.hidden)
    gen = torch.Generator().manual_seed(seed)
    x, y = data.task(DIGITS_A, "train")
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr_full)
    for _ in range(cfg.pretrain_epochs):
        _train_epoch(model, opt, x, y, cfg.batch_size, gen)
        on_epoch()
    model.eval()
    return model


def adapter_config(arm: str, hidden: int) -> Any:
    """The ``hwadapt.adapters.AdapterConfig`` of adapter arm ``arm`` at width ``hidden``."""
    from hwadapt.adapters import AdapterConfig

    kwargs = dict(ARMS[arm])
    if arm == "lora-matched":
        kwargs["rank"] = matched_lora_rank(hidden)
    return AdapterConfig(**kwargs, target=list(ADAPTED_LAYERS))


def _adapted(model: MLP, arm: str, hidden: int) -> MLP:
    """``model`` with ``arm``'s adapters on ``ADAPTED_LAYERS`` (bases frozen, head trainable)."""
    from hwadapt.adapters import inject

    model.requires_grad_(False)
    model = inject(model, adapter_config(arm, hidden))
    model.head.requires_grad_(True)
    return model


def body_parameters(model: MLP) -> int:
    """Trainable parameters outside the head (adapter or hidden-layer parameters)."""
    head = {id(p) for p in model.head.parameters()}
    return sum(p.numel() for p in model.parameters() if p.requires_grad and id(p) not in head)


def matched_lora_rank(hidden: int) -> int:
    """LoRA rank whose body parameter count is closest to the compound LC (R=2) arm's."""
    from hwadapt.adapters import AdapterConfig, inject

    def count(**kw: Any) -> int:
        m = MLP(hidden).requires_grad_(False)
        return body_parameters(inject(m, AdapterConfig(**kw, target=list(ADAPTED_LAYERS))))

    target = count(**ARMS["compound"])
    per_rank = count(method="lora", rank=1)
    return max(1, round(target / per_rank))


def finetune_arm(pretrained: MLP, data: MnistData, cfg: StudyConfig, arm: str, seed: int,
                 on_epoch: Callable[[], None] = lambda: None) -> tuple[dict[str, Any], MLP]:
    """Fine-tune a copy of ``pretrained`` on B with ``arm`` (``pretrained`` is untouched).

    Returns ``(record, model)``: the fine-tuned model and the per-run record with
    ``body_params``, ``head_params``, ``lr``, ``b_acc`` (B validation accuracy per epoch,
    index 0 = before training), ``a_acc_before`` (pretrained), ``a_acc_step0`` (adapted
    model before training, pretrained head), ``a_acc_after``, ``train_loss``, ``wall_s``."""
    t0 = time.perf_counter()
    torch.manual_seed(_arm_seed(seed, arm))
    gen = torch.Generator().manual_seed(_arm_seed(seed, arm))
    head_a = copy.deepcopy(pretrained.head).requires_grad_(False)
    model = copy.deepcopy(pretrained)
    lr = cfg.lr_full
    if ARMS[arm] is not None:
        model = _adapted(model, arm, cfg.hidden)
        lr = cfg.lr_adapter
    elif arm == "head-only":
        model.requires_grad_(False)
        model.head.requires_grad_(True)
        lr = cfg.lr_adapter
    model.eval()
    xa, ya = data.task(DIGITS_A, "val")
    xb, yb = data.task(DIGITS_B, "train")
    xbv, ybv = data.task(DIGITS_B, "val")
    record: dict[str, Any] = {
        "seed": seed,
        "body_params": body_parameters(model),
        "head_params": sum(p.numel() for p in model.head.parameters()),
        "lr": lr,
        "a_acc_before": accuracy(pretrained.features, pretrained.head, xa, ya),
        "a_acc_step0": accuracy(model.features, head_a, xa, ya),
        "b_acc": [accuracy(model.features, model.head, xbv, ybv)],
        "train_loss": [],
    }
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    for _ in range(cfg.epochs):
        record["train_loss"].append(_train_epoch(model, opt, xb, yb, cfg.batch_size, gen))
        record["b_acc"].append(accuracy(model.features, model.head, xbv, ybv))
        on_epoch()
    record["a_acc_after"] = accuracy(model.features, head_a, xa, ya)
    record["wall_s"] = time.perf_counter() - t0
    return record, model


def run_study(cfg: StudyConfig, out: Path | None = None, progress: bool = True,
              data: MnistData | None = None, executor=None) -> dict[str, Any]:
    """Run every (seed, arm) of ``cfg``; with ``out``, write ``study.json``, ``README.md``
    and the PNG plots there. One pretraining per seed, shared by that seed's arms.

    Returns the study dict: ``config``, ``data``, ``choices``, ``runs[arm] = [record per
    seed]`` (see :func:`finetune_arm`), ``pretrain[seed]``, ``summary[arm]``, ``wall_s``
    and ``host`` (cores, threads, load average). Seeds are ``0..cfg.seeds-1``.
    ``executor`` (:mod:`hwadapt.executors`, parallel): one task per seed's pretraining,
    then one per arm × seed (:func:`_parallel_runs`); the same records but ``wall_s``.
    """
    cfg.validate()
    t0, load0 = time.perf_counter(), list(os.getloadavg())
    if data is None:
        data = load_mnist(cfg.hidden, cfg.data_dir, cfg.val_fraction,
                          max_per_class=cfg.max_per_class)
    if executor is not None and executor.parallel:
        runs, pre = _parallel_runs(cfg, data, executor, progress)
    else:
        runs, pre = _serial_runs(cfg, data, progress)
    study = {
        "config": asdict(cfg),
        "data": {"source": data.source, **_counts(data)},
        "choices": {
            "adapted_layers": list(ADAPTED_LAYERS),
            "head": "trained in every arm from the pretrained head; its parameters are "
                    "head_params, not body_params",
            "forgetting": "a_acc_after = A validation accuracy of the fine-tuned body with "
                          "the pretrained (frozen) A head",
            "lora_matched_rank": (matched_lora_rank(cfg.hidden)
                                  if "lora-matched" in cfg.methods else None),
            "b_acc_index_0": "before fine-tuning (pretrained head on B labels)",
        },
        "pretrain": pre,
        "runs": runs,
        "summary": summarise(runs),
        "wall_s": time.perf_counter() - t0,
        "host": {"cpu_count": os.cpu_count(), "torch_threads": cfg.threads,
                 "loadavg_start": load0, "loadavg_end": list(os.getloadavg()),
                 "torch": torch.__version__},
    }
    if out is not None:
        write_study(study, Path(out))
    return study


def _serial_runs(cfg: StudyConfig, data: MnistData, progress: bool
                 ) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Every (seed, arm) in this process, one pretraining per seed (per-epoch progress)."""
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in cfg.methods}
    pre: list[dict[str, Any]] = []
    total = cfg.seeds * (cfg.pretrain_epochs + len(cfg.methods) * cfg.epochs)
    with _TorchState(cfg.threads), _progress(progress) as bar:
        task = bar.add_task("MNIST study", total=total)
        for seed in range(cfg.seeds):
            bar.update(task, description=f"seed {seed}: pretraining on A")
            tp = time.perf_counter()
            model = pretrain(data, cfg, seed, lambda: bar.advance(task))
            pre.append({"seed": seed, "wall_s": time.perf_counter() - tp,
                        "a_acc": accuracy(model.features, model.head,
                                          *data.task(DIGITS_A, "val"))})
            for arm in cfg.methods:
                bar.update(task, description=f"seed {seed}: fine-tuning {arm}")
                rec, _ = finetune_arm(model, data, cfg, arm, seed, lambda: bar.advance(task))
                runs[arm].append(rec)
    return runs, pre


class _TorchState:
    """``cfg.threads`` threads and deterministic algorithms inside, restored after."""

    def __init__(self, threads: int):
        self.threads = threads

    def __enter__(self):
        self.saved = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
        torch.set_num_threads(self.threads)
        torch.use_deterministic_algorithms(True)

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved[0])
        torch.use_deterministic_algorithms(self.saved[1])


def pretrain_task(item: tuple[MnistData, StudyConfig, int]) -> dict[str, Any]:
    """Pretrain seed ``item[2]``: ``{"seed", "wall_s", "a_acc", "model"}``."""
    data, cfg, seed = item
    with _TorchState(cfg.threads):
        t0 = time.perf_counter()
        model = pretrain(data, cfg, seed)
        wall = time.perf_counter() - t0
        acc = accuracy(model.features, model.head, *data.task(DIGITS_A, "val"))
    return {"seed": seed, "wall_s": wall, "a_acc": acc, "model": model}


def finetune_task(item: tuple) -> dict[str, Any]:
    """Fine-tune ``(data, cfg, arm, seed, pretrained model)``: the arm's record."""
    data, cfg, arm, seed, model = item
    with _TorchState(cfg.threads):
        return finetune_arm(model, data, cfg, arm, seed)[0]


def _parallel_runs(cfg: StudyConfig, data: MnistData, executor, progress: bool
                   ) -> tuple[dict[str, list[dict]], list[dict]]:
    """``(runs[arm] = [record per seed], pretrain records)`` computed on ``executor``: each
    task sets its own torch state and seeds as :func:`_serial_runs` does; one progress bar
    on the driver advanced per finished task."""
    from hwadapt.progress import ProgressBar

    seeds = list(range(cfg.seeds))
    bar = ProgressBar(progress, f"MNIST study on {executor.describe()}",
                      total=len(seeds) * (1 + len(cfg.methods)))
    try:
        pre: list[dict] = [{}] * len(seeds)
        for i, p in executor.map_unordered(pretrain_task, [(data, cfg, s) for s in seeds]):
            pre[i] = p
            bar.advance()
        jobs = [(arm, s) for s in seeds for arm in cfg.methods]
        runs: dict[str, list[dict]] = {arm: [{}] * len(seeds) for arm in cfg.methods}
        items = [(data, cfg, arm, s, pre[s]["model"]) for arm, s in jobs]
        for i, rec in executor.map_unordered(finetune_task, items):
            arm, s = jobs[i]
            runs[arm][s] = rec
            bar.advance()
    finally:
        bar.close()
    return runs, [{k: v for k, v in p.items() if k != "model"} for p in pre]


def _counts(data: MnistData) -> dict[str, int]:
    return {f"{name}_{split}": len(data.task(digits, split)[1])
            for name, digits in (("A", DIGITS_A), ("B", DIGITS_B)) for split in ("train", "val")}


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Per arm: body/head params, mean±std (over seeds, population std with ddof=0 for one
    seed) of final B accuracy, A accuracy before/after and wall time."""

    def ms(values: list[float]) -> tuple[float, float]:
        t = torch.tensor(values, dtype=torch.float64)
        return float(t.mean()), float(t.std(unbiased=len(values) > 1))

    out = {}
    for arm, recs in runs.items():
        b_mean, b_std = ms([r["b_acc"][-1] for r in recs])
        a_mean, a_std = ms([r["a_acc_after"] for r in recs])
        a0_mean, _ = ms([r["a_acc_before"] for r in recs])
        out[arm] = {"body_params": recs[0]["body_params"], "head_params": recs[0]["head_params"],
                    "b_acc_mean": b_mean, "b_acc_std": b_std,
                    "a_acc_before_mean": a0_mean, "a_acc_after_mean": a_mean,
                    "a_acc_after_std": a_std, "seeds": len(recs),
                    "wall_s_mean": ms([r["wall_s"] for r in recs])[0]}
    return out


def write_study(study: dict[str, Any], out: Path) -> None:
    """Write ``study.json``, the three PNGs and ``README.md`` (table + claims) into ``out``."""
    from hwadapt.training.report import write_plots, write_readme

    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps(study, indent=1) + "\n")
    write_plots(study, out)
    write_readme(study, out)


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("epochs"), TimeElapsedColumn(),
                    console=Console(stderr=True), disable=not enabled, transient=False)
