"""Counts → signed adapter outputs ``y = Mψ`` with standard errors (docs/MATHS.md, LCU).

Circuit families (built by :mod:`hwadapt.circuits.lcu` and :mod:`hwadapt.circuits.signs`,
measured on every qubit, classical bit ``i`` = qubit ``i``; data qubits ``0..n-1``, LCU
ancillas above them):

- ``"magnitude"``: ``M = Σ α_i U_i`` on the loaded input ψ. A raw shot lands on the HW-``k``
  basis state of component ``j`` with the ancillas at 0 with probability
  ``p_j = y_j² / K0²``, ``K0 = ‖α‖₁``; the postselection rate is ``Σ p_j = ‖y‖²/K0²``.
- ``"signs"``, ``"signs1"``, … (optional): the same LCU plus a reference term ``β·V_ref``
  that turns ψ into a known vector ``r`` (one per family, see :mod:`hwadapt.circuits.signs`
  and :func:`hwadapt.spec.sign_references`), so ``q_j = (y_j + b_j)² / K1²`` with
  ``b_j = β r_j``, ``K1 = ‖α‖₁ + β``. A reference is blind where ``b_j ≈ 0``; two references
  with different blind spots give every component one it can see.

Estimator (per component, vectorised): the square roots of the observed frequencies are
variance-stabilised, ``√p̂ ~ N(√p, (1-p)/(4D))`` for ``D`` kept-denominator shots, so we
minimise the weighted least-squares (≈ χ²) objective

    f(y) = w0 (A - |y|)² + Σ_k w_k (B_k - |y + b_k|)²,   A = K0 √p̂, B_k = K1 √q̂_k,
    w0 = 4 D0 / (K0² (1 - p̂)),  w_k = 4 D_k / (K1² (1 - q̂_k)),

which is piecewise quadratic: its minimum is one of the clipped minimisers of its pieces
(cells of constant signs), computed in closed form. Each family weighs in by its own
precision, so per component the references that see it decide its sign. Without a
reference family only ``|y|`` is known (sign reported +, confidence 0.5).

- ``stderr = sqrt(1 / (w0 + Σ w_k) + 4 (1 - c) y²)``: the inverse curvature of ``f/2`` at
  the optimum (the delta method; ``K0 sqrt((1-p)/(4D))`` for the magnitude alone — finite
  even at ``p = 0``) plus, with a sign family, the mean squared error of the sign: the
  reported sign is wrong with probability ``1 - c`` (``c`` = ``sign_confidence``) and then
  off by ``2|y|``. Without it a component that every reference is blind to (``b ≈ 0``, e.g.
  the input reference of R = 1 where ``x_j ≈ 0``) got a bar of the magnitude's curvature
  only while its sign was a coin flip: ``±0.13`` on an error of ``1.6``. Without a sign
  family the bar is the magnitude's (``|y|`` is what is compared). Shot noise only.
- ``sign_confidence``: the posterior probability of the reported sign under the likelihood
  ``exp(-f/2)`` and a flat prior on ``y`` (Gaussian integrals over the cells); the sign is
  the one with the larger posterior. Calibrated: among components with confidence ``≥ c``
  the fraction of wrong signs is about ``≤ 1 - c`` (tested), when the shots are the only
  noise. Signs are undetermined (confidence → 0.5) where ``min(|y_j|, max_k |b_kj|)`` is
  below the noise ``K1/(2√D)``: the error there is at most ``2|y_j|``, which ``stderr``
  covers.
- Hamming-weight check: every family is HW-preserving, so shots whose data qubits do not
  have weight ``k`` are errors. They are discarded and reported as ``hw_discarded`` (fraction
  of raw shots). With ``renormalize=True`` (default, the "free mitigation") frequencies are
  divided by the shots that pass the HW check instead of all shots, i.e. leakage out of the
  subspace is assumed to hit every outcome proportionally; ideal runs are unaffected.
- Postselection rate of the ``"magnitude"`` family with a Wilson 95% interval.

Readout mitigation: :func:`mitigate_readout` (:mod:`hwadapt.mitigation.readout`) turns
counts into mthree quasi-counts (floats) that every function here accepts in place of counts.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import log_ndtr, ndtr

from hwadapt.circuits.lcu import postselect
from hwadapt.counts import CountsLike, int_counts
from hwadapt.errors import InputError
from hwadapt.linalg import subset_indices
from hwadapt.mitigation.readout import mitigate_readout

WILSON_Z = 1.959963984540054  # 95%


@dataclass(frozen=True)
class Tally:
    """What postselection leaves of one circuit run.

    ``kept[j]``: shots (or quasi-counts) with ancillas 0 and data = component ``j``;
    ``total``: all shots; ``hw_bad``: shots whose data weight is not ``k``.
    """

    kept: np.ndarray
    total: float
    hw_bad: float

    def denominator(self, renormalize: bool) -> float:
        return self.total - self.hw_bad if renormalize else self.total


def tally(counts: CountsLike, n: int, weight: int = 1) -> Tally:
    """Postselect one circuit's counts: ancillas (bits ``>= n``) all 0, data weight ``k``.

    Components follow :func:`hwadapt.linalg.subset_indices` (``j`` ↔ index ``2^j`` for
    ``k = 1``).
    """
    c = int_counts(counts)
    comps = subset_indices(n, weight)
    pos = {idx: j for j, idx in enumerate(comps)}
    kept = np.zeros(len(comps))
    idx = np.fromiter(c, dtype=np.int64, count=len(c))
    vals = list(c.values())
    hw_ok = postselect(idx & ((1 << n) - 1), n, 0, weight)  # data weight == k
    ok = postselect(idx, n, 0, weight)  # and nothing set above the data: the LCU rule
    for i in np.flatnonzero(ok):
        kept[pos[int(idx[i])]] += vals[i]
    total = float(sum(vals))
    hw_bad = float(sum(v for v, good in zip(vals, hw_ok, strict=True) if not good))
    if total <= 0:
        raise InputError("a circuit's counts are empty: nothing to estimate from")
    return Tally(kept, total, hw_bad)


def wilson_interval(k: np.ndarray, n: np.ndarray, z: float = WILSON_Z) -> np.ndarray:
    """Wilson score interval for ``k`` successes in ``n`` trials; shape ``(..., 2)``."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return np.stack([np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)], axis=-1)


def kept_fractions(tallies: Sequence[Tally], renormalize: bool = True
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(p (inputs, n_comp), D (inputs,))``: kept shots over denominator shots, per input."""
    D = np.array([t.denominator(renormalize) for t in tallies])
    return np.stack([t.kept for t in tallies]) / D[:, None], D


@dataclass
class Estimate:
    """Signed estimates for ``inputs`` loaded vectors, ``n_comp`` components each.

    Shapes: ``y, stderr, sign_confidence, probs``: ``(inputs, n_comp)``; ``rate``,
    ``hw_discarded``: ``(inputs,)``; ``rate_interval``: ``(inputs, 2)``.
    ``probs`` is the postselected distribution of the ``"magnitude"`` family (sums to 1).
    ``stderr`` is the total error bar; ``stderr_stat`` its shot-noise part (``None``: the
    same as ``stderr``) and ``systematic`` the cross-validated device-bias term σ_sys
    (:mod:`hwadapt.mitigation.learned`; 0 when not measured).
    """

    y: np.ndarray
    stderr: np.ndarray
    rate: np.ndarray
    rate_interval: np.ndarray
    hw_discarded: np.ndarray
    sign_confidence: np.ndarray
    probs: np.ndarray
    shots: dict[str, np.ndarray] = field(default_factory=dict)
    stderr_stat: np.ndarray | None = None
    systematic: float = 0.0

    @property
    def shot_stderr(self) -> np.ndarray:
        """The shot-noise (statistical) part of the error bar."""
        return self.stderr if self.stderr_stat is None else self.stderr_stat

    def to_dict(self) -> dict:
        """JSON-ready nested lists."""
        d = {k: np.asarray(v).tolist() for k, v in self.__dict__.items()
             if k != "shots" and v is not None}
        d["shots"] = {k: np.asarray(v).tolist() for k, v in self.shots.items()}
        return d


def device_sign_confidence(est: Estimate) -> np.ndarray:
    """``(inputs, n_comp)``: ``est.sign_confidence`` (the shot-noise posterior) capped by the
    Gaussian posterior of the reported sign under the total error bar,
    ``Φ(|ŷ| / stderr)``: for a run whose ``stderr`` carries a measured device-bias term. The
    shot-noise posterior alone is 1.000 for a component the device biased through zero
    (measured: 8 wrong signs of 48, each at 1.000, under fake_almaden's noise; capped, none
    of the 12 at ≥ 0.95 was wrong). Never above the shot-noise value; 0.5 at ``ŷ = 0``."""
    return np.minimum(est.sign_confidence, ndtr(np.abs(est.y) / np.maximum(est.stderr, 1e-300)))


def sign_families(counts: Mapping[str, Any]) -> list[str]:
    """The sign-reference families among ``counts``' keys (``"signs"``, ``"signs1"``, …)."""
    return [k for k in counts if re.fullmatch(r"signs\d*", k)]


def _log_mass(W, ys, lo, hi):
    """``log ∫_lo^hi exp(-W (y - ys)² / 2) dy`` (``-inf`` for an empty interval), stable in
    the tails: intervals right of ``ys`` are mirrored so ``log_ndtr`` never subtracts ~1s."""
    s = np.sqrt(W)
    a, b = s * (lo - ys), s * (hi - ys)
    flip = a > 0
    a, b = np.where(flip, -b, a), np.where(flip, -a, b)
    la, lb = log_ndtr(a), log_ndtr(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = lb + np.log1p(-np.exp(np.minimum(la - lb, 0.0))) + 0.5 * np.log(2 * np.pi / W)
    return np.where(b > a, out, -np.inf)


def _wls(A, Bs, bs, w0, ws):
    """Minimise ``f(y) = w0 (A-|y|)² + Σ_k w_k (B_k-|y+b_k|)²`` elementwise, sign by posterior.

    ``f`` is quadratic on every cell of constant signs of ``y`` and of each ``y + b_k``
    (``2^(1+K)`` cells). The sign of ``y`` is the one holding more of the likelihood
    ``exp(-f/2)`` (flat prior on ``y``: Gaussian integrals per cell, closed form); ``y`` is
    the minimiser of ``f`` on that side. Returns ``(y, posterior probability of its sign)``.
    """
    inf = np.inf
    best = {1.0: np.full(A.shape, inf), -1.0: np.full(A.shape, inf)}
    arg = {1.0: np.zeros(A.shape), -1.0: np.zeros(A.shape)}
    logm = {1.0: np.full(A.shape, -inf), -1.0: np.full(A.shape, -inf)}
    W = w0 + sum(ws)
    for signs in itertools.product((1.0, -1.0), repeat=1 + len(Bs)):
        s1 = signs[0]
        lo = np.full(A.shape, 0.0 if s1 > 0 else -inf)
        hi = np.full(A.shape, inf if s1 > 0 else 0.0)
        num = w0 * s1 * A
        for s2, B, b, w in zip(signs[1:], Bs, bs, ws, strict=True):
            lo, hi = (np.maximum(lo, -b), hi) if s2 > 0 else (lo, np.minimum(hi, -b))
            num = num + w * (s2 * B - b)
        ok = lo < hi
        centre = num / W

        def cell(y, signs=signs):  # this cell's quadratic (equals f inside the cell)
            out = w0 * (A - signs[0] * y) ** 2
            for s2, B, b, w in zip(signs[1:], Bs, bs, ws, strict=True):
                out = out + w * (B - s2 * (y + b)) ** 2
            return out

        ys = np.clip(centre, np.where(ok, lo, 0.0), np.where(ok, hi, 0.0))
        fy = np.where(ok, cell(ys), inf)
        upd = fy < best[s1]
        best[s1], arg[s1] = np.where(upd, fy, best[s1]), np.where(upd, ys, arg[s1])
        lm = np.where(ok, -cell(centre) / 2 + _log_mass(W, centre, lo, hi), -inf)
        logm[s1] = np.logaddexp(logm[s1], lm)
    pos = logm[1.0] >= logm[-1.0]
    conf = 1 / (1 + np.exp(-np.abs(logm[1.0] - logm[-1.0])))
    return np.where(pos, arg[1.0], arg[-1.0]) + 0.0, conf  # + 0.0: no -0.0


def signed_estimate(
    probs: Mapping[str, np.ndarray],
    denominators: Mapping[str, np.ndarray],
    *,
    K0: float,
    beta: float | None = None,
    references: Mapping[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weighted least-squares estimate of the module docstring from probabilities.

    Args:
        probs: per family, ``(inputs, n_comp)`` kept fractions ``p̂`` (kept shots divided by
            the denominator shots); ``"magnitude"`` required, sign families optional.
        denominators: per family, ``(inputs,)`` shots the fractions are out of.
        K0: ``‖α‖₁``; every sign family has ``K1 = K0 + β``.
        beta, references: ``β`` and per sign family ``r`` (``(n_comp,)`` or
            ``(inputs, n_comp)``), so ``b = β r``.
    Returns:
        ``(y, stderr, sign_confidence)``, each ``(inputs, n_comp)``.
    """
    def term(p, D, K):
        p = np.clip(np.asarray(p, float), 0.0, None)
        D = np.asarray(D, float)[:, None]
        return K * np.sqrt(p), 4 * D / (K**2 * np.maximum(1 - p, 1 / D))

    A, w0 = term(probs["magnitude"], denominators["magnitude"], K0)
    Bs, bs, ws = [], [], []
    for name in sign_families(probs):
        B, w = term(probs[name], denominators[name], K0 + float(beta))
        Bs.append(B)
        ws.append(w)
        bs.append(float(beta) * np.broadcast_to(np.asarray(references[name], float), A.shape))
    y, conf = _wls(A, Bs, bs, w0, ws)
    var = 1 / (w0 + sum(ws))
    if Bs:  # the reported sign is wrong with probability 1 - conf, and then off by 2|y|
        var = var + 4 * (1 - conf) * y**2
    return y, np.sqrt(var), conf


def _references(reference, names: list[str]) -> dict[str, np.ndarray]:
    if isinstance(reference, Mapping):
        missing = [k for k in names if k not in reference]
        if missing:
            raise InputError(f"no reference vector for sign families {missing}: pass one per "
                             "family")
        return {k: reference[k] for k in names}
    if names != ["signs"]:
        raise InputError(f"sign families {names} need one reference each: pass reference as "
                         "{family: r}")
    return {"signs": reference}


def estimate(
    counts: Mapping[str, Sequence[CountsLike]],
    *,
    n: int,
    alphas: Sequence[float] | np.ndarray,
    beta: float | None = None,
    reference: np.ndarray | Mapping[str, np.ndarray] | None = None,
    weight: int = 1,
    renormalize: bool = True,
) -> Estimate:
    """Signed estimates of ``y = Mψ`` for every input from its families' counts.

    Args:
        counts: ``{"magnitude": [counts per input], "signs": [...], "signs1": [...]}``
            (sign families optional, any number of them, each with its own reference);
            each entry a counts mapping or a one-binding ``BitArray``.
        n: data qubits; ``alphas``: the LCU coefficients (any signs; ``K0 = Σ|α_i|``).
        beta, reference: the reference weight ``β`` (all sign families share it, so
            ``K1 = K0 + β``) and the vector ``r``, shape ``(n_comp,)`` or
            ``(inputs, n_comp)`` (see :func:`hwadapt.circuits.signs.reference_vector`), or
            ``{family: r}`` with several sign families; required with sign families.
        weight: Hamming weight ``k`` of the data (1 for unary loaders).
        renormalize: divide by shots passing the HW check (see module docstring).
    Returns:
        :class:`Estimate` with ``(inputs, C(n, k))`` arrays.
    """
    signs = sign_families(counts)
    unknown = set(counts) - {"magnitude", *signs}
    if unknown or "magnitude" not in counts:
        raise InputError(f"counts must have family 'magnitude' and optionally 'signs' "
                         f"(or signs1, signs2, ...), got {sorted(counts)}")
    K0 = float(np.abs(np.asarray(alphas, float)).sum())
    if K0 <= 0:
        raise InputError("alphas are all zero: M = 0 has nothing to estimate; train or set α")
    if signs and (beta is None or reference is None):
        raise InputError("a 'signs' family needs beta and the reference vector r")
    tallies = {k: [tally(c, n, weight) for c in counts[k]] for k in ("magnitude", *signs)}
    for k in signs:
        if len(tallies[k]) != len(tallies["magnitude"]):
            raise InputError(f"'magnitude' has {len(tallies['magnitude'])} inputs but {k!r} "
                             f"has {len(tallies[k])}")
    fractions = {k: kept_fractions(v, renormalize) for k, v in tallies.items()}
    probs = {k: v[0] for k, v in fractions.items()}
    den = {k: v[1] for k, v in fractions.items()}
    y, stderr, conf = signed_estimate(probs, den, K0=K0, beta=beta,
                                      references=_references(reference, signs) if signs else {})
    main = tallies["magnitude"]
    kept0 = np.stack([t.kept for t in main])
    kept_total = kept0.sum(axis=1)
    return Estimate(
        y=y,
        stderr=stderr,
        rate=kept_total / den["magnitude"],
        rate_interval=wilson_interval(kept_total, den["magnitude"]),
        hw_discarded=np.array([t.hw_bad / t.total for t in main]),
        sign_confidence=conf,
        probs=kept0 / np.maximum(kept_total[:, None], 1e-300),
        shots={k: np.array([t.total for t in v]) for k, v in tallies.items()},
    )


def tvd(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Total variation distance ``½ Σ|p - q|`` along the last axis."""
    return 0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum(axis=-1)


def ideal_probabilities(y: np.ndarray, K: float) -> np.ndarray:
    """Per-raw-shot probabilities ``y² / K²`` of the postselected outcomes (``(..., n_comp)``)."""
    return np.asarray(y, float) ** 2 / K**2


def rate_ideal(y: np.ndarray, K: float) -> np.ndarray:
    """Ideal postselection rate ``‖y‖² / K²`` per input."""
    return ideal_probabilities(y, K).sum(axis=-1)


def _check_shape(x: np.ndarray, n_comp: int, what: str) -> np.ndarray:
    x = np.atleast_2d(np.asarray(x, float))
    if x.shape[-1] != n_comp:
        raise InputError(f"{what} has {x.shape[-1]} components, expected {n_comp}")
    return x


def sample_counts(
    probs: np.ndarray, shots: int, n: int, weight: int = 1, rng: np.random.Generator | None = None
) -> list[dict[int, int]]:
    """Multinomial counts of the ideal outcome distribution (testing/what-if helper).

    ``probs``: ``(inputs, n_comp)`` per-raw-shot probabilities of the postselected outcomes;
    the remaining mass goes to one rejected outcome (ancilla bit ``n`` set, component 0).
    """
    rng = np.random.default_rng() if rng is None else rng
    comps = subset_indices(n, weight)
    probs = _check_shape(probs, len(comps), "probs")
    out = []
    for row in probs:
        rest = max(0.0, 1.0 - row.sum())
        draw = rng.multinomial(shots, np.append(row, rest) / (row.sum() + rest))
        d = {comps[j]: int(c) for j, c in enumerate(draw[:-1]) if c}
        if draw[-1]:
            d[(1 << n) | comps[0]] = int(draw[-1])
        out.append(d)
    return out


def combine_terms(
    terms: Sequence[Estimate], alphas: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``separate`` mode: combine per-term estimates of ``U_i ψ`` into ``y = Σ_i α_i U_i ψ``.

    Each term is an :class:`Estimate` of one unitary (``alphas=[1]``, its own shots, so the
    terms are independent): ``y = Σ α_i y_i`` and ``stderr = sqrt(Σ α_i² stderr_i²)``.
    Returns ``(y, stderr)``, both ``(inputs, n_comp)``.
    """
    al = np.asarray(alphas, dtype=float)
    if al.shape != (len(terms),) or not len(terms):
        raise InputError(f"need one alpha per term: {len(terms)} terms, alphas shape {al.shape}")
    ys = np.stack([np.asarray(t.y, float) for t in terms])
    ses = np.stack([np.asarray(t.stderr, float) for t in terms])
    return np.einsum("i,i...->...", al, ys), np.sqrt(np.einsum("i,i...->...", al**2, ses**2))


__all__ = ["Estimate", "Tally", "combine_terms", "device_sign_confidence", "estimate",
           "ideal_probabilities", "int_counts", "kept_fractions", "mitigate_readout",
           "rate_ideal", "sample_counts", "sign_families", "signed_estimate", "tally", "tvd",
           "wilson_interval"]
