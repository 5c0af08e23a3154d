"""Submit on the ``exact`` backend takes the logical circuit (no decomposition), so an exact
run works at any width: a 40-qubit LCU run end to end, against the n x n maths."""

import numpy as np
import pytest
from qiskit.circuit import ParameterVector

from hwadapt.backends import get_backend
from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.lcu import lcu_circuit
from hwadapt.circuits.loaders import unary_angles, unary_loader
from hwadapt.execution import manager
from hwadapt.execution.build import exact_rates, transpile
from hwadapt.execution.family import Family
from hwadapt.linalg import combination_matrix


def _lcu_family(n: int, count: int, seed: int) -> tuple[Family, np.ndarray, np.ndarray]:
    """LCU of two pyramid adapters (α = 0.7, -0.3) on ``n`` data qubits + 1 ancilla,
    measured; ``count`` random unary inputs. Returns the family, ``M`` and the inputs."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0, 2 * np.pi, (2, n * (n - 1) // 2))
    alphas = [0.7, -0.3]
    loader = unary_loader(n, ParameterVector("x", n - 1))
    qc = lcu_circuit([adapter_circuit(n, a, "pyramid") for a in angles], alphas, loader)
    qc.measure_all()
    x = rng.standard_normal((count, n))
    family = Family("magnitude", qc, np.stack([unary_angles(v) for v in x]), n,
                    qc.num_qubits - n)
    return family, combination_matrix(angles, alphas, n, "pyramid"), x


def test_exact_backend_gets_the_logical_circuit():
    family, _, _ = _lcu_family(4, 2, 0)
    assert transpile(family.circuit, get_backend("exact"), 1, 0) is family.circuit


@pytest.mark.slow
def test_exact_run_at_40_qubits_end_to_end(tmp_path):
    """39 data qubits + 1 ancilla (a decomposed circuit leaves the weight-1 sector: the old
    path did not finish in 300 s). Accepted outcome ``j`` (ancilla 0, data qubit ``j``) has
    probability ``((M x̂)_j / Σ|α|)^2``: the exact rates equal it at 1e-10, and the sampled
    counts (seeded, 2048 shots per input) agree within 5 standard errors per outcome."""
    n, shots = 39, 2000
    family, M, x = _lcu_family(n, 3, 1)
    assert family.circuit.num_qubits == 40
    amp = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ M.T / 1.0  # Σ|α| = 1
    want = amp**2  # (count, n): P(ancilla 0, data qubit j)
    np.testing.assert_allclose(exact_rates(family), want.sum(1), rtol=0, atol=1e-10)
    path = tmp_path / "l.db"
    rid = manager.submit_families([family], "exact", path, run_id="w40", shots=shots, seed=5)
    counts = manager.run_counts(path, rid)["magnitude"]
    again = manager.run_counts(path, rid)["magnitude"]
    assert counts == again and len(counts) == 3
    for c, p in zip(counts, want, strict=True):
        total = sum(c.values())
        assert total >= shots
        got = np.array([c.get(1 << j, 0) for j in range(n)]) / total
        se = np.sqrt(p * (1 - p) / total) + 1 / total
        assert (np.abs(got - p) <= 5 * se).all()
        accepted = {o for o in c if o < (1 << n) and bin(o).count("1") == 1}
        assert sum(c[o] for o in accepted) / total == pytest.approx(p.sum(), abs=0.05)
