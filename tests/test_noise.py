"""Scaled device noise: target scaling exact to the definition, 0× ideal, errors grow with f."""

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Measure
from qiskit.quantum_info import Statevector
from qiskit_aer import AerSimulator

from hwadapt.backends import (
    active_qubits,
    compact_circuit,
    fake_backend,
    get_backend,
    restricted_noise_model,
    runtime_sampler,
)
from hwadapt.backends.noise import noise_source, parse_noise_source, scale_readout, scale_target
from hwadapt.errors import InputError


@pytest.mark.parametrize("f", [0.0, 0.5, 1.0, 2.0, 1e3])
def test_scale_target_follows_the_definition(f):
    t = fake_backend("fake_lagos").target
    s = scale_target(t, f)
    assert s.num_qubits == t.num_qubits and s.dt == t.dt
    assert set(s.operation_names) == set(t.operation_names)
    for p, q in zip(t.qubit_properties, s.qubit_properties, strict=True):
        if f == 0:
            assert q.t1 is None and q.t2 is None
        else:
            assert q.t1 == pytest.approx(p.t1 / f, rel=1e-15)
            assert q.t2 == pytest.approx(p.t2 / f, rel=1e-15)
    checked = 0
    for name in t.operation_names:
        if t[name] is None or None in t[name]:
            continue
        measure = isinstance(t.operation_from_name(name), Measure)
        for qargs, p in t[name].items():
            sp = s[name][qargs]
            if p is None:
                assert sp is None
                continue
            assert sp.duration == p.duration
            if p.error is None:
                assert sp.error is None
                continue
            d = 2 ** len(qargs)
            cap = 0.5 if measure else d / (d + 1)
            assert sp.error == pytest.approx(min(p.error * f, max(cap, p.error)), rel=1e-15)
            assert 0 <= sp.error <= max(cap, p.error)
            checked += 1
    assert checked > 20


def test_parse_noise_source_and_backend():
    assert parse_noise_source("fake_torino") == ("fake_torino", 1.0)
    assert parse_noise_source("fake_torino@0.5") == ("fake_torino", 0.5)
    assert parse_noise_source(noise_source("fake_lagos", 2.0)) == ("fake_lagos", 2.0)
    for bad in ("fake_torino@", "fake_torino@-1", "fake_torino@x", "fake_torino@nan",
                "fake_torino@inf"):
        with pytest.raises(InputError, match="scale after '@'"):
            parse_noise_source(bad)
    b = get_backend("aer_noisy", noise_from="fake_lagos@0.25")
    assert (b.device, b.noise_scale) == ("fake_lagos", 0.25)
    assert get_backend("aer_noisy", noise_from="fake_lagos").noise_scale == 1.0


def test_scaled_noise_models_readout_exactly_and_zero_is_empty():
    """Readout is the device's asymmetric p(1|0), p(0|1) (its properties), scaled; FakeLagos
    qubit 2 reads 0.62 / 0.30 (the Target's symmetric mean would say 0.46 / 0.46)."""
    q = (2, 0, 1)
    assert not restricted_noise_model("fake_lagos", q, 0.0).to_dict()["errors"]
    props = {p.name: p.value for p in fake_backend("fake_lagos").properties().qubits[2]}
    p10, p01 = props["prob_meas1_prep0"], props["prob_meas0_prep1"]
    assert abs(p10 - p01) > 0.3
    for f in (0.5, 1.0, 2.0):
        ro = restricted_noise_model("fake_lagos", q, f)._local_readout_errors[(0,)]
        a, b = min(p10 * f, p10 / (p10 + p01)), min(p01 * f, p01 / (p10 + p01))
        np.testing.assert_allclose(ro.probabilities, [[1 - a, a], [b, 1 - b]], atol=1e-15)


def test_scale_readout_caps_at_the_random_point():
    assert scale_readout(0.1, 0.3, 1.0) == (0.1, 0.3)
    assert scale_readout(0.1, 0.3, 0.0) == (0.0, 0.0)
    assert scale_readout(0.1, 0.3, 2.0) == pytest.approx((0.2, 0.6))
    assert scale_readout(0.1, 0.3, 10.0) == pytest.approx((0.25, 0.75))  # sum 1, ratio kept
    assert scale_readout(0.2, 0.2, 5.0) == pytest.approx((0.5, 0.5))  # = scale_target's cap
    assert scale_readout(0.7, 0.6, 2.0) == pytest.approx((0.7, 0.6))  # already past: kept
    with pytest.raises(InputError, match="finite number >= 0"):
        scale_readout(0.1, 0.1, -1.0)


def test_restricted_model_samples_like_runtime_local_mode():
    """The restricted model against the reference, Qiskit Runtime local mode on the whole
    FakeLagos (its own full noise model): same distribution (200k shots each) for a circuit
    whose qubit 2 has strongly asymmetric readout."""
    qc = QuantumCircuit(3)
    qc.x(0)
    qc.h(1)
    qc.cx(1, 2)
    qc.measure_all()
    dev = fake_backend("fake_lagos")
    isa = transpile(qc, dev, initial_layout=[2, 0, 1], optimization_level=1, seed_transpiler=1)
    shots = 200_000
    ref = runtime_sampler(dev)
    ref.options.simulator.seed_simulator = 5
    want = ref.run([isa], shots=shots).result()[0].data.meas.get_counts()
    qubits = active_qubits(isa)
    assert qubits == (0, 1, 2)
    sim = AerSimulator(noise_model=restricted_noise_model("fake_lagos", qubits))
    got = sim.run(compact_circuit(isa, qubits), shots=shots, seed_simulator=6).result() \
        .get_counts()
    tvd = 0.5 * sum(abs(want.get(k, 0) - got.get(k, 0)) for k in set(want) | set(got)) / shots
    assert tvd < 0.01, tvd  # symmetrised readout: ~0.1


def _tvd_to_ideal(f: float) -> float:
    """TVD of a noisy 4-qubit circuit's counts (400k shots) from its exact distribution."""
    qc = QuantumCircuit(4)
    qc.h(0)
    for a in range(3):
        qc.cx(a, a + 1)
    qc.ry(0.7, 2)
    qc.measure_all()
    isa = transpile(qc, fake_backend("fake_lagos"), optimization_level=1, seed_transpiler=3)
    qubits = active_qubits(isa)
    small = compact_circuit(isa, qubits)
    sim = AerSimulator(method="density_matrix",
                       noise_model=restricted_noise_model("fake_lagos", qubits, f))
    shots = 400_000
    counts = sim.run(small, shots=shots, seed_simulator=11).result().get_counts()
    p = Statevector(qc.remove_final_measurements(inplace=False)).probabilities_dict()
    keys = set(p) | set(counts)
    return 0.5 * sum(abs(p.get(k, 0.0) - counts.get(k, 0) / shots) for k in keys)


def test_noise_grows_with_scale_and_zero_is_ideal():
    tvds = [_tvd_to_ideal(f) for f in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert tvds[0] < 0.005  # shot noise only (400k shots, <= 8 outcomes)
    assert all(b > a + 0.005 for a, b in zip(tvds, tvds[1:], strict=False)), tvds
