"""``dilation``: the unary Halmos dilation of ``M`` on ``2n`` qubits
(:func:`hwadapt.circuits.dilation.dilation_circuit`): no ancilla, the upper ``n`` qubits
play the ancillas' role (postselected on 0), ``K0 = s = ‖M‖₂``; two signs families dilate
``M + βV_ref`` with scale ``s + β``: ``signs`` with ``V_ref = I`` (input reference, blind
where ``ψ_j ≈ 0``, e.g. image borders) and ``signs1`` with the reflection ``I - 2uuᵀ``
(:func:`hwadapt.circuits.signs.reference_matrix`), so a component is blind only where both
references vanish; each is one more circuit of the same size. Counts are folded onto the
LCU convention by :func:`hwadapt.circuits.dilation.fold_dilation_counts`. Not trainable."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qiskit.circuit import QuantumCircuit

from hwadapt.circuits.constructions.base import Construction
from hwadapt.circuits.dilation import combination_matrix, dilation_circuit, fold_dilation_counts
from hwadapt.circuits.signs import reference_matrix
from hwadapt.errors import InputError


class Dilation(Construction):
    name = "dilation"

    def check(self, qubits: int, terms: int, modes: Sequence[str], max_qubits: int) -> None:
        if "lcu" in modes and 2 * qubits > max_qubits:
            raise InputError(f"circuit.construction = 'dilation' needs 2 x qubits = "
                             f"{2 * qubits} qubits, above {max_qubits}: use construction = "
                             "'efficient'")

    def lcu_circuit(self, angles: np.ndarray, alphas: np.ndarray, loader: QuantumCircuit,
                    layout: str) -> tuple[QuantumCircuit, int]:
        n = loader.num_qubits
        M = combination_matrix(angles, alphas, n, layout)
        qc, _ = dilation_circuit(M, list(loader.parameters), scale=float(np.linalg.norm(M, 2)))
        return qc, n

    def sign_circuit(self, angles: np.ndarray, alphas: np.ndarray, loader: QuantumCircuit,
                     layout: str, beta: float, kind: str | None = None
                     ) -> tuple[QuantumCircuit, int]:
        n = loader.num_qubits
        M = combination_matrix(angles, alphas, n, layout)
        s = float(np.linalg.norm(M, 2))
        V = reference_matrix(kind or "input", n)
        qc, _ = dilation_circuit(M + beta * V, list(loader.parameters), scale=s + beta)
        return qc, n

    def sign_references(self, terms: int, mode: str) -> list[str]:
        return ["input", "reflect"] if mode == "lcu" else super().sign_references(terms, mode)

    def scale(self, angles: np.ndarray, alphas: np.ndarray, n: int, layout: str) -> float:
        return float(np.linalg.norm(combination_matrix(angles, alphas, n, layout), 2))

    def fold_counts(self, counts, n: int):
        return fold_dilation_counts(counts, n)


CONSTRUCTION = Dilation()
