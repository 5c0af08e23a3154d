"""Which Aer simulation method ``aer_noisy`` uses, chosen by size and structure.

Aer's ``automatic`` picks statevector trajectories as soon as ``shots <= 2^qubits``, which is
3-4x slower than the density matrix for the demo at 10 data qubits. Measured here (2 cores,
load 0.5-1.0, 1 thread, the demo's magnitude circuit on fake_torino, wall seconds per
binding at the demo's first-round shots, medians of 10 interleaved rounds; trajectories run
at 256 / 32 shots and scaled; ``benchmarks/aer_methods.py`` and
``results/benchmarks/aer_methods.json`` also hold the ratios to ``automatic`` per round):

====== ===== ============== =========== ==================
qubits shots density matrix statevector matrix product st.
====== ===== ============== =========== ==================
5      1,280 0.065          0.92        10
7      1,536 0.16           1.4         19
9      1,536 0.41           4.9         77
11     2,560 6.9            39          not run
====== ===== ============== =========== ==================

- density matrix: cost ~ ``4^q`` per gate, independent of shots;
- statevector trajectories: ~ ``shots * 2^q`` (one noisy trajectory per shot, shots in
  parallel up to :func:`hwadapt.threads.threads`): 14 / 8.5 / 12 / 5.6x the density matrix
  at 5 / 7 / 9 / 11 qubits above (an earlier run under load: falling ~3x per 2 qubits from
  9 to 13), so density matrix while ``q <= 9 + 2 log3(shots / 128)`` (q <= 13 at 1,536
  shots), and never above :data:`DENSITY_MATRIX_MAX_QUBITS` (memory ``16 * 4^q`` bytes);
- re-measured with ``benchmarks/fixed_cost.py`` (CPU seconds per binding, so load-independent;
  1 thread, the demo's magnitude circuit, 1,536 shots): 9 qubits (8 data) density matrix
  0.42, statevector 5.3, statevector with Aer's shot branching 10, matrix product state 104;
  11 qubits (10 data) density matrix 7.0, statevector 30. The density matrix stays the right
  choice there, and the 10-data-qubit demo costs ~17x the 8-qubit one: the state grows 16x and
  the circuit 1.4x. No Aer method meets "10 qubits within 2x of 8" (trajectories grow 4x per
  2 qubits and carry more overhead per shot). A matrix-product density operator along the
  line does not either (``benchmarks/mpdo_rank.py``, ``results/benchmarks/mpdo_rank.json``):
  the noisy state of the demo's circuit has full operator rank across every cut, bond
  dimension ``4^floor(q/2)`` = 16 / 64 / 256 at 5 / 7 / 9 qubits (matching Aer's density
  matrix to TVD 5e-8), so it costs more than the density matrix: the native-gate
  decompositions and the noise channels leave no low-rank structure to exploit.
  ``runtime_parameter_bind_enable`` saved 2-4% (16 bindings, 8 data qubits): not used;
- matrix-product-state trajectories: per-gate cost independent of ``q`` for a circuit whose
  two-qubit gates lie on a line (Hamming-weight-1 states have bond dimension 2; noise raises
  it), but 11 / 14 / 16x slower than statevector at 5 / 7 / 9 qubits above (Aer's cost per
  shot and gate, ~70 µs, dominates; an earlier run under load gave 7-17x at 9-13 qubits, the
  gap halving per 2 qubits, as statevector's ``2^q`` growth predicts once it dominates):
  used for line circuits from :data:`MPS_MIN_QUBITS` on (extrapolated), with the qubits
  renumbered along the line (:func:`line_order`) so that every gate is nearest-neighbour.
"""

from __future__ import annotations

import math

SECONDS_PER_OP = {"density_matrix": 2.0e-9, "statevector": 1.0e-8,
                  "matrix_product_state": 7.0e-5}
"""Cost model of one binding on one thread (:func:`seconds_per_binding`), per instruction of
the noisy ISA circuit and per ``4^q`` (density matrix), per shot and ``2^q`` (statevector
trajectories) or per shot (matrix-product-state trajectories, bond dimension as on the
demo's circuits). Measured here on a quiet machine (wall seconds, 1 thread, the demo's
magnitude circuit on fake_torino): density matrix 2.3e-9 / 1.7e-9 at 9 / 11 qubits (718 /
1,004 instructions), statevector 1.1e-8 / 8.0e-9 at 9 / 11 qubits (128 shots), matrix product
state 6.8e-5 at 9 qubits (16 shots); the model gives 8.4 s and 32 s for the 11-qubit rows
of the table above (7.0 and 30 measured)."""
NOT_APPLIED = frozenset({"barrier", "delay", "measure"})
"""Instructions that are not gates on the simulated state (cost nothing, couple nothing)."""
DENSITY_MATRIX_MAX_QUBITS = 14
"""Largest register simulated as a density matrix (4 GiB of complex128)."""
MPS_MIN_QUBITS = 19
"""Smallest register for which a line circuit uses matrix-product-state trajectories."""


def choose_method(num_qubits: int, shots: int, line: bool) -> str:
    """Aer method for a noisy circuit on ``num_qubits`` qubits sampled ``shots`` times;
    ``line``: its two-qubit gates lie on a line (:func:`line_order` is not None)."""
    if num_qubits <= DENSITY_MATRIX_MAX_QUBITS and \
            num_qubits <= 9 + 2 * math.log(max(shots, 1) / 128, 3):
        return "density_matrix"
    if line and num_qubits >= MPS_MIN_QUBITS:
        return "matrix_product_state"
    return "statevector"


def seconds_per_binding(method: str, num_qubits: int, ops: int, shots: int) -> float:
    """Modelled seconds (one thread) to sample one binding of a noisy circuit of ``ops``
    instructions on ``num_qubits`` qubits ``shots`` times with Aer ``method``
    (:data:`SECONDS_PER_OP`); a planning figure, right within a factor of ~2 from 9 qubits
    on; below that Aer's fixed costs dominate (measured: density matrix 0.01 / 0.13 s per
    binding at 5 / 7 qubits, trajectories ~0.6 ms per shot), which it leaves out."""
    per_op = SECONDS_PER_OP[method] * ops
    if method == "density_matrix":
        return per_op * 4.0**num_qubits
    if method == "statevector":
        return per_op * shots * 2.0**num_qubits
    return per_op * shots


def job_seconds(pubs: list, method: str | None = None) -> float:
    """Modelled wall seconds of a job's ``pubs`` ``[(circuit, bindings, shots), ...]``:
    :func:`seconds_per_binding` of each circuit on its own active qubits (Aer truncates the
    idle ones of a shared register) summed over the bindings, over the threads Aer may use
    (:func:`hwadapt.threads.threads`). ``method`` None: Aer's ``automatic`` per circuit
    (density matrix when the shots exceed ``2^q``, else statevector trajectories)."""
    from hwadapt.backends.noise import active_qubits
    from hwadapt.threads import threads

    total = 0.0
    for c, bindings, shots in pubs:
        q = len(active_qubits(c))
        m = method or ("density_matrix" if shots > 2**q else "statevector")
        total += bindings * seconds_per_binding(m, q, _ops(c), shots)
    return total / threads()


def _ops(circuit) -> int:
    """Instructions a simulator applies (gates, resets; not :data:`NOT_APPLIED`)."""
    return sum(1 for i in circuit.data if i.operation.name not in NOT_APPLIED)


def line_order(circuits: list, qubits: tuple[int, ...]) -> tuple[int, ...] | None:
    """``qubits`` (circuit indices) ordered so that every two-qubit gate of ``circuits`` acts
    on neighbours, or None when the gates do not lie on lines (a gate on 3+ qubits, a qubit
    with 3+ partners, a cycle). Several lines and idle qubits are concatenated."""
    partners: dict[int, set[int]] = {q: set() for q in qubits}
    for circuit in circuits:
        for inst in circuit.data:
            if inst.operation.name in NOT_APPLIED:
                continue
            idx = [circuit.find_bit(q).index for q in inst.qubits]
            if len(idx) > 2:
                return None
            if len(idx) == 2:
                a, b = idx
                partners[a].add(b)
                partners[b].add(a)
    if any(len(p) > 2 for p in partners.values()):
        return None
    order: list[int] = []
    seen: set[int] = set()
    for start in sorted(qubits, key=lambda q: (len(partners[q]) != 1, q)):  # ends first
        if start in seen:
            continue
        prev, cur = None, start
        while cur is not None:
            order.append(cur)
            seen.add(cur)
            nxt = [p for p in partners[cur] if p != prev and p not in seen]
            prev, cur = cur, (nxt[0] if nxt else None)
    pos = {q: i for i, q in enumerate(order)}
    if any(abs(pos[a] - pos[b]) != 1 for a, p in partners.items() for b in p):
        return None  # a cycle: walked once around, one edge left long
    return tuple(order)
