"""The torch simulator against qiskit.quantum_info.Statevector on every package circuit,
plus batching, gradients, subspace size, probabilities and postselection."""

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.quantum_info import Operator, Statevector

from hwadapt.backends import fake_backend
from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.gates import fbs_gate
from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.lcu import lcu_ancillas, lcu_circuit, prepare_gate
from hwadapt.circuits.loaders import amplitude_loader, subspace_loader, unary_angles, unary_loader
from hwadapt.circuits.transpile import active_circuit, transpile_for
from hwadapt.linalg import givens_apply
from hwadapt.simulate import (
    SubspaceState,
    outcome_probabilities,
    postselect_state,
    postselection_probability,
    simulate_statevector,
    simulate_subspace,
)

ATOL = 1e-10


def rand_angles(rng, n, layout="pyramid"):
    return rng.uniform(-np.pi, np.pi, num_angles(n, layout))


def package_circuits():
    rng = np.random.default_rng(7)
    out = {}
    for n in (2, 5, 8):
        out[f"pyramid{n}"] = adapter_circuit(n, rand_angles(rng, n), "pyramid")
        out[f"loader{n}"] = unary_loader(n, unary_angles(rng.normal(size=n)))
        out[f"tree{n}"] = unary_loader(n, unary_angles(rng.normal(size=n), True), True)
    for n in (4, 8):
        out[f"butterfly{n}"] = adapter_circuit(n, rand_angles(rng, n, "butterfly"), "butterfly")
    out["brick6"] = adapter_circuit(6, rand_angles(rng, 6, "brick"), "brick")
    out["hw3"] = subspace_loader(6, 3, rand_angles(rng, 6), "pyramid", occupied=[0, 2, 5])
    out["amplitude4"] = amplitude_loader(rng.normal(size=16) + 1j * rng.normal(size=16))
    out["prepare"] = QuantumCircuit(3)
    out["prepare"].append(prepare_gate([0.3, 0.0, 1.2, 0.4, 2.0]), [0, 1, 2])
    for n, R, layout in [(4, 3, "pyramid"), (4, 2, "butterfly"), (6, 4, "pyramid")]:
        us = [adapter_circuit(n, rand_angles(rng, n, layout), layout) for _ in range(R)]
        alphas = rng.normal(size=R)
        alphas[-1] = -abs(alphas[-1])
        out[f"lcu{n}_{R}_{layout}"] = lcu_circuit(
            us, alphas, unary_loader(n, unary_angles(rng.normal(size=n))))
    fbs = QuantumCircuit(5)
    fbs.h(range(5))
    fbs.append(fbs_gate(0.8, 4), range(5))
    out["fbs_on_superposition"] = fbs
    return out


CIRCUITS = package_circuits()


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_matches_statevector(name):
    qc = CIRCUITS[name]
    got = simulate_statevector(qc).numpy()
    np.testing.assert_allclose(got, Statevector(qc).data, atol=ATOL)


@pytest.mark.parametrize("n,layout", [(3, "pyramid"), (6, "pyramid"), (4, "butterfly"),
                                      (8, "butterfly"), (5, "brick")])
def test_adapter_on_random_states_matches_operator_and_givens_apply(n, layout):
    rng = np.random.default_rng(n)
    theta = rand_angles(rng, n, layout)
    qc = adapter_circuit(n, ParameterVector("t", len(theta)), layout)
    psi = rng.normal(size=(3, 1 << n)) + 1j * rng.normal(size=(3, 1 << n))
    got = simulate_statevector(qc, np.tile(theta, (3, 1)), torch.tensor(psi)).numpy()
    U = Operator(qc.assign_parameters(theta)).data
    np.testing.assert_allclose(got, psi @ U.T, atol=ATOL)
    ref = givens_apply(torch.tensor(psi), torch.tensor(theta), layout).numpy()
    np.testing.assert_allclose(got, ref, atol=ATOL)


def test_batched_parameters_lcu_and_subspace_size():
    rng = np.random.default_rng(3)
    n, R, B = 5, 3, 4
    us = [adapter_circuit(n, ParameterVector(f"u{i}", num_angles(n, "pyramid")))
          for i in range(R)]
    qc = lcu_circuit(us, [0.5, -1.0, 0.25], unary_loader(n, ParameterVector("x", n - 1)))
    values = rng.uniform(-3, 3, (B, qc.num_parameters))
    state = simulate_subspace(qc, values)
    a = lcu_ancillas(R)
    assert state.amplitudes.shape == (B, state.indices.numel())
    assert state.indices.numel() <= n << a  # HW-1 data × ancillas, not 2^(n+a)
    dense = state.dense().numpy()
    for b in range(B):
        np.testing.assert_allclose(dense[b], Statevector(qc.assign_parameters(values[b])).data,
                                   atol=ATOL)
    # mapping form, with a 2-D batch
    vals2 = values.reshape(2, 2, -1)
    params = list(qc.parameters)
    mapping = {p: vals2[..., i] for i, p in enumerate(params)}
    np.testing.assert_allclose(simulate_statevector(qc, mapping).numpy().reshape(B, -1), dense,
                               atol=ATOL)


def test_gradients_match_finite_differences():
    n = 4
    theta = ParameterVector("t", num_angles(n, "pyramid"))
    x = ParameterVector("x", n - 1)
    qc = lcu_circuit([adapter_circuit(n, theta), adapter_circuit(n, [0.3] * 6)], [1.0, -0.5],
                     unary_loader(n, x))
    rng = np.random.default_rng(0)
    vals = torch.tensor(rng.uniform(-2, 2, (2, qc.num_parameters)), requires_grad=True)

    def f(v):
        return postselection_probability(simulate_subspace(qc, v), n, 1, 1)

    assert torch.autograd.gradcheck(f, (vals,), eps=1e-6, atol=1e-7)
    t = Parameter("t")  # non-trivial linear expressions keep gradients
    qe = QuantumCircuit(2)
    qe.ry(2 * t + 0.1, 0)
    qe.rx(-t, 1)
    qe.cry(t, 0, 1)
    assert torch.autograd.gradcheck(
        lambda v: outcome_probabilities(simulate_subspace(qe, v[:, None])), (vals[:, :1],),
        eps=1e-6, atol=1e-7)


def test_probabilities_and_postselection():
    qc = CIRCUITS["lcu6_4_pyramid"]
    sv = Statevector(qc)
    state = simulate_subspace(qc)
    np.testing.assert_allclose(outcome_probabilities(state).numpy(), sv.probabilities(),
                               atol=ATOL)
    for qubits in ([6, 7], [7, 0, 3], [2]):
        np.testing.assert_allclose(outcome_probabilities(state, qubits).numpy(),
                                   sv.probabilities(qubits), atol=ATOL)
    prob, psi = postselect_state(state, 6, 2, 1)
    full = sv.data[[1 << i for i in range(6)]]
    assert prob.item() == pytest.approx(np.sum(np.abs(full) ** 2), abs=ATOL)
    np.testing.assert_allclose(psi.numpy(), full / np.linalg.norm(full), atol=ATOL)
    raw = postselect_state(state.dense(), 6, 2, 1, normalize=False)[1]
    np.testing.assert_allclose(raw.numpy(), full, atol=ATOL)


def test_simulates_transpiled_isa_circuit():
    rng = np.random.default_rng(4)
    us = [adapter_circuit(3, rand_angles(rng, 3)) for _ in range(2)]
    qc = lcu_circuit(us, [0.6, -0.3], unary_loader(3, unary_angles([0.5, -1.0, 2.0])))
    isa, _ = transpile_for(qc, fake_backend("fake_torino"))
    small, init, final = active_circuit(isa)
    got = simulate_statevector(small).numpy()
    np.testing.assert_allclose(got, Statevector(small).data, atol=1e-9)
    ref = Statevector(qc).data
    idx = np.arange(ref.size)
    mapped = sum(((idx >> i) & 1) << final[i] for i in range(qc.num_qubits))
    assert abs(abs(np.vdot(got[mapped], ref)) - 1) < 1e-9


def test_errors():
    t = Parameter("t")
    qc = QuantumCircuit(1, 1)
    qc.rx(t, 0)
    with pytest.raises(ValueError, match="unbound parameters"):
        simulate_statevector(qc)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 1\)"):
        simulate_statevector(qc, np.zeros((2, 3)))
    qc.measure(0, 0)
    qc.x(0)
    with pytest.raises(ValueError, match="measured qubit"):
        simulate_statevector(qc, [0.1])
    assert isinstance(simulate_subspace(QuantumCircuit(2)), SubspaceState)
    with pytest.raises(ValueError, match="2\\^n"):
        simulate_statevector(QuantumCircuit(2), initial_state=torch.ones(3))
