"""Estimator-run outputs as training data: the postselected observables of every input as a
tensor (the quantum-data issue feeds them to the hybrid loop)."""

from __future__ import annotations

from pathlib import Path

import torch

from hwadapt.expectations import run_postselected


def estimator_tensor(ledger_path: str | Path, run_id: str, dtype: torch.dtype = torch.float64
                     ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``(values, stderr, names)`` of an Estimator run: ``values``/``stderr`` ``(inputs, K)``
    (row ``i`` = the spec's input ``i``, column ``k`` = observable ``names[k]``, the
    postselected ``<O_k>`` and its shot-noise standard error; NaN where an input has no
    result yet; a ``[calibration]`` table's inputs are left out)."""
    r = run_postselected(ledger_path, run_id)
    n = len(r["values"]) - r["calibration"]
    return (torch.as_tensor(r["values"][:n], dtype=dtype),
            torch.as_tensor(r["stderr"][:n], dtype=dtype), list(r["names"]))
