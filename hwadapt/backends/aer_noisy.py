"""``aer_noisy``: ``AerSimulator`` with a fake device's noise and coupling map, restricted to
the qubits the circuits use (:func:`hwadapt.backends.noise.restricted_noise_model`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwadapt.backends.aer_method import choose_method, job_seconds, line_order
from hwadapt.backends.base import Backend, BackendInfo, estimator_pubs
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
    estimator_shared_shots: ClassVar[bool] = False  # Aer: independent Gaussian noise per value

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
        """The physical qubits the pubs' circuits use, in simulation order, and the method,
        chosen for the widest circuit: families laid out on different qubits share one
        register, whose idle qubits Aer truncates per circuit (a job of 6-qubit circuits on
        a 20-qubit union is simulated on 6; chosen by the union it ran statevector
        trajectories where the density matrix is cheaper)."""
        circuits = [p[0] for p in pubs]
        active = [active_qubits(c) for c in circuits]
        qubits = tuple(sorted(set().union(*active)))
        line = line_order(circuits, qubits)
        shots = max((p[2] for p in pubs if len(p) > 2 and p[2]), default=1024)
        method = self.method or choose_method(max(map(len, active)), shots, line is not None)
        if method == "matrix_product_state" and line is not None:
            qubits = line  # every two-qubit gate nearest-neighbour in the MPS
        return qubits, method

    def simulation_seconds(self, pubs: list) -> float:
        """:func:`~hwadapt.backends.aer_method.job_seconds` of the method :meth:`plan` picks
        for this job."""
        return job_seconds(pubs, self.plan([(c, None, shots) for c, _, shots in pubs])[1])

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

    def estimate(self, pubs: list, seed: int, tag: str, shots: int):
        """Aer's EstimatorV2 with the restricted noise model and the same method choice as
        :meth:`run` (circuits and observables renumbered onto the active qubits); values get
        Gaussian noise of std ``1/sqrt(shots)`` (:func:`hwadapt.backends.aer.aer_estimate`).

        Aer's Estimator takes expectation values of the noisy state without measuring, so the
        noise model's readout errors would be missed (a device's estimator measures): each
        observable is replaced by its readout-noisy version (:func:`readout_observable`),
        whose exact expectation is what a measuring estimator converges to."""
        from hwadapt.backends.aer import aer_estimate

        qubits, method = self.plan([(c, None, shots) for c, _, _ in pubs])
        readout = readout_flips(self.noise_model(qubits), len(qubits))
        small = []
        for circuit, obs, values in pubs:
            c = compact_circuit(circuit, qubits)
            c.metadata = {**(circuit.metadata or {}), "aer_method": method}
            small.append((c, [readout_observable(compact_observable(o, qubits), readout)
                              for o in obs], values))
        return aer_estimate(self.simulator(qubits, method), estimator_pubs(small), seed, shots)


def compact_observable(op, qubits: tuple[int, ...]):
    """``SparsePauliOp`` on a device's qubits -> the same on ``qubits`` renumbered
    ``0..len-1`` in that order (as :func:`~hwadapt.backends.noise.compact_circuit`); ``op``
    must act as identity elsewhere."""
    from qiskit.quantum_info import SparsePauliOp

    pos = {q: i for i, q in enumerate(qubits)}
    terms = []
    for label, idx, coeff in op.to_sparse_list():
        if any(i not in pos for i in idx):
            raise ValueError(f"observable acts on qubits {sorted(idx)} outside {qubits}")
        terms.append((label, [pos[i] for i in idx], coeff))
    return SparsePauliOp.from_sparse_list(terms, len(qubits))


def readout_flips(noise_model, num_qubits: int) -> list[tuple[float, float]]:
    """``(p(1|0), p(0|1))`` of each qubit's readout error in ``noise_model`` ((0, 0) where
    it has none)."""
    out = []
    for q in range(num_qubits):
        err = noise_model._local_readout_errors.get((q,))  # noqa: SLF001 - no public getter
        p = err.probabilities if err is not None else [[1.0, 0.0], [0.0, 1.0]]
        out.append((float(p[0][1]), float(p[1][0])))
    return out


def readout_observable(op, flips: list[tuple[float, float]]):
    """The observable whose exact expectation equals ``op``'s as measured through independent
    readout errors ``flips[q] = (p(1|0), p(0|1))``.

    A measured eigenvalue ``s = ±1`` of qubit ``q``'s Pauli reads as ``s'`` with ``E[s'|s] =
    a_q s + b_q``, ``a_q = 1 - p(1|0) - p(0|1)``, ``b_q = p(0|1) - p(1|0)``; so a Pauli term on
    qubits ``S`` becomes ``Σ_{T ⊆ S} Π_{q∈T} a_q Π_{q∈S∖T} b_q P_T`` (``2^|S|`` terms)."""
    import itertools

    from qiskit.quantum_info import SparsePauliOp

    terms = []
    for label, idx, coeff in op.to_sparse_list():
        pairs = list(zip(label, idx, strict=True))
        for keep in itertools.product((True, False), repeat=len(pairs)):
            w = coeff
            for (_, q), k in zip(pairs, keep, strict=True):
                p10, p01 = flips[q]
                w *= (1 - p10 - p01) if k else (p01 - p10)
            sub = [(p, q) for (p, q), k in zip(pairs, keep, strict=True) if k]
            terms.append(("".join(p for p, _ in sub), [q for _, q in sub], w))
    return SparsePauliOp.from_sparse_list(terms, op.num_qubits).simplify(atol=0)
