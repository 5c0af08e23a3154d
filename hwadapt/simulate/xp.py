"""The few array operations the simulator's maths needs, for numpy and for torch, so that gate
matrices, slot values and block updates are written once and run either as the no-grad numpy
forward pass (no torch import: a sampler submit's exact distributions) or under torch
autograd (:mod:`.run`). :func:`namespace` picks by the array's type; torch is imported only
when a torch tensor is seen or :func:`torch_ops` is asked for."""

from __future__ import annotations

import sys

import numpy as np


class NumpyOps:
    """numpy: float64 / complex128 arrays."""

    float64 = np.float64
    complex128 = np.complex128
    cos = staticmethod(np.cos)
    sin = staticmethod(np.sin)

    @staticmethod
    def stack(xs, axis: int):
        return np.stack(xs, axis)

    @staticmethod
    def cis(t):
        """``e^{it}`` as ``cos t + i sin t`` (torch.polar's formula)."""
        out = np.empty(np.shape(t), dtype=np.complex128)
        out.real, out.imag = np.cos(t), np.sin(t)
        return out

    @staticmethod
    def to_complex(x):
        return np.asarray(x).astype(np.complex128)

    @staticmethod
    def ones_complex(x):
        return np.ones(np.shape(x), dtype=np.complex128)

    @staticmethod
    def zeros_like(x):
        return np.zeros_like(x)

    @staticmethod
    def as_float(x):
        return np.asarray(x, dtype=np.float64)

    @staticmethod
    def index(a: np.ndarray):
        """An int64 index array as this namespace's index."""
        return a

    @staticmethod
    def asarray(x):
        return np.asarray(x)

    @staticmethod
    def astype(x, dtype):
        return x.astype(dtype, copy=False)

    @staticmethod
    def is_complex(x) -> bool:
        return np.iscomplexobj(x)

    @staticmethod
    def zeros(shape, dtype):
        return np.zeros(shape, dtype=dtype)

    @staticmethod
    def cat(xs, axis: int):
        return np.concatenate(xs, axis)

    @staticmethod
    def put_columns(a, idx: np.ndarray, values):
        """``a`` with columns ``idx`` set to ``values`` (numpy: in place)."""
        a[:, idx] = values
        return a

    @staticmethod
    def repeat_rows(a, n: int):
        """A writable ``(n, ...)`` copy of a one-row ``a``."""
        return np.repeat(a, n, 0)

    @staticmethod
    def broadcast_rows(a, n: int):
        """``a`` with ``n`` rows (a writable array: a one-row ``a`` is repeated)."""
        return a if len(a) == n else np.repeat(a, n, 0)

    @staticmethod
    def to_numpy(a):
        return a

    @staticmethod
    def from_numpy(a):
        return a


class TorchOps:
    """torch: float64 / complex128 tensors (autograd flows through every operation)."""

    def __init__(self):
        import torch

        self.t = torch
        self.float64 = torch.float64
        self.complex128 = torch.complex128
        self.cos, self.sin = torch.cos, torch.sin

    def stack(self, xs, axis: int):
        return self.t.stack(xs, axis)

    def cis(self, t):
        return self.t.polar(self.t.ones_like(t), t)

    def to_complex(self, x):
        return x.to(self.t.complex128)

    def ones_complex(self, x):
        return self.t.ones_like(x, dtype=self.t.complex128)

    def zeros_like(self, x):
        return self.t.zeros_like(x)

    def as_float(self, x):
        return self.t.as_tensor(x, dtype=self.t.float64)

    def index(self, a: np.ndarray):
        return self.t.from_numpy(np.ascontiguousarray(a, dtype=np.int64))

    def asarray(self, x):
        return self.t.as_tensor(x)

    def astype(self, x, dtype):
        return x.to(dtype)

    def is_complex(self, x) -> bool:
        return self.t.is_complex(x)

    def zeros(self, shape, dtype):
        return self.t.zeros(shape, dtype=dtype)

    def cat(self, xs, axis: int):
        return self.t.cat(xs, axis)

    def put_columns(self, a, idx: np.ndarray, values):
        return a.index_copy(1, self.index(idx), values)  # out of place: autograd

    def repeat_rows(self, a, n: int):
        return a.expand(n, *a.shape[1:]).clone()

    def broadcast_rows(self, a, n: int):
        return a.expand(n, *a.shape[1:])

    def to_numpy(self, a):
        return a.detach().numpy()

    def from_numpy(self, a):
        return self.t.from_numpy(a)


NUMPY = NumpyOps()
_TORCH: list[TorchOps] = []


def torch_ops() -> TorchOps:
    """The torch operations (imports torch on first use)."""
    if not _TORCH:
        _TORCH.append(TorchOps())
    return _TORCH[0]


def is_torch(x) -> bool:
    """Whether ``x`` is a torch tensor (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def namespace(x) -> NumpyOps | TorchOps:
    """The operations for ``x``'s array type."""
    return torch_ops() if is_torch(x) else NUMPY
