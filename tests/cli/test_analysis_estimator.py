"""``hwadapt submit`` / ``compare`` / ``status`` on an Estimator spec (hwadapt/cli/analysis.py)."""

import json
from pathlib import Path

import numpy as np
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


def test_calibrated_estimator_run_error_bars_cover_the_device_bias(tmp_path):
    """An Estimator spec with ``[calibration]`` on aer_noisy (fake_torino noise): compare
    reports the targets only, adds a systematic term per observable measured on the
    calibration inputs, and the total ± covers what shot noise alone misses; the table
    shows both coverages and σ_sys."""
    spec = tmp_path / "obs.toml"
    spec.write_text(SPEC.read_text().replace("count = 4", "count = 8")
                    + "\n[calibration]\ninputs = 32\n")
    led = str(tmp_path / "l.db")
    r = runner.invoke(app, ["submit", str(spec), "--backend", "aer_noisy", "--ledger", led,
                            "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(runner.invoke(app, ["compare", "latest", "--ledger", led,
                                         "--json"]).output)
    a = out["aggregate"]
    assert out["calibration_inputs"] == 32 and a["inputs"] == 8
    assert len(out["values"]) == 8 and "32 calibration inputs" in out["error_bars"]
    assert all(o["systematic"] > 0 for o in out["by_observable"])
    assert a["coverage_2se_stat"] < 0.5 <= 0.9 <= a["coverage_2se"]
    r = runner.invoke(app, ["compare", "latest", "--ledger", led])
    assert r.exit_code == 0 and "σ_sys" in r.output and "calibration inputs" in r.output
    r = runner.invoke(app, ["compare", "latest", "--ledger", led, "--mitigate", "learned",
                            "--json"])
    assert r.exit_code == 0, r.output
    learned = json.loads(r.output)
    assert learned["mitigation"]["method"] == "learned"
    assert [m["name"] for m in learned["mitigation"]["maps"]] == out["observables"]
    assert learned["path"].endswith("compare-learned.json")
    assert learned["aggregate"]["mean_abs_error"] < out["aggregate"]["mean_abs_error"] / 2
    assert learned["aggregate"]["coverage_2se"] >= 0.85 and "learned map" in \
        learned["error_bars"]
    st = json.loads(runner.invoke(app, ["status", "latest", "--ledger", led,
                                        "--json"]).output)[0]
    assert st["target_accepted"] is None and st["families"][0]["inputs_at_target"] is None
    assert st["families"][0]["calibration_inputs"] == 32  # no Sampler target shown
    assert "/4000" not in runner.invoke(app, ["status", "latest", "--ledger", led]).output
    from hwadapt.training.observables import estimator_tensor

    values, stderr, names = estimator_tensor(led, out["run"])
    assert values.shape == stderr.shape == (8, 5) and len(names) == 5
    assert np.allclose(values.numpy(), out["values"])
