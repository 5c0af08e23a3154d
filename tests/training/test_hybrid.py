"""Hybrid training: the quantum adapter against the classical adapter, Statevector, finite
differences; circuits through the job manager (aer); kill-and-resume."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector
from torch import nn

from hwadapt.adapters import AdapterConfig, inject
from hwadapt.adapters.quantum import QuantumAdapter, QuantumAdapterLayer
from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.lcu import lcu_circuit
from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.errors import InputError
from hwadapt.execution.ledger import Ledger
from hwadapt.linalg import givens_matrix
from hwadapt.training.evaluators import ExactEvaluator, LedgerEvaluator, exact_outputs
from hwadapt.training.hybrid import fit

D = torch.float64


def _adapter(n, R, seed=0, **kw):
    torch.manual_seed(seed)
    q = QuantumAdapter(n, R, dtype=D, **kw)
    with torch.no_grad():
        q.alpha.copy_(torch.randn(R, dtype=D))
    return q


@pytest.mark.parametrize("n,R", [(3, 1), (4, 2), (6, 3)])
def test_exact_equals_orthogonal_hamming_adapter_on_hw1(n, R):
    torch.manual_seed(n)
    lay = inject(nn.Linear(2**n, 2**n, dtype=D),
                 AdapterConfig("hamming", R, base="orthogonal", qubits=n, path="apply"))
    with torch.no_grad():
        lay.alpha.copy_(torch.randn(R, dtype=D))
    q = QuantumAdapter.from_hamming_layer(lay)
    x = torch.randn(7, n, dtype=D)
    xe = torch.zeros(7, 2**n, dtype=D)
    hw1 = [1 << i for i in range(n)]
    xe[:, hw1] = x
    delta = lay(xe) - lay.base_layer(xe)
    torch.testing.assert_close(q(x), delta[:, hw1], rtol=0, atol=1e-14)
    # the same through the estimator seam with exact estimates
    qe = QuantumAdapter.from_hamming_layer(lay, evaluator=ExactEvaluator(),
                                           gradient="parameter_shift")
    torch.testing.assert_close(qe(x), delta[:, hw1], rtol=0, atol=1e-14)
    assert torch.equal(qe.stderr, torch.zeros_like(x))


def test_lcu_matrix_is_the_postselected_lcu_circuit():
    n, R = 3, 2
    q = _adapter(n, R, seed=3)
    al = q.alpha.detach().numpy()
    x = np.array([0.3, -1.2, 0.5])
    psi = x / np.linalg.norm(x)
    qc = lcu_circuit([adapter_circuit(n, th) for th in q.angles.detach().numpy()], al,
                     state_prep=unary_loader(n, unary_angles(psi)))
    sv = Statevector(qc).data
    y_circuit = np.array([sv[1 << j].real for j in range(n)]) * np.abs(al).sum()
    y = q(torch.tensor(x, dtype=D)).detach().numpy() / np.linalg.norm(x)
    np.testing.assert_allclose(y_circuit, y, atol=1e-12)


def _grads(q, x, w):
    q.zero_grad()
    xx = x.clone().requires_grad_(True)
    (q(xx) * w).sum().backward()
    return q.angles.grad.clone(), q.alpha.grad.clone(), xx.grad.clone()


def _fd(q, x, w, h=1e-6):
    """Central finite differences of the exact surrogate's loss <w, ΔW x>."""
    ref = QuantumAdapter(q.n, q.rank, dtype=D)
    ref.load_state_dict(q.state_dict())
    out = []
    for p in (ref.angles, ref.alpha):
        g = torch.zeros_like(p)
        for k in range(p.numel()):
            with torch.no_grad():
                p.view(-1)[k] += h
                up = (ref(x) * w).sum()
                p.view(-1)[k] -= 2 * h
                dn = (ref(x) * w).sum()
                p.view(-1)[k] += h
            g.view(-1)[k] = (up - dn) / (2 * h)
        out.append(g)
    return out


@pytest.mark.parametrize("gradient", ["exact", "parameter_shift"])
def test_gradients_match_finite_differences(gradient):
    n, R = 4, 2
    q = _adapter(n, R, seed=1, evaluator=ExactEvaluator(), gradient=gradient)
    x, w = torch.randn(5, n, dtype=D), torch.randn(5, n, dtype=D)
    x[1] = 0  # a zero input contributes nothing
    ga, gal, gx = _grads(q, x, w)
    fa, fal = _fd(q, x, w)
    # parameter shift is exact for the amplitude; FD error O(h²) ~ 1e-10
    torch.testing.assert_close(ga, fa, rtol=0, atol=1e-8)
    torch.testing.assert_close(gal, fal, rtol=0, atol=1e-8)
    torch.testing.assert_close(gx, w @ q.matrix().detach(), rtol=0, atol=1e-12)
    assert ga.abs().max() > 0.1 and gal.abs().max() > 0.1


def test_parameter_shift_skips_zero_alpha_terms_and_batches_one_call():
    n, R = 3, 2
    ev = ExactEvaluator()
    q = _adapter(n, R, evaluator=ev, gradient="parameter_shift")
    with torch.no_grad():
        q.alpha[1] = 0
    x, w = torch.randn(4, n, dtype=D), torch.randn(4, n, dtype=D)
    ga, gal, _ = _grads(q, x, w)
    assert ev.calls == 1  # value, all shifts and the α terms in ONE evaluation
    assert torch.equal(ga[1], torch.zeros(3, dtype=D)) and gal[1] != 0
    fa, fal = _fd(q, x, w)
    torch.testing.assert_close(ga, fa, rtol=0, atol=1e-8)


def test_spsa_is_unbiased_statistically():
    n, R, K = 3, 2, 2000
    q = _adapter(n, R, seed=2, evaluator=ExactEvaluator(), gradient="spsa", spsa_samples=K,
                 spsa_c=1e-3)
    x, w = torch.randn(4, n, dtype=D), torch.randn(4, n, dtype=D)
    ga, gal, _ = _grads(q, x, w)
    fa, fal = _fd(q, x, w)
    est, true = torch.cat([ga.ravel(), gal]), torch.cat([fa.ravel(), fal])
    # ĝ_k = Σ_l Δ_k Δ_l ∇_l: mean ∇_k, variance Σ_{l≠k} ∇_l²; bias O(c²)
    se = torch.sqrt(((true**2).sum() - true**2) / K)
    assert torch.all((est - true).abs() < 5 * se + 1e-5), (est, true, se)
    assert torch.nn.functional.cosine_similarity(est, true, dim=0) > 0.95


def test_bad_input():
    with pytest.raises(InputError, match="unknown gradient"):
        QuantumAdapter(3, gradient="adjoint")
    with pytest.raises(InputError, match="needs an evaluator"):
        QuantumAdapter(3, gradient="spsa")
    with pytest.raises(InputError, match="input width"):
        QuantumAdapter(3)(torch.ones(2, 4))
    with pytest.raises(InputError, match="multiple of n=3"):
        QuantumAdapterLayer(nn.Linear(8, 8), QuantumAdapter(3))
    with pytest.raises(InputError, match="base='orthogonal'"):
        QuantumAdapter.from_hamming_layer(inject(nn.Linear(4, 4), AdapterConfig("hamming")))


def test_block_layer_delta_weight():
    q = _adapter(4, 2, seed=5)
    lay = QuantumAdapterLayer(nn.Linear(8, 8, dtype=D), q)
    x = torch.randn(3, 8, dtype=D)
    torch.testing.assert_close(lay(x), lay.base_layer(x) + x @ lay.delta_weight().T)


@pytest.mark.parametrize("construction", ["spectral", "efficient"])
def test_estimates_on_aer_within_stderr(tmp_path, construction):
    n, R = 3, 2
    ev = LedgerEvaluator("aer", tmp_path / "l.db", shots=4000, session="est", seed=1,
                         construction=construction)
    q = _adapter(n, R, seed=4, evaluator=ev, gradient="parameter_shift")
    ref = QuantumAdapter(n, R, dtype=D)
    ref.load_state_dict(q.state_dict())
    x, w = torch.randn(6, n, dtype=D) * 3, torch.randn(6, n, dtype=D)
    y = q(x)
    z = (y - ref(x)).detach() / q.stderr
    assert z.abs().max() < 5 and q.stderr.min() > 0  # signed, rescaled by ‖x‖
    # parameter-shift gradient from estimates: within 5 of its propagated noise scale
    (y * w).sum().backward()
    (ref(x) * w).sum().backward()
    scale = float((q.stderr * w.abs()).sum())
    assert (q.angles.grad - ref.angles.grad).abs().max() < 5 * scale
    assert (q.alpha.grad - ref.alpha.grad).abs().max() < 5 * scale
    led = Ledger(tmp_path / "l.db")
    assert [r["id"] for r in led.runs()] == ["est-c00000"]  # one submission for the step
    assert all(r["status"] == "done" for r in led.runs())


@pytest.mark.slow
def test_same_estimates_on_aer_noisy_fake_device_and_ibm_double(tmp_path, service):
    """One SPSA step of a 4-qubit, 2-term adapter with FakeLagos noise three ways: our
    restricted-noise Aer (``aer_noisy``), Runtime local mode (``fake_lagos``) and the IBM
    path through the service double (``ibm_lagos``). Same noise model, same ISA circuits, so
    the estimates agree within shot noise; each step is one ledger run and one IBM job, and
    the token is stored nowhere."""
    x = torch.randn(4, 4, dtype=D, generator=torch.Generator().manual_seed(1))
    w = torch.randn(4, 4, dtype=D, generator=torch.Generator().manual_seed(2))
    ys, ses = {}, {}
    for backend in ("aer_noisy", "fake_lagos", "ibm_lagos"):
        ev = LedgerEvaluator(backend, tmp_path / "l.db", shots=4000, session=backend, seed=1,
                             noise_from="fake_lagos" if backend == "aer_noisy" else None,
                             service=service if backend == "ibm_lagos" else None)
        q = _adapter(4, 2, seed=4, evaluator=ev, gradient="spsa")
        y = q(x)
        (y * w).sum().backward()  # SPSA: the value and the ±perturbation in one submission
        assert q.angles.grad.abs().max() > 0 and q.alpha.grad.abs().max() > 0
        ys[backend], ses[backend] = y.detach(), q.stderr
    exact = _adapter(4, 2, seed=4)(x).detach()
    noisy = float((ys["aer_noisy"] - exact).norm() / exact.norm())
    assert noisy > 0.1  # FakeLagos noise is visible (~0.27 relative error here) ...
    for a, b in [("aer_noisy", "fake_lagos"), ("fake_lagos", "ibm_lagos")]:
        z = (ys[a] - ys[b]) / (ses[a] ** 2 + ses[b] ** 2).sqrt()
        assert z.abs().max() < 5, (a, b)  # ... and the same on all three paths
    led = Ledger(tmp_path / "l.db")
    assert [r["id"] for r in led.runs()] == [f"{b}-c00000" for b in
                                             ("aer_noisy", "fake_lagos", "ibm_lagos")]
    subs = [s for b in led.batches("ibm_lagos-c00000") for s in led.submissions(b.id)]
    assert service.submitted == 1 and [s["job_id"] for s in subs] == list(service.by_id)
    for f in [tmp_path / "l.db", *tmp_path.rglob("*")]:
        if f.is_file():
            assert b"SECRET-TOKEN" not in f.read_bytes(), f


def _toy(ledger: str, ckpt: str, steps: int, backend: str = "aer", R: int = 1) -> dict:
    """Deterministic toy regression: fit ΔW x to a target adapter's outputs (R = 1: the
    efficient LCU circuits; R = 2: the spectral ones)."""
    torch.manual_seed(0)
    n = 3
    target = QuantumAdapter(n, R, dtype=D)
    with torch.no_grad():
        target.alpha.fill_(1.0)
    ev = LedgerEvaluator(backend, ledger, shots=3000, session="toy", seed=7)
    q = QuantumAdapter(n, R, dtype=D, evaluator=ev, gradient="parameter_shift")
    with torch.no_grad():  # warm start near the target, as from a classical adapter
        q.angles.copy_(target.angles + 0.5)
        q.alpha.fill_(0.6)
    opt = torch.optim.SGD(q.parameters(), lr=0.1)
    X = torch.randn(64, n, dtype=D)
    Y = target(X).detach()

    def loss_fn(model, step):
        idx = torch.randperm(64, generator=torch.Generator().manual_seed(step))[:8]
        return ((model(X[idx]) - Y[idx]) ** 2).sum(-1).mean()

    hist = fit(q, loss_fn, steps, opt, ckpt)
    exact = QuantumAdapter(n, R, dtype=D)
    exact.load_state_dict(q.state_dict())
    full = float(((exact(X) - Y) ** 2).sum(-1).mean().detach())
    return {"hist": hist, "full_loss": full, "angles": q.angles.tolist(),
            "alpha": q.alpha.tolist()}


@pytest.mark.slow
@pytest.mark.parametrize("R", [1, 2])
def test_training_on_aer_lowers_the_loss(tmp_path, R):
    start = _toy(str(tmp_path / "a.db"), str(tmp_path / "a.pt"), 0, R=R)["full_loss"]
    out = _toy(str(tmp_path / "b.db"), str(tmp_path / "b.pt"), 5, R=R)
    assert out["full_loss"] < 0.6 * start, (start, out["full_loss"])


@pytest.mark.slow
def test_kill_mid_training_resumes_without_repeating_a_step(tmp_path):
    steps = 3
    ref = _toy(str(tmp_path / "ref.db"), str(tmp_path / "ref.pt"), steps)
    db, ckpt = tmp_path / "k.db", tmp_path / "k.pt"
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"from test_hybrid import _toy; _toy({str(db)!r}, {str(ckpt)!r}, {steps})")
    env = dict(os.environ, HWADAPT_CRASH_AT="after_store:2")  # dies inside step 1
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert p.returncode == 137, p.stderr
    assert torch.load(ckpt, weights_only=False)["history"]["step"] == 1
    out = _toy(str(db), str(ckpt), steps)  # resume in this process
    assert out["hist"]["step"] == steps and len(out["hist"]["loss"]) == steps
    assert json.dumps(out["angles"]) == json.dumps(ref["angles"])  # bit-identical
    assert out["hist"]["loss"] == ref["hist"]["loss"]
    led = Ledger(db)
    runs = led.runs()
    assert [r["id"] for r in runs] == [f"toy-c{k:05d}" for k in range(steps)]
    subs = [s for r in runs for b in led.batches(r["id"]) for s in led.submissions(b.id)]
    assert len(subs) == steps  # every step's job submitted exactly once


@pytest.mark.slow
def test_finetune_quantum_cli_runs_and_resumes(tmp_path):
    from typer.testing import CliRunner

    from hwadapt.cli import app

    args = ["finetune", "--quantum", "--backend", "aer", "--qubits", "4", "--hidden", "16",
            "--steps", "2", "--shots", "300", "--epochs", "1", "--pretrain-epochs", "1",
            "--max-per-class", "10", "--eval-repeats", "2", "--out", str(tmp_path / "q"),
            "--ledger",
            str(tmp_path / "l.db"), "--json"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert len(rep["loss"]) == 2 and set(rep["evaluation"]) == {"warm_start", "fine_tuned"}
    for when in rep["evaluation"].values():  # the adapter estimated on aer and exact
        assert set(when) == {"backend", "exact"}
        est, runs = when["backend"], when["backend"]["runs"]
        assert len(runs) == 2 and runs[0] != runs[1]  # independent estimation runs
        for m in ("accuracy", "loss"):
            assert est[m] == pytest.approx((runs[0][m] + runs[1][m]) / 2)
        for s in (*runs, when["exact"]):
            assert 0 <= s["accuracy"] <= 1 and 0 < s["loss"] < 10
    # one ledger run per evaluator call: 2 for the warm start, 2 steps, 2 at the end
    assert [r["id"] for r in Ledger(tmp_path / "l.db").runs()] == [
        f"finetune-q-c{k:05d}" for k in range(6)]
    assert json.loads((tmp_path / "q" / "hybrid.json").read_text())["steps"] == 2
    runs = Ledger(tmp_path / "l.db").runs()
    r2 = CliRunner().invoke(app, args)  # rerun = resume: no step is trained again
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.stdout)["loss"] == rep["loss"]
    assert len(Ledger(tmp_path / "l.db").runs()) == len(runs)  # eval run reused, nothing new
    bad = CliRunner().invoke(app, args[:-1] + ["--gradient", "adjoint"])
    assert bad.exit_code == 2 and "unknown gradient" in bad.output
    for opt, value, msg in [("--lr", "-1", "--lr must be a positive number"),
                            ("--construction", "dilation", "unknown construction"),
                            ("--eval-repeats", "0", "--eval-repeats must be >= 1, got 0"),
                            ("--qubits", "0", "--qubits must be >= 2, got 0"),
                            ("--batch", "0", "--batch must be >= 1, got 0")]:
        bad = CliRunner().invoke(app, args[:-1] + [opt, value])
        assert bad.exit_code == 2 and msg in bad.output and "Traceback" not in bad.output
    assert len(Ledger(tmp_path / "l.db").runs()) == len(runs)  # nothing lost or added


@pytest.mark.parametrize("n,signs", [(3, (1, -1)), (4, (1,)), (4, (-1,)), (4, (1, 1, -1)),
                                     (8, (1, -1))])
@pytest.mark.parametrize("kind", ["magnitude", "signs"])
def test_circuit_template_binds_to_the_shared_builders(n, signs, kind):
    from hwadapt.circuits.efficient_lcu import efficient_lcu_circuit, efficient_sign_circuit
    from hwadapt.circuits.layouts import num_angles
    from hwadapt.circuits.templates import circuit_template

    tpl = circuit_template(kind, n, signs)
    rng = np.random.default_rng(n + len(signs))
    S, B = 2, 2
    th = rng.uniform(-4, 4, (S, len(signs), num_angles(n, "pyramid")))
    al = np.array(signs) * rng.uniform(0.1, 2, len(signs))
    psi = rng.normal(size=(B, n))
    psi[1] = np.abs(psi[1]) * (rng.random(n) < 0.5)  # image-like: non-negative, zeros
    psi[1, 1] = 1.0
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    values = tpl.values(th, al, psi)
    assert values.shape == (S * B, len(tpl.index))
    bare = tpl.circuit.remove_final_measurements(inplace=False)
    for s in range(S):
        for b in range(B):
            loader = unary_loader(n, unary_angles(psi[b]))
            ref = (efficient_lcu_circuit(th[s], al, state_prep=loader) if kind == "magnitude"
                   else efficient_sign_circuit(th[s], al, loader))
            bound = bare.assign_parameters(dict(zip(tpl.index, values[s * B + b], strict=True)))
            np.testing.assert_allclose(Statevector(bound).data, Statevector(ref).data,
                                       rtol=0, atol=1e-12)
    assert not any(i.operation.name.startswith("cry") for i in tpl.circuit.data)
    with pytest.raises(ValueError, match="sign pattern"):
        tpl.values(th, -al, psi)


@pytest.mark.parametrize("n,signs", [(3, (1, -1)), (4, (-1, 1)), (5, (1, 0)), (8, (1, 1))])
def test_spectral_template_binds_to_the_shared_builder(n, signs):
    """One template serves the magnitude (α) and the sign family (per-binding heavier
    weights of spectral_reference, whose postselected state is (y + βr)/(‖α‖₁ + β))."""
    from hwadapt.circuits.constructions.spectral import spectral_reference
    from hwadapt.circuits.layouts import num_angles
    from hwadapt.circuits.spectral_lcu import spectral_lcu_circuit
    from hwadapt.circuits.templates import circuit_template

    tpl = circuit_template("spectral", n, signs)
    rng = np.random.default_rng(n)
    S, B = 2, 3
    th = rng.uniform(-4, 4, (S, 2, num_angles(n, "pyramid")))
    al = np.array(signs) * rng.uniform(0.1, 2, 2)
    psi = rng.normal(size=(B, n))
    psi[1] = np.abs(psi[1]) * (rng.random(n) < 0.5)
    psi[1, 1] = 1.0
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    ref_w, r, beta = spectral_reference(th, al, psi)
    y = exact_outputs(torch.as_tensor(th), torch.as_tensor(al), torch.as_tensor(psi)).numpy()
    term0 = np.sign(al[0]) * np.einsum("sij,bj->sbi", givens_matrix(
        n, torch.as_tensor(th[:, 0]), "pyramid").numpy(), psi)
    if np.all(al):  # the chosen mix is never worse than the term0 reference
        assert np.all(np.abs(r).min(-1) >= np.abs(term0).min(-1) - 1e-12)
    else:  # signs (1, 0): only term 0 can be made heavier
        np.testing.assert_allclose(r, term0, rtol=0, atol=1e-12)
    bare = tpl.circuit.remove_final_measurements(inplace=False)
    hw1 = [1 << i for i in range(n)]  # ancilla (qubit n) 0, one data qubit set
    for weights in (al, ref_w):
        values = tpl.values(th, weights, psi)
        for s in range(S):
            for b in range(B):
                w = weights if weights.ndim == 1 else weights[s * B + b]
                ref = Statevector(spectral_lcu_circuit(th[s], w, x=psi[b])).data
                bound = bare.assign_parameters(dict(zip(tpl.index, values[s * B + b],
                                                        strict=True)))
                np.testing.assert_allclose(Statevector(bound).data, ref, rtol=0, atol=1e-12)
                want = (y[s, b] if weights is al else y[s, b] + beta * r[s, b]) / np.abs(w).sum()
                np.testing.assert_allclose(ref[hw1].real, want, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="2 terms in the pyramid"):
        circuit_template("spectral", n, (1, 1, 1))


@pytest.mark.parametrize("construction,shapes", [("spectral", 3), ("efficient", 4)])
def test_ledger_evaluator_transpiles_once_per_shape(tmp_path, monkeypatch, construction,
                                                    shapes):
    from hwadapt.execution import manager

    calls = []
    real = manager.transpile
    monkeypatch.setattr(manager, "transpile", lambda *a: calls.append(1) or real(*a))
    ev = LedgerEvaluator("aer", tmp_path / "l.db", shots=200, session="c", seed=2,
                         construction=construction)
    q = _adapter(3, 2, seed=6, evaluator=ev, gradient="parameter_shift")
    with torch.no_grad():
        q.alpha.copy_(torch.tensor([0.7, -0.4], dtype=D))
    x = torch.randn(4, 3, dtype=D)
    opt = torch.optim.SGD(q.parameters(), lr=1e-3)  # small: α keeps its signs
    for step in range(2):
        opt.zero_grad()
        (q(x) ** 2).sum().backward()
        opt.step()
        if step == 0:
            # the single-term α requests: (magnitude, signs); the 2-term LCU: one spectral
            # template for both families, or the efficient (magnitude, signs)
            assert ev.transpiles == len(calls) == shapes
            first, first_angles = dict(ev._isa), q.angles.detach().clone()
    assert q.alpha[0] > 0 > q.alpha[1] and not torch.equal(q.angles, first_angles)
    assert ev.calls == 2 and ev.transpiles == len(calls) == shapes  # step 2: binding only
    assert all(ev._isa[k][1] is first[k][1] for k in first)
    led = Ledger(tmp_path / "l.db")
    assert [r["id"] for r in led.runs()] == ["c-c00000", "c-c00001"]
    assert all(r["status"] == "done" for r in led.runs())
    with pytest.raises(InputError, match="pyramid-layout circuits only"):
        LedgerEvaluator("aer", tmp_path / "l.db", layout="butterfly")
    with pytest.raises(InputError, match="unknown construction"):
        LedgerEvaluator("aer", tmp_path / "l.db", construction="dilation")
