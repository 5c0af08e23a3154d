"""LCU circuits: the ancilla-0 block is M/‖α‖₁; postselection probability and state."""

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import Operator, Statevector

from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.lcu import lcu_ancillas, lcu_circuit, popcount, postselect, prepare_gate
from hwadapt.circuits.loaders import unary_angles, unary_loader

ATOL = 1e-10


def random_terms(n, R, rng, layout="pyramid"):
    us = [adapter_circuit(n, rng.uniform(-np.pi, np.pi, num_angles(n, layout)), layout)
          for _ in range(R)]
    alphas = rng.normal(size=R)
    alphas[0] = -abs(alphas[0])  # always at least one negative coefficient
    return us, alphas


def test_ancilla_count():
    assert [lcu_ancillas(R) for R in (1, 2, 3, 4, 5, 8, 9)] == [0, 1, 2, 2, 3, 3, 4]
    with pytest.raises(ValueError):
        lcu_ancillas(0)


@pytest.mark.parametrize("weights", [[1.0, 2.0, 3.0], [0.0, 0.5, 0.0, 2.0, 1.0], [1.0, 1.0],
                                     [3.0, 0, 0, 0, 0, 0, 0, 1.0]])
def test_prepare_amplitudes(weights):
    V = Operator(prepare_gate(weights)).data
    w = np.r_[weights, np.zeros(V.shape[0] - len(weights))]
    np.testing.assert_allclose(V[:, 0], np.sqrt(w / w.sum()), atol=ATOL)


@pytest.mark.parametrize("n,R", [(2, 1), (2, 2), (3, 3), (4, 2), (4, 4), (3, 5)])
def test_ancilla_zero_block_is_M_over_l1(n, R):
    rng = np.random.default_rng(10 * n + R)
    us, alphas = random_terms(n, R, rng)
    qc = lcu_circuit(us, alphas)
    a = lcu_ancillas(R)
    assert qc.num_qubits == n + a and qc.count_ops().get("measure", 0) == 0
    U = Operator(qc).data
    M = sum(al * Operator(u).data for al, u in zip(alphas, us, strict=True))
    block = U[: 1 << n, : 1 << n]  # ancillas (high qubits) = 0 in and out
    np.testing.assert_allclose(block, M / np.abs(alphas).sum(), atol=ATOL)


@pytest.mark.parametrize("n,R,layout", [(4, 3, "pyramid"), (6, 2, "pyramid"), (4, 4, "butterfly"),
                                        (8, 2, "butterfly"), (5, 1, "brick")])
def test_postselection_probability_and_state(n, R, layout):
    rng = np.random.default_rng(n + R)
    us, alphas = random_terms(n, R, rng, layout)
    a = lcu_ancillas(R)
    M = sum(al * Operator(u).data for al, u in zip(alphas, us, strict=True))
    qc = lcu_circuit(us, alphas, unary_loader(n, ParameterVector("x", n - 1)))
    for x in rng.normal(size=(2, n)):
        psi = np.zeros(1 << n)
        psi[[1 << i for i in range(n)]] = x / np.linalg.norm(x)
        sv = Statevector(qc.assign_parameters(unary_angles(x))).data
        ok = postselect(np.arange(sv.size), n, a, 1)
        prob = np.sum(np.abs(sv[ok]) ** 2)
        Mpsi = M @ psi
        assert prob == pytest.approx(np.linalg.norm(Mpsi) ** 2 / np.abs(alphas).sum() ** 2,
                                     abs=ATOL)
        post = np.zeros(1 << n, dtype=complex)
        post[np.arange(sv.size)[ok]] = sv[ok]
        np.testing.assert_allclose(post / np.sqrt(prob), Mpsi / np.linalg.norm(Mpsi), atol=ATOL)


def test_zero_alpha_branch_is_skipped_and_sign_is_a_global_minus():
    n = 3
    u = QuantumCircuit(n)
    u.x(0)
    ident = QuantumCircuit(n)
    qc = lcu_circuit([ident, u, ident], [1.0, 0.0, -1.0])  # M = I - I = 0
    assert np.allclose(Operator(qc).data[: 1 << n, : 1 << n], 0, atol=ATOL)
    assert sum(1 for inst in qc.data if inst.operation.name.startswith("c")) == 2
    qc1 = lcu_circuit([u], [-2.0])  # R = 1: no ancilla, M/‖α‖₁ = -U
    np.testing.assert_allclose(Operator(qc1).data, -Operator(u).data, atol=ATOL)


def test_postselect_mask_brute_force():
    n, a, k = 4, 2, 2
    out = np.arange(1 << (n + a + 1))  # one extra high bit must also be 0
    mask = postselect(out, n, a, k)
    expected = [(o >> n) == 0 and bin(o).count("1") == k for o in out]
    assert mask.tolist() == expected
    assert popcount(np.array([0, 1, 6, 255, 2**40 + 3])).tolist() == [0, 1, 2, 8, 3]
    assert postselect(np.array([[3, 5], [17, 6]]), n, a, 2).shape == (2, 2)


def test_lcu_errors():
    u = QuantumCircuit(2)
    with pytest.raises(ValueError, match="one alpha per unitary"):
        lcu_circuit([u, u], [1.0])
    with pytest.raises(ValueError, match="same n"):
        lcu_circuit([u, QuantumCircuit(3)], [1.0, 1.0])
    with pytest.raises(ValueError, match="not all zero"):
        lcu_circuit([u, u], [0.0, 0.0])
    with pytest.raises(ValueError, match="state_prep"):
        lcu_circuit([u], [1.0], QuantumCircuit(3))
