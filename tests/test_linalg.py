"""Compound matrices and the Hamming-weight direct sum against their definitions."""

import itertools
import math

import numpy as np
import pytest
import torch

from hwadapt.circuits.layouts import layout_pairs, num_angles
from hwadapt.linalg import (
    compound_apply,
    compound_matrix,
    compounds,
    givens_apply,
    givens_matrix,
    hamming_weight_apply,
    hamming_weight_matrix,
    hw_permutation,
    subsets,
)


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


# ---------------------------------------------------------------- givens_apply (RBS/FBS)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("layout,n", [("pyramid", 2), ("pyramid", 3), ("pyramid", 6),
                                      ("brick", 5), ("brick", 6),
                                      ("butterfly", 2), ("butterfly", 4), ("butterfly", 8)])
def test_givens_apply_equals_dense_hamming_weight_matrix(layout, n):
    g = _gen(n + len(layout))
    th = torch.randn(num_angles(n, layout), dtype=torch.float64, generator=g) * 2
    x = torch.randn(5, 2**n, dtype=torch.float64, generator=g)
    H = hamming_weight_matrix(givens_matrix(n, th, layout), "computational")
    torch.testing.assert_close(givens_apply(x, th, layout), x @ H.T, rtol=0, atol=1e-12)


def test_butterfly_needs_the_fbs_sign():
    """Butterfly has non-adjacent pairs: plain RBS (no parity sign) is NOT the compound."""
    n = 4
    th = torch.randn(num_angles(n, "butterfly"), dtype=torch.float64, generator=_gen(1))
    H = hamming_weight_matrix(givens_matrix(n, th, "butterfly"), "computational")
    x = torch.eye(2**n, dtype=torch.float64)
    rbs = x.clone()
    for t, (a, b) in zip(th, layout_pairs(n, "butterfly"), strict=True):
        for i in range(2**n):  # obviously-correct loop over basis indices, no parity sign
            if i >> a & 1 and not i >> b & 1:
                j = i ^ (1 << a) ^ (1 << b)
                u, w = rbs[:, i].clone(), rbs[:, j].clone()
                rbs[:, i], rbs[:, j] = torch.cos(t) * u + torch.sin(t) * w, \
                    -torch.sin(t) * u + torch.cos(t) * w
    torch.testing.assert_close(givens_apply(x, th, "butterfly"), x @ H.T, rtol=0, atol=1e-12)
    assert (rbs - x @ H.T).abs().max() > 1e-2
    # ... but on Hamming weight <= 1 RBS and FBS agree
    low = [i for i in range(2**n) if bin(i).count("1") <= 1]
    torch.testing.assert_close(rbs[low][:, low], H.T[low][:, low], rtol=0, atol=1e-12)


def test_givens_apply_explicit_pairs_broadcast_and_complex():
    n, pairs = 4, [(0, 3), (1, 2), (0, 1), (2, 3), (1, 3)]
    g = _gen(7)
    th = torch.randn(3, 1, len(pairs), dtype=torch.float64, generator=g)  # (R=3, 1, m)
    x = torch.randn(4, 2**n, dtype=torch.complex128, generator=g)  # (B=4, 2^n)
    y = givens_apply(x, th, pairs)
    assert y.shape == (3, 4, 2**n) and y.dtype == torch.complex128
    for r in range(3):
        H = hamming_weight_matrix(givens_matrix(n, th[r, 0], pairs), "computational")
        torch.testing.assert_close(y[r], x @ H.T.to(x.dtype), rtol=0, atol=1e-12)
    # orthogonal: norms preserved
    torch.testing.assert_close(y.abs().norm(dim=-1), x.abs().norm(dim=-1).expand(3, 4))


def test_givens_apply_float32_and_gradcheck():
    n = 4
    th = torch.randn(num_angles(n, "pyramid"), dtype=torch.float64, generator=_gen(3))
    x = torch.randn(2, 2**n, dtype=torch.float64, generator=_gen(4))
    y32 = givens_apply(x.float(), th.float())
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32.double(), givens_apply(x, th), rtol=0, atol=1e-5)
    th.requires_grad_(True)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, v: givens_apply(v, a, "butterfly"), (th[:4], x))
    assert torch.autograd.gradcheck(lambda a, v: givens_apply(v, a), (th, x))


def test_givens_apply_bad_input():
    with pytest.raises(ValueError, match="2\\^n"):
        givens_apply(torch.zeros(6), torch.zeros(1))
    with pytest.raises(ValueError, match="angles"):
        givens_apply(torch.zeros(8), torch.zeros(2))
    with pytest.raises(ValueError, match="n=2"):
        givens_apply(torch.zeros(8), torch.zeros(3), n=2)
    with pytest.raises(ValueError, match="pair"):
        givens_apply(torch.zeros(8), torch.zeros(1), [(0, 3)])


# ---------------------------------------------------------------- fast compounds and applies

def _rand(shape, seed, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=_gen(seed))


def _pivoting(n, seed):
    """A random matrix whose LU needs row exchanges (zero top-left entry)."""
    A = _rand((n, n), seed)
    A[0, 0] = 0.0
    P, _, _ = torch.linalg.lu(A)
    assert not torch.equal(P, torch.eye(n, dtype=A.dtype))
    return A


@pytest.mark.parametrize("n", range(1, 7))
def test_compounds_vs_brute_force_determinants(n):
    A = _rand((n, n), 100 + n)
    C = compounds(A)
    assert len(C) == n + 1
    for k in range(n + 1):
        np.testing.assert_allclose(C[k].numpy(), brute_compound(A.numpy(), k), atol=1e-10)
    assert len(compounds(A, 1)) == 2


def test_compound_identities():
    g = _gen(5)
    n = 6
    A, B = (torch.randn(n, n, dtype=torch.float64, generator=g) for _ in range(2))
    for k in range(n + 1):
        torch.testing.assert_close(compounds(A @ B)[k], compounds(A)[k] @ compounds(B)[k],
                                   rtol=0, atol=1e-10)  # Cauchy–Binet
        torch.testing.assert_close(compounds(A.T)[k], compounds(A)[k].T, rtol=0, atol=1e-12)
    torch.testing.assert_close(compounds(A)[1], A, rtol=0, atol=0)
    torch.testing.assert_close(compounds(A)[n][0, 0], torch.det(A), rtol=0, atol=1e-10)
    torch.testing.assert_close(compounds(A)[0], torch.ones(1, 1, dtype=A.dtype))
    Q = torch.linalg.qr(A)[0]
    H = hamming_weight_matrix(Q, "computational", method="laplace")
    torch.testing.assert_close(H @ H.T, torch.eye(2**n, dtype=A.dtype), rtol=0, atol=1e-12)


@pytest.mark.parametrize("order", ["block", "computational"])
def test_laplace_hamming_matrix_equals_minors(order):
    A = _rand((2, 5, 5), 11)  # batched
    torch.testing.assert_close(hamming_weight_matrix(A, order, method="laplace"),
                               hamming_weight_matrix(A, order), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="method"):
        hamming_weight_matrix(A, order, method="lu")


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6])
def test_hamming_weight_apply_equals_dense(n):
    x = _rand((4, 2**n), 20 + n)
    for A in (_rand((n, n), 30 + n), _pivoting(n, 40 + n) if n > 1 else -_rand((1, 1), 1)):
        H = hamming_weight_matrix(A, "computational")
        torch.testing.assert_close(hamming_weight_apply(A, x), x @ H.T, rtol=0, atol=1e-10)
    S = _rand((n, n), 50 + n)
    S[:, -1] = S[:, 0]  # singular
    torch.testing.assert_close(hamming_weight_apply(S, x),
                               x @ hamming_weight_matrix(S, "computational").T,
                               rtol=0, atol=1e-10)


def test_hamming_weight_apply_broadcasts_over_a_batch_of_matrices():
    n = 4
    A = torch.stack([_rand((n, n), 60), _pivoting(n, 61), _rand((n, n), 62)])  # (R=3, n, n)
    x = _rand((5, 1, 2**n), 63)  # (B=5, 1, 2^n)
    y = hamming_weight_apply(A, x)
    assert y.shape == (5, 3, 2**n)
    for r in range(3):
        H = hamming_weight_matrix(A[r], "computational")
        torch.testing.assert_close(y[:, r], x[:, 0] @ H.T, rtol=0, atol=1e-10)


@pytest.mark.parametrize("n,k", [(3, 1), (4, 2), (5, 2), (5, 3), (6, 4), (7, 2), (4, 4), (4, 0)])
def test_compound_apply_paths_equal_dense(n, k):
    A = _pivoting(n, 70 + n + k)
    x = _rand((3, math.comb(n, k)), 80 + n)
    ref = x @ compound_matrix(A, k).T
    for path in ("auto", "tensor", "hw", "dense"):
        torch.testing.assert_close(compound_apply(A, k, x, path), ref, rtol=0, atol=1e-10)
    Ab = torch.stack([A, _rand((n, n), 1)])
    yb = compound_apply(Ab, k, x[:, None, :], "tensor")
    assert yb.shape == (3, 2, math.comb(n, k))
    torch.testing.assert_close(yb[:, 1], x @ compound_matrix(Ab[1], k).T, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="C\\("):
        compound_apply(A, k, x[:, :-1] if x.shape[-1] > 1 else x.repeat(1, 2))


def test_fast_paths_gradcheck():
    A = _pivoting(3, 90).requires_grad_(True)
    x = _rand((1, 8), 91).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: compounds(a)[2], (A,))
    assert torch.autograd.gradcheck(hamming_weight_apply, (A, x))
    B = _rand((3, 3), 92).requires_grad_(True)
    assert torch.autograd.gradcheck(hamming_weight_apply, (B, x))
    A4 = _pivoting(4, 94).requires_grad_(True)
    x6 = _rand((1, 6), 93).requires_grad_(True)
    for path in ("tensor", "hw"):
        assert torch.autograd.gradcheck(lambda a, v, p=path: compound_apply(a, 2, v, p), (A4, x6))


def _hwadapt_imports(path):
    """Every ``hwadapt`` module a file imports (AST, function-level imports included)."""
    import ast

    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "hwadapt":
            out.update(f"hwadapt.{a.name}" for a in node.names)  # from hwadapt import x
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.split(".")[0] in ("hwadapt", "qiskit")}


def test_maths_stays_below_everything():
    """hwadapt/linalg/ imports only itself, the base layer's torch->numpy coercion
    (``hwadapt.arrays``) and, lazily, the compiled kernels; the kernels
    import only the subset helpers; the circuits' layouts come from linalg, not the reverse."""
    from pathlib import Path

    import hwadapt.circuits.layouts as circuit_layouts
    import hwadapt.linalg.layouts as maths_layouts

    root = Path(__file__).resolve().parents[1] / "hwadapt"
    for path in (root / "linalg").glob("*.py"):
        bad = {m for m in _hwadapt_imports(path)
               if not m.startswith("hwadapt.linalg") and m not in ("hwadapt.kernels",
                                                                    "hwadapt.arrays")}
        assert not bad, f"{path.name} imports {bad}"
    kernel_imports = set().union(*map(_hwadapt_imports, (root / "kernels").glob("*.py")))
    assert {m for m in kernel_imports if not m.startswith("hwadapt.kernels")} == {
        "hwadapt.linalg.subsets"}
    assert circuit_layouts.layout_pairs is maths_layouts.layout_pairs


@pytest.mark.parametrize("layout", ["pyramid", "butterfly", "brick", [(0, 3), (2, 5), (0, 5)]])
def test_givens_matrix_numpy_path_equals_the_torch_reference(layout):
    """Numpy angles (circuit building: no torch kernel, no numba) give the same matrix as the
    pure-torch product tree, over random batched angles."""
    from hwadapt.linalg.givens import _givens_torch, _layout_pairs

    rng = np.random.default_rng(5)
    for n in (2, 4, 8):  # butterfly: powers of two
        if not isinstance(layout, str) and n < 6:
            continue
        pairs = _layout_pairs(n, layout)
        th = rng.uniform(-np.pi, np.pi, (3, 2, len(pairs)))
        got = givens_matrix(n, th, layout)
        assert isinstance(got, np.ndarray) and got.shape == (3, 2, n, n)
        want = _givens_torch(n, torch.as_tensor(th), pairs).numpy()
        np.testing.assert_allclose(got, want, atol=1e-12)
        np.testing.assert_allclose(givens_matrix(n, th[0, 0], layout), want[0, 0], atol=1e-12)


def test_circuit_side_of_linalg_imports_no_torch():
    """Subsets, layouts and the numpy Givens paths (what circuit building and a dry run use)
    load without torch; the torch-side names still resolve, to the functions (not modules)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from hwadapt.linalg import combination_matrix, layout_pairs, subset_indices\n"
            "M = combination_matrix(np.zeros((2, 6)), [0.5, 0.5], 4)\n"
            "assert np.allclose(M, np.eye(4)) and 'torch' not in sys.modules\n"
            "import hwadapt.linalg as L\n"
            "assert callable(L.compounds) and callable(L.subsets) and 'torch' in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
