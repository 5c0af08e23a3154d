"""QPU-time estimate of planned jobs, from the device Target's durations.

The model (what ``hwadapt submit --dry-run`` prints and ``--max-qpu-seconds`` checks)::

    job seconds  = JOB_OVERHEAD_S + Σ_pubs Σ_bindings shots × (D_circuit + rep_delay)
    run seconds  = Σ_jobs job seconds

- ``D_circuit``: the critical path of the transpiled (ISA) circuit, one shot: every
  instruction starts when all its qubits and clbits are free (as soon as possible) and lasts
  its duration in the device ``Target`` (``target[name][physical qubits].duration``; ``rz``
  is virtual, 0 s; a ``delay`` lasts its own duration; a barrier only synchronises).
  This equals the length of Qiskit's ASAP/ALAP schedule of the same circuit
  (``tests/execution/test_qpu_time.py`` checks it against ``ALAPScheduleAnalysis``).
- ``rep_delay``: the device's default delay between shots (``backend.default_rep_delay``,
  250 µs on IBM Heron/Eagle devices); :data:`REP_DELAY_S` when the backend has none.
- ``JOB_OVERHEAD_S``: a fixed per-job cost (loading the program, binding, readout transfer),
  a round guess of what IBM bills beyond the shots; IBM's own ``usage_estimation`` and the
  measured ``usage()`` are recorded in the ledger after submission to compare with.

Backends whose Target has no durations (``exact``, ideal ``aer``) get ``None``: "no durations".
"""

from __future__ import annotations

import io

import numpy as np

JOB_OVERHEAD_S = 2.0
"""Fixed seconds per job in the model (program start, data transfer)."""
REP_DELAY_S = 250e-6
"""Delay between shots when the backend does not say (IBM's default)."""

_NO_TIME = {"barrier"}


def _target(backend) -> object | None:
    """The ``Target`` of a hwadapt backend (None: none, e.g. ``exact``)."""
    dev = getattr(backend, "transpile_target", None)
    return getattr(dev, "target", None)


def has_durations(target) -> bool:
    """Whether ``target`` knows the duration of its measurement (and so of its gates)."""
    if target is None or "measure" not in target.operation_names:
        return False
    props = [p for p in target["measure"].values() if p is not None]
    return bool(props) and all(p.duration is not None for p in props)


def _op_duration(inst, qargs: tuple[int, ...], target) -> float:
    op = inst.operation
    if op.name in _NO_TIME:
        return 0.0
    if op.name == "delay":
        unit = getattr(op, "unit", "dt")
        return float(op.duration) * (target.dt if unit == "dt" else
                                     {"s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[unit])
    props = target[op.name].get(qargs) if op.name in target.operation_names else None
    if props is None or props.duration is None:
        raise ValueError(f"no duration for {op.name} on qubits {qargs} in the device Target")
    return float(props.duration)


def circuit_duration(isa, target) -> float:
    """Seconds of one shot of the ISA circuit ``isa`` on ``target``: the critical path
    (every instruction as soon as its qubits and clbits are free). Qubit ``j`` of ``isa`` is
    physical qubit ``j`` (a transpiled circuit). ``ValueError`` if a duration is missing."""
    ready: dict = {}
    end = 0.0
    for inst in isa.data:
        wires = tuple(inst.qubits) + tuple(inst.clbits)
        start = max((ready.get(w, 0.0) for w in wires), default=0.0)
        qargs = tuple(isa.find_bit(q).index for q in inst.qubits)
        stop = start + _op_duration(inst, qargs, target)
        for w in wires:
            ready[w] = stop
        end = max(end, stop)
    return end


def rep_delay(backend) -> float:
    """Seconds between shots on ``backend``'s device (:data:`REP_DELAY_S` if unknown)."""
    dev = getattr(backend, "transpile_target", None)
    value = getattr(dev, "default_rep_delay", None)
    return float(value) if value else REP_DELAY_S


def job_seconds(job: dict, durations: list[float], delay: float,
                overhead: float = JOB_OVERHEAD_S) -> float:
    """Model seconds of one planned ``job`` (``{"shots", "pubs": [{"family", "inputs"}]}``);
    ``durations[f]``: :func:`circuit_duration` of family ``f``'s circuit."""
    shots = job["shots"]
    return overhead + sum(shots * len(p["inputs"]) * (durations[p["family"]] + delay)
                          for p in job["pubs"])


def pub_bytes(circuits: list) -> list[int]:
    """QPY size in bytes of each circuit (the per-PUB part of a job's payload)."""
    from qiskit import qpy

    out = []
    for c in circuits:
        buf = io.BytesIO()
        qpy.dump(c, buf)
        out.append(len(buf.getvalue()))
    return out


def binding_bytes(values: list[np.ndarray]) -> list[int]:
    """Payload bytes per binding of each family (8 per parameter value + 16)."""
    return [8 * v.shape[1] + 16 for v in values]


def estimate(jobs: list[dict], circuits: list, backend, values: list[np.ndarray],
             payload: bool = True) -> dict:
    """What a plan costs: ``{"jobs", "pubs", "shots" (raw, all bindings), "payload_bytes"
    (None without ``payload``), "qpu_seconds" (model total, None: "no durations"),
    "job_seconds" [per job], "circuit_seconds" [per family], "rep_delay_s",
    "job_overhead_s"}``. ``circuits[f]``/``values[f]``: family ``f``'s ISA circuit and its
    bindings ``(count, P)``."""
    nbytes = None
    if payload:
        per_pub, per_binding = pub_bytes(circuits), binding_bytes(values)
        nbytes = sum(per_pub[p["family"]] + per_binding[p["family"]] * len(p["inputs"])
                     for j in jobs for p in j["pubs"])
    out = {"jobs": len(jobs), "pubs": sum(len(j["pubs"]) for j in jobs),
           "shots": sum(j["shots"] * len(p["inputs"]) for j in jobs for p in j["pubs"]),
           "payload_bytes": nbytes,
           "qpu_seconds": None, "job_seconds": None, "circuit_seconds": None,
           "rep_delay_s": None, "job_overhead_s": JOB_OVERHEAD_S}
    target = _target(backend)
    if not has_durations(target):
        return out
    durations = [circuit_duration(c, target) for c in circuits]
    delay = rep_delay(backend)
    secs = [job_seconds(j, durations, delay) for j in jobs]
    out.update(qpu_seconds=sum(secs), job_seconds=secs, circuit_seconds=durations,
               rep_delay_s=delay)
    return out
