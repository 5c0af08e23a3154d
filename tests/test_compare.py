"""compare: exact reference vs the circuits C runs, zero error against itself, noisy worse."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hwadapt.cli import app
from hwadapt.compare import compare_run, exact_reference, metrics
from hwadapt.estimate import estimate
from hwadapt.execution.exact_sampler import outcome_probabilities
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
                   reference=ex.reference)
    np.testing.assert_allclose(est.y, ex.y, atol=1e-6)  # signs included: no hidden bias
    a = metrics(est, ex.y, ex.alphas)["aggregate"]
    assert a["tvd"] < 1e-12 and a["rel_l2"] < 1e-5
    assert a["coverage_2se"] == 1.0 and a["sign_agreement"] == 1.0
    assert a["hw_discarded"] < 1e-12 and abs(a["rate"] - a["rate_ideal"]) < 1e-12


def test_metrics_detect_a_wrong_sign_and_a_scale_error():
    spec = parse_spec(spec_text())
    ex = exact_reference(spec)
    est = estimate(exact_counts(spec), n=4, alphas=ex.alphas, beta=ex.beta,
                   reference=ex.reference)
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
        assert np.isfinite(v), k
    assert a_noisy["tvd"] > a_ideal["tvd"] and a_noisy["rel_l2"] > a_ideal["rel_l2"]
    assert a_noisy["hw_discarded"] > 0.01


def test_compare_cli_errors(tmp_path):
    res = CliRunner().invoke(app, ["compare", "latest", "--ledger", str(tmp_path / "l.db")])
    assert res.exit_code == 2 and "has no runs" in res.output
    res = CliRunner().invoke(app, ["compare", "nope", "--ledger", str(tmp_path / "l.db")])
    assert res.exit_code == 2 and "no run 'nope'" in res.output
