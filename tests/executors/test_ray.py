"""Ray: a two-node cluster simulated on this machine (``ray.cluster_utils.Cluster``).

A sweep on it completes with the same counts as ``local`` with 1 and 2 workers, and killing
a worker process in the middle of a task (by its pid) still ends with every batch stored
once: the task is re-run by Ray and the driver (the only ledger writer) stores its result.
"""

import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from hwadapt.execution.rundata import run_counts
from hwadapt.executors import get_executor
from hwadapt.sweep import plan_settings, run_sweep

ray = pytest.importorskip("ray", reason="the [ray] extra (in dev) is not installed")
pytestmark = pytest.mark.slow

SPEC = """
name = "scale"
seed = 17
[circuit]
qubits = 4
layout = "pyramid"
terms = 2
alphas = [0.7, -0.3]
[inputs]
count = 4
seed = 3
[shots]
target_accepted = 1500
budget = 2_000_000
max_rounds = 2
"""
SETTINGS = plan_settings("fake_lagos", [], [0.5, 2.0])


def _sweep(tmp: Path, executor) -> list[dict]:
    tmp.mkdir(exist_ok=True)
    spec = tmp / "s.toml"
    spec.write_text(SPEC)
    state = run_sweep(spec, tmp / "l.db", SETTINGS, plot=False, executor=executor)
    assert [s["status"] for s in state["settings"]] == ["done", "done"]
    return [run_counts(tmp / "l.db", s["run"]) for s in state["settings"]]


def _running_task_pids() -> list[int]:
    """Ray workers in the middle of a task (Ray titles them ``ray::<function>``)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            title = (proc / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if proc.name.isdigit() and title.startswith(b"ray::_call"):
            pids.append(int(proc.name))
    return pids


def _ledger_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute(
            "SELECT b.run_id, b.idx, b.status, count(r.batch_id) FROM batches b "
            "LEFT JOIN results r ON r.batch_id = b.id GROUP BY b.id ORDER BY b.run_id, b.idx"
        ).fetchall()


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()  # both registered before the executor counts the cluster's CPUs
    yield c
    ray.shutdown()
    c.shutdown()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Counts of the sweep on local with 1 worker (in this process)."""
    with get_executor("local", 1) as ex:
        return _sweep(tmp_path_factory.mktemp("local1"), ex)


def test_counts_are_identical_on_local_1_local_2_and_a_two_node_ray_cluster(
        cluster, reference, tmp_path):
    with get_executor("local", 2) as ex:
        assert _sweep(tmp_path / "local2", ex) == reference
    ex = get_executor("ray", 2, address=cluster.address)
    assert ex.workers == 2  # one CPU on each node
    assert _sweep(tmp_path / "ray", ex) == reference
    ex.close()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds worker pids in /proc")
def test_a_worker_killed_mid_sweep_loses_and_duplicates_nothing(cluster, reference, tmp_path):
    ex = get_executor("ray", 2, address=cluster.address)
    out: dict = {}
    thread = threading.Thread(target=lambda: out.update(counts=_sweep(tmp_path / "k", ex)))
    thread.start()
    killed = None
    while thread.is_alive() and killed is None:
        pids = _running_task_pids()
        if pids:
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.01)
    thread.join()
    ex.close()
    assert killed is not None, "no task was seen running"
    assert out["counts"] == reference
    rows = _ledger_rows(tmp_path / "k" / "l.db")
    for run in {r[0] for r in rows}:
        mine = [r for r in rows if r[0] == run]
        assert [r[1] for r in mine] == list(range(len(mine)))  # no gap in the batches
        assert {(r[2], r[3]) for r in mine} == {("done", 1)}  # each stored exactly once


def test_a_private_ray_instance_starts_beside_a_running_cluster_without_rays_notices(cluster):
    """No address: a private instance with its own CPUs, even though ``cluster`` is the last
    cluster started here (Ray would join it, and refuse ``num_cpus``)."""
    import subprocess
    import sys

    code = ("from hwadapt.executors.ray_executor import RayExecutor\n"
            "ex = RayExecutor(1)\n"
            "print(sorted(r for _, r in ex.map_unordered(abs, [-2, 3])))\n"
            "ex.close()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[2, 3]"
    assert "Token authentication" not in r.stderr + r.stdout
