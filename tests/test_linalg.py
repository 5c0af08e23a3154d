"""Compound matrices and the Hamming-weight direct sum against their definitions."""

import itertools
import math

import numpy as np
import pytest
import torch

from hwadapt.linalg import compound_matrix, hamming_weight_matrix, hw_permutation, subsets


def brute_compound(A: np.ndarray, k: int) -> np.ndarray:
    n = A.shape[0]
    S = list(itertools.combinations(range(n), k))
    return np.array([[np.linalg.det(A[np.ix_(I, J)]) if k else 1.0 for J in S] for I in S])


@pytest.mark.parametrize("n,k", [(n, k) for n in range(1, 6) for k in range(n + 1)])
def test_compound_vs_brute_force(n, k):
    A = torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(n * 10 + k))
    np.testing.assert_allclose(compound_matrix(A, k).numpy(), brute_compound(A.numpy(), k),
                               atol=1e-12)


def test_subsets_order_and_count():
    assert subsets(4, 2) == tuple(itertools.combinations(range(4), 2))
    assert len(subsets(8, 3)) == math.comb(8, 3)
    with pytest.raises(ValueError):
        subsets(3, 4)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_block_and_computational_orders_are_one_permutation(n):
    A = torch.randn(n, n, dtype=torch.float64)
    p = list(hw_permutation(n))
    assert sorted(p) == list(range(2**n))
    Hc = hamming_weight_matrix(A, order="computational")
    Hb = hamming_weight_matrix(A, order="block")
    torch.testing.assert_close(Hc[p][:, p], Hb, rtol=0, atol=0)
    # entry check in Qiskit's little-endian indexing: I={0,2} -> 5, J={1,2} -> 6
    if n >= 3:
        torch.testing.assert_close(Hc[5, 6], torch.det(A[[0, 2]][:, [1, 2]]))
