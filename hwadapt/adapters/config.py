"""``AdapterConfig``: which adapter, how big, on which layers."""

from __future__ import annotations

from dataclasses import dataclass

BASES = ("free", "orthogonal", "cayley")
PATHS = ("auto", "dense", "blocks", "apply")


@dataclass(frozen=True)
class AdapterConfig:
    """Configuration of an adapter (validated on construction; bad values raise ValueError).

    Attributes:
        method: registered method name (``"lora"``, ``"compound"``, ``"hamming"``).
        rank: LoRA rank ``r``, or the number ``R`` of terms of the linear combination
            ``ΔW = Σ_{i<R} α_i ΔW_i`` for compound/hamming.
        order: compound order ``k`` (compound only; default 2).
        base: base matrices ``A_i`` of compound/hamming: ``"free"`` (unconstrained ``n x n``),
            ``"orthogonal"`` (Givens angles in pyramid order = RBS circuit angles) or
            ``"cayley"`` (``(I - S)^-1 (I + S)``, ``S`` skew). LoRA takes only ``"free"``.
        target: which ``nn.Linear`` modules to adapt: ``None`` = all; a ``str`` = regex that
            must match the full module name (``re.fullmatch``); a list/tuple of names = modules
            whose name equals an entry or ends with ``"." + entry``.
        qubits: override ``n`` (the base size); default: the smallest ``n`` that covers the
            layer width (``2^n`` for hamming, ``C(n,k)`` for compound).
        path: ``"auto"``, ``"dense"`` (build cropped ``ΔW`` each step and fold it into the
            weight), ``"blocks"`` (hamming only: one matmul per weight block ``A^(k)`` on the
            inputs in block order, never forms a ``2^n x 2^n`` matrix) or ``"apply"`` (vector
            application of the factorised ``ΔW``); same maths.
    """

    method: str
    rank: int = 1
    order: int | None = None
    base: str = "free"
    target: str | list[str] | tuple[str, ...] | None = None
    qubits: int | None = None
    path: str = "auto"

    def __post_init__(self) -> None:
        from hwadapt.adapters.registry import METHODS

        if self.method not in METHODS:
            raise ValueError(f"unknown adapter method {self.method!r}: choose one of "
                             f"{', '.join(sorted(METHODS))}")
        if not isinstance(self.rank, int) or self.rank < 1:
            raise ValueError(f"rank must be an integer >= 1, got {self.rank!r}")
        if self.base not in BASES:
            raise ValueError(f"unknown base {self.base!r}: choose one of {', '.join(BASES)}")
        if self.path not in PATHS:
            raise ValueError(f"unknown path {self.path!r}: choose one of {', '.join(PATHS)}")
        if self.path == "blocks" and self.method != "hamming":
            raise ValueError(f"path='blocks' is for method='hamming' (its ΔW has n+1 blocks), "
                             f"not {self.method!r}: use path='dense' or 'apply'")
        allowed = METHODS[self.method].options
        for name in ("order", "qubits"):
            if getattr(self, name) is not None and name not in allowed:
                raise ValueError(f"{name!r} does not apply to method {self.method!r}: remove it")
        if self.base != "free" and "base" not in allowed:
            raise ValueError(f"method {self.method!r} has no base matrices: use base='free'")
        if self.order is not None and (not isinstance(self.order, int) or self.order < 1):
            raise ValueError(f"order k must be an integer >= 1, got {self.order!r}")
        if self.qubits is not None and (not isinstance(self.qubits, int) or self.qubits < 1):
            raise ValueError(f"qubits must be an integer >= 1, got {self.qubits!r}")
        t = self.target
        if t is not None and not isinstance(t, str) and not (
            isinstance(t, list | tuple) and all(isinstance(s, str) for s in t)
        ):
            raise ValueError(f"target must be None, a regex string or a list of names, got {t!r}")
