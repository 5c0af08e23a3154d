"""The additive ledger tables of hwadapt.execution.usage: a ledger made before them reads as
empty (read-only too) and is migrated by its first write, schema version unchanged."""

import sqlite3

import pytest

from hwadapt.execution import usage
from hwadapt.execution.ledger import SCHEMA_VERSION, Ledger
from hwadapt.execution.summary import summary


def _old_ledger(path):
    """A ledger as hwadapt made it before modes/usage existed, with one submitted job."""
    led = Ledger(path)
    led.create_run("r1", "t", "ibm_x", None, "", "0", 1, {})
    led.add_batches("r1", [{"idx": 0, "round": 0, "shots": 10,
                            "pubs": [{"family": 0, "inputs": [0]}], "seed": 0}])
    led.add_submission(led.batches("r1")[0].id, "t0")
    tables = {r[0] for r in led.db.execute("SELECT name FROM sqlite_master")}
    assert not tables & {"usage", "modes", "run_execution"}
    led.close()


def test_old_ledger_reads_empty_then_migrates_on_write(tmp_path):
    path = tmp_path / "l.db"
    _old_ledger(path)
    ro = Ledger(path, readonly=True)
    assert usage.run_usage(ro, "r1") == {"estimated": None, "ibm_estimated": None,
                                         "used": None}
    assert usage.modes(ro, "r1") == [] and usage.open_mode(ro, "r1") is None
    assert usage.requested_mode(ro, "r1") is None and usage.qpu_limit(ro, "r1") is None
    ro.close()
    led = Ledger(path)
    usage.record_usage(led, "t0", estimated_s=4.0, ibm_estimated_s=5.0)
    usage.record_usage(led, "t0", used_s=3.0)
    usage.set_execution(led, "r1", "batch", 60.0)
    usage.record_mode(led, "r1", "batch", "b-1")
    assert usage.run_usage(led, "r1") == {"estimated": 4.0, "ibm_estimated": 5.0, "used": 3.0}
    assert usage.requested_mode(led, "r1") == "batch" and usage.qpu_limit(led, "r1") == 60.0
    assert usage.open_mode(led, "r1") == {"kind": "batch", "mode_id": "b-1"}
    usage.record_mode(led, "r1", "batch", "b-2")  # a new one replaces the open one
    assert [m["open"] for m in usage.modes(led, "r1")] == [False, True]
    usage.close_modes(led, "r1")
    assert usage.open_mode(led, "r1") is None
    assert led.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert summary(led, "r1")["qpu_seconds"]["used"] == 3.0
    with pytest.raises(ValueError, match="unknown usage columns"):
        usage.record_usage(led, "t0", bogus=1.0)
    with pytest.raises(sqlite3.IntegrityError):  # usage belongs to a recorded submission
        usage.record_usage(led, "no-such-tag", used_s=1.0)


class _Job:
    def __init__(self, used=None, metrics=None, estimation=None):
        self._used, self._metrics, self.usage_estimation = used, metrics, estimation

    def usage(self):
        if isinstance(self._used, Exception):
            raise self._used
        return self._used

    def metrics(self):
        return self._metrics


def test_job_usage_and_estimate_readers():
    assert usage.job_usage(_Job(used=2.5)) == {"used_s": 2.5}
    assert usage.job_usage(_Job(used=0, metrics={"usage": {"quantum_seconds": 4}})) == \
        {"used_s": 4.0}  # usage() 0: not final yet, metrics has it
    assert usage.job_usage(_Job(used=RuntimeError("net"), metrics=None)) == {}
    assert usage.job_usage(object()) == {}  # a local job
    assert usage.job_estimate(_Job(estimation={"quantum_seconds": 7})) == \
        {"ibm_estimated_s": 7.0}
    assert usage.job_estimate(_Job(estimation={"quantum_seconds": None})) == {}
    assert usage.job_estimate(object()) == {}
