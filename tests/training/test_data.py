"""MNIST data: IDX parsing (tiny files written here), errors, split, downsampling, embedded set."""

import gzip
import struct

import numpy as np
import pytest
import torch

from hwadapt.errors import InputError
from hwadapt.training.data import (
    IDX_FILES,
    downsample,
    load_idx,
    load_mnist,
    per_class_subset,
    read_idx,
    stratified_split,
)


def idx_bytes(a: np.ndarray) -> bytes:
    """Reference IDX writer (big-endian sizes, ubyte type 0x08)."""
    return (bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
            + a.astype(np.uint8).tobytes())


def write_mnist_dir(path, n_train=30, n_test=20, gz=False, seed=0, spelling=None):
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28)),
        "train_labels": np.arange(n_train) % 10,
        "test_images": rng.integers(0, 256, (n_test, 28, 28)),
        "test_labels": (np.arange(n_test) * 3) % 10,
    }
    path.mkdir(exist_ok=True)
    for key, stem in IDX_FILES.items():
        data = idx_bytes(arrays[key])
        name = stem if spelling is None else spelling(stem)
        if gz:
            (path / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (path / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    a = np.random.default_rng(1).integers(0, 256, (7, 5, 3)).astype(np.uint8)
    data = idx_bytes(a)
    f = tmp_path / "x.idx"
    f.write_bytes(gzip.compress(data) if gz else data)
    np.testing.assert_array_equal(read_idx(f), a)


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_dir(tmp_path, gz):
    arrays = write_mnist_dir(tmp_path, gz=gz)
    got = load_idx(tmp_path)
    for g, key in zip(got, IDX_FILES, strict=True):
        np.testing.assert_array_equal(g, arrays[key])


def test_load_idx_dotted_spelling(tmp_path):
    arrays = write_mnist_dir(tmp_path, spelling=lambda s: s.replace("-idx", ".idx"))
    np.testing.assert_array_equal(load_idx(tmp_path)[1], arrays["train_labels"])


def test_missing_file_and_dir(tmp_path):
    write_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(InputError, match="t10k-labels-idx1-ubyte.*not found.*data-dir"):
        load_idx(tmp_path)
    with pytest.raises(InputError, match="not a directory"):
        load_idx(tmp_path / "nope")


@pytest.mark.parametrize("bad, match", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x02ab", "bad magic"),
    (b"\x00\x00\x0d\x01\x00\x00\x00\x02ab", "type 0x0d"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "truncated or corrupt"),
    (b"\x1f\x8bnot really gzip", "not a valid gzip"),
])
def test_malformed_file(tmp_path, bad, match):
    f = tmp_path / "bad"
    f.write_bytes(bad)
    with pytest.raises(InputError, match=match):
        read_idx(f)


def test_inconsistent_files(tmp_path):
    write_mnist_dir(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(29)))
    with pytest.raises(InputError, match="holds 30 images"):
        load_idx(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(30, 12)))
    with pytest.raises(InputError, match="label 12"):
        load_idx(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((30, 28, 27))))
    with pytest.raises(InputError, match="square"):
        load_idx(tmp_path)


def test_stratified_split():
    labels = np.repeat(np.arange(10), 50)
    tr, va = stratified_split(labels, 0.2, seed=3)
    assert np.intersect1d(tr, va).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va])), np.arange(500))
    assert (np.bincount(labels[va]) == 10).all() and (np.bincount(labels[tr]) == 40).all()
    tr2, va2 = stratified_split(labels, 0.2, seed=3)
    np.testing.assert_array_equal(va, va2)
    assert not np.array_equal(va, stratified_split(labels, 0.2, seed=4)[1])
    with pytest.raises(InputError, match="strictly"):
        stratified_split(labels, 1.0, seed=0)


def test_per_class_subset():
    labels = np.repeat(np.arange(4), [5, 2, 9, 1])
    keep = per_class_subset(labels, 3, seed=0)
    np.testing.assert_array_equal(np.bincount(labels[keep]), [3, 2, 3, 1])
    np.testing.assert_array_equal(per_class_subset(labels, None, 0), np.arange(17))


def reference_area(img: np.ndarray, side: int) -> np.ndarray:
    """Adaptive average pooling by loops: bin i covers [floor(i·H/s), ceil((i+1)·H/s))."""
    H = img.shape[0]
    out = np.empty((side, side))
    for i in range(side):
        for j in range(side):
            r0, r1 = (i * H) // side, -((-(i + 1) * H) // side)
            c0, c1 = (j * H) // side, -((-(j + 1) * H) // side)
            out[i, j] = img[r0:r1, c0:c1].mean()
    return out.reshape(-1)


@pytest.mark.parametrize("width", [16, 49, 196, 256, 784])
def test_downsample_matches_reference(width):
    imgs = np.random.default_rng(width).integers(0, 256, (3, 28, 28)).astype(np.uint8)
    got = downsample(imgs, width)
    assert got.shape == (3, width) and got.dtype == torch.float32
    side = int(np.sqrt(width))
    for g, img in zip(got, imgs, strict=True):
        np.testing.assert_allclose(g.numpy(), reference_area(img.astype(float), side),
                                   rtol=1e-5, atol=1e-4)


def test_downsample_exact_blocks():
    img = np.arange(28 * 28, dtype=np.float64).reshape(1, 28, 28)
    got = downsample(img, 16)[0].numpy()  # 4x4 of 7x7 blocks
    want = img[0].reshape(4, 7, 4, 7).mean(axis=(1, 3)).reshape(-1)
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("width, match", [(200, "perfect square"), (900, "larger than")])
def test_downsample_bad_width(width, match):
    with pytest.raises(InputError, match=match):
        downsample(np.zeros((1, 28, 28)), width)


@pytest.fixture(scope="module")
def embedded():
    return load_mnist(hidden=64)


def test_embedded_split_and_normalisation(embedded):
    d = embedded
    assert d.x_train.shape == (4000, 64) and d.x_val.shape == (1000, 64)
    assert (torch.bincount(d.y_train) == 400).all() and (torch.bincount(d.y_val) == 100).all()
    assert abs(float(d.x_train.mean())) < 1e-5 and abs(float(d.x_train.std()) - 1) < 1e-4
    assert "embedded" in d.source
    again = load_mnist(hidden=64)
    assert torch.equal(again.x_train, d.x_train) and torch.equal(again.y_val, d.y_val)


def test_task_shifts_labels(embedded):
    x, y = embedded.task((5, 6, 7, 8, 9), "val")
    assert len(x) == 500 and sorted(y.unique().tolist()) == [0, 1, 2, 3, 4]
    keep = embedded.y_val >= 5
    assert torch.equal(x, embedded.x_val[keep]) and torch.equal(y, embedded.y_val[keep] - 5)


def test_load_mnist_from_idx(tmp_path):
    arrays = write_mnist_dir(tmp_path, n_train=40, n_test=20, gz=True)
    d = load_mnist(hidden=16, data_dir=tmp_path, max_per_class=3)
    assert d.x_train.shape == (30, 16) and d.x_val.shape == (20, 16)  # test: 2 per class
    assert (torch.bincount(d.y_train) == 3).all()
    assert "IDX" in d.source
    # the standardisation is the train statistics' affine map of the downsampled pixels
    keep = per_class_subset(arrays["train_labels"], 3, 0)
    raw = downsample(arrays["train_images"][keep], 16) / 255.0
    z = (raw - raw.mean()) / raw.std()
    torch.testing.assert_close(d.x_train, z)
