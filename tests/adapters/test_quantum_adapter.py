"""The quantum adapter is a registered adapter method: inject / merge / trainable_parameters
treat it like the classical ones, and its ΔW is the block-diagonal exact LCU block."""

import pytest
import torch
from torch import nn

from hwadapt.adapters import (
    METHODS,
    AdapterConfig,
    AdapterLayer,
    inject,
    merge,
    trainable_parameters,
)
from hwadapt.adapters.quantum import QuantumAdapterLayer
from hwadapt.errors import InputError
from hwadapt.linalg import givens_matrix


def test_inject_merge_and_count_quantum_adapters():
    assert METHODS["quantum"].layer_cls is QuantumAdapterLayer
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8, bias=False)).double()
    x = torch.randn(5, 8, dtype=torch.float64)
    before = model(x)
    inject(model, AdapterConfig("quantum", rank=2, qubits=4))
    layers = [m for m in model.modules() if isinstance(m, QuantumAdapterLayer)]
    assert len(layers) == 2 and all(isinstance(m, AdapterLayer) for m in layers)
    assert trainable_parameters(model) == 2 * (2 * 6 + 2)  # angles (2, 6) + alpha (2,) each
    torch.testing.assert_close(model(x), before)  # alpha = 0: the pretrained model
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for lay in layers:
            lay.adapter.alpha.copy_(torch.randn(2, dtype=torch.float64, generator=g))
    for lay in layers:  # ΔW from the definition: blockdiag of Σ α_i O(θ_i), brute force
        q = lay.adapter
        M = sum(q.alpha[i] * givens_matrix(4, q.angles[i], "pyramid") for i in range(2))
        dense = torch.zeros(8, 8, dtype=torch.float64)
        dense[:4, :4], dense[4:, 4:] = M, M
        torch.testing.assert_close(lay.delta_weight(), dense)
        h = torch.randn(3, 8, dtype=torch.float64, generator=g)
        torch.testing.assert_close(lay(h), lay.base_layer(h) + h @ dense.T)
    adapted = model(x)
    assert not torch.allclose(adapted, before)
    merge(model)
    assert not any(isinstance(m, AdapterLayer) for m in model.modules())
    torch.testing.assert_close(model(x), adapted)
    assert trainable_parameters(model) == 0


def test_quantum_adapter_config_errors():
    with pytest.raises(ValueError, match="needs qubits"):
        inject(nn.Linear(8, 8), AdapterConfig("quantum", rank=2))
    with pytest.raises(InputError, match="square layer"):
        inject(nn.Linear(8, 6), AdapterConfig("quantum", qubits=4))
    with pytest.raises(ValueError, match="no base matrices"):
        AdapterConfig("quantum", qubits=4, base="orthogonal")
