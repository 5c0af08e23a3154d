"""The MNIST study on a process pool: the same records as the serial loop (but wall_s)."""

import pytest

from hwadapt.executors import LocalExecutor
from hwadapt.training.data import load_mnist
from hwadapt.training.experiment import StudyConfig, run_study


def _strip(recs: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in recs]


@pytest.mark.slow  # two worker processes import torch and hwadapt
def test_study_on_two_workers_equals_the_serial_study(tmp_path):
    data = load_mnist(hidden=16, max_per_class=40)
    cfg = StudyConfig(methods=["full", "hamming"], seeds=2, epochs=2,
                      pretrain_epochs=2, hidden=16, batch_size=32, lr_full=1e-2,
                      lr_adapter=3e-2)
    serial = run_study(cfg, progress=False, data=data)
    with LocalExecutor(2) as ex:
        parallel = run_study(cfg, out=tmp_path, progress=False, data=data, executor=ex)
    assert list(parallel["runs"]) == cfg.methods
    for arm in cfg.methods:
        assert [r["seed"] for r in parallel["runs"][arm]] == [0, 1]
        assert _strip(parallel["runs"][arm]) == _strip(serial["runs"][arm])
    assert _strip(parallel["pretrain"]) == _strip(serial["pretrain"])
    assert parallel["runs"]["hamming"][0]["b_acc"] != parallel["runs"]["hamming"][1]["b_acc"]
    assert (tmp_path / "study.json").is_file()
