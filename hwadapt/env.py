"""hwadapt's environment variables, validated: a malformed one is a one-line
:class:`~hwadapt.errors.InputError` naming it, raised when a command starts.

- ``HWADAPT_POLL_S``: seconds between status polls of a remote job (default 5).
- ``HWADAPT_RETRY_BASE_S``: first back-off of a transient network error (default 1, doubling).
- ``HWADAPT_CRASH_AT``: test hook ``<point>[:<nth>]``
  (:func:`hwadapt.execution.manager.crash_point`).
- ``HWADAPT_LEDGER``: the ledger file (read by the CLI's ``--ledger`` option).
- ``HWADAPT_CACHE``: the per-user cache folder (:func:`hwadapt.backends.devices.cache_dir`).
- ``HWADAPT_TRACE``: start-up timing lines on stderr (:mod:`hwadapt.trace`).
"""

from __future__ import annotations

import math
import os

from hwadapt.errors import InputError

SECONDS = {"HWADAPT_POLL_S": 5.0, "HWADAPT_RETRY_BASE_S": 1.0}


def env_seconds(name: str) -> float:
    """The duration in seconds of variable ``name`` (a key of ``SECONDS``): finite, >= 0."""
    raw = os.environ.get(name)
    if raw is None:
        return SECONDS[name]
    try:
        v = float(raw)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and v >= 0):
        raise InputError(f"environment variable {name}={raw!r} is not a number of seconds "
                         f">= 0: fix it or unset it (default {SECONDS[name]:g})")
    return v


def crash_at() -> tuple[str, int]:
    """``(point, nth)`` of ``HWADAPT_CRASH_AT`` (``("", 0)`` when unset)."""
    want = os.environ.get("HWADAPT_CRASH_AT", "")
    point, _, nth = want.partition(":")
    if not (nth or "1").isdigit() or (want and not point):
        raise InputError(f"environment variable HWADAPT_CRASH_AT={want!r}: use "
                         "<point>[:<nth>] with an integer nth, or unset it")
    return point, int(nth or 1) if point else 0


def check_environment() -> None:
    """Validate every hwadapt environment variable (at the start of a command)."""
    for name in SECONDS:
        env_seconds(name)
    crash_at()
