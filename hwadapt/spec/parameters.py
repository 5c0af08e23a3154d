"""Spec -> numbers: adapter angles ``(R, m)`` and LCU weights ``(R,)`` (seeded or from a
checkpoint), input vectors and calibration vectors (unit rows)."""

from __future__ import annotations

import numpy as np

from hwadapt.errors import InputError
from hwadapt.spec.fields import check_alphas
from hwadapt.spec.model import JobSpec


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
    found = sorted(k[: -len("angles")] for k in state if k.endswith("angles"))
    prefixes = [p for p in found if c.layer is None or p.rstrip(".") == c.layer]
    bases = {"A": "free", "skew": "cayley"}  # other bases' parameters, no RBS angles
    wrong = sorted((k, bases[name]) for k in state for layer, _, name in [k.rpartition(".")]
                   if name in bases and c.layer in (None, layer))
    if not prefixes and wrong:
        key, base = wrong[0]
        raise InputError(f"circuit.checkpoint: {key} is a {base}-base adapter's, not RBS "
                         "angles: circuits need an adapter trained with "
                         "AdapterConfig('hamming', base='orthogonal')")
    if len(prefixes) != 1:
        layers = [p.rstrip(".") for p in found] or "none"
        raise InputError("circuit.checkpoint: " + (
            f"no adapted layer {c.layer!r}; " if c.layer is not None else "") +
            f"found adapted layers {layers} with .angles; set circuit.layer to exactly one of "
            "them")
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



def calibration_vectors(spec: JobSpec) -> np.ndarray:
    """Calibration inputs ``(inputs, qubits)`` of ``[calibration]`` (unit rows)."""
    from hwadapt.mitigation.calibration import calibration_inputs

    cal = spec.calibration
    return calibration_inputs(spec.circuit.qubits, cal.inputs, cal.seed, cal.kind)
