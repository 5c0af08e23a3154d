"""Maths below everything else (no Qiskit, no other hwadapt part): Hamming-weight basis
indexing, gate layouts, compound matrices, exterior-power actions and Givens rotations
(torch, batched, differentiable; compiled CPU paths in :mod:`hwadapt.kernels`).

Modules, one job each: :mod:`~hwadapt.linalg.subsets` (subsets, basis indices, block
orders; torch-free, the only part the kernels import), :mod:`~hwadapt.linalg.layouts`
(which qubit pairs, in which order), :mod:`~hwadapt.linalg.compounds` (``A^(k)``,
``⊕_k A^(k)``), :mod:`~hwadapt.linalg.exterior` (their action on vectors without dense
matrices), :mod:`~hwadapt.linalg.givens` (``O(θ)``, its action, ``Σ α_i O(θ_i)``, pyramid
angles of an ``SO(N)`` matrix).
"""

from hwadapt.linalg.compounds import (
    ORDERS,
    _compounds_torch,
    compound_matrix,
    compounds,
    compounds_flat,
    hamming_weight_matrix,
)
from hwadapt.linalg.exterior import compound_apply, hamming_weight_apply
from hwadapt.linalg.givens import (
    _givens_torch,
    combination_matrix,
    givens_apply,
    givens_matrix,
    pyramid_angles,
)
from hwadapt.linalg.layouts import (
    LAYOUTS,
    brick_layers,
    butterfly_layers,
    layout_layers,
    layout_pairs,
    num_angles,
    pyramid_layers,
)
from hwadapt.linalg.subsets import (
    block_entries,
    compound_offsets,
    hw_permutation,
    subset_indices,
    subsets,
)

__all__ = ["LAYOUTS", "ORDERS", "_compounds_torch", "_givens_torch", "block_entries",
           "brick_layers", "butterfly_layers", "combination_matrix", "compound_apply",
           "compound_matrix", "compound_offsets", "compounds", "compounds_flat", "givens_apply",
           "givens_matrix", "hamming_weight_apply", "hamming_weight_matrix", "hw_permutation",
           "layout_layers", "layout_pairs", "num_angles", "pyramid_angles", "pyramid_layers",
           "subset_indices", "subsets"]
