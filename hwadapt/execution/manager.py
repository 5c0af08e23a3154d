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

One driver per run: :func:`drive` holds the run's lease in the ledger (another live process
gets :class:`RunBusy` naming the owner; a dead owner's lease is taken over), verifies the
stored results' checksums before going on, and writes each result under a unique temporary
name before renaming it into place.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hwadapt.backends import FINAL_STATUSES, Backend, get_backend, normalise_status
from hwadapt.circuits.lcu import postselect
from hwadapt.env import crash_at, env_seconds
from hwadapt.errors import InputError, JobFailed, RunBusy
from hwadapt.execution import batching
from hwadapt.execution.artifacts import artifact, family_meta, verify_results, verify_run
from hwadapt.execution.exact_sampler import clbit_distribution
from hwadapt.execution.family import Family
from hwadapt.execution.ledger import Ledger, sha256_file
from hwadapt.execution.metadata import FILE as METADATA_FILE
from hwadapt.execution.metadata import RunMetadata
from hwadapt.execution.readout import calibrate_run_readout
from hwadapt.execution.shots import stored_shots
from hwadapt.execution.summary import summary, tally
from hwadapt.fileio import atomic_write
from hwadapt.mitigation.zne import fold_two_qubit_gates
from hwadapt.progress import ProgressBar
from hwadapt.simulate import SupportTooLarge, compile_circuit
from hwadapt.spec import (
    build_families,
    calibration_vectors,
    load_spec,
    run_metadata,
    sampler_options,
)

EXACT_RATE_MAX_QUBITS = 62  # exact acceptance rates up to this width (int64 outcomes),
EXACT_RATE_MAX_SUPPORT = 1 << 20  # and this many reachable basis states, else a pilot round
RETRIES = 4
RETRY_BASE_S: float | None = None  # None: HWADAPT_RETRY_BASE_S, default 1 s
POLL_S: float | None = None  # None: HWADAPT_POLL_S, default 5 s
MAX_BINDINGS = 20_000  # inputs x families of one run, unless --force
MAX_PLANNED_SHOTS = 10**9  # raw shots one run may plan (lower bound), unless --force

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
        """Accepted-outcome mask of family ``f`` (:func:`hwadapt.circuits.lcu.postselect`)."""
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


def predicted_survival(isa, backend: Backend) -> float:
    """Noise-aware acceptance factor of an ISA circuit: ``Π (1 - ε)`` over its instructions'
    error rates in the backend's ``Target`` (gates and measurements, scaled by ``aer_noisy``'s
    noise scale); 1 on ideal backends. Any gate or readout error is assumed to move the shot
    out of the accepted set (a single bit flip breaks the Hamming weight or an ancilla), so
    the expected accepted rate is about ``survival × exact rate``: a one-round run sized by
    it meets its target on a noisy device (slightly conservative: errors that preserve the
    weight are kept, and counted as bias instead)."""
    if not backend.readout_noise or backend.transpile_target is None:
        return 1.0
    target = backend.transpile_target.target
    scale = backend.noise_scale
    log_f = 0.0
    for inst in isa.data:
        name = inst.operation.name
        if name in ("barrier", "delay") or name not in target.operation_names:
            continue
        props = target[name].get(tuple(isa.find_bit(q).index for q in inst.qubits))
        err = getattr(props, "error", None) or 0.0
        log_f += np.log1p(-min(scale * err, 0.999))
    return float(np.exp(log_f))


def exact_calibration(family: Family) -> np.ndarray:
    """Exact kept probabilities ``(calibration, C(n, k))`` of the family's calibration rows
    (outcome: ancillas 0, data = component ``j``; per raw shot), from :mod:`hwadapt.simulate`
    on the circuit's reachable support."""
    from hwadapt.linalg import subset_indices

    too_wide = InputError(f"[calibration] needs exactly simulable circuits: family "
                          f"{family.name!r} ({family.circuit.num_qubits} qubits) is beyond the "
                          "exact simulator's support limit: drop [calibration] or use fewer "
                          "qubits")
    if family.circuit.num_clbits > EXACT_RATE_MAX_QUBITS:
        raise too_wide
    try:
        plan = compile_circuit(family.circuit, max_support=EXACT_RATE_MAX_SUPPORT)
    except SupportTooLarge:
        raise too_wide from None
    rows = family.values[len(family.values) - family.calibration:]
    outcomes, probs = clbit_distribution(plan, rows)
    where = {int(o): i for i, o in enumerate(outcomes)}
    out = np.zeros((len(rows), len(subset_indices(family.n_data, family.weight))))
    for j, c in enumerate(subset_indices(family.n_data, family.weight)):
        if int(c) in where:
            out[:, j] = probs[:, where[int(c)]]
    return out


def _write_artifacts(run_dir: Path, isa: list, families: list[Family], rates: list,
                     metadata: RunMetadata | None = None,
                     files: dict[str, Path] | None = None, calibration: dict | None = None,
                     survival: list[float] | None = None,
                     split: list[int] | None = None) -> dict[str, str]:
    """Write a run's artifacts and return ``{relative path: sha256}`` for the ledger:
    ``circuits.qpy``, ``families.npz``, with a spec also ``analysis.npz`` (``metadata``,
    what ``compare`` reads) and a copy of every referenced file (``files/<key><suffix>``).
    ``calibration``: ``{"x": (m, n) inputs, "shots": raw shots each, "exact": [(m, c) per
    family]}`` when the run has calibration rows (the last ``m`` bindings of every family);
    ``survival``/``split``: per family the predicted noise survival and the ZNE shot split."""
    from qiskit import qpy

    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(run_dir / "circuits.qpy", lambda f: qpy.dump(isa, f))
    cal = calibration or {}
    meta = [{"name": fam.name, "n_data": fam.n_data, "n_ancilla": fam.n_ancilla,
             "weight": fam.weight, "rates": r, "calibration": fam.calibration,
             "calibration_shots": cal.get("shots", 0), "survival": sv, "split": sp}
            for fam, r, sv, sp in zip(families, rates, survival or [1.0] * len(families),
                                      split or [1] * len(families), strict=True)]
    arrays = {f"values{j}": fam.values for j, fam in enumerate(families)}
    if cal:
        arrays["calibration_x"] = cal["x"]
        arrays.update({f"exact{j}": e for j, e in enumerate(cal["exact"])})
    atomic_write(run_dir / "families.npz",
                 lambda f: np.savez(f, meta=np.array(json.dumps(meta)), **arrays))
    names = ["circuits.qpy", "families.npz"]
    if metadata is not None:
        metadata.save(run_dir / METADATA_FILE)
        names.append(METADATA_FILE)
    for key, src in (files or {}).items():
        name = f"files/{key}{src.suffix}"
        (run_dir / "files").mkdir(exist_ok=True)
        atomic_write(run_dir / name, lambda f, src=src: f.write(src.read_bytes()))
        names.append(name)
    return {name: sha256_file(run_dir / name) for name in names}


def load_metadata(ledger: Ledger, run_id: str) -> RunMetadata | None:
    """The run's stored analysis data (checksum-verified), or None for runs stored before
    it existed (and runs made from ready-made families, which have none)."""
    row = ledger.run(run_id)
    digest = json.loads(row["artifacts"]).get(METADATA_FILE)
    if digest is None:
        return None
    return RunMetadata.load(artifact(ledger, run_id, METADATA_FILE))


def load_run(ledger: Ledger, run_id: str, service=None) -> RunData:
    """Read a run's artifacts back, verifying their checksums."""
    from qiskit import qpy

    row = ledger.run(run_id)
    run_dir = ledger.runs_dir / run_id
    for name in json.loads(row["artifacts"]):
        artifact(ledger, run_id, name)
    with open(artifact(ledger, run_id, "circuits.qpy"), "rb") as f:
        circuits = qpy.load(f)
    meta, values = family_meta(ledger, run_id, values=True)
    shots = stored_shots(row["spec_text"])
    backend = get_backend(row["backend"], row["noise_from"], service=service)
    backend.sampler_options = sampler_options(row["spec_text"])  # DD/twirling (fake_*, ibm_*)
    return RunData(run_id, row["seed"], backend, circuits, values, meta, run_dir=run_dir,
                   **shots)


# ----------------------------------------------------------------------------------------
# Submit / drive / resume / fetch / cancel
# ----------------------------------------------------------------------------------------

def planned_work(spec) -> dict:
    """What a spec asks for before anything runs: ``bindings`` (inputs x families: circuits
    to bind, and to simulate exactly for acceptance rates) and ``shots`` (a lower bound on
    the raw shots: every binding's accepted target, capped by the budget)."""
    bindings = spec.inputs.count * len(spec.family_names)
    return {"bindings": bindings,
            "shots": min(spec.shots.budget, bindings * spec.shots.target_accepted)}


def check_work(spec, force: bool = False) -> dict:
    """:func:`planned_work`, refused above ``MAX_BINDINGS``/``MAX_PLANNED_SHOTS`` unless
    ``force``."""
    work = planned_work(spec)
    if not force and (work["bindings"] > MAX_BINDINGS or work["shots"] > MAX_PLANNED_SHOTS):
        raise InputError(
            f"spec asks for {work['bindings']} bindings (inputs x families, limit "
            f"{MAX_BINDINGS}) and at least {work['shots']:.3g} raw shots (limit "
            f"{MAX_PLANNED_SHOTS:.0e}): lower inputs.count or shots.target_accepted, or pass "
            "--force to run it anyway")
    return work


def check_width(families: list[Family], backend: Backend) -> None:
    """:class:`InputError` if a family's circuit is wider than the backend's device."""
    width = max(f.circuit.num_qubits for f in families)
    target = backend.transpile_target
    have = getattr(target, "num_qubits", None) if backend.kind != "aer" else None
    if isinstance(have, int) and width > have:
        raise InputError(f"the spec's circuits need {width} qubits but {backend.name} "
                         f"({backend.device or backend.name}) has {have}: lower "
                         "circuit.qubits or pick a larger device (`hwadapt backends`)")


def submit(spec_path: str | Path, backend_name: str, ledger_path: str | Path,
           noise_from: str | None = None, detach: bool = False, progress: bool = False,
           service=None, on_created=None, force: bool = False) -> str:
    """Create a run for the spec and drive it (to the end, or only submit with ``detach``).

    Returns the run id. ``on_created(run_id)`` is called once the run is in the ledger.
    ``force`` lifts the planned-work limits of :func:`check_work`.
    """
    spec = load_spec(spec_path)
    check_work(spec, force)
    backend = get_backend(backend_name, noise_from, service=service)
    if detach and backend.local:
        raise InputError(f"--detach needs a remote backend (ibm_<device>); {backend_name} runs "
                         "locally: drop --detach")
    # an existing ledger is checked now; a new one is created only once the spec has built
    ledger = Ledger(ledger_path) if Path(ledger_path).exists() else None
    bar = ProgressBar(progress, "building circuits")
    try:
        families = build_families(spec)
        check_width(families, backend)
        ledger = ledger or Ledger(ledger_path)
        isa = [transpile(f.circuit, backend, spec.optimization_level, spec.seed)
               for f in families]
        rates = [exact_rates(f) for f in families]
        split = [1] * len(families)
        if spec.zne_factors:  # folded copies of every ISA circuit, the shots split over factors
            folds = [(f, c, r, k) for f, c, r in zip(families, isa, rates, strict=True)
                     for k in spec.zne_factors[1:]]
            families += [replace(f, name=f"{f.name}@zne{k}") for f, _, _, k in folds]
            isa += [fold_two_qubit_gates(c, k) for _, c, _, k in folds]
            rates += [r for _, _, r, _ in folds]
            split = [len(spec.zne_factors)] * len(families)
        calibration = None
        if spec.calibration is not None:
            calibration = {"x": calibration_vectors(spec), "shots": spec.calibration.shots,
                           "exact": [exact_calibration(f) for f in families]}
    finally:
        bar.close()
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    survival = [predicted_survival(c, backend) for c in isa]
    artifacts = _write_artifacts(ledger.runs_dir / run_id, isa, families, rates,
                                 run_metadata(spec), spec.referenced_files, calibration,
                                 survival, split)
    if backend.readout_at_submit:  # device readout, measured with the run
        cals = calibrate_run_readout(ledger.runs_dir / run_id, backend, isa, spec.seed)
        if cals is not None:
            artifacts[cals.name] = sha256_file(cals)
    token = ledger.create_run(run_id, spec.name, backend_name, noise_from, spec.text,
                              spec.digest, spec.seed, artifacts, lease=True)
    if on_created:
        on_created(run_id)
    drive(ledger, load_run(ledger, run_id, service=service), detach=detach, progress=progress,
          lease=token)
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
            token = ledger.create_run(run_id, name, backend_name, noise_from, text,
                                      hashlib.sha256(text.encode()).hexdigest(), seed,
                                      artifacts, lease=True)
        else:
            token = None
        if ledger.run(run_id)["status"] == "active":
            drive(ledger, load_run(ledger, run_id, service=service), progress=progress,
                  lease=token)
        return run_id
    finally:
        ledger.close()


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
                if not _plan_round(ledger, run, batches):
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
    status = _wait(ledger, job, tag, beat)
    if status == "DONE":
        _store(ledger, run, batch, tag, with_retry(job.result))
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


def run_counts(ledger_path: str | Path, run_id: str) -> dict[str, list[dict[int, int]]]:
    """Merged counts per family and input over all stored batches: ``{family: [{outcome:
    count}, ...]}`` (outcome ints, clbit i = bit i; all outcomes, postselect with
    ``hwadapt.circuits.lcu.postselect``). Result files are checksum-verified."""
    ledger = Ledger(ledger_path, readonly=True)
    meta, sizes = family_meta(ledger, run_id)
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
