"""Quantum-inspired adapters for PyTorch (docs/MATHS.md): ``lora``, ``compound``, ``hamming``,
``quantum`` (circuit-estimated, :mod:`hwadapt.adapters.quantum`).

>>> model = inject(model, AdapterConfig("hamming", rank=2, base="orthogonal"))
>>> ...train...
>>> model = merge(model)
"""

from hwadapt.adapters import compound, hamming, lora, quantum  # noqa: F401  (register methods)
from hwadapt.adapters.base import AdapterLayer, MatrixAdapter
from hwadapt.adapters.config import AdapterConfig
from hwadapt.adapters.model import inject, merge, trainable_parameters
from hwadapt.adapters.registry import METHODS, register

__all__ = ["METHODS", "AdapterConfig", "AdapterLayer", "MatrixAdapter", "inject", "merge",
           "register", "trainable_parameters"]
