"""The backend registry: a new kind is one class plus one entry in ``KINDS``, and the job
manager, ``hwadapt backends`` and readout mitigation then use it without other edits."""

from typing import ClassVar

import numpy as np
import pytest
from qiskit.primitives import StatevectorSampler
from typer.testing import CliRunner

import hwadapt.backends as backends
from hwadapt.backends import Backend, BackendInfo, get_backend, list_backends
from hwadapt.backends.devices import fake_device_names
from hwadapt.cli import app
from hwadapt.compare import compare_run
from hwadapt.errors import InputError
from hwadapt.execution.manager import run_counts, submit

SPEC = """
name = "toy"
seed = 3
[circuit]
qubits = 3
terms = 1
alphas = [0.8]
[inputs]
count = 2
[shots]
target_accepted = 200
"""


class ToyBackend(Backend):
    """Qiskit's reference statevector sampler, registered as a new kind ``toy_<anything>``."""

    kind: ClassVar[str] = "toy"
    names: ClassVar[str] = "toy_<x>"
    readout_noise: ClassVar[bool] = False
    runs: ClassVar[list] = []

    @classmethod
    def matches(cls, name: str) -> bool:
        return name.startswith("toy_")

    @classmethod
    def info(cls) -> list[BackendInfo]:
        return [BackendInfo("toy_<x>", "toy", True, "a test kind")]

    def run(self, pubs: list, seed: int, tag: str):
        ToyBackend.runs.append((self.name, seed, len(pubs)))
        return StatevectorSampler(seed=seed).run(pubs)


@pytest.fixture
def toy(monkeypatch):
    ToyBackend.runs.clear()
    monkeypatch.setattr(backends, "KINDS", [*backends.KINDS, ToyBackend])
    return ToyBackend


def test_a_registered_kind_is_built_listed_and_run_by_the_manager(toy, tmp_path):
    b = get_backend("toy_one")
    assert isinstance(b, ToyBackend) and b.local and not b.retrievable
    with pytest.raises(InputError, match="noise-from only applies to aer_noisy"):
        get_backend("toy_one", noise_from="fake_lagos")
    assert [i.kind for i in list_backends()][-1] == "toy"
    res = CliRunner().invoke(app, ["backends", "--json"])
    assert res.exit_code == 0 and '"toy_<x>"' in res.output
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    ledger = tmp_path / "l.db"
    run = submit(spec, "toy_one", ledger)
    assert toy.runs and all(name == "toy_one" for name, _, _ in toy.runs)
    counts = run_counts(ledger, run)["magnitude"]
    assert len(counts) == 2 and all(sum(c.values()) >= 200 for c in counts)
    out = compare_run(ledger, run, mitigate="readout")  # ideal readout: nothing to calibrate
    assert out["aggregate"]["tvd"] < 0.2
    assert out["mitigation"]["readout"] == "not applied: toy_one has no readout errors"


def test_unknown_names_list_every_registered_kind(toy):
    with pytest.raises(InputError) as e:
        get_backend("quantum_magic")
    for k in backends.KINDS:
        assert k.names in str(e.value)


def test_device_catalogue_from_shipped_files_equals_the_runtime_classes():
    from qiskit_ibm_runtime import fake_provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    classes = {c.backend_name for c in vars(fake_provider).values()
               if isinstance(c, type) and issubclass(c, FakeBackendV2) and c is not FakeBackendV2}
    assert set(fake_device_names()) == classes and len(classes) > 50


def test_readout_hook_calibrates_on_the_noise_model_and_ideal_kinds_have_none():
    noisy = get_backend("aer_noisy", noise_from="fake_lagos")
    m3 = noisy.calibrate_readout((3, 1), seed=4, shots=4000)
    model = noisy.noise_model((3, 1))
    for j in (0, 1):  # calibrated qubit j = physical (3, 1)[j]: its readout matrix, 4000 shots
        want = model._local_readout_errors[(j,)].probabilities.T  # [measured, prepared]
        np.testing.assert_allclose(m3.single_qubit_cals[j], want, atol=0.025)
        assert want[1, 0] > 0.005  # there is a readout error to see
    assert get_backend("aer").noise_model((0,)) is None
    assert get_backend("exact").calibrate_readout((0,), seed=1, shots=100) is None
    assert not get_backend("aer").readout_noise and noisy.readout_noise
