"""``hwadapt quantum-finetune``: bad options are one-line errors (exit 2, nothing written);
a tiny end-to-end run writes the study and resumes its backend run."""

import json

import pytest
from typer.testing import CliRunner

from hwadapt.cli import app

runner = CliRunner()


@pytest.mark.parametrize("args,needle", [
    (["--qubits", "2"], "--qubits"),
    (["--layout", "butterfly"], "--layout"),
    (["--task-b", "heisenberg"], "--task-b"),
    (["--lr", "-1"], "--lr"),
    (["--backend", "nonsense"], "nonsense"),
    (["--variance-max", "20"], "--variance-max"),
    (["--seeds", "0"], "--seeds"),
    (["--backend-qubits", "2"], "--backend-qubits"),
])
def test_bad_options_are_one_line_errors(tmp_path, args, needle):
    out = tmp_path / "out"
    r = runner.invoke(app, ["quantum-finetune", *args, "--out", str(out),
                            "--ledger", str(tmp_path / "l.db")])
    assert r.exit_code == 2, r.output
    assert needle in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.slow
def test_tiny_study_end_to_end(tmp_path):
    out, ledger = tmp_path / "out", tmp_path / "l.db"
    args = ["quantum-finetune", "--qubits", "3", "--layers", "1", "--seeds", "2", "--train",
            "6", "--val", "6", "--steps", "10", "--pretrain-steps", "10", "--variance-max",
            "0", "--backend", "exact", "--backend-steps", "1", "--backend-qubits", "3",
            "--no-check",
            "--shots", "100", "--out", str(out), "--ledger", str(ledger), "--json"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert set(rep["summary"]) >= {"full", "lcu", "qa-warm", "probe"}
    assert len(rep["summary"]["lcu"]["val_b"]["values"]) == 2
    assert 0 < rep["summary"]["lcu"]["p_success"]["mean"] <= 1
    study = json.loads((out / "study.json").read_text())
    assert study["backend"]["steps"] == 1 and study["dla"] == []
    assert (out / "quantum_adapter.png").stat().st_size > 0
    readme = (out / "README.md").read_text()
    assert "held" in readme and "final train loss" in readme
