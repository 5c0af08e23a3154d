"""Quantum-inspired adapters for PyTorch (DESIGN.md §1): ``lora``, ``compound``, ``hamming``.

>>> model = inject(model, AdapterConfig("hamming", rank=2, base="orthogonal"))
>>> ...train...
>>> model = merge(model)
"""

from hwadapt.adapters import compound, hamming, lora  # noqa: F401  (register the methods)
from hwadapt.adapters.base import AdapterLayer, MatrixAdapter
from hwadapt.adapters.config import AdapterConfig
from hwadapt.adapters.model import inject, merge, trainable_parameters
from hwadapt.adapters.registry import METHODS, register

__all__ = ["METHODS", "AdapterConfig", "AdapterLayer", "MatrixAdapter", "inject", "merge",
           "register", "trainable_parameters"]
