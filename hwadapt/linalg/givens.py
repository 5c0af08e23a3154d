"""Givens rotations: ``O(θ) = G_m ⋯ G_1`` on the pairs of a layout (:func:`givens_matrix`),
their action on ``2^n`` state vectors (:func:`givens_apply`, RBS/FBS), linear
combinations ``Σ α_i O(θ_i)`` (:func:`combination_matrix`) and the inverse, pyramid angles
of an ``SO(N)`` matrix (:func:`pyramid_angles`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from hwadapt.arrays import to_numpy
from hwadapt.linalg.layouts import layout_pairs, pyramid_layers
from hwadapt.linalg.subsets import _num_qubits

if TYPE_CHECKING:  # torch is imported by the torch paths only: circuit building needs numpy
    import torch


def givens_matrix(
    n: int, angles: torch.Tensor | np.ndarray, layout: str | list[tuple[int, int]] = "pyramid"
) -> torch.Tensor | np.ndarray:
    """Orthogonal ``O(θ) = G_m ⋯ G_1`` from Givens rotations on the pairs of ``layout``.

    ``G_i`` on pair ``(a, b)`` is the identity except ``G[a,a] = G[b,b] = cos θ_i``,
    ``G[a,b] = sin θ_i``, ``G[b,a] = -sin θ_i`` — exactly the action of ``RBS(θ_i)`` on
    (qubit a, qubit b) in the Hamming-weight-1 subspace. Gates apply in layout order
    (:mod:`hwadapt.linalg.layouts`), so later gates multiply on the left.

    Args:
        angles: ``(..., m)`` with ``m`` the layout's gate count (batched, differentiable).
        layout: a layout name or an explicit list of pairs ``(a, b)``, ``0 <= a < b < n``.
    Returns:
        ``(..., n, n)`` orthogonal matrix. CPU float32/float64 angles use the compiled
        :class:`hwadapt.kernels.GivensMatrix` (first derivatives only); other devices and
        dtypes the pure-torch product tree (:func:`_givens_torch`, the reference). Numpy
        angles give a float64 numpy matrix (:func:`_givens_numpy`: row updates, no numba
        compile, what circuit building uses).
    """
    pairs = _layout_pairs(n, layout)  # validated: the kernel does not bounds-check
    if angles.shape[-1] != len(pairs):
        raise ValueError(f"layout has {len(pairs)} gates but {angles.shape[-1]} angles were given")
    if isinstance(angles, np.ndarray):
        return _givens_numpy(n, angles, pairs)
    from hwadapt import kernels  # lazy: numba is imported on first use only

    if kernels.supported(angles) and pairs:
        batch = angles.shape[:-1]
        O = kernels.givens_product(angles.reshape(-1, len(pairs)), _pairs_array(pairs), n)
        return O.reshape(*batch, n, n)
    return _givens_torch(n, angles, pairs)


def _givens_numpy(n: int, angles: np.ndarray, pairs: tuple[tuple[int, int], ...]
                  ) -> np.ndarray:
    """Numpy :func:`givens_matrix`: ``O = I``, then per gate ``i`` on ``(a, b)`` rows ``a, b``
    of ``O`` become ``c·O_a + s·O_b`` and ``-s·O_a + c·O_b`` (``G_i O``, later gates on the
    left). ``(..., m)`` angles -> ``(..., n, n)`` float64."""
    th = np.asarray(angles, dtype=np.float64)
    O = np.broadcast_to(np.eye(n), (*th.shape[:-1], n, n)).copy()
    c, s = np.cos(th), np.sin(th)
    for g, (a, b) in enumerate(pairs):
        ra, rb = O[..., a, :].copy(), O[..., b, :]
        cg, sg = c[..., g, None], s[..., g, None]
        O[..., a, :] = cg * ra + sg * rb
        O[..., b, :] = cg * rb - sg * ra
    return O


@cache
def _pairs_array(pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _givens_torch(n: int, angles: torch.Tensor, pairs: tuple[tuple[int, int], ...]
                  ) -> torch.Tensor:
    """Pure-torch :func:`givens_matrix` (reference for the kernel; any device, full autograd):
    all ``m`` Givens matrices at once, then a balanced product tree (log2 m batched matmuls)."""
    import torch  # lazy: circuit building uses the numpy paths only

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
    import torch  # lazy: circuit building uses the numpy paths only

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
    return _layout_pairs(n, layout_pairs(n, layout))


@cache
def _givens_masks(
    n: int, pairs: tuple[tuple[int, int], ...], dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(M, S)``, each ``(m, 2^n)``: ``M`` = 1 where bits a, b of the index differ;
    ``S`` = ``+(-1)^p`` where bit a = 1, bit b = 0, ``-(-1)^p`` where a = 0, b = 1, else 0."""
    import torch  # lazy: circuit building uses the numpy paths only

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
        layout: a layout name (:mod:`hwadapt.linalg.layouts`) or explicit pairs ``(a, b)``.
        n: number of qubits (optional check; inferred from ``x``).
    Returns:
        ``(broadcast(...), 2^n)``. Per gate on ``(a, b)``, ``a < b``: amplitude ``u`` (bit a=1,
        bit b=0) and its partner ``w`` (bit a=0, bit b=1) become ``u' = c·u + s·w``,
        ``w' = -s·u + c·w`` with ``c = cos θ``, ``s = sin θ·(-1)^p``, ``p`` = set bits strictly
        between a and b (FBS sign; ``p = 0`` for neighbours, i.e. RBS). The result equals
        ``hamming_weight_matrix(givens_matrix(n, angles, layout), "computational") @ x`` for
        every layout. Cost ``O(m·2^n)``; autograd flows to ``x`` and ``angles``.
    """
    import torch  # lazy: circuit building uses the numpy paths only

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


def combination_matrix(angles, alphas: Sequence[float], n: int, layout: str = "pyramid"
                       ) -> np.ndarray:
    """``M = Σ_i α_i givens_matrix(n, θ_i, layout)``, shape ``(n, n)`` (float64)."""
    th = to_numpy(angles, float)  # the numpy path of givens_matrix: no kernel compile
    al = np.asarray(alphas, dtype=float)
    if th.ndim != 2 or al.shape != (th.shape[0],):
        raise ValueError(f"need angles (R, m) and one alpha per row: angles "
                         f"{tuple(th.shape)}, alphas {al.shape}")
    return np.einsum("i,ijk->jk", al, givens_matrix(n, th, layout))


def pyramid_angles(U: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Pyramid angles ``θ`` (layout order) with ``givens_matrix(N, θ, "pyramid") == U``.

    Givens elimination: the pyramid equals ``D_{N-2} ⋯ D_0`` with diagonal
    ``D_j = G(0,1) G(1,2) ⋯ G(j,j+1)`` (the layer order is a reordering of commuting
    gates). ``D_j^T`` maps column ``j+1`` of the remaining block to ``e_{j+1}`` by rotating
    entry ``i`` into ``i+1`` for ``i = 0..j`` (``θ = atan2(v_i, v_{i+1})`` leaves a
    non-negative ``v_{i+1}``); the ``1×1`` remainder is ``det U``, so ``U`` must be in
    ``SO(N)`` (raises ``ValueError`` otherwise).
    """
    V = np.array(U, dtype=float)
    N = len(V)
    if V.shape != (N, N) or N < 2:
        raise ValueError(f"U must be a square matrix of size >= 2, got shape {V.shape}")
    if np.abs(V.T @ V - np.eye(N)).max() > tol:
        raise ValueError("U is not orthogonal")
    theta: dict[tuple[int, int], float] = {}
    for j in range(N - 2, -1, -1):
        for i in range(j + 1):
            t = float(np.arctan2(V[i, j + 1], V[i + 1, j + 1]))
            c, s = np.cos(t), np.sin(t)
            ra, rb = V[i].copy(), V[i + 1].copy()
            V[i], V[i + 1] = c * ra - s * rb, s * ra + c * rb  # G(i, i+1)^T from the left
            theta[(j, i)] = t
    if V[0, 0] < 0:
        raise ValueError("det U = -1: a pyramid of rotations only reaches SO(N); negate one "
                         "column first")
    out = []
    for layer_index, layer in enumerate(pyramid_layers(N)):
        for i, _ in layer:  # gate (i, i+1) of diagonal j runs in layer 2j - i
            out.append(theta[((layer_index + i) // 2, i)])
    return np.array(out)
