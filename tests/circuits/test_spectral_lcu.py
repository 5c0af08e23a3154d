"""The spectral two-term LCU equals the textbook LCU (Operator), postselects to Mx/‖α‖₁,
and needs far fewer two-qubit gates than the per-position multiplexed SELECT."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Operator, Statevector

from hwadapt.backends import fake_backend
from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.dilation import combination_matrix
from hwadapt.circuits.efficient_lcu import efficient_lcu_circuit
from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.lcu import lcu_circuit
from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.circuits.placement import lcu_placement
from hwadapt.circuits.spectral_lcu import rotation_pairs, spectral_lcu_circuit, spectral_split
from hwadapt.circuits.transpile import transpile_for
from hwadapt.linalg import givens_matrix


def _problem(n: int, layout: str, seed: int):
    rng = np.random.default_rng(seed)
    th = rng.uniform(-np.pi, np.pi, (2, num_angles(n, layout)))
    al = rng.uniform(0.2, 1.0, 2) * rng.choice([-1, 1], 2)
    return th, al


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("seed", [0, 1])
def test_equals_textbook_lcu_operator(n, seed):
    th, al = _problem(n, "pyramid", seed + 10 * n)
    got = Operator(spectral_lcu_circuit(th, al, n=n)).data
    want = Operator(lcu_circuit([adapter_circuit(n, t) for t in th], al)).data
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_equals_textbook_for_butterfly_layout():
    th, al = _problem(4, "butterfly", 3)
    got = Operator(spectral_lcu_circuit(th, al, n=4, layout="butterfly")).data
    want = Operator(lcu_circuit([adapter_circuit(4, t, "butterfly") for t in th], al)).data
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("n", [3, 6])
def test_postselected_state_is_mx_over_alpha1(n):
    th, al = _problem(n, "pyramid", 7 + n)
    x = np.random.default_rng(n).normal(size=n)
    sv = Statevector(spectral_lcu_circuit(th, al, x)).data
    kept = np.real(sv[[1 << j for j in range(n)]])  # ancilla (qubit n) = 0, HW 1
    y = combination_matrix(th, al, n) @ (x / np.linalg.norm(x))
    np.testing.assert_allclose(kept, y / np.abs(al).sum(), atol=1e-12)


def test_folded_loader_matches_unfolded_circuit():
    n = 5
    th, al = _problem(n, "pyramid", 4)
    x = np.random.default_rng(4).normal(size=n)
    unfolded = spectral_lcu_circuit(th, al, n=n)
    prep = unary_loader(n, unary_angles(x))
    sv_a = Statevector.from_label("0" * (n + 1)).evolve(prep, range(n)).evolve(unfolded)
    sv_b = Statevector(spectral_lcu_circuit(th, al, x))
    np.testing.assert_allclose(sv_b.data, sv_a.data, atol=1e-12)


@pytest.mark.parametrize("n", [2, 5, 8])
def test_spectral_split_reconstructs(n):
    rng = np.random.default_rng(n)
    O = givens_matrix(n, torch.as_tensor(rng.uniform(-3, 3, (2, num_angles(n, "pyramid")))),
                      "pyramid").numpy()
    W = O[0].T @ O[1]
    Q, phi = spectral_split(W)
    D = givens_matrix(n, torch.as_tensor(phi), rotation_pairs(n)).numpy()
    assert np.linalg.det(Q) == pytest.approx(1.0)
    np.testing.assert_allclose(Q @ D @ Q.T, W, atol=1e-12)


def test_spectral_split_pairs_real_eigenvalues():
    # W = diag(-1, -1, 1, 1) permuted: eigenvalues only ±1, no complex pair
    P = np.eye(4)[[2, 0, 3, 1]]
    W = P @ np.diag([-1.0, 1.0, -1.0, 1.0]) @ P.T
    Q, phi = spectral_split(W)
    D = givens_matrix(4, torch.as_tensor(phi), rotation_pairs(4)).numpy()
    np.testing.assert_allclose(Q @ D @ Q.T, W, atol=1e-12)
    assert sorted(np.round(np.abs(phi), 12)) == [0.0, pytest.approx(np.pi)]


def test_bad_input():
    th, al = _problem(4, "pyramid", 0)
    with pytest.raises(ValueError, match="exactly 2 terms"):
        spectral_lcu_circuit(np.vstack([th, th]), [1, 1, 1, 1], n=4)
    with pytest.raises(ValueError, match="give n"):
        spectral_lcu_circuit(th, al)
    with pytest.raises(ValueError, match="rotation"):
        spectral_split(np.diag([-1.0, 1.0, 1.0]))


def test_fewer_two_qubit_gates_than_multiplexed_on_heavy_hex():
    n = 8
    th, al = _problem(n, "pyramid", 5)
    x = np.random.default_rng(5).normal(size=n)
    be = fake_backend("fake_torino")
    lay = lcu_placement(be, n, 1)
    _, spec = transpile_for(spectral_lcu_circuit(th, al, x), be, initial_layout=lay)
    _, mux = transpile_for(efficient_lcu_circuit(th, al, unary_loader(n, unary_angles(x))), be,
                           initial_layout=lay)
    # loader 7 RBS + 4 + 4 multiplexed RBS + 28-RBS pyramid = 43 RBS (86 CZ) + 8 ancilla CZs
    assert spec.two_qubit_gates < 0.6 * mux.two_qubit_gates
    assert spec.two_qubit_gates <= 160
