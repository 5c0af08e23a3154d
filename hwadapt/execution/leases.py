"""Who holds a run's driver lease, and whether that process still runs (Linux ``/proc``
start times, so a reused pid is not mistaken for the owner). Used by
:class:`hwadapt.execution.ledger.Ledger`'s lease methods."""

from __future__ import annotations

import os
import socket
import sqlite3
import time

LEASE_STALE_S = 600.0  # another host's lease without a heartbeat for this long is stale


def lease_owner(row: sqlite3.Row) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["taken"]))
    return f"pid {row['pid']} on {row['host']} (since {since})"


def proc_start(pid: int) -> str:
    """Start time of process ``pid`` (Linux ``/proc``; "" elsewhere or if it is gone), "Z" for
    a zombie: with the pid it identifies a process even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    return "Z" if fields[0] in ("Z", "X") else fields[19]


def owner_alive(pid: int, host: str, started: str, heartbeat: float) -> bool:
    """Whether a lease's owner still runs: its pid (same host) or a recent heartbeat."""
    if host != socket.gethostname():
        return time.time() - heartbeat < LEASE_STALE_S
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now = proc_start(pid)
    return now != "Z" and (not started or not now or now == started)
