"""Usability found while hardening: user text shown literally (markup, control characters),
network failures named, Ctrl-C prompt and keeping finished batches, fetch/compare advice,
inputs counted once below target, uncut run ids, progress when piped."""

import json
import signal
import socket
import time

import pytest
from reliability_helpers import SMALL, check_complete, settle

from hwadapt.execution import manager
from hwadapt.execution.ledger import Ledger
from hwadapt.progress import ProgressBar


def test_run_named_with_markup_lists_literally(cli, tmp_path):
    spec = tmp_path / "s.toml"
    name = "[/red] [bold]x \x1b[2J"
    spec.write_text(SMALL.read_text().replace('name = "small"', f'name = "{name}"'
                                              .replace("\x1b", "\\u001b")))
    path = tmp_path / "l.db"
    r = cli.inproc("submit", spec, "--backend", "exact", "--ledger", path)
    assert r.returncode == 0, r.stderr
    for cmd in ("status", "runs"):
        r = cli(cmd, "--ledger", path, env={"COLUMNS": "200"})
        assert r.returncode == 0, r.stderr
        assert "[/red] [bold]x \\x1b[2J" in r.stdout and "\x1b" not in r.stdout
    assert json.loads(cli.inproc("runs", "--json", "--ledger", path).stdout)[0]["name"] == name


def test_network_failure_is_named(cli, tmp_path, monkeypatch):
    def offline():
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except OSError as e:  # what qiskit_ibm_runtime wraps it in
            raise ValueError("Unable to retrieve instances. Please check that you are using "
                             "a valid API token.") from e

    monkeypatch.setattr("hwadapt.backends.runtime.ibm_service", offline)
    r = cli.inproc("submit", SMALL, "--backend", "ibm_kyiv", "--ledger", tmp_path / "l.db")
    line = cli.one_line_error(r, code=1)
    assert "cannot reach IBM Quantum (network)" in line and "API token" not in line
    assert not (tmp_path / "l.db").exists()


def test_fetch_on_active_local_run_says_what_to_do(cli, planned):
    path, rid = planned
    line = cli.one_line_error(cli.inproc("fetch", rid, "--ledger", path))
    assert f"hwadapt resume {rid}" in line


def test_compare_of_cancelled_run(cli, planned):
    path, rid = planned
    r = cli.inproc("cancel", rid, "--ledger", path)
    assert r.returncode == 0, r.stderr
    line = cli.one_line_error(cli.inproc("compare", rid, "--ledger", path))
    assert "cancelled" in line and "resume" not in line


def test_inputs_below_target_counted_once():
    counts = [{"accepted": [10, 900, 5, 1000]}, {"accepted": [10, 10, 1000, 1000]}]
    fams = [{}, {}]
    assert manager._inputs_below(counts, [100, 100], fams) == 3  # input 3 fine in both
    cal = [{"calibration": 1}, {"calibration": 1}]  # the last row is a calibration input
    assert manager._inputs_below(counts, [100, 100], cal) == 3
    assert manager._inputs_below(counts, [1, 100], fams) == 2  # per-family targets


def test_run_ids_not_cut_in_narrow_tables(cli, two_runs):
    """No cell is cut on any width: a table when every word fits, else two lines per run
    (80 columns); the QPU column only when a run has QPU seconds (these are exact runs)."""
    path, ids = two_runs
    for width, table in (("60", False), ("80", False), ("120", True)):
        r = cli("status", "--ledger", path, env={"COLUMNS": width})
        assert r.returncode == 0, r.stderr
        assert all(i in r.stdout for i in ids) and "…" not in r.stdout
        assert ("┃ run" in r.stdout) == table and "QPU" not in r.stdout
        assert table or "accepted (min/target) magnitude:" in r.stdout


def test_progress_when_piped(capsys, monkeypatch):
    monkeypatch.setattr("hwadapt.progress.PLAIN_AFTER_S", 0.0)
    monkeypatch.setattr("hwadapt.progress.PLAIN_EVERY_S", 0.0)
    bar = ProgressBar(True, "run [/x]", 3)
    for _ in range(3):
        bar.advance()
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["run [/x]: 1/3", "run [/x]: 2/3", "run [/x]: 3/3"]
    bar = ProgressBar(False, "quiet", 3)
    bar.advance()
    bar.close()
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_ctrl_c_stops_promptly_and_keeps_finished_batches(cli, tmp_path, reference_counts):
    path = tmp_path / "l.db"
    p = cli.popen("submit", SMALL, "--backend", "aer", "--ledger", path)
    deadline = time.time() + 120
    while time.time() < deadline and not _a_batch_done(path):
        time.sleep(0.02)  # the ledger's row, not the file: a file is written before its row
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    [row] = Ledger(path, readonly=True).runs()
    if row["status"] == "done":  # the run finished before the signal landed (or its
        assert p.returncode in (0, 130)  # summary was being printed: aborted then)
        assert "Traceback" not in err
    else:
        assert p.returncode == 130 and "aborted" in err and "Traceback" not in err
        settle(path)
        led = Ledger(path, readonly=True)
        done = [b for b in led.batches(row["id"]) if b.status == "done"]
        assert done  # a batch recorded before the signal: kept
        manager.verify_results(led, row["id"])
        r = cli("resume", "--ledger", path)
        assert r.returncode == 0, r.stderr
    assert check_complete(path, row["id"]) == reference_counts


def _a_batch_done(path) -> bool:
    """Whether the ledger at ``path`` (being written by another process) records a done batch."""
    if not path.exists():
        return False
    led = Ledger(path, readonly=True)
    try:
        return any(b.status == "done" for r in led.runs() for b in led.batches(r["id"]))
    finally:
        led.close()
