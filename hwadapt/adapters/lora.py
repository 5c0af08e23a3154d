"""LoRA: ``ΔW = B A`` with ``A (r, d_in)`` (Kaiming-uniform, as in peft) and ``B (d_out, r)``
zero-initialised; ``r = config.rank``. Standard LoRA: no ``α`` coefficients, no
``lora_alpha / r`` scaling (scale 1). Trainable parameters ``r·(d_in + d_out)``."""

from __future__ import annotations

import math

import torch
from torch import nn

from hwadapt.adapters.base import AdapterLayer
from hwadapt.adapters.config import AdapterConfig
from hwadapt.adapters.registry import register


@register("lora")
class LoraLayer(AdapterLayer):
    def __init__(self, base_layer: nn.Linear, config: AdapterConfig):
        super().__init__(base_layer, config)
        w, r = base_layer.weight, config.rank
        self.lora_A = nn.Parameter(torch.empty(r, self.d_in, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(self.d_out, r, dtype=w.dtype, device=w.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def delta_weight(self) -> torch.Tensor:
        return self.lora_B @ self.lora_A

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base_layer(x) + (x @ self.lora_A.mT) @ self.lora_B.mT
