"""Compound matrices and Hamming-weight direct sums (torch, batched, differentiable).

- ``A^(k)[I, J] = det(A[I, J])``, shape ``(C(n,k), C(n,k))`` (subsets as in
  :mod:`hwadapt.linalg.subsets`).
- ``hamming_weight_matrix(A)`` is ``⊕_{k=0..n} A^(k)``, shape ``(2^n, 2^n)``, in *block*
  order (k = 0..n, subsets in combinations order inside a block) or *computational*
  order (row/column ``Σ 2^i``); ``hw_permutation(n)`` maps one to the other.
- :func:`compounds` / :func:`compounds_flat`: all compounds by Laplace recursion (compiled
  kernels of :mod:`hwadapt.kernels` on CPU, torch elsewhere).
"""

from __future__ import annotations

from functools import cache

import torch

from hwadapt.linalg.subsets import compound_offsets, hw_permutation, subsets

ORDERS = ("block", "computational")


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


def hamming_weight_matrix(
    A: torch.Tensor, order: str = "block", method: str = "minors"
) -> torch.Tensor:
    """``⊕_{k=0..n} A^(k)``, shape ``(..., 2^n, 2^n)``, in ``order`` ``"block"`` or
    ``"computational"`` (see module docstring).

    ``method="minors"`` (default) builds every block from its determinants (reference);
    ``method="laplace"`` uses :func:`compounds` (fast, same result to rounding)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if method not in ("minors", "laplace"):
        raise ValueError(f"method must be 'minors' or 'laplace', got {method!r}")
    n = A.shape[-1]
    if method == "laplace":
        return _hw_dense(A, order)
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


# ---------------------------------------------------------------- fast compounds (no minors)


@cache
def _laplace_index(n: int, k: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat gather indices for the Laplace step ``A^(k-1) -> A^(k)`` (``k >= 2``).

    Expansion of ``det A[I, J]`` along its last column ``j = max J``:
    ``A^(k)[I,J] = Σ_r (-1)^(r+k-1) A[I_r, j] · A^(k-1)[I \\ I_r, J \\ j]``.
    Returns ``(ia, ip)``, each ``(C(n,k), k, C(n,k))``: ``ia`` indexes the flattened
    ``stack([A, -A])`` (sign folded in), ``ip`` the flattened ``A^(k-1)``.
    """
    Sk, Sp = subsets(n, k), subsets(n, k - 1)
    pos = {s: i for i, s in enumerate(Sp)}
    rows = torch.tensor(Sk)  # (C, k): I_r
    rem = torch.tensor([[pos[I[:r] + I[r + 1:]] for r in range(k)] for I in Sk])  # (C, k)
    last = rows[:, -1]  # (C,): max J
    remJ = torch.tensor([pos[J[:-1]] for J in Sk])  # (C,)
    neg = torch.tensor([(r + k - 1) % 2 for r in range(k)])  # (k,): 1 -> use -A
    ia = neg[None, :, None] * n * n + rows[:, :, None] * n + last[None, None, :]
    ip = rem[:, :, None] * len(Sp) + remJ[None, None, :]
    return ia.to(device), ip.to(device)


def compounds(A: torch.Tensor, k_max: int | None = None) -> list[torch.Tensor]:
    """All compounds ``[A^(0), ..., A^(k_max)]`` (default ``k_max = n``) by Laplace recursion.

    Args:
        A: ``(..., n, n)`` (batched; autograd flows).
    Returns:
        list of ``(..., C(n,k), C(n,k))`` tensors, subsets in ``combinations`` order (views of
        :func:`compounds_flat`).
    Cost ``Σ_k k·C(n,k)^2`` multiply-adds (``n/2·C(2n,n)`` for all ``k``), versus
    ``C(n,k)^2`` determinants for :func:`compound_matrix`; exact, no division (works for
    singular ``A``).
    """
    n = A.shape[-1]
    flat = compounds_flat(A, k_max)
    off = compound_offsets(n, n if k_max is None else k_max)
    return [flat[..., off[k]:off[k + 1]].unflatten(-1, (len(subsets(n, k)),) * 2)
            for k in range(len(off) - 1)]


def compounds_flat(A: torch.Tensor, k_max: int | None = None) -> torch.Tensor:
    """All compounds of ``A (..., n, n)`` up to ``k_max`` (default ``n``), flattened and
    concatenated: ``(..., Σ_{k<=k_max} C(n,k)^2)``, block ``k`` = ``A^(k)`` row-major
    (``C(2n, n)`` entries for ``k_max = n``).

    CPU float32/float64 tensors use the compiled kernels of :mod:`hwadapt.kernels` (first
    derivatives only); other devices/dtypes the pure-torch recursion
    (:func:`_compounds_torch`, the reference, any order of derivatives).
    """
    n = A.shape[-1]
    if A.shape[-2] != n:
        raise ValueError(f"compounds needs square matrices, got shape {tuple(A.shape)}")
    k_max = n if k_max is None else k_max
    if not 0 <= k_max <= n:
        raise ValueError(f"k_max={k_max} must satisfy 0 <= k_max <= n={n}")
    from hwadapt import kernels  # lazy: numba is imported on first use only

    if kernels.supported(A):
        return kernels.compounds_flat(A, k_max)
    return torch.cat([B.flatten(-2) for B in _compounds_torch(A, k_max)], -1)




def _compounds_torch(A: torch.Tensor, k_max: int) -> list[torch.Tensor]:
    """Pure-torch Laplace recursion (reference for the kernels; any device, full autograd).

    Same contract as :func:`compounds` with ``0 <= k_max <= n`` already checked."""
    n = A.shape[-1]
    out = [torch.ones(*A.shape[:-2], 1, 1, dtype=A.dtype, device=A.device)]
    if k_max >= 1:
        out.append(A)
    A2 = torch.stack([A, -A], -3).flatten(-3) if k_max >= 2 else A
    for k in range(2, k_max + 1):
        ia, ip = _laplace_index(n, k, A.device)  # index_select: much faster than A2[..., ia]
        Ag = A2.index_select(-1, ia.flatten()).unflatten(-1, ia.shape)
        Pg = out[-1].flatten(-2).index_select(-1, ip.flatten()).unflatten(-1, ip.shape)
        out.append((Ag * Pg).sum(-2))
    return out


@cache
def _hw_positions(n: int, order: str, device: torch.device) -> torch.Tensor:
    """Flat positions in a ``2^n x 2^n`` matrix of the concatenated flattened blocks."""
    perm = hw_permutation(n) if order == "computational" else tuple(range(1 << n))
    pos, start = [], 0
    for k in range(n + 1):
        idx = torch.tensor(perm[start:start + len(subsets(n, k))])
        pos.append((idx[:, None] * (1 << n) + idx[None, :]).flatten())
        start += len(idx)
    return torch.cat(pos).to(device)


def _hw_dense(A: torch.Tensor, order: str) -> torch.Tensor:
    n = A.shape[-1]
    vals = compounds_flat(A)
    H = A.new_zeros(*A.shape[:-2], 1 << (2 * n))  # index_copy: backward is an index_select
    H = H.index_copy(-1, _hw_positions(n, order, A.device), vals)
    return H.unflatten(-1, (1 << n, 1 << n))
