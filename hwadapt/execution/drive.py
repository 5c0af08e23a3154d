"""Driving a run: rounds of batches, resume, fetch, cancel; retries and the crash test hook.

Crash safety: a run's ISA circuits and bindings are written to ``<ledger dir>/runs/<run>/``
before the run enters the ledger; each planning round enters the ledger in one transaction;
each submission's unique tag is recorded before submitting; each result file is written
atomically and then recorded (one row per batch, primary key) with the batch marked done in
one transaction. Batch seeds derive from the spec seed and batch index, so re-running a
local batch after ``kill -9`` reproduces its counts exactly.

Test hook: ``HWADAPT_CRASH_AT=<point>[:<nth>]`` makes the process ``os._exit(137)`` at the
``nth`` (default 1st) pass through a named point: ``after_plan``, ``after_tag``,
``after_submit``, ``after_file``, ``after_store``.

One driver per run: :func:`drive` holds the run's lease in the ledger (another live process
gets :class:`RunBusy` naming the owner; a dead owner's lease is taken over), verifies the
stored results' checksums before going on, and writes each result under a unique temporary
name before renaming it into place.
"""

from __future__ import annotations

import io
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np

from hwadapt.backends import FINAL_STATUSES, get_backend, normalise_status
from hwadapt.env import crash_at, env_seconds
from hwadapt.errors import InputError, JobFailed, RunBusy
from hwadapt.execution import batching
from hwadapt.execution.artifacts import verify_results, verify_run
from hwadapt.execution.ledger import Ledger
from hwadapt.execution.rundata import RunData, load_run
from hwadapt.execution.summary import summary, tally
from hwadapt.fileio import atomic_write
from hwadapt.progress import ProgressBar

RETRIES = 4
RETRY_BASE_S: float | None = None  # None: HWADAPT_RETRY_BASE_S, default 1 s
POLL_S: float | None = None  # None: HWADAPT_POLL_S, default 5 s

_crash_hits: Counter = Counter()


def crash_point(name: str) -> None:
    """Test hook: exit abruptly (137, like ``kill -9``) here if ``HWADAPT_CRASH_AT`` says so."""
    point, nth = crash_at()
    if point != name:
        return
    _crash_hits[name] += 1
    if _crash_hits[name] >= nth:
        os._exit(137)


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



def drive(ledger: Ledger, run: RunData, detach: bool = False, progress: bool = False,
          lease: str | None = None) -> str:
    """Run rounds until the run is done (or, with ``detach``, until all jobs are submitted).

    Holds the run's driver lease meanwhile (``lease``: a token already taken, e.g. with the
    run's creation; else taken here, :class:`RunBusy` if another live process drives it) and
    first verifies the stored results. Returns the run's final (or current) status; raises
    :class:`JobFailed` if a batch failed.
    """
    if lease is None:
        verify_results(ledger, run.run_id)  # before the lease: a refusal writes nothing
    token = lease or ledger.acquire(run.run_id)
    try:
        for stale in run.run_dir.glob("*.tmp.npz"):  # left by a killed driver
            stale.unlink(missing_ok=True)
        return _drive(ledger, run, detach, progress,
                      lambda: ledger.heartbeat(run.run_id, token))
    finally:
        ledger.release(run.run_id, token)


def _drive(ledger: Ledger, run: RunData, detach: bool, progress: bool, beat) -> str:
    bar = ProgressBar(progress, f"run {run.run_id}")
    try:
        while True:
            status = ledger.run(run.run_id)["status"]
            if status != "active":
                break
            batches = ledger.batches(run.run_id)
            if any(b.status == "failed" for b in batches):
                reason = next(b.reason for b in batches if b.status == "failed")
                ledger.set_run_status(run.run_id, "failed", reason)
                continue
            pending = [b for b in batches if b.status in ("planned", "submitted")]
            if not pending:
                if not _plan(ledger, run, batches):
                    continue
                crash_point("after_plan")
                continue
            bar.update(total=len(batches), completed=sum(b.status == "done" for b in batches))
            for b in pending:
                beat()
                _execute(ledger, run, b, detach, beat)
                bar.advance()
            if detach:
                return "active"
    finally:
        bar.close()
    row = ledger.run(run.run_id)
    if row["status"] == "failed":
        raise JobFailed(f"run {run.run_id} failed: {row['reason']}")
    return row["status"]


def _plan(ledger: Ledger, run, batches: list) -> bool:
    """Plan the next round: the run's own planner where it brings one (Estimator runs,
    :class:`hwadapt.execution.estimator_run.EstimatorRunData`), else :func:`_plan_round`."""
    own = getattr(run, "plan_round", None)
    return own(ledger, batches) if own else _plan_round(ledger, run, batches)


def _submit(run, batch, tag: str):
    """Submit ``batch``: the run's own primitive where it brings one, else the Sampler."""
    own = getattr(run, "submit", None)
    return own(batch, tag) if own else run.backend.run(_pubs(run, batch), batch.seed, tag)


def _save(ledger: Ledger, run, batch, tag: str, result) -> None:
    """Store ``result``: the run's own way where it brings one, else :func:`_store`."""
    own = getattr(run, "store", None)
    return own(ledger, batch, tag, result) if own else _store(ledger, run, batch, tag, result)


def _plan_round(ledger: Ledger, run: RunData, batches: list) -> bool:
    """Plan the next round into the ledger; return False (and close the run) if none."""
    counts = tally(ledger, run.run_id, run, batches)
    rnd = max((b.round for b in batches), default=-1) + 1
    used = sum(batching.executions({"shots": b.shots, "pubs": b.pubs}) for b in batches)
    # ZNE: the folded copies share their family's target (same total shots over factors)
    targets = [-(-run.target // f.get("split", 1)) for f in run.families]
    if rnd == 0:  # exact rates × the noise model's predicted survival
        shots = [batching.first_round_shots(
            None if f["rates"] is None else np.asarray(f["rates"]) * f.get("survival", 1.0),
            t, run.pilot, len(v))
            for f, v, t in zip(run.families, run.values, targets, strict=True)]
    elif rnd >= run.max_rounds:
        shots = []
    else:
        shots = [batching.topup_shots(c["accepted"], c["raw"], t)
                 for c, t in zip(counts, targets, strict=True)]
    for f, arr in zip(run.families, shots, strict=False):  # calibration rows: one round
        m = f.get("calibration", 0)
        if m:
            arr[len(arr) - m:] = f["calibration_shots"] if rnd == 0 else 0
    shots = batching.fit_budget(shots, run.budget - used) if shots else []
    from qiskit import qpy

    pub_bytes = []
    for c in run.circuits:
        buf = io.BytesIO()
        qpy.dump(c, buf)
        pub_bytes.append(len(buf.getvalue()))
    per_binding = [8 * v.shape[1] + 16 for v in run.values]
    jobs = batching.plan_jobs(shots, pub_bytes, per_binding) if shots else []
    if not jobs:
        short = _inputs_below(counts, targets, run.families)
        reason = "all targets reached" if short == 0 else (
            f"{short} input(s) below target: budget or max_rounds reached")
        ledger.set_run_status(run.run_id, "done", reason)
        return False
    start = max((b.idx for b in batches), default=-1) + 1
    ledger.add_batches(run.run_id, [
        {"idx": start + k, "round": rnd, "shots": j["shots"], "pubs": j["pubs"],
         "seed": batching.batch_seed(run.spec_seed, start + k)} for k, j in enumerate(jobs)])
    return True


def _inputs_below(counts: list[dict], targets: list[int], families: list[dict]) -> int:
    """Target inputs some family of which is below its target accepted shots (families of one
    spec share their inputs: an input counts once; families of other sizes add theirs;
    calibration rows are not targets)."""
    below = [np.asarray(c["accepted"])[:len(c["accepted"]) - f.get("calibration", 0)] < t
             for c, f, t in zip(counts, families, targets, strict=True)]
    if len({len(b) for b in below}) == 1:
        return int(np.any(below, axis=0).sum())
    return sum(int(b.sum()) for b in below)


def _pubs(run: RunData, batch) -> list:
    return [(run.circuits[p["family"]], run.values[p["family"]][p["inputs"]], batch.shots)
            for p in batch.pubs]


def _execute(ledger: Ledger, run: RunData, batch, detach: bool, beat=None) -> None:
    backend = run.backend
    subs = ledger.submissions(batch.id)
    job, tag = None, None
    if backend.retrievable and subs:
        last = subs[-1]
        tag = last["tag"]
        if last["job_id"]:
            job = with_retry(lambda: backend.job(last["job_id"]))
        else:  # crashed between submit and recording the job id: adopt the orphan by tag
            found = with_retry(lambda: backend.jobs_with_tag(tag))
            if found:
                job = found[0]
                ledger.set_job(tag, job.job_id(), "QUEUED")
    if job is None:
        if backend.local:  # a local job dies with its process: unfinished attempts are lost
            for s in subs:
                if s["status"] not in FINAL_STATUSES:
                    ledger.set_job(s["tag"], None, "LOST")
        tag = f"hwadapt-{run.run_id}-b{batch.idx}-a{len(subs)}"
        ledger.add_submission(batch.id, tag)
        crash_point("after_tag")
        if backend.local:
            job = None
            result = with_retry(lambda: _submit(run, batch, tag).result())
            crash_point("after_submit")
            ledger.set_job(tag, None, "DONE")
            _save(ledger, run, batch, tag, result)
            return
        job = with_retry(lambda: _submit(run, batch, tag))
        crash_point("after_submit")
        ledger.set_job(tag, job.job_id(), "QUEUED")
    if detach:
        return
    status = _wait(ledger, job, tag, beat)
    if status == "DONE":
        _save(ledger, run, batch, tag, with_retry(job.result))
    else:
        reason = f"job {job.job_id()} {status}"
        msg = getattr(job, "error_message", None)
        if callable(msg) and msg():
            reason += f": {msg()}"
        ledger.set_batch_status(batch.id, "failed" if status == "ERROR" else "cancelled",
                                reason)


def _wait(ledger: Ledger, job, tag: str, beat=None) -> str:
    poll = POLL_S if POLL_S is not None else env_seconds("HWADAPT_POLL_S")
    last = None
    while True:
        if beat is not None:
            beat()
        status = normalise_status(with_retry(job.status))
        if status != last:
            ledger.set_job(tag, None, status)
            last = status
        if status in FINAL_STATUSES:
            return status
        time.sleep(poll)


def _simulated_with(pub_result) -> dict:
    """``{"aer_method": ...}`` where the backend recorded its simulation method, else {}."""
    meta = getattr(pub_result, "metadata", None) or {}
    method = (meta.get("circuit_metadata") or {}).get("aer_method")
    return {} if method is None else {"aer_method": method}


def _store(ledger: Ledger, run: RunData, batch, tag: str, result) -> None:
    path = run.run_dir / f"batch-{batch.idx:04d}.npz"
    arrays, summary = {}, []
    for j, (p, pub_result) in enumerate(zip(batch.pubs, result, strict=True)):
        bits = pub_result.join_data()
        arrays[f"pub{j}"] = bits.array
        arrays[f"pub{j}_num_bits"] = np.array(bits.num_bits)
        acc = [_accepted(run, p["family"], bits[k].get_int_counts())
               for k in range(len(p["inputs"]))]
        summary.append({"family": p["family"], "inputs": p["inputs"], "shots": batch.shots,
                        "accepted": acc, **_simulated_with(pub_result)})
    atomic_write(path, lambda f: np.savez(f, **arrays))
    crash_point("after_file")
    ledger.store_result(batch.id, tag, path, {"pubs": summary})
    crash_point("after_store")


def _accepted(run: RunData, f: int, counts: dict[int, int]) -> int:
    outcomes = np.fromiter(counts, dtype=np.int64, count=len(counts))
    shots = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
    return int(shots[run.accept(f, outcomes)].sum())




def resume(ledger_path: str | Path, run_id: str | None = None, progress: bool = False,
           service=None, detach: bool = False) -> list[dict]:
    """Continue one run or every active run; returns their summaries.

    Without ``run_id``, runs another live process drives are left to it (their summaries say
    ``driver``); with one, such a run is :class:`RunBusy`. A damaged run does not stop the
    others: the problems are raised together at the end.
    """
    ledger = Ledger(ledger_path, create=False)
    ids = [ledger.run(run_id)["id"]] if run_id else [r["id"] for r in ledger.runs("active")]
    failures, problems = [], []
    for rid in ids:
        if run_id is None and ledger.driver(rid):
            continue
        try:
            row = ledger.run(rid)
            if row["status"] != "active":  # finished: check its files, write nothing
                verify_run(ledger, rid)
                if row["status"] == "failed":
                    failures.append(f"run {rid} failed: {row['reason']}")
                continue
            drive(ledger, load_run(ledger, rid, service=service), detach=detach,
                  progress=progress)
        except JobFailed as e:
            failures.append(str(e))
        except RunBusy:
            if run_id is not None:
                raise  # without a run id: another process took it meanwhile, leave it
        except InputError as e:
            if run_id is not None:
                raise
            problems.append(str(e))
    if problems:
        raise InputError("; ".join(problems + failures))
    if failures:
        raise JobFailed("; ".join(failures))
    return [summary(ledger, rid) for rid in ids]


def fetch(ledger_path: str | Path, run_id: str, service=None) -> dict:
    """Collect a run's results: wait for its submitted jobs and store them (idempotent).

    Does not plan or submit new work (``resume`` does); returns :func:`summary`. An active
    run on a local backend has nothing to collect: :class:`InputError` saying what to do.
    """
    ledger = Ledger(ledger_path, create=False)
    row = ledger.run(run_id)
    if row["status"] == "active":
        run = load_run(ledger, run_id, service=service)
        if not run.backend.retrievable:
            driver = ledger.driver(run_id)
            raise InputError(
                f"run {run_id} runs locally on {row['backend']}, so there are no remote jobs "
                "to fetch: " + (f"{driver} is driving it; wait for it, then `hwadapt status "
                                f"{run_id}`" if driver else
                                f"`hwadapt resume {run_id}` runs its remaining batches"))
        verify_results(ledger, run_id)
        token = ledger.acquire(run_id)
        try:
            for b in ledger.batches(run_id):
                if b.status == "submitted":
                    _execute(ledger, run, b, False,
                             lambda: ledger.heartbeat(run_id, token))
        finally:
            ledger.release(run_id, token)
    return summary(ledger, run_id)


def cancel(ledger_path: str | Path, run_id: str, service=None) -> dict:
    """Cancel a run: cancel its remote jobs still running, mark open batches cancelled."""
    ledger = Ledger(ledger_path, create=False)
    row = ledger.run(run_id)
    if row["status"] != "active":
        raise InputError(f"run {run_id} is {row['status']}, nothing to cancel")
    backend = None
    for b in ledger.batches(run_id):
        if b.status not in ("planned", "submitted"):
            continue
        for s in ledger.submissions(b.id):
            if s["job_id"] and s["status"] not in FINAL_STATUSES:
                backend = backend or get_backend(row["backend"], row["noise_from"], service)
                if backend.retrievable:
                    with_retry(lambda b=backend, s=s: b.job(s["job_id"]).cancel())
                ledger.set_job(s["tag"], None, "CANCELLED")
        ledger.set_batch_status(b.id, "cancelled", "cancelled by user")
    ledger.set_run_status(run_id, "cancelled", "cancelled by user")
    return summary(ledger, run_id)
