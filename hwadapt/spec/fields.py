"""Typed checks of TOML spec fields: each raises :class:`InputError` with a one-line message
naming the key and the fix."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from hwadapt.errors import InputError
from hwadapt.spec.model import ALPHA_RANGE

_ALLOWED = {
    "": {"name", "seed", "circuit", "inputs", "shots", "execution", "calibration",
         "mitigation", "observables", "estimator"},
    "circuit": {"qubits", "encoding", "layout", "terms", "alphas", "angles", "angle_scale",
                "angle_seed", "checkpoint", "layer", "families", "construction", "mode"},
    "inputs": {"count", "source", "seed", "path"},
    "shots": {"target_accepted", "budget", "max_rounds", "pilot", "batch_bindings"},
    "execution": {"optimization_level", "dynamical_decoupling", "twirling", "max_qpu_seconds",
                  "mode"},
    "calibration": {"inputs", "shots", "seed", "kind"},
    "mitigation": {"zne"},
    "observables": {"observables", "shots"},
    "estimator": {"resilience_level", "measure_mitigation", "zne_mitigation", "zne",
                  "twirling"},
}



def check_alphas(alphas, where: str) -> None:
    """:class:`InputError` unless every ``|alpha|`` is finite and within ``ALPHA_RANGE``."""
    a = np.abs(np.asarray(alphas, dtype=float))
    lo, hi = ALPHA_RANGE
    if not np.all(np.isfinite(a)) or np.any((a < lo) | (a > hi)):
        raise InputError(f"{where} = {np.asarray(alphas).tolist()} is out of range: each |alpha| "
                         f"must be within {lo:g}..{hi:g} (scale them all by one factor)")


def _key(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def _check_keys(table: dict, section: str) -> None:
    allowed = _ALLOWED[section]
    for key in table:
        if key not in allowed:
            where = f"[{section}]" if section else "the top level"
            raise InputError(f"unknown key {_key(section, key)!r} in {where}: allowed keys are "
                             f"{', '.join(sorted(allowed))}")


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _int(t: dict, section: str, key: str, default: int | None, lo: int, hi: int,
         required: bool = True) -> int | None:
    if key not in t:
        if default is None and required:
            raise InputError(f"missing {_key(section, key)}: add e.g. `{key} = {max(lo, 8)}` "
                             f"under [{section}]")
        return default
    v = t[key]
    if not isinstance(v, int) or isinstance(v, bool):
        raise InputError(f"{_key(section, key)} must be an integer, got {v!r}")
    if not lo <= v <= hi:
        raise InputError(f"{_key(section, key)} = {v} is out of range: use {lo}..{hi}")
    return v


def _float(t: dict, section: str, key: str, default: float, lo: float, hi: float) -> float:
    v = t.get(key, default)
    if not _is_num(v):
        raise InputError(f"{_key(section, key)} must be a number, got {v!r}")
    if not lo <= v <= hi:
        raise InputError(f"{_key(section, key)} = {v} is out of range: use {lo}..{hi}")
    return float(v)


def _choice(t: dict, section: str, key: str, default: str, options: tuple[str, ...]) -> str:
    v = t.get(key, default)
    if v not in options:
        raise InputError(f"{_key(section, key)} = {v!r} is not supported: use one of "
                         f"{', '.join(options)}")
    return v


def _path(t: dict, section: str, key: str, base_dir: Path) -> Path:
    v = t[key]
    if not isinstance(v, str) or not v:
        raise InputError(f"{_key(section, key)} must be a path string")
    p = Path(v)
    p = p if p.is_absolute() else base_dir / p
    if not p.is_file():
        raise InputError(f"{_key(section, key)} = {v!r}: file {str(p)!r} not found; fix the path "
                         "(relative paths are relative to the spec file)")
    return p
