"""TOML text -> validated :class:`JobSpec` (:func:`load_spec`, :func:`parse_spec`), and the
Runtime sampler options of a stored spec (:func:`sampler_options`)."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

from hwadapt.circuits import constructions
from hwadapt.errors import InputError
from hwadapt.execution.shots import ShotSpec
from hwadapt.spec.fields import _check_keys, _choice, _float, _int, _is_num, _path, check_alphas
from hwadapt.spec.model import (
    DD_SEQUENCES,
    ENCODINGS,
    FAMILIES,
    LAYOUTS,
    MAX_FRAME_QUBITS,
    MAX_QUBITS,
    MODES,
    SOURCES,
    CalibrationSpec,
    CircuitSpec,
    InputSpec,
    JobSpec,
    _sampler_options,
)
from hwadapt.spec.observables import observable_spec


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
    data = _tables(text, where)
    e = data.get("execution", {})
    circuit = _circuit(data["circuit"], base_dir)
    inputs = _inputs(data.get("inputs", {}), circuit.qubits, base_dir)
    shots = _shots(data.get("shots", {}))
    seed = _int(data, "", "seed", 0, 0, 2**63 - 1)
    calibration = _calibration(data["calibration"], seed) if "calibration" in data else None
    dd = e.get("dynamical_decoupling", "off")
    if dd not in DD_SEQUENCES:
        raise InputError(f"execution.dynamical_decoupling = {dd!r} is not supported: use one "
                         f"of {', '.join(DD_SEQUENCES)}")
    observables = observable_spec(data, circuit.qubits, circuit.families, circuit.modes, dd)
    if observables is None:  # an Estimator run has no [shots] budget
        _check_budget(circuit, inputs, shots, calibration)
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
                   calibration=calibration, zne_factors=_zne(data.get("mitigation", {})),
                   max_qpu_seconds=(_float(e, "execution", "max_qpu_seconds", 0, 1e-3, 1e9)
                                    if "max_qpu_seconds" in e else None),
                   mode=_choice(e, "execution", "mode", None, ("job", "batch", "session"))
                   if "mode" in e else None,
                   observables=observables)


def _tables(text: str, where: str) -> dict:
    """The TOML ``text`` as a dict whose tables and keys are all known; ``[circuit]`` present."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{where} is not valid TOML ({e}): fix the syntax") from None
    _check_keys(data, "")
    for section in ("circuit", "inputs", "shots", "execution", "calibration", "mitigation",
                    "observables", "estimator"):
        if section in data and not isinstance(data[section], dict):
            raise InputError(f"{section!r} must be a table: write [{section}]")
        _check_keys(data.get(section, {}), section)
    if "circuit" not in data:
        raise InputError("missing [circuit] table: add it with at least `qubits = 8`")
    return data


def _alphas(c: dict, terms: int) -> list:
    """``circuit.alphas``: one finite non-zero number per term (default uniform ``1/terms``)."""
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
    return alphas


def _checkpoint(c: dict, angles: str, base_dir: Path) -> Path | None:
    """``circuit.checkpoint``: required with ``angles = "checkpoint"``, refused otherwise."""
    if angles == "checkpoint":
        if "checkpoint" not in c:
            raise InputError("circuit.angles = 'checkpoint' needs circuit.checkpoint = "
                             "'<path to adapter state_dict>'")
        return _path(c, "circuit", "checkpoint", base_dir)
    if "checkpoint" in c or "layer" in c:
        raise InputError("circuit.checkpoint/layer given but circuit.angles = 'seed': set "
                         "angles = 'checkpoint' or drop them")
    return None


def _circuit(c: dict, base_dir: Path) -> CircuitSpec:
    """The ``[circuit]`` table, checked against its construction's limits."""
    qubits = _int(c, "circuit", "qubits", None, 2, MAX_QUBITS)
    terms = _int(c, "circuit", "terms", 2, 1, 64)
    alphas = _alphas(c, terms)
    layout = _choice(c, "circuit", "layout", "pyramid", LAYOUTS)
    if layout == "butterfly" and qubits & (qubits - 1):
        raise InputError(f"circuit.layout = 'butterfly' needs a power-of-two circuit.qubits, "
                         f"got {qubits}: use pyramid or 4/8/16 qubits")
    angles = _choice(c, "circuit", "angles", "seed", ("seed", "checkpoint"))
    checkpoint = _checkpoint(c, angles, base_dir)
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
    return CircuitSpec(
        qubits=qubits, encoding=_choice(c, "circuit", "encoding", "unary", ENCODINGS),
        layout=layout, terms=terms, alphas=tuple(float(a) for a in alphas), angles=angles,
        angle_scale=_float(c, "circuit", "angle_scale", math.pi, 0.0, 100.0),
        angle_seed=_int(c, "circuit", "angle_seed", None, 0, 2**63 - 1, required=False),
        checkpoint=checkpoint, layer=layer, families=tuple(families),
        construction=construction, modes=tuple(modes))


def _inputs(i: dict, qubits: int, base_dir: Path) -> InputSpec:
    """The ``[inputs]`` table (``path`` only with ``source = "file"``)."""
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
    return InputSpec(
        count=_int(i, "inputs", "count", 16, 1, 100_000), source=source,
        seed=_int(i, "inputs", "seed", 0, 0, 2**63 - 1),
        path=_path(i, "inputs", "path", base_dir) if source == "file" else None)


def _shots(s: dict) -> ShotSpec:
    """The ``[shots]`` table."""
    return ShotSpec(
        target_accepted=_int(s, "shots", "target_accepted", 4000, 1, 10**9),
        budget=_int(s, "shots", "budget", 2_000_000, 1, 10**12),
        max_rounds=_int(s, "shots", "max_rounds", 4, 1, 100),
        pilot=_int(s, "shots", "pilot", 1024, 1, 10**7),
        batch_bindings=_int(s, "shots", "batch_bindings", 0, 0, 10**7))


def _check_budget(circuit: CircuitSpec, inputs: InputSpec, shots: ShotSpec,
                  calibration: CalibrationSpec | None) -> None:
    """:class:`InputError` unless ``shots.budget`` covers every family's target shots for every
    input plus the calibration inputs' shots."""
    families, terms, modes = circuit.families, circuit.terms, circuit.modes
    con = constructions.get(circuit.construction)
    per_mode = {m: len(families) + ("signs" in families) * (len(con.sign_references(terms, m)) - 1)
                for m in modes}  # a mode's families per set of terms (several sign families)
    n_fam = per_mode.get("lcu", 0) + per_mode.get("separate", 0) * terms
    cal_shots = calibration.inputs * calibration.shots * n_fam if calibration else 0
    if shots.budget < shots.target_accepted * inputs.count * n_fam + cal_shots:
        raise InputError(
            f"shots.budget = {shots.budget} is below target_accepted x inputs.count x families "
            f"+ calibration inputs x shots x families "
            f"= {shots.target_accepted * inputs.count * n_fam + cal_shots}: raise the budget "
            "or lower target_accepted (or the calibration)")


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



def sampler_options(text: str) -> dict:
    """Runtime sampler options of the ``[execution]`` table of a stored spec ``text`` (any
    other table may be missing: runs created from ready-made families store no circuit)."""
    e = tomllib.loads(text).get("execution", {})
    dd, twirling = e.get("dynamical_decoupling", "off"), e.get("twirling", False)
    if dd not in DD_SEQUENCES or not isinstance(twirling, bool):
        raise InputError(f"stored spec has a bad [execution] table ({e}): fix the spec")
    return _sampler_options(dd, twirling)
