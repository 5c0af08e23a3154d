"""Two-term LCU with one controlled layer: SELECT through the spectrum of ``O_0ᵀ O_1``.

For ``R = 2`` terms ``U_i = ⊕_k O_i^(k)`` (any adapter circuit whose gates act as
compounds: nearest-neighbour RBS or FBS layouts), write ``W = O_0ᵀ O_1 ∈ SO(n)`` in real
Schur form ``W = Q D Qᵀ``: ``Q ∈ SO(n)``, ``D`` block-diagonal with ``2×2`` rotations on the
adjacent pairs ``(0,1), (2,3), …`` (real eigenvalues ``±1`` paired up as rotations by
``0``/``π``; for odd ``n`` the last mode keeps an eigenvalue ``+1``). Compounds multiply
(Cauchy–Binet), so on every Hamming-weight subspace

    SELECT = Σ_i |i><i| ⊗ U_i = (I ⊗ P(O_0 Q)) · (|0><0| ⊗ I + |1><1| ⊗ P(D)) · (I ⊗ P(Qᵀ)),

``P(·)`` = the pyramid of :func:`hwadapt.circuits.dilation.pyramid_angles`. Only the middle
factor is controlled: ``⌊n/2⌋`` RBS on disjoint pairs, multiplexed on the ancilla by
:func:`hwadapt.circuits.efficient_lcu.multiplexed_select` (angles ``0`` / ``φ_j``: about
``n`` CZs from the ancilla, against one per gate position, ``≈ n²/2``, in the per-position
multiplexed SELECT). Hence far fewer ancilla CZs to route on heavy-hex.

With a unary input ``x`` the data starts in ``|0…0>``, so ``P(Qᵀ)`` after the loader is a
loader of ``Qᵀ x`` (an exact identity of states): the whole LCU is one loader (``n-1`` RBS),
``⌊n/2⌋`` multiplexed pairs and one pyramid (``n(n-1)/2`` RBS). Register layout and
postselection as :func:`hwadapt.circuits.lcu.lcu_circuit`: data ``0..n-1``, ancilla ``n``;
ancilla ``0`` and Hamming weight 1 leave ``M x/‖α‖₁`` with ``M = α_0 O_0 + α_1 O_1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qiskit.circuit import QuantumCircuit

from hwadapt.arrays import to_numpy
from hwadapt.circuits.adapter import Layout, adapter_circuit
from hwadapt.circuits.dilation import pyramid_angles
from hwadapt.circuits.efficient_lcu import multiplexed_select
from hwadapt.circuits.lcu import prepare_gate
from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.linalg import givens_matrix


def rotation_pairs(n: int) -> list[tuple[int, int]]:
    """The disjoint adjacent pairs ``(0,1), (2,3), …`` that carry the rotations of ``D``."""
    return [(2 * j, 2 * j + 1) for j in range(n // 2)]


def spectral_split(W: np.ndarray, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """``(Q, φ)`` with ``W = Q D(φ) Qᵀ``, ``Q ∈ SO(n)``, ``D(φ) = givens_matrix`` of one
    ``RBS(φ_j)`` on each pair of :func:`rotation_pairs` (``G[a,a] = G[b,b] = cos φ``,
    ``G[a,b] = sin φ``). ``W`` must be in ``SO(n)``; raises ``ValueError`` otherwise."""
    W = np.asarray(W, dtype=float)
    n = len(W)
    if W.shape != (n, n) or n < 2:
        raise ValueError(f"W must be a square matrix of size >= 2, got shape {W.shape}")
    if np.abs(W.T @ W - np.eye(n)).max() > tol or np.linalg.det(W) < 0:
        raise ValueError("W must be a rotation (orthogonal, det +1)")
    from scipy.linalg import schur  # lazy: scipy.linalg costs 0.1-0.25 s to import

    T, Z = schur(W, output="real")
    blocks, plus, minus = [], [], []
    i = 0
    while i < n:
        if i + 1 < n and abs(T[i + 1, i]) > tol:
            blocks += [i, i + 1]
            i += 2
        else:
            (plus if T[i, i] > 0 else minus).append(i)
            i += 1
    # det +1: an even number of -1s; pair them (rotation by π), then the +1s (rotation by 0)
    order = blocks + minus + plus
    Q = Z[:, order]
    if np.linalg.det(Q) < 0:  # negating the last column keeps Q D Qᵀ = W up to D's signs
        Q[:, -1] *= -1
    D = Q.T @ W @ Q
    pairs = rotation_pairs(n)
    phi = np.array([np.arctan2(D[a, b], D[a, a]) for a, b in pairs])
    expect = givens_matrix(n, np.asarray(phi, float), pairs)
    if np.abs(D - expect).max() > 1e-7:
        raise ValueError("W is not diagonalised into rotations on adjacent pairs "
                         f"(residual {np.abs(D - expect).max():.1e})")
    return Q, phi


def spectral_basis(angles, n: int, layout: Layout = "pyramid"
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Q, φ, O_0)`` of the two terms' ``angles (2, m)``: ``O_0ᵀ O_1 = Q D(φ) Qᵀ``
    (:func:`spectral_split`), the numbers :func:`spectral_lcu_circuit` is built from.

    The spectral circuit acts on ``Qᵀ ψ``: a unary input ``x`` is loaded as ``Qᵀ x``
    (``unary_angles(x @ Q)`` for a batch of rows), which folds ``P(Qᵀ)`` into the loader.
    """
    th = to_numpy(angles, float)
    O = givens_matrix(n, th, layout)
    Q, phi = spectral_split(O[0].T @ O[1])
    return Q, phi, O[0]


def select_angles(phi: np.ndarray) -> np.ndarray:
    """``(2, ⌊n/2⌋)`` angle table of the controlled layer: term 0 the identity, term 1
    ``D(φ)``, on the pairs of :func:`rotation_pairs` (for ``multiplexed_select``)."""
    return np.stack([np.zeros_like(phi), phi])


def spectral_lcu_circuit(angles, alphas: Sequence[float], x=None, n: int | None = None,
                         layout: Layout = "pyramid",
                         state_prep: QuantumCircuit | None = None) -> QuantumCircuit:
    """LCU of ``M = α_0 U(θ_0) + α_1 U(θ_1)`` with one controlled layer (module docstring).

    Args:
        angles: ``(2, m)`` numeric angles of the two terms in ``layout`` order.
        alphas: ``(2,)`` real, not both zero (negative ones become branch signs).
        x: optional ``(n,)`` real input; with it the circuit starts with the unary loader of
            ``Qᵀ x/‖x‖`` (the folded ``P(Qᵀ)``), without it with the pyramid ``P(Qᵀ)`` (the
            circuit is then the full LCU unitary, equal to ``lcu_circuit`` of the two
            adapter circuits).
        n: data qubits (default ``len(x)``).
        state_prep: instead of ``x``, a circuit on ``n`` qubits that already prepares the
            folded input ``Qᵀψ`` (e.g. a unary loader with a ``ParameterVector`` bound per
            input to ``unary_angles(x @ Q)``, ``Q`` from :func:`spectral_basis`), so one
            circuit serves many inputs.
    Returns:
        ``n + 1`` qubits (ancilla = qubit ``n``), no measurements.
    """
    th = to_numpy(angles, float)
    al = np.asarray(alphas, dtype=float)
    if th.ndim != 2 or th.shape[0] != 2 or al.shape != (2,):
        raise ValueError(f"the spectral LCU takes exactly 2 terms: angles (2, m) and 2 alphas, "
                         f"got angles {th.shape}, alphas {al.shape}; use "
                         "efficient_lcu_circuit for R != 2")
    if not np.isfinite(al).all() or np.abs(al).sum() == 0:
        raise ValueError("alphas must be finite and not all zero")
    if x is not None and state_prep is not None:
        raise ValueError("give the input either as x or as a folded state_prep, not both")
    if n is None and state_prep is not None:
        n = state_prep.num_qubits
    if n is None:
        if x is None:
            raise ValueError("give n (the data register size) when there is no input x")
        n = len(x)
    if n < 2:
        raise ValueError(f"the spectral LCU needs n >= 2 data qubits, got n={n}")
    Q, phi, O0 = spectral_basis(th, n, layout)
    if state_prep is not None and state_prep.num_qubits != n:
        raise ValueError(f"state_prep has {state_prep.num_qubits} qubits, the data register {n}")
    qc = QuantumCircuit(n + 1, name="lcu_spectral")
    if state_prep is not None:
        qc.compose(state_prep, range(n), inplace=True)
    elif x is None:
        qc.compose(adapter_circuit(n, pyramid_angles(Q.T)), range(n), inplace=True)
    else:
        xv = np.asarray(x, dtype=float)
        if xv.shape != (n,):
            raise ValueError(f"x must have shape ({n},), got {xv.shape}")
        qc.compose(unary_loader(n, unary_angles(Q.T @ xv)), range(n), inplace=True)
    V = prepare_gate(np.abs(al))
    qc.append(V, [n])
    mux = multiplexed_select(n, select_angles(phi), rotation_pairs(n), signs=np.sign(al))
    qc.compose(mux, range(n + 1), inplace=True)
    qc.append(V.inverse(), [n])
    qc.compose(adapter_circuit(n, pyramid_angles(O0 @ Q)), range(n), inplace=True)
    return qc


__all__ = ["rotation_pairs", "select_angles", "spectral_basis", "spectral_lcu_circuit",
           "spectral_split"]
