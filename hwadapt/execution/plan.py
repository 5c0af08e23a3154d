"""The first round of a Sampler run planned in memory, before anything is stored: what
``hwadapt submit --dry-run`` prints and what ``--max-qpu-seconds`` checks
(:mod:`hwadapt.execution.qpu_time` is the cost model)."""

from __future__ import annotations

from hwadapt.backends import Backend
from hwadapt.errors import InputError
from hwadapt.execution import qpu_time
from hwadapt.execution.drive import plan_round, round_targets
from hwadapt.execution.family import Family


def family_records(families: list[Family], rates: list, calibration: dict | None = None,
                   survival: list[float] | None = None, split: list[int] | None = None
                   ) -> list[dict]:
    """Per family what ``families.npz`` stores and the planner reads
    (:func:`hwadapt.execution.submit._write_artifacts` writes it)."""
    cal = calibration or {}
    return [{"name": fam.name, "n_data": fam.n_data, "n_ancilla": fam.n_ancilla,
             "weight": fam.weight, "rates": r, "calibration": fam.calibration,
             "calibration_shots": cal.get("shots", 0), "survival": sv, "split": sp}
            for fam, r, sv, sp in zip(families, rates, survival or [1.0] * len(families),
                                      split or [1] * len(families), strict=True)]


def first_round_estimate(spec, backend: Backend, built: dict) -> dict:
    """The first round's jobs as the driver will plan them, and what they cost
    (:func:`hwadapt.execution.qpu_time.estimate`: jobs, PUBs, shots, payload bytes, model
    QPU seconds or None where the backend has no durations), plus ``max_rounds``."""
    meta = family_records(built["families"], built["rates"], built["calibration"],
                          built["survival"], built["split"])
    values = [f.values for f in built["families"]]
    jobs = plan_round(meta, values, built["isa"],
                      round_targets(meta, spec.shots.target_accepted), spec.shots.pilot,
                      spec.shots.budget, 0, spec.shots.max_rounds)
    return {**qpu_time.estimate(jobs, built["isa"], backend, values),
            "max_rounds": spec.shots.max_rounds}


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
