"""The job spec's types (:class:`JobSpec` and its tables), limits, and the names of the circuit
families a spec makes (:func:`sign_references`)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwadapt.circuits import constructions
from hwadapt.circuits.constructions.base import Construction
from hwadapt.execution.ledger import sha256_file
from hwadapt.execution.shots import ShotSpec

FAMILIES = ("magnitude", "signs")
LAYOUTS = ("pyramid", "butterfly", "brick")
ENCODINGS = ("unary",)
MODES = ("lcu", "separate")
DD_SEQUENCES = ("off", "XX", "XpXm", "XY4")
SOURCES = ("random", "mnist", "file")
MAX_QUBITS = 24
MAX_FRAME_QUBITS = 16  # multiplexed SELECT (efficient, spectral): its frame search's limit
ALPHA_RANGE = (1e-9, 1e9)  # |alpha| bounds: the LCU weights' ratios stay representable


@dataclass(frozen=True)
class CircuitSpec:
    qubits: int
    encoding: str = "unary"
    layout: str = "pyramid"
    terms: int = 2
    alphas: tuple[float, ...] = (0.5, 0.5)
    angles: str = "seed"
    angle_scale: float = math.pi
    angle_seed: int | None = None
    checkpoint: Path | None = None
    layer: str | None = None
    families: tuple[str, ...] = ("magnitude",)
    construction: str = "efficient"
    modes: tuple[str, ...] = ("lcu",)


@dataclass(frozen=True)
class InputSpec:
    count: int = 16
    source: str = "random"
    seed: int = 0
    path: Path | None = None


@dataclass(frozen=True)
class CalibrationSpec:
    """``[calibration]``: ``inputs`` calibration inputs of ``kind``, ``shots`` raw shots each
    (every family), seeded by ``seed``."""

    inputs: int = 64
    shots: int = 4096
    seed: int = 0
    kind: str = "random"


@dataclass(frozen=True)
class JobSpec:
    """A validated job spec; ``text`` is the TOML it came from (stored in the ledger)."""

    name: str
    seed: int
    circuit: CircuitSpec
    inputs: InputSpec = field(default_factory=InputSpec)
    shots: ShotSpec = field(default_factory=ShotSpec)
    optimization_level: int = 1
    dynamical_decoupling: str = "off"
    twirling: bool = False
    text: str = ""
    base_dir: Path = Path(".")
    calibration: CalibrationSpec | None = None
    zne_factors: tuple[int, ...] | None = None  # [mitigation] zne: odd fold factors, 1 first
    max_qpu_seconds: float | None = None  # [execution]: refuse runs estimated above this
    mode: str | None = None  # [execution]: Runtime mode job|batch|session (ibm_*), None: auto
    observables: Any = None  # spec.observables.ObservableSpec: an Estimator run

    @property
    def family_names(self) -> list[str]:
        """Names of the circuit families :func:`build_families` makes, in that order."""
        names = []
        for mode in self.circuit.modes:
            if mode == "lcu":
                for f in self.circuit.families:
                    names += list(sign_references(self)) if f == "signs" else [f]
            else:
                names += [f"term{i}.{name}" for i in range(self.circuit.terms)
                          for f in self.circuit.families
                          for name in (sign_references(self, mode) if f == "signs" else [f])]
        return names

    @property
    def sampler_options(self) -> dict:
        """Qiskit Runtime ``SamplerV2`` options of ``[execution]`` (empty when all off)."""
        return _sampler_options(self.dynamical_decoupling, self.twirling)

    @property
    def construction(self) -> Construction:
        """The registered construction of ``circuit.construction``."""
        return constructions.get(self.circuit.construction)

    @property
    def referenced_files(self) -> dict[str, Path]:
        """Files the spec reads, by key (``circuit.checkpoint``, ``inputs.path``)."""
        files = {"circuit.checkpoint": self.circuit.checkpoint, "inputs.path": self.inputs.path}
        return {k: p for k, p in files.items() if p is not None}

    @property
    def digest(self) -> str:
        """SHA-256 identifying the spec in the ledger: of its text, and with referenced files
        of the text plus each file's key and SHA-256 (text-only specs keep sha256(text))."""
        h = hashlib.sha256(self.text.encode())
        for key, path in sorted(self.referenced_files.items()):
            h.update(f"\0{key}\0{sha256_file(path)}".encode())
        return h.hexdigest()


def sign_references(spec: JobSpec, mode: str = "lcu") -> dict[str, str]:
    """Sign families of ``mode`` and their reference kinds, as the construction declares them
    (:meth:`~hwadapt.circuits.constructions.base.Construction.sign_families`), e.g.
    ``{"signs": "term0", "signs1": "term1"}`` (efficient/spectral lcu with ``R >= 2``:
    ``V_ref = sign(α_k) U_k``, the magnitude circuit's gates with other PREPARE weights, so
    every component has a reference it can see), ``{"signs": "uniform"}`` (textbook,
    :mod:`hwadapt.circuits.signs`) or ``{"signs": "input"}`` (``V_ref = I``)."""
    return spec.construction.sign_families(spec.circuit.terms, mode)



def _sampler_options(dd: str, twirling: bool) -> dict:
    out: dict = {}
    if dd != "off":
        out["dynamical_decoupling"] = {"enable": True, "sequence_type": dd}
    if twirling:
        out["twirling"] = {"enable_gates": True, "enable_measure": True}
    return out
