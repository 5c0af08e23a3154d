"""``aer``: the ideal, all-to-all ``AerSimulator``."""

from __future__ import annotations

from typing import ClassVar

from hwadapt.backends.base import Backend, BackendInfo
from hwadapt.threads import aer_options
from hwadapt.trace import mark


class AerBackend(Backend):
    """Ideal Aer sampler; circuits are transpiled for ``AerSimulator()``'s basis."""

    kind: ClassVar[str] = "aer"
    names: ClassVar[str] = "aer"
    readout_noise: ClassVar[bool] = False

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
