"""Fixed cost: reading the ledger (`status`, `runs`) and listing backends import neither
Qiskit nor torch. Checked by the modules loaded in a fresh interpreter, not by timing."""

import json
import subprocess
import sys

import pytest

HEAVY = ("qiskit", "torch", "qiskit_aer", "qiskit_ibm_runtime", "scipy", "numba")

PROBE = r"""
import json, sys
from typer.testing import CliRunner
from hwadapt.cli import app

outs = [CliRunner().invoke(app, args) for args in json.loads(sys.argv[1])]
print(json.dumps({"codes": [r.exit_code for r in outs], "outputs": [r.output for r in outs],
                  "loaded": sorted(m for m in sys.modules
                                   if m.split(".")[0] in sys.argv[2].split(","))}))
"""


def _probe(*commands):
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(commands), ",".join(HEAVY)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_status_and_runs_read_the_ledger_without_qiskit_or_torch(tmp_path):
    from hwadapt.execution.manager import submit

    spec = tmp_path / "s.toml"
    spec.write_text('name = "tiny"\n[circuit]\nqubits = 3\nterms = 1\nalphas = [0.8]\n'
                    "[inputs]\ncount = 2\n[shots]\ntarget_accepted = 50\n")
    ledger = str(tmp_path / "l.db")
    run = submit(spec, "exact", ledger)
    got = _probe(["status", "--ledger", ledger, "--json"], ["runs", "--ledger", ledger],
                 ["status", run, "--ledger", ledger, "--json"])
    assert got["codes"] == [0, 0, 0], got["outputs"]
    assert json.loads(got["outputs"][0])[0]["run"] == run and run in got["outputs"][1]
    assert json.loads(got["outputs"][2])[0]["status"] == "done"
    assert got["loaded"] == []


def test_listing_backends_imports_no_qiskit_or_torch():
    got = _probe(["backends", "--json"])
    assert got["codes"] == [0]
    names = {b["name"] for b in json.loads(got["outputs"][0])}
    assert {"exact", "aer", "aer_noisy", "fake_torino", "ibm_<device>"} <= names
    assert got["loaded"] == []
