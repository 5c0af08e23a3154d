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

Constructions (all built with ONE ParameterVector for the loader angles, so one circuit plus
a ``(count, n-1)`` parameter array serves every input as one PUB):

- ``efficient``: :func:`hwadapt.circuits.efficient_lcu.efficient_lcu_circuit` (multiplexed
  SELECT); the signs family adds the reference branch ``β·I`` (``reference = "input"``,
  ``r = ψ``): its angles are zero in any layout, so the circuit does not depend on the input.
- ``textbook``: :func:`hwadapt.circuits.lcu.lcu_circuit` (controlled adapters) and the
  uniform-reference sign circuit of :mod:`hwadapt.circuits.signs`.
- ``dilation``: :func:`hwadapt.circuits.dilation.dilation_circuit` of ``M`` on ``2n`` qubits
  (no ancilla; the upper ``n`` qubits play the ancillas' role: postselect them on 0), scale
  ``s = ‖M‖₂``; the signs family dilates ``M + βI`` with scale ``s + β`` (input reference).

Modes: ``lcu`` measures ``M x`` directly (families ``magnitude``/``signs``); ``separate``
measures every ``U_i x`` on its own (families ``term<i>.magnitude``/``term<i>.signs``, no
ancilla in the magnitude circuits, β = 1) and :func:`hwadapt.estimate.combine_terms` adds them
with ``α``. A list runs both in one job; ``hwadapt compare`` reports them side by side.

Relative paths are relative to the spec file. Angles from a checkpoint: the orthogonal
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

from hwadapt.errors import InputError

FAMILIES = ("magnitude", "signs")
LAYOUTS = ("pyramid", "butterfly", "brick")
ENCODINGS = ("unary",)
CONSTRUCTIONS = ("efficient", "textbook", "dilation", "spectral")
MODES = ("lcu", "separate")
DD_SEQUENCES = ("off", "XX", "XpXm", "XY4")
SOURCES = ("random", "mnist", "file")
MAX_QUBITS = 24

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
class ShotSpec:
    target_accepted: int = 4000
    budget: int = 2_000_000
    max_rounds: int = 4
    pilot: int = 1024


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
    def digest(self) -> str:
        """SHA-256 of the spec text (identifies the spec in the ledger)."""
        return hashlib.sha256(self.text.encode()).hexdigest()


def load_spec(path: str | Path) -> JobSpec:
    """Read and validate the TOML job spec at ``path``; raise :class:`InputError` if bad."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"job spec {str(path)!r} not found: pass a TOML file such as "
                         "jobs/demo.toml")
    return parse_spec(path.read_text(), base_dir=path.parent, where=str(path))


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
    construction = _choice(c, "circuit", "construction", "efficient", CONSTRUCTIONS)
    modes = c.get("mode", "lcu")
    modes = [modes] if isinstance(modes, str) else modes
    if (not isinstance(modes, list) or not modes or any(m not in MODES for m in modes)
            or len(set(modes)) != len(modes)):
        raise InputError(f"circuit.mode must be one of {', '.join(MODES)} or a list of them "
                         f"(e.g. mode = [\"lcu\", \"separate\"]), got {c.get('mode')!r}")
    if construction == "spectral" and terms != 2:
        raise InputError(f"circuit.construction = 'spectral' needs terms = 2, got {terms}: use "
                         "construction = 'efficient' for other R")
    if construction == "dilation" and "lcu" in modes and 2 * qubits > MAX_QUBITS:
        raise InputError(f"circuit.construction = 'dilation' needs 2 x qubits = {2 * qubits} "
                         f"qubits, above {MAX_QUBITS}: use construction = 'efficient'")
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
    n_sign_refs = len(_sign_reference_kinds(construction, "lcu", terms))
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
    angles = np.asarray(state[p + "angles"].detach().double().numpy())
    if p + "alpha" not in state:
        raise InputError(f"circuit.checkpoint has {p}angles but no {p}alpha")
    alpha = np.asarray(state[p + "alpha"].detach().double().numpy())
    if angles.shape != (c.terms, m) or alpha.shape != (c.terms,):
        raise InputError(f"circuit.checkpoint {p}angles has shape {tuple(angles.shape)}, alpha "
                         f"{tuple(alpha.shape)}; the spec needs ({c.terms}, {m}) and "
                         f"({c.terms},) for {c.qubits} qubits, {c.layout}, {c.terms} terms: "
                         "fix circuit.qubits/terms/layout")
    if np.any(alpha == 0):
        raise InputError(f"circuit.checkpoint {p}alpha has zeros ({alpha}): an untrained "
                         "adapter; drop those terms")
    return angles, alpha


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
        if x.ndim != 2 or x.shape[1] != n or x.shape[0] < i.count:
            raise InputError(f"inputs.path array has shape {x.shape}: need (N >= {i.count}, {n})")
        x = np.asarray(x[: i.count], dtype=np.float64)
    else:
        from hwadapt.training.data import load_mnist

        data = load_mnist(hidden=n, split_seed=i.seed)
        x = data.x_val[: i.count].double().numpy()
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.all(np.isfinite(x)):
        raise InputError("inputs contain a zero or non-finite vector: unary loading needs "
                         "non-zero finite vectors")
    return x / norms


# ----------------------------------------------------------------------------------------
# Spec -> circuit families (built only through hwadapt.circuits' public functions).
# ----------------------------------------------------------------------------------------

@dataclass
class Family:
    """One circuit family: a parametrised, measured circuit and one binding per input.

    ``circuit`` measures every qubit into one register (clbit i = qubit i, data qubits
    ``0..n_data-1`` then ``n_ancilla`` ancillas); ``values (count, P)`` follows
    ``circuit.parameters`` order. Accepted outcomes: ancillas all 0 and data Hamming weight
    ``weight`` (B's ``postselect``).
    """

    name: str
    circuit: Any
    values: np.ndarray
    n_data: int
    n_ancilla: int
    weight: int = 1
    calibration: int = 0  # the last `calibration` rows of `values` bind calibration inputs

    def accept(self, outcomes: np.ndarray) -> np.ndarray:
        """Boolean mask of accepted outcomes (ints, clbit i = bit i)."""
        from hwadapt.circuits.lcu import postselect

        return postselect(np.asarray(outcomes), self.n_data, self.n_ancilla, self.weight)


SIGN_TERMS = 2
"""LCU terms that serve as sign references (efficient/spectral lcu): two, so that every
component has a reference it can see (a blind spot needs both ``|(O_0 x)_j|`` and
``|(O_1 x)_j|`` near 0); each costs one family of shots and no extra gates."""


def _sign_reference_kinds(construction: str, mode: str, terms: int) -> list[str]:
    if construction == "textbook":
        return ["uniform"]
    if construction in ("efficient", "spectral") and mode == "lcu" and terms >= 2:
        return [f"term{k}" for k in range(min(terms, SIGN_TERMS))]
    return ["input"]


def sign_references(spec: JobSpec, mode: str = "lcu") -> dict[str, str]:
    """Sign families of ``mode`` and their reference kinds, e.g. ``{"signs": "term0",
    "signs1": "term1"}`` (efficient/spectral lcu with ``R >= 2``: ``V_ref = sign(α_k) U_k``,
    the magnitude circuit's gates with other PREPARE weights); ``{"signs": "uniform"}``
    (textbook, :mod:`hwadapt.circuits.signs`), else ``{"signs": "input"}`` (``V_ref = I``).
    All input-independent except the textbook's."""
    kinds = _sign_reference_kinds(spec.circuit.construction, mode, spec.circuit.terms)
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


def lcu_scale(spec: JobSpec, angles: np.ndarray, alphas: np.ndarray) -> float:
    """``K0`` of the ``lcu`` magnitude family: ``‖α‖₁`` (LCU) or ``‖M‖₂`` (dilation)."""
    if spec.circuit.construction == "dilation":
        from hwadapt.circuits.dilation import combination_matrix

        return float(np.linalg.norm(combination_matrix(angles, alphas, spec.circuit.qubits,
                                                       spec.circuit.layout), 2))
    return float(np.abs(alphas).sum())


def build_families(spec: JobSpec) -> list[Family]:
    """The circuit families of ``spec``, named as :attr:`JobSpec.family_names`.

    Every family is one circuit whose only parameters are the unary loader's
    ``ParameterVector("x", n-1)``; ``values (count, n-1)`` holds one binding per input.
    """
    from qiskit.circuit import ParameterVector

    from hwadapt.circuits.loaders import unary_angles, unary_loader

    angles, alphas = adapter_parameters(spec)
    x = input_vectors(spec)
    n, c = spec.circuit.qubits, spec.circuit
    n_cal = 0
    if spec.calibration is not None:  # same template, more bindings: the targets' rows first
        x = np.concatenate([x, calibration_vectors(spec)])
        n_cal = spec.calibration.inputs
    loader = unary_loader(n, ParameterVector("x", n - 1))
    values = np.stack([unary_angles(v) for v in x])
    out = []
    for mode in c.modes:
        if mode == "lcu":
            lcu_values = values
            if c.construction == "spectral":  # the loader takes the folded input Qᵀx
                from hwadapt.circuits.spectral_lcu import spectral_basis

                Q, _, _ = spectral_basis(angles, n, c.layout)
                lcu_values = np.stack([unary_angles(v) for v in x @ Q])
            for fam in c.families:
                kinds = sign_references(spec, "lcu") if fam == "signs" else {fam: None}
                for name, kind in kinds.items():
                    qc, n_anc = _lcu_family_circuit(spec, angles, alphas, loader,
                                                    fam == "signs", kind)
                    out.append(_measured(name, qc, lcu_values, n, n_anc, n_cal))
            continue
        for i in range(c.terms):
            for fam in c.families:
                qc, n_anc = _term_circuit(spec, angles[i], loader, fam == "signs")
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


def _lcu_family_circuit(spec: JobSpec, angles: np.ndarray, alphas: np.ndarray, loader,
                        signs: bool, kind: str | None = None):
    """``(circuit, n_ancilla)`` of the lcu-mode magnitude (``signs=False``) or signs family
    (reference ``kind`` of :func:`sign_references`, default the first)."""
    from hwadapt.circuits.adapter import adapter_circuit
    from hwadapt.circuits.lcu import lcu_ancillas, lcu_circuit
    from hwadapt.circuits.signs import default_beta, sign_circuits

    n, c = spec.circuit.qubits, spec.circuit
    beta = default_beta(alphas)
    if c.construction == "textbook":
        adapters = [adapter_circuit(n, list(th), c.layout) for th in angles]
        if signs:
            qc = sign_circuits(adapters, alphas, loader, reference="uniform")["signs"]
            return qc, lcu_ancillas(len(alphas) + 1)
        return lcu_circuit(adapters, list(alphas), state_prep=loader), lcu_ancillas(len(alphas))
    if c.construction == "efficient":
        from hwadapt.circuits.efficient_lcu import (
            efficient_lcu_circuit,
            efficient_sign_circuit,
            term0_alphas,
        )

        if signs:
            ref = kind or sign_reference(spec, "lcu")
            if ref.startswith("term"):
                al = term0_alphas(alphas, beta, int(ref[4:]))
                return efficient_lcu_circuit(angles, al, loader, layout=c.layout), \
                    lcu_ancillas(len(alphas))
            qc = efficient_sign_circuit(angles, alphas, loader, reference=ref, beta=beta,
                                        layout=c.layout)
            return qc, lcu_ancillas(len(alphas) + (ref == "input"))
        return efficient_lcu_circuit(angles, alphas, loader, layout=c.layout), \
            lcu_ancillas(len(alphas))
    if c.construction == "spectral":
        from hwadapt.circuits.efficient_lcu import term0_alphas
        from hwadapt.circuits.spectral_lcu import spectral_lcu_circuit

        al = term0_alphas(alphas, beta, int((kind or "term0")[4:])) if signs else alphas
        return spectral_lcu_circuit(angles, al, layout=c.layout, state_prep=loader), 1
    from hwadapt.circuits.dilation import combination_matrix, dilation_circuit

    M = combination_matrix(angles, alphas, n, c.layout)
    s = float(np.linalg.norm(M, 2))
    x_params = list(loader.parameters)
    if signs:
        qc, _ = dilation_circuit(M + beta * np.eye(n), x_params, scale=s + beta)
    else:
        qc, _ = dilation_circuit(M, x_params, scale=s)
    return qc, n


def _term_circuit(spec: JobSpec, theta: np.ndarray, loader, signs: bool):
    """``(circuit, n_ancilla)`` of one term of the separate mode (``U_i x``, α = 1, β = 1)."""
    from hwadapt.circuits.adapter import adapter_circuit

    n, c = spec.circuit.qubits, spec.circuit
    if not signs:
        from hwadapt.circuits.efficient_lcu import separate_circuits

        x_params = list(loader.parameters)
        return separate_circuits(theta[None, :], x_params, c.layout)[0], 0
    if c.construction == "textbook":
        from hwadapt.circuits.signs import sign_circuits

        return sign_circuits([adapter_circuit(n, list(theta), c.layout)], [1.0], loader,
                             reference="uniform", beta=1.0)["signs"], 1
    from hwadapt.circuits.efficient_lcu import efficient_sign_circuit

    return efficient_sign_circuit(theta[None, :], [1.0], loader, reference="input", beta=1.0,
                                  layout=c.layout), 1
