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
