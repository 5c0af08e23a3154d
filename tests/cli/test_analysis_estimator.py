"""``hwadapt submit`` / ``compare`` / ``status`` on an Estimator spec (hwadapt/cli/analysis.py)."""

import json
from pathlib import Path

from typer.testing import CliRunner

from hwadapt.cli import app
from hwadapt.execution.ledger import Ledger

runner = CliRunner()
SPEC = Path(__file__).parents[2] / "jobs" / "observables.toml"


def test_submit_and_compare_an_estimator_run(tmp_path):
    led = str(tmp_path / "l.db")
    r = runner.invoke(app, ["submit", str(SPEC), "--backend", "exact", "--ledger", led,
                            "--json"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["compare", "latest", "--ledger", led, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["estimator"] and out["observables"] == ["Z0", "Z0Z1", "unary:3", "parity",
                                                       "X0X1"]
    assert {"aggregate", "by_observable", "values", "stderr", "exact", "z",
            "error_bars", "path", "shots", "options"} <= set(out)
    assert out["aggregate"]["coverage_2se"] == 1.0 and out["shots"] == 8192
    r = runner.invoke(app, ["compare", "latest", "--ledger", led])
    assert r.exit_code == 0 and "observables vs exact" in r.output and "parity" in r.output


def test_bad_observable_exits_2_ledger_untouched(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(SPEC.read_text().replace('"parity"', '"parity", "Z7"'))
    led = tmp_path / "l.db"
    Ledger(led).close()
    before = led.read_bytes()
    r = runner.invoke(app, ["submit", str(bad), "--backend", "exact", "--ledger", str(led)])
    assert r.exit_code == 2
    assert "Z7" in r.output and "data qubits 0..3" in r.output and "Traceback" not in r.output
    assert led.read_bytes() == before
    r = runner.invoke(app, ["compare", "latest", "--ledger", str(led), "--mitigate",
                            "readout"])
    assert r.exit_code == 2  # no runs
