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

:class:`HammingDense`: the whole dense Hamming-weight layer in two compiled calls (forward:
compounds, ``α`` and the scatter into ``W0``; backward: only the diagonal-block entries of
``g^T x``, one BLAS gemm per block — ``Σ_k C(n,k)^2·B`` multiply-adds instead of ``4^n·B`` —
then the reverse recursion for ``∂A`` and ``∂α``).
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
def _reverse(At, w, G, gAt, k_max, tab):  # pragma: no cover - compiled
    """Reverse mode of the recursion for ONE matrix ``At (n, n)`` with forward ``w``
    (colex): consumes the upstream gradient ``G`` (colex, overwritten: lower levels
    accumulate what is pushed down) and adds ``∂/∂A`` into ``gAt``."""
    n = At.shape[0]
    binom, off, soff = tab[tab[0]:], tab[tab[1]:], tab[tab[2]:]
    sub, rem = tab[tab[3]:], tab[tab[4]:]
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


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _backward_colex(A, W, grad, tab):  # pragma: no cover - compiled
    """``gA`` for upstream ``grad`` (nb, N) in combinations order; ``W`` = forward (colex)."""
    nb, N = A.shape[0], W.shape[1]
    off, lex = tab[tab[1]:], tab[tab[5]:]
    k_max = 0
    while off[k_max + 1] < N:
        k_max += 1
    gA = np.zeros_like(A)
    G = np.empty(N, dtype=A.dtype)
    for t in range(nb):
        for q in range(N):  # to colex
            G[q] = grad[t, lex[q]]
        _reverse(A[t], W[t], G, gA[t], k_max, tab)
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


@njit(cache=True, nogil=True)
def _block_gram(g, x, perm, sizes):  # pragma: no cover - compiled
    nb, dim = g.shape[0], perm.shape[0]
    gT = np.zeros((dim, nb), dtype=g.dtype)  # block order; zero columns = padding
    xB = np.zeros((nb, dim), dtype=g.dtype)
    for t in range(nb):
        for p in range(dim):
            c = perm[p]
            if c < g.shape[1]:
                gT[p, t] = g[t, c]
            if c < x.shape[1]:
                xB[t, p] = x[t, c]
    total = 0
    for k in range(sizes.shape[0]):
        total += sizes[k] * sizes[k]
    out = np.empty(total, dtype=g.dtype)
    o, s = 0, 0
    for k in range(sizes.shape[0]):  # one BLAS gemm per block
        m = sizes[k]
        out[o:o + m * m] = np.dot(gT[s:s + m], np.ascontiguousarray(xB[:, s:s + m])).ravel()
        o += m * m
        s += m
    return out


# ------------------------------------------------- fused Hamming-weight layer (colex order)

@cache
def hw_colex_order(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(perm, sizes)``: ``perm (2^n,)`` = computational index ``Σ 2^i`` of each position of
    the *colex block order* (blocks ``k = 0..n``, subsets of a block in colex order, the
    kernels' internal order); ``sizes = C(n, k)``."""
    perm = [sum(1 << i for i in s) for k in range(n + 1)
            for s in sorted(subsets(n, k), key=lambda s: s[::-1])]
    return (np.array(perm, dtype=np.int64),
            np.array([math.comb(n, k) for k in range(n + 1)], dtype=np.int64))


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _hw_weight(A, alpha, W0, pos, tab):  # pragma: no cover - compiled
    """``(W0 + ΔW, F)``: ``F (R, N)`` all compounds of ``A (R, n, n)`` (colex),
    ``ΔW`` entry ``q`` = ``Σ_r α_r F[r, q]`` added at flat position ``pos[q]`` of ``W0``
    (``-1``: outside the crop)."""
    F = _forward_colex(A, A.shape[1], tab)
    W = W0.copy()
    Wf = W.reshape(-1)
    for q in range(F.shape[1]):
        p = pos[q]
        if p >= 0:
            acc = F[0, q] - F[0, q]
            for r in range(F.shape[0]):
                acc += alpha[r] * F[r, q]
            Wf[p] += acc
    return W, F


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _hw_backward(A, alpha, F, g, x, perm, sizes, tab):  # pragma: no cover - compiled
    """``(∂A, ∂α)`` of ``<g, x (W0 + ΔW)ᵀ>`` for the layer of :func:`_hw_weight`."""
    gv = _block_gram(g, x, perm, sizes)  # (N,) colex: ∂ΔW entries, 0 outside the crop
    R, N = F.shape[0], F.shape[1]
    gA = np.zeros_like(A)
    galpha = np.zeros(R, dtype=A.dtype)
    G = np.empty(N, dtype=A.dtype)
    for r in range(R):
        acc = G[0] - G[0]
        for q in range(N):
            acc += gv[q] * F[r, q]
            G[q] = alpha[r] * gv[q]
        galpha[r] = acc
        _reverse(A[r], F[r], G, gA[r], A.shape[1], tab)
    return gA, galpha


class HammingDense(torch.autograd.Function):
    """``F.linear(x, W0 + ΔW, b)`` with ``ΔW = crop(Σ_r α_r ⊕_k A_r^(k))`` in computational
    order, in two compiled calls: forward builds all compounds and adds ``ΔW`` into a copy of
    ``W0`` (no ``R x 2^n x 2^n`` tensor); backward forms only the ``C(2n,n)`` block entries
    of ``g^T x`` (one gemm per block) and runs the recursion in reverse for ``∂A``, ``∂α``.
    ``∂x = g (W0 + ΔW)``, ``∂W0 = g^T x``, ``∂b = Σ g`` only when required. First order
    only (once_differentiable).

    Args of ``apply``: ``x (B, d_in)``, ``A (R, n, n)``, ``alpha (R,)``, ``W0 (d_out, d_in)``,
    ``b (d_out,)`` or ``None``, ``pos (C(2n,n),)`` int64 numpy: flat position in ``W0`` of
    each colex block entry (:func:`hw_colex_order`), ``-1`` outside the crop.
    """

    @staticmethod
    def forward(ctx, x, A, alpha, W0, b, pos):
        n = A.shape[-1]
        An, al = A.detach().contiguous().numpy(), alpha.detach().contiguous().numpy()
        W, F = _hw_weight(An, al, W0.detach().contiguous().numpy(), pos, _tables(n))
        W = torch.from_numpy(W)
        ctx.save_for_backward(x, W)
        ctx.An, ctx.al, ctx.F = An, al, F
        return torch.nn.functional.linear(x, W, b)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        x, W = ctx.saved_tensors
        need = ctx.needs_input_grad
        n = ctx.An.shape[-1]
        gA = galpha = None
        if need[1] or need[2]:
            perm, sizes = hw_colex_order(n)
            gA, galpha = _hw_backward(ctx.An, ctx.al, ctx.F, g.contiguous().numpy(),
                                      x.detach().contiguous().numpy(), perm, sizes, _tables(n))
            gA, galpha = torch.from_numpy(gA), torch.from_numpy(galpha)
        gx = g @ W if need[0] else None
        gW0 = g.T @ x if need[3] else None
        gb = g.sum(0) if need[4] else None
        return gx, gA, galpha, gW0, gb, None


# ------------------------------------------------------------- Givens products (orthogonal)

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
        th = angles.detach().contiguous().numpy()
        R = _givens_forward(th, pairs, n)
        ctx.th, ctx.pairs, ctx.R = th, pairs, R
        return torch.from_numpy(np.ascontiguousarray(R[:, -1]))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        g = _givens_backward(ctx.th, ctx.pairs, ctx.R, grad.contiguous().numpy())
        return torch.from_numpy(g), None, None
