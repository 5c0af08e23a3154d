"""``efficient``: the multiplexed SELECT (:mod:`hwadapt.circuits.efficient_lcu`), any ``R``.

The signs family adds the reference branch ``β·I`` (``"input"``, ``r = ψ``; its angles are
zero in any layout, so the circuit does not depend on the input), or for ``R >= 2`` in lcu
mode reuses term 0 (``"term0"``: the magnitude circuit's gates with ``α_0 + sign(α_0)β``).
Trainable: templates ``magnitude``/``signs`` (uniform reference per input).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qiskit.circuit import QuantumCircuit

from hwadapt.circuits.constructions.base import Construction
from hwadapt.circuits.efficient_lcu import (
    efficient_lcu_circuit,
    efficient_sign_circuit,
    term0_alphas,
)
from hwadapt.circuits.lcu import lcu_ancillas

SIGN_TERMS = 2
"""LCU terms that serve as sign references (lcu mode, ``R >= 2``): two, so that every
component has a reference it can see; each costs one family of shots and no extra gates."""


class Efficient(Construction):
    name = "efficient"

    def lcu_circuit(self, angles: np.ndarray, alphas: np.ndarray, loader: QuantumCircuit,
                    layout: str) -> tuple[QuantumCircuit, int]:
        return efficient_lcu_circuit(angles, alphas, loader, layout=layout), \
            lcu_ancillas(len(alphas))

    def sign_circuit(self, angles: np.ndarray, alphas: np.ndarray, loader: QuantumCircuit,
                     layout: str, beta: float, kind: str | None = None
                     ) -> tuple[QuantumCircuit, int]:
        ref = kind or self.sign_reference(len(alphas), "lcu")
        if ref.startswith("term"):  # the magnitude circuit with term k weighted up by beta
            al = term0_alphas(alphas, beta, int(ref[4:]))
            return efficient_lcu_circuit(angles, al, loader, layout=layout), \
                lcu_ancillas(len(alphas))
        qc = efficient_sign_circuit(angles, alphas, loader, reference=ref, beta=beta,
                                    layout=layout)
        return qc, lcu_ancillas(len(alphas) + (ref == "input"))

    def sign_reference(self, terms: int, mode: str) -> str:
        return "term0" if mode == "lcu" and terms >= 2 else "input"

    def sign_references(self, terms: int, mode: str) -> list[str]:
        if mode == "lcu" and terms >= 2:  # a blind spot needs |(O_k x)_j| ≈ 0 for every k
            return [f"term{k}" for k in range(min(terms, SIGN_TERMS))]
        return super().sign_references(terms, mode)

    def needs_frames(self, terms: int, families: Sequence[str], modes: Sequence[str]) -> bool:
        return ("lcu" in modes and (terms >= 2 or "signs" in families)) or \
            super().needs_frames(terms, families, modes)

    def template_kinds(self, terms: int) -> dict[str, str] | None:
        return {"magnitude": "magnitude", "signs": "signs"}


CONSTRUCTION = Efficient()
