"""`hwadapt finetune`: a tiny end-to-end run through the CLI, and bad input."""

import json

from typer.testing import CliRunner

from hwadapt.cli import app

runner = CliRunner()


def test_finetune_json(tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["finetune", "--methods", "full,hamming", "--seeds", "1",
                            "--epochs", "1", "--pretrain-epochs", "1", "--hidden", "16",
                            "--max-per-class", "20", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["out"] == str(out) and set(data["summary"]) == {"full", "hamming"}
    assert data["summary"]["hamming"]["body_params"] == 2 * (2 * 16 + 2)
    study = json.loads((out / "study.json").read_text())
    assert study["config"]["methods"] == ["full", "hamming"]
    assert (out / "forgetting.png").is_file() and (out / "README.md").is_file()


def test_finetune_bad_input(tmp_path):
    r = runner.invoke(app, ["finetune", "--methods", "full,qlora"])
    assert r.exit_code == 2 and "unknown method(s) ['qlora']" in r.output
    r = runner.invoke(app, ["finetune", "--hidden", "200", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "perfect square" in r.output
    r = runner.invoke(app, ["finetune", "--data-dir", str(tmp_path / "none")])
    assert r.exit_code == 2 and "not a directory" in r.output
    assert not (tmp_path / "x").exists()


def test_finetune_human_output(tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["finetune", "--methods", "head-only", "--seeds", "1", "--epochs",
                            "1", "--pretrain-epochs", "1", "--hidden", "16",
                            "--max-per-class", "10", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "| head-only | 0 | 85 |" in r.output and f"wrote {out}/study.json" in r.output
    assert "not tested" in r.output  # claims need arms this run did not have


def test_quantum_run_refused_by_the_time_model_leaves_nothing(tmp_path, monkeypatch):
    """finetune --quantum on aer_noisy modelled above the limit: one line naming --force,
    exit 2, no ledger and no output folder (the folder it made is removed again)."""
    monkeypatch.setattr("hwadapt.execution.plan.MAX_SIMULATION_S", 1e-9)
    out, ledger = tmp_path / "run", tmp_path / "l.db"
    r = runner.invoke(app, ["finetune", "--quantum", "--backend", "aer_noisy", "--qubits", "4",
                            "--hidden", "16", "--steps", "1", "--epochs", "1",
                            "--pretrain-epochs", "1", "--max-per-class", "10", "--out",
                            str(out), "--ledger", str(ledger)])
    assert r.exit_code == 2, r.output
    assert "first batch of adapter circuits" in r.output and "--force" in r.output
    assert list(tmp_path.iterdir()) == []
