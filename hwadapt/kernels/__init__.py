"""Compiled (numba) CPU kernels behind :mod:`hwadapt.linalg` and the Hamming-weight adapter;
every other device takes the pure-torch reference paths (the switch: :func:`supported`).

- :mod:`~hwadapt.kernels.compounds`: all compounds of a batch of matrices (Laplace
  recursion as contiguous axpys, forward and reverse).
- :mod:`~hwadapt.kernels.hamming`: the fused Hamming-weight layer (:class:`HammingDense`,
  :class:`HammingBlocks`).
- :mod:`~hwadapt.kernels.givens`: Givens products (:class:`GivensMatrix`).

Imports only :mod:`hwadapt.linalg.subsets` from the rest of hwadapt. numba compiles on first
use (``cache=True``: the compiled code is kept in ``__pycache__`` next to these files).
"""

from hwadapt.kernels.compounds import DTYPES, _plan, compounds_flat, supported
from hwadapt.kernels.givens import GivensMatrix
from hwadapt.kernels.hamming import (
    BlockIndex,
    HammingBlocks,
    HammingDense,
    _add_cols,
    _block_gemms,
    _block_gram,
    _gather_blocks,
    block_index,
    hw_colex_order,
)

__all__ = ["DTYPES", "BlockIndex", "GivensMatrix", "HammingBlocks", "HammingDense",
           "_add_cols", "_block_gemms", "_block_gram", "_gather_blocks", "_plan",
           "block_index", "compounds_flat", "hw_colex_order", "supported"]
