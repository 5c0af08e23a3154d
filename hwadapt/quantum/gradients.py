"""Gradient estimators for circuit expectation values: parameter shift and SPSA.

Parameter shift (Wierichs et al. 2022, equidistant frequencies): if ``f(θ)`` has the
frequencies ``{ω, 2ω, .., Rω}`` in one angle (generator eigenvalue differences), then exactly

    f'(θ) = ω Σ_{μ=1}^{2R} f(θ + x_μ/ω) (-1)^{μ-1} / (4R sin²(x_μ/2)),  x_μ = (2μ-1)π/(2R).

In a plain circuit ``RY/RZ(θ) = exp(-iθP/2)`` give ``ω = 1, R = 1`` (the ``±π/2`` rule).
``RBS(θ)`` rotates by the full angle on a 2-d subspace (eigenvalues ``±1, 0``): ``ω = 1,
R = 2`` (shifts ``±π/4, ±3π/4``), also when controlled inside the LCU. Inside the LCU a QNN
rotation is controlled (eigenvalues ``±1/2, 0``) and the readout has cross terms
``<U_QNN ψ|Z|U_QA ψ>`` linear in it: ``ω = 1/2, R = 2``. The LCU's postselected readout is a
ratio ``N/D`` of two expectation values (``<P0⊗Z>``, ``<P0>``): shift each, then
``(N'D - ND')/D²``.

SPSA: ``ĝ = (1/K) Σ_k [f(θ + cΔ_k) - f(θ - cΔ_k)]/(2c) · Δ_k`` with Rademacher ``Δ_k``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def shift_rule(R: int) -> tuple[np.ndarray, np.ndarray]:
    """``(shifts (2R,), coefficients (2R,))`` of the exact degree-``R`` shift rule."""
    mu = np.arange(1, 2 * R + 1)
    x = (2 * mu - 1) * math.pi / (2 * R)
    return x, (-1.0) ** (mu - 1) / (4 * R * np.sin(x / 2) ** 2)


def parameter_shift(f: Callable[[np.ndarray], np.ndarray], theta: np.ndarray,
                    degrees, omegas=None) -> np.ndarray:
    """``∂f/∂θ_j`` for every ``j`` by the rule of degree ``degrees[j]`` and base frequency
    ``omegas[j]`` (default 1). ``f(θ (P,)) -> (...)`` any array; returns ``(P, ...)``."""
    theta = np.asarray(theta, dtype=float)
    degrees = np.asarray(degrees, dtype=int)
    omegas = np.ones(len(degrees)) if omegas is None else np.asarray(omegas, dtype=float)
    out = []
    for j, (R, w) in enumerate(zip(degrees, omegas, strict=True)):
        shifts, coef = shift_rule(int(R))
        acc = 0.0
        for x, c in zip(shifts, coef, strict=True):
            t = theta.copy()
            t[j] += x / w
            acc = acc + w * c * np.asarray(f(t))
        out.append(acc)
    return np.stack(out)


def spsa(f: Callable[[np.ndarray], float], theta: np.ndarray, c: float = 0.01,
         samples: int = 1, rng: np.random.Generator | None = None) -> np.ndarray:
    """SPSA estimate ``(P,)`` of ``∇f`` with ``samples`` Rademacher directions."""
    rng = np.random.default_rng(0) if rng is None else rng
    theta = np.asarray(theta, dtype=float)
    g = np.zeros_like(theta)
    for _ in range(samples):
        d = rng.choice([-1.0, 1.0], size=theta.shape)
        g += (f(theta + c * d) - f(theta - c * d)) / (2 * c) * d
    return g / samples
