"""Scaled device noise: ``f×`` a fake device's errors, for noise sweeps.

A noise source is written ``fake_<device>`` (its errors as reported, ``1×``) or
``fake_<device>@<f>`` (``f×``, e.g. ``fake_torino@0.5``); that string is what ``aer_noisy``'s
``--noise-from`` takes and what the ledger stores, so a scaled run resumes with the same noise.

Scaling a :class:`qiskit.transpiler.Target` by ``f`` (what Aer's ``NoiseModel.from_backend``
reads, DESIGN.md §3):
- every instruction's ``error`` (gate infidelity ``1 - F_avg``; for ``measure`` the symmetric
  readout flip probability) is multiplied by ``f`` and capped at the fully random point:
  ``d/(d+1)`` for a gate on ``d = 2^q`` levels (the largest average infidelity a channel can
  have) and ``0.5`` for readout (the outcome no longer depends on the state);
- the device's asymmetric readout ``p(1|0), p(0|1)`` (what ``aer_noisy`` and Runtime local
  mode use, :func:`hwadapt.backends.restricted_noise_model`) is scaled the same way by
  :func:`scale_readout`: both × ``f``, their sum capped at 1 (the fully random point);
- ``T1`` and ``T2`` are divided by ``f`` (``f = 0``: ``None``, no relaxation);
- durations, ``dt`` and qubit frequencies are unchanged.
``f = 0`` is the ideal device, ``f = 1`` returns an equal copy.
"""

from __future__ import annotations

import math

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

    from hwadapt.backends import map_target

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
