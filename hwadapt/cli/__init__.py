"""The ``hwadapt`` command line, one module per command group.

``core`` holds the app, the shared options and the error handling; importing this package
registers every command, in the order ``--help`` lists them (``runs``: backends/submit/status/
runs/fetch/resume/cancel, ``analysis``: compare/sweep, ``finetune``, ``quantum``:
quantum-finetune). Each command imports what it needs inside its body, so ``status`` never
loads Qiskit or torch.
"""

# isort: off
from hwadapt.cli import runs  # noqa: F401 - registers commands, in --help order
from hwadapt.cli import analysis  # noqa: F401
from hwadapt.cli import finetune  # noqa: F401
from hwadapt.cli import quantum  # noqa: F401
# isort: on
from hwadapt.cli.core import app, main

__all__ = ["app", "main"]
