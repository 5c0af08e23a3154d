import pytest

from hwadapt.execution.ledger import Ledger
from hwadapt.quantum.backend_run import backend_finetune


@pytest.mark.slow
def test_backend_run_resumes_from_its_checkpoint_and_ledger(tmp_path):
    kw = {"out": tmp_path / "run", "ledger": tmp_path / "l.db", "qubits": 3, "batch": 2,
          "evaluate": 2, "shots": 200, "pretrain_steps": 5}
    first = backend_finetune("aer", steps=1, **kw)
    runs = {r["id"] for r in Ledger(tmp_path / "l.db").runs()}
    assert len(runs) == 3  # evaluation before, step 0, evaluation after: a ledger run each
    second = backend_finetune("aer", steps=2, **kw)  # continues after step 0
    assert second["loss"][0] == first["loss"][0] and len(second["loss"]) == 2
    after = {r["id"] for r in Ledger(tmp_path / "l.db").runs()}
    # step 1 and the evaluation of the new parameters are new; the rest is reused
    assert runs < after and len(after) == 5
    for e in ("before", "after"):
        assert 0 <= second[e]["backend"]["accuracy"] <= 1
        assert all(0 < a <= 1 for a in second[e]["backend"]["acceptance"])
