"""``aer_noisy``: ``AerSimulator`` with a fake device's noise and coupling map, restricted to
the qubits the circuits use (:func:`hwadapt.backends.noise.restricted_noise_model`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwadapt.backends.aer_method import choose_method, line_order
from hwadapt.backends.base import Backend, BackendInfo
from hwadapt.backends.devices import device_backend, device_info
from hwadapt.backends.noise import (
    active_qubits,
    compact_circuit,
    parse_noise_source,
    restricted_noise_model,
)
from hwadapt.threads import aer_options
from hwadapt.trace import mark

DEFAULT_NOISE_DEVICE = "fake_torino"
"""Device whose noise model ``aer_noisy`` uses unless ``--noise-from`` says otherwise."""


@dataclass
class AerNoisyBackend(Backend):
    """Noisy Aer sampler; ``device`` is the noise source, ``noise_scale`` its error factor,
    ``method`` the Aer method (None: chosen per job by :func:`~hwadapt.backends.aer_method.
    choose_method`). Each pub result's ``metadata["circuit_metadata"]["aer_method"]`` says
    which method ran."""

    method: str | None = None

    kind: ClassVar[str] = "aer_noisy"
    names: ClassVar[str] = "aer_noisy"
    takes_noise_from: ClassVar[bool] = True

    @classmethod
    def create(cls, name: str, noise_from: str | None = None, service=None) -> AerNoisyBackend:
        device, scale = parse_noise_source(noise_from or DEFAULT_NOISE_DEVICE)
        return cls(name, transpile_target=device_backend(device), device=device,
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

    def simulator(self, qubits: tuple[int, ...], method: str = "density_matrix"):
        """The ``AerSimulator`` for circuits on physical ``qubits`` (renumbered in that
        order): their restricted noise model, Aer ``method``, within
        :func:`hwadapt.threads.threads` threads."""
        from qiskit_aer import AerSimulator

        return AerSimulator(noise_model=self.noise_model(qubits), method=method,
                            **aer_options())

    def plan(self, pubs: list) -> tuple[tuple[int, ...], str]:
        """The physical qubits the pubs' circuits use, in simulation order, and the method."""
        circuits = [p[0] for p in pubs]
        qubits = tuple(sorted(set().union(*(active_qubits(c) for c in circuits))))
        line = line_order(circuits, qubits)
        shots = max((p[2] for p in pubs if len(p) > 2 and p[2]), default=1024)
        method = self.method or choose_method(len(qubits), shots, line is not None)
        if method == "matrix_product_state" and line is not None:
            qubits = line  # every two-qubit gate nearest-neighbour in the MPS
        return qubits, method

    def run(self, pubs: list, seed: int, tag: str):
        from qiskit_aer.primitives import SamplerV2

        qubits, method = self.plan(pubs)
        sampler = SamplerV2.from_backend(self.simulator(qubits, method), seed=seed)
        small = []
        for circuit, *rest in pubs:
            c = compact_circuit(circuit, qubits)
            c.metadata = {**(circuit.metadata or {}), "aer_method": method}
            small.append((c, *rest))
        mark("first shot")
        return sampler.run(small)
