"""How far is a stored run from exact simulation? Metrics, ``compare.json`` and plots.

Reads what the ledger stored for a run (spec text, counts, ISA circuits) and never runs the
job again. The exact reference is linear algebra on the spec: ``y = Mψ`` with
``M = Σ α_i O_i``, ``O_i = givens_matrix(n, angles_i, layout)`` (the HW-1 action of the
adapter circuits, DESIGN.md §1), so ideal per-shot probabilities are ``y_j²/‖α‖₁²``
(magnitude family) and ``(y_j + β r_j)²/(‖α‖₁ + β)²`` (signs family, uniform reference).

Metrics per input and aggregated over inputs:
- ``tvd``: total variation distance between the observed postselected distribution of the
  magnitude family and the exact ``y_j²/‖y‖²``;
- ``rel_l2``: ``‖ŷ - y‖ / ‖y‖`` of the signed estimate (aggregate: over all components);
- ``coverage_2se``: fraction of components with ``|ŷ_j - y_j| ≤ 2·stderr_j`` (≈ 0.95 when
  the error bars are honest and the device is exact);
- ``rate`` vs ``rate_ideal`` (postselection rate, Wilson 95% interval) and ``hw_discarded``
  (fraction of raw shots failing the Hamming-weight check; 0 on an ideal simulator).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwadapt.errors import InputError
from hwadapt.estimate import Estimate, estimate, mitigate_readout, tvd

MITIGATIONS = (None, "readout")


@dataclass
class Exact:
    """Exact reference of a spec: inputs ``x (inputs, n)``, outputs ``y (inputs, n)``."""

    x: np.ndarray
    y: np.ndarray
    alphas: np.ndarray
    beta: float
    reference: np.ndarray


def exact_reference(spec) -> Exact:
    """Exact ``y = Mψ`` for every input of a :class:`hwadapt.spec.JobSpec` (unary, HW 1)."""
    import torch

    from hwadapt.circuits.signs import default_beta, reference_vector
    from hwadapt.linalg import givens_matrix
    from hwadapt.spec import adapter_parameters, input_vectors

    angles, alphas = adapter_parameters(spec)
    n = spec.circuit.qubits
    O = givens_matrix(n, torch.as_tensor(angles, dtype=torch.float64), spec.circuit.layout)
    M = np.einsum("r,rij->ij", alphas, O.numpy())
    x = input_vectors(spec)
    return Exact(x, x @ M.T, np.asarray(alphas, float), default_beta(alphas),
                 reference_vector("uniform", x))


def metrics(est: Estimate, y: np.ndarray, alphas: np.ndarray) -> dict[str, Any]:
    """Per-input and aggregate comparison of ``est`` with the exact outputs ``y (inputs, n)``."""
    K0 = float(np.abs(alphas).sum())
    exact_p = y**2 / (y**2).sum(axis=1, keepdims=True)
    err = est.y - y
    per_tvd = tvd(est.probs, exact_p)
    per_l2 = np.linalg.norm(err, axis=1) / np.linalg.norm(y, axis=1)
    inside = np.abs(err) <= 2 * est.stderr
    rate_ideal = (y**2).sum(axis=1) / K0**2
    per_input = [
        {"input": i, "tvd": float(per_tvd[i]), "rel_l2": float(per_l2[i]),
         "coverage_2se": float(inside[i].mean()), "rate": float(est.rate[i]),
         "rate_interval": est.rate_interval[i].tolist(), "rate_ideal": float(rate_ideal[i]),
         "hw_discarded": float(est.hw_discarded[i]),
         "min_sign_confidence": float(est.sign_confidence[i].min())}
        for i in range(len(y))
    ]
    aggregate = {
        "inputs": len(y), "components": int(y.size),
        "tvd": float(per_tvd.mean()), "tvd_max": float(per_tvd.max()),
        "rel_l2": float(np.linalg.norm(err) / np.linalg.norm(y)),
        "coverage_2se": float(inside.mean()),
        "sign_agreement": float(np.mean(np.sign(est.y) == np.sign(y))),
        "rate": float(est.rate.mean()), "rate_ideal": float(rate_ideal.mean()),
        "hw_discarded": float(est.hw_discarded.mean()),
    }
    return {"aggregate": aggregate, "per_input": per_input}


def _measured_qubits(isa) -> list[int]:
    """``q[i]`` = physical qubit measured into classical bit ``i`` of an ISA circuit."""
    q = [-1] * isa.num_clbits
    for inst in isa.data:
        if inst.operation.name == "measure":
            q[isa.find_bit(inst.clbits[0]).index] = isa.find_bit(inst.qubits[0]).index
    if min(q) < 0:
        raise InputError("a stored circuit does not measure every classical bit")
    return q


def _readout_mitigator(run, qubits: list[int]):
    """Calibrated mthree mitigator for the run's backend on the measured physical ``qubits``;
    returns ``(m3, index map physical -> calibrated qubit)``. Local simulators only."""
    import mthree

    b = run.backend
    if b.kind == "aer_noisy":
        from qiskit_aer import AerSimulator

        from hwadapt.backends import restricted_noise_model

        phys = tuple(sorted(set(qubits)))
        sim = AerSimulator(noise_model=restricted_noise_model(b.device, phys),
                           seed_simulator=run.spec_seed)
        m3 = mthree.M3Mitigation(sim)
        m3.cals_from_system(list(range(len(phys))), shots=20_000)
        return m3, {q: j for j, q in enumerate(phys)}
    if b.kind in ("exact", "aer"):
        return None, {}
    raise InputError(f"--mitigate readout runs calibration circuits; for backend {b.name!r} "
                     "that would be a new device job: use aer_noisy, or drop --mitigate")


def run_estimate(ledger_path: str | Path, run_id: str, mitigate: str | None = None
                 ) -> tuple[Estimate, Exact, dict]:
    """Estimate from a stored run plus its exact reference; third value: run facts."""
    from hwadapt.execution.ledger import Ledger
    from hwadapt.execution.manager import load_run, run_counts
    from hwadapt.spec import parse_spec

    if mitigate not in MITIGATIONS:
        raise InputError(f"unknown mitigation {mitigate!r}: use readout or leave it out")
    ledger = Ledger(ledger_path)
    row = ledger.run(run_id)
    spec = parse_spec(row["spec_text"], where=f"run {run_id} spec")
    if spec.circuit.encoding != "unary":
        raise InputError(f"compare supports unary encodings, run {run_id} has "
                         f"{spec.circuit.encoding!r}")
    ex = exact_reference(spec)
    counts = run_counts(ledger_path, run_id)
    if not counts.get("magnitude") or any(not c for c in counts["magnitude"]):
        raise InputError(f"run {run_id} has no stored magnitude counts yet: `hwadapt fetch "
                         f"{run_id}` or `hwadapt resume {run_id}` first")
    if "signs" in counts and any(not c for c in counts["signs"]):
        counts.pop("signs")
    if mitigate == "readout":
        run = load_run(ledger, run_id)
        names = [f["name"] for f in run.families]
        measured = {name: _measured_qubits(c) for name, c in zip(names, run.circuits,
                                                                  strict=True)}
        m3, where = _readout_mitigator(run, sorted({q for v in measured.values() for q in v}))
        if m3 is not None:
            counts = {name: [mitigate_readout(c, m3, [where[q] for q in measured[name]])
                             for c in lst] for name, lst in counts.items()}
    est = estimate(counts, n=spec.circuit.qubits, alphas=ex.alphas, beta=ex.beta,
                   reference=ex.reference)
    facts = {"run": run_id, "name": row["name"], "backend": row["backend"],
             "noise_from": row["noise_from"], "families": sorted(counts),
             "mitigate": mitigate, "run_dir": str(ledger.runs_dir / run_id)}
    return est, ex, facts


def compare_run(ledger_path: str | Path, run_id: str, mitigate: str | None = None,
                plot: bool = False) -> dict[str, Any]:
    """Metrics of a stored run vs exact; writes ``<runs dir>/<run>/compare[-readout].json``
    (and PNGs with ``plot``); returns the written dict."""
    est, ex, facts = run_estimate(ledger_path, run_id, mitigate)
    out = {**facts, **metrics(est, ex.y, ex.alphas),
           "estimate": {"y": est.y.tolist(), "stderr": est.stderr.tolist(),
                        "sign_confidence": est.sign_confidence.tolist()},
           "exact": {"y": ex.y.tolist(), "beta": ex.beta}}
    run_dir = Path(facts["run_dir"])
    suffix = f"-{mitigate}" if mitigate else ""
    if plot:
        out["plots"] = [str(plot_estimates(est, ex.y, run_dir / f"estimate-vs-exact{suffix}.png",
                                           title=f"{run_id} ({facts['backend']}"
                                                 f"{', ' + mitigate if mitigate else ''})"))]
    path = run_dir / f"compare{suffix}.json"
    path.write_text(json.dumps(out, indent=1))
    out["path"] = str(path)
    return out


def plot_estimates(est: Estimate, y: np.ndarray, path: Path, title: str = "") -> Path:
    """Scatter of estimate vs exact with 2·stderr error bars, plus the first inputs' profiles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 4.5))
    lim = 1.05 * max(np.abs(y).max(), np.abs(est.y).max())
    a0.errorbar(y.ravel(), est.y.ravel(), yerr=2 * est.stderr.ravel(), fmt=".", ms=3,
                elinewidth=0.6, alpha=0.7)
    a0.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
    a0.set(xlabel="exact y_j", ylabel="estimate ŷ_j (±2 se)", xlim=(-lim, lim), ylim=(-lim, lim),
           title=title)
    n = y.shape[1]
    for i in range(min(3, len(y))):
        line = a1.plot(np.arange(n), y[i], "-", lw=1, label=f"exact, input {i}")[0]
        a1.errorbar(np.arange(n), est.y[i], yerr=2 * est.stderr[i], fmt="o", ms=3,
                    color=line.get_color(), label=f"estimate, input {i}")
    a1.set(xlabel="component j", ylabel="y_j")
    a1.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def latest_run(ledger_path: str | Path) -> str:
    """Id of the most recently created run in the ledger."""
    from hwadapt.execution.ledger import Ledger

    row = Ledger(ledger_path).db.execute(
        "SELECT id FROM runs ORDER BY created DESC LIMIT 1").fetchone()
    if row is None:
        raise InputError(f"ledger {str(ledger_path)!r} has no runs: `hwadapt submit` one first")
    return row["id"]
