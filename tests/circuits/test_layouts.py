"""Layouts: gate counts, depths, nearest-neighbour structure, parameter order."""

import math

import pytest

from hwadapt.circuits.layouts import layout_layers, layout_pairs, num_angles


@pytest.mark.parametrize("n", range(2, 10))
def test_pyramid_counts_depth_and_locality(n):
    layers = layout_layers(n, "pyramid")
    assert len(layers) == 2 * n - 3
    pairs = layout_pairs(n, "pyramid")
    assert len(pairs) == n * (n - 1) // 2
    assert all(b == a + 1 for a, b in pairs)
    for layer in layers:  # gates inside a layer act on disjoint qubits
        qubits = [q for p in layer for q in p]
        assert len(qubits) == len(set(qubits))


@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_butterfly_counts(n):
    assert num_angles(n, "butterfly") == n // 2 * int(math.log2(n))
    assert len(layout_layers(n, "butterfly")) == int(math.log2(n))


def test_brick_and_errors():
    assert layout_pairs(4, "brick", depth=2) == [(0, 1), (2, 3), (1, 2)]
    with pytest.raises(ValueError, match="power of two"):
        layout_pairs(6, "butterfly")
    with pytest.raises(ValueError, match="unknown layout"):
        layout_pairs(4, "ring")
