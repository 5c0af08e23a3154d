"""Run a :class:`~hwadapt.simulate.plan.Plan` on a batch of bindings (torch, differentiable)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from qiskit.circuit import QuantumCircuit

from hwadapt.simulate import basis
from hwadapt.simulate.kinds import CDTYPE
from hwadapt.simulate.plan import Plan, apply_groups, compile_circuit

MAX_INT64_QUBITS = 63
COMPILED_MIN_STAGES = 128
"""Plans with this many stages run compiled (numba) when no gradient is needed; smaller ones
run the torch path (no numba import, about a second, for a few stages)."""


@dataclass(frozen=True)
class SubspaceState:
    """A state on its support: ``amplitudes[..., j]`` belongs to basis index
    ``indices[j]`` (sorted; every other amplitude is zero). ``indices`` is an int64 tensor
    ``(L,)`` up to 63 qubits, else a numpy object array of Python ints."""

    indices: torch.Tensor | np.ndarray
    amplitudes: torch.Tensor
    num_qubits: int

    def words(self) -> np.ndarray:
        """``(L, W)`` basis words of the support (:mod:`hwadapt.simulate.basis`)."""
        W = basis.num_words(self.num_qubits)
        if isinstance(self.indices, torch.Tensor):
            return self.indices.cpu().numpy().astype(np.uint64).reshape(-1, 1) \
                if W == 1 else basis.from_ints(self.indices.tolist(), W)
        return basis.from_ints(self.indices, W)

    def dense(self) -> torch.Tensor:
        """``(..., 2^num_qubits)`` full statevector."""
        if self.num_qubits > 30:
            raise ValueError(f"a dense statevector of {self.num_qubits} qubits does not fit "
                             "in memory: use the SubspaceState itself")
        out = torch.zeros(*self.amplitudes.shape[:-1], 1 << self.num_qubits,
                          dtype=self.amplitudes.dtype, device=self.amplitudes.device)
        return out.index_copy(-1, torch.as_tensor(self.indices), self.amplitudes)


def make_indices(words: np.ndarray, num_qubits: int):
    """``SubspaceState.indices`` for sorted basis words."""
    if num_qubits <= MAX_INT64_QUBITS:
        return torch.as_tensor(words[:, 0].astype(np.int64))
    return np.array(basis.to_ints(words), dtype=object)


def as_subspace(state, num_qubits: int | None = None) -> SubspaceState:
    """A :class:`SubspaceState` or a dense ``(..., 2^n)`` statevector as a SubspaceState."""
    if isinstance(state, SubspaceState):
        return state
    t = torch.as_tensor(state)
    dim = t.shape[-1]
    if dim & (dim - 1) or (num_qubits is not None and dim != 1 << num_qubits):
        raise ValueError(f"statevector length must be 2^n (n = number of qubits), got {dim}")
    return SubspaceState(torch.arange(dim), t.to(CDTYPE), dim.bit_length() - 1)


def run_plan(plan: Plan, parameter_values=None, initial_amplitudes=None, batch=()):
    """Amplitudes ``(*batch, K)`` on ``plan.final`` (complex128) and the batch shape.

    ``initial_amplitudes``: ``(*batch, L0)`` on ``plan.initial`` (default: the single
    initial state with amplitude 1). Runs with one torch thread (restored afterwards): its
    ops are many and small."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(plan, parameter_values, initial_amplitudes, batch)
    finally:
        torch.set_num_threads(threads)


def _run(plan: Plan, parameter_values, initial_amplitudes, batch):
    table, pbatch = plan.slots.table(parameter_values)
    if batch and pbatch and batch != pbatch:
        raise ValueError(f"initial_state batch {batch} != parameter batch {pbatch}")
    batch = batch or pbatch
    B = int(np.prod(batch)) if batch else 1
    init = torch.ones(1, 1, dtype=CDTYPE) if initial_amplitudes is None else \
        torch.as_tensor(initial_amplitudes).reshape(-1, len(plan.initial))
    real = plan.real and not (torch.is_complex(init) and bool((init.imag != 0).any()))
    dtype = torch.float64 if real else CDTYPE
    init = (init.real if real and torch.is_complex(init) else init).to(dtype)
    amp = torch.zeros(init.shape[0], plan.size + 1, dtype=dtype)
    amp = amp.index_copy(1, torch.as_tensor(plan.initial), init)
    mats = None
    angles = plan.slots.evaluate(table)
    if plan.kinds:
        per_d: dict[int, list] = {}
        for kind, rows in plan.kinds:
            m = kind.matrices(angles[:, rows])
            per_d.setdefault(kind.d, []).append(m if real else m.to(CDTYPE))
        mats = {d: torch.cat(ms, 1) for d, ms in per_d.items()}
        if amp.shape[0] < B:
            amp = amp.expand(B, -1).clone()
    grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (table, initial_amplitudes))
    if grad or len(plan.steps) < COMPILED_MIN_STAGES:
        for step in plan.fused:
            amp = amp @ step if isinstance(step, torch.Tensor) else \
                apply_groups(amp, step, mats)
    else:
        amp = _run_compiled(plan, amp, mats)
    out = amp[:, torch.as_tensor(plan.final)].to(CDTYPE)
    if plan.phase_slots:
        phi = angles[:, plan.phase_slots].sum(-1, keepdim=True)
        out = out * torch.polar(torch.ones_like(phi), phi)
    return out.expand(B, -1).reshape(*batch, -1), batch


def _run_compiled(plan: Plan, amp: torch.Tensor, mats: dict | None) -> torch.Tensor:
    """The stages by :func:`hwadapt.simulate.kernels.apply_blocks` (no gradient)."""
    from hwadapt.simulate import kernels  # lazy: numba is imported on first use only

    mats = mats or {}
    if plan.flat is None:
        plan.flat = kernels.flatten(plan.steps, plan.real,
                                    {d: m.shape[1] for d, m in mats.items()})
    f = plan.flat
    a = np.ascontiguousarray(amp.detach().numpy())
    row = [mats[d].reshape(len(mats[d]), -1) for d in sorted(mats)]
    row = torch.cat(row, 1).numpy().astype(a.dtype) if row else np.zeros((1, 0), a.dtype)
    kernels.apply_blocks(a, f.pos, f.pos_off, f.dims, f.coef.astype(a.dtype, copy=False),
                         f.coef_off, f.is_param, f.blk_off, f.mat_off, np.ascontiguousarray(row))
    return torch.from_numpy(a)


def simulate_subspace(circuit: QuantumCircuit | Plan, parameter_values=None,
                      initial_state=None) -> SubspaceState:
    """Run ``circuit`` exactly, keeping only reachable basis states (see the package
    docstring).

    Args:
        circuit: a circuit, or a :class:`Plan` from :func:`compile_circuit` (compile once,
            run many bindings; ``initial_state`` must then have the plan's initial support).
        parameter_values: None, a mapping ``{Parameter | ParameterVector: values}``, or an
            array/tensor ``(..., P)`` in ``circuit.parameters`` order; leading dims = batch.
        initial_state: ``|0...0>`` by default, else a dense ``(..., 2^N)`` tensor or a
            :class:`SubspaceState` (its support seeds the simulation).
    Returns:
        :class:`SubspaceState` with amplitudes ``(*batch, K)`` (complex128, differentiable).
    """
    N = circuit.num_qubits
    amps, batch, words = None, (), None
    if initial_state is not None:
        s0 = as_subspace(initial_state, N)
        if s0.num_qubits != N:
            raise ValueError(f"initial state has {s0.num_qubits} qubits, circuit has {N}")
        batch = tuple(s0.amplitudes.shape[:-1])
        amps, words = s0.amplitudes, s0.words()
    if isinstance(circuit, Plan):
        plan = circuit
        if words is not None and not np.array_equal(words, plan.words[plan.initial]):
            raise ValueError("initial_state's support differs from the plan's: compile the "
                             "plan with this support")
    else:
        plan = compile_circuit(circuit, words)
    out, batch = run_plan(plan, parameter_values, amps, batch)
    return SubspaceState(make_indices(plan.words[plan.final], N), out, N)


def simulate_statevector(circuit: QuantumCircuit | Plan, parameter_values=None,
                         initial_state=None) -> torch.Tensor:
    """Full statevector ``(*batch, 2^N)`` of ``circuit`` (qubit ``i`` = bit ``i``); see
    :func:`simulate_subspace` for the arguments."""
    return simulate_subspace(circuit, parameter_values, initial_state).dense()
