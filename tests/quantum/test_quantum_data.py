import numpy as np
import pytest
from qiskit.quantum_info import Statevector

from hwadapt.errors import InputError
from hwadapt.quantum.data import (
    ground_state,
    hamiltonian,
    pauli_term,
    phase_data,
    state_prep_circuit,
    state_prep_cost,
)


@pytest.mark.parametrize("model", ["ising", "cluster"])
@pytest.mark.parametrize("g", [0.3, 0.95, 1.6])
def test_ground_state_is_the_lowest_eigenvector(model, g):
    H = hamiltonian(model, 6, g).toarray()
    w = np.linalg.eigvalsh(H)
    psi = ground_state(model, 6, g)
    assert np.linalg.norm(psi) == pytest.approx(1)
    assert psi @ H @ psi == pytest.approx(w[0], abs=1e-9)
    assert np.linalg.norm(H @ psi - w[0] * psi) < 1e-6


def test_pauli_term_is_little_endian():
    Z0 = pauli_term(3, {0: "Z"}).diagonal()
    assert list(Z0) == [1, -1, 1, -1, 1, -1, 1, -1]  # bit 0 of the index


def test_phases_show_in_order_parameters():
    zz = pauli_term(6, {0: "Z", 1: "Z"})
    zxz = pauli_term(6, {0: "Z", 1: "X", 2: "Z"})
    lo, hi = ground_state("ising", 6, 0.3), ground_state("ising", 6, 1.7)
    assert lo @ zz @ lo > 0.9 > hi @ zz @ hi
    lo, hi = ground_state("cluster", 6, 0.3), ground_state("cluster", 6, 1.7)
    assert lo @ zxz @ lo > 0.9 > hi @ zxz @ hi


def test_phase_data_is_seeded_balanced_and_labelled_by_g():
    a = phase_data("cluster", 4, n_train=10, n_val=6, seed=3)
    b = phase_data("cluster", 4, n_train=10, n_val=6, seed=3)
    c = phase_data("cluster", 4, n_train=10, n_val=6, seed=4)
    assert np.array_equal(a.states, b.states) and not np.allclose(a.g, c.g)
    assert np.array_equal(a.labels, (a.g > 1).astype(int))
    assert a.labels.sum() == 8 and np.all(np.abs(a.g - 1) >= 0.1)
    x, y = a.part("val")
    assert x.shape == (6, 16) and y.shape == (6,)


def test_state_preparation_is_exact_and_costed():
    psi = ground_state("cluster", 4, 0.7)
    assert abs(Statevector(state_prep_circuit(psi)).data.conj() @ psi) == pytest.approx(1)
    assert state_prep_cost(psi)["cx"] > 0


@pytest.mark.parametrize("kwargs", [{"model": "heisenberg"}, {"n": 2}, {"g_range": (1.2, 2)}])
def test_bad_options_are_input_errors(kwargs):
    args = {"model": "ising", "n": 4} | kwargs
    with pytest.raises(InputError):
        phase_data(args.pop("model"), args.pop("n"), **args)
