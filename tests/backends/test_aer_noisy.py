"""aer_noisy's Estimator: readout errors folded into the observables (Aer's Estimator does not
measure), checked against the classical confusion of a measured distribution."""

import itertools

import numpy as np
import pytest
from qiskit.quantum_info import SparsePauliOp

from hwadapt.backends import restricted_noise_model
from hwadapt.backends.aer_noisy import compact_observable, readout_flips, readout_observable


def _z_value(bits: tuple[int, ...], label_idx) -> float:
    return float(np.prod([1 - 2 * bits[q] for q in label_idx]))


@pytest.mark.parametrize("seed", range(4))
def test_readout_observable_equals_measured_through_confusion(seed):
    """A distribution p over 3-bit outcomes read through independent flips (p(1|0), p(0|1))
    per qubit: the noisy mean of a Z-string sum equals the readout observable's clean mean."""
    rng = np.random.default_rng(seed)
    n = 3
    p = rng.dirichlet(np.ones(2**n))
    flips = [tuple(rng.uniform(0, 0.2, 2)) for _ in range(n)]
    terms = [("Z" * len(s), list(s), rng.normal())
             for r in range(n + 1) for s in itertools.combinations(range(n), r)]
    op = SparsePauliOp.from_sparse_list(terms, n)

    def mean(o, dist):
        return sum(dist[x] * c.real * _z_value(tuple((x >> q) & 1 for q in range(n)), idx)
                   for x in range(2**n) for _, idx, c in o.to_sparse_list())

    noisy = np.zeros(2**n)  # outcome distribution after readout errors
    for x in range(2**n):
        for y in range(2**n):
            t = 1.0
            for q in range(n):
                b, r = (x >> q) & 1, (y >> q) & 1
                p10, p01 = flips[q]
                flip = p10 if b == 0 else p01
                t *= flip if b != r else 1 - flip
            noisy[y] += p[x] * t
    assert mean(readout_observable(op, flips), p) == pytest.approx(mean(op, noisy), abs=1e-12)


def test_readout_flips_from_restricted_model():
    """The restricted model's readout errors, in its renumbered qubit order; none at scale 0."""
    qubits = (3, 5)
    flips = readout_flips(restricted_noise_model("fake_lagos", qubits), 2)
    assert all(0 < a < 0.5 and 0 < b < 0.5 for a, b in flips)
    assert readout_flips(restricted_noise_model("fake_lagos", qubits, 0.0), 2) == [(0, 0)] * 2
    ident = SparsePauliOp("ZX")
    assert readout_observable(ident, [(0.0, 0.0)] * 2) == ident


def test_compact_observable_renumbers():
    op = SparsePauliOp.from_sparse_list([("XZ", [5, 2], 0.5)], 7)
    small = compact_observable(op, (2, 5))
    assert small == SparsePauliOp.from_sparse_list([("XZ", [1, 0], 0.5)], 2)
    with pytest.raises(ValueError, match="outside"):
        compact_observable(op, (2, 3))
