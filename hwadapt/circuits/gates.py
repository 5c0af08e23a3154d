"""Hamming-weight-preserving two-qubit gates: RBS and its fermionic (Jordan–Wigner) form FBS.

Qubit order is Qiskit's little-endian one (qubit ``i`` = bit ``i`` of a basis index).

- ``RBS(θ)`` on ``(q0, q1)``: identity on ``|00>`` and ``|11>``; on ``(|q0 excited>,
  |q1 excited>)`` — indices 1 and 2 of the 4×4 matrix — the real rotation
  ``[[cos θ, sin θ], [-sin θ, cos θ]]``. Defined as ``XXPlusYYGate(2θ, β=-π/2)``, so it
  transpiles to 2 CZ/ECR. On the Hamming-weight-1 subspace it is the Givens rotation of
  :func:`hwadapt.linalg.givens_matrix` on the pair ``(q0, q1)``.
- ``FBS(θ, span)`` on the ``span + 1`` consecutive qubits ``(a, a+1, ..., a+span)``: ``RBS(θ)``
  on ``(a, a+span)`` with its off-diagonal entries multiplied by ``(-1)^p``, ``p`` the number
  of excited qubits strictly between them. Defined as ``CZ(m, a)`` for every middle ``m``,
  then ``RBS(θ)``, then the same CZs (``Z_a^p RBS(θ) Z_a^p = RBS((-1)^p θ)``). ``span = 1``
  is ``RBS``. Circuits of FBS gates act on the HW-k subspace as ``O(θ)^(k)``.
"""

from __future__ import annotations

import math

import numpy as np
from qiskit.circuit import Gate, ParameterExpression, QuantumCircuit
from qiskit.circuit.library import XXPlusYYGate

Angle = float | ParameterExpression


class RBSGate(Gate):
    """Reconfigurable beam splitter ``RBS(θ)`` on (q0, q1); see the module docstring."""

    def __init__(self, theta: Angle, label: str | None = None):
        super().__init__("rbs", 2, [theta], label=label)

    def _define(self) -> None:
        qc = QuantumCircuit(2, name=self.name)
        qc.append(XXPlusYYGate(2 * self.params[0], -math.pi / 2), [0, 1])
        self.definition = qc

    def inverse(self, annotated: bool = False) -> RBSGate:
        return RBSGate(-self.params[0])

    def __array__(self, dtype=None, copy=None):
        c, s = math.cos(float(self.params[0])), math.sin(float(self.params[0]))
        m = np.array([[1, 0, 0, 0], [0, c, s, 0], [0, -s, c, 0], [0, 0, 0, 1]], dtype=complex)
        return m if dtype is None else m.astype(dtype)


class FBSGate(Gate):
    """Fermionic beam splitter ``FBS(θ)`` on qubits ``(a, ..., a+span)``; see the module
    docstring. Gate qubit 0 is ``a``, gate qubit ``span`` is ``b``."""

    def __init__(self, theta: Angle, span: int, label: str | None = None):
        if not isinstance(span, int | np.integer) or span < 1:
            raise ValueError(f"FBS span must be an integer >= 1 (b - a), got {span!r}")
        self.span = int(span)
        super().__init__("fbs", self.span + 1, [theta], label=label)

    def _define(self) -> None:
        b = self.span
        qc = QuantumCircuit(b + 1, name=self.name)
        for m in range(1, b):
            qc.cz(m, 0)
        qc.append(RBSGate(self.params[0]), [0, b])
        for m in range(1, b):
            qc.cz(m, 0)
        self.definition = qc

    def inverse(self, annotated: bool = False) -> FBSGate:
        return FBSGate(-self.params[0], self.span)

    def __array__(self, dtype=None, copy=None):
        theta, b = float(self.params[0]), self.span
        c, s = math.cos(theta), math.sin(theta)
        dim = 1 << (b + 1)
        m = np.eye(dim, dtype=complex)
        for x in range(dim):
            if x & 1 and not x >> b & 1:  # u: a excited, b empty; partner w
                w = x ^ 1 ^ (1 << b)
                sign = -1.0 if bin(x >> 1 & ((1 << (b - 1)) - 1)).count("1") % 2 else 1.0
                m[x, x] = m[w, w] = c
                m[x, w] = sign * s
                m[w, x] = -sign * s
        return m if dtype is None else m.astype(dtype)

    def __eq__(self, other) -> bool:
        return isinstance(other, FBSGate) and other.span == self.span and super().__eq__(other)

    __hash__ = Gate.__hash__


def rbs_gate(theta: Angle) -> RBSGate:
    """``RBS(θ)`` as a named 2-qubit gate (apply to ``[a, b]``; ``a`` is q0)."""
    return RBSGate(theta)


def fbs_gate(theta: Angle, span: int) -> Gate:
    """``FBS(θ)`` acting on ``span + 1`` consecutive qubits ``[a, ..., a + span]``
    (``span = b - a``); ``span = 1`` returns :func:`rbs_gate`."""
    return RBSGate(theta) if span == 1 else FBSGate(theta, span)


def hw_pair_gate(theta: Angle, a: int, b: int) -> tuple[Gate, list[int]]:
    """The gate and qubit list that rotate the pair ``(a, b)``, ``a < b``: RBS for neighbours,
    FBS over ``a..b`` otherwise."""
    if not 0 <= a < b:
        raise ValueError(f"gate pair must satisfy 0 <= a < b, got ({a}, {b})")
    return fbs_gate(theta, b - a), list(range(a, b + 1))
