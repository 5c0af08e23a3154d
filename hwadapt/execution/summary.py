"""What a run has so far, read from the ledger alone: shots per family and input, and the
summary ``hwadapt status`` shows. Imports neither Qiskit nor torch (``status`` stays fast)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from hwadapt.errors import InputError
from hwadapt.execution.artifacts import family_meta
from hwadapt.execution.ledger import Ledger
from hwadapt.execution.shots import stored_shots


def tally(ledger: Ledger, run_id: str, run: Any = None,
          batches: list | None = None) -> list[dict]:
    """Per family: ``raw (count,)`` shots and ``accepted (count,)`` shots over stored results,
    and ``calibration``: how many of the last rows bind calibration inputs.

    ``run``: a loaded :class:`hwadapt.execution.manager.RunData` (its ``families`` and
    ``values`` spare reading ``families.npz``), or None."""
    batches = ledger.batches(run_id) if batches is None else batches
    if run is None:
        meta, sizes = family_meta(ledger, run_id)
    else:
        meta, sizes = run.families, [len(v) for v in run.values]
    out = [{"name": m["name"], "raw": np.zeros(n, np.int64), "accepted": np.zeros(n, np.int64),
            "calibration": m.get("calibration", 0)}
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


def summary(ledger: Ledger, run_id: str) -> dict:
    """JSON-ready view of a run: status, batches by status, accepted/raw shots per family.

    A run whose folder is missing or damaged gets ``status`` ``"damaged"`` and the problem
    as ``reason`` (the ledger row is unchanged); ``driver`` names another live process
    driving the run (else None).
    """
    row = ledger.run(run_id)
    batches = ledger.batches(run_id)
    status, reason = row["status"], row["reason"]
    try:
        fams = tally(ledger, run_id, batches=batches)
    except InputError as e:
        fams, status, reason = [], "damaged", str(e)
    target = stored_shots(row["spec_text"])["target"]
    return {
        "run": run_id, "name": row["name"], "backend": row["backend"],
        "noise_from": row["noise_from"], "status": status, "reason": reason,
        "driver": ledger.driver(run_id),
        "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["created"])),
        "batches": dict(Counter(b.status for b in batches)),
        "rounds": len({b.round for b in batches}),
        "target_accepted": target,
        "families": [{"name": f["name"], "raw_shots": int(f["raw"].sum()),
                      "accepted": f["accepted"].tolist(),
                      "inputs_at_target": int((f["accepted"][:len(f["accepted"])
                                                              - f["calibration"]]
                                               >= target).sum()),
                      "calibration_inputs": f["calibration"]} for f in fams],
    }


def resolve_run(ledger_path: str | Path, run: str) -> str:
    """``run``, or with ``run == "latest"`` the id of the most recently created run (read-only
    open: never creates the ledger)."""
    if run != "latest":
        return run
    row = Ledger(ledger_path, readonly=True).db.execute(
        "SELECT id FROM runs ORDER BY created DESC LIMIT 1").fetchone()
    if row is None:
        raise InputError(f"ledger {str(ledger_path)!r} has no runs: `hwadapt submit` one first")
    return row["id"]
