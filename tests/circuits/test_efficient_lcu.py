"""The multiplexed SELECT equals the textbook one (Operator), and the LCU built on it
postselects to ``Mψ/‖α‖₁``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Operator, Statevector

from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.efficient_lcu import (
    efficient_lcu_circuit,
    efficient_sign_circuit,
    multiplexed_select,
    separate_circuits,
    walsh_angles,
)
from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.lcu import lcu_ancillas, lcu_circuit
from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.linalg import givens_matrix


def _block_select(n: int, angles: np.ndarray, layout: str, signs=None) -> np.ndarray:
    """Σ_i |i><i| ⊗ sign_i U_i as a dense matrix (ancillas are the high qubits)."""
    R = len(angles)
    a = lcu_ancillas(R)
    dim = 1 << n
    out = np.zeros((dim << a, dim << a), dtype=complex)
    for i in range(1 << a):
        u = Operator(adapter_circuit(n, angles[i], layout)).data if i < R else np.eye(dim)
        sgn = 1.0 if signs is None or i >= R else np.sign(signs[i])
        out[i * dim:(i + 1) * dim, i * dim:(i + 1) * dim] = sgn * u
    return out


@pytest.mark.parametrize("n", [3, 4, 5, 6])
@pytest.mark.parametrize("R", [2, 3, 4])
def test_select_equals_block_diagonal(n, R):
    rng = np.random.default_rng(100 * n + R)
    th = rng.uniform(-np.pi, np.pi, (R, num_angles(n, "pyramid")))
    signs = rng.choice([-1.0, 1.0], R)
    got = Operator(multiplexed_select(n, th, "pyramid", signs=signs)).data
    assert np.abs(got - _block_select(n, th, "pyramid", signs)).max() < 1e-12


@pytest.mark.parametrize("layout", ["butterfly", "brick"])
def test_select_other_layouts(layout):
    rng = np.random.default_rng(7)
    n = 4
    th = rng.uniform(-np.pi, np.pi, (4, num_angles(n, layout)))
    got = Operator(multiplexed_select(n, th, layout)).data
    assert np.abs(got - _block_select(n, th, layout)).max() < 1e-12


@pytest.mark.parametrize(("n", "R"), [(3, 2), (4, 2), (3, 4), (4, 4), (5, 2)])
def test_lcu_equals_textbook_operator(n, R):
    rng = np.random.default_rng(n + 10 * R)
    th = rng.uniform(-np.pi, np.pi, (R, num_angles(n, "pyramid")))
    al = rng.normal(size=R)
    al[0] = -abs(al[0])  # at least one negative coefficient
    prep = unary_loader(n, unary_angles(rng.normal(size=n)))
    ours = efficient_lcu_circuit(th, al, state_prep=prep)
    ref = lcu_circuit([adapter_circuit(n, r) for r in th], al, state_prep=prep)
    assert np.abs(Operator(ours).data - Operator(ref).data).max() < 1e-12


@pytest.mark.parametrize("R", [1, 2, 3])
def test_postselected_state_is_M_psi(R):
    rng = np.random.default_rng(R)
    n = 5
    th = rng.uniform(-np.pi, np.pi, (R, num_angles(n, "pyramid")))
    al = rng.normal(size=R)
    x = rng.normal(size=n)
    x /= np.linalg.norm(x)
    M = sum(a * givens_matrix(n, torch.tensor(t)).numpy() for a, t in zip(al, th, strict=True))
    y = M @ x / np.abs(al).sum()
    sv = Statevector(efficient_lcu_circuit(th, al, unary_loader(n, unary_angles(x)))).data
    got = sv[[1 << j for j in range(n)]]  # ancillas 0, data = e_j
    assert np.abs(got.imag).max() < 1e-12
    np.testing.assert_allclose(got.real, y, atol=1e-12)
    assert abs(np.vdot(sv, sv).real - 1) < 1e-12


def test_cheaper_than_textbook_and_counts():
    n, R = 6, 2
    rng = np.random.default_rng(3)
    th = rng.uniform(-np.pi, np.pi, (R, num_angles(n, "pyramid")))
    sel = multiplexed_select(n, th)
    ops = sel.count_ops()
    assert ops["rbs"] == R * num_angles(n, "pyramid")  # one RBS per Walsh term and position
    assert ops["cz"] <= n * n  # frame toggles
    for inst in sel.data:  # every CZ is a frame toggle between the ancilla and a data qubit
        if inst.operation.name == "cz":
            assert sorted(sel.find_bit(q).index for q in inst.qubits)[1] == n


def test_walsh_angles_inverts():
    rng = np.random.default_rng(0)
    th = rng.normal(size=(3, 5))
    w = walsh_angles(th)
    assert w.shape == (4, 5)
    for i in range(4):
        rec = sum((-1) ** bin(s & i).count("1") * w[s] for s in range(4))
        np.testing.assert_allclose(rec, th[i] if i < 3 else 0.0, atol=1e-14)
    np.testing.assert_allclose(walsh_angles(th[:2])[1], (th[0] - th[1]) / 2)


def test_separate_circuits_give_each_term():
    rng = np.random.default_rng(5)
    n = 4
    th = rng.uniform(-np.pi, np.pi, (2, num_angles(n, "pyramid")))
    x = rng.normal(size=n)
    x /= np.linalg.norm(x)
    for i, qc in enumerate(separate_circuits(th, unary_angles(x))):
        sv = Statevector(qc).data[[1 << j for j in range(n)]]
        want = givens_matrix(n, torch.tensor(th[i])).numpy() @ x
        np.testing.assert_allclose(sv.real, want, atol=1e-12)


def test_bad_inputs():
    th = np.zeros((2, 6))
    with pytest.raises(ValueError, match="layout has 6 gates"):
        multiplexed_select(4, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="one alpha per row"):
        efficient_lcu_circuit(th, [1.0], n=4)
    with pytest.raises(ValueError, match="not all zero"):
        efficient_lcu_circuit(th, [0.0, 0.0], n=4)
    with pytest.raises(ValueError, match="give n"):
        efficient_lcu_circuit(th, [1.0, 1.0])


def test_efficient_sign_circuit_postselects_to_y_plus_beta_r():
    from hwadapt.circuits.signs import reference_vector

    rng = np.random.default_rng(11)
    n = 4
    th = rng.uniform(-np.pi, np.pi, (2, num_angles(n, "pyramid")))
    al = np.array([0.8, -0.5])
    x = rng.normal(size=n)
    x /= np.linalg.norm(x)
    M = sum(a * givens_matrix(n, torch.tensor(t)).numpy() for a, t in zip(al, th, strict=True))
    beta = 0.7
    qc = efficient_sign_circuit(th, al, unary_loader(n, unary_angles(x)), beta=beta)
    sv = Statevector(qc).data[[1 << j for j in range(n)]]
    want = (M @ x + beta * reference_vector("uniform", x)[0]) / (np.abs(al).sum() + beta)
    np.testing.assert_allclose(sv.real, want, atol=1e-12)


def test_separate_mode_matches_exact_within_error_bars_on_aer():
    from qiskit import transpile
    from qiskit_aer import AerSimulator
    from qiskit_aer.primitives import SamplerV2

    from hwadapt.circuits.signs import default_beta, reference_vector
    from hwadapt.estimate import combine_terms, estimate

    rng = np.random.default_rng(21)
    n, shots = 4, 20000
    th = rng.uniform(-np.pi, np.pi, (2, num_angles(n, "pyramid")))
    al = np.array([0.9, -0.6])
    x = rng.normal(size=n)
    x /= np.linalg.norm(x)
    beta = default_beta(al)
    loader = unary_loader(n, unary_angles(x))
    circs = []
    for i, mag in enumerate(separate_circuits(th, unary_angles(x))):
        sig = efficient_sign_circuit(th[i:i + 1], [1.0], loader, beta=beta)
        for c in (mag, sig):
            c.measure_all()
            circs.append(c)
    sim = AerSimulator()
    res = SamplerV2(seed=5).run([(transpile(c, sim), None, shots) for c in circs]).result()
    terms = [estimate({"magnitude": [res[2 * i].data.meas], "signs": [res[2 * i + 1].data.meas]},
                      n=n, alphas=[1.0], beta=beta, reference=reference_vector("uniform", x))
             for i in range(2)]
    y, se = combine_terms(terms, al)
    M = sum(a * givens_matrix(n, torch.tensor(t)).numpy() for a, t in zip(al, th, strict=True))
    want = M @ x
    assert y.shape == se.shape == (1, n)
    assert np.all(np.abs(y[0] - want) < 4 * se[0])
    assert np.all(se[0] < 0.05)
    np.testing.assert_allclose(se, np.sqrt(sum((a * t.stderr) ** 2 for a, t in zip(al, terms,
                                                                                 strict=True))))


def _hw1_amplitudes(qc, n):
    return Statevector(qc).data[[1 << j for j in range(n)]].real


@pytest.mark.parametrize("layout", ["pyramid", "brick", "butterfly"])
def test_sign_references_term0_and_input_with_a_parametrised_loader(layout):
    """One circuit (loader = ParameterVector) serves every input; bound, its postselected
    HW-1 amplitudes are (y + β r)/(‖α‖₁ + β) with r = sign(α_0) U_0 x (term0) or x (input)."""
    from qiskit.circuit import ParameterVector

    rng = np.random.default_rng(5)
    n = 4
    th = rng.uniform(-np.pi, np.pi, (2, num_angles(n, layout)))
    al = np.array([-0.8, 0.5])
    beta = 0.6
    pv = ParameterVector("x", n - 1)
    O = [givens_matrix(n, torch.tensor(t), layout).numpy() for t in th]
    M = al[0] * O[0] + al[1] * O[1]
    term0 = efficient_sign_circuit(th, al, unary_loader(n, pv), "term0", beta, layout)
    inp = efficient_sign_circuit(th, al, unary_loader(n, pv), "input", beta, layout)
    assert term0.num_qubits == n + 1 and inp.num_qubits == n + 2  # term0 adds no ancilla
    assert set(term0.parameters) == set(inp.parameters) == set(pv)
    for _ in range(3):
        x = rng.normal(size=n)
        x /= np.linalg.norm(x)
        bind = dict(zip(pv, unary_angles(x), strict=True))
        K = np.abs(al).sum() + beta
        np.testing.assert_allclose(_hw1_amplitudes(term0.assign_parameters(bind), n),
                                   (M @ x - beta * O[0] @ x) / K, atol=1e-12)
        np.testing.assert_allclose(_hw1_amplitudes(inp.assign_parameters(bind), n),
                                   (M @ x + beta * x) / K, atol=1e-12)


def test_sign_reference_errors():
    from qiskit.circuit import ParameterVector

    th = np.zeros((1, num_angles(3, "pyramid")))
    with pytest.raises(ValueError, match="R >= 2"):
        efficient_sign_circuit(th, [1.0], unary_loader(3, [0.1, 0.2]), "term0")
    with pytest.raises(ValueError, match="depends on the input"):
        efficient_sign_circuit(th, [1.0], unary_loader(3, ParameterVector("x", 2)), "uniform")
    with pytest.raises(ValueError, match="pyramid"):
        efficient_sign_circuit(np.zeros((1, num_angles(3, "brick"))), [1.0],
                               unary_loader(3, [0.1, 0.2]), "uniform", layout="brick")
