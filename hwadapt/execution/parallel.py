"""Driving runs on local backends with an executor: batches run as tasks, the driver writes.

:func:`drive_runs` drives any number of runs at once (a sweep's settings, or one large run):
it holds every run's lease, plans rounds exactly like :func:`hwadapt.execution.drive.drive`,
sends each pending batch as one task (:func:`hwadapt.execution.tasks.batch_task`) to the
executor and records each result as it arrives, in the same transactions as the serial path
(:func:`~hwadapt.execution.drive.new_attempt` before the task leaves,
:func:`~hwadapt.execution.drive.finish_local` when it is back). The ledger has one writer,
this process. A task that is re-run (its worker died) returns the same counts, since batch
seeds derive from the spec seed and batch index; a batch is stored once.
"""

from __future__ import annotations

from hwadapt.errors import InputError, JobFailed
from hwadapt.execution import drive as serial
from hwadapt.execution.artifacts import verify_results
from hwadapt.execution.ledger import Ledger
from hwadapt.execution.rundata import RunData, load_run
from hwadapt.execution.tasks import batch_item, batch_task
from hwadapt.executors import Executor
from hwadapt.progress import ProgressBar


def drive_with(ledger: Ledger, run: RunData, executor: Executor | None, progress: bool = False,
               lease: str | None = None, detach: bool = False) -> str:
    """:func:`~hwadapt.execution.drive.drive` one run, its batches on ``executor`` when that is
    parallel and the backend local (else, and for runs with their own primitive such as
    Estimator runs, exactly the serial driver)."""
    if executor is None or not executor.parallel or not run.backend.local or detach \
            or getattr(run, "submit", None) is not None:
        return serial.drive(ledger, run, detach=detach, progress=progress, lease=lease)
    return drive_runs(ledger, [run], executor, progress, [lease])[run.run_id]


def resume(ledger_path, run_id: str | None = None, progress: bool = False, service=None,
           detach: bool = False, executor: Executor | None = None) -> list[dict]:
    """:func:`hwadapt.execution.drive.resume`, each run's batches on ``executor``. Without a
    run id and with a parallel executor, the active local runs no other process drives run
    all at once (their batches share the workers, as a sweep's do); the rest (remote runs,
    Estimator runs) one by one."""
    def drive_fn(ledger, run, detach, progress):
        return drive_with(ledger, run, executor, progress=progress, detach=detach)

    def drive_group(ledger, ids):
        _drive_local_together(ledger, ids, executor, progress, service)

    together = executor is not None and executor.parallel and not detach
    return serial.resume(ledger_path, run_id, progress, service, detach, drive_fn,
                         drive_group if together else None)


def _drive_local_together(ledger: Ledger, ids: list[str], executor: Executor, progress: bool,
                          service) -> None:
    """Drive the local sampler runs among ``ids`` in one :func:`drive_runs` (two or more).
    Runs that cannot load or verify, that another process takes meanwhile, or that fail are
    left to the serial resume, which reports them."""
    runs = []
    for rid in ids:
        try:
            run = load_run(ledger, rid, service=service)
            verify_results(ledger, rid)
        except InputError:
            continue  # a damaged run: reported by the serial resume
        if run.backend.local and getattr(run, "submit", None) is None:
            runs.append(run)
    if len(runs) < 2:
        return  # one run: the serial resume drives it on the executor the same way
    try:
        drive_runs(ledger, runs, executor, progress)
    except (JobFailed, InputError):
        pass  # failed runs are reported, busy ones left to their driver, by the serial resume


def _pending(ledger: Ledger, run: RunData) -> list | None:
    """The run's batches to execute now (planning a round when none is open); None when the
    run is no longer active."""
    while ledger.run(run.run_id)["status"] == "active":
        batches = ledger.batches(run.run_id)
        failed = next((b for b in batches if b.status == "failed"), None)
        if failed is not None:
            ledger.set_run_status(run.run_id, "failed", failed.reason)
            continue
        pending = [b for b in batches if b.status in ("planned", "submitted")]
        if pending:
            return pending
        if serial._plan_round(ledger, run, batches):
            serial.crash_point("after_plan")
    return None


def drive_runs(ledger: Ledger, runs: list[RunData], executor: Executor,
               progress: bool = False, leases: list[str | None] | None = None
               ) -> dict[str, str]:
    """Drive local-backend ``runs`` to the end with their batches on ``executor``; returns
    ``{run id: final status}``. ``leases``: tokens already held per run (None: taken here,
    after verifying the run's stored results). Raises :class:`JobFailed` naming every
    failed run at the end. No runs: nothing to do (a resumed sweep whose runs are done)."""
    if not runs:
        return {}
    leases = leases or [None] * len(runs)
    tokens = {}
    try:
        for run, lease in zip(runs, leases, strict=True):
            if lease is None:
                verify_results(ledger, run.run_id)
            tokens[run.run_id] = lease or ledger.acquire(run.run_id)
            for stale in run.run_dir.glob("*.tmp.npz"):  # left by a killed driver
                stale.unlink(missing_ok=True)
        _rounds(ledger, runs, executor, progress, tokens)
    finally:
        for rid, token in tokens.items():
            ledger.release(rid, token)
    rows = {run.run_id: ledger.run(run.run_id) for run in runs}
    failed = [f"run {rid} failed: {r['reason']}" for rid, r in rows.items()
              if r["status"] == "failed"]
    if failed:
        raise JobFailed("; ".join(failed))
    return {rid: r["status"] for rid, r in rows.items()}


def _rounds(ledger: Ledger, runs: list[RunData], executor: Executor, progress: bool,
            tokens: dict[str, str]) -> None:
    """Rounds over all runs at once: every open batch of every run is one task."""
    label = f"{len(runs)} runs" if len(runs) > 1 else f"run {runs[0].run_id}"
    bar = ProgressBar(progress, f"{label} on {executor.describe()}")
    try:
        while True:
            work = [(run, b) for run in runs for b in (_pending(ledger, run) or [])]
            if not work:
                return
            done = sum(b.status == "done" for run in runs for b in ledger.batches(run.run_id))
            bar.update(total=done + len(work), completed=done)
            tags = [serial.new_attempt(ledger, run, b) for run, b in work]
            items = [batch_item(run, b, tag) for (run, b), tag in zip(work, tags, strict=True)]
            # one task: here, as the serial driver would (no worker start for nothing)
            done_tasks = executor.map_unordered(batch_task, items) if len(items) > 1 else \
                [(0, batch_task(items[0]))]
            for i, pubs in done_tasks:
                run, b = work[i]
                serial.crash_point("after_submit")
                for rid, token in tokens.items():
                    ledger.heartbeat(rid, token)
                serial.finish_local(ledger, run, b, tags[i], pubs)
                bar.advance()
    finally:
        bar.close()
