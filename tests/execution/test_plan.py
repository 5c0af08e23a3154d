"""execution.plan helpers: the human duration the simulation-time check prints."""

from hwadapt.execution.plan import MAX_SIMULATION_S, check_simulation_seconds, duration


def test_duration_reads_in_the_largest_unit_that_fits_twice():
    assert duration(0.3) == duration(59) == "under a minute"
    assert duration(119) == "about 119 s" and duration(1000) == "about 17 min"
    assert duration(7200) == "about 2 h" and duration(1.93e6) == "about 22 days"


def test_simulation_check_passes_below_the_limit_or_without_a_local_cost():
    for secs in (None, MAX_SIMULATION_S):
        check_simulation_seconds({"simulation_seconds": secs, "shots": 10}, "aer_noisy", False)


def test_calibration_rows_are_split_over_families_like_the_targets():
    """Equal accepted shots per family (raw shots ∝ 1 / expected rate), the spec's shots x
    families per calibration input in all; a near-zero rate takes at most 100x another
    family's share; without rates (a pilot) the same raw shots everywhere."""
    import numpy as np

    from hwadapt.execution.batching import round_shots
    from hwadapt.execution.plan import calibration_shots

    fams = [{"name": n, "calibration": 2, "calibration_shots": 100_000, "rates": r}
            for n, r in (("magnitude", [0.9, 0.1, 0.5]), ("signs", [0.9, 0.4, 1e-9]),
                         ("signs1", [0.9, 0.2, 0.25]))]  # row 0: a target, rows 1-2: calibration
    out = calibration_shots([{"name": "no calibration", "rates": [0.3]}, *fams])
    assert out[0] is None
    shots = np.stack(out[1:])
    share = np.array([[10, 2], [2.5, 200], [5, 4]]) / [17.5, 206] * 300_000  # 1 / rate
    assert shots.shape == (3, 2) and np.all((shots <= share) & (shots > 0.8 * share))
    assert all(round_shots(s) == s for s in shots.ravel())  # on the grid, rounded down
    equal = calibration_shots([{**f, "rates": None, "calibration_shots": 1024} for f in fams])
    assert all(np.array_equal(s, [1024, 1024]) for s in equal)
