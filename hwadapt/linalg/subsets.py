"""Index helpers of the Hamming-weight basis (no torch): subsets, their basis indices, block
orders and offsets. The one part of :mod:`hwadapt.linalg` that :mod:`hwadapt.kernels` imports.

Conventions (docs/MATHS.md): subsets ``I ⊂ {0..n-1}``, ``|I| = k``, in
``itertools.combinations(range(n), k)`` order; the basis state of ``I`` has bit ``i`` set for
``i ∈ I``, Qiskit (little-endian) index ``Σ_{i∈I} 2^i`` (qubit ``i`` = bit ``i``).
"""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np


@cache
def subsets(n: int, k: int) -> tuple[tuple[int, ...], ...]:
    """All ``k``-subsets of ``range(n)`` in ``itertools.combinations`` order."""
    if not 0 <= k <= n:
        raise ValueError(f"subset size k={k} must satisfy 0 <= k <= n={n}")
    return tuple(itertools.combinations(range(n), k))


@cache
def subset_indices(n: int, k: int) -> tuple[int, ...]:
    """Computational-basis indices ``Σ_{i∈I} 2^i`` of ``subsets(n, k)``, in the same order."""
    return tuple(sum(1 << i for i in s) for s in subsets(n, k))


@cache
def hw_permutation(n: int) -> tuple[int, ...]:
    """``perm[b]`` = computational index of block-order position ``b`` (length ``2^n``).

    ``H_comp[perm][:, perm] == H_block``, i.e. ``H_block = P^T H_comp P`` with
    ``P[perm[b], b] = 1``.
    """
    return tuple(i for k in range(n + 1) for i in subset_indices(n, k))


def block_entries(perm: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` in the ``2^n x 2^n`` computational-order matrix of every entry of the
    blocks ``⊕_k A^(k)``, each block row-major, for a block order ``perm`` (block position ->
    computational index, e.g. ``hw_permutation(n)``) with block sizes ``sizes``."""
    starts = np.cumsum(sizes) - sizes
    rows = [np.repeat(perm[s:s + m], m) for s, m in zip(starts, sizes, strict=True)]
    cols = [np.tile(perm[s:s + m], m) for s, m in zip(starts, sizes, strict=True)]
    return np.concatenate(rows), np.concatenate(cols)


@cache
def compound_offsets(n: int, k_max: int) -> tuple[int, ...]:
    """Offsets (length ``k_max + 2``) of the blocks of :func:`compounds_flat`: block ``k``
    is ``[off[k], off[k+1])``, ``off[k+1] - off[k] = C(n,k)^2``."""
    off = [0]
    for k in range(k_max + 1):
        off.append(off[-1] + len(subsets(n, k)) ** 2)
    return tuple(off)


def _num_qubits(dim: int, n: int | None) -> int:
    if dim < 1 or dim & (dim - 1):
        raise ValueError(f"last dimension must be 2^n, got {dim}: pad the vectors to a power of 2")
    nq = dim.bit_length() - 1
    if n is not None and n != nq:
        raise ValueError(f"n={n} does not match the last dimension {dim} (= 2^{nq})")
    return nq
