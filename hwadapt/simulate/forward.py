"""Run a :class:`~hwadapt.simulate.plan.Plan` on a batch of bindings: one body for numpy (the
no-grad forward pass: the exact sampler's distributions, no torch import) and torch (the
differentiable path of :mod:`.run`), the array operations picked by :mod:`.xp`.

Without gradients a plan of at least :data:`COMPILED_MIN_STAGES` stages runs all its stages
in one compiled (numba) call (:mod:`.kernels`); smaller ones run stage by stage
(:func:`~hwadapt.simulate.plan.apply_groups`): numba's import costs about a second.
"""

from __future__ import annotations

import numpy as np

from hwadapt.simulate import basis
from hwadapt.simulate.plan import Plan, apply_groups
from hwadapt.simulate.xp import NUMPY

COMPILED_MIN_STAGES = 128
"""Plans with this many stages run compiled (numba) when no gradient is needed; smaller ones
run stage by stage (no numba import, about a second, for a few stages)."""


def run(plan: Plan, parameter_values=None, initial_amplitudes=None, batch=(), xp=NUMPY,
        steps: list | None = None, compiled: bool = True):
    """Amplitudes ``(*batch, K)`` on ``plan.final`` (complex128) and the batch shape.

    Args:
        parameter_values: as :meth:`~hwadapt.simulate.params.Slots.table`.
        initial_amplitudes: ``(*batch, L0)`` on ``plan.initial`` (default: the single
            initial state with amplitude 1).
        batch: the batch shape of ``initial_amplitudes``.
        xp: :data:`~hwadapt.simulate.xp.NUMPY` (default) or ``torch_ops()``.
        steps: the stages to run (default ``plan.steps``; the torch path passes torch groups
            with parameter-free runs fused into ``(L+1, L+1)`` matrices).
        compiled: whether a large plan may run compiled (False when gradients are needed).
    """
    table, pbatch = plan.slots.table(parameter_values, xp)
    if batch and pbatch and batch != pbatch:
        raise ValueError(f"initial_state batch {batch} != parameter batch {pbatch}")
    batch = batch or pbatch
    B = int(np.prod(batch)) if batch else 1
    init = xp.asarray(np.ones((1, 1), dtype=np.complex128)) if initial_amplitudes is None else \
        xp.asarray(initial_amplitudes).reshape(-1, len(plan.initial))
    real = plan.real and not (xp.is_complex(init) and bool((init.imag != 0).any()))
    dtype = xp.float64 if real else xp.complex128
    init = xp.astype(init.real if real and xp.is_complex(init) else init, dtype)
    amp = xp.put_columns(xp.zeros((init.shape[0], plan.size + 1), dtype), plan.initial, init)
    angles = plan.slots.evaluate(table, xp)
    mats = _matrices(plan, angles, real, xp)
    if mats and amp.shape[0] < B:
        amp = xp.repeat_rows(amp, B)
    if runs_compiled(plan, compiled):
        amp = xp.from_numpy(run_compiled(
            plan, xp.to_numpy(amp), {d: xp.to_numpy(m) for d, m in (mats or {}).items()}))
    else:
        for step in plan.steps if steps is None else steps:
            amp = apply_groups(amp, step, mats) if isinstance(step, list) else \
                amp @ xp.astype(step, amp.dtype)  # a fused real matrix on a complex state
    out = xp.to_complex(amp[:, xp.index(plan.final)])
    if plan.phase_slots:
        phi = angles[:, xp.index(np.array(plan.phase_slots))].sum(-1)[:, None]
        out = out * xp.cis(phi)
    return xp.broadcast_rows(out, B).reshape(*batch, -1), batch


def runs_compiled(plan: Plan, allowed: bool) -> bool:
    """Whether :func:`run` takes the compiled path: allowed (no gradient) and a plan of at
    least :data:`COMPILED_MIN_STAGES` stages."""
    return allowed and len(plan.steps) >= COMPILED_MIN_STAGES


def _matrices(plan: Plan, angles, real: bool, xp) -> dict | None:
    """Run-time gate matrices per block size ``d``: ``(B|1, G_d, d, d)``."""
    if not plan.kinds:
        return None
    per_d: dict[int, list] = {}
    for kind, rows in plan.kinds:
        m = kind.matrices(angles[:, xp.index(rows)])
        per_d.setdefault(kind.d, []).append(m if real else xp.to_complex(m))
    return {d: xp.cat(ms, 1) for d, ms in per_d.items()}


def run_compiled(plan: Plan, amp: np.ndarray, mats: dict) -> np.ndarray:
    """The stages on ``amp (B, L+1)`` by :func:`hwadapt.simulate.kernels.apply_blocks` (in
    place; no gradient); ``mats[d]`` numpy ``(B|1, G_d, d, d)``."""
    from hwadapt.simulate import kernels  # lazy: numba is imported on first use only

    if plan.flat is None:
        plan.flat = kernels.flatten(plan.steps, plan.real,
                                    {d: m.shape[1] for d, m in mats.items()})
    f = plan.flat
    a = np.ascontiguousarray(amp)
    row = [mats[d].reshape(len(mats[d]), -1) for d in sorted(mats)]
    row = np.concatenate(row, 1).astype(a.dtype) if row else np.zeros((1, 0), a.dtype)
    kernels.apply_blocks(a, f.pos, f.pos_off, f.dims, f.coef.astype(a.dtype, copy=False),
                         f.coef_off, f.is_param, f.blk_off, f.mat_off, np.ascontiguousarray(row))
    return a


def statevector(plan: Plan, amplitudes: np.ndarray) -> np.ndarray:
    """Dense ``(..., 2^N)`` statevectors of numpy amplitudes ``(..., K)`` on ``plan.final``
    (qubit ``i`` = bit ``i``; ``N <= 30``)."""
    if plan.num_qubits > 30:
        raise ValueError(f"a dense statevector of {plan.num_qubits} qubits does not fit in "
                         "memory")
    out = np.zeros((*amplitudes.shape[:-1], 1 << plan.num_qubits), dtype=amplitudes.dtype)
    out[..., plan.words[plan.final][:, 0].astype(np.int64)] = amplitudes
    return out


def outcome_probabilities(plan: Plan, amplitudes: np.ndarray, qubits: list[int | None]
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Sparse measurement distribution of numpy amplitudes ``(..., K)`` on ``plan.final``
    (numpy twin of :func:`hwadapt.simulate.measure.outcome_distribution`).

    Returns:
        ``(outcomes (K', W) words, probs (..., K'))``: outcome bit ``j`` = qubit
        ``qubits[j]`` (``None``: always 0), outcomes sorted ascending.
    """
    outcomes, index = basis.project(plan.words[plan.final], qubits)
    probs = np.abs(amplitudes) ** 2
    flat = probs.reshape(-1, probs.shape[-1])
    res = np.zeros((len(outcomes), flat.shape[0]), dtype=probs.dtype)
    np.add.at(res, index, flat.T)
    return outcomes, res.T.reshape(*probs.shape[:-1], len(outcomes))
