import numpy as np
import pytest
import torch

from hwadapt.circuits.layouts import num_angles
from hwadapt.quantum.gradients import parameter_shift, spsa
from hwadapt.quantum.models import hea_apply, hea_num_params, qa_apply
from hwadapt.quantum.statevector import z_signs

n, L, LAYOUT = 3, 2, "brick"
P1, P2 = hea_num_params(n, L), num_angles(n, LAYOUT)
RNG = np.random.default_rng(7)
PSI = torch.tensor(RNG.standard_normal(8) + 1j * RNG.standard_normal(8))[None]
PSI = PSI / PSI.norm()
ALPHAS = torch.tensor([0.8, 0.5], dtype=torch.float64)


def num_den(theta: np.ndarray) -> np.ndarray:
    """``(<P0⊗Z_0>, <P0>)`` of the LCU: unnormalised ``Mψ/‖α‖₁`` -> numerator, denominator."""
    t = torch.tensor(theta)
    phi = ALPHAS[0] * hea_apply(PSI, t[:P1], n, L) + ALPHAS[1] * qa_apply(PSI, t[P1:], LAYOUT)
    p = (phi.abs() ** 2)[0] / ALPHAS.abs().sum() ** 2
    return np.array([float((p * z_signs(n, 0)).sum()), float(p.sum())])


def ratio(theta):
    nd = num_den(theta)
    return nd[0] / nd[1]


def finite_diff(f, theta, h=1e-6):
    return np.stack([(f(theta + h * e) - f(theta - h * e)) / (2 * h)
                     for e in np.eye(len(theta))])


def test_parameter_shift_is_exact_for_controlled_rotations_and_rbs():
    theta = RNG.uniform(-3, 3, P1 + P2)
    degrees = np.full(P1 + P2, 2)  # controlled RY/RZ: ω=1/2, R=2; (controlled) RBS: ω=1, R=2
    omegas = np.array([0.5] * P1 + [1.0] * P2)
    nd, dnd = num_den(theta), parameter_shift(num_den, theta, degrees, omegas)
    assert np.allclose(dnd, finite_diff(num_den, theta), atol=1e-7)
    dratio = (dnd[:, 0] * nd[1] - nd[0] * dnd[:, 1]) / nd[1] ** 2
    assert np.allclose(dratio, finite_diff(ratio, theta), atol=1e-6)
    # the two-term ±π/2 rule is NOT valid here: it misses frequencies
    wrong = parameter_shift(num_den, theta, np.ones(P1 + P2, int))
    assert not np.allclose(wrong[P1:], dnd[P1:], atol=1e-3)
    assert not np.allclose(wrong[:P1], dnd[:P1], atol=1e-3)


def test_two_term_rule_is_exact_for_the_plain_qnn():
    theta = RNG.uniform(-3, 3, P1)

    def z(t):
        return np.array(float((hea_apply(PSI, torch.tensor(t), n, L).abs()[0] ** 2
                               * z_signs(n, 0)).sum()))

    assert np.allclose(parameter_shift(z, theta, np.ones(P1, int)), finite_diff(z, theta),
                       atol=1e-7)


def test_spsa_matches_finite_differences():
    theta = RNG.uniform(-3, 3, P1 + P2)
    fd = finite_diff(ratio, theta)
    rng = np.random.default_rng(1)
    d = rng.choice([-1.0, 1.0], size=theta.shape)
    one = spsa(ratio, theta, c=1e-4, samples=1, rng=np.random.default_rng(1))
    assert np.allclose(one, (fd @ d) * d, atol=1e-6)  # one direction: the directional derivative
    many = spsa(ratio, theta, c=1e-3, samples=1000, rng=rng)
    # unbiased: the average over directions converges to the gradient (stat. error ~ |g|/sqrt(K))
    assert np.abs(many - fd).max() < 5 * np.linalg.norm(fd) / np.sqrt(1000)
    assert np.dot(many, fd) / (np.linalg.norm(many) * np.linalg.norm(fd)) > 0.9


@pytest.mark.parametrize("R", [1, 2, 3])
def test_shift_rule_exact_on_trig_polynomials(R):
    rng = np.random.default_rng(R)
    a, b = rng.standard_normal(R + 1), rng.standard_normal(R + 1)
    k = np.arange(R + 1)

    def f(t):
        return np.array(a @ np.cos(k * t[0]) + b @ np.sin(k * t[0]))

    t0 = np.array([0.37])
    want = -a @ (k * np.sin(k * t0[0])) + b @ (k * np.cos(k * t0[0]))
    assert float(parameter_shift(f, t0, [R])[0]) == pytest.approx(want, abs=1e-12)
