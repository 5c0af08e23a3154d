"""The fake devices qiskit-ibm-runtime ships: names and facts from their configuration files
(no ``qiskit_ibm_runtime`` import: listing them costs milliseconds), instances on demand."""

from __future__ import annotations

import importlib.util
import json
import warnings
from functools import cache
from pathlib import Path

from hwadapt.backends.base import BackendInfo
from hwadapt.errors import InputError

NON_GATES = frozenset({"measure", "reset", "delay", "barrier", "if_else", "switch_case",
                       "for_loop", "while_loop"})
"""Instructions of a device's basis that are not gates (left out of the listed basis)."""


@cache
def _conf_files() -> dict[str, Path]:
    """``fake_<device>`` -> its shipped ``conf_<device>.json``, sorted by name."""
    spec = importlib.util.find_spec("qiskit_ibm_runtime")
    root = Path(next(iter(spec.submodule_search_locations))) / "fake_provider" / "backends"
    found = {f"fake_{d.name}": d / f"conf_{d.name}.json" for d in root.iterdir()
             if (d / f"conf_{d.name}.json").is_file()}
    return dict(sorted(found.items()))


def fake_device_names() -> tuple[str, ...]:
    """Names (``fake_<device>``) of every fake device shipped by qiskit-ibm-runtime."""
    return tuple(_conf_files())


def fake_backend(name: str):
    """The fake device ``name`` (``fake_torino`` ...), or raise :class:`InputError`.

    Built once per process and shared (parsing a device's properties costs ~0.5 s; a submit
    needs the device twice): treat it as read-only."""
    if name not in _conf_files():
        raise InputError(
            f"unknown fake device {name!r}: run `hwadapt backends` for the list (e.g. fake_torino)"
        )
    return _fake_instance(name)


@cache
def _fake_instance(name: str):
    from qiskit_ibm_runtime import fake_provider

    cls = next(c for c in vars(fake_provider).values()
               if isinstance(c, type) and getattr(c, "backend_name", None) == name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return cls()


@cache
def device_conf(name: str) -> dict:
    """The shipped configuration JSON of fake device ``name`` (read once per process)."""
    return json.loads(_conf_files()[name].read_text())


def device_info(name: str, kind: str, note: str) -> BackendInfo:
    """Qubits and basis gates of a fake device from its shipped configuration (~50x faster
    than instantiating the backend, which also parses its properties)."""
    conf = device_conf(name)
    gates = sorted(set(conf["basis_gates"]) - NON_GATES)
    return BackendInfo(name, kind, True, note, conf["n_qubits"], gates)
