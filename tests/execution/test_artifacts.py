"""families.npz read without numpy (what `status` does) gives what np.load gives, for random
families; anything the light reader does not expect falls back to numpy."""

import json

import numpy as np
import pytest

from hwadapt.execution.artifacts import _npz_meta


@pytest.mark.parametrize("seed", range(4))
def test_npz_meta_equals_np_load(tmp_path, seed):
    rng = np.random.default_rng(seed)
    meta = [{"name": f"fam{j}é", "rates": rng.random(3).tolist(), "calibration": int(j)}
            for j in range(int(rng.integers(1, 5)))]
    arrays = {f"values{j}": rng.random((int(rng.integers(0, 40)), int(rng.integers(1, 9))))
              for j in range(len(meta))}
    path = tmp_path / "families.npz"
    text = json.dumps(meta) + " " * int(rng.integers(0, 3))  # padding the header changes
    np.savez(path, meta=np.array(text), **arrays)
    with np.load(path) as z:
        want = json.loads(str(z["meta"])), [len(z[f"values{j}"]) for j in range(len(meta))]
    assert _npz_meta(path) == want
    big = tmp_path / "big.npz"  # a big-endian string array decodes too
    np.savez(big, meta=np.array(text).astype(">U"), **arrays)
    assert _npz_meta(big) == want


def test_npz_meta_refuses_what_it_does_not_know(tmp_path):
    path = tmp_path / "families.npz"
    np.savez(path, meta=np.array([1, 2]), values0=np.zeros((2, 1)))
    with pytest.raises(ValueError):
        _npz_meta(path)
