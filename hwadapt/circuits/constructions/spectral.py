"""``spectral``: the two-term LCU with one controlled layer
(:func:`hwadapt.circuits.spectral_lcu.spectral_lcu_circuit`), ``R = 2`` only.

The loader takes the folded input ``Qᵀx`` (:meth:`Spectral.fold_inputs`); the signs family is
the same circuit with ``α_0 + sign(α_0)β`` (``"term0"`` reference). Trainable for ``R = 2``
requests (template ``spectral`` for both families, reference :func:`spectral_reference`);
other requests fall back to the efficient construction's templates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qiskit.circuit import QuantumCircuit

from hwadapt.circuits.constructions.base import Construction
from hwadapt.circuits.constructions.efficient import Efficient
from hwadapt.circuits.efficient_lcu import term0_alphas
from hwadapt.circuits.signs import default_beta
from hwadapt.circuits.spectral_lcu import spectral_basis, spectral_lcu_circuit
from hwadapt.errors import InputError
from hwadapt.linalg import givens_matrix

REFERENCE_GRID = 11  # mixing weights w = 0, 0.1, ..., 1 tried by spectral_reference


def spectral_reference(angles: np.ndarray, alphas: np.ndarray, psi: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, float]:
    """Sign reference of the spectral LCU, chosen per setting and input.

    The sign family is the same two-term LCU with heavier terms, ``α_i' = α_i +
    sign(α_i)·β_i``, ``β_0 = wβ``, ``β_1 = (1-w)β`` (``β`` = ``default_beta(α)``), so it needs
    no other gates; its postselected state is ``(y + βr)/(‖α‖₁ + β)`` with the classically
    known ``r = w·sign(α_0) O_0ψ + (1-w)·sign(α_1) O_1ψ``. A component's sign is resolved
    from ``|y_j ± βr_j|``, i.e. only where ``|r_j|`` is not small, so ``w`` is picked from a
    grid on ``[0, 1]`` to maximise ``min_j |r_j|`` (``w = 1``, the ``"term0"`` reference, can
    leave a component with ``r_j ≈ 0``). Terms with ``α_i = 0`` get ``β_i = 0``.

    Args: ``angles (S, 2, m)`` pyramid, ``alphas (2,)``, unit inputs ``psi (B, n)``.
    Returns: ``weights (S·B, 2)`` (setting-major, the ``α'``), ``r (S, B, n)`` and ``β``.
    """
    al = np.asarray(alphas, dtype=float)
    sg = np.sign(al)
    O = givens_matrix(psi.shape[1], np.asarray(angles, dtype=float), "pyramid")
    v = sg[None, :, None, None] * np.einsum("srij,bj->srbi", O, psi)  # (S, 2, B, n)
    w = np.linspace(0, 1, REFERENCE_GRID) if sg.all() else np.array([float(sg[0] != 0)])
    cand = w[:, None, None, None] * v[:, 0] + (1 - w)[:, None, None, None] * v[:, 1]
    best = np.abs(cand).min(-1).argmax(0)  # (S, B): w index
    r = np.take_along_axis(cand, best[None, ..., None], 0)[0]  # (S, B, n)
    beta = default_beta(al)
    wb = w[best].reshape(-1)
    weights = al + sg * beta * np.stack([wb, 1 - wb], axis=1)
    return weights, r, beta


class Spectral(Efficient):
    name = "spectral"

    def needs_frames(self, terms: int, families: Sequence[str], modes: Sequence[str]) -> bool:
        return "lcu" in modes or Construction.needs_frames(self, terms, families, modes)

    def check(self, qubits: int, terms: int, modes: Sequence[str], max_qubits: int) -> None:
        if terms != 2:
            raise InputError(f"circuit.construction = 'spectral' needs terms = 2, got {terms}: "
                             "use construction = 'efficient' for other R")

    def lcu_circuit(self, angles: np.ndarray, alphas: np.ndarray, loader: QuantumCircuit,
                    layout: str) -> tuple[QuantumCircuit, int]:
        return spectral_lcu_circuit(angles, alphas, layout=layout, state_prep=loader), 1

    def sign_circuit(self, angles: np.ndarray, alphas: np.ndarray, loader: QuantumCircuit,
                     layout: str, beta: float, kind: str | None = None
                     ) -> tuple[QuantumCircuit, int]:
        al = term0_alphas(alphas, beta, int((kind or "term0")[4:]))
        return spectral_lcu_circuit(angles, al, layout=layout, state_prep=loader), 1

    def fold_inputs(self, angles: np.ndarray, x: np.ndarray, n: int, layout: str
                    ) -> np.ndarray:
        Q, _, _ = spectral_basis(angles, n, layout)
        return x @ Q

    def template_kinds(self, terms: int) -> dict[str, str] | None:
        if terms != 2:
            return super().template_kinds(terms)
        return {"magnitude": "spectral", "signs": "spectral"}

    def template_reference(self, angles: np.ndarray, alphas: np.ndarray, psi: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, float]:
        if angles.shape[1] != 2:
            return super().template_reference(angles, alphas, psi)
        return spectral_reference(angles, alphas, psi)


CONSTRUCTION = Spectral()
