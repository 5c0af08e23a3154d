"""hwadapt: quantum-inspired compound and Hamming-weight adapters, from formula to hardware.

Three worlds joined: PyTorch adapters (:mod:`hwadapt.adapters`), Qiskit circuits
(:mod:`hwadapt.circuits`) and execution on simulators and IBM devices
(:mod:`hwadapt.execution`). See ``README.md``, ``docs/ARCHITECTURE.md`` (parts, layers)
and ``docs/MATHS.md`` (conventions).
"""

__version__ = "0.1.0"
