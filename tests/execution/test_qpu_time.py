"""The QPU-time model: circuit durations against Qiskit's own scheduling, the per-job sum,
'no durations' on ideal backends, and the dry run's plan against what submit then plans."""

from pathlib import Path

import numpy as np
import pytest
from qiskit import transpile
from qiskit.circuit.random import random_circuit
from qiskit.transpiler import PassManager
from qiskit.transpiler.passes import ALAPScheduleAnalysis, ASAPScheduleAnalysis, PadDelay

from hwadapt.backends import fake_backend, get_backend
from hwadapt.execution import manager, qpu_time
from hwadapt.execution.ledger import Ledger
from hwadapt.execution.submit import plan_only

SMALL = Path(__file__).parents[2] / "jobs" / "small.toml"


def _scheduled_seconds(isa, target, analysis) -> float:
    """Length of Qiskit's schedule of ``isa`` (padded with delays), in seconds."""
    sched = PassManager([analysis(target=target), PadDelay(target=target)]).run(isa)
    return sched.estimate_duration(target, unit="s")


@pytest.mark.parametrize("device", ["fake_lagos", "fake_torino"])
def test_circuit_duration_matches_qiskit_schedule(device):
    dev = fake_backend(device)
    rng = np.random.default_rng(5)
    for k in range(6):
        qc = random_circuit(int(rng.integers(2, 6)), int(rng.integers(2, 12)), max_operands=2,
                            measure=True, seed=int(rng.integers(1 << 30)))
        isa = transpile(qc, dev, optimization_level=1, seed_transpiler=k)
        mine = qpu_time.circuit_duration(isa, dev.target)
        for analysis in (ALAPScheduleAnalysis, ASAPScheduleAnalysis):
            assert mine == pytest.approx(_scheduled_seconds(isa, dev.target, analysis),
                                         rel=1e-9, abs=1e-12)
        assert mine > 0


def test_lcu_family_durations_match_schedule():
    """The run's own ISA circuits (parameters bound) on a fake device."""
    backend = get_backend("fake_lagos")
    from hwadapt.execution.build import compute_run
    from hwadapt.spec import load_spec

    spec = load_spec(SMALL)
    built = compute_run(spec, backend, "fake_lagos")
    target = backend.transpile_target.target
    for isa, fam in zip(built["isa"], built["families"], strict=True):
        bound = isa.assign_parameters(fam.values[0])
        want = _scheduled_seconds(bound, target, ALAPScheduleAnalysis)
        assert qpu_time.circuit_duration(isa, target) == pytest.approx(want, rel=1e-9)


def test_delay_and_barrier_durations():
    from qiskit import QuantumCircuit

    dev = fake_backend("fake_lagos")
    qc = QuantumCircuit(2, 1)
    qc.sx(0)
    qc.delay(100, 1)  # dt
    qc.barrier()
    qc.measure(0, 0)
    t = dev.target
    want = max(t["sx"][(0,)].duration, 100 * t.dt) + t["measure"][(0,)].duration
    assert qpu_time.circuit_duration(qc, t) == pytest.approx(want)
    assert qpu_time.circuit_duration(qc, t) == pytest.approx(
        _scheduled_seconds(qc, t, ALAPScheduleAnalysis))


def test_job_seconds_is_the_stated_sum():
    job = {"shots": 100, "pubs": [{"family": 0, "inputs": [0, 1, 2]},
                                  {"family": 1, "inputs": [4]}]}
    got = qpu_time.job_seconds(job, [1e-6, 3e-6], 250e-6, overhead=2.0)
    assert got == pytest.approx(2.0 + 300 * (1e-6 + 250e-6) + 100 * (3e-6 + 250e-6))


@pytest.mark.parametrize("name", ["exact", "aer"])
def test_ideal_backends_have_no_durations(name):
    est = plan_only(SMALL, name)
    assert est["qpu_seconds"] is None and est["jobs"] >= 1 and est["shots"] > 0


def test_dry_run_plans_what_submit_runs_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    est = plan_only(SMALL, "fake_lagos")
    assert list(tmp_path.iterdir()) == []  # no ledger, no run folder
    dev = fake_backend("fake_lagos")
    assert est["rep_delay_s"] == dev.default_rep_delay
    path = tmp_path / "l.db"
    rid = manager.submit(SMALL, "fake_lagos", path)
    first = [b for b in Ledger(path).batches(rid) if b.round == 0]
    assert est["jobs"] == len(first)
    assert est["pubs"] == sum(len(b.pubs) for b in first)
    assert est["shots"] == sum(b.shots * len(p["inputs"]) for b in first for p in b.pubs)
    durations = est["circuit_seconds"]
    want = sum(qpu_time.job_seconds({"shots": b.shots, "pubs": b.pubs}, durations,
                                    dev.default_rep_delay) for b in first)
    assert est["qpu_seconds"] == pytest.approx(want)
    # the same model was recorded per submitted job
    from hwadapt.execution import usage

    led = Ledger(path)
    assert usage.run_usage(led, rid)["estimated"] == pytest.approx(
        sum(qpu_time.job_seconds({"shots": b.shots, "pubs": b.pubs}, durations,
                                 dev.default_rep_delay) for b in led.batches(rid)))


def test_no_durations_never_refused(tmp_path):
    rid = manager.submit(SMALL, "exact", tmp_path / "l.db", max_qpu_seconds=0.001)
    assert Ledger(tmp_path / "l.db").run(rid)["status"] == "done"


def _short_first_round(monkeypatch):
    """Round 0 gets a tenth of its planned shots (the predicted noise survival is
    conservative), so a top-up round is planned."""
    from hwadapt.execution import batching

    real = batching.first_round_shots
    monkeypatch.setattr(batching, "first_round_shots",
                        lambda *a: np.maximum(real(*a) // 10, batching.MIN_SHOTS))


@pytest.mark.slow
def test_top_up_rounds_stop_at_max_qpu_seconds(tmp_path, monkeypatch):
    _short_first_round(monkeypatch)
    first = plan_only(SMALL, "fake_lagos")["qpu_seconds"]
    free = manager.submit(SMALL, "fake_lagos", tmp_path / "a.db")
    assert {b.round for b in Ledger(tmp_path / "a.db").batches(free)} != {0}  # tops up
    rid = manager.submit(SMALL, "fake_lagos", tmp_path / "b.db", max_qpu_seconds=first * 1.01)
    led = Ledger(tmp_path / "b.db")
    assert {b.round for b in led.batches(rid)} == {0}
    assert led.run(rid)["reason"].endswith("below target: max_qpu_seconds reached")
    from hwadapt.execution import usage

    assert usage.run_usage(led, rid)["estimated"] == pytest.approx(first)
