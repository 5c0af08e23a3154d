"""Collecting a remote run's jobs: one polling pass over all of them, with backoff.

Runtime's known failure modes, each handled here (tests/execution/test_remote.py):
- ``job.status()`` is slow: every pending job of the run is polled once per pass (not one
  blocking wait per job); the pause between passes grows ×1.5 up to :data:`MAX_POLL_S` while
  nothing finishes and drops back when something does;
- results are stored the moment a job is seen DONE, before any other job is polled or any
  usage is asked for (a private job's result can be read once);
- a job whose ``result()`` raises (cancelled meanwhile, failed, unreadable) marks its batch
  cancelled or failed with the reason; the run goes on;
- warnings raised while reading a result (e.g. "QPY version … newer than this Qiskit") are
  shown as one line each on stderr and the result is still stored.
"""

from __future__ import annotations

import sys
import time
import warnings

from hwadapt.backends import FINAL_STATUSES, normalise_status
from hwadapt.env import env_seconds
from hwadapt.execution import qpu_time, usage
from hwadapt.execution.ledger import Ledger

MAX_POLL_S = 60.0
"""Longest pause between polling passes."""
RETRIES = 4
RETRY_BASE_S: float | None = None  # None: HWADAPT_RETRY_BASE_S, default 1 s


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionError | TimeoutError) or \
        type(exc).__name__ in ("RequestsApiError", "IBMRuntimeError_Transient")


def with_retry(fn, retries: int = RETRIES, base_s: float | None = None):
    """Call ``fn()``; retry transient errors (network, timeouts) with exponential backoff."""
    base = base_s if base_s is not None else RETRY_BASE_S if RETRY_BASE_S is not None else \
        env_seconds("HWADAPT_RETRY_BASE_S")
    for attempt in range(retries + 1):
        try:
            return fn()
        except Exception as e:
            if not _transient(e) or attempt == retries:
                raise
            time.sleep(base * 2**attempt)


def record_submitted(ledger: Ledger, run, batch, job, tag: str) -> None:
    """After submitting ``batch`` as ``job``: record the model's QPU seconds for it and IBM's
    ``usage_estimation`` (when the job has one; ``job`` None: a local job, model only), and
    the backend's mode if it changed while submitting (a session refused at the first job)."""
    mode_id = getattr(run.backend.mode, "session_id", None)
    current = usage.open_mode(ledger, run.run_id)
    if mode_id and (current is None or current["mode_id"] != mode_id):  # switched at submit
        usage.record_mode(ledger, run.run_id, run.backend.mode_kind, mode_id)
    est = qpu_time.estimate([{"shots": batch.shots, "pubs": batch.pubs}], run.circuits,
                            run.backend, run.values, payload=False)["qpu_seconds"]
    ibm = usage.job_estimate(job) if job is not None else {}
    if est is not None or ibm:  # simulators without durations: nothing to record
        usage.record_usage(ledger, tag, estimated_s=est, **ibm)


def _result(job) -> tuple[object | None, str | None]:
    """``(result, None)``, or ``(None, why)`` when ``result()`` raises. Warnings raised while
    reading are printed as one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result, why = with_retry(job.result), None
        except Exception as e:  # noqa: BLE001 - any failure: the batch records why
            result, why = None, f"{type(e).__name__}: {e}".splitlines()[0]
    for msg in dict.fromkeys(str(w.message).splitlines()[0] for w in caught):
        print(f"warning: job {job.job_id()}: {msg}", file=sys.stderr)
    return result, why


def finish(ledger: Ledger, run, batch, job, tag: str, status: str, store) -> None:
    """A final job: store its result (``store(ledger, run, batch, tag, result)``), then its
    QPU usage; or mark the batch cancelled/failed with the reason."""
    why = None
    if status == "DONE":
        result, why = _result(job)
        if result is not None:
            store(ledger, run, batch, tag, result)
            usage.record_usage(ledger, tag, **usage.job_usage(job))
            return
        try:
            status = normalise_status(with_retry(job.status))
        except Exception:  # noqa: BLE001
            status = "ERROR"
        status = status if status in ("CANCELLED",) else "ERROR"
        ledger.set_job(tag, None, status)
    reason = f"job {job.job_id()} {status}"
    msg = getattr(job, "error_message", None)
    detail = why or (msg() if callable(msg) else None)
    if detail:
        reason += f": {detail}"
    ledger.set_batch_status(batch.id, "failed" if status == "ERROR" else "cancelled", reason)


def collect(ledger: Ledger, run, live: list, beat, store, advance=None,
            poll: float = 5.0) -> None:
    """Poll ``live`` ``[(batch, job, tag), ...]`` in passes until every job is final,
    finishing each (:func:`finish`) as soon as it is seen final; ``beat()`` before each poll
    keeps the driver lease, ``advance()`` after each finished job moves the progress bar."""
    last: dict[str, str] = {}
    pause = poll
    while live:
        waiting = []
        for batch, job, tag in live:
            if beat is not None:
                beat()
            status = normalise_status(with_retry(job.status))
            if status != last.get(tag):
                ledger.set_job(tag, None, status)
                last[tag] = status
            if status in FINAL_STATUSES:
                finish(ledger, run, batch, job, tag, status, store)
                if advance is not None:
                    advance()
            else:
                waiting.append((batch, job, tag))
        pause = poll if len(waiting) < len(live) else min(max(pause, 0.5 * poll) * 1.5,
                                                           MAX_POLL_S)
        live = waiting
        if live:
            time.sleep(pause)
