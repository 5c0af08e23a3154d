"""``hwadapt submit --dry-run / --max-qpu-seconds / --mode`` and the QPU column of
``hwadapt status`` (local backends only: the CLI never reaches IBM in tests)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hwadapt.cli import app

SMALL = Path(__file__).parents[2] / "jobs" / "small.toml"
runner = CliRunner()


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    led = tmp_path / "l.db"
    r = runner.invoke(app, ["submit", str(SMALL), "--backend", "fake_lagos", "--dry-run",
                            "--ledger", str(led)])
    assert r.exit_code == 0, r.output
    assert "nothing submitted" in r.output and "s estimated" in r.output
    assert "rep_delay 250 us" in r.output
    assert list(tmp_path.iterdir()) == []
    r = runner.invoke(app, ["submit", str(SMALL), "--backend", "fake_lagos", "--dry-run",
                            "--json", "--ledger", str(led)])
    plan = json.loads(r.stdout)
    assert plan["qpu_seconds"] > plan["jobs"] * plan["job_overhead_s"] and plan["pubs"] >= 1
    assert plan["payload_bytes"] > 0 and list(tmp_path.iterdir()) == []


def test_dry_run_on_ibm_without_an_account_plans_on_the_snapshot(tmp_path, monkeypatch):
    """No token, no saved account: ``ibm_<device> --dry-run`` plans on ``fake_<device>``
    (says so, same QPU estimate, no local simulation line) instead of failing; with an
    account the live device is used; a device without a snapshot still needs one."""
    from hwadapt.backends import offline_stand_in

    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    monkeypatch.setenv("QISKIT_IBM_CONFIG", str(tmp_path / "none.json"))
    led = tmp_path / "l.db"
    r = runner.invoke(app, ["submit", str(SMALL), "--backend", "ibm_lagos", "--dry-run",
                            "--ledger", str(led)])
    assert r.exit_code == 0, r.output
    assert "planned on the fake_lagos snapshot" in r.output and "local simulation" not in r.output
    plans = [json.loads(runner.invoke(app, ["submit", str(SMALL), "--backend", b, "--dry-run",
                                            "--json", "--ledger", str(led)]).stdout)
             for b in ("ibm_lagos", "fake_lagos")]
    assert plans[0]["planned_on"] == "fake_lagos" and plans[0]["simulation_seconds"] is None
    assert plans[0]["qpu_seconds"] == plans[1]["qpu_seconds"] > 0
    assert list(tmp_path.iterdir()) == []
    assert offline_stand_in("ibm_nosuch") is None and offline_stand_in("fake_lagos") is None
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "t")
    assert offline_stand_in("ibm_lagos") is None  # an account: the live device


def test_dry_run_on_a_simulator_says_no_durations(tmp_path):
    r = runner.invoke(app, ["submit", str(SMALL), "--backend", "exact", "--dry-run",
                            "--ledger", str(tmp_path / "l.db")])
    assert r.exit_code == 0 and "no durations" in r.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dry", [False, True])
def test_max_qpu_seconds_refuses_in_one_line_exit_2_ledger_untouched(tmp_path, dry,
                                                                  folder_state):
    led = tmp_path / "l.db"
    assert runner.invoke(app, ["submit", str(SMALL), "--backend", "exact", "--ledger",
                               str(led)]).exit_code == 0
    before = folder_state(tmp_path)
    r = runner.invoke(app, ["submit", str(SMALL), "--backend", "fake_lagos", "--ledger",
                            str(led), "--max-qpu-seconds", "2"] + (["--dry-run"] if dry else []))
    assert r.exit_code == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error")]
    assert len(lines) == 1 and "exceeds max_qpu_seconds 2" in lines[0]
    assert "Traceback" not in r.output
    assert folder_state(tmp_path) == before


def test_unknown_mode_is_one_line_exit_2(tmp_path):
    r = runner.invoke(app, ["submit", str(SMALL), "--backend", "exact", "--mode", "dedicated",
                            "--ledger", str(tmp_path / "l.db")])
    assert r.exit_code == 2 and "unknown execution mode 'dedicated'" in r.output
    assert not (tmp_path / "l.db").exists()


@pytest.mark.slow
def test_status_shows_estimated_and_used_qpu_seconds(tmp_path, monkeypatch):
    led = tmp_path / "l.db"
    r = runner.invoke(app, ["submit", str(SMALL), "--backend", "fake_lagos", "--mode",
                            "session", "--json", "--ledger", str(led)])
    assert r.exit_code == 0, r.output  # local mode: the mode is accepted and ignored
    [s] = json.loads(r.stdout)
    assert s["qpu_seconds"]["estimated"] > 0 and s["qpu_seconds"]["used"] is None
    from hwadapt.cli import core

    monkeypatch.setattr(core.console, "width", 250)
    r = runner.invoke(app, ["status", "--ledger", str(led)])
    assert "QPU s (est/used)" in r.output
    assert f"{s['qpu_seconds']['estimated']:.1f}/-" in r.output


def test_a_local_simulation_of_days_is_refused_before_anything_is_written(tmp_path,
                                                                        folder_state):
    """The demo at 16 data qubits on aer_noisy is statevector trajectories on 17 qubits:
    weeks on 2 cores. ``submit`` says so in one line (exit 2, the ledger untouched)
    instead of starting it; ``--dry-run`` prints the estimate; ``--force`` lifts the limit."""
    from hwadapt.execution.plan import MAX_SIMULATION_S, check_simulation_seconds

    spec = tmp_path / "d16.toml"
    spec.write_text((SMALL.parent / "demo.toml").read_text().replace("qubits = 8",
                                                                      "qubits = 16"))
    led = tmp_path / "l.db"
    assert runner.invoke(app, ["submit", str(SMALL), "--backend", "exact", "--ledger",
                               str(led)]).exit_code == 0
    before = folder_state(tmp_path)
    r = runner.invoke(app, ["submit", str(spec), "--backend", "aer_noisy", "--ledger",
                            str(led)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error")]
    assert len(lines) == 1 and "on this machine" in lines[0] and "--force" in lines[0]
    assert folder_state(tmp_path) == before
    r = runner.invoke(app, ["submit", str(spec), "--backend", "aer_noisy", "--dry-run",
                            "--json", "--ledger", str(led)])
    plan = json.loads(r.stdout)
    assert plan["simulation_seconds"] > 10 * MAX_SIMULATION_S
    r = runner.invoke(app, ["submit", str(SMALL), "--backend", "aer_noisy", "--dry-run",
                            "--ledger", str(led)])
    assert "local simulation: under a minute" in r.output and "over the limit" not in r.output
    check_simulation_seconds({"simulation_seconds": 10 * MAX_SIMULATION_S, "shots": 1},
                             "aer_noisy", force=True)
    assert folder_state(tmp_path) == before


@pytest.mark.parametrize("command", [["submit"], ["sweep", "--scales", "0"]])
def test_a_bad_spec_fails_before_an_executor_starts(tmp_path, command, monkeypatch):
    """The spec is read before ``--executor ray`` starts Ray (seconds): one line, exit 2."""
    import ray

    started = []
    monkeypatch.setattr(ray, "init", lambda *a, **k: started.append(k))
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[circuit\nqubits = 4\n')
    r = runner.invoke(app, [command[0], str(bad), *command[1:], "--executor", "ray",
                            "--ledger", str(tmp_path / "l.db")])
    assert r.exit_code == 2 and "not valid TOML" in r.output
    assert started == [] and not (tmp_path / "l.db").exists()


def test_status_minimum_is_over_target_inputs_not_calibration_inputs(tmp_path):
    """Calibration inputs are sampled at ``[calibration] shots`` and have no target: a run
    whose targets were all reached showed e.g. ``magnitude:40/300 … all targets reached``."""
    spec = tmp_path / "cal.toml"
    spec.write_text(SMALL.read_text() + "\n[calibration]\ninputs = 4\nshots = 64\n")
    led = tmp_path / "l.db"
    r = runner.invoke(app, ["submit", str(spec), "--backend", "exact", "--ledger", str(led)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["status", "latest", "--json", "--ledger", str(led)])
    fams = json.loads(r.stdout)[0]["families"]
    target_min = [min(f["accepted"][:-f["calibration_inputs"]]) for f in fams]
    assert all(f["calibration_inputs"] == 4 for f in fams)
    assert min(min(f["accepted"]) for f in fams) < 64 <= 500 <= min(target_min)
    r = runner.invoke(app, ["status", "latest", "--ledger", str(led)],
                      env={"COLUMNS": "300"})
    cells = [f"{f['name']}:{m}/500" for f, m in zip(fams, target_min, strict=True)]
    assert all(c in r.output for c in cells) and "all targets reached" in r.output, r.output


@pytest.mark.parametrize("args,named", [
    (["--backend", "fake_armonk"], "but fake_armonk has 1"),
    (["--backend", "aer_noisy", "--noise-from", "fake_armonk"],
     "but aer_noisy (fake_armonk) has 1"),
])
def test_a_device_too_small_is_one_line_exit_2_nothing_written(tmp_path, args, named):
    led = tmp_path / "l.db"
    r = runner.invoke(app, ["submit", str(SMALL), *args, "--ledger", str(led)])
    assert r.exit_code == 2, r.output
    assert f"the spec's circuits need 5 qubits {named}: lower circuit.qubits" in r.output
    assert r.output.strip().count("\n") == 0 and list(tmp_path.iterdir()) == []
