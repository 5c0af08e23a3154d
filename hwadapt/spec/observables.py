"""``[observables]`` and ``[estimator]``: a spec that asks for expectation values (an
Estimator run) instead of counts.

```toml
[observables]
observables = ["Z0", "Z0Z1", "unary:3", "parity"]  # on the data register
shots = 4096                                        # per input (Runtime default_shots)

[estimator]                 # Runtime EstimatorV2 options (ibm_*; local mode drops them)
resilience_level = 1        # 0, 1 (TREX) or 2 (TREX + ZNE)
measure_mitigation = true   # TREX
zne_mitigation = false
zne = { noise_factors = [1, 3, 5], extrapolator = "exponential", amplifier = "gate_folding" }
twirling = { enable_gates = true, enable_measure = true }
```

Observable names: :func:`hwadapt.circuits.observables.parse_observable` (data qubit ``i`` =
circuit qubit ``i``). An Estimator run measures the lcu magnitude circuit of the spec's
construction; sampler-only settings (``[shots]``, ``[mitigation]``, ``calibration.shots``,
``execution.twirling``, signs families, the separate mode) are refused with a one-line error.
A ``[calibration]`` table adds its inputs as more bindings of the same PUB (at
``observables.shots``), after the targets; ``hwadapt compare`` measures a systematic term
per observable on them (:func:`hwadapt.expectations.compare_estimator_run`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from qiskit.circuit import ParameterVector

from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.circuits.observables import parse_observable
from hwadapt.errors import InputError
from hwadapt.execution.family import Family
from hwadapt.spec.fields import _int, _is_num
from hwadapt.spec.parameters import adapter_parameters, calibration_vectors, input_vectors

RESILIENCE_LEVELS = (0, 1, 2)
EXTRAPOLATORS = ("linear", "exponential", "double_exponential", "fallback",
                 *(f"polynomial_degree_{d}" for d in range(1, 8)))
AMPLIFIERS = ("gate_folding", "gate_folding_front", "gate_folding_back", "pea")
ESTIMATOR_KEYS = {"resilience_level", "measure_mitigation", "zne_mitigation", "zne",
                  "twirling"}
_ZNE_KEYS = {"noise_factors", "extrapolator", "amplifier"}
_TWIRL_KEYS = {"enable_gates", "enable_measure"}
SAMPLER_ONLY = ("shots", "mitigation")


@dataclass(frozen=True)
class ObservableSpec:
    """``names`` of the observables, ``shots`` per input, Runtime ``options`` (nested, as
    ``EstimatorV2.options``; only the keys the spec set)."""

    names: tuple[str, ...]
    shots: int = 4096
    options: dict = field(default_factory=dict)


def observable_spec(data: dict, qubits: int, families: tuple[str, ...],
                    modes: tuple[str, ...], dd: str) -> ObservableSpec | None:
    """The validated ``[observables]``/``[estimator]`` tables of a parsed TOML ``data``
    (None without ``[observables]``); ``dd``: ``execution.dynamical_decoupling``."""
    if "observables" not in data:
        if "estimator" in data:
            raise InputError("[estimator] options need an [observables] table: add "
                             "observables = [\"Z0\"] under [observables] or drop [estimator]")
        return None
    t = data["observables"]
    _check_sampler_only(data, families, modes)
    names = t.get("observables")
    if not isinstance(names, list) or not names or len(set(map(str, names))) != len(names):
        raise InputError(f"observables.observables must be a non-empty list of distinct "
                         f"names, e.g. [\"Z0\", \"unary:1\", \"parity\"], got {names!r}")
    for name in names:
        try:
            parse_observable(name, qubits)
        except ValueError as e:
            raise InputError(f"observables.observables: {e}") from None
    options = estimator_options(data.get("estimator", {}))
    if dd != "off":
        options["dynamical_decoupling"] = {"enable": True, "sequence_type": dd}
    return ObservableSpec(tuple(names), _int(t, "observables", "shots", 4096, 1, 10**8),
                          options)


def _check_sampler_only(data: dict, families: tuple[str, ...], modes: tuple[str, ...]) -> None:
    for table in SAMPLER_ONLY:
        if table in data:
            raise InputError(f"[{table}] is for Sampler runs; an [observables] run takes "
                             f"observables.shots: drop [{table}]")
    if "shots" in data.get("calibration", {}):
        raise InputError("calibration.shots is for Sampler runs; an [observables] run's "
                         "calibration inputs take observables.shots: drop calibration.shots")
    if data.get("execution", {}).get("twirling"):
        raise InputError("execution.twirling is for Sampler runs; with [observables] write "
                         "twirling = { enable_gates = true } under [estimator]")
    if tuple(modes) != ("lcu",) or tuple(families) != ("magnitude",):
        raise InputError("an [observables] run measures the lcu magnitude circuit: drop "
                         "circuit.mode and circuit.families (or set them to \"lcu\" and "
                         "[\"magnitude\"])")


def estimator_options(t: dict) -> dict:
    """``[estimator]`` table -> nested Runtime ``EstimatorV2`` options (module docstring)."""
    bad = set(t) - ESTIMATOR_KEYS
    if bad:
        raise InputError(f"unknown key {'estimator.' + sorted(bad)[0]!r} in [estimator]: "
                         f"allowed keys are {', '.join(sorted(ESTIMATOR_KEYS))}")
    out: dict = {}
    if "resilience_level" in t:
        level = t["resilience_level"]
        if level not in RESILIENCE_LEVELS or isinstance(level, bool):
            raise InputError(f"estimator.resilience_level = {level!r} is not supported: use "
                             "0, 1 or 2")
        out["resilience_level"] = level
    res = {k: _bool(t, k) for k in ("measure_mitigation", "zne_mitigation") if k in t}
    if "zne" in t:
        res["zne"] = _zne(t["zne"])
    if res:
        out["resilience"] = res
    if "twirling" in t:
        tw = _table(t["twirling"], "estimator.twirling", _TWIRL_KEYS,
                    "{ enable_gates = true, enable_measure = true }")
        out["twirling"] = {k: _bool(tw, k, "estimator.twirling") for k in tw}
    return out


def _bool(t: dict, key: str, where: str = "estimator") -> bool:
    v = t[key]
    if not isinstance(v, bool):
        raise InputError(f"{where}.{key} must be true or false, got {v!r}")
    return v


def _table(v, where: str, keys: set[str], example: str) -> dict:
    if not isinstance(v, dict) or not v or set(v) - keys:
        raise InputError(f"{where} must be a table with keys {', '.join(sorted(keys))}, e.g. "
                         f"{where.rsplit('.', 1)[-1]} = {example}, got {v!r}")
    return v


def _zne(v) -> dict:
    z = _table(v, "estimator.zne", _ZNE_KEYS,
               '{ noise_factors = [1, 3, 5], extrapolator = "exponential" }')
    out: dict = {}
    if "noise_factors" in z:
        f = z["noise_factors"]
        if (not isinstance(f, list) or len(f) < 2 or not all(_is_num(x) for x in f)
                or any(x < 1 for x in f) or sorted(set(f)) != list(f)):
            raise InputError(f"estimator.zne.noise_factors must be at least two increasing "
                             f"numbers >= 1, e.g. [1, 3, 5], got {f!r}")
        out["noise_factors"] = [float(x) for x in f]
    if "extrapolator" in z:
        e = z["extrapolator"]
        items = e if isinstance(e, list) else [e]
        if not items or any(x not in EXTRAPOLATORS for x in items):
            raise InputError(f"estimator.zne.extrapolator = {e!r} is not supported: use one "
                             f"(or a list) of {', '.join(EXTRAPOLATORS)}")
        out["extrapolator"] = e
    if "amplifier" in z:
        a = z["amplifier"]
        if a not in AMPLIFIERS:
            raise InputError(f"estimator.zne.amplifier = {a!r} is not supported: use one of "
                             f"{', '.join(AMPLIFIERS)}")
        out["amplifier"] = a
    return out


def estimator_family(spec) -> Family:
    """The circuit an Estimator run of ``spec`` measures: the construction's lcu magnitude
    circuit (no measurements; data qubits ``0..n-1``, then its ancillas), one binding per input
    of the loader angles of ``construction.fold_inputs(x)`` (``values (count, n-1)``), the
    ``[calibration]`` inputs' bindings after the targets' (``calibration`` rows)."""
    angles, alphas = adapter_parameters(spec)
    n, c, con = spec.circuit.qubits, spec.circuit, spec.construction
    loader = unary_loader(n, ParameterVector("x", n - 1))
    x, n_cal = input_vectors(spec), 0
    if spec.calibration is not None:
        x, n_cal = np.concatenate([x, calibration_vectors(spec)]), spec.calibration.inputs
    folded = con.fold_inputs(angles, x, n, c.layout)
    qc, n_anc = con.lcu_circuit(angles, alphas, loader, c.layout)
    return Family("magnitude", qc, np.stack([unary_angles(v) for v in folded]), n, n_anc,
                  calibration=n_cal)


def observables(spec) -> list:
    """The spec's observables as ``SparsePauliOp`` on its ``n`` data qubits, in order."""
    return [parse_observable(name, spec.circuit.qubits) for name in spec.observables.names]
