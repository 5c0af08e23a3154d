"""Linear combination of unitaries ``M = Σ_i α_i U_i`` as a PREPARE/SELECT/UNPREPARE circuit.

Register layout: data qubits ``0..n-1``, ancillas ``n..n+a-1`` with ``a = ceil(log2 R)``
(ancilla index ``i = Σ_j bit_j 2^j`` over ancilla ``j`` = qubit ``n + j``). The circuit is

    state_prep (data) → V (ancillas) → Σ_i |i><i| ⊗ sign(α_i) U_i → V† (ancillas)

with ``V|0> = Σ_i sqrt(|α_i|/‖α‖₁) |i>`` (padded with zero weights up to ``2^a``) and a
negative ``α_i`` folded into its branch as a global ``-1`` (a controlled phase). Projecting
the ancillas on ``|0>`` leaves ``M|ψ>/‖α‖₁``: success probability ``‖Mψ‖²/‖α‖₁²``. With
Hamming-weight-preserving ``U_i`` and an HW-``k`` input, outcomes whose data weight is not
``k`` are errors and are discarded too (:func:`postselect`). No measurements are added.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from qiskit.circuit import Gate, QuantumCircuit
from qiskit.circuit.library import RYGate


def lcu_ancillas(R: int) -> int:
    """Number of ancillas for ``R`` terms: ``ceil(log2 R)`` (0 for ``R = 1``)."""
    if R < 1:
        raise ValueError(f"an LCU needs at least one unitary, got R={R}")
    return (R - 1).bit_length()


def prepare_gate(weights: Sequence[float]) -> Gate:
    """``V`` on ``a = ceil(log2 len(weights))`` qubits with ``V|0> = Σ_i sqrt(w_i/Σw)|i>``.

    A binary tree of (multi-)controlled ``RY`` (most significant ancilla first); branches of
    zero weight get no gate. Weights must be non-negative with a positive sum.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError(f"weights must be finite, non-negative, not all zero; got {weights}")
    a = lcu_ancillas(len(w))
    w = np.concatenate([w, np.zeros((1 << a) - len(w))])
    qc = QuantumCircuit(max(a, 1), name="prepare")
    for j in range(a - 1, -1, -1):  # qubit j splits by bit j, given higher bits = prefix
        for prefix in range(1 << (a - 1 - j)):
            block = w.reshape(1 << (a - 1 - j), 2, 1 << j)[prefix]  # [bit j][lower bits]
            w0, w1 = block[0].sum(), block[1].sum()
            if w1 == 0:
                continue
            theta = 2 * math.atan2(math.sqrt(w1), math.sqrt(w0))
            controls = list(range(j + 1, a))
            if controls:
                qc.append(RYGate(theta).control(len(controls), ctrl_state=prefix, annotated=False),
                          controls + [j])
            else:
                qc.ry(theta, j)
    return qc.to_gate()


def lcu_circuit(
    unitaries: Sequence[QuantumCircuit],
    alphas: Sequence[float],
    state_prep: QuantumCircuit | None = None,
) -> QuantumCircuit:
    """PREPARE/SELECT/UNPREPARE circuit of ``M = Σ_i α_i U_i`` (see module docstring).

    Args:
        unitaries: ``R`` circuits on the same ``n`` data qubits (may hold Parameters; each is
            controlled from its definition).
        alphas: ``R`` real, non-zero-sum coefficients; zeros are allowed (branch skipped).
        state_prep: optional ``n``-qubit circuit applied to the data register first.
    Returns:
        ``n + ceil(log2 R)`` qubits, data ``0..n-1``, ancillas ``n..``; no measurements.
    """
    R = len(unitaries)
    alphas = np.asarray(alphas, dtype=float)
    if alphas.shape != (R,):
        raise ValueError(f"need one alpha per unitary: {R} unitaries, alphas shape "
                         f"{alphas.shape}")
    if R == 0 or not np.isfinite(alphas).all() or np.abs(alphas).sum() == 0:
        raise ValueError("alphas must be finite and not all zero")
    n = unitaries[0].num_qubits
    if any(u.num_qubits != n for u in unitaries):
        raise ValueError(f"all unitaries must act on the same n={n} data qubits, got "
                         f"{[u.num_qubits for u in unitaries]}")
    if state_prep is not None and state_prep.num_qubits != n:
        raise ValueError(f"state_prep acts on {state_prep.num_qubits} qubits, the data "
                         f"register has {n}")
    a = lcu_ancillas(R)
    data, anc = list(range(n)), list(range(n, n + a))
    qc = QuantumCircuit(n + a, name="lcu")
    if state_prep is not None:
        qc.compose(state_prep, data, inplace=True)
    if a == 0:  # one term: M = α U, and ‖α‖₁ = |α|
        qc.compose(_signed(unitaries[0], alphas[0] < 0), data, inplace=True)
        return qc
    V = prepare_gate(np.abs(alphas))
    qc.append(V, anc)
    for i, (u, alpha) in enumerate(zip(unitaries, alphas, strict=True)):
        if alpha == 0:
            continue
        gate = _signed(u, alpha < 0).to_gate(label=f"U{i}")
        qc.append(gate.control(a, ctrl_state=i, annotated=False), anc + data)
    qc.append(V.inverse(), anc)
    return qc


def _signed(u: QuantumCircuit, negative: bool) -> QuantumCircuit:
    """``u``, or ``-u`` (global phase ``+π``) when ``negative``."""
    if not negative:
        return u
    out = u.copy()
    out.global_phase = out.global_phase + math.pi
    return out


def postselect(outcomes, n_data: int, n_ancilla: int, weight: int | None) -> np.ndarray:
    """Mask of accepted outcomes: ancillas all ``0`` and data Hamming weight ``== weight``
    (``weight=None``: any data weight, for circuits that do not preserve Hamming weight).

    Args:
        outcomes: integer outcomes (any shape), bit ``q`` = qubit ``q`` (data ``0..n_data-1``,
            ancillas ``n_data..n_data+n_ancilla-1``), as Sampler's ``BitArray`` integers.
    Returns:
        bool array of the same shape.
    """
    out = np.asarray(outcomes, dtype=np.int64)
    data = out & ((1 << n_data) - 1)
    anc = out >> n_data & ((1 << n_ancilla) - 1)
    high = out >> (n_data + n_ancilla)
    ok = (anc == 0) & (high == 0)
    return ok if weight is None else ok & (popcount(data) == weight)


def popcount(x) -> np.ndarray:
    """Number of set bits of each (non-negative) integer in ``x``."""
    x = np.asarray(x, dtype=np.int64)
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(x).astype(np.int64)
    b = np.ascontiguousarray(x).view(np.uint8).reshape(x.shape + (8,))
    return np.unpackbits(b, axis=-1).sum(-1).astype(np.int64)
