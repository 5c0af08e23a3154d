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

Evaluators (:mod:`hwadapt.training.evaluators`) implement :class:`Evaluator`: they turn
``Request(angles (S, R', m), alphas (R',))`` settings and unit inputs ``psi (B, n)`` into
estimates ``y, stderr`` of shape ``(S, B, n)`` per request. Registered as adapter method
``"quantum"`` (:class:`QuantumAdapterLayer`), so ``inject``/``merge``/
``trainable_parameters`` handle it like every adapter; merging folds in the exact ``ΔW``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from hwadapt.adapters.base import AdapterLayer
from hwadapt.adapters.config import AdapterConfig
from hwadapt.adapters.registry import register
from hwadapt.circuits.layouts import num_angles
from hwadapt.errors import InputError
from hwadapt.linalg import givens_matrix


def lcu_matrix(angles: torch.Tensor, alphas: torch.Tensor, layout: str = "pyramid",
               n: int | None = None) -> torch.Tensor:
    """``M = Σ_i α_i givens_matrix(n, θ_i, layout)``: angles ``(..., R, m)``, alphas
    ``(..., R)`` -> ``(..., n, n)`` (the HW-1 block of the LCU, differentiable)."""
    n = _qubits(angles.shape[-1], layout) if n is None else n
    O = givens_matrix(n, angles, layout)
    return torch.einsum("...r,...rij->...ij", alphas.to(O.dtype), O)


def _qubits(m: int, layout: str) -> int:
    n = 2
    while num_angles(n, layout) < m:
        n += 1
    if num_angles(n, layout) != m:
        raise ValueError(f"{m} angles is no {layout} layout's gate count: pass n")
    return n


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


GRADIENTS = ("exact", "parameter_shift", "spsa")
SHIFT = math.pi / 2


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


@register("quantum", options=("qubits",))
class QuantumAdapterLayer(AdapterLayer):
    """A frozen ``nn.Linear`` (square, width ``d = k·n``) plus a block-diagonal quantum
    adapter: ``y = W0 x + b + blockdiag(ΔW, ..., ΔW) x``, the ``k`` blocks of ``n`` features
    each loaded as one unary input (one evaluator call for the whole batch).

    Built by ``inject`` from ``AdapterConfig("quantum", rank=R, qubits=n)`` (a fresh
    :class:`QuantumAdapter`, exact surrogate), or directly around an existing ``adapter``.
    """

    def __init__(self, base_layer: nn.Linear, config: AdapterConfig | QuantumAdapter):
        if isinstance(config, QuantumAdapter):
            adapter = config
            config = AdapterConfig("quantum", rank=adapter.rank, qubits=adapter.n)
        elif config.qubits is None:
            raise ValueError("adapter method 'quantum' needs qubits = n (the unary block "
                             "size, a divisor of the layer width)")
        else:
            adapter = None
        super().__init__(base_layer, config)
        d = self.d_in
        n = config.qubits
        if self.d_out != d or d % n:
            raise InputError(f"quantum adapter needs a square layer whose width is a multiple "
                             f"of n={n}, got {self.d_out}x{d}")
        self.adapter = adapter or QuantumAdapter(n, config.rank,
                                                 dtype=base_layer.weight.dtype)

    def delta_weight(self) -> torch.Tensor:
        """Dense ``ΔW (d, d)`` = ``blockdiag(M, ..., M)``."""
        k = self.base_layer.in_features // self.adapter.n
        return torch.block_diag(*[self.adapter.matrix()] * k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blocks = x.reshape(*x.shape[:-1], -1, self.adapter.n)
        return self.base_layer(x) + self.adapter(blocks).reshape(x.shape)


__all__ = ["GRADIENTS", "Evaluator", "QuantumAdapter", "QuantumAdapterLayer", "Request",
           "lcu_matrix"]
