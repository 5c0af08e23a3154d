"""Hamming-weight adapter: ``ΔW = Σ_i α_i crop(⊕_{k=0..n} A_i^(k))``.

``n = max(2, ceil(log2 max(d_in, d_out)))`` (or ``config.qubits``), so each base ``A_i`` is
``n x n`` while ``⊕A^(k)`` is ``2^n x 2^n``. COMPUTATIONAL order, as the circuits: input
feature ``j`` is basis index ``j`` (qubit ``i`` = bit ``i`` of ``j``); the input is zero-padded
to ``2^n`` and the output cropped to ``d_out`` (``ΔW`` = top-left ``d_out x d_in`` block).
Trainable parameters: ``R(n^2 + 1)`` free, ``R(n(n-1)/2 + 1)`` orthogonal/cayley.
Paths: dense (on CPU the fused :class:`hwadapt.kernels.HammingDense`: all ``C(2n,n)`` block
entries compiled, combined over ``α`` and added into a copy of ``W0``, weight gradient of
the block entries only; other devices (CUDA) :func:`~hwadapt.linalg.compounds_flat`'s torch
recursion and one scatter), blocks (one matmul per weight block, for ``2^n > 1024``; on CPU
the fused :class:`hwadapt.kernels.HammingBlocks`, elsewhere torch) or apply
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
    block_entries,
    compounds_flat,
    givens_apply,
    hamming_weight_apply,
    hw_permutation,
)


def hamming_qubits(width: int) -> int:
    """Smallest ``n >= 2`` with ``2^n >= width``."""
    return max(2, math.ceil(math.log2(max(width, 1))))


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
        if config.path == "auto" and self.path == "apply":  # above DENSE_MAX_DIM
            self.path = "blocks"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from hwadapt import kernels  # lazy: numba is imported on first use only

        self._check_width(x)
        alpha = self.alpha  # nn.Module attribute lookups cost ~1 µs each: once
        if self.path == "apply" or not kernels.supported(alpha, x):
            # any device: autograd through the torch recursion (dense: one scatter)
            if self.path == "blocks":
                return self.base_layer(x) + self._blocks(x)
            return super().forward(x)
        base = self.base_layer
        return kernels.fused_linear(self.path == "blocks", x, self.base_matrices(), alpha,
                                    base.weight, base.bias,
                                    kernels.block_index(self.n, self.d_in, self.d_out))

    def _blocks(self, x: torch.Tensor) -> torch.Tensor:
        """``ΔW x`` one block at a time (the device-generic path of ``blocks``): inputs
        gathered into block order, ``x_k A^(k)ᵀ`` per weight ``k`` (``Σ_k C(n,k)^2 =
        C(2n,n)`` multiply-adds per vector instead of ``4^n``), outputs gathered back to
        computational order and cropped. ``torch.split`` (one backward node) rather than
        per-block slices, whose backward zero-fills a full-size gradient per block."""
        sizes = _block_tables(self.n)[1].tolist()
        to_block, to_comp = self._block_index(x.device)
        xb = F.pad(x, (0, self.dim - self.d_in)).index_select(-1, to_block)
        vals = self._combined().split([m * m for m in sizes])  # α first
        ys = [xk @ v.view(m, m).T for xk, v, m in zip(xb.split(sizes, -1), vals, sizes,
                                                      strict=True)]
        return torch.cat(ys, -1).index_select(-1, to_comp)

    def _block_index(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``perm`` (block position -> input index) and, for the first ``d_out`` outputs,
        their block positions; cached per device."""
        cache = self.__dict__.setdefault("_block_cache", {})
        if device not in cache:
            perm = torch.from_numpy(_block_tables(self.n)[0])
            inv = torch.empty_like(perm)
            inv[perm] = torch.arange(len(perm))
            cache[device] = (perm.to(device), inv[: self.d_out].to(device))
        return cache[device]

    def _flat(self, A: torch.Tensor) -> torch.Tensor:
        return compounds_flat(A)

    def _flat_rows_cols(self) -> tuple[torch.Tensor, torch.Tensor]:
        rows, cols = block_entries(*_block_tables(self.n))
        return torch.from_numpy(rows), torch.from_numpy(cols)

    def _apply_factors(self, x: torch.Tensor) -> torch.Tensor:
        if self.base == "orthogonal":
            return givens_apply(x, self.angles, "pyramid")
        return hamming_weight_apply(self.base_matrices(), x)
