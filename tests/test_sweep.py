"""hwadapt sweep: settings, bad options, 0× = ideal, errors grow with scale, resumable."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hwadapt.cli import app
from hwadapt.errors import InputError
from hwadapt.execution.ledger import Ledger
from hwadapt.sweep import parse_scales, plan_settings, run_sweep, sweep_state

SPEC = """
name = "sw"
seed = 5
[circuit]
qubits = 3
layout = "pyramid"
terms = 2
alphas = [0.7, -0.4]
families = ["magnitude", "signs"]
[inputs]
count = 3
[shots]
target_accepted = 1500
budget = 400000
"""


def test_parse_scales_and_plan_settings():
    assert parse_scales("0, 0.5,1,2") == [0.0, 0.5, 1.0, 2.0]
    for bad in ("", "0,x", "-1", "1,1", "nan"):
        with pytest.raises(InputError):
            parse_scales(bad)
    s = plan_settings("fake_lagos", ["fake_lagos", "fake_jakarta"], [0.0, 2.0])
    assert [(x["device"], x["scale"], x["noise_from"]) for x in s] == [
        ("fake_lagos", 0.0, "fake_lagos@0"), ("fake_lagos", 2.0, "fake_lagos@2"),
        ("fake_jakarta", 0.0, "fake_jakarta@0"), ("fake_jakarta", 2.0, "fake_jakarta@2")]
    assert plan_settings(None, [], [1.0])[0]["device"] == "fake_torino"
    with pytest.raises(InputError, match="unknown fake device"):
        plan_settings(None, ["fake_nope"], [1.0])
    with pytest.raises(InputError, match="--scales"):
        plan_settings("fake_lagos@2", [], [1.0])


@pytest.mark.parametrize("args,msg", [
    (["--scales", "0,x"], "--scales"),
    (["--scales", "1,-2"], "--scales"),
    (["--devices", "fake_nope"], "unknown fake device"),
    (["--noise-from", "fake_lagos@2"], "--scales"),
    (["--mitigate", "magic"], "unknown mitigation"),
    (["--resume", "sweep-nope"], "no sweep"),
])
def test_sweep_bad_options_exit_2_one_line(tmp_path, args, msg):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    res = CliRunner().invoke(app, ["sweep", str(spec), "--ledger", str(tmp_path / "l.db"),
                                   *args])
    assert res.exit_code == 2, res.output
    assert msg in res.output and len(res.output.strip().splitlines()) == 1, res.output
    res = CliRunner().invoke(app, ["sweep", str(tmp_path / "none.toml"),
                                   "--ledger", str(tmp_path / "l.db")])
    assert res.exit_code == 2 and "not found" in res.output


@pytest.mark.slow
def test_sweep_zero_is_ideal_errors_grow_and_resume(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    ledger = tmp_path / "l.db"
    res = CliRunner().invoke(app, ["sweep", str(spec), "--noise-from", "fake_lagos",
                                   "--scales", "0,0.25,1", "--mitigate", "readout", "--json",
                                   "--ledger", str(ledger)])
    assert res.exit_code == 0, res.output
    state = json.loads(res.output[res.output.index("{"):])
    rows = state["settings"]
    assert [r["noise_from"] for r in rows] == ["fake_lagos@0", "fake_lagos@0.25", "fake_lagos@1"]
    assert all(r["status"] == "done" for r in rows)
    a = [r["aggregate"] for r in rows]
    # 0x = ideal: no leakage out of HW 1, rate and distribution within shot noise
    accepted = 1500
    assert a[0]["hw_discarded"] == 0 and a[0]["sign_agreement"] == 1.0
    assert a[0]["tvd"] < 1.5 * np.sqrt(3 / accepted)  # E[TVD] <= 0.5 sqrt(n/N)
    assert a[0]["rel_l2"] < 0.1 and a[0]["coverage_2se"] >= 0.75
    # errors grow with the scale (on this small spec rel_l2 saturates above ~0.5x fake_lagos,
    # where signs are lost: keep to the range where it is informative)
    for m in ("tvd", "rel_l2", "hw_discarded"):
        assert a[0][m] < a[1][m] < a[2][m], (m, [x[m] for x in a])
    assert a[2]["coverage_2se"] <= a[1]["coverage_2se"] <= a[0]["coverage_2se"]
    # readout mitigation: calibration stored with each noisy run, reused by compare
    runs_dir = tmp_path / "runs"
    assert (runs_dir / rows[2]["run"] / "readout-cals.json").is_file()
    assert rows[2]["aggregate_readout"]["hw_discarded"] < a[2]["hw_discarded"]
    assert (runs_dir / state["sweep"] / "sweep.png").stat().st_size > 10_000
    assert sweep_state(ledger, state["sweep"])["settings"][2]["aggregate"] == a[2]

    # resume after a "crash" before the last setting ran: only that setting runs again
    stored = sweep_state(ledger, state["sweep"])
    stored["settings"][2].update(run=None, status=None)
    del stored["settings"][2]["aggregate"]
    (runs_dir / state["sweep"] / "sweep.json").write_text(json.dumps(stored))
    before = len(Ledger(ledger).runs())
    again = run_sweep(spec, ledger, plan_settings("fake_lagos", [], [0.0, 0.25, 1.0]),
                      resume=state["sweep"], plot=False)
    assert len(Ledger(ledger).runs()) == before + 1
    assert [r["run"] for r in again["settings"][:2]] == [r["run"] for r in rows[:2]]
    assert again["settings"][0]["aggregate"] == a[0]
    assert again["settings"][2]["run"] != rows[2]["run"]
    assert again["settings"][2]["aggregate"] == a[2]  # same seeds: same counts
    with pytest.raises(InputError, match="planned with settings"):
        run_sweep(spec, ledger, plan_settings("fake_lagos", [], [0.0, 2.0]),
                  resume=state["sweep"])
    # the table says what its "within 2·se" covers, as compare does: this spec has no
    # [calibration]
    res = CliRunner().invoke(app, ["sweep", str(spec), "--noise-from", "fake_lagos",
                                   "--scales", "0,0.25,1", "--resume", state["sweep"],
                                   "--ledger", str(ledger)])
    assert res.exit_code == 0, res.output
    assert "within 2·se: shot noise only: the run has no [calibration] inputs" in res.output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sweep_refuses_a_simulation_of_days_like_submit(tmp_path, workers):
    """Both sweep paths (in this process, and runs built on workers) apply submit's
    simulation-time limit: one line naming --force, and nothing written (no ledger, no
    sweep folder)."""
    spec = tmp_path / "d16.toml"
    spec.write_text((Path(__file__).parents[1] / "jobs" / "demo.toml").read_text()
                    .replace("qubits = 8", "qubits = 16"))
    ledger = tmp_path / "l.db"
    res = CliRunner().invoke(app, ["sweep", str(spec), "--scales", "1", "--workers", workers,
                                   "--ledger", str(ledger)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "on this machine" in res.output and "--force" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d16.toml"]


def test_resuming_a_finished_sweep_on_workers_only_compares(tmp_path):
    """--resume of a sweep whose runs are all done, on the worker pool: nothing to drive
    (was an IndexError in the parallel driver), same table again, no new run."""
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    ledger = tmp_path / "l.db"
    args = ["sweep", str(spec), "--noise-from", "fake_lagos", "--scales", "0,1", "--workers",
            "2", "--ledger", str(ledger), "--json"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    state = json.loads(first.stdout)
    again = CliRunner().invoke(app, [*args, "--resume", state["sweep"]])
    assert again.exit_code == 0, again.output
    assert [s["aggregate"] for s in json.loads(again.stdout)["settings"]] == \
        [s["aggregate"] for s in state["settings"]]
    assert len(Ledger(ledger).runs()) == 2


def test_plot_shows_the_spec_name_literally(tmp_path):
    """A spec name is text, not matplotlib mathtext: '$\\undefined$' once failed savefig at
    the end of a sweep; the coverage panel names what its error bars cover."""
    from hwadapt.sweep import plot_sweep

    agg = {"tvd": 0.1, "rel_l2": 0.2, "coverage_2se": 0.9, "hw_discarded": 0.0,
           "systematic": None}
    state = {"name": r"cost $\undefined$", "sweep": "sweep-x", "mitigate": None,
             "settings": [{"device": "fake_lagos", "scale": s, "aggregate": agg}
                          for s in (0.0, 1.0)]}
    path = plot_sweep(state, tmp_path / "sweep.png")
    assert path.stat().st_size > 10_000
