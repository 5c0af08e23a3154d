"""Reusable large work arrays of the fused layers (:class:`Pool`)."""

from __future__ import annotations

import math
import threading

import numpy as np

POOL_MIN_ENTRIES = 1 << 18
"""Arrays of at least this many entries are pooled; smaller ones are plain ``np.empty`` and
are never kept (the allocator serves them from its heap)."""


class Pool:
    """Large work arrays of :class:`~hwadapt.kernels.hamming.HammingBlocks` kept for the
    next step. Arrays of tens of MB (``F`` is ``R·C(2n,n)`` floats: 43 MB at ``n = 12``,
    ``R = 2``) are fresh ``mmap`` pages from glibc at every step, and the kernel's page
    faults and zeroing cost about as much as the compound recursion (the layer ran 1.5x LoRA
    r=8's step at width 4096 where glibc happened to keep them, 1.95x where it did not). An
    array is taken for one step and given back when that step no longer needs it (after the
    backward; at once without one); an array never given back (a graph dropped before its
    backward) is simply freed. It keeps at most ``depth`` free arrays per shape (at
    ``n = 12``, ``R = 2``: up to ~0.26 GB), only arrays of ``min_entries`` or more;
    :meth:`clear` lets them go. Thread-safe."""

    def __init__(self, depth: int = 4, min_entries: int = POOL_MIN_ENTRIES):
        self.depth = depth
        self.min_entries = min_entries
        self.free: dict[tuple, list[np.ndarray]] = {}
        self.lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An uninitialised array (reused when one of that shape and dtype is free)."""
        if math.prod(shape) < self.min_entries:
            return np.empty(shape, dtype=dtype)
        key = (shape, np.dtype(dtype).str)
        with self.lock:
            free = self.free.get(key)
            if free:
                return free.pop()
        return np.empty(shape, dtype=dtype)

    def clear(self) -> None:
        """Drop every free array (the memory goes back to the allocator)."""
        with self.lock:
            self.free.clear()

    def give(self, *arrays: np.ndarray | None) -> None:
        """Keep ``arrays`` for a later :meth:`take` (at most ``depth`` per shape; small ones
        and ``None`` are dropped)."""
        with self.lock:
            for a in arrays:
                if a is not None and a.size >= self.min_entries:
                    free = self.free.setdefault((a.shape, a.dtype.str), [])
                    if len(free) < self.depth:
                        free.append(a)


POOL = Pool()
"""The process's pool (:class:`hwadapt.kernels.hamming.HammingBlocks` takes from it)."""
