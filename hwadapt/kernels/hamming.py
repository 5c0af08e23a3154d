"""Fused Hamming-weight layer (:class:`HammingDense`, :class:`HammingBlocks`): the whole
``y = x (W0 + ΔW)ᵀ + b``, ``ΔW = crop(Σ_r α_r ⊕_k A_r^(k))``, in one compiled call each way.
Forward: all compounds and ``α`` (:func:`_hw_combined`), then ``W0 + ΔW`` written row by
row (dense) or one BLAS gemm per block on the gathered inputs (blocks,
:func:`_block_gemms`). Backward: only the diagonal-block entries of ``gᵀ x``
(``Σ_k C(n,k)^2·B`` multiply-adds instead of ``4^n·B``), then the reverse recursion for
``∂A`` and ``∂α``. Blocks in *colex block order* (:func:`hw_colex_order`); index tables
built once per ``(n, d_in, d_out)`` (:func:`block_index`). CPU only: other devices take
the torch paths of :class:`hwadapt.adapters.hamming.HammingLayer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from numba import njit

from hwadapt.kernels.blas import _gemm
from hwadapt.kernels.compounds import (
    _FASTMATH,
    _alloc,
    _colex,
    _forward_colex,
    _forward_groups,
    _numpy,
    _Plan,
    _plan,
    _reverse,
    _start,
    first_order,
    opaque,
)
from hwadapt.kernels.pool import POOL


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
    """Tables of the fused Hamming-weight layer for ``(n, d_in, d_out)`` (numpy: the fused
    layers run on the CPU), in the *colex block order* (:func:`hw_colex_order`); built once
    (:func:`block_index`).

    ``to_in (d_in,)`` / ``to_out (d_out,)`` int64: block position of each input / output
    feature. ``size``: ``C(2n,n)``
    block entries. ``plan``: the compound recursion (:func:`_plan` ``(n, n)``: ``terms``,
    ``fstart``, ``flevel`` forward, ``back``, ``bstart`` reverse);
    ``perm``, ``block_sizes``: :func:`hw_colex_order` (numpy, for the compiled gram).
    """

    to_in: np.ndarray
    to_out: np.ndarray
    size: int
    plan: _Plan
    perm: np.ndarray
    block_sizes: np.ndarray

    @property
    def forward(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(terms, fstart, flevel)`` of the plan, as :func:`_hw_combined` takes them."""
        return self.plan.terms, self.plan.fstart, self.plan.flevel


@cache
def block_index(n: int, d_in: int, d_out: int) -> BlockIndex:
    """The :class:`BlockIndex` of ``n`` qubits cropped to ``d_out x d_in``."""
    perm, sizes = hw_colex_order(n)
    plan = _plan(n, n)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    return BlockIndex(inv[:d_in].copy(), inv[:d_out].copy(), plan.size, plan, perm, sizes)


@njit(cache=True, nogil=True)
def _gather_blocks(a, perm):  # pragma: no cover - compiled
    """``a (B, d)`` (any strides: an expanded upstream gradient is read in place) ->
    ``(B, 2^n)`` in block order ``perm``, zero columns outside the crop (``perm >= d``)."""
    out = np.empty((a.shape[0], perm.shape[0]), dtype=a.dtype)
    d = a.shape[1]
    for t in range(a.shape[0]):
        at, ot = a[t], out[t]
        if d == perm.shape[0]:  # no crop: branch-free (vector gathers)
            for p in range(d):
                ot[p] = at[perm[p]]
        else:
            for p in range(perm.shape[0]):
                ot[p] = at[perm[p]] if perm[p] < d else 0
    return out


@njit(cache=True, nogil=True)
def _block_gram(gB, xB, sizes):  # pragma: no cover - compiled
    """The diagonal blocks of ``gBᵀ xB`` (both ``(B, 2^n)`` in block order, block sizes
    ``sizes``), flat ``(C(2n,n),)``, each block row-major: ``Σ_k C(n,k)^2·B`` multiply-adds
    instead of ``4^n·B``. One BLAS gemm per block on the strided column blocks
    (:func:`_gemm`, no copies; SciPy's OpenBLAS pool, which threadpoolctl sets and
    ``torch.set_num_threads`` does not); from numba because torch's per-call overhead over
    ``n + 1`` gemms cost more than the gemms at ``n = 8``."""
    return _block_gram_into(gB, xB, sizes, np.empty(_entries(sizes), dtype=gB.dtype))


@njit(cache=True, nogil=True)
def _block_gram_into(gB, xB, sizes, out):  # pragma: no cover - compiled
    """:func:`_block_gram` written into ``out (C(2n,n),)``."""
    nb, dim = gB.shape
    gf, xf = gB.ravel(), xB.ravel()
    o, s = 0, 0
    for k in range(sizes.shape[0]):
        m = sizes[k]
        # column-major: the block (m*m, row-major) transposed = X_blkᵀ G_blk
        _gemm(ord("n"), ord("t"), m, m, nb, xf[s:], dim, gf[s:], dim, out[o:o + m * m], m)
        o += m * m
        s += m
    return out


@njit(cache=True, nogil=True)
def _block_gemms(v, zB, sizes, transpose):  # pragma: no cover - compiled
    """``zB (⊕_k V_k)ᵀ`` (``transpose``: ``zB ⊕_k V_k``), ``(B, 2^n)``, for the flat blocks
    ``v (C(2n,n),)`` (each ``V_k`` row-major) and ``zB (B, 2^n)`` in block order: one BLAS
    gemm per block, written in place into its column block (:func:`_gemm`)."""
    nb, dim = zB.shape
    out = np.empty_like(zB)
    zf, of = zB.ravel(), out.ravel()
    o, s = 0, 0
    for k in range(sizes.shape[0]):
        m = sizes[k]
        # column-major: out_blkᵀ = V_k zB_blkᵀ (V_k from row-major v: op "t"), or V_kᵀ zB_blkᵀ
        _gemm(ord("n") if transpose else ord("t"), ord("n"), m, nb, m, v[o:], m, zf[s:], dim,
              of[s:], dim)
        o += m * m
        s += m
    return out


@njit(cache=True, nogil=True)
def _add_cols(y, yB, to):  # pragma: no cover - compiled
    """``y[t, i] += yB[t, to[i]]``: block-order results added to computational order."""
    for t in range(y.shape[0]):
        yt, bt = y[t], yB[t]
        for i in range(y.shape[1]):
            yt[i] += bt[to[i]]


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _hw_combined(A, alpha, terms, fstart, flevel, N):  # pragma: no cover - compiled
    """``(F, v)``: ``F (R, N)`` all compounds of ``A (R, n, n)`` (colex), ``v = α @ F``,
    one level at a time: a level's ``v`` is formed right after its ``F``, while that is
    still in cache (``flevel``: the plan's first group of each level)."""
    F, fresh = _alloc(A.shape[0], N, A.dtype)
    return _hw_combined_into(A, alpha, terms, fstart, flevel, F, np.empty(N, dtype=A.dtype),
                             fresh)


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _hw_combined_into(A, alpha, terms, fstart, flevel, F, v, fresh):  # pragma: no cover
    """:func:`_hw_combined` into ``F (R, N)`` and ``v (N,)`` (``fresh``: ``F`` is not
    zeroed, the groups zero their own segment; ``True`` only from ``2^18`` entries on)."""
    N = v.shape[0]
    _start(F, A)
    lo = 0
    for k in range(flevel.shape[0] - 1):
        _forward_groups(F, A, terms, fstart, flevel[k], flevel[k + 1], fresh)
        g = flevel[k + 1]  # the first group of the next level starts where this one ends
        hi = terms[fstart[g], 0] if g < fstart.shape[0] - 1 else N
        hi = max(hi, min(N, 1 + A.shape[1] * A.shape[2]))  # levels 0, 1 (no groups)
        out, f, a = v[lo:hi], F[0, lo:hi], alpha[0]
        for q in range(hi - lo):
            out[q] = a * f[q]
        for r in range(1, F.shape[0]):
            f, a = F[r, lo:hi], alpha[r]
            for q in range(hi - lo):
                out[q] += a * f[q]
        lo = hi
    return F, v


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _hw_weight(A, alpha, W0, perm, sizes, terms, fstart):  # pragma: no cover - compiled
    """``(W0 + ΔW, F)``: ``F`` of :func:`_hw_combined` and a new ``W`` written one row at a
    time, rows in order (``W0`` and ``W`` streamed front to back): each output row lies in
    ONE block ``k``, its copy of ``W0`` is still in L1 when its ``C(n,k)`` entries
    ``Σ_r α_r F[r, q]`` are added (no ``v``, no position table). ``perm``: block order
    (increasing inside a block), ``sizes = C(n,k)``."""
    F = _forward_colex(A, terms, fstart, _entries(sizes))
    d_out, d_in = W0.shape
    K = sizes.shape[0]
    pos = np.zeros(perm.shape[0], dtype=np.int64)  # block position of each index
    blk = np.zeros(perm.shape[0], dtype=np.int64)  # block of each position
    first = np.zeros(K, dtype=np.int64)  # first position of block k
    entry = np.zeros(K, dtype=np.int64)  # first flat entry of block k
    crop = np.zeros(K, dtype=np.int64)  # columns of block k inside the crop (a prefix)
    s = o = 0
    for k in range(K):
        m = sizes[k]
        first[k], entry[k] = s, o
        c = 0
        while c < m and perm[s + c] < d_in:
            c += 1
        crop[k] = c
        for p in range(s, s + m):
            pos[perm[p]], blk[p] = p, k
        s += m
        o += m * m
    W = np.empty_like(W0)
    v = np.empty(sizes.max(), dtype=F.dtype)  # one row of ΔW's block
    for i in range(d_out):
        k = blk[pos[i]]
        s, m, c = first[k], sizes[k], crop[k]
        q0 = entry[k] + (pos[i] - s) * m
        f, al = F[0, q0:q0 + c], alpha[0]
        for b in range(c):
            v[b] = al * f[b]
        for r in range(1, F.shape[0]):
            f, al = F[r, q0:q0 + c], alpha[r]
            for b in range(c):
                v[b] += al * f[b]
        Wi, W0i, cols = W[i], W0[i], perm[s:s + c]
        for j in range(d_in):
            Wi[j] = W0i[j]
        for b in range(c):
            Wi[cols[b]] += v[b]
    return W, F


@njit(cache=True, nogil=True)
def _entries(sizes):  # pragma: no cover - compiled
    """``Σ_k C(n,k)^2`` (``= C(2n, n)``) for ``sizes = C(n,k)``."""
    total = 0
    for k in range(sizes.shape[0]):
        total += sizes[k] * sizes[k]
    return total


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _hw_grads(A, alpha, F, g, x, perm, sizes, back, bstart):  # pragma: no cover - compiled
    """``(∂A, ∂α)`` of the dense layer in one call: ``g``, ``x`` gathered into block order
    (:func:`_gather_blocks`, read in place whatever their strides), :func:`_block_gram`,
    :func:`_hw_reverse`."""
    gv = _block_gram(_gather_blocks(g, perm), _gather_blocks(x, perm), sizes)
    return _hw_reverse(A, alpha, F, gv, back, bstart)


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _hw_backward_into(A, alpha, F, gB, xB, sizes, back, bstart, gv, G):  # pragma: no cover
    """:func:`_hw_reverse` of :func:`_block_gram` (``gB``, ``xB`` in block order), with the
    work arrays ``gv``, ``G`` (``(C(2n,n),)`` each) given."""
    return _hw_reverse_into(A, alpha, F, _block_gram_into(gB, xB, sizes, gv), back, bstart, G)


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _hw_reverse(A, alpha, F, gv, back, bstart):  # pragma: no cover - compiled
    """``(∂A, ∂α)`` from ``gv (N,)`` = ``∂L/∂v`` (colex block entries) for ``v = α @ F``;
    ``back``, ``bstart``: the plan's reverse-mode rows and groups."""
    return _hw_reverse_into(A, alpha, F, gv, back, bstart, np.empty(F.shape[1], dtype=A.dtype))


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _hw_reverse_into(A, alpha, F, gv, back, bstart, G):  # pragma: no cover - compiled
    """:func:`_hw_reverse` with its work array ``G (N,)`` given (overwritten)."""
    R, N = F.shape[0], F.shape[1]
    gA = np.zeros_like(A)
    galpha = np.zeros(R, dtype=A.dtype)
    for r in range(R):
        acc = gv[0] * F[r, 0]  # N >= 1; G (np.empty) is written before it is read
        G[0] = alpha[r] * gv[0]
        for q in range(1, N):
            acc += gv[q] * F[r, q]
            G[q] = alpha[r] * gv[q]
        galpha[r] = acc
        _reverse(A[r].ravel(), F[r], G, gA[r].ravel(), back, bstart)
    return gA, galpha


class HammingDense(torch.autograd.Function):
    """``F.linear(x, W0 + ΔW, b)`` with ``ΔW = crop(Σ_r α_r ⊕_k A_r^(k))`` in computational
    order: forward builds all compounds and writes ``W0 + ΔW`` row by row in one compiled
    call (:func:`_hw_weight`; no ``R x 2^n x 2^n`` tensor); backward, one compiled call
    (:func:`_hw_grads`), forms only the ``C(2n,n)`` block entries of ``gᵀ x`` and runs the
    recursion in reverse for ``∂A``, ``∂α``. ``x`` and ``W`` are kept for the backward only
    when it needs them.
    ``∂x = g (W0 + ΔW)``, ``∂W0 = gᵀ x``, ``∂b = Σ g`` only when required. First order
    only (once_differentiable).

    Args of ``apply``: ``x (..., d_in)`` (flattened to ``(B, d_in)`` inside, where autograd
    records no view: 20 µs of a 500 µs step at width 256), ``A (R, n, n)``, ``alpha (R,)``,
    ``W0 (d_out, d_in)``, ``b (d_out,)`` or ``None``, ``ix`` = :func:`block_index`
    ``(n, d_in, d_out)``; returns ``(..., d_out)``.
    """

    @staticmethod
    def forward(ctx, x, A, alpha, W0, b, ix):
        An, al = _numpy(A), _numpy(alpha)
        W, F = _hw_weight(An, al, _numpy(W0), ix.perm, ix.block_sizes, ix.plan.terms,
                          ix.plan.fstart)
        W = torch.from_numpy(W)
        need = ctx.needs_input_grad
        ctx.save_for_backward(x if need[1] or need[2] or need[3] else None,
                              W if need[0] else None)
        ctx.An, ctx.al, ctx.F, ctx.ix = An, al, F, ix
        return torch.nn.functional.linear(x, W, b)

    @staticmethod
    @first_order
    def backward(ctx, g):
        x, W = ctx.saved_tensors
        need, ix = ctx.needs_input_grad, ctx.ix
        gA = galpha = None
        if need[1] or need[2]:
            # g, x as they are (an expanded upstream gradient is not copied)
            gA, galpha = _hw_grads(ctx.An, ctx.al, ctx.F, _rows(g).numpy(),
                                   _rows(x).numpy(), ix.perm, ix.block_sizes, ix.plan.back,
                                   ix.plan.bstart)
            gA, galpha = torch.from_numpy(gA), torch.from_numpy(galpha)
        gx = g @ W if need[0] else None
        return (gx, gA, galpha, *_base_grads(g, x, need), None)


def _rows(t: torch.Tensor) -> torch.Tensor:
    """``t (..., d)`` detached as ``(B, d)``: a view where the strides allow (an expanded
    upstream gradient stays one), else a copy."""
    t = t.detach()
    return t if t.dim() == 2 else t.reshape(-1, t.shape[-1])


def _base_grads(g: torch.Tensor, x: torch.Tensor | None, need: tuple[bool, ...]) -> tuple:
    """``(∂W0, ∂b)`` of ``y = F.linear(x, W0, b) + …`` for ``g (..., d_out)`` and ``x (...,
    d_in)``, each only when ``need`` (``ctx.needs_input_grad``) asks for it."""
    g = _rows(g)
    return (g.T @ _rows(x) if need[3] else None), (g.sum(0) if need[4] else None)


def _combined(An: np.ndarray, al: np.ndarray, ix: BlockIndex) -> tuple[np.ndarray, ...]:
    """:func:`_hw_combined` (``F``, ``v``), into pooled arrays when they are large (a small
    ``F`` starts zeroed: :func:`~hwadapt.kernels.compounds._alloc`)."""
    R, N = An.shape[0], ix.size
    if R * N < POOL.min_entries:
        return _hw_combined(An, al, *ix.forward, N)
    return _hw_combined_into(An, al, *ix.forward, POOL.take((R, N), An.dtype),
                             POOL.take((N,), An.dtype), True)


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
        F, v = _combined(An, al, ix)
        xB = _gather_blocks(_rows(x).numpy(), ix.perm)
        y = torch.nn.functional.linear(x, W0, b)
        _add_cols(_rows(y).numpy(), _block_gemms(v, xB, ix.block_sizes, False), ix.to_out)
        need = ctx.needs_input_grad  # xB (block order) is what the gram reads
        if not any(need):  # no backward will come
            POOL.give(F, v)
            return y
        ctx.save_for_backward(x if need[3] else None, W0 if need[0] else None)
        ctx.An, ctx.al, ctx.F, ctx.ix, ctx.v, ctx.xB = An, al, F, ix, v, xB
        return y

    @staticmethod
    @first_order
    def backward(ctx, g):
        x, W0 = ctx.saved_tensors
        need, ix = ctx.needs_input_grad, ctx.ix
        gB = _gather_blocks(_rows(g).numpy(), ix.perm)  # read in place (expanded g too)
        if ctx.F is None:  # a second backward of a retained graph: its arrays went back
            ctx.F, ctx.v = _combined(ctx.An, ctx.al, ix)
        gA = galpha = gx = None
        if need[1] or need[2]:
            gv, G = (POOL.take((ix.size,), ctx.F.dtype) for _ in range(2))
            gA, galpha = _hw_backward_into(ctx.An, ctx.al, ctx.F, gB, ctx.xB, ix.block_sizes,
                                           ix.plan.back, ix.plan.bstart, gv, G)
            POOL.give(gv, G)
            gA, galpha = torch.from_numpy(gA), torch.from_numpy(galpha)
        if need[0]:
            gx = g @ W0  # a new contiguous tensor: its rows are a view
            _add_cols(_rows(gx).numpy(), _block_gemms(ctx.v, gB, ix.block_sizes, True),
                      ix.to_in)
        POOL.give(ctx.F, ctx.v)  # kept only when pooled; a second backward recomputes them
        ctx.F = ctx.v = None
        return (gx, gA, galpha, *_base_grads(g, x, need), None)


@opaque
def fused_linear(blocks: bool, x, A, alpha, W0, b, ix: BlockIndex) -> torch.Tensor:
    """:class:`HammingBlocks` (``blocks``) or :class:`HammingDense` ``.apply``,
    :func:`~hwadapt.kernels.compounds.opaque` to ``torch.compile``. Under CPU autocast it
    runs in the parameters' dtype with autocast off (the kernels take float32/64 arrays;
    :func:`~hwadapt.kernels.compounds.first_order` does the same for the backward) and
    returns the autocast dtype, as ``F.linear`` and the torch paths do."""
    fn = HammingBlocks if blocks else HammingDense
    if not torch.is_autocast_enabled("cpu"):
        return fn.apply(x, A, alpha, W0, b, ix)
    with torch.autocast("cpu", enabled=False):
        y = fn.apply(x.to(alpha.dtype), A, alpha, W0, b, ix)
    return y.to(torch.get_autocast_dtype("cpu"))
