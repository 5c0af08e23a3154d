"""Planner: shot grid, first-round and top-up allocation, budget, per-job limits."""

import numpy as np
import pytest

from hwadapt.execution import batching as b


def test_round_shots_grid():
    for s in range(1, 100_000, 37):
        r = b.round_shots(s)
        assert r >= max(s, b.MIN_SHOTS) and r <= max(1.25 * s, b.MIN_SHOTS) + 1
        k = r.bit_length() - 3
        assert r % 2**max(k, 0) == 0


def test_first_round_from_exact_rates():
    rates = np.array([0.5, 0.1, 0.0])
    s = b.first_round_shots(rates, 1000, pilot=256, count=3)
    assert s.tolist() == [2200, 11000, 256]
    assert b.first_round_shots(None, 1000, pilot=256, count=2).tolist() == [256, 256]


def test_topup_reaches_target_in_expectation():
    acc, raw = np.array([1000, 400, 0]), np.array([2000, 2000, 2000])
    s = b.topup_shots(acc, raw, 1000)
    assert s[0] == 0
    rate = (400 + 1) / 2002
    assert s[1] == np.ceil(1.1 * 600 / rate) and s[2] > 0


def test_budget_is_respected():
    shots = [np.array([5000, 7000, 0]), np.array([3000])]
    out = b.fit_budget(shots, 6000)
    assert b.expected_total(out) <= 6000
    assert b.fit_budget(shots, 10**9) is shots


def test_budget_keeps_calibration_rows():
    """Targets asking for far more than the budget (a deep circuit's tiny predicted rate)
    shrink; the calibration rows keep the spec's shots instead of being scaled below
    MIN_SHOTS and dropped (they are run in the first round only)."""
    shots = [np.array([900_000, 700_000, 2048, 2048]), np.array([5000, 2048, 2048])]
    out = b.fit_budget(shots, 60_000, fixed=[2, 2])
    assert b.expected_total(out) <= 60_000
    assert out[0][2:].tolist() == [2048, 2048] and out[1][1:].tolist() == [2048, 2048]
    assert 0 < out[0][1] < out[0][0] < 900_000 and out[1][0] > 0
    scaled_all = b.fit_budget(shots, 60_000)
    assert (scaled_all[0][2:] < 2048).all()  # without fixed rows everything shrinks
    tiny = b.fit_budget(shots, 5000, fixed=[2, 2])  # fixed rows alone exceed: all scaled
    assert b.expected_total(tiny) <= 5000


@pytest.mark.parametrize("max_exec,max_payload", [(5_000_000, 48 * 2**20), (20_000, 10**9),
                                                  (10**9, 5_000)])
def test_jobs_respect_limits_and_cover_everything(max_exec, max_payload):
    rng = np.random.default_rng(0)
    shots = [rng.integers(0, 9000, 40), rng.integers(100, 3000, 25)]
    lim = b.Limits(max_exec, max_payload)
    jobs = b.plan_jobs(shots, [1000, 2000], [64, 64], lim)
    seen = {}
    for j in jobs:
        assert b.executions(j) <= max(lim.max_executions, j["shots"])
        payload = sum([1000, 2000][p["family"]] + 64 * len(p["inputs"]) for p in j["pubs"])
        assert payload <= lim.max_payload or sum(len(p["inputs"]) for p in j["pubs"]) == 1
        for p in j["pubs"]:
            for i in p["inputs"]:
                assert (p["family"], i) not in seen  # no duplicates
                seen[(p["family"], i)] = j["shots"]
    want = {(f, i): b.round_shots(int(s)) for f, a in enumerate(shots) for i, s in enumerate(a)
            if s > 0}
    assert seen == want  # every (family, input) once, at its rounded shots


def test_one_shot_count_per_job_and_deterministic():
    shots = [np.array([100, 5000, 100, 5000])]
    jobs = b.plan_jobs(shots, [10], [8])
    assert [j["shots"] for j in jobs] == [112, 5120]
    assert jobs == b.plan_jobs(shots, [10], [8])
    assert b.batch_seed(1, 2) == b.batch_seed(1, 2) != b.batch_seed(1, 3)
