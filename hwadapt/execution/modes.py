"""Runtime execution modes of a run: which one to use, reattaching after a crash, closing.

``--mode job|batch|session`` (stored per run; default: ``batch`` when the run submits more
than one job, else ``job``). Remote kinds (``ibm_*``) open a Runtime ``Batch``/``Session``
before their first new job; a session IBM refuses (Open plan) becomes a batch with one
warning line. The mode id is recorded in the ledger (:mod:`hwadapt.execution.usage`), so
``resume`` reattaches to a mode left open by a killed driver (or opens a new one when it has
closed). The driver closes its mode when it stops, and ``hwadapt cancel`` closes it too.
Local kinds (``exact``, ``aer*``, ``fake_*``) accept and ignore modes, as Runtime's local
testing mode does.
"""

from __future__ import annotations

import sys

from hwadapt.backends import runtime
from hwadapt.errors import InputError
from hwadapt.execution import usage
from hwadapt.execution.ledger import Ledger

MODES = runtime.MODES


def check_mode(mode: str | None) -> str | None:
    """``mode`` if it is a mode name or None, else a one-line :class:`InputError`."""
    if mode is not None and mode not in MODES:
        raise InputError(f"unknown execution mode {mode!r}: use one of {', '.join(MODES)}")
    return mode


def ensure_mode(ledger: Ledger, run, jobs: int) -> None:
    """Before submitting new jobs of ``run`` (``jobs`` of them pending): make its backend
    submit into the run's mode, reattaching the one recorded open in the ledger if any."""
    backend = run.backend
    if backend.local or backend.mode is not None:
        return
    current = usage.open_mode(ledger, run.run_id)
    if current is not None:
        kind, mode_id = current["kind"], current["mode_id"]
    else:
        asked = usage.requested_mode(ledger, run.run_id)
        kind, mode_id = asked or ("batch" if jobs > 1 else "job"), None
    used, new_id = backend.open_mode(kind, mode_id)
    if used != "job" and (current is None or new_id != mode_id):
        usage.record_mode(ledger, run.run_id, used, new_id)


def shared_mode(backend, kind: str) -> None:
    """Open one ``kind`` mode on ``backend`` for several runs (hybrid training: one session
    for all its steps; batch where IBM refuses sessions). Pass ``backend`` to
    :func:`hwadapt.execution.submit.submit_families`; runs record the mode's id but leave it
    open; close it with ``backend.close_mode()``. Local backends: nothing."""
    if backend.local or backend.mode is not None:
        return
    backend.open_mode(check_mode(kind))
    backend.keep_mode = True


def close_run_modes(ledger: Ledger, backend, run_id: str) -> None:
    """Close the run's modes: the backend's open one (unless ``backend.keep_mode``: a mode
    its owner shares between runs and closes itself, :func:`shared_mode`) and any the ledger
    still shows open (left by a killed driver); the ledger marks them all closed for this
    run."""
    done = getattr(backend.mode, "session_id", None)
    if getattr(backend, "keep_mode", False):  # the caller's, shared by several runs
        keep = done
    else:
        keep = None
        try:
            backend.close_mode()
        except Exception as e:  # noqa: BLE001 - never hide why the driver stopped
            print(f"warning: could not close {done} ({e}); it closes by itself after its "
                  "time limit", file=sys.stderr)
    for m in usage.modes(ledger, run_id):
        if m["open"] and m["mode_id"] and m["mode_id"] not in (done, keep) and \
                not backend.local:
            try:
                runtime.runtime_mode(m["kind"], backend.transpile_target, backend.service,
                                     m["mode_id"]).close()
            except Exception as e:  # noqa: BLE001 - expired or unknown: nothing to close
                print(f"warning: could not close {m['kind']} {m['mode_id']} ({e}); it closes "
                      "by itself after its time limit", file=sys.stderr)
    usage.close_modes(ledger, run_id)
