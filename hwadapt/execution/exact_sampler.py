"""The ``exact`` backend: a ``BaseSamplerV2`` that samples exact outcome probabilities.

It returns the same ``PrimitiveResult``/``BitArray`` structure as Aer and Qiskit Runtime, so
the ledger, planner and estimators never special-case it. Probabilities come from the exact
statevector of each bound circuit (measurements must be final, one ``measure`` per clbit).
"""

from __future__ import annotations

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import BaseSamplerV2, PrimitiveJob, PrimitiveResult, SamplerPubResult
from qiskit.primitives.containers import BitArray, DataBin
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import Statevector

DEFAULT_SHOTS = 4096


def outcome_probabilities(circuit: QuantumCircuit) -> np.ndarray:
    """Exact probabilities ``(2^num_clbits,)`` of the classical outcomes of a bound circuit.

    Outcome index = Σ 2^c over clbits c reading 1 (Qiskit order). Measurements must be the
    last operation on their qubits; unmeasured qubits are traced out.
    """
    measured: dict[int, int] = {}
    body = circuit.remove_final_measurements(inplace=False)
    for inst in circuit.data:
        if inst.operation.name == "measure":
            measured[circuit.find_bit(inst.clbits[0]).index] = circuit.find_bit(
                inst.qubits[0]).index
    if any(inst.operation.name == "measure" for inst in body.data):
        raise ValueError("exact sampler needs measurements at the end of the circuit")
    probs = Statevector(body).probabilities()
    nq = body.num_qubits
    idx = np.arange(2**nq)
    out_index = np.zeros_like(idx)
    for c, q in measured.items():
        out_index |= ((idx >> q) & 1) << c
    return np.bincount(out_index, weights=probs, minlength=2**circuit.num_clbits)


class ExactSampler(BaseSamplerV2):
    """Sampler V2 drawing ``shots`` outcomes per binding from exact probabilities, seeded."""

    def __init__(self, seed: int | None = None, default_shots: int = DEFAULT_SHOTS):
        self._seed = seed
        self._default_shots = default_shots

    def run(self, pubs, *, shots: int | None = None) -> PrimitiveJob:
        coerced = [SamplerPub.coerce(p, shots or self._default_shots) for p in pubs]
        job = PrimitiveJob(self._run, coerced)
        job._submit()
        return job

    def _run(self, pubs: list[SamplerPub]) -> PrimitiveResult:
        rng = np.random.default_rng(self._seed)
        results = []
        for pub in pubs:
            bound = pub.parameter_values.bind_all(pub.circuit)
            nbits = pub.circuit.num_clbits
            nbytes = max(1, (nbits + 7) // 8)
            arrays = np.zeros((*bound.shape, pub.shots, nbytes), dtype=np.uint8)
            for index in np.ndindex(bound.shape):
                p = outcome_probabilities(bound[index])
                samples = rng.choice(p.size, size=pub.shots, p=p / p.sum())
                arrays[index] = BitArray.from_samples(samples.tolist(), nbits).array
            regs = {}
            start = 0
            for creg in pub.circuit.cregs:
                sub = BitArray(arrays, nbits).slice_bits(list(range(start, start + creg.size)))
                regs[creg.name] = sub
                start += creg.size
            results.append(SamplerPubResult(DataBin(**regs, shape=bound.shape),
                                            metadata={"shots": pub.shots}))
        return PrimitiveResult(results, metadata={"version": 2})
