"""HWADAPT_TRACE: one line per mark with wall and CPU seconds since the process started;
silent without it."""

import os
import subprocess
import sys

PROBE = ("import time; time.sleep(0.2)\n"
         "from hwadapt.trace import mark, since_start\n"
         "mark('one'); mark('two'); print(since_start())")


def _run(value):
    env = {k: v for k, v in os.environ.items() if k != "HWADAPT_TRACE"}
    if value is not None:
        env["HWADAPT_TRACE"] = value
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          env=env, timeout=60)


def test_marks_print_seconds_since_process_start():
    out = _run("1")
    lines = [ln.split() for ln in out.stderr.splitlines() if ln.startswith("hwadapt-trace")]
    assert [ln[3] for ln in lines] == ["one", "two"]
    wall = [float(ln[1]) for ln in lines]
    cpu = [float(ln[2]) for ln in lines]
    assert 0.2 <= wall[0] <= wall[1] <= float(out.stdout) + 0.001  # counts the sleep before import
    assert 0 < cpu[0] <= cpu[1] < wall[1]  # sleeping costs no CPU


def test_silent_unless_asked():
    for value in (None, "", "0"):
        assert "hwadapt-trace" not in _run(value).stderr
