"""Compiled Givens products ``O(θ) = G_{m-1} ⋯ G_0`` and their reverse sweep
(:class:`GivensMatrix`, the CPU path of :func:`hwadapt.linalg.givens_matrix`)."""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from hwadapt.kernels.compounds import _FASTMATH, _numpy, first_order, opaque


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _givens_forward(angles, pairs, n):  # pragma: no cover - compiled
    """``R (B, m+1, n, n)``: ``R[:, 0] = I``, ``R[:, g+1] = G_g R[:, g]`` (rows a, b of the
    pair rotated), so ``R[:, m] = G_{m-1} ⋯ G_0`` (convention of ``givens_matrix``)."""
    B, m = angles.shape
    R = np.zeros((B, m + 1, n, n), dtype=angles.dtype)
    for t in range(B):
        for i in range(n):
            R[t, 0, i, i] = 1
        for g in range(m):
            a, b = pairs[g, 0], pairs[g, 1]
            c, s = np.cos(angles[t, g]), np.sin(angles[t, g])
            R[t, g + 1] = R[t, g]
            for j in range(n):
                ra, rb = R[t, g, a, j], R[t, g, b, j]
                R[t, g + 1, a, j] = c * ra + s * rb
                R[t, g + 1, b, j] = -s * ra + c * rb
    return R


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _givens_backward(angles, pairs, R, grad):  # pragma: no cover - compiled
    """``∂L/∂θ (B, m)`` from ``grad = ∂L/∂O (B, n, n)``: with ``Λ_g = (G_{m-1} ⋯ G_{g+1})ᵀ
    grad``, ``∂L/∂θ_g = <Λ_g, G'_g R_g>`` (rows a, b only), then ``Λ_{g-1} = G_gᵀ Λ_g``."""
    B, m = angles.shape
    n = grad.shape[1]
    out = np.zeros((B, m), dtype=angles.dtype)
    L = np.empty((n, n), dtype=angles.dtype)
    for t in range(B):
        L[:, :] = grad[t]
        for g in range(m - 1, -1, -1):
            a, b = pairs[g, 0], pairs[g, 1]
            c, s = np.cos(angles[t, g]), np.sin(angles[t, g])
            acc = c - c
            for j in range(n):
                ra, rb, la, lb = R[t, g, a, j], R[t, g, b, j], L[a, j], L[b, j]
                acc += la * (-s * ra + c * rb) + lb * (-c * ra - s * rb)
                L[a, j] = c * la - s * lb
                L[b, j] = s * la + c * lb
            out[t, g] = acc
    return out


class GivensMatrix(torch.autograd.Function):
    """``O(θ) = G_{m-1} ⋯ G_0`` for ``angles (B, m)`` and ``pairs (m, 2)`` (int64 numpy) on
    ``n`` modes, ``(B, n, n)``; the compiled path of :func:`hwadapt.linalg.givens_matrix`
    (same convention). Backward: one reverse sweep, ``O(m·n)`` per matrix; first order only
    (once_differentiable)."""

    @staticmethod
    def forward(ctx, angles, pairs, n):
        th = _numpy(angles)
        R = _givens_forward(th, pairs, n)
        ctx.th, ctx.pairs, ctx.R = th, pairs, R
        return torch.from_numpy(np.ascontiguousarray(R[:, -1]))

    @staticmethod
    @first_order
    def backward(ctx, grad):
        g = _givens_backward(ctx.th, ctx.pairs, ctx.R, _numpy(grad))
        return torch.from_numpy(g), None, None


@opaque
def givens_product(angles: torch.Tensor, pairs: np.ndarray, n: int) -> torch.Tensor:
    """:class:`GivensMatrix` of ``angles (B, m)``, :func:`~hwadapt.kernels.compounds.opaque`
    to ``torch.compile``."""
    return GivensMatrix.apply(angles, pairs, n)
