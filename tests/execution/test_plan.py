"""execution.plan helpers: the human duration the simulation-time check prints."""

from hwadapt.execution.plan import MAX_SIMULATION_S, check_simulation_seconds, duration


def test_duration_reads_in_the_largest_unit_that_fits_twice():
    assert duration(0.3) == duration(59) == "under a minute"
    assert duration(119) == "about 119 s" and duration(1000) == "about 17 min"
    assert duration(7200) == "about 2 h" and duration(1.93e6) == "about 22 days"


def test_simulation_check_passes_below_the_limit_or_without_a_local_cost():
    for secs in (None, MAX_SIMULATION_S):
        check_simulation_seconds({"simulation_seconds": secs, "shots": 10}, "aer_noisy", False)
