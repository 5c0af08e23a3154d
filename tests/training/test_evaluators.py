"""LedgerEvaluator with ``batch_bindings`` and an executor: a step's bindings in several
batches spread over workers, the same estimates as the same batches run in-process."""

import numpy as np
import pytest

from hwadapt.adapters.quantum import Request
from hwadapt.execution.ledger import Ledger
from hwadapt.executors import LocalExecutor
from hwadapt.training.evaluators import LedgerEvaluator


def _call(tmp_path, executor=None):
    rng = np.random.default_rng(8)
    n, R, S = 3, 2, 2
    req = Request(rng.uniform(-1, 1, size=(S, R, n * (n - 1) // 2)), np.array([0.6, -0.4]))
    psi = rng.normal(size=(3, n))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    ev = LedgerEvaluator("aer", tmp_path / "l.db", shots=500, session="par", seed=3,
                         batch_bindings=4, executor=executor)
    [(y, se)] = ev([req], psi)
    return y, se, Ledger(tmp_path / "l.db", readonly=True).batches("par-c00000")


@pytest.mark.slow  # two worker processes import qiskit
def test_a_step_on_two_workers_gives_the_in_process_estimates(tmp_path):
    y1, se1, b1 = _call(tmp_path / "serial")
    with LocalExecutor(2) as ex:
        y2, se2, b2 = _call(tmp_path / "pool", ex)
    assert len(b1) == 3  # 2 families x 2 settings x 3 inputs = 12 bindings, 4 per batch
    assert all(sum(len(p["inputs"]) for p in b.pubs) <= 4 for b in b1)
    assert [(b.idx, b.seed, b.pubs) for b in b2] == [(b.idx, b.seed, b.pubs) for b in b1]
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(se1, se2)
    assert np.all(se1 > 0)
