"""mthree readout correction of one circuit's counts (``compare --mitigate readout``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwadapt.counts import CountsLike, int_counts


def mitigate_readout(counts: CountsLike, m3: Any, qubits: Sequence[int]) -> dict[int, float]:
    """mthree readout correction of one circuit's counts → quasi-counts ``{index: float}``.

    ``qubits[i]`` is the physical qubit measured into classical bit ``i``; ``m3`` is a
    calibrated ``mthree.M3Mitigation`` (``cals_from_system(qubits)`` done). The quasi
    distribution is projected onto the nearest probability distribution (mthree's
    ``nearest_probability_distribution``: no negative "counts", so square roots stay real
    even when a qubit's readout is nearly random) and scaled by the shot count so it can
    stand in for counts.
    """
    c = int_counts(counts)
    nbits = len(qubits)
    shots = sum(c.values())
    as_str = {format(k, f"0{nbits}b"): v for k, v in c.items()}
    quasi = m3.apply_correction(as_str, list(qubits)).nearest_probability_distribution()
    return {int(k, 2): float(v) * shots for k, v in quasi.items()}


__all__ = ["mitigate_readout"]
