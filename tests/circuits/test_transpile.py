"""Transpilation to FakeTorino (CZ) and FakeSherbrooke (ECR): native gates only, same unitary
up to the layout, and the report's counts."""

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Operator

from hwadapt.backends import fake_backend
from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.lcu import lcu_circuit
from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.circuits.transpile import active_circuit, transpile_for

DEVICES = ["fake_torino", "fake_sherbrooke"]


@pytest.fixture(scope="module", params=DEVICES)
def backend(request):
    return fake_backend(request.param)


def circuits():
    rng = np.random.default_rng(2)
    yield "pyramid3", adapter_circuit(3, rng.uniform(-3, 3, 3))
    yield "pyramid5", adapter_circuit(5, rng.uniform(-3, 3, 10))
    yield "butterfly4", adapter_circuit(4, rng.uniform(-3, 3, 4), "butterfly")
    yield "tree5", unary_loader(5, unary_angles(rng.normal(size=5), tree=True), tree=True)
    us = [adapter_circuit(3, rng.uniform(-3, 3, 3)) for _ in range(3)]
    yield "lcu3", lcu_circuit(us, [0.4, -0.7, 1.0], unary_loader(3, unary_angles([1, -2, 3])))


def assert_equivalent_up_to_layout(qc, isa):
    """Each column of qc's unitary appears, on the final positions of the virtual qubits, as
    the ISA circuit's column of the same input placed on the initial positions (others 0)."""
    small, init, final = active_circuit(isa)
    n = qc.num_qubits
    U, V = Operator(qc).data, Operator(small).data
    idx = np.arange(1 << n)
    cols = sum(((idx >> i) & 1) << init[i] for i in range(n))
    rows = sum(((idx >> i) & 1) << final[i] for i in range(n))
    got = V[:, cols]
    assert np.abs(got[rows, :]).sum(0) == pytest.approx(np.abs(got).sum(0), abs=1e-9)
    expected = np.zeros_like(got)
    expected[rows, :] = U
    phase = np.vdot(expected.ravel(), got.ravel())
    phase /= abs(phase)
    np.testing.assert_allclose(got, phase * expected, atol=1e-9)


@pytest.mark.parametrize("name,qc", list(circuits()), ids=[c[0] for c in circuits()])
def test_native_gates_and_equivalence(backend, name, qc):
    isa, report = transpile_for(qc, backend)
    native = set(backend.operation_names)
    assert set(isa.count_ops()) <= native, set(isa.count_ops()) - native
    two_q = "cz" if "cz" in native else "ecr"
    assert report.two_qubit_gates == isa.count_ops().get(two_q, 0)
    assert report.depth == isa.depth() and report.backend == backend.name
    assert_equivalent_up_to_layout(qc, isa)


@pytest.mark.parametrize("n", [4, 8])
def test_pyramid_meets_the_bound(backend, n):
    _, report = transpile_for(adapter_circuit(n, np.full(num_angles(n, "pyramid"), 0.3)), backend)
    assert report.swaps == 0
    assert report.two_qubit_gates == 2 * num_angles(n, "pyramid")


def test_swaps_are_counted_and_errors(backend):
    _, report = transpile_for(adapter_circuit(8, np.full(12, 0.3), "butterfly"), backend)
    assert report.swaps > 0  # a butterfly is not nearest-neighbour on heavy-hex
    assert report.two_qubit_gates > 2 * 12
    with pytest.raises(ValueError, match="qubits"):
        transpile_for(QuantumCircuit(backend.num_qubits + 1), backend)


def test_plugin_filter_leaves_the_entry_point_cache_as_it_found_it():
    """transpile_for lists only Qiskit's translation plugins while it builds a pass manager
    for a backend without a plugin of its own (a no-op once qiskit_ibm_runtime is imported:
    tests/test_startup.py checks the fresh-process case), and restores stevedore's cache."""
    import sys

    import stevedore

    from hwadapt.backends.devices import device_backend
    from hwadapt.circuits import transpile as tr

    cache = stevedore.ExtensionManager.ENTRY_POINT_CACHE
    before = dict(cache)
    with tr._builtin_translation_only(device_backend("fake_lagos")):
        inside = [ep.value for ep in cache.get(tr.TRANSLATION_PLUGINS, [])]
    assert dict(cache) == before
    if "qiskit_ibm_runtime" not in sys.modules:
        assert inside and all(v.startswith("qiskit.") for v in inside)
    qc = QuantumCircuit(2)
    qc.cx(0, 1)
    qc.measure_all()
    isa, _ = tr.transpile_for(qc, device_backend("fake_lagos"), 1, 3)
    assert dict(cache) == before and isa.num_qubits == 7
