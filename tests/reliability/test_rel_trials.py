"""The trial script benchmarks/reliability.py in miniature: a few kill -9 and concurrent-driver
trials on real processes, none lost, duplicated or damaged."""

import json
import subprocess
import sys

import pytest
from reliability_helpers import ROOT


@pytest.mark.slow
def test_kill_and_race_trials(tmp_path):
    out = tmp_path / "reliability.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "reliability.py"),
                        "--kill-trials", "2", "--race-trials", "2", "--seed", "1",
                        "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())
    assert rep["kill_trials"] == 2 and rep["race_trials"] == 2
    assert (rep["lost"], rep["duplicated"], rep["damaged"]) == (0, 0, 0)
    assert rep["unexpected_exits"] == 0
