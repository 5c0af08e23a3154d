"""``[observables]``/``[estimator]`` spec tables (hwadapt/spec/observables.py): accepted
forms, Runtime options built from them, and a one-line error for every bad value."""

import pytest

from hwadapt.errors import InputError
from hwadapt.spec import estimator_family, parse_spec

BASE = """
name = "obs"
seed = 1
[circuit]
qubits = 4
[inputs]
count = 3
"""


def _spec(extra: str):
    return parse_spec(BASE + extra)


def test_observables_make_an_estimator_spec():
    s = _spec('[observables]\nobservables = ["Z0", "Z0Z1", "unary:3", "parity"]\nshots = 1000\n'
              '[estimator]\nresilience_level = 2\nmeasure_mitigation = true\n'
              'zne_mitigation = true\n'
              'zne = { noise_factors = [1, 3, 5], extrapolator = ["exponential", "linear"], '
              'amplifier = "gate_folding" }\n'
              'twirling = { enable_gates = true, enable_measure = false }\n'
              '[execution]\ndynamical_decoupling = "XY4"\n')
    o = s.observables
    assert o.names == ("Z0", "Z0Z1", "unary:3", "parity") and o.shots == 1000
    assert o.options == {
        "resilience_level": 2,
        "resilience": {"measure_mitigation": True, "zne_mitigation": True,
                       "zne": {"noise_factors": [1.0, 3.0, 5.0],
                               "extrapolator": ["exponential", "linear"],
                               "amplifier": "gate_folding"}},
        "twirling": {"enable_gates": True, "enable_measure": False},
        "dynamical_decoupling": {"enable": True, "sequence_type": "XY4"}}
    assert _spec("").observables is None
    assert _spec('[observables]\nobservables = ["Z0"]\n').observables.options == {}


def test_estimator_family_is_the_lcu_magnitude_circuit():
    """Data qubits 0..n-1 then the construction's ancillas, no measurements, one binding
    per input (efficient, R = 2: one ancilla)."""
    f = estimator_family(_spec('[observables]\nobservables = ["Z0"]\n'))
    assert (f.n_data, f.n_ancilla, f.values.shape) == (4, 1, (3, 3))
    assert f.circuit.num_qubits == 5 and f.circuit.num_clbits == 0


def test_calibration_inputs_ride_after_the_targets():
    """``[calibration]`` in an Estimator spec: its inputs are more bindings of the same
    circuit after the targets (``calibration`` rows), at ``observables.shots``."""
    f = estimator_family(_spec('[observables]\nobservables = ["Z0"]\n'
                               '[calibration]\ninputs = 5\nkind = "basis"\n'))
    plain = estimator_family(_spec('[observables]\nobservables = ["Z0"]\n'))
    assert f.values.shape == (8, 3) and f.calibration == 5 and plain.calibration == 0
    assert (f.values[:3] == plain.values).all()


@pytest.mark.parametrize("extra,match", [
    ('[observables]\nobservables = []\n', "non-empty list"),
    ('[observables]\nobservables = "Z0"\n', "non-empty list"),
    ('[observables]\nobservables = ["Z0", "Z0"]\n', "distinct"),
    ('[observables]\nobservables = ["Z9"]\n', "data qubits 0..3"),
    ('[observables]\nobservables = ["W0"]\n', "not understood"),
    ('[observables]\nobservables = ["unary:4"]\n', "mode 0..3"),
    ('[observables]\nobservables = ["Z0"]\nshots = 0\n', "observables.shots"),
    ('[observables]\nobservables = ["Z0"]\ncolour = 1\n', "unknown key 'observables.colour'"),
    ('[estimator]\nresilience_level = 1\n', "need an \\[observables\\] table"),
    ('[observables]\nobservables = ["Z0"]\n[estimator]\nresilience_level = 3\n',
     "0, 1 or 2"),
    ('[observables]\nobservables = ["Z0"]\n[estimator]\nresilience_level = true\n',
     "0, 1 or 2"),
    ('[observables]\nobservables = ["Z0"]\n[estimator]\nmeasure_mitigation = 1\n',
     "true or false"),
    ('[observables]\nobservables = ["Z0"]\n[estimator]\npec_mitigation = true\n',
     "unknown key 'estimator.pec_mitigation'"),
    ('[observables]\nobservables = ["Z0"]\n[estimator]\nzne = { noise_factors = [3, 1] }\n',
     "increasing"),
    ('[observables]\nobservables = ["Z0"]\n[estimator]\nzne = { noise_factors = [0.5, 1] }\n',
     "increasing numbers >= 1"),
    ('[observables]\nobservables = ["Z0"]\n[estimator]\nzne = { extrapolator = "cubic" }\n',
     "extrapolator = 'cubic' is not supported"),
    ('[observables]\nobservables = ["Z0"]\n[estimator]\nzne = { amplifier = "pulse" }\n',
     "amplifier = 'pulse' is not supported"),
    ('[observables]\nobservables = ["Z0"]\n[estimator]\nzne = { factors = [1, 3] }\n',
     "estimator.zne must be a table"),
    ('[observables]\nobservables = ["Z0"]\n[estimator]\ntwirling = true\n',
     "estimator.twirling must be a table"),
    ('[observables]\nobservables = ["Z0"]\n[estimator]\ntwirling = { enable_gates = "y" }\n',
     "estimator.twirling.enable_gates must be true or false"),
    ('[observables]\nobservables = ["Z0"]\n[shots]\ntarget_accepted = 10\n',
     "\\[shots\\] is for Sampler runs"),
    ('[observables]\nobservables = ["Z0"]\n[calibration]\ninputs = 4\nshots = 1024\n',
     "calibration.shots is for Sampler runs"),
    ('[observables]\nobservables = ["Z0"]\n[execution]\ntwirling = true\n',
     "execution.twirling is for Sampler runs"),
])
def test_bad_observable_specs_one_line(extra, match):
    with pytest.raises(InputError, match=match) as e:
        _spec(extra)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("circuit", ['families = ["magnitude", "signs"]', 'mode = "separate"'])
def test_estimator_run_needs_lcu_magnitude(circuit):
    text = BASE.replace("qubits = 4", f"qubits = 4\n{circuit}")
    with pytest.raises(InputError, match="lcu magnitude circuit"):
        parse_spec(text + '[observables]\nobservables = ["Z0"]\n')


def test_observables_must_be_a_table():
    with pytest.raises(InputError, match="'observables' must be a table"):
        parse_spec("observables = 1\n" + BASE)
