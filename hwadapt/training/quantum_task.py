"""The MNIST hybrid task: the study's model with a quantum adapter on ``fc2``, fine-tuned on a
backend (``hwadapt finetune --quantum``), reusing the study's pretraining and epoch loop."""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwadapt.adapters.quantum import GRADIENTS, QuantumAdapter, QuantumAdapterLayer
from hwadapt.errors import InputError
from hwadapt.progress import ProgressBar
from hwadapt.training.data import load_mnist
from hwadapt.training.evaluators import LedgerEvaluator, check_construction
from hwadapt.training.experiment import DIGITS_B, StudyConfig, _train_epoch, pretrain
from hwadapt.training.hybrid import fit


def quantum_finetune(backend: str = "aer_noisy", *, out: str | Path, ledger: str | Path,
                     qubits: int = 8, rank: int = 2, hidden: int = 16, steps: int = 5,
                     batch: int = 16, shots: int = 2000, gradient: str = "spsa",
                     pretrain_epochs: int = 3, warm_epochs: int = 3, eval_samples: int = 50,
                     eval_repeats: int = 1, max_per_class: int | None = None,
                     lr: float = 0.005, seed: int = 0,
                     construction: str = "spectral", progress: bool = False,
                     batch_bindings: int = 0, executor=None, force: bool = False) -> dict:
    """The study's MNIST model with a quantum adapter on ``fc2``, fine-tuned on a backend.

    Pretrain the study's MLP (width ``hidden``) on digits 0-4; adapt ``fc2`` with a
    block-diagonal :class:`QuantumAdapterLayer` (``hidden/qubits`` blocks, unary encoding on
    ``qubits`` qubits); warm start: train the adapter's exact surrogate (= the orthogonal
    Hamming adapter on HW 1) and the head classically for ``warm_epochs`` on digits 5-9;
    then ``steps`` hybrid steps on ``backend`` (``gradient``; head trained classically;
    circuits: ``construction``, see :class:`LedgerEvaluator`), checkpointed in
    ``out/checkpoint.pt`` and resumable (same ``out`` and ``ledger``).
    Reports B-validation accuracy and loss (a seeded subset of ``eval_samples``) of the warm
    start and of the fine-tuned model, each with the adapter estimated on the backend and
    simulated exactly (``evaluation[warm_start|fine_tuned][backend|exact]``); the backend
    entry is the mean over ``eval_repeats`` independent estimation runs (their scores in
    ``runs``: the spread is the shot noise of the comparison); writes ``out/hybrid.json``.
    ``batch_bindings``, ``executor``: spread a step's bindings; ``force``: lift the
    simulation-time limit (:class:`LedgerEvaluator`)."""
    out = Path(out)
    cfg = StudyConfig(methods=["head-only"], hidden=hidden, pretrain_epochs=pretrain_epochs,
                      max_per_class=max_per_class)
    cfg.validate()
    _check_args(qubits=qubits, rank=rank, steps=steps, batch=batch, eval_samples=eval_samples,
                eval_repeats=eval_repeats, hidden=hidden, gradient=gradient,
                construction=construction, lr=lr)
    fresh = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = load_mnist(hidden, max_per_class=max_per_class, split_seed=seed)
    pretrained = pretrain(data, cfg, seed)
    model, adapter = _adapted_model(pretrained, qubits, rank, seed)
    xb, yb = data.task(DIGITS_B, "train")
    xv, yv = data.task(DIGITS_B, "val")
    pick = torch.randperm(len(xv), generator=torch.Generator().manual_seed(seed))[:eval_samples]
    xv, yv = xv[pick], yv[pick]  # a seeded random subset (the split is ordered by digit)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(warm_epochs):  # classical warm start (exact surrogate)
        _train_epoch(model, opt, xb, yb, 32, gen)
    evaluator = LedgerEvaluator(backend, ledger, shots=shots, seed=seed,
                                session=f"finetune-{out.resolve().name}", executor=executor,
                                construction=construction, mode="session",
                                batch_bindings=batch_bindings, force=force)

    bar = ProgressBar(progress, "hybrid fine-tuning", steps + 2 * eval_repeats)

    def evaluate(when: str, done: int) -> dict:
        return _evaluate(model, adapter, evaluator, xv, yv, eval_repeats, bar,
                         f"{when} evaluation", backend, done)

    def loss_fn(m: nn.Module, step: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed * 100_003 + step)
        idx = torch.randperm(len(xb), generator=g)[:batch]
        return nn.functional.cross_entropy(m(xb[idx]), yb[idx])

    try:  # the bar is closed on errors too (a failed job ends the run with a clean line)
        warm = evaluate("warm-start", 0)
        adapter.gradient = gradient
        hist = fit(model, loss_fn, steps, opt, out / "checkpoint.pt",
                   on_step=lambda k, loss: bar.update(
                       description=f"hybrid step {k + 1}/{steps}: loss {loss:.3f}",
                       completed=eval_repeats + k + 1))
        fine_tuned = evaluate("final", eval_repeats + steps)
    except InputError:  # refused (a step modelled at days) before anything was written
        if fresh and not any(out.iterdir()):
            out.rmdir()
        raise
    finally:
        bar.close()
        evaluator.close()  # its Runtime session (ibm_*)
    report = {"backend": backend, "qubits": qubits, "rank": rank, "hidden": hidden,
              "gradient": gradient, "construction": construction, "shots": shots,
              "steps": steps, "batch": batch, "lr": lr, "pretrain_epochs": pretrain_epochs,
              "warm_epochs": warm_epochs, "eval_samples": len(yv),
              "eval_repeats": eval_repeats, "loss": hist["loss"], "step_s": hist["wall_s"],
              "evaluation": {"warm_start": warm, "fine_tuned": fine_tuned},
              "ledger": str(ledger), "session": evaluator.session,
              "wall_s": time.perf_counter() - t0}
    (out / "hybrid.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _check_args(*, qubits: int, rank: int, steps: int, batch: int, eval_samples: int,
                eval_repeats: int, hidden: int, gradient: str, construction: str,
                lr: float) -> None:
    """:class:`InputError` for the first bad argument of :func:`quantum_finetune`."""
    for name, value, low in (("--qubits", qubits, 2), ("rank", rank, 1), ("--steps", steps, 0),
                             ("--batch", batch, 1), ("eval_samples", eval_samples, 1),
                             ("--eval-repeats", eval_repeats, 1)):
        if value < low:
            raise InputError(f"{name} must be >= {low}, got {value}")
    if hidden % qubits:
        raise InputError(f"--hidden {hidden} must be a multiple of --qubits {qubits}")
    if gradient not in GRADIENTS:
        raise InputError(f"unknown gradient {gradient!r}: choose one of {', '.join(GRADIENTS)}")
    check_construction(construction)
    if not (math.isfinite(lr) and lr > 0):
        raise InputError(f"--lr must be a positive number, got {lr}")


def _adapted_model(pretrained: nn.Module, qubits: int, rank: int, seed: int
                   ) -> tuple[nn.Module, QuantumAdapter]:
    """A frozen copy of ``pretrained`` with a seeded quantum adapter on ``fc2`` (trainable)
    and a trainable head."""
    torch.manual_seed(seed)
    model = copy.deepcopy(pretrained).requires_grad_(False)
    adapter = QuantumAdapter(qubits, rank, seed=seed)
    model.fc2 = QuantumAdapterLayer(model.fc2, adapter)
    model.head.requires_grad_(True)
    return model, adapter


def _evaluate(model: nn.Module, adapter: QuantumAdapter, evaluator: LedgerEvaluator,
              xv: torch.Tensor, yv: torch.Tensor, eval_repeats: int, bar: ProgressBar,
              what: str, backend: str, done: int) -> dict:
    """B-validation scores, the adapter estimated on the backend (``eval_repeats`` ledger
    runs, their mean and each run's scores) and simulated exactly."""
    adapter.evaluator = evaluator
    runs = []
    for i in range(eval_repeats):  # a ledger run each
        bar.update(description=f"{what} {i + 1}/{eval_repeats} on {backend}",
                   completed=done + i)
        runs.append(_scores(model, xv, yv))
    adapter.evaluator = None
    exact = _scores(model, xv, yv)
    adapter.evaluator = evaluator
    mean = {k: float(np.mean([r[k] for r in runs])) for k in exact}
    return {"backend": {**mean, "runs": runs}, "exact": exact}


def _scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """``{"accuracy", "loss"}`` (cross-entropy) of ``model`` on ``(x, y)``."""
    with torch.no_grad():
        logits = model(x)
    return {"accuracy": float((logits.argmax(-1) == y).float().mean()),
            "loss": float(nn.functional.cross_entropy(logits, y))}


__all__ = ["quantum_finetune"]
