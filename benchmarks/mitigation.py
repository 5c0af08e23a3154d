"""Trustworthy estimates (issue 16): mitigation rows side by side on the demo.

For the demo (``jobs/demo.toml``: spectral LCU, 16 random inputs, two sign references) plus
``[calibration] inputs = 64, shots = 4096``, on FakeTorino (CZ) and FakeSherbrooke (ECR) at
n = 8 and n = 4: every family's ISA circuit is bound to every target and calibration input
and its *exact noisy* outcome distribution is computed once (Aer density matrix with the
project's restricted noise model, :func:`hwadapt.backends.restricted_noise_model`, plus
the model's asymmetric readout matrices applied exactly). Each repeat then draws the run's
counts from those distributions (multinomial, the planner's shots per binding:
:func:`hwadapt.execution.plan.expected_rates` of the exact rates; the recorded rows predate
its depolarised term, ``s·rate`` then: about 2% more target shots at n = 8, 4-6% at n = 4)
and evaluates every row with the code ``hwadapt compare`` runs
(:func:`hwadapt.mitigation.learned.learned_estimate`):

- ``none``: no mitigation; σ = shot noise ⊕ the cross-validated systematic term;
- ``readout``: mthree on every circuit's counts, calibrated and applied as ``hwadapt compare
  --mitigate readout`` does on an ``aer_noisy`` run (the backend's ``calibrate_readout`` on
  the active qubits, spec seed, :data:`hwadapt.execution.readout.CAL_SHOTS` shots per
  calibration circuit, then :func:`hwadapt.estimate.mitigate_readout`);
- ``learned``: response map from the calibration inputs (affine, 64 inputs);
- ``learned, equal total shots``: the targets get half the unmitigated run's raw shots and
  the calibration inputs share the other half (calibration counted inside the budget);
- ``none, 4x`` / ``learned, 4x``: 4x the target and calibration shots;
- ``no device noise``: the same draws from the ideal distributions (``aer``), unmitigated.

Medians over ``--repeats`` seeded repeats, with the 10–90% spread; ``shots`` = raw shots of
the row (targets + calibration). Run:
``PYTHONPATH=. .venv/bin/python benchmarks/mitigation.py [--repeats 10] [--configs ...]``;
writes ``results/benchmarks/mitigation.json`` (after every config), ``mitigation.png`` and
the table ``mitigation.md``; ``--zne`` adds the ZNE row (folded circuits: 3x the simulation).
The exact noisy distributions are cached in ``results/benchmarks/.cache`` (git-ignored).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import time
from pathlib import Path

import numpy as np

from hwadapt.backends import active_qubits, compact_circuit, get_backend, restricted_noise_model
from hwadapt.compare import exact_reference
from hwadapt.estimate import kept_fractions, mitigate_readout, tally
from hwadapt.execution import batching
from hwadapt.execution.exact_sampler import outcome_probabilities
from hwadapt.execution.manager import predicted_survival, transpile
from hwadapt.execution.plan import calibration_shots, expected_rates
from hwadapt.execution.readout import CAL_SHOTS, measured_qubits
from hwadapt.linalg import subset_indices
from hwadapt.mitigation.learned import Observed, learned_estimate, zne_observed
from hwadapt.mitigation.zne import fold_two_qubit_gates
from hwadapt.spec import build_families, calibration_vectors, parse_spec, reference_vectors

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "benchmarks"
CACHE = OUT / ".cache"
CALIBRATION = "\n[calibration]\ninputs = 64\nshots = 4096\nseed = 11\nkind = \"random\"\n"
CONFIGS = ("fake_torino:8", "fake_torino:4", "fake_sherbrooke:4", "fake_sherbrooke:8")
NOTES = """Rows: `readout` is mthree exactly as `hwadapt compare --mitigate readout` runs it
(backend calibration on the active qubits, then `mitigate_readout`). Calibration rows get
the planner's shots (`hwadapt.execution.plan.calibration_shots`: each input's shots split over
its families like the targets', equal accepted shots per family); the `zne` rows were
measured before that change, with the same raw shots in every family. `zne (1, 3), same shots`
splits the unmitigated row's target and calibration shots over fold factors 1 and 3
(Richardson): extrapolation multiplies the shot-noise variance by Σw² = 2.5, so at equal shots
it loses to the learned map everywhere and its 10–90% spread is the widest of all rows (it may
still beat no mitigation where the device bias is large). n = 8 ZNE rows need the folded
density-matrix simulations (about an hour on a loaded 2-core machine):
`benchmarks/mitigation.py --configs fake_torino:8,fake_sherbrooke:8 --zne --merge --rows
"zne (1, 3), same shots"` adds them. `learned, equal total shots` counts the calibration shots
inside the unmitigated row's budget (a few hundred shots per calibration input). σ_sys is the
one-sided upper bound of the cross-validated systematic term (median over repeats); the
bootstrap draws the calibration inputs' replicates from the fitted forward noise model
(`hwadapt.mitigation.response.noise_model`), not around their own noisy fractions, which
overstated the held-out spread at few calibration shots and floored σ_sys at 0 (FakeSherbrooke
n = 8, equal total shots: coverage 0.86 → 0.98, σ_sys 0 → 0.018, RMS σ × 1.21). RMS σ is the
root mean square of the total error bar over components and inputs (median over repeats).
Sign references: the demo's two term references lighten a term (β = -min|α_k|,
`hwadapt.circuits.constructions.efficient.term_beta`).
"""
TARGETS = {"rel_l2": 0.12, "coverage_2se": 0.90, "tvd": 0.045, "sign_agreement": 0.95}


def demo_spec(n: int):
    text = (ROOT / "jobs" / "demo.toml").read_text().replace("qubits = 8", f"qubits = {n}")
    text = re.sub(r"(?ms)^\[calibration\].*?(?=^\[|\Z)", "", text)  # ours replaces the demo's
    return parse_spec(text + CALIBRATION, base_dir=ROOT / "jobs")


def _apply_bits(p: np.ndarray, mats: list[np.ndarray]) -> np.ndarray:
    """Apply ``mats[i] (2, 2)`` (row: true bit, column: read bit) to bit ``i`` of ``p``."""
    nb = len(mats)
    t = p.reshape((2,) * nb)
    for i, m in enumerate(mats):
        ax = nb - 1 - i  # C order: bit i is axis nb-1-i
        t = np.moveaxis(np.tensordot(t, m, axes=([ax], [0])), -1, ax)
    return t.reshape(-1)


def _family_key(spec, device: str, fam, fold: int, isa) -> Path:
    """Cache file of one family's distributions: device, width, spec, the family's circuit
    (its gates and PREPARE weights, so a changed sign reference is recomputed), the ISA
    circuit that is simulated (a transpiler change re-simulates: keyed by the logical circuit
    alone, rows from an older transpilation were reused), the qiskit/Aer/Runtime versions
    (the fake device's error rates ship with Runtime) and ``fold``."""
    import qiskit
    import qiskit_aer
    import qiskit_ibm_runtime

    def gates(c, bound: bool) -> str:
        return "\n".join(f"{i.operation.name}"
                         f"{[round(float(p), 12) if bound else str(p) for p in i.operation.params]}"
                         f"{[c.find_bit(q).index for q in i.qubits]}" for i in c.data)

    text = "\n".join([gates(fam.circuit.assign_parameters(fam.values[0]).decompose(reps=6), True),
                      gates(isa, False), qiskit.__version__, qiskit_aer.__version__,
                      qiskit_ibm_runtime.__version__])
    h = hashlib.sha256(text.encode()).hexdigest()[:12]
    n = spec.circuit.qubits
    return CACHE / f"{device}-n{n}-{spec.digest[:12]}-{fam.name}-{h}-fold{fold}.npz"


def noisy_distributions(spec, device: str, fold: int = 1) -> dict:
    """Per family ``(rows, 2^clbits)`` exact noisy outcome distributions (clbit i = bit i),
    readout matrices per clbit, exact rates, predicted survival; cached on disk per family.
    ``fold``: two-qubit gates folded by that factor
    (:func:`hwadapt.mitigation.zne.fold_two_qubit_gates`)."""
    from qiskit_aer import AerSimulator

    backend = get_backend("aer_noisy", device)
    fams = build_families(spec)
    isa = [fold_two_qubit_gates(transpile(f.circuit, backend, spec.optimization_level,
                                          spec.seed), fold) for f in fams]
    qubits = tuple(sorted(set().union(*(active_qubits(c) for c in isa))))
    noise = restricted_noise_model(device, qubits)
    sim = AerSimulator(method="density_matrix", noise_model=noise)
    ro = noise._local_readout_errors  # {(j,): ReadoutError} of the restricted model
    out, meta = {}, {"families": [f.name for f in fams], "survival": [], "qubits": len(qubits),
                     "physical": list(qubits), "measured": [],
                     "uniform": [f.uniform_rate() for f in fams]}
    for j, (f, c) in enumerate(zip(fams, isa, strict=True)):
        meta["survival"].append(predicted_survival(c, backend))
        small = compact_circuit(c, qubits)
        meas = measured_qubits(small)  # clbit i -> index into qubits (the calibrated order)
        meta["measured"].append(meas)
        key = _family_key(spec, device, f, fold, small)
        if key.is_file():
            with np.load(key, allow_pickle=False) as z:
                out |= {f"{k}{j}": z[k] for k in ("noisy", "ideal", "readout")}
            continue
        mats = [np.asarray(ro[(q,)].probabilities) if (q,) in ro else np.eye(2) for q in meas]
        dm = small.remove_final_measurements(inplace=False)
        dm.save_probabilities(qubits=meas)
        res = sim.run([dm.assign_parameters(v) for v in f.values]).result()
        z = {"noisy": np.stack([
            _apply_bits(np.clip(np.asarray(res.data(k)["probabilities"]), 0, None), mats)
            for k in range(len(f.values))]),
            "ideal": np.stack([outcome_probabilities(f.circuit.assign_parameters(v))
                               for v in f.values]),
            "readout": np.stack(mats)}
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(key, **z)
        out |= {f"{k}{j}": v for k, v in z.items()}
        print(f"  {device} n={spec.circuit.qubits} fold {fold} {f.name}: {len(f.values)} "
              f"bindings, {len(qubits)} qubits", flush=True)
    return meta | out


def planned_shots(ideal: np.ndarray, n: int, survival: float, uniform: float, target: int
                  ) -> np.ndarray:
    """The planner's first-round raw shots per target binding (rounded to its grid):
    :func:`hwadapt.execution.plan.expected_rates` of the exact rates."""
    comps = np.asarray(subset_indices(n, 1))
    rates = expected_rates({"rates": ideal[:, comps].sum(axis=1), "survival": survival,
                            "uniform_rate": uniform})
    raw = batching.first_round_shots(rates, target, 1024, len(rates))
    return np.array([batching.round_shots(s) for s in raw])


def split_calibration(dist: dict, names: list[str], N: int, n: int, shots: int
                      ) -> dict[str, np.ndarray]:
    """The planner's raw shots per calibration binding and family for ``shots`` per family
    on average (:func:`hwadapt.execution.plan.calibration_shots`: split like the targets',
    equal accepted shots per family)."""
    comps = np.asarray(subset_indices(n, 1))
    m = len(dist[f"ideal{0}"]) - N
    recs = [{"calibration": m, "calibration_shots": shots,
             "rates": dist[f"ideal{j}"][:, comps].sum(axis=1), "survival": dist["survival"][j],
             "uniform_rate": dist["uniform"][j]} for j in range(len(names))]
    return dict(zip(names, calibration_shots(recs), strict=True))


def _draw(P: np.ndarray, shots: np.ndarray, rng, readout: tuple | None = None):
    """Counts per row of ``P``; ``readout = (m3, measured)``: corrected as ``compare
    --mitigate readout`` does (:func:`hwadapt.estimate.mitigate_readout`)."""
    counts = rng.multinomial(shots, P / P.sum(axis=1, keepdims=True))
    out = [{int(k): int(c[k]) for k in np.flatnonzero(c)} for c in counts]
    if readout is not None:
        out = [mitigate_readout(c, *readout) for c in out]
    return out


def _observe(dist: dict, source: str, names: list[str], shots: dict, cal_shots: dict, N: int,
             m: int, n: int, rng, readout_of: dict | None, refs: tuple) -> tuple:
    """One repeat's ``(targets, calibration)`` :class:`Observed` drawn from ``source``."""
    t_obs, c_obs = {}, {}
    for j, f in enumerate(names):
        P = dist[f"{source}{j}"]
        ro = readout_of[f] if readout_of else None
        t_obs[f] = kept_fractions([tally(c, n) for c in _draw(P[:N], shots[f], rng, ro)])
        c_obs[f] = kept_fractions([tally(c, n) for c in _draw(P[N:], cal_shots[f], rng, ro)])
    return tuple(Observed({f: v[0] for f, v in o.items()}, {f: v[1] for f, v in o.items()}, r)
                 for o, r in ((t_obs, refs[0]), (c_obs, refs[1])))


def _row_metrics(res, y: np.ndarray) -> dict:
    """The compare aggregates of one mitigated estimate against the exact ``y``."""
    err = res.y - y
    exact_p = y**2 / (y**2).sum(axis=1, keepdims=True)
    return {
        "rel_l2": float(np.linalg.norm(err) / np.linalg.norm(y)),
        "rel_l2_magnitudes": float(np.linalg.norm(np.abs(res.y) - np.abs(y))
                                   / np.linalg.norm(y)),
        "coverage_2se": float(np.mean(np.abs(err) <= 2 * res.stderr)),
        "coverage_2se_stat": float(np.mean(np.abs(err) <= 2 * res.stderr_stat)),
        "stderr_rms": float(np.sqrt(np.mean(res.stderr**2))),
        "tvd": float(np.mean(0.5 * np.abs(res.probs - exact_p).sum(axis=1))),
        "sign_agreement": float(np.mean(np.sign(res.y) == np.sign(y))),
        "systematic": res.systematic,
    }


def evaluate(spec, device: str, dist: dict, repeats: int, boots: int, seed: int,
             folded: dict | None = None, only: set[str] | None = None) -> list[dict]:
    """Rows of the module docstring; with ``folded`` (distributions at fold factor 3) also
    ``zne (1, 3), same shots``: each factor gets half the unmitigated shots (calibration
    rows too), kept fractions extrapolated, systematic term from the calibration inputs."""
    n = spec.circuit.qubits
    ex = exact_reference(spec)
    x_cal = calibration_vectors(spec)
    y_cal = x_cal @ ex.M.T
    names = dist["families"]
    N, m = len(ex.y), len(x_cal)
    refs = {f: reference_vectors(spec, "lcu", f) for f in names if f != "magnitude"}
    refs_cal = {f: reference_vectors(spec, "lcu", f, x=x_cal) for f in refs}
    comps = np.asarray(subset_indices(n, 1))
    cal_exact = {f: dist[f"ideal{j}"][N:, comps] for j, f in enumerate(names)}
    base = {f: planned_shots(dist[f"ideal{j}"][:N], n, dist["survival"][j], dist["uniform"][j],
                             spec.shots.target_accepted) for j, f in enumerate(names)}
    base_ideal = {f: planned_shots(dist[f"ideal{j}"][:N], n, 1.0, 0.0,
                                   spec.shots.target_accepted) for j, f in enumerate(names)}
    total_t = sum(int(v.sum()) for v in base.values())
    half = {f: np.array([batching.round_shots(s // 2) for s in v]) for f, v in base.items()}
    cal_equal = batching.round_shots((total_t - sum(int(v.sum()) for v in half.values()))
                                     // (m * len(names)))
    m3 = get_backend("aer_noisy", device).calibrate_readout(tuple(dist["physical"]), spec.seed,
                                                             CAL_SHOTS)
    readout_of = {f: (m3, dist["measured"][j]) for j, f in enumerate(names)}
    rows_def = [  # name, source, target shots, calibration shots, learned, readout
        ("none", "noisy", base, 4096, False, False),
        ("readout", "noisy", base, 4096, False, True),
        ("learned", "noisy", base, 4096, True, False),
        ("learned, equal total shots", "noisy", half, cal_equal, True, False),
        ("none, 4x shots", "noisy", {f: 4 * v for f, v in base.items()}, 4 * 4096, False, False),
        ("learned, 4x shots", "noisy", {f: 4 * v for f, v in base.items()}, 4 * 4096, True,
         False),
        ("no device noise", "ideal", base_ideal, 4096, False, False),
    ]
    if folded is not None:
        rows_def.append(("zne (1, 3), same shots", "zne", half, 2048, False, False))
        dist = dist | {f"fold{j}": folded[f"noisy{j}"] for j in range(len(names))}
    rows_def = [r for r in rows_def if only is None or r[0] in only]
    rng = np.random.default_rng(seed)
    results = {r[0]: [] for r in rows_def}
    for rep in range(repeats):
        for name, src, shots, cal_shots, learned, readout in rows_def:
            split = split_calibration(dist, names, N, n, cal_shots)
            per_factor = [_observe(dist, source, names, shots, split, N, m, n, rng,
                                   readout_of if readout else None, (refs, refs_cal))
                          for source in (("noisy", "fold") if src == "zne" else (src,))]
            if src == "zne":
                targets = zne_observed([t for t, _ in per_factor], [1, 3])
                cal = zne_observed([c for _, c in per_factor], [1, 3])
            else:
                targets, cal = per_factor[0]
            res = learned_estimate(targets, cal, cal_exact, y_cal, K0=ex.K, beta=ex.beta,
                                   mitigate=learned, boots=boots, seed=seed + rep)
            results[name].append(_row_metrics(res, ex.y))
        print(f"    repeat {rep + 1}/{repeats}", flush=True)
    out = []
    for name, src, shots, cal_shots, _, _ in rows_def:
        vals = results[name]
        factors = 2 if src == "zne" else 1
        row = {"row": name, "repeats": len(vals),
               "shots": {"targets": factors * int(sum(int(v.sum()) for v in shots.values())),
                         "calibration": factors * int(sum(int(v.sum()) for v in
                                                          split_calibration(dist, names, N, n,
                                                                            cal_shots).values()))}}
        for k in vals[0]:
            a = np.array([v[k] for v in vals])
            row[k] = float(np.median(a))
            row[f"{k}_spread"] = [float(np.quantile(a, 0.1)), float(np.quantile(a, 0.9))]
        row["shots"]["total"] = row["shots"]["targets"] + row["shots"]["calibration"]
        out.append(row)
    return out


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ("rel_l2", "coverage_2se", "tvd", "sign_agreement")
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.8))
    configs = list(data["configs"])
    for ax, k in zip(axes, keys, strict=True):
        for ci, cfg in enumerate(configs):
            rows = data["configs"][cfg]["rows"]
            xs = np.arange(len(rows)) + 0.18 * (ci - (len(configs) - 1) / 2)
            med = [r[k] for r in rows]
            lo = [r[k] - r[f"{k}_spread"][0] for r in rows]
            hi = [r[f"{k}_spread"][1] - r[k] for r in rows]
            ax.errorbar(xs, med, yerr=[lo, hi], fmt="o", ms=4, label=cfg, capsize=2)
        names = [r["row"] for r in data["configs"][configs[0]]["rows"]]
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
        ax.set_title(k)
        if k in TARGETS:
            ax.axhline(TARGETS[k], color="k", ls="--", lw=0.8)
    axes[0].legend(fontsize=7)
    fig.suptitle("demo + 64 calibration inputs: median and 10-90% spread over repeats")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(data: dict) -> str:
    """Markdown table of every config's rows (medians, 10–90% spread of the L2)."""
    lines = ["| device, n | row | rel. L2 (10–90%) | L2 of magnitudes | within 2σ total / "
             "stat | σ_sys | RMS σ | TVD | signs agree | raw shots (targets + calibration) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for cfg, c in data["configs"].items():
        for r in c["rows"]:
            lo, hi = r["rel_l2_spread"]
            rms = f"{r['stderr_rms']:.4f}" if "stderr_rms" in r else "–"
            lines.append(
                f"| {cfg} | {r['row']} | {r['rel_l2']:.3f} ({lo:.3f}–{hi:.3f}) | "
                f"{r['rel_l2_magnitudes']:.3f} | {r['coverage_2se']:.2f} / "
                f"{r['coverage_2se_stat']:.2f} | {r['systematic']:.4f} | {rms} | {r['tvd']:.3f} | "
                f"{r['sign_agreement']:.3f} | {r['shots']['targets']:,} + "
                f"{r['shots']['calibration']:,} |")
    return "\n".join(lines) + "\n\n" + NOTES + _zne_summary(data)


def _zne_summary(data: dict) -> str:
    """One line per config with a ZNE row: its L2 against no mitigation and learned (the
    same shots), from the rows above rather than typed in."""
    out = []
    for cfg, c in data["configs"].items():
        l2 = {r["row"]: r["rel_l2"] for r in c["rows"]}
        zne = next((v for k, v in l2.items() if k.startswith("zne")), None)
        if zne is not None and "none" in l2 and "learned" in l2:
            out.append(f"{cfg}: ZNE L2 {zne:.3f} vs none {l2['none']:.3f}, learned "
                       f"{l2['learned']:.3f} (same shots).")
    return "\n" + "\n".join(out) + "\n" if out else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--boots", type=int, default=100)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--out", default=str(OUT / "mitigation.json"))
    ap.add_argument("--zne", action="store_true", help="add the ZNE row (3x deeper circuits)")
    ap.add_argument("--rows", default="", help="only these rows (';'-separated names), "
                    "merged into the config's stored rows (with --merge)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other configs already in --out (re-run only --configs)")
    args = ap.parse_args()
    path = Path(args.out)
    data = {"repeats": args.repeats, "bootstrap": args.boots, "targets_fake_torino_n8": TARGETS,
            "load": list(os.getloadavg()), "configs": {}}
    if args.merge and path.is_file():
        old = json.loads(path.read_text())
        data["configs"] = {k: v for k, v in old["configs"].items()
                           if args.rows or k not in args.configs.split(",")}
    for cfg in args.configs.split(","):
        device, n = cfg.split(":")
        spec = demo_spec(int(n))
        t0 = time.time()
        print(f"{cfg}: exact noisy distributions", flush=True)
        dist = noisy_distributions(spec, device)
        t1 = time.time()
        folded = noisy_distributions(spec, device, fold=3) if args.zne else None
        only = set(args.rows.split(";")) if args.rows else None
        rows = evaluate(spec, device, dist, args.repeats, args.boots, seed=2024, folded=folded,
                        only=only)
        if only and cfg in data["configs"]:  # replace those rows, keep the others
            new = {r["row"]: r for r in rows}
            old_rows = data["configs"][cfg]["rows"]
            rows = [new.pop(r["row"], r) for r in old_rows] + list(new.values())
        zne = args.zne or data["configs"].get(cfg, {}).get("zne", False) if only else args.zne
        data["configs"][cfg] = {"zne": zne, "qubits_active": dist["qubits"],
                                "survival": dist["survival"], "rows": rows,
                                "seconds": {"distributions": t1 - t0,
                                            "repeats": time.time() - t1}}
        order = [*CONFIGS, *sorted(set(data["configs"]) - set(CONFIGS))]
        data["configs"] = {k: data["configs"][k] for k in order if k in data["configs"]}
        path.write_text(json.dumps(data, indent=1))
        for r in rows:
            print(f"  {r['row']:28s} L2 {r['rel_l2']:.3f} cov {r['coverage_2se']:.2f} "
                  f"(stat {r['coverage_2se_stat']:.2f}) TVD {r['tvd']:.3f} signs "
                  f"{r['sign_agreement']:.3f} shots {r['shots']['total']}", flush=True)
    data["load_after"] = list(os.getloadavg())
    path.write_text(json.dumps(data, indent=1))
    plot(data, path.with_suffix(".png"))
    path.with_suffix(".md").write_text(table(data))


if __name__ == "__main__":
    main()
