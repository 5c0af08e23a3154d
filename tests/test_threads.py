"""One thread setting reaches torch, the loaded BLAS/OpenMP pools, numba and Aer."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

import pytest

from hwadapt import threads
from hwadapt.errors import InputError

PROBE = r"""
import json, sys
import numpy, torch, numba, threadpoolctl
from typer.testing import CliRunner
from hwadapt import threads
from hwadapt.backends import get_backend
from hwadapt.cli import app

res = CliRunner().invoke(app, sys.argv[1:])
assert res.exit_code == 0, res.output
sim = get_backend("aer_noisy", noise_from="fake_lagos").simulator((0, 1))
aer = get_backend("aer").simulator().options
print(json.dumps({
    "setting": threads.threads(),
    "torch": torch.get_num_threads(),
    "numba": numba.get_num_threads(),
    "numpy_blas": [p["num_threads"] for p in threadpoolctl.threadpool_info()
                   if "numpy" in p["filepath"] and p["user_api"] == "blas"],
    "blas": sorted({p["num_threads"] for p in threadpoolctl.threadpool_info()
                    if p["user_api"] == "blas"}),
    "openmp": sorted({p["num_threads"] for p in threadpoolctl.threadpool_info()
                      if p["user_api"] == "openmp"}),
    "aer_noisy": [sim.options.max_parallel_threads, sim.options.max_parallel_experiments,
                  sim.options.max_parallel_shots],
    "aer": [aer.max_parallel_threads, aer.max_parallel_experiments, aer.max_parallel_shots],
}))
"""


def _probe(args, env_threads=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("HWADAPT_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                        "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}
    if env_threads is not None:
        env["HWADAPT_THREADS"] = env_threads
    out = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("args,env,want", [
    (["--threads", "1", "backends", "--json"], "2", 1),  # the option wins over the variable
    (["backends", "--json"], "1", 1),
    (["--threads", "3", "backends", "--json"], None, 3),
])
def test_the_setting_reaches_torch_blas_numba_and_aer(args, env, want):
    """torch, numpy and numba are loaded BEFORE the CLI applies the setting (the hard case).
    Pools cannot grow past what they started with (numba: the cores; OpenBLAS loaded later
    reads the environment but caps at the cores; Aer's own OpenBLAS is single-threaded), so
    beyond numpy's BLAS and the OpenMP runtimes only "at most the setting" is required."""
    got = _probe(args, env)
    assert got["setting"] == want and got["torch"] == want
    assert got["numpy_blas"] == [want] and got["openmp"] == [want]
    assert max(got["blas"]) <= want and 1 <= got["numba"] <= want
    if want == 1:
        assert got["blas"] == [1] and got["numba"] == 1
    assert got["aer_noisy"] == [want, 1, want] and got["aer"] == [want, 1, want]


def test_default_and_bad_values(monkeypatch):
    monkeypatch.delenv("HWADAPT_THREADS", raising=False)
    assert threads.default_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("HWADAPT_THREADS", "4")
    assert threads.default_threads() == 4
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("HWADAPT_THREADS", bad)
        with pytest.raises(InputError, match="HWADAPT_THREADS must be a whole number >= 1"):
            threads.default_threads()


def test_bad_environment_is_one_line_exit_2(monkeypatch):
    from typer.testing import CliRunner

    from hwadapt.cli import app

    monkeypatch.setenv("HWADAPT_THREADS", "many")
    res = CliRunner().invoke(app, ["backends", "--json"])
    assert res.exit_code == 2 and "HWADAPT_THREADS" in res.output
    assert "Traceback" not in res.output


def test_numba_still_compiles_after_set_threads_once_its_pool_runs():
    """numba refuses a NUMBA_NUM_THREADS other than its launched pool's at the next compile:
    set_threads must cap the threads in use without changing that variable."""
    code = textwrap.dedent("""
        import numba, numpy as np
        from hwadapt.threads import set_threads
        @numba.njit(parallel=True)
        def total(x):
            s = 0.0
            for i in numba.prange(x.size):
                s += x[i]
            return s
        assert total(np.ones(10)) == 10.0  # launches the pool
        set_threads(1)
        @numba.njit
        def later(x):
            return x.sum()
        assert later(np.ones(3)) == 3.0 and numba.get_num_threads() == 1
    """)
    env = {**os.environ, "NUMBA_NUM_THREADS": "2", "NUMBA_CACHE_DIR": tempfile.mkdtemp()}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
