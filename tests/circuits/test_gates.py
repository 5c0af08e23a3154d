"""RBS/FBS gates: matrices against their definitions and a brute-force Jordan–Wigner rule."""

import math

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.circuit.library import XXPlusYYGate
from qiskit.quantum_info import Operator

from hwadapt.circuits.gates import FBSGate, RBSGate, fbs_gate, hw_pair_gate, rbs_gate

ATOL = 1e-10


def fbs_reference(theta: float, span: int) -> np.ndarray:
    """FBS by its definition: rotate (a=1,b=0) with (a=0,b=1), sign (-1)^(middle popcount)."""
    dim = 1 << (span + 1)
    U = np.eye(dim)
    for x in range(dim):
        bits = [x >> q & 1 for q in range(span + 1)]
        if bits[0] == 1 and bits[span] == 0:
            w = x - 1 + (1 << span)
            s = math.sin(theta) * (-1) ** sum(bits[1:span])
            U[x, x] = U[w, w] = math.cos(theta)
            U[x, w], U[w, x] = s, -s
    return U


def full_decomposition(gate) -> np.ndarray:
    qc = QuantumCircuit(gate.num_qubits)
    qc.append(gate, range(gate.num_qubits))
    return Operator(qc.decompose(reps=6)).data  # down to XXPlusYY's own CX/1q definition


@pytest.mark.parametrize("theta", [0.0, 0.3, -1.2, math.pi / 2, 2.9])
def test_rbs_matrix(theta):
    c, s = math.cos(theta), math.sin(theta)
    expected = np.array([[1, 0, 0, 0], [0, c, s, 0], [0, -s, c, 0], [0, 0, 0, 1]])
    g = rbs_gate(theta)
    assert g.name == "rbs" and g.num_qubits == 2
    np.testing.assert_allclose(np.asarray(g), expected, atol=ATOL)
    np.testing.assert_allclose(Operator(XXPlusYYGate(2 * theta, -math.pi / 2)).data, expected,
                               atol=ATOL)
    np.testing.assert_allclose(full_decomposition(g), expected, atol=ATOL)
    np.testing.assert_allclose(np.asarray(g.inverse()) @ expected, np.eye(4), atol=ATOL)


@pytest.mark.parametrize("span", [2, 3, 4, 5])
def test_fbs_matrix_definition_and_inverse(span):
    rng = np.random.default_rng(span)
    for theta in rng.uniform(-math.pi, math.pi, 3):
        ref = fbs_reference(theta, span)
        g = fbs_gate(theta, span)
        assert isinstance(g, FBSGate) and g.num_qubits == span + 1
        np.testing.assert_allclose(np.asarray(g), ref, atol=ATOL)
        np.testing.assert_allclose(full_decomposition(g), ref, atol=ATOL)
        np.testing.assert_allclose(np.asarray(g.inverse()) @ ref, np.eye(1 << (span + 1)),
                                   atol=ATOL)
    assert fbs_reference(0.4, 1).tolist() == pytest.approx(np.asarray(RBSGate(0.4)).real)


def test_parameterised_gates_bind():
    t = Parameter("t")
    qc = QuantumCircuit(4)
    qc.append(fbs_gate(2 * t, 3), [0, 1, 2, 3])
    qc.append(rbs_gate(t), [1, 2])
    bound = qc.assign_parameters({t: 0.7})
    ref = QuantumCircuit(4)
    ref.append(FBSGate(1.4, 3), [0, 1, 2, 3])
    ref.append(RBSGate(0.7), [1, 2])
    np.testing.assert_allclose(Operator(bound).data, Operator(ref).data, atol=ATOL)
    np.testing.assert_allclose(Operator(bound.decompose(reps=6)).data, Operator(ref).data,
                               atol=ATOL)


def test_pair_gate_and_errors():
    g, q = hw_pair_gate(0.1, 2, 3)
    assert g.name == "rbs" and q == [2, 3]
    g, q = hw_pair_gate(0.1, 1, 4)
    assert g.name == "fbs" and q == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="a < b"):
        hw_pair_gate(0.1, 3, 3)
    with pytest.raises(ValueError, match="span"):
        FBSGate(0.1, 0)
