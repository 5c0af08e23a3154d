"""Compiled compound kernels (hwadapt.kernels) against brute-force determinants and the
pure-torch Laplace recursion (the reference path)."""

import itertools
import math

import numpy as np
import pytest
import torch

from hwadapt import kernels
from hwadapt.linalg import (
    _compounds_torch,
    compound_matrix,
    compound_offsets,
    compounds,
    compounds_flat,
)


def _rand(shape, seed, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _singular(n, seed):
    A = _rand((n, n), seed)
    A[:, -1] = 2 * A[:, 0] - (A[:, 1] if n > 2 else 0)  # rank n-1 (n = 1: the zero matrix)
    return A


def _brute(A: np.ndarray, k: int) -> np.ndarray:
    S = list(itertools.combinations(range(A.shape[0]), k))
    return np.array([[np.linalg.det(A[np.ix_(I, J)]) if k else 1.0 for J in S] for I in S])


@pytest.mark.parametrize("n", range(1, 8))
def test_kernel_forward_equals_determinants(n):
    for A in (_rand((n, n), n), _singular(n, 10 + n)):
        flat = kernels.compounds_flat(A, n)
        off = compound_offsets(n, n)
        assert flat.shape == (off[-1],) == (math.comb(2 * n, n),)
        for k in range(n + 1):
            m = math.comb(n, k)
            ref = _brute(A.numpy(), k)
            got = flat[off[k]:off[k + 1]].view(m, m).numpy()
            scale = max(1.0, np.abs(ref).max())
            np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * scale)
            torch.testing.assert_close(torch.from_numpy(got), compound_matrix(A, k),
                                       rtol=0, atol=1e-12 * scale)
    S = _singular(n, 20 + n)
    if n > 1:  # rank n-1: the top compound (det) vanishes, the others do not
        assert abs(kernels.compounds_flat(S, n)[-1]) < 1e-12
        if n > 2:
            assert kernels.compounds_flat(S, n)[1 + n * n:].abs().max() > 1e-2


def test_kernel_float32_close_to_float64():
    A = _rand((3, 7, 7), 5)
    f32 = kernels.compounds_flat(A.float(), 7)
    assert f32.dtype == torch.float32
    torch.testing.assert_close(f32.double(), kernels.compounds_flat(A, 7), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n", range(2, 7))
def test_kernel_backward_equals_autograd_of_torch_recursion(n):
    for k_max in sorted({1, n // 2 + 1, n}):
        A = torch.stack([_rand((n, n), 30 + n), _singular(n, 40 + n)])
        W = _rand((2, compound_offsets(n, k_max)[-1]), 50 + n)  # random upstream gradients
        a1, a2 = A.clone().requires_grad_(True), A.clone().requires_grad_(True)
        (kernels.compounds_flat(a1, k_max) * W).sum().backward()
        ref = torch.cat([B.flatten(-2) for B in _compounds_torch(a2, k_max)], -1)
        (ref * W).sum().backward()
        torch.testing.assert_close(a1.grad, a2.grad, rtol=0, atol=1e-10)
        assert a1.grad.abs().max() > 1e-2


def test_reverse_rows_are_the_forward_rows_level_by_level_downwards():
    """``back`` (the reverse mode's order) holds exactly the forward rows, levels from the
    top down (a level reads only the gradient of the level above), sorted by source row
    within a level; at n = 8 the backward still equals the torch recursion's autograd."""
    from hwadapt.linalg.subsets import compound_offsets as offsets

    for n in (3, 5, 8):
        plan = kernels._plan(n, n)
        assert sorted(map(tuple, plan.back.tolist())) == sorted(map(tuple, plan.terms.tolist()))
        level = np.searchsorted(np.array(offsets(n, n)), plan.back[:, 0], side="right") - 1
        assert (np.diff(level) <= 0).all() and level[0] == n
        same = np.diff(level) == 0
        assert (np.diff(plan.back[:, 1])[same] >= 0).all()
    A = _rand((8, 8), 33).requires_grad_(True)
    up = _rand((compound_offsets(8, 8)[-1],), 34)
    g, = torch.autograd.grad((kernels.compounds_flat(A[None], 8)[0] * up).sum(), A)
    ref = torch.cat([B.flatten() for B in _compounds_torch(A, 8)])
    gref, = torch.autograd.grad((ref * up).sum(), A)
    torch.testing.assert_close(g, gref, rtol=1e-10, atol=1e-9)


def test_plan_groups_share_a_segment_and_tile_each_level():
    """``fstart``: each forward group is ONE destination segment with its ``k`` sources, the
    groups of a level (``flevel``) tile that level's entries exactly; ``bstart``: each
    reverse group shares one source segment ``(src, length)``."""
    from hwadapt.linalg.subsets import compound_offsets as offsets

    for n, k_max in ((3, 3), (5, 5), (8, 8), (9, 3)):
        plan = kernels._plan(n, k_max)
        off = offsets(n, k_max)
        t, fs, fl = plan.terms, plan.fstart, plan.flevel
        assert fs[0] == 0 and fs[-1] == len(t) and (np.diff(fs) > 0).all()
        assert len(fl) == k_max + 2 and fl[0] == fl[1] == fl[2] == 0 and fl[-1] == len(fs) - 1
        for k in range(2, k_max + 1):
            covered = np.zeros(off[k + 1] - off[k], dtype=int)
            for g in range(fl[k], fl[k + 1]):
                rows = t[fs[g]:fs[g + 1]]
                assert len(rows) == k and (rows[:, 0] == rows[0, 0]).all()
                assert (rows[:, 2] == rows[0, 2]).all() and len(set(rows[:, 1])) == k
                covered[rows[0, 0] - off[k]:rows[0, 0] - off[k] + rows[0, 2]] += 1
            assert (covered == 1).all()
        b, bs = plan.back, plan.bstart
        assert bs[0] == 0 and bs[-1] == len(b) and (np.diff(bs) > 0).all()
        for g in range(len(bs) - 1):
            rows = b[bs[g]:bs[g + 1]]
            assert (rows[:, 1] == rows[0, 1]).all() and (rows[:, 2] == rows[0, 2]).all()
            assert len(set(rows[:, 0])) == len(rows)


@pytest.mark.parametrize("n,d_in,d_out", [(2, 4, 3), (5, 32, 32), (5, 19, 27), (8, 256, 200)])
def test_fused_forward_equals_the_plain_combination_and_scatter(n, d_in, d_out):
    """``_hw_combined`` (levels built and combined in turn) and ``_hw_weight`` (``W0 + ΔW``
    row by row) against ``α @ F`` of the plain forward and a scatter of every block entry
    at its (row, column) from :func:`~hwadapt.linalg.block_entries`."""
    from hwadapt.kernels import hamming as kh
    from hwadapt.linalg import block_entries

    ix = kernels.block_index(n, d_in, d_out)
    A, al = _rand((3, n, n), 140 + n).numpy(), _rand((3,), 141).numpy()
    W0 = _rand((d_out, d_in), 142).numpy()
    F, v = kh._hw_combined(A, al, *ix.forward, ix.size)
    np.testing.assert_array_equal(F, kh._forward_colex(A, ix.plan.terms, ix.plan.fstart,
                                                       ix.size))
    np.testing.assert_allclose(v, al @ F, rtol=0, atol=1e-12)
    rows, cols = block_entries(ix.perm, ix.block_sizes)
    keep = (rows < d_out) & (cols < d_in)
    want = W0.copy()
    want[rows[keep], cols[keep]] += v[keep]
    W, F2 = kh._hw_weight(A, al, W0, ix.perm, ix.block_sizes, ix.plan.terms, ix.plan.fstart)
    np.testing.assert_array_equal(F2, F)
    np.testing.assert_allclose(W, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n,k_max", [(6, 6), (9, 3)])
def test_uninitialised_forward_writes_every_entry(n, k_max):
    """Large plans allocate ``W`` uninitialised (``_alloc``) and each group zeroes its own
    segment: on a NaN-filled ``W`` the result equals the zero-filled path exactly."""
    from hwadapt.kernels import compounds as kc

    plan = kernels._plan(n, k_max)
    A = _rand((2, n, n), 150 + n).numpy()
    want = kc._forward_colex(A, plan.terms, plan.fstart, plan.size)  # small: zero-filled
    W = np.full((2, plan.size), np.nan)
    kc._start(W, A)
    kc._forward_groups(W, A, plan.terms, plan.fstart, 0, len(plan.fstart) - 1, True)
    np.testing.assert_array_equal(W, want)
    assert kc._alloc(2, 1 << 17, np.float64)[1] and not kc._alloc(1, 1 << 17, np.float64)[1]


def test_kernel_gradcheck_and_once_differentiable():
    A = torch.stack([_rand((4, 4), 60), _singular(4, 61)]).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: kernels.compounds_flat(a, 4), (A,))
    assert torch.autograd.gradcheck(lambda a: kernels.compounds_flat(a, 2), (A,))
    g = torch.autograd.grad(kernels.compounds_flat(A, 3).pow(2).sum(), A, create_graph=True)[0]
    with pytest.raises(RuntimeError, match="once_differentiable|double backward"):
        g.sum().backward()


@pytest.mark.parametrize("path", ["dense", "blocks"])
def test_fused_layer_first_order_only_under_create_graph(path):
    """The fused layers' backward (``first_order``: no once_differentiable wrapper unless
    create_graph) gives the same first derivatives either way, and refuses a second one."""
    from torch import nn

    from hwadapt.adapters import AdapterConfig, inject

    torch.manual_seed(5)
    lay = inject(nn.Linear(6, 5, dtype=torch.float64), AdapterConfig("hamming", 2, path=path))
    with torch.no_grad():
        lay.alpha.fill_(0.3)
    x = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    wrt = [x, lay.A, lay.alpha]
    plain = torch.autograd.grad(lay(x).pow(2).sum(), wrt)
    graph = torch.autograd.grad(lay(x).pow(2).sum(), wrt, create_graph=True)
    for a, b in zip(plain, graph, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="once_differentiable|double backward"):
        graph[1].sum().backward()


def test_compounds_dispatch_shapes_and_edge_cases():
    A = _rand((2, 3, 5, 5), 70)  # batched (..., n, n)
    flat = compounds_flat(A, 3)
    assert flat.shape == (2, 3, compound_offsets(5, 3)[-1])
    blocks = compounds(A, 3)
    assert [b.shape for b in blocks] == [(2, 3, m, m) for m in (1, 5, 10, 10)]
    for k in range(4):
        torch.testing.assert_close(blocks[k], compound_matrix(A, k), rtol=0, atol=1e-12)
    # n = 0 and n = 1, k_max = 0
    assert torch.equal(compounds_flat(torch.zeros(0, 0)), torch.ones(1))
    assert torch.equal(compounds_flat(torch.zeros(4, 0, 0)), torch.ones(4, 1))
    assert torch.equal(compounds_flat(torch.full((1, 1), 3.0)), torch.tensor([1.0, 3.0]))
    assert torch.equal(compounds_flat(torch.full((1, 1), 3.0), 0), torch.tensor([1.0]))
    assert compounds_flat(torch.zeros(0, 4, 4)).shape == (0, 70)
    # devices / dtypes without a kernel take the torch recursion (complex here)
    C = torch.complex(_rand((4, 4), 71), _rand((4, 4), 72))
    assert not kernels.supported(C) and kernels.supported(A) and kernels.supported(A.float())
    for k, B in enumerate(compounds(C)):
        torch.testing.assert_close(B, compound_matrix(C, k), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="k_max"):
        compounds_flat(A, 6)
    with pytest.raises(ValueError, match="square"):
        compounds_flat(torch.zeros(3, 4))


@pytest.mark.parametrize("d_in,d_out", [(16, 16), (13, 9), (5, 16)])
def test_block_gram_is_the_block_part_of_g_t_x(d_in, d_out):
    n = 4
    g, x = _rand((7, d_out), 80), _rand((7, d_in), 81)
    perm, sizes = kernels.hw_colex_order(n)
    assert sorted(perm.tolist()) == list(range(16))
    assert [bin(int(c)).count("1") for c in perm] == sorted(bin(c).count("1") for c in range(16))

    def blocks(g, x):
        full = torch.nn.functional.pad(g, (0, 16 - d_out)).T @ \
            torch.nn.functional.pad(x, (0, 16 - d_in))
        return torch.cat([full[perm[s:s + m]][:, perm[s:s + m]].flatten()
                          for s, m in zip(np.cumsum(sizes) - sizes, sizes, strict=True)])

    def to_blocks(a):  # zero-padded to 2^n, columns in block order
        return torch.nn.functional.pad(a, (0, 16 - a.shape[1]))[:, perm]

    want = blocks(g, x)
    ix = kernels.block_index(n, d_in, d_out)
    # the compiled gather, also on strided inputs (an expanded upstream gradient, a
    # transposed x), which it reads in place
    gs, xs = g[:1].expand(7, d_out), x.T.contiguous().T
    for a in (g, x, gs, xs):
        torch.testing.assert_close(torch.from_numpy(kernels._gather_blocks(a.numpy(), perm)),
                                   to_blocks(a), rtol=0, atol=0)
    gB, xB = to_blocks(g), to_blocks(x)
    got = kernels._block_gram(gB.numpy(), xB.numpy(), sizes)
    torch.testing.assert_close(torch.from_numpy(got), want, rtol=0, atol=1e-12)
    gsB, xsB = (kernels._gather_blocks(a.numpy(), perm) for a in (gs, xs))
    got = kernels._block_gram(gsB, xsB, sizes)
    torch.testing.assert_close(torch.from_numpy(got), blocks(gs, xs), rtol=0, atol=1e-12)
    got32 = kernels._block_gram(gB.float().numpy(), xB.float().numpy(), sizes)
    torch.testing.assert_close(torch.from_numpy(got32), want.float(), rtol=1e-5, atol=1e-5)
    # the block action and its transpose against the dense block-diagonal matrix, in the
    # compiled form and as the interpreted BLAS reference (kernels.blas._gemm)
    v = _rand((len(want),), 82)
    D = torch.block_diag(*[b.view(m, m) for b, m in zip(v.split((sizes**2).tolist()),
                                                        sizes.tolist(), strict=True)])
    for fn in (kernels._block_gemms, kernels._block_gemms.py_func):
        for tr, M in ((False, D), (True, D.T)):
            got = fn(v.numpy(), xB.numpy(), sizes, tr)
            torch.testing.assert_close(torch.from_numpy(got), xB @ M.T, rtol=0, atol=1e-12)
    # block order back to computational order, added
    y0 = _rand((7, d_out), 83)
    y = y0.clone()
    kernels._add_cols(y.numpy(), xB.numpy(), ix.to_out)
    torch.testing.assert_close(y, y0 + xB[:, np.argsort(perm)[:d_out]], rtol=0, atol=0)


@pytest.mark.parametrize("fn", ["HammingDense", "HammingBlocks"])
@pytest.mark.parametrize("n,d_in,d_out,bias,lead", [
    (3, 7, 6, True, (5,)), (3, 8, 8, False, (5,)), (4, 5, 16, True, (5,)),
    (3, 7, 6, True, (2, 3)), (3, 8, 8, False, ())])  # x (..., d_in): flattened inside
def test_hamming_fused_layers_equal_the_definition_with_gradients(fn, n, d_in, d_out, bias,
                                                                  lead):
    """The fused layers against W0 + crop(Σ α_r ⊕_k A_r^(k)) built from determinants."""
    from hwadapt.linalg import hamming_weight_matrix

    ix = kernels.block_index(n, d_in, d_out)
    apply = getattr(kernels, fn).apply
    x, A, al = _rand((*lead, d_in), 90), _rand((2, n, n), 91), _rand((2,), 92)
    W0, b = _rand((d_out, d_in), 93), _rand((d_out,), 94) if bias else None
    leaves = [t.clone().requires_grad_(True) for t in (x, A, al, W0)]
    if bias:
        leaves.append(b.clone().requires_grad_(True))

    def reference(x, A, al, W0, b=None):
        H = torch.stack([hamming_weight_matrix(a, "computational") for a in A])
        return torch.nn.functional.linear(x, W0 + torch.einsum("r,rij->ij", al, H)[
            :d_out, :d_in], b)

    y = apply(*leaves[:4], leaves[4] if bias else None, ix)
    ref_leaves = [t.detach().clone().requires_grad_(True) for t in leaves]
    yr = reference(*ref_leaves)
    torch.testing.assert_close(y, yr, rtol=0, atol=1e-12)
    up = _rand(y.shape, 95)
    grads = torch.autograd.grad(y, leaves, up)
    for got, want in zip(grads, torch.autograd.grad(yr, ref_leaves, up), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
        assert got.abs().max() > 1e-3
    y, yr = apply(*leaves[:4], leaves[4] if bias else None, ix), reference(*ref_leaves)
    for got, want in zip(torch.autograd.grad(y.sum(), leaves),  # an expanded (stride-0) g
                         torch.autograd.grad(yr.sum(), ref_leaves), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    assert torch.autograd.gradcheck(lambda *t: apply(*t[:4], t[4] if bias else None, ix),
                                    tuple(leaves))


@pytest.mark.parametrize("n,layout", [(2, "pyramid"), (5, "pyramid"), (8, "pyramid"),
                                      (8, "butterfly"), (5, [(0, 3), (1, 2), (0, 4)])])
def test_givens_kernel_equals_the_torch_product_tree(n, layout):
    from hwadapt.circuits.layouts import layout_pairs
    from hwadapt.linalg import _givens_torch, givens_matrix

    pairs = tuple(layout_pairs(n, layout) if isinstance(layout, str) else layout)
    th = _rand((2, 3, len(pairs)), 100 + n) * 3
    a = th.clone().requires_grad_(True)
    b = th.clone().requires_grad_(True)
    O = givens_matrix(n, a, layout)
    Ot = _givens_torch(n, b, pairs)
    assert O.shape == (2, 3, n, n)
    torch.testing.assert_close(O, Ot, rtol=0, atol=1e-13)
    up = _rand(O.shape, 7)
    ga, = torch.autograd.grad(O, a, up)
    gb, = torch.autograd.grad(Ot, b, up)
    torch.testing.assert_close(ga, gb, rtol=0, atol=1e-12)
    assert ga.abs().max() > 1e-2
    assert torch.autograd.gradcheck(lambda t: givens_matrix(n, t, layout), (a[0, 0].detach()
                                    .clone().requires_grad_(True),))
    f32 = givens_matrix(n, th.float(), layout)
    torch.testing.assert_close(f32, Ot.detach().float(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("pairs", [[(0, 5)], [(-1, 2)], [(1, 1)], [(2, 0)]])
def test_givens_pairs_are_checked_before_the_kernel(pairs):
    """The compiled product does not bounds-check: an out-of-range pair used to read and
    write outside its arrays (garbage, then heap corruption). Now a clear ValueError."""
    from hwadapt.linalg import givens_matrix

    with pytest.raises(ValueError, match=r"must satisfy 0 <= a < b < n=3"):
        givens_matrix(3, torch.ones(1, dtype=torch.float64), pairs)


def test_low_order_compounds_of_a_large_matrix_only_build_their_levels():
    """k_max = 2 of a 24 x 24 matrix (the compound adapter at width 256) tabulates 1 + 24^2
    + 276^2 entries, not C(48, 24): fast, and equal to the torch recursion."""
    A = _rand((24, 24), 120).requires_grad_(True)
    assert kernels._plan(24, 2).size == 1 + 24**2 + 276**2
    flat = compounds_flat(A, 2)
    ref = torch.cat([B.flatten() for B in _compounds_torch(A.detach(), 2)])
    torch.testing.assert_close(flat, ref, rtol=1e-12, atol=1e-12)
    g, = torch.autograd.grad(flat, A, torch.ones_like(flat))
    gref, = torch.autograd.grad(torch.cat([B.flatten() for B in _compounds_torch(A, 2)]), A,
                                torch.ones_like(flat))
    torch.testing.assert_close(g, gref, rtol=1e-10, atol=1e-10)


class _PoisonedNumpy:
    """numpy whose ``empty``/``empty_like`` return NaN-filled arrays: a kernel that reads
    memory before writing it then gives NaN instead of whatever the allocator left."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def empty(shape, dtype=float):
        return np.full(shape, np.nan, dtype=dtype)

    @staticmethod
    def empty_like(a):
        return np.full_like(a, np.nan)


def test_kernels_never_read_uninitialised_memory(monkeypatch):
    """Every kernel run as plain Python (``py_func``, nested kernels too) with NaN-filled
    ``np.empty`` equals the compiled result. Regression: the Hamming backward seeded ``∂α_0``
    from an unwritten ``np.empty`` slot and CI got NaN once in a while."""
    ix = kernels.block_index(3, 7, 6)
    x, A, al, W0 = _rand((5, 7), 130), _rand((2, 3, 3), 131), _rand((2,), 132), _rand((6, 7),
                                                                                    133)
    th = _rand((2, 6), 134)
    pairs = np.array([(0, 1), (1, 2), (0, 1), (2, 3), (1, 2), (0, 3)], dtype=np.int64)

    def run():
        leaves = [t.clone().requires_grad_(True) for t in (x, A, al, W0, A, th)]
        y = kernels.HammingDense.apply(*leaves[:4], None, ix)
        yb = kernels.HammingBlocks.apply(*leaves[:4], None, ix)
        c = kernels.compounds_flat(leaves[4], 3)
        o = kernels.GivensMatrix.apply(leaves[5], pairs, 4)
        outs = (y, yb, c, o)
        return (*outs, *torch.autograd.grad(outs, leaves, [torch.ones_like(t) for t in outs]))

    compiled = run()
    for mod in (kernels.compounds, kernels.givens, kernels.hamming):
        monkeypatch.setattr(mod, "np", _PoisonedNumpy())
        for name in dir(mod):
            py = getattr(getattr(mod, name), "py_func", None)
            if py is not None:
                monkeypatch.setattr(mod, name, py)
    for got, want in zip(run(), compiled, strict=True):
        assert not got.isnan().any()
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def _blocks_case(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    d = 1 << n
    x = torch.randn(3, d, dtype=torch.float64, generator=g)
    A = (0.3 * torch.randn(2, n, n, dtype=torch.float64, generator=g)).requires_grad_()
    al = torch.randn(2, dtype=torch.float64, generator=g).requires_grad_()
    W0 = torch.randn(d, d, dtype=torch.float64, generator=g)
    return x, A, al, W0


def test_pooled_work_arrays_survive_two_live_graphs_and_a_retained_backward():
    """n = 10, R = 2: F has 2·C(20,10) >= POOL_MIN_ENTRIES entries, so the blocks layer's
    work arrays come from the pool. Two layers of one shape (one BlockIndex) run forward
    before either backward, one graph is differentiated twice (retain_graph), and no-grad
    forwards in between take and give back arrays: every gradient equals the dense layer's
    (its own tables, no pool), and a no-grad forward reuses a returned array."""
    from hwadapt.kernels.pool import POOL, POOL_MIN_ENTRIES

    n = 10
    ix = kernels.block_index(n, 1 << n, 1 << n)
    assert 2 * ix.size >= POOL_MIN_ENTRIES
    cases = [_blocks_case(n, s) for s in (1, 2)]

    def loss(fn, case):
        x, A, al, W0 = case
        return (fn.apply(x, A, al, W0, None, ix) ** 2).sum()

    want = []
    for case in cases:
        want.append(torch.autograd.grad(loss(kernels.HammingDense, case), case[1:3]))
    l1, l2 = loss(kernels.HammingBlocks, cases[0]), loss(kernels.HammingBlocks, cases[1])
    with torch.no_grad():  # takes the free arrays (if any) and gives them back at once
        kernels.HammingBlocks.apply(cases[0][0], *cases[1][1:], None, ix)
    got2 = torch.autograd.grad(l2, cases[1][1:3], retain_graph=True)
    with torch.no_grad():
        kernels.HammingBlocks.apply(cases[1][0], *cases[0][1:], None, ix)
    got2_again = torch.autograd.grad(l2, cases[1][1:3])  # its arrays went back: recomputed
    got1 = torch.autograd.grad(l1, cases[0][1:3])
    for got, ref in ((got1, want[0]), (got2, want[1]), (got2_again, want[1])):
        for a, b in zip(got, ref, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    key = ((2, ix.size), np.dtype(np.float64).str)
    free = list(POOL.free.get(key, []))
    assert free  # the F arrays came back after the backwards
    with torch.no_grad():
        kernels.HammingBlocks.apply(cases[0][0], *cases[0][1:], None, ix)
    assert any(a is b for a in POOL.free[key] for b in free)  # the same array, reused
    POOL.clear()
    assert not POOL.free


def test_compiled_cache_is_dropped_when_any_kernel_source_changes(tmp_path):
    """numba keys a cached function on its own file only; a change in a module it compiled
    code in from must drop the cache too."""
    from hwadapt.kernels import _drop_stale_compiled

    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()

    def compiled() -> list[str]:
        for name in ("a.f-1.py311.nbi", "a.f-1.py311.1.nbc"):
            (cache / name).touch()
        _drop_stale_compiled(tmp_path)
        return sorted(p.name for p in cache.glob("*.nb?"))

    assert compiled() == []  # no digest yet: dropped, digest written
    assert compiled() == ["a.f-1.py311.1.nbc", "a.f-1.py311.nbi"]  # unchanged: kept
    (tmp_path / "b.py").write_text("y = 3\n")  # only the *other* module changed
    assert compiled() == []
    assert compiled() == ["a.f-1.py311.1.nbc", "a.f-1.py311.nbi"]
