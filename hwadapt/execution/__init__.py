"""Running specs on backends: circuit families and run metadata (``family``, ``metadata``),
ledger (SQLite), batching planner, job manager, exact sampler.

Entry points live in :mod:`hwadapt.execution.manager` (``submit``, ``resume``, ``fetch``,
``cancel``, ``summary``, ``run_counts``); this package imports nothing eagerly, so the
lower modules (``family``, ``metadata``) can be imported by :mod:`hwadapt.spec`, which
the manager imports.
"""
