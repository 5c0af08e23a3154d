"""Zero-noise extrapolation: local folding of two-qubit gates, Richardson extrapolation.

Folding by an odd factor ``λ = 2k + 1`` replaces every two-qubit gate ``G`` of an ISA
circuit by ``G (G† G)^k``: the same unitary, ``λ``× the two-qubit error. Single-qubit gates
and measurements are untouched (their errors are small next to the two-qubit ones, and
folding them would change the readout). Kept probabilities measured at factors ``λ_i`` are
extrapolated to ``λ = 0`` with the Richardson (Lagrange) weights, whose variance factor
``Σ w_i²`` is why ZNE loses at equal shots (``(1, 3)``: weights ``(1.5, -0.5)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EXTRAPOLATIONS = ("richardson",)


def fold_two_qubit_gates(circuit, factor: int):
    """Copy of ``circuit`` with every two-qubit gate ``G`` replaced by ``G (G† G)^k``,
    ``factor = 2k + 1`` (odd ≥ 1; 1 returns an unchanged copy)."""
    if factor < 1 or factor % 2 == 0:
        raise ValueError(f"fold factors are odd integers >= 1, got {factor}")
    out = circuit.copy_empty_like()
    for inst in circuit.data:
        out.append(inst)
        op = inst.operation
        if len(inst.qubits) == 2 and not inst.clbits and op.name not in ("barrier", "delay"):
            inv = op.inverse()
            for _ in range(factor // 2):
                out.append(inv, inst.qubits)
                out.append(op, inst.qubits)
    return out


def richardson_weights(factors: Sequence[float]) -> np.ndarray:
    """Weights ``w`` with ``Σ w_i f(λ_i) = f(0)`` for every polynomial ``f`` of degree
    ``< len(factors)`` (Lagrange interpolation at 0)."""
    lam = np.asarray(factors, dtype=float)
    if len(lam) < 2 or len(set(lam.tolist())) != len(lam):
        raise ValueError(f"Richardson extrapolation needs >= 2 distinct factors, got {factors}")
    return np.array([np.prod([lj / (lj - li) for j, lj in enumerate(lam) if j != i])
                     for i, li in enumerate(lam)])


def extrapolate(values: Sequence[np.ndarray], factors: Sequence[float]) -> np.ndarray:
    """Zero-noise value ``Σ w_i values[i]`` (same shape as each ``values[i]``)."""
    w = richardson_weights(factors)
    return np.einsum("i,i...->...", w, np.stack([np.asarray(v, float) for v in values]))


__all__ = ["EXTRAPOLATIONS", "extrapolate", "fold_two_qubit_gates", "richardson_weights"]
