"""The planner sizes the first round from a noise-aware acceptance estimate."""

import numpy as np
import pytest

from hwadapt.backends import get_backend
from hwadapt.execution.ledger import Ledger
from hwadapt.execution.manager import predicted_survival, submit, summary, transpile
from hwadapt.spec import build_families, parse_spec

SPEC = """
name = "plan"
seed = 4
[circuit]
qubits = 4
terms = 2
alphas = [0.6, 0.4]
angle_scale = 0.5
families = ["magnitude", "signs"]
construction = "spectral"
[inputs]
count = 4
[shots]
target_accepted = 1000
max_rounds = 1
"""


@pytest.mark.slow
def test_survival_is_the_product_of_instruction_fidelities():
    spec = parse_spec(SPEC)
    fam = build_families(spec)[0]
    noisy = get_backend("aer_noisy", "fake_torino")
    isa = transpile(fam.circuit, noisy, 1, 4)
    t = noisy.transpile_target.target
    expect = 1.0
    for inst in isa.data:
        if inst.operation.name in ("barrier", "delay"):
            continue
        props = t[inst.operation.name][tuple(isa.find_bit(q).index for q in inst.qubits)]
        expect *= 1 - (props.error or 0.0)
    assert predicted_survival(isa, noisy) == pytest.approx(expect, rel=1e-9)
    assert 0.2 < expect < 0.99
    assert predicted_survival(isa, get_backend("aer")) == 1.0
    assert predicted_survival(isa, get_backend("aer_noisy", "fake_torino@0")) == 1.0
    half = predicted_survival(isa, get_backend("aer_noisy", "fake_torino@0.5"))
    assert expect < half < 1.0


@pytest.mark.slow
def test_one_round_noisy_run_meets_its_target(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(SPEC)
    run = submit(p, "aer_noisy", tmp_path / "l.db", noise_from="fake_torino")
    s = summary(Ledger(tmp_path / "l.db"), run)
    assert s["rounds"] == 1 and s["reason"] == "all targets reached"
    for f in s["families"]:
        assert min(f["accepted"]) >= 1000
        assert np.median(f["accepted"]) < 2000  # sized, not flooded


def test_expected_rates_mix_exact_and_depolarised_acceptance():
    """``s·rate + (1 - s)·uniform``: the exact rate without noise, the uniform acceptance of a
    fully depolarised shot as survival → 0 (HW 1 of 4 data qubits, one ancilla: 4 / 32),
    and a record stored before ``uniform_rate`` existed keeps the old ``s·rate``."""
    from hwadapt.execution.plan import expected_rates, family_records

    fam = build_families(parse_spec(SPEC))[0]
    assert fam.uniform_rate() == pytest.approx(4 / 32)
    rates = [0.9, 0.5]
    rec = family_records([fam], [rates], survival=[0.25])[0]
    assert rec["uniform_rate"] == fam.uniform_rate()
    np.testing.assert_allclose(expected_rates(rec), [0.25 * r + 0.75 * 4 / 32 for r in rates])
    np.testing.assert_allclose(expected_rates({**rec, "survival": 0.0}), [4 / 32] * 2)
    np.testing.assert_allclose(expected_rates({**rec, "survival": 1.0}), rates)
    old = {k: v for k, v in rec.items() if k != "uniform_rate"}
    np.testing.assert_allclose(expected_rates(old), [0.25 * r for r in rates])
    assert expected_rates({**rec, "rates": None}) is None


@pytest.mark.slow
def test_deep_circuit_is_sized_and_keeps_its_calibration_rows(tmp_path):
    """The textbook LCU's signs circuit is deep enough that the product of gate fidelities
    is ~1e-5: sized by ``survival × rate`` its first round asked millions of shots per
    input, the budget fit scaled the calibration rows to zero and compare refused the run.
    Now: one round near the target, and every calibration row measured."""
    p = tmp_path / "s.toml"
    p.write_text(SPEC.replace('"spectral"', '"textbook"')
                 .replace("count = 4", "count = 2").replace("target_accepted = 1000",
                                                            "target_accepted = 500")
                 + "[calibration]\ninputs = 4\nshots = 512\n")
    run = submit(p, "aer_noisy", tmp_path / "l.db", noise_from="fake_torino")
    s = summary(Ledger(tmp_path / "l.db"), run)
    assert s["rounds"] == 1 and s["reason"] == "all targets reached"
    for f in s["families"]:
        assert min(f["accepted"][:2]) >= 500 and max(f["accepted"][:2]) < 2000
        assert min(f["accepted"][2:]) > 0  # calibration rows ran
        assert f["raw_shots"] < 100_000
