"""Job specs: the shipped examples parse; bad specs fail with one line naming the key; the
circuit family's acceptance equals the LCU maths (||Σ α_i O_i x||² / ||α||₁²)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hwadapt.errors import InputError
from hwadapt.execution.exact_sampler import outcome_probabilities
from hwadapt.linalg import givens_matrix
from hwadapt.spec import adapter_parameters, build_families, input_vectors, load_spec, parse_spec

JOBS = Path(__file__).parents[1] / "jobs"
GOOD = """
name = "t"
seed = 1
[circuit]
qubits = 4
terms = 2
alphas = [0.6, -0.4]
[inputs]
count = 3
[shots]
target_accepted = 100
budget = 100000
"""


@pytest.mark.parametrize("name", ["demo", "small", "mnist", "checkpoint"])
def test_examples_parse_and_build(name):
    spec = load_spec(JOBS / f"{name}.toml")
    fams = build_families(spec)
    cal = 0 if spec.calibration is None else spec.calibration.inputs  # calibration rows last
    assert fams and all(f.values.shape == (spec.inputs.count + cal, spec.circuit.qubits - 1)
                        and f.calibration == cal for f in fams)


def test_demo_is_the_issue_demo():
    spec = load_spec(JOBS / "demo.toml")
    assert (spec.circuit.qubits, spec.circuit.encoding, spec.circuit.layout,
            spec.circuit.terms, spec.inputs.count) == (8, "unary", "pyramid", 2, 16)


BAD = [
    ("qubitz = 3", "circuit", "unknown key 'circuit.qubitz'"),
    ("", "top", "missing [circuit]"),
    ("qubits = 'eight'", "circuit", "circuit.qubits must be an integer"),
    ("qubits = 1", "circuit", "circuit.qubits = 1 is out of range"),
    ("alphas = [1.0]", "circuit", "circuit.alphas has 1 values"),
    ("alphas = [1.0, 0]", "circuit", "non-zero"),
    ("layout = 'zigzag'", "circuit", "circuit.layout = 'zigzag' is not supported"),
    ("encoding = 'angle'", "circuit", "circuit.encoding"),
    ("angles = 'checkpoint'", "circuit", "circuit.checkpoint"),
    ("checkpoint = 'x.pt'", "circuit", "circuit.checkpoint"),
    ("families = ['phase']", "circuit", "circuit.families"),
    ("source = 'file'", "inputs", "inputs.path"),
    ("count = 0", "inputs", "inputs.count = 0 is out of range"),
    ("target_accepted = 40000", "shots", "shots.budget"),
    ("max_rounds = -1", "shots", "shots.max_rounds"),
    ("optimization_level = 5", "execution", "execution.optimization_level"),
    ("colour = 'red'", "top", "unknown key 'colour'"),
]


def _with(line: str, section: str) -> str:
    text = GOOD
    if section == "top" and line == "":
        return "name = 'x'\n"
    if section == "top":
        return line + "\n" + text
    key = line.split("=")[0].strip()
    text = "\n".join(ln for ln in text.splitlines() if ln.split("=")[0].strip() != key) + "\n"
    if f"[{section}]" not in text:
        text += f"[{section}]\n"
    return text.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)


@pytest.mark.parametrize("line,section,message", BAD)
def test_bad_specs_name_the_key(line, section, message):
    with pytest.raises(InputError) as e:
        parse_spec(_with(line, section))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_bad_toml_syntax():
    with pytest.raises(InputError, match="not valid TOML"):
        parse_spec("[circuit\nqubits = 3")


@pytest.mark.parametrize("line,section", [(b[0], b[1]) for b in BAD[:6]])
def test_cli_bad_spec_exit_2_one_line(tmp_path, line, section):
    p = tmp_path / "bad.toml"
    p.write_text(_with(line, section))
    r = subprocess.run([sys.executable, "-m", "hwadapt.cli", "submit", str(p), "--backend",
                        "aer", "--ledger", str(tmp_path / "l.db")], capture_output=True,
                       text=True)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "l.db").exists()  # nothing recorded for a bad spec


def test_acceptance_matches_lcu_maths():
    """Exact postselection probability of the built circuit = ||Σα_i O_i x||² / (Σ|α_i|)²."""
    spec = parse_spec(GOOD)
    fam = build_families(spec)[0]
    angles, alphas = adapter_parameters(spec)
    x = input_vectors(spec)
    M = sum(a * givens_matrix(4, torch.tensor(th), "pyramid").numpy()
            for a, th in zip(alphas, angles, strict=True))
    for v, row in zip(fam.values, x, strict=True):
        p = outcome_probabilities(fam.circuit.assign_parameters(v))
        got = p[fam.accept(np.arange(p.size))].sum()
        want = np.linalg.norm(M @ row) ** 2 / np.abs(alphas).sum() ** 2
        assert got == pytest.approx(want, abs=1e-10)


def test_checkpoint_angles_are_read(tmp_path):
    spec = load_spec(JOBS / "checkpoint.toml")
    angles, alphas = adapter_parameters(spec)
    state = torch.load(JOBS / "examples" / "adapter4.pt")
    np.testing.assert_array_equal(angles, state["fc1.angles"].numpy())
    np.testing.assert_array_equal(alphas, state["fc1.alpha"].numpy())
    torch.save({"a.angles": torch.zeros(2, 5), "a.alpha": torch.ones(2)}, tmp_path / "w.pt")
    text = (JOBS / "checkpoint.toml").read_text().replace("examples/adapter4.pt",
                                                          str(tmp_path / "w.pt"))
    with pytest.raises(InputError, match=r"no adapted layer 'fc1'; found adapted layers \['a'\]"):
        adapter_parameters(parse_spec(text, base_dir=JOBS))
    without_layer = text.replace('layer = "fc1"', "")
    torch.save({f"{k}.angles": torch.zeros(2, 5) for k in "ab"}, tmp_path / "w.pt")
    with pytest.raises(InputError, match=r"found adapted layers \['a', 'b'\].*set circuit.layer"):
        adapter_parameters(parse_spec(without_layer, base_dir=JOBS))
    for key, base in (("fc1.A", "free"), ("fc1.skew", "cayley")):  # no RBS angles: say why
        torch.save({key: torch.zeros(2, 4, 4), "fc1.alpha": torch.ones(2)}, tmp_path / "w.pt")
        for spec_text in (text, without_layer):
            with pytest.raises(InputError, match=rf"{key} is a {base}-base adapter's.*"
                                                 "base='orthogonal'"):
                adapter_parameters(parse_spec(spec_text, base_dir=JOBS))


# ---- constructions, modes, execution options (issue 10) ----------------------------------

WIRED = """
name = "w"
seed = 3
[circuit]
qubits = {n}
layout = "{layout}"
terms = {R}
alphas = {alphas}
families = ["magnitude", "signs"]
construction = "{construction}"
mode = ["lcu", "separate"]
[inputs]
count = 2
[shots]
target_accepted = 10
"""


def _exact_counts(fam):
    return [{i: q * 1e14 for i, q in enumerate(outcome_probabilities(
        fam.circuit.assign_parameters(v))) if q > 0} for v in fam.values]


@pytest.mark.parametrize("construction", ["efficient", "textbook", "dilation"])
@pytest.mark.parametrize("n,layout,R,alphas", [(4, "pyramid", 2, [0.7, -0.4]),
                                               (4, "butterfly", 3, [-0.2, 0.5, 0.3]),
                                               (3, "brick", 1, [-1.3])])
def test_every_construction_and_mode_recovers_signed_y_exactly(construction, n, layout, R,
                                                               alphas):
    """Exact outcome probabilities of every built family → estimate (lcu) and combine_terms
    (separate) give y = Mx with signs; one circuit per family, parameters = loader only."""
    _check_recovers_signed_y(construction, n, layout, R, alphas)


@pytest.mark.parametrize("n,layout,alphas", [(4, "pyramid", [0.7, -0.4]),
                                             (4, "butterfly", [-0.2, 0.5]),
                                             (5, "brick", [0.3, 0.3])])
def test_spectral_construction_recovers_signed_y_exactly(n, layout, alphas):
    """The spectral LCU (R = 2, loader folded: bindings are unary_angles(Qᵀx))."""
    _check_recovers_signed_y("spectral", n, layout, 2, alphas)


def test_spectral_needs_two_terms():
    with pytest.raises(InputError, match="'spectral' needs terms = 2"):
        parse_spec(WIRED.format(n=4, layout="pyramid", R=3, alphas=[0.2, 0.5, 0.3],
                                construction="spectral"))


def _check_recovers_signed_y(construction, n, layout, R, alphas):
    from hwadapt.circuits.dilation import fold_dilation_counts
    from hwadapt.compare import _mode_metrics, _separate_estimate, exact_reference
    from hwadapt.estimate import estimate
    from hwadapt.spec import reference_vectors, sign_references

    spec = parse_spec(WIRED.format(n=n, layout=layout, R=R, alphas=alphas,
                                   construction=construction))
    fams = build_families(spec)
    assert [f.name for f in fams] == spec.family_names
    refs = sign_references(spec, "lcu")
    two = construction in ("efficient", "spectral", "dilation")  # R = 1: input + mix
    assert list(refs) == (["signs", "signs1"] if two else ["signs"])
    sep_refs = sign_references(spec, "separate")  # input + mix, but textbook: uniform
    assert list(sep_refs.values()) == (["uniform"] if construction == "textbook"
                                       else ["input", "mix"])
    assert len(fams) == 1 + len(refs) + (1 + len(sep_refs)) * R
    counts = {}
    for f in fams:
        assert len(f.circuit.parameters) == n - 1 and f.values.shape == (2, n - 1)
        assert {p.name for p in f.circuit.parameters} == {f"x[{j}]" for j in range(n - 1)}
        counts[f.name] = _exact_counts(f)
    ex = exact_reference(spec)
    lcu = {k: counts[k] for k in ("magnitude", *refs)}
    if construction == "dilation":
        assert fams[0].circuit.num_qubits == 2 * n
        lcu = {k: [fold_dilation_counts(c, n) for c in v] for k, v in lcu.items()}
    by_family = {f: reference_vectors(spec, "lcu", f) for f in refs}
    est = estimate(lcu, n=n, alphas=[ex.K], beta=ex.beta, reference=by_family)
    np.testing.assert_allclose(est.y, ex.y, atol=1e-6)
    for f in refs:  # each reference family alone also gives the signed y
        one = estimate({"magnitude": lcu["magnitude"], "signs": lcu[f]}, n=n, alphas=[ex.K],
                       beta=ex.beta, reference=by_family[f])
        np.testing.assert_allclose(one.y, ex.y, atol=1e-6)
    a = _mode_metrics("lcu", est, ex)["aggregate"]
    assert abs(a["rate"] - a["rate_ideal"]) < 1e-9 and a["sign_agreement"] == 1.0
    sep = _separate_estimate(counts, n, ex)
    np.testing.assert_allclose(sep.y, ex.y, atol=1e-6)
    for f in sep_refs:  # each reference family alone also signs every term
        one = _separate_estimate({k: v for k, v in counts.items()
                                  if k.split(".")[-1] in ("magnitude", f)}, n, ex)
        np.testing.assert_allclose(one.y, ex.y, atol=1e-6)
    np.testing.assert_allclose(sep.rate, 1.0, atol=1e-9)  # no ancilla: nothing rejected


def test_efficient_is_default_and_cheaper_than_textbook():
    spec = parse_spec(GOOD)
    assert spec.circuit.construction == "efficient" and spec.circuit.modes == ("lcu",)
    eff = build_families(spec)[0].circuit
    text = build_families(parse_spec(GOOD.replace("[inputs]", 'construction = "textbook"\n'
                                                  "[inputs]")))[0].circuit
    from qiskit import transpile

    def cz(c):
        return transpile(c, basis_gates=["cz", "rz", "sx", "x"]).count_ops().get("cz", 0)

    assert 3 * cz(eff) < cz(text)


NEW_BAD = [
    ("construction = 'fancy'", "circuit", "circuit.construction = 'fancy' is not supported"),
    ("mode = 'both'", "circuit", "circuit.mode must be one of"),
    ("mode = ['lcu', 'lcu']", "circuit", "circuit.mode must be one of"),
    ("mode = []", "circuit", "circuit.mode must be one of"),
    ("dynamical_decoupling = 'XY8'", "execution", "execution.dynamical_decoupling = 'XY8'"),
    ("twirling = 'yes'", "execution", "execution.twirling must be true or false"),
]


@pytest.mark.parametrize("line,section,message", NEW_BAD)
def test_new_keys_bad_values_one_line(line, section, message):
    with pytest.raises(InputError) as e:
        parse_spec(_with(line, section))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_dilation_width_and_budget_count_every_family():
    wide = GOOD.replace("qubits = 4", "qubits = 13").replace("[inputs]",
                                                           'construction = "dilation"\n[inputs]')
    with pytest.raises(InputError, match="2 x qubits = 26"):
        parse_spec(wide)
    both = GOOD.replace("[inputs]", 'mode = ["lcu", "separate"]\n[inputs]').replace(
        "budget = 100000", "budget = 800")
    with pytest.raises(InputError, match="= 900"):  # 100 x 3 inputs x (1 + 2 terms)
        parse_spec(both)


def test_sampler_options_from_execution_table():
    assert parse_spec(GOOD).sampler_options == {}
    spec = parse_spec(GOOD + '[execution]\ndynamical_decoupling = "XY4"\ntwirling = true\n')
    assert spec.sampler_options == {
        "dynamical_decoupling": {"enable": True, "sequence_type": "XY4"},
        "twirling": {"enable_gates": True, "enable_measure": True}}


def test_execution_mode_and_max_qpu_seconds():
    spec = parse_spec(GOOD)
    assert spec.mode is None and spec.max_qpu_seconds is None
    spec = parse_spec(GOOD + '[execution]\nmode = "session"\nmax_qpu_seconds = 30\n')
    assert spec.mode == "session" and spec.max_qpu_seconds == 30.0
    with pytest.raises(InputError, match="execution.mode = 'dedicated' is not supported"):
        parse_spec(GOOD + '[execution]\nmode = "dedicated"\n')
    with pytest.raises(InputError, match="execution.max_qpu_seconds = 0 is out of range"):
        parse_spec(GOOD + "[execution]\nmax_qpu_seconds = 0\n")
    with pytest.raises(InputError, match="execution.max_qpu_seconds must be a number"):
        parse_spec(GOOD + '[execution]\nmax_qpu_seconds = "ten"\n')
