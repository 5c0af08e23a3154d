"""Halmos dilation: orthogonal, decomposes into a pyramid, postselects to ``Mx/s``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

from hwadapt.circuits.dilation import (
    combination_matrix,
    dilation_circuit,
    dilation_success_probability,
    halmos_dilation,
    pyramid_angles,
)
from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.lcu import postselect
from hwadapt.circuits.loaders import unary_angles
from hwadapt.linalg import givens_matrix


def _random_so(N: int, rng) -> np.ndarray:
    Q, _ = np.linalg.qr(rng.normal(size=(N, N)))
    if np.linalg.det(Q) < 0:
        Q[:, 0] *= -1
    return Q


@pytest.mark.parametrize("N", [2, 3, 5, 8, 16])
def test_pyramid_angles_reproduce_so_n(N):
    rng = np.random.default_rng(N)
    for _ in range(3):
        Q = _random_so(N, rng)
        th = pyramid_angles(Q)
        assert th.shape == (num_angles(N, "pyramid"),)
        assert np.abs(givens_matrix(N, torch.tensor(th)).numpy() - Q).max() < 1e-10


def test_pyramid_angles_of_a_pyramid_and_rejects_reflections():
    rng = np.random.default_rng(1)
    th = rng.uniform(-np.pi, np.pi, num_angles(6, "pyramid"))
    O = givens_matrix(6, torch.tensor(th)).numpy()
    assert np.abs(givens_matrix(6, torch.tensor(pyramid_angles(O))).numpy() - O).max() < 1e-10
    R = np.diag([-1.0, 1, 1, 1])
    with pytest.raises(ValueError, match="det U = -1"):
        pyramid_angles(R)
    with pytest.raises(ValueError, match="not orthogonal"):
        pyramid_angles(2 * np.eye(3))


@pytest.mark.parametrize("n", [2, 4, 8])
def test_halmos_dilation_is_special_orthogonal_with_block(n):
    rng = np.random.default_rng(n)
    th = rng.uniform(-np.pi, np.pi, (2, num_angles(n, "pyramid")))
    al = np.array([0.8, -0.3])
    M = combination_matrix(th, al, n)
    ref = sum(a * givens_matrix(n, torch.tensor(t)).numpy() for a, t in zip(al, th, strict=True))
    np.testing.assert_allclose(M, ref, atol=1e-14)
    for scale in (None, np.abs(al).sum()):
        U, s = halmos_dilation(M, scale)
        assert abs(s - (np.linalg.norm(M, 2) if scale is None else scale)) < 1e-14
        assert np.abs(U.T @ U - np.eye(2 * n)).max() < 1e-12
        assert abs(np.linalg.det(U) - 1) < 1e-10
        np.testing.assert_allclose(U[:n, :n], M / s, atol=1e-12)
    with pytest.raises(ValueError, match="below"):
        halmos_dilation(M, 0.5 * np.linalg.norm(M, 2))


@pytest.mark.parametrize("n", [3, 4])
def test_dilation_circuit_postselects_to_Mx(n):
    rng = np.random.default_rng(10 + n)
    th = rng.uniform(-np.pi, np.pi, (2, num_angles(n, "pyramid")))
    M = combination_matrix(th, [0.6, 0.9], n)
    x = rng.normal(size=n)
    x /= np.linalg.norm(x)
    qc, s = dilation_circuit(M, unary_angles(x))
    assert qc.num_qubits == 2 * n and qc.count_ops()["rbs"] == (n - 1) + n * (2 * n - 1)
    sv = Statevector(qc).data
    got = sv[[1 << j for j in range(n)]]
    assert np.abs(got.imag).max() < 1e-12
    np.testing.assert_allclose(got.real, M @ x / s, atol=1e-12)
    probs = np.abs(sv) ** 2
    keep = postselect(np.arange(1 << 2 * n), n, n, 1)
    rate = probs[keep].sum()
    assert abs(rate - dilation_success_probability(M, x)) < 1e-12
    assert abs(probs.sum() - probs[postselect(np.arange(1 << 2 * n), 2 * n, 0, 1)].sum()) < 1e-12
    # the dilation never does worse than the LCU's ‖Mx‖²/‖α‖₁²
    assert rate >= np.sum((M @ x) ** 2) / 1.5**2 - 1e-12


def test_fold_dilation_counts_maps_upper_modes_to_rejected_not_hw_errors():
    from hwadapt.circuits.dilation import fold_dilation_counts
    from hwadapt.estimate import tally

    n = 3
    counts = {0b000001: 5, 0b000100: 7, 0b001000: 11, 0b100000: 13, 0b000011: 17, 0: 19,
              0b001001: 23}
    folded = fold_dilation_counts(counts, n)
    assert sum(folded.values()) == sum(counts.values())
    t = tally(folded, n)
    np.testing.assert_array_equal(t.kept, [5, 0, 7])
    assert t.total == 95 and t.hw_bad == 17 + 19 + 23  # weights 2, 0, 2 over all 2n bits
    raw = tally(counts, n)  # unfolded, the upper modes would be miscounted as HW errors
    assert raw.hw_bad == 11 + 13 + 17 + 19
