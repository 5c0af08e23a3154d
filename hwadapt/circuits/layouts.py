"""Layouts of two-qubit Hamming-weight-preserving gates, for the circuits: the maths lives in
:mod:`hwadapt.linalg.layouts` (circuits sit above maths); re-exported here."""

from hwadapt.linalg.layouts import *  # noqa: F403
from hwadapt.linalg.layouts import __all__  # noqa: F401
