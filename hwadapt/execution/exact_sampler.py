"""The ``exact`` backend: a ``BaseSamplerV2`` that samples exact outcome probabilities.

It returns the same ``PrimitiveResult``/``BitArray`` structure as Aer and Qiskit Runtime, so
the ledger, planner and estimators never special-case it. Probabilities come from
:mod:`hwadapt.simulate`'s numpy forward pass (:mod:`hwadapt.simulate.forward`: no torch
import): each PUB's circuit is compiled once and all its bindings run as one batch on the
circuit's reachable support (no ``2^N`` state for Hamming-weight-preserving circuits).
Measurements must be final, one ``measure`` per clbit; unmeasured qubits are traced out and
unmeasured clbits read 0.
"""

from __future__ import annotations

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import BaseSamplerV2, PrimitiveJob, PrimitiveResult, SamplerPubResult
from qiskit.primitives.containers import BitArray, DataBin
from qiskit.primitives.containers.sampler_pub import SamplerPub

from hwadapt.simulate import basis, compile_circuit, forward
from hwadapt.simulate.plan import Plan

DEFAULT_SHOTS = 4096
MAX_AMPLITUDES = 1 << 24
"""Bindings run in chunks of at most this many amplitudes (support size × bindings)."""


def clbit_distribution(plan: Plan, values=None) -> tuple[list[int], np.ndarray]:
    """Sparse exact distribution of a compiled circuit's classical outcomes.

    Args:
        values: ``(*shape, P)`` parameter values in ``circuit.parameters`` order (None for a
            circuit without parameters).
    Returns:
        ``(outcomes, probs (*shape, K))``: outcome ints ascending (Σ 2^c over clbits ``c``
        reading 1, Qiskit order), only those the circuit can reach.
    """
    qubits = [plan.measured.get(c) for c in range(max(plan.measured, default=-1) + 1)]
    shape = () if values is None else np.shape(values)[:-1]
    flat = None if values is None else np.asarray(values, dtype=float).reshape(-1,
                                                                                np.shape(values)[-1])
    chunk = max(1, MAX_AMPLITUDES // max(plan.size, 1))
    parts = []
    for start in range(0, 1 if flat is None else len(flat), chunk):
        vals = None if flat is None else flat[start:start + chunk]
        amps, _ = forward.run(plan, vals)  # numpy, no gradient: torch is never imported
        outcomes, probs = forward.outcome_probabilities(plan, amps, qubits)
        parts.append(probs.reshape(-1, probs.shape[-1]))
    probs = np.concatenate(parts).reshape(*shape, -1)
    return basis.to_ints(outcomes), probs


def outcome_probabilities(circuit: QuantumCircuit) -> np.ndarray:
    """Exact probabilities ``(2^num_clbits,)`` of the classical outcomes of a bound circuit.

    Outcome index = Σ 2^c over clbits c reading 1 (Qiskit order). Measurements must be the
    last operation on their qubits; unmeasured qubits are traced out.
    """
    outcomes, probs = clbit_distribution(compile_circuit(circuit))
    out = np.zeros(2**circuit.num_clbits)
    out[outcomes] = probs
    return out


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
            circuit = pub.circuit
            shape = pub.parameter_values.shape
            values = pub.parameter_values.as_array(circuit.parameters) \
                if circuit.num_parameters else None
            outcomes, probs = clbit_distribution(compile_circuit(circuit), values)
            probs = np.broadcast_to(probs, (*shape, len(outcomes)))
            table = np.array(outcomes, dtype=np.int64 if circuit.num_clbits < 63 else object)
            nbits = circuit.num_clbits
            nbytes = max(1, (nbits + 7) // 8)
            arrays = np.zeros((*shape, pub.shots, nbytes), dtype=np.uint8)
            for index in np.ndindex(shape):
                p = probs[index]
                samples = table[rng.choice(p.size, size=pub.shots, p=p / p.sum())]
                arrays[index] = BitArray.from_samples(samples.tolist(), nbits).array
            regs = {}
            start = 0
            for creg in circuit.cregs:
                sub = BitArray(arrays, nbits).slice_bits(list(range(start, start + creg.size)))
                regs[creg.name] = sub
                start += creg.size
            results.append(SamplerPubResult(DataBin(**regs, shape=shape),
                                            metadata={"shots": pub.shots}))
        return PrimitiveResult(results, metadata={"version": 2})
