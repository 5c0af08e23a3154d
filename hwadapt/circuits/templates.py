"""Parameterised training templates: one measured family circuit per ``(kind, n, sign
pattern of α)`` whose every angle (loader, Walsh coefficients of the adapter angles, PREPARE
rotations) is a Parameter, so a backend transpiles it once and each evaluation only re-binds
it (:class:`hwadapt.training.evaluators.LedgerEvaluator`).

Kinds: ``"magnitude"`` (efficient LCU after a unary loader), ``"signs"`` (its uniform-
reference sign circuit), ``"spectral"`` (the spectral LCU after the folded loader; its sign
family is the same circuit with other PREPARE weights). A construction names the kinds it
trains with (:meth:`hwadapt.circuits.constructions.base.Construction.template_kinds`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from qiskit.circuit import ControlledGate, ParameterVector, QuantumCircuit
from qiskit.circuit.library import RYGate

from hwadapt.circuits.dilation import pyramid_angles
from hwadapt.circuits.efficient_lcu import (
    efficient_lcu_circuit,
    efficient_sign_circuit,
    uniform_reference_angles,
    walsh_angles,
)
from hwadapt.circuits.gates import FBSGate, RBSGate
from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.lcu import lcu_ancillas, prepare_gate
from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.circuits.signs import default_beta
from hwadapt.circuits.spectral_lcu import select_angles, spectral_basis, spectral_lcu_circuit

TEMPLATE_KINDS = ("magnitude", "signs", "spectral")


def reference_angles(psi: np.ndarray) -> np.ndarray:
    """Pyramid angles ``(B, n(n-1)/2)`` of the uniform sign reference ``V_ref = L_u L_ψ†``
    for unit inputs ``psi (B, n)``: the reference row that
    :func:`~hwadapt.circuits.efficient_lcu.efficient_sign_circuit` appends to the angle table
    (exact on HW 1)."""
    n = psi.shape[1]
    return np.stack([uniform_reference_angles(unary_loader(n, unary_angles(v))) for v in psi])


def _spectral_parts(angles: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Q, walsh, pyramid)`` of one spectral LCU setting ``angles (2, m)`` (pyramid):
    ``O_0ᵀ O_1 = Q D(φ) Qᵀ``; the controlled layer's Walsh angles of ``[0; φ]`` (raveled)
    and the closing pyramid's angles ``pyramid_angles(O_0 Q)``
    (:mod:`hwadapt.circuits.spectral_lcu`). Inputs are loaded as ``unary_angles(ψ @ Q)``."""
    Q, phi, O0 = spectral_basis(angles, n)
    return Q, walsh_angles(select_angles(phi)).ravel(), pyramid_angles(O0 @ Q)


def _prepare_angles(weights: np.ndarray) -> np.ndarray:
    """The rotation angles of ``prepare_gate(weights)`` in gate order (empty for one term)."""
    if lcu_ancillas(len(weights)) == 0:
        return np.zeros(0)
    return np.array([float(op.params[0]) for op, _ in _flatten(prepare_gate(weights).definition)
                     if _is_angle(op)])


def _is_angle(op) -> bool:
    return op.name in ("rbs", "fbs", "ry") or (
        isinstance(op, ControlledGate) and op.base_gate.name == "ry")


def _flatten(qc) -> list[tuple[object, list[int]]]:
    """``(operation, qubit indices)`` of ``qc`` with composite gates (PREPARE, its inverse)
    expanded down to RBS/FBS, (controlled) RY, X, CZ and diagonal gates."""
    out = []
    for inst in qc.data:
        op, qs = inst.operation, [qc.find_bit(q).index for q in inst.qubits]
        if (op.name in ("rbs", "fbs", "ry", "x", "cz", "diagonal") or op.definition is None
                or isinstance(op, ControlledGate)):
            out.append((op, qs))
        else:
            out += [(o, [qs[i] for i in q]) for o, q in _flatten(op.definition)]
    return out


def _with_angle(op, p):
    """A copy of angle gate ``op`` with its angle replaced by ``p`` (a Parameter)."""

    if isinstance(op, ControlledGate):
        return RYGate(p).control(op.num_ctrl_qubits, ctrl_state=op.ctrl_state, annotated=False)
    if isinstance(op, FBSGate):
        return FBSGate(p, op.span)
    return RBSGate(p) if isinstance(op, RBSGate) else RYGate(p)


def _expand_controlled(qc):
    """``qc`` with (multi-)controlled RY gates decomposed into RY and CX: qiskit-aer 0.18's
    SamplerV2 binds the angle of a parameterised ``cry`` wrongly (counts of ``cry(θ)`` with
    values ``[[0.3], [2.0]]`` differ from the pre-bound circuits'), plain ``ry`` is fine."""
    for _ in range(8):
        names = {inst.operation.name for inst in qc.data if isinstance(
            inst.operation, ControlledGate) and inst.operation.base_gate.name == "ry"}
        if not names:
            return qc
        qc = qc.decompose(gates_to_decompose=sorted(names))
    raise RuntimeError("controlled gates left after 8 decompositions")


@dataclass
class CircuitTemplate:
    """A measured family circuit whose every angle is a Parameter ``v[k]``.

    ``sources[k] = (part, i, sign)``: ``v[k] = sign · part[i]`` with part ``"loader"``
    (``unary_angles(ψ)``), ``"walsh"`` (``walsh_angles(table).ravel()``, ``table`` = the
    angles ``(R, m)``, plus the uniform reference row for ``"signs"``) or ``"prep"``
    (PREPARE's rotations of ``|α|`` (and ``β``)). ``index`` maps each Parameter to ``k``.
    ``aliases``: other sources equal to ``sources[k]`` in every generic build (a structural
    zero of the reference row); :meth:`values` checks they still agree.
    """

    kind: str
    n: int
    signs: tuple[int, ...]
    circuit: object
    sources: list[tuple[str, int, int]]
    index: dict
    aliases: list[tuple[int, tuple[str, int, int]]]

    def values(self, angles: np.ndarray, alphas: np.ndarray, psi: np.ndarray) -> np.ndarray:
        """Bindings ``(S·B, K)`` (setting-major) for ``angles (S, R, m)``, ``alphas (R,)``
        (same sign pattern as the template; for ``"spectral"`` the LCU weights of the family,
        ``α`` or those of the spectral construction's ``spectral_reference``, which may differ
        per binding: ``(S·B, R)``) and unit inputs ``psi (B, n)``."""
        al = np.asarray(alphas, dtype=float)
        S, B = len(angles), len(psi)
        rows = al.reshape(-1, al.shape[-1])
        if any(tuple(int(v) for v in np.sign(r)) != self.signs for r in rows):
            raise ValueError(f"alphas {al} do not have the template's sign pattern {self.signs}")
        if al.ndim == 2 and (self.kind != "spectral" or len(al) != S * B):
            raise ValueError(f"per-binding weights (S·B, R) = ({S * B}, R) are for the "
                             f"spectral template only; got {al.shape} for {self.kind!r}")
        if self.kind == "spectral":
            split = [_spectral_parts(th, self.n) for th in angles]  # (Q, walsh, pyramid)
            parts = {"loader": np.concatenate([unary_angles(psi @ Q) for Q, _, _ in split]),
                     "walsh": np.repeat(np.stack([w for _, w, _ in split]), B, axis=0),
                     "pyramid": np.repeat(np.stack([p for _, _, p in split]), B, axis=0)}
            weights = np.abs(al)
        else:
            weights = np.abs(al) if self.kind == "magnitude" else np.abs([*al, default_beta(al)])
            ref = reference_angles(psi) if self.kind == "signs" else None
            walsh = []
            for s in range(S):
                for b in range(B):
                    table = angles[s] if ref is None else np.vstack([angles[s], ref[b]])
                    walsh.append(walsh_angles(table).ravel())
            parts = {"loader": np.tile(unary_angles(psi), (S, 1)), "walsh": np.stack(walsh)}
        if weights.ndim == 1:
            prep = _prepare_angles(weights)
            parts["prep"] = np.broadcast_to(prep, (S * B, len(prep)))
        else:
            parts["prep"] = np.stack([_prepare_angles(w) for w in weights])
        out = np.stack([sg * parts[part][:, i] for part, i, sg in self.sources], axis=1)
        for k, (part, i, sg) in self.aliases:
            if not np.allclose(out[:, k], sg * parts[part][:, i], rtol=0, atol=1e-9):
                raise RuntimeError(f"{self.kind} template: parameter {k} is ambiguous for "
                                   "these values (its candidate sources differ)")
        return out


def circuit_template(kind: str, n: int, signs: Sequence[int], layout: str = "pyramid",
                     seed: int = 12345) -> CircuitTemplate:
    """Parameterised, measured family circuit (``"magnitude"``: efficient LCU of the ``R =
    len(signs)`` terms after a unary loader; ``"signs"``: its uniform-reference sign circuit;
    ``"spectral"``: the spectral LCU of ``R = 2`` terms after the folded loader of ``Qᵀψ``,
    pyramid layout — its sign family
    (:func:`~hwadapt.circuits.constructions.spectral.spectral_reference`) is the same circuit
    with other PREPARE weights, so one template serves both families).

    Built by the shared builders (``efficient_lcu_circuit`` / ``efficient_sign_circuit``) on
    generic numbers (random angles, ``|α|`` with the given signs, a random input), then every
    angle gate gets a Parameter, each matched to the unique number it came from (loader
    angle, Walsh coefficient, PREPARE rotation, or its negative), intersecting the matches of
    a second build (for ``"signs"``: ``efficient_lcu_circuit`` with a generic reference row,
    whose gate sequence must equal ``efficient_sign_circuit``'s; for ``"spectral"``:
    ``spectral_lcu_circuit``, sources the folded loader, the Walsh angles of ``[0; φ]`` and
    ``pyramid_angles(O_0 Q)``, see :func:`_spectral_parts`). The structure depends on
    ``(kind, n, signs)`` only; raises ``RuntimeError`` if a gate angle has no unique source
    (a builder changed its construction).
    """

    sg = _check_template_args(kind, signs, layout)
    ops, hits, global_phase = _generic_build(kind, n, sg, layout, seed, 0)
    for k in range(1, 4):  # intersect with further generic builds until every match is unique
        if k > 1 and all(h is None or len(h) == 1 for h in hits):
            break
        ops_k, hits_k, global_phase = _generic_build(kind, n, sg, layout, seed, k)
        if _gate_shape(ops_k) != _gate_shape(ops):
            raise RuntimeError(f"{kind} template: the builder's gate sequence depends on the "
                               "values, not only on (n, signs)")
        hits = [h if h is None else h & hk for h, hk in zip(hits, hits_k, strict=True)]
    K = sum(h is not None for h in hits)
    v = ParameterVector("v", K)
    width = n + lcu_ancillas(len(sg) + (kind == "signs"))
    out = QuantumCircuit(width, name=f"{kind}_template")
    sources, aliases = [], []
    for (op, qs), h in zip(ops, hits, strict=True):
        if h is not None:
            if not h:
                raise RuntimeError(f"{kind} template: gate {op.name} on {qs} has no source "
                                   "common to the generic builds")
            first, *rest = sorted(h)  # several: equal in every build (checked on binding)
            sources.append(first)
            aliases += [(len(sources) - 1, r) for r in rest]
            op = _with_angle(op, v[len(sources) - 1])
        out.append(op, qs)
    out.global_phase = global_phase
    out = _expand_controlled(out)
    out.measure_all()
    return CircuitTemplate(kind, n, tuple(int(x) for x in sg), out, sources,
                           {p: k for k, p in enumerate(v)}, aliases)



def _check_template_args(kind: str, signs: Sequence[int], layout: str) -> np.ndarray:
    """``signs`` as a float array ``(R,)``; ``ValueError`` for an unknown kind, signs other than
    -1/0/+1 (or all 0), or a spectral template other than 2 terms in the pyramid layout."""
    if kind not in TEMPLATE_KINDS:
        raise ValueError(f"unknown template kind {kind!r}: choose one of {TEMPLATE_KINDS}")
    sg = np.asarray(signs, dtype=float)
    if sg.ndim != 1 or not np.abs(sg).sum() or np.any(~np.isin(sg, (-1, 0, 1))):
        raise ValueError(f"signs must be -1/0/+1 per term, not all 0; got {signs}")
    if kind == "spectral" and (len(sg) != 2 or layout != "pyramid"):
        raise ValueError(f"the spectral template takes 2 terms in the pyramid layout, got "
                         f"{len(sg)} terms, layout {layout!r}: use kind='magnitude'")
    return sg


def _generic_build(kind: str, n: int, sg: np.ndarray, layout: str, seed: int, k: int
                   ) -> tuple[list, list, float]:
    """Flattened generic build ``k`` of ``kind``, per gate the candidate sources of its angle
    (``None`` for a gate without one), and the build's global phase."""
    rng = np.random.default_rng([seed, k])
    th0 = rng.uniform(0.1, 2 * math.pi - 0.1, (len(sg), num_angles(n, layout)))
    al0 = sg * rng.uniform(0.5, 1.5, len(sg))
    x0 = rng.normal(size=(1, n))
    x0 /= np.linalg.norm(x0)
    loader = unary_loader(n, unary_angles(x0)[0])
    if kind == "spectral":
        Q, walsh, pyr = _spectral_parts(th0, n)
        qc = spectral_lcu_circuit(th0, al0, x=x0[0], layout=layout)
        cand = [("loader", unary_angles(x0 @ Q)[0]), ("walsh", walsh), ("pyramid", pyr),
                ("prep", _prepare_angles(np.abs(al0)))]
    elif kind == "magnitude":
        qc = efficient_lcu_circuit(th0, al0, state_prep=loader, layout=layout)
        table, weights = th0, np.abs(al0)
    elif k == 0:  # the shared builder itself
        qc = efficient_sign_circuit(th0, al0, loader, layout=layout)
        table = np.vstack([th0, reference_angles(x0)[0]])
        weights = np.abs([*al0, default_beta(al0)])
    else:  # the same LCU with a generic reference row: the reference's pyramid angles
        # have input-dependent zeros that make Walsh coefficients coincide
        table = np.vstack([th0, rng.uniform(0.1, 2 * math.pi - 0.1, th0.shape[1])])
        weights = np.abs([*al0, default_beta(al0)])
        qc = efficient_lcu_circuit(table, [*al0, weights[-1]], state_prep=loader,
                                   layout=layout)
    if kind != "spectral":
        cand = [("loader", unary_angles(x0)[0]), ("walsh", walsh_angles(table).ravel()),
                ("prep", _prepare_angles(weights))]
    ops = _flatten(qc)
    hits = [{(part, int(i), sgn) for part, arr in cand for sgn in (1, -1)
             for i in np.flatnonzero(np.abs(sgn * arr - float(op.params[0])) < 1e-9)}
            if _is_angle(op) else None for op, _ in ops]
    return ops, hits, float(qc.global_phase)


def _gate_shape(ops: list) -> list:
    """Names, qubits and non-angle parameters of flattened ``ops`` (what builds must share)."""
    return [(op.name, tuple(qs), None if _is_angle(op) else tuple(map(str, op.params)))
            for op, qs in ops]

__all__ = ["TEMPLATE_KINDS", "CircuitTemplate", "circuit_template", "reference_angles"]
