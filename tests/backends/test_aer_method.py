"""aer_noisy's method choice: each method it may pick samples the same noisy distribution as
the density matrix (TVD within shot noise, seeded), the choice follows size and structure,
and the method used is recorded with every stored batch."""

import json

import numpy as np
import pytest
from qiskit import QuantumCircuit

from hwadapt.backends import get_backend
from hwadapt.backends.aer_method import (
    DENSITY_MATRIX_MAX_QUBITS,
    MPS_MIN_QUBITS,
    choose_method,
    line_order,
)
from hwadapt.circuits.gates import rbs_gate
from hwadapt.circuits.transpile import transpile_for


def _hw1_circuit(n: int, seed: int) -> QuantumCircuit:
    """A unary input through two brick layers of random RBS gates on a line, measured."""
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(n)
    qc.x(n // 2)
    for start in (0, 1, 0, 1):
        for a in range(start, n - 1, 2):
            qc.append(rbs_gate(float(rng.uniform(0.3, 1.3))), [a, a + 1])
    qc.measure_all()
    return qc


def _distribution(backend, isa, shots, seed):
    res = backend.run([(isa, None, shots)], seed=seed, tag="t").result()[0]
    counts = res.data.meas.get_int_counts()
    return counts, res.metadata["circuit_metadata"].get("aer_method")


def _tvd(p: dict, q: dict) -> float:
    sp, sq = sum(p.values()), sum(q.values())
    return 0.5 * sum(abs(p.get(k, 0) / sp - q.get(k, 0) / sq) for k in set(p) | set(q))


def _shot_noise_bound(ref: dict, shots: int, seed: int = 0) -> float:
    """99.9th percentile of the TVD between ``shots`` samples of ``ref`` and ``ref``."""
    keys = sorted(ref)
    p = np.array([ref[k] for k in keys], float)
    p /= p.sum()
    draws = np.random.default_rng(seed).multinomial(shots, p, size=2000)
    return float(np.quantile(0.5 * np.abs(draws / shots - p).sum(axis=1), 0.999))


@pytest.mark.slow
@pytest.mark.parametrize("n", [4, 6])
def test_every_method_samples_the_density_matrix_distribution(n):
    backend = get_backend("aer_noisy", noise_from="fake_torino")
    isa = transpile_for(_hw1_circuit(n, n), backend.transpile_target, 1, 7)[0]
    backend.method = "density_matrix"
    ref, used = _distribution(backend, isa, 400_000, 1)  # cost independent of shots
    assert used == "density_matrix"
    aer = get_backend("aer")
    ideal, _ = _distribution(aer, transpile_for(_hw1_circuit(n, n), aer.transpile_target, 1,
                                                7)[0], 400_000, 1)
    assert _tvd(ideal, ref) > 0.1  # the noise is visible: a method dropping it would fail
    for method, shots in (("statevector", 4000), ("matrix_product_state", 1500)):
        backend.method = method
        got, used = _distribution(backend, isa, shots, 2)
        assert used == method
        # within shot noise of the density matrix (its own 400k-shot noise adds <= 0.01)
        assert _tvd(got, ref) < _shot_noise_bound(ref, shots) + 0.01, method
    backend.method = None
    assert _distribution(backend, isa, 4000, 2)[1] == "density_matrix"  # chosen: small


def test_choice_by_size_shots_and_structure():
    assert choose_method(5, 1000, line=True) == "density_matrix"
    assert choose_method(11, 1536, line=True) == "density_matrix"  # automatic: statevector
    assert choose_method(13, 1536, line=False) == "density_matrix"
    assert choose_method(15, 1536, line=False) == "statevector"
    assert choose_method(11, 16, line=False) == "statevector"  # few shots: trajectories
    assert choose_method(DENSITY_MATRIX_MAX_QUBITS + 1, 10**9, line=False) == "statevector"
    assert choose_method(MPS_MIN_QUBITS, 1536, line=True) == "matrix_product_state"
    assert choose_method(MPS_MIN_QUBITS, 1536, line=False) == "statevector"


def test_line_order():
    qc = QuantumCircuit(5)
    for a, b in [(3, 0), (0, 4), (4, 1), (3, 0)]:  # the line 3-0-4-1, qubit 2 idle
        qc.cz(a, b)
    qc.measure_all()
    order = line_order([qc], (0, 1, 2, 3, 4))
    assert order in ((1, 4, 0, 3, 2), (3, 0, 4, 1, 2), (2, 1, 4, 0, 3), (2, 3, 0, 4, 1))
    ring = qc.copy()
    ring.cz(1, 3)
    assert line_order([ring], (0, 1, 2, 3, 4)) is None
    star = QuantumCircuit(4)
    for b in (1, 2, 3):
        star.cz(0, b)
    assert line_order([star], (0, 1, 2, 3)) is None
    three = QuantumCircuit(3)
    three.ccx(0, 1, 2)
    assert line_order([three], (0, 1, 2)) is None


@pytest.mark.slow
def test_the_method_is_stored_with_each_batch(tmp_path, monkeypatch):
    from hwadapt.execution.ledger import Ledger
    from hwadapt.execution.manager import submit

    spec = tmp_path / "s.toml"
    spec.write_text('name = "m"\n[circuit]\nqubits = 3\nterms = 1\nalphas = [0.8]\n'
                    "[inputs]\ncount = 2\n[shots]\ntarget_accepted = 100\n")
    ledger = tmp_path / "l.db"
    run = submit(spec, "aer_noisy", ledger, noise_from="fake_lagos")
    led = Ledger(ledger, create=False)
    pubs = [p for b in led.batches(run) for p in json.loads(led.result(b.id)["summary"])["pubs"]]
    assert pubs and all(p["aer_method"] == "density_matrix" for p in pubs)
    from hwadapt.compare import compare_run
    from hwadapt.execution.summary import summary

    assert summary(led, run)["simulated_with"] == ["density_matrix"]  # status shows it
    assert compare_run(ledger, run)["simulated_with"] == ["density_matrix"]  # and compare
    exact = submit(spec, "exact", ledger)
    assert summary(led, exact)["simulated_with"] == []
    from typer.testing import CliRunner

    from hwadapt.cli import app, core

    monkeypatch.setattr(core.console, "width", 250)  # the tables' cells unabridged
    shown = CliRunner().invoke(app, ["status", "--ledger", str(ledger)])
    assert shown.exit_code == 0 and "aer_noisy (density_matrix)" in shown.output
    assert "exact (" not in shown.output
    shown = CliRunner().invoke(app, ["compare", run, "--ledger", str(ledger)])
    assert shown.exit_code == 0 and "on aer_noisy (density_matrix) vs exact" in shown.output


def test_simulation_cost_model_follows_each_method():
    """Density matrix ``∝ ops·4^q`` (shots free), statevector trajectories ``∝ ops·shots·2^q``,
    MPS trajectories ``∝ ops·shots``; aer_noisy sums the method it would pick over a job's
    bindings (over its threads) and other backends have no local cost."""
    from hwadapt.backends.aer_method import seconds_per_binding
    from hwadapt.threads import set_threads, threads

    dm = seconds_per_binding("density_matrix", 9, 700, 1000)
    assert seconds_per_binding("density_matrix", 11, 700, 10**6) == pytest.approx(16 * dm)
    assert seconds_per_binding("density_matrix", 9, 1400, 1) == pytest.approx(2 * dm)
    sv = seconds_per_binding("statevector", 9, 700, 1000)
    assert seconds_per_binding("statevector", 11, 700, 2000) == pytest.approx(8 * sv)
    mps = seconds_per_binding("matrix_product_state", 9, 700, 1000)
    assert seconds_per_binding("matrix_product_state", 30, 700, 1000) == mps
    assert 0.1 < dm < 2 and sv > 5 * dm  # 9 qubits: the density matrix is the cheap one

    noisy = get_backend("aer_noisy")
    isa = transpile_for(_hw1_circuit(6, 1), noisy.transpile_target, 1, 1)[0]
    old = threads()
    try:
        set_threads(1)
        one = noisy.simulation_seconds([(isa, 1, 1000)])
        assert noisy.simulation_seconds([(isa, 10, 1000)]) == pytest.approx(10 * one)
        set_threads(2)
        assert noisy.simulation_seconds([(isa, 10, 1000)]) == pytest.approx(5 * one)
    finally:
        set_threads(old)
    assert get_backend("aer").simulation_seconds([(isa, 10, 1000)]) is None


def test_local_testing_mode_is_costed_as_aer_automatic():
    """fake_<device> runs Runtime local mode: Aer's ``automatic`` on the active qubits, the
    density matrix once the shots exceed ``2^q``, else statevector trajectories; a job whose
    circuits sit on different qubits is costed per circuit (Aer truncates the idle ones)."""
    from hwadapt.backends.aer_method import job_seconds
    from hwadapt.backends.noise import active_qubits

    fake = get_backend("fake_torino")
    isa = transpile_for(_hw1_circuit(6, 1), fake.transpile_target, 1, 1)[0]
    q = len(active_qubits(isa))
    for shots, method in ((2**q + 1, "density_matrix"), (2**q, "statevector")):
        assert fake.simulation_seconds([(isa, 3, shots)]) == \
            pytest.approx(job_seconds([(isa, 3, shots)], method))


def test_method_and_cost_follow_the_widest_circuit_not_the_union_of_a_job():
    """Two families laid out on disjoint qubits share a job's register; Aer simulates each on
    its own qubits, so the method is chosen for the widest circuit (chosen for the union of
    20 qubits it ran statevector trajectories where the density matrix is cheaper) and the
    cost is the sum of the two alone."""
    from hwadapt.backends.aer_method import job_seconds
    from hwadapt.backends.noise import active_qubits

    noisy = get_backend("aer_noisy")
    a, b, c = (transpile_for(_hw1_circuit(6, k), noisy.transpile_target, 1, 1,
                             initial_layout=list(range(start, start + 6)))[0]
               for k, start in ((1, 0), (2, 100), (3, 121)))
    union, method = noisy.plan([(a, None, 1024), (b, None, 1024), (c, None, 1024)])
    assert len(union) == 18 and method == "density_matrix"  # by the union: statevector
    assert choose_method(18, 1024, line=False) == "statevector"
    both = noisy.simulation_seconds([(a, 2, 1024), (b, 3, 1024)])
    assert both == pytest.approx(job_seconds([(a, 2, 1024)], method)
                                 + job_seconds([(b, 3, 1024)], method))
    assert len(active_qubits(a)) == 6
    # and Aer does simulate each on its own qubits: a density matrix on 18 would need 1 TB;
    # circuit a's distribution in the shared job is its distribution alone
    together = noisy.run([(a, None, 4000), (b, None, 4000), (c, None, 4000)], seed=3,
                         tag="t").result()
    alone = noisy.run([(a, None, 4000)], seed=4, tag="t").result()
    p, q = (r[0].data.meas.get_counts() for r in (together, alone))
    assert 0.5 * sum(abs(p.get(k, 0) - q.get(k, 0)) for k in p.keys() | q.keys()) / 4000 < 0.05
