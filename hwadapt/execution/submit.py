"""Submitting a spec (or ready-made families) as a run: transpile, exact acceptance rates,
predicted noise survival, exact calibration, the run's artifacts, planned-work limits; then
:func:`hwadapt.execution.drive.drive` runs it (through :mod:`hwadapt.execution.parallel`
with an executor)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path

import numpy as np

from hwadapt.backends import Backend, get_backend, offline_stand_in
from hwadapt.errors import InputError
from hwadapt.execution import usage
from hwadapt.execution.artifacts import artifact
from hwadapt.execution.build import check_width, check_work, compute_run, transpile
from hwadapt.execution.family import Family
from hwadapt.execution.ledger import Ledger, sha256_file
from hwadapt.execution.metadata import FILE as METADATA_FILE
from hwadapt.execution.metadata import RunMetadata
from hwadapt.execution.modes import check_mode
from hwadapt.execution.parallel import drive_with
from hwadapt.execution.plan import (
    check_qpu_seconds,
    check_simulation_seconds,
    family_records,
    first_round_estimate,
)
from hwadapt.execution.readout import calibrate_run_readout
from hwadapt.execution.rundata import load_run
from hwadapt.fileio import atomic_write
from hwadapt.spec import (
    load_spec,
    run_metadata,
)
from hwadapt.trace import mark


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
    meta = family_records(families, rates, calibration, survival, split)
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


def _backend_and_ledger(backend_name: str, ledger_path: str | Path, noise_from: str | None,
                        detach: bool, service) -> tuple[Backend, Ledger | None]:
    """The run's backend (``--detach`` refused on local ones) and its ledger if one exists
    (checked now; a new one is created only once the spec's circuits have built)."""
    backend = get_backend(backend_name, noise_from, service=service)
    if detach and backend.local:
        raise InputError(f"--detach needs a remote backend (ibm_<device>); {backend_name} runs "
                         "locally: drop --detach")
    backend.check_available()
    return backend, Ledger(ledger_path) if Path(ledger_path).exists() else None


def plan_only(spec_path: str | Path, backend_name: str, noise_from: str | None = None,
              service=None, force: bool = False) -> dict:
    """``hwadapt submit --dry-run``: build and plan the first round without submitting or
    writing anything (no ledger, no run folder); returns :func:`first_round_estimate` with
    ``backend``, ``spec``, ``max_qpu_seconds`` and ``planned_on``: the backend whose target
    was used, ``backend`` itself or, for ``ibm_<device>`` without an IBM account here (and no
    ``service``), its ``fake_<device>`` snapshot (:func:`offline_stand_in`; the device is
    not simulated then: ``simulation_seconds`` None)."""
    spec = load_spec(spec_path)
    if spec.observables is not None:
        raise InputError("--dry-run plans Sampler runs; an Estimator run ([observables]) has "
                         "no QPU-time estimate yet: drop --dry-run")
    check_work(spec, force)
    planned_on = (service is None and offline_stand_in(backend_name)) or backend_name
    backend = get_backend(planned_on, noise_from, service=service)
    backend.check_available()
    est = first_round_estimate(spec, backend, compute_run(spec, backend, planned_on, noise_from))
    if planned_on != backend_name:
        est["simulation_seconds"] = None  # the run goes to the device, not to a simulator
    return {"spec": spec.name, "backend": backend_name, "planned_on": planned_on, **est,
            "max_qpu_seconds": spec.max_qpu_seconds}


def submit(spec_path: str | Path, backend_name: str, ledger_path: str | Path,
           noise_from: str | None = None, detach: bool = False, progress: bool = False,
           service=None, on_created=None, force: bool = False, mode: str | None = None,
           max_qpu_seconds: float | None = None, executor=None) -> str:
    """Create a run for the spec and drive it (to the end, or only submit with ``detach``).

    Returns the run id. ``on_created(run_id)`` is called once the run is in the ledger.
    ``force`` lifts the planned-work limits of :func:`check_work`. ``mode``: Runtime
    execution mode ``job``/``batch``/``session`` (default: the spec's ``[execution] mode``,
    else batch when the run has several jobs; local backends ignore it). ``max_qpu_seconds``
    (default: the spec's): refuse, before anything is written or submitted, a run whose first
    round is estimated above it (:func:`check_qpu_seconds`). ``executor``
    (:mod:`hwadapt.executors`): on a local backend the run's batches run as its tasks
    (:mod:`hwadapt.execution.parallel`); the counts are the same on any executor.
    """
    mark("submit: imports done")
    spec = load_spec(spec_path)
    mode = check_mode(mode or spec.mode)
    limit = max_qpu_seconds if max_qpu_seconds is not None else spec.max_qpu_seconds
    if spec.observables is not None:
        return submit_estimator(spec, backend_name, ledger_path, noise_from, detach, progress,
                                service, on_created, mode)
    check_work(spec, force)
    backend, ledger = _backend_and_ledger(backend_name, ledger_path, noise_from, detach,
                                          service)
    mark("submit: backend ready")
    built = compute_run(spec, backend, backend_name, noise_from, progress)
    first = first_round_estimate(spec, backend, built)
    check_simulation_seconds(first, backend_name, force)
    if limit is not None:
        check_qpu_seconds(first, limit)
    ledger = ledger or Ledger(ledger_path)
    run_id, artifacts = _write_run(ledger, built, backend)
    mark("submit: artifacts written")
    return _create_and_drive(ledger, run_id, spec, backend_name, noise_from, artifacts,
                             detach, progress, service, on_created, mode, limit, executor)


def _write_run(ledger: Ledger, built: dict, backend: Backend | None = None
               ) -> tuple[str, dict]:
    """Write a :func:`build_run` result's files under a new run id (and, for backends that
    measure readout at submit, its calibration); returns ``(run id, artifacts)``."""
    spec = built["spec"]
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    artifacts = _write_artifacts(ledger.runs_dir / run_id, built["isa"], built["families"],
                                 built["rates"], built["metadata"], spec.referenced_files,
                                 built["calibration"], built["survival"], built["split"])
    backend = backend or get_backend(built["backend"], built["noise_from"])
    if backend.readout_at_submit:  # device readout, measured with the run
        cals = calibrate_run_readout(ledger.runs_dir / run_id, backend, built["isa"], spec.seed)
        if cals is not None:
            artifacts[cals.name] = sha256_file(cals)
    return run_id, artifacts


def record_run(ledger: Ledger, built: dict, backend: Backend | None = None
               ) -> tuple[Ledger, str, str]:
    """Write a :func:`build_run` result as a new run (its files, then its ledger row, with
    the lease taken) without driving it; returns ``(ledger, run id, lease token)``."""
    run_id, artifacts = _write_run(ledger, built, backend)
    spec = built["spec"]
    return ledger, run_id, _create_run(ledger, run_id, spec, built["backend"],
                                       built["noise_from"], artifacts)


def submit_estimator(spec, backend_name: str, ledger_path: str | Path,
                     noise_from: str | None = None, detach: bool = False,
                     progress: bool = False, service=None, on_created=None,
                     mode: str | None = None) -> str:
    """Create an Estimator run for a spec with ``[observables]`` and drive it
    (:mod:`hwadapt.execution.estimator_run`); arguments as :func:`submit` (no QPU-time
    estimate yet: ``max_qpu_seconds`` does not apply to Estimator runs)."""
    from hwadapt.circuits.observables import postselected_operators
    from hwadapt.execution import estimator_run as er
    from hwadapt.spec import estimator_family, observables

    backend, ledger = _backend_and_ledger(backend_name, ledger_path, noise_from, detach,
                                          service)
    family = estimator_family(spec)
    check_width([family], backend)
    try:
        ops, index = postselected_operators(observables(spec), family.n_ancilla)
    except ValueError as e:
        raise InputError(str(e)) from None
    ledger = ledger or Ledger(ledger_path)
    isa = transpile(family.circuit, backend, spec.optimization_level, spec.seed)
    exact = er.exact_values(family, ops, index)
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    run_dir = ledger.runs_dir / run_id
    artifacts = _write_artifacts(run_dir, [isa], [family], [exact["accepted"].tolist()],
                                 run_metadata(spec), spec.referenced_files)
    artifacts[er.ESTIMATOR_FILE] = er.write_estimator_file(
        run_dir, list(spec.observables.names), isa, ops, index, spec.observables.shots,
        spec.observables.options, exact, family.calibration)
    return _create_and_drive(ledger, run_id, spec, backend_name, noise_from, artifacts,
                             detach, progress, service, on_created, mode)


def _create_run(ledger: Ledger, run_id: str, spec, backend_name: str,
                noise_from: str | None, artifacts: dict, mode: str | None = None,
                limit: float | None = None) -> str:
    """Enter the run in the ledger with its driver lease (returned) and its mode and
    QPU-seconds limit."""
    token = ledger.create_run(run_id, spec.name, backend_name, noise_from, spec.text,
                              spec.digest, spec.seed, artifacts, lease=True)
    if mode is not None or limit is not None:
        usage.set_execution(ledger, run_id, mode, limit)
    return token


def _create_and_drive(ledger: Ledger, run_id: str, spec, backend_name: str,
                      noise_from: str | None, artifacts: dict, detach: bool, progress: bool,
                      service, on_created, mode: str | None = None,
                      limit: float | None = None, executor=None) -> str:
    """:func:`_create_run`, tell ``on_created``, drive it (on ``executor``)."""
    token = _create_run(ledger, run_id, spec, backend_name, noise_from, artifacts, mode, limit)
    if on_created:
        on_created(run_id)
    drive_with(ledger, load_run(ledger, run_id, service=service), executor, progress=progress,
               lease=token, detach=detach)
    return run_id


def submit_families(families: list[Family], backend_name: str, ledger_path: str | Path, *,
                    run_id: str, shots: int, seed: int, name: str = "families",
                    noise_from: str | None = None, isa: list | None = None,
                    optimization_level: int = 1, progress: bool = False,
                    service=None, backend: Backend | None = None, batch_bindings: int = 0,
                    executor=None) -> str:
    """Create a run from ready-made circuit families and drive it to the end; idempotent.

    Every binding of every family gets ``shots`` raw shots (rounded up to the planner's grid,
    :func:`batching.round_shots`) in one round: one shot count, so one job unless the
    execution/payload limits split it. ``isa``: the families' circuits
    already transpiled for the backend (one per family; ``family.values`` must then follow
    each ISA circuit's ``parameters`` order), e.g. from a caller's transpile cache; default:
    :func:`transpile` each ``family.circuit`` here. ``seed`` seeds the
    batches (and the transpiler when it runs here).

    ``backend``: the :class:`Backend` object to run on (default: one made from
    ``backend_name``), e.g. one whose Runtime mode the caller keeps open across runs.
    ``batch_bindings``: at most this many bindings per batch (0: no limit), so that
    ``executor`` runs the batches in parallel (local backends).

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
                target = backend or get_backend(backend_name, noise_from, service=service)
                isa = [transpile(f.circuit, target, optimization_level, seed) for f in families]
            text = (f'name = "{name}"\nseed = {seed}\n[shots]\ntarget_accepted = 1\n'
                    f"budget = {10**15}\nmax_rounds = 1\npilot = {shots}\n"
                    + (f"batch_bindings = {batch_bindings}\n" if batch_bindings else ""))
            # rates None: the first (only) round gives every binding `pilot` raw shots
            artifacts = _write_artifacts(ledger.runs_dir / run_id, isa, families,
                                         [None] * len(families))
            token = ledger.create_run(run_id, name, backend_name, noise_from, text,
                                      hashlib.sha256(text.encode()).hexdigest(), seed,
                                      artifacts, lease=True)
        else:
            token = None
        if ledger.run(run_id)["status"] == "active":
            run = load_run(ledger, run_id, service=service)
            if backend is not None:  # the caller's, with its open mode (the caller closes it)
                run.backend = backend
            drive_with(ledger, run, executor, progress=progress, lease=token)
        return run_id
    finally:
        ledger.close()

