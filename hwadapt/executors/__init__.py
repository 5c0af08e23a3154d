"""Executors: where independent simulation tasks run (a registry, like ``backends``).

- ``local`` (default): a process pool on this machine, ``workers=1`` in this process;
- ``ray``: a Ray cluster (optional extra ``hwadapt[ray]``, imported only when chosen).

:func:`get_executor` makes one from the CLI options ``--executor``, ``--workers``,
``--ray-address`` (or ``HWADAPT_EXECUTOR``, ``HWADAPT_WORKERS``, ``HWADAPT_RAY_ADDRESS``).
Callers split work into tasks whose results the driver records (one ledger writer):
:mod:`hwadapt.execution.parallel` (batches of runs), :mod:`hwadapt.sweep`.
"""

from __future__ import annotations

import os

from hwadapt.errors import InputError
from hwadapt.executors.base import RETRIES, Executor, WorkerLost, init_worker
from hwadapt.executors.local import LocalExecutor, machine_workers

NAMES = ("local", "ray")
DEFAULT = "local"
ENV_EXECUTOR, ENV_WORKERS = "HWADAPT_EXECUTOR", "HWADAPT_WORKERS"

__all__ = ["DEFAULT", "NAMES", "RETRIES", "Executor", "LocalExecutor", "WorkerLost",
           "executor_name", "get_executor", "init_worker", "machine_workers", "serial"]


def _workers(workers: int | str | None) -> int | None:
    text = os.environ.get(ENV_WORKERS, "").strip() if workers is None else str(workers)
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"--workers {text!r}: give a whole number >= 1 (or leave it out: "
                         "one per core)")
    return int(text)


def executor_name(name: str | None = None) -> str:
    """The executor ``name`` chooses (default ``HWADAPT_EXECUTOR``, else ``local``), lower
    case (not checked: :func:`get_executor` refuses unknown names)."""
    return (name or os.environ.get(ENV_EXECUTOR, "").strip() or DEFAULT).lower()


def get_executor(name: str | None = None, workers: int | str | None = None,
                 address: str | None = None) -> Executor:
    """The executor ``name`` (default ``HWADAPT_EXECUTOR``, else ``local``) with ``workers``
    workers (default ``HWADAPT_WORKERS``, else the cores available); ``address``: ray's
    cluster. Unknown names and unreachable clusters are one-line :class:`InputError`."""
    name = executor_name(name)
    n = _workers(workers)
    if name == "local":
        if address:
            raise InputError("--ray-address goes with --executor ray: add --executor ray or "
                             "drop --ray-address")
        return LocalExecutor(n)
    if name == "ray":
        from hwadapt.executors.ray_executor import RayExecutor

        return RayExecutor(n, address)
    raise InputError(f"unknown executor {name!r}: use one of {', '.join(NAMES)} "
                     "(--executor local|ray)")


def serial() -> Executor:
    """One worker in this process: the behaviour without an executor."""
    return LocalExecutor(1)
