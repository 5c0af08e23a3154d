"""Running specs on backends: ledger (SQLite), batching planner, job manager, exact sampler.

Entry points: :func:`submit`, :func:`resume`, :func:`fetch`, :func:`cancel`, :func:`summary`,
:func:`run_counts` (merged counts per family and input, for estimates and comparisons).
They are loaded on first use, so that reading the ledger (``hwadapt status``) imports
neither Qiskit nor torch.
"""

import importlib

_MANAGER = ("cancel", "fetch", "resume", "run_counts", "submit", "summary")

__all__ = ["Ledger", *_MANAGER]


def __getattr__(name: str):
    if name == "Ledger":
        return importlib.import_module("hwadapt.execution.ledger").Ledger
    if name in _MANAGER:
        return getattr(importlib.import_module("hwadapt.execution.manager"), name)
    raise AttributeError(f"module 'hwadapt.execution' has no attribute {name!r}")
