"""Exact, differentiable (torch) simulator for the circuits this package builds.

The state lives on its *support*: the basis states the circuit can reach from its input,
found once when the circuit is compiled into a :class:`Plan` (:mod:`.plan`), so a
Hamming-weight-``k`` input of an ``n``-qubit circuit with ``a`` ancillas stays in its
``C(n,k)·2^a``-dimensional sector. Every gate is a small dense update of blocks of
positions (RBS/FBS: a 2-component rotation of each pair of states they mix; an
ancilla-controlled gate: the same on its branch), and the gates of a layer and the branches
of an LCU run as one batched update (a *stage*). Without gradients a large plan runs all its
stages in one compiled (numba) call (:mod:`.kernels`); with gradients (torch autograd) each
stage is a few batched torch ops, and parameter-free runs of stages on a small support are
one dense matrix. Basis states are rows of 64-bit words (:mod:`.basis`), so the width is
unlimited. A plan is reused across bindings: pass it instead of the circuit.

Gates: RBS/FBS/XXPlusYY and RX/RY/RZ/P/U (and U1/U2/U3/R) are kernels (on torch,
gradients flow to their angles); controlled gates act on the branch selected by their controls;
composite gates recurse into their definitions (global phases included); other
parameter-free gates use their dense ``Operator`` (up to 12 qubits). Parameters are bound
from a mapping or an array ``(..., P)`` in ``circuit.parameters`` order (as a Sampler PUB's
parameter array), torch tensors with ``requires_grad`` included; gradients flow through
parameter expressions that are linear (``2θ``, ``-θ``, ``θ + c``: all this package builds).
Measurements are ignored (they must be final); reset is refused. A run uses one torch
thread (restored afterwards). Qubit ``i`` = bit ``i`` (Qiskit order).

Without gradients the same maths runs on numpy (:func:`hwadapt.simulate.forward.run`, one
body for both, the array operations from :mod:`.xp`): the exact sampler's distributions
never import torch; the torch functions below are imported on first use.
"""

from hwadapt.simulate.plan import Plan, SupportTooLarge, compile_circuit

_TORCH_API = {"outcome_distribution": "measure", "outcome_probabilities": "measure",
              "postselect_state": "measure", "postselection_probability": "measure",
              "SubspaceState": "run", "simulate_statevector": "run", "simulate_subspace": "run"}
"""The torch (differentiable) API, imported on first use: compiling a plan and its numpy
forward pass (:mod:`.forward`, the exact sampler's path) never import torch."""

__all__ = ["Plan", "SubspaceState", "SupportTooLarge", "compile_circuit",
           "outcome_distribution", "outcome_probabilities", "postselect_state",
           "postselection_probability", "simulate_statevector", "simulate_subspace"]


def __getattr__(name: str):
    if name in _TORCH_API:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_TORCH_API[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
