"""Registry: method name -> (allowed options, layer class). Adding a method = one module that
calls :func:`register` + one import line in ``hwadapt/adapters/__init__.py``."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class MethodSpec:
    layer_cls: type[nn.Module]
    options: frozenset[str]  # optional AdapterConfig fields the method understands


METHODS: dict[str, MethodSpec] = {}


def register(name: str, options: tuple[str, ...] = ()):
    """Class decorator: register an adapter layer class under ``name``. The class is built as
    ``cls(base_layer: nn.Linear, config: AdapterConfig)``."""

    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        METHODS[name] = MethodSpec(cls, frozenset(options))
        return cls

    return deco
