"""Counts → signed adapter outputs ``y = Mψ`` with standard errors (DESIGN.md §1, LCU).

Circuit families (built by :mod:`hwadapt.circuits.lcu` and :mod:`hwadapt.circuits.signs`,
measured on every qubit, classical bit ``i`` = qubit ``i``; data qubits ``0..n-1``, LCU
ancillas above them):

- ``"magnitude"``: ``M = Σ α_i U_i`` on the loaded input ψ. A raw shot lands on the HW-``k``
  basis state of component ``j`` with the ancillas at 0 with probability
  ``p_j = y_j² / K0²``, ``K0 = ‖α‖₁``; the postselection rate is ``Σ p_j = ‖y‖²/K0²``.
- ``"signs"`` (optional): the same LCU plus a reference term ``β·V_ref`` that turns ψ
  into a known vector ``r`` (see :mod:`hwadapt.circuits.signs`), so
  ``q_j = (y_j + b_j)² / K1²`` with ``b_j = β r_j``, ``K1 = ‖α‖₁ + β``.

Estimator (per component, vectorised): the square roots of the observed frequencies are
variance-stabilised, ``√p̂ ~ N(√p, (1-p)/(4D))`` for ``D`` kept-denominator shots, so we
minimise the weighted least-squares (≈ χ²) objective

    f(y) = w0 (A - |y|)² + w1 (B - |y + b|)²,   A = K0 √p̂, B = K1 √q̂,
    w0 = 4 D0 / (K0² (1 - p̂)),  w1 = 4 D1 / (K1² (1 - q̂)),

which is piecewise quadratic: its minimum is one of the clipped minimisers of the (at most
three) pieces, computed in closed form. Without a reference family ``w1 = 0`` and only
``|y|`` is known (sign reported +, confidence 0.5).

- ``stderr = 1 / sqrt(w0 + w1)``: the inverse curvature of ``f/2`` at the optimum (the
  delta method; ``K0 sqrt((1-p)/(4D))`` for the magnitude alone — finite even at ``p = 0``).
- ``sign_confidence = 1 / (1 + exp(-Δ/2))`` where ``Δ = f(best of the other sign) - f(best)``:
  the likelihood-ratio weight of the chosen sign. ``+|y|`` and ``-|y|`` differ by
  ``2·min(|y_j|, |b_j|)`` in ``B``, whose noise is ``K1/(2√D1)``: signs are determined when
  ``min(|y_j|, |b_j|)`` is a few times ``K1/(2√D1)`` and undetermined (confidence → 0.5) below
  that noise floor — the error there is at most ``2|y_j|``, i.e. small.
- Hamming-weight check: every family is HW-preserving, so shots whose data qubits do not
  have weight ``k`` are errors. They are discarded and reported as ``hw_discarded`` (fraction
  of raw shots). With ``renormalize=True`` (default, the "free mitigation") frequencies are
  divided by the shots that pass the HW check instead of all shots, i.e. leakage out of the
  subspace is assumed to hit every outcome proportionally; ideal runs are unaffected.
- Postselection rate of the ``"magnitude"`` family with a Wilson 95% interval.

Readout mitigation: :func:`mitigate_readout` turns counts into mthree quasi-counts (floats)
that every function here accepts in place of counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwadapt.circuits.lcu import postselect
from hwadapt.errors import InputError
from hwadapt.linalg import subset_indices

FAMILIES = ("magnitude", "signs")
WILSON_Z = 1.959963984540054  # 95%

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


@dataclass
class Estimate:
    """Signed estimates for ``inputs`` loaded vectors, ``n_comp`` components each.

    Shapes: ``y, stderr, sign_confidence, probs``: ``(inputs, n_comp)``; ``rate``,
    ``hw_discarded``: ``(inputs,)``; ``rate_interval``: ``(inputs, 2)``.
    ``probs`` is the postselected distribution of the ``"magnitude"`` family (sums to 1).
    """

    y: np.ndarray
    stderr: np.ndarray
    rate: np.ndarray
    rate_interval: np.ndarray
    hw_discarded: np.ndarray
    sign_confidence: np.ndarray
    probs: np.ndarray
    shots: dict[str, np.ndarray] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready nested lists."""
        d = {k: np.asarray(v).tolist() for k, v in self.__dict__.items() if k != "shots"}
        d["shots"] = {k: np.asarray(v).tolist() for k, v in self.shots.items()}
        return d


def _wls(A, B, b, w0, w1):
    """Minimise ``w0 (A-|y|)² + w1 (B-|y+b|)²`` elementwise; return (y, Δ to other sign)."""
    def f(y):
        return w0 * (A - np.abs(y)) ** 2 + w1 * (B - np.abs(y + b)) ** 2

    inf = np.inf
    best_pos = np.full(A.shape, inf)
    best_neg = np.full(A.shape, inf)
    y_pos = np.zeros(A.shape)
    y_neg = np.zeros(A.shape)
    W = w0 + w1
    for s1 in (1.0, -1.0):          # sign of y
        for s2 in (1.0, -1.0):      # sign of y + b
            lo = np.maximum(np.where(s1 > 0, 0.0, -inf), np.where(s2 > 0, -b, -inf))
            hi = np.minimum(np.where(s1 > 0, inf, 0.0), np.where(s2 > 0, inf, -b))
            ok = lo <= hi
            ys = (w0 * s1 * A + w1 * (s2 * B - b)) / W
            ys = np.clip(ys, np.where(ok, lo, 0.0), np.where(ok, hi, 0.0))
            fy = np.where(ok, f(ys), inf)
            if s1 > 0:
                upd = fy < best_pos
                best_pos, y_pos = np.where(upd, fy, best_pos), np.where(upd, ys, y_pos)
            else:
                upd = fy < best_neg
                best_neg, y_neg = np.where(upd, fy, best_neg), np.where(upd, ys, y_neg)
    pos = best_pos <= best_neg
    return np.where(pos, y_pos, y_neg) + 0.0, np.abs(best_neg - best_pos)  # + 0.0: no -0.0


def estimate(
    counts: Mapping[str, Sequence[CountsLike]],
    *,
    n: int,
    alphas: Sequence[float] | np.ndarray,
    beta: float | None = None,
    reference: np.ndarray | None = None,
    weight: int = 1,
    renormalize: bool = True,
) -> Estimate:
    """Signed estimates of ``y = Mψ`` for every input from its families' counts.

    Args:
        counts: ``{"magnitude": [counts per input], "signs": [...]}`` (``"signs"``
            optional); each entry a counts mapping or a one-binding ``BitArray``.
        n: data qubits; ``alphas``: the LCU coefficients (any signs; ``K0 = Σ|α_i|``).
        beta, reference: the reference term ``β`` and the vector ``r``, shape ``(n_comp,)``
            or ``(inputs, n_comp)`` (see :func:`hwadapt.circuits.signs.reference_vector`);
            required with a ``"signs"`` family.
        weight: Hamming weight ``k`` of the data (1 for unary loaders).
        renormalize: divide by shots passing the HW check (see module docstring).
    Returns:
        :class:`Estimate` with ``(inputs, C(n, k))`` arrays.
    """
    unknown = set(counts) - set(FAMILIES)
    if unknown or "magnitude" not in counts:
        raise InputError(f"counts must have family 'magnitude' and optionally 'signs', got "
                         f"{sorted(counts)}")
    K0 = float(np.abs(np.asarray(alphas, float)).sum())
    if K0 <= 0:
        raise InputError("alphas are all zero: M = 0 has nothing to estimate; train or set α")
    main = [tally(c, n, weight) for c in counts["magnitude"]]
    D0 = np.array([t.denominator(renormalize) for t in main])[:, None]
    kept0 = np.stack([t.kept for t in main])
    p = kept0 / D0
    A = K0 * np.sqrt(p)
    w0 = 4 * D0 / (K0**2 * np.maximum(1 - p, 1 / D0))
    shots = {"magnitude": np.array([t.total for t in main])}
    if "signs" in counts:
        if beta is None or reference is None:
            raise InputError("a 'signs' family needs beta and the reference vector r")
        refs = [tally(c, n, weight) for c in counts["signs"]]
        if len(refs) != len(main):
            raise InputError(f"'magnitude' has {len(main)} inputs but 'signs' has {len(refs)}")
        K1 = K0 + float(beta)
        D1 = np.array([t.denominator(renormalize) for t in refs])[:, None]
        q = np.stack([t.kept for t in refs]) / D1
        B = K1 * np.sqrt(q)
        w1 = 4 * D1 / (K1**2 * np.maximum(1 - q, 1 / D1))
        b = float(beta) * np.broadcast_to(np.asarray(reference, float), A.shape)
        shots["signs"] = np.array([t.total for t in refs])
    else:
        B = b = np.zeros_like(A)
        w1 = np.zeros_like(A)
    y, delta = _wls(A, B, b, w0, w1)
    conf = 1 / (1 + np.exp(-delta / 2))
    kept_total = kept0.sum(axis=1)
    den = D0[:, 0]
    return Estimate(
        y=y,
        stderr=1 / np.sqrt(w0 + w1),
        rate=kept_total / den,
        rate_interval=wilson_interval(kept_total, den),
        hw_discarded=np.array([t.hw_bad / t.total for t in main]),
        sign_confidence=conf,
        probs=kept0 / np.maximum(kept_total[:, None], 1e-300),
        shots=shots,
    )


def tvd(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Total variation distance ``½ Σ|p - q|`` along the last axis."""
    return 0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum(axis=-1)


def mitigate_readout(counts: CountsLike, m3: Any, qubits: Sequence[int]) -> dict[int, float]:
    """mthree readout correction of one circuit's counts → quasi-counts ``{index: float}``.

    ``qubits[i]`` is the physical qubit measured into classical bit ``i``; ``m3`` is a
    calibrated ``mthree.M3Mitigation`` (``cals_from_system(qubits)`` done). The quasi
    distribution is projected onto the nearest probability distribution (mthree's
    ``nearest_probability_distribution``: no negative "counts", so square roots stay real
    even when a qubit's readout is nearly random) and scaled by the shot count so it can
    stand in for counts.
    """
    c = int_counts(counts)
    nbits = len(qubits)
    shots = sum(c.values())
    as_str = {format(k, f"0{nbits}b"): v for k, v in c.items()}
    quasi = m3.apply_correction(as_str, list(qubits)).nearest_probability_distribution()
    return {int(k, 2): float(v) * shots for k, v in quasi.items()}


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


__all__ = ["Estimate", "Tally", "combine_terms", "estimate", "int_counts", "ideal_probabilities",
           "mitigate_readout", "rate_ideal", "sample_counts", "tally", "tvd", "wilson_interval"]
