"""One circuit's counts in one form: ``{outcome index: count}`` (clbit i = bit i of the
index, Qiskit's little-endian order), whatever the primitive or mitigator returned."""

from __future__ import annotations

from typing import Any

import numpy as np

from hwadapt.errors import InputError

CountsLike = Any  # Mapping[str | int, float] or qiskit.primitives.BitArray


def int_counts(counts: CountsLike) -> dict[int, float]:
    """Normalise one circuit's counts to ``{outcome index: count}``.

    Accepts a ``BitArray`` (one binding), or a mapping keyed by bitstrings (``"0101"``,
    little-endian as Qiskit prints them; spaces between registers are dropped), ``"0x.."``
    hex strings, or ints. Values may be floats (quasi-counts).
    """
    if hasattr(counts, "get_int_counts"):
        if getattr(counts, "shape", ()) not in ((), (1,)):
            raise InputError(f"one BitArray binding expected, got shape {counts.shape}: index "
                             "the sweep axes first")
        if counts.num_bits > 62:
            return {int(k): float(v) for k, v in counts.get_int_counts().items()}
        arr = np.asarray(counts.array, dtype=np.int64).reshape(-1, counts.array.shape[-1])
        weights = 1 << (8 * np.arange(arr.shape[-1] - 1, -1, -1, dtype=np.int64))  # big-endian
        vals, freq = np.unique(arr @ weights, return_counts=True)
        return {int(k): float(v) for k, v in zip(vals, freq, strict=True)}
    out: dict[int, float] = {}
    for key, value in dict(counts).items():
        if isinstance(key, str):
            key = key.replace(" ", "")
            idx = int(key, 16) if key.startswith("0x") else int(key, 2)
        else:
            idx = int(key)
        out[idx] = out.get(idx, 0.0) + float(value)
    return out
