"""Fixed cost: reading the ledger (`status`, `runs`) and listing backends import neither
Qiskit nor torch (nor numpy); a submit on aer_noisy loads no qiskit_ibm_runtime, torch or
numba before its first shot; whole sampler submits on aer and exact never import torch.
Checked by the modules loaded in a fresh interpreter, not by timing."""

import json
import subprocess
import sys

import pytest

HEAVY = ("qiskit", "torch", "qiskit_aer", "qiskit_ibm_runtime", "scipy", "numba", "numpy")

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


@pytest.mark.slow
def test_sampler_submits_never_import_torch(tmp_path):
    """A whole ``submit`` on aer and on exact (exact distributions and rates, sampling, the
    ledger and summary) runs with torch never imported: the exact simulator's numpy pass."""
    spec = tmp_path / "s.toml"
    spec.write_text('name = "tiny"\n[circuit]\nqubits = 3\nterms = 1\nalphas = [0.8]\n'
                    "[inputs]\ncount = 2\n[shots]\ntarget_accepted = 50\n")
    ledger = str(tmp_path / "l.db")
    got = _probe(*[["submit", str(spec), "--backend", b, "--ledger", ledger, "--json"]
                   for b in ("aer", "exact")])
    assert got["codes"] == [0, 0], got["outputs"]
    runs = [json.loads(o[o.index("["):])[0] for o in got["outputs"]]
    assert [r["status"] for r in runs] == ["done", "done"]
    assert "qiskit" in got["loaded"]  # the probe sees what the submits imported
    assert not [m for m in got["loaded"] if m.split(".")[0] in ("torch", "numba")]


def test_listing_backends_imports_no_qiskit_or_torch():
    got = _probe(["backends", "--json"])
    assert got["codes"] == [0]
    names = {b["name"] for b in json.loads(got["outputs"][0])}
    assert {"exact", "aer", "aer_noisy", "fake_torino", "ibm_<device>"} <= names
    assert got["loaded"] == []


SUBMIT_PROBE = r"""
import json, sys
from hwadapt.backends import get_backend
from hwadapt.execution.build import exact_distribution, transpile
from hwadapt.spec import build_families, calibration_vectors, load_spec, run_metadata

spec = load_spec(sys.argv[1])
backend = get_backend("aer_noisy")
fams = build_families(spec)
run_metadata(spec)
calibration_vectors(spec)
assert exact_distribution(fams[0]) is not None
isa = transpile(fams[0].circuit, backend, spec.optimization_level, spec.seed)
backend.noise_model(backend.plan([(isa, fams[0].values[:1], 100)])[0])
loaded = sorted(m for m in ("numba", "qiskit_ibm_runtime", "torch") if m in sys.modules)
from hwadapt.backends import fake_backend  # now with every translation plugin loaded:
from hwadapt.circuits.transpile import transpile_for

same = transpile_for(fams[0].circuit, fake_backend("fake_torino"), spec.optimization_level,
                     spec.seed)[0] == isa
print(json.dumps({"loaded": loaded, "same_isa": same}))
"""


@pytest.mark.slow
def test_submit_on_aer_noisy_needs_no_runtime_numba_or_torch(tmp_path):
    """Up to its first shot, a demo submit on aer_noisy (device from the cache, Givens
    matrices in numpy, the exact simulator's numpy forward pass, Qiskit's own translation
    plugins only) loads neither qiskit_ibm_runtime nor numba nor torch, and its ISA circuit is
    the one the fake device with every plugin loaded gives."""
    import os
    from pathlib import Path

    env = {**os.environ, "HWADAPT_CACHE": str(tmp_path)}
    demo = str(Path(__file__).parents[1] / "jobs" / "demo.toml")
    runs = [subprocess.run([sys.executable, "-c", SUBMIT_PROBE, demo], capture_output=True,
                           text=True, env=env, timeout=600) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[-1].stderr
    got = json.loads(runs[1].stdout.strip().splitlines()[-1])  # the device cache is warm
    assert got == {"loaded": [], "same_isa": True}
