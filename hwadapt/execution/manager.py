"""Job manager: the public entry points of running a spec, gathered from the modules that
do each job (this module only re-exports them):

- :mod:`hwadapt.execution.build`: a run computed in memory (``build_run``, ``transpile``,
  ``exact_distribution``, ``exact_rates``, ``predicted_survival``, ``exact_calibration``,
  planned-work limits);
- :mod:`hwadapt.execution.submit`: create a run from a spec or ready-made families
  (``submit``, ``submit_families``, ``record_run``, ``load_metadata``);
- :mod:`hwadapt.execution.drive`: drive its rounds of batches, ``resume``, ``fetch``,
  ``cancel``, retries and the ``HWADAPT_CRASH_AT`` test hook (crash safety is described
  there); its poll setting ``POLL_S`` lives there, retries in
  :mod:`hwadapt.execution.remote`;
- :mod:`hwadapt.execution.parallel`: the same with an executor (``drive_with``,
  ``drive_runs``, ``resume(..., executor=)``: batches as tasks, this process the only writer);
- :mod:`hwadapt.execution.rundata`: a run read back (``RunData``, ``load_run``,
  ``run_counts``).
"""

from __future__ import annotations

from hwadapt.execution.artifacts import verify_results, verify_run
from hwadapt.execution.build import (
    EXACT_RATE_MAX_QUBITS,
    EXACT_RATE_MAX_SUPPORT,
    MAX_BINDINGS,
    MAX_PLANNED_SHOTS,
    build_run,
    check_width,
    check_work,
    exact_calibration,
    exact_distribution,
    exact_rates,
    planned_work,
    predicted_survival,
    transpile,
)
from hwadapt.execution.drive import (
    _inputs_below,  # noqa: F401  (tests use it)
    cancel,
    crash_point,
    drive,
    fetch,
)
from hwadapt.execution.ledger import Ledger
from hwadapt.execution.parallel import drive_runs, drive_with, resume
from hwadapt.execution.remote import RETRIES, with_retry
from hwadapt.execution.rundata import RunData, load_run, run_counts
from hwadapt.execution.submit import load_metadata, record_run, submit, submit_families
from hwadapt.execution.summary import summary, tally

__all__ = [
    "EXACT_RATE_MAX_QUBITS", "EXACT_RATE_MAX_SUPPORT", "MAX_BINDINGS", "MAX_PLANNED_SHOTS",
    "RETRIES", "Ledger", "RunData", "build_run", "cancel", "check_width", "check_work",
    "crash_point", "drive", "drive_runs", "drive_with", "exact_calibration",
    "exact_distribution", "exact_rates", "fetch", "load_metadata", "load_run", "planned_work",
    "predicted_survival", "record_run", "resume", "run_counts", "submit", "submit_families",
    "summary", "tally", "transpile", "verify_results", "verify_run", "with_retry",
]
