"""Shared adapter layer machinery.

:class:`AdapterLayer` wraps a frozen ``nn.Linear`` (``.base_layer``) and adds ``ΔW``:
``y = base_layer(x) + ΔW x`` with ``ΔW`` of shape ``(d_out, d_in)`` (``.delta_weight()``).
:class:`MatrixAdapter` is the linear-combination family ``ΔW = Σ_{i<R} α_i crop(F(A_i))``
(compound, hamming) with ``α`` initialised to 0, so the adapted model equals the pretrained
one at step 0, and base matrices ``A_i`` (``n x n``) that are free, orthogonal (Givens
angles, pyramid order) or Cayley.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from hwadapt.adapters.config import AdapterConfig
from hwadapt.linalg import givens_matrix, num_angles

# "auto" path: build the dense ΔW when its padded side is at most this, else apply to vectors
DENSE_MAX_DIM = 1024


class AdapterLayer(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable ``ΔW``. Subclasses define ``delta_weight()``
    and may override ``delta(x)`` (``ΔW x`` without forming ``ΔW``)."""

    def __init__(self, base_layer: nn.Linear, config: AdapterConfig):
        super().__init__()
        if not isinstance(base_layer, nn.Linear):
            raise ValueError(f"adapters wrap nn.Linear layers, got {type(base_layer).__name__}")
        self.base_layer = base_layer
        self.config = config
        self.d_in, self.d_out = base_layer.in_features, base_layer.out_features
        for p in base_layer.parameters():
            p.requires_grad_(False)

    def delta_weight(self) -> torch.Tensor:
        """Dense ``ΔW``, shape ``(d_out, d_in)`` (differentiable)."""
        raise NotImplementedError

    def _check_width(self, x: torch.Tensor) -> None:
        """Paths that reshape, pad or hand ``x`` to a kernel check its width first."""
        if x.shape[-1] != self.d_in:
            raise ValueError(f"input has {x.shape[-1]} features but the adapted layer takes "
                             f"d_in={self.d_in}: pass a (..., {self.d_in}) tensor")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (..., d_in) -> (..., d_out)``: ``W0 x + b + ΔW x``."""
        return self.base_layer(x) + F.linear(x, self.delta_weight())

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with weight ``W0 + ΔW`` and the same bias."""
        base = self.base_layer
        out = nn.Linear(self.d_in, self.d_out, bias=base.bias is not None,
                        device=base.weight.device, dtype=base.weight.dtype)
        out.weight.copy_(base.weight + self.delta_weight())
        if base.bias is not None:
            out.bias.copy_(base.bias)
        for p, q in zip(out.parameters(), base.parameters(), strict=True):
            p.requires_grad_(q.requires_grad)
        return out


class MatrixAdapter(AdapterLayer):
    """``ΔW = Σ_{i<R} α_i crop(F(A_i))`` with ``F`` a compound map of the ``n x n`` base ``A_i``.

    Parameters: ``alpha (R,)`` (zeros) and, by ``config.base``:
    ``"free"``: ``A (R, n, n)``, Haar-random orthogonal at init (well-conditioned, every
    compound orthogonal so ``‖F(A)‖ = 1``, and distinct per term so the R terms do not stay
    identical under gradient descent); ``"orthogonal"``: ``angles (R, n(n-1)/2)``, uniform in
    ``[0, 2π)``, ``A_i = givens_matrix(n, angles[i], "pyramid")`` (= RBS circuit angles);
    ``"cayley"``: ``skew (R, n(n-1)/2)`` ~ N(0, 1), ``A_i = (I - S_i)^-1 (I + S_i)`` with
    ``S_i`` skew-symmetric with upper triangle ``skew[i]`` (row-major ``triu`` order).
    Subclasses set ``self.n``, ``self.dim`` (padded side of ``F(A)``) and define
    ``_flat(A) -> (R, N)`` (the ``N`` entries of ``F(A_i)`` that can be nonzero, in any fixed
    order), ``_flat_rows_cols() -> (rows (N,), cols (N,))`` (their places in the padded
    ``dim x dim`` matrix) and ``_apply_factors(x (..., 1, dim)) -> (..., R, dim)``.
    Dense path: ``α`` is combined on the flat entries first (``α @ flat``, ``(N,)``), then
    ONE scatter of the entries inside the ``d_out x d_in`` crop; no ``R x dim x dim`` tensor.
    """

    def __init__(self, base_layer: nn.Linear, config: AdapterConfig, n: int, dim: int):
        super().__init__(base_layer, config)
        self.n, self.dim, self.rank, self.base = n, dim, config.rank, config.base
        self.path = config.path
        if self.path == "auto":
            self.path = "dense" if dim <= DENSE_MAX_DIM else "apply"
        R, w = config.rank, base_layer.weight
        kw = dict(dtype=w.dtype, device=w.device)
        self.alpha = nn.Parameter(torch.zeros(R, **kw))
        if self.base == "free":
            self.A = nn.Parameter(torch.stack([_haar_orthogonal(n, **kw) for _ in range(R)]))
        elif self.base == "orthogonal":
            if n < 2:
                raise ValueError(f"base='orthogonal' needs n >= 2, got n={n}: set qubits >= 2")
            self.angles = nn.Parameter(torch.rand(R, num_angles(n, "pyramid"), **kw) * 2 * math.pi)
        else:  # cayley
            self.skew = nn.Parameter(torch.randn(R, n * (n - 1) // 2, **kw))

    def base_matrices(self) -> torch.Tensor:
        """The base matrices ``A_i``, shape ``(R, n, n)``."""
        if self.base == "free":
            return self.A
        if self.base == "orthogonal":
            return givens_matrix(self.n, self.angles, "pyramid")
        n = self.n
        r, c = torch.triu_indices(n, n, 1, device=self.skew.device)
        S = self.skew.new_zeros(self.rank, n, n)
        S[:, r, c] = self.skew
        S = S - S.mT
        eye = torch.eye(n, dtype=S.dtype, device=S.device)
        return torch.linalg.solve(eye - S, eye + S)

    def _combined(self) -> torch.Tensor:
        """``Σ_i α_i F(A_i)`` on the flat entries, ``(N,)``: α first, before any scatter."""
        return self.alpha @ self._flat(self.base_matrices())

    def _delta_flat(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pos, vals)``: the entries of ``ΔW`` that can be nonzero, ``vals`` at flat
        positions ``pos`` of the row-major ``(d_out, d_in)`` matrix (positions distinct)."""
        vals = self._combined()
        pos, sel = self._crop_index(vals.device)
        return pos, (vals if sel is None else vals.index_select(0, sel))

    def _crop_index(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``pos`` (row-major in ``d_out x d_in``) of the flat entries inside the crop and
        their indices ``sel`` in the flat vector (``None``: all of them); cached per device."""
        cache = self.__dict__.setdefault("_crop_cache", {})
        if device not in cache:
            rows, cols = self._flat_rows_cols()
            keep = (rows < self.d_out) & (cols < self.d_in)
            sel = keep.nonzero().flatten()
            pos = (rows[sel] * self.d_in + cols[sel]).to(device)
            cache[device] = (pos, None if bool(keep.all()) else sel.to(device))
        return cache[device]

    def delta_weight(self) -> torch.Tensor:
        pos, vals = self._delta_flat()
        flat = vals.new_zeros(self.d_out * self.d_in).index_copy(0, pos, vals)
        return flat.view(self.d_out, self.d_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_width(x)
        base = self.base_layer
        if self.path == "dense":  # one matmul: (W0 + ΔW) x + b, ΔW scattered into W0
            pos, vals = self._delta_flat()
            # vals in W0's dtype: under autocast α @ flat comes out in the low precision
            W = base.weight.flatten().index_add(0, pos, vals.to(base.weight.dtype))
            W = W.view_as(base.weight)
            return F.linear(x, W, base.bias)
        xp = F.pad(x, (0, self.dim - self.d_in))[..., None, :]  # (..., 1, dim)
        y = self._apply_factors(xp)[..., : self.d_out]  # (..., R, d_out)
        return base(x) + torch.einsum("r,...rd->...d", self.alpha, y)

    def _flat(self, A: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _flat_rows_cols(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _apply_factors(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def _haar_orthogonal(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    Q, R = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64))
    Q = Q * torch.sign(torch.diagonal(R))  # sign fix: Haar distributed
    return Q.to(dtype=dtype, device=device)
