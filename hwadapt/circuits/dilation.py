"""Unary Halmos dilation: ``M = Σ_i α_i O_i`` on Hamming-weight-1 data with no ancilla.

For a real ``n×n`` matrix ``A`` with ``‖A‖₂ ≤ 1`` (here ``A = M/s``, ``s >= ‖M‖₂``), the
Halmos dilation

    U = [[A, (I - A Aᵀ)^{1/2}], [(I - AᵀA)^{1/2}, -Aᵀ]]            (2n × 2n)

is orthogonal (from ``A (I - AᵀA)^{1/2} = (I - AAᵀ)^{1/2} A``). If ``det U = -1`` the last
column is negated (it lies in the right-hand blocks, so the top-left block stays ``A``),
landing in ``SO(2n)``. Any ``SO(N)`` matrix is ``givens_matrix(N, θ, "pyramid")`` for some
angles (:func:`pyramid_angles`, a Givens elimination), and the pyramid is a nearest-
neighbour RBS circuit on ``N = 2n`` qubits whose HW-1 action is exactly ``U``.

So: load ``x`` into modes (qubits) ``0..n-1`` with a unary loader, apply the ``2n``-qubit
pyramid, measure all ``2n`` qubits and keep the shots whose excitation is in ``0..n-1``
(:func:`hwadapt.circuits.lcu.postselect` with ``n_data = n``, ``n_ancilla = n``). The kept
amplitude of mode ``j`` is ``(Ax)_j``: success probability ``‖Mx‖²/s²`` (vs ``‖Mx‖²/‖α‖₁²``
for an LCU; ``s = ‖M‖₂ <= ‖α‖₁``), and counts feed :func:`hwadapt.estimate.estimate` with
``alphas=[s]`` (``K0 = s``). Cost: ``n(2n-1)`` RBS (``n = 8``: 120 RBS ≈ 240 CZ), depth
``4n - 3``, no controlled gates, no SWAPs on a line of ``2n`` qubits.
"""

from __future__ import annotations

import numpy as np
from qiskit.circuit import QuantumCircuit

from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.loaders import unary_loader
from hwadapt.counts import int_counts
from hwadapt.linalg import combination_matrix, pyramid_angles


def halmos_dilation(M: np.ndarray, scale: float | None = None) -> tuple[np.ndarray, float]:
    """``(U, s)``: ``U ∈ SO(2n)`` with top-left block ``M/s``; ``s = ‖M‖₂`` by default.

    Args:
        M: real ``(n, n)``, not zero.
        scale: ``s >= ‖M‖₂`` (e.g. a fixed bound shared by several circuits).
    """
    M = np.asarray(M, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"M must be a square matrix, got shape {M.shape}")
    norm = float(np.linalg.norm(M, 2))
    if norm == 0:
        raise ValueError("M = 0: nothing to dilate (check the alphas)")
    s = norm if scale is None else float(scale)
    if s < norm * (1 - 1e-12):
        raise ValueError(f"scale {s} is below ‖M‖₂ = {norm}: the block would not be a "
                         "contraction; use scale >= ‖M‖₂")
    # via the SVD A = W Σ Vᵀ: (I - AAᵀ)^{1/2} = W C Wᵀ, (I - AᵀA)^{1/2} = V C Vᵀ with
    # C = (1 - Σ²)^{1/2}; orthogonal to rounding even when ‖A‖₂ = 1 (C singular)
    W, sig, Vt = np.linalg.svd(M / s)
    sig = np.clip(sig, 0.0, 1.0)
    C = np.sqrt((1 - sig) * (1 + sig))
    A = (W * sig) @ Vt
    U = np.block([[A, (W * C) @ W.T], [(Vt.T * C) @ Vt, -A.T]])
    if np.linalg.det(U) < 0:
        U[:, -1] *= -1
    return U, s


def dilation_angles(M: np.ndarray, scale: float | None = None) -> tuple[np.ndarray, float]:
    """``(θ, s)``: the ``2n``-qubit pyramid angles of :func:`halmos_dilation` of ``M``."""
    U, s = halmos_dilation(M, scale)
    return pyramid_angles(U), s


def dilation_circuit(M: np.ndarray, x_angles, scale: float | None = None,
                     tree: bool = False) -> tuple[QuantumCircuit, float]:
    """``(circuit, s)``: unary loader of ``x`` on qubits ``0..n-1``, then the ``2n``-qubit
    dilation pyramid. ``x_angles`` are :func:`hwadapt.circuits.loaders.unary_angles` of
    ``x`` (or a ParameterVector). Postselect on "one excitation, in qubits ``0..n-1``"; the
    kept amplitudes are ``M x̂ / s``. No measurements are added."""
    n = np.asarray(M).shape[0]
    theta, s = dilation_angles(M, scale)
    qc = QuantumCircuit(2 * n, name="dilation")
    qc.compose(unary_loader(n, x_angles, tree), range(n), inplace=True)
    qc.compose(adapter_circuit(2 * n, theta, "pyramid"), range(2 * n), inplace=True)
    return qc, s


def dilation_success_probability(M: np.ndarray, x: np.ndarray, scale: float | None = None
                                 ) -> float:
    """Ideal postselection rate ``‖M x̂‖² / s²`` (``x̂ = x/‖x‖``, ``s`` as in
    :func:`halmos_dilation`)."""
    M = np.asarray(M, dtype=float)
    s = float(np.linalg.norm(M, 2)) if scale is None else float(scale)
    x = np.asarray(x, dtype=float)
    return float(np.sum((M @ (x / np.linalg.norm(x))) ** 2) / s**2)


def fold_dilation_counts(counts, n: int) -> dict[int, float]:
    """Map a dilation circuit's ``2n``-qubit counts onto the LCU convention of
    :func:`hwadapt.estimate.tally` (data ``0..n-1``, "ancillas" above).

    The excitation leaving through modes ``n..2n-1`` is a legitimate rejection, not a
    Hamming-weight error, but ``tally`` checks the weight of the data bits only. So:
    weight 1 in ``0..n-1`` is kept as is; weight 1 in ``n..2n-1`` becomes ``2^n + 1`` (valid
    weight, ancillas non-zero: rejected); any other weight (of all ``2n`` bits) becomes ``0``
    (data weight 0: counted as ``hw_bad``). Accepts what ``int_counts`` accepts.
    """
    out: dict[int, float] = {}
    for idx, v in int_counts(counts).items():
        if idx.bit_count() != 1:
            key = 0
        elif idx < 1 << n:
            key = idx
        else:
            key = (1 << n) | 1
        out[key] = out.get(key, 0.0) + v
    return out


__all__ = ["combination_matrix", "dilation_angles", "dilation_circuit",
           "dilation_success_probability", "fold_dilation_counts", "halmos_dilation",
           "pyramid_angles"]
