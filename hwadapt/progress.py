"""One rich progress bar on stderr, shared by the job manager and hybrid training."""

from __future__ import annotations


class ProgressBar:
    """A transient rich progress bar on stderr with one task; a no-op when not ``enabled``
    (rich's ``disable``). Always :meth:`close` it (``try/finally``)."""

    def __init__(self, enabled: bool, description: str, total: int | None = None):
        from rich.console import Console
        from rich.progress import Progress

        self._progress = Progress(console=Console(stderr=True), transient=True,
                                  disable=not enabled)
        self._progress.start()
        self._task = self._progress.add_task(description, total=total)

    def update(self, **fields) -> None:
        """Set ``total``, ``completed`` and/or ``description``."""
        self._progress.update(self._task, **fields)

    def advance(self) -> None:
        self._progress.advance(self._task)

    def close(self) -> None:
        self._progress.stop()
