"""Maths below everything else (no Qiskit, no other hwadapt part): Hamming-weight basis
indexing, gate layouts, compound matrices, exterior-power actions and Givens rotations
(torch, batched, differentiable; compiled CPU paths in :mod:`hwadapt.kernels`).

Modules, one job each: :mod:`~hwadapt.linalg.subsets` (subsets, basis indices, block
orders; torch-free, the only part the kernels import), :mod:`~hwadapt.linalg.layouts`
(which qubit pairs, in which order), :mod:`~hwadapt.linalg.compound_matrices` (``A^(k)``,
``⊕_k A^(k)``), :mod:`~hwadapt.linalg.exterior` (their action on vectors without dense
matrices), :mod:`~hwadapt.linalg.givens` (``O(θ)``, its action, ``Σ α_i O(θ_i)``, pyramid
angles of an ``SO(N)`` matrix).
"""

import importlib

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

_TORCH_HOMES = {  # names whose modules import torch: loaded on first use (PEP 562)
    **dict.fromkeys(("ORDERS", "_compounds_torch", "compound_matrix", "compounds",
                     "compounds_flat", "hamming_weight_matrix"), "compound_matrices"),
    "compound_apply": "exterior", "hamming_weight_apply": "exterior",
}


def __getattr__(name: str):
    """Load a torch-side name's module on first use, so that circuit building (subsets,
    layouts, the numpy Givens paths) never imports torch. (No module is named like one of
    its names, so a submodule import never shadows a name here.)"""
    if name not in _TORCH_HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_TORCH_HOMES[name]}"), name)
    globals()[name] = value
    return value


__all__ = ["LAYOUTS", "ORDERS", "_compounds_torch", "_givens_torch", "block_entries",
           "brick_layers", "butterfly_layers", "combination_matrix", "compound_apply",
           "compound_matrix", "compound_offsets", "compounds", "compounds_flat", "givens_apply",
           "givens_matrix", "hamming_weight_apply", "hamming_weight_matrix", "hw_permutation",
           "layout_layers", "layout_pairs", "num_angles", "pyramid_angles", "pyramid_layers",
           "subset_indices", "subsets"]
