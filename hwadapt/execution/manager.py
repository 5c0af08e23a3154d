"""Job manager: the public entry points of running a spec, gathered from the modules that
do each job (this module only re-exports them):

- :mod:`hwadapt.execution.submit`: create a run from a spec or ready-made families
  (``submit``, ``submit_families``, ``transpile``, ``exact_distribution``, ``exact_rates``,
  ``predicted_survival``,
  ``exact_calibration``, ``load_metadata``, planned-work limits);
- :mod:`hwadapt.execution.drive`: drive its rounds of batches, ``resume``, ``fetch``,
  ``cancel``, retries and the ``HWADAPT_CRASH_AT`` test hook (crash safety is described
  there); its poll setting ``POLL_S`` lives there, retries in
  :mod:`hwadapt.execution.remote`;
- :mod:`hwadapt.execution.rundata`: a run read back (``RunData``, ``load_run``,
  ``run_counts``).
"""

from __future__ import annotations

from hwadapt.execution.artifacts import verify_results, verify_run
from hwadapt.execution.drive import (
    _inputs_below,  # noqa: F401  (tests use it)
    cancel,
    crash_point,
    drive,
    fetch,
    resume,
)
from hwadapt.execution.ledger import Ledger
from hwadapt.execution.remote import RETRIES, with_retry
from hwadapt.execution.rundata import RunData, load_run, run_counts
from hwadapt.execution.submit import (
    EXACT_RATE_MAX_QUBITS,
    EXACT_RATE_MAX_SUPPORT,
    MAX_BINDINGS,
    MAX_PLANNED_SHOTS,
    check_width,
    check_work,
    exact_calibration,
    exact_distribution,
    exact_rates,
    load_metadata,
    planned_work,
    predicted_survival,
    submit,
    submit_families,
    transpile,
)
from hwadapt.execution.summary import summary, tally

__all__ = [
    "EXACT_RATE_MAX_QUBITS", "EXACT_RATE_MAX_SUPPORT", "MAX_BINDINGS", "MAX_PLANNED_SHOTS",
    "RETRIES", "Ledger", "RunData", "cancel", "check_width", "check_work", "crash_point", "drive",
    "exact_calibration", "exact_distribution",
    "exact_rates", "fetch", "load_metadata", "load_run", "planned_work",
    "predicted_survival", "resume", "run_counts", "submit", "submit_families", "summary",
    "tally", "transpile", "verify_results", "verify_run", "with_retry",
]
