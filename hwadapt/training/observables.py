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
    postselected ``<O_k>`` and its standard error; NaN where an input has no result yet)."""
    r = run_postselected(ledger_path, run_id)
    return (torch.as_tensor(r["values"], dtype=dtype),
            torch.as_tensor(r["stderr"], dtype=dtype), list(r["names"]))
