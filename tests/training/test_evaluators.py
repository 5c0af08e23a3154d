"""LedgerEvaluator on ``ibm_*`` keeps one Runtime session across its calls (the steps of
``finetune --quantum``), a batch where the Open plan refuses sessions; through the service
double (tests/conftest.py)."""

import pytest
import torch

from hwadapt.adapters.quantum import QuantumAdapter
from hwadapt.execution import usage
from hwadapt.execution.ledger import Ledger
from hwadapt.training.evaluators import LedgerEvaluator

D = torch.float64


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
