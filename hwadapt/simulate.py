"""Exact, differentiable (torch) simulator for the circuits this package builds.

The state is kept on its *support*: a sorted set of computational basis indices (qubit
``i`` = bit ``i``) that the circuit can reach, grown gate by gate from each gate's
structural non-zeros. Hamming-weight-preserving circuits therefore stay in their HW
subspace by themselves (an ``n``-qubit unary LCU with ``a`` ancillas touches
``n·2^a`` amplitudes, not ``2^(n+a)``), and any circuit runs in the full space when it
needs to (amplitude loaders, small ``n``).

Gates: RBS/FBS/XXPlusYY and RX/RY/RZ/P/U are torch kernels (gradients flow to their
angles); controlled gates act on the branch selected by their controls, recursing into
the base gate; composite gates recurse into their definitions (global phases included);
other parameter-free gates use their dense ``Operator``. Parameters are bound from a
mapping or an array ``(..., P)`` in ``circuit.parameters`` order (as a Sampler PUB's
parameter array), torch tensors with ``requires_grad`` included; gradients flow through
parameter expressions that are linear (``2θ``, ``-θ``, ``θ + c``: all this package builds).
Measurements are ignored (they must be final); reset is refused. The forward pass runs
with one torch thread (restored afterwards): its ops are many and small.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from qiskit.circuit import (
    ControlledGate,
    Parameter,
    ParameterExpression,
    ParameterVector,
    QuantumCircuit,
)

from hwadapt.circuits.lcu import popcount, postselect
from hwadapt.linalg import subset_indices

CDTYPE = torch.complex128
_SKIP = {"barrier", "delay", "measure"}
_DENSE = {"state_preparation", "initialize", "isometry", "unitary"}


@dataclass(frozen=True)
class SubspaceState:
    """A state on its support: ``amplitudes[..., j]`` belongs to basis index
    ``indices[j]`` (sorted int64, shape ``(L,)``); every other amplitude is zero."""

    indices: torch.Tensor
    amplitudes: torch.Tensor
    num_qubits: int

    def dense(self) -> torch.Tensor:
        """``(..., 2^num_qubits)`` full statevector."""
        out = torch.zeros(*self.amplitudes.shape[:-1], 1 << self.num_qubits,
                          dtype=self.amplitudes.dtype, device=self.amplitudes.device)
        return out.index_copy(-1, self.indices, self.amplitudes)


# --------------------------------------------------------------------------- parameters

class _Binding:
    """Parameter values as torch tensors of shape ``(B,)`` (batch flattened)."""

    def __init__(self, circuit: QuantumCircuit, values):
        params = list(circuit.parameters)
        self.values: dict[Parameter, torch.Tensor] = {}
        self.batch_shape: tuple[int, ...] = ()
        self._linear: dict[ParameterExpression, tuple] = {}
        if values is None:
            if params:
                raise ValueError(f"circuit has {len(params)} unbound parameters: pass "
                                 "parameter_values (mapping or array (..., P))")
            return
        if isinstance(values, Mapping):
            cols = {}
            for key, val in values.items():
                t = torch.as_tensor(val, dtype=torch.float64)
                if isinstance(key, ParameterVector):
                    if t.shape[-1:] != (len(key),):
                        raise ValueError(f"{key.name} needs values (..., {len(key)}), got "
                                         f"{tuple(t.shape)}")
                    cols.update({p: t[..., i] for i, p in enumerate(key)})
                else:
                    cols[key] = t
            missing = [p.name for p in params if p not in cols]
            if missing:
                raise ValueError(f"no values for parameters {missing[:5]}")
            shapes = {tuple(cols[p].shape) for p in params}
            if len(shapes) > 1:
                raise ValueError(f"parameter values have mismatched batch shapes {shapes}")
            table = torch.stack([cols[p] for p in params], -1) if params else None
        else:
            table = torch.as_tensor(values, dtype=torch.float64)
            if table.ndim == 0 or table.shape[-1] != len(params):
                raise ValueError(f"parameter_values must have shape (..., {len(params)}) in "
                                 f"circuit.parameters order, got {tuple(table.shape)}")
        if table is None:
            return
        self.batch_shape = tuple(table.shape[:-1])
        flat = table.reshape(-1, len(params))
        self.values = {p: flat[:, i] for i, p in enumerate(params)}

    def value(self, x) -> torch.Tensor:
        """A gate parameter as a real tensor, shape ``()`` or ``(B,)``."""
        if isinstance(x, ParameterExpression):
            free = x.parameters
            if not free:
                return torch.tensor(float(x.numeric()), dtype=torch.float64)
            if isinstance(x, Parameter):
                return self.values[x]
            lin = self._linear.get(x)
            if lin is None:
                lin = self._linear[x] = _linearise(x)
            if lin[0] is None:  # non-linear: numeric, no gradient
                vals = {p: self.values[p].detach() for p in free}
                B = next(iter(vals.values())).shape[0]
                return torch.tensor([float(x.bind({p: float(v[b]) for p, v in vals.items()})
                                           .numeric()) for b in range(B)], dtype=torch.float64)
            const, coeffs = lin
            out = torch.tensor(const, dtype=torch.float64)
            for p, c in coeffs:
                out = out + c * self.values[p]
            return out
        return torch.tensor(float(x), dtype=torch.float64)


def _linearise(expr: ParameterExpression) -> tuple:
    coeffs = []
    for p in expr.parameters:
        g = expr.gradient(p)
        if isinstance(g, ParameterExpression):
            if g.parameters:
                return (None, None)
            g = g.numeric()
        coeffs.append((p, float(g)))
    try:
        const = float(expr.bind({p: 0.0 for p in expr.parameters}).numeric())
    except (ZeroDivisionError, ValueError, TypeError):
        return (None, None)
    return (const, coeffs)


# --------------------------------------------------------------------------- kernels

_HW2 = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=bool)
_FULL1 = np.ones((2, 2), dtype=bool)
_DIAG1 = np.eye(2, dtype=bool)


def _mat(entries: dict[tuple[int, int], torch.Tensor], dim: int, shape) -> torch.Tensor:
    out = torch.zeros(*shape, dim, dim, dtype=CDTYPE)
    for (r, c), v in entries.items():
        out[..., r, c] = v
    return out


def _kernel(name: str, vals: list[torch.Tensor]):
    """``(U (..., 2^k, 2^k), pattern)`` for a torch-kernel gate, or None."""
    if name in ("rbs", "fbs", "xx_plus_yy"):
        if name == "xx_plus_yy":
            half, beta = vals[0] / 2, vals[1]
            off12 = -1j * torch.sin(half) * torch.exp(-1j * beta)
            off21 = -1j * torch.sin(half) * torch.exp(1j * beta)
        else:
            half = vals[0]
            off12, off21 = torch.sin(half).to(CDTYPE), -torch.sin(half).to(CDTYPE)
        c = torch.cos(half).to(CDTYPE)
        one = torch.ones_like(c)
        return _mat({(0, 0): one, (1, 1): c, (1, 2): off12, (2, 1): off21, (2, 2): c,
                     (3, 3): one}, 4, c.shape), _HW2
    if name in ("rx", "ry"):
        c, s = torch.cos(vals[0] / 2).to(CDTYPE), torch.sin(vals[0] / 2).to(CDTYPE)
        o = -1j * s if name == "rx" else -s
        p = -1j * s if name == "rx" else s
        return _mat({(0, 0): c, (0, 1): o, (1, 0): p, (1, 1): c}, 2, c.shape), _FULL1
    if name in ("rz", "p"):
        t = vals[0].to(CDTYPE)
        d0, d1 = (torch.exp(-0.5j * t), torch.exp(0.5j * t)) if name == "rz" else \
            (torch.ones_like(t), torch.exp(1j * t))
        return _mat({(0, 0): d0, (1, 1): d1}, 2, t.shape), _DIAG1
    if name == "u":
        th, ph, la = (v.to(CDTYPE) for v in vals)
        c, s = torch.cos(th / 2), torch.sin(th / 2)
        return _mat({(0, 0): c, (0, 1): -torch.exp(1j * la) * s, (1, 0): torch.exp(1j * ph) * s,
                     (1, 1): torch.exp(1j * (ph + la)) * c}, 2, th.shape), _FULL1
    return None


_KERNELS = {"rbs", "fbs", "xx_plus_yy", "rx", "ry", "rz", "p", "u"}


_DENSE_CACHE: dict = {}


def _standard_names() -> frozenset[str]:
    global _STANDARD
    if _STANDARD is None:
        from qiskit.circuit.library import get_standard_gate_name_mapping

        _STANDARD = frozenset(get_standard_gate_name_mapping())
    return _STANDARD


_STANDARD: frozenset[str] | None = None


def _dense(op) -> tuple[torch.Tensor, np.ndarray]:
    """Numeric matrix and structural pattern of a parameter-free gate (cached for
    standard gates)."""
    from qiskit.quantum_info import Operator

    key = None
    if op.name in _standard_names():
        key = (op.name, op.num_qubits, tuple(complex(p) for p in op.params))
        hit = _DENSE_CACHE.get(key)
        if hit is not None:
            return hit
    U = Operator(op).data
    out = (torch.as_tensor(U, dtype=CDTYPE), U != 0)
    if key is not None:
        _DENSE_CACHE[key] = out
    return out


def _free(op) -> bool:
    return any(isinstance(p, ParameterExpression) and p.parameters for p in op.params)


# --------------------------------------------------------------------------- engine

class _Engine:
    """Applies gates to ``(idx (L,) numpy int64 sorted, amp (B, L) complex)``."""

    def __init__(self, binding: _Binding, idx: np.ndarray, amp: torch.Tensor):
        self.binding, self.idx, self.amp = binding, idx, amp
        self.measured: set[int] = set()

    def run(self, circuit: QuantumCircuit, qmap: list[int], cond: tuple[int, int]) -> None:
        for inst in circuit.data:
            qubits = [qmap[circuit.find_bit(q).index] for q in inst.qubits]
            self.apply(inst.operation, qubits, cond)
        phase = circuit.global_phase
        if isinstance(phase, ParameterExpression) or phase != 0:
            self.phase(self.binding.value(phase), cond)

    def apply(self, op, qubits: list[int], cond: tuple[int, int]) -> None:
        name = op.name
        if name in _SKIP:
            if name == "measure":
                self.measured.update(qubits)
            return
        if self.measured.intersection(qubits):
            raise ValueError(f"gate {name!r} acts on a measured qubit: only final "
                             "measurements can be simulated")
        if name == "reset" or getattr(op, "blocks", None):
            raise ValueError(f"cannot simulate {name!r}: only unitary circuits (plus final "
                             "measurements) are supported")
        if name in _KERNELS:
            U, pattern = _kernel(name, [self.binding.value(p) for p in op.params])
            if name == "fbs":
                middle = sum(1 << q for q in qubits[1:-1])
                self.local([qubits[0], qubits[-1]], U, pattern, cond, middle)
            else:
                self.local(qubits, U, pattern, cond)
        elif isinstance(op, ControlledGate) and len(op.params) == len(op.base_gate.params):
            mask, val = cond
            for j in range(op.num_ctrl_qubits):
                mask |= 1 << qubits[j]
                val |= (op.ctrl_state >> j & 1) << qubits[j]
            self.apply(op.base_gate, qubits[op.num_ctrl_qubits:], (mask, val))
        elif not _free(op) and (name in _standard_names() or name in _DENSE
                                or op.definition is None):
            U, pattern = _dense(op)
            self.local(qubits, U, pattern, cond)
        elif op.definition is not None:
            self.run(op.definition, qubits, cond)
        else:
            raise ValueError(f"cannot simulate gate {name!r}: no matrix and no definition")

    def phase(self, phi: torch.Tensor, cond: tuple[int, int]) -> None:
        mask, val = cond
        active = torch.as_tensor((self.idx & mask) == val)
        factor = torch.where(active, torch.exp(1j * phi.to(CDTYPE))[..., None],
                             torch.ones((), dtype=CDTYPE))
        self.amp = self.amp * factor

    def local(self, qubits: list[int], U: torch.Tensor, pattern: np.ndarray,
              cond: tuple[int, int], parity_mask: int = 0) -> None:
        """Apply ``U`` (``(2^k, 2^k)`` or ``(B, 2^k, 2^k)``, local bit ``j`` = ``qubits[j]``)
        to entries whose bits satisfy ``cond = (mask, value)``; off-diagonal entries get
        ``(-1)^popcount(index & parity_mask)`` (FBS)."""
        idx, k = self.idx, len(qubits)
        dim = 1 << k
        loc = np.zeros_like(idx)
        for j, q in enumerate(qubits):
            loc |= (idx >> q & 1) << j
        rest = idx & ~sum(1 << q for q in qubits)
        deposit = [sum((j >> t & 1) << q for t, q in enumerate(qubits)) for j in range(dim)]
        mask, val = cond
        active = (idx & mask) == val
        srcs, dsts, cols, signs = [], [], [], []
        idle = np.flatnonzero(~active)
        if idle.size:
            srcs.append(idle)
            dsts.append(idx[idle])
            cols.append(np.full(idle.size, dim * dim))
            signs.append(np.ones(idle.size))
        for i in range(dim):
            sel = np.flatnonzero(active & (loc == i))
            if not sel.size:
                continue
            sign = 1.0 - 2.0 * (popcount(idx[sel] & parity_mask) & 1) if parity_mask else \
                np.ones(sel.size)
            for j in np.flatnonzero(pattern[:, i]):
                srcs.append(sel)
                dsts.append(rest[sel] | deposit[j])
                cols.append(np.full(sel.size, j * dim + i))
                signs.append(sign if j != i else np.ones(sel.size))
        src, dst = np.concatenate(srcs), np.concatenate(dsts)
        new_idx, dst_pos = np.unique(dst, return_inverse=True)
        Uf = U.reshape(*U.shape[:-2], dim * dim)
        Uf = torch.cat([Uf, torch.ones(*Uf.shape[:-1], 1, dtype=CDTYPE)], -1)
        coef = Uf[..., torch.as_tensor(np.concatenate(cols))]
        if parity_mask:
            coef = coef * torch.as_tensor(np.concatenate(signs), dtype=torch.float64)
        contrib = self.amp[:, torch.as_tensor(src)] * coef
        out = torch.zeros(contrib.shape[0], new_idx.size, dtype=CDTYPE)
        self.amp = out.index_add(1, torch.as_tensor(dst_pos.reshape(-1)), contrib)
        self.idx = new_idx


# --------------------------------------------------------------------------- public API

def _as_subspace(state, num_qubits: int | None = None) -> SubspaceState:
    if isinstance(state, SubspaceState):
        return state
    t = torch.as_tensor(state)
    dim = t.shape[-1]
    if dim & (dim - 1) or (num_qubits is not None and dim != 1 << num_qubits):
        raise ValueError(f"statevector length must be 2^n (n = number of qubits), got {dim}")
    return SubspaceState(torch.arange(dim), t.to(CDTYPE), dim.bit_length() - 1)


def simulate_subspace(
    circuit: QuantumCircuit, parameter_values=None, initial_state=None
) -> SubspaceState:
    """Run ``circuit`` exactly, keeping only reachable basis states (see module docstring).

    Args:
        parameter_values: None, a mapping ``{Parameter | ParameterVector: values}``, or an
            array/tensor ``(..., P)`` in ``circuit.parameters`` order; leading dims = batch.
        initial_state: ``|0...0>`` by default, else a dense ``(..., 2^N)`` tensor or a
            :class:`SubspaceState` (its support seeds the simulation).
    Returns:
        :class:`SubspaceState` with amplitudes ``(*batch, L)`` (complex128, differentiable).
    """
    binding = _Binding(circuit, parameter_values)
    N = circuit.num_qubits
    if initial_state is None:
        idx, amp, batch = np.zeros(1, dtype=np.int64), torch.ones(1, 1, dtype=CDTYPE), ()
    else:
        s0 = _as_subspace(initial_state, N)
        if s0.num_qubits != N:
            raise ValueError(f"initial state has {s0.num_qubits} qubits, circuit has {N}")
        batch = tuple(s0.amplitudes.shape[:-1])
        idx = s0.indices.cpu().numpy().astype(np.int64)
        order = np.argsort(idx)
        idx, amp = idx[order], s0.amplitudes.reshape(-1, idx.size)[:, torch.as_tensor(order)]
    if batch and binding.batch_shape and batch != binding.batch_shape:
        raise ValueError(f"initial_state batch {batch} != parameter batch "
                         f"{binding.batch_shape}")
    batch = batch or binding.batch_shape
    eng = _Engine(binding, idx, amp)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many tiny ops: intra-op threads only add overhead
    try:
        eng.run(circuit, list(range(N)), (0, 0))
    finally:
        torch.set_num_threads(threads)
    B = int(np.prod(batch)) if batch else 1
    amps = eng.amp.expand(B, -1).reshape(*batch, eng.idx.size)
    return SubspaceState(torch.as_tensor(eng.idx), amps, N)


def simulate_statevector(
    circuit: QuantumCircuit, parameter_values=None, initial_state=None
) -> torch.Tensor:
    """Full statevector ``(*batch, 2^N)`` of ``circuit`` (qubit ``i`` = bit ``i``); see
    :func:`simulate_subspace` for the arguments."""
    return simulate_subspace(circuit, parameter_values, initial_state).dense()


def outcome_probabilities(state, qubits: list[int] | None = None) -> torch.Tensor:
    """Ideal measurement distribution ``(..., 2^len(qubits))`` of a state (SubspaceState or
    dense): outcome index ``Σ_j bit(qubits[j]) 2^j`` (all qubits by default, in order)."""
    s = _as_subspace(state)
    probs = s.amplitudes.abs() ** 2
    qubits = list(range(s.num_qubits)) if qubits is None else list(qubits)
    idx = s.indices
    out_idx = torch.zeros_like(idx)
    for j, q in enumerate(qubits):
        out_idx |= (idx >> q & 1) << j
    out = torch.zeros(*probs.shape[:-1], 1 << len(qubits), dtype=probs.dtype)
    return out.index_add(-1, out_idx, probs)


def postselect_state(
    state, n_data: int, n_ancilla: int, weight: int, normalize: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Postselect ancillas ``n_data..`` on ``0`` and the data register on Hamming weight
    ``weight`` (the mask of :func:`hwadapt.circuits.lcu.postselect`).

    Returns:
        ``(prob (...,), psi (..., C(n_data, weight)))``: the success probability and the
        data state in ``subset_indices(n_data, weight)`` order (for weight 1, ``psi[..., i]``
        is qubit ``i``'s amplitude), normalised unless ``normalize=False`` (then the raw
        projected amplitudes, e.g. ``M ψ / ‖α‖₁`` for an LCU).
    """
    s = _as_subspace(state)
    idx = s.indices.cpu().numpy()
    keep = np.flatnonzero(postselect(idx, n_data, n_ancilla, weight))
    targets = np.asarray(subset_indices(n_data, weight))
    order = np.argsort(targets)
    pos = order[np.searchsorted(targets[order], idx[keep] & ((1 << n_data) - 1))]
    amps = s.amplitudes[..., torch.as_tensor(keep, dtype=torch.long)]
    psi = torch.zeros(*amps.shape[:-1], targets.size, dtype=amps.dtype)
    psi = psi.index_copy(-1, torch.as_tensor(pos, dtype=torch.long), amps)
    prob = (psi.abs() ** 2).sum(-1)
    if normalize:
        psi = psi / torch.sqrt(prob)[..., None]
    return prob, psi


def postselection_probability(state, n_data: int, n_ancilla: int, weight: int) -> torch.Tensor:
    """Probability ``(...,)`` that ancillas read ``0`` and the data weight is ``weight``."""
    return postselect_state(state, n_data, n_ancilla, weight, normalize=False)[0]
