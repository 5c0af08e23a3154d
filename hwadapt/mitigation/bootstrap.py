"""Parametric bootstrap of kept counts: redraw every circuit's shots from what it observed."""

from __future__ import annotations

import numpy as np


def resample(p: np.ndarray, D: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One parametric replicate of kept fractions.

    ``p (inputs, c)``: observed kept fractions out of ``D (inputs,)`` shots (the rest of
    the mass, ``1 - Σ p``, is everything not kept). Draws ``multinomial(round(D), [p, rest])``
    per input and returns the new kept fractions ``(inputs, c)``.
    """
    p = np.clip(np.asarray(p, float), 0.0, None)
    rest = np.clip(1.0 - p.sum(axis=1, keepdims=True), 0.0, None)
    full = np.hstack([p, rest])
    full /= full.sum(axis=1, keepdims=True)
    n = np.maximum(np.rint(np.asarray(D, float)), 1).astype(np.int64)
    draw = rng.multinomial(n, full)
    return draw[:, :-1] / n[:, None]


__all__ = ["resample"]
