"""What the analysis of a run needs, stored with the run's artifacts at submit time.

``hwadapt compare`` reads this file (checksum-verified like the other artifacts) and never
re-parses the spec or re-reads the files it referenced, so editing a checkpoint or an inputs
``.npy`` after a run, or comparing from another directory, cannot change the comparison.

File ``analysis.npz``: arrays ``x (count, n)`` (unit inputs), ``M (n, n)`` (the adapter
matrix, ``y = x @ M.T``), ``alphas (R,)``, ``reference_<mode> (count, n)`` (the sign
reference ``r`` of each mode's signs families) and ``meta`` (JSON: construction, modes,
encoding, layout, ``beta``, ``K0``, the inputs' source/seed/count).
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
    references: dict[str, np.ndarray]
    inputs: dict

    @property
    def n(self) -> int:
        return int(self.M.shape[0])

    def save(self, path: str | Path) -> Path:
        """Write to ``path`` atomically."""
        path = Path(path)
        meta = {"construction": self.construction, "modes": list(self.modes),
                "encoding": self.encoding, "layout": self.layout, "beta": self.beta,
                "K0": self.K0, "inputs": self.inputs}
        refs = {f"reference_{m}": r for m, r in self.references.items()}
        return atomic_write(path, lambda f: np.savez(
            f, meta=np.array(json.dumps(meta)), x=self.x, M=self.M, alphas=self.alphas, **refs))

    @classmethod
    def load(cls, path: str | Path) -> RunMetadata:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            refs = {m: z[f"reference_{m}"] for m in meta["modes"]}
            return cls(meta["construction"], tuple(meta["modes"]), meta["encoding"],
                       meta["layout"], z["x"], z["M"], z["alphas"], float(meta["beta"]),
                       float(meta["K0"]), refs, meta["inputs"])
