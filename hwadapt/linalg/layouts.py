"""Layouts of two-qubit Hamming-weight-preserving gates: which qubit pairs, in which order.

A layout is a list of pairs ``(a, b)``, ``a < b``, in *application order*; the ``i``-th
angle of an adapter belongs to the ``i``-th pair (this is the parameter order shared by
:func:`hwadapt.linalg.givens_matrix` and the circuits). Pure Python: no Qiskit import.

- ``pyramid``: ``n(n-1)/2`` nearest-neighbour gates, depth ``2n-3`` (``n >= 2``). Built
  as diagonals ``j = 0..n-2``, each ``(j, j+1), (j-1, j), ..., (0, 1)``; gate ``(i, i+1)``
  of diagonal ``j`` runs in layer ``2j - i``. Pairs are listed layer by layer, lowest
  qubit first. Universal for ``SO(n)``; no SWAPs on a line.
- ``butterfly``: ``(n/2)·log2 n`` gates on ``n = 2^m`` qubits; layer ``l = 0..m-1`` pairs
  ``(i, i + 2^l)`` for every ``i`` with bit ``l`` clear. Non-adjacent pairs: use FBS.
- ``brick``: ``depth`` alternating layers (default ``n``) of nearest-neighbour pairs,
  layer ``t`` on ``(i, i+1)`` for ``i ≡ t (mod 2)``.
"""

from __future__ import annotations

LAYOUTS = ("pyramid", "butterfly", "brick")
__all__ = ["LAYOUTS", "brick_layers", "butterfly_layers", "layout_layers", "layout_pairs",
           "num_angles", "pyramid_layers"]


def pyramid_layers(n: int) -> list[list[tuple[int, int]]]:
    """The pyramid as parallel layers (depth ``2n-3``)."""
    if n < 2:
        raise ValueError(f"a pyramid needs n >= 2 qubits, got n={n}")
    layers: list[list[tuple[int, int]]] = [[] for _ in range(2 * n - 3)]
    for j in range(n - 1):
        for i in range(j, -1, -1):
            layers[2 * j - i].append((i, i + 1))
    return [sorted(layer) for layer in layers]


def butterfly_layers(n: int) -> list[list[tuple[int, int]]]:
    """The butterfly as parallel layers (depth ``log2 n``); ``n`` a power of two."""
    if n < 2 or n & (n - 1):
        raise ValueError(f"a butterfly needs n a power of two >= 2, got n={n}")
    m = n.bit_length() - 1
    return [[(i, i + (1 << l)) for i in range(n) if not i >> l & 1] for l in range(m)]


def brick_layers(n: int, depth: int | None = None) -> list[list[tuple[int, int]]]:
    """``depth`` (default ``n``) alternating layers of nearest-neighbour pairs."""
    if n < 2:
        raise ValueError(f"a brick layout needs n >= 2 qubits, got n={n}")
    depth = n if depth is None else depth
    return [[(i, i + 1) for i in range(t % 2, n - 1, 2)] for t in range(depth)]


def layout_layers(n: int, layout: str, depth: int | None = None) -> list[list[tuple[int, int]]]:
    """Parallel layers of ``layout`` on ``n`` qubits (``depth`` only for ``brick``)."""
    if layout == "pyramid":
        return pyramid_layers(n)
    if layout == "butterfly":
        return butterfly_layers(n)
    if layout == "brick":
        return brick_layers(n, depth)
    raise ValueError(f"unknown layout {layout!r}: choose one of {', '.join(LAYOUTS)}")


def layout_pairs(n: int, layout: str, depth: int | None = None) -> list[tuple[int, int]]:
    """Pairs of ``layout`` in application (= parameter) order."""
    return [p for layer in layout_layers(n, layout, depth) for p in layer]


def num_angles(n: int, layout: str, depth: int | None = None) -> int:
    """Number of gates, hence angles, of ``layout`` on ``n`` qubits."""
    return len(layout_pairs(n, layout, depth))
