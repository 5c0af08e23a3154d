"""Hamming-weight adapter: ``ΔW = Σ_i α_i crop(⊕_{k=0..n} A_i^(k))``.

``n = max(2, ceil(log2 max(d_in, d_out)))`` (or ``config.qubits``), so each base ``A_i`` is
``n x n`` while ``⊕A^(k)`` is ``2^n x 2^n``. COMPUTATIONAL order, as the circuits: input
feature ``j`` is basis index ``j`` (qubit ``i`` = bit ``i`` of ``j``); the input is zero-padded
to ``2^n`` and the output cropped to ``d_out`` (``ΔW`` = top-left ``d_out x d_in`` block).
Trainable parameters: ``R(n^2 + 1)`` free, ``R(n(n-1)/2 + 1)`` orthogonal/cayley.
Paths: dense (the ``C(2n,n)`` block entries from :func:`~hwadapt.linalg.compounds_flat`,
combined over ``α``, added into ``W0`` by one scatter, weight gradient of the block entries
only: :class:`HammingDenseLinear`) or apply
(:func:`~hwadapt.linalg.givens_apply` for orthogonal bases, else
:func:`~hwadapt.linalg.hamming_weight_apply`), ``O(R·n^2·2^n)`` per vector.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from hwadapt.adapters.base import MatrixAdapter
from hwadapt.adapters.config import AdapterConfig
from hwadapt.adapters.registry import register
from hwadapt.linalg import (
    compounds_flat,
    givens_apply,
    hamming_weight_apply,
    hw_permutation,
)


def hamming_qubits(width: int) -> int:
    """Smallest ``n >= 2`` with ``2^n >= width``."""
    return max(2, math.ceil(math.log2(max(width, 1))))


class HammingDenseLinear(torch.autograd.Function):
    """``F.linear(x, W0 + ΔW, b)`` for the Hamming-weight ``ΔW`` whose possibly-nonzero
    entries are ``vals`` (flat layout of :func:`compounds_flat`: the blocks ``⊕_k`` in
    block order), scattered into ``W0`` at ``pos`` (``sel`` picks the entries inside the
    crop, ``None``: all).

    Backward: ``∂vals`` = only the block entries of ``g^T x``
    (:func:`hwadapt.kernels.block_gram`, ``B·C(2n,n)`` multiply-adds instead of ``B·4^n``;
    zero for entries outside the crop); ``∂x = g (W0 + ΔW)``, ``∂W0 = g^T x``,
    ``∂b = Σ g`` only when required. First order only (once_differentiable).
    """

    @staticmethod
    def forward(ctx, x, vals, weight, bias, pos, sel, n):
        v = vals if sel is None else vals.index_select(0, sel)
        W = weight.flatten().index_add(0, pos, v).view_as(weight)
        ctx.save_for_backward(x, W)
        ctx.n = n
        return F.linear(x, W, bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        from hwadapt import kernels

        x, W = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx = g @ W if need[0] else None
        gv = None
        if need[1]:
            perm, sizes = _block_tables(ctx.n)
            gv = kernels.block_gram(g, x, perm, sizes)
        gw = g.T @ x if need[2] else None
        gb = g.sum(0) if need[3] else None
        return gx, gv, gw, gb, None, None, None


@cache
def _block_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``perm`` (block position -> computational index) and the block sizes ``C(n,k)``."""
    return (np.array(hw_permutation(n), dtype=np.int64),
            np.array([math.comb(n, k) for k in range(n + 1)], dtype=np.int64))


@register("hamming", options=("base", "qubits"))
class HammingLayer(MatrixAdapter):
    def __init__(self, base_layer: nn.Linear, config: AdapterConfig):
        width = max(base_layer.in_features, base_layer.out_features)
        n = config.qubits if config.qubits is not None else hamming_qubits(width)
        if 1 << n < width:
            raise ValueError(f"qubits={n} gives 2^{n} = {1 << n} < layer width {width}: "
                             f"use qubits >= {hamming_qubits(width)} or leave it unset")
        super().__init__(base_layer, config, n, 1 << n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from hwadapt import kernels  # lazy: numba is imported on first use only

        if self.path != "dense" or not kernels.supported(self.alpha):
            return super().forward(x)  # other devices: autograd through the scatter
        vals = self.alpha @ compounds_flat(self.base_matrices())  # (C(2n,n),): α first
        pos, sel = self._crop_index(vals.device)
        base = self.base_layer
        y = HammingDenseLinear.apply(x.reshape(-1, self.d_in), vals, base.weight, base.bias,
                                     pos, sel, self.n)
        return y.view(*x.shape[:-1], self.d_out)

    def _flat(self, A: torch.Tensor) -> torch.Tensor:
        return compounds_flat(A)

    def _flat_rows_cols(self) -> tuple[torch.Tensor, torch.Tensor]:
        perm, sizes = _block_tables(self.n)
        starts = np.cumsum(sizes) - sizes
        rows = [np.repeat(perm[s:s + m], m) for s, m in zip(starts, sizes, strict=True)]
        cols = [np.tile(perm[s:s + m], m) for s, m in zip(starts, sizes, strict=True)]
        return torch.from_numpy(np.concatenate(rows)), torch.from_numpy(np.concatenate(cols))

    def _apply(self, x: torch.Tensor) -> torch.Tensor:
        if self.base == "orthogonal":
            return givens_apply(x, self.angles, "pyramid")
        return hamming_weight_apply(self.base_matrices(), x)
