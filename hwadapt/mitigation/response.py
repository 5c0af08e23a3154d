"""Response maps: noisy kept probabilities → exact ones, learned on calibration inputs.

Probabilities are per family the per-input kept fractions ``p̂ (inputs, c)`` the estimator
consumes (kept shots / shots passing the Hamming-weight check). A map is fitted by least
squares on ``m`` calibration inputs with noisy ``P̂ (m, c)`` and exact ``P (m, c)``:

- ``"diagonal"``: per component ``p_j ≈ a_j p̂_j + c_j`` (``2c`` parameters); used below
  :data:`AFFINE_MIN_INPUTS` calibration inputs, where the full map overfits;
- ``"affine"``: ``p ≈ p̂ A + c`` (``c² + c`` parameters, a tiny ridge keeps it defined).

The same least squares the other way round, exact → noisy (:func:`noise_model`), has
noise-free regressors and so no errors-in-variables bias: its fitted values are the
calibration inputs' noisy probabilities with their shot noise smoothed out, what the
bootstrap draws calibration counts from (:mod:`hwadapt.mitigation.learned`).

Mapped probabilities can be negative: they are returned as fitted; the estimator clips them
at 0 once (:func:`hwadapt.estimate.signed_estimate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("auto", "diagonal", "affine")
AFFINE_MIN_INPUTS = 64
RIDGE = 1e-8


@dataclass(frozen=True)
class ResponseMap:
    """``apply(p̂) = p̂ @ A + c``; ``A (c, c)`` (diagonal for ``method = "diagonal"``)."""

    method: str
    A: np.ndarray
    c: np.ndarray

    @property
    def parameters(self) -> int:
        n = len(self.c)
        return 2 * n if self.method == "diagonal" else n * n + n

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Mapped probabilities, same shape as ``p (..., c)``."""
        return np.asarray(p, float) @ self.A + self.c


def resolve_method(method: str, inputs: int) -> str:
    """``"auto"`` → ``"affine"`` from :data:`AFFINE_MIN_INPUTS` calibration inputs, else
    ``"diagonal"``."""
    if method not in METHODS:
        raise ValueError(f"unknown response-map method {method!r}: use {', '.join(METHODS)}")
    if method == "auto":
        return "affine" if inputs >= AFFINE_MIN_INPUTS else "diagonal"
    return method


def fit_response(noisy: np.ndarray, exact: np.ndarray, method: str = "auto") -> ResponseMap:
    """Least-squares map from ``noisy (m, c)`` to ``exact (m, c)`` kept probabilities."""
    X, Y = np.asarray(noisy, float), np.asarray(exact, float)
    m, c = X.shape
    method = resolve_method(method, m)
    if method == "diagonal":
        xm, ym = X.mean(0), Y.mean(0)
        var = ((X - xm) ** 2).sum(0)
        a = ((X - xm) * (Y - ym)).sum(0) / np.maximum(var, 1e-300)
        a = np.where(var > 1e-300, a, 1.0)
        return ResponseMap(method, np.diag(a), ym - a * xm)
    Z = np.hstack([X, np.ones((m, 1))])
    scale = np.trace(Z.T @ Z) / (c + 1)
    coef = np.linalg.solve(Z.T @ Z + RIDGE * scale * np.eye(c + 1), Z.T @ Y)
    return ResponseMap(method, coef[:c], coef[c])


def noise_model(noisy: np.ndarray, exact: np.ndarray, method: str = "auto") -> np.ndarray:
    """The calibration inputs' noisy kept probabilities ``(m, c)`` predicted from their exact
    ones by the forward map ``exact → noisy`` (same ``method`` rules as
    :func:`fit_response`), fitted on ``noisy (m, c)``/``exact (m, c)``.

    Unlike ``noisy`` itself these carry only the fit's share of the shot noise (about
    ``parameters per component / m`` of it), so replicates drawn from them spread as real
    repeats of the calibration inputs would; replicates drawn around ``noisy`` count each
    input's shot noise twice (:mod:`hwadapt.mitigation.learned`).
    """
    return fit_response(exact, noisy, method).apply(exact)


__all__ = ["AFFINE_MIN_INPUTS", "METHODS", "ResponseMap", "fit_response", "noise_model",
           "resolve_method"]
