"""What compare needs beyond counts to mitigate a stored run: its readout calibration
(mthree, :func:`readout_mitigator`), its calibration inputs (:func:`stored_calibration`) and
the mitigated estimate of its lcu families (:func:`mitigated`: learned response map, ZNE,
systematic term; :func:`hwadapt.mitigation.learned.learned_estimate`). Never the targets'
exact answers."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from hwadapt.errors import InputError
from hwadapt.estimate import Estimate, kept_fractions, signed_estimate, tally
from hwadapt.execution.artifacts import artifact
from hwadapt.execution.ledger import Ledger
from hwadapt.execution.metadata import RunMetadata
from hwadapt.execution.readout import CAL_SHOTS, READOUT_CALS, store_readout_calibration
from hwadapt.mitigation.learned import Observed, learned_estimate, zne_observed


def _stored_mitigator(path: Path, qubits: list[int]):
    import mthree

    phys = json.loads(path.read_text()).get("physical_qubits", [])
    if not set(qubits) <= set(phys):
        return None, {}
    m3 = mthree.M3Mitigation()
    m3.cals_from_file(str(path))
    return m3, {q: j for j, q in enumerate(phys)}


def readout_mitigator(run, qubits: list[int]):
    """mthree mitigator for the run's backend on the measured physical ``qubits``; returns
    ``(m3, index map physical -> calibrated qubit)`` (``(None, {})`` on ideal backends).

    Reuses ``<run dir>/readout-cals.json`` when it covers ``qubits``. Otherwise ``aer_noisy``
    and ``fake_<device>`` (Qiskit Runtime local mode: the device's noise model simulated
    here) calibrate locally, on the run's restricted (and, for ``aer_noisy``, scaled) noise
    model, seeded by the spec seed, and store the result; ``ibm_<device>`` would need a new
    device job, so a calibration must be stored for it first
    (:func:`store_readout_calibration`).
    """
    b = run.backend
    if not b.readout_noise:
        return None, {}
    path = Path(run.run_dir) / READOUT_CALS
    if path.is_file():
        m3, where = _stored_mitigator(path, qubits)
        if m3 is not None:
            return m3, where
    phys = tuple(sorted(set(qubits)))
    m3 = b.calibrate_readout(phys, run.spec_seed, CAL_SHOTS)
    if m3 is not None:
        store_readout_calibration(run.run_dir, m3, list(phys))
        return m3, {q: j for j, q in enumerate(phys)}
    raise InputError(f"--mitigate readout needs a readout calibration of run {run.run_id}'s "
                     f"qubits {sorted(set(qubits))} on {b.name!r}, and taking one now would be "
                     f"a new device job: store one as {str(path)!r} "
                     "(hwadapt.compare.store_readout_calibration), or drop --mitigate")


@dataclass
class Calibration:
    """A run's calibration rows: inputs ``x (m, n)``, per family the exact kept
    probabilities ``exact[name] (m, c)`` (exact simulator, stored at submit) and the sign
    references on ``x``."""

    x: np.ndarray
    exact: dict[str, np.ndarray]
    references: dict[str, np.ndarray]  # lcu signs family -> r (m, n) on the inputs x


def stored_calibration(ledger: Ledger, run_id: str, meta: RunMetadata) -> Calibration | None:
    """The run's calibration (checksum-verified ``families.npz``, read once), ``None``
    without one."""
    with np.load(artifact(ledger, run_id, "families.npz")) as z:
        if "calibration_x" not in z:
            return None
        fams = json.loads(str(z["meta"]))
        return Calibration(z["calibration_x"],
                           {m["name"]: z[f"exact{j}"] for j, m in enumerate(fams)},
                           meta.calibration_references or {})


def zne_factors(counts: dict) -> list[int]:
    """Fold factors of a run's ZNE families (``name@zne<k>``), ``[]`` without any."""
    ks = sorted({int(k.rsplit("@zne", 1)[1]) for k in counts if "@zne" in k})
    return [1, *ks] if ks else []


def mitigated(est: Estimate, counts: dict, cal_counts: dict, cal: Calibration | None,
              ex: Any, refs: dict, seed: int, learned: bool, zne: list[int]
              ) -> tuple[Estimate, dict]:
    """``est`` with the calibration's systematic term, and (``learned``) the response map or
    (``zne`` factors beyond 1) zero-noise extrapolation of every family's kept fractions:
    :func:`hwadapt.mitigation.learned.learned_estimate`. ``counts``/``cal_counts``: the lcu
    families' target and calibration rows, folded copies included. Uses the calibration
    inputs' exact outputs, never the targets'."""
    n = ex.meta.n
    names = [k for k in counts if "@" not in k]

    def observed(rows: dict, references: dict, k: int) -> Observed:
        at = {f: rows[f if k == 1 else f"{f}@zne{k}"] for f in names}
        pd = {f: kept_fractions([tally(c, n) for c in v]) for f, v in at.items()}
        return Observed({f: v[0] for f, v in pd.items()}, {f: v[1] for f, v in pd.items()},
                        {f: references[f] for f in names if f in references})

    def combined(rows: dict, references: dict) -> Observed:
        obs = [observed(rows, references, k) for k in zne]
        return zne_observed(obs, zne) if len(zne) > 1 else obs[0]

    targets = combined(counts, refs)
    info = {"zne_factors": zne} if len(zne) > 1 else {}
    if cal is None:  # ZNE alone: shot-noise error bars, no systematic term to measure
        y, se, conf = signed_estimate(targets.p, targets.D, K0=ex.K, beta=ex.beta,
                                      references=targets.refs)
        p = np.clip(targets.p["magnitude"], 0, None)
        return replace(est, y=y, stderr=se, sign_confidence=conf,
                       probs=p / np.maximum(p.sum(axis=1, keepdims=True), 1e-300)), \
            {"method": "zne", **info}
    cal_refs = {f: cal.references[f] for f in refs}
    res = learned_estimate(targets, combined(cal_counts, cal_refs),
                           {k: cal.exact[k] for k in names}, cal.x @ ex.M.T,
                           K0=ex.K, beta=ex.beta, mitigate=learned, seed=seed)
    if len(zne) > 1:
        res.info["method"] = f"zne+{res.info['method']}" if learned else "zne"
    return replace(est, y=res.y, stderr=res.stderr, stderr_stat=res.stderr_stat,
                   systematic=res.systematic, sign_confidence=res.sign_confidence,
                   probs=res.probs), {**res.info, **info}


__all__ = ["Calibration", "mitigated", "readout_mitigator", "stored_calibration", "zne_factors"]
