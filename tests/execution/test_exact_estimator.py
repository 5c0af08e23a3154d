"""The exact backend's Estimator vs qiskit's Statevector at 1e-10: LCU circuits of every
construction with random bindings, and a random parametrised circuit with random Paulis."""

import numpy as np
import pytest
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector

from hwadapt.backends import get_backend
from hwadapt.circuits import constructions
from hwadapt.circuits.observables import parse_observable, postselected_operators
from hwadapt.execution.exact_estimator import ExactEstimator
from hwadapt.spec import estimator_family, parse_spec


def _reference(circuit, values, ops):
    return np.array([[Statevector(circuit.assign_parameters(v)).expectation_value(o).real
                      for o in ops] for v in values])


@pytest.mark.parametrize("construction", constructions.names())
def test_exact_estimator_matches_statevector_on_lcu(construction):
    terms = 2
    spec = parse_spec(f'name = "e"\nseed = 3\n[circuit]\nqubits = 3\nterms = {terms}\n'
                      f'construction = "{construction}"\n[inputs]\ncount = 3\n'
                      '[observables]\nobservables = ["Z0", "X0X1", "unary:2", "parity"]\n')
    fam = estimator_family(spec)
    obs = [parse_observable(n, 3) for n in spec.observables.names]
    ops, _ = postselected_operators(obs, fam.n_ancilla)
    circuit = fam.circuit.decompose(reps=4)  # what the exact backend runs
    res = get_backend("exact").estimate([(circuit, ops, fam.values)], 0, "t", 100).result()[0]
    ref = _reference(fam.circuit, fam.values, ops)
    assert res.data.evs.shape == (3, len(ops))
    assert np.allclose(res.data.evs, ref, atol=1e-10) and np.all(res.data.stds == 0)


def test_exact_estimator_random_circuit_and_paulis():
    rng = np.random.default_rng(5)
    th = ParameterVector("t", 6)
    qc = QuantumCircuit(3)
    for i in range(3):
        qc.ry(th[i], i)
        qc.rx(th[i + 3], i)
    qc.cx(0, 1)
    qc.cz(1, 2)
    qc.h(2)
    labels = ["".join(rng.choice(list("IXYZ"), 3)) for _ in range(6)]
    ops = [SparsePauliOp(lbl, coeffs=[rng.normal()]) for lbl in labels]
    ops.append(SparsePauliOp(labels[:3], coeffs=rng.normal(size=3)))
    values = rng.uniform(-np.pi, np.pi, size=(4, 6))
    evs = ExactEstimator().run([(qc, [ops], values[:, None, :])]).result()[0].data.evs
    assert np.allclose(evs, _reference(qc, values, ops), atol=1e-10)
    # one observable for every binding, one binding for every observable: broadcasting
    one = ExactEstimator().run([(qc, ops[0], values[0])]).result()[0].data.evs
    assert np.shape(one) == () and one == pytest.approx(_reference(qc, values[:1], ops[:1])[0, 0])
