"""What determines an MNIST study's numbers: the arms and :class:`StudyConfig` (saved in
``study.json``). Shared by the study (:mod:`hwadapt.training.experiment`) and its report
(:mod:`hwadapt.training.report`), which must not import each other in a loop."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hwadapt.errors import InputError

#: arm name -> AdapterConfig keyword arguments; None: no adapter ("full" trains fc1, fc2 and
#: the head; "head-only", the linear-probe control, trains only the head). ``rank`` of
#: ``lora-matched`` is filled in by :func:`hwadapt.training.experiment.matched_lora_rank`.
ARMS: dict[str, dict[str, Any] | None] = {
    "full": None,
    "head-only": None,
    "lora-matched": {"method": "lora"},
    "lora-r8": {"method": "lora", "rank": 8},
    "hamming": {"method": "hamming", "rank": 2},
    "compound": {"method": "compound", "rank": 2},
    "hamming-orth": {"method": "hamming", "rank": 2, "base": "orthogonal"},
}


@dataclass
class StudyConfig:
    """Everything that determines a study's numbers (saved in ``study.json``)."""

    methods: list[str] = field(default_factory=lambda: list(ARMS))
    seeds: int = 3
    epochs: int = 20
    pretrain_epochs: int = 10
    hidden: int = 256
    data_dir: str | None = None
    max_per_class: int | None = None
    val_fraction: float = 0.2
    batch_size: int = 64
    lr_full: float = 1e-3
    lr_adapter: float = 1e-2
    threads: int = 1

    def validate(self) -> None:
        """Raise :class:`InputError` for unknown arms or out-of-range settings."""
        unknown = [m for m in self.methods if m not in ARMS]
        if unknown or not self.methods:
            raise InputError(f"unknown method(s) {unknown or '(none given)'}; choose from "
                             f"{', '.join(ARMS)}")
        for name in ("seeds", "epochs", "hidden", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, "
                                 f"got {getattr(self, name)}")
        if math.isqrt(self.hidden) ** 2 != self.hidden:
            raise InputError(f"--hidden {self.hidden} must be a perfect square (e.g. 16, 64, "
                             "256) so images downsample to sqrt(N_H) x sqrt(N_H)")
        if self.pretrain_epochs < 0:
            raise InputError(f"--pretrain-epochs must be >= 0, got {self.pretrain_epochs}")
