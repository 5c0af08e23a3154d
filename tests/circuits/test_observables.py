"""Observables on the data register and ancilla postselection as Pauli sums, checked against
dense matrices and directly postselected random states."""

import numpy as np
import pytest
from qiskit.quantum_info import Operator, SparsePauliOp, Statevector, random_statevector

from hwadapt.circuits.observables import (
    MAX_POSTSELECT_ANCILLAS,
    ancilla_projector,
    parse_observable,
    postselected_operators,
)

Z = np.diag([1.0, -1.0])
I2 = np.eye(2)


def _on(n: int, single: dict[int, np.ndarray]) -> np.ndarray:
    """Dense operator with ``single[q]`` on qubit q (qubit q = bit q, Qiskit order)."""
    out = np.eye(1)
    for q in range(n):
        out = np.kron(single.get(q, I2), out)
    return out


@pytest.mark.parametrize("name,dense", [
    ("Z0", lambda n: _on(n, {0: Z})),
    ("Z0Z2", lambda n: _on(n, {0: Z, 2: Z})),
    ("X1Y2", lambda n: _on(n, {1: np.array([[0, 1], [1, 0]]), 2: np.array([[0, -1j], [1j, 0]])})),
    ("unary:1", lambda n: _on(n, {1: (I2 - Z) / 2})),
    ("parity", lambda n: _on(n, {q: Z for q in range(n)})),
])
def test_parse_observable_matches_dense(name, dense):
    n = 3
    assert np.allclose(parse_observable(name, n).to_matrix(), dense(n))


@pytest.mark.parametrize("name", ["", "Z3", "Z0Z0", "A0", "Z", "unary:", "unary:7", "z0",
                                  "Z0 Z1", "parity2", 5])
def test_parse_observable_refuses(name):
    with pytest.raises(ValueError, match="observable"):
        parse_observable(name, 3)


def test_unary_occupation_is_amplitude_squared():
    """``unary:i`` on a unary state Σ x_j e_j gives x_i² (mode i = qubit i)."""
    x = np.array([0.1, -0.7, 0.5, 0.3])
    x /= np.linalg.norm(x)
    psi = np.zeros(16)
    psi[[1, 2, 4, 8]] = x
    for i in range(4):
        v = Statevector(psi).expectation_value(parse_observable(f"unary:{i}", 4))
        assert v == pytest.approx(x[i] ** 2, abs=1e-12)


@pytest.mark.parametrize("a", [1, 2, 3])
def test_ancilla_projector_is_p0(a):
    n = 2
    dense = _on(n + a, {n + j: (I2 + Z) / 2 for j in range(a)})
    op = ancilla_projector(n, a)
    assert len(op) == 2**a and np.allclose(op.to_matrix(), dense)


def test_too_many_ancillas_refused():
    with pytest.raises(ValueError, match="ancillas"):
        ancilla_projector(2, MAX_POSTSELECT_ANCILLAS + 1)


@pytest.mark.parametrize("seed", range(5))
def test_postselected_ratio_equals_postselected_state(seed):
    """<P0 ⊗ O>/<P0> = <O> on the data state left when the ancillas read 0, and
    <P0 ⊗ O²> = <P0> <O²>_post, over random states of 3 data qubits + a ancillas."""
    rng = np.random.default_rng(seed)
    n, a = 3, int(rng.integers(1, 3))
    names = ["Z0", "X0Z1", "unary:2", "parity", "Y1"]
    obs = [parse_observable(nm, n) for nm in names]
    ops, index = postselected_operators(obs, a)
    assert np.allclose(ops[0].to_matrix(), ancilla_projector(n, a).to_matrix())
    psi = random_statevector(2 ** (n + a), seed=seed).data
    kept = psi.reshape(2**a, 2**n)[0]  # ancillas (high bits) all 0
    p0 = float(np.vdot(kept, kept).real)
    post = kept / np.sqrt(p0)
    sv = Statevector(psi)
    for k, o in enumerate(obs):
        num, den, sq = (sv.expectation_value(ops[j]).real for j in index[k])
        assert den == pytest.approx(p0, abs=1e-12)
        m = Operator(o).data
        assert num / den == pytest.approx(np.vdot(post, m @ post).real, abs=1e-10)
        assert sq / den == pytest.approx(np.vdot(post, m @ m @ post).real, abs=1e-10)


def test_postselected_operators_deduplicate():
    """A Pauli's square is I (its second moment is P0 itself); a projector's is itself."""
    obs = [parse_observable(nm, 2) for nm in ("Z0", "unary:1", "Z0")]
    ops, index = postselected_operators(obs, 1)
    assert index[0] == (1, 0, 0) and index[2] == index[0]
    assert index[1][0] == index[1][2] and len(ops) == 3
    assert all(isinstance(o, SparsePauliOp) for o in ops)
