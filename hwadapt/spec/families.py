"""Spec -> circuit families (built only through hwadapt.circuits' public functions), sign
reference vectors and the run metadata the analysis needs."""

from __future__ import annotations

import numpy as np
from qiskit.circuit import ParameterVector

from hwadapt.circuits.dilation import combination_matrix
from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.execution.family import Family
from hwadapt.execution.metadata import RunMetadata
from hwadapt.spec.model import JobSpec, sign_references
from hwadapt.spec.parameters import adapter_parameters, calibration_vectors, input_vectors


def sign_reference(spec: JobSpec, mode: str = "lcu") -> str:
    """Reference kind of the first signs family of ``mode`` (:func:`sign_references`)."""
    return sign_references(spec, mode)["signs"]


def reference_vectors(spec: JobSpec, mode: str = "lcu", family: str = "signs",
                      x: np.ndarray | None = None) -> np.ndarray:
    """``r (count, n)`` of sign ``family`` (:func:`sign_references`) for every input of
    ``spec`` (or for the unit rows of ``x``)."""
    from hwadapt.circuits.signs import reference_vector

    kind = sign_references(spec, mode)[family]
    x = input_vectors(spec) if x is None else x
    if not kind.startswith("term"):
        return reference_vector(kind, x, spec.circuit.layout)
    from hwadapt.linalg import givens_matrix

    k = int(kind[4:])
    angles, alphas = adapter_parameters(spec)
    Ok = givens_matrix(spec.circuit.qubits, np.asarray(angles[k], dtype=float),
                       spec.circuit.layout)
    return np.sign(alphas[k]) * x @ Ok.T


def run_metadata(spec: JobSpec) -> RunMetadata:
    """Everything the analysis of a run of ``spec`` needs (stored with the run at submit):
    inputs ``x``, ``M = Σ α_i O(θ_i)``, ``α``, ``β``, ``K0``, each mode's sign reference."""
    angles, alphas = adapter_parameters(spec)
    c = spec.circuit
    i = spec.inputs
    return RunMetadata(
        construction=c.construction, modes=c.modes, encoding=c.encoding, layout=c.layout,
        x=input_vectors(spec), M=combination_matrix(angles, alphas, c.qubits, c.layout),
        alphas=np.asarray(alphas, float),
        beta=spec.construction.sign_beta(np.asarray(alphas, float), c.terms, "lcu"),
        K0=spec.construction.scale(angles, alphas, c.qubits, c.layout),
        references={mode: {f: reference_vectors(spec, mode, f) for f in sign_references(spec, mode)}
                    for mode in c.modes},
        calibration_references=None if spec.calibration is None or "lcu" not in c.modes else {
            f: reference_vectors(spec, "lcu", f, x=calibration_vectors(spec))
            for f in sign_references(spec, "lcu")},
        inputs={"source": i.source, "seed": i.seed, "count": i.count})


def build_families(spec: JobSpec) -> list[Family]:
    """The circuit families of ``spec``, named as :attr:`JobSpec.family_names`.

    Every family is one circuit whose only parameters are the unary loader's
    ``ParameterVector("x", n-1)``; ``values (count, n-1)`` holds one binding per input.
    """
    angles, alphas = adapter_parameters(spec)
    x = input_vectors(spec)
    n, c, con = spec.circuit.qubits, spec.circuit, spec.construction
    n_cal = 0
    if spec.calibration is not None:  # same template, more bindings: the targets' rows first
        x = np.concatenate([x, calibration_vectors(spec)])
        n_cal = spec.calibration.inputs
    loader = unary_loader(n, ParameterVector("x", n - 1))
    values = np.stack([unary_angles(v) for v in x])
    beta = con.sign_beta(np.asarray(alphas, float), c.terms, "lcu")
    out = []
    for mode in c.modes:
        if mode == "lcu":
            lcu_values = np.stack([unary_angles(v)
                                   for v in con.fold_inputs(angles, x, n, c.layout)])
            for fam in c.families:
                if fam == "signs":
                    for name, kind in sign_references(spec, "lcu").items():
                        qc, n_anc = con.sign_circuit(angles, alphas, loader, c.layout, beta,
                                                     kind)
                        out.append(_measured(name, qc, lcu_values, n, n_anc, n_cal))
                else:
                    qc, n_anc = con.lcu_circuit(angles, alphas, loader, c.layout)
                    out.append(_measured(fam, qc, lcu_values, n, n_anc, n_cal))
            continue
        kinds = sign_references(spec, "separate")
        for i in range(c.terms):
            for fam in c.families:
                for name, kind in (kinds.items() if fam == "signs" else [(fam, None)]):
                    qc, n_anc = con.separate_circuit(angles[i], loader, c.layout,
                                                     fam == "signs", kind)
                    out.append(_measured(f"term{i}.{name}", qc, values, n, n_anc, n_cal))
    return out



def _measured(name: str, qc, values: np.ndarray, n: int, n_anc: int, n_cal: int) -> Family:
    qc.measure_all()
    return Family(name, qc, values, n, n_anc, 1, n_cal)
