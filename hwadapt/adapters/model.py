"""Model surgery: ``inject`` adapters into ``nn.Linear`` layers, ``merge`` them back."""

from __future__ import annotations

import re

from torch import nn

from hwadapt.adapters.base import AdapterLayer
from hwadapt.adapters.config import AdapterConfig
from hwadapt.adapters.registry import METHODS


def _targeted(name: str, target) -> bool:
    if target is None:
        return True
    if isinstance(target, str):
        return re.fullmatch(target, name) is not None
    return any(name == t or name.endswith("." + t) for t in target)


def _replace(model: nn.Module, name: str, new: nn.Module) -> nn.Module:
    if name == "":
        return new
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent), child, new)
    return model


def inject(model: nn.Module, config: AdapterConfig) -> nn.Module:
    """Freeze every parameter of ``model`` and wrap each targeted ``nn.Linear`` in the
    adapter layer of ``config.method`` (in place; returns the model, or the adapter layer if
    ``model`` itself is a targeted ``nn.Linear``). Only adapter parameters are trainable.

    Raises ValueError if the model already has adapters or no ``nn.Linear`` matches.
    """
    if any(isinstance(m, AdapterLayer) for m in model.modules()):
        raise ValueError("model already has adapters: merge(model) first, then inject again")
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    chosen = [n for n in names if _targeted(n, config.target)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no nn.Linear to adapt: inject into a "
                         "model with linear layers")
    if not chosen:
        raise ValueError(f"target {config.target!r} matches no nn.Linear; "
                         f"available: {', '.join(repr(n) for n in names)}")
    for p in model.parameters():
        p.requires_grad_(False)
    cls = METHODS[config.method].layer_cls
    for name in chosen:
        model = _replace(model, name, cls(model.get_submodule(name), config))
    return model


def merge(model: nn.Module) -> nn.Module:
    """Replace every adapter layer by a plain ``nn.Linear`` with weight ``W0 + ΔW`` (bias
    kept, gradients flags as the frozen base). In place; returns the model."""
    names = [n for n, m in model.named_modules() if isinstance(m, AdapterLayer)]
    for name in names:
        model = _replace(model, name, model.get_submodule(name).merged())
    return model


def trainable_parameters(model: nn.Module) -> int:
    """Number of scalars with ``requires_grad``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
