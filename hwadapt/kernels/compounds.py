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
(:class:`_Plan`); the forward runs the table in order, the ``k`` axpys into one destination
segment together (4 sources per pass: the segment is loaded and stored once per 4), and
permutes the result to ``combinations`` order; the backward runs it in reverse (axpy into
the previous level's gradient, dot product into ``gA``), the rows that share one source
segment together (4 per pass), about twice the forward cost.
Both loop over the batch inside the kernel (float32 and float64; ``cache=True`` keeps the
compiled code in ``__pycache__`` next to this file). The pure-torch recursion in
:mod:`hwadapt.linalg` stays the reference and the path for non-CPU devices.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from functools import cache, wraps

import numpy as np
import torch
from numba import njit

from hwadapt.linalg.subsets import compound_offsets, subsets

DTYPES = (torch.float32, torch.float64)
_FASTMATH = {"reassoc", "contract", "nsz"}  # lets dot products vectorise; keeps NaN/inf


@dataclass(frozen=True)
class _Plan:
    """Precomputed recursion for size ``n`` up to level ``k_max`` (colex order inside every
    block; ``N = Σ_{k<=k_max} C(n,k)^2`` entries).

    ``terms (T, 5)`` int32, one row per axpy of the Laplace expansion, ordered by level:
    ``(dst, src, length, i·n + j, sign)`` means ``W[dst:dst+length] += sign·A[i, j] ·
    W[src:src+length]`` (flat colex layout); the forward runs them in this order.
    Rows with one ``dst`` are adjacent (sorted by ``dst``; the ``k`` sources of a segment):
    group ``g`` is rows ``[fstart[g], fstart[g + 1])``; the groups of level ``k`` are
    ``[flevel[k], flevel[k + 1])`` (``k = 0..k_max``).
    ``back (T, 5)``: the same rows in the order the reverse mode runs them: levels from
    ``k_max`` down, within a level sorted by ``src`` (then ``length``, then ``dst``), so the
    gradient rows pushed down to level ``k - 1`` are written one at a time (30% less time
    than the plain reversed ``terms`` at ``n = 12``, 20% at ``n = 10``; any order within a
    level is exact, a level only reads the gradient of the level above); group ``g``
    (rows ``[bstart[g], bstart[g + 1])``) shares one source segment ``(src, length)``.
    ``lex[q]``: combinations-order flat position of colex position ``q``; ``colex``: its
    inverse.
    """

    terms: np.ndarray
    fstart: np.ndarray
    flevel: np.ndarray
    back: np.ndarray
    bstart: np.ndarray
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
    terms = np.array(terms, dtype=np.int32).reshape(-1, 5)
    terms = np.ascontiguousarray(terms[np.argsort(terms[:, 0], kind="stable")])
    level = np.searchsorted(np.array(off), terms[:, 0], side="right") - 1
    back = np.ascontiguousarray(terms[np.lexsort((terms[:, 0], terms[:, 2], terms[:, 1],
                                                  -level))])
    fstart = _starts(terms[:, [0]])
    flevel = np.searchsorted(terms[fstart[:-1], 0], off, side="left").astype(np.int64)
    return _Plan(terms, fstart, flevel, back, _starts(back[:, [1, 2]]), lex, colex)


def _starts(keys: np.ndarray) -> np.ndarray:
    """Group starts of the rows of ``keys (T, c)`` (runs of equal rows), ``T`` appended."""
    new = np.ones(len(keys), dtype=bool)
    new[1:] = (keys[1:] != keys[:-1]).any(1)
    return np.append(np.flatnonzero(new), len(keys)).astype(np.int64)


@njit(cache=True, nogil=True, inline="always")
def _coef(Af, rows, e):  # pragma: no cover - compiled
    """The signed coefficient ``±A[i, j]`` of plan row ``e``."""
    return Af[rows[e, 3]] if rows[e, 4] > 0 else -Af[rows[e, 3]]


@njit(cache=True, nogil=True, inline="always")
def _seg(w, rows, e, L, col=1):  # pragma: no cover - compiled
    """``w[rows[e, col]:][:L]``: the source (``col = 1``) or destination (0) of row ``e``."""
    return w[rows[e, col]:rows[e, col] + L]


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _forward_colex(A, terms, fstart, N):  # pragma: no cover - compiled
    """``(nb, n, n) -> (nb, N)``: the compounds of a plan (``terms``, groups ``fstart``,
    ``N`` entries), colex: :func:`_start`, then :func:`_forward_groups` (all groups)."""
    W, fresh = _alloc(A.shape[0], N, A.dtype)
    _start(W, A)
    _forward_groups(W, A, terms, fstart, 0, fstart.shape[0] - 1, fresh)
    return W


@njit(cache=True, nogil=True)
def _alloc(nb, N, dtype):  # pragma: no cover - compiled
    """``(W (nb, N), fresh)``: zeros when small; uninitialised (``fresh``: the groups zero
    their own segment, in L1) from ``2^18`` entries on, where a zero fill of the whole
    array costs a pass over memory (2 ms at ``n = 12``, ``R = 2``)."""
    if nb * N >= 1 << 18:
        return np.empty((nb, N), dtype=dtype), True
    return np.zeros((nb, N), dtype=dtype), False


@njit(cache=True, nogil=True)
def _start(W, A):  # pragma: no cover - compiled
    """Levels 0 and 1 of ``W (nb, N)``: ``1`` and the entries of each ``A[t]`` (row-major;
    as many as fit)."""
    for t in range(A.shape[0]):
        w, Af = W[t], A[t].ravel()
        w[0] = 1
        for e in range(min(Af.shape[0], W.shape[1] - 1)):
            w[1 + e] = Af[e]


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _forward_groups(W, A, terms, fstart, g0, g1, fresh):  # pragma: no cover - compiled
    """Groups ``[g0, g1)`` of the plan into ``W (nb, N)`` for every ``A[t]`` (their sources
    done; their segments zero, or ``fresh``: zeroed here, while in L1), the rows of a
    destination segment up to 4 per pass."""
    for t in range(A.shape[0]):
        w, Af = W[t], A[t].ravel()
        for grp in range(g0, g1):
            e, e1 = fstart[grp], fstart[grp + 1]
            L = terms[e, 2]
            dst = _seg(w, terms, e, L, 0)
            if fresh:
                for q in range(L):
                    dst[q] = 0
            while e + 4 <= e1:
                c0, c1 = _coef(Af, terms, e), _coef(Af, terms, e + 1)
                c2, c3 = _coef(Af, terms, e + 2), _coef(Af, terms, e + 3)
                s0, s1 = _seg(w, terms, e, L), _seg(w, terms, e + 1, L)
                s2, s3 = _seg(w, terms, e + 2, L), _seg(w, terms, e + 3, L)
                for q in range(L):
                    dst[q] += c0 * s0[q] + c1 * s1[q] + c2 * s2[q] + c3 * s3[q]
                e += 4
            while e + 2 <= e1:
                c0, c1 = _coef(Af, terms, e), _coef(Af, terms, e + 1)
                s0, s1 = _seg(w, terms, e, L), _seg(w, terms, e + 1, L)
                for q in range(L):
                    dst[q] += c0 * s0[q] + c1 * s1[q]
                e += 2
            if e < e1:
                c0, s0 = _coef(Af, terms, e), _seg(w, terms, e, L)
                for q in range(L):
                    dst[q] += c0 * s0[q]


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _to_lex(W, colex):  # pragma: no cover - compiled
    out = np.empty_like(W)
    for t in range(W.shape[0]):
        w, o = W[t], out[t]
        for q in range(W.shape[1]):
            o[q] = w[colex[q]]
    return out


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _reverse(Af, w, G, gAf, back, bstart):  # pragma: no cover - compiled
    """Reverse mode for ONE matrix (``Af``: ``A`` raveled) with forward ``w`` (colex), the
    plan's ``back`` rows in order (groups ``bstart``: one source segment each, 4 rows per
    pass): consumes the upstream gradient ``G`` (colex, overwritten: lower levels
    accumulate what is pushed down) and adds ``∂/∂A`` (raveled) into ``gAf``."""
    for grp in range(bstart.shape[0] - 1):
        e, e1 = bstart[grp], bstart[grp + 1]
        s, L = back[e, 1], back[e, 2]
        if L == 1:  # one entry (a fifth of the groups): scalar, no segment views
            gs, ws = G[s], w[s]
            for f in range(e, e1):
                gd = G[back[f, 0]]
                gs += _coef(Af, back, f) * gd
                gAf[back[f, 3]] += gd * ws if back[f, 4] > 0 else -gd * ws
            G[s] = gs
            continue
        gp, src = G[s:s + L], w[s:s + L]
        while e < e1:
            if e + 4 <= e1:
                c0, c1 = _coef(Af, back, e), _coef(Af, back, e + 1)
                c2, c3 = _coef(Af, back, e + 2), _coef(Af, back, e + 3)
                g0, g1 = _seg(G, back, e, L, 0), _seg(G, back, e + 1, L, 0)
                g2, g3 = _seg(G, back, e + 2, L, 0), _seg(G, back, e + 3, L, 0)
                a0, a1, a2, a3 = g0[0] * src[0], g1[0] * src[0], g2[0] * src[0], g3[0] * src[0]
                gp[0] += c0 * g0[0] + c1 * g1[0] + c2 * g2[0] + c3 * g3[0]  # L >= 1
                for q in range(1, L):
                    sq = src[q]
                    a0 += g0[q] * sq
                    a1 += g1[q] * sq
                    a2 += g2[q] * sq
                    a3 += g3[q] * sq
                    gp[q] += c0 * g0[q] + c1 * g1[q] + c2 * g2[q] + c3 * g3[q]
                gAf[back[e, 3]] += a0 if back[e, 4] > 0 else -a0
                gAf[back[e + 1, 3]] += a1 if back[e + 1, 4] > 0 else -a1
                gAf[back[e + 2, 3]] += a2 if back[e + 2, 4] > 0 else -a2
                gAf[back[e + 3, 3]] += a3 if back[e + 3, 4] > 0 else -a3
                e += 4
            else:
                c0, g0 = _coef(Af, back, e), _seg(G, back, e, L, 0)
                a0 = g0[0] * src[0]
                gp[0] += c0 * g0[0]
                for q in range(1, L):
                    a0 += g0[q] * src[q]
                    gp[q] += c0 * g0[q]
                gAf[back[e, 3]] += a0 if back[e, 4] > 0 else -a0
                e += 1
    for e in range(min(Af.shape[0], G.shape[0] - 1)):
        gAf[e] += G[1 + e]


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _backward_colex(A, W, grad, lex, back, bstart):  # pragma: no cover - compiled
    """``gA`` for upstream ``grad`` (nb, N) in combinations order; ``W`` = forward (colex),
    ``back``/``bstart`` the plan's reverse-mode rows and groups."""
    nb, N = A.shape[0], W.shape[1]
    gA = np.zeros_like(A)
    G = np.empty(N, dtype=A.dtype)
    for t in range(nb):
        for q in range(N):  # to colex
            G[q] = grad[t, lex[q]]
        _reverse(A[t].ravel(), W[t], G, gA[t].ravel(), back, bstart)
    return gA


def first_order(backward):
    """``backward`` of a first-order-only ``autograd.Function``: under ``create_graph=True``
    (grad mode on in the backward) it runs through ``once_differentiable`` (differentiating
    its results again raises); otherwise directly, without that wrapper's per-call cost
    (8 µs of a 530 µs Hamming-weight adapter step at width 256). Never under CPU autocast
    (a backward called inside an autocast region): the kernels read float32/64 arrays."""
    once = torch.autograd.function.once_differentiable(backward)

    @wraps(backward)
    def wrapper(ctx, *grads):
        run = once if torch.is_grad_enabled() else backward
        if torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return run(ctx, *grads)
        return run(ctx, *grads)

    return wrapper


class _CompoundsFlat(torch.autograd.Function):
    """Autograd wrapper of the kernels. The backward is ``once_differentiable``: first
    derivatives only (no double backward through the CPU kernel)."""

    @staticmethod
    def forward(ctx, A: torch.Tensor, k_max: int) -> torch.Tensor:
        plan = _plan(A.shape[-1], k_max)
        An = _numpy(A)
        W = _forward_colex(An, plan.terms, plan.fstart, plan.size)
        ctx.An, ctx.W, ctx.plan = An, W, plan
        return torch.from_numpy(_to_lex(W, plan.colex))

    @staticmethod
    @first_order
    def backward(ctx, grad: torch.Tensor):
        gA = _backward_colex(ctx.An, ctx.W, _numpy(grad), ctx.plan.lex, ctx.plan.back,
                            ctx.plan.bstart)
        return torch.from_numpy(gA), None


def _numpy(t: torch.Tensor) -> np.ndarray:
    """A contiguous numpy view (a copy only when ``t`` is not contiguous, e.g. an expanded
    upstream gradient)."""
    t = t.detach()
    return (t if t.is_contiguous() else t.contiguous()).numpy()


def supported(*tensors: torch.Tensor) -> bool:
    """Whether the kernels handle ``tensors``: CPU float32/float64, and no ``torch.func``
    transform (``grad``, ``vmap``, ``jacrev``) running: those take the torch paths, which
    the transforms trace (the kernels' numpy code cannot be; ``autograd.Function.apply``
    refuses such Functions inside any transform, whatever it wraps)."""
    if torch._C._are_functorch_transforms_active():
        return False
    for t in tensors:  # a loop, not all(genexpr): 0.4 µs instead of 1.2 per layer call
        if not t.is_cpu or t.dtype not in DTYPES:
            return False
    return True


def opaque(fn):
    """``fn``, a kernel entry point, opaque to ``torch.compile``: run through
    ``torch.compiler.disable`` (eagerly, 0.4 µs a call) once ``torch._dynamo`` is loaded;
    dynamo cannot trace numba and crashed inside these functions. Until then (no compile in
    this process) ``fn`` is called directly: decorating at import would load dynamo (1.1 s)."""
    disabled = None

    @wraps(fn)
    def call(*args):
        nonlocal disabled
        if "torch._dynamo" not in sys.modules:
            return fn(*args)
        if disabled is None:
            disabled = torch.compiler.disable(fn)
        return disabled(*args)

    return call


@opaque
def compounds_flat(A: torch.Tensor, k_max: int) -> torch.Tensor:
    """All compounds ``A^(0..k_max)`` of ``A (..., n, n)`` (CPU, float32/64), flat.

    Returns ``(..., Σ_{k<=k_max} C(n,k)^2)`` in the layout of
    :func:`~hwadapt.linalg.compound_offsets`; differentiable (first order) in ``A``. No input
    checks: call :func:`hwadapt.linalg.compounds_flat`, which validates and picks this path.
    Like every kernel entry point, :func:`opaque` to ``torch.compile``.
    """
    n = A.shape[-1]
    batch = A.shape[:-2]
    flat = _CompoundsFlat.apply(A.reshape(math.prod(batch), n, n), k_max)
    return flat.reshape(*batch, flat.shape[-1])
