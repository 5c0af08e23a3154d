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
    [execution]
    optimization_level = 1        # transpiler preset level 0..3

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
SOURCES = ("random", "mnist", "file")
MAX_QUBITS = 24

_ALLOWED = {
    "": {"name", "seed", "circuit", "inputs", "shots", "execution"},
    "circuit": {"qubits", "encoding", "layout", "terms", "alphas", "angles", "angle_scale",
                "angle_seed", "checkpoint", "layer", "families"},
    "inputs": {"count", "source", "seed", "path"},
    "shots": {"target_accepted", "budget", "max_rounds", "pilot"},
    "execution": {"optimization_level"},
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
class JobSpec:
    """A validated job spec; ``text`` is the TOML it came from (stored in the ledger)."""

    name: str
    seed: int
    circuit: CircuitSpec
    inputs: InputSpec = field(default_factory=InputSpec)
    shots: ShotSpec = field(default_factory=ShotSpec)
    optimization_level: int = 1
    text: str = ""
    base_dir: Path = Path(".")

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
    for section in ("circuit", "inputs", "shots", "execution"):
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
    layer = c.get("layer")
    if layer is not None and not isinstance(layer, str):
        raise InputError("circuit.layer must be a string naming the adapted layer, e.g. 'fc1'")
    circuit = CircuitSpec(
        qubits=qubits, encoding=_choice(c, "circuit", "encoding", "unary", ENCODINGS),
        layout=layout, terms=terms, alphas=tuple(float(a) for a in alphas), angles=angles,
        angle_scale=_float(c, "circuit", "angle_scale", math.pi, 0.0, 100.0),
        angle_seed=_int(c, "circuit", "angle_seed", None, 0, 2**63 - 1, required=False),
        checkpoint=checkpoint, layer=layer, families=tuple(families))

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
    if shots.budget < shots.target_accepted * inputs.count * len(families):
        raise InputError(
            f"shots.budget = {shots.budget} is below target_accepted x inputs.count x families "
            f"= {shots.target_accepted * inputs.count * len(families)}: raise the budget or "
            "lower target_accepted")
    name = data.get("name", "job")
    if not isinstance(name, str) or not name.strip():
        raise InputError("name must be a non-empty string, e.g. name = \"demo\"")
    return JobSpec(name=name, seed=_int(data, "", "seed", 0, 0, 2**63 - 1), circuit=circuit,
                   inputs=inputs, shots=shots,
                   optimization_level=_int(e, "execution", "optimization_level", 1, 0, 3),
                   text=text, base_dir=base_dir)


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

    def accept(self, outcomes: np.ndarray) -> np.ndarray:
        """Boolean mask of accepted outcomes (ints, clbit i = bit i)."""
        from hwadapt.circuits.lcu import postselect

        return postselect(np.asarray(outcomes), self.n_data, self.n_ancilla, self.weight)


def build_families(spec: JobSpec) -> list[Family]:
    """The circuit families of ``spec`` in ``spec.circuit.families`` order."""
    builders = {"magnitude": _magnitude_family, "signs": _signs_family}
    angles, alphas = adapter_parameters(spec)
    x = input_vectors(spec)
    return [builders[name](spec, angles, alphas, x) for name in spec.circuit.families]


def _magnitude_family(spec: JobSpec, angles: np.ndarray, alphas: np.ndarray,
                      x: np.ndarray) -> Family:
    """Unary loader (one ParameterVector, one binding per input) + LCU of the adapters."""
    from qiskit.circuit import ParameterVector

    from hwadapt.circuits.adapter import adapter_circuit
    from hwadapt.circuits.lcu import lcu_ancillas, lcu_circuit
    from hwadapt.circuits.loaders import unary_angles, unary_loader

    n = spec.circuit.qubits
    pv = ParameterVector("x", n - 1)
    adapters = [adapter_circuit(n, list(th), spec.circuit.layout) for th in angles]
    qc = lcu_circuit(adapters, list(alphas), state_prep=unary_loader(n, pv))
    qc.measure_all()
    values = np.stack([unary_angles(v) for v in x])
    return Family("magnitude", qc, values, n, lcu_ancillas(len(alphas)), 1)


def _signs_family(spec: JobSpec, angles: np.ndarray, alphas: np.ndarray,
                  x: np.ndarray) -> Family:
    from hwadapt.circuits import signs

    return signs.sign_family(spec, angles, alphas, x)
