"""Registry of LCU constructions: one module per construction, one entry per module below.

Spec validation (``circuit.construction``), family building (:func:`hwadapt.spec.build_families`),
``hwadapt compare`` (scale, count folding via the run's stored metadata) and the hybrid
evaluator (training templates) look a construction up here and read its facts
(:class:`~hwadapt.circuits.constructions.base.Construction`); nothing else switches on its
name. Adding one: write ``hwadapt/circuits/constructions/<name>.py`` with a
``Construction`` subclass and add it to ``REGISTRY`` (order = order in error messages).
"""

from __future__ import annotations

from hwadapt.circuits.constructions import dilation, efficient, spectral, textbook
from hwadapt.circuits.constructions.base import Construction

REGISTRY: dict[str, Construction] = {c.name: c for c in (
    efficient.CONSTRUCTION,
    textbook.CONSTRUCTION,
    dilation.CONSTRUCTION,
    spectral.CONSTRUCTION,
)}


def names() -> tuple[str, ...]:
    """Every registered construction name, in registry order."""
    return tuple(REGISTRY)


def trainable() -> tuple[str, ...]:
    """Names of the constructions with parameterised training templates (for 2 terms)."""
    return tuple(name for name, c in REGISTRY.items() if c.template_kinds(2) is not None)


def get(name: str) -> Construction:
    """The registered construction ``name``; ``ValueError`` naming the choices otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown construction {name!r}: choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


__all__ = ["REGISTRY", "Construction", "get", "names", "trainable"]
