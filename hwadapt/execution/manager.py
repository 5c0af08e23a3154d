"""Job manager: submit a spec, drive its rounds of batches, resume, fetch, cancel.

Crash safety: a run's ISA circuits and bindings are written to ``<ledger dir>/runs/<run>/``
before the run enters the ledger; each planning round enters the ledger in one transaction;
each submission's unique tag is recorded before submitting; each result file is written
atomically and then recorded (one row per batch, primary key) with the batch marked done in
one transaction. Batch seeds derive from the spec seed and batch index, so re-running a
local batch after ``kill -9`` reproduces its counts exactly.

Test hook: ``HWADAPT_CRASH_AT=<point>[:<nth>]`` makes the process ``os._exit(137)`` at the
``nth`` (default 1st) pass through a named point: ``after_plan``, ``after_tag``,
``after_submit``, ``after_file``, ``after_store``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwadapt.backends import FINAL_STATUSES, Backend, get_backend, normalise_status
from hwadapt.errors import InputError, JobFailed
from hwadapt.execution import batching
from hwadapt.execution.exact_sampler import clbit_distribution
from hwadapt.execution.ledger import Ledger, sha256_file
from hwadapt.progress import ProgressBar
from hwadapt.simulate import SupportTooLarge, compile_circuit
from hwadapt.spec import Family, build_families, load_spec, sampler_options

EXACT_RATE_MAX_QUBITS = 62  # exact acceptance rates up to this width (int64 outcomes),
EXACT_RATE_MAX_SUPPORT = 1 << 20  # and this many reachable basis states, else a pilot round
RETRIES = 4
RETRY_BASE_S = float(os.environ.get("HWADAPT_RETRY_BASE_S", "1.0"))
POLL_S = float(os.environ.get("HWADAPT_POLL_S", "5.0"))

_crash_hits: Counter = Counter()


def crash_point(name: str) -> None:
    """Test hook: exit abruptly (137, like ``kill -9``) here if ``HWADAPT_CRASH_AT`` says so."""
    want = os.environ.get("HWADAPT_CRASH_AT", "")
    point, _, nth = want.partition(":")
    if point != name:
        return
    _crash_hits[name] += 1
    if _crash_hits[name] >= int(nth or 1):
        os._exit(137)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionError | TimeoutError) or \
        type(exc).__name__ in ("RequestsApiError", "IBMRuntimeError_Transient")


def with_retry(fn, retries: int = RETRIES, base_s: float | None = None):
    """Call ``fn()``; retry transient errors (network, timeouts) with exponential backoff."""
    base = RETRY_BASE_S if base_s is None else base_s
    for attempt in range(retries + 1):
        try:
            return fn()
        except Exception as e:
            if not _transient(e) or attempt == retries:
                raise
            time.sleep(base * 2**attempt)


# ----------------------------------------------------------------------------------------
# Run artifacts: ISA circuits (QPY) + bindings and family facts (NPZ), checksummed.
# ----------------------------------------------------------------------------------------

@dataclass
class RunData:
    """What a run needs to (re)submit its batches, read back from its run directory."""

    run_id: str
    spec_seed: int
    backend: Backend
    circuits: list  # ISA circuits, one per family
    values: list[np.ndarray]  # (count, P) per family
    families: list[dict]  # name, n_data, n_ancilla, weight, rates (list | None)
    target: int
    budget: int
    max_rounds: int
    pilot: int
    run_dir: Path

    def accept(self, f: int, outcomes: np.ndarray) -> np.ndarray:
        from hwadapt.circuits.lcu import postselect

        fam = self.families[f]
        return postselect(outcomes, fam["n_data"], fam["n_ancilla"], fam["weight"])


def transpile(circuit, backend: Backend, optimization_level: int, seed: int):
    """ISA circuit for ``backend`` (unchanged for ``exact``, which takes any circuit)."""
    from hwadapt.circuits.transpile import transpile_for

    if backend.transpile_target is None:
        return circuit.decompose(reps=4)
    return transpile_for(circuit, backend.transpile_target, optimization_level, seed)[0]


def exact_rates(family: Family) -> list[float] | None:
    """Exact acceptance probability per input, from :mod:`hwadapt.simulate` on the circuit's
    reachable support (None when outcomes do not fit int64 or the support is too large)."""
    if family.circuit.num_clbits > EXACT_RATE_MAX_QUBITS:
        return None
    try:
        plan = compile_circuit(family.circuit, max_support=EXACT_RATE_MAX_SUPPORT)
    except SupportTooLarge:
        return None
    outcomes, probs = clbit_distribution(plan, family.values)
    mask = family.accept(np.array(outcomes, dtype=np.int64))
    return [float(p) for p in probs[:, mask].sum(-1)]


def _write_artifacts(run_dir: Path, isa: list, families: list[Family],
                     rates: list) -> dict[str, str]:
    from qiskit import qpy

    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "circuits.qpy", "wb") as f:
        qpy.dump(isa, f)
    meta = [{"name": fam.name, "n_data": fam.n_data, "n_ancilla": fam.n_ancilla,
             "weight": fam.weight, "rates": r} for fam, r in zip(families, rates, strict=True)]
    np.savez(run_dir / "families.npz", meta=np.array(json.dumps(meta)),
             **{f"values{j}": fam.values for j, fam in enumerate(families)})
    return {name: sha256_file(run_dir / name) for name in ("circuits.qpy", "families.npz")}


def load_run(ledger: Ledger, run_id: str, service=None) -> RunData:
    """Read a run's artifacts back, verifying their checksums."""
    from qiskit import qpy

    row = ledger.run(run_id)
    run_dir = ledger.runs_dir / run_id
    for name, digest in json.loads(row["artifacts"]).items():
        p = run_dir / name
        if not p.is_file() or sha256_file(p) != digest:
            raise InputError(f"run {run_id}: {str(p)!r} is missing or altered (checksum "
                             "mismatch); restore it, the ledger is left untouched")
    with open(run_dir / "circuits.qpy", "rb") as f:
        circuits = qpy.load(f)
    with np.load(run_dir / "families.npz") as z:
        meta = json.loads(str(z["meta"]))
        values = [z[f"values{j}"] for j in range(len(meta))]
    shots = _stored_shots(row["spec_text"])
    backend = get_backend(row["backend"], row["noise_from"], service=service)
    backend.sampler_options = sampler_options(row["spec_text"])  # DD/twirling (fake_*, ibm_*)
    return RunData(run_id, row["seed"], backend, circuits, values, meta, run_dir=run_dir,
                   **shots)


def _stored_shots(text: str) -> dict:
    import tomllib

    from hwadapt.spec import ShotSpec

    s = tomllib.loads(text).get("shots", {})
    d = ShotSpec()
    return {"target": s.get("target_accepted", d.target_accepted),
            "budget": s.get("budget", d.budget), "max_rounds": s.get("max_rounds", d.max_rounds),
            "pilot": s.get("pilot", d.pilot)}


# ----------------------------------------------------------------------------------------
# Submit / drive / resume / fetch / cancel
# ----------------------------------------------------------------------------------------

def submit(spec_path: str | Path, backend_name: str, ledger_path: str | Path,
           noise_from: str | None = None, detach: bool = False, progress: bool = False,
           service=None, on_created=None) -> str:
    """Create a run for the spec and drive it (to the end, or only submit with ``detach``).

    Returns the run id. ``on_created(run_id)`` is called once the run is in the ledger.
    """
    spec = load_spec(spec_path)
    backend = get_backend(backend_name, noise_from, service=service)
    if detach and backend.local:
        raise InputError(f"--detach needs a remote backend (ibm_<device>); {backend_name} runs "
                         "locally: drop --detach")
    ledger = Ledger(ledger_path)
    families = build_families(spec)
    isa = [transpile(f.circuit, backend, spec.optimization_level, spec.seed) for f in families]
    rates = [exact_rates(f) for f in families]
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    artifacts = _write_artifacts(ledger.runs_dir / run_id, isa, families, rates)
    ledger.create_run(run_id, spec.name, backend_name, noise_from, spec.text, spec.digest,
                      spec.seed, artifacts)
    if on_created:
        on_created(run_id)
    drive(ledger, load_run(ledger, run_id, service=service), detach=detach, progress=progress)
    return run_id


def submit_families(families: list[Family], backend_name: str, ledger_path: str | Path, *,
                    run_id: str, shots: int, seed: int, name: str = "families",
                    noise_from: str | None = None, isa: list | None = None,
                    optimization_level: int = 1, progress: bool = False,
                    service=None) -> str:
    """Create a run from ready-made circuit families and drive it to the end; idempotent.

    Every binding of every family gets ``shots`` raw shots (rounded up to the planner's grid,
    :func:`batching.round_shots`) in one round: one shot count, so one job unless the
    execution/payload limits split it. ``isa``: the families' circuits
    already transpiled for the backend (one per family; ``family.values`` must then follow
    each ISA circuit's ``parameters`` order), e.g. from a caller's transpile cache; default:
    :func:`transpile` each ``family.circuit`` here. ``seed`` seeds the
    batches (and the transpiler when it runs here).

    If ``run_id`` is already in the ledger nothing is created: an active run is driven on
    (resumed after a crash), a finished one is left as it is. Returns ``run_id``; read the
    counts with :func:`run_counts`. Raises :class:`JobFailed` if a batch failed.
    """
    if shots < 1:
        raise InputError(f"shots must be >= 1, got {shots}")
    if isa is not None and len(isa) != len(families):
        raise InputError(f"isa has {len(isa)} circuits for {len(families)} families: give one "
                         "transpiled circuit per family")
    ledger = Ledger(ledger_path)
    try:
        if not any(r["id"] == run_id for r in ledger.runs()):
            if isa is None:
                backend = get_backend(backend_name, noise_from, service=service)
                isa = [transpile(f.circuit, backend, optimization_level, seed) for f in families]
            text = (f'name = "{name}"\nseed = {seed}\n[shots]\ntarget_accepted = 1\n'
                    f"budget = {10**15}\nmax_rounds = 1\npilot = {shots}\n")
            # rates None: the first (only) round gives every binding `pilot` raw shots
            artifacts = _write_artifacts(ledger.runs_dir / run_id, isa, families,
                                         [None] * len(families))
            ledger.create_run(run_id, name, backend_name, noise_from, text,
                              hashlib.sha256(text.encode()).hexdigest(), seed, artifacts)
        if ledger.run(run_id)["status"] == "active":
            drive(ledger, load_run(ledger, run_id, service=service), progress=progress)
        return run_id
    finally:
        ledger.close()


def drive(ledger: Ledger, run: RunData, detach: bool = False, progress: bool = False) -> str:
    """Run rounds until the run is done (or, with ``detach``, until all jobs are submitted).

    Returns the run's final (or current) status; raises :class:`JobFailed` if a batch failed.
    """
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
                if not _plan_round(ledger, run, batches):
                    continue
                crash_point("after_plan")
                continue
            bar.update(total=len(batches), completed=sum(b.status == "done" for b in batches))
            for b in pending:
                _execute(ledger, run, b, detach)
                bar.advance()
            if detach:
                return "active"
    finally:
        bar.close()
    row = ledger.run(run.run_id)
    if row["status"] == "failed":
        raise JobFailed(f"run {run.run_id} failed: {row['reason']}")
    return row["status"]


def _plan_round(ledger: Ledger, run: RunData, batches: list) -> bool:
    """Plan the next round into the ledger; return False (and close the run) if none."""
    counts = tally(ledger, run.run_id, run, batches)
    rnd = max((b.round for b in batches), default=-1) + 1
    used = sum(batching.executions({"shots": b.shots, "pubs": b.pubs}) for b in batches)
    if rnd == 0:
        shots = [batching.first_round_shots(f["rates"], run.target, run.pilot, len(v))
                 for f, v in zip(run.families, run.values, strict=True)]
    elif rnd >= run.max_rounds:
        shots = []
    else:
        shots = [batching.topup_shots(c["accepted"], c["raw"], run.target) for c in counts]
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
        short = sum(int(np.sum(np.asarray(c["accepted"]) < run.target)) for c in counts)
        reason = "all targets reached" if short == 0 else (
            f"{short} input(s) below target: budget or max_rounds reached")
        ledger.set_run_status(run.run_id, "done", reason)
        return False
    start = max((b.idx for b in batches), default=-1) + 1
    ledger.add_batches(run.run_id, [
        {"idx": start + k, "round": rnd, "shots": j["shots"], "pubs": j["pubs"],
         "seed": batching.batch_seed(run.spec_seed, start + k)} for k, j in enumerate(jobs)])
    return True


def _pubs(run: RunData, batch) -> list:
    return [(run.circuits[p["family"]], run.values[p["family"]][p["inputs"]], batch.shots)
            for p in batch.pubs]


def _execute(ledger: Ledger, run: RunData, batch, detach: bool) -> None:
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
            result = with_retry(lambda: backend.run(_pubs(run, batch), batch.seed, tag).result())
            crash_point("after_submit")
            ledger.set_job(tag, None, "DONE")
            _store(ledger, run, batch, tag, result)
            return
        job = with_retry(lambda: backend.run(_pubs(run, batch), batch.seed, tag))
        crash_point("after_submit")
        ledger.set_job(tag, job.job_id(), "QUEUED")
    if detach:
        return
    status = _wait(ledger, job, tag)
    if status == "DONE":
        _store(ledger, run, batch, tag, with_retry(job.result))
    else:
        reason = f"job {job.job_id()} {status}"
        msg = getattr(job, "error_message", None)
        if callable(msg) and msg():
            reason += f": {msg()}"
        ledger.set_batch_status(batch.id, "failed" if status == "ERROR" else "cancelled",
                                reason)


def _wait(ledger: Ledger, job, tag: str) -> str:
    last = None
    while True:
        status = normalise_status(with_retry(job.status))
        if status != last:
            ledger.set_job(tag, None, status)
            last = status
        if status in FINAL_STATUSES:
            return status
        time.sleep(POLL_S)


def _store(ledger: Ledger, run: RunData, batch, tag: str, result) -> None:
    path = run.run_dir / f"batch-{batch.idx:04d}.npz"
    tmp = path.with_name(path.stem + ".tmp.npz")
    arrays, summary = {}, []
    for j, (p, pub_result) in enumerate(zip(batch.pubs, result, strict=True)):
        bits = pub_result.join_data()
        arrays[f"pub{j}"] = bits.array
        arrays[f"pub{j}_num_bits"] = np.array(bits.num_bits)
        acc = [_accepted(run, p["family"], bits[k].get_int_counts())
               for k in range(len(p["inputs"]))]
        summary.append({"family": p["family"], "inputs": p["inputs"], "shots": batch.shots,
                        "accepted": acc})
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    crash_point("after_file")
    ledger.store_result(batch.id, tag, path, {"pubs": summary})
    crash_point("after_store")


def _accepted(run: RunData, f: int, counts: dict[int, int]) -> int:
    outcomes = np.fromiter(counts, dtype=np.int64, count=len(counts))
    shots = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
    return int(shots[run.accept(f, outcomes)].sum())


def tally(ledger: Ledger, run_id: str, run: RunData | None = None,
          batches: list | None = None) -> list[dict]:
    """Per family: ``raw (count,)`` shots and ``accepted (count,)`` shots over stored results."""
    batches = ledger.batches(run_id) if batches is None else batches
    if run is None:
        with np.load(ledger.runs_dir / run_id / "families.npz") as z:
            meta = json.loads(str(z["meta"]))
            sizes = [len(z[f"values{j}"]) for j in range(len(meta))]
    else:
        meta, sizes = run.families, [len(v) for v in run.values]
    out = [{"name": m["name"], "raw": np.zeros(n, np.int64), "accepted": np.zeros(n, np.int64)}
           for m, n in zip(meta, sizes, strict=True)]
    for b in batches:
        row = ledger.result(b.id)
        if row is None:
            continue
        for p in json.loads(row["summary"])["pubs"]:
            fam = out[p["family"]]
            fam["raw"][p["inputs"]] += p["shots"]
            fam["accepted"][p["inputs"]] += np.asarray(p["accepted"])
    return out


def run_counts(ledger_path: str | Path, run_id: str) -> dict[str, list[dict[int, int]]]:
    """Merged counts per family and input over all stored batches: ``{family: [{outcome:
    count}, ...]}`` (outcome ints, clbit i = bit i; all outcomes, postselect with
    ``hwadapt.circuits.lcu.postselect``). Result files are checksum-verified."""
    ledger = Ledger(ledger_path, create=False)
    with np.load(ledger.runs_dir / run_id / "families.npz") as z:
        meta = json.loads(str(z["meta"]))
        sizes = [len(z[f"values{j}"]) for j in range(len(meta))]
    out = {m["name"]: [Counter() for _ in range(n)] for m, n in zip(meta, sizes, strict=True)}
    from qiskit.primitives.containers import BitArray

    for b in ledger.batches(run_id):
        row = ledger.result(b.id)
        if row is None:
            continue
        with np.load(ledger.result_path(row)) as z:
            for j, p in enumerate(b.pubs):
                bits = BitArray(z[f"pub{j}"], int(z[f"pub{j}_num_bits"]))
                for k, i in enumerate(p["inputs"]):
                    out[meta[p["family"]]["name"]][i].update(bits[k].get_int_counts())
    return {name: [dict(sorted(c.items())) for c in lst] for name, lst in out.items()}


def resume(ledger_path: str | Path, run_id: str | None = None, progress: bool = False,
           service=None, detach: bool = False) -> list[dict]:
    """Continue one run or every active run; returns their summaries."""
    ledger = Ledger(ledger_path, create=False)
    ids = [run_id] if run_id else [r["id"] for r in ledger.runs("active")]
    failures = []
    for rid in ids:
        try:
            drive(ledger, load_run(ledger, rid, service=service), detach=detach,
                  progress=progress)
        except JobFailed as e:
            failures.append(str(e))
    if failures:
        raise JobFailed("; ".join(failures))
    return [summary(ledger, rid) for rid in ids]


def fetch(ledger_path: str | Path, run_id: str, service=None) -> dict:
    """Collect a run's results: wait for its submitted jobs and store them (idempotent).

    Does not plan or submit new work (``resume`` does); returns :func:`summary`.
    """
    ledger = Ledger(ledger_path, create=False)
    row = ledger.run(run_id)
    if row["status"] == "active":
        run = load_run(ledger, run_id, service=service)
        for b in ledger.batches(run_id):
            if b.status == "submitted" and run.backend.retrievable:
                _execute(ledger, run, b, detach=False)
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


def summary(ledger: Ledger, run_id: str) -> dict:
    """JSON-ready view of a run: status, batches by status, accepted/raw shots per family."""
    row = ledger.run(run_id)
    batches = ledger.batches(run_id)
    fams = tally(ledger, run_id, batches=batches)
    target = _stored_shots(row["spec_text"])["target"]
    return {
        "run": run_id, "name": row["name"], "backend": row["backend"],
        "noise_from": row["noise_from"], "status": row["status"], "reason": row["reason"],
        "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["created"])),
        "batches": dict(Counter(b.status for b in batches)),
        "rounds": len({b.round for b in batches}),
        "target_accepted": target,
        "families": [{"name": f["name"], "raw_shots": int(f["raw"].sum()),
                      "accepted": f["accepted"].tolist(),
                      "inputs_at_target": int((f["accepted"] >= target).sum())} for f in fams],
    }
