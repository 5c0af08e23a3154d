"""Quantum data: exact ground states of small spin chains, labelled by phase.

Qubit order is Qiskit's (qubit ``i`` = bit ``i`` of a basis index); chains are periodic.

- ``"ising"`` (task A), the transverse-field Ising chain
  ``H(g) = -Σ_i Z_i Z_{i+1} - g Σ_i X_i``: label 1 (paramagnet) for ``g > 1``, 0
  (ferromagnet) for ``g < 1``.
- ``"cluster"`` (task B, the shifted task), the cluster-Ising chain
  ``H(g) = -Σ_i Z_{i-1} X_i Z_{i+1} - g Σ_i X_i``: label 1 (trivial paramagnet) for
  ``g > 1``, 0 (cluster / SPT phase) for ``g < 1`` (self-dual, critical at ``g = 1``).

Both Hamiltonians are real, so their ground states are real vectors (global sign fixed so
the largest-magnitude amplitude is positive). Couplings ``g`` are drawn uniformly from
``[g_min, g_max]`` minus a margin around the critical point (finite-size crossover), seeded.
Ground states come from sparse Lanczos (``eigsh``) started from ``|+…+>``, which lies in
the symmetric (``Π X_i = +1``) sector of both models, as their finite-chain ground states do.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, reduce

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh

from hwadapt.errors import InputError

MODELS = ("ising", "cluster")
_PAULI = {"I": sp.identity(2, format="csr"), "X": sp.csr_matrix([[0.0, 1.0], [1.0, 0.0]]),
          "Z": sp.csr_matrix([[1.0, 0.0], [0.0, -1.0]])}


def pauli_term(n: int, ops: dict[int, str]) -> sp.csr_matrix:
    """Sparse ``2^n x 2^n`` matrix of a Pauli string ``{qubit: "X"|"Z"}`` (qubit i = bit i)."""
    factors = [_PAULI[ops.get(q, "I")] for q in reversed(range(n))]  # kron: highest qubit first
    return reduce(lambda a, b: sp.kron(a, b, format="csr"), factors)


def hamiltonian(model: str, n: int, g: float) -> sp.csr_matrix:
    """Sparse Hamiltonian of ``model`` (see the module docstring) on a periodic chain."""
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}: choose one of {', '.join(MODELS)}")
    if n < 3:
        raise InputError(f"spin chains need n >= 3 qubits, got {n}")
    coupling, field = _terms(model, n)
    return (-coupling - g * field).tocsr()


@cache
def _terms(model: str, n: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    field = sum(pauli_term(n, {i: "X"}) for i in range(n))
    if model == "ising":
        coupling = sum(pauli_term(n, {i: "Z", (i + 1) % n: "Z"}) for i in range(n))
    else:
        coupling = sum(pauli_term(n, {(i - 1) % n: "Z", i: "X", (i + 1) % n: "Z"})
                       for i in range(n))
    return coupling.tocsr(), field.tocsr()


def ground_state(model: str, n: int, g: float) -> np.ndarray:
    """Real unit ground state ``(2^n,)`` of ``hamiltonian(model, n, g)``."""
    H = hamiltonian(model, n, g)
    _, vecs = eigsh(H, k=1, which="SA", v0=np.ones(H.shape[0]), tol=1e-12)
    v = vecs[:, 0]
    v = v / np.linalg.norm(v)
    return v * np.sign(v[np.argmax(np.abs(v))])


@dataclass
class PhaseData:
    """A phase-recognition task: ``states (N, 2^n)`` real unit vectors, ``labels (N,)`` in
    {0, 1}, couplings ``g (N,)``; ``split`` says which rows are ``"train"``/``"val"``."""

    model: str
    n: int
    states: np.ndarray
    labels: np.ndarray
    g: np.ndarray
    split: np.ndarray

    def part(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """``(states, labels)`` of the ``"train"`` or ``"val"`` rows."""
        mask = self.split == which
        return self.states[mask], self.labels[mask]


def phase_data(model: str, n: int, n_train: int = 40, n_val: int = 40, seed: int = 0,
               g_range: tuple[float, float] = (0.2, 1.8), margin: float = 0.1) -> PhaseData:
    """Seeded balanced data set of ground states of ``model`` (half each side of ``g = 1``).

    Couplings are uniform on ``[g_min, 1 - margin]`` (label 0) and ``[1 + margin, g_max]``
    (label 1); train and validation rows are disjoint draws.
    """
    lo, hi = g_range
    if not (0 <= lo < 1 - margin and 1 + margin < hi):
        raise InputError(f"g range {g_range} with margin {margin} must straddle g = 1: "
                         "use e.g. (0.2, 1.8) and margin 0.1")
    if not (3 <= n <= 12):
        raise InputError(f"--qubits must be in 3..12 for exact ground states, got {n}")
    if n_train < 2 or n_val < 2:
        raise InputError(f"need >= 2 training and validation states, got {n_train}, {n_val}")
    rng = np.random.default_rng([seed, MODELS.index(model) if model in MODELS else 99, n])
    total = n_train + n_val
    labels = np.arange(total) % 2
    g = np.where(labels == 0, rng.uniform(lo, 1 - margin, total),
                 rng.uniform(1 + margin, hi, total))
    order = rng.permutation(total)
    labels, g = labels[order], g[order]
    states = np.stack([ground_state(model, n, float(x)) for x in g])
    split = np.array(["train"] * n_train + ["val"] * n_val)
    return PhaseData(model, n, states, labels.astype(np.int64), g, split)


def state_prep_circuit(psi: np.ndarray):
    """Exact preparation of the real unit state ``psi (2^n,)`` from ``|0…0>``: Qiskit's
    ``StatePreparation`` (uniformly controlled rotations; a generic n-qubit state costs
    ``≈ 2^n`` CX after transpilation, see :func:`state_prep_cost`)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import StatePreparation

    psi = np.asarray(psi)
    n = int(np.log2(psi.size))
    if psi.ndim != 1 or 1 << n != psi.size or not np.isclose(np.linalg.norm(psi), 1):
        raise InputError(f"a state must be a unit vector of length 2^n, got shape {psi.shape}")
    qc = QuantumCircuit(n, name="prep")
    qc.append(StatePreparation(psi), range(n))
    return qc


def state_prep_cost(psi: np.ndarray) -> dict[str, int]:
    """Gate counts of :func:`state_prep_circuit` transpiled to ``{cx, u}`` (level 1)."""
    from qiskit import transpile

    qc = transpile(state_prep_circuit(psi), basis_gates=["cx", "u"], optimization_level=1,
                   seed_transpiler=0)
    ops = qc.count_ops()
    return {"cx": int(ops.get("cx", 0)), "u": int(ops.get("u", 0)), "depth": int(qc.depth())}
