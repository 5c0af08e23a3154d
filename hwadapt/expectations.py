"""Estimator runs: postselected expectation values with propagated standard errors, and
their comparison with the exact values (``hwadapt compare`` on an Estimator run).

An Estimator run measures, per input, ``N_k = <P0 ⊗ O_k>``, ``D = <P0>`` and ``M_k = <P0 ⊗
O_k²>`` (:func:`hwadapt.circuits.observables.postselected_operators`); the postselected value
is ``R_k = N_k / D`` (:func:`ratio`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from hwadapt.errors import InputError
from hwadapt.execution.estimator_run import is_estimator_run, read_estimator_file, run_evs
from hwadapt.execution.ledger import Ledger
from hwadapt.mitigation.crossval import systematic_independent
from hwadapt.mitigation.observables import learned_observables


def ratio(num, den, s_num, s_den, cov=0.0) -> tuple[np.ndarray, np.ndarray]:
    """``R = N / D`` and its standard error by the first-order delta method:

        Var R ≈ (s_N² − 2 R Cov(N, D) + R² s_D²) / D²

    (arrays broadcast; ``cov`` is the covariance of the two estimates, 0 when they come from
    independent data). ``D <= 0`` gives NaN (nothing accepted)."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    s_num, s_den, cov = (np.asarray(a, float) for a in (s_num, s_den, cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(den > 0, num / den, np.nan)
        var = (s_num**2 - 2 * r * cov + r**2 * s_den**2) / den**2
    return r, np.sqrt(np.maximum(var, 0.0))


def shot_correlation(num, den, sq) -> np.ndarray:
    """Correlation of ``N = <P0 ⊗ O>`` and ``D = <P0>`` estimated from the SAME shots.

    Per shot, ``n = p·o`` and ``d = p`` with ``p ∈ {0, 1}`` the ancilla projector's outcome
    (``P0² = P0``, commuting with ``O``): ``Var n = M − N²`` (``M = <P0 ⊗ O²>``), ``Var d = D −
    D²`` and ``Cov(n, d) = <P0 ⊗ O> − N D = N − N D``. The correlation is the ratio; it scales
    with whatever the estimator reports as ``s_N, s_D``. With exact per-shot stds
    (``s² = Var/S``) :func:`ratio` then gives ``Var R = (M/D − R²)/(D S)``, the variance of a
    mean over the ``D·S`` accepted shots."""
    num, den, sq = (np.asarray(a, float) for a in (num, den, sq))
    var_n = np.maximum(sq - num**2, 0.0)
    var_d = np.maximum(den - den**2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (num - num * den) / np.sqrt(var_n * var_d)
    return np.clip(np.nan_to_num(rho, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)


def postselected_values(evs: np.ndarray, stds: np.ndarray, index: list, shared_shots: bool
                        ) -> tuple[np.ndarray, np.ndarray]:
    """``(values, stderr)``, each ``(B, K)``: ``<O_k>_post`` per input from an Estimator
    PUB's ``evs``/``stds`` ``(B, operators)``; ``index[k] = (i_num, i_den, i_sq)``.
    ``shared_shots``: numerator and denominator come from the same shots (Runtime estimators,
    :func:`shot_correlation`); else independent (Aer's Gaussian precision noise, exact)."""
    evs, stds = np.asarray(evs, float), np.asarray(stds, float)
    i_num, i_den, i_sq = (np.array([ix[j] for ix in index], int) for j in range(3))
    n, d, m = evs[:, i_num], evs[:, i_den], evs[:, i_sq]
    s_n, s_d = stds[:, i_num], stds[:, i_den]
    rho = shot_correlation(n, d, m) if shared_shots else 0.0
    return ratio(n, d, s_n, s_d, rho * s_n * s_d)


def run_postselected(ledger_path: str | Path, run_id: str) -> dict[str, Any]:
    """An Estimator run's postselected values read back (ledger read-only, files verified):
    ``names``, ``values``/``stderr``/``exact`` ``(count, K)``, ``accepted``/``accepted_exact``
    ``(count,)`` (``<P0>``), ``shots``, ``options`` (each stored PUB's), ``backend``,
    ``calibration`` (the last rows that are calibration inputs; 0 for older runs), ``seed``."""
    ledger = Ledger(ledger_path, readonly=True)
    try:
        if not is_estimator_run(ledger, run_id):
            raise InputError(f"run {run_id} is a Sampler run (no [observables]): `hwadapt "
                             "compare` reads it as one; this needs an Estimator run")
        doc = read_estimator_file(ledger, run_id)
        evs, stds, options = run_evs(ledger, run_id)
        row = ledger.run(run_id)
        run_dir = ledger.runs_dir / run_id
    finally:
        ledger.close()
    shared = bool(options and options[0].get("shared_shots"))
    values, stderr = postselected_values(evs, stds, doc["index"], shared)
    return {"names": doc["observables"], "values": values, "stderr": stderr,
            "exact": np.asarray(doc["exact"]["values"], float),
            "accepted": evs[:, doc["index"][0][1]] if doc["index"] else evs[:, 0],
            "accepted_exact": np.asarray(doc["exact"]["accepted"], float),
            "shots": doc["shots"], "options": options, "backend": row["backend"],
            "calibration": int(doc.get("calibration", 0)), "seed": int(row["seed"]),
            "requested": doc["options"], "run_dir": run_dir}


def error_bar_note(kind: str | None, requested: dict) -> str:
    """What the ± of an Estimator run covers, by backend kind and the options asked for."""
    mitigated = requested.get("resilience_level", 1 if kind == "ibm" else 0) > 0 or any(
        requested.get("resilience", {}).get(k) for k in ("measure_mitigation",
                                                           "zne_mitigation"))
    notes = {
        "exact": "none: exact values (stds 0)",
        "aer": "shot noise only: Aer's Estimator adds Gaussian noise of std 1/sqrt(shots) "
               "(its precision) to every value; the device's bias is not in the ±",
        "fake": "shot noise only: Runtime local mode drops resilience/twirling options; the "
                "device's bias is not in the ±",
    }
    if kind == "ibm":
        return ("the Estimator's stds: shot noise plus the spread its mitigation adds "
                f"({requested}); remaining bias is not in the ±" if mitigated else
                "shot noise only (resilience_level 0); the device's bias is not in the ±")
    return notes.get("aer" if kind == "aer_noisy" else kind, "shot noise only")


def observable_systematic(values: np.ndarray, stderr: np.ndarray, exact: np.ndarray,
                          calibration: int) -> np.ndarray | None:
    """``(K,)``: the systematic term of each observable
    (:func:`~hwadapt.mitigation.crossval.systematic_independent`: the part of the residuals
    that shot noise does not explain, its 84% upper bound, each input weighted by its
    precision), from the LAST ``calibration`` rows of ``values``/``stderr``/``exact``
    ``(count, K)`` only, the calibration inputs; None without any. The targets' exact values
    are never read."""
    if not calibration:
        return None
    v, s, e = (np.asarray(a, float)[-calibration:] for a in (values, stderr, exact))
    return np.array([systematic_independent(v[:, k] - e[:, k], s[:, k])
                     for k in range(v.shape[1])])


def compare_estimator_run(ledger_path: str | Path, run_id: str, mitigate: str | None = None
                          ) -> dict[str, Any]:
    """Observables of an Estimator run vs exact: per value ``z = (v − exact)/stderr``,
    coverage within 2σ, errors per observable and overall, over the target inputs; with
    ``[calibration]`` inputs each ± adds the observable's :func:`observable_systematic` in
    quadrature; ``mitigate="learned"``: the values mapped by
    :func:`~hwadapt.mitigation.observables.learned_observables` (bars: the mapped shot noise
    and the cross-validated systematic term; ``mitigation`` holds the maps). Writes
    ``<run>/compare[-learned].json`` and returns it (``path`` added). Keys: ``run``,
    ``backend``, ``estimator`` (True), ``observables``, ``shots``, ``options``,
    ``error_bars``, ``calibration_inputs``, ``aggregate`` (``inputs``, ``values``,
    ``coverage_2se`` (total ±), ``coverage_2se_stat`` (shot noise), ``max_abs_z``,
    ``mean_abs_error``, ``rmse``, ``rate``/``rate_ideal``: ``<P0>`` observed/exact),
    ``by_observable`` (name, the same statistics, ``systematic``: None without calibration),
    ``values``/``stderr``/``stderr_stat``/``exact``/``z`` ``(inputs, observables)``."""
    r = run_postselected(ledger_path, run_id)
    n_cal = r["calibration"]
    n_t = len(r["values"]) - n_cal
    v, s_stat, ex = r["values"][:n_t], r["stderr"][:n_t], r["exact"][:n_t]
    mitigation: dict[str, Any] = {"method": "none"}
    if mitigate == "learned":
        if not n_cal:
            raise InputError(f"--mitigate learned needs calibration inputs, and run {run_id} "
                             "has none: add a [calibration] table to the spec and submit "
                             "again")
        m = learned_observables(r["values"], r["stderr"], r["exact"], n_cal, r["names"],
                                seed=r["seed"])
        v, s_stat, sys = m.values, m.stderr_stat, m.systematic
        mitigation = {"method": "learned", "calibration_inputs": n_cal,
                      "maps": [{"name": n, "a": float(a), "b": float(b)}
                               for n, a, b in zip(r["names"], m.a, m.b, strict=True)]}
    else:
        sys = observable_systematic(r["values"], r["stderr"], r["exact"], n_cal)
    s = s_stat if sys is None else np.sqrt(s_stat**2 + sys**2)
    err = v - ex
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, err / s, np.where(np.abs(err) < 1e-9, 0.0, np.inf))
    kind = r["options"][0].get("kind") if r["options"] else None

    def stats(e, zz, ss) -> dict:
        ok = np.isfinite(e)
        return {"coverage_2se": float(np.mean(np.abs(zz[ok]) <= 2)) if ok.any() else None,
                "coverage_2se_stat": float(np.mean(np.abs(e[ok]) <= 2 * ss[ok]))
                if ok.any() else None,
                "mean_abs_error": float(np.mean(np.abs(e[ok]))) if ok.any() else None,
                "max_abs_z": float(np.max(np.abs(zz[ok]))) if ok.any() else None}

    note = error_bar_note(kind, r["requested"])
    if mitigate == "learned":
        note = ("total: the Estimator's stds through each observable's learned map and a "
                f"systematic term cross-validated on the run's {n_cal} calibration inputs "
                "(their exact values only)")
    elif sys is not None:
        note = ("total: the Estimator's stds and a systematic term per observable, measured "
                f"on the run's {n_cal} calibration inputs (their exact values only)")
    out = {"run": run_id, "backend": r["backend"], "estimator": True,
           "observables": r["names"], "shots": r["shots"], "options": r["requested"],
           "error_bars": note, "calibration_inputs": n_cal, "mitigation": mitigation,
           "aggregate": {"inputs": int(v.shape[0]), "values": int(v.size),
                         **stats(err, z, s_stat),
                         "rmse": float(np.sqrt(np.nanmean(err**2))),
                         "rate": float(np.nanmean(r["accepted"][:n_t])),
                         "rate_ideal": float(np.mean(r["accepted_exact"][:n_t]))},
           "by_observable": [{"name": n, **stats(err[:, k], z[:, k], s_stat[:, k]),
                              "systematic": None if sys is None else float(sys[k])}
                             for k, n in enumerate(r["names"])],
           "values": v.tolist(), "stderr": s.tolist(), "stderr_stat": s_stat.tolist(),
           "exact": ex.tolist(), "z": np.where(np.isfinite(z), z, None).tolist()}
    path = Path(r["run_dir"]) / ("compare-learned.json" if mitigate == "learned"
                                 else "compare.json")
    path.write_text(json.dumps(out, indent=1))
    out["path"] = str(path)
    return out


def compare_if_estimator(ledger_path: str | Path, run_id: str, mitigate: str | None = None
                         ) -> dict[str, Any] | None:
    """:func:`compare_estimator_run` if ``run_id`` is an Estimator run, else None (a Sampler
    run: :func:`hwadapt.compare.compare_run` goes on). ``mitigate``: a checked value
    (:func:`hwadapt.compare.check_mitigation`, ``None`` for none). Of the ``--mitigate`` values an
    Estimator run takes ``learned`` (with ``[calibration]`` inputs); the others act on counts
    and are refused (the Estimator's own mitigation is the spec's ``[estimator]`` options)."""
    ledger = Ledger(ledger_path, readonly=True)
    try:
        estimator = is_estimator_run(ledger, run_id)
    finally:
        ledger.close()
    if not estimator:
        return None
    if mitigate not in (None, "learned"):
        raise InputError(f"--mitigate {mitigate} applies to Sampler runs; run {run_id} is an "
                         "Estimator run: use --mitigate learned (with [calibration] inputs) "
                         "or the spec's [estimator] options")
    return compare_estimator_run(ledger_path, run_id, mitigate)
