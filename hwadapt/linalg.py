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

import numpy as np
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


def block_entries(perm: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` in the ``2^n x 2^n`` computational-order matrix of every entry of the
    blocks ``⊕_k A^(k)``, each block row-major, for a block order ``perm`` (block position ->
    computational index, e.g. ``hw_permutation(n)``) with block sizes ``sizes``."""
    starts = np.cumsum(sizes) - sizes
    rows = [np.repeat(perm[s:s + m], m) for s, m in zip(starts, sizes, strict=True)]
    cols = [np.tile(perm[s:s + m], m) for s, m in zip(starts, sizes, strict=True)]
    return np.concatenate(rows), np.concatenate(cols)


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
        layout: a layout name or an explicit list of pairs ``(a, b)``, ``0 <= a < b < n``.
    Returns:
        ``(..., n, n)`` orthogonal matrix. CPU float32/float64 angles use the compiled
        :class:`hwadapt.kernels.GivensMatrix` (first derivatives only); other devices and
        dtypes the pure-torch product tree (:func:`_givens_torch`, the reference).
    """
    pairs = _layout_pairs(n, layout)  # validated: the kernel does not bounds-check
    if angles.shape[-1] != len(pairs):
        raise ValueError(f"layout has {len(pairs)} gates but {angles.shape[-1]} angles were given")
    from hwadapt import kernels  # lazy: numba is imported on first use only

    if kernels.supported(angles) and pairs:
        batch = angles.shape[:-1]
        O = kernels.GivensMatrix.apply(angles.reshape(-1, len(pairs)), _pairs_array(pairs), n)
        return O.reshape(*batch, n, n)
    return _givens_torch(n, angles, pairs)


@cache
def _pairs_array(pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _givens_torch(n: int, angles: torch.Tensor, pairs: tuple[tuple[int, int], ...]
                  ) -> torch.Tensor:
    """Pure-torch :func:`givens_matrix` (reference for the kernel; any device, full autograd):
    all ``m`` Givens matrices at once, then a balanced product tree (log2 m batched matmuls)."""
    D, S = _givens_basis(n, pairs, angles.dtype, angles.device)
    eye = torch.eye(n, dtype=angles.dtype, device=angles.device)
    c, s = torch.cos(angles)[..., None, None], torch.sin(angles)[..., None, None]
    G = eye + (c - 1) * D + s * S  # (..., m, n, n), application order along -3
    while G.shape[-3] > 1:
        if G.shape[-3] % 2:  # pad with an identity applied last
            G = torch.cat([G, eye.expand(*G.shape[:-3], 1, n, n)], -3)
        G = G[..., 1::2, :, :] @ G[..., 0::2, :, :]
    return G[..., 0, :, :] if G.shape[-3] else eye.expand(*angles.shape[:-1], n, n)


@cache
def _givens_basis(
    n: int, pairs: tuple[tuple[int, int], ...], dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``D, S (m, n, n)``: ``G_i = I + (cos θ_i - 1) D_i + sin θ_i S_i`` (see givens_matrix)."""
    D = torch.zeros(len(pairs), n, n, dtype=dtype)
    S = torch.zeros_like(D)
    for g, (a, b) in enumerate(pairs):
        D[g, a, a] = D[g, b, b] = 1
        S[g, a, b], S[g, b, a] = 1, -1
    return D.to(device), S.to(device)


def _layout_pairs(n: int, layout: str | list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """The gate pairs of a layout name (cached) or of an explicit list, checked
    ``0 <= a < b < n``."""
    if isinstance(layout, str):
        return _named_layout_pairs(n, layout)
    pairs = tuple((int(a), int(b)) for a, b in layout)
    for a, b in pairs:
        if not 0 <= a < b < n:
            raise ValueError(f"gate pair {(a, b)} must satisfy 0 <= a < b < n={n}")
    return pairs


@cache
def _named_layout_pairs(n: int, layout: str) -> tuple[tuple[int, int], ...]:
    from hwadapt.circuits.layouts import layout_pairs

    return _layout_pairs(n, layout_pairs(n, layout))


def _num_qubits(dim: int, n: int | None) -> int:
    if dim < 1 or dim & (dim - 1):
        raise ValueError(f"last dimension must be 2^n, got {dim}: pad the vectors to a power of 2")
    nq = dim.bit_length() - 1
    if n is not None and n != nq:
        raise ValueError(f"n={n} does not match the last dimension {dim} (= 2^{nq})")
    return nq


@cache
def _givens_masks(
    n: int, pairs: tuple[tuple[int, int], ...], dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(M, S)``, each ``(m, 2^n)``: ``M`` = 1 where bits a, b of the index differ;
    ``S`` = ``+(-1)^p`` where bit a = 1, bit b = 0, ``-(-1)^p`` where a = 0, b = 1, else 0."""
    idx = torch.arange(1 << n)
    bits = (idx[None, :] >> torch.arange(n)[:, None]) & 1  # (n, 2^n)
    M = torch.zeros(len(pairs), 1 << n, dtype=torch.float64)
    S = torch.zeros_like(M)
    for g, (a, b) in enumerate(pairs):
        u = (bits[a] == 1) & (bits[b] == 0)
        w = (bits[a] == 0) & (bits[b] == 1)
        parity = bits[a + 1:b].sum(0) % 2
        sign = 1.0 - 2.0 * parity.to(torch.float64)
        M[g] = (u | w).to(torch.float64)
        S[g] = sign * (u.to(torch.float64) - w.to(torch.float64))
    return M.to(dtype=dtype, device=device), S.to(dtype=dtype, device=device)


def givens_apply(
    x: torch.Tensor,
    angles: torch.Tensor,
    layout: str | list[tuple[int, int]] = "pyramid",
    n: int | None = None,
) -> torch.Tensor:
    """Apply the RBS/FBS gate sequence of ``layout`` to state vectors, without dense matrices.

    Args:
        x: ``(..., 2^n)`` vectors in COMPUTATIONAL order (index ``Σ 2^i``, qubit i = bit i);
            real or complex.
        angles: ``(..., m)``, one angle per gate in layout (= application) order; batch
            dimensions broadcast with those of ``x``.
        layout: a layout name (:mod:`hwadapt.circuits.layouts`) or explicit pairs ``(a, b)``.
        n: number of qubits (optional check; inferred from ``x``).
    Returns:
        ``(broadcast(...), 2^n)``. Per gate on ``(a, b)``, ``a < b``: amplitude ``u`` (bit a=1,
        bit b=0) and its partner ``w`` (bit a=0, bit b=1) become ``u' = c·u + s·w``,
        ``w' = -s·u + c·w`` with ``c = cos θ``, ``s = sin θ·(-1)^p``, ``p`` = set bits strictly
        between a and b (FBS sign; ``p = 0`` for neighbours, i.e. RBS). The result equals
        ``hamming_weight_matrix(givens_matrix(n, angles, layout), "computational") @ x`` for
        every layout. Cost ``O(m·2^n)``; autograd flows to ``x`` and ``angles``.
    """
    nq = _num_qubits(x.shape[-1], n)
    pairs = _layout_pairs(nq, layout)
    if angles.shape[-1] != len(pairs):
        raise ValueError(f"layout has {len(pairs)} gates but {angles.shape[-1]} angles were given")
    if not pairs:
        return x
    real = angles.dtype if not angles.is_complex() else angles.real.dtype
    M, S = _givens_masks(nq, pairs, real, angles.device)
    C = 1 + (torch.cos(angles)[..., None] - 1) * M  # (..., m, 2^n)
    Sn = torch.sin(angles)[..., None] * S
    for g, (a, b) in enumerate(pairs):
        batch = x.shape[:-1]
        xf = x.reshape(*batch, *(2,) * nq).flip((-1 - a, -1 - b)).reshape(*batch, 1 << nq)
        x = torch.addcmul(C[..., g, :] * x, Sn[..., g, :], xf)
    return x


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


@cache
def compound_offsets(n: int, k_max: int) -> tuple[int, ...]:
    """Offsets (length ``k_max + 2``) of the blocks of :func:`compounds_flat`: block ``k``
    is ``[off[k], off[k+1])``, ``off[k+1] - off[k] = C(n,k)^2``."""
    off = [0]
    for k in range(k_max + 1):
        off.append(off[-1] + len(subsets(n, k)) ** 2)
    return tuple(off)


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
    """``Λ(P) u`` for permutation matrices ``P (..., n, n)``: ``e_J -> sgn·e_{π(J)}``."""
    n = P.shape[-1]
    pi = P.argmax(-2)  # (..., n): P[pi[j], j] = 1
    if bool((pi == torch.arange(n, device=P.device)).all()):
        return u
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
