"""Helpers of the reliability suite: the real CLI as a subprocess, ledger digests and dumps,
copies of ready-made ledgers, and the "each batch stored once" check."""

import hashlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from hwadapt.execution.ledger import Ledger

ROOT = Path(__file__).parents[2]
SMALL = ROOT / "jobs" / "small.toml"
CLI = [sys.executable, "-m", "hwadapt.cli"]


class Cli:
    """``cli(*args)``: run ``python -m hwadapt.cli`` in a subprocess (``env`` adds variables)."""

    def __call__(self, *args, env: dict | None = None, timeout: float = 300,
                 cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True,
                              env={**os.environ, **(env or {})}, timeout=timeout, cwd=cwd)

    def popen(self, *args, env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen(CLI + [str(a) for a in args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **(env or {})})

    def inproc(self, *args, env: dict | None = None) -> subprocess.CompletedProcess:
        """Like ``__call__`` but in this process (fast; same entry point ``main()``)."""
        from hwadapt import cli

        saved_env = {k: os.environ.get(k) for k in env or {}}
        saved = sys.argv, sys.stdout, sys.stderr
        sys.argv = ["hwadapt", *map(str, args)]
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
        os.environ.update(env or {})
        code = 0
        try:
            cli.main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        finally:
            out, err = sys.stdout.getvalue(), sys.stderr.getvalue()
            sys.argv, sys.stdout, sys.stderr = saved
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return subprocess.CompletedProcess(sys.argv, code, out, err)

    @staticmethod
    def one_line_error(r, code: int = 2) -> str:
        """Assert ``r`` failed with ``code``, one line on stderr, no traceback; the line."""
        assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr + r.stdout, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
        return lines[0]


def digest(path: Path) -> str | None:
    """SHA-256 of the file's bytes (None if absent)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def content(path: Path) -> list[str]:
    """The ledger's logical content (SQL dump), read-only: equal dumps = same data."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(db.iterdump())
    finally:
        db.close()


def settle(path: Path) -> None:
    """Checkpoint the WAL of a ledger left by a killed process into the main file."""
    Ledger(path, create=False).close()


def copy_ledger(src: Path, dst_dir: Path) -> Path:
    """Copy a ledger with its runs folder into ``dst_dir``; the new ledger path. SQLite's
    backup copies what readers see, write-ahead log included (a writer still holding its
    connection, e.g. an in-process CLI call, has not checkpointed it yet), into one settled
    file with no log beside it."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst_dir / src.name)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    if (src.parent / "runs").exists():
        shutil.copytree(src.parent / "runs", dst_dir / "runs")
    return dst_dir / src.name


def check_complete(path: Path, run_id: str) -> dict:
    """Assert every batch of the run is done and stored exactly once, no temporary files
    remain; return its counts."""
    from hwadapt.execution import manager

    led = Ledger(path, readonly=True)
    batches = led.batches(run_id)
    assert batches and all(b.status == "done" for b in batches)
    rows = led.db.execute("SELECT batch_id FROM results").fetchall()
    ids = [r[0] for r in rows if r[0] in {b.id for b in batches}]
    assert sorted(ids) == sorted(b.id for b in batches)
    files = sorted(p.name for p in (led.runs_dir / run_id).glob("batch-*"))
    assert files == [f"batch-{b.idx:04d}.npz" for b in batches]
    manager.verify_results(led, run_id)
    return manager.run_counts(path, run_id)
