"""Run metadata: what compare needs is stored (checksummed) with the run at submit, with
copies of the files the spec references; compare never re-parses the spec."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hwadapt import compare as compare_mod
from hwadapt.cli import app
from hwadapt.compare import compare_run, exact_reference
from hwadapt.errors import InputError
from hwadapt.execution.ledger import Ledger, sha256_file
from hwadapt.execution.manager import load_metadata, submit
from hwadapt.execution.metadata import FILE
from hwadapt.spec import load_spec

ROOT = Path(__file__).parents[2]


def _cli(*args):
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res


@pytest.mark.parametrize("cwd", ["root", "elsewhere"])
def test_checkpoint_spec_compares_from_the_root_and_from_another_cwd(tmp_path, monkeypatch,
                                                                     cwd):
    ledger = str(tmp_path / "l.db")
    monkeypatch.chdir(ROOT)
    _cli("submit", "jobs/checkpoint.toml", "--backend", "exact", "--json", "--ledger", ledger)
    if cwd == "elsewhere":
        monkeypatch.chdir(tmp_path)
    out = json.loads(_cli("compare", "latest", "--json", "--ledger", ledger).output)
    assert out["name"] == "from-checkpoint" and out["aggregate"]["inputs"] == 4
    assert out["aggregate"]["tvd"] < 0.1  # magnitudes only: no signs family


def test_editing_referenced_files_after_a_run_does_not_change_compare(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs")
    spec_path = tmp_path / "jobs" / "checkpoint.toml"
    npy = tmp_path / "jobs" / "examples" / "inputs4.npy"
    ledger = tmp_path / "l.db"
    spec = load_spec(spec_path)
    digest = spec.digest
    run = submit(spec_path, "exact", ledger)
    row = Ledger(ledger).run(run)
    assert row["spec_sha256"] == digest != hashlib.sha256(row["spec_text"].encode()).hexdigest()
    run_dir = ledger.parent / "runs" / run
    artifacts = json.loads(row["artifacts"])
    for key, src in (("circuit.checkpoint", "adapter4.pt"), ("inputs.path", "inputs4.npy")):
        copy = f"files/{key}{Path(src).suffix}"
        assert artifacts[copy] == sha256_file(tmp_path / "jobs" / "examples" / src)
        assert (run_dir / copy).read_bytes() == (tmp_path / "jobs" / "examples" / src
                                                 ).read_bytes()
    assert artifacts[FILE] == sha256_file(run_dir / FILE)
    before = compare_run(ledger, run)
    x = np.load(npy)
    np.save(npy, x[:, ::-1] * 3)  # a different input set, same shape
    assert load_spec(spec_path).digest != digest  # the digest covers referenced files
    monkeypatch.chdir(tmp_path)
    after = compare_run(ledger, run)
    assert after["aggregate"] == before["aggregate"] and after["exact"] == before["exact"]
    (tmp_path / "jobs" / "examples" / "adapter4.pt").unlink()  # gone: compare still works
    assert compare_run(ledger, run)["aggregate"] == before["aggregate"]


def test_compare_reads_the_stored_metadata_not_the_spec(tmp_path, monkeypatch):
    spec_path = tmp_path / "s.toml"
    spec_path.write_text((ROOT / "jobs" / "small.toml").read_text())
    ledger = tmp_path / "l.db"
    run = submit(spec_path, "exact", ledger)
    meta = load_metadata(Ledger(ledger), run)
    ex = exact_reference(load_spec(spec_path))
    np.testing.assert_array_equal(meta.x, ex.x)
    np.testing.assert_array_equal(meta.M, ex.M)
    assert (meta.K0, meta.beta, meta.construction) == (ex.K, ex.beta, "efficient")

    def no_spec(*a, **k):
        raise AssertionError("compare parsed the spec")

    monkeypatch.setattr(compare_mod, "run_metadata", no_spec)
    monkeypatch.setattr("hwadapt.spec.parse.parse_spec", no_spec)
    out = compare_run(ledger, run)
    np.testing.assert_allclose(out["exact"]["y"], ex.y, rtol=0, atol=0)
    # the metadata is checksummed like every artifact
    (ledger.parent / "runs" / run / FILE).write_bytes(b"damaged")
    with pytest.raises(InputError, match="missing or altered"):
        compare_run(ledger, run)
