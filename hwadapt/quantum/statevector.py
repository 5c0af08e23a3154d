"""A small exact, differentiable statevector in torch for the quantum-data models.

States are ``(B, 2^n)`` complex128 tensors, qubit ``i`` = bit ``i`` of the index (Qiskit's
little-endian order). Gate matrices may carry a batch dimension ``(B, 2, 2)`` (one set of
angles per state: random-parameter sweeps) or none ``(2, 2)`` (shared angles: training).
Autograd flows through every operation.
"""

from __future__ import annotations

from functools import cache

import torch

CDTYPE = torch.complex128


def ry_matrix(theta: torch.Tensor) -> torch.Tensor:
    """``RY(θ) = exp(-iθY/2)`` as ``(..., 2, 2)`` complex (Qiskit's convention)."""
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2).to(CDTYPE)


def rz_matrix(theta: torch.Tensor) -> torch.Tensor:
    """``RZ(θ) = diag(e^{-iθ/2}, e^{iθ/2})`` as ``(..., 2, 2)`` complex."""
    e = torch.exp(-0.5j * theta.to(CDTYPE))
    z = torch.zeros_like(e)
    return torch.stack([torch.stack([e, z], -1), torch.stack([z, e.conj()], -1)], -2)


def apply_1q(state: torch.Tensor, mat: torch.Tensor, q: int) -> torch.Tensor:
    """Apply a one-qubit matrix ``(2, 2)`` or ``(B, 2, 2)`` to qubit ``q`` of ``(B, 2^n)``."""
    B = state.shape[0]
    s = state.reshape(B, -1, 2, 1 << q)
    eq = "ij,bhjl->bhil" if mat.dim() == 2 else "bij,bhjl->bhil"
    return torch.einsum(eq, mat, s).reshape(B, -1)


def rbs_matrix(theta: torch.Tensor) -> torch.Tensor:
    """``RBS(θ)`` as ``(..., 4, 4)`` complex in Qiskit's order for qubits ``(a, a+1)``
    (index ``b_a + 2 b_{a+1}``): the rotation ``[[c, s], [-s, c]]`` on indices 1, 2."""
    c, s = torch.cos(theta), torch.sin(theta)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    rows = [[one, zero, zero, zero], [zero, c, s, zero], [zero, -s, c, zero],
            [zero, zero, zero, one]]
    return torch.stack([torch.stack(r, -1) for r in rows], -2).to(CDTYPE)


def apply_2q(state: torch.Tensor, mat: torch.Tensor, a: int) -> torch.Tensor:
    """Apply a ``(4, 4)`` or ``(B, 4, 4)`` matrix to the neighbours ``(a, a+1)`` of
    ``(B, 2^n)`` (matrix index ``b_a + 2 b_{a+1}``, Qiskit's order for qubits ``[a, a+1]``)."""
    B = state.shape[0]
    s = state.reshape(B, -1, 4, 1 << a)
    eq = "ij,bhjl->bhil" if mat.dim() == 2 else "bij,bhjl->bhil"
    return torch.einsum(eq, mat, s).reshape(B, -1)


@cache
def z_signs(n: int, q: int) -> torch.Tensor:
    """``(2^n,)`` eigenvalues of ``Z_q`` (+1 where bit ``q`` is 0)."""
    idx = torch.arange(1 << n)
    return (1 - 2 * ((idx >> q) & 1)).to(torch.float64)


@cache
def cz_line_diagonal(n: int) -> torch.Tensor:
    """``(2^n,)`` diagonal of ``Π_{i<n-1} CZ(i, i+1)`` (−1 per adjacent pair of set bits)."""
    idx = torch.arange(1 << n)
    pairs = sum(((idx >> i) & 1) * ((idx >> (i + 1)) & 1) for i in range(n - 1))
    return (1 - 2 * (pairs % 2)).to(CDTYPE)


def basis_state(n: int, index: int = 0, batch: int = 1) -> torch.Tensor:
    """``(batch, 2^n)`` copies of the basis state ``|index>``."""
    out = torch.zeros(batch, 1 << n, dtype=CDTYPE)
    out[:, index] = 1
    return out


def z_expectation(state: torch.Tensor, q: int) -> torch.Tensor:
    """``<Z_q>`` of each row of ``(B, 2^n)`` divided by its squared norm: ``(B,)`` real
    (the postselected, renormalised readout)."""
    n = state.shape[-1].bit_length() - 1
    p = state.abs() ** 2
    return (p * z_signs(n, q)).sum(-1) / p.sum(-1)
