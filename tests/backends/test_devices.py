"""The device cache: aer_noisy's device is the fake device's Target and readout errors, read
from a per-user cache after the first use, so a submit imports no qiskit_ibm_runtime; it
transpiles exactly as the fake device does."""

import json
import pickle
import subprocess
import sys

import pytest

from hwadapt.backends import devices


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(devices.CACHE_ENV, str(tmp_path))
    devices.device_data.cache_clear()
    devices.device_backend.cache_clear()
    yield tmp_path
    devices.device_data.cache_clear()
    devices.device_backend.cache_clear()


def test_cached_device_equals_the_fake_device_and_transpiles_the_same(cache):
    from qiskit.circuit.random import random_circuit
    from qiskit_aer.noise.device import readout_error_values

    from hwadapt.circuits.transpile import transpile_for

    fake = devices.fake_backend("fake_lagos")
    target, readout = devices.device_data("fake_lagos")
    files = list((cache / "devices").glob("fake_lagos-*.pickle"))
    assert len(files) == 1
    assert readout == [list(r) for r in readout_error_values(fake.properties())]
    assert target.num_qubits == fake.target.num_qubits
    assert set(target.operation_names) == set(fake.target.operation_names)
    assert target["cx"] == fake.target["cx"] or target["ecr"] == fake.target["ecr"]
    qc = random_circuit(5, 6, measure=True, seed=4)
    want = transpile_for(qc, fake, 1, 9)
    got = transpile_for(qc, devices.device_backend("fake_lagos"), 1, 9)
    assert got[0] == want[0] and got[1] == want[1]
    # a damaged entry is rebuilt, not trusted
    files[0].write_bytes(b"not a pickle")
    devices.device_data.cache_clear()
    assert devices.device_data("fake_lagos")[1] == readout
    assert pickle.loads(files[0].read_bytes())[1] == readout


def test_unknown_device_is_an_input_error(cache):
    from hwadapt.errors import InputError

    with pytest.raises(InputError, match="hwadapt backends"):
        devices.device_data("fake_nowhere")


PROBE = r"""
import json, sys
from hwadapt.backends import get_backend
b = get_backend("aer_noisy", noise_from="fake_lagos")
model = b.noise_model((0, 1))
print(json.dumps({"qubits": b.transpile_target.num_qubits,
                  "runtime": "qiskit_ibm_runtime" in sys.modules,
                  "readout": sorted(model._local_readout_errors) != []}))
"""


@pytest.mark.slow
def test_aer_noisy_from_the_cache_imports_no_runtime(cache):
    env = {**__import__("os").environ, devices.CACHE_ENV: str(cache)}
    runs = [subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                           env=env, timeout=300) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    first, second = (json.loads(r.stdout.strip().splitlines()[-1]) for r in runs)
    assert first["qubits"] == second["qubits"] == 7 and second["readout"]
    assert first["runtime"] and not second["runtime"]  # built once, then read from the cache


def test_noise_model_read_from_the_cache_equals_a_fresh_build(cache):
    from hwadapt.backends import noise

    noise.restricted_noise_model.cache_clear()
    try:
        built = noise.restricted_noise_model("fake_lagos", (3, 1, 5), 0.5)
        assert len(list((cache / "noise").glob("fake_lagos-*.pickle"))) == 1
        noise.restricted_noise_model.cache_clear()
        read = noise.restricted_noise_model("fake_lagos", (3, 1, 5), 0.5)
        assert read is not built and read == built
        other = noise.restricted_noise_model("fake_lagos", (3, 1, 5), 1.0)  # another key
        assert other != built
        assert len(list((cache / "noise").glob("fake_lagos-*.pickle"))) == 2
    finally:
        noise.restricted_noise_model.cache_clear()


@pytest.mark.parametrize("name", ["fake_torino", "fake_sherbrooke"])
def test_fake_kind_transpiles_the_demo_as_the_fake_device_does(cache, name):
    """``fake_*`` transpiles for the cached Target (no runtime import before the first job):
    the demo's ISA circuits and the QPU-time inputs equal the fake device's own."""
    from pathlib import Path

    from hwadapt.backends import get_backend
    from hwadapt.circuits.transpile import transpile_for
    from hwadapt.spec import build_families, load_spec

    backend = get_backend(name)
    fake = devices.fake_backend(name)
    assert backend.transpile_target.default_rep_delay == fake.default_rep_delay
    spec = load_spec(Path("jobs/demo.toml"))
    for fam in build_families(spec):
        want = transpile_for(fam.circuit, fake, 1, spec.seed)
        got = transpile_for(fam.circuit, backend.transpile_target, 1, spec.seed)
        assert got[0] == want[0] and got[1] == want[1], fam.name


def test_cache_drops_least_recently_used_entries_past_its_size(cache, monkeypatch):
    import os

    folder = cache / "things"
    monkeypatch.setattr(devices, "CACHE_FOLDER_MAX_BYTES", 3500)  # three ~1 kB entries fit
    for i in range(3):  # written at t = 0, 1, 2
        devices.cached_pickle("things", f"k{i}", lambda i=i: bytes(1000) + bytes([i]))
        os.utime(folder / f"k{i}.pickle", (i, i))
    assert devices.cached_pickle("things", "k0", lambda: b"rebuilt") == bytes(1000) + b"\0"
    # reading k0 made it the most recently used: a fourth entry evicts k1, now the oldest
    devices.cached_pickle("things", "k3", lambda: bytes(1000))
    assert sorted(p.stem for p in folder.glob("*.pickle")) == ["k0", "k2", "k3"]


def test_prune_cache_keeps_the_newest_entry_and_stays_under_the_limit(tmp_path):
    import os

    for i in range(5):
        p = tmp_path / f"e{i}.pickle"
        p.write_bytes(bytes(100 * (i + 1)))
        os.utime(p, (i, i))
    removed = devices.prune_cache(tmp_path, max_bytes=950)
    left = sorted(p.name for p in tmp_path.glob("*.pickle"))
    assert left == ["e3.pickle", "e4.pickle"]  # 400 + 500 <= 950; the oldest went first
    assert sorted(p.name for p in removed) == ["e0.pickle", "e1.pickle", "e2.pickle"]
    assert devices.prune_cache(tmp_path, max_bytes=0) == [tmp_path / "e3.pickle"]
    assert [p.name for p in tmp_path.glob("*.pickle")] == ["e4.pickle"]  # newest stays
