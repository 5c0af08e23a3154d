"""Compound matrices and Hamming-weight direct sums (torch, batched, differentiable).

Conventions (DESIGN.md §1):
- Subsets ``I ⊂ {0..n-1}``, ``|I| = k``, are ordered as ``itertools.combinations(range(n), k)``.
- The basis state of ``I`` has bit ``i`` set for ``i ∈ I``; its Qiskit (little-endian)
  index is ``Σ_{i∈I} 2^i`` (qubit ``i`` = bit ``i``).
- ``A^(k)[I, J] = det(A[I, J])``, shape ``(C(n,k), C(n,k))``.
- ``hamming_weight_matrix(A)`` is ``⊕_{k=0..n} A^(k)``, shape ``(2^n, 2^n)``, in *block*
  order (k = 0..n, subsets in combinations order inside a block) or *computational*
  order (row/column ``Σ 2^i``); ``hw_permutation(n)`` maps one to the other.
"""

from __future__ import annotations

import itertools
from functools import cache

import torch

ORDERS = ("block", "computational")


@cache
def subsets(n: int, k: int) -> tuple[tuple[int, ...], ...]:
    """All ``k``-subsets of ``range(n)`` in ``itertools.combinations`` order."""
    if not 0 <= k <= n:
        raise ValueError(f"subset size k={k} must satisfy 0 <= k <= n={n}")
    return tuple(itertools.combinations(range(n), k))


@cache
def subset_indices(n: int, k: int) -> tuple[int, ...]:
    """Computational-basis indices ``Σ_{i∈I} 2^i`` of ``subsets(n, k)``, in the same order."""
    return tuple(sum(1 << i for i in s) for s in subsets(n, k))


@cache
def hw_permutation(n: int) -> tuple[int, ...]:
    """``perm[b]`` = computational index of block-order position ``b`` (length ``2^n``).

    ``H_comp[perm][:, perm] == H_block``, i.e. ``H_block = P^T H_comp P`` with
    ``P[perm[b], b] = 1``.
    """
    return tuple(i for k in range(n + 1) for i in subset_indices(n, k))


def compound_matrix(A: torch.Tensor, k: int) -> torch.Tensor:
    """``k``-th compound of ``A`` by its definition: minors ``det(A[I, J])``.

    Args:
        A: ``(..., n, n)`` tensor (batched; autograd flows).
        k: order, ``0 <= k <= n``.
    Returns:
        ``(..., C(n,k), C(n,k))``. ``k = 0`` gives ``[[1]]``.
    Cost: ``C(n,k)^2`` determinants — a reference, not for training loops.
    """
    n = A.shape[-1]
    if A.shape[-2] != n:
        raise ValueError(f"compound_matrix needs square matrices, got shape {tuple(A.shape)}")
    S = subsets(n, k)
    if k == 0:
        return torch.ones(*A.shape[:-2], 1, 1, dtype=A.dtype, device=A.device)
    idx = torch.tensor(S, device=A.device)  # (m, k)
    m = len(S)
    rows = idx[:, None, :, None].expand(m, m, k, k)
    cols = idx[None, :, None, :].expand(m, m, k, k)
    minors = A[..., rows, cols]  # (..., m, m, k, k)
    return torch.linalg.det(minors)


def hamming_weight_matrix(A: torch.Tensor, order: str = "block") -> torch.Tensor:
    """``⊕_{k=0..n} A^(k)``, shape ``(..., 2^n, 2^n)``, in ``order`` ``"block"`` or
    ``"computational"`` (see module docstring)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    n = A.shape[-1]
    blocks = [compound_matrix(A, k) for k in range(n + 1)]
    H = torch.zeros(*A.shape[:-2], 1 << n, 1 << n, dtype=A.dtype, device=A.device)
    start = 0
    for B in blocks:
        m = B.shape[-1]
        H[..., start:start + m, start:start + m] = B
        start += m
    if order == "computational":
        perm = torch.tensor(hw_permutation(n), device=A.device)
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(perm.numel(), device=A.device)
        H = H[..., inv][..., inv, :]
    return H


def givens_matrix(
    n: int, angles: torch.Tensor, layout: str | list[tuple[int, int]] = "pyramid"
) -> torch.Tensor:
    """Orthogonal ``O(θ) = G_m ⋯ G_1`` from Givens rotations on the pairs of ``layout``.

    ``G_i`` on pair ``(a, b)`` is the identity except ``G[a,a] = G[b,b] = cos θ_i``,
    ``G[a,b] = sin θ_i``, ``G[b,a] = -sin θ_i`` — exactly the action of ``RBS(θ_i)`` on
    (qubit a, qubit b) in the Hamming-weight-1 subspace. Gates apply in layout order
    (:mod:`hwadapt.circuits.layouts`), so later gates multiply on the left.

    Args:
        angles: ``(..., m)`` with ``m`` the layout's gate count (batched, differentiable).
        layout: a layout name or an explicit list of pairs.
    Returns:
        ``(..., n, n)`` orthogonal matrix.
    """
    from hwadapt.circuits.layouts import layout_pairs

    pairs = layout_pairs(n, layout) if isinstance(layout, str) else list(layout)
    if angles.shape[-1] != len(pairs):
        raise ValueError(f"layout has {len(pairs)} gates but {angles.shape[-1]} angles were given")
    O = torch.eye(n, dtype=angles.dtype, device=angles.device).expand(*angles.shape[:-1], n, n)
    c, s = torch.cos(angles), torch.sin(angles)
    for i, (a, b) in enumerate(pairs):
        ra, rb = O[..., a, :], O[..., b, :]
        ci, si = c[..., i, None], s[..., i, None]
        O = O.clone()
        O[..., a, :] = ci * ra + si * rb
        O[..., b, :] = -si * ra + ci * rb
    return O
