"""What the analysis of a run needs, stored with the run's artifacts at submit time.

``hwadapt compare`` reads this file (checksum-verified like the other artifacts) and never
re-parses the spec or re-reads the files it referenced, so editing a checkpoint or an inputs
``.npy`` after a run, or comparing from another directory, cannot change the comparison.

File ``analysis.npz``: arrays ``x (count, n)`` (unit inputs), ``M (n, n)`` (the adapter
matrix, ``y = x @ M.T``), ``alphas (R,)``, ``reference_<mode>_<family> (count, n)`` (the
sign reference ``r`` of each signs family of each mode), ``calref_<family> (m, n)`` (the lcu
signs families' references on the run's calibration inputs, if it has any) and ``meta``
(JSON: construction, modes, encoding, layout, ``beta``, ``K0``, the inputs'
source/seed/count, the signs families per mode).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwadapt.fileio import atomic_write

FILE = "analysis.npz"


@dataclass(frozen=True)
class RunMetadata:
    """Exact reference data of a run (module docstring); ``n`` = data qubits."""

    construction: str
    modes: tuple[str, ...]
    encoding: str
    layout: str
    x: np.ndarray
    M: np.ndarray
    alphas: np.ndarray
    beta: float
    K0: float
    references: dict[str, dict[str, np.ndarray]]  # mode -> signs family -> r (count, n)
    inputs: dict
    calibration_references: dict[str, np.ndarray] | None = None  # family -> r (m, n)

    @property
    def n(self) -> int:
        return int(self.M.shape[0])

    def save(self, path: str | Path) -> Path:
        """Write to ``path`` atomically."""
        path = Path(path)
        meta = {"construction": self.construction, "modes": list(self.modes),
                "encoding": self.encoding, "layout": self.layout, "beta": self.beta,
                "K0": self.K0, "inputs": self.inputs,
                "sign_families": {m: list(r) for m, r in self.references.items()}}
        refs = {f"reference_{m}_{f}": r for m, fam in self.references.items()
                for f, r in fam.items()}
        refs.update({f"calref_{f}": r for f, r in (self.calibration_references or {}).items()})
        return atomic_write(path, lambda f: np.savez(
            f, meta=np.array(json.dumps(meta)), x=self.x, M=self.M, alphas=self.alphas, **refs))

    @classmethod
    def load(cls, path: str | Path) -> RunMetadata:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            fams = meta["sign_families"]
            refs = {m: {f: z[f"reference_{m}_{f}"] for f in fams[m]} for m in meta["modes"]}
            cal = {f: z[f"calref_{f}"] for f in fams.get("lcu", []) if f"calref_{f}" in z}
            return cls(meta["construction"], tuple(meta["modes"]), meta["encoding"],
                       meta["layout"], z["x"], z["M"], z["alphas"], float(meta["beta"]),
                       float(meta["K0"]), refs, meta["inputs"], cal or None)
