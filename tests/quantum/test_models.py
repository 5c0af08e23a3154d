import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.quantum_info import Operator, Statevector

from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.lcu import lcu_circuit
from hwadapt.quantum.models import (
    QuantumDataModel,
    hea_apply,
    hea_circuit,
    hea_num_params,
    lcu_apply,
    lcu_bindings,
    lcu_template,
    qa_apply,
    qa_circuit,
)


def _random(n, layers, layout, seed):
    rng = np.random.default_rng(seed)
    psi = rng.standard_normal(1 << n) + 1j * rng.standard_normal(1 << n)
    return (psi / np.linalg.norm(psi), rng.uniform(-3, 3, hea_num_params(n, layers)),
            rng.uniform(-3, 3, num_angles(n, layout)))


@pytest.mark.parametrize("n,layers,layout", [(3, 1, "pyramid"), (4, 2, "brick")])
def test_torch_circuits_equal_qiskit_operators(n, layers, layout):
    psi, th, ph = _random(n, layers, layout, n)
    t = torch.tensor(psi)[None]
    assert np.allclose(hea_apply(t, torch.tensor(th), n, layers)[0].numpy(),
                       Operator(hea_circuit(n, layers, th)).data @ psi, atol=1e-12)
    assert np.allclose(qa_apply(t, torch.tensor(ph), layout)[0].numpy(),
                       Operator(qa_circuit(n, layout, ph)).data @ psi, atol=1e-12)


@pytest.mark.parametrize("seed,alphas", [(0, (0.7, 0.3)), (1, (0.6, -0.5)), (2, (-0.2, 1.3))])
def test_lcu_postselected_state_and_success_probability(seed, alphas):
    n, layers, layout = 3, 2, "brick"
    psi, th, ph = _random(n, layers, layout, seed)
    U1, U2 = Operator(hea_circuit(n, layers, th)).data, Operator(qa_circuit(n, layout, ph)).data
    Mpsi = alphas[0] * U1 @ psi + alphas[1] * U2 @ psi
    norm1 = abs(alphas[0]) + abs(alphas[1])
    prep = QuantumCircuit(n)
    prep.initialize(psi, range(n))
    tpl = lcu_template(n, layers, layout)
    full = QuantumCircuit(n + 1)
    full.compose(prep, range(n), inplace=True)
    full.compose(tpl.assign_parameters(lcu_bindings(tpl, th, ph, alphas)), inplace=True)
    post = Statevector(full).data[: 1 << n]  # ancilla (qubit n) = 0
    assert np.linalg.norm(post) ** 2 == pytest.approx(np.linalg.norm(Mpsi) ** 2 / norm1**2,
                                                      abs=1e-12)
    sign = np.sign(np.real(np.vdot(Mpsi, post)))  # the LCU is exact up to a global sign
    assert np.allclose(post, sign * Mpsi / norm1, atol=1e-12)
    # the library's generic PREPARE/SELECT gives the same postselected state
    ref = Statevector(lcu_circuit([hea_circuit(n, layers, th), qa_circuit(n, layout, ph)],
                                  alphas, prep)).data[: 1 << n]
    assert np.allclose(ref, Mpsi / norm1, atol=1e-12)
    phi, p = lcu_apply(torch.tensor(psi)[None], torch.tensor(th), torch.tensor(ph),
                       torch.tensor(alphas, dtype=torch.float64), n, layers, layout)
    assert np.allclose(phi[0].numpy(), Mpsi, atol=1e-12)
    assert float(p) == pytest.approx(np.linalg.norm(Mpsi) ** 2 / norm1**2, abs=1e-12)


def test_lcu_warm_start_equals_the_pretrained_qnn():
    m = QuantumDataModel(4, 2, "brick", "qnn", seed=0)
    psi = torch.tensor(_random(4, 2, "brick", 5)[0])[None]
    z_qnn = m.readout(psi)[0]
    m.mode = "lcu"  # alphas (1, 0): the adapter starts as the identity change
    z, p = m.readout(psi)
    assert torch.allclose(z, z_qnn) and p.item() == pytest.approx(1)
