"""The executor abstraction: run independent tasks somewhere, yield results as they finish.

A *task* is ``fn(item)`` with ``fn`` a module-level function (picklable by reference) and
``item`` a picklable value; tasks must be pure up to their result (no ledger writes: the
caller, on the driver, records results), so that re-running one anywhere gives the same
result. That is what makes a lost worker harmless: its task is simply run again.
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any

RETRIES = 2  # re-runs of a task whose worker died (not of a task that raised)


def init_worker(driver: int | None = None) -> None:
    """Set-up of every worker process: 1 compute thread (so workers × threads ≤ cores) and
    its stdout/stderr sent to /dev/null (one progress bar on the driver stays readable;
    a task's exception still reaches the driver with its message). With ``driver`` (a pid)
    the worker exits soon after that process is gone (killed drivers leave no workers)."""
    from hwadapt.threads import set_threads

    set_threads(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    if driver is not None:
        threading.Thread(target=_exit_with, args=(driver,), daemon=True).start()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:  # no /proc: kill(0) is all we know
        return True


def _exit_with(pid: int, every_s: float = 0.5) -> None:
    while _alive(pid):
        time.sleep(every_s)
    os._exit(0)


class WorkerLost(RuntimeError):
    """A task's worker died more than ``retries`` times in a row."""


class Executor(ABC):
    """Runs independent tasks on ``workers`` workers; a context manager (closes on exit)."""

    name: str = ""
    workers: int = 1

    @abstractmethod
    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence,
                      retries: int = RETRIES) -> Iterator[tuple[int, Any]]:
        """Yield ``(index into items, fn(item))`` as tasks finish, in completion order.

        A task whose worker died is re-run, up to ``retries`` times (then
        :class:`WorkerLost`); an exception raised by ``fn`` itself is re-raised here at once.
        Every index is yielded exactly once.
        """

    def map(self, fn: Callable[[Any], Any], items: Sequence, retries: int = RETRIES
            ) -> list:
        """``[fn(item) for item in items]`` computed with :meth:`map_unordered`."""
        out: list = [None] * len(items)
        for i, result in self.map_unordered(fn, items, retries):
            out[i] = result
        return out

    @property
    def parallel(self) -> bool:
        """True when tasks leave this process (callers then batch work into tasks)."""
        return True

    def describe(self) -> str:
        """``"<name> ×<workers>"`` for progress lines and reports."""
        return f"{self.name} ×{self.workers}"

    def close(self) -> None:  # noqa: B027  (an executor with nothing to release keeps it)
        """Release the workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
