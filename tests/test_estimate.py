"""Estimator maths: counts → signed y with stderr, against exact probabilities and sampling."""

import numpy as np
import pytest
from qiskit.primitives import BitArray

from hwadapt.errors import InputError
from hwadapt.estimate import (
    estimate,
    ideal_probabilities,
    int_counts,
    mitigate_readout,
    rate_ideal,
    sample_counts,
    tally,
    tvd,
    wilson_interval,
)

N = 6
ALPHAS = np.array([0.7, -0.4, 0.3])
K0 = np.abs(ALPHAS).sum()
BETA = float(np.linalg.norm(ALPHAS))
R = np.full(N, 1 / np.sqrt(N))


def random_y(rng, inputs, n=N, scale=0.6):
    Y = rng.normal(size=(inputs, n))
    return Y * (scale * K0 / np.linalg.norm(Y, axis=1))[:, None]


def sampled(rng, Y, shots, ref=R, beta=BETA, with_reference=True):
    counts = {"magnitude": sample_counts(ideal_probabilities(Y, K0), shots, N, rng=rng)}
    if with_reference:
        counts["signs"] = sample_counts(ideal_probabilities(Y + beta * ref, K0 + beta),
                                            shots, N, rng=rng)
    return estimate(counts, n=N, alphas=ALPHAS, beta=beta, reference=ref)


def test_int_counts_accepts_bitstrings_hex_ints_and_bitarrays():
    assert int_counts({"0101": 3, "1 000": 2}) == {5: 3.0, 8: 2.0}
    assert int_counts({"0x5": 1, 5: 2.5}) == {5: 3.5}
    ba = BitArray.from_samples([1, 2, 2, 7], num_bits=3)
    assert int_counts(ba) == {1: 1.0, 2: 2.0, 7: 1.0}
    rng = np.random.default_rng(0)
    ba = BitArray.from_samples(rng.integers(0, 1 << 11, size=500).tolist(), num_bits=11)
    assert int_counts(ba) == {k: float(v) for k, v in ba.get_int_counts().items()}
    with pytest.raises(InputError, match="one BitArray binding"):
        int_counts(BitArray(np.zeros((2, 4, 1), np.uint8), 3))  # two bindings


def test_tally_postselects_ancillas_and_hamming_weight():
    n = 3  # data bits 0..2, ancilla bit 3
    counts = {0b0001: 5, 0b0100: 7, 0b1010: 4, 0b0011: 2, 0b1011: 1, 0b0000: 1}
    t = tally(counts, n)
    assert t.kept.tolist() == [5, 0, 7]          # ancilla-0 HW-1: components 0 and 2
    assert t.total == 20 and t.hw_bad == 4       # 0011, 1011, 0000 have data weight != 1
    t2 = tally(counts, n, weight=2)              # subsets (0,1), (0,2), (1,2)
    assert t2.kept.tolist() == [2, 0, 0] and t2.hw_bad == 5 + 7 + 4 + 1


def test_wilson_interval_known_values():
    np.testing.assert_allclose(wilson_interval(0, 10), [0, 0.27753], atol=1e-5)
    np.testing.assert_allclose(wilson_interval(5, 10), [0.23659, 0.76341], atol=1e-5)
    from scipy.stats import binomtest

    for k, n in ((81, 263), (3, 4096), (4000, 4096)):
        ci = binomtest(k, n).proportion_ci(method="wilson")
        np.testing.assert_allclose(wilson_interval(k, n), [ci.low, ci.high], atol=1e-12)


def test_exact_probabilities_recover_y_exactly():
    rng = np.random.default_rng(1)
    Y = random_y(rng, 20)
    big = 1e14
    counts = {"magnitude": [], "signs": []}
    for fam, probs in (("magnitude", ideal_probabilities(Y, K0)),
                       ("signs", ideal_probabilities(Y + BETA * R, K0 + BETA))):
        for row in probs:
            d = {1 << j: p * big for j, p in enumerate(row)}
            d[(1 << N) | 1] = (1 - row.sum()) * big  # ancilla set, data still HW 1
            counts[fam].append(d)
    e = estimate(counts, n=N, alphas=ALPHAS, beta=BETA, reference=R)
    np.testing.assert_allclose(e.y, Y, atol=1e-6)
    np.testing.assert_allclose(e.rate, rate_ideal(Y, K0), atol=1e-12)
    np.testing.assert_allclose(e.probs, Y**2 / (Y**2).sum(1, keepdims=True), atol=1e-12)
    assert np.all(e.sign_confidence > 0.999)
    assert np.all(e.hw_discarded == 0)


def test_coverage_three_sigma_at_least_99_percent():
    rng = np.random.default_rng(2)
    Y = random_y(rng, 300)
    Y[:10, 0] = 0.0  # exact zeros: sign undetermined, value must still be covered
    e = sampled(rng, Y, 50_000)
    z = np.abs(e.y - Y) / e.stderr
    assert (z < 3).mean() >= 0.99
    assert 0.9 <= (z < 2).mean() <= 0.99  # honest, not inflated, error bars


def test_stderr_shrinks_as_one_over_sqrt_shots():
    rng = np.random.default_rng(3)
    Y = random_y(rng, 50)
    e1, e2 = sampled(rng, Y, 4_000), sampled(rng, Y, 64_000)
    ratio = e1.stderr / e2.stderr
    assert abs(np.median(ratio) - 4.0) < 0.1
    # where a sign is settled; elsewhere the bar carries the sign's own error (below)
    sure = (e1.sign_confidence > 0.999) & (e2.sign_confidence > 0.999)
    assert sure.mean() > 0.8 and np.all((ratio[sure] > 3.0) & (ratio[sure] < 5.0))


def test_signs_right_above_noise_floor():
    rng = np.random.default_rng(4)
    Y = random_y(rng, 300)
    shots = 20_000
    e = sampled(rng, Y, shots)
    # the sign rests on the reference family: ±|y| differ by 2|y| in B = K1·sqrt(q), whose
    # noise is K1/(2 sqrt(D)); "above the floor" = a 5-sigma sign difference
    floor = 2.5 * (K0 + BETA) / (2 * np.sqrt(shots))
    above = np.abs(Y) > floor
    assert above.mean() > 0.5
    assert np.all(np.sign(e.y[above]) == np.sign(Y[above]))
    assert np.all(e.sign_confidence[above] > 0.95) and e.sign_confidence[above].mean() > 0.999
    # and the confidence is honest below the floor: wrong signs there have low confidence
    wrong = np.sign(e.y) != np.sign(Y)
    assert np.all(e.sign_confidence[wrong] < 0.99)


def test_without_reference_only_magnitudes_are_known():
    rng = np.random.default_rng(5)
    Y = random_y(rng, 100)
    e = sampled(rng, Y, 50_000, with_reference=False)
    assert np.all(e.y >= 0) and np.all(e.sign_confidence == 0.5)
    assert (np.abs(e.y - np.abs(Y)) < 3 * e.stderr).mean() >= 0.99
    # magnitude-only stderr is K0·sqrt((1-p)/(4D)): the delta method
    p = ideal_probabilities(Y, K0)
    np.testing.assert_allclose(e.stderr, K0 * np.sqrt((1 - p) / (4 * 50_000)), rtol=0.05)


def test_input_reference_leaves_sign_undetermined_where_input_is_zero():
    rng = np.random.default_rng(6)
    psi = rng.normal(size=(40, N))
    psi[:, 2] = 0.0
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    Y = random_y(rng, 40)
    e = sampled(rng, Y, 20_000, ref=psi)
    np.testing.assert_allclose(e.sign_confidence[:, 2], 0.5, atol=1e-9)


def test_hw_check_discards_and_renormalises():
    rng = np.random.default_rng(7)
    Y = random_y(rng, 5)
    base = sample_counts(ideal_probabilities(Y, K0), 10_000, N, rng=rng)
    leaky = [dict(c) for c in base]
    for c in leaky:   # leakage out of HW 1 that hits every outcome proportionally
        for k in list(c):  # outcome k (data 2^j) also leaks to data 2^j + 2^(j+1 mod N)
            j = (k & ((1 << N) - 1)).bit_length() - 1
            c[k | 1 << (j + 1) % N] = c[k] // 4
    e0 = estimate({"magnitude": base}, n=N, alphas=ALPHAS)
    e1 = estimate({"magnitude": leaky}, n=N, alphas=ALPHAS)
    e2 = estimate({"magnitude": leaky}, n=N, alphas=ALPHAS, renormalize=False)
    np.testing.assert_allclose(e1.hw_discarded, 0.2, atol=0.01)
    np.testing.assert_allclose(e1.y, e0.y, rtol=0.02)
    pos = e1.y > 0
    assert np.all(e2.y[pos] < e1.y[pos] * 0.95)  # not renormalising shrinks it by sqrt(0.8)


def test_bad_inputs_raise_one_line_errors():
    c = [{1: 10}]
    with pytest.raises(InputError, match="family 'magnitude'"):
        estimate({"signs": c}, n=2, alphas=[1.0])
    with pytest.raises(InputError, match="alphas are all zero"):
        estimate({"magnitude": c}, n=2, alphas=[0.0])
    with pytest.raises(InputError, match="needs beta"):
        estimate({"magnitude": c, "signs": c}, n=2, alphas=[1.0])
    with pytest.raises(InputError, match="empty"):
        estimate({"magnitude": [{}]}, n=2, alphas=[1.0])


def test_tvd():
    assert tvd([0.5, 0.5], [1.0, 0.0]) == 0.5
    np.testing.assert_allclose(tvd(np.eye(3), np.eye(3)), 0)


@pytest.mark.slow
def test_mthree_lowers_tvd_on_readout_only_noise():
    import mthree
    from qiskit import QuantumCircuit, transpile
    from qiskit.circuit.library import XXPlusYYGate
    from qiskit.quantum_info import Statevector
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import NoiseModel, ReadoutError

    n = 4
    nm = NoiseModel()
    for q in range(n):
        nm.add_readout_error(ReadoutError([[0.96, 0.04], [0.08, 0.92]]), [q])
    sim = AerSimulator(noise_model=nm, seed_simulator=11)
    qc = QuantumCircuit(n)
    qc.x(0)
    for i, th in enumerate([0.5, 0.7, 0.9]):  # a unary loader: RBS chain
        qc.append(XXPlusYYGate(2 * th, -np.pi / 2), [i, i + 1])
    exact = Statevector(qc).probabilities()[[1 << j for j in range(n)]]
    qc.measure_all()
    counts = sim.run(transpile(qc, sim), shots=40_000).result().get_counts()
    m3 = mthree.M3Mitigation(sim)
    m3.cals_from_system(list(range(n)), shots=40_000)
    raw = estimate({"magnitude": [counts]}, n=n, alphas=[1.0])
    mit = estimate({"magnitude": [mitigate_readout(counts, m3, list(range(n)))]}, n=n, alphas=[1.0])
    t_raw, t_mit = tvd(raw.probs[0], exact), tvd(mit.probs[0], exact)
    assert t_mit < 0.5 * t_raw
    assert raw.hw_discarded[0] > 0.05 and abs(mit.hw_discarded[0]) < 0.02


def _two_reference_counts(rng, Y, shots, refs):
    counts = {"magnitude": sample_counts(ideal_probabilities(Y, K0), shots, N, rng=rng)}
    for name, r in refs.items():
        counts[name] = sample_counts(ideal_probabilities(Y + BETA * r, K0 + BETA), shots, N,
                                     rng=rng)
    return counts


def test_second_reference_removes_the_blind_spot_of_the_first():
    """Component 0 is invisible to reference ``r0`` (r0_0 = 0) but not to ``r1``: with both,
    its sign is known; with ``r0`` alone it is a coin toss (confidence 0.5)."""
    rng = np.random.default_rng(11)
    Y = random_y(rng, 200)
    Y[:, 0] = np.where(rng.random(200) < 0.5, -1, 1) * rng.uniform(0.15, 0.3, 200)
    r0 = rng.normal(size=(200, N))
    r0[:, 0] = 0.0
    r1 = rng.normal(size=(200, N))
    r1[:, 0] = np.where(rng.random(200) < 0.5, -0.5, 0.5)
    r0 /= np.linalg.norm(r0, axis=1, keepdims=True)
    r1 /= np.linalg.norm(r1, axis=1, keepdims=True)
    counts = _two_reference_counts(rng, Y, 20_000, {"signs": r0, "signs1": r1})
    both = estimate(counts, n=N, alphas=ALPHAS, beta=BETA, reference={"signs": r0, "signs1": r1})
    one = estimate({k: counts[k] for k in ("magnitude", "signs")}, n=N, alphas=ALPHAS,
                   beta=BETA, reference=r0)
    np.testing.assert_allclose(one.sign_confidence[:, 0], 0.5, atol=1e-9)
    assert np.all(np.sign(both.y[:, 0]) == np.sign(Y[:, 0]))
    assert np.all(both.sign_confidence[:, 0] > 0.99)
    # more families, more information: a smaller error bar (on the few components of
    # |y| ~ 0.01 whose sign is unsettled either way, its error term can go either way)
    assert (both.stderr < one.stderr).mean() > 0.99
    z = np.abs(both.y - Y) / both.stderr
    assert 0.92 <= (z < 2).mean() <= 0.98
    # the blind component's sign is a coin toss, and its bar says so: it covers the 2|y| of
    # a wrong sign (the magnitude's curvature alone, ~0.004, covered half of them)
    z1 = np.abs(one.y[:, 0] - Y[:, 0]) / one.stderr[:, 0]
    assert (np.sign(one.y[:, 0]) != np.sign(Y[:, 0])).mean() > 0.3 and np.all(z1 < 2)
    np.testing.assert_allclose(one.stderr[:, 0], np.sqrt(2) * np.abs(one.y[:, 0]), rtol=0.01)


def test_exact_probabilities_with_two_references_recover_y():
    rng = np.random.default_rng(12)
    Y = random_y(rng, 30)
    refs = {k: v / np.linalg.norm(v, axis=1, keepdims=True)
            for k, v in (("signs", rng.normal(size=(30, N))), ("signs1", rng.normal(size=(30, N))))}
    big = 1e14
    counts = {"magnitude": [{1 << j: p * big for j, p in enumerate(row)}
                            for row in ideal_probabilities(Y, K0)]}
    for name, r in refs.items():
        counts[name] = [{1 << j: p * big for j, p in enumerate(row)}
                        for row in ideal_probabilities(Y + BETA * r, K0 + BETA)]
        for c, row in zip(counts[name], ideal_probabilities(Y + BETA * r, K0 + BETA),
                          strict=True):
            c[(1 << N) | 1] = max(1 - row.sum(), 0) * big
    for c, row in zip(counts["magnitude"], ideal_probabilities(Y, K0), strict=True):
        c[(1 << N) | 1] = (1 - row.sum()) * big
    e = estimate(counts, n=N, alphas=ALPHAS, beta=BETA, reference=refs)
    np.testing.assert_allclose(e.y, Y, atol=1e-6)
    with pytest.raises(InputError, match="need one reference each"):
        estimate(counts, n=N, alphas=ALPHAS, beta=BETA, reference=refs["signs"])


def test_sign_confidence_is_calibrated():
    """Among components with confidence >= c the fraction of wrong signs is at most about
    1 - c, and in every confidence bin it matches the mean of 1 - confidence."""
    rng = np.random.default_rng(13)
    Y = random_y(rng, 3000) * 0.25  # small outputs: many signs near the noise floor
    r0 = rng.normal(size=(3000, N))
    r1 = rng.normal(size=(3000, N))
    refs = {"signs": r0 / np.linalg.norm(r0, axis=1, keepdims=True),
            "signs1": r1 / np.linalg.norm(r1, axis=1, keepdims=True)}
    e = estimate(_two_reference_counts(rng, Y, 2000, refs), n=N, alphas=ALPHAS, beta=BETA,
                 reference=refs)
    conf, wrong = e.sign_confidence.ravel(), (np.sign(e.y) != np.sign(Y)).ravel()
    assert 0.02 < wrong.mean() < 0.3  # the test has wrong signs to be calibrated on
    for c in (0.6, 0.8, 0.9, 0.95):
        sel = conf >= c
        assert sel.sum() > 500
        assert wrong[sel].mean() <= (1 - c) + 0.01
    for lo, hi in ((0.5, 0.7), (0.7, 0.9), (0.9, 1.0)):
        sel = (conf >= lo) & (conf < hi)
        assert sel.sum() > 300
        assert abs(wrong[sel].mean() - (1 - conf[sel]).mean()) < 0.04


def test_a_lightened_term_reference_resolves_more_signs_at_equal_shots():
    """Two-term LCU ``y = 0.6 u + 0.4 v``: term references that lighten a term (β = -0.4,
    K1 = 0.6) see every component whose ``|y_j|`` is below ``0.4 max(|u_j|, |v_j|)`` with
    about 3x less noise than references that weigh a term up (β = ‖α‖₂, K1 = 1.72), so at
    the same shots fewer signs come out wrong and the signed L2 error is smaller."""
    rng = np.random.default_rng(21)
    n, inputs, shots = 8, 400, 1500
    al = np.array([0.6, 0.4])
    u, v = (rng.normal(size=(inputs, n)) for _ in range(2))
    u, v = (w / np.linalg.norm(w, axis=1, keepdims=True) for w in (u, v))
    Y = al[0] * u + al[1] * v
    refs = {"signs": u, "signs1": v}  # r_k = sign(α_k) O_k x
    out = {}
    for beta in (float(np.linalg.norm(al)), -0.4):
        counts = {"magnitude": sample_counts(ideal_probabilities(Y, 1.0), shots, n, rng=rng)}
        for name, r in refs.items():
            counts[name] = sample_counts(ideal_probabilities(Y + beta * r, 1.0 + beta), shots,
                                         n, rng=rng)
        e = estimate(counts, n=n, alphas=al, beta=beta, reference=refs)
        out[beta] = ((np.sign(e.y) != np.sign(Y)).mean(),
                     np.linalg.norm(e.y - Y) / np.linalg.norm(Y),
                     np.mean(np.abs(e.y - Y) <= 2 * e.stderr))
    heavy, light = out[float(np.linalg.norm(al))], out[-0.4]
    assert light[0] < 0.6 * heavy[0]
    assert light[1] < 0.8 * heavy[1]
    assert light[2] > 0.9  # the error bars stay honest


def test_device_sign_confidence_caps_the_shot_noise_posterior():
    """min(c, Φ(|ŷ|/σ)): never above the shot-noise value, 0.5 at ŷ = 0, Φ(1) at one σ,
    unchanged where the shot-noise value is the smaller."""
    from scipy.stats import norm

    from hwadapt.estimate import Estimate, device_sign_confidence

    y = np.array([[0.0, 0.05, 0.5, -0.05]])
    c = np.array([[0.5, 1.0, 1.0, 0.6]])
    est = Estimate(y=y, stderr=np.full_like(y, 0.05), rate=np.ones(1),
                   rate_interval=np.ones((1, 2)), hw_discarded=np.zeros(1),
                   sign_confidence=c, probs=np.abs(y))
    out = device_sign_confidence(est)
    assert np.allclose(out, [[0.5, norm.cdf(1.0), norm.cdf(10.0), 0.6]], atol=1e-12)
    assert np.all(out <= c)
