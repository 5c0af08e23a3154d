"""A spec's ``[shots]`` table: how many accepted shots to aim for and the limits. A leaf
(dataclasses only), so that reading the ledger (:mod:`hwadapt.execution.summary`) needs no
spec parsing, Qiskit or torch."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass


@dataclass(frozen=True)
class ShotSpec:
    target_accepted: int = 4000
    budget: int = 2_000_000
    max_rounds: int = 4
    pilot: int = 1024
    batch_bindings: int = 0  # at most this many bindings per batch (0: no limit)


def stored_shots(text: str) -> dict:
    """Shot settings of a stored spec text: target, budget, max_rounds, pilot, batch_bindings
    (spec defaults where absent)."""
    s = tomllib.loads(text).get("shots", {})
    d = ShotSpec()
    return {"target": s.get("target_accepted", d.target_accepted),
            "budget": s.get("budget", d.budget), "max_rounds": s.get("max_rounds", d.max_rounds),
            "pilot": s.get("pilot", d.pilot),
            "batch_bindings": s.get("batch_bindings", d.batch_bindings)}
