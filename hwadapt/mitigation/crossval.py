"""k-fold cross-validation on calibration inputs and the systematic error term."""

from __future__ import annotations

import numpy as np


def kfold(m: int, k: int, seed: int = 0) -> list[np.ndarray]:
    """``k`` disjoint index arrays covering ``range(m)`` (shuffled, sizes differ by ≤ 1)."""
    if not 2 <= k <= m:
        raise ValueError(f"k-fold needs 2 <= k <= m, got k={k}, m={m}")
    return np.array_split(np.random.default_rng(seed).permutation(m), k)


def systematic(residuals: np.ndarray, stat_stderr: np.ndarray) -> float:
    """``σ_sys = sqrt(max(0, mean(r²) - mean(σ_stat²)))``: the part of the held-out error
    that shot noise does not explain (one number for all components)."""
    r, s = np.asarray(residuals, float), np.asarray(stat_stderr, float)
    return float(np.sqrt(max(0.0, np.mean(r**2) - np.mean(s**2))))


__all__ = ["kfold", "systematic"]
