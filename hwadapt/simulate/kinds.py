"""Gate matrices. Parameterised gate kinds: how a gate's parameters become slots, which local
basis states form its block, and its block matrix, vectorised over gates and bindings; and
the dense matrix of a parameter-free gate.

A kind's block acts on the ``d`` local basis states ``locs`` of its ``qubits`` (local index
``Σ_j bit(qubits[j]) 2^j``); every other local state is left unchanged. ``matrices(a)``
maps slot values ``a (B, G, k)`` to ``(B, G, d, d)`` blocks (row = output member): numpy
arrays for numpy input, torch tensors (differentiable) for torch input (:mod:`.xp`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.exceptions import QiskitError
from qiskit.quantum_info import Operator

from hwadapt.simulate.xp import namespace


def _rbs(a):
    xp = namespace(a)
    c, s = xp.cos(a[..., 0]), xp.sin(a[..., 0])
    return xp.stack([xp.stack([c, s], -1), xp.stack([-s, c], -1)], -2)


def _ry(a):
    xp = namespace(a)
    c, s = xp.cos(a[..., 0] / 2), xp.sin(a[..., 0] / 2)
    return xp.stack([xp.stack([c, -s], -1), xp.stack([s, c], -1)], -2)


def _half(xp, t):
    return xp.to_complex(xp.cos(t / 2)), xp.to_complex(xp.sin(t / 2))


def _xxpy(a):
    xp = namespace(a)
    c, s = _half(xp, a[..., 0])
    e = xp.cis(a[..., 1])
    return xp.stack([xp.stack([c, -1j * s * e.conj()], -1),
                     xp.stack([-1j * s * e, c], -1)], -2)


def _rx(a):
    xp = namespace(a)
    c, s = _half(xp, a[..., 0])
    return xp.stack([xp.stack([c, -1j * s], -1), xp.stack([-1j * s, c], -1)], -2)


def _diag(xp, d0, d1):
    z = xp.zeros_like(d0)
    return xp.stack([xp.stack([d0, z], -1), xp.stack([z, d1], -1)], -2)


def _rz(a):
    xp = namespace(a)
    return _diag(xp, xp.cis(-a[..., 0] / 2), xp.cis(a[..., 0] / 2))


def _p(a):
    xp = namespace(a)
    return _diag(xp, xp.ones_complex(a[..., 0]), xp.cis(a[..., 0]))


def _u(a):
    xp = namespace(a)
    th, ph, la = a[..., 0], a[..., 1], a[..., 2]
    c, s = _half(xp, th)
    return xp.stack([xp.stack([c, -xp.cis(la) * s], -1),
                     xp.stack([xp.cis(ph) * s, xp.cis(ph + la) * c], -1)], -2)


def _phase(a):
    return namespace(a).cis(a[..., 0])[..., None, None]


@dataclass(frozen=True)
class Kind:
    """A parameterised gate family (see the module docstring)."""

    name: str
    d: int
    locs: tuple[int, ...]
    real: bool
    matrices: object  # callable (B, G, k) -> (B, G, d, d), numpy or torch as its input


_HW = (1, 2)  # |q0=1,q1=0>, |q0=0,q1=1>: the two states an RBS mixes
_ONE = (0, 1)
KINDS = {k.name: k for k in [
    Kind("rbs", 2, _HW, True, _rbs),
    Kind("xx_plus_yy", 2, _HW, False, _xxpy),
    Kind("rx", 2, _ONE, False, _rx),
    Kind("ry", 2, _ONE, True, _ry),
    Kind("rz", 2, _ONE, False, _rz),
    Kind("p", 2, _ONE, False, _p),
    Kind("u", 2, _ONE, False, _u),
    Kind("phase", 1, (0,), False, _phase),
]}

HALF_PI = math.pi / 2
# Qiskit gate name -> (kind, [(parameter index or None for 0, scale, offset) per slot])
ALIASES = {
    "rbs": ("rbs", [(0, 1.0, 0.0)]),
    "fbs": ("rbs", [(0, 1.0, 0.0)]),
    "xx_plus_yy": ("xx_plus_yy", [(0, 1.0, 0.0), (1, 1.0, 0.0)]),
    "rx": ("rx", [(0, 1.0, 0.0)]),
    "ry": ("ry", [(0, 1.0, 0.0)]),
    "rz": ("rz", [(0, 1.0, 0.0)]),
    "p": ("p", [(0, 1.0, 0.0)]),
    "u1": ("p", [(0, 1.0, 0.0)]),
    "u": ("u", [(0, 1.0, 0.0), (1, 1.0, 0.0), (2, 1.0, 0.0)]),
    "u3": ("u", [(0, 1.0, 0.0), (1, 1.0, 0.0), (2, 1.0, 0.0)]),
    "u2": ("u", [(None, 0.0, HALF_PI), (0, 1.0, 0.0), (1, 1.0, 0.0)]),
    "r": ("u", [(0, 1.0, 0.0), (1, 1.0, -HALF_PI), (1, -1.0, HALF_PI)]),
    "global_phase": ("phase", [(0, 1.0, 0.0)]),
}


STANDARD_NAMES = frozenset(get_standard_gate_name_mapping())
"""Names of Qiskit's standard gates (simulated from their matrix when parameter-free)."""
_DENSE_CACHE: dict = {}


def dense_matrix(op) -> np.ndarray:
    """Matrix of a parameter-free gate (cached for standard gates)."""
    key = None
    if op.name in STANDARD_NAMES:
        key = (op.name, op.num_qubits, tuple(complex(p) for p in op.params))
        hit = _DENSE_CACHE.get(key)
        if hit is not None:
            return hit
    try:
        M = np.asarray(Operator(op).data, dtype=np.complex128)
    except QiskitError as e:
        raise ValueError(f"cannot simulate gate {op.name!r} on {op.num_qubits} qubits: no "
                         "matrix and no definition") from e
    if key is not None:
        _DENSE_CACHE[key] = M
    return M
