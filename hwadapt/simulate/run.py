"""The torch (differentiable) face of the simulator: states as :class:`SubspaceState`,
:func:`simulate_subspace` / :func:`simulate_statevector`, and a plan's torch stages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from qiskit.circuit import QuantumCircuit

from hwadapt.simulate import basis, forward
from hwadapt.simulate.plan import FUSE_MAX_SUPPORT, Group, Plan, apply_groups, compile_circuit
from hwadapt.simulate.xp import torch_ops

CDTYPE = torch.complex128
MAX_INT64_QUBITS = 63


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
    """Amplitudes ``(*batch, K)`` on ``plan.final`` (complex128 torch, differentiable) and the
    batch shape (:func:`hwadapt.simulate.forward.run` on torch).

    ``initial_amplitudes``: ``(*batch, L0)`` on ``plan.initial`` (default: the single
    initial state with amplitude 1). Runs with one torch thread (restored afterwards): its
    ops are many and small."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        values = parameter_values.values() if isinstance(parameter_values, Mapping) else \
            [parameter_values]
        grad = torch.is_grad_enabled() and any(
            isinstance(t, torch.Tensor) and t.requires_grad
            for t in (*values, initial_amplitudes))
        steps = None if forward.runs_compiled(plan, not grad) else torch_steps(plan)
        return forward.run(plan, parameter_values, initial_amplitudes, batch, torch_ops(),
                           steps, compiled=not grad)
    finally:
        torch.set_num_threads(threads)


def torch_steps(plan: Plan) -> list:
    """``plan.steps`` as torch groups (views of the plan's arrays), runs of parameter-free
    stages fused into one dense ``(L+1, L+1)`` matrix each up to ``FUSE_MAX_SUPPORT``
    (cached on the plan)."""
    if plan.torch_steps is None:
        steps = [[Group(*(None if a is None else torch.from_numpy(a)
                          for a in (g.pos, g.M, g.gid, g.mult))) for g in groups]
                 for groups in plan.steps]
        plan.torch_steps = _fuse(plan, steps) if plan.size + 1 <= FUSE_MAX_SUPPORT else steps
    return plan.torch_steps


def _fuse(plan: Plan, steps: list) -> list:
    """Replace runs of parameter-free stages by one dense ``(L+1, L+1)`` matrix each."""
    out, run = [], []
    dtype = torch.float64 if plan.real else CDTYPE
    n = plan.size + 1

    def flush():
        if len(run) > 1:
            eye = torch.eye(n, dtype=dtype)
            for groups in run:
                eye = apply_groups(eye, groups, None)
            out.append(eye)
        else:
            out.extend(run)
        run.clear()

    for groups in steps:
        if all(g.M is not None for g in groups):
            run.append(groups)
        else:
            flush()
            out.append(groups)
    flush()
    return out


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
