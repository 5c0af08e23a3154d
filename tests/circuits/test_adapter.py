"""adapter_circuit: its unitary is exactly ⊕_k O(θ)^(k) (computational order) for every layout."""

import numpy as np
import pytest
import torch
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import Operator

from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.layouts import layout_pairs, num_angles
from hwadapt.linalg import givens_matrix, hamming_weight_matrix

ATOL = 1e-10
CASES = [(n, "pyramid") for n in range(2, 9)] + [(n, "brick") for n in range(2, 8)] + \
    [(n, "butterfly") for n in (2, 4, 8)]


def expected_unitary(n, angles, layout):
    O = givens_matrix(n, torch.tensor(angles, dtype=torch.float64), layout)
    return hamming_weight_matrix(O, "computational").numpy()


@pytest.mark.parametrize("n,layout", CASES)
def test_unitary_is_hamming_weight_matrix(n, layout):
    rng = np.random.default_rng(n * 31 + len(layout))
    angles = rng.uniform(-np.pi, np.pi, num_angles(n, layout))
    qc = adapter_circuit(n, angles, layout)
    assert qc.num_qubits == n and len(qc.data) == len(angles)
    np.testing.assert_allclose(Operator(qc).data, expected_unitary(n, angles, layout), atol=ATOL)


def test_custom_non_adjacent_pairs_use_fbs():
    pairs = [(0, 3), (1, 4), (0, 2), (2, 4), (1, 3), (3, 4)]
    angles = np.random.default_rng(5).uniform(-3, 3, len(pairs))
    qc = adapter_circuit(5, angles, pairs)
    assert [inst.operation.name for inst in qc.data] == ["fbs"] * 5 + ["rbs"]
    np.testing.assert_allclose(Operator(qc).data, expected_unitary(5, angles, pairs), atol=ATOL)


def test_parameter_vector_and_torch_angles():
    n = 5
    m = num_angles(n, "pyramid")
    theta = ParameterVector("θ", m)
    qc = adapter_circuit(n, theta, "pyramid")
    assert qc.num_parameters == m
    vals = np.random.default_rng(0).uniform(-3, 3, m)
    bound = qc.assign_parameters(vals)
    np.testing.assert_allclose(Operator(bound).data, expected_unitary(n, vals, "pyramid"),
                               atol=ATOL)
    from_torch = adapter_circuit(n, torch.tensor(vals, requires_grad=True), "pyramid")
    np.testing.assert_allclose(Operator(from_torch).data, Operator(bound).data, atol=ATOL)


def test_parameter_order_is_layout_order():
    qc = adapter_circuit(4, np.arange(6) * 0.1, "pyramid")
    pairs = [tuple(qc.find_bit(q).index for q in inst.qubits) for inst in qc.data]
    assert pairs == layout_pairs(4, "pyramid")
    assert [inst.operation.params[0] for inst in qc.data] == pytest.approx(np.arange(6) * 0.1)


def test_errors():
    with pytest.raises(ValueError, match="expected 6 angles"):
        adapter_circuit(4, [0.1] * 5)
    with pytest.raises(ValueError, match="a < b < n"):
        adapter_circuit(3, [0.1], [(1, 3)])
    with pytest.raises(ValueError, match="unknown layout"):
        adapter_circuit(4, [0.1] * 6, "ring")
