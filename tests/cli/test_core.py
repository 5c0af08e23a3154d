"""The shared executor options (--executor, --workers, --ray-address) of submit, resume,
sweep and finetune: bad choices are one line and exit 2 before anything is written; a
sweep on two local workers gives the counts of one."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hwadapt.cli import app
from hwadapt.execution.rundata import run_counts

SPEC = Path(__file__).parents[2] / "jobs" / "small.toml"
runner = CliRunner()
COMMANDS = [["submit", str(SPEC)], ["resume"], ["sweep", str(SPEC), "--scales", "1"],
            ["finetune", "--seeds", "1"]]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
@pytest.mark.parametrize("choice,msg", [
    (["--executor", "spark"], "unknown executor 'spark'"),
    (["--workers", "0"], "--workers '0'"),
    (["--ray-address", "auto"], "--ray-address goes with --executor ray"),
])
def test_bad_executor_choices_exit_2_and_write_nothing(tmp_path, args, choice, msg):
    led = tmp_path / "l.db"
    r = runner.invoke(app, [*args, *choice, "--ledger", str(led), "--out", str(tmp_path / "o")]
                      if args[0] == "finetune" else [*args, *choice, "--ledger", str(led)])
    assert r.exit_code == 2, r.output
    assert msg in r.output and "Traceback" not in r.output
    assert not led.exists() and not (tmp_path / "o").exists()


def test_unreachable_ray_address_is_one_line_and_leaves_the_ledger(tmp_path):
    """Through the real entry point: exit 2, one line on stderr, the ledger unchanged."""
    led = tmp_path / "l.db"
    ok = runner.invoke(app, ["submit", str(SPEC), "--backend", "exact", "--ledger", str(led),
                             "--workers", "1"])
    assert ok.exit_code == 0, ok.output
    before = led.read_bytes()
    address = f"127.0.0.1:{_closed_port()}"
    r = subprocess.run([sys.executable, "-m", "hwadapt", "submit", str(SPEC), "--backend",
                        "exact", "--ledger", str(led), "--executor", "ray", "--ray-address",
                        address], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert f"no Ray cluster answers at '{address}'" in r.stderr
    assert led.read_bytes() == before


@pytest.mark.slow  # a pool of two workers imports qiskit
def test_sweep_on_two_workers_has_the_counts_of_one(tmp_path):
    states = []
    for workers in ("1", "2"):
        led = tmp_path / workers / "l.db"
        r = runner.invoke(app, ["sweep", str(SPEC), "--noise-from", "fake_lagos", "--scales",
                                "0.5,2", "--workers", workers, "--json", "--ledger", str(led)])
        assert r.exit_code == 0, r.output
        state = json.loads(r.stdout)
        assert [s["status"] for s in state["settings"]] == ["done", "done"]
        states.append([run_counts(led, s["run"]) for s in state["settings"]])
    assert states[0] == states[1]


def test_one_run_commands_default_to_one_worker_in_process(monkeypatch):
    """submit/resume run one run's batches in this process unless asked (workers would only
    add their start-up); sweeps default to one worker per core; an explicit choice wins."""
    from hwadapt.cli.core import executor_from
    from hwadapt.executors import machine_workers

    monkeypatch.delenv("HWADAPT_WORKERS", raising=False)
    monkeypatch.delenv("HWADAPT_EXECUTOR", raising=False)
    assert executor_from(None, None, None, one_run=True).workers == 1
    assert executor_from(None, None, None).workers == machine_workers()
    assert executor_from(None, 2, None, one_run=True).workers == 2
    monkeypatch.setenv("HWADAPT_WORKERS", "2")  # the environment is an explicit choice too
    assert executor_from(None, None, None, one_run=True).workers == 2


def _help_texts(cmd) -> list[str]:
    return [cmd.help or "", *(p.help for p in cmd.params if getattr(p, "help", None))]


def test_help_texts_show_literally_and_list_commands_on_joined_lines():
    """Typer renders help as rich markup: a spec table such as ``[execution]`` in an option's
    help vanished from ``--help``; the command list kept the docstrings' line breaks."""
    import re

    import typer

    group = typer.main.get_command(app)
    top = runner.invoke(app, ["--help"], env={"COLUMNS": "400"})
    assert top.exit_code == 0
    brackets = 0
    for name, cmd in group.commands.items():
        first = " ".join(cmd.help.split("\n\n")[0].split())
        assert first.replace("\\[", "[") in top.output, name  # one line at 400 columns
        r = runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"})
        assert r.exit_code == 0, r.output
        shown = " ".join(r.output.replace("│", " ").split())
        for text in _help_texts(cmd):
            for tag in re.findall(r"\[[a-z_]+\]", text.replace("\\[", "[")):
                brackets += 1
                assert tag in shown, (name, tag)
    assert brackets >= 3  # submit --mode, --max-qpu-seconds, compare --mitigate
