"""Sign-recovery circuits: exact amplitudes (Statevector) and end-to-end estimates on Aer."""

import numpy as np
import pytest
import torch
from qiskit import transpile
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import Operator, Statevector

from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.circuits.signs import (
    REFERENCES,
    default_beta,
    estimate_circuits,
    reference_unitary,
    reference_vector,
    sign_circuits,
)
from hwadapt.estimate import estimate
from hwadapt.linalg import givens_matrix


def setup(rng, n=4, R=2, layout="pyramid"):
    angles = rng.uniform(-np.pi, np.pi, size=(R, num_angles(n, layout)))
    alphas = rng.uniform(0.2, 1.0, size=R) * rng.choice([-1, 1], size=R)
    U = [adapter_circuit(n, a, layout) for a in angles]
    M = sum(al * givens_matrix(n, torch.tensor(a), layout).numpy()
            for al, a in zip(alphas, angles, strict=True))
    return U, alphas, M


def hw1_amplitudes(circ, n):
    return Statevector(circ).data[[1 << j for j in range(n)]]


@pytest.mark.parametrize("kind", REFERENCES)
@pytest.mark.parametrize("n,R,layout,tree", [(4, 2, "pyramid", False), (4, 3, "butterfly", True),
                                             (5, 1, "brick", False)])
def test_reference_family_amplitudes_are_signed_y_plus_beta_r(kind, n, R, layout, tree):
    rng = np.random.default_rng(n * 10 + R)
    U, alphas, M = setup(rng, n, R, layout)
    pv = ParameterVector("x", n - 1)
    fam = estimate_circuits(U, alphas, unary_loader(n, pv, tree=tree), reference=kind, tree=tree)
    K0, beta = np.abs(alphas).sum(), default_beta(alphas)
    for _ in range(3):
        psi = rng.normal(size=n)
        psi /= np.linalg.norm(psi)
        y = M @ psi
        r = reference_vector(kind, psi)[0]
        bind = unary_angles(psi, tree=tree)
        lcu = hw1_amplitudes(fam["magnitude"].assign_parameters(bind), n)
        ref = hw1_amplitudes(fam["signs"].assign_parameters(bind), n)
        np.testing.assert_allclose(lcu, y / K0, atol=1e-12)                 # signs included
        np.testing.assert_allclose(ref, (y + beta * r) / (K0 + beta), atol=1e-12)


def test_uniform_reference_unitary_is_hw_preserving_and_maps_psi_to_uniform():
    n = 5
    rng = np.random.default_rng(0)
    psi = rng.normal(size=n)
    V = reference_unitary("uniform", unary_loader(n, unary_angles(psi)))
    assert V.count_ops().get("x", 0) == 0 and sum(V.count_ops().values()) == 2 * (n - 1)
    U = Operator(V).data
    hw = np.array([bin(i).count("1") for i in range(1 << n)])
    assert np.abs(U[hw[:, None] != hw[None, :]]).max() < 1e-12
    e0 = np.zeros(1 << n)
    e0[[1 << j for j in range(n)]] = psi / np.linalg.norm(psi)
    np.testing.assert_allclose(U @ e0, np.where(hw == 1, 1 / np.sqrt(n), 0), atol=1e-12)
    assert reference_unitary("input", unary_loader(n, unary_angles(psi))).size() == 0


def test_bad_arguments():
    rng = np.random.default_rng(1)
    U, alphas, _ = setup(rng)
    L = unary_loader(4, unary_angles(np.ones(4)))
    with pytest.raises(ValueError, match="unknown sign reference"):
        sign_circuits(U, alphas, L, reference="neighbours")
    with pytest.raises(ValueError, match="beta must be > 0"):
        sign_circuits(U, alphas, L, beta=-1.0)
    with pytest.raises(ValueError, match="all zero"):
        default_beta([0.0, 0.0])
    not_unary = adapter_circuit(4, np.zeros(6))
    with pytest.raises(ValueError, match="needs a unary loader"):
        sign_circuits(U, alphas, not_unary)


@pytest.mark.slow
def test_ideal_aer_estimates_cover_exact_and_get_signs_right():
    from qiskit_aer import AerSimulator
    from qiskit_aer.primitives import SamplerV2

    rng = np.random.default_rng(5)
    n, shots = 4, 20_000
    U, alphas, M = setup(rng, n, 2)
    psi = rng.normal(size=(40, n))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    Y = psi @ M.T
    pv = ParameterVector("x", n - 1)
    fam = estimate_circuits(U, alphas, unary_loader(n, pv), measure=True)
    sim = AerSimulator()
    pubs = [(transpile(c, sim, optimization_level=1), unary_angles(psi), shots)
            for c in fam.values()]
    res = SamplerV2(seed=7).run(pubs).result()
    counts = {name: [r.data.meas[i] for i in range(len(psi))]
              for name, r in zip(fam, res, strict=True)}
    beta = default_beta(alphas)
    e = estimate(counts, n=n, alphas=alphas, beta=beta, reference=reference_vector("uniform", psi))
    z = np.abs(e.y - Y) / e.stderr
    assert (z < 3).mean() >= 0.99
    floor = 2.5 * (np.abs(alphas).sum() + beta) / (2 * np.sqrt(shots))
    above = np.abs(Y) > floor
    assert above.mean() > 0.8 and np.all(np.sign(e.y[above]) == np.sign(Y[above]))
    assert np.all(e.hw_discarded == 0)
    rate = (Y**2).sum(1) / np.abs(alphas).sum() ** 2
    assert np.all((e.rate_interval[:, 0] <= rate + 1e-3) & (rate - 1e-3 <= e.rate_interval[:, 1]))
