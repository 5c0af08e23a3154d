"""Quantum study report: mean ± sample std over seeds, and the mean alone from one seed."""

from hwadapt.quantum.report import LABELS, table_markdown


def _study(values: list[float]) -> dict:
    entry = {"mean": sum(values) / len(values), "std": 0.05 if len(values) > 1 else 0.0,
             "values": values}
    return {"summary": {arm: {"val_b": entry, "val_a": entry, "params": {"mean": 7},
                              "p_success": None, "final_loss": entry} for arm in LABELS}}


def test_spread_only_with_several_seeds():
    several = table_markdown(_study([0.8, 0.9]))
    assert "| (b) LCU adapter, U_QNN frozen, α2=0 start | 0.850 ± 0.050 | 0.850 ± 0.050 | 7 | – |" \
        in several
    one = table_markdown(_study([0.8]))
    assert "| (b) LCU adapter, U_QNN frozen, α2=0 start | 0.800 | 0.800 | 7 | – |" in one
    assert "±" not in one
