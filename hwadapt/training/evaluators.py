"""Evaluators: settings of a quantum adapter -> estimated outputs ``y = Mψ`` with errors.

The one seam between quantum adapters (:mod:`hwadapt.adapters.quantum`) and circuits:
``evaluator(requests, psi) -> [(y, stderr), ...]`` with ``Request(angles (S, R', m),
alphas (R',))`` and unit inputs ``psi (B, n)``; returns ``y, stderr`` of shape
``(S, B, n)`` per request.
:class:`ExactEvaluator` computes them exactly (stderr 0); :class:`LedgerEvaluator` builds the
magnitude and sign circuit families from the construction's training templates
(:mod:`hwadapt.circuits.templates`) and runs them through the job manager, one ledger run
per call, with a deterministic run id ``<session>-c<call>`` so a killed training run resumes
the same run (:func:`hwadapt.execution.manager.drive`) instead of resubmitting it.

Lives with training, not execution: it turns counts into estimates (:mod:`hwadapt.estimate`,
the analysis part, which sits above execution).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from hwadapt.adapters.quantum import Request, lcu_matrix
from hwadapt.backends import get_backend
from hwadapt.circuits import constructions
from hwadapt.circuits.lcu import lcu_ancillas
from hwadapt.circuits.templates import CircuitTemplate, circuit_template
from hwadapt.errors import InputError
from hwadapt.estimate import estimate
from hwadapt.execution import manager
from hwadapt.execution.family import Family
from hwadapt.execution.modes import check_mode, shared_mode


def exact_outputs(angles: torch.Tensor, alphas: torch.Tensor, psi: torch.Tensor,
                  layout: str = "pyramid") -> torch.Tensor:
    """``y = M ψ`` for settings ``angles (S, R, m)``, ``alphas (S, R)`` or ``(R,)`` and inputs
    ``psi (B, n)``: ``(S, B, n)``."""
    M = lcu_matrix(angles, alphas, layout, psi.shape[-1])  # (S, n, n)
    return torch.einsum("sij,bj->sbi", M, psi.to(M.dtype))


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
      :func:`~hwadapt.circuits.constructions.spectral.spectral_reference`): one template
      for both families.
    - ``"efficient"`` (and every other request): the multiplexed LCU
      (:func:`~hwadapt.circuits.efficient_lcu.efficient_lcu_circuit`) and its uniform-
      reference sign family (:func:`~hwadapt.circuits.efficient_lcu.efficient_sign_circuit`).

    Both are parameterised templates (:func:`~hwadapt.circuits.templates.circuit_template`):
    every angle — loader, adapter angles, PREPARE rotations (the α) — is a Parameter, so each
    template is transpiled ONCE per ``(template kind, n, sign pattern of α)`` for this evaluator's
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
        mode: Runtime execution mode kept open across all calls on ``ibm_*`` (``"session"``:
            one session for the whole training, a batch where the plan refuses sessions;
            None: each call's run picks its own); :meth:`close` closes it. Local backends
            ignore it.
        service: the IBM service for ``ibm_*`` (default: from the environment or the saved
            account, :func:`hwadapt.backends.ibm_service`), made once and reused by every call.
        batch_bindings: at most this many bindings per batch (0: one batch per call), so
            that ``executor`` (:mod:`hwadapt.executors`) spreads a step's bindings over its
            workers; the estimates depend on ``batch_bindings``, never on the executor.
        force: run even when the first call's modelled local simulation exceeds
            :data:`~hwadapt.execution.plan.MAX_SIMULATION_S` (else :class:`InputError` at that
            call, before its run is created; every call has the same shape).
    """

    def __init__(self, backend: str, ledger: str | Path, *, shots: int = 4000,
                 session: str = "hybrid", seed: int = 0, layout: str = "pyramid",
                 noise_from: str | None = None, optimization_level: int = 1,
                 construction: str = "spectral", service=None, mode: str | None = None,
                 batch_bindings: int = 0, executor=None, force: bool = False):
        if shots < 1:
            raise InputError(f"shots must be >= 1, got {shots}")
        if layout != "pyramid":
            raise InputError(f"LedgerEvaluator runs pyramid-layout circuits only; got "
                             f"layout={layout!r}: use layout='pyramid'")
        check_construction(construction)
        self.backend_name, self.noise_from = backend, noise_from
        self.backend = get_backend(backend, noise_from, service=service)
        self.mode = check_mode(mode)
        self.ledger_path = Path(ledger)
        self.shots, self.session, self.seed, self.layout = shots, session, seed, layout
        self.construction = constructions.get(construction)
        self.optimization_level, self.calls, self.transpiles = optimization_level, 0, 0
        self.batch_bindings, self.executor, self.force = batch_bindings, executor, force
        self._isa: dict[tuple, tuple[CircuitTemplate, object]] = {}

    def close(self) -> None:
        """Close the Runtime mode kept open across calls (if any)."""
        self.backend.close_mode()

    def run_id(self, call: int) -> str:
        return f"{self.session}-c{call:05d}"

    def __call__(self, requests: Sequence[Request], psi: np.ndarray
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
        run_id = self.run_id(self.calls)
        live = [j for j, r in enumerate(requests) if np.abs(r.alphas).sum() > 0]
        refs = {j: self._reference(requests[j], psi) for j in live}
        if live:
            families = [f for k, j in enumerate(live)
                        for f in self._families(k, requests[j], psi, refs[j][0])]
            seed = int.from_bytes(hashlib.sha256(f"{self.seed}:{run_id}".encode()).digest()[:4],
                                  "little")
            if self.calls == 0:
                self._check_seconds(families)
            if self.mode is not None:
                shared_mode(self.backend, self.mode)
            manager.submit_families(families, self.backend_name, self.ledger_path, run_id=run_id,
                            shots=self.shots, seed=seed, name="hybrid",
                            noise_from=self.noise_from, isa=[f.circuit for f in families],
                            service=self.backend.service,
                            backend=None if self.backend.local else self.backend,
                            batch_bindings=self.batch_bindings, executor=self.executor)
        self.calls += 1
        counts = manager.run_counts(self.ledger_path, run_id) if live else {}
        return [self._estimate(r, counts, live.index(j), psi, *refs[j][1:]) if j in live else
                (np.zeros((len(r.angles), *psi.shape)), np.zeros((len(r.angles), *psi.shape)))
                for j, r in enumerate(requests)]

    def _check_seconds(self, families: list[Family]) -> None:
        """:func:`~hwadapt.execution.plan.check_simulation_seconds` of one call's families."""
        from hwadapt.execution.batching import round_shots
        from hwadapt.execution.plan import check_simulation_seconds

        shots = round_shots(self.shots)
        pubs = [(f.circuit, len(f.values), shots) for f in families]
        check_simulation_seconds(
            {"simulation_seconds": self.backend.simulation_seconds(pubs),
             "shots": shots * sum(b for _, b, _ in pubs)}, self.backend_name, self.force,
            "the first batch of adapter circuits", "lower --qubits, --batch or --shots")

    def isa_template(self, kind: str, n: int, signs: Sequence[float]
                     ) -> tuple[CircuitTemplate, object]:
        """The cached ``(template, ISA circuit)`` of a family shape (transpiled on first use)."""
        key = (kind, n, self.layout, tuple(int(v) for v in np.sign(signs)))
        if key not in self._isa:
            tpl = circuit_template(kind, n, key[3], self.layout)
            isa = manager.transpile(tpl.circuit, self.backend, self.optimization_level, self.seed)
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


def check_construction(name: str) -> None:
    """Raise :class:`InputError` unless ``name`` is a trainable registered construction."""
    if name not in constructions.trainable():
        raise InputError(f"unknown construction {name!r}: choose one of "
                         f"{', '.join(constructions.trainable())}")


__all__ = ["ExactEvaluator", "LedgerEvaluator", "check_construction", "exact_outputs"]
