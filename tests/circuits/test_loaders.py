"""Loaders against Statevector: unary (linear, tree), HW-k subspace, amplitude encoding."""

import math

import numpy as np
import pytest
import torch
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import Statevector

from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.loaders import (
    amplitude_loader,
    subspace_loader,
    unary_angles,
    unary_loader,
    unary_splits,
)
from hwadapt.linalg import compound_matrix, givens_matrix, subset_indices

ATOL = 1e-10


def hw1(sv: np.ndarray, n: int) -> np.ndarray:
    return sv[[1 << i for i in range(n)]]


@pytest.mark.parametrize("tree", [False, True])
@pytest.mark.parametrize("n", range(2, 10))
def test_unary_loader_loads_signed_vector(n, tree):
    rng = np.random.default_rng(n + 10 * tree)
    for x in (rng.normal(size=n), np.r_[np.zeros(n - 1), -2.0], np.r_[-1.0, np.zeros(n - 1)]):
        angles = unary_angles(x, tree)
        assert angles.shape == (n - 1,)
        qc = unary_loader(n, angles, tree)
        sv = Statevector(qc).data
        np.testing.assert_allclose(hw1(sv, n), x / np.linalg.norm(x), atol=ATOL)
        assert np.linalg.norm(hw1(sv, n)) == pytest.approx(1.0, abs=ATOL)  # nothing elsewhere


def test_single_qubit_loader_is_x():
    assert unary_angles([-3.0]).shape == (0,)
    np.testing.assert_allclose(Statevector(unary_loader(1, [])).data, [0, 1], atol=ATOL)


@pytest.mark.parametrize("n", [2, 3, 5, 8, 13, 16])
def test_tree_depth_is_logarithmic(n):
    qc = unary_loader(n, np.zeros(n - 1), tree=True)
    assert qc.depth() == 1 + math.ceil(math.log2(n))  # X, then one RBS layer per level
    assert unary_loader(n, np.zeros(n - 1)).depth() == n
    assert sorted(q for _, mid, _ in unary_splits(n, True) for q in [mid]) == list(range(1, n))


@pytest.mark.parametrize("tree", [False, True])
def test_one_parameterised_circuit_serves_a_batch(tree):
    n, B = 6, 5
    rng = np.random.default_rng(1)
    X = rng.normal(size=(B, n))
    angles = unary_angles(X, tree)
    assert angles.shape == (B, n - 1)
    pv = ParameterVector("x", n - 1)
    qc = unary_loader(n, pv, tree)
    for b in range(B):
        sv = Statevector(qc.assign_parameters(angles[b])).data
        np.testing.assert_allclose(hw1(sv, n), X[b] / np.linalg.norm(X[b]), atol=ATOL)
    np.testing.assert_allclose(unary_angles(torch.tensor(X), tree), angles)


@pytest.mark.parametrize("n,k", [(2, 1), (4, 2), (5, 2), (5, 3), (6, 3), (7, 4), (8, 4)])
def test_subspace_loader_is_compound_column(n, k):
    rng = np.random.default_rng(n * k)
    angles = rng.uniform(-np.pi, np.pi, num_angles(n, "pyramid"))
    occupied = sorted(rng.choice(n, k, replace=False).tolist())
    sv = Statevector(subspace_loader(n, k, angles, occupied=occupied)).data
    C = compound_matrix(givens_matrix(n, torch.tensor(angles)), k).numpy()
    col = list(subset_indices(n, k)).index(sum(1 << q for q in occupied))
    expected = np.zeros(1 << n)
    expected[list(subset_indices(n, k))] = C[:, col]
    np.testing.assert_allclose(sv, expected, atol=ATOL)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_amplitude_loader(n):
    rng = np.random.default_rng(n)
    for x in (rng.normal(size=1 << n), rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)):
        sv = Statevector(amplitude_loader(x)).data
        np.testing.assert_allclose(sv, x / np.linalg.norm(x), atol=ATOL)


def test_loader_errors():
    with pytest.raises(ValueError, match="zero vector"):
        unary_angles(np.zeros(3))
    with pytest.raises(ValueError, match="real"):
        unary_angles(np.array([1j, 1.0]))
    with pytest.raises(ValueError, match="expected 3"):
        unary_loader(4, [0.1, 0.2])
    with pytest.raises(ValueError, match="distinct qubits"):
        subspace_loader(4, 2, np.zeros(6), occupied=[1, 1])
    with pytest.raises(ValueError, match="length 2\\^n"):
        amplitude_loader(np.ones(3))
    with pytest.raises(ValueError, match="small registers"):
        amplitude_loader(np.ones(1 << 13))
