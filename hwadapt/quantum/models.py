"""The models of the paper's quantum adapter (Fig. 2a) and their circuits.

- ``U_QNN``: a hardware-efficient ansatz, ``layers`` times [``RY(θ)`` on every qubit,
  ``RZ(θ)`` on every qubit, ``CZ(i, i+1)`` for ``i = 0..n-2``]; parameters layer-major,
  ``[RY_0..RY_{n-1}, RZ_0..RZ_{n-1}]`` per layer (``2·n·layers``).
- ``U_QA``: a compound (Hamming-weight-preserving) circuit of nearest-neighbour RBS gates
  (:func:`hwadapt.circuits.adapter.adapter_circuit`, layout ``pyramid`` or ``brick``),
  simulated gate by gate (per-sample angles allowed, for random-parameter sweeps).
- the LCU ``M = α1 U_QNN + α2 U_QA`` on one ancilla (qubit ``n``): ``RY(φ)`` on the ancilla,
  ``U_QNN`` controlled on ancilla ``|0>``, ``U_QA`` on ancilla ``|1>``, ``P(λ)``, ``RY(-φ)``
  with ``cos²(φ/2) = |α1|/‖α‖₁`` and ``λ = π`` when ``α1 α2 < 0``: the PREPARE/SELECT/
  UNPREPARE of :mod:`hwadapt.circuits.lcu` with the coefficients as circuit parameters, so
  one transpiled template serves every α. Postselecting the ancilla on ``|0>`` leaves
  ``Mψ/‖α‖₁`` (up to a global sign), with success probability ``‖Mψ‖²/‖α‖₁²``.
- readout: ``<Z_q>`` (default ``q = 0``) on the postselected, renormalised state, and a
  classical logistic head ``p(y=1) = σ(w·<Z_q> + b)``.

``mode`` picks the circuit: ``"qnn"`` (``U_QNN ψ``), ``"qa"`` (``U_QA ψ``) or ``"lcu"``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
from torch import nn

from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.layouts import layout_pairs, num_angles
from hwadapt.errors import InputError
from hwadapt.quantum.statevector import (
    CDTYPE,
    apply_1q,
    apply_2q,
    cz_line_diagonal,
    rbs_matrix,
    ry_matrix,
    rz_matrix,
    z_expectation,
)

MODES = ("qnn", "qa", "lcu")
QA_LAYOUTS = ("pyramid", "brick")


def hea_num_params(n: int, layers: int) -> int:
    """Number of angles of ``U_QNN``: ``2·n·layers``."""
    return 2 * n * layers


def hea_apply(psi: torch.Tensor, params: torch.Tensor, n: int, layers: int) -> torch.Tensor:
    """``U_QNN ψ``: ``psi (B, 2^n)``, ``params (2n·layers,)`` shared or ``(B, 2n·layers)``."""
    p = params.reshape(*params.shape[:-1], layers, 2, n)
    ry, rz = ry_matrix(p[..., 0, :]), rz_matrix(p[..., 1, :])  # (..., layers, n, 2, 2)
    cz = cz_line_diagonal(n)
    x = psi.to(CDTYPE)
    for layer in range(layers):
        for q in range(n):
            x = apply_1q(x, ry[..., layer, q, :, :], q)
        for q in range(n):
            x = apply_1q(x, rz[..., layer, q, :, :], q)
        x = x * cz
    return x


def qa_apply(psi: torch.Tensor, angles: torch.Tensor, layout: str = "brick") -> torch.Tensor:
    """``U_QA ψ``: the RBS circuit of ``layout`` (``angles (m,)`` or ``(B, m)``;
    nearest-neighbour layouts only)."""
    n = psi.shape[-1].bit_length() - 1
    pairs = layout_pairs(n, layout)
    if any(b != a + 1 for a, b in pairs):
        raise InputError(f"U_QA needs a nearest-neighbour layout ({', '.join(QA_LAYOUTS)}), "
                         f"got {layout!r}")
    mats = rbs_matrix(angles)  # (..., m, 4, 4)
    x = psi.to(CDTYPE)
    for g, (a, _) in enumerate(pairs):
        x = apply_2q(x, mats[..., g, :, :], a)
    return x


def lcu_apply(psi: torch.Tensor, qnn: torch.Tensor, qa: torch.Tensor, alphas: torch.Tensor,
              n: int, layers: int, layout: str = "brick"
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Mψ (B, 2^n) unnormalised, success probability ‖Mψ‖²/‖α‖₁² (B,))`` of the LCU."""
    phi = alphas[..., :1] * hea_apply(psi, qnn, n, layers) + \
        alphas[..., 1:] * qa_apply(psi, qa, layout)
    norm1 = alphas.abs().sum(-1)
    return phi, (phi.abs() ** 2).sum(-1) / norm1 ** 2


class QuantumDataModel(nn.Module):
    """``U_QNN``, ``U_QA`` and the LCU on ``n`` qubits with a logistic readout of ``<Z_q>``.

    Parameters (all float64): ``qnn (2n·layers,)`` small random, ``qa (m,)`` zero (``U_QA =
    I``), ``alphas (2,) = (1, 0)``, ``w = 2``, ``b = 0``. ``forward(psi (B, 2^n))`` returns
    logits ``(B,)``; :meth:`readout` returns ``(<Z_q> (B,), success probability (B,))``.
    """

    def __init__(self, n: int, layers: int = 3, layout: str = "brick", mode: str = "qnn",
                 readout_qubit: int = 0, seed: int = 0):
        super().__init__()
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
        if layout not in QA_LAYOUTS:
            raise InputError(f"unknown adapter layout {layout!r}: choose one of "
                             f"{', '.join(QA_LAYOUTS)}")
        if not 0 <= readout_qubit < n:
            raise InputError(f"readout qubit must be in 0..{n - 1}, got {readout_qubit}")
        if layers < 1:
            raise InputError(f"--layers must be >= 1, got {layers}")
        self.n, self.layers, self.layout, self.mode, self.q = n, layers, layout, mode, \
            readout_qubit
        g = torch.Generator().manual_seed(seed)
        self.qnn = nn.Parameter(0.1 * torch.randn(hea_num_params(n, layers), generator=g,
                                                  dtype=torch.float64))
        self.qa = nn.Parameter(torch.zeros(num_angles(n, layout), dtype=torch.float64))
        self.alphas = nn.Parameter(torch.tensor([1.0, 0.0], dtype=torch.float64))
        self.w = nn.Parameter(torch.tensor(2.0, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(0.0, dtype=torch.float64))

    def state(self, psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(output state (B, 2^n) unnormalised, success probability (B,))`` of the mode."""
        if self.mode == "qnn":
            out = hea_apply(psi, self.qnn, self.n, self.layers)
        elif self.mode == "qa":
            out = qa_apply(psi, self.qa, self.layout)
        else:
            return lcu_apply(psi, self.qnn, self.qa, self.alphas, self.n, self.layers,
                             self.layout)
        return out, torch.ones(out.shape[0], dtype=torch.float64)

    def readout(self, psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(<Z_q> on the postselected state (B,), success probability (B,))``."""
        out, p = self.state(psi)
        return z_expectation(out, self.q), p

    def forward(self, psi: torch.Tensor) -> torch.Tensor:
        return self.w * self.readout(psi)[0] + self.b

    def set_trainable(self, *names: str) -> None:
        """Train only the named parameters (``qnn``, ``qa``, ``alphas``, ``w``, ``b``)."""
        for name, p in self.named_parameters():
            p.requires_grad_(name in names)

    def trainable(self) -> int:
        """Number of trainable scalars."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


# ------------------------------------------------------------------------------ circuits

def hea_circuit(n: int, layers: int, params=None) -> QuantumCircuit:
    """``U_QNN`` on ``n`` qubits; ``params``: floats, or None for a ParameterVector ``θ``."""
    p = ParameterVector("θ", hea_num_params(n, layers)) if params is None else \
        [float(v) for v in np.asarray(params, dtype=float).reshape(-1)]
    qc = QuantumCircuit(n, name="qnn")
    for layer in range(layers):
        base = 2 * n * layer
        for q in range(n):
            qc.ry(p[base + q], q)
        for q in range(n):
            qc.rz(p[base + n + q], q)
        for q in range(n - 1):
            qc.cz(q, q + 1)
    return qc


def qa_circuit(n: int, layout: str = "brick", angles=None) -> QuantumCircuit:
    """``U_QA`` (RBS gates of ``layout``); ``angles`` floats, or None for ParameterVector
    ``φ``."""
    m = num_angles(n, layout)
    return adapter_circuit(n, ParameterVector("φ", m) if angles is None else
                           np.asarray(angles, dtype=float), layout)


def lcu_template(n: int, layers: int, layout: str = "brick") -> QuantumCircuit:
    """Parameterised LCU ``α1 U_QNN + α2 U_QA`` on ``n + 1`` qubits (ancilla = qubit ``n``),
    parameters ``θ`` (QNN), ``φ`` (QA), ``prep`` and ``sign`` (bind with
    :func:`lcu_bindings`); no measurements."""
    anc = n
    prep, sign = Parameter("prep"), Parameter("sign")
    qc = QuantumCircuit(n + 1, name="lcu")
    qc.ry(prep, anc)
    qc.append(hea_circuit(n, layers).to_gate(label="U_QNN").control(1, ctrl_state=0,
                                                                      annotated=False),
              [anc, *range(n)])
    qc.append(qa_circuit(n, layout).to_gate(label="U_QA").control(1, ctrl_state=1,
                                                                 annotated=False),
              [anc, *range(n)])
    qc.p(sign, anc)
    qc.ry(-prep, anc)
    return qc


def lcu_angles(alphas) -> tuple[float, float]:
    """``(prep, sign)`` angles of :func:`lcu_template` for coefficients ``(α1, α2)``."""
    a1, a2 = (float(v) for v in np.asarray(alphas, dtype=float).reshape(2))
    if not (math.isfinite(a1) and math.isfinite(a2)) or abs(a1) + abs(a2) == 0:
        raise InputError(f"LCU coefficients must be finite and not both zero, got {alphas}")
    return 2 * math.atan2(math.sqrt(abs(a2)), math.sqrt(abs(a1))), \
        math.pi if a1 * a2 < 0 else 0.0


def lcu_bindings(template: QuantumCircuit, qnn, qa, alphas) -> np.ndarray:
    """Values ``(P,)`` for ``template.parameters`` (its sorted order) from model arrays."""
    prep, sign = lcu_angles(alphas)
    qnn, qa = np.asarray(qnn, dtype=float).reshape(-1), np.asarray(qa, dtype=float).reshape(-1)
    out = []
    for p in template.parameters:
        if p.name == "prep":
            out.append(prep)
        elif p.name == "sign":
            out.append(sign)
        else:
            vec, i = p.vector.name, p.index
            out.append(qnn[i] if vec == "θ" else qa[i])
    return np.asarray(out)


def model_circuit(model: QuantumDataModel) -> tuple[QuantumCircuit, np.ndarray]:
    """``(parameterised circuit without measurements, values)`` of the model's mode; the LCU
    has one ancilla (qubit ``n``)."""
    qnn = model.qnn.detach().numpy()
    qa = model.qa.detach().numpy()
    if model.mode == "qnn":
        qc = hea_circuit(model.n, model.layers)
        return qc, qnn[[p.index for p in qc.parameters]]
    if model.mode == "qa":
        qc = qa_circuit(model.n, model.layout)
        return qc, qa[[p.index for p in qc.parameters]]
    qc = lcu_template(model.n, model.layers, model.layout)
    return qc, lcu_bindings(qc, qnn, qa, model.alphas.detach().numpy())
