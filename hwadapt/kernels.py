"""Compiled (numba) CPU kernels: all compounds of a batch of ``n x n`` matrices in one call.

Flat layout (:func:`~hwadapt.linalg.compound_offsets`): for ``k = 0..k_max`` the
``C(n,k) x C(n,k)`` block ``A^(k)`` row-major (rows/columns = ``subsets(n, k)`` in
``combinations`` order), blocks concatenated; block ``k`` is ``[off[k], off[k+1])``, total
``Σ_k C(n,k)^2`` (``= C(2n, n)`` for ``k_max = n``).

Forward = the Laplace recursion of :func:`hwadapt.linalg.compounds` (expansion along the
last column ``j = max J``): ``A^(k)[I,J] = Σ_r (-1)^(r+k-1) A[I_r, j] A^(k-1)[I\\I_r, J\\j]``,
``Σ_k k·C(n,k)^2`` multiply-adds per matrix, exact without division (singular ``A`` fine).
Internally subsets are in *colex* order (sorted by largest element first): then the columns
``J`` with ``max J = j`` are the contiguous range ``[C(j,k), C(j,k) + C(j,k-1))`` and their
``J \\ j`` are the first ``C(j,k-1)`` columns of ``A^(k-1)``, so each term of the expansion
is one contiguous axpy (SIMD) instead of a gather; the result is permuted to
``combinations`` order at the end. Backward = reverse mode of the same recursion (axpy into
the previous level's gradient, dot product into ``gA``), about twice the forward cost.
Both loop over the batch inside the kernel (float32 and float64; ``cache=True`` keeps the
compiled code in ``__pycache__`` next to this file). The pure-torch recursion in
:mod:`hwadapt.linalg` stays the reference and the path for non-CPU devices.

:func:`block_gram`: only the diagonal-block entries of ``g^T x`` (the weight gradient of a
block-diagonal ``ΔW``, e.g. the Hamming-weight one), dot products over the batch.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import torch
from numba import njit

from hwadapt.linalg import compound_offsets, subsets

DTYPES = (torch.float32, torch.float64)
_FASTMATH = {"reassoc", "contract", "nsz"}  # lets dot products vectorise; keeps NaN/inf


@cache
def _tables(n: int) -> np.ndarray:
    """All index tables for size ``n``, packed in one int64 array (one argument to numba).

    Sections (start of each in ``tab[0:7]``): ``binom[a*(n+1)+b] = C(a,b)``; ``off`` =
    :func:`~hwadapt.linalg.compound_offsets` ``(n, n)``; ``soff[k]`` = start of level k in
    ``sub``/``rem``; ``sub[soff[k] + a*k + r]`` = ``r``-th element of the ``a``-th k-subset
    in colex order; ``rem[...]`` = colex position of that subset without its ``r``-th
    element; ``lex[q]`` = flat (combinations-order) position of colex flat position ``q``.
    """
    binom = [math.comb(a, b) for a in range(n + 1) for b in range(n + 1)]
    off = compound_offsets(n, n)
    soff, sub, rem, lex = [0], [], [], []
    for k in range(n + 1):
        colex = sorted(subsets(n, k), key=lambda s: s[::-1])
        lexpos = {s: i for i, s in enumerate(subsets(n, k))}
        prev = {s: i for i, s in enumerate(sorted(subsets(n, k - 1), key=lambda s: s[::-1]))} \
            if k else {}
        for I in colex:
            sub.extend(I)
            rem.extend(prev[I[:r] + I[r + 1:]] for r in range(k))
        soff.append(len(sub))
        m = len(colex)
        lex.extend(off[k] + lexpos[I] * m + lexpos[J] for I in colex for J in colex)
    colex = np.empty(len(lex), dtype=np.int64)
    colex[lex] = np.arange(len(lex))
    sections = [binom, off, soff, sub, rem, lex, colex]
    starts = np.cumsum([len(sections)] + [len(s) for s in sections])[:-1]
    return np.concatenate([starts, *map(np.asarray, sections)]).astype(np.int64)


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _forward_colex(A, k_max, tab):  # pragma: no cover - compiled
    """``(nb, n, n) -> (nb, N)`` all compounds up to ``k_max``, colex flat layout."""
    nb, n = A.shape[0], A.shape[1]
    binom, off, soff = tab[tab[0]:], tab[tab[1]:], tab[tab[2]:]
    sub, rem = tab[tab[3]:], tab[tab[4]:]
    W = np.zeros((nb, off[k_max + 1]), dtype=A.dtype)
    for t in range(nb):
        w, At = W[t], A[t]
        w[0] = 1
        if k_max >= 1:
            for i in range(n):
                for j in range(n):
                    w[1 + i * n + j] = At[i, j]
        for k in range(2, k_max + 1):
            m, mp, ok, op, s = binom[n * (n + 1) + k], binom[n * (n + 1) + k - 1], off[k], \
                off[k - 1], soff[k]
            for a in range(m):
                row = ok + a * m
                for r in range(k):
                    i = sub[s + a * k + r]
                    prow = op + rem[s + a * k + r] * mp
                    neg = (r + k - 1) % 2 == 1
                    for j in range(k - 1, n):
                        c = -At[i, j] if neg else At[i, j]
                        start, length = row + binom[j * (n + 1) + k], binom[j * (n + 1) + k - 1]
                        dst, src = w[start:start + length], w[prow:prow + length]
                        for q in range(length):
                            dst[q] += c * src[q]
    return W


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _to_lex(W, tab):  # pragma: no cover - compiled
    colex = tab[tab[6]:]
    out = np.empty_like(W)
    for t in range(W.shape[0]):
        w, o = W[t], out[t]
        for q in range(W.shape[1]):
            o[q] = w[colex[q]]
    return out


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _backward_colex(A, W, grad, tab):  # pragma: no cover - compiled
    """``gA`` for upstream ``grad`` (nb, N) in combinations order; ``W`` = forward (colex)."""
    nb, n, N = A.shape[0], A.shape[1], W.shape[1]
    binom, off, soff = tab[tab[0]:], tab[tab[1]:], tab[tab[2]:]
    sub, rem, lex = tab[tab[3]:], tab[tab[4]:], tab[tab[5]:]
    k_max = 0
    while off[k_max + 1] < N:
        k_max += 1
    gA = np.zeros_like(A)
    G = np.empty(N, dtype=A.dtype)
    for t in range(nb):
        w, At, gAt = W[t], A[t], gA[t]
        for q in range(N):  # to colex; lower levels then accumulate what is pushed down
            G[q] = grad[t, lex[q]]
        for k in range(k_max, 1, -1):
            m, mp, ok, op, s = binom[n * (n + 1) + k], binom[n * (n + 1) + k - 1], off[k], \
                off[k - 1], soff[k]
            for a in range(m):
                row = ok + a * m
                for r in range(k):
                    i = sub[s + a * k + r]
                    prow = op + rem[s + a * k + r] * mp
                    neg = (r + k - 1) % 2 == 1
                    for j in range(k - 1, n):
                        c = -At[i, j] if neg else At[i, j]
                        start, length = row + binom[j * (n + 1) + k], binom[j * (n + 1) + k - 1]
                        d = G[0] - G[0]
                        g, gp, src = G[start:start + length], G[prow:prow + length], \
                            w[prow:prow + length]
                        for q in range(length):
                            d += g[q] * src[q]
                            gp[q] += c * g[q]
                        gAt[i, j] += -d if neg else d
        if k_max >= 1:
            for i in range(n):
                for j in range(n):
                    gAt[i, j] += G[1 + i * n + j]
    return gA


class _CompoundsFlat(torch.autograd.Function):
    """Autograd wrapper of the kernels. The backward is ``once_differentiable``: first
    derivatives only (no double backward through the CPU kernel)."""

    @staticmethod
    def forward(ctx, A: torch.Tensor, k_max: int) -> torch.Tensor:
        An = A.detach().contiguous().numpy()
        tab = _tables(A.shape[-1])
        W = _forward_colex(An, k_max, tab)
        ctx.save_for_backward(A)
        ctx.W = W
        return torch.from_numpy(_to_lex(W, tab))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        (A,) = ctx.saved_tensors
        gA = _backward_colex(A.detach().contiguous().numpy(), ctx.W,
                             grad.contiguous().numpy(), _tables(A.shape[-1]))
        return torch.from_numpy(gA), None


def supported(A: torch.Tensor) -> bool:
    """Whether :func:`compounds_flat` handles ``A`` (a CPU float32/float64 tensor)."""
    return A.device.type == "cpu" and A.dtype in DTYPES


def compounds_flat(A: torch.Tensor, k_max: int) -> torch.Tensor:
    """All compounds ``A^(0..k_max)`` of ``A (..., n, n)`` (CPU, float32/64), flat.

    Returns ``(..., Σ_{k<=k_max} C(n,k)^2)`` in the layout of
    :func:`~hwadapt.linalg.compound_offsets`; differentiable (first order) in ``A``. No input
    checks: call :func:`hwadapt.linalg.compounds_flat`, which validates and picks this path.
    """
    n = A.shape[-1]
    batch = A.shape[:-2]
    flat = _CompoundsFlat.apply(A.reshape(math.prod(batch), n, n), k_max)
    return flat.reshape(*batch, flat.shape[-1])


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _block_gram(g, x, perm, sizes):  # pragma: no cover - compiled
    nb, dim = g.shape[0], perm.shape[0]
    gT = np.zeros((dim, nb), dtype=g.dtype)  # block order, batch contiguous
    xT = np.zeros((dim, nb), dtype=g.dtype)
    for t in range(nb):
        for p in range(dim):
            c = perm[p]
            if c < g.shape[1]:
                gT[p, t] = g[t, c]
            if c < x.shape[1]:
                xT[p, t] = x[t, c]
    total = 0
    for k in range(sizes.shape[0]):
        total += sizes[k] * sizes[k]
    out = np.empty(total, dtype=g.dtype)
    o, s = 0, 0
    for k in range(sizes.shape[0]):
        m = sizes[k]
        for a in range(m):  # dot products over the batch (SIMD)
            ga = gT[s + a]
            for b in range(m):
                xb = xT[s + b]
                acc = ga[0] - ga[0]
                for t in range(nb):
                    acc += ga[t] * xb[t]
                out[o + a * m + b] = acc
        o += m * m
        s += m
    return out


def block_gram(g: torch.Tensor, x: torch.Tensor, perm: np.ndarray,
               sizes: np.ndarray) -> torch.Tensor:
    """Only the diagonal-block entries of ``g^T x`` under a permutation (CPU, float32/64).

    Args:
        g: ``(B, d_out)``, x: ``(B, d_in)`` (same dtype); columns ``>= d`` count as zero
            (zero padding to ``dim``).
        perm: ``(dim,)`` int64, block position -> column index; sizes: ``(K,)`` block sizes
            along the block order (``Σ sizes = dim``).
    Returns:
        ``(Σ sizes^2,)``: for each block, ``(g^T x)[perm[s+a], perm[s+b]]`` row-major in
        ``(a, b)`` — the gradient of the block entries of a weight ``ΔW`` used as
        ``x @ ΔW.T`` with upstream ``g``, at ``Σ_k m_k^2 · B`` multiply-adds instead of
        ``d_out·d_in·B``.
    """
    out = _block_gram(g.detach().contiguous().numpy(), x.detach().contiguous().numpy(),
                      perm, sizes)
    return torch.from_numpy(out)
