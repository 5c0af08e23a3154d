"""Compiled (numba) forward pass of a plan's block stages: no per-stage Python or torch
dispatch. Used when no gradient is needed; the torch path of :mod:`.run` stays the
reference and the differentiable path (tests keep both equal)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def apply_blocks(amp, pos, pos_off, dims, coef_c, coef_p, coef_off, is_param, g0, g1):
    """Groups ``g0..g1-1`` in order on ``amp (B, L+1)`` (in place). Group ``g``: blocks of
    ``dims[g]`` positions ``pos[pos_off[g]:pos_off[g+1]]``; block ``k``'s row-major
    ``d × d`` matrix at ``coef[coef_off[g] + k d²]`` in ``coef_p[b]`` (per binding) when
    ``is_param[g]``, else in ``coef_c``."""
    B = amp.shape[0]
    buf = np.empty(64, dtype=amp.dtype)
    for g in range(g0, g1):
        d = dims[g]
        if d > buf.size:
            buf = np.empty(d, dtype=amp.dtype)
        p0 = pos_off[g]
        nb = (pos_off[g + 1] - p0) // d
        c0 = coef_off[g]
        for b in range(B):
            coefs = coef_p[b] if is_param[g] else coef_c
            for k in range(nb):
                base = p0 + k * d
                cb = c0 + k * d * d
                for i in range(d):
                    buf[i] = amp[b, pos[base + i]]
                for i in range(d):
                    s = buf[0] * 0
                    for j in range(d):
                        s += coefs[cb + i * d + j] * buf[j]
                    amp[b, pos[base + i]] = s
    return amp
