"""Adapter circuits: a layout of RBS/FBS gates whose unitary is ``⊕_k O(θ)^(k)``.

``adapter_circuit(n, θ, layout)`` applies, in layout (= parameter) order, ``RBS(θ_i)`` on
nearest-neighbour pairs and ``FBS(θ_i)`` on the others. Its unitary equals
``hamming_weight_matrix(givens_matrix(n, θ, layout), order="computational")`` exactly
(Qiskit little-endian: qubit ``i`` = bit ``i``), which is the bridge from a trained
orthogonal adapter (``layer.angles[i]``) to hardware.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qiskit.circuit import ParameterExpression, ParameterVector, QuantumCircuit

from hwadapt.circuits.gates import hw_pair_gate
from hwadapt.circuits.layouts import layout_pairs

Layout = str | Sequence[tuple[int, int]]


def as_angle_list(angles, count: int, what: str = "angles") -> list:
    """``angles`` (floats, numpy/torch 1-D, Parameters or a ParameterVector) as a list of
    ``count`` floats / ParameterExpressions; raises ValueError on a length mismatch."""
    if isinstance(angles, ParameterVector):
        vals = list(angles)
    elif hasattr(angles, "detach"):  # torch tensor
        vals = [float(v) for v in angles.detach().cpu().reshape(-1)]
    elif isinstance(angles, np.ndarray):
        if angles.ndim != 1:
            raise ValueError(f"{what} must be 1-D, got shape {angles.shape}")
        vals = [float(v) for v in angles]
    else:
        vals = [v if isinstance(v, ParameterExpression) else float(v) for v in angles]
    if len(vals) != count:
        raise ValueError(f"expected {count} {what}, got {len(vals)}")
    return vals


def adapter_circuit(n: int, angles, layout: Layout = "pyramid") -> QuantumCircuit:
    """RBS/FBS circuit of ``layout`` on ``n`` qubits (``brick``: depth ``n``).

    Args:
        angles: ``(m,)`` floats (numpy/torch) or Qiskit Parameters / a ParameterVector, in
            layout order (``m = num_angles(n, layout)``).
        layout: a layout name or an explicit list of pairs ``(a, b)``, ``a < b``.
    Returns:
        ``n``-qubit circuit with unitary ``hamming_weight_matrix(givens_matrix(n, angles,
        layout), "computational")``.
    """
    pairs = layout_pairs(n, layout) if isinstance(layout, str) else [tuple(p) for p in layout]
    if any(not 0 <= a < b < n for a, b in pairs):
        raise ValueError(f"layout pairs must satisfy 0 <= a < b < n={n}, got {pairs}")
    vals = as_angle_list(angles, len(pairs))
    name = layout if isinstance(layout, str) else "custom"
    qc = QuantumCircuit(n, name=f"{name}_adapter")
    for theta, (a, b) in zip(vals, pairs, strict=True):
        gate, qubits = hw_pair_gate(theta, a, b)
        qc.append(gate, qubits)
    return qc
