"""Hybrid training of quantum adapters (:mod:`hwadapt.adapters.quantum`): the resumable loop.

:func:`fit` checkpoints after every step (model, optimiser, evaluator call counters,
history) atomically; restarting it with the same checkpoint continues after the last
finished step and reuses the ledger runs of the interrupted one
(:class:`hwadapt.training.evaluators.LedgerEvaluator` run ids are ``<session>-c<call>``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from hwadapt.adapters.quantum import QuantumAdapter
from hwadapt.execution.manager import crash_point
from hwadapt.fileio import atomic_write


def _evaluators(model: nn.Module) -> list:
    seen: dict[int, object] = {}
    for mod in model.modules():
        if isinstance(mod, QuantumAdapter) and mod.evaluator is not None:
            seen.setdefault(id(mod.evaluator), mod.evaluator)
    return list(seen.values())


def fit(model: nn.Module, loss_fn: Callable[[nn.Module, int], torch.Tensor], steps: int,
        optimizer: torch.optim.Optimizer, checkpoint: str | Path,
        on_step: Callable[[int, float], None] | None = None) -> dict:
    """Train ``steps`` optimiser steps with a checkpoint after every step; resumable.

    ``loss_fn(model, step)`` must be deterministic in ``step`` (e.g. pick the mini-batch
    from a generator seeded by the step). If ``checkpoint`` exists, training continues after
    its last step: model, optimiser, history and the evaluators' call counters are restored,
    so the next evaluator call maps to the ledger run the killed process was using.
    Returns the history ``{"step": k, "loss": [...], "wall_s": [...]}``.
    """
    checkpoint = Path(checkpoint)
    evals = _evaluators(model)
    hist: dict = {"step": 0, "loss": [], "wall_s": []}
    if checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        for ev, calls in zip(evals, state["calls"], strict=True):
            ev.calls = calls
        hist = state["history"]
    for step in range(hist["step"], steps):
        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(model, step)
        loss.backward()
        optimizer.step()
        hist["loss"].append(float(loss.detach()))
        hist["wall_s"].append(time.perf_counter() - t0)
        hist["step"] = step + 1
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "calls": [ev.calls for ev in evals], "history": hist}
        atomic_write(checkpoint, lambda f, state=state: torch.save(state, f))
        crash_point("hybrid_after_step")
        if on_step:
            on_step(step, hist["loss"][-1])
    return hist


__all__ = ["fit"]
