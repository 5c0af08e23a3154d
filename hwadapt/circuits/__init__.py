"""Hamming-weight-preserving circuits: gates, layouts, loaders, adapter circuits, LCU.

Submodules import Qiskit; :mod:`hwadapt.circuits.layouts` does not, so the PyTorch
adapters can share the layouts without paying Qiskit's import time.
"""
