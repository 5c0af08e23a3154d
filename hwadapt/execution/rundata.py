"""A run read back from its directory: :class:`RunData` (what re-submitting its batches
needs, checksum-verified by :func:`load_run`) and its merged counts (:func:`run_counts`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwadapt.backends import Backend, get_backend
from hwadapt.circuits.lcu import postselect
from hwadapt.execution.artifacts import family_meta, run_files, stored_results
from hwadapt.execution.ledger import Ledger
from hwadapt.execution.shots import stored_shots
from hwadapt.spec import sampler_options


@dataclass
class RunData:
    """What a run needs to (re)submit its batches, read back from its run directory."""

    run_id: str
    spec_seed: int
    backend: Backend
    circuits: list  # ISA circuits, one per family
    values: list[np.ndarray]  # (count, P) per family
    families: list[dict]  # name, n_data, n_ancilla, weight, rates (list | None)
    target: int
    budget: int
    max_rounds: int
    pilot: int
    run_dir: Path

    def accept(self, f: int, outcomes: np.ndarray) -> np.ndarray:
        """Accepted-outcome mask of family ``f`` (:func:`hwadapt.circuits.lcu.postselect`)."""
        fam = self.families[f]
        return postselect(outcomes, fam["n_data"], fam["n_ancilla"], fam["weight"])


def load_run(ledger: Ledger, run_id: str, service=None) -> RunData:
    """Read a run's artifacts back, verifying their checksums (an Estimator run gives its
    :class:`~hwadapt.execution.estimator_run.EstimatorRunData`)."""
    from hwadapt.execution.estimator_run import is_estimator_run, load_estimator_run

    if is_estimator_run(ledger, run_id):
        return load_estimator_run(ledger, run_id, service=service)
    row = ledger.run(run_id)
    run_dir = ledger.runs_dir / run_id
    circuits, meta, values = run_files(ledger, run_id)
    shots = stored_shots(row["spec_text"])
    backend = get_backend(row["backend"], row["noise_from"], service=service)
    backend.sampler_options = sampler_options(row["spec_text"])  # DD/twirling (fake_*, ibm_*)
    return RunData(run_id, row["seed"], backend, circuits, values, meta, run_dir=run_dir,
                   **shots)


def run_counts(ledger_path: str | Path, run_id: str) -> dict[str, list[dict[int, int]]]:
    """Merged counts per family and input over all stored batches: ``{family: [{outcome:
    count}, ...]}`` (outcome ints, clbit i = bit i; all outcomes, postselect with
    ``hwadapt.circuits.lcu.postselect``). Result files are checksum-verified."""
    ledger = Ledger(ledger_path, readonly=True)
    meta, sizes = family_meta(ledger, run_id)
    out = {m["name"]: [Counter() for _ in range(n)] for m, n in zip(meta, sizes, strict=True)}
    from qiskit.primitives.containers import BitArray

    for b, z in stored_results(ledger, run_id):
        for j, p in enumerate(b.pubs):
            bits = BitArray(z[f"pub{j}"], int(z[f"pub{j}_num_bits"]))
            for k, i in enumerate(p["inputs"]):
                out[meta[p["family"]]["name"]][i].update(bits[k].get_int_counts())
    return {name: [dict(sorted(c.items())) for c in lst] for name, lst in out.items()}
