"""Fixtures of the reliability suite: ready-made ledgers (a run planned but not executed, two
finished runs) copied per test, and the reference counts of jobs/small.toml on aer."""

import pytest
from reliability_helpers import SMALL, Cli, copy_ledger, settle

from hwadapt.execution.ledger import Ledger


@pytest.fixture(scope="session")
def cli() -> Cli:
    return Cli()


@pytest.fixture(scope="session")
def planned_template(tmp_path_factory, cli):
    """A ledger holding one active aer run of jobs/small.toml: round 0 planned, nothing run
    (the submit was killed right after planning)."""
    path = tmp_path_factory.mktemp("planned") / "l.db"
    r = cli("submit", SMALL, "--backend", "aer", "--ledger", path,
            env={"HWADAPT_CRASH_AT": "after_plan"})
    assert r.returncode == 137, r.stderr
    settle(path)
    [row] = Ledger(path, readonly=True).runs()
    return path, row["id"]


@pytest.fixture
def planned(planned_template, tmp_path):
    """``(ledger path, run id)``: a private copy of :func:`planned_template`."""
    src, rid = planned_template
    return copy_ledger(src, tmp_path / "planned"), rid


@pytest.fixture(scope="session")
def reference_counts(tmp_path_factory):
    """Counts of jobs/small.toml run to the end on aer in one process (seeded: any resumed
    or raced run of the same spec must reproduce them exactly)."""
    from hwadapt.execution import manager

    path = tmp_path_factory.mktemp("reference") / "l.db"
    rid = manager.submit(SMALL, "aer", path)
    return manager.run_counts(path, rid)


@pytest.fixture(scope="session")
def two_runs_template(tmp_path_factory, cli):
    """A ledger with two finished runs of jobs/small.toml (exact backend)."""
    path = tmp_path_factory.mktemp("two") / "l.db"
    for _ in range(2):
        r = cli("submit", SMALL, "--backend", "exact", "--ledger", path)
        assert r.returncode == 0, r.stderr
    ids = [row["id"] for row in Ledger(path, readonly=True).runs()]
    return path, ids


@pytest.fixture
def two_runs(two_runs_template, tmp_path):
    src, ids = two_runs_template
    return copy_ledger(src, tmp_path / "two"), ids
