"""The MNIST study on an executor: one task per seed's pretraining, then one per arm × seed.

Each task sets its own torch state (``cfg.threads`` threads, deterministic algorithms) and
seeds exactly as the serial loop of :func:`hwadapt.training.experiment.run_study` does, so
the records are the same as there except ``wall_s``. Tasks return plain data (records, the
pretrained model); the driver assembles and writes the study.
"""

from __future__ import annotations

from typing import Any

import torch

from hwadapt.training.data import MnistData
from hwadapt.training.experiment import DIGITS_A, StudyConfig, accuracy, finetune_arm, pretrain


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
    import time

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


def parallel_runs(cfg: StudyConfig, data: MnistData, executor, progress: bool
                  ) -> tuple[dict[str, list[dict]], list[dict]]:
    """``(runs[arm] = [record per seed], pretrain records)`` computed on ``executor``; one
    progress bar on the driver advanced per finished task."""
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
