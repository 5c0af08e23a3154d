"""Computational basis states of any width as rows of 64-bit words, and a lookup table.

A state of ``N`` qubits is a row of ``W = ceil(N/64)`` ``uint64`` words: qubit ``q`` is bit
``q % 64`` of word ``q // 64`` (Qiskit little-endian: basis index ``Σ_q bit_q 2^q``). No
basis index is ever held in one machine integer, so the width is unlimited; Python ints
appear only at the edges (:func:`to_ints`, :func:`from_ints`).
"""

from __future__ import annotations

import numpy as np

WORD = 64


def num_words(num_qubits: int) -> int:
    """Words per state (at least 1)."""
    return max(1, -(-num_qubits // WORD))


def mask_words(qubits, W: int, values: int | None = None) -> np.ndarray:
    """``(W,)`` words with the bits of ``qubits`` set (or, with ``values``, bit ``qubits[j]``
    set to bit ``j`` of ``values``)."""
    out = np.zeros(W, dtype=np.uint64)
    for j, q in enumerate(qubits):
        if values is None or values >> j & 1:
            out[q // WORD] |= np.uint64(1 << (q % WORD))
    return out


def int_words(value: int, W: int) -> np.ndarray:
    """``(W,)`` words of a non-negative Python int."""
    return np.array([(value >> (WORD * w)) & ((1 << WORD) - 1) for w in range(W)],
                    dtype=np.uint64)


def from_ints(values, W: int) -> np.ndarray:
    """``(L, W)`` words of Python ints (any size)."""
    vals = [int(v) for v in values]
    if any(v < 0 for v in vals):
        raise ValueError("basis indices must be non-negative")
    out = np.empty((len(vals), W), dtype=np.uint64)
    for w in range(W):
        out[:, w] = [(v >> (WORD * w)) & ((1 << WORD) - 1) for v in vals]
    return out


def to_ints(words: np.ndarray) -> list[int]:
    """Python ints of ``(L, W)`` words."""
    out = [0] * len(words)
    for w in range(words.shape[1] - 1, -1, -1):
        col = words[:, w].tolist()
        out = [(o << WORD) | c for o, c in zip(out, col, strict=True)]
    return out


def local_index(words: np.ndarray, qubits) -> np.ndarray:
    """``Σ_j bit(qubits[j]) 2^j`` per row, shape ``(L,)`` int64 (``len(qubits) <= 62``)."""
    out = np.zeros(len(words), dtype=np.int64)
    for j, q in enumerate(qubits):
        bit = (words[:, q // WORD] >> np.uint64(q % WORD)) & np.uint64(1)
        out |= bit.astype(np.int64) << j
    return out


def matches(words: np.ndarray, mask: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Rows whose bits under ``mask`` equal ``value`` (both ``(W,)``), shape ``(L,)``."""
    return ((words & mask) == value).all(axis=1)


def parity(words: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Parity (0/1, int64) of the bits under ``mask`` per row."""
    return (np.bitwise_count(words & mask).sum(axis=1) & 1).astype(np.int64)


def popcounts(words: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Number of set bits under ``mask`` per row (int64)."""
    return np.bitwise_count(words & mask).sum(axis=1).astype(np.int64)


def sort_order(words: np.ndarray) -> np.ndarray:
    """Permutation that sorts rows by basis index."""
    return np.lexsort(words.T)


def project(words: np.ndarray, qubits) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes of measuring ``qubits`` on each basis state: ``(outcomes (K, W') words
    sorted ascending and distinct, index (L,) the outcome of each row)``; outcome bit ``j`` =
    bit ``qubits[j]`` (a ``None`` entry: always 0)."""
    W = num_words(len(qubits))
    out = np.zeros((len(words), W), dtype=np.uint64)
    for j, q in enumerate(qubits):
        if q is None:
            continue
        bit = (words[:, q // WORD] >> np.uint64(q % WORD)) & np.uint64(1)
        out[:, j // WORD] |= bit << np.uint64(j % WORD)
    _, first, inverse = np.unique(_keys(out), return_index=True, return_inverse=True)
    uniq = out[first]
    order = sort_order(uniq)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return uniq[order], rank[inverse.ravel()]


def _keys(words: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(words).view(f"V{8 * words.shape[1]}").ravel()


class Table:
    """Append-only table of distinct basis states; a state's position never changes."""

    def __init__(self, W: int):
        self.W = W
        self.words = np.zeros((0, W), dtype=np.uint64)
        self._sorted = _keys(self.words)
        self._pos = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.words)

    def find(self, rows: np.ndarray) -> np.ndarray:
        """Positions of ``rows`` ``(M, W)``, ``-1`` where absent."""
        keys = _keys(rows)
        if not len(self._sorted):
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted, keys), len(self._sorted) - 1)
        return np.where(self._sorted[at] == keys, self._pos[at], -1)

    def add(self, rows: np.ndarray) -> np.ndarray:
        """Positions of ``rows``, appending the absent ones (in first-seen order)."""
        pos = self.find(rows)
        missing = np.flatnonzero(pos < 0)
        if missing.size:
            keys = _keys(rows[missing])
            uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
            start = len(self.words)
            order = np.argsort(first)  # append in first-seen order
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            self.words = np.concatenate([self.words, rows[missing[first[order]]]])
            pos[missing] = start + rank[inverse.ravel()]
            at = np.searchsorted(self._sorted, uniq)
            self._sorted = np.insert(self._sorted, at, uniq)
            self._pos = np.insert(self._pos, at, start + rank)
        return pos
