"""The paper's quantum-adapter experiment on quantum data (issue 18, Fig. 2), exactly simulated.

Per seed: pretrain ``U_QNN`` (+ logistic readout) on task A (Ising phases), then fine-tune
to task B (cluster-Ising phases) by

- ``full``: retrain every ``U_QNN`` angle and the readout;
- ``lcu``: the adapter ``α1 U_QNN + α2 U_QA`` with ``U_QNN`` frozen, warm-started at
  ``α = (1, 0)`` (the pretrained model exactly); trains ``U_QA``, ``α``, readout;
- ``qa-warm``: ``U_QA`` alone trained first (``qa-alone``, the classically cheap, low-DLA
  part), then combined as ``α = (0, 1)`` (the ``qa-alone`` model exactly) and fine-tuned
  with ``U_QNN`` frozen — the paper's warm start;
- ``probe``: a logistic regression on the frozen QNN's measured features (``<Z_i>``,
  ``<Z_i Z_{i+1}>``), a classical control.

Reports validation accuracy on B, accuracy on A of the adapted model (forgetting), trainable
parameters and the LCU success probability, per arm over seeds.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwadapt.errors import InputError
from hwadapt.progress import ProgressBar
from hwadapt.quantum.data import MODELS, phase_data
from hwadapt.quantum.models import QA_LAYOUTS, QuantumDataModel, hea_apply
from hwadapt.quantum.statevector import z_signs

ARMS = ("full", "lcu", "qa-alone", "qa-warm", "probe")


@dataclass
class QuantumStudyConfig:
    """Options of :func:`run_quantum_study` (validated by :meth:`validate`)."""

    qubits: int = 8
    layers: int = 3
    layout: str = "brick"
    seeds: int = 3
    train: int = 40
    val: int = 40
    pretrain_steps: int = 150
    steps: int = 150
    lr: float = 0.05
    task_a: str = "ising"
    task_b: str = "cluster"
    g_min: float = 0.6
    g_max: float = 1.4
    margin: float = 0.05

    def validate(self) -> None:
        for name, value, low, high in (("--qubits", self.qubits, 3, 12),
                                       ("--layers", self.layers, 1, 50),
                                       ("--seeds", self.seeds, 1, 100),
                                       ("--train", self.train, 2, 10_000),
                                       ("--val", self.val, 2, 10_000),
                                       ("--pretrain-steps", self.pretrain_steps, 0, 100_000),
                                       ("--steps", self.steps, 0, 100_000)):
            if not low <= value <= high:
                raise InputError(f"{name} must be in {low}..{high}, got {value}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"--lr must be a positive number, got {self.lr}")
        if self.layout not in QA_LAYOUTS:
            raise InputError(f"unknown --layout {self.layout!r}: choose one of "
                             f"{', '.join(QA_LAYOUTS)}")
        for name, task in (("--task-a", self.task_a), ("--task-b", self.task_b)):
            if task not in MODELS:
                raise InputError(f"unknown {name} {task!r}: choose one of {', '.join(MODELS)}")


def train(model: nn.Module, psi: torch.Tensor, y: torch.Tensor, steps: int, lr: float
          ) -> list[float]:
    """Full-batch Adam on the logistic loss of ``model(psi)`` vs labels ``y``; returns the
    loss per step."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params or steps == 0:
        return []
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(model(psi), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def accuracy(model: nn.Module, psi: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(((model(psi) > 0).to(y.dtype) == y).to(torch.float64).mean())


class LinearProbe(nn.Module):
    """Logistic regression on the frozen QNN's measured features ``(<Z_i>, <Z_i Z_{i+1}>)``
    (``2n - 1`` features, ``2n`` parameters)."""

    def __init__(self, qnn: QuantumDataModel):
        super().__init__()
        self.qnn = qnn.requires_grad_(False)
        self.head = nn.Linear(2 * qnn.n - 1, 1, dtype=torch.float64)

    def features(self, psi: torch.Tensor) -> torch.Tensor:
        n = self.qnn.n
        with torch.no_grad():
            p = hea_apply(psi, self.qnn.qnn, n, self.qnn.layers).abs() ** 2
        z = torch.stack([z_signs(n, q) for q in range(n)])  # (n, 2^n)
        zz = z[:-1] * z[1:]
        return p @ torch.cat([z, zz]).T

    def forward(self, psi: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(psi))[:, 0]

    def trainable(self) -> int:
        return sum(p.numel() for p in self.head.parameters())


def _tensors(data, part: str) -> tuple[torch.Tensor, torch.Tensor]:
    s, y = data.part(part)
    return torch.as_tensor(s, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)


def run_seed(cfg: QuantumStudyConfig, seed: int, bar: ProgressBar | None = None) -> dict:
    """One seed of the study: ``{arm: {val_b, val_a, params, p_success, loss}}`` plus the
    pretrained model's scores (``pretrained``)."""
    torch.manual_seed(seed)
    kw = {"g_range": (cfg.g_min, cfg.g_max), "margin": cfg.margin}
    data_a = phase_data(cfg.task_a, cfg.qubits, cfg.train, cfg.val, seed, **kw)
    data_b = phase_data(cfg.task_b, cfg.qubits, cfg.train, cfg.val, seed, **kw)
    xa, ya = _tensors(data_a, "train")
    va, vya = _tensors(data_a, "val")
    xb, yb = _tensors(data_b, "train")
    vb, vyb = _tensors(data_b, "val")

    def step(name: str) -> None:
        if bar is not None:
            bar.update(description=f"seed {seed}: {name}")
            bar.advance()

    base = QuantumDataModel(cfg.qubits, cfg.layers, cfg.layout, "qnn", seed=seed)
    base.set_trainable("qnn", "w", "b")
    pre_loss = train(base, xa, ya, cfg.pretrain_steps, cfg.lr)
    step("pretrained")
    out: dict = {"pretrained": {"val_a": accuracy(base, va, vya),
                                "val_b": accuracy(base, vb, vyb), "params": base.trainable(),
                                "loss": pre_loss}}

    def score(name: str, model: nn.Module, params: int, loss: list[float]) -> None:
        entry = {"val_b": accuracy(model, vb, vyb), "val_a": accuracy(model, va, vya),
                 "params": params, "loss": loss}
        if isinstance(model, QuantumDataModel) and model.mode == "lcu":
            with torch.no_grad():
                entry["p_success"] = float(model.readout(vb)[1].mean())
                entry["alphas"] = model.alphas.tolist()
        out[name] = entry
        step(name)

    full = copy.deepcopy(base)
    full.set_trainable("qnn", "w", "b")
    score("full", full, full.trainable(), train(full, xb, yb, cfg.steps, cfg.lr))

    lcu = copy.deepcopy(base)
    lcu.mode = "lcu"
    lcu.set_trainable("qa", "alphas", "w", "b")
    score("lcu", lcu, lcu.trainable(), train(lcu, xb, yb, cfg.steps, cfg.lr))

    qa = copy.deepcopy(base)
    qa.mode = "qa"
    with torch.no_grad():
        qa.w.fill_(2.0)
        qa.b.zero_()
    qa.set_trainable("qa", "w", "b")
    qa_loss = train(qa, xb, yb, cfg.steps, cfg.lr)
    score("qa-alone", qa, qa.trainable(), qa_loss)
    warm = copy.deepcopy(qa)
    warm.mode = "lcu"
    with torch.no_grad():
        warm.alphas.copy_(torch.tensor([0.0, 1.0]))
    warm.set_trainable("qa", "alphas", "w", "b")
    score("qa-warm", warm, warm.trainable(), qa_loss + train(warm, xb, yb, cfg.steps, cfg.lr))

    probe = LinearProbe(copy.deepcopy(base))
    score("probe", probe, probe.trainable(), train(probe, xb, yb, cfg.steps, cfg.lr))
    return out


def summarise(seeds: list[dict]) -> dict:
    """``{arm: {metric: {"mean", "std", "values"}}}`` over seeds (sample std)."""
    out: dict = {}
    for arm in ("pretrained", *ARMS):
        out[arm] = {}
        for key in ("val_b", "val_a", "params", "p_success", "final_loss"):
            vals = [s[arm]["loss"][-1] if key == "final_loss" else s[arm][key]
                    for s in seeds if key in s[arm] or (key == "final_loss" and s[arm]["loss"])]
            if vals:
                out[arm][key] = {"mean": float(np.mean(vals)),
                                 "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                                 "values": vals}
    return out


def run_quantum_study(cfg: QuantumStudyConfig, out: str | Path | None = None,
                      progress: bool = False) -> dict:
    """Every seed of the study; writes ``out/study.json`` when ``out`` is given."""
    cfg.validate()
    t0 = time.perf_counter()
    bar = ProgressBar(progress, "quantum fine-tuning", cfg.seeds * (1 + len(ARMS)))
    try:
        seeds = [run_seed(cfg, s, bar) for s in range(cfg.seeds)]
    finally:
        bar.close()
    study = {"config": asdict(cfg), "seeds": seeds, "summary": summarise(seeds),
             "wall_s": time.perf_counter() - t0}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "study.json").write_text(json.dumps(study, indent=1) + "\n")
    return study
