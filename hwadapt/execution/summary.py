"""What a run has so far, read from the ledger alone: shots per family and input, and the
summary ``hwadapt status`` shows. Imports neither Qiskit nor torch, nor numpy for the summary
(``status`` stays fast: :func:`tally`'s arrays are built from :func:`tally_lists`)."""

from __future__ import annotations

import json
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

from hwadapt.errors import InputError
from hwadapt.execution.artifacts import family_meta
from hwadapt.execution.ledger import Ledger
from hwadapt.execution.shots import stored_shots
from hwadapt.execution.usage import modes, run_usage


def tally(ledger: Ledger, run_id: str, run: Any = None,
          batches: list | None = None) -> list[dict]:
    """Per family: ``raw (count,)`` shots and ``accepted (count,)`` shots over stored results,
    and ``calibration``: how many of the last rows bind calibration inputs.

    ``run``: a loaded :class:`hwadapt.execution.manager.RunData` (its ``families`` and
    ``values`` spare reading ``families.npz``), or None."""
    import numpy as np  # the summary (status) needs none: tally_lists

    return [{**f, "raw": np.asarray(f["raw"], np.int64),
             "accepted": np.asarray(f["accepted"], np.int64)}
            for f in tally_lists(ledger, run_id, run, batches)]


def tally_lists(ledger: Ledger, run_id: str, run: Any = None,
                batches: list | None = None) -> list[dict]:
    """:func:`tally` with Python lists of ints for ``raw`` and ``accepted``."""
    batches = ledger.batches(run_id) if batches is None else batches
    if run is None:
        meta, sizes = family_meta(ledger, run_id)
    else:
        meta, sizes = run.families, [len(v) for v in run.values]
    out = [{"name": m["name"], "raw": [0] * n, "accepted": [0] * n,
            "calibration": m.get("calibration", 0)}
           for m, n in zip(meta, sizes, strict=True)]
    for b in batches:
        row = ledger.result(b.id)
        if row is None:
            continue
        for p in json.loads(row["summary"])["pubs"]:
            fam = out[p["family"]]
            for i, a in zip(p["inputs"], p["accepted"], strict=True):
                fam["raw"][i] += p["shots"]
                fam["accepted"][i] += int(a)
    return out


def simulation_methods(ledger: Ledger, run_id: str, batches: list | None = None) -> list[str]:
    """The Aer methods that simulated the run's stored results (sorted; empty for runs on
    devices and on backends that do not record one), from each pub's ``aer_method``."""
    batches = ledger.batches(run_id) if batches is None else batches
    rows = (ledger.result(b.id) for b in batches)
    return sorted({p["aer_method"] for r in rows if r is not None
                   for p in json.loads(r["summary"])["pubs"] if p.get("aer_method")})


def summary(ledger: Ledger, run_id: str) -> dict:
    """JSON-ready view of a run: status, batches by status, accepted/raw shots per family.

    ``qpu_seconds``: estimated (model), IBM-estimated and used QPU seconds
    (:func:`hwadapt.execution.usage.run_usage`); ``modes``: the Runtime Batch/Session ids the
    run used (:func:`hwadapt.execution.usage.modes`). A run whose folder is missing or damaged
    gets ``status`` ``"damaged"`` and the problem as ``reason`` (the ledger row is
    unchanged); ``driver`` names another live process driving the run (else None).
    """
    row = ledger.run(run_id)
    batches = ledger.batches(run_id)
    status, reason = row["status"], row["reason"]
    try:
        fams = tally_lists(ledger, run_id, batches=batches)
    except InputError as e:
        fams, status, reason = [], "damaged", str(e)
    # an Estimator run ([observables]) has no accepted-shots target: its shots are fixed
    target = None if "observables" in tomllib.loads(row["spec_text"]) else \
        stored_shots(row["spec_text"])["target"]
    return {
        "run": run_id, "name": row["name"], "backend": row["backend"],
        "noise_from": row["noise_from"], "status": status, "reason": reason,
        "driver": ledger.driver(run_id),
        "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["created"])),
        "batches": dict(Counter(b.status for b in batches)),
        "rounds": len({b.round for b in batches}),
        "target_accepted": target,
        "simulated_with": simulation_methods(ledger, run_id, batches),
        "qpu_seconds": run_usage(ledger, run_id),
        "modes": modes(ledger, run_id),
        "families": [{"name": f["name"], "raw_shots": sum(f["raw"]),
                      "accepted": f["accepted"],
                      "inputs_at_target": None if target is None else sum(
                          a >= target for a in f["accepted"][
                              :len(f["accepted"]) - f["calibration"]]),
                      "calibration_inputs": f["calibration"]} for f in fams],
    }


def resolve_run(ledger_path: str | Path, run: str) -> str:
    """The run id ``run`` names (read-only open: never creates the ledger): ``"latest"``,
    the most recently created run; a full id; or, like git's and docker's short ids, a
    unique prefix of one (``20261206-1738``) or its random tag (``30ee5a``, the part after
    the last ``-``). Anything else is returned as it is, for the caller's "no run" error; a
    short id that matches several runs is an :class:`InputError` listing them."""
    db = Ledger(ledger_path, readonly=True).db
    if run == "latest":
        row = db.execute("SELECT id FROM runs ORDER BY created DESC LIMIT 1").fetchone()
        if row is None:
            raise InputError(f"ledger {str(ledger_path)!r} has no runs: `hwadapt submit` one "
                             "first")
        return row["id"]
    if not run or db.execute("SELECT 1 FROM runs WHERE id = ?", (run,)).fetchone():
        return run
    ids = [r["id"] for r in db.execute("SELECT id FROM runs ORDER BY created, id")]
    hits = [i for i in ids if i.startswith(run)] or \
        [i for i in ids if i.rsplit("-", 1)[-1].startswith(run)]
    if len(hits) > 1:
        shown = ", ".join(hits[:5]) + (f" and {len(hits) - 5} more" if len(hits) > 5 else "")
        raise InputError(f"run {run!r} is ambiguous: it matches {len(hits)} runs ({shown}); "
                         "give more of the id")
    return hits[0] if hits else run
