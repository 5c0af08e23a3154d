"""Sign recovery: a reference branch that interferes with ``y = Mψ`` (docs/MATHS.md, LCU).

The postselected LCU state is ``y/‖α‖₁``; its outcome probabilities give ``|y_j|`` only, and
no circuit whose output is ``y`` alone can fix the *global* sign (a global phase is not
observable). So the sign circuit adds one more LCU term, a known reference branch:

    M' = Σ_i α_i U_i + β V_ref,   V_ref ψ = r   ⇒   postselected state (y + β r)/(‖α‖₁ + β),

built from the same loader, adapter unitaries and alphas as the LCU (one extra controlled
branch, one more ancilla at most), so outcome ``j`` has probability
``(y_j + β r_j)² / (‖α‖₁ + β)²`` per raw shot. With ``|y_j|`` from the plain LCU this fixes
``sign(y_j)`` — globally, not only relative to a neighbour — whenever ``β r_j ≠ 0``;
:func:`hwadapt.estimate.estimate` combines both families into ``y`` with error bars.

Reference kinds (``r`` = :func:`reference_vector`):
- ``"uniform"`` (default): ``V_ref = L_u L_ψ†`` (unloads ψ, loads the uniform vector ``u``;
  the two ``X`` gates cancel, so ``V_ref`` is ``2(n-1)`` RBS gates, Hamming-weight
  preserving) and ``r_j = 1/√n``: every component gets the same, never-zero reference.
- ``"input"``: ``V_ref = I`` (no gates, the cheapest), ``r = ψ``. The sign of ``y_j`` is
  *undetermined* where ``ψ_j ≈ 0`` (sparse inputs, e.g. image borders): prefer "uniform".
- ``"reflect"`` (constructions that encode a matrix, such as ``dilation``, not an LCU
  circuit: a reflection has determinant -1, no RBS circuit): ``V_ref = I - 2uuᵀ``,
  ``r = ψ - 2(u·ψ)u``, ``u`` uniform; zero only where ``ψ_j = 2(u·ψ)/√n``, so with
  ``"input"`` as a second family a component is blind only where both vanish.
- ``"mix"`` (the efficient construction with one term): ``V_ref = O_mix``, a fixed rotation
  of the adapter's layout (:func:`mix_angles`), one more SELECT branch like ``"input"``'s;
  ``r_j = (O_mix ψ)_j`` mixes every component, so with ``"input"`` a component is blind
  only where ``ψ_j`` and ``(O_mix ψ)_j`` both vanish.

Why not RBS(π/4) layers between neighbours: they give relative signs ``sign(y_j y_{j+1})``
only, a chain that breaks at every ``y_j ≈ 0``, and still need a reference for the global
sign; the reference branch alone gives every sign with one extra circuit.

``β`` defaults to ``‖α‖₂`` (:func:`default_beta`): then ``β r_j = ‖α‖₂/√n`` matches the typical
size of ``|y_j|`` (``‖y‖ ≈ ‖α‖₂`` for unrelated orthogonal ``U_i``). A sign is determined when
``min(|y_j|, β|r_j|)`` is a few times the reference family's noise ``(‖α‖₁+β)/(2√shots)``
and undetermined (reported confidence ≈ 0.5) below it.

Only unary (HW-1) data: the reference is a HW-1 vector.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qiskit.circuit import QuantumCircuit

from hwadapt.circuits.lcu import lcu_circuit
from hwadapt.circuits.loaders import unary_angles, unary_loader

REFERENCES = ("uniform", "input")
"""References an LCU circuit can carry as a branch (:func:`reference_unitary`)."""
MATRIX_REFERENCES = ("input", "reflect", "mix")
"""References given as a fixed matrix ``V_ref`` (:func:`reference_matrix`): ``M + βV_ref``
encoded as a matrix (dilation) or ``V_ref`` as fixed layout angles (``"mix"``)."""


def _check_kind(kind: str, kinds: Sequence[str] = REFERENCES) -> None:
    if kind not in kinds:
        raise ValueError(f"unknown sign reference {kind!r}: choose one of {', '.join(kinds)}")


def reference_matrix(kind: str, n: int, layout: str = "pyramid") -> np.ndarray:
    """``V_ref (n, n)`` of a :data:`MATRIX_REFERENCES` kind: ``I`` (``"input"``), the
    reflection ``I - 2uuᵀ`` through the uniform vector ``u = 1/√n`` (``"reflect"``) or the
    rotation of :func:`mix_angles` in ``layout`` (``"mix"``)."""
    _check_kind(kind, MATRIX_REFERENCES)
    if kind == "input":
        return np.eye(n)
    if kind == "reflect":
        return np.eye(n) - 2.0 / n
    from hwadapt.linalg import givens_matrix

    return np.asarray(givens_matrix(n, mix_angles(n, layout), layout), dtype=float)


def mix_angles(n: int, layout: str) -> np.ndarray:
    """Angles (layout order) of the ``"mix"`` reference ``O_mix``. Pyramid (any rotation):
    ``O_mix = diag(-1, 1, …, 1)(I - 2uuᵀ)``, so ``(O_mix ψ)_j = ±(2/n)Σ_i ψ_i`` wherever
    ``ψ_j = 0``: never zero at the zero pixels of a non-negative image. Other layouts (not
    every rotation): every RBS at π/4 (butterfly: ``|O_ij| = 1/√n``, a Hadamard-like
    transform; brick: dense, no zero entry up to 16 qubits)."""
    from hwadapt.linalg import num_angles, pyramid_angles

    if layout == "pyramid":
        R = np.eye(n) - 2.0 / n
        R[0] *= -1  # det +1: a rotation
        return pyramid_angles(R)
    return np.full(num_angles(n, layout), np.pi / 4)


def default_beta(alphas: Sequence[float] | np.ndarray) -> float:
    """``‖α‖₂``, the default weight of the reference branch (see module docstring)."""
    beta = float(np.linalg.norm(np.asarray(alphas, dtype=float)))
    if beta == 0:
        raise ValueError("alphas are all zero: there is no M to recover signs for")
    return beta


def reference_vector(kind: str, psi: np.ndarray, layout: str = "pyramid") -> np.ndarray:
    """The reference ``r = V_ref ψ`` for inputs ``psi`` ``(inputs, n)`` (normalised here).

    Returns ``(inputs, n)``: ``1/√n`` everywhere for ``"uniform"``, ``ψ/‖ψ‖`` for ``"input"``,
    ``V_ref ψ/‖ψ‖`` (:func:`reference_matrix`, in ``layout`` for ``"mix"``) otherwise.
    """
    _check_kind(kind, (*REFERENCES, *MATRIX_REFERENCES))
    psi = np.atleast_2d(np.asarray(psi, dtype=float))
    if kind == "uniform":
        return np.full(psi.shape, 1 / np.sqrt(psi.shape[-1]))
    psi = psi / np.linalg.norm(psi, axis=-1, keepdims=True)
    if kind == "input":
        return psi
    return psi @ reference_matrix(kind, psi.shape[-1], layout).T


def reference_unitary(kind: str, loader: QuantumCircuit, tree: bool = False) -> QuantumCircuit:
    """``V_ref`` on ``n = loader.num_qubits`` data qubits with ``V_ref ψ = r``.

    ``loader`` is the unary loader of ψ (floats or Parameters); ``tree`` picks the shape of the
    uniform loader. Hamming-weight preserving: the loaders' leading ``X`` gates cancel.
    """
    _check_kind(kind)
    n = loader.num_qubits
    out = QuantumCircuit(n, name=f"ref_{kind}")
    if kind == "input":
        return out
    unload = loader.inverse()
    load = unary_loader(n, unary_angles(np.ones(n), tree=tree), tree=tree)
    last, first = unload.data[-1], load.data[0]
    if not (last.operation.name == first.operation.name == "x" and last.qubits == first.qubits):
        raise ValueError("the uniform reference needs a unary loader (X on one qubit, then RBS "
                         "gates) from hwadapt.circuits.loaders.unary_loader")
    for inst in unload.data[:-1]:
        out.append(inst.operation, [out.qubits[unload.find_bit(q).index] for q in inst.qubits])
    for inst in load.data[1:]:
        out.append(inst.operation, [out.qubits[load.find_bit(q).index] for q in inst.qubits])
    return out


def sign_circuits(
    unitaries: Sequence[QuantumCircuit],
    alphas: Sequence[float] | np.ndarray,
    loader: QuantumCircuit,
    *,
    reference: str = "uniform",
    beta: float | None = None,
    tree: bool = False,
) -> dict[str, QuantumCircuit]:
    """Extra circuit families for signs: ``{"signs": LCU of [*U, V_ref], [*α, β]}``.

    Same register layout as :func:`hwadapt.circuits.lcu.lcu_circuit` (data ``0..n-1``,
    ``ceil(log2(R+1))`` ancillas above), no measurements; parameters are the loader's, so one
    circuit plus the loader's parameter array serves every input. Record ``beta`` and
    ``reference`` with the run: the estimator needs them.
    """
    beta = default_beta(alphas) if beta is None else float(beta)
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    ref = reference_unitary(reference, loader, tree=tree)
    circ = lcu_circuit([*unitaries, ref], [*np.asarray(alphas, float), beta], state_prep=loader)
    circ.name = f"lcu_ref_{reference}"
    return {"signs": circ}


def estimate_circuits(
    unitaries: Sequence[QuantumCircuit],
    alphas: Sequence[float] | np.ndarray,
    loader: QuantumCircuit,
    *,
    reference: str | None = "uniform",
    beta: float | None = None,
    tree: bool = False,
    measure: bool = False,
) -> dict[str, QuantumCircuit]:
    """Every family :func:`hwadapt.estimate.estimate` reads: ``"magnitude"`` and, unless
    ``reference`` is None, ``"signs"``. ``measure=True`` adds ``measure_all`` (classical
    bit ``i`` = qubit ``i``)."""
    out = {"magnitude": lcu_circuit(list(unitaries), alphas, state_prep=loader)}
    if reference is not None:
        out.update(sign_circuits(unitaries, alphas, loader, reference=reference, beta=beta,
                                 tree=tree))
    if measure:
        for circ in out.values():
            circ.measure_all()
    return out
