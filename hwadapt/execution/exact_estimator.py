"""The ``exact`` backend's Estimator: exact expectation values (``stds`` 0).

Same ``PrimitiveResult`` structure as Aer and Qiskit Runtime (``data.evs``/``data.stds`` of
the PUB's broadcast shape). Each PUB's circuit is compiled once by :mod:`hwadapt.simulate`
and all bindings run as one batch (numpy: no torch import); ``<ψ|O|ψ>`` uses the dense
statevector (qubit ``i`` = bit ``i``) and ``O``'s sparse matrix, so circuits are limited to
:data:`MAX_QUBITS`.
"""

from __future__ import annotations

import numpy as np
from qiskit.primitives import BaseEstimatorV2, PrimitiveJob, PrimitiveResult, PubResult
from qiskit.primitives.containers import DataBin
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.quantum_info import SparsePauliOp

from hwadapt.errors import InputError
from hwadapt.simulate import compile_circuit, forward

MAX_QUBITS = 22
"""Widest circuit whose dense statevector (``16 · 2^N`` bytes per binding) is formed."""


class ExactEstimator(BaseEstimatorV2):
    """Estimator V2 returning exact expectation values; ``stds`` are 0, ``precision`` is
    ignored (recorded in the metadata)."""

    def run(self, pubs, *, precision: float | None = None) -> PrimitiveJob:
        coerced = [EstimatorPub.coerce(p, precision) for p in pubs]
        job = PrimitiveJob(self._run, coerced)
        job._submit()
        return job

    def _run(self, pubs: list[EstimatorPub]) -> PrimitiveResult:
        return PrimitiveResult([self._run_pub(p) for p in pubs], metadata={"version": 2})

    def _run_pub(self, pub: EstimatorPub) -> PubResult:
        circuit = pub.circuit
        if circuit.num_qubits > MAX_QUBITS:
            raise InputError(f"the exact estimator forms the {circuit.num_qubits}-qubit "
                             f"statevector (limit {MAX_QUBITS}): use fewer qubits or aer")
        pshape, oshape = pub.parameter_values.shape, pub.observables.shape
        shape = np.broadcast_shapes(pshape, oshape)
        if circuit.num_parameters:
            values = pub.parameter_values.as_array(circuit.parameters)
            flat = values.reshape(-1, values.shape[-1])
        else:
            flat = None
        plan = compile_circuit(circuit)
        psi = forward.statevector(plan, forward.run(plan, flat)[0]).reshape(*pshape, -1)
        mats = {}
        for o_idx in np.ndindex(oshape):
            terms = list(pub.observables[o_idx].items())
            mats[o_idx] = SparsePauliOp.from_list(terms, num_qubits=circuit.num_qubits).to_matrix(
                sparse=True)
        evs = np.zeros(shape)
        for index in np.ndindex(shape):
            v = psi[_sub(index, pshape)]
            evs[index] = float(np.real(np.vdot(v, mats[_sub(index, oshape)] @ v)))
        return PubResult(DataBin(evs=evs, stds=np.zeros(shape), shape=shape),
                         metadata={"target_precision": pub.precision, "exact": True})


def _sub(index: tuple, shape: tuple) -> tuple:
    """The element of an array of ``shape`` that broadcasts to ``index``."""
    tail = index[len(index) - len(shape):] if shape else ()
    return tuple(i if d > 1 else 0 for i, d in zip(tail, shape, strict=True))
