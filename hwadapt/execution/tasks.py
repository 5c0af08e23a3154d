"""Worker-side tasks of a parallel run: plain data in, plain data out, no ledger access.

:func:`batch_task` runs one batch of a local backend from a :func:`batch_item` (the backend
named by kind and noise source, the batch's PUBs, its seed) and returns
:func:`~hwadapt.execution.sampled.compact_result`; the driver records it. Batch seeds derive
from the spec seed and the batch index, so the counts do not depend on where or how often
the task ran.
"""

from __future__ import annotations

import json
from functools import lru_cache

from hwadapt.backends import Backend, get_backend
from hwadapt.execution.drive import _pubs, with_retry
from hwadapt.execution.rundata import RunData
from hwadapt.execution.sampled import compact_result


def batch_item(run: RunData, batch, tag: str) -> dict:
    """What :func:`batch_task` needs to run ``batch`` of ``run`` anywhere (picklable)."""
    b = run.backend
    return {"backend": b.name, "noise_from": run.noise_from,
            "options": json.dumps(b.sampler_options, sort_keys=True),
            "pubs": _pubs(run, batch), "seed": batch.seed, "tag": tag}


@lru_cache(maxsize=8)
def _backend(name: str, noise_from: str | None, options: str) -> Backend:
    backend = get_backend(name, noise_from)
    backend.sampler_options = json.loads(options)
    return backend


def batch_task(item: dict) -> list[dict]:
    """Run one batch (a :func:`batch_item`) and return its compact result (in a worker)."""
    backend = _backend(item["backend"], item["noise_from"], item["options"])
    return compact_result(with_retry(
        lambda: backend.run(item["pubs"], item["seed"], item["tag"]).result()))
