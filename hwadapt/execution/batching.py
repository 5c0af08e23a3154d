"""Planning: raw shots per (family, input) from acceptance rates, then PUBs and jobs.

A *PUB* is one family circuit with a block of its input bindings at one shot count; a *job*
(batch) holds PUBs of ONE shot count (mixed shots per job are unsupported by Runtime), at
most ``max_executions`` executions (bindings x shots; IBM says 10M, we plan for 5M) and an
estimated payload under ``max_payload`` bytes. Shot counts are rounded up to a coarse grid
so inputs share PUBs. Rounds: the first from exact acceptance rates (or a pilot when none),
then top-ups from the observed rates until every input has its accepted-shot target, the
budget is spent or ``max_rounds`` is reached.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_EXECUTIONS = 5_000_000
MAX_PAYLOAD = 48 * 2**20  # bytes; IBM's limit is ~64 MB (error 5302)
SAFETY = 1.1  # ask for 10% more raw shots than the expected rate needs
MIN_SHOTS = 64


@dataclass(frozen=True)
class Limits:
    """Per-job limits the planner respects."""

    max_executions: int = MAX_EXECUTIONS
    max_payload: int = MAX_PAYLOAD
    max_bindings: int = 0  # bindings per job at most (0: no limit); spec [shots] batch_bindings


def round_shots(shots: int) -> int:
    """Round up to the grid {4,5,6,7}·2^k (≤ 25% more), at least :data:`MIN_SHOTS`."""
    shots = max(int(shots), MIN_SHOTS)
    k = max(shots.bit_length() - 3, 0)
    return -(-shots // 2**k) * 2**k


def floor_shots(shots: int) -> int:
    """Round down to the grid of :func:`round_shots` (≤ 20% less), at least
    :data:`MIN_SHOTS`: a count that :func:`round_shots` keeps as it is."""
    shots = max(int(shots), MIN_SHOTS)
    k = max(shots.bit_length() - 3, 0)
    return shots // 2**k * 2**k


def first_round_shots(rates: np.ndarray | None, target: int, pilot: int, count: int
                      ) -> np.ndarray:
    """Raw shots ``(count,)`` per input for the first round of one family.

    With exact acceptance ``rates (count,)``: ``ceil(SAFETY·target / rate)``; inputs with a
    zero rate (or no rates at all: a pilot round) get ``pilot`` shots.
    """
    if rates is None:
        return np.full(count, pilot, dtype=np.int64)
    rates = np.asarray(rates, dtype=float)
    out = np.full(count, pilot, dtype=np.int64)
    ok = rates > 1e-9
    out[ok] = np.ceil(SAFETY * target / rates[ok]).astype(np.int64)
    return out


def topup_shots(accepted: np.ndarray, raw: np.ndarray, target: int) -> np.ndarray:
    """Extra raw shots per input to reach ``target`` accepted, from the observed rates.

    The rate estimate ``(accepted+1)/(raw+2)`` never divides by zero; inputs already at the
    target get 0.
    """
    accepted, raw = np.asarray(accepted), np.asarray(raw)
    missing = np.maximum(target - accepted, 0)
    rate = (accepted + 1) / (raw + 2)
    need = np.ceil(SAFETY * missing / rate).astype(np.int64)
    return np.where(missing > 0, np.maximum(need, MIN_SHOTS), 0)


def fit_budget(shots: list[np.ndarray], remaining: int, fixed: list[int] | None = None
               ) -> list[np.ndarray]:
    """Scale raw shots down proportionally so their sum (after rounding) ≤ ``remaining``.

    ``fixed[f]``: the last ``fixed[f]`` rows of family ``f`` (its calibration rows: their
    shot count is the spec's, and a row scaled below :data:`MIN_SHOTS` would drop out) are
    kept as they are and the other rows share what they leave, unless the fixed rows alone
    exceed ``remaining`` (then every row is scaled)."""
    def total(arrs: list[np.ndarray]) -> int:
        return sum(int(round_shots(s)) for arr in arrs for s in arr if s > 0)

    if total(shots) <= remaining:
        return shots
    keep = [np.arange(len(a)) >= len(a) - k for a, k in
            zip(shots, fixed or [0] * len(shots), strict=True)]
    kept = total([a[m] for a, m in zip(shots, keep, strict=True)])
    if kept > remaining:
        keep, kept = [np.zeros(len(a), dtype=bool) for a in shots], 0
    free = remaining - kept
    scale = free / max(total([a[~m] for a, m in zip(shots, keep, strict=True)]), 1)
    out = []
    for arr, m in zip(shots, keep, strict=True):
        scaled = np.floor(arr * scale).astype(np.int64)
        # after rounding up to the grid the sum may exceed again: drop to the grid below
        out.append(np.where(m, arr, np.where(scaled >= MIN_SHOTS, scaled, 0)))
    while total([a[~m] for a, m in zip(out, keep, strict=True)]) > free:
        out = [np.where(m, a, np.where(a * 7 // 8 >= MIN_SHOTS, a * 7 // 8, 0))
               for a, m in zip(out, keep, strict=True)]
    return out


def plan_jobs(shots: list[np.ndarray], payload_per_pub: list[int],
              payload_per_binding: list[int], limits: Limits = Limits()) -> list[dict]:
    """Turn raw shots per (family f, input i) into jobs.

    ``shots[f] (count_f,)`` (0 = nothing to run), ``payload_per_pub[f]`` bytes of the circuit,
    ``payload_per_binding[f]`` bytes per binding. Returns ``[{"shots": s, "pubs": [{"family":
    f, "inputs": [i, ...]}, ...]}, ...]`` in a deterministic order; every job has one shot
    count, ≤ ``max_executions`` executions and ≤ ``max_payload`` estimated bytes.
    """
    groups: dict[int, list[tuple[int, int]]] = {}
    for f, arr in enumerate(shots):
        for i, s in enumerate(arr):
            if s > 0:
                s = min(round_shots(int(s)), limits.max_executions)
                groups.setdefault(s, []).append((f, i))
    jobs = []
    for s in sorted(groups):
        job: dict = {"shots": s, "pubs": []}
        execs = payload = 0
        for f, i in groups[s]:
            pub = job["pubs"][-1] if job["pubs"] else None
            new_pub = pub is None or pub["family"] != f
            extra = payload_per_binding[f] + (payload_per_pub[f] if new_pub else 0)
            full = execs + s > limits.max_executions or payload + extra > limits.max_payload \
                or 0 < limits.max_bindings <= execs // s
            if job["pubs"] and full:
                jobs.append(job)
                job, execs, payload = {"shots": s, "pubs": []}, 0, 0
                new_pub = True
                extra = payload_per_binding[f] + payload_per_pub[f]
            if new_pub:
                job["pubs"].append({"family": f, "inputs": []})
            job["pubs"][-1]["inputs"].append(i)
            execs += s
            payload += extra
        jobs.append(job)
    return jobs


def batch_seed(seed: int, idx: int) -> int:
    """Deterministic simulator seed of batch ``idx`` of a run seeded ``seed``."""
    return int(np.random.SeedSequence([seed, idx]).generate_state(1, np.uint32)[0])


def executions(job: dict) -> int:
    """Bindings x shots of a planned job."""
    return job["shots"] * sum(len(p["inputs"]) for p in job["pubs"])


def expected_total(shots: list[np.ndarray]) -> int:
    """Raw shots after grid rounding (what the planned jobs will spend)."""
    return sum(round_shots(int(s)) for arr in shots for s in arr if s > 0)

