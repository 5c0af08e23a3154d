"""Backend base: Estimator PUB shaping and the refusal of kinds without an Estimator."""

import numpy as np
import pytest
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.quantum_info import SparsePauliOp

from hwadapt.backends.base import Backend, estimator_pubs
from hwadapt.errors import InputError


def test_estimator_pubs_broadcast_to_inputs_by_observables():
    x = ParameterVector("x", 2)
    qc = QuantumCircuit(2)
    qc.ry(x[0], 0)
    qc.ry(x[1], 1)
    obs = [SparsePauliOp("ZI"), SparsePauliOp("IZ"), SparsePauliOp("XX")]
    [pub] = estimator_pubs([(qc, obs, np.zeros((5, 2)))])
    assert EstimatorPub.coerce(pub).shape == (5, 3)


def test_kind_without_estimator_refuses_in_one_line():
    with pytest.raises(InputError, match="has no Estimator") as e:
        Backend("toy").estimate([], 0, "t", 100)
    assert "\n" not in str(e.value)
