"""The MNIST study on a tiny configuration (N_H = 16, 60 digits per class and split)."""

import copy
import json

import pytest
import torch

from hwadapt.training.data import load_mnist
from hwadapt.training.experiment import (
    ADAPTED_LAYERS,
    ARMS,
    DIGITS_A,
    DIGITS_B,
    MLP,
    StudyConfig,
    accuracy,
    finetune_arm,
    matched_lora_rank,
    pretrain,
    run_study,
)
from hwadapt.training.report import PLOTS

ADAPTER_ARMS = [a for a in ARMS if ARMS[a] is not None]


def tiny(**kw) -> StudyConfig:
    base = dict(seeds=1, epochs=3, pretrain_epochs=8, hidden=16, batch_size=32,
                lr_full=1e-2, lr_adapter=3e-2)
    return StudyConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def data():
    return load_mnist(hidden=16, max_per_class=60)


@pytest.fixture(scope="module")
def pretrained(data):
    torch.use_deterministic_algorithms(True)
    return pretrain(data, tiny(), seed=0)


def test_model_shapes():
    m = MLP(16)
    assert [tuple(getattr(m, n).weight.shape) for n in ("fc1", "fc2", "head")] == [
        (16, 16), (16, 16), (5, 16)]
    x = torch.randn(4, 16)
    h = torch.relu(m.fc2(torch.relu(m.fc1(x))))
    torch.testing.assert_close(m(x), m.head(h))


def test_pretraining_learns_A(data, pretrained):
    acc = accuracy(pretrained.features, pretrained.head, *data.task(DIGITS_A, "val"))
    assert acc > 0.6  # chance is 0.2


def test_full_finetuning_learns_B(data, pretrained):
    before = copy.deepcopy(pretrained.state_dict())
    rec, _ = finetune_arm(pretrained, data, tiny(), "full", seed=0)
    assert rec["b_acc"][-1] > 0.45 and len(rec["b_acc"]) == 4
    assert rec["a_acc_step0"] == rec["a_acc_before"]
    assert rec["body_params"] == 2 * (16 * 16 + 16) and rec["head_params"] == 16 * 5 + 5
    for k, v in pretrained.state_dict().items():  # the pretrained model is not touched
        assert torch.equal(v, before[k])


def test_head_only_control_keeps_A(data, pretrained):
    rec, model = finetune_arm(pretrained, data, tiny(), "head-only", seed=0)
    assert rec["body_params"] == 0
    assert rec["a_acc_after"] == rec["a_acc_before"]  # body untouched: no forgetting
    assert rec["b_acc"][-1] > 0.35
    assert torch.equal(model.fc1.weight, pretrained.fc1.weight)


@pytest.mark.parametrize("arm", ADAPTER_ARMS)
def test_adapters_start_at_the_pretrained_model(data, pretrained, arm):
    rec, model = finetune_arm(pretrained, data, tiny(epochs=0), arm, seed=0)
    xa, _ = data.task(DIGITS_A, "val")
    with torch.no_grad():
        torch.testing.assert_close(model(xa), pretrained(xa), atol=1e-6, rtol=0)
    assert rec["a_acc_step0"] == rec["a_acc_before"] == rec["a_acc_after"]


@pytest.mark.parametrize("arm", ADAPTER_ARMS)
def test_adapter_arm(data, pretrained, arm):
    rec, _ = finetune_arm(pretrained, data, tiny(), arm, seed=0)
    # adapters start at ΔW = 0: A accuracy (pretrained head) is exactly the pretrained one
    assert rec["a_acc_step0"] == rec["a_acc_before"]
    assert rec["b_acc"][-1] > 0.35, rec["b_acc"]  # chance is 0.2
    assert rec["head_params"] == 85
    assert 0 < rec["body_params"] < 2 * (16 * 16 + 16)


def test_parameter_counts(data, pretrained):
    cfg = tiny(epochs=0)
    got = {arm: finetune_arm(pretrained, data, cfg, arm, seed=0)[0]["body_params"]
           for arm in ARMS}
    n, R, layers = 4, 2, len(ADAPTED_LAYERS)  # N_H = 16 = 2^4
    assert got["hamming"] == layers * (R * n * n + R)
    assert got["hamming-orth"] == layers * (R * n * (n - 1) // 2 + R)
    assert got["lora-r8"] == layers * 8 * (16 + 16)
    assert got["full"] == layers * (16 * 16 + 16) and got["head-only"] == 0
    r = matched_lora_rank(16)
    assert got["lora-matched"] == layers * r * 32
    # the matched rank is the closest one to the compound adapter's count
    for other in (r - 1, r + 1):
        if other >= 1:
            assert abs(layers * other * 32 - got["compound"]) >= abs(
                got["lora-matched"] - got["compound"])


@pytest.mark.parametrize("arm", ["hamming", "lora-r8"])
def test_finetuned_adapter_model(data, pretrained, arm):
    from hwadapt.adapters import merge

    rec, model = finetune_arm(pretrained, data, tiny(), arm, seed=0)
    xa, ya = data.task(DIGITS_A, "val")
    for name in ADAPTED_LAYERS:  # frozen bases unchanged, adapters moved
        layer = getattr(model, name)
        assert torch.equal(layer.base_layer.weight, getattr(pretrained, name).weight)
        assert not layer.base_layer.weight.requires_grad
        assert layer.delta_weight().abs().max() > 1e-4
    assert not torch.equal(model.head.weight, pretrained.head.weight)
    assert rec["a_acc_after"] == accuracy(model.features, pretrained.head, xa, ya)
    merged = merge(copy.deepcopy(model))
    torch.testing.assert_close(merged.features(xa), model.features(xa), atol=1e-4, rtol=1e-4)


def test_study_files_and_determinism(tmp_path, data):
    cfg = tiny(methods=["full", "hamming", "lora-matched"], epochs=2, pretrain_epochs=3)
    s1 = run_study(cfg, out=tmp_path / "a", progress=False, data=data)
    s2 = run_study(cfg, out=tmp_path / "b", progress=False, data=data)
    for arm in cfg.methods:
        for r1, r2 in zip(s1["runs"][arm], s2["runs"][arm], strict=True):
            assert {k: v for k, v in r1.items() if k != "wall_s"} == {
                k: v for k, v in r2.items() if k != "wall_s"}
    saved = json.loads((tmp_path / "a" / "study.json").read_text())
    assert saved["runs"]["hamming"][0]["b_acc"] == s1["runs"]["hamming"][0]["b_acc"]
    assert saved["config"]["hidden"] == 16 and saved["data"]["B_val"] == 300
    for name in PLOTS:
        png = (tmp_path / "a" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    readme = (tmp_path / "a" / "README.md").read_text()
    for arm in cfg.methods:
        assert f"| {arm} |" in readme
    assert "HW forgets less" in readme


def test_different_seeds_differ(data):
    s = run_study(tiny(methods=["hamming"], seeds=2, epochs=1, pretrain_epochs=2),
                  progress=False, data=data)
    r0, r1 = s["runs"]["hamming"]
    assert r0["b_acc"] != r1["b_acc"]
    assert s["summary"]["hamming"]["b_acc_std"] > 0


def test_task_labels():
    assert DIGITS_A == (0, 1, 2, 3, 4) and DIGITS_B == (5, 6, 7, 8, 9)
