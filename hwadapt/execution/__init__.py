"""Running specs on backends: ledger (SQLite), batching planner, job manager, exact sampler.

Entry points: :func:`submit`, :func:`resume`, :func:`fetch`, :func:`cancel`, :func:`summary`,
:func:`run_counts` (merged counts per family and input, for estimates and comparisons).
"""

from hwadapt.execution.ledger import Ledger
from hwadapt.execution.manager import cancel, fetch, resume, run_counts, submit, summary

__all__ = ["Ledger", "cancel", "fetch", "resume", "run_counts", "submit", "summary"]
