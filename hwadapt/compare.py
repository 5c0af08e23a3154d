"""How far is a stored run from exact simulation? Metrics, ``compare.json`` and plots.

Reads what the ledger stored for a run (counts, ISA circuits, and the analysis data of
:mod:`hwadapt.execution.metadata` written at submit) and never runs the job again nor
re-parses its spec. The exact reference is linear algebra on that data: ``y = Mψ`` with
``M = Σ α_i O_i``, ``O_i = givens_matrix(n, angles_i, layout)`` (the HW-1 action of the
adapter circuits, docs/MATHS.md), so ideal per-shot probabilities are ``y_j²/‖α‖₁²``
(magnitude family) and ``(y_j + β r_j)²/(‖α‖₁ + β)²`` (signs family, uniform reference).

Metrics per input and aggregated over inputs:
- ``tvd``: total variation distance between the observed postselected distribution of the
  magnitude family and the exact ``y_j²/‖y‖²``;
- ``rel_l2``: ``‖ŷ - y‖ / ‖y‖`` of the signed estimate (aggregate: over all components);
- ``coverage_2se``: fraction of components with ``|ŷ_j - y_j| ≤ 2·stderr_j`` (≈ 0.95 when
  the error bars are honest and the device is exact);
- ``rate`` vs ``rate_ideal`` (postselection rate, Wilson 95% interval) and ``hw_discarded``
  (fraction of raw shots failing the Hamming-weight check; 0 on an ideal simulator);
- ``downstream`` (specs with MNIST inputs only): accuracy of a nearest-centroid digit
  classifier fed the estimate instead of the exact output (:mod:`hwadapt.downstream`).

Readout mitigation (``mitigate="readout"``) reuses the calibration stored in the run folder
(``readout-cals.json``) and never runs device jobs: see :func:`readout_mitigator`. Learned
mitigation and the systematic error term come from the run's calibration inputs
(:mod:`hwadapt.mitigation`), never from the targets' exact outputs.

Modes (``circuit.mode`` of the spec): ``lcu`` estimates ``y`` from the ``magnitude``/``signs``
families (``K0`` and the count folding are the construction's facts,
:mod:`hwadapt.circuits.constructions`: ``‖α‖₁``, or ``‖M‖₂`` for the dilation, whose upper
``n`` qubits are folded into "rejected"); ``separate``
estimates every ``U_i x`` from ``term<i>.*`` (``α = 1``, ``β = 1``) and combines them with
:func:`hwadapt.estimate.combine_terms` (its ``rate`` is the mean over terms, ideal 1). With
both, the first mode is the top-level result and ``by_mode`` holds each one's aggregate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from hwadapt.circuits import constructions
from hwadapt.downstream import mnist_downstream
from hwadapt.errors import InputError
from hwadapt.estimate import (
    Estimate,
    combine_terms,
    device_sign_confidence,
    estimate,
    mitigate_readout,
    tvd,
)
from hwadapt.execution.ledger import Ledger
from hwadapt.execution.manager import load_metadata, load_run, run_counts
from hwadapt.execution.metadata import RunMetadata
from hwadapt.execution.readout import measured_qubits, store_readout_calibration
from hwadapt.execution.summary import simulation_methods
from hwadapt.mitigation.crossval import calibration_systematic
from hwadapt.mitigation.runs import (
    Calibration,
    mitigated,
    readout_mitigator,
    stored_calibration,
    zne_factors,
)
from hwadapt.spec import JobSpec, run_metadata

MITIGATIONS = ("none", "readout", "learned", "learned+readout", "zne", "zne+readout")
"""``--mitigate`` values: ``learned`` needs calibration inputs in the run (``[calibration]``),
``zne`` folded circuits (``[mitigation] zne``)."""


@dataclass
class Exact:
    """Exact outputs ``y (inputs, n)`` for unit inputs ``x (inputs, n)``, the adapter's
    ``alphas``/``beta``, the first signs family's reference ``r (inputs, n)`` and every signs
    family's (``references``) of the first mode, ``M`` and ``K0`` (``K``)."""

    x: np.ndarray
    y: np.ndarray
    alphas: np.ndarray
    beta: float
    reference: np.ndarray
    M: np.ndarray
    meta: RunMetadata
    K: float  # K0 of the lcu magnitude family: ‖α‖₁ (LCU) or ‖M‖₂ (dilation)
    references: dict[str, np.ndarray]


def exact_from_metadata(meta: RunMetadata) -> Exact:
    """Exact ``y = Mψ`` for every stored input of a run (unary, HW 1)."""
    refs = meta.references[meta.modes[0]]
    return Exact(meta.x, meta.x @ meta.M.T, meta.alphas, meta.beta, refs["signs"], M=meta.M,
                 meta=meta, K=meta.K0, references=refs)


def exact_reference(spec: JobSpec) -> Exact:
    """Exact ``y = Mψ`` for every input of a :class:`hwadapt.spec.JobSpec` (unary, HW 1)."""
    return exact_from_metadata(run_metadata(spec))


def metrics(est: Estimate, y: np.ndarray, alphas: np.ndarray,
            rate_ideal: np.ndarray | None = None, signed: bool = True) -> dict[str, Any]:
    """Per-input and aggregate comparison of ``est`` with the exact outputs ``y (inputs, n)``.

    ``rate_ideal (inputs,)`` defaults to ``‖y‖²/‖α‖₁²`` (pass ``alphas=[K0]`` for a dilation).
    ``signed=False`` (no sign family was run): every metric compares magnitudes ``|ŷ|`` with
    ``|y|``, ``sign_agreement`` is ``None`` and the top-level ``compared`` says so.
    Aggregates: ``coverage_2se`` on the total error bar, ``coverage_2se_stat`` on its
    shot-noise part, ``systematic`` the σ_sys in it, ``rel_l2_magnitudes`` ``‖|ŷ|-|y|‖/‖y‖``.
    """
    K0 = float(np.abs(alphas).sum())
    exact_p = y**2 / (y**2).sum(axis=1, keepdims=True)
    mag_l2 = float(np.linalg.norm(np.abs(est.y) - np.abs(y)) / np.linalg.norm(y))
    if not signed:
        y = np.abs(y)
    err = est.y - y
    per_tvd = tvd(est.probs, exact_p)
    per_l2 = np.linalg.norm(err, axis=1) / np.linalg.norm(y, axis=1)
    inside = np.abs(err) <= 2 * est.stderr
    if rate_ideal is None:
        rate_ideal = (y**2).sum(axis=1) / K0**2
    per_input = [
        {"input": i, "tvd": float(per_tvd[i]), "rel_l2": float(per_l2[i]),
         "coverage_2se": float(inside[i].mean()), "rate": float(est.rate[i]),
         "rate_interval": est.rate_interval[i].tolist(), "rate_ideal": float(rate_ideal[i]),
         "hw_discarded": float(est.hw_discarded[i]),
         "min_sign_confidence": float(est.sign_confidence[i].min())}
        for i in range(len(y))
    ]
    aggregate = {
        "inputs": len(y), "components": int(y.size),
        "tvd": float(per_tvd.mean()), "tvd_max": float(per_tvd.max()),
        "rel_l2": float(np.linalg.norm(err) / np.linalg.norm(y)),
        "rel_l2_magnitudes": mag_l2,
        "coverage_2se": float(inside.mean()),
        "coverage_2se_stat": float(np.mean(np.abs(err) <= 2 * est.shot_stderr)),
        "systematic": float(est.systematic),
        "sign_agreement": float(np.mean(np.sign(est.y) == np.sign(y))) if signed else None,
        "rate": float(est.rate.mean()), "rate_ideal": float(rate_ideal.mean()),
        "hw_discarded": float(est.hw_discarded.mean()),
    }
    compared = "signed values" if signed else \
        "magnitudes only: the run has no sign family, so signs were never measured"
    return {"aggregate": aggregate, "per_input": per_input, "compared": compared}


def check_mitigation(mitigate: str | None) -> str | None:
    """``mitigate`` normalised (``"none"`` → ``None``); one-line error if unknown."""
    if mitigate is not None and mitigate not in MITIGATIONS:
        raise InputError(f"unknown mitigation {mitigate!r}: use one of "
                         f"{', '.join(MITIGATIONS)} or leave it out")
    return None if mitigate == "none" else mitigate


def run_estimates(ledger_path: str | Path, run_id: str, mitigate: str | None = None
                  ) -> tuple[dict[str, Estimate], Exact, dict]:
    """One :class:`Estimate` per mode of the run (spec order), the exact reference, and run
    facts (``facts["mitigation"]``: what the learned/systematic step did). Reads the run's
    stored analysis data, never its spec."""
    mitigate = check_mitigation(mitigate)
    ledger = Ledger(ledger_path, readonly=True)
    row = ledger.run(run_id)
    meta = load_metadata(ledger, run_id)
    if meta is None:
        raise InputError(f"run {run_id} has no stored analysis data (a run of ready-made "
                         "families, or stored by an older hwadapt): submit its spec again")
    if meta.encoding != "unary":
        raise InputError(f"compare supports unary encodings, run {run_id} has "
                         f"{meta.encoding!r}")
    ex = exact_from_metadata(meta)
    counts = run_counts(ledger_path, run_id)
    n_in = len(ex.y)
    cal = stored_calibration(ledger, run_id, meta)
    unmeasured = cal is not None and any(not c for v in counts.values() for c in v[n_in:])
    if unmeasured:  # e.g. cancelled before its calibration rows ran: compare without them
        cal = None
    if mitigate and "learned" in mitigate and cal is None:
        if unmeasured:
            raise InputError(f"--mitigate {mitigate} needs measured calibration inputs, and "
                             f"run {run_id}'s have no counts (not run, or not fetched yet): "
                             f"`hwadapt fetch {run_id}`, or submit the spec again")
        raise InputError(f"--mitigate {mitigate} needs calibration inputs, and run {run_id} "
                         "has none: add a [calibration] table to the spec and submit again")
    zne = zne_factors(counts)
    if mitigate and "zne" in mitigate and not zne:
        raise InputError(f"--mitigate {mitigate} needs folded circuits, and run {run_id} has "
                         "none: add `[mitigation] zne = { factors = [1, 3] }` to the spec and "
                         "submit again")
    mags = [k for k in counts if k.endswith("magnitude")]
    if not mags or any(not c for k in mags for c in counts[k][:n_in]):
        if row["status"] != "active":  # cancelled/failed/done: nothing more will come
            raise InputError(f"run {run_id} is {row['status']} and some inputs have no "
                             "magnitude counts: nothing to compare; submit the spec again")
        raise InputError(f"run {run_id} has no stored magnitude counts yet: `hwadapt fetch "
                         f"{run_id}` or `hwadapt resume {run_id}` first")
    for k in [k for k in counts if k.rsplit(".", 1)[-1].rstrip("0123456789") == "signs"]:
        if any(not c for c in counts[k][:n_in]):
            counts.pop(k)
    readout = None
    if mitigate and "readout" in mitigate:
        run = load_run(ledger, run_id)
        names = [f["name"] for f in run.families]
        measured = {name: measured_qubits(c) for name, c in zip(names, run.circuits,
                                                                  strict=True)}
        m3, where = readout_mitigator(run, sorted({q for v in measured.values() for q in v}))
        readout = "mthree" if m3 is not None else \
            f"not applied: {row['backend']} has no readout errors"
        if m3 is not None:
            counts = {name: [mitigate_readout(c, m3, [where[q] for q in measured[name]])
                             for c in lst] for name, lst in counts.items()}
    n, fold = meta.n, constructions.get(meta.construction).fold_counts
    cal_counts = {k: v[n_in:] for k, v in counts.items()}
    counts = {k: v[:n_in] for k, v in counts.items()}
    ests, mitigation = {}, {"method": mitigate or "none"}
    signed = any(k.rsplit(".", 1)[-1].startswith("signs") for k in counts)
    for mode in meta.modes:
        if mode == "lcu":
            refs = meta.references["lcu"]

            def lcu_rows(rows: dict, refs: dict = refs) -> dict:
                """The lcu families' rows (ZNE copies included), folded as the construction
                says."""
                return {k: [fold(c, n) for c in v] for k, v in rows.items()
                        if k.split("@")[0] in ("magnitude", *refs)}

            lcu = lcu_rows(counts)
            est = estimate({k: v for k, v in lcu.items() if "@" not in k}, n=n,
                           alphas=[ex.K], beta=ex.beta, reference=refs)
            use_zne = bool(mitigate and "zne" in mitigate)
            if cal is not None or use_zne:
                est, mitigation = mitigated(est, lcu, lcu_rows(cal_counts), cal, ex, refs,
                                             seed=row["seed"],
                                             learned=bool(mitigate and "learned" in mitigate),
                                             zne=zne if use_zne else [1])
            ests[mode] = est
        else:
            ests[mode] = _separate_estimate(counts, n, ex)
            if cal is not None:  # the same held-out bias term as the lcu bars carry
                ests[mode] = _with_systematic(ests[mode], _separate_estimate(
                    cal_counts, n, ex, _separate_reference(meta, cal.x)), cal.x @ ex.M.T,
                    signed)
    if cal is not None:  # a measured device-bias term: the signs' confidence carries it too
        ests = {m: replace(e, sign_confidence=device_sign_confidence(e)) for m, e in ests.items()}
    facts = {"run": run_id, "name": row["name"], "backend": row["backend"],
             "noise_from": row["noise_from"], "families": sorted(counts),
             "simulated_with": simulation_methods(ledger, run_id),
             "construction": meta.construction, "modes": list(meta.modes),
             "mitigate": mitigate,
             "mitigation": mitigation | ({"readout": readout} if readout else {}),
             "signed": signed,
             "run_dir": str(ledger.runs_dir / run_id),
             "calibration_unmeasured": unmeasured}
    return ests, ex, facts


def _separate_reference(meta: RunMetadata, x: np.ndarray) -> dict[str, np.ndarray]:
    """The separate mode's sign references ``{family: r (count, n)}`` for inputs ``x`` (the
    kinds the construction declares, for the families the run stored: the targets' are
    stored, the calibration inputs' derived here; a run from before ``signs1`` has one)."""
    from hwadapt.circuits.signs import reference_vector

    kinds = constructions.get(meta.construction).sign_families(len(meta.alphas), "separate")
    return {f: reference_vector(kinds[f], x, meta.layout) for f in meta.references["separate"]}


def _with_systematic(est: Estimate, cal_est: Estimate, y_cal: np.ndarray, signed: bool
                     ) -> Estimate:
    """``est`` with the systematic term of ``cal_est`` on the calibration inputs (exact
    outputs ``y_cal``, :func:`~hwadapt.mitigation.crossval.calibration_systematic`) added in
    quadrature, as the unmitigated lcu bars get it."""
    sys = calibration_systematic(cal_est.y, cal_est.stderr, cal_est.sign_confidence, y_cal,
                                 signed)
    return replace(est, stderr=np.sqrt(est.stderr**2 + sys**2), stderr_stat=est.stderr,
                   systematic=sys)


def _separate_estimate(counts: dict, n: int, ex: Exact,
                       reference: dict[str, np.ndarray] | None = None) -> Estimate:
    """Separate mode: per-term estimates (α = 1, β = 1) combined with ``combine_terms``;
    ``rate``/``hw_discarded`` are means over terms, ``sign_confidence`` the minimum.
    ``reference``: per sign family (``signs``, ``signs1``, …) the reference of the counts'
    inputs (default: the targets', stored with the run)."""
    ref = ex.meta.references["separate"] if reference is None else reference
    terms = []
    for i in range(len(ex.alphas)):
        fam = {k: counts[f"term{i}.{k}"] for k in ("magnitude", *ref)
               if f"term{i}.{k}" in counts}
        terms.append(estimate(fam, n=n, alphas=[1.0], beta=1.0,
                              reference={k: ref[k] for k in fam if k != "magnitude"}))
    y, se = combine_terms(terms, ex.alphas)
    p = y**2 / np.maximum((y**2).sum(axis=1, keepdims=True), 1e-300)
    return Estimate(
        y=y, stderr=se, rate=np.mean([t.rate for t in terms], axis=0),
        rate_interval=np.mean([t.rate_interval for t in terms], axis=0),
        hw_discarded=np.mean([t.hw_discarded for t in terms], axis=0),
        sign_confidence=np.min([t.sign_confidence for t in terms], axis=0), probs=p,
        shots={f"term{i}.{k}": v for i, t in enumerate(terms) for k, v in t.shots.items()})


def _mode_metrics(mode: str, est: Estimate, ex: Exact, signed: bool = True) -> dict[str, Any]:
    ideal = np.ones(len(ex.y)) if mode == "separate" else None
    return metrics(est, ex.y, np.array([ex.K]), rate_ideal=ideal, signed=signed)


def compare_run(ledger_path: str | Path, run_id: str, mitigate: str | None = None,
                plot: bool = False) -> dict[str, Any]:
    """Metrics of a stored run vs exact; writes ``<runs dir>/<run>/compare[-readout].json``
    (and PNGs with ``plot``); returns the written dict. ``error_bars`` says what the ±
    covers; ``aggregate.systematic`` is None when no calibration inputs measured it. An
    Estimator run: :func:`hwadapt.expectations.compare_estimator_run` (no ``mitigate``)."""
    from hwadapt.expectations import compare_if_estimator

    mitigate = check_mitigation(mitigate)  # an unknown value is one line on either kind
    if (out := compare_if_estimator(ledger_path, run_id, mitigate)) is not None:
        return out
    ests, ex, facts = run_estimates(ledger_path, run_id, mitigate)
    mitigate = facts["mitigate"]
    mode, est = next(iter(ests.items()))
    out = {**facts, **_mode_metrics(mode, est, ex, facts["signed"]),
           "estimate": {"y": est.y.tolist(), "stderr": est.stderr.tolist(),
                        "sign_confidence": est.sign_confidence.tolist()},
           "exact": {"y": ex.y.tolist(), "beta": ex.beta}}
    if "calibration_inputs" in facts["mitigation"]:
        out["error_bars"] = ("total: shot noise (bootstrap) and a systematic term "
                             "cross-validated on the run's calibration inputs")
        out["sign_confidence"] = ("the shot-noise posterior of each reported sign, capped by "
                                  "Φ(|ŷ|/σ_total): it covers the systematic term too")
    else:  # nothing measured the device's bias: say so instead of reporting 0
        out["aggregate"]["systematic"] = None
        why = ("its [calibration] inputs have no counts (not run, or not fetched yet)"
               if facts["calibration_unmeasured"] else "the run has no [calibration] inputs")
        out["error_bars"] = (f"shot noise only: {why}, so device bias is not in the ± (add "
                             "a [calibration] table to the spec and submit again)")
        out["sign_confidence"] = "shot noise only (the posterior of each reported sign)"
    if ex.meta.inputs["source"] == "mnist":
        out["downstream"] = mnist_downstream(ex.meta.inputs["seed"], ex.M, ex.y, est.y)
    if len(ests) > 1:  # lcu and separate side by side
        out["by_mode"] = {m: {**_mode_metrics(m, e, ex, facts["signed"])["aggregate"],
                              "y": e.y.tolist(),
                              "stderr": e.stderr.tolist()} for m, e in ests.items()}
        if out["aggregate"]["systematic"] is None:  # not measured for any mode
            for v in out["by_mode"].values():
                v["systematic"] = None
    run_dir = Path(facts["run_dir"])
    suffix = f"-{mitigate.replace('+', '-')}" if mitigate else ""
    if plot:
        out["plots"] = [str(plot_estimates(est, ex.y, run_dir / f"estimate-vs-exact{suffix}.png",
                                           title=f"{run_id} ({facts['backend']}"
                                                 f"{', ' + mitigate if mitigate else ''})",
                                           signed=facts["signed"]))]
    path = run_dir / f"compare{suffix}.json"
    path.write_text(json.dumps(out, indent=1))
    out["path"] = str(path)
    return out


def plot_estimates(est: Estimate, y: np.ndarray, path: Path, title: str = "",
                   signed: bool = True) -> Path:
    """Scatter of estimate vs exact with 2·stderr error bars, plus the first inputs' profiles.
    ``signed=False`` (no sign family ran, signs reported +): magnitudes ``|y|``, as the
    metrics compare them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not signed:
        y = np.abs(y)
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 4.5))
    lim = 1.05 * max(np.abs(y).max(), np.abs(est.y).max())
    a0.errorbar(y.ravel(), est.y.ravel(), yerr=2 * est.stderr.ravel(), fmt=".", ms=3,
                elinewidth=0.6, alpha=0.7)
    lo = -lim if signed else 0.0
    a0.plot([lo, lim], [lo, lim], "k--", lw=0.8)
    mag = "" if signed else "|"
    a0.set(xlabel=f"exact {mag}y_j{mag}", ylabel=f"estimate {mag}ŷ_j{mag} (±2 se)",
           xlim=(lo, lim), ylim=(lo, lim),
           title=title + ("" if signed else " — magnitudes: no sign family ran"))
    n = y.shape[1]
    for i in range(min(3, len(y))):
        line = a1.plot(np.arange(n), y[i], "-", lw=1, label=f"exact, input {i}")[0]
        a1.errorbar(np.arange(n), est.y[i], yerr=2 * est.stderr[i], fmt="o", ms=3,
                    color=line.get_color(), label=f"estimate, input {i}")
    a1.set(xlabel="component j", ylabel=f"{mag}y_j{mag}")
    a1.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


__all__ = ["MITIGATIONS", "Calibration", "Exact", "check_mitigation", "compare_run",
           "exact_from_metadata", "exact_reference", "metrics", "plot_estimates",
           "readout_mitigator", "run_estimates", "store_readout_calibration",
           "stored_calibration"]
