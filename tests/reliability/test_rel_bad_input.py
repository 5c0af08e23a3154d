"""Every bad input is one line: a table of bad specs, options, run ids, ledgers and
environment variables through the real entry point (``hwadapt.cli.main``), each asserting
exit code 2, exactly one line on stderr, no traceback, and an unchanged ledger (SHA-256 of
the file and its runs folder before and after)."""

import json
import sqlite3

import numpy as np
import pytest
import torch
from reliability_helpers import ROOT, SMALL, copy_ledger, digest

BASE = {"": {"name": '"m"', "seed": "11"},
        "circuit": {"qubits": "4", "terms": "2", "alphas": "[0.7, -0.3]"},
        "inputs": {"count": "4", "seed": "3"},
        "shots": {"target_accepted": "50", "budget": "200_000", "max_rounds": "1"},
        "execution": {}}


def spec_text(**changes) -> str:
    """jobs/small.toml-like TOML with ``section__key=value`` changes (None drops the key)."""
    tables = {k: dict(v) for k, v in BASE.items()}
    for key, value in changes.items():
        section, _, name = key.rpartition("__")
        if value is None:
            tables[section].pop(name, None)
        else:
            tables[section][name] = value
    lines = [f"{k} = {v}" for k, v in tables.pop("").items()]
    for section, keys in tables.items():
        lines += [f"[{section}]"] + [f"{k} = {v}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


# (id, spec changes or raw bytes, extra submit options, words the line must hold)
SPECS = [
    ("not-utf8", b"name = \"\xff\xfe\"\n", [], "UTF-8"),
    ("bad-toml", b"name = \n[circuit", [], "not valid TOML"),
    ("unknown-top-key", {"__colour": '"red"'}, [], "unknown key"),
    ("markup-key", {"circuit__'[/bold]'": "1"}, [], "[/bold]"),
    ("markup-key-2", {"circuit__'[red]x[/red]'": "1"}, [], "[red]x[/red]"),
    ("circuit-not-table", b"circuit = 3\n", [], "[circuit]"),
    ("no-circuit", b"name = \"x\"\n", [], "missing [circuit] table"),
    ("qubits-missing", {"circuit__qubits": None}, [], "circuit.qubits"),
    ("qubits-1", {"circuit__qubits": "1"}, [], "out of range"),
    ("qubits-25", {"circuit__qubits": "25"}, [], "out of range"),
    ("qubits-string", {"circuit__qubits": '"eight"'}, [], "integer"),
    ("qubits-17-efficient", {"circuit__qubits": "17"}, [], "up to 16"),
    ("qubits-20-spectral", {"circuit__qubits": "20", "circuit__construction": '"spectral"'},
     [], "up to 16"),
    ("qubits-17-separate-signs", {"circuit__qubits": "17", "circuit__mode": '"separate"',
                                  "circuit__families": '["magnitude", "signs"]'}, [],
     "up to 16"),
    ("terms-0", {"circuit__terms": "0", "circuit__alphas": "[]"}, [], "circuit.terms"),
    ("alphas-not-list", {"circuit__alphas": "0.5"}, [], "list of numbers"),
    ("alphas-length", {"circuit__alphas": "[1.0]"}, [], "one alpha per term"),
    ("alphas-zero", {"circuit__alphas": "[0.0, 1.0]"}, [], "non-zero"),
    ("alphas-underflow", {"circuit__alphas": "[1e-300, 1.0]"}, [], "out of range"),
    ("alphas-overflow", {"circuit__alphas": "[1e300, 1e300]"}, [], "out of range"),
    ("alphas-nan", {"circuit__alphas": "[nan, 1.0]"}, [], "list of numbers"),
    ("alphas-inf", {"circuit__alphas": "[inf, 1.0]"}, [], "list of numbers"),
    ("layout", {"circuit__layout": '"zigzag"'}, [], "circuit.layout"),
    ("butterfly-6", {"circuit__qubits": "6", "circuit__layout": '"butterfly"'}, [],
     "power-of-two"),
    ("angles-checkpoint-no-file", {"circuit__angles": '"checkpoint"'}, [], "checkpoint"),
    ("checkpoint-missing", {"circuit__angles": '"checkpoint"',
                            "circuit__checkpoint": '"nope.pt"'}, [], "not found"),
    ("checkpoint-garbage", {"circuit__angles": '"checkpoint"',
                            "circuit__checkpoint": '"garbage.pt"'}, [], "state_dict"),
    ("checkpoint-nan", {"circuit__angles": '"checkpoint"',
                        "circuit__checkpoint": '"nan.pt"'}, [], "NaN"),
    ("checkpoint-inf-alpha", {"circuit__angles": '"checkpoint"',
                              "circuit__checkpoint": '"inf.pt"'}, [], "NaN or infinite"),
    ("checkpoint-not-tensor", {"circuit__angles": '"checkpoint"',
                               "circuit__checkpoint": '"list.pt"'}, [], "not a real tensor"),
    ("checkpoint-with-seed", {"circuit__checkpoint": '"nan.pt"'}, [], "angles = 'checkpoint'"),
    ("families", {"circuit__families": '["phase"]'}, [], "circuit.families"),
    ("construction", {"circuit__construction": '"magic"'}, [], "circuit.construction"),
    ("spectral-3-terms", {"circuit__construction": '"spectral"', "circuit__terms": "3",
                          "circuit__alphas": "[0.5, 0.3, 0.2]"}, [], "terms = 2"),
    ("dilation-13", {"circuit__qubits": "13", "circuit__construction": '"dilation"'}, [],
     "dilation"),
    ("mode", {"circuit__mode": '"both"'}, [], "circuit.mode"),
    ("source", {"inputs__source": '"camera"'}, [], "inputs.source"),
    ("file-no-path", {"inputs__source": '"file"'}, [], "inputs.path"),
    ("path-without-file", {"inputs__path": '"x.npy"'}, [], "inputs.path"),
    ("npy-strings", {"inputs__source": '"file"', "inputs__path": '"strings.npy"'}, [],
     "numeric"),
    ("npy-structured", {"inputs__source": '"file"', "inputs__path": '"structured.npy"'}, [],
     "numeric"),
    ("npy-shape", {"inputs__source": '"file"', "inputs__path": '"shape.npy"'}, [], "shape"),
    ("npy-nan", {"inputs__source": '"file"', "inputs__path": '"nan.npy"'}, [], "non-finite"),
    ("npy-zero-row", {"inputs__source": '"file"', "inputs__path": '"zero.npy"'}, [],
     "zero vector"),
    ("npy-pickle", {"inputs__source": '"file"', "inputs__path": '"object.npy"'}, [],
     "not a .npy array"),
    ("mnist-8", {"circuit__qubits": "8", "inputs__source": '"mnist"'}, [], "perfect square"),
    ("count-0", {"inputs__count": "0"}, [], "inputs.count"),
    ("count-huge", {"inputs__count": "100001"}, [], "inputs.count"),
    ("target-0", {"shots__target_accepted": "0"}, [], "target_accepted"),
    ("budget-low", {"shots__budget": "100"}, [], "shots.budget"),
    ("rounds-0", {"shots__max_rounds": "0"}, [], "max_rounds"),
    ("work-shots", {"shots__target_accepted": "1_000_000_000",
                    "shots__budget": "1_000_000_000_000"}, [], "--force"),
    ("work-bindings", {"inputs__count": "100000", "shots__target_accepted": "1",
                       "shots__budget": "1_000_000_000_000"}, [], "--force"),
    ("dd", {"execution__dynamical_decoupling": '"YY"'}, [], "dynamical_decoupling"),
    ("twirling", {"execution__twirling": '"yes"'}, [], "twirling"),
    ("opt-level", {"execution__optimization_level": "5"}, [], "optimization_level"),
    ("name-empty", {"__name": '""'}, [], "name"),
    ("angle-scale", {"circuit__angle_scale": "-1.0"}, [], "angle_scale"),
    ("seed-negative", {"__seed": "-1"}, [], "seed"),
    ("backend-unknown", {}, ["--backend", "foo"], "unknown backend"),
    ("backend-markup", {}, ["--backend", "[/x]"], "[/x]"),
    ("backend-control", {}, ["--backend", "a\x1b[2Jb"], "\\x1b"),
    ("noise-from-exact", {}, ["--backend", "exact", "--noise-from", "fake_lagos"],
     "--noise-from"),
    ("noise-from-unknown", {}, ["--backend", "aer_noisy", "--noise-from", "fake_nosuch"],
     "fake_nosuch"),
    ("detach-local", {}, ["--backend", "exact", "--detach"], "--detach"),
    ("wider-than-device", {"circuit__qubits": "8"}, ["--backend", "fake_manila"],
     "fake_manila"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory, two_runs_template):
    """A folder with the spec's side files and a copy of a ledger holding two runs."""
    d = tmp_path_factory.mktemp("bad")
    (d / "garbage.pt").write_bytes(b"not a torch file")
    torch.save({"fc1.angles": torch.full((2, 6), float("nan")), "fc1.alpha": torch.ones(2)},
               d / "nan.pt")
    torch.save({"fc1.angles": torch.zeros(2, 6), "fc1.alpha": torch.tensor([1.0, np.inf])},
               d / "inf.pt")
    torch.save({"fc1.angles": [[0.0] * 6] * 2, "fc1.alpha": torch.ones(2)}, d / "list.pt")
    np.save(d / "strings.npy", np.array([["a", "b", "c", "d"]] * 4))
    np.save(d / "structured.npy", np.zeros((4, 4), dtype=[("x", "f8"), ("y", "i4")]))
    np.save(d / "shape.npy", np.ones((4, 3)))
    np.save(d / "nan.npy", np.full((4, 4), np.nan))
    zero = np.ones((4, 4))
    zero[2] = 0
    np.save(d / "zero.npy", zero)
    np.save(d / "object.npy", np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True)
    con = sqlite3.connect(d / "foreign.db")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    (d / "empty.db").touch()
    ledger = copy_ledger(two_runs_template[0], d / "ledger")
    return d, ledger, two_runs_template[1]


def _state(ledger):
    """Digest of the ledger file and of every file under its runs folder."""
    files = sorted(p for p in (ledger.parent / "runs").rglob("*") if p.is_file())
    return digest(ledger), [(str(p), digest(p)) for p in files]


def _check(cli, world, args, words, env=None):
    _, ledger, _ = world
    before = _state(ledger)
    line = cli.one_line_error(cli.inproc(*args, env=env))
    for w in words if isinstance(words, list | tuple) else [words]:
        assert w in line, line
    assert _state(ledger) == before
    return line


@pytest.mark.parametrize("case", SPECS, ids=[c[0] for c in SPECS])
def test_bad_spec_or_submit_option(cli, world, case):
    d, ledger, _ = world
    name, change, options, words = case
    path = d / f"{name}.toml"
    if name == "wider-than-device":
        path = ROOT / "jobs" / "demo.toml"  # the issue's case: 9 qubits on a 5-qubit device
    elif isinstance(change, bytes):
        path.write_bytes(change)
    else:
        path.write_text(spec_text(**change))
    args = ["submit", path, *(options or ["--backend", "exact"]), "--ledger", ledger]
    _check(cli, world, args, words)


def _ledger_cases(d, ledger, ids):
    """(id, arguments, words) of the cases on runs, ledgers and usage (files under ``d``:
    made by the ``world`` fixture)."""
    a, foreign = ids[0], d / "foreign.db"
    return [
        ("status-no-run", ["status", "nosuch", "--ledger", ledger], "no run 'nosuch'"),
        ("status-markup-run", ["status", "[/x]", "--ledger", ledger], "[/x]"),
        ("status-control-run", ["status", "a\x1b]0;x\x07", "--ledger", ledger], "\\x1b"),
        ("resume-no-run", ["resume", "nosuch", "--ledger", ledger], "hwadapt runs"),
        ("fetch-no-run", ["fetch", "nosuch", "--ledger", ledger], "no run"),
        ("cancel-no-run", ["cancel", "nosuch", "--ledger", ledger], "no run"),
        ("cancel-done", ["cancel", a, "--ledger", ledger], "nothing to cancel"),
        ("compare-no-run", ["compare", "nosuch", "--ledger", ledger], "no run"),
        ("compare-mitigate-markup", ["compare", a, "--mitigate", "[/x]", "--ledger", ledger],
         "[/x]"),
        ("status-missing-ledger", ["status", "--ledger", d / "none.db"], "no ledger at"),
        ("runs-missing-ledger", ["runs", "--ledger", d / "none.db"], "no ledger at"),
        ("runs-ledger-folder", ["runs", "--ledger", d], "not a file"),
        ("status-foreign", ["status", "--ledger", foreign], "not an hwadapt ledger"),
        ("submit-foreign", ["submit", SMALL, "--backend", "exact", "--ledger", foreign],
         "not an hwadapt ledger"),
        ("status-empty", ["status", "--ledger", d / "empty.db"], "not an hwadapt ledger"),
        ("usage-option", ["submit", "--bogus", "--ledger", ledger], "--bogus"),
        ("usage-missing-arg", ["fetch", "--ledger", ledger], "hwadapt fetch --help"),
        ("usage-command", ["subnit"], "subnit"),
        ("spec-missing", ["submit", d / "none.toml", "--ledger", ledger], "not found"),
    ]


LEDGER_CASES = [c[0] for c in _ledger_cases(ROOT / "none", ROOT / "none.db", ["r"])]


@pytest.mark.parametrize("name", LEDGER_CASES)
def test_bad_run_ledger_or_usage(cli, world, name):
    d, ledger, ids = world
    [(_, args, words)] = [c for c in _ledger_cases(d, ledger, ids) if c[0] == name]
    _check(cli, world, args, words)
    if name == "status-empty":
        assert (d / "empty.db").stat().st_size == 0


ENV_CASES = [("HWADAPT_POLL_S", "abc"), ("HWADAPT_RETRY_BASE_S", "-1"),
             ("HWADAPT_POLL_S", "nan"), ("HWADAPT_CRASH_AT", "after_plan:x")]


@pytest.mark.parametrize("var,value", ENV_CASES)
def test_malformed_environment_variable(cli, world, var, value):
    _, ledger, _ = world
    _check(cli, world, ["status", "--ledger", ledger], [var, "unset it"], env={var: value})


FINETUNE = [(["--quantum", "--backend", "foo"], "unknown backend"),
            (["--quantum", "--shots", "0"], "--shots"),
            (["--methods", "nope"], "unknown method"),
            (["--seeds", "0"], "--seeds"),
            (["--hidden", "15"], "perfect square"),
            (["--data-dir", "/no/such/folder"], "not a directory"),
            (["--quantum", "--qubits", "1"], "--qubits"),
            (["--quantum", "--gradient", "magic"], "gradient")]


@pytest.mark.parametrize("args,words", FINETUNE, ids=[" ".join(a) for a, _ in FINETUNE])
def test_finetune_options_checked_before_any_work(cli, world, tmp_path, args, words):
    _, ledger, _ = world
    out = tmp_path / "out"
    _check(cli, world, ["finetune", *args, "--out", out, "--ledger", ledger], words)
    assert not out.exists()


def test_matrix_size():
    assert len(SPECS) + len(LEDGER_CASES) + len(ENV_CASES) + len(FINETUNE) >= 60


def test_json_errors_on_stdout(cli, world):
    _, ledger, _ = world
    for args in (["status", "nosuch", "--json"], ["submit", "--bogus", "--json"]):
        r = cli.inproc(*args, "--ledger", ledger)
        assert r.returncode == 2
        err = json.loads(r.stdout)
        assert err["code"] == 2 and err["error"] and err["error"] in r.stderr


def test_real_process_one_line(cli, world):
    """The same through a real process (the in-process runner shares ``main``)."""
    _, ledger, _ = world
    cli.one_line_error(cli("status", "[/x]", "--ledger", ledger))


def test_huge_and_tiny_inputs_are_normalised(tmp_path):
    """Norms that overflow (or underflow) float64 are no error: only directions matter."""
    from hwadapt.spec import input_vectors, parse_spec

    x = np.random.default_rng(0).normal(size=(4, 4))
    for scale in (1e300, 1e-310, 1.0):
        np.save(tmp_path / "x.npy", x * scale)
        spec = parse_spec(spec_text(inputs__source='"file"', inputs__path='"x.npy"'),
                          base_dir=tmp_path)
        got = input_vectors(spec)
        np.testing.assert_allclose(got, x / np.linalg.norm(x, axis=1, keepdims=True),
                                   rtol=1e-12, atol=1e-14)
