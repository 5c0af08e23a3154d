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
is one contiguous axpy (SIMD) instead of a gather. The axpys are tabulated once per ``n``
(:class:`_Plan`); the forward runs the table in order and permutes the result to
``combinations`` order, the backward runs it in reverse (axpy into the previous level's
gradient, dot product into ``gA``), about twice the forward cost.
Both loop over the batch inside the kernel (float32 and float64; ``cache=True`` keeps the
compiled code in ``__pycache__`` next to this file). The pure-torch recursion in
:mod:`hwadapt.linalg` stays the reference and the path for non-CPU devices.

:class:`HammingDense` / :class:`HammingBlocks`: the whole Hamming-weight layer in one
compiled call each way (forward: compounds and ``α``, then the scatter into ``W0`` or one
gemm per block on the inputs; backward: only the diagonal-block entries of ``gᵀ x``, one
torch gemm per block — ``Σ_k C(n,k)^2·B`` multiply-adds instead of ``4^n·B``, on torch's
thread pool, no BLAS call inside numba — then the reverse recursion for ``∂A`` and ``∂α``).
Their index tables are built once per ``(n, d_in, d_out, device)`` (:func:`block_index`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from numba import njit

from hwadapt.linalg.subsets import block_entries, compound_offsets, subsets

DTYPES = (torch.float32, torch.float64)
_FASTMATH = {"reassoc", "contract", "nsz"}  # lets dot products vectorise; keeps NaN/inf


@dataclass(frozen=True)
class _Plan:
    """Precomputed recursion for size ``n`` up to level ``k_max`` (colex order inside every
    block; ``N = Σ_{k<=k_max} C(n,k)^2`` entries).

    ``terms (T, 5)`` int32, one row per axpy of the Laplace expansion, ordered by level:
    ``(dst, src, length, i·n + j, sign)`` means ``W[dst:dst+length] += sign·A[i, j] ·
    W[src:src+length]`` (flat colex layout). ``lex[q]``: combinations-order flat position of
    colex position ``q``; ``colex``: its inverse.
    """

    terms: np.ndarray
    lex: np.ndarray
    colex: np.ndarray

    @property
    def size(self) -> int:
        return len(self.lex)


@cache
def _colex(n: int, k: int) -> tuple[tuple[int, ...], ...]:
    """``subsets(n, k)`` in colex order (largest element first), the kernels' block order."""
    return tuple(sorted(subsets(n, k), key=lambda s: s[::-1]))


@cache
def _plan(n: int, k_max: int) -> _Plan:
    """The plan of levels ``0..k_max`` only (``k_max = 2`` of a ``24 x 24`` matrix needs
    ``276^2`` entries, not ``C(48, 24)``)."""
    off = compound_offsets(n, k_max)
    order = [_colex(n, k) for k in range(k_max + 1)]
    where = [{s: i for i, s in enumerate(o)} for o in order]
    terms, lex = [], []
    for k in range(k_max + 1):
        m = len(order[k])
        lexpos = {s: i for i, s in enumerate(subsets(n, k))}
        lex.extend(off[k] + lexpos[I] * m + lexpos[J] for I in order[k] for J in order[k])
        if k < 2:
            continue
        mp = len(order[k - 1])
        for a, I in enumerate(order[k]):  # along the last column j = max J
            for r in range(k):
                src = off[k - 1] + where[k - 1][I[:r] + I[r + 1:]] * mp
                for j in range(k - 1, n):  # J with max J = j: colex range [C(j,k), C(j+1,k))
                    terms.append((off[k] + a * m + math.comb(j, k), src, math.comb(j, k - 1),
                                  I[r] * n + j, 1 - 2 * ((r + k - 1) % 2)))
    lex = np.array(lex, dtype=np.int64)
    colex = np.empty_like(lex)
    colex[lex] = np.arange(len(lex))
    return _Plan(np.array(terms, dtype=np.int32).reshape(-1, 5), lex, colex)


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _forward_colex(A, terms, N):  # pragma: no cover - compiled
    """``(nb, n, n) -> (nb, N)``: the compounds of a plan (``terms``, ``N`` entries), colex."""
    nb, n = A.shape[0], A.shape[1]
    W = np.zeros((nb, N), dtype=A.dtype)
    for t in range(nb):
        w, Af = W[t], A[t].ravel()
        w[0] = 1
        for e in range(min(n * n, N - 1)):
            w[1 + e] = Af[e]
        for e in range(terms.shape[0]):
            d, s, L, ij = terms[e, 0], terms[e, 1], terms[e, 2], terms[e, 3]
            c = Af[ij] if terms[e, 4] > 0 else -Af[ij]
            dst, src = w[d:d + L], w[s:s + L]
            for q in range(L):
                dst[q] += c * src[q]
    return W


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _to_lex(W, colex):  # pragma: no cover - compiled
    out = np.empty_like(W)
    for t in range(W.shape[0]):
        w, o = W[t], out[t]
        for q in range(W.shape[1]):
            o[q] = w[colex[q]]
    return out


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _reverse(Af, w, G, gAf, terms):  # pragma: no cover - compiled
    """Reverse mode for ONE matrix (``Af``: ``A`` raveled) with forward ``w`` (colex):
    consumes the upstream gradient ``G`` (colex, overwritten: lower levels accumulate what
    is pushed down) and adds ``∂/∂A`` (raveled) into ``gAf``."""
    for e in range(terms.shape[0] - 1, -1, -1):
        d, s, L, ij = terms[e, 0], terms[e, 1], terms[e, 2], terms[e, 3]
        c = Af[ij] if terms[e, 4] > 0 else -Af[ij]
        g, gp, src = G[d:d + L], G[s:s + L], w[s:s + L]
        acc = g[0] * src[0]  # L >= 1
        gp[0] += c * g[0]
        for q in range(1, L):
            acc += g[q] * src[q]
            gp[q] += c * g[q]
        gAf[ij] += acc if terms[e, 4] > 0 else -acc
    for e in range(min(Af.shape[0], G.shape[0] - 1)):
        gAf[e] += G[1 + e]


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _backward_colex(A, W, grad, lex, terms):  # pragma: no cover - compiled
    """``gA`` for upstream ``grad`` (nb, N) in combinations order; ``W`` = forward (colex)."""
    nb, N = A.shape[0], W.shape[1]
    gA = np.zeros_like(A)
    G = np.empty(N, dtype=A.dtype)
    for t in range(nb):
        for q in range(N):  # to colex
            G[q] = grad[t, lex[q]]
        _reverse(A[t].ravel(), W[t], G, gA[t].ravel(), terms)
    return gA


class _CompoundsFlat(torch.autograd.Function):
    """Autograd wrapper of the kernels. The backward is ``once_differentiable``: first
    derivatives only (no double backward through the CPU kernel)."""

    @staticmethod
    def forward(ctx, A: torch.Tensor, k_max: int) -> torch.Tensor:
        plan = _plan(A.shape[-1], k_max)
        An = A.detach().contiguous().numpy()
        W = _forward_colex(An, plan.terms, plan.size)
        ctx.An, ctx.W, ctx.plan = An, W, plan
        return torch.from_numpy(_to_lex(W, plan.colex))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        gA = _backward_colex(ctx.An, ctx.W, grad.contiguous().numpy(), ctx.plan.lex,
                             ctx.plan.terms)
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


# ------------------------------------------------- fused Hamming-weight layer (colex order)

@cache
def hw_colex_order(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(perm, sizes)``: ``perm (2^n,)`` = computational index ``Σ 2^i`` of each position of
    the *colex block order* (blocks ``k = 0..n``, subsets of a block in colex order, the
    kernels' internal order); ``sizes = C(n, k)``."""
    perm = [sum(1 << i for i in s) for k in range(n + 1) for s in _colex(n, k)]
    return (np.array(perm, dtype=np.int64),
            np.array([math.comb(n, k) for k in range(n + 1)], dtype=np.int64))


@dataclass(frozen=True)
class BlockIndex:
    """Tables of the fused Hamming-weight layer for ``(n, d_in, d_out)`` on one device, in
    the *colex block order* (:func:`hw_colex_order`); built once (:func:`block_index`).

    ``sizes``/``squares``: ``C(n,k)`` / ``C(n,k)^2``, ``k = 0..n``. ``src_in (2^n,)``: for
    each block position, the column of ``x`` padded by ONE zero column (index ``d_in``:
    positions outside the crop); ``src_out`` the same for ``d_out``. ``to_in (d_in,)`` /
    ``to_out (d_out,)``: block position of each input / output feature. ``pos (C(2n,n),)``
    int64 numpy: flat position in ``W0 (d_out, d_in)`` of each colex block entry, ``-1``
    outside the crop. ``terms``: the compound recursion (:func:`_plan` ``(n, n)``);
    ``perm``, ``block_sizes``: :func:`hw_colex_order` (numpy, for the compiled gram).
    """

    sizes: tuple[int, ...]
    squares: tuple[int, ...]
    src_in: torch.Tensor
    src_out: torch.Tensor
    to_in: torch.Tensor
    to_out: torch.Tensor
    pos: np.ndarray
    terms: np.ndarray
    perm: np.ndarray
    block_sizes: np.ndarray


@cache
def block_index(n: int, d_in: int, d_out: int, device: torch.device) -> BlockIndex:
    """The :class:`BlockIndex` of ``n`` qubits cropped to ``d_out x d_in`` on ``device``."""
    perm, sizes = hw_colex_order(n)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    rows, cols = block_entries(perm, sizes)
    pos = np.where((rows < d_out) & (cols < d_in), rows * d_in + cols, -1).astype(np.int64)

    def dev(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).to(device)

    return BlockIndex(tuple(sizes.tolist()), tuple((sizes**2).tolist()),
                      dev(np.minimum(perm, d_in)), dev(np.minimum(perm, d_out)),
                      dev(inv[:d_in]), dev(inv[:d_out]), pos, _plan(n, n).terms, perm, sizes)


def _to_blocks(x: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """``x (B, d)`` -> ``(B, 2^n)``, columns in block order (``src`` of :class:`BlockIndex`),
    zero columns outside the crop (one zero column appended when ``d < 2^n``)."""
    if x.shape[1] < len(src):
        x = torch.nn.functional.pad(x, (0, 1))
    return x.index_select(1, src)


def _block_gram(gB: torch.Tensor, xB: torch.Tensor, ix: BlockIndex) -> torch.Tensor:
    """The diagonal blocks of ``gBᵀ xB`` (both ``(B, 2^n)`` in block order), flat
    ``(C(2n,n),)``, each block row-major: one torch gemm per block (torch's thread pool;
    numba's ``np.dot`` ran on SciPy's own OpenBLAS pool and was ~10x slower at ``n = 12``),
    ``Σ_k C(n,k)^2·B`` multiply-adds instead of ``4^n·B``."""
    out = gB.new_empty(sum(ix.squares))
    for gk, xk, ok, m in zip(gB.split(ix.sizes, 1), xB.split(ix.sizes, 1),
                             out.split(ix.squares), ix.sizes, strict=True):
        torch.mm(gk.T, xk, out=ok.view(m, m))
    return out


def _block_apply(v: torch.Tensor, zB: torch.Tensor, ix: BlockIndex,
                 transpose: bool = False) -> torch.Tensor:
    """``(⊕_k V_k) zBᵀ`` (or with every ``V_kᵀ``), shape ``(2^n, B)``, for the flat blocks
    ``v (C(2n,n),)`` and ``zB (B, 2^n)`` in block order; one gemm per block."""
    out = zB.new_empty(zB.shape[::-1])
    for vk, zk, ok, m in zip(v.split(ix.squares), zB.split(ix.sizes, 1), out.split(ix.sizes),
                             ix.sizes, strict=True):
        V = vk.view(m, m)
        torch.mm(V.T if transpose else V, zk.T, out=ok)
    return out


@njit(cache=True, nogil=True)
def _block_gram_compiled(g, x, perm, sizes):  # pragma: no cover - compiled
    """:func:`_block_gram` from ``g (B, d_out)``, ``x (B, d_in)`` (gathered here, block
    order ``perm`` with ``sizes``) inside numba, for the dense path's small blocks
    (``n <= 10``), where torch's per-call overhead over ``n + 1`` gemms cost more than the
    gemms at ``n = 8``; numba's ``np.dot`` runs on SciPy's OpenBLAS pool (threadpoolctl sets
    it, ``torch.set_num_threads`` does not) and is ~10x slower than torch at ``n = 12``."""
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


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _hw_combined(A, alpha, terms, N):  # pragma: no cover - compiled
    """``(F, v)``: ``F (R, N)`` all compounds of ``A (R, n, n)`` (colex), ``v = α @ F``."""
    F = _forward_colex(A, terms, N)
    v = np.zeros(N, dtype=A.dtype)
    for r in range(F.shape[0]):
        a, f = alpha[r], F[r]
        for q in range(N):
            v[q] += a * f[q]
    return F, v


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _hw_weight(A, alpha, W0, pos, terms):  # pragma: no cover - compiled
    """``(W0 + ΔW, F)``: ``F, v`` of :func:`_hw_combined`, ``v[q]`` added at flat position
    ``pos[q]`` of a copy of ``W0`` (``-1``: outside the crop)."""
    F, v = _hw_combined(A, alpha, terms, pos.shape[0])
    W = W0.copy()
    Wf = W.reshape(-1)
    for q in range(pos.shape[0]):
        p = pos[q]
        if p >= 0:
            Wf[p] += v[q]
    return W, F


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _hw_backward(A, alpha, F, g, x, perm, sizes, terms):  # pragma: no cover - compiled
    """:func:`_hw_reverse` of :func:`_block_gram_compiled` in one compiled call."""
    return _hw_reverse(A, alpha, F, _block_gram_compiled(g, x, perm, sizes), terms)


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _hw_reverse(A, alpha, F, gv, terms):  # pragma: no cover - compiled
    """``(∂A, ∂α)`` from ``gv (N,)`` = ``∂L/∂v`` (colex block entries) for ``v = α @ F``."""
    R, N = F.shape[0], F.shape[1]
    gA = np.zeros_like(A)
    galpha = np.zeros(R, dtype=A.dtype)
    G = np.empty(N, dtype=A.dtype)
    for r in range(R):
        acc = gv[0] * F[r, 0]  # N >= 1; G (np.empty) is written before it is read
        G[0] = alpha[r] * gv[0]
        for q in range(1, N):
            acc += gv[q] * F[r, q]
            G[q] = alpha[r] * gv[q]
        galpha[r] = acc
        _reverse(A[r].ravel(), F[r], G, gA[r].ravel(), terms)
    return gA, galpha


def _numpy(t: torch.Tensor) -> np.ndarray:
    """A contiguous numpy view (a copy only when ``t`` is not contiguous, e.g. an expanded
    upstream gradient)."""
    t = t.detach()
    return (t if t.is_contiguous() else t.contiguous()).numpy()


class HammingDense(torch.autograd.Function):
    """``F.linear(x, W0 + ΔW, b)`` with ``ΔW = crop(Σ_r α_r ⊕_k A_r^(k))`` in computational
    order: forward builds all compounds and adds ``ΔW`` into a copy of ``W0`` in one compiled
    call (no ``R x 2^n x 2^n`` tensor); backward forms only the ``C(2n,n)`` block entries of
    ``gᵀ x`` (:func:`_block_gram_compiled`) and runs the recursion in reverse for ``∂A``,
    ``∂α``, in one compiled call.
    ``∂x = g (W0 + ΔW)``, ``∂W0 = gᵀ x``, ``∂b = Σ g`` only when required. First order
    only (once_differentiable).

    Args of ``apply``: ``x (B, d_in)``, ``A (R, n, n)``, ``alpha (R,)``, ``W0 (d_out, d_in)``,
    ``b (d_out,)`` or ``None``, ``ix`` = :func:`block_index` ``(n, d_in, d_out, x.device)``.
    """

    @staticmethod
    def forward(ctx, x, A, alpha, W0, b, ix):
        An, al = _numpy(A), _numpy(alpha)
        W, F = _hw_weight(An, al, _numpy(W0), ix.pos, ix.terms)
        W = torch.from_numpy(W)
        ctx.save_for_backward(x, W)
        ctx.An, ctx.al, ctx.F, ctx.ix = An, al, F, ix
        return torch.nn.functional.linear(x, W, b)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        x, W = ctx.saved_tensors
        need, ix = ctx.needs_input_grad, ctx.ix
        gA = galpha = None
        if need[1] or need[2]:
            gA, galpha = _hw_backward(ctx.An, ctx.al, ctx.F, _numpy(g), _numpy(x), ix.perm,
                                      ix.block_sizes, ix.terms)
            gA, galpha = torch.from_numpy(gA), torch.from_numpy(galpha)
        gx = g @ W if need[0] else None
        gW0 = g.T @ x if need[3] else None
        gb = g.sum(0) if need[4] else None
        return gx, gA, galpha, gW0, gb, None


class HammingBlocks(torch.autograd.Function):
    """Same layer as :class:`HammingDense` without any ``d_out x d_in`` ``ΔW``:
    ``y = F.linear(x, W0, b) + ΔW x`` with ``ΔW x`` one gemm per block ``V_k`` on the inputs
    gathered into block order (``Σ_k C(n,k)^2`` multiply-adds per vector instead of
    ``d_out·d_in``). Backward: :func:`_block_gram` and the reverse recursion for ``∂A``,
    ``∂α``; ``∂x = g W0 + ΔWᵀ g`` (blocks transposed), ``∂W0``, ``∂b`` only when required.
    Same ``apply`` arguments as :class:`HammingDense`; first order only.
    """

    @staticmethod
    def forward(ctx, x, A, alpha, W0, b, ix):
        An, al = _numpy(A), _numpy(alpha)
        F, v = _hw_combined(An, al, ix.terms, len(ix.pos))
        v = torch.from_numpy(v)
        xB = _to_blocks(x.detach(), ix.src_in)
        y = torch.nn.functional.linear(x, W0, b)
        y += _block_apply(v, xB, ix).index_select(0, ix.to_out).T
        ctx.save_for_backward(x, W0)
        ctx.An, ctx.al, ctx.F, ctx.ix, ctx.v, ctx.xB = An, al, F, ix, v, xB
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        x, W0 = ctx.saved_tensors
        need, ix = ctx.needs_input_grad, ctx.ix
        gB = _to_blocks(g, ix.src_out)
        gA = galpha = gx = None
        if need[1] or need[2]:
            gv = _block_gram(gB, ctx.xB, ix)
            gA, galpha = _hw_reverse(ctx.An, ctx.al, ctx.F, gv.numpy(), ix.terms)
            gA, galpha = torch.from_numpy(gA), torch.from_numpy(galpha)
        if need[0]:
            gx = g @ W0
            gx += _block_apply(ctx.v, gB, ix, transpose=True).index_select(0, ix.to_in).T
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
