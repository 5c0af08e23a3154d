from math import comb

import numpy as np
import pytest
from qiskit.quantum_info import Operator, SparsePauliOp

from hwadapt.quantum.dla import (
    dla_table,
    fit_slopes,
    gradient_variance,
    hea_generators,
    lie_closure_dim,
    pauli_closure_dim,
    pauli_string,
    rbs_generators,
)
from hwadapt.quantum.models import hea_circuit


def _dense(n, p):
    """Pauli string (x, z) as a dense anti-Hermitian matrix i·P (qubit i = bit i)."""
    label = "".join("Y" if (p[0] >> q) & (p[1] >> q) & 1 else "X" if (p[0] >> q) & 1 else
                    "Z" if (p[1] >> q) & 1 else "I" for q in reversed(range(n)))
    return 1j * SparsePauliOp(label).to_matrix()


@pytest.mark.parametrize("n", [3, 4])
def test_rbs_line_generates_so_n_on_every_sector_and_the_full_space(n):
    assert lie_closure_dim(rbs_generators(n, "brick")) == n * (n - 1) // 2
    for k in range(1, n):
        gens = rbs_generators(n, "pyramid", k)
        assert gens[0].shape == (comb(n, k),) * 2
        assert lie_closure_dim(gens) == n * (n - 1) // 2


def test_rbs_generator_exponentiates_to_the_gate():
    from scipy.linalg import expm

    from hwadapt.circuits.gates import rbs_gate

    A = rbs_generators(2, "brick")[0]
    assert np.allclose(expm(0.3 * A), Operator(rbs_gate(0.3)).data, atol=1e-12)


@pytest.mark.parametrize("n", [3, 4])
def test_hea_generates_su_2n_pauli_and_dense_agree(n):
    gens = hea_generators(n, 2)
    assert pauli_closure_dim(gens) == 4**n - 1
    if n == 3:
        assert lie_closure_dim([_dense(n, g) for g in gens]) == 63
    # the dressing is right: conjugating Y_0 through the circuit's CZ layer
    cz = Operator(hea_circuit(n, 1, np.zeros(2 * n))).data  # angles 0: only the CZs
    dressed = cz @ _dense(n, pauli_string(n, {0: "Y"})) @ cz.conj().T
    assert np.allclose(dressed, _dense(n, hea_generators(n, 1)[0]), atol=1e-12) or \
        np.allclose(dressed, -_dense(n, hea_generators(n, 1)[0]), atol=1e-12)


@pytest.mark.parametrize("n", [3, 4])
def test_known_nontrivial_case_free_fermions_give_so_2n(n):
    gens = [pauli_string(n, {i: "Z"}) for i in range(n)] + \
           [pauli_string(n, {i: "X", i + 1: "X"}) for i in range(n - 1)]
    assert pauli_closure_dim(gens) == n * (2 * n - 1)
    if n == 3:
        assert lie_closure_dim([_dense(n, g) for g in gens]) == 15
    # a smaller known case: {X_i} alone is abelian, dimension n
    assert pauli_closure_dim([pauli_string(n, {i: "X"}) for i in range(n)]) == n


def test_dla_table_and_variance_rows():
    row = dla_table((3,))[0]
    assert row["qa_full"] == row["so_n"] == 3 and row["qnn"] == 63 and row["free_fermion"] == 15
    rows = gradient_variance(sizes=(4, 6), samples=20)
    assert len(rows) == 8 and all(r["grad_var"] > 0 for r in rows)
    slopes = fit_slopes(rows)
    assert set(slopes) == {"qnn", "qa-sector", "qa-full", "lcu"}
