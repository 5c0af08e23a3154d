"""Compiled (numba) forward pass of a plan's block stages: no per-stage Python or torch
dispatch. Used for large plans when no gradient is needed (:mod:`.forward`); the stage by
stage path stays the reference and the differentiable path (tests keep them equal)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from hwadapt.simulate.plan import Group


@njit(cache=True)
def apply_blocks(amp, pos, pos_off, dims, coef, coef_off, is_param, blk_off, mat_off, mats):
    """All groups in order on ``amp (B, L+1)`` (in place). Group ``g``: blocks of
    ``d = dims[g]`` positions ``pos[pos_off[g]:pos_off[g+1]]``; block ``k``'s row-major
    ``d × d`` matrix is ``coef[coef_off[g] + k d² + ·]``, times (``is_param[g]``) the
    run-time gate matrix ``mats[b or 0, mat_off[blk_off[g] + k] + ·]``."""
    B = amp.shape[0]
    per_binding = mats.shape[0] > 1
    buf = np.empty(64, dtype=amp.dtype)
    for g in range(len(dims)):
        d = dims[g]
        if d > buf.size:
            buf = np.empty(d, dtype=amp.dtype)
        p0 = pos_off[g]
        nb = (pos_off[g + 1] - p0) // d
        c0 = coef_off[g]
        for b in range(B):
            row = mats[b if per_binding else 0]
            for k in range(nb):
                base = p0 + k * d
                cb = c0 + k * d * d
                mb = mat_off[blk_off[g] + k]
                for i in range(d):
                    buf[i] = amp[b, pos[base + i]]
                for i in range(d):
                    s = buf[0] * 0
                    for j in range(d):
                        c = coef[cb + i * d + j]
                        if is_param[g]:
                            c = c * row[mb + i * d + j]
                        s += c * buf[j]
                    amp[b, pos[base + i]] = s
    return amp


@dataclass
class Flat:
    """A plan's stages as flat arrays for :func:`apply_blocks` (groups in stage order):
    ``coef`` holds a parameter-free group's matrices and a parameterised group's ``mult``;
    ``mat_off`` (per block) the offset of its gate's matrix in the run-time row
    ``cat_d(mats[d].reshape(B, -1))`` over ``d`` in ``sorted(mats)`` order."""

    pos: np.ndarray
    pos_off: np.ndarray
    dims: np.ndarray
    coef: np.ndarray
    coef_off: np.ndarray
    is_param: np.ndarray
    blk_off: np.ndarray
    mat_off: np.ndarray


def _cat(parts: list, dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


def flatten(steps: list[list[Group]], real: bool, gates: dict[int, int]) -> Flat:
    """:class:`Flat` of a plan's (unfused) steps; ``gates[d]`` = number of run-time
    matrices of size ``d``."""
    dtype = np.float64 if real else np.complex128
    base, total = {}, 0
    for d in sorted(gates):
        base[d] = total
        total += gates[d] * d * d
    pos, dims, coefs, is_param, mat_off = [], [], [], [], []
    pos_off, coef_off, blk_off = [0], [0], [0]
    for step in steps:
        for g in step:
            nb, d = g.pos.shape
            pos.append(g.pos.ravel())
            pos_off.append(pos_off[-1] + nb * d)
            dims.append(d)
            is_param.append(g.M is None)
            coefs.append((g.mult if g.M is None else g.M).astype(dtype).ravel())
            coef_off.append(coef_off[-1] + nb * d * d)
            blk_off.append(blk_off[-1] + nb)
            mat_off.append(np.full(nb, -1) if g.M is not None else
                           base[d] + g.gid * d * d)
    return Flat(_cat(pos, np.int64), np.array(pos_off, dtype=np.int64),
                np.array(dims, dtype=np.int64), _cat(coefs, dtype),
                np.array(coef_off[:-1], dtype=np.int64), np.array(is_param, dtype=np.bool_),
                np.array(blk_off[:-1], dtype=np.int64), _cat(mat_off, np.int64))
