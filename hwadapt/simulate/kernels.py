"""Compiled (numba) forward pass of a plan's block stages: no per-stage Python or torch
dispatch. Used when no gradient is needed; the torch path of :mod:`.run` stays the
reference and the differentiable path (tests keep both equal)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numba import njit

from hwadapt.simulate.plan import Group


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


@dataclass
class Flat:
    """A plan's stages as flat arrays for :func:`hwadapt.simulate.kernels.apply_blocks`
    (groups in stage order). Parameterised groups (``is_param``) read run-time coefficients
    ``mats[d][:, gid[d]] * mult[d]``, flattened and concatenated over ``d`` in ``sorted(gid)``
    order."""

    pos: np.ndarray
    pos_off: np.ndarray
    dims: np.ndarray
    coef_c: np.ndarray
    coef_off: np.ndarray
    is_param: np.ndarray
    gid: dict[int, torch.Tensor]
    mult: dict[int, torch.Tensor]


def _cat(parts: list, dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


def flatten(steps: list[list[Group]], real: bool) -> Flat:
    """:class:`Flat` of a plan's (unfused) steps."""
    dtype = np.float64 if real else np.complex128
    pos, dims, coefs, is_param = [], [], [], []
    params: dict[int, list[Group]] = {}
    pos_off, coef_off = [0], []
    c_total = 0
    for step in steps:
        for g in step:
            nb, d = g.pos.shape
            pos.append(g.pos.numpy().ravel())
            pos_off.append(pos_off[-1] + nb * d)
            dims.append(d)
            is_param.append(g.M is None)
            if g.M is None:
                coef_off.append((d, sum(len(x.gid) for x in params.get(d, ())) * d * d))
                params.setdefault(d, []).append(g)
            else:
                coefs.append(g.M.numpy().astype(dtype).ravel())
                coef_off.append(c_total)
                c_total += nb * d * d
    base, total = {}, 0
    for d in sorted(params):
        base[d] = total
        total += sum(len(g.gid) for g in params[d]) * d * d
    offsets = [base[o[0]] + o[1] if isinstance(o, tuple) else o for o in coef_off]
    return Flat(_cat(pos, np.int64), np.array(pos_off, dtype=np.int64),
                np.array(dims, dtype=np.int64), _cat(coefs, dtype),
                np.array(offsets, dtype=np.int64), np.array(is_param, dtype=np.bool_),
                {d: torch.cat([g.gid for g in gs]) for d, gs in sorted(params.items())},
                {d: torch.cat([g.mult for g in gs]) for d, gs in sorted(params.items())})
