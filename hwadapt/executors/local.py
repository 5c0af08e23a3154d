"""``local``: a process pool on this machine (the default; no extra dependency).

``workers=1`` runs every task in this process, in order (no pool, no pickling). Otherwise
``workers`` processes (``spawn``: fresh interpreters, never forked from a process whose thread
pools may be running), each set up by :func:`~hwadapt.executors.base.init_worker` (1 thread,
quiet, gone soon after the driver is). A worker that dies
(killed, out of memory) breaks a ``concurrent.futures`` pool, and which task killed it is
unknown: the pool is replaced and every unfinished task resubmitted, until ``retries + 1``
pools in a row broke with no task finished (then :class:`WorkerLost`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from hwadapt.executors.base import RETRIES, Executor, WorkerLost, init_worker


def machine_workers() -> int:
    """The cores this process may run on (the default pool size)."""
    from hwadapt.threads import _cores

    return _cores()


class LocalExecutor(Executor):
    """A process pool of ``workers`` processes (default: the cores available)."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = machine_workers() if workers is None else int(workers)
        self._pool: ProcessPoolExecutor | None = None

    @property
    def parallel(self) -> bool:
        return self.workers > 1

    def _new_pool(self) -> ProcessPoolExecutor:
        self._pool = ProcessPoolExecutor(self.workers, multiprocessing.get_context("spawn"),
                                         initializer=init_worker, initargs=(os.getpid(),))
        return self._pool

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence,
                      retries: int = RETRIES) -> Iterator[tuple[int, Any]]:
        if not self.parallel:
            for i, item in enumerate(items):
                yield i, fn(item)
            return
        todo = set(range(len(items)))
        fruitless = 0  # pools broken in a row with no task finished in between
        while todo:
            before = len(todo)
            pool = self._pool or self._new_pool()
            futures = {pool.submit(fn, items[i]): i for i in sorted(todo)}
            broken = False
            while futures and not broken:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = futures.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    todo.discard(i)
                    yield i, result
            for fut, i in futures.items():  # finished before the pool broke: keep them
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    todo.discard(i)
                    yield i, fut.result()
            if broken:  # a worker died: a new pool re-runs every unfinished task
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
                fruitless = 0 if len(todo) < before else fruitless + 1
                if fruitless > retries:
                    raise WorkerLost(f"{len(todo)} task(s) lost their worker {fruitless} times "
                                     "in a row: a worker process keeps dying (memory?); try "
                                     "fewer --workers")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
