"""k-fold cross-validation on calibration inputs and the systematic error term."""

from __future__ import annotations

import numpy as np

UPPER_Z = 1.0
"""The systematic term is the one-sided ``UPPER_Z``-σ upper bound of its estimate (84%)."""


def kfold(m: int, k: int, seed: int = 0) -> list[np.ndarray]:
    """``k`` disjoint index arrays covering ``range(m)`` (shuffled, sizes differ by ≤ 1)."""
    if not 2 <= k <= m:
        raise ValueError(f"k-fold needs 2 <= k <= m, got k={k}, m={m}")
    return np.array_split(np.random.default_rng(seed).permutation(m), k)


SETTLED = 0.99
"""Sign confidence from which a calibration residual measures amplitude bias."""


def systematic(residuals: np.ndarray, stat_stderr: np.ndarray, z: float = UPPER_Z) -> float:
    """The part of the held-out error that shot noise does not explain (one number for all
    components): ``σ_sys² = max(0, d̄ + z·se(d̄))``, ``d_i = mean_j(r_ij² - σ_ij²)`` per held-out
    input ``i`` (rows of ``residuals``/``stat_stderr`` ``(m, c)``; a 1-D array is one value
    per input), ``se(d̄) = std(d_i)/√m``.

    ``d̄`` alone (``z = 0``) is an unbiased but noisy estimate, and flooring it at 0 reads
    "no bias" whenever shot noise dominates the calibration residuals (few calibration shots,
    as when they are counted inside the run's budget), although the bias is still there; the
    upper bound charges that uncertainty to the error bar and shrinks as calibration shots or
    inputs grow. NaN residuals (components left out) are skipped, and inputs without any.
    """
    r, s = np.asarray(residuals, float), np.asarray(stat_stderr, float)
    d = r**2 - s**2
    d = d.reshape(len(d), -1) if d.ndim else d.reshape(1, 1)
    d = d[~np.isnan(d).all(axis=1)]
    if not len(d):
        return 0.0
    d = np.nanmean(d, axis=1)
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
    return float(np.sqrt(max(0.0, float(d.mean()) + z * se)))


def systematic_independent(residuals: np.ndarray, stat_stderr: np.ndarray,
                           z: float = UPPER_Z) -> float:
    """:func:`systematic` for ONE value per held-out input (independent across inputs) whose
    shot-noise errors ``stat_stderr`` differ from input to input, as an Estimator run's
    postselected values do (``s`` spans 20x where ``<P0>`` does). The unweighted moment
    estimate lets the noisiest inputs set its spread (σ_sys 0.084 for ``Z0Z1`` on the
    noiseless ``aer``); this is the Q-profile upper bound of the random-effects variance
    (Paule–Mandel): ``σ_sys²`` solves ``Σ_i r_i² / (s_i² + σ²) = χ²_m(Φ(-z))`` (0 when the
    left side is below it at ``σ = 0``), so each input weighs in by its precision. NaN
    residuals are skipped."""
    from scipy.optimize import brentq
    from scipy.stats import chi2, norm

    r, s = np.asarray(residuals, float).ravel(), np.asarray(stat_stderr, float).ravel()
    ok = np.isfinite(r) & np.isfinite(s)
    r2, s2 = r[ok] ** 2, s[ok] ** 2
    if not len(r2):
        return 0.0
    target = float(chi2.ppf(norm.cdf(-z), len(r2)))

    def excess(t2: float) -> float:
        return float(np.sum(r2 / np.maximum(s2 + t2, 1e-300))) - target

    if excess(0.0) <= 0:
        return 0.0
    hi = max(float(r2.max()), 1e-30)
    while excess(hi) > 0:
        hi *= 4
    return float(np.sqrt(brentq(excess, 0.0, hi, xtol=1e-16, rtol=1e-10)))


def settled(residuals: np.ndarray, confidence: np.ndarray, signed: bool = True
            ) -> np.ndarray:
    """``residuals`` with NaN (left out by :func:`systematic`) where the estimate's sign is
    not settled (``confidence`` < :data:`SETTLED`): there the residual is a coin flip of
    ``2|y|`` whose bar says so, and a calibration set rich in such components (basis-vector
    inputs against the input reference) drowned the amplitude bias (σ_sys 0 while the
    targets' coverage was 0.47). ``signed=False`` (magnitudes compared): all count."""
    return np.where(confidence >= SETTLED, residuals, np.nan) if signed else residuals


def calibration_systematic(y: np.ndarray, stat_stderr: np.ndarray, confidence: np.ndarray,
                           y_exact: np.ndarray, signed: bool) -> float:
    """:func:`systematic` of unmapped estimates ``y (m, c)`` of the calibration inputs (their
    shot-noise ``stat_stderr`` and sign ``confidence``) against the exact outputs
    ``y_exact``: their magnitudes unless ``signed`` (no sign family: only ``|y|`` was
    estimated), and only the :func:`settled` components."""
    if not signed:
        y_exact = np.abs(y_exact)
    return systematic(settled(y - y_exact, confidence, signed), stat_stderr)


__all__ = ["SETTLED", "UPPER_Z", "calibration_systematic", "kfold", "settled", "systematic",
           "systematic_independent"]
