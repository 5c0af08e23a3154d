"""Hardware-efficient SELECT for adapters that share a layout: every gate position multiplexed.

Textbook SELECT ``Σ_i |i><i| ⊗ U_i`` controls each whole adapter circuit on the ancillas
(thousands of two-qubit gates after transpiling). When the ``R`` terms share one layout —
``U_i = Π_g RBS_g(θ_{i,g})`` on the same pairs, in the same order — SELECT factorises per
gate position (block-diagonal matrices multiply blockwise):

    Σ_i |i><i| ⊗ Π_g RBS_g(θ_{i,g})  =  Π_g ( Σ_i |i><i| ⊗ RBS_g(θ_{i,g}) ),        (1)

so it suffices to multiplex each gate on the ancillas. Identities used (all exact, checked
by ``Operator`` in the tests):

- (2) ``Z_a RBS(θ) Z_a = RBS(-θ)`` for ``RBS`` on ``(a, b)``, and the same with ``Z_b``:
  ``Z_a`` is ``-1`` on ``|a=1,b=0>`` and ``+1`` on ``|a=0,b=1>``, flipping the rotation's
  off-diagonal signs; on ``|00>``, ``|11>`` both sides are the identity. ``Z_a Z_b``
  commutes with the gate (``-1`` on both rotated states), as does ``Z_q`` for any ``q``
  off the pair (FBS: middle qubits are diagonal blocks of the gate, so they commute too).
  Hence for a *frame* ``F ⊂ data qubits``, ``Z_F RBS_g(θ) Z_F = RBS_g((-1)^{|F ∩ g|} θ)``.
- (3) ``RBS(a) RBS(b) = RBS(a + b)`` on the same pair (rotations of one plane), so the
  RBS gates of one pair commute and may be reordered.
- (4) ``Π_{j∈J} CZ(anc_j, q) = Σ_i |i><i| ⊗ Z_q^{Σ_{j∈J} i_j}``: a frame attached to
  ancilla ``j`` acts on branch ``i`` only when bit ``i_j = 1``.
- (5) Walsh–Hadamard split of the angle table (``a`` ancillas, branches padded to ``2^a``
  with zero angles): ``θ_{i,g} = Σ_s w_{s,g} (-1)^{s·i}`` with
  ``w_{s,g} = 2^{-a} Σ_i (-1)^{s·i} θ_{i,g}``. For ``R = 2``: ``w_0 = (θ_0+θ_1)/2 = m``,
  ``w_1 = (θ_0-θ_1)/2 = d``; branch ``0`` gets ``m + d = θ_0``, branch ``1`` gets
  ``m - d = θ_1``.

Construction: each ancilla ``j`` carries a frame ``F_j`` that changes only by
``CZ(anc_j, q)`` toggles. Gate position ``g`` gets one ``RBS(w_{s,g})`` per ``s`` (zero
``w`` skipped), applied while ``|F_j ∩ g|`` is odd exactly for the bits ``j`` set in ``s``.
By (2)+(4) branch ``i`` then sees ``RBS((-1)^{s·i} w_{s,g})``; by (3) these compose to
``RBS(θ_{i,g})``; by (1) the product over positions is SELECT. Frames start and end empty.
Gates of one layer (disjoint pairs) commute, so a layer runs its ``s`` slots in Gray-code
order (one ancilla's frame changes per step), reversed on every other layer so that
neighbouring layers share a slot (their CZs cancel). The frames themselves are chosen by an
exact shortest-path search over ``2^n`` frames per ancilla (minimum number of CZ toggles).
Cost, pyramid, ``R = 2``: ``2·n(n-1)/2`` RBS (``2n(n-1)`` CZ) plus the toggles (``≈ n²/2``),
against two fully controlled pyramids in the textbook SELECT.

Signs: a negative ``α_i`` is a ``-1`` on branch ``i`` (a diagonal on the ancillas, which
commutes with SELECT); PREPARE/UNPREPARE is :func:`hwadapt.circuits.lcu.prepare_gate`.
Register layout as :func:`hwadapt.circuits.lcu.lcu_circuit`: data ``0..n-1``, ancillas
``n..n+a-1``, branch ``i = Σ_j bit_j 2^j`` (qubit ``n + j`` = bit ``j``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import DiagonalGate

from hwadapt.arrays import to_numpy
from hwadapt.circuits.adapter import Layout, adapter_circuit
from hwadapt.circuits.gates import hw_pair_gate
from hwadapt.circuits.layouts import layout_layers
from hwadapt.circuits.lcu import lcu_ancillas, prepare_gate
from hwadapt.circuits.loaders import unary_loader

MAX_FRAME_QUBITS = 16
"""Largest data register for the exact frame search (``O(n·2^n)`` per slot)."""


def _layers(n: int, layout: Layout) -> list[list[tuple[int, int]]]:
    """Parallel layers of ``layout`` with the parameter index of every pair."""
    if isinstance(layout, str):
        return layout_layers(n, layout)
    pairs = [tuple(int(q) for q in p) for p in layout]
    if any(not 0 <= a < b < n for a, b in pairs):
        raise ValueError(f"layout pairs must satisfy 0 <= a < b < n={n}, got {pairs}")
    return [[p] for p in pairs]  # explicit pair lists: one gate per layer (order is kept)


def walsh_angles(angles: np.ndarray) -> np.ndarray:
    """Walsh–Hadamard coefficients of an angle table, identity (5) of the module docstring.

    Args:
        angles: ``(R, m)``, row ``i`` = angles of term ``i``.
    Returns:
        ``(2^a, m)`` with ``a = ceil(log2 R)``: ``w[s] = 2^{-a} Σ_i (-1)^{popcount(s&i)}
        θ_i`` (rows ``i >= R`` padded with zeros), so ``θ_i = Σ_s (-1)^{popcount(s&i)} w[s]``.
    """
    th = np.asarray(angles, dtype=float)
    if th.ndim != 2 or th.shape[0] < 1:
        raise ValueError(f"angles must have shape (R, m) with R >= 1, got {th.shape}")
    size = 1 << lcu_ancillas(th.shape[0])
    th = np.concatenate([th, np.zeros((size - th.shape[0], th.shape[1]))])
    s = np.arange(size)
    had = np.array([[(-1) ** bin(si & i).count("1") for i in s] for si in s], dtype=float)
    return had @ th / size


def _gray(a: int) -> list[int]:
    return [t ^ (t >> 1) for t in range(1 << a)]


def _frame_schedule(n: int, slots: list[tuple[list[tuple[int, int]], int]], a: int
                    ) -> list[list[int]]:
    """Minimum-toggle frames: ``frames[t][j]`` = bitmask of ancilla ``j``'s frame in slot ``t``.

    ``slots[t] = (pairs, s)``: in slot ``t`` every pair must meet frame ``j`` an odd number
    of times iff bit ``j`` of ``s`` is set. Frames start and end empty; the cost of a
    change is the number of qubits toggled (one CZ each). Exact: per ancilla, a shortest
    path over the ``2^n`` frames, with the hypercube distance transform per step.
    """
    if n > MAX_FRAME_QUBITS:
        raise ValueError(f"frame search supports n <= {MAX_FRAME_QUBITS} data qubits, got {n}")
    size = 1 << n
    F = np.arange(size)
    parity = {}

    def odd(pair: tuple[int, int]) -> np.ndarray:
        if pair not in parity:
            a_, b_ = pair
            parity[pair] = ((F >> a_) ^ (F >> b_)) & 1
        return parity[pair]

    frames = [[0] * a for _ in slots]
    for j in range(a):
        costs = []
        prev = np.full(size, np.inf)
        prev[0] = 0.0
        for pairs, s in slots + [([], 0)]:
            d = prev.copy()
            for q in range(n):  # Hamming distance transform, one pass per dimension
                d = np.minimum(d, d[F ^ (1 << q)] + 1)
            ok = np.ones(size, dtype=bool)
            for p in pairs:
                ok &= odd(p) == (s >> j & 1)
            prev = np.where(ok, d, np.inf)
            costs.append(prev)
        costs[-1] = np.where(F == 0, costs[-1], np.inf)  # end with an empty frame
        pop = np.array([bin(f).count("1") for f in F])
        cur = 0
        for t in range(len(slots) - 1, -1, -1):
            cur = int(np.argmin(costs[t] + pop[F ^ cur]))
            frames[t][j] = cur
    return frames


def multiplexed_select(n: int, angles, layout: Layout = "pyramid",
                       signs: Sequence[float] | None = None) -> QuantumCircuit:
    """Efficient ``SELECT = Σ_i |i><i| ⊗ sign_i·U(θ_i)`` for terms sharing ``layout``.

    Args:
        n: data qubits.
        angles: ``(R, m)`` numeric angles, row ``i`` in layout (= parameter) order, so
            ``U(θ_i) = adapter_circuit(n, angles[i], layout)``.
        layout: a layout name or explicit pairs (non-adjacent pairs become FBS).
        signs: optional ``(R,)``; a negative entry multiplies branch ``i`` by ``-1``.
    Returns:
        Circuit on ``n + a`` qubits (``a = ceil(log2 R)``; data ``0..n-1``, ancilla ``j`` =
        qubit ``n + j`` = bit ``j`` of the branch). Branches ``i >= R`` get the identity.
        With ``R = 1`` it is ``sign·U(θ_0)`` on ``n`` qubits.
    """
    th = to_numpy(angles, float)
    if th.ndim != 2:
        raise ValueError(f"angles must have shape (R, m), got {th.shape}")
    R = th.shape[0]
    a = lcu_ancillas(R)
    layers = _layers(n, layout)
    first = np.cumsum([0] + [len(layer) for layer in layers])  # parameter index of layer start
    if th.shape[1] != first[-1]:
        raise ValueError(f"layout has {first[-1]} gates but angles have {th.shape[1]} columns")
    qc = QuantumCircuit(n + a, name="select_mux")
    if a == 0:
        qc.compose(adapter_circuit(n, th[0], layout), range(n), inplace=True)
    else:
        w = walsh_angles(th)
        gray = _gray(a)
        slots = []
        for li, layer in enumerate(layers):
            for s in (gray if li % 2 == 0 else gray[::-1]):
                slots.append((layer, s, li))
        frames = _frame_schedule(n, [(layer, s) for layer, s, _ in slots], a)
        current = [0] * a
        for (layer, s, li), frame in zip(slots + [([], 0, 0)], frames + [[0] * a], strict=True):
            for j in range(a):
                for q in range(n):
                    if (current[j] ^ frame[j]) >> q & 1:
                        qc.cz(n + j, q)
                current[j] = frame[j]
            for k, p in enumerate(layer):
                theta = w[s, first[li] + k]
                if theta != 0.0:
                    gate, qubits = hw_pair_gate(float(theta), *p)
                    qc.append(gate, qubits)
    if signs is not None:
        sg = np.asarray(signs, dtype=float)
        if sg.shape != (R,):
            raise ValueError(f"need one sign per term: R={R}, got shape {sg.shape}")
        if np.any(sg < 0):
            if a == 0:
                qc.global_phase += np.pi
            else:
                diag = [(-1.0 if i < R and sg[i] < 0 else 1.0) for i in range(1 << a)]
                qc.append(DiagonalGate(diag), range(n, n + a))
    return qc


def efficient_lcu_circuit(
    angles,
    alphas: Sequence[float],
    state_prep: QuantumCircuit | None = None,
    layout: Layout = "pyramid",
    n: int | None = None,
) -> QuantumCircuit:
    """LCU of ``M = Σ_i α_i U(θ_i)`` with the multiplexed SELECT; same unitary and register
    layout as ``lcu_circuit([adapter_circuit(n, θ_i, layout)], alphas, state_prep)``.

    Args:
        angles: ``(R, m)`` numeric angles (layout order).
        alphas: ``(R,)`` real, not all zero (negative ones folded in as branch signs).
        state_prep: optional ``n``-qubit circuit on the data register (e.g. a unary loader).
        n: data qubits (default: ``state_prep.num_qubits``; required without it).
    Returns:
        ``n + ceil(log2 R)`` qubits, no measurements; postselect ancillas on 0 (and the data
        on the input's Hamming weight) to get ``Mψ/‖α‖₁``.
    """
    al = np.asarray(alphas, dtype=float)
    if n is None:
        if state_prep is None:
            raise ValueError("give n (the data register size) when there is no state_prep")
        n = state_prep.num_qubits
    th = to_numpy(angles, float)
    if th.ndim != 2 or al.shape != (th.shape[0],):
        raise ValueError(f"need angles (R, m) and one alpha per row: angles {th.shape}, "
                         f"alphas {al.shape}")
    if not np.isfinite(al).all() or np.abs(al).sum() == 0:
        raise ValueError("alphas must be finite and not all zero")
    if state_prep is not None and state_prep.num_qubits != n:
        raise ValueError(f"state_prep acts on {state_prep.num_qubits} qubits, the data "
                         f"register has {n}")
    a = lcu_ancillas(len(al))
    qc = QuantumCircuit(n + a, name="lcu_mux")
    if state_prep is not None:
        qc.compose(state_prep, range(n), inplace=True)
    select = multiplexed_select(n, th, layout, signs=np.sign(al))
    if a == 0:
        qc.compose(select, range(n), inplace=True)
        return qc
    V = prepare_gate(np.abs(al))
    qc.append(V, range(n, n + a))
    qc.compose(select, range(n + a), inplace=True)
    qc.append(V.inverse(), range(n, n + a))
    return qc


def separate_circuits(angles, x_angles, layout: Layout = "pyramid", tree: bool = False
                      ) -> list[QuantumCircuit]:
    """Circuits of the ``separate`` evaluation mode: one per term, ``loader(x)`` then
    ``U(θ_i)`` on ``n`` qubits — no ancilla, no controlled gates, no postselection loss.

    Args:
        angles: ``(R, m)`` adapter angles; ``x_angles``: ``(n-1,)`` unary loader angles
            (:func:`hwadapt.circuits.loaders.unary_angles`) or a ParameterVector.
    Returns:
        ``R`` circuits on ``n`` qubits; circuit ``i`` measured in HW 1 gives
        ``|(U_i x)_j|²``; combine with :func:`hwadapt.estimate.combine_terms`.
    """
    th = to_numpy(angles, float)
    if th.ndim != 2:
        raise ValueError(f"angles must have shape (R, m), got {th.shape}")
    n = len(x_angles) + 1
    out = []
    for i, row in enumerate(th):
        qc = unary_loader(n, x_angles, tree)
        qc.compose(adapter_circuit(n, row, layout), inplace=True)
        qc.name = f"separate_{i}"
        out.append(qc)
    return out


def hw1_matrix(circuit: QuantumCircuit) -> np.ndarray:
    """The real ``n×n`` action of a Hamming-weight-preserving, real circuit on HW 1
    (``[j, k] = <e_j|C|e_k>``, ``|e_j>`` = only qubit ``j`` excited)."""
    from qiskit.quantum_info import Operator

    idx = [1 << j for j in range(circuit.num_qubits)]
    return np.real(Operator(circuit).data[np.ix_(idx, idx)])


def term0_alphas(alphas: Sequence[float], beta: float, term: int = 0) -> np.ndarray:
    """LCU weights of the ``"term0"`` sign reference: ``α_0 → α_0 + sign(α_0)·β``
    (``term = k``: the ``"term<k>"`` reference, ``α_k → α_k + sign(α_k)·β``).

    ``Σ α_i U_i + β·sign(α_k) U_k`` is the same LCU with a heavier term ``k``, so the
    reference circuit has exactly the magnitude circuit's gates (any SELECT construction).
    """
    al = np.array(alphas, dtype=float)
    al[term] += np.sign(al[term]) * float(beta)
    return al


def uniform_reference_angles(loader: QuantumCircuit) -> np.ndarray:
    """Pyramid angles ``(n(n-1)/2,)`` of the uniform sign reference ``V_ref = L_u L_ψ†`` for
    the bound unary ``loader`` of ψ (exact on Hamming weight 1)."""
    from hwadapt.circuits.dilation import pyramid_angles
    from hwadapt.circuits.signs import reference_unitary

    return pyramid_angles(hw1_matrix(reference_unitary("uniform", loader)))


def efficient_sign_circuit(angles, alphas: Sequence[float], loader: QuantumCircuit,
                           reference: str = "uniform", beta: float | None = None,
                           layout: Layout = "pyramid") -> QuantumCircuit:
    """The ``"reference"`` family of :func:`hwadapt.circuits.signs.sign_circuits` with the
    multiplexed SELECT: one more term ``β·V_ref`` sharing ``layout``, postselected state
    ``(y + β r)/(‖α‖₁ + β)`` (``r`` = :func:`hwadapt.circuits.signs.reference_vector`).

    - ``reference="term0"`` (``R >= 2``, the cheapest): ``V_ref = sign(α_0)·U_0``, so
      ``r = sign(α_0) U_0 ψ`` and the circuit is the plain LCU with ``α_0`` replaced by
      ``α_0 + sign(α_0) β``: same gates as the magnitude family (no extra ancilla, no extra
      branch), ``‖α'‖₁ = ‖α‖₁ + β``; input-independent, so ``loader`` may be parametrised.
    - ``reference="input"``: ``V_ref = I`` is all-zero angles in any layout, so the circuit's
      only parameters are the loader's: ``loader`` may hold a ParameterVector and one
      circuit serves every input (one PUB); one more branch (use it for ``R = 1``).
    - ``reference="mix"``: ``V_ref = O_mix``, the fixed angles of
      :func:`hwadapt.circuits.signs.mix_angles` in ``layout``; like ``"input"`` otherwise
      (with it for ``R = 1``: no component is blind where only ``ψ_j ≈ 0``).
    - ``reference="uniform"``: ``V_ref = L_u L_ψ†`` re-expressed in the pyramid (exact on HW 1,
      ``pyramid_angles`` of its HW-1 matrix); depends on ψ, so ``loader`` must be numeric
      and ``layout`` the pyramid.
    """
    from hwadapt.circuits.layouts import num_angles
    from hwadapt.circuits.signs import default_beta, mix_angles

    th = np.asarray(angles, dtype=float)
    n = loader.num_qubits
    beta = default_beta(alphas) if beta is None else float(beta)
    if reference == "term0":
        al = np.array(alphas, dtype=float)
        if th.ndim != 2 or len(th) < 2 or al.shape != (len(th),):
            raise ValueError("reference='term0' needs R >= 2 terms (with R = 1 the reference "
                             "would be y itself): use reference='input'")
        return efficient_lcu_circuit(th, term0_alphas(al, beta), state_prep=loader,
                                     layout=layout)
    if reference == "input":
        ref = np.zeros(th.shape[1] if th.ndim == 2 else num_angles(n, layout))
    elif reference == "mix":
        ref = mix_angles(n, layout)
    else:
        if layout != "pyramid":
            raise ValueError("the uniform reference needs the pyramid layout: use "
                             "reference='input' for other layouts")
        if loader.parameters:
            raise ValueError("the uniform reference depends on the input: bind the loader "
                             "first, or use reference='input' (one circuit for all inputs)")
        ref = uniform_reference_angles(loader)
    return efficient_lcu_circuit(np.vstack([th, ref]), [*np.asarray(alphas, float), beta],
                                 state_prep=loader, layout=layout)


__all__ = ["MAX_FRAME_QUBITS", "efficient_lcu_circuit", "efficient_sign_circuit", "hw1_matrix",
           "term0_alphas", "uniform_reference_angles",
           "multiplexed_select", "separate_circuits", "walsh_angles"]
