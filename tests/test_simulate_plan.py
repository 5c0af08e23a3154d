"""hwadapt.simulate's compiled plans against slow references: qiskit Statevector at 1e-10
on random circuits (every kernel, controlled gates, loaders, the textbook / efficient /
spectral / dilation LCU constructions, decomposed circuits, random bindings, HW-1 and HW-2
inputs), the n×n Givens product on registers wider than 64 and 128 qubits, finite-difference
gradients, the exact backend and exact acceptance rates past 14 qubits."""

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Gate, Parameter, ParameterVector
from qiskit.quantum_info import Statevector
from simulate_cases import lcu_cases, random_circuit

from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.dilation import combination_matrix
from hwadapt.circuits.gates import rbs_gate
from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.lcu import lcu_circuit
from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.execution import manager
from hwadapt.execution.exact_sampler import ExactSampler, clbit_distribution
from hwadapt.linalg import givens_matrix, subset_indices
from hwadapt.simulate import (
    SupportTooLarge,
    compile_circuit,
    outcome_distribution,
    postselect_state,
    simulate_statevector,
    simulate_subspace,
)
from hwadapt.simulate import forward as simulate_forward
from hwadapt.spec import Family

ATOL = 1e-10


@pytest.mark.parametrize("seed", range(6))
def test_random_circuits_match_statevector_batched(seed):
    rng = np.random.default_rng(seed)
    n, depth = int(rng.integers(4, 8)), 30
    qc = random_circuit(rng, n, depth, weight=int(rng.integers(1, 3)))
    vals = rng.uniform(-np.pi, np.pi, (3, qc.num_parameters))
    plan = compile_circuit(qc)
    got = simulate_statevector(plan, vals).numpy()
    for b in range(3):
        want = Statevector(qc.assign_parameters(vals[b])).data
        np.testing.assert_allclose(got[b], want, atol=ATOL)
    # the decomposed (u, p, cx) form is another circuit with the same state
    dec = qc.decompose(reps=4)
    np.testing.assert_allclose(simulate_statevector(dec, vals).numpy(), got, atol=ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("n", [4, 5])
def test_lcu_constructions_match_statevector(n):
    rng = np.random.default_rng(n)
    for name, qc, vals, a, k in lcu_cases(rng, n):
        state = simulate_subspace(qc, vals)
        dense = state.dense().numpy()
        for b in range(len(vals)):
            want = Statevector(qc.assign_parameters(vals[b])).data
            np.testing.assert_allclose(dense[b], want, atol=ATOL, err_msg=name)
        data = n if name != "dilation" else 2 * n
        assert state.indices.numel() <= len(subset_indices(data, k)) << a, name
        prob, psi = postselect_state(state, n, a, k, normalize=False)
        idx = np.array(subset_indices(n, k))
        np.testing.assert_allclose(psi.numpy(), dense[:, idx], atol=ATOL, err_msg=name)


def test_plan_is_reused_across_bindings_and_checks_support():
    rng = np.random.default_rng(1)
    qc = random_circuit(rng, 5, 20, 1)
    plan = compile_circuit(qc)
    for _ in range(2):
        v = rng.uniform(-3, 3, qc.num_parameters)
        np.testing.assert_allclose(simulate_statevector(plan, v).numpy(),
                                   Statevector(qc.assign_parameters(v)).data, atol=ATOL)
    with pytest.raises(ValueError, match="support differs"):
        simulate_subspace(plan, v, torch.ones(32, dtype=torch.complex128) / 32**0.5)


def test_wide_registers_match_givens_product():
    """130 data qubits (3 words per state): loader + butterfly-like FBS spans across word
    boundaries, and a 2-term LCU on 128 data qubits, against the n×n orthogonal maths."""
    rng = np.random.default_rng(0)
    n = 130
    pairs = [(int(a), int(b)) for a, b in (sorted(rng.choice(n, 2, replace=False))
                                          for _ in range(300))]
    theta = rng.uniform(-np.pi, np.pi, len(pairs))
    x = ParameterVector("x", n - 1)
    qc = unary_loader(n, x)
    qc.compose(adapter_circuit(n, theta, pairs), inplace=True)
    X = rng.normal(size=(3, n))
    state = simulate_subspace(qc, unary_angles(X))
    assert isinstance(state.indices, np.ndarray) and max(state.indices) >= 1 << 129
    O = givens_matrix(n, torch.tensor(theta), pairs).numpy()
    _, psi = postselect_state(state, n, 0, 1, normalize=False)
    want = (X / np.linalg.norm(X, axis=1, keepdims=True)) @ O.T
    np.testing.assert_allclose(psi.numpy().real, want, atol=ATOL)
    # LCU with 2 terms (129 qubits)
    m = 128
    layout = [(i, i + 1) for i in range(0, m - 1, 2)] + [(i, i + 1) for i in range(1, m - 1, 2)]
    ang = rng.uniform(-np.pi, np.pi, (2, len(layout)))
    alphas = [0.8, -0.5]
    lcu = lcu_circuit([adapter_circuit(m, a, layout) for a in ang], alphas,
                      unary_loader(m, ParameterVector("x", m - 1)))
    Xm = rng.normal(size=(2, m))
    st = simulate_subspace(lcu, unary_angles(Xm))
    M = sum(a * givens_matrix(m, torch.tensor(t), layout).numpy()
            for a, t in zip(alphas, ang, strict=True))
    _, psi = postselect_state(st, m, 1, 1, normalize=False)
    want = (Xm / np.linalg.norm(Xm, axis=1, keepdims=True)) @ M.T / 1.3
    np.testing.assert_allclose(psi.numpy().real, want, atol=ATOL)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    qc = random_circuit(rng, 4, 14, 1)
    vals = torch.tensor(rng.uniform(-2, 2, (2, qc.num_parameters)), requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda v: outcome_distribution(simulate_subspace(qc, v))[1], (vals,), eps=1e-6,
        atol=1e-7)
    n = 4  # real (float64) path: adapter angles and loader both free
    th = ParameterVector("t", num_angles(n, "pyramid"))
    lcu = lcu_circuit([adapter_circuit(n, th), adapter_circuit(n, [0.2] * 6)], [0.5, -1.0],
                      unary_loader(n, ParameterVector("x", n - 1)))
    assert compile_circuit(lcu).real
    v2 = torch.tensor(rng.uniform(-2, 2, (3, lcu.num_parameters)), requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda v: postselect_state(simulate_subspace(lcu, v), n, 1, 1, normalize=False)[1],
        (v2,), eps=1e-6, atol=1e-7)


def test_support_limit_and_errors():
    qc = QuantumCircuit(12)
    qc.h(range(12))
    with pytest.raises(SupportTooLarge, match="more than 1000 basis states"):
        compile_circuit(qc, max_support=1000)
    opaque = QuantumCircuit(2)
    opaque.append(Gate("mystery", 2, []), [0, 1])
    with pytest.raises(ValueError, match="cannot simulate gate 'mystery'"):
        compile_circuit(opaque)


def test_exact_sampler_on_wide_circuit_and_sparse_distribution():
    rng = np.random.default_rng(3)
    n = 70
    qc = unary_loader(n, ParameterVector("x", n - 1))
    qc.compose(adapter_circuit(n, rng.uniform(-3, 3, n - 1), [(i, i + 1) for i in
                                                               range(n - 1)]), inplace=True)
    qc.measure_all()
    X = rng.normal(size=(2, n))
    vals = unary_angles(X)
    outcomes, probs = clbit_distribution(compile_circuit(qc), vals)
    assert sorted(outcomes) == outcomes and set(outcomes) == {1 << i for i in range(n)}
    res = ExactSampler(seed=4).run([(qc, vals, 20000)]).result()[0].data.meas
    for b in range(2):
        counts = res[b].get_int_counts()
        assert set(counts) <= set(outcomes)
        got = np.array([counts.get(o, 0) for o in outcomes]) / 20000
        assert np.abs(got - probs[b]).max() < 0.015
    again = ExactSampler(seed=4).run([(qc, vals, 20000)]).result()[0].data.meas
    assert np.array_equal(again.array, res.array)


@pytest.mark.slow
def test_exact_rates_past_14_qubits():
    rng = np.random.default_rng(5)
    n, R = 16, 2
    angles = rng.uniform(-np.pi, np.pi, (R, num_angles(n, "pyramid")))
    alphas = np.array([0.7, -0.4])
    qc = lcu_circuit([adapter_circuit(n, a) for a in angles], alphas,
                     unary_loader(n, ParameterVector("x", n - 1)))
    qc.measure_all()
    X = rng.normal(size=(3, n))
    fam = Family("magnitude", qc, unary_angles(X), n, 1, 1)
    rates = manager.exact_rates(fam)
    M = combination_matrix(angles, alphas, n, "pyramid")
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    want = np.linalg.norm(Xn @ M.T, axis=1) ** 2 / np.abs(alphas).sum() ** 2
    np.testing.assert_allclose(rates, want, atol=ATOL)
    wide = QuantumCircuit(24)
    wide.h(range(24))
    wide.measure_all()
    assert manager.exact_rates(Family("h", wide, np.zeros((1, 0)), 23, 1, 1)) is None


def test_linear_parameter_expressions_keep_gradients_nonlinear_are_numeric():
    t = Parameter("t")
    qc = QuantumCircuit(2)
    qc.ry(t * t, 0)
    qc.append(rbs_gate(3 * t - 1), [0, 1])
    v = np.array([[0.3], [1.1]])
    got = simulate_statevector(qc, v).numpy()
    for b in range(2):
        np.testing.assert_allclose(got[b], Statevector(qc.assign_parameters(v[b])).data,
                                   atol=ATOL)


@pytest.mark.parametrize("seed", range(3))
def test_compiled_and_torch_paths_agree(seed, monkeypatch):
    """The numba path (no gradient) equals the torch path (autograd) on random circuits,
    real and complex, batched, HW-1 and HW-2."""
    monkeypatch.setattr(simulate_forward, "COMPILED_MIN_STAGES", 0)
    rng = np.random.default_rng(10 + seed)
    qc = random_circuit(rng, 6, 40, weight=seed % 2 + 1)
    plan = compile_circuit(qc)
    vals = torch.tensor(rng.uniform(-3, 3, (4, qc.num_parameters)))
    fast = simulate_subspace(plan, vals).amplitudes
    slow = simulate_subspace(plan, vals.clone().requires_grad_(True)).amplitudes
    np.testing.assert_allclose(fast.numpy(), slow.detach().numpy(), atol=1e-12)
    lcu = lcu_cases(rng, 5)[3]  # textbook LCU on HW-2 inputs (real plan)
    plan = compile_circuit(lcu[1])
    v = torch.tensor(lcu[2])
    np.testing.assert_allclose(simulate_subspace(plan, v).amplitudes.numpy(),
                               simulate_subspace(plan, v.requires_grad_(True)).amplitudes
                               .detach().numpy(), atol=1e-12)
