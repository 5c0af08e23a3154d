"""Submitting a spec (or ready-made families) as a run: transpile, exact acceptance rates,
predicted noise survival, exact calibration, the run's artifacts, planned-work limits; then
:func:`hwadapt.execution.drive.drive` runs it."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np

from hwadapt.backends import Backend, get_backend
from hwadapt.errors import InputError
from hwadapt.execution import usage
from hwadapt.execution.artifacts import artifact
from hwadapt.execution.drive import drive
from hwadapt.execution.exact_sampler import clbit_distribution
from hwadapt.execution.family import Family
from hwadapt.execution.ledger import Ledger, sha256_file
from hwadapt.execution.metadata import FILE as METADATA_FILE
from hwadapt.execution.metadata import RunMetadata
from hwadapt.execution.modes import check_mode
from hwadapt.execution.plan import check_qpu_seconds, family_records, first_round_estimate
from hwadapt.execution.readout import calibrate_run_readout
from hwadapt.execution.rundata import load_run
from hwadapt.fileio import atomic_write
from hwadapt.mitigation.zne import fold_two_qubit_gates
from hwadapt.progress import ProgressBar
from hwadapt.simulate import SupportTooLarge, compile_circuit
from hwadapt.spec import (
    build_families,
    calibration_vectors,
    load_spec,
    run_metadata,
)
from hwadapt.trace import mark

EXACT_RATE_MAX_QUBITS = 62  # exact acceptance rates up to this width (int64 outcomes),
EXACT_RATE_MAX_SUPPORT = 1 << 20  # and this many reachable basis states, else a pilot round
MAX_BINDINGS = 20_000  # inputs x families of one run, unless --force
MAX_PLANNED_SHOTS = 10**9  # raw shots one run may plan (lower bound), unless --force


def transpile(circuit, backend: Backend, optimization_level: int, seed: int):
    """ISA circuit for ``backend``; ``exact`` (no transpile target) takes the logical circuit
    as it is: :mod:`hwadapt.simulate` runs its RBS/FBS and (multi-)controlled gates on the
    reachable support at any width, where a decomposed circuit passes through states outside
    the Hamming-weight sector (a ``2^N`` support: ~20 qubits at most)."""
    from hwadapt.circuits.transpile import transpile_for

    if backend.transpile_target is None:
        return circuit
    return transpile_for(circuit, backend.transpile_target, optimization_level, seed)[0]


def exact_distribution(family: Family) -> tuple[list[int], np.ndarray] | None:
    """Exact outcome distribution of every binding, ``(outcomes, probs (count, len(outcomes)))``,
    from :mod:`hwadapt.simulate` on the circuit's reachable support (None when outcomes do not
    fit int64 or the support is too large). One compiled plan serves all bindings."""
    if family.circuit.num_clbits > EXACT_RATE_MAX_QUBITS:
        return None
    try:
        plan = compile_circuit(family.circuit, max_support=EXACT_RATE_MAX_SUPPORT)
    except SupportTooLarge:
        return None
    return clbit_distribution(plan, family.values)


def exact_rates(family: Family, dist: tuple | None = None) -> list[float] | None:
    """Exact acceptance probability per input (None when not exactly simulable); ``dist``:
    the family's :func:`exact_distribution`, if already computed."""
    dist = exact_distribution(family) if dist is None else dist
    if dist is None:
        return None
    outcomes, probs = dist
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


def exact_calibration(family: Family, dist: tuple | None = None) -> np.ndarray:
    """Exact kept probabilities ``(calibration, C(n, k))`` of the family's calibration rows
    (outcome: ancillas 0, data = component ``j``; per raw shot); ``dist``: the family's
    :func:`exact_distribution`, if already computed."""
    from hwadapt.linalg import subset_indices

    dist = exact_distribution(family) if dist is None else dist
    if dist is None:
        raise InputError(f"[calibration] needs exactly simulable circuits: family "
                         f"{family.name!r} ({family.circuit.num_qubits} qubits) is beyond the "
                         "exact simulator's support limit: drop [calibration] or use fewer "
                         "qubits")
    outcomes, probs = dist
    probs = probs[len(family.values) - family.calibration:]
    where = {int(o): i for i, o in enumerate(outcomes)}
    comps = subset_indices(family.n_data, family.weight)
    out = np.zeros((len(probs), len(comps)))
    for j, c in enumerate(comps):
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


def _build(spec, backend: Backend, progress: bool) -> dict:
    """Everything a run of ``spec`` on ``backend`` stores, computed in memory (nothing is
    written): ``families``, ``isa``, ``rates``, ``split``, ``calibration``, ``survival``."""
    bar = ProgressBar(progress, "building circuits")
    try:
        families = build_families(spec)
        mark("submit: circuits built")
        check_width(families, backend)
        isa = [transpile(f.circuit, backend, spec.optimization_level, spec.seed)
               for f in families]
        mark("submit: transpiled")
        dists = [exact_distribution(f) for f in families]  # one simulation per family
        mark("submit: exact distributions")
        rates = [exact_rates(f, d) for f, d in zip(families, dists, strict=True)]
        split = [1] * len(families)
        if spec.zne_factors:  # folded copies of every ISA circuit, the shots split over factors
            folds = [(f, c, r, d, k)
                     for f, c, r, d in zip(families, isa, rates, dists, strict=True)
                     for k in spec.zne_factors[1:]]
            families += [replace(f, name=f"{f.name}@zne{k}") for f, *_, k in folds]
            isa += [fold_two_qubit_gates(c, k) for _, c, _, _, k in folds]
            rates += [r for _, _, r, _, _ in folds]
            dists += [d for _, _, _, d, _ in folds]  # same logical circuit: same ideal output
            split = [len(spec.zne_factors)] * len(families)
        calibration = None
        if spec.calibration is not None:
            calibration = {"x": calibration_vectors(spec), "shots": spec.calibration.shots,
                           "exact": [exact_calibration(f, d)
                                     for f, d in zip(families, dists, strict=True)]}
    finally:
        bar.close()
    return {"families": families, "isa": isa, "rates": rates, "split": split,
            "calibration": calibration,
            "survival": [predicted_survival(c, backend) for c in isa]}


def plan_only(spec_path: str | Path, backend_name: str, noise_from: str | None = None,
              service=None, force: bool = False) -> dict:
    """``hwadapt submit --dry-run``: build and plan the first round without submitting or
    writing anything (no ledger, no run folder); returns :func:`first_round_estimate` with
    ``backend``, ``spec`` and ``max_qpu_seconds``."""
    spec = load_spec(spec_path)
    if spec.observables is not None:
        raise InputError("--dry-run plans Sampler runs; an Estimator run ([observables]) has "
                         "no QPU-time estimate yet: drop --dry-run")
    check_work(spec, force)
    backend = get_backend(backend_name, noise_from, service=service)
    backend.check_available()
    est = first_round_estimate(spec, backend, _build(spec, backend, False))
    return {"spec": spec.name, "backend": backend_name, **est,
            "max_qpu_seconds": spec.max_qpu_seconds}


def submit(spec_path: str | Path, backend_name: str, ledger_path: str | Path,
           noise_from: str | None = None, detach: bool = False, progress: bool = False,
           service=None, on_created=None, force: bool = False, mode: str | None = None,
           max_qpu_seconds: float | None = None) -> str:
    """Create a run for the spec and drive it (to the end, or only submit with ``detach``).

    Returns the run id. ``on_created(run_id)`` is called once the run is in the ledger.
    ``force`` lifts the planned-work limits of :func:`check_work`. ``mode``: Runtime
    execution mode ``job``/``batch``/``session`` (default: the spec's ``[execution] mode``,
    else batch when the run has several jobs; local backends ignore it). ``max_qpu_seconds``
    (default: the spec's): refuse, before anything is written or submitted, a run whose first
    round is estimated above it (:func:`check_qpu_seconds`).
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
    built = _build(spec, backend, progress)
    if limit is not None:
        check_qpu_seconds(first_round_estimate(spec, backend, built), limit)
    ledger = ledger or Ledger(ledger_path)
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    artifacts = _write_artifacts(ledger.runs_dir / run_id, built["isa"], built["families"],
                                 built["rates"], run_metadata(spec), spec.referenced_files,
                                 built["calibration"], built["survival"], built["split"])
    if backend.readout_at_submit:  # device readout, measured with the run
        cals = calibrate_run_readout(ledger.runs_dir / run_id, backend, built["isa"], spec.seed)
        if cals is not None:
            artifacts[cals.name] = sha256_file(cals)
    mark("submit: artifacts written")
    return _create_and_drive(ledger, run_id, spec, backend_name, noise_from, artifacts,
                             detach, progress, service, on_created, mode, limit)


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
        spec.observables.options, exact)
    return _create_and_drive(ledger, run_id, spec, backend_name, noise_from, artifacts,
                             detach, progress, service, on_created, mode)


def _create_and_drive(ledger: Ledger, run_id: str, spec, backend_name: str,
                      noise_from: str | None, artifacts: dict, detach: bool, progress: bool,
                      service, on_created, mode: str | None = None,
                      limit: float | None = None) -> str:
    """Enter the run in the ledger (with its driver lease) and its mode and QPU-seconds
    limit, tell ``on_created``, drive it."""
    token = ledger.create_run(run_id, spec.name, backend_name, noise_from, spec.text,
                              spec.digest, spec.seed, artifacts, lease=True)
    if mode is not None or limit is not None:
        usage.set_execution(ledger, run_id, mode, limit)
    if on_created:
        on_created(run_id)
    drive(ledger, load_run(ledger, run_id, service=service), detach=detach, progress=progress,
          lease=token)
    return run_id


def submit_families(families: list[Family], backend_name: str, ledger_path: str | Path, *,
                    run_id: str, shots: int, seed: int, name: str = "families",
                    noise_from: str | None = None, isa: list | None = None,
                    optimization_level: int = 1, progress: bool = False,
                    service=None, backend: Backend | None = None) -> str:
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
            run = load_run(ledger, run_id, service=service)
            if backend is not None:  # the caller's, with its open mode (the caller closes it)
                run.backend = backend
            drive(ledger, run, progress=progress,
                  lease=token)
        return run_id
    finally:
        ledger.close()

