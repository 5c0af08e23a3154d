"""Terminal output helpers: one progress display on stderr (shared by the job manager and
hybrid training) and :func:`plain` for user text."""

from __future__ import annotations

import re
import sys
import time

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

PLAIN_EVERY_S = 10.0  # when stderr is not a terminal: one plain line at most this often
PLAIN_AFTER_S = 1.0  # ... and none before this (quick commands and errors stay quiet)


def plain(text: object) -> str:
    """``text`` safe for a terminal: control characters (escape sequences, newlines, ...)
    shown as ``\\xNN`` instead of acting."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


class ProgressBar:
    """A transient rich progress bar on stderr with one task; a no-op when not ``enabled``
    (rich's ``disable``). When stderr is not a terminal (piped, logged) it prints plain
    lines instead: ``<description>: <completed>/<total>`` from ``PLAIN_AFTER_S`` on, at
    most every ``PLAIN_EVERY_S`` seconds, and at the end if any was shown. Descriptions are
    shown as text, never as rich markup. Always :meth:`close` it (``try/finally``)."""

    def __init__(self, enabled: bool, description: str, total: int | None = None):
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import Progress

        self._escape = escape
        console = Console(stderr=True)
        self._plain = enabled and not console.is_terminal
        self._fields = {"description": description, "total": total, "completed": 0}
        self._shown, self._start = None, time.monotonic()
        self._last = self._start
        self._progress = Progress(console=console, transient=True,
                                  disable=not enabled or self._plain)
        self._progress.start()
        self._task = self._progress.add_task(escape(description), total=total)

    def update(self, **fields) -> None:
        """Set ``total``, ``completed`` and/or ``description``."""
        self._fields.update(fields)
        if "description" in fields:
            fields["description"] = self._escape(fields["description"])
        self._progress.update(self._task, **fields)
        self._line()

    def advance(self) -> None:
        self._fields["completed"] += 1
        self._progress.advance(self._task)
        self._line()

    def close(self) -> None:
        self._progress.stop()
        self._line(force=True)

    def _line(self, force: bool = False) -> None:
        if not self._plain:
            return
        f = self._fields
        text = f["description"] + (f": {f['completed']}/{f['total']}" if f["total"] else "")
        now = time.monotonic()
        if force:  # the end: the last state, if any line was shown
            due = self._shown is not None
        else:
            due = now - self._start >= PLAIN_AFTER_S and (
                self._shown is None or now - self._last >= PLAIN_EVERY_S)
        if text != self._shown and due:
            sys.stderr.write(plain(text) + "\n")
            sys.stderr.flush()
            self._shown, self._last = text, now
