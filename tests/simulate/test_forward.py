"""The numpy forward pass (hwadapt.simulate.forward on numpy, the exact sampler's path)
against the torch path (autograd: fused parameter-free stages; and no-grad stage by stage)
and qiskit's Statevector at 1e-12: random circuits of every kernel (real and complex), LCU
constructions with ancillas, batch shapes, mappings, non-linear expressions, initial states,
the compiled (numba) path and supports wider than 63 qubits; and that the sampler's path
leaves torch unimported."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.quantum_info import Statevector
from simulate_cases import lcu_cases, random_circuit

from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.gates import rbs_gate
from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.execution.exact_sampler import clbit_distribution
from hwadapt.linalg import givens_matrix
from hwadapt.simulate import (
    SubspaceState,
    compile_circuit,
    forward,
    outcome_distribution,
    simulate_subspace,
)

TOL = 1e-12


def torch_paths(plan, vals):
    """(autograd path, no-grad torch path) amplitudes as numpy."""
    t = torch.as_tensor(np.asarray(vals, dtype=float))
    grad = simulate_subspace(plan, t.clone().requires_grad_(True)).amplitudes.detach()
    with torch.no_grad():
        plain = simulate_subspace(plan, t).amplitudes
    return grad.numpy(), plain.numpy()


@pytest.mark.parametrize("seed", range(8))
def test_random_circuits_numpy_equals_torch_equals_statevector(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(4, 7))
    qc = random_circuit(rng, n, 30, weight=int(rng.integers(1, 3)))
    plan = compile_circuit(qc)
    vals = rng.uniform(-np.pi, np.pi, (2, 3, qc.num_parameters))
    amps, batch = forward.run(plan, vals)
    assert batch == (2, 3) and amps.shape == (2, 3, len(plan.final))
    assert isinstance(amps, np.ndarray) and amps.dtype == np.complex128
    grad, plain = torch_paths(plan, vals)
    np.testing.assert_allclose(amps, grad, atol=TOL, rtol=0)
    np.testing.assert_allclose(amps, plain, atol=TOL, rtol=0)
    flat = vals.reshape(-1, qc.num_parameters)
    got = forward.statevector(plan, amps).reshape(len(flat), -1)
    for b, v in enumerate(flat):
        np.testing.assert_allclose(got[b], Statevector(qc.assign_parameters(v)).data,
                                   atol=TOL, rtol=0)


@pytest.mark.parametrize("n", [4, 5])
def test_lcu_constructions_with_ancillas(n):
    """Textbook / efficient / spectral / dilation LCUs, HW-1 and HW-2 loaders."""
    rng = np.random.default_rng(n)
    for name, qc, vals, _, _ in lcu_cases(rng, n):
        plan = compile_circuit(qc)
        amps, _ = forward.run(plan, vals)
        grad, plain = torch_paths(plan, vals)
        np.testing.assert_allclose(amps, grad, atol=TOL, rtol=0, err_msg=name)
        np.testing.assert_allclose(amps, plain, atol=TOL, rtol=0, err_msg=name)
        if qc.num_qubits <= 8:
            want = Statevector(qc.assign_parameters(vals[0])).data
            np.testing.assert_allclose(forward.statevector(plan, amps[0]), want, atol=TOL,
                                       rtol=0, err_msg=name)


@pytest.mark.parametrize("seed", range(2))
def test_compiled_path_equals_stage_by_stage(seed, monkeypatch):
    rng = np.random.default_rng(200 + seed)
    qc = random_circuit(rng, 6, 40, weight=seed + 1)
    plan = compile_circuit(qc)
    vals = rng.uniform(-3, 3, (4, qc.num_parameters))
    slow, _ = forward.run(plan, vals)
    monkeypatch.setattr(forward, "COMPILED_MIN_STAGES", 0)
    fast, _ = forward.run(plan, vals)
    np.testing.assert_allclose(fast, slow, atol=TOL, rtol=0)
    with torch.no_grad():  # torch without gradient runs compiled too, builds no torch stages
        np.testing.assert_allclose(simulate_subspace(plan, torch.tensor(vals)).amplitudes
                                   .numpy(), slow, atol=TOL, rtol=0)
    assert plan.torch_steps is None


def test_mapping_nonlinear_expressions_and_initial_states():
    t, x = Parameter("t"), ParameterVector("x", 2)
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.ry(t * t, 1)
    qc.append(rbs_gate(3 * t - 1 + x[0]), [0, 1])
    qc.rz(x[1], 2)
    qc.cx(1, 2)
    plan = compile_circuit(qc)
    tv, xv = np.array([0.3, 1.1, -0.4]), np.array([[0.2, 0.5], [1.0, -2.0], [0.0, 0.7]])
    amps, batch = forward.run(plan, {t: tv, x: xv})
    assert batch == (3,)
    for b in range(3):
        want = Statevector(qc.assign_parameters({t: tv[b], x: xv[b]})).data
        np.testing.assert_allclose(forward.statevector(plan, amps[b]), want, atol=TOL, rtol=0)
    # a complex initial state on a real plan, batched (amplitudes on plan.initial)
    real = compile_circuit(adapter_circuit(3, [0.4, -1.0, 2.0]),
                           np.array([[1], [2], [4]], dtype=np.uint64))
    assert real.real
    init = np.array([[1, 1j, 0], [0.6, 0, 0.8j]])
    got, _ = forward.run(real, None, init, (2,))
    start = SubspaceState(torch.tensor([1, 2, 4]), torch.as_tensor(init), 3)
    want = simulate_subspace(real, None, start).amplitudes.numpy()
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
    with pytest.raises(ValueError, match="unbound parameters"):
        forward.run(plan)


@pytest.mark.parametrize("n", [70, 130])
def test_wide_support_matches_givens_product(n):
    """70 and 130 data qubits (two and three words per state): numpy == torch == the n×n
    Givens product."""
    rng = np.random.default_rng(4)
    pairs = [(i, i + 1) for i in range(n - 1)] + [(0, n - 1), (3, 64)]
    theta = rng.uniform(-np.pi, np.pi, len(pairs))
    qc = unary_loader(n, ParameterVector("x", n - 1))
    qc.compose(adapter_circuit(n, theta, pairs), inplace=True)
    X = rng.normal(size=(3, n))
    plan = compile_circuit(qc)
    amps, _ = forward.run(plan, unary_angles(X))
    grad, plain = torch_paths(plan, unary_angles(X))
    np.testing.assert_allclose(amps, grad, atol=TOL, rtol=0)
    np.testing.assert_allclose(amps, plain, atol=TOL, rtol=0)
    rows = plan.words[plan.final]
    qubit = [int(np.flatnonzero([int(w) >> b & 1 for w in r for b in range(64)])[0])
             for r in rows]
    O = givens_matrix(n, torch.tensor(theta), pairs).numpy()
    want = (X / np.linalg.norm(X, axis=1, keepdims=True)) @ O.T
    np.testing.assert_allclose(amps.real, want[:, qubit], atol=TOL, rtol=0)


@pytest.mark.parametrize("seed", range(3))
def test_outcome_probabilities_equal_the_torch_distribution(seed):
    rng = np.random.default_rng(300 + seed)
    qc = random_circuit(rng, 6, 25, weight=1)
    plan = compile_circuit(qc)
    vals = rng.uniform(-3, 3, (2, 2, qc.num_parameters))
    qubits = [4, None, 0, 2]
    amps, _ = forward.run(plan, vals)
    outcomes, probs = forward.outcome_probabilities(plan, amps, qubits)
    want_out, want = outcome_distribution(simulate_subspace(plan, torch.tensor(vals)), qubits)
    assert np.array_equal(outcomes, want_out) and probs.shape == (2, 2, len(outcomes))
    np.testing.assert_allclose(probs, want.numpy(), atol=1e-14, rtol=0)
    qc.measure_all()
    got_out, got = clbit_distribution(compile_circuit(qc), vals)
    sv = np.abs(Statevector(qc.remove_final_measurements(inplace=False)
                            .assign_parameters(vals[1, 0])).data) ** 2
    np.testing.assert_allclose(got[1, 0], sv[got_out], atol=TOL, rtol=0)
    assert abs(got.sum(-1) - 1).max() < TOL


PROBE = r"""
import json, sys
from hwadapt.execution.exact_sampler import ExactSampler
from hwadapt.execution.build import exact_distribution
from hwadapt.spec import build_families, load_spec
import hwadapt.execution.submit

fams = build_families(load_spec(sys.argv[1]))
assert exact_distribution(fams[0]) is not None
res = ExactSampler(seed=1).run([(fams[0].circuit, fams[0].values, 50)]).result()
assert res[0].data.meas.num_shots == 50
from hwadapt.execution.exact_estimator import ExactEstimator
from qiskit.quantum_info import SparsePauliOp

bare = fams[0].circuit.remove_final_measurements(inplace=False)
evs = ExactEstimator().run([(bare, SparsePauliOp("Z" * bare.num_qubits), fams[0].values)])
assert evs.result()[0].data.evs.shape == (len(fams[0].values),)
print(json.dumps(sorted(m for m in ("torch", "numba") if m in sys.modules)))
"""


def test_exact_sampler_and_estimator_leave_torch_unimported(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "tiny"\n[circuit]\nqubits = 3\nterms = 1\nalphas = [0.8]\n'
                    "[inputs]\ncount = 2\n[shots]\ntarget_accepted = 50\n")
    out = subprocess.run([sys.executable, "-c", PROBE, str(spec)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
