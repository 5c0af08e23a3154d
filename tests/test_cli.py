"""The CLI shell: version, help, backends listing, error conventions."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from hwadapt import __version__
from hwadapt.cli import app

runner = CliRunner()


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0
    assert __version__ in r.output


def test_help_lists_design_commands():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for cmd in ("submit", "status", "fetch", "resume", "compare", "finetune", "backends"):
        assert cmd in r.output


def test_backends_json():
    r = runner.invoke(app, ["backends", "--json"])
    assert r.exit_code == 0, r.output
    rows = {b["name"]: b for b in json.loads(r.stdout)}
    for name in ("exact", "aer", "aer_noisy", "fake_torino", "fake_sherbrooke", "ibm_<device>"):
        assert name in rows
    assert rows["fake_torino"]["num_qubits"] == 133
    assert "cz" in rows["fake_torino"]["basis_gates"]
    assert "ecr" in rows["fake_sherbrooke"]["basis_gates"]


def test_ibm_usable_follows_token(monkeypatch, tmp_path):
    from hwadapt.backends import ibm_credentials_available

    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    monkeypatch.setenv("QISKIT_IBM_CONFIG", str(tmp_path / "none.json"))
    assert not ibm_credentials_available()
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "not-a-real-token")
    assert ibm_credentials_available()


def test_unknown_command_exits_2():
    r = runner.invoke(app, ["no-such-command"])
    assert r.exit_code == 2


def test_bad_input_is_one_line_exit_2():
    """Through the real entry point: exit 2, one line on stderr, no traceback."""
    cmd = [sys.executable, "-m", "hwadapt.cli", "submit", "no-such-spec.toml"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_read_commands_never_create_a_ledger(tmp_path):
    led = tmp_path / "sub" / "none.db"
    for args in (["status"], ["runs"], ["fetch", "r1"], ["status", "r1"], ["cancel", "r1"],
                 ["compare", "r1"], ["resume"]):
        r = runner.invoke(app, [*args, "--ledger", str(led)])
        assert r.exit_code == 2, (args, r.output)
        assert "no ledger at" in r.output and "Traceback" not in r.output
    assert not led.exists() and not led.parent.exists()


def _two_exact_runs(led) -> list[str]:
    """Submit ``jobs/small.toml`` twice on ``exact`` into ledger ``led``; the run ids."""
    ids = []
    for _ in range(2):
        r = runner.invoke(app, ["submit", "jobs/small.toml", "--backend", "exact", "--json",
                                "--ledger", str(led)])
        assert r.exit_code == 0, r.output
        ids.append(json.loads(r.stdout)[0]["run"])
    return ids


def test_latest_names_the_newest_run(tmp_path):
    """``latest`` works wherever a run id does (status, fetch, resume, cancel, compare)."""
    from hwadapt.execution.summary import resolve_run

    led = tmp_path / "h.db"
    ids = _two_exact_runs(led)
    assert resolve_run(led, "latest") == ids[1] and resolve_run(led, ids[0]) == ids[0]
    for cmd in ("status", "fetch", "resume"):
        r = runner.invoke(app, [cmd, "latest", "--json", "--ledger", str(led)])
        assert r.exit_code == 0, (cmd, r.output)
        assert [s["run"] for s in json.loads(r.stdout)] == [ids[1]]
    r = runner.invoke(app, ["cancel", "latest", "--ledger", str(led)])
    assert r.exit_code == 2 and f"run {ids[1]} is done" in r.output


def test_latest_on_an_empty_ledger_is_one_line(tmp_path):
    from hwadapt.execution.ledger import Ledger

    led = tmp_path / "h.db"
    Ledger(led)  # created, no runs
    r = runner.invoke(app, ["status", "latest", "--ledger", str(led)])
    assert r.exit_code == 2 and "has no runs" in r.output


def test_nothing_to_show_is_a_sentence_not_an_empty_table(tmp_path, monkeypatch):
    """``resume`` with every run finished, ``status``/``runs`` before any run: one line
    saying so (was an empty table); ``--json`` stays ``[]``."""
    from hwadapt.execution.ledger import Ledger

    led = tmp_path / "h.db"
    Ledger(led)  # created, no runs
    for args, said in ((["status"], "no runs in this ledger yet"), (["runs"], "no runs in"),
                       (["resume"], "nothing to resume")):
        r = runner.invoke(app, [*args, "--ledger", str(led)])
        assert r.exit_code == 0 and said in r.output and "┏" not in r.output, r.output
        r = runner.invoke(app, [*args, "--json", "--ledger", str(led)])
        assert json.loads(r.stdout) == []
    r = runner.invoke(app, ["submit", "jobs/small.toml", "--backend", "exact", "--ledger",
                            str(led)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["resume", "--ledger", str(led)])
    assert r.exit_code == 0 and "every run in this ledger is finished" in r.output
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HWADAPT_LEDGER", raising=False)
    r = runner.invoke(app, ["status"])  # the default ledger, nothing submitted here yet
    assert r.exit_code == 0 and "no runs yet" in r.output and not (tmp_path / "results").exists()


def test_short_run_ids_name_one_run(tmp_path):
    """A unique start of a run id or its random tag (after the last ``-``) names that run in
    every command, as git's and docker's short ids do; one matching several runs is one line
    listing them (exit 2); an unknown one is the usual "no run" line."""
    from hwadapt.execution.summary import resolve_run

    led = tmp_path / "h.db"
    ids = _two_exact_runs(led)
    tags = [i.rsplit("-", 1)[1] for i in ids]
    common = next(k for k in range(len(ids[0]) + 1) if ids[0][:k] != ids[1][:k]) - 1
    assert resolve_run(led, ids[0][:common + 1]) == ids[0]
    assert resolve_run(led, ids[1]) == ids[1]
    for cmd in ("status", "fetch"):
        r = runner.invoke(app, [cmd, tags[1], "--json", "--ledger", str(led)])
        assert r.exit_code == 0, (cmd, r.output)
        assert [s["run"] for s in json.loads(r.stdout)] == [ids[1]]
    r = runner.invoke(app, ["compare", tags[0], "--json", "--ledger", str(led)])
    assert r.exit_code == 0 and json.loads(r.stdout)["run"] == ids[0]
    r = runner.invoke(app, ["status", ids[0][:common], "--ledger", str(led)])
    assert r.exit_code == 2 and "ambiguous" in r.output and "matches 2 runs" in r.output
    assert ids[0] in r.output and ids[1] in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["status", "zz[b]", "--ledger", str(led)])
    assert r.exit_code == 2 and "no run 'zz[b]'" in r.output
