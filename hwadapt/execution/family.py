"""Circuit families: what a run executes (a parametrised measured circuit, one binding per
input) and the one postselection rule every reader applies to its outcomes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwadapt.circuits.lcu import postselect


@dataclass
class Family:
    """One circuit family: a parametrised, measured circuit and one binding per input.

    ``circuit`` measures every qubit into one register (clbit i = qubit i, data qubits
    ``0..n_data-1`` then ``n_ancilla`` ancillas); ``values (count, P)`` follows
    ``circuit.parameters`` order. Accepted outcomes: ancillas all 0 and data Hamming weight
    ``weight`` (:func:`hwadapt.circuits.lcu.postselect`; None accepts any data weight).
    """

    name: str
    circuit: Any
    values: np.ndarray
    n_data: int
    n_ancilla: int
    weight: int | None = 1
    calibration: int = 0  # the last `calibration` rows of `values` bind calibration inputs

    def accept(self, outcomes: np.ndarray) -> np.ndarray:
        """Boolean mask of accepted outcomes (ints, clbit i = bit i)."""
        return postselect(np.asarray(outcomes), self.n_data, self.n_ancilla, self.weight)

    def uniform_rate(self) -> float:
        """The fraction of uniformly random outcomes (every clbit a fair coin) that
        :meth:`accept` keeps: the acceptance of a fully depolarised shot."""
        kept = 2**self.n_data if self.weight is None else math.comb(self.n_data, self.weight)
        return kept / 2.0 ** max(self.circuit.num_clbits, self.n_data + self.n_ancilla)
