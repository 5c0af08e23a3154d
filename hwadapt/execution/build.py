"""A run computed in memory, before anything is written: circuits transpiled for the backend,
exact outcome distributions and acceptance rates (:mod:`hwadapt.simulate`), the noise model's
predicted survival, ZNE copies and the calibration rows' exact outputs. Plain data out, so a
sweep builds its runs as executor tasks (:func:`build_task`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from hwadapt.backends import Backend, get_backend
from hwadapt.errors import InputError
from hwadapt.execution.exact_sampler import clbit_distribution
from hwadapt.execution.family import Family
from hwadapt.execution.plan import check_simulation_seconds, first_round_estimate
from hwadapt.mitigation.zne import fold_two_qubit_gates
from hwadapt.progress import ProgressBar
from hwadapt.simulate import SupportTooLarge, compile_circuit
from hwadapt.spec import build_families, calibration_vectors, load_spec, run_metadata
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
    noise scale); 1 on ideal backends: the probability that a shot suffers no error. The
    planner (:func:`hwadapt.execution.plan.expected_rates`) accepts such shots at the exact
    rate and the others at the rate of a fully depolarised shot."""
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


def check_width(families: list[Family], backend: Backend) -> None:
    """:class:`InputError` if a family's circuit is wider than the backend's device."""
    width = max(f.circuit.num_qubits for f in families)
    target = backend.transpile_target
    have = getattr(target, "num_qubits", None) if backend.kind != "aer" else None
    if isinstance(have, int) and width > have:
        device = backend.device or backend.name
        named = backend.name if device == backend.name else f"{backend.name} ({device})"
        raise InputError(f"the spec's circuits need {width} qubits but {named} has {have}: lower "
                         "circuit.qubits or pick a larger device (`hwadapt backends`)")


def compute_run(spec, backend: Backend, backend_name: str, noise_from: str | None = None,
                progress: bool = False) -> dict:
    """Everything a run of ``spec`` on ``backend`` stores, computed in memory (nothing is
    written): ``spec``, ``backend`` (its name), ``noise_from``, the analysis ``metadata``,
    ``families``, ``isa``, ``rates``, ``split``, ``calibration``, ``survival``."""
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
    return {"spec": spec, "backend": backend_name, "noise_from": noise_from,
            "metadata": run_metadata(spec), "families": families, "isa": isa, "rates": rates,
            "split": split, "calibration": calibration,
            "survival": [predicted_survival(c, backend) for c in isa]}


def build_run(spec_path: str | Path, backend_name: str, noise_from: str | None = None,
              force: bool = False, backend: Backend | None = None) -> dict:
    """What a Sampler run is made of, computed without the ledger or any file (a task on
    an executor: plain data out): :func:`compute_run` of the spec at ``spec_path``.
    ``backend``: the backend ``backend_name`` already made (default: made here)."""
    spec = load_spec(spec_path)
    if spec.observables is not None:
        raise InputError(f"{spec_path}: a spec with [observables] is an Estimator run, which "
                         "`hwadapt submit` runs (not sweep): drop [observables] to sweep it")
    check_work(spec, force)
    backend = backend or get_backend(backend_name, noise_from)
    built = compute_run(spec, backend, backend_name, noise_from)
    check_simulation_seconds(first_round_estimate(spec, backend, built), backend_name, force)
    return built


def build_task(item: tuple) -> dict:
    """:func:`build_run` of ``(spec path, backend name, noise source, force)`` (an executor
    task)."""
    return build_run(*item)


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
