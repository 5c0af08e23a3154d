"""Calibration inputs in a run, compare --mitigate learned, honest error bars end to end."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import hwadapt.compare as compare_mod
from hwadapt.cli import app
from hwadapt.compare import compare_run, exact_reference, stored_calibration
from hwadapt.estimate import ideal_probabilities
from hwadapt.execution.ledger import Ledger
from hwadapt.execution.manager import load_metadata, run_counts, submit, summary, tally
from hwadapt.spec import parse_spec, reference_vectors, sign_references

SPEC = """
name = "cal"
seed = 3
[circuit]
qubits = 4
terms = 2
alphas = [0.6, -0.4]
angle_scale = 0.6
families = {families}
construction = "spectral"
[inputs]
count = 5
[shots]
target_accepted = 400
max_rounds = 1
[calibration]
inputs = {cal}
shots = 1024
seed = 9
kind = "mixed"
"""


def _spec(tmp_path, cal=24, families='["magnitude", "signs"]'):
    p = tmp_path / "s.toml"
    p.write_text(SPEC.format(cal=cal, families=families))
    return p


@pytest.fixture(scope="module")
def aer_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cal")
    ledger = tmp / "l.db"
    return ledger, submit(_spec(tmp), "aer", ledger)


@pytest.mark.slow
def test_calibration_rows_ride_in_the_same_pubs_with_exact_outputs(aer_run):
    ledger, run = aer_run
    spec = parse_spec(SPEC.format(cal=24, families='["magnitude", "signs"]'))
    ex = exact_reference(spec)
    led = Ledger(ledger)
    cal = stored_calibration(led, run, load_metadata(led, run))
    assert cal.x.shape == (24, 4)
    np.testing.assert_allclose(np.linalg.norm(cal.x, axis=1), 1.0)
    # the exact simulator's kept probabilities are the LCU maths of the calibration inputs
    y = cal.x @ ex.M.T
    np.testing.assert_allclose(cal.exact["magnitude"], ideal_probabilities(y, ex.K), atol=1e-10)
    for f in sign_references(spec):
        r = reference_vectors(spec, "lcu", f, x=cal.x)
        np.testing.assert_allclose(cal.references[f], r, atol=1e-12)  # stored with the run
        np.testing.assert_allclose(cal.exact[f], ideal_probabilities(y + ex.beta * r,
                                                                     ex.K + ex.beta), atol=1e-10)
    counts = run_counts(ledger, run)
    assert all(len(v) == 5 + 24 for v in counts.values())
    for fam in summary(led, run)["families"]:  # status counts target inputs only
        assert fam["calibration_inputs"] == 24 and fam["inputs_at_target"] <= 5
    db = Ledger(ledger)
    rows = {}  # bindings of the same ISA circuit per family, all in the one round
    for b in db.batches(run):
        assert b.round == 0
        for p in b.pubs:
            rows.setdefault(p["family"], set()).update(p["inputs"])
    assert all(r == set(range(29)) for r in rows.values()) and len(rows) == 3
    fams = tally(db, run)  # calibration rows got their shots, in the one round: 1024 per
    raw = np.stack([f["raw"][5:] for f in fams])  # family on average, split like the targets'
    acc = np.stack([f["accepted"][5:] for f in fams])  # (equal accepted shots per family)
    assert np.all((raw.sum(axis=0) <= 3 * 1024) & (raw.sum(axis=0) >= 0.8 * 3 * 1024))
    assert raw.max() > 4 * raw.min()  # the families' rates differ (0.05 / 0.12 / 1)
    assert np.median(acc.max(axis=0) / acc.min(axis=0)) < 2


@pytest.mark.slow
def test_learned_map_is_identity_on_a_noiseless_backend(aer_run):
    ledger, run = aer_run
    plain = compare_run(ledger, run)
    learned = compare_run(ledger, run, mitigate="learned")
    assert plain["mitigation"]["method"] == "none"
    assert learned["mitigation"]["method"] == "diagonal"  # 24 < 64 calibration inputs
    assert learned["mitigation"]["calibration_inputs"] == 24
    y0, y1 = np.array(plain["estimate"]["y"]), np.array(learned["estimate"]["y"])
    se = np.array(plain["estimate"]["stderr"])
    # the map moves the estimate by less than the learned estimate's own error bar (which
    # carries the map's fit noise); the plain run's bar is shot noise from sharp references
    assert np.median(np.abs(y1 - y0) / np.array(learned["estimate"]["stderr"])) < 1.0
    for out in (plain, learned):
        a = out["aggregate"]
        # no device: no bias beyond the noise level (the term is an 84% upper bound, from
        # calibration rows with equal accepted shots per family like the targets', here ~100
        # each, whose own shot noise it carries; raw-equal rows had sys 0 and coverage 0.85)
        assert a["systematic"] < 2 * np.median(se)
        assert a["coverage_2se"] >= 0.9 and a["rel_l2"] < 0.25
        assert {"coverage_2se_stat", "rel_l2_magnitudes", "sign_agreement"} <= set(a)
        assert out["error_bars"].startswith("total")


@pytest.mark.slow
def test_mitigated_estimate_never_uses_the_targets_exact_answer(aer_run, monkeypatch):
    ledger, run = aer_run
    before = compare_run(ledger, run, mitigate="learned")
    real = compare_mod.exact_from_metadata

    def shuffled(meta):
        ex = real(meta)
        ex.y = np.random.default_rng(0).permutation(ex.y)[:, ::-1].copy()
        return ex

    monkeypatch.setattr(compare_mod, "exact_from_metadata", shuffled)
    after = compare_run(ledger, run, mitigate="learned")
    np.testing.assert_array_equal(before["estimate"]["y"], after["estimate"]["y"])
    np.testing.assert_array_equal(before["estimate"]["stderr"], after["estimate"]["stderr"])
    assert before["aggregate"]["rel_l2"] != after["aggregate"]["rel_l2"]  # metrics did see it


@pytest.mark.slow
def test_compare_cli_json_and_bad_mitigation(aer_run):
    ledger, run = aer_run
    res = CliRunner().invoke(app, ["compare", run, "--mitigate", "learned", "--json",
                                   "--ledger", str(ledger)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["mitigate"] == "learned" and out["mitigation"]["method"] == "diagonal"
    for key in ("rel_l2", "coverage_2se", "coverage_2se_stat", "systematic", "sign_agreement",
                "tvd", "rel_l2_magnitudes"):
        assert key in out["aggregate"]
    digest = Ledger(ledger).db.execute("SELECT count(*) FROM batches").fetchone()[0]
    for bad in ("magic", "learned+zne+x", "LEARNED"):
        res = CliRunner().invoke(app, ["compare", run, "--mitigate", bad, "--ledger",
                                       str(ledger)])
        assert res.exit_code == 2 and "unknown mitigation" in res.output
        assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert Ledger(ledger).db.execute("SELECT count(*) FROM batches").fetchone()[0] == digest


BAD_TABLES = [
    ("calibration", "inputs = 1", "calibration.inputs = 1 is out of range"),
    ("calibration", "inputs = 'many'", "calibration.inputs must be an integer"),
    ("calibration", "shots = 10", "calibration.shots = 10 is out of range"),
    ("calibration", "kind = 'sobol'", "calibration.kind = 'sobol' is not supported"),
    ("calibration", "size = 3", "unknown key 'calibration.size'"),
    ("mitigation", "zne = 3", "mitigation.zne must be a table"),
    ("mitigation", "zne = { factors = [1, 2] }", "mitigation.zne.factors must be distinct odd"),
    ("mitigation", "zne = { factors = [3] }", "mitigation.zne.factors must be distinct odd"),
    ("mitigation", "zne = { factors = [1, 3], extrapolation = 'exp' }",
     "extrapolation = 'exp' is not"),
    ("mitigation", "zne = { factors = [1, 3], order = 2 }",
     "mitigation.zne must be a table with keys"),
    ("mitigation", "fold = 3", "unknown key 'mitigation.fold'"),
]


@pytest.mark.parametrize("table,line,message", BAD_TABLES)
def test_bad_calibration_and_mitigation_keys_exit_2_ledger_untouched(tmp_path, table, line,
                                                                     message):
    ledger = tmp_path / "l.db"
    Ledger(ledger).close()
    before = ledger.read_bytes()
    p = tmp_path / "bad.toml"
    base = SPEC.format(cal=8, families='["magnitude"]').split("[calibration]")[0]
    p.write_text(base + f"[{table}]\n" + line + "\n")
    res = CliRunner().invoke(app, ["submit", str(p), "--backend", "aer", "--ledger",
                                   str(ledger)])
    assert res.exit_code == 2 and message in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert ledger.read_bytes() == before
    bad_table = SPEC.format(cal=8, families='["magnitude"]').replace(
        "[calibration]\n", "calibration = 3\n[unused]\n")
    with pytest.raises(Exception, match="unknown key|must be a table"):
        parse_spec(bad_table)


def test_learned_needs_calibration_and_magnitude_only_compares_magnitudes(tmp_path):
    ledger = tmp_path / "l.db"
    spec = (SPEC.format(cal=8, families='["magnitude"]').split("[calibration]")[0])
    p = tmp_path / "m.toml"
    p.write_text(spec)
    run = submit(p, "exact", ledger)
    res = CliRunner().invoke(app, ["compare", run, "--mitigate", "learned", "--ledger",
                                   str(ledger)])
    assert res.exit_code == 2 and "needs calibration inputs" in res.output
    out = compare_run(ledger, run)
    a = out["aggregate"]
    assert a["sign_agreement"] is None and "magnitudes only" in out["compared"]
    assert a["rel_l2"] == pytest.approx(a["rel_l2_magnitudes"])
    assert a["rel_l2"] < 0.2  # the magnitudes are right; signs were never measured
    res = CliRunner().invoke(app, ["compare", run, "--ledger", str(ledger)])
    assert res.exit_code == 0 and "not measured" in res.output


ZNE_SPEC = SPEC.split("[calibration]")[0].format(families='["magnitude", "signs"]') + """
[mitigation]
zne = { factors = [1, 3], extrapolation = "richardson" }
"""


@pytest.mark.slow
def test_zne_run_folds_every_family_and_splits_the_shots(tmp_path):
    p = tmp_path / "z.toml"
    p.write_text(ZNE_SPEC)
    ledger = tmp_path / "l.db"
    run = submit(p, "aer_noisy", ledger, noise_from="fake_torino")
    fams = {f["name"]: f for f in tally(Ledger(ledger), run)}
    assert set(fams) == {"magnitude", "signs", "signs1", "magnitude@zne3", "signs@zne3",
                         "signs1@zne3"}
    for name in ("magnitude", "magnitude@zne3"):  # each factor: half the family's target
        assert 200 <= fams[name]["accepted"].min() and fams[name]["accepted"].max() < 1000
    # the same raw shots on the unfolded and folded circuit: the split is even
    assert fams["magnitude@zne3"]["raw"].sum() >= 0.8 * fams["magnitude"]["raw"].sum()
    out = compare_run(ledger, run, mitigate="zne")
    assert out["mitigation"] == {"method": "zne", "zne_factors": [1, 3]}
    plain = compare_run(ledger, run)
    se_z, se_p = np.array(out["estimate"]["stderr"]), np.array(plain["estimate"]["stderr"])
    assert np.median(se_z / se_p) > 1.3  # extrapolation costs variance (Σw² = 2.5)
    res = CliRunner().invoke(app, ["compare", run, "--mitigate", "learned", "--ledger",
                                   str(ledger)])
    assert res.exit_code == 2 and "needs calibration inputs" in res.output


@pytest.mark.slow
def test_sign_confidence_covers_the_device_bias(tmp_path, monkeypatch):
    """Under device noise the shot-noise posterior calls a sign the device biased through
    zero certain (1.000); with a measured systematic term compare caps it by Φ(|ŷ|/σ_total),
    so no wrong sign keeps a confidence ≥ 0.95, and the JSON says what it covers."""
    spec = tmp_path / "s.toml"
    spec.write_text("""
name = "signconf"
seed = 5
[circuit]
qubits = 4
layout = "brick"
terms = 2
alphas = [0.5, -0.3]
families = ["magnitude", "signs"]
construction = "efficient"
[inputs]
count = 12
seed = 1
[shots]
target_accepted = 600
max_rounds = 1
[calibration]
inputs = 24
shots = 1024
""")
    ledger = tmp_path / "l.db"
    rid = submit(spec, "aer_noisy", ledger, noise_from="fake_almaden")
    out = compare_run(ledger, rid)
    y, c = np.array(out["estimate"]["y"]), np.array(out["estimate"]["sign_confidence"])
    wrong = np.sign(y) != np.sign(np.array(out["exact"]["y"]))
    assert wrong.any() and c[wrong].max() < 0.95 and (c >= 0.95).sum() > wrong.size / 2
    assert "systematic term too" in out["sign_confidence"]
    assert [p["min_sign_confidence"] for p in out["per_input"]] == list(c.min(axis=1))
    monkeypatch.setattr(compare_mod, "device_sign_confidence", lambda e: e.sign_confidence)
    shot_only = compare_mod.run_estimates(ledger, rid)[0]["lcu"].sign_confidence
    assert shot_only[wrong].max() > 0.99 and np.all(c <= shot_only + 1e-12)
