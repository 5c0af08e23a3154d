"""Estimator runs: postselected expectation values with propagated standard errors, and
their comparison with the exact values (``hwadapt compare`` on an Estimator run).

An Estimator run measures, per input, ``N_k = <P0 ⊗ O_k>``, ``D = <P0>`` and ``M_k = <P0 ⊗
O_k²>`` (:func:`hwadapt.circuits.observables.postselected_operators`); the postselected value
is ``R_k = N_k / D`` (:func:`ratio`).
"""

from __future__ import annotations

import numpy as np


def ratio(num, den, s_num, s_den, cov=0.0) -> tuple[np.ndarray, np.ndarray]:
    """``R = N / D`` and its standard error by the first-order delta method:

        Var R ≈ (s_N² − 2 R Cov(N, D) + R² s_D²) / D²

    (arrays broadcast; ``cov`` is the covariance of the two estimates, 0 when they come from
    independent data). ``D <= 0`` gives NaN (nothing accepted)."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    s_num, s_den, cov = (np.asarray(a, float) for a in (s_num, s_den, cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(den > 0, num / den, np.nan)
        var = (s_num**2 - 2 * r * cov + r**2 * s_den**2) / den**2
    return r, np.sqrt(np.maximum(var, 0.0))


def shot_correlation(num, den, sq) -> np.ndarray:
    """Correlation of ``N = <P0 ⊗ O>`` and ``D = <P0>`` estimated from the SAME shots.

    Per shot, ``n = p·o`` and ``d = p`` with ``p ∈ {0, 1}`` the ancilla projector's outcome
    (``P0² = P0``, commuting with ``O``): ``Var n = M − N²`` (``M = <P0 ⊗ O²>``), ``Var d = D −
    D²`` and ``Cov(n, d) = <P0 ⊗ O> − N D = N − N D``. The correlation is the ratio; it scales
    with whatever the estimator reports as ``s_N, s_D``. With exact per-shot stds
    (``s² = Var/S``) :func:`ratio` then gives ``Var R = (M/D − R²)/(D S)``, the variance of a
    mean over the ``D·S`` accepted shots."""
    num, den, sq = (np.asarray(a, float) for a in (num, den, sq))
    var_n = np.maximum(sq - num**2, 0.0)
    var_d = np.maximum(den - den**2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (num - num * den) / np.sqrt(var_n * var_d)
    return np.clip(np.nan_to_num(rho, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)


def postselected_values(evs: np.ndarray, stds: np.ndarray, index: list, shared_shots: bool
                        ) -> tuple[np.ndarray, np.ndarray]:
    """``(values, stderr)``, each ``(B, K)``: ``<O_k>_post`` per input from an Estimator
    PUB's ``evs``/``stds`` ``(B, operators)``; ``index[k] = (i_num, i_den, i_sq)``.
    ``shared_shots``: numerator and denominator come from the same shots (Runtime estimators,
    :func:`shot_correlation`); else independent (Aer's Gaussian precision noise, exact)."""
    evs, stds = np.asarray(evs, float), np.asarray(stds, float)
    i_num, i_den, i_sq = (np.array([ix[j] for ix in index], int) for j in range(3))
    n, d, m = evs[:, i_num], evs[:, i_den], evs[:, i_sq]
    s_n, s_d = stds[:, i_num], stds[:, i_den]
    rho = shot_correlation(n, d, m) if shared_shots else 0.0
    return ratio(n, d, s_n, s_d, rho * s_n * s_d)
