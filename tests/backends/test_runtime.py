"""``runtime_estimator``: the one place that picks Runtime's Estimator class, both choices run
in local testing mode; nested options reach the options object."""

import warnings

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from hwadapt.backends import fake_backend, runtime
from hwadapt.circuits.transpile import transpile_for
from hwadapt.errors import InputError


def _bell():
    dev = fake_backend("fake_lagos")
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    isa = transpile_for(qc, dev, 1, 0)[0]
    obs = [SparsePauliOp(p).apply_layout(isa.layout) for p in ("ZZ", "XX", "ZI")]
    return dev, isa, obs


@pytest.mark.parametrize("impl,cls", [("legacy", "EstimatorV2"), ("executor", "Estimator")])
def test_both_implementations_run_in_local_mode(impl, cls):
    dev, isa, obs = _bell()
    est = runtime.runtime_estimator(dev, {"default_shots": 4000}, implementation=impl)
    assert type(est).__name__ == cls
    assert (impl == "executor") == ("executor_estimator" in type(est).__module__)
    if impl == "executor":
        est.options.resilience_level = 0  # raw values, as legacy local mode gives
    est.options.simulator.seed_simulator = 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = est.run([(isa, obs)]).result()[0]
    evs, stds = np.asarray(res.data.evs), np.asarray(res.data.stds)
    assert evs.shape == (3,) and np.all(stds > 0)
    # FakeLagos damps the Bell correlations but keeps their sign; <ZI> stays near 0
    assert evs[0] > 0.2 and evs[1] > 0.2 and abs(evs[2]) < 5 * stds[2] + 0.05


def test_default_is_legacy_and_unknown_refused():
    assert runtime.ESTIMATOR_IMPLEMENTATION == "legacy"
    dev = fake_backend("fake_lagos")
    assert type(runtime.runtime_estimator(dev)).__name__ == "EstimatorV2"
    with pytest.raises(InputError, match="legacy or executor"):
        runtime.runtime_estimator(dev, implementation="server")


@pytest.mark.parametrize("impl", ["legacy", "executor"])
def test_nested_options_are_set(impl):
    est = runtime.runtime_estimator(fake_backend("fake_lagos"), {
        "resilience_level": 2, "default_shots": 123,
        "resilience": {"measure_mitigation": True,
                       "zne": {"noise_factors": [1.0, 3.0], "amplifier": "gate_folding"}},
        "twirling": {"enable_gates": True, "enable_measure": False}}, implementation=impl)
    o = est.options
    assert (o.resilience_level, o.default_shots) == (2, 123)
    assert o.resilience.measure_mitigation is True
    assert list(o.resilience.zne.noise_factors) == [1.0, 3.0]
    assert o.twirling.enable_gates is True and o.twirling.enable_measure is False
