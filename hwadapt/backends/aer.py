"""``aer``: the ideal, all-to-all ``AerSimulator``."""

from __future__ import annotations

from typing import ClassVar

from hwadapt.backends.base import Backend, BackendInfo, estimator_pubs
from hwadapt.threads import aer_options
from hwadapt.trace import mark


class AerBackend(Backend):
    """Ideal Aer sampler; circuits are transpiled for ``AerSimulator()``'s basis."""

    kind: ClassVar[str] = "aer"
    names: ClassVar[str] = "aer"
    readout_noise: ClassVar[bool] = False
    estimator_shared_shots: ClassVar[bool] = False  # Aer: independent Gaussian noise per value

    @classmethod
    def create(cls, name: str, noise_from: str | None = None, service=None) -> AerBackend:
        from qiskit_aer import AerSimulator

        return cls(name, transpile_target=AerSimulator())

    @classmethod
    def info(cls) -> list[BackendInfo]:
        return [BackendInfo("aer", "aer", True, "ideal AerSimulator, all-to-all")]

    def simulator(self):
        """The ``AerSimulator`` jobs run on, within :func:`hwadapt.threads.threads` threads."""
        from qiskit_aer import AerSimulator

        return AerSimulator(**aer_options())

    def run(self, pubs: list, seed: int, tag: str):
        from qiskit_aer.primitives import SamplerV2

        sampler = SamplerV2.from_backend(self.simulator(), seed=seed)
        mark("first shot")
        return sampler.run(pubs)

    def estimate(self, pubs: list, seed: int, tag: str, shots: int):
        """Aer's EstimatorV2: exact expectation values plus Gaussian noise of std
        ``1/sqrt(shots)`` (its ``precision``; every value independently), seeded."""
        return aer_estimate(self.simulator(), estimator_pubs(pubs), seed, shots)


def aer_estimate(simulator, pubs: list, seed: int, shots: int):
    """Run Estimator ``pubs`` on an ``AerSimulator`` with precision ``1/sqrt(shots)``."""
    from qiskit_aer.primitives import EstimatorV2

    est = EstimatorV2.from_backend(simulator, options={
        "default_precision": shots ** -0.5, "run_options": {"seed_simulator": seed}})
    return est.run(pubs)
