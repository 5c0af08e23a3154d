"""Placement on heavy-hex: lines are coupled paths; placed circuits need no SWAPs."""

from __future__ import annotations

import numpy as np
import pytest

from hwadapt.backends import fake_backend
from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.placement import compare_placement, find_line, lcu_placement


@pytest.fixture(scope="module")
def torino():
    return fake_backend("fake_torino")


def _coupled(backend, a: int, b: int) -> bool:
    edges = backend.coupling_map.get_edges()
    return (a, b) in edges or (b, a) in edges


@pytest.mark.parametrize("length", [2, 8, 16])
def test_find_line_is_a_coupled_simple_path(torino, length):
    line = find_line(torino, length)
    assert len(line) == length == len(set(line))
    assert all(_coupled(torino, a, b) for a, b in zip(line, line[1:], strict=False))
    assert not set(find_line(torino, 4, exclude=frozenset(line))) & set(line)


def test_lcu_placement_puts_ancilla_next_to_the_line(torino):
    lay = lcu_placement(torino, 6, 1)
    line, anc = lay[:6], lay[6]
    assert anc not in line and any(_coupled(torino, anc, q) for q in line)


def test_pyramid_on_line_needs_no_swaps(torino):
    n = 8
    qc = adapter_circuit(n, np.linspace(0.1, 2.0, num_angles(n, "pyramid")))
    rep = compare_placement(qc, torino, find_line(torino, n))
    assert rep.placed.swaps == 0
    assert rep.placed.two_qubit_gates == 2 * num_angles(n, "pyramid")
    assert rep.to_dict()["layout"] == rep.layout
    with pytest.raises(ValueError, match="layout has"):
        compare_placement(qc, torino, [0, 1])
    with pytest.raises(ValueError, match="does not fit"):
        find_line(torino, 1000)
