"""``fake_<device>``: Qiskit Runtime local testing mode on a fake device (its full noise
model, simulated here)."""

from __future__ import annotations

from typing import ClassVar

from hwadapt.backends import runtime
from hwadapt.backends.aer_method import job_seconds
from hwadapt.backends.base import Backend, BackendInfo, estimator_pubs
from hwadapt.backends.devices import device_backend, device_info, fake_backend, fake_device_names
from hwadapt.backends.noise import restricted_noise_model


class FakeBackend(Backend):
    """Runtime ``SamplerV2`` in local mode; seeded through ``options.simulator``.

    Circuits are transpiled for the device's cached ``Target`` (:func:`device_backend`: the
    same ISA circuits, without importing ``qiskit_ibm_runtime``); the fake device itself is
    built when a job runs."""

    kind: ClassVar[str] = "fake"
    names: ClassVar[str] = "fake_<device>"
    readout_at_submit: ClassVar[bool] = True

    @classmethod
    def matches(cls, name: str) -> bool:
        return name.startswith("fake_")

    @classmethod
    def create(cls, name: str, noise_from: str | None = None, service=None) -> FakeBackend:
        return cls(name, transpile_target=device_backend(name), device=name)

    @classmethod
    def info(cls) -> list[BackendInfo]:
        return [device_info(n, "fake", "Qiskit Runtime local testing mode")
                for n in fake_device_names()]

    def noise_model(self, qubits: tuple[int, ...]):
        return restricted_noise_model(self.device, qubits)

    def simulation_seconds(self, pubs: list) -> float:
        """:func:`~hwadapt.backends.aer_method.job_seconds` of what local testing mode runs:
        Aer's ``automatic`` method on each circuit's active qubits."""
        return job_seconds(pubs)

    def run(self, pubs: list, seed: int, tag: str):
        sampler = runtime.runtime_sampler(fake_backend(self.device), self.sampler_options)
        sampler.options.simulator.seed_simulator = seed
        return sampler.run(pubs)

    def estimate(self, pubs: list, seed: int, tag: str, shots: int):
        """Runtime Estimator in local mode: the spec's resilience/twirling/DD options are
        dropped by Runtime with a warning (:func:`~hwadapt.backends.runtime.runtime_estimator`);
        ``shots`` per binding, seeded."""
        est = runtime.runtime_estimator(fake_backend(self.device),
                                        {**self.estimator_options, "default_shots": shots})
        est.options.simulator.seed_simulator = seed
        return est.run(estimator_pubs(pubs))
