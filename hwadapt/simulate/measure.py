"""Outcome distributions and postselection of simulated states (any width)."""

from __future__ import annotations

import numpy as np
import torch

from hwadapt.linalg import subset_indices
from hwadapt.simulate import basis
from hwadapt.simulate.run import as_subspace


def outcome_distribution(state, qubits: list[int] | None = None
                         ) -> tuple[np.ndarray, torch.Tensor]:
    """Sparse ideal measurement distribution of ``qubits`` (all, in order, by default; a
    ``None`` entry is an outcome bit that always reads 0).

    Returns:
        ``(outcomes (K, W) words, probs (..., K))``: outcome bit ``j`` = qubit
        ``qubits[j]``, outcomes sorted ascending, only those of the state's support.
    """
    s = as_subspace(state)
    qubits = list(range(s.num_qubits)) if qubits is None else list(qubits)
    outcomes, index = basis.project(s.words(), qubits)
    probs = s.amplitudes.abs() ** 2
    res = torch.zeros(*probs.shape[:-1], len(outcomes), dtype=probs.dtype)
    return outcomes, res.index_add(-1, torch.as_tensor(index), probs)


def outcome_probabilities(state, qubits: list[int] | None = None) -> torch.Tensor:
    """Ideal measurement distribution ``(..., 2^len(qubits))`` of a state (SubspaceState or
    dense): outcome index ``Σ_j bit(qubits[j]) 2^j`` (all qubits by default, in order)."""
    s = as_subspace(state)
    k = s.num_qubits if qubits is None else len(qubits)
    if k > 30:
        raise ValueError(f"a dense distribution over {k} qubits does not fit in memory: use "
                         "outcome_distribution")
    outcomes, probs = outcome_distribution(s, qubits)
    out = torch.zeros(*probs.shape[:-1], 1 << k, dtype=probs.dtype)
    return out.index_copy(-1, torch.as_tensor(outcomes[:, 0].astype(np.int64)), probs)


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
    s = as_subspace(state)
    words = s.words()
    W = words.shape[1]
    data = basis.mask_words(range(n_data), W)
    keep = np.flatnonzero(((words & ~data) == 0).all(1) &
                          (basis.popcounts(words, data) == weight))
    rank = {v: i for i, v in enumerate(subset_indices(n_data, weight))}
    pos = [rank[v] for v in basis.to_ints(words[keep])]
    amps = s.amplitudes[..., torch.as_tensor(keep, dtype=torch.long)]
    psi = torch.zeros(*amps.shape[:-1], len(rank), dtype=amps.dtype)
    psi = psi.index_copy(-1, torch.as_tensor(pos, dtype=torch.long), amps)
    prob = (psi.abs() ** 2).sum(-1)
    if normalize:
        psi = psi / torch.sqrt(prob)[..., None]
    return prob, psi


def postselection_probability(state, n_data: int, n_ancilla: int, weight: int) -> torch.Tensor:
    """Probability ``(...,)`` that ancillas read ``0`` and the data weight is ``weight``."""
    return postselect_state(state, n_data, n_ancilla, weight, normalize=False)[0]
