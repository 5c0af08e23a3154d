import numpy as np
import pytest
import torch

from hwadapt.quantum.data import ground_state
from hwadapt.quantum.estimates import LedgerReadout, counts_readout, estimator_readout
from hwadapt.quantum.models import QuantumDataModel, model_circuit


def _lcu_model():
    m = QuantumDataModel(3, 1, "brick", "lcu", seed=2)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        m.qnn.copy_(torch.empty_like(m.qnn).uniform_(-2, 2, generator=g))
        m.qa.copy_(torch.empty_like(m.qa).uniform_(-2, 2, generator=g))
        m.alphas.copy_(torch.tensor([0.6, -0.5]))
    return m


def test_counts_readout_postselects_the_ancilla():
    # n=2, ancilla = bit 2: outcomes 0b000 (+1), 0b001 (Z_0 = -1), 0b100 rejected
    z, se, acc = counts_readout({0: 30, 1: 10, 4: 60}, 2, True, 0)
    assert z == pytest.approx(0.5) and acc == pytest.approx(0.4)
    assert se == pytest.approx(np.sqrt(0.75 / 40))


@pytest.mark.slow
def test_sampler_and_estimator_agree_with_exact_on_aer(tmp_path):
    m = _lcu_model()
    states = np.stack([ground_state("cluster", 3, g) for g in (0.5, 1.5)])
    z_exact, p_exact = (t.detach().numpy() for t in m.readout(torch.tensor(states)))
    readout = LedgerReadout(m, states, "aer", tmp_path / "l.db", shots=20_000, seed=3)
    z, se, acc = readout(model_circuit(m)[1][None], [0, 1], "check")
    assert np.all(np.abs(z[0] - z_exact) < 4 * se[0])
    assert np.all(np.abs(acc[0] - p_exact) < 4 * np.sqrt(p_exact * (1 - p_exact) / 20_000))
    again = readout(model_circuit(m)[1][None], [0, 1], "check")  # same run id: stored counts
    assert np.array_equal(again[0], z)
    for i in range(2):
        r, s = estimator_readout(m, states[i], precision=0.01, seed=i)
        assert 0 < s < 0.1 and abs(r - z_exact[i]) < 4 * s


def test_postselect_without_weight_keeps_every_data_outcome():
    from hwadapt.circuits.lcu import postselect

    out = np.arange(16)  # 3 data qubits + 1 ancilla (bit 3)
    assert np.array_equal(postselect(out, 3, 1, None), out < 8)
    assert np.array_equal(postselect(out, 3, 1, 1), np.isin(out, [1, 2, 4]))
