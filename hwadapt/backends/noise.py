"""Device noise for local simulation: a fake device's noise model restricted to the qubits a
circuit uses (:func:`restricted_noise_model`), scaled ``f×`` for noise sweeps.

A noise source is written ``fake_<device>`` (its errors as reported, ``1×``) or
``fake_<device>@<f>`` (``f×``, e.g. ``fake_torino@0.5``); that string is what ``aer_noisy``'s
``--noise-from`` takes and what the ledger stores, so a scaled run resumes with the same noise.

Scaling a :class:`qiskit.transpiler.Target` by ``f`` (what Aer's ``NoiseModel.from_backend``
reads, docs/QISKIT_FACTS.md):
- every instruction's ``error`` (gate infidelity ``1 - F_avg``; for ``measure`` the symmetric
  readout flip probability) is multiplied by ``f`` and capped at the fully random point:
  ``d/(d+1)`` for a gate on ``d = 2^q`` levels (the largest average infidelity a channel can
  have) and ``0.5`` for readout (the outcome no longer depends on the state);
- the device's asymmetric readout ``p(1|0), p(0|1)`` (what ``aer_noisy`` and Runtime local
  mode use, :func:`restricted_noise_model`) is scaled the same way by
  :func:`scale_readout`: both × ``f``, their sum capped at 1 (the fully random point);
- ``T1`` and ``T2`` are divided by ``f`` (``f = 0``: ``None``, no relaxation);
- durations, ``dt`` and qubit frequencies are unchanged.
``f = 0`` is the ideal device, ``f = 1`` returns an equal copy.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from functools import cache

from hwadapt.backends.devices import cached_pickle, device_data, device_key, target_backend
from hwadapt.errors import InputError

READOUT_ERROR_MAX = 0.5


def parse_noise_source(text: str) -> tuple[str, float]:
    """``"fake_torino@0.5"`` → ``("fake_torino", 0.5)``; no ``@`` means scale 1."""
    device, at, factor = text.partition("@")
    if not at:
        return device, 1.0
    try:
        scale = float(factor)
    except ValueError:
        scale = math.nan
    if not math.isfinite(scale) or scale < 0:
        raise InputError(f"noise source {text!r}: the scale after '@' must be a finite number "
                         ">= 0, e.g. fake_torino@0.5")
    return device, scale


def noise_source(device: str, scale: float) -> str:
    """Inverse of :func:`parse_noise_source`: ``("fake_torino", 0.5)`` → ``"fake_torino@0.5"``."""
    return f"{device}@{scale:g}"


def _capped(error: float | None, num_qubits: int, measure: bool, factor: float) -> float | None:
    if error is None:
        return None
    cap = READOUT_ERROR_MAX if measure else 2**num_qubits / (2**num_qubits + 1)
    return min(error * factor, max(cap, error))


def scale_readout(p10: float, p01: float, factor: float) -> tuple[float, float]:
    """Readout flip probabilities ``p(1|0), p(0|1)`` × ``factor``, capped at the fully random
    point: their sum at most ``max(1, p10 + p01)`` (at sum 1 the outcome no longer depends on
    the prepared state; ratio kept). Symmetric errors thus cap at 0.5 as in
    :func:`scale_target`."""
    if not (math.isfinite(factor) and factor >= 0):
        raise InputError(f"noise scale must be a finite number >= 0, got {factor}")
    a, b = p10 * factor, p01 * factor
    cap = max(1.0, p10 + p01)
    if a + b > cap:
        a, b = a * cap / (a + b), b * cap / (a + b)
    return a, b


def scale_target(target, factor: float):
    """Copy of ``target`` with errors ``× factor`` (capped) and ``T1, T2 / factor``."""
    from qiskit.circuit import Measure
    from qiskit.providers import QubitProperties
    from qiskit.transpiler import InstructionProperties

    if not (math.isfinite(factor) and factor >= 0):
        raise InputError(f"noise scale must be a finite number >= 0, got {factor}")

    def t(v):
        return None if v is None or factor == 0 else v / factor

    def qubit(p):
        return QubitProperties(t1=t(p.t1), t2=t(p.t2), frequency=p.frequency)

    def instruction(op, qargs, p):
        error = _capped(p.error, len(qargs), isinstance(op, Measure), factor)
        return InstructionProperties(duration=p.duration, error=error)

    return map_target(target, range(target.num_qubits), qubit, instruction)


def active_qubits(circuit) -> tuple[int, ...]:
    """Indices of the qubits any non-delay, non-barrier instruction of ``circuit`` touches."""
    used: set[int] = set()
    for inst in circuit.data:
        if inst.operation.name in ("barrier", "delay"):
            continue
        used.update(circuit.find_bit(q).index for q in inst.qubits)
    return tuple(sorted(used))


def compact_circuit(circuit, qubits: tuple[int, ...]):
    """Copy of ``circuit`` on ``len(qubits)`` qubits, physical qubit ``qubits[j]`` -> qubit j.

    Classical bits (hence measured outcomes) are unchanged; barriers/delays on dropped qubits
    are removed. Raises ``ValueError`` if an instruction uses a qubit outside ``qubits``.
    """
    from qiskit.circuit import QuantumCircuit, QuantumRegister

    where = {q: j for j, q in enumerate(qubits)}
    out = QuantumCircuit(QuantumRegister(len(qubits), "q"), *circuit.cregs,
                         name=circuit.name, global_phase=circuit.global_phase)
    for inst in circuit.data:
        idx = [circuit.find_bit(q).index for q in inst.qubits]
        if inst.operation.name in ("barrier", "delay") and not all(i in where for i in idx):
            continue
        out.append(inst.operation, [out.qubits[where[i]] for i in idx],
                   [out.clbits[circuit.find_bit(c).index] for c in inst.clbits])
    return out


def map_target(target, qubits, qubit_properties=None, instruction_properties=None):
    """A new ``Target`` on physical ``qubits`` of ``target``, renumbered ``0..len-1``.

    Instructions on qubits outside ``qubits`` are dropped. ``qubit_properties(props)`` and
    ``instruction_properties(op, qargs, props)`` may rewrite the kept properties (default:
    copied as they are) — the one loop behind :func:`restricted_target` and
    :func:`scale_target`.
    """
    from qiskit.transpiler import Target

    where = {q: j for j, q in enumerate(qubits)}
    props = target.qubit_properties
    qprops = None if props is None else [props[q] for q in qubits]
    if qprops is not None and qubit_properties is not None:
        qprops = [None if p is None else qubit_properties(p) for p in qprops]
    out = Target(num_qubits=len(where), dt=target.dt, qubit_properties=qprops)
    for name in target.operation_names:
        op = target.operation_from_name(name)
        qmap = target[name]
        if qmap is None or None in qmap:
            out.add_instruction(op, name=name)
            continue
        kept = {}
        for qargs, p in qmap.items():
            if all(q in where for q in qargs):
                new = tuple(where[q] for q in qargs)
                keep = p if instruction_properties is None or p is None else \
                    instruction_properties(op, new, p)
                kept[new] = keep
        if kept:
            out.add_instruction(op, kept, name=name)
    return out


def restricted_target(target, qubits: tuple[int, ...]):
    """The part of ``target`` on ``qubits``, renumbered 0..len-1 (errors, durations, T1/T2)."""
    return map_target(target, qubits)


@cache
def restricted_noise_model(device: str, qubits: tuple[int, ...], scale: float = 1.0):
    """Aer ``NoiseModel`` of fake ``device`` restricted to physical ``qubits`` (renumbered),
    its errors scaled by ``scale`` (:func:`scale_target`; 0 = ideal).

    The same model as Runtime local mode's for those qubits: gate errors with thermal
    relaxation from the device's ``Target``, and the device's *asymmetric* readout errors
    ``p(1|0), p(0|1)`` from its properties (the ``Target`` only holds their mean, so a model
    built from it alone symmetrises them; scaled by :func:`scale_readout`).
    Built once per (device, qubits, scale) and cached: the full 133-qubit model costs seconds
    to build and to serialise on every run, the restricted one milliseconds (docs/QISKIT_FACTS.md);
    kept per process and in the per-user cache (:func:`~hwadapt.backends.devices.cached_pickle`:
    reading it back costs a quarter of building it).
    """
    import qiskit_aer

    key = repr((device_key(device), qiskit_aer.__version__, qubits, float(scale)))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cached_pickle("noise", f"{device}-{digest}",
                         lambda: _build_noise_model(device, qubits, scale))


def _build_noise_model(device: str, qubits: tuple[int, ...], scale: float):
    """:func:`restricted_noise_model` built from the device's cached data."""
    from qiskit_aer.noise import NoiseModel, ReadoutError

    target, readout = device_data(device)
    sub = restricted_target(target, qubits)
    if scale != 1.0:
        sub = scale_target(sub, scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = NoiseModel.from_backend(target_backend(sub, "hwadapt_restricted"))
    for j, q in enumerate(qubits):
        if readout[q] is None:
            continue  # no readout data: the Target's (symmetric) error stays
        p10, p01 = scale_readout(*readout[q], scale)  # (0, 0) is ideal: nothing added
        model.add_readout_error(ReadoutError([[1 - p10, p10], [p01, 1 - p01]]), [j],
                                warnings=False)
    return model
