"""Hybrid training: a PyTorch adapter whose output ``ΔW x`` is estimated from circuits.

Model (unary / Hamming-weight-1 encoding on ``n`` qubits): for an input ``x ∈ R^n``

    ΔW x = Σ_{i<R} α_i O(θ_i) x,   O(θ) = givens_matrix(n, θ, layout)  (n x n, orthogonal)

i.e. the HW-1 block of the LCU ``M = Σ α_i U(θ_i)`` of adapter circuits (``adapter_circuit``;
``θ_i`` = RBS angles in layout order). The circuit loads ``ψ = x/‖x‖`` (``unary_loader``), the
estimate of ``y = Mψ`` (signed, with a reference branch: :mod:`hwadapt.circuits.signs`,
:func:`hwadapt.estimate.estimate`) is multiplied back by ``‖x‖`` classically, and so is its
standard error. Zero inputs give ``0`` exactly (nothing is loaded).

Gradients (``gradient=``):

- ``"exact"``: the differentiable torch surrogate ``Σ α_i givens_matrix(θ_i) x``. With an
  evaluator the forward value is the estimate and the backward pass is the surrogate's
  (straight-through); without one (``evaluator=None``) the whole layer is the surrogate.
- ``"parameter_shift"``: ``O(θ)`` depends on one angle ``θ_g`` through one Givens factor
  ``G_g = I + (cos θ_g - 1) P_g + sin θ_g J_g`` (``P_g`` projects on rows ``a, b``, ``J_g`` the
  2-d rotation generator), so every component of the *amplitude* ``y`` — not a probability —
  is ``u + v cos θ_g + w sin θ_g``, a trigonometric polynomial of frequency 1, hence exactly

      ∂y/∂θ_{i,g} = [y(θ_{i,g} + π/2) - y(θ_{i,g} - π/2)] / 2.

  (A probability ``y_j²`` has frequency 2 and would need the ``±π/4`` rule; we shift the
  estimated ``y``, which the estimator returns signed, so the rule applies to it.) ``y`` is
  linear in ``α``: ``∂y/∂α_i = O(θ_i) ψ``, estimated by one single-term circuit per ``i``
  (no shift). Terms with ``α_i = 0`` have ``∂y/∂θ_i = 0`` exactly and are not shifted. The
  forward value, all ``2·R'·m`` shifted settings and the ``R`` single-term settings of one
  step go to the evaluator in ONE call, i.e. one ledger run, one job per shot group.
- ``"spsa"``: ``K = spsa_samples`` Rademacher directions ``Δ`` over all ``(θ, α)``;
  ``ĝ = (1/K) Σ_k <ḡ, y(p + cΔ_k) - y(p - cΔ_k)>/(2c) · Δ_k`` where ``ḡ`` is the incoming
  gradient; unbiased up to ``O(c²)`` for this smooth ``y`` (the test checks it statistically).

The gradient with respect to the input ``x`` is ``Mᵀ ḡ`` computed classically from
``(θ, α)`` (``y`` is linear in ``x``), for every method.

Evaluators (the one seam between this module and circuits): ``evaluator(requests, psi) ->
[(y, stderr), ...]`` with ``Request(angles (S, R', m), alphas (R',))`` and unit inputs
``psi (B, n)``; returns ``y, stderr`` of shape ``(S, B, n)`` per request.
:class:`ExactEvaluator` computes them exactly (stderr 0); :class:`LedgerEvaluator` builds the
magnitude and sign circuit families (angles and loader as circuit parameters, one binding per
setting and input) and runs them through the job manager, one ledger run per call, with a
deterministic run id ``<session>-c<call>`` so a killed training run resumes the same run
(:func:`hwadapt.execution.manager.drive`) instead of resubmitting it.

Training: :func:`fit` checkpoints after every step (model, optimiser, evaluator call
counters, history) atomically; restarting it with the same checkpoint continues after the
last finished step and reuses the ledger runs of the interrupted one.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from hwadapt.circuits import constructions
from hwadapt.circuits.constructions.spectral import spectral_reference
from hwadapt.circuits.layouts import num_angles
from hwadapt.errors import InputError
from hwadapt.execution.family import Family
from hwadapt.fileio import atomic_write
from hwadapt.linalg import givens_matrix
from hwadapt.progress import ProgressBar

GRADIENTS = ("exact", "parameter_shift", "spsa")
SHIFT = math.pi / 2


# ------------------------------------------------------------------------------ exact maths

def lcu_matrix(angles: torch.Tensor, alphas: torch.Tensor, layout: str = "pyramid",
               n: int | None = None) -> torch.Tensor:
    """``M = Σ_i α_i givens_matrix(n, θ_i, layout)``: angles ``(..., R, m)``, alphas
    ``(..., R)`` -> ``(..., n, n)`` (the HW-1 block of the LCU, differentiable)."""
    n = _qubits(angles.shape[-1], layout) if n is None else n
    O = givens_matrix(n, angles, layout)
    return torch.einsum("...r,...rij->...ij", alphas.to(O.dtype), O)


def exact_outputs(angles: torch.Tensor, alphas: torch.Tensor, psi: torch.Tensor,
                  layout: str = "pyramid") -> torch.Tensor:
    """``y = M ψ`` for settings ``angles (S, R, m)``, ``alphas (S, R)`` or ``(R,)`` and inputs
    ``psi (B, n)``: ``(S, B, n)``."""
    M = lcu_matrix(angles, alphas, layout, psi.shape[-1])  # (S, n, n)
    return torch.einsum("sij,bj->sbi", M, psi.to(M.dtype))


def _qubits(m: int, layout: str) -> int:
    n = 2
    while num_angles(n, layout) < m:
        n += 1
    if num_angles(n, layout) != m:
        raise ValueError(f"{m} angles is no {layout} layout's gate count: pass n")
    return n


# ------------------------------------------------------------------------------ templates

TEMPLATE_KINDS = ("magnitude", "signs", "spectral")


def reference_angles(psi: np.ndarray) -> np.ndarray:
    """Pyramid angles ``(B, n(n-1)/2)`` of the uniform sign reference ``V_ref = L_u L_ψ†``
    for unit inputs ``psi (B, n)``: the reference row that
    :func:`~hwadapt.circuits.efficient_lcu.efficient_sign_circuit` appends to the angle table
    (exact on HW 1)."""
    from hwadapt.circuits.efficient_lcu import uniform_reference_angles
    from hwadapt.circuits.loaders import unary_angles, unary_loader

    n = psi.shape[1]
    return np.stack([uniform_reference_angles(unary_loader(n, unary_angles(v))) for v in psi])


def _spectral_parts(angles: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Q, walsh, pyramid)`` of one spectral LCU setting ``angles (2, m)`` (pyramid):
    ``O_0ᵀ O_1 = Q D(φ) Qᵀ``; the controlled layer's Walsh angles of ``[0; φ]`` (raveled)
    and the closing pyramid's angles ``pyramid_angles(O_0 Q)``
    (:mod:`hwadapt.circuits.spectral_lcu`). Inputs are loaded as ``unary_angles(ψ @ Q)``."""
    from hwadapt.circuits.dilation import pyramid_angles
    from hwadapt.circuits.efficient_lcu import walsh_angles
    from hwadapt.circuits.spectral_lcu import select_angles, spectral_basis

    Q, phi, O0 = spectral_basis(angles, n)
    return Q, walsh_angles(select_angles(phi)).ravel(), pyramid_angles(O0 @ Q)


def _prepare_angles(weights: np.ndarray) -> np.ndarray:
    """The rotation angles of ``prepare_gate(weights)`` in gate order (empty for one term)."""
    from hwadapt.circuits.lcu import lcu_ancillas, prepare_gate

    if lcu_ancillas(len(weights)) == 0:
        return np.zeros(0)
    return np.array([float(op.params[0]) for op, _ in _flatten(prepare_gate(weights).definition)
                     if _is_angle(op)])


def _is_angle(op) -> bool:
    from qiskit.circuit import ControlledGate

    return op.name in ("rbs", "fbs", "ry") or (
        isinstance(op, ControlledGate) and op.base_gate.name == "ry")


def _flatten(qc) -> list[tuple[object, list[int]]]:
    """``(operation, qubit indices)`` of ``qc`` with composite gates (PREPARE, its inverse)
    expanded down to RBS/FBS, (controlled) RY, X, CZ and diagonal gates."""
    from qiskit.circuit import ControlledGate

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
    from qiskit.circuit import ControlledGate
    from qiskit.circuit.library import RYGate

    from hwadapt.circuits.gates import FBSGate, RBSGate

    if isinstance(op, ControlledGate):
        return RYGate(p).control(op.num_ctrl_qubits, ctrl_state=op.ctrl_state, annotated=False)
    if isinstance(op, FBSGate):
        return FBSGate(p, op.span)
    return RBSGate(p) if isinstance(op, RBSGate) else RYGate(p)


def _expand_controlled(qc):
    """``qc`` with (multi-)controlled RY gates decomposed into RY and CX: qiskit-aer 0.18's
    SamplerV2 binds the angle of a parameterised ``cry`` wrongly (counts of ``cry(θ)`` with
    values ``[[0.3], [2.0]]`` differ from the pre-bound circuits'), plain ``ry`` is fine."""
    from qiskit.circuit import ControlledGate

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
        ``α`` or those of :func:`spectral_reference`, which may differ per binding:
        ``(S·B, R)``) and unit inputs ``psi (B, n)``."""
        from hwadapt.circuits.efficient_lcu import walsh_angles
        from hwadapt.circuits.loaders import unary_angles
        from hwadapt.circuits.signs import default_beta

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
    pyramid layout — its sign family (:func:`spectral_reference`) is the same circuit with
    other PREPARE weights, so one template serves both families).

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
    from qiskit.circuit import ParameterVector, QuantumCircuit

    from hwadapt.circuits.efficient_lcu import (
        efficient_lcu_circuit,
        efficient_sign_circuit,
        walsh_angles,
    )
    from hwadapt.circuits.lcu import lcu_ancillas
    from hwadapt.circuits.loaders import unary_angles, unary_loader
    from hwadapt.circuits.signs import default_beta

    if kind not in TEMPLATE_KINDS:
        raise ValueError(f"unknown template kind {kind!r}: choose one of {TEMPLATE_KINDS}")
    sg = np.asarray(signs, dtype=float)
    if sg.ndim != 1 or not np.abs(sg).sum() or np.any(~np.isin(sg, (-1, 0, 1))):
        raise ValueError(f"signs must be -1/0/+1 per term, not all 0; got {signs}")
    if kind == "spectral" and (len(sg) != 2 or layout != "pyramid"):
        raise ValueError(f"the spectral template takes 2 terms in the pyramid layout, got "
                         f"{len(sg)} terms, layout {layout!r}: use kind='magnitude'")

    global_phase = 0.0

    def build(k: int) -> tuple[list, list[list[tuple[str, np.ndarray]]]]:
        """Flattened generic build ``k`` and, per gate, the candidate sources of its angle."""
        rng = np.random.default_rng([seed, k])
        th0 = rng.uniform(0.1, 2 * math.pi - 0.1, (len(sg), num_angles(n, layout)))
        al0 = sg * rng.uniform(0.5, 1.5, len(sg))
        x0 = rng.normal(size=(1, n))
        x0 /= np.linalg.norm(x0)
        loader = unary_loader(n, unary_angles(x0)[0])
        if kind == "spectral":
            from hwadapt.circuits.spectral_lcu import spectral_lcu_circuit

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
        nonlocal global_phase
        global_phase = float(qc.global_phase)
        ops = _flatten(qc)
        hits = [{(part, int(i), sgn) for part, arr in cand for sgn in (1, -1)
                 for i in np.flatnonzero(np.abs(sgn * arr - float(op.params[0])) < 1e-9)}
                if _is_angle(op) else None for op, _ in ops]
        return ops, hits

    def shape(ops: list) -> list:
        return [(op.name, tuple(qs), None if _is_angle(op) else tuple(map(str, op.params)))
                for op, qs in ops]

    ops, hits = build(0)
    for k in range(1, 4):  # intersect with further generic builds until every match is unique
        if k > 1 and all(h is None or len(h) == 1 for h in hits):
            break
        ops_k, hits_k = build(k)
        if shape(ops_k) != shape(ops):
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


# ------------------------------------------------------------------------------ evaluators

@dataclass(frozen=True)
class Request:
    """Settings to evaluate on every input: ``angles (S, R', m)`` with one ``alphas (R',)``."""

    angles: np.ndarray
    alphas: np.ndarray


class Evaluator(Protocol):
    calls: int

    def __call__(self, requests: Sequence[Request], psi: np.ndarray
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(y, stderr)]``, each ``(S, B, n)``, for unit inputs ``psi (B, n)``."""
        ...


class ExactEvaluator:
    """Exact ``y`` (float64) with zero standard error: the noiseless reference."""

    def __init__(self, layout: str = "pyramid"):
        self.layout, self.calls = layout, 0

    def __call__(self, requests: Sequence[Request], psi: np.ndarray
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
        self.calls += 1
        p = torch.as_tensor(psi, dtype=torch.float64)
        out = []
        for r in requests:
            y = exact_outputs(torch.as_tensor(r.angles, dtype=torch.float64),
                              torch.as_tensor(r.alphas, dtype=torch.float64), p, self.layout)
            out.append((y.numpy(), np.zeros(y.shape)))
        return out


class LedgerEvaluator:
    """Estimates from circuits run through the job manager (one ledger run per call).

    Circuits (``construction``):

    - ``"spectral"`` (default; used for requests of ``R' = 2`` terms): the
      spectral LCU (:func:`~hwadapt.circuits.spectral_lcu.spectral_lcu_circuit`: folded
      loader, ``⌊n/2⌋`` controlled pair rotations, one pyramid — 121 two-qubit gates at
      ``n = 8`` on FakeTorino) for the magnitudes, and the same circuit with heavier terms
      for the signs (reference ``r`` = a mix of ``±O(θ_i)ψ`` picked per input,
      :func:`spectral_reference`): one template for both families.
    - ``"efficient"`` (and every other request): the multiplexed LCU
      (:func:`~hwadapt.circuits.efficient_lcu.efficient_lcu_circuit`) and its uniform-
      reference sign family (:func:`~hwadapt.circuits.efficient_lcu.efficient_sign_circuit`).

    Both are parameterised templates (:func:`circuit_template`): every angle — loader,
    adapter angles, PREPARE rotations (the α) — is a Parameter, so each template is
    transpiled ONCE per ``(template kind, n, sign pattern of α)`` for this evaluator's
    backend and only re-bound per request; ``.transpiles`` counts the transpilations.

    Args:
        backend: a backend name (``exact`` = sampled exact probabilities, ``aer``,
            ``aer_noisy``, ``fake_<device>``, ``ibm_<device>``).
        ledger: ledger path; runs are named ``hybrid`` and identified
            ``<session>-c<call index>``.
        shots: raw shots per circuit binding (one shot count per run, so one job unless the
            5M-execution / payload limits split it).
        session: run-id prefix; reuse it (with the same ``calls``) to resume.
        layout: adapter layout; both constructions need ``"pyramid"``.
        construction: a trainable registered construction
            (:func:`hwadapt.circuits.constructions.trainable`: ``"spectral"`` or
            ``"efficient"``, see above); it picks the templates and sign references.
        service: the IBM service for ``ibm_*`` (default: from the environment or the saved
            account, :func:`hwadapt.backends.ibm_service`), made once and reused by every call.
    """

    def __init__(self, backend: str, ledger: str | Path, *, shots: int = 4000,
                 session: str = "hybrid", seed: int = 0, layout: str = "pyramid",
                 noise_from: str | None = None, optimization_level: int = 1,
                 construction: str = "spectral", service=None):
        from hwadapt.backends import get_backend

        if shots < 1:
            raise InputError(f"shots must be >= 1, got {shots}")
        if layout != "pyramid":
            raise InputError(f"LedgerEvaluator runs pyramid-layout circuits only; got "
                             f"layout={layout!r}: use layout='pyramid'")
        _check_construction(construction)
        self.backend_name, self.noise_from = backend, noise_from
        self.backend = get_backend(backend, noise_from, service=service)
        self.ledger_path = Path(ledger)
        self.shots, self.session, self.seed, self.layout = shots, session, seed, layout
        self.construction = constructions.get(construction)
        self.optimization_level, self.calls, self.transpiles = optimization_level, 0, 0
        self._isa: dict[tuple, tuple[CircuitTemplate, object]] = {}

    def run_id(self, call: int) -> str:
        return f"{self.session}-c{call:05d}"

    def __call__(self, requests: Sequence[Request], psi: np.ndarray
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
        from hwadapt.execution.manager import run_counts, submit_families

        run_id = self.run_id(self.calls)
        live = [j for j, r in enumerate(requests) if np.abs(r.alphas).sum() > 0]
        refs = {j: self._reference(requests[j], psi) for j in live}
        if live:
            families = [f for k, j in enumerate(live)
                        for f in self._families(k, requests[j], psi, refs[j][0])]
            seed = int.from_bytes(hashlib.sha256(f"{self.seed}:{run_id}".encode()).digest()[:4],
                                  "little")
            submit_families(families, self.backend_name, self.ledger_path, run_id=run_id,
                            shots=self.shots, seed=seed, name="hybrid",
                            noise_from=self.noise_from, isa=[f.circuit for f in families],
                            service=self.backend.service)
        self.calls += 1
        counts = run_counts(self.ledger_path, run_id) if live else {}
        return [self._estimate(r, counts, live.index(j), psi, *refs[j][1:]) if j in live else
                (np.zeros((len(r.angles), *psi.shape)), np.zeros((len(r.angles), *psi.shape)))
                for j, r in enumerate(requests)]

    def isa_template(self, kind: str, n: int, signs: Sequence[float]
                     ) -> tuple[CircuitTemplate, object]:
        """The cached ``(template, ISA circuit)`` of a family shape (transpiled on first use)."""
        from hwadapt.execution.manager import transpile

        key = (kind, n, self.layout, tuple(int(v) for v in np.sign(signs)))
        if key not in self._isa:
            tpl = circuit_template(kind, n, key[3], self.layout)
            isa = transpile(tpl.circuit, self.backend, self.optimization_level, self.seed)
            self.transpiles += 1
            self._isa[key] = (tpl, isa)
        return self._isa[key]

    def _reference(self, req: Request, psi: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, float]:
        """``(sign-family weights, reference r (S, B, n), β)`` of one request: computed once
        per call, for its circuits (:meth:`_families`) and its estimates (:meth:`_estimate`)."""
        return self.construction.template_reference(req.angles, req.alphas, psi)

    def _families(self, j: int, req: Request, psi: np.ndarray, sign_weights: np.ndarray
                  ) -> list:
        """Magnitude and sign families of one request from the cached ISA templates,
        bindings ``(S·B, P)`` ordered setting-major."""
        from hwadapt.circuits.lcu import lcu_ancillas

        R, n = req.angles.shape[1], psi.shape[1]
        weights = {"magnitude": req.alphas, "signs": sign_weights}
        kinds = self.construction.template_kinds(R)
        out = []
        for family in ("magnitude", "signs"):
            tpl, isa = self.isa_template(kinds[family], n, req.alphas)
            values = tpl.values(req.angles, weights[family], psi)  # (S·B, K), template order
            cols = [tpl.index[p] for p in isa.parameters]
            anc = lcu_ancillas(R + (kinds[family] == "signs"))
            out.append(Family(f"r{j}:{family}", isa, values[:, cols], n, anc, 1))
        return out

    def _estimate(self, req: Request, counts: dict, j: int, psi: np.ndarray,
                  refs: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
        from hwadapt.estimate import estimate

        S, B = len(req.angles), len(psi)
        ys, ses = [], []
        for s in range(S):
            sl = slice(s * B, (s + 1) * B)
            est = estimate({"magnitude": counts[f"r{j}:magnitude"][sl],
                            "signs": counts[f"r{j}:signs"][sl]},
                           n=psi.shape[1], alphas=req.alphas, beta=beta, reference=refs[s])
            ys.append(est.y)
            ses.append(est.stderr)
        return np.stack(ys), np.stack(ses)


def _check_construction(name: str) -> None:
    if name not in constructions.trainable():
        raise InputError(f"unknown construction {name!r}: choose one of "
                         f"{', '.join(constructions.trainable())}")


# ------------------------------------------------------------------------------ autograd

class _Estimated(torch.autograd.Function):
    """``(x (B, n), angles (R, m), alpha (R,)) -> (y (B, n), stderr (B, n))`` via an
    evaluator, with parameter-shift or SPSA gradients (see the module docstring)."""

    @staticmethod
    def forward(ctx, x, angles, alpha, layer, want):  # noqa: D401
        norms = x.detach().double().norm(dim=-1)  # (B,)
        nz = norms > 0
        psi = torch.where(nz[:, None], x.detach().double() / norms.clamp_min(1e-300)[:, None],
                          torch.full_like(x, 1.0, dtype=torch.float64) / math.sqrt(x.shape[1]))
        th = angles.detach().double().numpy()
        al = alpha.detach().double().numpy()
        requests, plan = layer._requests(th, al, want)
        results = layer.evaluator(requests, psi.numpy())
        scale = (norms * nz)[:, None].numpy()
        y, se = results[0][0][0] * scale, results[0][1][0] * scale
        ctx.layer, ctx.plan, ctx.results, ctx.scale = layer, plan, results, scale
        ctx.save_for_backward(angles, alpha)
        se_t = torch.as_tensor(se, dtype=x.dtype)
        ctx.mark_non_differentiable(se_t)
        return torch.as_tensor(y, dtype=x.dtype), se_t

    @staticmethod
    def backward(ctx, gy, _gse):
        angles, alpha = ctx.saved_tensors
        layer, plan, res, scale = ctx.layer, ctx.plan, ctx.results, ctx.scale
        g = gy.detach().double().numpy() * scale  # ḡ·‖x‖: dL/dy(ψ)
        gx = ga = gal = None
        if ctx.needs_input_grad[0]:
            M = lcu_matrix(angles.detach().double(), alpha.detach().double(), layer.layout,
                           layer.n)
            gx = (gy.double() @ M).to(gy.dtype)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            if plan["kind"] == "value":
                raise RuntimeError("forward ran without gradient settings (grad disabled)")
            if plan["kind"] == "parameter_shift":
                dth = np.zeros(angles.shape)
                if plan["terms"]:
                    ys = res[0][0][1:]  # (2T·m, B, n): +shift, -shift per (term, angle)
                    diff = (ys[0::2] - ys[1::2]) / 2  # ∂y/∂θ per shifted angle
                    d = np.einsum("kbn,bn->k", diff, g).reshape(len(plan["terms"]), -1)
                    dth[plan["terms"]] = d
                dal = np.einsum("rbn,bn->r", res[1][0], g)
            else:
                K, c = plan["samples"], plan["c"]
                est = np.zeros(angles.numel() + alpha.numel())
                for k in range(K):
                    yp, ym = res[1 + 2 * k][0][0], res[2 + 2 * k][0][0]
                    est += np.sum(g * (yp - ym)) / (2 * c) * plan["deltas"][k]
                est /= K
                dth, dal = est[:angles.numel()].reshape(angles.shape), est[angles.numel():]
            ga = torch.as_tensor(dth, dtype=angles.dtype)
            gal = torch.as_tensor(dal, dtype=alpha.dtype)
        return gx, ga, gal, None, None


class QuantumAdapter(nn.Module):
    """Unary-encoded LCU adapter: ``x (..., n) -> ΔW x (..., n)``, ``ΔW = Σ α_i O(θ_i)``.

    Parameters: ``angles (R, m)`` (layout order = RBS circuit angles, uniform in ``[0, 2π)``)
    and ``alpha (R,)`` (zeros: ``ΔW = 0`` at start). ``evaluator=None`` runs the exact torch
    surrogate (``gradient`` must be ``"exact"``); otherwise the forward value comes from the
    evaluator and ``gradient`` picks the backward rule. After each forward, ``.stderr`` holds
    the standard error of the output (zeros for the surrogate).
    """

    def __init__(self, n: int, rank: int = 1, *, layout: str = "pyramid",
                 gradient: str = "exact", evaluator: Evaluator | None = None,
                 spsa_samples: int = 1, spsa_c: float = 0.1, seed: int = 0,
                 dtype: torch.dtype | None = None):
        super().__init__()
        if gradient not in GRADIENTS:
            raise InputError(f"unknown gradient {gradient!r}: choose one of "
                             f"{', '.join(GRADIENTS)}")
        if evaluator is None and gradient != "exact":
            raise InputError(f"gradient={gradient!r} needs an evaluator (circuit estimates); "
                             "pass evaluator=ExactEvaluator() or LedgerEvaluator(...)")
        if n < 2 or rank < 1 or spsa_samples < 1 or not spsa_c > 0:
            raise InputError(f"need n >= 2, rank >= 1, spsa_samples >= 1, spsa_c > 0; got n={n},"
                             f" rank={rank}, spsa_samples={spsa_samples}, spsa_c={spsa_c}")
        self.n, self.rank, self.layout, self.gradient = n, rank, layout, gradient
        self.evaluator, self.spsa_samples, self.spsa_c, self.seed = (
            evaluator, spsa_samples, spsa_c, seed)
        m = num_angles(n, layout)
        self.angles = nn.Parameter(torch.rand(rank, m, dtype=dtype) * 2 * math.pi)
        self.alpha = nn.Parameter(torch.zeros(rank, dtype=dtype))
        self.stderr: torch.Tensor | None = None

    @classmethod
    def from_hamming_layer(cls, layer: nn.Module, **kwargs) -> QuantumAdapter:
        """Warm start from a classical orthogonal Hamming adapter (``.angles (R, m)`` pyramid,
        ``.alpha (R,)``, ``.n`` qubits): its HW-1 block, as this adapter."""
        if getattr(layer, "base", None) != "orthogonal":
            raise InputError("warm start needs a hamming adapter with base='orthogonal' (its "
                             "Givens angles are the circuit angles)")
        q = cls(layer.n, layer.rank, layout="pyramid", dtype=layer.angles.dtype, **kwargs)
        with torch.no_grad():
            q.angles.copy_(layer.angles)
            q.alpha.copy_(layer.alpha)
        return q

    def matrix(self) -> torch.Tensor:
        """``ΔW = Σ α_i givens_matrix(θ_i)``, ``(n, n)`` (differentiable)."""
        return lcu_matrix(self.angles, self.alpha, self.layout, self.n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, self.stderr = self.forward_with_stderr(x)
        return y

    def forward_with_stderr(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ΔW x, stderr)``, both ``(..., n)``."""
        if x.shape[-1] != self.n:
            raise InputError(f"input width {x.shape[-1]} != adapter qubits n={self.n}")
        lead = x.shape[:-1]
        xf = x.reshape(-1, self.n)
        exact = xf @ self.matrix().to(x.dtype).T
        if self.evaluator is None:
            return exact.reshape(x.shape), torch.zeros_like(x)
        want = torch.is_grad_enabled() and (self.angles.requires_grad or self.alpha.requires_grad)
        y, se = _Estimated.apply(xf, self.angles, self.alpha, self, want)
        if self.gradient == "exact":  # estimate forward, surrogate backward
            y = y.detach() + exact - exact.detach()
        return y.reshape(*lead, self.n), se.reshape(*lead, self.n)

    def _requests(self, th: np.ndarray, al: np.ndarray, want: bool
                  ) -> tuple[list[Request], dict]:
        """Requests of one forward (request 0, setting 0 = the value) and the backward plan."""
        base = Request(th[None], al)
        if not want or self.gradient == "exact":
            return [base], {"kind": "value"}
        if self.gradient == "parameter_shift":
            terms = [i for i in range(self.rank) if al[i] != 0]
            shifted = [th]
            for i in terms:
                for g in range(th.shape[1]):
                    for s in (SHIFT, -SHIFT):
                        t = th.copy()
                        t[i, g] += s
                        shifted.append(t)
            single = Request(th[:, None, :], np.ones(1))  # O(θ_i)ψ: ∂y/∂α_i
            return ([Request(np.stack(shifted), al), single],
                    {"kind": "parameter_shift", "terms": terms})
        # SPSA: seeded per evaluator call, so a resumed step draws the same directions
        rng = np.random.default_rng([self.seed, getattr(self.evaluator, "calls", 0)])
        p = np.concatenate([th.ravel(), al])
        deltas = rng.choice([-1.0, 1.0], size=(self.spsa_samples, p.size))
        reqs = [base]
        for d in deltas:
            for sgn in (1, -1):
                q = p + sgn * self.spsa_c * d
                reqs.append(Request(q[:th.size].reshape(1, *th.shape), q[th.size:]))
        return reqs, {"kind": "spsa", "samples": self.spsa_samples, "c": self.spsa_c,
                      "deltas": deltas}


class QuantumAdapterLayer(nn.Module):
    """A frozen ``nn.Linear`` (square, width ``d = k·n``) plus a block-diagonal quantum
    adapter: ``y = W0 x + b + blockdiag(ΔW, ..., ΔW) x``, the ``k`` blocks of ``n`` features
    each loaded as one unary input (one evaluator call for the whole batch)."""

    def __init__(self, base_layer: nn.Linear, adapter: QuantumAdapter):
        super().__init__()
        d = base_layer.in_features
        if base_layer.out_features != d or d % adapter.n:
            raise InputError(f"quantum adapter needs a square layer whose width is a multiple "
                             f"of n={adapter.n}, got {base_layer.out_features}x{d}")
        self.base_layer = base_layer.requires_grad_(False)
        self.adapter = adapter

    def delta_weight(self) -> torch.Tensor:
        """Dense ``ΔW (d, d)`` = ``blockdiag(M, ..., M)``."""
        k = self.base_layer.in_features // self.adapter.n
        return torch.block_diag(*[self.adapter.matrix()] * k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blocks = x.reshape(*x.shape[:-1], -1, self.adapter.n)
        return self.base_layer(x) + self.adapter(blocks).reshape(x.shape)


# ------------------------------------------------------------------------------ training

def _evaluators(model: nn.Module) -> list:
    seen: dict[int, object] = {}
    for mod in model.modules():
        if isinstance(mod, QuantumAdapter) and mod.evaluator is not None:
            seen.setdefault(id(mod.evaluator), mod.evaluator)
    return list(seen.values())


def fit(model: nn.Module, loss_fn: Callable[[nn.Module, int], torch.Tensor], steps: int,
        optimizer: torch.optim.Optimizer, checkpoint: str | Path,
        on_step: Callable[[int, float], None] | None = None) -> dict:
    """Train ``steps`` optimiser steps with a checkpoint after every step; resumable.

    ``loss_fn(model, step)`` must be deterministic in ``step`` (e.g. pick the mini-batch
    from a generator seeded by the step). If ``checkpoint`` exists, training continues after
    its last step: model, optimiser, history and the evaluators' call counters are restored,
    so the next evaluator call maps to the ledger run the killed process was using.
    Returns the history ``{"step": k, "loss": [...], "wall_s": [...]}``.
    """
    from hwadapt.execution.manager import crash_point

    checkpoint = Path(checkpoint)
    evals = _evaluators(model)
    hist: dict = {"step": 0, "loss": [], "wall_s": []}
    if checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        for ev, calls in zip(evals, state["calls"], strict=True):
            ev.calls = calls
        hist = state["history"]
    for step in range(hist["step"], steps):
        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(model, step)
        loss.backward()
        optimizer.step()
        hist["loss"].append(float(loss.detach()))
        hist["wall_s"].append(time.perf_counter() - t0)
        hist["step"] = step + 1
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "calls": [ev.calls for ev in evals], "history": hist}
        atomic_write(checkpoint, lambda f, state=state: torch.save(state, f))
        crash_point("hybrid_after_step")
        if on_step:
            on_step(step, hist["loss"][-1])
    return hist


# ------------------------------------------------------------------------------ MNIST task

def quantum_finetune(backend: str = "aer_noisy", *, out: str | Path, ledger: str | Path,
                     qubits: int = 8, rank: int = 2, hidden: int = 16, steps: int = 5,
                     batch: int = 16, shots: int = 2000, gradient: str = "spsa",
                     pretrain_epochs: int = 3, warm_epochs: int = 3, eval_samples: int = 50,
                     eval_repeats: int = 1,
                     max_per_class: int | None = None, lr: float = 0.005, seed: int = 0,
                     construction: str = "spectral", progress: bool = False) -> dict:
    """The study's MNIST model with a quantum adapter on ``fc2``, fine-tuned on a backend.

    Pretrain the study's MLP (width ``hidden``) on digits 0-4; adapt ``fc2`` with a
    block-diagonal :class:`QuantumAdapterLayer` (``hidden/qubits`` blocks, unary encoding on
    ``qubits`` qubits); warm start: train the adapter's exact surrogate (= the orthogonal
    Hamming adapter on HW 1) and the head classically for ``warm_epochs`` on digits 5-9;
    then ``steps`` hybrid steps on ``backend`` (``gradient``; head trained classically;
    circuits: ``construction``, see :class:`LedgerEvaluator`),
    checkpointed in ``out/checkpoint.pt`` and resumable (same ``out`` and ``ledger``).
    Reports B-validation accuracy and loss (a seeded subset of ``eval_samples``) of the warm
    start and of the fine-tuned model, each with the adapter estimated on the backend and
    simulated exactly (``evaluation[warm_start|fine_tuned][backend|exact]``); the backend
    entry is the mean over ``eval_repeats`` independent estimation runs (their scores in
    ``runs``: the spread is the shot noise of the comparison); writes ``out/hybrid.json``.
    """
    import copy
    import json

    from hwadapt.training.data import load_mnist
    from hwadapt.training.experiment import DIGITS_B, StudyConfig, pretrain

    out = Path(out)
    cfg = StudyConfig(methods=["head-only"], hidden=hidden, pretrain_epochs=pretrain_epochs,
                      max_per_class=max_per_class)
    cfg.validate()
    for name, value, low in (("--qubits", qubits, 2), ("rank", rank, 1), ("--steps", steps, 0),
                             ("--batch", batch, 1), ("eval_samples", eval_samples, 1),
                             ("--eval-repeats", eval_repeats, 1)):
        if value < low:
            raise InputError(f"{name} must be >= {low}, got {value}")
    if hidden % qubits:
        raise InputError(f"--hidden {hidden} must be a multiple of --qubits {qubits}")
    if gradient not in GRADIENTS:
        raise InputError(f"unknown gradient {gradient!r}: choose one of {', '.join(GRADIENTS)}")
    _check_construction(construction)
    if not (math.isfinite(lr) and lr > 0):
        raise InputError(f"--lr must be a positive number, got {lr}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = load_mnist(hidden, max_per_class=max_per_class, split_seed=seed)
    pretrained = pretrain(data, cfg, seed)
    torch.manual_seed(seed)
    model = copy.deepcopy(pretrained).requires_grad_(False)
    adapter = QuantumAdapter(qubits, rank, seed=seed)
    model.fc2 = QuantumAdapterLayer(model.fc2, adapter)
    model.head.requires_grad_(True)
    xb, yb = data.task(DIGITS_B, "train")
    xv, yv = data.task(DIGITS_B, "val")
    pick = torch.randperm(len(xv), generator=torch.Generator().manual_seed(seed))[:eval_samples]
    xv, yv = xv[pick], yv[pick]  # a seeded random subset (the split is ordered by digit)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(warm_epochs):  # classical warm start (exact surrogate)
        perm = torch.randperm(len(xb), generator=gen)
        for i in range(0, len(xb), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb[idx]), yb[idx]).backward()
            opt.step()
    evaluator = LedgerEvaluator(backend, ledger, shots=shots, seed=seed,
                                session=f"finetune-{out.resolve().name}",
                                construction=construction)

    bar = ProgressBar(progress, "hybrid fine-tuning", steps + 2 * eval_repeats)

    def evaluate(when: str, done: int) -> dict:
        """B-validation scores, the adapter estimated on the backend and simulated exactly."""
        adapter.evaluator = evaluator
        runs = []
        for i in range(eval_repeats):  # a ledger run each
            bar.update(description=f"{when} evaluation {i + 1}/{eval_repeats} on {backend}",
                       completed=done + i)
            runs.append(_scores(model, xv, yv))
        adapter.evaluator = None
        exact = _scores(model, xv, yv)
        adapter.evaluator = evaluator
        mean = {k: float(np.mean([r[k] for r in runs])) for k in exact}
        return {"backend": {**mean, "runs": runs}, "exact": exact}

    def loss_fn(m: nn.Module, step: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed * 100_003 + step)
        idx = torch.randperm(len(xb), generator=g)[:batch]
        return nn.functional.cross_entropy(m(xb[idx]), yb[idx])

    try:  # the bar is closed on errors too (a failed job ends the run with a clean line)
        warm = evaluate("warm-start", 0)
        adapter.gradient = gradient
        hist = fit(model, loss_fn, steps, opt, out / "checkpoint.pt",
                   on_step=lambda k, loss: bar.update(
                       description=f"hybrid step {k + 1}/{steps}: loss {loss:.3f}",
                       completed=eval_repeats + k + 1))
        fine_tuned = evaluate("final", eval_repeats + steps)
    finally:
        bar.close()
    report = {"backend": backend, "qubits": qubits, "rank": rank, "hidden": hidden,
              "gradient": gradient, "construction": construction, "shots": shots,
              "steps": steps, "batch": batch, "lr": lr, "pretrain_epochs": pretrain_epochs,
              "warm_epochs": warm_epochs, "eval_samples": len(yv),
              "eval_repeats": eval_repeats, "loss": hist["loss"], "step_s": hist["wall_s"],
              "evaluation": {"warm_start": warm, "fine_tuned": fine_tuned},
              "ledger": str(ledger), "session": evaluator.session,
              "wall_s": time.perf_counter() - t0}
    (out / "hybrid.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """``{"accuracy", "loss"}`` (cross-entropy) of ``model`` on ``(x, y)``."""
    with torch.no_grad():
        logits = model(x)
    return {"accuracy": float((logits.argmax(-1) == y).float().mean()),
            "loss": float(nn.functional.cross_entropy(logits, y))}


__all__ = ["GRADIENTS", "ExactEvaluator", "LedgerEvaluator", "QuantumAdapter",
           "QuantumAdapterLayer", "Request", "circuit_template", "exact_outputs", "fit",
           "lcu_matrix", "quantum_finetune", "spectral_reference"]
