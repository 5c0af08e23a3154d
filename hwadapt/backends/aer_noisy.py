"""``aer_noisy``: ``AerSimulator`` with a fake device's noise and coupling map, restricted to
the qubits the circuits use (:func:`hwadapt.backends.noise.restricted_noise_model`)."""

from __future__ import annotations

from typing import ClassVar

from hwadapt.backends.base import Backend, BackendInfo
from hwadapt.backends.devices import device_info, fake_backend
from hwadapt.backends.noise import (
    active_qubits,
    compact_circuit,
    parse_noise_source,
    restricted_noise_model,
)
from hwadapt.threads import aer_options

DEFAULT_NOISE_DEVICE = "fake_torino"
"""Device whose noise model ``aer_noisy`` uses unless ``--noise-from`` says otherwise."""


class AerNoisyBackend(Backend):
    """Noisy Aer sampler; ``device`` is the noise source, ``noise_scale`` its error factor."""

    kind: ClassVar[str] = "aer_noisy"
    names: ClassVar[str] = "aer_noisy"
    takes_noise_from: ClassVar[bool] = True

    @classmethod
    def create(cls, name: str, noise_from: str | None = None, service=None) -> AerNoisyBackend:
        device, scale = parse_noise_source(noise_from or DEFAULT_NOISE_DEVICE)
        return cls(name, transpile_target=fake_backend(device), device=device,
                   noise_scale=scale)

    @classmethod
    def info(cls) -> list[BackendInfo]:
        noisy = device_info(DEFAULT_NOISE_DEVICE, "aer_noisy",
                            f"noise of {DEFAULT_NOISE_DEVICE}; change with --noise-from "
                            "fake_<device>")
        return [BackendInfo("aer_noisy", "aer_noisy", True, noisy.note, noisy.num_qubits,
                            noisy.basis_gates)]

    def noise_model(self, qubits: tuple[int, ...]):
        return restricted_noise_model(self.device, qubits, self.noise_scale)

    def simulator(self, qubits: tuple[int, ...]):
        """The ``AerSimulator`` for circuits on physical ``qubits``: their restricted noise
        model, within :func:`hwadapt.threads.threads` threads."""
        from qiskit_aer import AerSimulator

        return AerSimulator(noise_model=self.noise_model(qubits), **aer_options())

    def run(self, pubs: list, seed: int, tag: str):
        from qiskit_aer.primitives import SamplerV2

        qubits = tuple(sorted(set().union(*(active_qubits(p[0]) for p in pubs))))
        sampler = SamplerV2.from_backend(self.simulator(qubits), seed=seed)
        small = [(compact_circuit(p[0], qubits), *p[1:]) for p in pubs]
        return sampler.run(small)
