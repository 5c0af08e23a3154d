"""TOML job specs: parse, validate (one-line errors naming the key and the fix), build circuits.

Schema (documented for users in ``jobs/README.md``)::

    name = "demo"                 # label shown by `hwadapt runs`
    seed = 2024                   # seeds transpiling, sampling (per batch) and random parts
    [circuit]
    qubits = 8                    # data qubits n
    encoding = "unary"            # HW-1 amplitude loader (X + n-1 RBS gates)
    layout = "pyramid"            # pyramid | butterfly | brick (adapter gate layout)
    terms = 2                     # adapters R in the LCU  M = Σ α_i U_i
    alphas = [0.6, 0.4]           # LCU weights, non-zero, one per term
    angles = "seed"               # "seed" (uniform in ±angle_scale) or "checkpoint"
    angle_scale = 3.14159         # only with angles = "seed"
    checkpoint = "adapter.pt"     # only with angles = "checkpoint": torch state_dict
    layer = "fc1"                 # which adapted layer in the checkpoint (if several)
    families = ["magnitude"]      # circuit families to run (magnitude, signs)
    construction = "efficient"    # efficient | spectral (R = 2) | textbook | dilation
    mode = "lcu"                  # lcu | separate | ["lcu", "separate"] (side by side)
    [inputs]
    count = 16                    # number of input vectors (bindings of the loader)
    source = "random"             # random | mnist | file
    seed = 7                      # random: Gaussian vectors; mnist: which digits
    path = "x.npy"                # source = "file": (N >= count, n) array
    [shots]
    target_accepted = 4000        # postselected shots wanted per input and family
    budget = 2_000_000            # raw shots cap for the whole run
    max_rounds = 4                # planning rounds (first + top-ups)
    pilot = 1024                  # raw shots per input of the pilot round (when not exact)
    [calibration]                 # optional: calibration inputs in the run (issue 16)
    inputs = 64                   # unit vectors with exactly simulable outputs, bound to
    shots = 4096                  # the same ISA template (same PUBs, same physical qubits)
    seed = 11                     # default: the spec seed
    kind = "random"               # random | basis | mixed (hwadapt.mitigation.calibration)
    [mitigation]                  # optional: zero-noise extrapolation circuits in the run
    zne = { factors = [1, 3], extrapolation = "richardson" }  # fold 2q gates, same shots
    [execution]
    optimization_level = 1        # transpiler preset level 0..3
    dynamical_decoupling = "XY4"  # off (default) | XX | XpXm | XY4: Runtime sampler option
    twirling = true               # Pauli-twirl gates and measurements (Runtime sampler)

Constructions (``circuit.construction``) are the registry :mod:`hwadapt.circuits.constructions`
(one module each: efficient, textbook, dilation, spectral); every family is built with ONE
ParameterVector for the loader angles, so one circuit plus a ``(count, n-1)`` parameter array
serves every input as one PUB.

Modes: ``lcu`` measures ``M x`` directly (families ``magnitude``/``signs``); ``separate``
measures every ``U_i x`` on its own (families ``term<i>.magnitude``/``term<i>.signs``, no
ancilla in the magnitude circuits, β = 1) and :func:`hwadapt.estimate.combine_terms` adds them
with ``α``. A list runs both in one job; ``hwadapt compare`` reports them side by side.

Relative paths are relative to the spec file; the files a spec references (checkpoint,
inputs) are part of its :attr:`JobSpec.digest` and are copied into the run's folder at submit,
with the analysis data of :func:`run_metadata`. Angles from a checkpoint: the orthogonal
Hamming adapter's ``<layer>.angles (R, m)`` (pyramid order = circuit order) and
``<layer>.alpha (R,)``; signs of α go into the circuits (B's ``lcu_circuit``).
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from qiskit.circuit import ParameterVector

from hwadapt.circuits import constructions
from hwadapt.circuits.constructions.base import Construction
from hwadapt.circuits.dilation import combination_matrix
from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.circuits.signs import default_beta
from hwadapt.errors import InputError
from hwadapt.execution.family import Family
from hwadapt.execution.ledger import sha256_file
from hwadapt.execution.metadata import RunMetadata
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

_ALLOWED = {
    "": {"name", "seed", "circuit", "inputs", "shots", "execution", "calibration",
         "mitigation"},
    "circuit": {"qubits", "encoding", "layout", "terms", "alphas", "angles", "angle_scale",
                "angle_seed", "checkpoint", "layer", "families", "construction", "mode"},
    "inputs": {"count", "source", "seed", "path"},
    "shots": {"target_accepted", "budget", "max_rounds", "pilot"},
    "execution": {"optimization_level", "dynamical_decoupling", "twirling"},
    "calibration": {"inputs", "shots", "seed", "kind"},
    "mitigation": {"zne"},
}


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

    @property
    def family_names(self) -> list[str]:
        """Names of the circuit families :func:`build_families` makes, in that order."""
        names = []
        for mode in self.circuit.modes:
            if mode == "lcu":
                for f in self.circuit.families:
                    names += list(sign_references(self)) if f == "signs" else [f]
            else:
                names += [f"term{i}.{f}" for i in range(self.circuit.terms)
                          for f in self.circuit.families]
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


def load_spec(path: str | Path) -> JobSpec:
    """Read and validate the TOML job spec at ``path``; raise :class:`InputError` if bad."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"job spec {str(path)!r} not found: pass a TOML file such as "
                         "jobs/demo.toml")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"job spec {str(path)!r} is not UTF-8 text (byte {e.start}): save it "
                         "as UTF-8") from None
    except OSError as e:
        raise InputError(f"job spec {str(path)!r} cannot be read ({e.strerror}): check the "
                         "file's permissions") from None
    return parse_spec(text, base_dir=path.parent, where=str(path))


def parse_spec(text: str, base_dir: Path = Path("."), where: str = "spec") -> JobSpec:
    """Validate TOML ``text``; relative paths resolve against ``base_dir``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{where} is not valid TOML ({e}): fix the syntax") from None
    _check_keys(data, "")
    for section in ("circuit", "inputs", "shots", "execution", "calibration", "mitigation"):
        if section in data and not isinstance(data[section], dict):
            raise InputError(f"{section!r} must be a table: write [{section}]")
        _check_keys(data.get(section, {}), section)
    if "circuit" not in data:
        raise InputError("missing [circuit] table: add it with at least `qubits = 8`")
    c, i, s = data["circuit"], data.get("inputs", {}), data.get("shots", {})
    e = data.get("execution", {})

    qubits = _int(c, "circuit", "qubits", None, 2, MAX_QUBITS)
    terms = _int(c, "circuit", "terms", 2, 1, 64)
    alphas = c.get("alphas", [1.0 / terms] * terms)
    if not isinstance(alphas, list) or not all(_is_num(a) for a in alphas):
        raise InputError("circuit.alphas must be a list of numbers, e.g. alphas = [0.6, 0.4]")
    if len(alphas) != terms:
        raise InputError(f"circuit.alphas has {len(alphas)} values but circuit.terms = {terms}: "
                         "give one alpha per term")
    if any(a == 0 for a in alphas):
        raise InputError(f"circuit.alphas must be non-zero (negative is fine), got {alphas}: "
                         "drop the zero terms")
    check_alphas(alphas, "circuit.alphas")
    layout = _choice(c, "circuit", "layout", "pyramid", LAYOUTS)
    if layout == "butterfly" and qubits & (qubits - 1):
        raise InputError(f"circuit.layout = 'butterfly' needs a power-of-two circuit.qubits, "
                         f"got {qubits}: use pyramid or 4/8/16 qubits")
    angles = _choice(c, "circuit", "angles", "seed", ("seed", "checkpoint"))
    checkpoint = None
    if angles == "checkpoint":
        if "checkpoint" not in c:
            raise InputError("circuit.angles = 'checkpoint' needs circuit.checkpoint = "
                             "'<path to adapter state_dict>'")
        checkpoint = _path(c, "circuit", "checkpoint", base_dir)
    elif "checkpoint" in c or "layer" in c:
        raise InputError("circuit.checkpoint/layer given but circuit.angles = 'seed': set "
                         "angles = 'checkpoint' or drop them")
    families = c.get("families", ["magnitude"])
    if (not isinstance(families, list) or not families
            or any(f not in FAMILIES for f in families) or len(set(families)) != len(families)):
        raise InputError(f"circuit.families must be a non-empty list of distinct names from "
                         f"{list(FAMILIES)}, got {families!r}")
    construction = _choice(c, "circuit", "construction", "efficient", constructions.names())
    modes = c.get("mode", "lcu")
    modes = [modes] if isinstance(modes, str) else modes
    if (not isinstance(modes, list) or not modes or any(m not in MODES for m in modes)
            or len(set(modes)) != len(modes)):
        raise InputError(f"circuit.mode must be one of {', '.join(MODES)} or a list of them "
                         f"(e.g. mode = [\"lcu\", \"separate\"]), got {c.get('mode')!r}")
    con = constructions.get(construction)
    con.check(qubits, terms, modes, MAX_QUBITS)
    if qubits > MAX_FRAME_QUBITS and con.needs_frames(terms, families, modes):
        raise InputError(f"circuit.qubits = {qubits} with construction = {construction!r}, "
                         f"families {families} and mode {modes} needs the multiplexed SELECT, "
                         f"which supports up to {MAX_FRAME_QUBITS} data qubits: use qubits <= "
                         f"{MAX_FRAME_QUBITS} or construction = 'textbook'")
    layer = c.get("layer")
    if layer is not None and not isinstance(layer, str):
        raise InputError("circuit.layer must be a string naming the adapted layer, e.g. 'fc1'")
    circuit = CircuitSpec(
        qubits=qubits, encoding=_choice(c, "circuit", "encoding", "unary", ENCODINGS),
        layout=layout, terms=terms, alphas=tuple(float(a) for a in alphas), angles=angles,
        angle_scale=_float(c, "circuit", "angle_scale", math.pi, 0.0, 100.0),
        angle_seed=_int(c, "circuit", "angle_seed", None, 0, 2**63 - 1, required=False),
        checkpoint=checkpoint, layer=layer, families=tuple(families),
        construction=construction, modes=tuple(modes))

    source = _choice(i, "inputs", "source", "random", SOURCES)
    if source == "file" and "path" not in i:
        raise InputError("inputs.source = 'file' needs inputs.path = '<.npy file, shape "
                         "(N, qubits)>'")
    if source != "file" and "path" in i:
        raise InputError("inputs.path is only read with inputs.source = 'file': set it or "
                         "drop path")
    if source == "mnist" and math.isqrt(qubits) ** 2 != qubits:
        raise InputError(f"inputs.source = 'mnist' needs circuit.qubits a perfect square "
                         f"(images are sqrt(n) x sqrt(n)), got {qubits}: use 4, 9 or 16")
    inputs = InputSpec(
        count=_int(i, "inputs", "count", 16, 1, 100_000), source=source,
        seed=_int(i, "inputs", "seed", 0, 0, 2**63 - 1),
        path=_path(i, "inputs", "path", base_dir) if source == "file" else None)

    shots = ShotSpec(
        target_accepted=_int(s, "shots", "target_accepted", 4000, 1, 10**9),
        budget=_int(s, "shots", "budget", 2_000_000, 1, 10**12),
        max_rounds=_int(s, "shots", "max_rounds", 4, 1, 100),
        pilot=_int(s, "shots", "pilot", 1024, 1, 10**7))
    n_sign_refs = len(constructions.get(construction).sign_references(terms, "lcu"))
    n_fam = (len(families) + ("signs" in families) * (n_sign_refs - 1)) * ("lcu" in modes) \
        + len(families) * terms * ("separate" in modes)
    seed = _int(data, "", "seed", 0, 0, 2**63 - 1)
    calibration = _calibration(data["calibration"], seed) if "calibration" in data else None
    cal_shots = calibration.inputs * calibration.shots * n_fam if calibration else 0
    if shots.budget < shots.target_accepted * inputs.count * n_fam + cal_shots:
        raise InputError(
            f"shots.budget = {shots.budget} is below target_accepted x inputs.count x families "
            f"+ calibration inputs x shots x families "
            f"= {shots.target_accepted * inputs.count * n_fam + cal_shots}: raise the budget "
            "or lower target_accepted (or the calibration)")
    dd = e.get("dynamical_decoupling", "off")
    if dd not in DD_SEQUENCES:
        raise InputError(f"execution.dynamical_decoupling = {dd!r} is not supported: use one "
                         f"of {', '.join(DD_SEQUENCES)}")
    twirling = e.get("twirling", False)
    if not isinstance(twirling, bool):
        raise InputError(f"execution.twirling must be true or false, got {twirling!r}")
    name = data.get("name", "job")
    if not isinstance(name, str) or not name.strip():
        raise InputError("name must be a non-empty string, e.g. name = \"demo\"")
    return JobSpec(name=name, seed=seed, circuit=circuit,
                   inputs=inputs, shots=shots,
                   optimization_level=_int(e, "execution", "optimization_level", 1, 0, 3),
                   dynamical_decoupling=dd, twirling=twirling, text=text, base_dir=base_dir,
                   calibration=calibration, zne_factors=_zne(data.get("mitigation", {})))


def _zne(t: dict) -> tuple[int, ...] | None:
    from hwadapt.mitigation.zne import EXTRAPOLATIONS

    if "zne" not in t:
        return None
    z = t["zne"]
    if not isinstance(z, dict) or set(z) - {"factors", "extrapolation"}:
        raise InputError(f"mitigation.zne must be a table with keys factors, extrapolation, "
                         f"e.g. zne = {{ factors = [1, 3], extrapolation = \"richardson\" }}, "
                         f"got {z!r}")
    f = z.get("factors", [1, 3])
    if (not isinstance(f, list) or len(f) < 2 or len(set(f)) != len(f) or f[0] != 1
            or any(not isinstance(k, int) or isinstance(k, bool) or k < 1 or k % 2 == 0
                   or k > 9 for k in f)):
        raise InputError(f"mitigation.zne.factors must be distinct odd integers 1..9 starting "
                         f"with 1, e.g. [1, 3], got {f!r}")
    _choice(z, "mitigation.zne", "extrapolation", "richardson", EXTRAPOLATIONS)
    return tuple(f)


def _calibration(t: dict, seed: int) -> CalibrationSpec:
    from hwadapt.mitigation.calibration import KINDS

    return CalibrationSpec(
        inputs=_int(t, "calibration", "inputs", 64, 2, 4096),
        shots=_int(t, "calibration", "shots", 4096, 64, 10**7),
        seed=_int(t, "calibration", "seed", seed, 0, 2**63 - 1),
        kind=_choice(t, "calibration", "kind", "random", KINDS))


def check_alphas(alphas, where: str) -> None:
    """:class:`InputError` unless every ``|alpha|`` is finite and within ``ALPHA_RANGE``."""
    a = np.abs(np.asarray(alphas, dtype=float))
    lo, hi = ALPHA_RANGE
    if not np.all(np.isfinite(a)) or np.any((a < lo) | (a > hi)):
        raise InputError(f"{where} = {np.asarray(alphas).tolist()} is out of range: each |alpha| "
                         f"must be within {lo:g}..{hi:g} (scale them all by one factor)")


def _sampler_options(dd: str, twirling: bool) -> dict:
    out: dict = {}
    if dd != "off":
        out["dynamical_decoupling"] = {"enable": True, "sequence_type": dd}
    if twirling:
        out["twirling"] = {"enable_gates": True, "enable_measure": True}
    return out


def sampler_options(text: str) -> dict:
    """Runtime sampler options of the ``[execution]`` table of a stored spec ``text`` (any
    other table may be missing: runs created from ready-made families store no circuit)."""
    e = tomllib.loads(text).get("execution", {})
    dd, twirling = e.get("dynamical_decoupling", "off"), e.get("twirling", False)
    if dd not in DD_SEQUENCES or not isinstance(twirling, bool):
        raise InputError(f"stored spec has a bad [execution] table ({e}): fix the spec")
    return _sampler_options(dd, twirling)


def _key(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def _check_keys(table: dict, section: str) -> None:
    allowed = _ALLOWED[section]
    for key in table:
        if key not in allowed:
            where = f"[{section}]" if section else "the top level"
            raise InputError(f"unknown key {_key(section, key)!r} in {where}: allowed keys are "
                             f"{', '.join(sorted(allowed))}")


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _int(t: dict, section: str, key: str, default: int | None, lo: int, hi: int,
         required: bool = True) -> int | None:
    if key not in t:
        if default is None and required:
            raise InputError(f"missing {_key(section, key)}: add e.g. `{key} = {max(lo, 8)}` "
                             f"under [{section}]")
        return default
    v = t[key]
    if not isinstance(v, int) or isinstance(v, bool):
        raise InputError(f"{_key(section, key)} must be an integer, got {v!r}")
    if not lo <= v <= hi:
        raise InputError(f"{_key(section, key)} = {v} is out of range: use {lo}..{hi}")
    return v


def _float(t: dict, section: str, key: str, default: float, lo: float, hi: float) -> float:
    v = t.get(key, default)
    if not _is_num(v):
        raise InputError(f"{_key(section, key)} must be a number, got {v!r}")
    if not lo <= v <= hi:
        raise InputError(f"{_key(section, key)} = {v} is out of range: use {lo}..{hi}")
    return float(v)


def _choice(t: dict, section: str, key: str, default: str, options: tuple[str, ...]) -> str:
    v = t.get(key, default)
    if v not in options:
        raise InputError(f"{_key(section, key)} = {v!r} is not supported: use one of "
                         f"{', '.join(options)}")
    return v


def _path(t: dict, section: str, key: str, base_dir: Path) -> Path:
    v = t[key]
    if not isinstance(v, str) or not v:
        raise InputError(f"{_key(section, key)} must be a path string")
    p = Path(v)
    p = p if p.is_absolute() else base_dir / p
    if not p.is_file():
        raise InputError(f"{_key(section, key)} = {v!r}: file {str(p)!r} not found; fix the path "
                         "(relative paths are relative to the spec file)")
    return p


# ----------------------------------------------------------------------------------------
# Spec -> numbers: adapter angles, LCU weights, input vectors.
# ----------------------------------------------------------------------------------------

def adapter_parameters(spec: JobSpec) -> tuple[np.ndarray, np.ndarray]:
    """Adapter angles ``(R, m)`` (layout order) and LCU weights ``(R,)`` of ``spec``."""
    from hwadapt.circuits.layouts import num_angles

    c = spec.circuit
    m = num_angles(c.qubits, c.layout)
    if c.angles == "seed":
        seed = spec.seed if c.angle_seed is None else c.angle_seed
        rng = np.random.default_rng([seed, 1])
        return rng.uniform(-c.angle_scale, c.angle_scale, (c.terms, m)), np.array(c.alphas)
    return _checkpoint_parameters(spec, m)


def _checkpoint_parameters(spec: JobSpec, m: int) -> tuple[np.ndarray, np.ndarray]:
    import torch

    c = spec.circuit
    try:
        state = torch.load(c.checkpoint, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is one user error
        raise InputError(f"circuit.checkpoint {str(c.checkpoint)!r} is not a torch state_dict "
                         f"({type(e).__name__}): save one with torch.save(model.state_dict())"
                         ) from None
    if not isinstance(state, dict):
        raise InputError(f"circuit.checkpoint {str(c.checkpoint)!r} is not a state_dict")
    prefixes = sorted(k[: -len("angles")] for k in state if k.endswith("angles"))
    if c.layer is not None:
        prefixes = [p for p in prefixes if p.rstrip(".") == c.layer]
    if len(prefixes) != 1:
        raise InputError(f"circuit.checkpoint: found adapted layers "
                         f"{[p.rstrip('.') for p in prefixes] or 'none'} with .angles; set "
                         "circuit.layer to exactly one of them")
    p = prefixes[0]
    if p + "alpha" not in state:
        raise InputError(f"circuit.checkpoint has {p}angles but no {p}alpha")
    angles, alpha = (_tensor(state[p + k], f"circuit.checkpoint {p}{k}")
                     for k in ("angles", "alpha"))
    if angles.shape != (c.terms, m) or alpha.shape != (c.terms,):
        raise InputError(f"circuit.checkpoint {p}angles has shape {tuple(angles.shape)}, alpha "
                         f"{tuple(alpha.shape)}; the spec needs ({c.terms}, {m}) and "
                         f"({c.terms},) for {c.qubits} qubits, {c.layout}, {c.terms} terms: "
                         "fix circuit.qubits/terms/layout")
    if np.any(alpha == 0):
        raise InputError(f"circuit.checkpoint {p}alpha has zeros ({alpha}): an untrained "
                         "adapter; drop those terms")
    check_alphas(alpha, f"circuit.checkpoint {p}alpha")
    return angles, alpha


def _tensor(value, where: str) -> np.ndarray:
    """A checkpoint entry as a finite float64 array, else :class:`InputError`."""
    import torch

    if not isinstance(value, torch.Tensor) or value.is_complex() or \
            not (value.is_floating_point() or value.dtype in (torch.int32, torch.int64)):
        raise InputError(f"{where} is not a real tensor (got {type(value).__name__}): save the "
                         "adapter's state_dict")
    out = value.detach().double().numpy()
    if not np.all(np.isfinite(out)):
        raise InputError(f"{where} holds NaN or infinite values: the checkpoint comes from a "
                         "diverged training run; use another one")
    return out


def input_vectors(spec: JobSpec) -> np.ndarray:
    """Unit input vectors ``(count, qubits)`` float64 for the unary loader."""
    n, i = spec.circuit.qubits, spec.inputs
    if i.source == "random":
        x = np.random.default_rng([i.seed, 2]).normal(size=(i.count, n))
    elif i.source == "file":
        try:
            x = np.load(i.path, allow_pickle=False)
        except Exception as e:  # noqa: BLE001
            raise InputError(f"inputs.path {str(i.path)!r} is not a .npy array ({e})") from None
        if not isinstance(x, np.ndarray) or x.dtype.kind not in "iuf":
            raise InputError(f"inputs.path {str(i.path)!r} holds "
                             f"{getattr(x, 'dtype', type(x).__name__)} values: save a real "
                             "numeric array, e.g. np.save(path, x.astype(float))")
        if x.ndim != 2 or x.shape[1] != n or x.shape[0] < i.count:
            raise InputError(f"inputs.path array has shape {x.shape}: need (N >= {i.count}, {n})")
        x = np.asarray(x[: i.count], dtype=np.float64)
    else:
        from hwadapt.training.data import load_mnist

        data = load_mnist(hidden=n, split_seed=i.seed)
        x = data.x_val[: i.count].double().numpy()
    if not np.all(np.isfinite(x)):
        raise InputError("inputs contain a non-finite value (NaN or inf): unary loading needs "
                         "finite vectors; fix the input file")
    peak = np.abs(x).max(axis=1, keepdims=True)
    if np.any(peak == 0):
        raise InputError("inputs contain a zero vector: unary loading needs non-zero vectors; "
                         "drop it from the input file")
    x = x / peak  # then the norm neither overflows nor underflows
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ----------------------------------------------------------------------------------------
# Spec -> circuit families (built only through hwadapt.circuits' public functions).
# ----------------------------------------------------------------------------------------

def sign_references(spec: JobSpec, mode: str = "lcu") -> dict[str, str]:
    """Sign families of ``mode`` and their reference kinds, as the construction declares them
    (:meth:`~hwadapt.circuits.constructions.base.Construction.sign_references`), e.g.
    ``{"signs": "term0", "signs1": "term1"}`` (efficient/spectral lcu with ``R >= 2``:
    ``V_ref = sign(α_k) U_k``, the magnitude circuit's gates with other PREPARE weights, so
    every component has a reference it can see), ``{"signs": "uniform"}`` (textbook,
    :mod:`hwadapt.circuits.signs`) or ``{"signs": "input"}`` (``V_ref = I``)."""
    kinds = spec.construction.sign_references(spec.circuit.terms, mode)
    return {("signs" if k == 0 else f"signs{k}"): kind for k, kind in enumerate(kinds)}


def sign_reference(spec: JobSpec, mode: str = "lcu") -> str:
    """Reference kind of the first signs family of ``mode`` (:func:`sign_references`)."""
    return sign_references(spec, mode)["signs"]


def reference_vectors(spec: JobSpec, mode: str = "lcu", family: str = "signs",
                      x: np.ndarray | None = None) -> np.ndarray:
    """``r (count, n)`` of sign ``family`` (:func:`sign_references`) for every input of
    ``spec`` (or for the unit rows of ``x``)."""
    from hwadapt.circuits.signs import reference_vector

    kind = sign_references(spec, mode)[family]
    x = input_vectors(spec) if x is None else x
    if not kind.startswith("term"):
        return reference_vector(kind, x)
    import torch

    from hwadapt.linalg import givens_matrix

    k = int(kind[4:])
    angles, alphas = adapter_parameters(spec)
    Ok = givens_matrix(spec.circuit.qubits, torch.as_tensor(angles[k], dtype=torch.float64),
                       spec.circuit.layout).numpy()
    return np.sign(alphas[k]) * x @ Ok.T


def run_metadata(spec: JobSpec) -> RunMetadata:
    """Everything the analysis of a run of ``spec`` needs (stored with the run at submit):
    inputs ``x``, ``M = Σ α_i O(θ_i)``, ``α``, ``β``, ``K0``, each mode's sign reference."""
    angles, alphas = adapter_parameters(spec)
    c = spec.circuit
    i = spec.inputs
    return RunMetadata(
        construction=c.construction, modes=c.modes, encoding=c.encoding, layout=c.layout,
        x=input_vectors(spec), M=combination_matrix(angles, alphas, c.qubits, c.layout),
        alphas=np.asarray(alphas, float), beta=default_beta(alphas),
        K0=spec.construction.scale(angles, alphas, c.qubits, c.layout),
        references={mode: {f: reference_vectors(spec, mode, f) for f in sign_references(spec, mode)}
                    for mode in c.modes},
        calibration_references=None if spec.calibration is None or "lcu" not in c.modes else {
            f: reference_vectors(spec, "lcu", f, x=calibration_vectors(spec))
            for f in sign_references(spec, "lcu")},
        inputs={"source": i.source, "seed": i.seed, "count": i.count})


def build_families(spec: JobSpec) -> list[Family]:
    """The circuit families of ``spec``, named as :attr:`JobSpec.family_names`.

    Every family is one circuit whose only parameters are the unary loader's
    ``ParameterVector("x", n-1)``; ``values (count, n-1)`` holds one binding per input.
    """
    angles, alphas = adapter_parameters(spec)
    x = input_vectors(spec)
    n, c, con = spec.circuit.qubits, spec.circuit, spec.construction
    n_cal = 0
    if spec.calibration is not None:  # same template, more bindings: the targets' rows first
        x = np.concatenate([x, calibration_vectors(spec)])
        n_cal = spec.calibration.inputs
    loader = unary_loader(n, ParameterVector("x", n - 1))
    values = np.stack([unary_angles(v) for v in x])
    beta = default_beta(alphas)
    out = []
    for mode in c.modes:
        if mode == "lcu":
            lcu_values = np.stack([unary_angles(v)
                                   for v in con.fold_inputs(angles, x, n, c.layout)])
            for fam in c.families:
                if fam == "signs":
                    for name, kind in sign_references(spec, "lcu").items():
                        qc, n_anc = con.sign_circuit(angles, alphas, loader, c.layout, beta,
                                                     kind)
                        out.append(_measured(name, qc, lcu_values, n, n_anc, n_cal))
                else:
                    qc, n_anc = con.lcu_circuit(angles, alphas, loader, c.layout)
                    out.append(_measured(fam, qc, lcu_values, n, n_anc, n_cal))
            continue
        for i in range(c.terms):
            for fam in c.families:
                qc, n_anc = con.separate_circuit(angles[i], loader, c.layout, fam == "signs")
                out.append(_measured(f"term{i}.{fam}", qc, values, n, n_anc, n_cal))
    return out


def calibration_vectors(spec: JobSpec) -> np.ndarray:
    """Calibration inputs ``(inputs, qubits)`` of ``[calibration]`` (unit rows)."""
    from hwadapt.mitigation.calibration import calibration_inputs

    cal = spec.calibration
    return calibration_inputs(spec.circuit.qubits, cal.inputs, cal.seed, cal.kind)


def _measured(name: str, qc, values: np.ndarray, n: int, n_anc: int, n_cal: int) -> Family:
    qc.measure_all()
    return Family(name, qc, values, n, n_anc, 1, n_cal)
