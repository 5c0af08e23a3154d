"""Adapters: one test matrix over methods x bases x paths (peft test_custom_models style)."""

import math

import pytest
import torch
from torch import nn

from hwadapt.adapters import AdapterConfig, AdapterLayer, inject, merge, trainable_parameters
from hwadapt.adapters.compound import compound_qubits
from hwadapt.adapters.hamming import hamming_qubits
from hwadapt.linalg import (
    compound_matrix,
    givens_matrix,
    hamming_weight_apply,
    hamming_weight_matrix,
)

CONFIGS = [
    ("lora", dict(rank=3)),
    *[(m, dict(rank=2, base=b, path=p)) for m in ("hamming", "compound")
      for b in ("free", "orthogonal", "cayley") for p in ("dense", "apply")],
    ("compound", dict(rank=2, order=3, path="apply")),
    *[("hamming", dict(rank=2, base=b, path="blocks")) for b in ("free", "orthogonal")],
]
IDS = ["-".join([m, *map(str, kw.values())]) for m, kw in CONFIGS]


def make_model(seed=0):
    torch.manual_seed(seed)  # non-square layers, with and without bias
    return nn.Sequential(nn.Linear(11, 6), nn.Tanh(), nn.Linear(6, 9, bias=False)).double()


def x_batch():
    return torch.randn(5, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def perturb(model):
    """Give every adapter parameter a random value (so ΔW != 0)."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, dtype=p.dtype, generator=g) * 0.5)


def reference_delta(layer):
    """ΔW from the definition: α-weighted minors-based compounds of each base, cropped."""
    if layer.config.method == "lora":
        return layer.lora_B @ layer.lora_A
    A = layer.base_matrices()
    if layer.config.method == "hamming":
        F = [hamming_weight_matrix(a, "computational") for a in A]
    else:
        F = [compound_matrix(a, layer.k) for a in A]
    return sum(al * f[: layer.d_out, : layer.d_in] for al, f in zip(layer.alpha, F, strict=True))


@pytest.mark.parametrize("method,kw", CONFIGS, ids=IDS)
def test_identity_at_init_then_exact_delta_and_merge(method, kw):
    model, x = make_model(), x_batch()
    y0 = model(x)
    model = inject(model, AdapterConfig(method, **kw))
    torch.testing.assert_close(model(x), y0, rtol=0, atol=0)  # ΔW = 0 at step 0
    layers = [m for m in model.modules() if isinstance(m, AdapterLayer)]
    assert len(layers) == 2
    perturb(model)
    h = x
    for lay, act in ((layers[0], torch.tanh), (layers[1], lambda t: t)):
        ref = reference_delta(lay)
        assert ref.shape == (lay.d_out, lay.d_in) and ref.abs().max() > 1e-3
        torch.testing.assert_close(lay.delta_weight(), ref, rtol=0, atol=1e-10)
        torch.testing.assert_close(lay(h), lay.base_layer(h) + h @ ref.T, rtol=0, atol=1e-10)
        h = act(lay(h))
    y1 = model(x)
    assert (y1 - y0).abs().max() > 1e-3
    merged = merge(model)
    assert not any(isinstance(m, AdapterLayer) for m in merged.modules())
    assert all(type(m) in (nn.Sequential, nn.Linear, nn.Tanh) for m in merged.modules())
    assert merged[2].bias is None and merged[0].bias is not None
    torch.testing.assert_close(merged(x), y1, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method,kw", CONFIGS, ids=IDS)
def test_module_conversions_keep_the_adapter(method, kw):
    """``.float()``, ``.to(dtype)``, ``.double()`` and ``deepcopy`` (what ``.to(device)``
    and ``.cuda()`` go through: ``nn.Module._apply``, which an adapter method once shadowed)
    convert every adapter parameter and keep the outputs."""
    import copy

    model = inject(make_model(), AdapterConfig(method, **kw))
    perturb(model)
    x = x_batch()
    y = model(x)
    low = copy.deepcopy(model).float()
    assert {p.dtype for p in low.parameters()} == {torch.float32}
    torch.testing.assert_close(low(x.float()), y.float(), rtol=1e-4, atol=1e-4)
    back = low.to(torch.float64).double()
    assert {p.dtype for p in back.parameters()} == {torch.float64}
    back(x).sum().backward()  # still trainable after the round trip
    assert all(p.grad is not None for p in back.parameters() if p.requires_grad)


@pytest.mark.parametrize("method,kw", [("hamming", {}), ("hamming", dict(path="blocks")),
                                       ("hamming", dict(base="orthogonal")), ("compound", {})])
def test_torch_compile_runs_the_kernels_eagerly(method, kw):
    """``torch.compile`` (dynamo; the eager backend needs no C compiler) treats the numba
    entry points as opaque (``kernels.opaque``): same outputs and gradients. Dynamo traced
    into them before and crashed (AssertionError in its bytecode transformation)."""
    model = inject(make_model().float(), AdapterConfig(method, 2, **kw))
    perturb(model)
    x = x_batch().float()
    params = [p for p in model.parameters() if p.requires_grad]
    compiled = torch.compile(model, backend="eager")
    y = compiled(x)
    torch.testing.assert_close(y, model(x), rtol=0, atol=1e-6)
    for g, w in zip(torch.autograd.grad(y.sum(), params),
                    torch.autograd.grad(model(x).sum(), params), strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-5)


@pytest.mark.parametrize("method,kw", CONFIGS, ids=IDS)
def test_gradient_checkpointing_and_retained_graph(method, kw):
    """``torch.utils.checkpoint`` (forward recomputed in the backward) and a graph kept for a
    second backward give the plain backward's gradients."""
    from torch.utils.checkpoint import checkpoint

    model = inject(make_model(), AdapterConfig(method, **kw))
    perturb(model)
    x = x_batch().requires_grad_(True)
    wrt = [x, *(p for p in model.parameters() if p.requires_grad)]
    want = torch.autograd.grad(model(x).pow(2).sum(), wrt)
    got = torch.autograd.grad(checkpoint(model, x, use_reentrant=False).pow(2).sum(), wrt)
    loss = model(x).pow(2).sum()
    first = torch.autograd.grad(loss, wrt, retain_graph=True)
    second = torch.autograd.grad(loss, wrt)
    for w, g, a, b in zip(want, got, first, second, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-12)
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("method,kw", CONFIGS, ids=IDS)
def test_torch_func_transforms(method, kw):
    """``torch.func.grad`` over ``functional_call`` equals autograd, and per-sample gradients
    (``vmap`` of ``grad``) equal one autograd backward per sample: inside a transform the
    layers take the torch paths (``kernels.supported``), which the transforms can trace."""
    from torch.func import functional_call, grad, vmap

    model = inject(make_model(), AdapterConfig(method, **kw))
    perturb(model)
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    x = x_batch()[:3]

    def loss(p, xs):
        return functional_call(model, p, (xs,)).pow(2).sum()

    per_sample = vmap(grad(loss), in_dims=(None, 0))(params, x[:, None])
    for i in range(3):
        model.zero_grad()
        loss(dict(model.named_parameters()), x[i:i + 1]).backward()
        for k, v in model.named_parameters():
            if v.requires_grad:
                torch.testing.assert_close(per_sample[k][i], v.grad, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method,kw", CONFIGS, ids=IDS)
def test_cpu_autocast_mixed_precision(method, kw):
    """Under ``torch.autocast("cpu", bfloat16)`` every config trains (the compiled kernels run
    in the parameters' dtype, the torch paths in bfloat16 where autocast says so), with the
    float32 gradients to bfloat16 accuracy."""
    model = inject(make_model().float(), AdapterConfig(method, **kw))
    perturb(model)
    x = x_batch().float()
    params = [p for p in model.parameters() if p.requires_grad]
    want = torch.autograd.grad(model(x).pow(2).mean(), params)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(x).float().pow(2).mean()
        got = torch.autograd.grad(loss, params)  # a backward inside the region, too
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        torch.testing.assert_close(g, w, rtol=0.05, atol=0.05 * float(w.abs().max()))
    layer = inject(nn.Linear(11, 9), AdapterConfig(method, **kw))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as nn.Linear: the autocast dtype
        assert layer(x).dtype == torch.bfloat16


@pytest.mark.parametrize("method,kw", CONFIGS, ids=IDS)
def test_device_generic_path_runs_on_the_meta_device(method, kw):
    """What a CUDA run takes (the torch paths, after ``model.to(device)``) runs on the meta
    device: no tensor left on the CPU, no ``.item()``/``.numpy()`` host sync on the way."""
    model = inject(make_model(), AdapterConfig(method, **kw)).to("meta")
    x = torch.empty(5, 11, device="meta", dtype=torch.float64, requires_grad=True)
    y = model(x)
    assert y.shape == (5, 9) and y.is_meta
    y.sum().backward()
    assert all(p.grad.is_meta for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("method", ["hamming", "compound"])
@pytest.mark.parametrize("base", ["free", "orthogonal", "cayley"])
def test_dense_and_apply_paths_agree_with_gradients(method, base):
    outs = []
    for path in ("dense", "apply"):
        torch.manual_seed(3)
        lay = inject(nn.Linear(7, 12, dtype=torch.float64), AdapterConfig(method, 2, base=base,
                                                                         path=path))
        perturb(lay)
        y = lay(x_batch()[:, :7])
        y.pow(2).sum().backward()
        outs.append((y, [p.grad for p in lay.parameters() if p.requires_grad]))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=0, atol=1e-10)
    for g0, g1 in zip(outs[0][1], outs[1][1], strict=True):
        torch.testing.assert_close(g0, g1, rtol=0, atol=1e-9)


def test_gradcheck_through_adapter_parameters():
    lay = inject(nn.Linear(5, 3, dtype=torch.float64), AdapterConfig("hamming", 2, path="apply"))
    perturb(lay)
    x = x_batch()[:2, :5]
    A0, alpha0 = lay.A.detach().clone(), lay.alpha.detach().clone()

    A, alpha = A0.requires_grad_(True), alpha0.requires_grad_(True)

    def fn(A, alpha):  # functional version of the layer's ΔW x
        xp = nn.functional.pad(x, (0, 8 - 5))[:, None, :]
        return torch.einsum("r,brd->bd", alpha, hamming_weight_apply(A, xp))[:, :3]

    torch.testing.assert_close(fn(A, alpha).detach() + lay.base_layer(x), lay(x).detach(),
                               rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(fn, (A, alpha))


def test_orthogonal_angles_are_pyramid_givens_angles():
    lay = inject(nn.Linear(16, 16, dtype=torch.float64),
                 AdapterConfig("hamming", rank=3, base="orthogonal"))
    assert lay.n == 4 and lay.angles.shape == (3, 6)
    for i in range(3):
        torch.testing.assert_close(lay.base_matrices()[i], givens_matrix(4, lay.angles[i]))
    for base in ("free", "cayley"):
        A = inject(nn.Linear(9, 9), AdapterConfig("compound", 2, base=base)).base_matrices()
        eye = torch.eye(A.shape[-1]).expand_as(A)
        torch.testing.assert_close(A @ A.mT, eye, rtol=0, atol=1e-5)  # orthogonal at init


@pytest.mark.parametrize("d_in,d_out", [(11, 6), (256, 256), (100, 300), (4096, 10)])
def test_trainable_parameter_formulas(d_in, d_out):
    def count(method, **kw):
        return trainable_parameters(inject(nn.Linear(d_in, d_out), AdapterConfig(method, **kw)))

    w = max(d_in, d_out)
    assert count("lora", rank=8) == 8 * (d_in + d_out)
    n = hamming_qubits(w)
    assert 2 ** (n - 1) < w <= 2**n or n == 2
    assert count("hamming", rank=2) == 2 * (n * n + 1)
    assert count("hamming", rank=2, base="orthogonal") == 2 * (n * (n - 1) // 2 + 1)
    assert count("hamming", rank=3, base="cayley") == 3 * (n * (n - 1) // 2 + 1)
    for k in (2, 3):
        m = compound_qubits(w, k)
        assert math.comb(m, k) >= w > math.comb(m - 1, k)
        assert count("compound", rank=2, order=k) == 2 * (m * m + 1)
        assert count("compound", rank=1, order=k, base="orthogonal") == m * (m - 1) // 2 + 1


def test_inject_freezes_and_targets():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)))
    m1 = inject(model, AdapterConfig("lora", rank=1, target=["1.0"]))
    assert isinstance(m1[1][0], AdapterLayer) and isinstance(m1[0], nn.Linear)
    assert isinstance(m1[1][1], nn.Linear) and not m1[0].weight.requires_grad
    assert trainable_parameters(m1) == 8
    m2 = inject(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)),
                AdapterConfig("hamming", target=r"1"))
    assert isinstance(m2[1], AdapterLayer) and isinstance(m2[0], nn.Linear)
    # a bare nn.Linear is itself replaced; the base has no gradient
    lay = inject(nn.Linear(3, 2), AdapterConfig("compound", rank=1))
    lay(torch.randn(4, 3)).sum().backward()
    assert lay.base_layer.weight.grad is None and lay.alpha.grad is not None
    with pytest.raises(ValueError, match="merge"):
        inject(m1, AdapterConfig("lora"))
    with pytest.raises(ValueError, match="available"):
        inject(nn.Sequential(nn.Linear(2, 2)), AdapterConfig("lora", target=["nope"]))
    with pytest.raises(ValueError, match="Sequential has no nn.Linear to adapt"):
        inject(nn.Sequential(nn.ReLU()), AdapterConfig("lora"))


@pytest.mark.parametrize("kw,match", [
    (dict(method="dora"), "unknown adapter method"),
    (dict(method="lora", rank=0), "rank"),
    (dict(method="hamming", base="unitary"), "unknown base"),
    (dict(method="lora", base="orthogonal"), "base='free'"),
    (dict(method="lora", order=2), "order"),
    (dict(method="hamming", order=2), "order"),
    (dict(method="compound", order=0), "order k"),
    (dict(method="compound", path="fast"), "path"),
    (dict(method="compound", path="blocks"), "path='blocks' is for method='hamming'"),
    (dict(method="hamming", target=3), "target"),
])
def test_bad_configs(kw, match):
    with pytest.raises(ValueError, match=match):
        AdapterConfig(**kw)


def test_bad_sizes():
    with pytest.raises(ValueError, match="k=5 > qubits"):
        inject(nn.Linear(4, 4), AdapterConfig("compound", order=5, qubits=4))
    with pytest.raises(ValueError, match="closer to n/2|increase qubits"):
        inject(nn.Linear(30, 4), AdapterConfig("compound", order=4, qubits=5))
    with pytest.raises(ValueError, match="qubits >= 5"):
        inject(nn.Linear(30, 4), AdapterConfig("hamming", qubits=4))


@pytest.mark.parametrize("method,path", [("hamming", "dense"), ("hamming", "blocks"),
                                         ("hamming", "apply"), ("compound", "dense"),
                                         ("compound", "apply")])
def test_wrong_input_width_is_named(method, path):
    """(4, 26) used to reach the dense kernel as (8, 13) and fail on a reshape afterwards."""
    lay = inject(nn.Linear(13, 10), AdapterConfig(method, 2, order=2 if method == "compound"
                                                  else None, path=path))
    for shape in [(4, 26), (4, 12)]:
        with pytest.raises(ValueError, match=r"input has \d+ features but the adapted layer "
                                             r"takes d_in=13"):
            lay(torch.randn(*shape))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_hamming_dense_kernel_path_input_gradient_and_batch_dims(dtype):
    """The compiled dense path (compounds kernel + block-only weight gradient) against the
    apply path: outputs and gradients for α, A, the input (x.requires_grad, as inside a
    model) and a trainable bias, with (2, 3, d_in) inputs."""
    tol = dict(rtol=0, atol=1e-10) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-4)
    outs = []
    for path in ("dense", "blocks", "apply"):
        torch.manual_seed(4)
        lay = inject(nn.Linear(13, 10, dtype=dtype), AdapterConfig("hamming", 2, path=path))
        perturb(lay)
        lay.base_layer.bias.requires_grad_(True)
        x = torch.randn(2, 3, 13, dtype=dtype, generator=torch.Generator().manual_seed(5))
        x.requires_grad_(True)
        y = lay(x)
        assert y.shape == (2, 3, 10)
        y.pow(2).sum().backward()
        outs.append((y, x.grad, lay.alpha.grad, lay.A.grad, lay.base_layer.bias.grad))
    for out in outs[:2]:  # dense and blocks against apply
        for a, b in zip(out, outs[2], strict=True):
            torch.testing.assert_close(a, b, **tol)
            assert a.abs().max() > 1e-3


def test_auto_path_by_width():
    from hwadapt.adapters.base import DENSE_MAX_DIM

    small = inject(nn.Linear(DENSE_MAX_DIM, 8), AdapterConfig("hamming", 2))
    large = inject(nn.Linear(DENSE_MAX_DIM + 1, 8), AdapterConfig("hamming", 2))
    comp = inject(nn.Linear(8, DENSE_MAX_DIM + 1), AdapterConfig("compound", 2))
    assert (small.path, large.path, comp.path) == ("dense", "blocks", "apply")


@pytest.mark.parametrize("method,kw", [(m, {"base": "free", **kw}) for m, kw in CONFIGS[1:]],
                         ids=IDS[1:])
def test_device_generic_torch_path_equals_the_compiled_path(method, kw, monkeypatch):
    """The path every non-CPU tensor (CUDA) takes: ``kernels.supported`` False sends
    compounds, Givens products and the Hamming dense/blocks layers through plain torch ops.
    Forced here on CPU, it equals the compiled (numba) path: outputs and the gradients of
    the input, every adapter parameter and a trainable bias, at 1e-10 (float64)."""
    from hwadapt import kernels

    def run():
        model = make_model()
        inject(model, AdapterConfig(method, **kw))
        perturb(model)
        model[2].base_layer.weight.requires_grad_(True)
        x = x_batch().requires_grad_(True)
        y = model(x)
        y.pow(2).sum().backward()
        params = [p for p in model.parameters() if p.requires_grad]
        return [y, x.grad, *(p.grad for p in params)]

    compiled = run()
    calls = []
    monkeypatch.setattr(kernels, "supported", lambda *t: calls.append(t) and False)
    torch_path = run()
    assert calls or kw["path"] == "apply"  # dense/blocks consulted the switch
    for a, b in zip(torch_path, compiled, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
        assert a.abs().max() > 1e-6
