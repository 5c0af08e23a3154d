"""Hamming-weight adapter: ``ΔW = Σ_i α_i crop(⊕_{k=0..n} A_i^(k))``.

``n = max(2, ceil(log2 max(d_in, d_out)))`` (or ``config.qubits``), so each base ``A_i`` is
``n x n`` while ``⊕A^(k)`` is ``2^n x 2^n``. COMPUTATIONAL order, as the circuits: input
feature ``j`` is basis index ``j`` (qubit ``i`` = bit ``i`` of ``j``); the input is zero-padded
to ``2^n`` and the output cropped to ``d_out`` (``ΔW`` = top-left ``d_out x d_in`` block).
Trainable parameters: ``R(n^2 + 1)`` free, ``R(n(n-1)/2 + 1)`` orthogonal/cayley.
Paths: dense (``hamming_weight_matrix(A, "computational", method="laplace")``) or apply
(:func:`~hwadapt.linalg.givens_apply` for orthogonal bases, else
:func:`~hwadapt.linalg.hamming_weight_apply`), ``O(R·n^2·2^n)`` per vector.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hwadapt.adapters.base import MatrixAdapter
from hwadapt.adapters.config import AdapterConfig
from hwadapt.adapters.registry import register
from hwadapt.linalg import givens_apply, hamming_weight_apply, hamming_weight_matrix


def hamming_qubits(width: int) -> int:
    """Smallest ``n >= 2`` with ``2^n >= width``."""
    return max(2, math.ceil(math.log2(max(width, 1))))


@register("hamming", options=("base", "qubits"))
class HammingLayer(MatrixAdapter):
    def __init__(self, base_layer: nn.Linear, config: AdapterConfig):
        width = max(base_layer.in_features, base_layer.out_features)
        n = config.qubits if config.qubits is not None else hamming_qubits(width)
        if 1 << n < width:
            raise ValueError(f"qubits={n} gives 2^{n} = {1 << n} < layer width {width}: "
                             f"use qubits >= {hamming_qubits(width)} or leave it unset")
        super().__init__(base_layer, config, n, 1 << n)

    def _dense(self, A: torch.Tensor) -> torch.Tensor:
        return hamming_weight_matrix(A, "computational", method="laplace")

    def _apply(self, x: torch.Tensor) -> torch.Tensor:
        if self.base == "orthogonal":
            return givens_apply(x, self.angles, "pyramid")
        return hamming_weight_apply(self.base_matrices(), x)
