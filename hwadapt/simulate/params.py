"""Gate parameters as *slots*: each slot is ``const + Σ_p coeff_p·value_p`` over the circuit's
parameters (linear expressions keep gradients), or a non-linear expression evaluated
numerically per binding (no gradient). Values come as a mapping or an array ``(..., P)`` in
``circuit.parameters`` order (a Sampler PUB's parameter array)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from qiskit.circuit import Parameter, ParameterExpression, ParameterVector, QuantumCircuit

from hwadapt.simulate.xp import NUMPY


def is_free(x) -> bool:
    """Whether ``x`` is an expression with unbound parameters."""
    return isinstance(x, ParameterExpression) and bool(x.parameters)


def _linearise(expr: ParameterExpression) -> tuple | None:
    coeffs = []
    for p in expr.parameters:
        g = expr.gradient(p)
        if isinstance(g, ParameterExpression):
            if g.parameters:
                return None
            g = g.numeric()
        coeffs.append((p, float(g)))
    try:
        const = float(expr.bind({p: 0.0 for p in expr.parameters}).numeric())
    except (ZeroDivisionError, ValueError, TypeError):
        return None
    return const, coeffs


class Slots:
    """The slots of one circuit's parameterised gates (built at plan time)."""

    def __init__(self, circuit: QuantumCircuit):
        self.params = list(circuit.parameters)
        self._index = {p: i for i, p in enumerate(self.params)}
        self.const: list[float] = []
        self.entries: list[tuple[int, int, float]] = []  # (slot, parameter, coefficient)
        self.nonlinear: list[tuple[int, ParameterExpression, float, float]] = []
        self._cache: dict = {}

    def __len__(self) -> int:
        return len(self.const)

    def knows(self, p: Parameter) -> bool:
        """Whether ``p`` is one of the circuit's parameters."""
        return p in self._index

    def add(self, x, scale: float = 1.0, offset: float = 0.0) -> int:
        """Slot holding ``scale·x + offset`` (``x`` a number or an expression)."""
        key = (x, scale, offset) if isinstance(x, ParameterExpression) else None
        if key is not None and key in self._cache:
            return self._cache[key]
        s = len(self.const)
        if not is_free(x):
            self.const.append(scale * float(x.numeric() if isinstance(x, ParameterExpression)
                                             else x) + offset)
            return s
        unknown = [p.name for p in x.parameters if p not in self._index]
        if unknown:
            raise ValueError(f"gate parameters {unknown[:5]} are not parameters of the circuit "
                             "(a definition left unbound)")
        lin = (0.0, [(x, 1.0)]) if isinstance(x, Parameter) else _linearise(x)
        if lin is None:
            self.const.append(0.0)
            self.nonlinear.append((s, x, scale, offset))
        else:
            self.const.append(scale * lin[0] + offset)
            self.entries += [(s, self._index[p], scale * c) for p, c in lin[1]]
        self._cache[key] = s
        return s

    def freeze(self) -> None:
        """Arrays for :meth:`evaluate` (call once, after the last :meth:`add`)."""
        e = np.array(self.entries, dtype=float).reshape(-1, 3)
        self._c = np.array(self.const, dtype=np.float64)
        self._slot = e[:, 0].astype(np.int64)
        self._param = e[:, 1].astype(np.int64)
        self._coeff = e[:, 2].copy()
        self._nl_slots = np.array([s for s, *_ in self.nonlinear], dtype=np.int64)

    def table(self, values, xp=NUMPY) -> tuple[object, tuple[int, ...]]:
        """``(values (B, P) float64 or None, batch shape)`` from user parameter values, as
        ``xp``'s arrays (:mod:`.xp`: numpy, or torch tensors keeping their gradients)."""
        params = self.params
        if values is None:
            if params:
                raise ValueError(f"circuit has {len(params)} unbound parameters: pass "
                                 "parameter_values (mapping or array (..., P))")
            return None, ()
        if isinstance(values, Mapping):
            cols = {}
            for key, val in values.items():
                t = xp.as_float(val)
                if isinstance(key, ParameterVector):
                    if t.shape[-1:] != (len(key),):
                        raise ValueError(f"{key.name} needs values (..., {len(key)}), got "
                                         f"{tuple(t.shape)}")
                    cols.update({p: t[..., i] for i, p in enumerate(key)})
                else:
                    cols[key] = t
            missing = [p.name for p in params if p not in cols]
            if missing:
                raise ValueError(f"no values for parameters {missing[:5]}")
            shapes = {tuple(cols[p].shape) for p in params}
            if len(shapes) > 1:
                raise ValueError(f"parameter values have mismatched batch shapes {shapes}")
            if not params:
                return None, ()
            table = xp.stack([cols[p] for p in params], -1)
        else:
            table = xp.as_float(values)
            if table.ndim == 0 or table.shape[-1] != len(params):
                raise ValueError(f"parameter_values must have shape (..., {len(params)}) in "
                                 f"circuit.parameters order, got {tuple(table.shape)}")
            if not params:
                return None, tuple(table.shape[:-1])
        return table.reshape(-1, len(params)), tuple(table.shape[:-1])

    def evaluate(self, table, xp=NUMPY):
        """Slot values ``(B, S)`` (``(1, S)`` without parameters) as ``xp``'s arrays: torch
        keeps the gradients of linear slots (index_add), numpy runs without torch."""
        out = xp.as_float(self._c)[None]
        if table is None:
            return out
        B = table.shape[0]
        if xp is NUMPY:
            out = np.repeat(out, B, 0)
            if self._slot.size:
                np.add.at(out, (slice(None), self._slot), table[:, self._param] * self._coeff)
            if self.nonlinear:
                out[:, self._nl_slots] = self._nonlinear_columns(table)
            return out
        out = out.expand(B, -1)
        if self._slot.size:
            contrib = table[:, xp.index(self._param)] * xp.as_float(self._coeff)
            out = out.index_add(1, xp.index(self._slot), contrib)
        if self.nonlinear:
            cols = self._nonlinear_columns(table.detach().numpy())
            out = out.index_copy(1, xp.index(self._nl_slots), xp.as_float(cols))
        return out

    def _nonlinear_columns(self, vals: np.ndarray) -> np.ndarray:
        """``(B, len(nonlinear))`` values of the non-linear slots (numeric, no gradient)."""
        return np.array([[float(expr.bind({p: vals[b, self._index[p]] for p in expr.parameters})
                                .numeric()) * scale + offset for _, expr, scale, offset in
                          self.nonlinear] for b in range(len(vals))],
                        dtype=np.float64).reshape(len(vals), len(self.nonlinear))
