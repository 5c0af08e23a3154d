"""Fast paths of hwadapt.linalg (engineer A2) against slow, obviously-correct references."""

import pytest
import torch

from hwadapt.circuits.layouts import layout_pairs
from hwadapt.linalg import givens_matrix, hamming_weight_matrix


def _rand(shape, seed, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _givens_loop(n, angles, pairs):
    """O = G_m ⋯ G_1, one explicit n x n Givens matrix per gate, multiplied left in order."""
    O = torch.eye(n, dtype=angles.dtype)
    for t, (a, b) in zip(angles, pairs, strict=True):
        G = torch.eye(n, dtype=angles.dtype)
        G[a, a] = G[b, b] = torch.cos(t)
        G[a, b], G[b, a] = torch.sin(t), -torch.sin(t)
        O = G @ O
    return O


@pytest.mark.parametrize("layout,n", [("pyramid", 2), ("pyramid", 5), ("pyramid", 8),
                                      ("butterfly", 8), ("brick", 2), ("brick", 7),
                                      ("explicit", 4)])
def test_givens_matrix_tree_equals_sequential_product(layout, n):
    pairs = [(0, 3), (1, 2), (0, 1), (0, 3), (2, 3)] if layout == "explicit" else \
        layout_pairs(n, layout)
    th = _rand((3, 2, len(pairs)), n) * 3  # batched (3, 2, m)
    O = givens_matrix(n, th, pairs if layout == "explicit" else layout)
    assert O.shape == (3, 2, n, n)
    for i in range(3):
        for j in range(2):
            torch.testing.assert_close(O[i, j], _givens_loop(n, th[i, j], pairs),
                                       rtol=0, atol=1e-13)
    eye = torch.eye(n, dtype=O.dtype).expand_as(O)
    torch.testing.assert_close(O @ O.mT, eye, rtol=0, atol=1e-13)
    th.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: givens_matrix(n, a, pairs), (th[0, 0, None],))


def test_givens_matrix_no_gates():
    assert torch.equal(givens_matrix(1, torch.zeros(0), []), torch.eye(1))
    with pytest.raises(ValueError, match="angles"):
        givens_matrix(3, torch.zeros(2), "pyramid")


def _singular(n, seed):
    A = _rand((n, n), seed)
    A[:, -1] = A[:, 0] - 2 * A[:, 1 % n]  # rank-deficient
    return A


def _fd_grad(f, A, eps=1e-6):
    """Central finite differences of a scalar function of one matrix."""
    g = torch.zeros_like(A)
    for idx in torch.cartesian_prod(*map(torch.arange, A.shape)).tolist():
        d = torch.zeros_like(A)
        d[tuple(idx)] = eps
        g[tuple(idx)] = (f(A + d) - f(A - d)) / (2 * eps)
    return g


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6])
def test_laplace_build_gradient_equals_minors_gradient(n):
    """The cofactor backward of the fast dense build == autograd through C(n,k)^2 dets
    (generic and pivot-needing A) and == finite differences of the minors build (singular A,
    where torch.linalg.det's own backward is wrong: checked, it misses the rank-1 adjugate)."""
    zero_corner = _rand((n, n), 30 + n)
    zero_corner[0, 0] = 0.0  # LU would pivot; the build must not care
    W = _rand((2**n, 2**n), 40 + n)  # random linear functional of the output
    for order in ("computational", "block"):
        def f(a, method, order=order):
            return (hamming_weight_matrix(a, order, method=method) * W).sum()

        for A in (_rand((n, n), 10 + n), zero_corner):
            grads = [torch.autograd.grad(f(a := A.clone().requires_grad_(True), m), a)[0]
                     for m in ("laplace", "minors")]
            torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-10)
            assert grads[0].abs().max() > 1e-2
        S = _singular(n, 20 + n) if n > 1 else torch.zeros(1, 1, dtype=torch.float64)
        a = S.clone().requires_grad_(True)
        torch.testing.assert_close(hamming_weight_matrix(a, order, method="laplace"),
                                   hamming_weight_matrix(S, order), rtol=0, atol=1e-12)
        g = torch.autograd.grad(f(a, "laplace"), a)[0]
        torch.testing.assert_close(g, _fd_grad(lambda x: f(x, "minors"), S), rtol=0, atol=1e-6)
        assert g.abs().max() > 1e-2


def test_laplace_build_gradcheck_and_float32():
    A = torch.stack([_rand((3, 3), 1), _singular(3, 2)]).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: hamming_weight_matrix(a, "computational",
                                                                    method="laplace"), (A,))
    A32 = _rand((2, 5, 5), 3, torch.float32)
    H32 = hamming_weight_matrix(A32, "computational", method="laplace")
    assert H32.dtype == torch.float32
    torch.testing.assert_close(H32.double(), hamming_weight_matrix(A32.double(),
                                                                   "computational"),
                               rtol=0, atol=1e-5)
