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

import os
from collections import Counter
from pathlib import Path

import numpy as np

from hwadapt.backends import FINAL_STATUSES, get_backend
from hwadapt.env import crash_at, env_seconds
from hwadapt.errors import InputError, JobFailed, RunBusy
from hwadapt.execution import batching, qpu_time, usage
from hwadapt.execution.artifacts import verify_results, verify_run
from hwadapt.execution.ledger import Ledger
from hwadapt.execution.modes import close_run_modes, ensure_mode
from hwadapt.execution.plan import plan_round, round_targets
from hwadapt.execution.remote import collect, record_submitted, with_retry
from hwadapt.execution.rundata import RunData, load_run
from hwadapt.execution.sampled import compact_result
from hwadapt.execution.summary import summary, tally
from hwadapt.fileio import atomic_write
from hwadapt.progress import ProgressBar

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
            if run.backend.retrievable:  # submit all, then poll them together
                _remote_round(ledger, run, pending, detach, beat, bar.advance)
            for b in [] if run.backend.retrievable else pending:
                beat()
                _execute(ledger, run, b)
                bar.advance()
            if detach:
                return "active"
    finally:
        bar.close()
        close_run_modes(ledger, run.backend, run.run_id)
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
    """Store ``result``: the run's own way where it brings one, else :func:`_store` (of its
    :func:`compact_result`; a list is one already)."""
    own = getattr(run, "store", None)
    if own:
        return own(ledger, batch, tag, result)
    pubs = result if isinstance(result, list) else compact_result(result)
    return _store(ledger, run, batch, tag, pubs)


def _plan_round(ledger: Ledger, run: RunData, batches: list) -> bool:
    """Plan the next round into the ledger; return False (and close the run) if none."""
    counts = tally(ledger, run.run_id, run, batches)
    rnd = max((b.round for b in batches), default=-1) + 1
    used = sum(batching.executions({"shots": b.shots, "pubs": b.pubs}) for b in batches)
    targets = round_targets(run.families, run.target)
    jobs = plan_round(run.families, run.values, run.circuits, targets, run.pilot,
                      run.budget - used, rnd, run.max_rounds, counts, run.batch_bindings)
    over = rnd > 0 and jobs and _over_qpu_limit(ledger, run, jobs)
    if not jobs or over:
        short = _inputs_below(counts, targets, run.families)
        reason = "all targets reached" if short == 0 else (
            f"{short} input(s) below target: " + ("max_qpu_seconds reached" if over else
                                                  "budget or max_rounds reached"))
        ledger.set_run_status(run.run_id, "done", reason)
        return False
    start = max((b.idx for b in batches), default=-1) + 1
    ledger.add_batches(run.run_id, [
        {"idx": start + k, "round": rnd, "shots": j["shots"], "pubs": j["pubs"],
         "seed": batching.batch_seed(run.spec_seed, start + k)} for k, j in enumerate(jobs)])
    return True


def _over_qpu_limit(ledger: Ledger, run: RunData, jobs: list[dict]) -> bool:
    """Whether a top-up round would take the run's estimated QPU seconds past its limit."""
    limit = usage.qpu_limit(ledger, run.run_id)
    if limit is None:
        return False
    more = qpu_time.estimate(jobs, run.circuits, run.backend, run.values, payload=False)
    spent = usage.run_usage(ledger, run.run_id)["estimated"] or 0.0
    return more["qpu_seconds"] is not None and spent + more["qpu_seconds"] > limit


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


def _attach(ledger: Ledger, backend, batch) -> tuple[object | None, str | None]:
    """The job of the batch's last submission if it can be retrieved (by id, or adopted by
    its tag after a crash between submitting and recording the id), else ``(None, tag)``."""
    subs = ledger.submissions(batch.id)
    if not (backend.retrievable and subs):
        return None, None
    last = subs[-1]
    tag = last["tag"]
    if last["job_id"]:
        return with_retry(lambda: backend.job(last["job_id"])), tag
    found = with_retry(lambda: backend.jobs_with_tag(tag))
    if found:
        ledger.set_job(tag, found[0].job_id(), "QUEUED")
        return found[0], tag
    return None, tag


def _remote_round(ledger: Ledger, run: RunData, pending: list, detach: bool, beat,
                  advance) -> None:
    """Submit (or reattach) every pending batch of a remote run inside its execution mode,
    then, unless ``detach``, poll them all together until each is final."""
    live = []
    for b in pending:
        beat()
        job, tag = _attach(ledger, run.backend, b)
        if job is None:
            ensure_mode(ledger, run, len(pending))
            job, tag = _submit_job(ledger, run, b)
        live.append((b, job, tag))
    if not detach:
        poll = POLL_S if POLL_S is not None else env_seconds("HWADAPT_POLL_S")
        collect(ledger, run, live, beat, _save, advance, poll)


def _submit_job(ledger: Ledger, run: RunData, batch) -> tuple[object, str]:
    """Record a new tag, submit the batch, record its job id and estimated QPU time."""
    tag = new_attempt(ledger, run, batch)
    job = with_retry(lambda: _submit(run, batch, tag))
    crash_point("after_submit")
    ledger.set_job(tag, job.job_id(), "QUEUED")
    record_submitted(ledger, run, batch, job, tag)
    return job, tag


def _execute(ledger: Ledger, run: RunData, batch) -> None:
    """Run one batch of a local backend to the end in this process."""
    tag = new_attempt(ledger, run, batch)
    result = with_retry(lambda: _submit(run, batch, tag).result())
    crash_point("after_submit")
    finish_local(ledger, run, batch, tag, result)


def finish_local(ledger: Ledger, run: RunData, batch, tag: str, result) -> None:
    """The end of a local batch whose result is back (a primitive result, or its
    :func:`compact_result` from an executor's task): its submission DONE, the result stored
    (:func:`_save`), the submission's accounting; the same on every executor."""
    ledger.set_job(tag, None, "DONE")
    _save(ledger, run, batch, tag, result)
    record_submitted(ledger, run, batch, None, tag)


def new_attempt(ledger: Ledger, run: RunData, batch) -> str:
    """Record a new submission of ``batch`` (its tag, before submitting) and return the tag.
    On a local backend the unfinished earlier attempts are marked LOST first (a local job
    dies with its process)."""
    subs = ledger.submissions(batch.id)
    if run.backend.local:
        for s in subs:
            if s["status"] not in FINAL_STATUSES:
                ledger.set_job(s["tag"], None, "LOST")
    tag = f"hwadapt-{run.run_id}-b{batch.idx}-a{len(subs)}"
    ledger.add_submission(batch.id, tag)
    crash_point("after_tag")
    return tag


def _store(ledger: Ledger, run: RunData, batch, tag: str, pubs: list[dict]) -> None:
    """Write a batch's :func:`compact_result` and its accepted shots (one transaction)."""
    from qiskit.primitives.containers import BitArray

    path = run.run_dir / f"batch-{batch.idx:04d}.npz"
    arrays, summary = {}, []
    for j, (p, pub) in enumerate(zip(batch.pubs, pubs, strict=True)):
        bits = BitArray(pub["array"], pub["num_bits"])
        arrays[f"pub{j}"] = bits.array
        arrays[f"pub{j}_num_bits"] = np.array(bits.num_bits)
        acc = [_accepted(run, p["family"], bits[k].get_int_counts())
               for k in range(len(p["inputs"]))]
        method = {k: v for k, v in pub.items() if k == "aer_method"}
        summary.append({"family": p["family"], "inputs": p["inputs"], "shots": batch.shots,
                        "accepted": acc, **method})
    atomic_write(path, lambda f: np.savez(f, **arrays))
    crash_point("after_file")
    ledger.store_result(batch.id, tag, path, {"pubs": summary})
    crash_point("after_store")


def _accepted(run: RunData, f: int, counts: dict[int, int]) -> int:
    outcomes = np.fromiter(counts, dtype=np.int64, count=len(counts))
    shots = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
    return int(shots[run.accept(f, outcomes)].sum())


def resume(ledger_path: str | Path, run_id: str | None = None, progress: bool = False,
           service=None, detach: bool = False, drive_fn=None,
           drive_group=None) -> list[dict]:
    """Continue one run or every active run; returns their summaries.

    ``drive_fn(ledger, run, detach=, progress=)`` drives each run (default :func:`drive`;
    :func:`hwadapt.execution.parallel.resume` passes one with an executor). Without
    ``run_id``, ``drive_group(ledger, ids)`` first gets the active runs no live process drives
    (to drive some of them together); what it leaves active is driven one by one, and every
    run is then checked and reported as below.

    Without ``run_id``, runs another live process drives are left to it (their summaries say
    ``driver``); with one, such a run is :class:`RunBusy`. A damaged run does not stop the
    others: the problems are raised together at the end.
    """
    ledger = Ledger(ledger_path, create=False)
    ids = [ledger.run(run_id)["id"]] if run_id else [r["id"] for r in ledger.runs("active")]
    if run_id is None and drive_group is not None:
        drive_group(ledger, [rid for rid in ids if not ledger.driver(rid)])
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
            (drive_fn or drive)(ledger, load_run(ledger, rid, service=service),
                                detach=detach, progress=progress)
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
            submitted = [b for b in ledger.batches(run_id) if b.status == "submitted"]
            _remote_round(ledger, run, submitted, False,
                          lambda: ledger.heartbeat(run_id, token), None)
        finally:
            close_run_modes(ledger, run.backend, run_id)
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
    if usage.open_mode(ledger, run_id) is not None:  # and close its Batch/Session
        backend = backend or get_backend(row["backend"], row["noise_from"], service)
        close_run_modes(ledger, backend, run_id)
    ledger.set_run_status(run_id, "cancelled", "cancelled by user")
    return summary(ledger, run_id)
