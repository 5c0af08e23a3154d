"""Planning a Sampler run's rounds: :func:`plan_round` (pure: the driver plans every round
with it), and the first round planned in memory before anything is stored, what
``hwadapt submit --dry-run`` prints and what ``--max-qpu-seconds`` checks
(:mod:`hwadapt.execution.qpu_time` is the cost model)."""

from __future__ import annotations

import numpy as np

from hwadapt.backends import Backend
from hwadapt.errors import InputError
from hwadapt.execution import batching, qpu_time
from hwadapt.execution.family import Family


def family_records(families: list[Family], rates: list, calibration: dict | None = None,
                   survival: list[float] | None = None, split: list[int] | None = None
                   ) -> list[dict]:
    """Per family what ``families.npz`` stores and the planner reads
    (:func:`hwadapt.execution.submit._write_artifacts` writes it)."""
    cal = calibration or {}
    return [{"name": fam.name, "n_data": fam.n_data, "n_ancilla": fam.n_ancilla,
             "weight": fam.weight, "rates": r, "calibration": fam.calibration,
             "calibration_shots": cal.get("shots", 0), "survival": sv,
             "uniform_rate": fam.uniform_rate(), "split": sp}
            for fam, r, sv, sp in zip(families, rates, survival or [1.0] * len(families),
                                      split or [1] * len(families), strict=True)]


def first_round_estimate(spec, backend: Backend, built: dict) -> dict:
    """The first round's jobs as the driver will plan them, and what they cost
    (:func:`hwadapt.execution.qpu_time.estimate`: jobs, PUBs, shots, payload bytes, model
    QPU seconds or None where the backend has no durations), the modelled local
    ``simulation_seconds`` (:func:`simulation_seconds`) and ``max_rounds``."""
    meta = family_records(built["families"], built["rates"], built["calibration"],
                          built["survival"], built["split"])
    values = [f.values for f in built["families"]]
    jobs = plan_round(meta, values, built["isa"],
                      round_targets(meta, spec.shots.target_accepted), spec.shots.pilot,
                      spec.shots.budget, 0, spec.shots.max_rounds,
                      max_bindings=spec.shots.batch_bindings)
    return {**qpu_time.estimate(jobs, built["isa"], backend, values),
            "simulation_seconds": simulation_seconds(jobs, built["isa"], backend),
            "max_rounds": spec.shots.max_rounds}


MAX_SIMULATION_S = 3600.0
"""Longest modelled local simulation of a first round ``submit`` starts without ``--force``."""


def simulation_seconds(jobs: list[dict], circuits: list, backend: Backend) -> float | None:
    """Modelled seconds this machine needs to simulate ``jobs``
    (:meth:`~hwadapt.backends.base.Backend.simulation_seconds`); None for backends without a
    local cost (remote devices, ideal simulators)."""
    total = 0.0
    for job in jobs:
        secs = backend.simulation_seconds([(circuits[p["family"]], len(p["inputs"]),
                                            job["shots"]) for p in job["pubs"]])
        if secs is None:
            return None
        total += secs
    return total


def duration(seconds: float) -> str:
    """A modelled ``seconds`` as a short phrase: ``under a minute`` (where fixed costs the
    model leaves out may dominate), else ``about 95 s``, ``about 17 min``, ``about 31 h``,
    ``about 12 days``."""
    if seconds < 60:
        return "under a minute"
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"about {seconds / size:,.0f} {unit}"
    return f"about {seconds:.0f} s"


SPEC_ADVICE = "lower circuit.qubits, inputs or shots.target_accepted"
"""What a spec's run can lower when :func:`check_simulation_seconds` refuses it."""


def check_simulation_seconds(estimate: dict, backend_name: str, force: bool,
                             what: str = "the first round", advice: str = SPEC_ADVICE) -> None:
    """:class:`InputError` when ``what``'s (``estimate``: ``simulation_seconds``, ``shots``)
    modelled local simulation exceeds :data:`MAX_SIMULATION_S` and ``force`` is off: say so
    before anything runs or is written, rather than start a run of days; ``advice``: what to
    lower."""
    secs = estimate.get("simulation_seconds")
    if force or secs is None or secs <= MAX_SIMULATION_S:
        return
    raise InputError(f"{backend_name} would simulate {what} ({estimate['shots']:,} shots) for "
                     f"{duration(secs)} on this machine: {advice}, use --backend aer "
                     "(ideal) or exact, or pass --force to run it anyway; nothing was "
                     "submitted")


def check_qpu_seconds(estimate: dict, limit: float | None) -> None:
    """:class:`InputError` when the estimated QPU seconds exceed ``limit`` (None: no limit;
    backends without durations use no QPU time and pass)."""
    secs = estimate.get("qpu_seconds")
    if limit is None or secs is None or secs <= limit:
        return
    raise InputError(f"estimated QPU time {secs:.1f} s ({estimate['jobs']} job(s), "
                     f"{estimate['shots']} shots in the first round) exceeds max_qpu_seconds "
                     f"{limit:g}: lower shots.target_accepted or inputs, or raise the limit; "
                     "nothing was submitted")


def expected_rates(family: dict) -> np.ndarray | None:
    """Expected accepted fraction per binding of a family record (None without exact
    rates): a shot that suffers no gate or readout error (probability ``survival``,
    :func:`hwadapt.execution.build.predicted_survival`) is accepted at the exact rate, any
    other is taken as fully depolarised and accepted at ``uniform_rate``
    (:meth:`~hwadapt.execution.family.Family.uniform_rate`): ``s·rate + (1 - s)·uniform``.
    Without the second term a deep circuit (survival → 0) planned millions of shots per
    input for a rate that stays near the uniform one. Records stored before
    ``uniform_rate`` existed read it as 0."""
    if family["rates"] is None:
        return None
    s = family.get("survival", 1.0)
    return np.asarray(family["rates"]) * s + (1 - s) * family.get("uniform_rate", 0.0)


def round_targets(families: list[dict], target: int) -> list[int]:
    """Accepted-shot target per family (ZNE: the folded copies share their family's target,
    the same total shots over the factors)."""
    return [-(-target // f.get("split", 1)) for f in families]


def calibration_shots(families: list[dict]) -> list[np.ndarray | None]:
    """Raw shots of each family's calibration rows (None: it has none). Each calibration
    input gets ``calibration_shots`` × (families with calibration rows) raw shots in all,
    split over its families in inverse proportion to their expected acceptance rates
    (:func:`expected_rates`), as the targets' first round is: equal accepted shots per
    family; each rounded down to the shot grid (:func:`~batching.floor_shots`), so the
    run's budget check (inputs × shots × families) still bounds them. The signed estimate
    weights each family by its shots (:func:`hwadapt.estimate.signed_estimate`), so under
    device noise its bias depends on that split; calibration rows with the same raw shots
    in every family had a smaller bias than the targets (a 3-qubit run: rms 0.011 vs 0.017
    on the same inputs) and the systematic term they measure under-covered the targets
    (80% within 2σ). Without exact rates (a pilot), the same raw shots in every family."""
    rows = [f.get("calibration", 0) for f in families]
    with_cal = [f for f, m in zip(families, rows, strict=True) if m]
    if not with_cal:
        return [None] * len(families)
    m = with_cal[0]["calibration"]
    rates = [expected_rates(f) for f in with_cal]
    if any(r is None for r in rates):
        inv = np.ones((len(with_cal), m))
    else:  # a family's share at most 100x another's (a rate near 0 would take them all)
        r = np.stack([np.asarray(r, float)[len(r) - m:] for r in rates])
        inv = 1 / np.maximum(r, r.max(axis=0) / 100 + 1e-12)
    total = with_cal[0]["calibration_shots"] * len(with_cal)
    grid = np.vectorize(batching.floor_shots, otypes=[np.int64])  # never above the budget's
    split = iter(grid(total * inv / inv.sum(axis=0)))
    return [next(split) if k else None for k in rows]


def plan_round(families: list[dict], values: list, circuits: list, targets: list[int],
               pilot: int, remaining: int, rnd: int, max_rounds: int,
               counts: list[dict] | None = None, max_bindings: int = 0) -> list[dict]:
    """The jobs (:func:`batching.plan_jobs`) of round ``rnd`` of a run: round 0 from the
    families' exact rates × predicted survival (``families``: the ``families.npz`` metadata),
    later rounds top up from ``counts`` (:func:`hwadapt.execution.summary.tally`); none from
    ``max_rounds`` on.
    ``remaining``: raw shots left in the budget; ``max_bindings``: bindings per job at most
    (0: no limit; spec ``[shots] batch_bindings``). Pure: the dry run
    (:func:`first_round_estimate`) plans round 0 with it before anything is stored."""
    if rnd == 0:
        shots = [batching.first_round_shots(expected_rates(f), t, pilot, len(v))
            for f, v, t in zip(families, values, targets, strict=True)]
    elif rnd >= max_rounds:
        shots = []
    else:
        shots = [batching.topup_shots(c["accepted"], c["raw"], t)
                 for c, t in zip(counts, targets, strict=True)]
    if shots:  # calibration rows: one round
        for arr, cal in zip(shots, calibration_shots(families), strict=True):
            if cal is not None:
                arr[len(arr) - len(cal):] = cal if rnd == 0 else 0
    fixed = [f.get("calibration", 0) if rnd == 0 else 0 for f in families]
    shots = batching.fit_budget(shots, remaining, fixed) if shots else []
    return batching.plan_jobs(shots, qpu_time.pub_bytes(circuits), qpu_time.binding_bytes(values),
                              batching.Limits(max_bindings=max_bindings)) if shots else []
