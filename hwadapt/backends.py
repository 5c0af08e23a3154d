"""Backend registry: names users pass as ``--backend`` and what each needs.

Names:
- ``exact``: hwadapt's exact subspace simulator (no shots noise, no Qiskit).
- ``aer``: ideal ``AerSimulator``.
- ``aer_noisy``: ``AerSimulator`` with the noise model and coupling map of a fake
  device (default :data:`DEFAULT_NOISE_DEVICE`, a Heron device).
- ``fake_<device>``: Qiskit Runtime local testing mode on that fake device.
- ``ibm_<device>``: a real IBM device through ``QiskitRuntimeService``; needs
  ``QISKIT_IBM_TOKEN`` or an account saved with ``QiskitRuntimeService.save_account``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

from hwadapt.errors import InputError

DEFAULT_NOISE_DEVICE = "fake_torino"
"""Device whose noise model ``aer_noisy`` uses unless ``--noise-from`` says otherwise."""


@dataclass(frozen=True)
class BackendInfo:
    """What ``hwadapt backends`` shows for one registry entry."""

    name: str
    kind: str  # exact | aer | aer_noisy | fake | ibm
    usable: bool
    note: str = ""
    num_qubits: int | None = None
    basis_gates: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def ibm_credentials_available() -> bool:
    """True when an IBM token is in the environment or a Qiskit account is saved on disk.

    Only checks presence; never reads the token into memory for display.
    """
    if os.environ.get("QISKIT_IBM_TOKEN"):
        return True
    saved = Path(os.environ.get("QISKIT_IBM_CONFIG", Path.home() / ".qiskit" / "qiskit-ibm.json"))
    return saved.is_file()


@cache
def _fake_classes() -> dict[str, type]:
    from qiskit_ibm_runtime import fake_provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    classes = {}
    for attr in dir(fake_provider):
        cls = getattr(fake_provider, attr)
        if isinstance(cls, type) and issubclass(cls, FakeBackendV2) and cls is not FakeBackendV2:
            classes[cls.backend_name] = cls
    return dict(sorted(classes.items()))


def fake_device_names() -> tuple[str, ...]:
    """Names (``fake_<device>``) of every fake V2 backend shipped by qiskit-ibm-runtime."""
    return tuple(_fake_classes())


def fake_backend(name: str):
    """Instantiate the fake device ``name`` (``fake_torino`` ...), or raise :class:`InputError`."""
    import warnings

    if name not in fake_device_names():
        raise InputError(
            f"unknown fake device {name!r}: run `hwadapt backends` for the list (e.g. fake_torino)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _fake_classes()[name]()


def _device_info(name: str, kind: str, note: str) -> BackendInfo:
    dev = fake_backend(name)
    gates = sorted(g for g in dev.operation_names if g not in _NON_GATES)
    return BackendInfo(name, kind, True, note, dev.num_qubits, gates)


_NON_GATES = {"measure", "reset", "delay", "barrier", "if_else", "switch_case", "for_loop",
              "while_loop"}


def list_backends() -> list[BackendInfo]:
    """Every backend name the registry knows, with usability here, qubits and basis gates."""
    noisy = _device_info(DEFAULT_NOISE_DEVICE, "aer_noisy", f"noise of {DEFAULT_NOISE_DEVICE}; "
                         "change with --noise-from fake_<device>")
    out = [
        BackendInfo("exact", "exact", True, "exact Hamming-weight subspace simulator (torch)"),
        BackendInfo("aer", "aer", True, "ideal AerSimulator, all-to-all"),
        BackendInfo("aer_noisy", "aer_noisy", True, noisy.note, noisy.num_qubits,
                    noisy.basis_gates),
    ]
    out += [_device_info(n, "fake", "Qiskit Runtime local testing mode") for n in
            fake_device_names()]
    have = ibm_credentials_available()
    out.append(BackendInfo(
        "ibm_<device>", "ibm", have,
        "IBM Quantum via QiskitRuntimeService" if have else
        "needs QISKIT_IBM_TOKEN or a saved Qiskit account (QiskitRuntimeService.save_account)",
    ))
    return out
