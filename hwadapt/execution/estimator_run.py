"""Estimator runs: expectation values instead of counts, through the same ledger.

A run made from a spec with ``[observables]`` (:mod:`hwadapt.spec.observables`) stores, besides
``circuits.qpy`` (one ISA circuit, no measurements) and ``families.npz`` (its bindings, one per
input), :data:`ESTIMATOR_FILE`: the observable names, the operators the Estimator measures on
the ISA circuit's qubits (:func:`hwadapt.circuits.observables.postselected_operators`, laid
out by the transpiler), the index that rebuilds each postselected value, the shots, the
primitive options and the exact values. It is planned as one round of jobs (one PUB each: all
inputs × all operators, ``shots`` per input) and driven by :func:`hwadapt.execution.drive.drive`
like a Sampler run: the tag is recorded before submitting, a local batch re-runs after a
crash with the same seed, a remote one is re-attached by job id or tag. Each stored batch is
an ``.npz`` (``evs{j}``, ``stds{j}``) plus one ``estimates`` ledger row per PUB with ``evs``,
``stds``, the options used and the PUB's metadata (:func:`store_estimates`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwadapt.backends import Backend, get_backend
from hwadapt.execution import batching
from hwadapt.execution.artifacts import artifact, run_files, stored_results
from hwadapt.execution.ledger import Ledger, sha256_file
from hwadapt.execution.schema import ESTIMATES_TABLE
from hwadapt.fileio import atomic_write

ESTIMATOR_FILE = "estimator.json"


def is_estimator_run(ledger: Ledger, run_id: str) -> bool:
    """Whether ``run_id`` is an Estimator run (it has :data:`ESTIMATOR_FILE`)."""
    return ESTIMATOR_FILE in json.loads(ledger.run(run_id)["artifacts"])


def _ops_json(operators: list) -> list:
    return [[[p, list(map(int, q)), [float(c.real), float(c.imag)]]
             for p, q, c in op.to_sparse_list()] for op in operators]


def _ops_from_json(data: list, num_qubits: int) -> list:
    from qiskit.quantum_info import SparsePauliOp

    return [SparsePauliOp.from_sparse_list([(p, q, complex(*c)) for p, q, c in terms],
                                           num_qubits) for terms in data]


def write_estimator_file(run_dir: Path, names: list[str], isa, operators: list,
                         index: list, shots: int, options: dict, exact: dict,
                         calibration: int = 0) -> str:
    """Write :data:`ESTIMATOR_FILE` into ``run_dir`` and return its SHA-256. ``operators``:
    on the logical circuit's qubits; laid out here onto ``isa``'s physical qubits.
    ``exact``: ``{"values": (count, K), "accepted": (count,)}`` postselected exact values of
    every binding; the last ``calibration`` of them are calibration inputs."""
    layout = getattr(isa, "layout", None)
    physical = [op.apply_layout(layout) if layout is not None else op for op in operators]
    doc = {"observables": list(names), "num_qubits": isa.num_qubits,
           "operators": _ops_json(physical), "index": [list(map(int, ix)) for ix in index],
           "shots": int(shots), "options": options, "calibration": int(calibration),
           "exact": {k: np.asarray(v, float).tolist() for k, v in exact.items()}}
    path = run_dir / ESTIMATOR_FILE
    atomic_write(path, lambda f: f.write(json.dumps(doc, indent=1).encode()))
    return sha256_file(path)


def read_estimator_file(ledger: Ledger, run_id: str) -> dict:
    """The run's verified :data:`ESTIMATOR_FILE` as a dict."""
    return json.loads(artifact(ledger, run_id, ESTIMATOR_FILE).read_text())


@dataclass
class EstimatorRunData:
    """What an Estimator run needs to (re)submit its batches; :func:`drive` calls its
    :meth:`plan_round`, :meth:`submit` and :meth:`store` instead of the Sampler ones."""

    run_id: str
    spec_seed: int
    backend: Backend
    circuits: list  # [ISA circuit]
    values: list[np.ndarray]  # [(count, P)]
    families: list[dict]
    operators: list  # SparsePauliOp on the ISA circuit's qubits
    index: list
    shots: int
    options: dict
    run_dir: Path

    def plan_round(self, ledger: Ledger, batches: list) -> bool:
        """One round: every input in one PUB (split by the payload limits); then done."""
        if batches:
            ledger.set_run_status(self.run_id, "done", "all inputs estimated")
            return False
        count = len(self.values[0])
        jobs = batching.plan_jobs([np.full(count, self.shots)], [0],
                                  [8 * self.values[0].shape[1] * len(self.operators) + 16])
        ledger.add_batches(self.run_id, [
            {"idx": k, "round": 0, "shots": j["shots"], "pubs": j["pubs"],
             "seed": batching.batch_seed(self.spec_seed, k)} for k, j in enumerate(jobs)])
        return True

    def submit(self, batch, tag: str):
        """Submit ``batch`` on the backend's Estimator; returns its job."""
        pubs = [(self.circuits[p["family"]], self.operators,
                 self.values[p["family"]][p["inputs"]]) for p in batch.pubs]
        return self.backend.estimate(pubs, batch.seed, tag, batch.shots)

    def store(self, ledger: Ledger, batch, tag: str, result) -> None:
        """Write the batch's evs/stds file and its ledger rows (one transaction)."""
        path = self.run_dir / f"batch-{batch.idx:04d}.npz"
        arrays, rows, pubs = {}, [], []
        den = self.index[0][1] if self.index else 0
        for j, (p, pub_result) in enumerate(zip(batch.pubs, result, strict=True)):
            evs = np.asarray(pub_result.data.evs, float).reshape(len(p["inputs"]), -1)
            stds = np.asarray(pub_result.data.stds, float).reshape(evs.shape)
            arrays[f"evs{j}"], arrays[f"stds{j}"] = evs, stds
            rows.append({"evs": evs.tolist(), "stds": stds.tolist(),
                         "options": self.used_options(batch.shots),
                         "metadata": _jsonable(getattr(pub_result, "metadata", {}))})
            pubs.append({"family": p["family"], "inputs": p["inputs"], "shots": batch.shots,
                         "accepted": [int(round(batch.shots * max(v, 0.0)))
                                      for v in evs[:, den]]})
        atomic_write(path, lambda f: np.savez(f, **arrays))
        store_estimates(ledger, batch.id, tag, path, {"pubs": pubs, "estimator": True}, rows)

    def used_options(self, shots: int) -> dict:
        """The primitive and options this run's jobs are submitted with."""
        return {"backend": self.backend.name, "kind": self.backend.kind, "shots": shots,
                "shared_shots": self.backend.estimator_shared_shots, **self.options}


def load_estimator_run(ledger: Ledger, run_id: str, service=None) -> EstimatorRunData:
    """Read an Estimator run back, verifying its files' checksums."""
    row = ledger.run(run_id)
    circuits, meta, values = run_files(ledger, run_id)
    doc = read_estimator_file(ledger, run_id)
    backend = get_backend(row["backend"], row["noise_from"], service=service)
    backend.estimator_options = doc["options"]
    return EstimatorRunData(run_id, row["seed"], backend, circuits, values, meta,
                            _ops_from_json(doc["operators"], doc["num_qubits"]),
                            doc["index"], doc["shots"], doc["options"],
                            ledger.runs_dir / run_id)


def store_estimates(ledger: Ledger, batch_id: int, tag: str, path: Path, summary: dict,
                    rows: list[dict]) -> None:
    """Record a result file (already on disk) with one ``estimates`` row per PUB (dicts with
    ``evs``, ``stds``, ``options``, ``metadata``) and mark its batch done, atomically (the
    table is created in ledgers older than it)."""
    digest = sha256_file(path)
    rel = str(path.relative_to(ledger.runs_dir))
    with ledger.tx() as db:
        db.execute(ESTIMATES_TABLE)
        db.execute("INSERT INTO results VALUES (?,?,?,?,?)",
                   (batch_id, rel, digest, json.dumps(summary), time.time()))
        for j, r in enumerate(rows):
            db.execute("INSERT INTO estimates VALUES (?,?,?,?,?,?)",
                       (batch_id, j, json.dumps(r["evs"]), json.dumps(r["stds"]),
                        json.dumps(r["options"]), json.dumps(r["metadata"])))
        db.execute("UPDATE batches SET status = 'done', reason = NULL WHERE id = ?",
                   (batch_id,))
        db.execute("UPDATE submissions SET status = 'DONE' WHERE tag = ?", (tag,))


def estimates(ledger: Ledger, batch_id: int) -> list[dict]:
    """The ``estimates`` rows of a batch in PUB order (JSON decoded); [] if none."""
    try:
        rows = ledger.db.execute("SELECT * FROM estimates WHERE batch_id = ? ORDER BY pub",
                                 (batch_id,)).fetchall()
    except sqlite3.OperationalError:  # no such table: a ledger from before Estimator runs
        return []
    return [{k: json.loads(r[k]) for k in ("evs", "stds", "options", "metadata")}
            for r in rows]


def run_evs(ledger: Ledger, run_id: str) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """``(evs, stds, options)``: ``(count, operators)`` arrays over the run's stored batches
    (NaN where an input has no result yet; each input is estimated once) and the options of
    each stored PUB. Result files are checksum-verified."""
    doc = read_estimator_file(ledger, run_id)
    count = len(doc["exact"]["accepted"])
    evs = np.full((count, len(doc["operators"])), np.nan)
    stds = np.full_like(evs, np.nan)
    options = []
    for b, z in stored_results(ledger, run_id):
        for j, p in enumerate(b.pubs):
            evs[p["inputs"]] = z[f"evs{j}"]
            stds[p["inputs"]] = z[f"stds{j}"]
        options += [e["options"] for e in estimates(ledger, b.id)]
    return evs, stds, options


def _jsonable(x):
    """``x`` with numpy values turned into lists/floats and anything else unknown into str."""
    def default(o):
        if isinstance(o, np.ndarray | np.generic):
            return o.tolist()
        return str(o)

    return json.loads(json.dumps(x, default=default))


def exact_values(family, operators: list, index: list) -> dict:
    """Exact postselected values of a family's bindings: ``{"values": (count, K),
    "accepted": (count,)}`` (``<P0 ⊗ O_k> / <P0>`` and ``<P0>``, from
    :class:`~hwadapt.execution.exact_estimator.ExactEstimator` on the logical circuit)."""
    from hwadapt.execution.exact_estimator import ExactEstimator

    pub = (family.circuit, [operators], np.asarray(family.values, float)[:, None, :])
    evs = np.asarray(ExactEstimator().run([pub]).result()[0].data.evs)
    num = evs[:, [ix[0] for ix in index]]
    den = evs[:, [ix[1] for ix in index]]
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(den > 0, num / den, np.nan)
    return {"values": values, "accepted": evs[:, 0]}
