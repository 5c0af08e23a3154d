"""Claim verdicts of the study report, on hand-made summaries (each verdict both ways)."""

import copy
from dataclasses import asdict

from hwadapt.training.report import claims, table_markdown


def summary(**b_and_a):
    params = {"full": 131584, "head-only": 0, "lora-matched": 2048, "lora-r8": 8192,
              "hamming": 260, "compound": 2308}
    return {"summary": {arm: {"body_params": params[arm], "head_params": 1285,
                              "b_acc_mean": b, "b_acc_std": 0.01, "a_acc_before_mean": 0.97,
                              "a_acc_after_mean": a, "a_acc_after_std": 0.02, "seeds": 3}
                        for arm, (b, a) in b_and_a.items()}}


BASE = dict(full=(0.97, 0.60), lora_matched=(0.93, 0.85), lora_r8=(0.95, 0.73),
            hamming=(0.945, 0.92), compound=(0.965, 0.75))


def study(**over):
    d = {k.replace("_", "-"): v for k, v in {**BASE, **over}.items()}
    return summary(**d)


def test_claims_held():
    c = claims(study())
    assert "HW ≈ LoRA with fewer parameters: held" in c[0]
    assert "Compound +3 % over LoRA at comparable parameters: held**" in c[1]
    assert "HW forgets less: held" in c[2]


def test_claims_not_held():
    c = claims(study(hamming=(0.93, 0.80), compound=(0.94, 0.75)))
    assert "did not hold" in c[0]  # 2 points below lora-r8
    assert "held in direction only" in c[1]  # +1 point, not +3
    assert "did not hold" in c[2] and "lora-matched" in c[2]  # 0.85 > 0.80
    c = claims(study(compound=(0.92, 0.75)))
    assert "Compound +3 % over LoRA at comparable parameters: did not hold" in c[1]


def test_head_only_control_line():
    s = study(head_only=(0.90, 0.97))
    line = claims(s)[3]
    assert "90.00 %" in line and "hamming +4.50" in line and "full +7.00" in line


def test_claims_missing_arms():
    s = study()
    for arm in ("hamming", "compound"):
        del s["summary"][arm]
    assert all("not tested" in line for line in claims(s))


def test_table_rows():
    s = study()
    t = table_markdown(copy.deepcopy(s))
    assert "| hamming | 260 | 1,285 | 94.50 ± 1.00 | 97.00 | 92.00 ± 2.00 |" in t
    s["summary"]["hamming"]["seeds"] = 1  # one seed has no spread: no "± 0.00"
    assert "| hamming | 260 | 1,285 | 94.50 | 97.00 | 92.00 |" in table_markdown(s)


def test_command_line_roundtrip():
    from hwadapt.training.experiment import StudyConfig
    from hwadapt.training.report import command_line

    cfg = StudyConfig(methods=["full", "hamming"], seeds=2, hidden=64, max_per_class=30)
    line = command_line({"config": asdict(cfg)})
    assert line == ("hwadapt finetune --methods full,hamming --seeds 2 --epochs 20 "
                    "--pretrain-epochs 10 --hidden 64 --threads 1 --max-per-class 30")
    cfg.lr_adapter = 0.03
    assert command_line({"config": asdict(cfg)}).endswith("# and StudyConfig(lr_adapter=0.03)")
