"""Start-up timing: with ``HWADAPT_TRACE=1`` every :func:`mark` prints one stderr line
``hwadapt-trace <wall s> <cpu s> <event>``: seconds since the process started, and the CPU
seconds (user + system, all threads) it has used so far — on a loaded machine the CPU time is
the steadier number.

The process start is read from ``/proc/self/stat`` (Linux, 10 ms resolution), else the
moment this module was imported. ``benchmarks/fixed_cost.py`` reads these lines to time
``hwadapt submit`` up to its first shot (``mark("first shot")`` just before a backend's
sampler runs) without a profiler's overhead.
"""

from __future__ import annotations

import os
import sys
import time

ENV = "HWADAPT_TRACE"
_IMPORTED = time.time()


def _process_start() -> float:
    """Wall-clock time (``time.time()`` scale) at which this process started."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rpartition(")")[2].split()[19])  # starttime, after boot
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return _IMPORTED


_START = _process_start()


def since_start() -> float:
    """Seconds since this process started."""
    return time.time() - _START


def enabled() -> bool:
    """Whether ``HWADAPT_TRACE`` asks for trace lines (any value but empty or ``0``)."""
    return os.environ.get(ENV, "") not in ("", "0")


def mark(event: str) -> None:
    """Print ``hwadapt-trace <wall> <cpu> <event>`` on stderr when :func:`enabled`."""
    if enabled():
        cpu = time.process_time()
        sys.stderr.write(f"hwadapt-trace {since_start():.3f} {cpu:.3f} {event}\n")
        sys.stderr.flush()
