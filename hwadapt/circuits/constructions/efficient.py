"""``efficient``: the multiplexed SELECT (:mod:`hwadapt.circuits.efficient_lcu`), any ``R``.

The signs family adds the reference branch ``β·I`` (``"input"``, ``r = ψ``; its angles are
zero in any layout, so the circuit does not depend on the input), or for ``R >= 2`` in lcu
mode reuses term 0 (``"term0"``: the magnitude circuit's gates with ``α_0 + sign(α_0)β``).
Trainable: templates ``magnitude``/``signs`` (uniform reference per input).
"""

from __future__ import annotations

import numpy as np
from qiskit.circuit import QuantumCircuit

from hwadapt.circuits.constructions.base import Construction
from hwadapt.circuits.efficient_lcu import efficient_lcu_circuit, efficient_sign_circuit
from hwadapt.circuits.lcu import lcu_ancillas


class Efficient(Construction):
    name = "efficient"

    def lcu_circuit(self, angles: np.ndarray, alphas: np.ndarray, loader: QuantumCircuit,
                    layout: str) -> tuple[QuantumCircuit, int]:
        return efficient_lcu_circuit(angles, alphas, loader, layout=layout), \
            lcu_ancillas(len(alphas))

    def sign_circuit(self, angles: np.ndarray, alphas: np.ndarray, loader: QuantumCircuit,
                     layout: str, beta: float) -> tuple[QuantumCircuit, int]:
        ref = self.sign_reference(len(alphas), "lcu")
        qc = efficient_sign_circuit(angles, alphas, loader, reference=ref, beta=beta,
                                    layout=layout)
        return qc, lcu_ancillas(len(alphas) + (ref == "input"))

    def sign_reference(self, terms: int, mode: str) -> str:
        return "term0" if mode == "lcu" and terms >= 2 else "input"

    def template_kinds(self, terms: int) -> dict[str, str] | None:
        return {"magnitude": "magnitude", "signs": "signs"}


CONSTRUCTION = Efficient()
