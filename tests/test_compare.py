"""compare: exact reference vs the circuits C runs, zero error against itself, noisy worse."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hwadapt.cli import app
from hwadapt.compare import compare_run, exact_reference, metrics
from hwadapt.estimate import estimate
from hwadapt.execution.exact_sampler import outcome_probabilities
from hwadapt.execution.ledger import Ledger
from hwadapt.spec import build_families, parse_spec

SPEC = """
name = "cmp"
seed = 5
[circuit]
qubits = {n}
layout = "{layout}"
terms = {R}
alphas = {alphas}
families = ["magnitude", "signs"]
[inputs]
count = {count}
[shots]
target_accepted = 3000
"""


def spec_text(n=4, layout="pyramid", R=2, alphas=(0.7, -0.4), count=5):
    return SPEC.format(n=n, layout=layout, R=R, alphas=list(alphas), count=count)


def exact_counts(spec, scale=1e14):
    """Quasi-counts = exact outcome probabilities of the families C builds × scale."""
    out = {}
    for fam in build_families(spec):
        out[fam.name] = []
        for v in fam.values:
            p = outcome_probabilities(fam.circuit.assign_parameters(v))
            out[fam.name].append({i: q * scale for i, q in enumerate(p) if q > 0})
    return out


@pytest.mark.parametrize("n,layout,R,alphas", [(4, "pyramid", 2, (0.7, -0.4)),
                                               (4, "butterfly", 3, (-0.2, 0.5, 0.3)),
                                               (3, "brick", 1, (-1.3,))])
def test_exact_compared_with_itself_gives_zero_error(n, layout, R, alphas):
    spec = parse_spec(spec_text(n, layout, R, alphas))
    ex = exact_reference(spec)
    est = estimate(exact_counts(spec), n=n, alphas=ex.alphas, beta=ex.beta,
                   reference=ex.references)
    np.testing.assert_allclose(est.y, ex.y, atol=1e-6)  # signs included: no hidden bias
    a = metrics(est, ex.y, ex.alphas)["aggregate"]
    assert a["tvd"] < 1e-12 and a["rel_l2"] < 1e-5
    assert a["coverage_2se"] == 1.0 and a["sign_agreement"] == 1.0
    assert a["hw_discarded"] < 1e-12 and abs(a["rate"] - a["rate_ideal"]) < 1e-12


def test_metrics_detect_a_wrong_sign_and_a_scale_error():
    spec = parse_spec(spec_text())
    ex = exact_reference(spec)
    est = estimate(exact_counts(spec), n=4, alphas=ex.alphas, beta=ex.beta,
                   reference=ex.references)
    est.y = -est.y
    a = metrics(est, ex.y, ex.alphas)["aggregate"]
    assert abs(a["rel_l2"] - 2.0) < 1e-5 and a["sign_agreement"] == 0.0
    assert a["tvd"] < 1e-12  # the distribution cannot see signs; the L2 error does


@pytest.mark.slow
def test_ideal_and_noisy_runs_end_to_end(tmp_path):
    from hwadapt.execution.manager import submit

    spec_path = tmp_path / "s.toml"
    spec_path.write_text(spec_text(n=3, count=4))
    ledger = tmp_path / "l.db"
    ideal = submit(spec_path, "aer", ledger)
    noisy = submit(spec_path, "aer_noisy", ledger)
    res = CliRunner().invoke(app, ["compare", ideal, "--json", "--plot", "--ledger",
                                   str(ledger)])
    assert res.exit_code == 0, res.output
    a_ideal = json.loads(res.output)["aggregate"]
    assert (tmp_path / "runs" / ideal / "compare.json").is_file()
    assert (tmp_path / "runs" / ideal / "estimate-vs-exact.png").stat().st_size > 10_000
    assert a_ideal["hw_discarded"] == 0 and a_ideal["sign_agreement"] == 1.0
    assert a_ideal["rel_l2"] < 0.1 and a_ideal["coverage_2se"] >= 0.75
    a_noisy = compare_run(ledger, noisy)["aggregate"]
    for k, v in a_noisy.items():
        assert np.isfinite(v) if k != "systematic" else v is None, k  # no calibration inputs
    assert a_noisy["tvd"] > a_ideal["tvd"] and a_noisy["rel_l2"] > a_ideal["rel_l2"]
    assert a_noisy["hw_discarded"] > 0.01


def test_compare_cli_errors(tmp_path):
    res = CliRunner().invoke(app, ["compare", "latest", "--ledger", str(tmp_path / "l.db")])
    assert res.exit_code == 2 and "no ledger at" in res.output
    assert not (tmp_path / "l.db").exists()
    Ledger(tmp_path / "l.db")  # an empty ledger
    res = CliRunner().invoke(app, ["compare", "latest", "--ledger", str(tmp_path / "l.db")])
    assert res.exit_code == 2 and "has no runs" in res.output
    res = CliRunner().invoke(app, ["compare", "nope", "--ledger", str(tmp_path / "l.db")])
    assert res.exit_code == 2 and "no run 'nope'" in res.output


MNIST_SPEC = """
name = "cmp-mnist"
seed = 2
[circuit]
qubits = 4
terms = 2
alphas = [0.7, -0.4]
angle_scale = 0.4
[inputs]
count = 40
source = "mnist"
seed = 1
[shots]
target_accepted = 100
"""


def test_downstream_matches_a_brute_force_nearest_centroid():
    from hwadapt.downstream import mnist_downstream
    from hwadapt.training.data import load_mnist

    spec = parse_spec(MNIST_SPEC)
    ex = exact_reference(spec)
    np.testing.assert_allclose(ex.x @ ex.M.T, ex.y, atol=1e-15)
    d = mnist_downstream(spec.inputs.seed, ex.M, ex.y, ex.y)
    assert d["agreement"] == 1.0 and d["accuracy_exact"] == d["accuracy_estimate"]
    # brute force: loops over training images and classes
    data = load_mnist(hidden=4, split_seed=1)
    sums, counts = np.zeros((10, 4)), np.zeros(10)
    for x, c in zip(data.x_train.double().numpy(), data.y_train.numpy(), strict=True):
        sums[c] += ex.M @ (x / np.linalg.norm(x))
        counts[c] += 1
    mu = sums / counts[:, None]
    labels = data.y_val[:40].numpy()
    assert d["labels"] == labels.tolist()
    pred = [int(np.argmin([np.sum((y - m) ** 2) for m in mu])) for y in ex.y]
    assert d["predicted_exact"] == pred
    assert d["accuracy_exact"] == np.mean(np.array(pred) == labels) > 0.2  # chance is 0.1
    # a wrong estimate changes predictions: agreement and accuracy fall
    bad = mnist_downstream(spec.inputs.seed, ex.M, ex.y, -ex.y)
    assert bad["agreement"] < 0.5 and bad["accuracy_estimate"] < d["accuracy_exact"]


def test_compare_reports_downstream_for_mnist_inputs(tmp_path):
    from hwadapt.execution.manager import submit

    spec_path = tmp_path / "m.toml"
    spec_path.write_text(MNIST_SPEC.replace("count = 40", "count = 6"))
    ledger = tmp_path / "l.db"
    run = submit(spec_path, "exact", ledger)
    out = compare_run(ledger, run)
    d = out["downstream"]
    assert d["inputs"] == 6 and 0 <= d["accuracy_estimate"] <= 1
    assert "downstream" not in compare_run(ledger, submit(_write(tmp_path), "exact", ledger))
    res = CliRunner().invoke(app, ["compare", run, "--ledger", str(ledger)])
    assert res.exit_code == 0 and "digit accuracy" in res.output
    # no [calibration]: the device bias was never measured, and compare says so (not "0")
    assert out["aggregate"]["systematic"] is None and "shot noise only" in out["error_bars"]
    assert "not measured" in res.output


def _write(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text(spec_text(n=3, count=2).replace("target_accepted = 3000",
                                                 "target_accepted = 100"))
    return p


def test_readout_mitigator_reuses_a_stored_calibration(tmp_path):
    from types import SimpleNamespace

    import mthree
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import NoiseModel, ReadoutError

    from hwadapt.backends import IBMBackend
    from hwadapt.compare import readout_mitigator, store_readout_calibration
    from hwadapt.errors import InputError

    nm = NoiseModel()
    nm.add_readout_error(ReadoutError([[0.9, 0.1], [0.2, 0.8]]), [0])
    nm.add_readout_error(ReadoutError([[0.95, 0.05], [0.1, 0.9]]), [1])
    m3 = mthree.M3Mitigation(AerSimulator(noise_model=nm, seed_simulator=1))
    m3.cals_from_system([0, 1], shots=20_000)
    store_readout_calibration(tmp_path, m3, [17, 5])  # cal qubit 0 = physical 17
    run = SimpleNamespace(run_id="r", run_dir=tmp_path, spec_seed=1,
                          backend=IBMBackend("ibm_torino"))
    got, where = readout_mitigator(run, [5, 17])  # no device job: an ibm run would need one
    assert where == {17: 0, 5: 1}
    counts = {"00": 700, "01": 100, "10": 150, "11": 50}
    q_ref = m3.apply_correction(counts, [0, 1])
    q_got = got.apply_correction(counts, [where[17], where[5]])
    assert q_got == pytest.approx(dict(q_ref), abs=1e-6)
    with pytest.raises(InputError, match="new device job"):
        readout_mitigator(run, [5, 6])  # qubit 6 not calibrated


@pytest.mark.slow
def test_lcu_and_separate_side_by_side_on_aer(tmp_path):
    """mode = ["lcu", "separate"]: one run, compare reports both; both match exact within
    their error bars on the ideal simulator (separate combined with combine_terms)."""
    from hwadapt.execution.manager import submit

    text = spec_text(n=3, count=3).replace(
        "[inputs]", 'construction = "efficient"\nmode = ["lcu", "separate"]\n[inputs]')
    spec_path = tmp_path / "s.toml"
    spec_path.write_text(text)
    ledger = tmp_path / "l.db"
    run = submit(spec_path, "aer", ledger)
    res = CliRunner().invoke(app, ["compare", run, "--ledger", str(ledger)])
    assert res.exit_code == 0 and "modes side by side" in res.output, res.output
    out = compare_run(ledger, run)
    assert out["modes"] == ["lcu", "separate"] and set(out["by_mode"]) == {"lcu", "separate"}
    assert out["aggregate"]["rel_l2"] == out["by_mode"]["lcu"]["rel_l2"]
    y = np.array(out["exact"]["y"])
    for m, a in out["by_mode"].items():
        err = np.abs(np.array(a["y"]) - y)
        assert np.all(err < 4 * np.array(a["stderr"]) + 1e-9), m
        assert a["rel_l2"] < 0.1 and a["sign_agreement"] == 1.0, m
    assert out["by_mode"]["separate"]["rate_ideal"] == 1.0
    # no [calibration]: no mode's bias was measured, and neither reads 0
    assert all(a["systematic"] is None for a in out["by_mode"].values())
    assert "coverage_2se_stat" in res.output and "systematic" in res.output


@pytest.mark.slow
def test_fake_run_is_readout_calibrated_at_submit_and_compare_reuses_it(tmp_path,
                                                                        monkeypatch):
    import mthree

    from hwadapt.execution.manager import submit
    from hwadapt.execution.readout import READOUT_CALS

    spec_path = tmp_path / "s.toml"
    spec_path.write_text(spec_text(n=3, count=2).replace("3000", "200"))
    ledger = tmp_path / "l.db"
    run = submit(spec_path, "fake_lagos", ledger)
    cals = tmp_path / "runs" / run / READOUT_CALS
    stored = json.loads(cals.read_text())
    assert len(stored["physical_qubits"]) == 3 + 1  # data qubits + the LCU ancilla
    before = cals.read_bytes()

    def no_new_calibration(*a, **k):
        raise AssertionError("compare must reuse the submit-time calibration")

    monkeypatch.setattr(mthree.M3Mitigation, "cals_from_system", no_new_calibration)
    out = compare_run(ledger, run, mitigate="readout")
    assert out["mitigate"] == "readout" and np.isfinite(out["aggregate"]["rel_l2"])
    assert out["mitigation"]["readout"] == "mthree"
    assert cals.read_bytes() == before


def test_calibration_rows_without_counts_leave_shot_noise_bars(tmp_path, monkeypatch):
    """A run whose calibration rows never ran (cancelled, or an older planner's budget fit
    dropped them) still compares its targets, with shot-noise-only bars that say why;
    ``--mitigate learned`` refuses with one line instead."""
    import hwadapt.compare as cmp
    from hwadapt.errors import InputError
    from hwadapt.execution.manager import submit

    spec = _write(tmp_path)
    spec.write_text(spec.read_text() + "[calibration]\ninputs = 4\nshots = 512\n")
    ledger = tmp_path / "l.db"
    run = submit(spec, "exact", ledger)
    assert compare_run(ledger, run)["aggregate"]["systematic"] is not None
    real = cmp.run_counts

    def no_calibration_counts(path, run_id):
        return {k: v[:2] + [{} for _ in v[2:]] for k, v in real(path, run_id).items()}

    monkeypatch.setattr(cmp, "run_counts", no_calibration_counts)
    out = compare_run(ledger, run)
    assert out["aggregate"]["systematic"] is None and out["calibration_unmeasured"]
    assert "have no counts" in out["error_bars"] and "shot noise only" in out["error_bars"]
    with pytest.raises(InputError, match="have no counts"):
        compare_run(ledger, run, mitigate="learned")


def test_magnitude_only_run_measures_no_false_systematic(tmp_path):
    """Without a sign family only |y| is estimated: the calibration residuals compare
    magnitudes. Against signed exact outputs every negative component read as an error
    of 2|y| and an exact run reported σ_sys ≈ 0.6."""
    from hwadapt.execution.manager import submit

    spec = _write(tmp_path)
    spec.write_text(spec.read_text().replace('["magnitude", "signs"]', '["magnitude"]')
                    + "[calibration]\ninputs = 8\nshots = 2048\n")
    ledger = tmp_path / "l.db"
    run = submit(spec, "exact", ledger)
    for mitigate in (None, "learned"):
        out = compare_run(ledger, run, mitigate=mitigate)
        assert out["signed"] is False and out["aggregate"]["sign_agreement"] is None
        assert out["aggregate"]["systematic"] < 0.05


@pytest.mark.slow
def test_separate_mode_bars_carry_the_calibrated_systematic_term(tmp_path):
    """lcu and separate side by side on a noisy device, calibration inputs including basis
    vectors (to which the separate mode's input reference is blind): both modes get a
    systematic term measured on the calibration inputs (separate: where signs are settled),
    and the separate bars cover the device bias they left out before (σ_sys 0)."""
    from hwadapt.execution.manager import submit

    spec = tmp_path / "sep.toml"
    spec.write_text(spec_text(n=4, count=6).replace("target_accepted = 3000",
                                                    "target_accepted = 1500")
                    .replace('[inputs]', 'construction = "spectral"\nmode = ["lcu", "separate"]'
                             '\n[inputs]')
                    + "[calibration]\ninputs = 24\nshots = 2048\nkind = \"mixed\"\n")
    ledger = tmp_path / "l.db"
    run = submit(spec, "aer_noisy", ledger, noise_from="fake_torino")
    out = compare_run(ledger, run)
    sep = out["by_mode"]["separate"]
    assert out["by_mode"]["lcu"]["systematic"] > 0 and sep["systematic"] > 0.01
    assert sep["coverage_2se"] >= 0.75 and sep["coverage_2se"] > sep["coverage_2se_stat"]


def test_magnitude_only_plot_shows_magnitudes(tmp_path, monkeypatch):
    """Without a sign family the plot puts |y| on the exact axis, as the metrics compare
    (the signed exact values put every negative component far off the diagonal)."""
    import matplotlib.figure

    from hwadapt.compare import plot_estimates

    figs = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda self, *a, **k: figs.append(self))
    y = np.array([[-0.6, 0.8], [0.3, -0.954]])
    est = estimate({"magnitude": [{1: 36, 2: 64}, {1: 9, 2: 91}]}, n=2, alphas=[1.0])
    for signed in (True, False):
        plot_estimates(est, y, tmp_path / "p.png", signed=signed)
        xs = figs[-1].axes[0].lines[0].get_xdata()  # the scatter's exact values
        assert (np.min(xs) < 0) == signed
    assert "|y_j|" in figs[-1].axes[0].get_xlabel()
