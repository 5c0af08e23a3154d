"""Backends: restricted noise model gives the SAME counts as the full device model; the exact
sampler matches Statevector; status normalisation; registry errors."""

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.providers import JobStatus
from qiskit.quantum_info import Statevector
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel

from hwadapt.backends import (
    active_qubits,
    compact_circuit,
    fake_backend,
    get_backend,
    normalise_status,
    restricted_noise_model,
)
from hwadapt.errors import InputError
from hwadapt.execution.exact_sampler import ExactSampler, outcome_probabilities


@pytest.mark.slow
def test_restricted_noise_counts_equal_full_model():
    """Bit-identical counts to the full device model built from the device's properties (as
    Runtime local mode builds it: asymmetric readout; ``NoiseModel.from_backend(dev)`` reads
    the Target and symmetrises readout, so it is not the reference)."""
    dev = fake_backend("fake_lagos")
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.ry(0.3, 2)
    qc.cx(1, 2)
    qc.measure_all()
    isa = generate_preset_pass_manager(optimization_level=1, backend=dev,
                                       seed_transpiler=1).run(qc)
    q = active_qubits(isa)
    full = AerSimulator(noise_model=NoiseModel.from_backend_properties(dev.properties()),
                        seed_simulator=5)
    small = AerSimulator(noise_model=restricted_noise_model("fake_lagos", q), seed_simulator=5)
    a = full.run(isa, shots=20000).result().get_counts()
    b = small.run(compact_circuit(isa, q), shots=20000).result().get_counts()
    assert a == b
    assert len(a) > 4  # noise is really there


def test_exact_sampler_matches_statevector():
    t = Parameter("t")
    qc = QuantumCircuit(3)
    qc.ry(t, 0)
    qc.cx(0, 2)
    qc.h(1)
    qc.measure_all()
    vals = np.array([[0.3], [2.0]])
    res = ExactSampler(seed=1).run([(qc, vals, 40000)]).result()[0].data.meas
    for k, v in enumerate(vals):
        want = Statevector(qc.remove_final_measurements(inplace=False)
                           .assign_parameters(v)).probabilities()
        np.testing.assert_allclose(outcome_probabilities(qc.assign_parameters(v)), want,
                                   atol=1e-12)
        counts = res[k].get_int_counts()
        got = np.array([counts.get(i, 0) for i in range(8)]) / 40000
        assert np.abs(got - want).max() < 0.01
    again = ExactSampler(seed=1).run([(qc, vals, 40000)]).result()[0].data.meas
    assert np.array_equal(again.array, res.array)


def test_status_normalisation():
    assert normalise_status(JobStatus.DONE) == "DONE"
    assert normalise_status("INITIALIZING") == "QUEUED"
    assert normalise_status("JobStatus.RUNNING") == "RUNNING"
    assert normalise_status("cancelled") == "CANCELLED"
    with pytest.raises(ValueError):
        normalise_status("EXPLODED")


def test_registry_errors():
    with pytest.raises(InputError, match="unknown backend"):
        get_backend("quantum_magic")
    with pytest.raises(InputError, match="noise-from"):
        get_backend("aer", noise_from="fake_lagos")
    assert get_backend("aer_noisy", noise_from="fake_lagos").device == "fake_lagos"
    assert get_backend("fake_lagos").local and not get_backend("fake_lagos").retrievable


def test_runtime_sampler_takes_dd_and_twirling_options_and_local_mode_drops_them():
    """Spec options reach SamplerV2; local testing mode (fake_*) ignores them with a warning."""
    import warnings

    from qiskit import QuantumCircuit

    from hwadapt.backends import fake_backend, runtime_sampler
    from hwadapt.spec import parse_spec

    spec = parse_spec('[circuit]\nqubits = 3\n[execution]\ndynamical_decoupling = "XY4"\n'
                      "twirling = true\n")
    dev = fake_backend("fake_lima")
    sampler = runtime_sampler(dev, spec.sampler_options)
    assert sampler.options.dynamical_decoupling.enable is True
    assert sampler.options.dynamical_decoupling.sequence_type == "XY4"
    assert sampler.options.twirling.enable_gates is True
    assert runtime_sampler(dev).options.dynamical_decoupling.enable is not True
    qc = QuantumCircuit(1)
    qc.x(0)
    qc.measure_all()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        counts = sampler.run([(qc, None, 200)]).result()[0].data.meas.get_counts()
    assert counts.get("1", 0) > 150
    assert any("no effect in local testing mode" in str(w.message)
               and "dynamical_decoupling" in str(w.message) for w in caught)


@pytest.mark.parametrize("name", ["fake_torino", "fake_sherbrooke", "fake_brisbane"])
def test_listed_device_facts_match_the_instantiated_backend(name):
    from hwadapt.backends import _NON_GATES, fake_backend, list_backends

    info = {b.name: b for b in list_backends()}[name]
    dev = fake_backend(name)
    assert info.num_qubits == dev.num_qubits
    assert info.basis_gates == sorted(set(dev.operation_names) - _NON_GATES)
