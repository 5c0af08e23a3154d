"""Gate matrices. Parameterised gate kinds: how a gate's parameters become slots, which local
basis states form its block, and its block matrix, vectorised over gates and bindings; and
the dense matrix of a parameter-free gate.

A kind's block acts on the ``d`` local basis states ``locs`` of its ``qubits`` (local index
``Σ_j bit(qubits[j]) 2^j``); every other local state is left unchanged. ``matrices(a)``
maps slot values ``a (B, G, k)`` to ``(B, G, d, d)`` blocks (row = output member).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.exceptions import QiskitError
from qiskit.quantum_info import Operator

CDTYPE = torch.complex128


def _rbs(a):
    c, s = torch.cos(a[..., 0]), torch.sin(a[..., 0])
    return torch.stack([torch.stack([c, s], -1), torch.stack([-s, c], -1)], -2)


def _ry(a):
    c, s = torch.cos(a[..., 0] / 2), torch.sin(a[..., 0] / 2)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def _cis(t):
    return torch.polar(torch.ones_like(t), t)


def _xxpy(a):
    c, s = torch.cos(a[..., 0] / 2).to(CDTYPE), torch.sin(a[..., 0] / 2).to(CDTYPE)
    e = _cis(a[..., 1])
    return torch.stack([torch.stack([c, -1j * s * e.conj()], -1),
                        torch.stack([-1j * s * e, c], -1)], -2)


def _rx(a):
    c, s = torch.cos(a[..., 0] / 2).to(CDTYPE), torch.sin(a[..., 0] / 2).to(CDTYPE)
    return torch.stack([torch.stack([c, -1j * s], -1), torch.stack([-1j * s, c], -1)], -2)


def _diag(d0, d1):
    z = torch.zeros_like(d0)
    return torch.stack([torch.stack([d0, z], -1), torch.stack([z, d1], -1)], -2)


def _rz(a):
    return _diag(_cis(-a[..., 0] / 2), _cis(a[..., 0] / 2))


def _p(a):
    return _diag(torch.ones_like(a[..., 0], dtype=CDTYPE), _cis(a[..., 0]))


def _u(a):
    th, ph, la = a[..., 0], a[..., 1], a[..., 2]
    c, s = torch.cos(th / 2).to(CDTYPE), torch.sin(th / 2).to(CDTYPE)
    return torch.stack([torch.stack([c, -_cis(la) * s], -1),
                        torch.stack([_cis(ph) * s, _cis(ph + la) * c], -1)], -2)


def _phase(a):
    return _cis(a[..., 0])[..., None, None]


@dataclass(frozen=True)
class Kind:
    """A parameterised gate family (see the module docstring)."""

    name: str
    d: int
    locs: tuple[int, ...]
    real: bool
    matrices: object  # callable (B, G, k) -> (B, G, d, d)


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


def dense_matrix(op) -> torch.Tensor:
    """Matrix of a parameter-free gate (cached for standard gates)."""
    key = None
    if op.name in STANDARD_NAMES:
        key = (op.name, op.num_qubits, tuple(complex(p) for p in op.params))
        hit = _DENSE_CACHE.get(key)
        if hit is not None:
            return hit
    try:
        M = torch.as_tensor(Operator(op).data, dtype=CDTYPE)
    except QiskitError as e:
        raise ValueError(f"cannot simulate gate {op.name!r} on {op.num_qubits} qubits: no "
                         "matrix and no definition") from e
    if key is not None:
        _DENSE_CACHE[key] = M
    return M
