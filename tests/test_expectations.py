"""The postselected ratio and its propagated standard error, checked by Monte Carlo: shots
drawn per-shot (ancilla outcome p, observable eigenvalue o) and the ratio of sample means."""

import numpy as np
import pytest

from hwadapt.expectations import postselected_values, ratio, shot_correlation


def _shots(rng, d, q_plus, obs_values, shots, reps):
    """``reps`` runs of ``shots`` shots: p ~ Bernoulli(d); given p = 1, o = obs_values[0]
    with probability q_plus else obs_values[1]. Returns per-run means of n = p·o, d = p and
    m = p·o²."""
    p = rng.random((reps, shots)) < d
    o = np.where(rng.random((reps, shots)) < q_plus, *obs_values)
    n = p * o
    return n.mean(1), p.mean(1), (p * o**2).mean(1)


@pytest.mark.parametrize("d,q_plus,obs_values,cov_matters", [
    (0.6, 0.8, (1.0, -1.0), True),   # a Pauli: eigenvalues ±1, second moment = P0
    (0.3, 0.25, (1.0, 0.0), True),   # a projector (unary:i): o² = o
    (0.9, 0.75, (1.0, -1.0), False),  # D near 1: D barely varies
    (0.15, 0.9, (2.0, -0.5), True),  # a general observable with two eigenvalues
])
def test_shared_shot_stderr_matches_monte_carlo(d, q_plus, obs_values, cov_matters):
    """N and D from the same shots: the delta method with the shot-model correlation gives
    the spread of N̂/D̂ over repeated runs (4,000 runs of 2,000 shots), within 6 %."""
    rng = np.random.default_rng(0)
    shots, reps = 2000, 4000
    n_hat, d_hat, m_hat = _shots(rng, d, q_plus, obs_values, shots, reps)
    emp = np.std(n_hat / d_hat)
    o_mean = q_plus * obs_values[0] + (1 - q_plus) * obs_values[1]
    o_sq = q_plus * obs_values[0] ** 2 + (1 - q_plus) * obs_values[1] ** 2
    N, D, M = d * o_mean, d, d * o_sq  # exact moments
    s_n, s_d = np.sqrt((M - N**2) / shots), np.sqrt((D - D**2) / shots)
    rho = shot_correlation(N, D, M)
    r, s_r = ratio(N, D, s_n, s_d, rho * s_n * s_d)
    assert r == pytest.approx(o_mean)
    assert s_r == pytest.approx(emp, rel=0.06)
    assert s_r == pytest.approx(np.sqrt((M / D - r**2) / (D * shots)), rel=1e-9)
    # ignoring the covariance is wrong here (would overstate or understate the spread)
    _, s_indep = ratio(N, D, s_n, s_d, 0.0)
    assert (abs(s_indep - emp) > 0.1 * emp) == cov_matters
    # per-run estimates: the formula from the measured moments covers the truth ~95 %
    rho_hat = shot_correlation(n_hat, d_hat, m_hat)
    sn_hat = np.sqrt(np.maximum(m_hat - n_hat**2, 0) / shots)
    sd_hat = np.sqrt(d_hat * (1 - d_hat) / shots)
    r_hat, sr_hat = ratio(n_hat, d_hat, sn_hat, sd_hat, rho_hat * sn_hat * sd_hat)
    cover = np.mean(np.abs(r_hat - o_mean) <= 2 * sr_hat)
    assert 0.93 <= cover <= 0.97


def test_independent_noise_stderr_matches_monte_carlo():
    """N and D with independent Gaussian noise (Aer's precision): covariance 0."""
    rng = np.random.default_rng(1)
    N, D, s = 0.3, 0.7, 0.01
    n_hat = N + s * rng.standard_normal(200_000)
    d_hat = D + s * rng.standard_normal(200_000)
    _, s_r = ratio(N, D, s, s, 0.0)
    assert s_r == pytest.approx(np.std(n_hat / d_hat), rel=0.02)


def test_ratio_edge_cases():
    r, s = ratio([0.0, 0.5], [0.0, 1.0], [0.1, 0.0], [0.1, 0.0])
    assert np.isnan(r[0]) and r[1] == 0.5 and s[1] == 0.0
    assert shot_correlation(0.5, 1.0, 1.0) == 0.0  # D = 1: no spread in D, no correlation


def test_postselected_values_picks_columns():
    """``index`` = (numerator, denominator, second moment) columns per observable."""
    evs = np.array([[0.5, 0.25, 0.5], [0.8, -0.4, 0.8]])
    stds = np.full_like(evs, 0.01)
    v, s = postselected_values(evs, stds, [(1, 0, 2), (1, 0, 0)], shared_shots=False)
    assert np.allclose(v, [[0.5, 0.5], [-0.5, -0.5]])
    _, s_shared = postselected_values(evs, stds, [(1, 0, 2)], shared_shots=True)
    assert s_shared.shape == (2, 1) and np.all(s_shared < s[:, :1])  # positive correlation


def test_observable_systematic_reads_the_calibration_rows_only():
    """Per observable, the bias shot noise does not explain, from the last ``calibration``
    rows: a bias of 0.3 on one observable gives a bound just above 0.3 there, ~0 on the clean one;
    the targets' exact values (first rows) are never read; none without calibration."""
    from hwadapt.expectations import observable_systematic

    rng = np.random.default_rng(0)
    m, t = 40, 6
    exact = rng.uniform(-1, 1, (t + m, 2))
    stderr = np.full_like(exact, 0.01)
    values = exact + rng.normal(0, 0.01, exact.shape) + np.array([0.3, 0.0])
    sys = observable_systematic(values, stderr, exact, m)
    assert 0.3 <= sys[0] < 0.36 and sys[1] < 0.01  # an 84% upper bound: above 0.3
    exact2 = exact.copy()
    exact2[:t] = np.nan  # the targets' answers: unused
    assert np.array_equal(observable_systematic(values, stderr, exact2, m), sys)
    assert observable_systematic(values, stderr, exact, 0) is None
