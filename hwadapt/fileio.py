"""Atomic file writes: a temporary file next to the target, fsync, then one rename.

Temporary names are unique per process and call (``<stem>.<pid>-<random>.tmp<suffix>``), so
two processes writing one target never share a file; a killed writer leaves ``*.tmp*``
files that the next driver removes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(f)`` on a temporary binary file beside ``path``, fsync it and rename it
    onto ``path`` (readers see the old file or the whole new one, never a part)."""
    path = Path(path)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
