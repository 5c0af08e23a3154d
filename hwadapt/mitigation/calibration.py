"""Calibration inputs: unit vectors whose adapter outputs are known exactly.

Every circuit here is Hamming-weight preserving on a unary input, so the same transpiled
template bound to any other input is classically simulable: bindings of calibration inputs
ride in the run's PUBs, on the same physical qubits, and teach the noise map
(:mod:`hwadapt.mitigation.response`).
"""

from __future__ import annotations

import numpy as np

KINDS = ("random", "basis", "mixed")


def basis_like(n: int, count: int) -> np.ndarray:
    """``(count, n)`` sparse unit vectors: ``e_i``, then ``(e_i ± e_j)/√2`` for ``i < j``,
    cycled in that order."""
    rows = [np.eye(n)[i] for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            for s in (1.0, -1.0):
                v = np.zeros(n)
                v[i], v[j] = 1 / np.sqrt(2), s / np.sqrt(2)
                rows.append(v)
    return np.stack([rows[k % len(rows)] for k in range(count)])


def calibration_inputs(n: int, count: int, seed: int, kind: str = "random") -> np.ndarray:
    """``(count, n)`` unit calibration inputs.

    ``kind``: ``"random"`` (Gaussian directions, seeded by ``seed``), ``"basis"``
    (:func:`basis_like`) or ``"mixed"`` (half basis-like, half random).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown calibration kind {kind!r}: use one of {', '.join(KINDS)}")
    rng = np.random.default_rng([seed, 3])
    n_basis = {"random": 0, "basis": count, "mixed": count // 2}[kind]
    x = rng.normal(size=(count - n_basis, n))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.concatenate([basis_like(n, n_basis), x]) if n_basis else x


__all__ = ["KINDS", "basis_like", "calibration_inputs"]
