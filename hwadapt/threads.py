"""One thread setting for every compute pool hwadapt uses.

Pools: torch intra-op threads, the BLAS and OpenMP libraries loaded in the process (OpenBLAS,
MKL, libgomp: through ``threadpoolctl``), numba's parallel layer, and Qiskit Aer
(``max_parallel_threads``, ``max_parallel_experiments``, ``max_parallel_shots``, from
:func:`aer_options`). Libraries loaded after :func:`set_threads` read the same number from
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``NUMBA_NUM_THREADS``,
which it sets.

The setting: ``hwadapt --threads N``, else the environment variable ``HWADAPT_THREADS``, else
the number of cores this process may run on (``os.sched_getaffinity``). On a machine shared
with other work, 1 is often faster and always steadier (two OpenMP threads on two busy cores
made an Aer binding 0.24-0.95 s vs a steady 0.33-0.37 s with one).
"""

from __future__ import annotations

import os
import sys

from hwadapt.errors import InputError

ENV = "HWADAPT_THREADS"
_LIBRARY_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS")
_current: int | None = None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _checked(n: object, where: str) -> int:
    try:
        value = int(str(n))
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"{where} must be a whole number >= 1, got {n!r}: e.g. 1 on a shared "
                         "machine")
    return value


def default_threads() -> int:
    """``HWADAPT_THREADS`` when set, else the cores this process may run on."""
    text = os.environ.get(ENV, "").strip()
    return _checked(text, ENV) if text else _cores()


def threads() -> int:
    """The setting in force: the last :func:`set_threads`, else :func:`default_threads`."""
    return _current if _current is not None else default_threads()


def set_threads(n: int | None = None) -> int:
    """Make every pool use ``n`` threads (None: :func:`default_threads`); returns ``n``.

    Applies now to torch and numba when already imported and to every loaded BLAS/OpenMP
    library, and through the environment to those loaded later (and to subprocesses).
    """
    global _current
    n = default_threads() if n is None else _checked(n, "--threads")
    _current = n
    for var in _LIBRARY_ENV:
        os.environ[var] = str(n)
    if "numba" in sys.modules:
        # numba re-reads NUMBA_NUM_THREADS at each compile and refuses a value other than the
        # one its launched pool has: keep that one, and cap the threads in use instead
        os.environ["NUMBA_NUM_THREADS"] = str(sys.modules["numba"].config.NUMBA_NUM_THREADS)
    os.environ[ENV] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    if "numba" in sys.modules:
        numba = sys.modules["numba"]
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    if "numpy" in sys.modules or "torch" in sys.modules:  # else no BLAS/OpenMP is loaded yet
        # imported here: 75 ms that the CLI's start (`hwadapt status`) does not pay
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n)
    return n


def aer_options() -> dict:
    """``AerSimulator`` options that keep Aer within :func:`threads` threads in all: one
    experiment at a time, shots or state updates parallel up to the setting."""
    n = threads()
    return {"max_parallel_threads": n, "max_parallel_experiments": 1, "max_parallel_shots": n}
