"""Data loaders: unary (Hamming-weight-1), HW-k subspace, and full amplitude encoding.

Unary loader for a real vector ``x`` of dimension ``n``: ``X`` on qubit 0, then ``n - 1``
RBS gates that split the excitation. The resulting state is ``Σ_i x_i/‖x‖ |e_i>``, with
``|e_i>`` the basis state with only qubit ``i`` excited (index ``2^i``). Two shapes:

- linear (``tree=False``): RBS on ``(0,1), (1,2), ..., (n-2,n-1)``; depth ``n - 1``.
- tree (``tree=True``): a balanced binary split of ``0..n-1``: a segment ``[lo, hi)``
  holding the excitation on ``lo`` is split at ``mid = lo + ceil((hi-lo)/2)`` by an RBS on
  ``(lo, mid)``; depth ``ceil(log2 n)`` (the RBS are non-adjacent: exact on HW 1).

Angle rule (both shapes): a split ``left | right`` of a segment uses
``θ = atan2(-σ(right), σ(left))``, ``σ(seg) = seg[0]`` for one element, else ``‖seg‖``.
Angles are listed in application order, and ``unary_loader`` accepts a ParameterVector so
that one circuit plus a parameter array of shape ``(batch, n-1)`` loads many inputs.
"""

from __future__ import annotations

import math

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import StatePreparation

from hwadapt.arrays import to_numpy
from hwadapt.circuits.adapter import Layout, adapter_circuit, as_angle_list
from hwadapt.circuits.gates import rbs_gate

MAX_AMPLITUDE_QUBITS = 12
"""Largest register :func:`amplitude_loader` builds (its circuit grows as ``2^n``)."""


def unary_splits(n: int, tree: bool = False) -> list[tuple[int, int, int]]:
    """The unary loader's splits ``(lo, mid, hi)`` in application order: an RBS on
    ``(lo, mid)`` moves part of the excitation from ``lo`` to ``mid``; ``[lo, mid)`` and
    ``[mid, hi)`` are then loaded independently."""
    if n < 1:
        raise ValueError(f"a unary loader needs n >= 1, got n={n}")
    if not tree:
        return [(i, i + 1, n) for i in range(n - 1)]
    out: list[tuple[int, int, int]] = []
    level = [(0, n)]
    while level:
        nxt = []
        for lo, hi in level:
            if hi - lo > 1:
                mid = lo + (hi - lo + 1) // 2
                out.append((lo, mid, hi))
                nxt += [(lo, mid), (mid, hi)]
        level = nxt
    return out


def _real_vectors(x, what: str = "x") -> np.ndarray:
    arr = to_numpy(x)
    if np.iscomplexobj(arr):
        raise ValueError(f"{what} must be real; load complex data with amplitude_loader")
    arr = arr.astype(float)
    if arr.ndim == 0 or arr.shape[-1] < 1:
        raise ValueError(f"{what} must have shape (..., n) with n >= 1, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or inf")
    norms = np.linalg.norm(arr, axis=-1)
    if np.any(norms == 0):
        raise ValueError(f"{what} has a zero vector: nothing to load (normalise non-zero data)")
    return arr / norms[..., None]


def unary_angles(x, tree: bool = False) -> np.ndarray:
    """RBS angles that load ``x/‖x‖`` (real, shape ``(..., n)``) into HW 1.

    Returns ``(..., n-1)`` angles in application order for ``unary_loader(n, ·, tree)``.
    """
    v = _real_vectors(x)
    n = v.shape[-1]
    out = np.empty(v.shape[:-1] + (max(n - 1, 0),))

    def sigma(lo: int, hi: int) -> np.ndarray:
        return v[..., lo] if hi - lo == 1 else np.linalg.norm(v[..., lo:hi], axis=-1)

    for j, (lo, mid, hi) in enumerate(unary_splits(n, tree)):
        out[..., j] = np.arctan2(-sigma(mid, hi), sigma(lo, mid))
    return out


def unary_loader(n: int, angles, tree: bool = False) -> QuantumCircuit:
    """``X`` on qubit 0 and ``n - 1`` RBS gates with ``angles`` (floats, e.g. from
    :func:`unary_angles`, or Parameters / a ParameterVector of length ``n - 1``)."""
    splits = unary_splits(n, tree)
    vals = as_angle_list(angles, len(splits), "unary loader angles")
    qc = QuantumCircuit(n, name="unary_tree" if tree else "unary")
    qc.x(0)
    for theta, (lo, mid, _) in zip(vals, splits, strict=True):
        qc.append(rbs_gate(theta), [lo, mid])
    return qc


def subspace_loader(
    n: int, k: int, angles, layout: Layout = "pyramid", occupied: list[int] | None = None
) -> QuantumCircuit:
    """A HW-``k`` state: ``X`` on ``occupied`` (default qubits ``0..k-1``), then
    :func:`adapter_circuit`. The state is the column ``J = occupied`` of
    ``O(θ)^(k)`` (a Slater determinant), i.e. ``Σ_I det(O[I, J]) |I>``, with
    ``O = givens_matrix(n, angles, layout)``."""
    occ = list(range(k)) if occupied is None else sorted(occupied)
    if len(occ) != k or len(set(occ)) != k or any(not 0 <= q < n for q in occ):
        raise ValueError(f"occupied must be {k} distinct qubits in 0..{n - 1}, got {occupied}")
    qc = QuantumCircuit(n, name=f"hw{k}_loader")
    for q in occ:
        qc.x(q)
    qc.compose(adapter_circuit(n, angles, layout), inplace=True)
    return qc


def amplitude_loader(x) -> QuantumCircuit:
    """Full amplitude encoding of ``x/‖x‖`` (real or complex, length ``2^n``,
    ``n <= MAX_AMPLITUDE_QUBITS``): amplitude ``j`` goes to basis index ``j`` (qubit ``i`` =
    bit ``i``). A ``StatePreparation`` gate, exact up to floating point."""
    arr = to_numpy(x)
    if arr.ndim != 1 or arr.size < 2 or arr.size & (arr.size - 1):
        raise ValueError(f"amplitude_loader needs a 1-D vector of length 2^n, got {arr.shape}")
    n = int(math.log2(arr.size))
    if n > MAX_AMPLITUDE_QUBITS:
        raise ValueError(f"amplitude_loader is for small registers (n <= "
                         f"{MAX_AMPLITUDE_QUBITS}), got n={n}; use unary_loader for large data")
    norm = np.linalg.norm(arr)
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("amplitude_loader needs a finite, non-zero vector")
    qc = QuantumCircuit(n, name="amplitude")
    qc.append(StatePreparation(arr.astype(complex) / norm), range(n))
    return qc
