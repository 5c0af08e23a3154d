"""Backend registry: names users pass as ``--backend`` and what each needs.

One module per kind, one :class:`~hwadapt.backends.base.Backend` subclass each, listed in
:data:`KINDS` (first match wins):
- ``exact``: hwadapt's exact subspace sampler (:mod:`hwadapt.backends.exact`).
- ``aer``: ideal ``AerSimulator`` (:mod:`hwadapt.backends.aer`).
- ``aer_noisy``: ``AerSimulator`` with the noise model and coupling map of a fake
  device (default :data:`DEFAULT_NOISE_DEVICE`, a Heron device)
  (:mod:`hwadapt.backends.aer_noisy`).
- ``fake_<device>``: Qiskit Runtime local testing mode on that fake device
  (:mod:`hwadapt.backends.fake`).
- ``ibm_<device>``: a real IBM device through ``QiskitRuntimeService``
  (:mod:`hwadapt.backends.ibm`).

Adding a kind: one module with a ``Backend`` subclass, one entry in :data:`KINDS`.
Noise models live in :mod:`hwadapt.backends.noise`, the fake-device catalogue in
:mod:`hwadapt.backends.devices`, Qiskit Runtime plumbing in :mod:`hwadapt.backends.runtime`.
"""

from __future__ import annotations

from hwadapt.backends.aer import AerBackend
from hwadapt.backends.aer_noisy import DEFAULT_NOISE_DEVICE, AerNoisyBackend
from hwadapt.backends.base import FINAL_STATUSES, Backend, BackendInfo, normalise_status
from hwadapt.backends.devices import NON_GATES, device_info, fake_backend, fake_device_names
from hwadapt.backends.exact import ExactBackend
from hwadapt.backends.fake import FakeBackend
from hwadapt.backends.ibm import IBMBackend
from hwadapt.backends.noise import (
    active_qubits,
    compact_circuit,
    map_target,
    restricted_noise_model,
    restricted_target,
)
from hwadapt.backends.runtime import (
    ibm_credentials_available,
    ibm_service,
    runtime_estimator,
    runtime_sampler,
)
from hwadapt.errors import InputError

KINDS: list[type[Backend]] = [ExactBackend, AerBackend, AerNoisyBackend, FakeBackend,
                              IBMBackend]
"""Every backend kind, in the order names are matched and listed."""

_NON_GATES = NON_GATES  # the name earlier code and tests use


def offline_stand_in(name: str) -> str | None:
    """The ``fake_<device>`` snapshot that stands in for ``ibm_<device>`` when no IBM account
    is available here (``submit --dry-run`` plans on it: same coupling map and basis gates,
    the snapshot's durations); None for other names, with an account, or without a snapshot."""
    if not IBMBackend.matches(name) or ibm_credentials_available():
        return None
    fake = "fake_" + name.removeprefix("ibm_")
    return fake if fake in fake_device_names() else None


def list_backends() -> list[BackendInfo]:
    """Every backend name the registry knows, with usability here, qubits and basis gates."""
    return [info for kind in KINDS for info in kind.info()]


def get_backend(name: str, noise_from: str | None = None, service=None) -> Backend:
    """Build the backend called ``name`` (see the module docstring for names).

    ``noise_from`` (``fake_<device>``, or ``fake_<device>@<scale>`` for scaled errors, see
    :mod:`hwadapt.backends.noise`) picks aer_noisy's noise source; ``service`` replaces
    the IBM service (tests pass a double here).
    """
    kind = next((k for k in KINDS if k.matches(name)), None)
    if kind is None:
        raise InputError(f"unknown backend {name!r}: use "
                         f"{', '.join(k.names for k in KINDS)} (`hwadapt backends` lists them)")
    if noise_from is not None and not kind.takes_noise_from:
        raise InputError(f"--noise-from only applies to "
                         f"{', '.join(k.names for k in KINDS if k.takes_noise_from)}, "
                         f"not {name!r}: drop it")
    return kind.create(name, noise_from=noise_from, service=service)


__all__ = [
    "DEFAULT_NOISE_DEVICE", "FINAL_STATUSES", "KINDS", "AerBackend", "AerNoisyBackend",
    "Backend", "BackendInfo", "ExactBackend", "FakeBackend", "IBMBackend", "active_qubits",
    "compact_circuit", "device_info", "fake_backend", "fake_device_names", "get_backend",
    "ibm_credentials_available", "ibm_service", "list_backends", "map_target",
    "normalise_status", "offline_stand_in", "restricted_noise_model", "restricted_target",
    "runtime_estimator", "runtime_sampler",
]
