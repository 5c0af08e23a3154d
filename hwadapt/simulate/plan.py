"""Compile a circuit once into a :class:`Plan`: the reachable basis states and, per gate,
its blocks of positions in that support, scheduled into stages of disjoint positions.

Walking the circuit (controlled gates act on the branch their controls select, composite
gates recurse into their definitions, global phases included) tracks which basis states can
be non-zero (*live*) from each gate's structural non-zeros, so Hamming-weight-preserving
circuits stay in their sector by themselves (an ``n``-qubit unary LCU with ``a`` ancillas
touches ``n·2^a`` amplitudes, not ``2^(n+a)``). A gate becomes *blocks*: the ``d`` states
that differ only in its local bits (``d = 2`` for RBS/FBS and one-qubit gates, ``2^k`` for
a small dense gate), restricted to states that exist in the support (a missing member is a
dummy position whose row and column are zeroed). Blocks of different gates that touch
disjoint positions share a stage (a layer of disjoint RBS on HW 1, the branches of an LCU
SELECT), and a stage is one batched update in the hot loop (:func:`apply_groups`, numpy or
torch). A plan holds numpy arrays only (no torch import); :mod:`.forward` runs it: one
compiled (numba) call for all stages of a large plan when no gradient is needed; the torch
path (autograd, :mod:`.run`) runs a stage as a few batched ops on torch views of the arrays
and, on a small support, a run of parameter-free stages as one dense matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from qiskit.circuit import ControlledGate, QuantumCircuit

from hwadapt.simulate import basis
from hwadapt.simulate.kinds import ALIASES, KINDS, STANDARD_NAMES, dense_matrix
from hwadapt.simulate.params import Slots, is_free
from hwadapt.simulate.xp import is_torch

SKIP = {"barrier", "delay"}
DENSE_NAMES = {"state_preparation", "initialize", "isometry", "unitary"}
MAX_DENSE_QUBITS = 12
"""Largest parameter-free gate simulated from its dense matrix (else: its definition)."""
MAX_SUPPORT = 1 << 24
"""Most basis states a plan may track (about 16 M amplitudes per binding)."""
FUSE_MAX_SUPPORT = 2048
"""The differentiable (torch) path runs parameter-free runs of stages as one dense matrix up
to this support size (the compiled path runs the stages: no per-stage dispatch to save)."""


REAL_TOL = 1e-15
"""Parameter-free gates whose imaginary parts are all below this (``e^{iπ}``) count as real;
a circuit of real gates runs in float64."""


class SupportTooLarge(ValueError):
    """The circuit reaches more basis states than :data:`MAX_SUPPORT`."""


@dataclass
class Group:
    """Blocks of one stage that share a block size ``d``: ``pos (nb, d)`` positions (the
    dummy ``L`` for absent members) and either ``M (nb, d, d)`` (parameter-free gates) or
    ``gid (nb,)`` rows of the run-time matrices of size ``d`` with ``mult (nb, d, d)``
    (dummy rows/columns zeroed, FBS signs). numpy arrays in a plan (torch views of them on
    the differentiable path)."""

    pos: np.ndarray
    M: np.ndarray | None = None
    gid: np.ndarray | None = None
    mult: np.ndarray | None = None


@dataclass
class Plan:
    """A compiled circuit (see the module docstring); reuse it across bindings."""

    num_qubits: int
    W: int
    slots: Slots
    words: np.ndarray  # (L, W) the support, by position
    initial: np.ndarray  # (L0,) positions of the initial state's support
    final: np.ndarray  # (K,) live positions at the end, sorted by basis index
    steps: list  # Group lists, one per stage
    kinds: list  # (Kind, slot array (G, k) int64) of the run-time matrices, gid order per d
    phase_slots: list[int]
    real: bool
    measured: dict[int, int] = field(default_factory=dict)  # clbit -> qubit
    torch_steps: list | None = field(default=None, repr=False)  # the torch path's steps
    # (torch Groups; runs of parameter-free stages fused), built on first use by .run
    flat: object = field(default=None, repr=False)  # kernels.Flat, built on first use

    @property
    def size(self) -> int:
        return len(self.words)


class _Compiler:
    def __init__(self, circuit: QuantumCircuit, initial_words: np.ndarray, max_support: int):
        self.max_support = max_support
        self.N = circuit.num_qubits
        self.W = basis.num_words(self.N)
        self.slots = Slots(circuit)
        self.table = basis.Table(self.W)
        self.initial = self.table.add(initial_words)
        self.alive = np.zeros(len(self.table), dtype=bool)
        self.alive[self.initial] = True
        self.last = np.full(len(self.table), -1, dtype=np.int64)
        self.pieces: list = []  # (stage, d, key, pos, mult)
        self.param_gates: dict[str, list] = {k: [] for k in KINDS}  # kind -> slot rows
        self.const_gates: list = []  # (kind name | None, slot row | matrix)
        self.phase_slots: list[int] = []
        self.measured_qubits: set[int] = set()
        self.measured: dict[int, int] = {}
        self._cond_cache: dict = {}

    # ------------------------------------------------------------------ walking
    def walk(self, circuit: QuantumCircuit, qmap: list[int], cond: tuple[int, int],
             top: bool = False) -> None:
        qindex = {q: i for i, q in enumerate(circuit.qubits)}
        cindex = {c: i for i, c in enumerate(circuit.clbits)} if top else None
        for inst in circuit.data:
            qubits = [qmap[qindex[q]] for q in inst.qubits]
            op = inst.operation
            if op.name == "measure":
                self.measured_qubits.update(qubits)
                if top:
                    self.measured[cindex[inst.clbits[0]]] = qubits[0]
                continue
            self.apply(op, qubits, cond)
        phase = circuit.global_phase
        if is_free(phase) or phase != 0:
            self.phase(phase, cond)

    def apply(self, op, qubits: list[int], cond: tuple[int, int]) -> None:
        name = op.name
        if name in SKIP:
            return
        if self.measured_qubits.intersection(qubits):
            raise ValueError(f"gate {name!r} acts on a measured qubit: only final "
                             "measurements can be simulated")
        if name == "reset" or getattr(op, "blocks", None):
            raise ValueError(f"cannot simulate {name!r}: only unitary circuits (plus final "
                             "measurements) are supported")
        if name in ALIASES:
            kind, spec = ALIASES[name]
            values = [(None if i is None else op.params[i], s, o) for i, s, o in spec]
            if name == "fbs":
                mid = basis.mask_words(qubits[1:-1], self.W)
                self.gate(kind, values, [qubits[0], qubits[-1]], cond, mid)
            else:
                self.gate(kind, values, qubits, cond)
        elif isinstance(op, ControlledGate) and len(op.params) == len(op.base_gate.params):
            mask, val = cond
            for j in range(op.num_ctrl_qubits):
                mask |= 1 << qubits[j]
                val |= (op.ctrl_state >> j & 1) << qubits[j]
            self.apply(op.base_gate, qubits[op.num_ctrl_qubits:], (mask, val))
        elif not any(is_free(p) for p in op.params) and len(qubits) <= MAX_DENSE_QUBITS and (
                name in STANDARD_NAMES or name in DENSE_NAMES or op.definition is None):
            self.dense(op, qubits, cond)
        elif op.definition is not None:
            self.walk(self._bound_definition(op), qubits, cond)
        else:
            raise ValueError(f"cannot simulate gate {name!r} on {len(qubits)} qubits: no "
                             "matrix (or too wide for one) and no definition")

    def _bound_definition(self, op) -> QuantumCircuit:
        """``op.definition`` with its parameters bound to ``op.params`` where they are stale
        (the base gate of a controlled ``to_gate()`` gate keeps its definition's own
        Parameters, in ``definition.parameters`` order, after the circuit is bound)."""
        defn = op.definition
        stale = [p for p in defn.parameters if not self.slots.knows(p)]
        if stale and len(defn.parameters) == len(op.params):
            defn = defn.assign_parameters(dict(zip(defn.parameters, op.params, strict=True)))
        return defn

    def phase(self, phi, cond: tuple[int, int]) -> None:
        if cond == (0, 0):
            self.phase_slots.append(self.slots.add(phi))
        else:
            self.gate("phase", [(phi, 1.0, 0.0)], [], cond)

    def gate(self, kind: str, values: list, qubits: list[int], cond, mid=None) -> None:
        k = KINDS[kind]
        if any(is_free(v) for v, _, _ in values):
            row = [self.slots.add(0.0 if v is None else v, s, o) for v, s, o in values]
            key = ("p", kind, len(self.param_gates[kind]))
            self.param_gates[kind].append(row)
            pattern = np.ones((k.d, k.d), dtype=bool)
        else:
            a = np.array([(0.0 if v is None else float(v)) * s + o for v, s, o in values])
            key = ("c", len(self.const_gates))
            self.const_gates.append((kind, a))
            pattern = _const_pattern(kind, a, k.d)
        self.block(qubits, k.locs, pattern, cond, key, mid)

    def dense(self, op, qubits: list[int], cond) -> None:
        M = dense_matrix(op)
        key = ("c", len(self.const_gates))
        self.const_gates.append((None, M))
        self.block(qubits, tuple(range(1 << len(qubits))), M != 0, cond, key)

    # ------------------------------------------------------------------ blocks
    def _cond(self, cond):
        hit = self._cond_cache.get(cond)
        if hit is None:
            mask, val = cond
            hit = self._cond_cache[cond] = (basis.int_words(mask, self.W),
                                            basis.int_words(val, self.W))
        return hit

    def block(self, qubits, locs, pattern, cond, key, mid=None) -> None:
        d = len(locs)
        live = np.flatnonzero(self.alive)
        w = self.table.words[live]
        sel = np.ones(len(live), dtype=bool) if cond == (0, 0) else \
            basis.matches(w, *self._cond(cond))
        loc = basis.local_index(w, qubits)
        lut = np.full(1 << len(qubits), -1, dtype=np.int64)
        lut[list(locs)] = np.arange(d)
        member = lut[loc]
        sel &= member >= 0
        if not sel.any():
            return
        w, member = w[sel], member[sel]
        qmask = basis.mask_words(qubits, self.W)
        rest = w & ~qmask
        keys = np.ascontiguousarray(rest).view(f"V{8 * self.W}").ravel()
        _, first, block_of = np.unique(keys, return_index=True, return_inverse=True)
        rest_u = rest[first]
        nb = len(first)
        has = np.zeros((nb, d), dtype=bool)
        has[block_of.ravel(), member] = True
        target = (has.astype(np.int64) @ pattern.T.astype(np.int64)) > 0
        dep = np.stack([basis.mask_words(qubits, self.W, loc_j) for loc_j in locs])
        rows = (rest_u[:, None, :] | dep[None]).reshape(nb * d, self.W)
        pos = self.table.find(rows).reshape(nb, d)
        need = target & (pos < 0)
        if need.any():
            pos[need] = self.table.add(rows[need.ravel()])
            if len(self.table) > self.max_support:
                raise SupportTooLarge(f"the circuit reaches more than {self.max_support} "
                                      "basis states: too large to simulate exactly")
            grow = len(self.table) - len(self.alive)
            self.alive = np.concatenate([self.alive, np.zeros(grow, dtype=bool)])
            self.last = np.concatenate([self.last, np.full(grow, -1, dtype=np.int64)])
        found = pos >= 0
        self.alive[pos[found]] = False
        self.alive[pos[target]] = True
        present = found.astype(float)
        mult = present[:, :, None] * present[:, None, :]
        if mid is not None:
            sign = 1.0 - 2.0 * basis.parity(rest_u, mid)
            off = ~np.eye(d, dtype=bool)
            mult[:, off] *= sign[:, None]
        real = pos[found]
        stage = int(self.last[real].max()) + 1
        self.last[real] = stage
        self.pieces.append((stage, d, key, pos, mult))

    # ------------------------------------------------------------------ finishing
    def finish(self) -> Plan:
        self.slots.freeze()
        L = len(self.table)
        kinds, offset = [], {}  # run-time matrices per d, kinds in a fixed order
        count: dict[int, int] = {}
        for name, rows in self.param_gates.items():
            if rows:
                k = KINDS[name]
                offset[name] = count.get(k.d, 0)
                count[k.d] = offset[name] + len(rows)
                kinds.append((k, np.array(rows, dtype=np.int64)))
        const = _const_matrices(self.const_gates)
        real = all(k.real for k, _ in kinds) and all(
            bool((np.abs(M.imag) <= REAL_TOL).all()) for M in const)
        stages: dict[int, dict] = {}
        for stage, d, key, pos, mult in self.pieces:
            pos = np.where(pos < 0, L, pos)
            if key[0] == "c":
                gid = key[1]
            else:
                gid = offset[key[1]] + key[2]
            stages.setdefault(stage, {}).setdefault((d, key[0]), []).append((pos, gid, mult))
        steps = []
        for stage in sorted(stages):
            groups = []
            for (_, typ), parts in stages[stage].items():
                pos = np.concatenate([p for p, _, _ in parts])
                mult = np.concatenate([m for _, _, m in parts])
                gid = np.concatenate([np.full(len(p), g, dtype=np.int64) for p, g, _ in parts])
                if typ == "c":
                    M = np.stack([const[g] for g in gid.tolist()]) * mult
                    groups.append(Group(pos, M=np.ascontiguousarray(M.real) if real else M))
                else:
                    groups.append(Group(pos, gid=gid, mult=mult))
            steps.append(groups)
        live = np.flatnonzero(self.alive)
        final = live[basis.sort_order(self.table.words[live])]
        return Plan(self.N, self.W, self.slots, self.table.words, self.initial, final, steps,
                    kinds, self.phase_slots, real, dict(sorted(self.measured.items())))


def apply_groups(amp, groups: list[Group], mats: dict | None):
    """One stage on ``amp (B, L+1)``: every block ``pos`` of every group gets
    ``M @ amp[pos]`` (in place); ``mats[d]`` = run-time matrices ``(B|1, G, d, d)``. numpy
    arrays, or torch tensors (and torch groups) on the differentiable path."""
    B = amp.shape[0]
    torch = is_torch(amp)
    for g in groups:
        x = amp[:, g.pos]
        M = g.M if g.M is not None else mats[g.pos.shape[1]][:, g.gid] * g.mult
        y = (M * x[..., None, :]).sum(-1).reshape(B, -1)
        if torch:
            amp.index_copy_(1, g.pos.reshape(-1), y)
        else:
            amp[:, g.pos.reshape(-1)] = y
    return amp


def _const_pattern(kind: str, a: np.ndarray, d: int) -> np.ndarray:
    """Structural non-zeros of a parameter-free kernel gate (exact zeros of its angles)."""
    if kind in ("rbs", "ry", "rx", "xx_plus_yy", "u") and np.sin(a[0] / (1 if kind == "rbs"
                                                                      else 2)) == 0:
        return np.eye(d, dtype=bool)
    if kind in ("rz", "p", "phase"):
        return np.eye(d, dtype=bool)
    return np.ones((d, d), dtype=bool)


def _const_matrices(gates: list) -> list[np.ndarray]:
    """Matrices of the parameter-free gates, kernel gates computed per kind in one call."""
    out: list = [M for _, M in gates]
    for name, k in KINDS.items():
        idx = [i for i, (kind, _) in enumerate(gates) if kind == name]
        if idx:
            a = np.stack([gates[i][1] for i in idx]).astype(np.float64)
            mats = k.matrices(a[None])[0].astype(np.complex128)
            for i, M in zip(idx, mats, strict=True):
                out[i] = M
    return out


def compile_circuit(circuit: QuantumCircuit, initial: np.ndarray | None = None,
                    max_support: int = MAX_SUPPORT) -> Plan:
    """Compile ``circuit`` for inputs supported on ``initial`` (``(L0, W)`` basis words;
    default ``|0…0>``). Raises :class:`SupportTooLarge` past ``max_support`` states."""
    W = basis.num_words(circuit.num_qubits)
    if initial is None:
        initial = np.zeros((1, W), dtype=np.uint64)
    comp = _Compiler(circuit, initial, max_support)
    comp.walk(circuit, list(range(circuit.num_qubits)), (0, 0), top=True)
    return comp.finish()
