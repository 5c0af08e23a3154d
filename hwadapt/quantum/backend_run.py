"""A short fine-tuning run of the LCU adapter on a backend, through the ledger (resumable).

``U_QNN`` is pretrained on task A exactly; the adapter (``U_QA`` angles and ``α``, ``U_QNN``
and readout frozen) then takes ``steps`` SPSA steps on task B where every loss is estimated
from Sampler counts (:class:`hwadapt.quantum.estimates.LedgerReadout`): per step one ledger
run ``<session>-s<step>`` with the bindings ``p + cΔ``, ``p - cΔ``, ``p`` for each training
state. :func:`hwadapt.training.hybrid.fit` checkpoints after every step; rerunning with the
same ``out`` and ledger continues after the last finished step, and a step killed mid-run
resumes its ledger run instead of resubmitting it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwadapt.errors import InputError
from hwadapt.quantum.data import phase_data
from hwadapt.quantum.estimates import LedgerReadout
from hwadapt.quantum.experiment import train
from hwadapt.quantum.models import QuantumDataModel, lcu_bindings, model_circuit
from hwadapt.training.hybrid import fit


class _AdapterParams(nn.Module):
    """The adapter's trainable vector ``p = (U_QA angles, α1, α2)``."""

    def __init__(self, model: QuantumDataModel):
        super().__init__()
        self.p = nn.Parameter(torch.cat([model.qa.detach(), model.alphas.detach()]).clone())


def check_options(steps: int, shots: int, qubits: int, batch: int = 4) -> None:
    """Raise :class:`InputError` for out-of-range backend-run options."""
    for name, value, low, high in (("--backend-steps", steps, 1, 10_000),
                                   ("--backend-batch", batch, 1, 1000),
                                   ("--shots", shots, 1, 10_000_000),
                                   ("--backend-qubits", qubits, 3, 10)):
        if not low <= value <= high:
            raise InputError(f"{name} must be in {low}..{high}, got {value}")


def backend_finetune(backend: str = "aer_noisy", *, out: str | Path, ledger: str | Path,
                     qubits: int = 4, layers: int = 1, steps: int = 3, batch: int = 4,
                     evaluate: int = 8, shots: int = 1000, lr: float = 0.1, c: float = 0.2,
                     pretrain_steps: int = 100, seed: int = 0, noise_from: str | None = None,
                     task_a: str = "ising", task_b: str = "cluster") -> dict:
    """Run (or resume) the short backend fine-tuning; writes ``out/backend.json``."""
    check_options(steps, shots, qubits, batch)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    da = phase_data(task_a, qubits, 20, 8, seed)
    db = phase_data(task_b, qubits, max(batch, 2), max(evaluate, 2), seed)
    xa, ya = (torch.as_tensor(v, dtype=torch.float64) for v in da.part("train"))
    base = QuantumDataModel(qubits, layers, "brick", "qnn", seed=seed)
    base.set_trainable("qnn", "w", "b")
    train(base, xa, ya, pretrain_steps, 0.05)
    model = copy.deepcopy(base)
    model.mode = "lcu"
    xb, yb = db.part("train")
    xv, yv = db.part("val")
    states = np.concatenate([xb[:batch], xv[:evaluate]])
    labels = np.concatenate([yb[:batch], yv[:evaluate]]).astype(float)
    readout = LedgerReadout(model, states, backend, ledger, shots=shots, seed=seed,
                            noise_from=noise_from)
    template = model_circuit(model)[0]
    qnn, m = model.qnn.detach().numpy(), model.qa.numel()
    w, b = model.w.item(), model.b.item()
    session = f"qdata-{out.resolve().name}"

    def values(p: np.ndarray) -> np.ndarray:
        return lcu_bindings(template, qnn, p[:m], p[m:])

    def loss(z: np.ndarray, y: np.ndarray) -> np.ndarray:
        logits = w * z + b
        return np.mean(np.logaddexp(0, logits) - y * logits, axis=-1)

    def scores(p: np.ndarray) -> dict:
        """Held-out scores; the run id names the parameters, so a resumed run re-evaluates
        new parameters and reuses the counts of ones already evaluated."""
        idx = list(range(batch, len(states)))
        key = hashlib.sha256(np.round(p, 12).tobytes()).hexdigest()[:12]
        z, se, acc = readout(values(p)[None], idx, f"{session}-eval-{key}")
        with torch.no_grad():
            model.qa.copy_(torch.as_tensor(p[:m]))
            model.alphas.copy_(torch.as_tensor(p[m:]))
            ze, pe = (t.numpy() for t in model.readout(torch.as_tensor(states[idx])))
        y = labels[idx]
        return {"backend": {"accuracy": float(np.mean((w * z[0] + b > 0) == y)),
                            "loss": float(loss(z[0], y)), "z": z[0].tolist(),
                            "stderr": se[0].tolist(), "acceptance": acc[0].tolist()},
                "exact": {"accuracy": float(np.mean((w * ze + b > 0) == y)),
                          "loss": float(loss(ze, y)), "z": ze.tolist(),
                          "acceptance": pe.tolist()}}

    def loss_fn(mod: nn.Module, step: int) -> torch.Tensor:
        p = mod.p.detach().numpy().copy()
        d = np.random.default_rng([seed, step]).choice([-1.0, 1.0], size=p.shape)
        z, _, _ = readout(np.stack([values(p + c * d), values(p - c * d), values(p)]),
                          list(range(batch)), f"{session}-s{step:04d}")
        lp, lm, l0 = loss(z, labels[:batch])
        g = torch.as_tensor((lp - lm) / (2 * c) * d)
        return (mod.p * g).sum() - (mod.p * g).sum().detach() + float(l0)

    params = _AdapterParams(model)
    before = scores(params.p.detach().numpy())
    opt = torch.optim.Adam(params.parameters(), lr=lr)
    hist = fit(params, loss_fn, steps, opt, out / "backend_checkpoint.pt")
    after = scores(params.p.detach().numpy())
    report = {"backend": backend, "qubits": qubits, "layers": layers, "steps": steps,
              "batch": batch, "eval_states": evaluate, "shots": shots, "lr": lr, "spsa_c": c,
              "loss": hist["loss"], "step_s": hist["wall_s"], "before": before,
              "after": after, "alphas": params.p[m:].tolist(),
              "two_qubit_gates": _two_qubit_gates(readout.isa(0)), "session": session,
              "ledger": str(ledger), "wall_s": time.perf_counter() - t0}
    (out / "backend.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def _two_qubit_gates(isa) -> int:
    return sum(1 for inst in isa.data if inst.operation.num_qubits == 2)
