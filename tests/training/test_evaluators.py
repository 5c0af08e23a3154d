"""LedgerEvaluator: with ``batch_bindings`` and an executor, a step's bindings in several
batches spread over workers give the same estimates as the same batches run in-process; on
``ibm_*`` it keeps one Runtime session across its calls (the steps of ``finetune --quantum``),
a batch where the Open plan refuses sessions, through the service double (tests/conftest.py).
"""

import numpy as np
import pytest
import torch

from hwadapt.adapters.quantum import QuantumAdapter, Request
from hwadapt.errors import InputError
from hwadapt.execution import usage
from hwadapt.execution.ledger import Ledger
from hwadapt.executors import LocalExecutor
from hwadapt.training.evaluators import LedgerEvaluator

D = torch.float64


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


@pytest.mark.slow
@pytest.mark.parametrize("open_plan", [False, True])
def test_one_session_across_calls(tmp_path, service, open_plan):
    service.open_plan = open_plan
    ev = LedgerEvaluator("ibm_lagos", tmp_path / "l.db", shots=200, session="s", seed=1,
                         service=service, mode="session")
    torch.manual_seed(4)
    q = QuantumAdapter(4, 2, evaluator=ev, dtype=D)
    with torch.no_grad():
        q.alpha.copy_(torch.tensor([0.7, -0.3], dtype=D))
    x = torch.randn(2, 4, dtype=D, generator=torch.Generator().manual_seed(1))
    for _ in range(2):  # two calls, two ledger runs
        with torch.no_grad():
            q(x)
    led = Ledger(tmp_path / "l.db")
    runs = [r["id"] for r in led.runs()]
    assert runs == ["s-c00000", "s-c00001"]
    [mode] = service.modes.values()
    assert mode.kind == ("batch" if open_plan else "session") and not mode.closed
    jobs = [s["job_id"] for r in runs for b in led.batches(r) for s in led.submissions(b.id)]
    assert sorted(mode.jobs) == sorted(jobs) and len(jobs) >= 2
    for r in runs:  # each run records the mode it ran in
        assert usage.modes(led, r) == [{"kind": mode.kind, "mode_id": mode.session_id,
                                        "open": False}]
    ev.close()
    assert mode.closed


def test_first_call_refused_when_its_simulation_is_modelled_too_long(tmp_path, monkeypatch):
    """aer_noisy's cost model is checked at the first call, before its run is created (as
    submit does); ``force`` runs it anyway."""
    monkeypatch.setattr("hwadapt.execution.plan.MAX_SIMULATION_S", 1e-9)
    x = torch.randn(2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for force in (False, True):
        ev = LedgerEvaluator("aer_noisy", tmp_path / "l.db", shots=100, session=f"f{force}",
                             noise_from="fake_lagos", force=force)
        q = QuantumAdapter(3, 1, dtype=torch.float64, evaluator=ev)
        with torch.no_grad():
            q.alpha.fill_(0.5)  # a zero adapter submits nothing
        if not force:
            with pytest.raises(InputError, match="first batch of adapter circuits.*--force"):
                q(x)
            assert not (tmp_path / "l.db").exists()
        else:
            assert q(x).shape == (2, 3)
            assert [r["id"] for r in Ledger(tmp_path / "l.db").runs()] == ["fTrue-c00000"]
