"""``textbook``: controlled adapter circuits (:func:`hwadapt.circuits.lcu.lcu_circuit`) and
the uniform-reference sign circuit of :mod:`hwadapt.circuits.signs` (input-dependent
``V_ref = L_u L_ψ†`` built on the loader's parameters)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qiskit.circuit import QuantumCircuit

from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.constructions.base import Construction
from hwadapt.circuits.lcu import lcu_ancillas, lcu_circuit
from hwadapt.circuits.signs import sign_circuits


class Textbook(Construction):
    name = "textbook"

    def lcu_circuit(self, angles: np.ndarray, alphas: np.ndarray, loader: QuantumCircuit,
                    layout: str) -> tuple[QuantumCircuit, int]:
        adapters = [adapter_circuit(loader.num_qubits, list(th), layout) for th in angles]
        return lcu_circuit(adapters, list(alphas), state_prep=loader), lcu_ancillas(len(alphas))

    def sign_circuit(self, angles: np.ndarray, alphas: np.ndarray, loader: QuantumCircuit,
                     layout: str, beta: float, kind: str | None = None
                     ) -> tuple[QuantumCircuit, int]:
        adapters = [adapter_circuit(loader.num_qubits, list(th), layout) for th in angles]
        qc = sign_circuits(adapters, alphas, loader, reference="uniform", beta=beta)["signs"]
        return qc, lcu_ancillas(len(alphas) + 1)

    def separate_circuit(self, theta: np.ndarray, loader: QuantumCircuit, layout: str,
                         signs: bool, kind: str | None = None
                         ) -> tuple[QuantumCircuit, int]:
        if not signs:
            return super().separate_circuit(theta, loader, layout, signs)
        n = loader.num_qubits
        return sign_circuits([adapter_circuit(n, list(theta), layout)], [1.0], loader,
                             reference="uniform", beta=1.0)["signs"], 1

    def sign_reference(self, terms: int, mode: str) -> str:
        return "uniform"

    def needs_frames(self, terms: int, families: Sequence[str], modes: Sequence[str]) -> bool:
        return False


CONSTRUCTION = Textbook()
