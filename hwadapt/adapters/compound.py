"""Compound adapter: ``ΔW = Σ_i α_i crop(A_i^(k))``.

Order ``k = config.order`` (default 2: the smallest non-trivial compound, which needs the
fewest base parameters for a given width, ``n ≈ sqrt(2·width)``); ``n`` = smallest with
``C(n,k) >= max(d_in, d_out)`` (or ``config.qubits``). Input feature ``j`` is the ``j``-th
``k``-subset in ``itertools.combinations`` order; the input is zero-padded to ``C(n,k)`` and
the output cropped (``ΔW`` = top-left ``d_out x d_in`` block of ``A^(k)``).
Trainable parameters: ``R(n^2 + 1)`` free, ``R(n(n-1)/2 + 1)`` orthogonal/cayley.
Paths: dense (block ``k`` of :func:`~hwadapt.linalg.compounds_flat`) or apply
(:func:`~hwadapt.linalg.compound_apply`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hwadapt.adapters.base import MatrixAdapter
from hwadapt.adapters.config import AdapterConfig
from hwadapt.adapters.registry import register
from hwadapt.linalg import compound_apply, compound_offsets, compounds_flat

DEFAULT_ORDER = 2


def compound_qubits(width: int, k: int) -> int:
    """Smallest ``n >= max(k, 2)`` with ``C(n, k) >= width``."""
    n = max(k, 2)
    while math.comb(n, k) < width:
        n += 1
    return n


@register("compound", options=("order", "base", "qubits"))
class CompoundLayer(MatrixAdapter):
    def __init__(self, base_layer: nn.Linear, config: AdapterConfig):
        k = config.order if config.order is not None else DEFAULT_ORDER
        width = max(base_layer.in_features, base_layer.out_features)
        if config.qubits is None:
            n = compound_qubits(width, k)
        else:
            n = config.qubits
            if k > n:
                raise ValueError(f"order k={k} > qubits n={n}: choose k <= n")
            if math.comb(n, k) < width:
                raise ValueError(f"C({n},{k}) = {math.comb(n, k)} < layer width {width}: "
                                 f"increase qubits (e.g. {compound_qubits(width, k)}) or "
                                 f"choose k closer to n/2")
        self.k = k
        super().__init__(base_layer, config, n, math.comb(n, k))

    def _flat(self, A: torch.Tensor) -> torch.Tensor:
        return compounds_flat(A, self.k)[..., compound_offsets(self.n, self.k)[self.k]:]

    def _flat_rows_cols(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.arange(self.dim)
        return idx.repeat_interleave(self.dim), idx.repeat(self.dim)

    def _apply_factors(self, x: torch.Tensor) -> torch.Tensor:
        return compound_apply(self.base_matrices(), self.k, x)
