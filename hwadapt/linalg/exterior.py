"""Exterior-power actions without dense matrices: ``(⊕_k A^(k)) x`` on ``2^n`` vectors
(:func:`hamming_weight_apply`, via ``A = P L U``) and ``A^(k) x`` on ``C(n,k)`` vectors
(:func:`compound_apply`). Computational order: index ``Σ_{i∈I} 2^i`` (qubit i = bit i).
"""

from __future__ import annotations

import itertools
from functools import cache

import torch

from hwadapt.linalg.compound_matrices import compounds
from hwadapt.linalg.subsets import _num_qubits, subset_indices, subsets


@cache
def _column_tables(
    n: int, j: int, lower: bool, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tables for the exterior action of ``F = I + (v - e_j) e_j^T`` (column j replaced by v).

    ``(ΛF u)[I] = (v_j if j∈I else 1)·u[I] + Σ_{i∈I, j∉I} v_i·(-1)^p·u[I \\ i ∪ j]``, over
    ``i > j`` (``lower``) or ``i < j``; ``p`` = set bits of ``I`` strictly between i and j.
    Returns ``src (2^n, t)``, ``coef (2^n, t)`` (sign, 0 where invalid), ``has_j (2^n,)``.
    """
    idx = torch.arange(1 << n)
    bits = (idx[None, :] >> torch.arange(n)[:, None]) & 1
    others = list(range(j + 1, n)) if lower else list(range(j))
    src = torch.empty(1 << n, len(others), dtype=torch.long)
    coef = torch.zeros(1 << n, len(others), dtype=torch.float64)
    for c, i in enumerate(others):
        valid = (bits[i] == 1) & (bits[j] == 0)
        lo, hi = min(i, j), max(i, j)
        sign = 1.0 - 2.0 * (bits[lo + 1:hi].sum(0) % 2).to(torch.float64)
        src[:, c] = torch.where(valid, idx ^ (1 << i) ^ (1 << j), idx)
        coef[:, c] = sign * valid
    has_j = bits[j].to(torch.float64)
    return src.to(device), coef.to(dtype=dtype, device=device), has_j.to(dtype=dtype, device=device)


def _apply_column(u: torch.Tensor, v: torch.Tensor, j: int, lower: bool, unit: bool):
    """``Λ(I + (v - e_j) e_j^T) u`` for ``u (..., 2^n)``, ``v (..., n)`` (see _column_tables)."""
    n = v.shape[-1]
    src, coef, has_j = _column_tables(n, j, lower, v.dtype, v.device)
    out = u if unit else u * (1 + has_j * (v[..., j, None] - 1))
    if src.shape[1]:
        w = v[..., j + 1:] if lower else v[..., :j]  # (..., t)
        g = u.index_select(-1, src.flatten()).unflatten(-1, src.shape)  # (..., 2^n, t)
        out = out + (g * (coef * w[..., None, :])).sum(-1)
    return out


def _apply_permutation(u: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """``Λ(P) u`` for permutation matrices ``P (..., n, n)``: ``e_J -> sgn·e_{π(J)}``. No
    branch on the values (an identity ``P`` gathers too): no device sync on CUDA, and it
    traces (``torch.compile``, the meta device)."""
    n = P.shape[-1]
    pi = P.argmax(-2)  # (..., n): P[pi[j], j] = 1
    idx = torch.arange(1 << n, device=P.device)
    bits = (idx[None, :] >> torch.arange(n, device=P.device)[:, None]) & 1  # (n, N)
    bJ = bits[pi]  # (..., n, N): bit j of J = π^{-1}(I) is bit π(j) of I
    src = (bJ << torch.arange(n, device=P.device)[:, None]).sum(-2)  # (..., N)
    p, q = torch.triu_indices(n, n, 1, device=P.device)
    inv = (pi[..., p] > pi[..., q])  # (..., pairs): inversions of π
    count = (inv[..., :, None] & (bJ[..., p, :] == 1) & (bJ[..., q, :] == 1)).sum(-2)
    sgn = (1 - 2 * (count % 2)).to(u.dtype)
    shape = torch.broadcast_shapes(u.shape[:-1], src.shape[:-1])
    N = u.shape[-1]
    return u.expand(*shape, N).gather(-1, src.expand(*shape, N)) * sgn


def hamming_weight_apply(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``(⊕_k A^(k)) x`` in COMPUTATIONAL order without forming the ``2^n x 2^n`` matrix.

    Args:
        A: ``(..., n, n)`` real matrices (any, singular included; autograd flows).
        x: ``(..., 2^n)`` vectors, index ``Σ_{i∈I} 2^i``; batch dims broadcast with ``A``'s.
    Returns:
        ``(broadcast(...), 2^n)``, equal to
        ``x @ hamming_weight_matrix(A, "computational").mT``.
    Method: ``A = P L U`` (``torch.linalg.lu``); by Cauchy–Binet ``ΛA = ΛP ΛL ΛU``. ``U`` and
    ``L`` are products of column-replacement matrices ``I + (v - e_j) e_j^T`` whose exterior
    action is a sparse signed gather; ``ΛP`` is a signed permutation. Cost ``O(n^2·2^n)``
    per vector (versus ``4^n`` for the dense matrix).
    """
    n = A.shape[-1]
    if A.shape[-2] != n:
        raise ValueError(f"hamming_weight_apply needs square matrices, got {tuple(A.shape)}")
    _num_qubits(x.shape[-1], n)
    P, L, U = torch.linalg.lu(A)
    for j in range(n):  # U = F_{n-1} ⋯ F_0: F_0 acts first
        x = _apply_column(x, U[..., :, j], j, lower=False, unit=False)
    for j in reversed(range(n - 1)):  # L = F_0 ⋯ F_{n-2}: F_{n-2} acts first
        x = _apply_column(x, L[..., :, j], j, lower=True, unit=True)
    return _apply_permutation(x, P)


@cache
def _antisym_index(n: int, k: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor,
                                                                  torch.Tensor, torch.Tensor]:
    """For the antisymmetric-tensor path: flat positions in ``n^k`` of every permutation of
    every subset, the subset each comes from, its sign, and the sorted positions."""
    S = subsets(n, k)
    perms = list(itertools.permutations(range(k)))
    strides = [n ** (k - 1 - m) for m in range(k)]
    pos, src, sgn = [], [], []
    for s_idx, I in enumerate(S):
        for p in perms:
            inversions = sum(p[a] > p[b] for a in range(k) for b in range(a + 1, k))
            pos.append(sum(I[p[m]] * strides[m] for m in range(k)))
            src.append(s_idx)
            sgn.append(-1.0 if inversions % 2 else 1.0)
    sorted_pos = [sum(I[m] * strides[m] for m in range(k)) for I in S]
    t = (torch.tensor(pos), torch.tensor(src), torch.tensor(sgn, dtype=torch.float64),
         torch.tensor(sorted_pos))
    return tuple(v.to(device) for v in t)


def compound_apply(
    A: torch.Tensor, k: int, x: torch.Tensor, path: str = "auto"
) -> torch.Tensor:
    """``A^(k) x`` without ``C(n,k)^2`` determinants.

    Args:
        A: ``(..., n, n)`` real (autograd flows); x: ``(..., C(n,k))``, entries in
            ``subsets(n, k)`` order; batch dims broadcast.
        path: ``"tensor"`` — embed x as an antisymmetric ``n^k`` tensor, multiply every mode
            by ``A``, read the sorted entries (``k·n^(k+1)`` per vector); ``"hw"`` — embed in
            the ``2^n`` space and use :func:`hamming_weight_apply` (``n^2·2^n``);
            ``"dense"`` — :func:`compounds` then a mat-vec; ``"auto"`` picks ``"tensor"``
            when ``n^k <= 2^n``, else ``"hw"``.
    Returns:
        ``(broadcast(...), C(n,k))``.
    """
    n = A.shape[-1]
    m = len(subsets(n, k))
    if x.shape[-1] != m:
        raise ValueError(f"x has last dimension {x.shape[-1]}, expected C({n},{k}) = {m}")
    if path == "auto":
        path = "tensor" if n**k <= 1 << n else "hw"
    if path == "dense":
        return (compounds(A, k)[k] @ x[..., None])[..., 0]
    if path == "hw":
        sel = torch.tensor(subset_indices(n, k), device=x.device)
        z = x.new_zeros(*x.shape[:-1], 1 << n)
        z[..., sel] = x
        return hamming_weight_apply(A, z)[..., sel]
    if path != "tensor":
        raise ValueError(f"path must be 'auto', 'tensor', 'hw' or 'dense', got {path!r}")
    if k == 0:
        return x * torch.ones(A.shape[:-2] + (1,), dtype=A.dtype, device=A.device)
    pos, src, sgn, sorted_pos = _antisym_index(n, k, x.device)
    T = x.new_zeros(*x.shape[:-1], n**k)
    T[..., pos] = x[..., src] * sgn.to(x.dtype)
    for _ in range(k):  # multiply the leading mode by A, then rotate it to the back
        T = (A @ T.unflatten(-1, (n, n ** (k - 1)))).transpose(-1, -2).flatten(-2)
    return T[..., sorted_pos]
