"""Learned mitigation of an Estimator run's observables: one affine response map per
observable, fitted on the run's calibration inputs (their exact values only), with a
cross-validated systematic term.

For observable ``k`` the noisy postselected values ``v`` of the calibration inputs and their
exact values ``e`` give ``e ≈ a_k v + b_k`` (least squares; ``a_k = 0`` when the noisy values
do not vary). A target's mitigated value is ``a_k v + b_k``, its shot-noise error ``|a_k| s``.
The systematic term is :func:`~hwadapt.mitigation.crossval.systematic_independent` of the
k-fold held-out residuals ``a'_k v_i + b'_k − e_i`` (maps ``a', b'`` fitted without input
``i``) against their shot noise ``|a'_k| s_i``: it covers what the map does not correct,
the map's own fitting noise included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwadapt.errors import InputError
from hwadapt.mitigation.crossval import kfold, systematic_independent

FOLDS = 4
MIN_INPUTS = 4
"""Fewest calibration inputs with a value for an observable's map (two parameters, and a
held-out fold of at least one)."""


@dataclass(frozen=True)
class LearnedObservables:
    """Targets' mitigated ``values`` and shot-noise ``stderr_stat`` ``(targets, K)``,
    ``systematic (K,)`` and the maps ``a``, ``b`` ``(K,)``."""

    values: np.ndarray
    stderr_stat: np.ndarray
    systematic: np.ndarray
    a: np.ndarray
    b: np.ndarray


def affine_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``(a, b)`` of ``y ≈ a x + b`` (1-D); ``a = 0`` when ``x`` is constant."""
    dx = x - x.mean()
    var = float(dx @ dx)
    a = float(dx @ (y - y.mean())) / var if var > 1e-24 * max(len(x), 1) else 0.0
    return a, float(y.mean() - a * x.mean())


def learned_observables(values: np.ndarray, stderr: np.ndarray, exact: np.ndarray,
                        calibration: int, names: list[str], seed: int = 0
                        ) -> LearnedObservables:
    """Map every observable (columns of ``values``/``stderr``/``exact`` ``(count, K)``, the
    last ``calibration`` rows the calibration inputs) as the module says; the targets' exact
    values (first rows) are never read. One-line :class:`InputError` when an observable has
    fewer than :data:`MIN_INPUTS` calibration inputs with a value."""
    v, s, e = (np.asarray(x, float) for x in (values, stderr, exact))
    n_t = len(v) - calibration
    vc, sc, ec = v[n_t:], s[n_t:], e[n_t:]
    K = v.shape[1]
    out = np.empty((n_t, K))
    out_s = np.empty((n_t, K))
    sys, a, b = np.zeros(K), np.zeros(K), np.zeros(K)
    for k in range(K):
        ok = np.isfinite(vc[:, k]) & np.isfinite(ec[:, k])
        m = int(ok.sum())
        if m < MIN_INPUTS:
            raise InputError(f"--mitigate learned needs at least {MIN_INPUTS} calibration "
                             f"inputs with a value for {names[k]!r}, the run has {m}: submit "
                             "the spec again with more [calibration] inputs")
        x, y, sx = vc[ok, k], ec[ok, k], sc[ok, k]
        resid, scale = np.empty(m), np.empty(m)
        for held in kfold(m, min(FOLDS, m), seed):
            keep = np.setdiff1d(np.arange(m), held)
            af, bf = affine_fit(x[keep], y[keep])
            resid[held] = af * x[held] + bf - y[held]
            scale[held] = abs(af) * sx[held]
        sys[k] = systematic_independent(resid, scale)
        a[k], b[k] = affine_fit(x, y)
        out[:, k] = a[k] * v[:n_t, k] + b[k]
        out_s[:, k] = abs(a[k]) * s[:n_t, k]
    return LearnedObservables(out, out_s, sys, a, b)


__all__ = ["FOLDS", "MIN_INPUTS", "LearnedObservables", "affine_fit", "learned_observables"]
