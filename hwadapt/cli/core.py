"""The ``hwadapt`` command line's core: the typer app, the consoles, the shared options, the
error handling every command goes through, and the console entry point.

Conventions (docs/ARCHITECTURE.md): every command takes ``--json`` for machine-readable output
on stdout; human output uses rich. The ledger defaults to ``results/hwadapt.db`` and
moves with ``--ledger PATH`` or ``HWADAPT_LEDGER``. Exit codes: 0 success, 1 a failed
job, 2 bad input. Errors are one line of plain text on stderr (with ``--json`` also
``{"error": ..., "code": ...}`` on stdout); ``--debug`` shows the traceback. Rich markup is
off on both consoles: user text (run names, paths, ids) is printed as it is, with terminal
control characters made visible (:func:`plain`).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import sqlite3
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from hwadapt import __version__
from hwadapt.env import check_environment
from hwadapt.errors import HwadaptError, NetworkError
from hwadapt.progress import plain
from hwadapt.threads import set_threads

app = typer.Typer(
    name="hwadapt",
    help="Quantum-inspired adapters: PyTorch layers, Qiskit circuits, hardware runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True, markup=False, emoji=False)  # never break paths and ids
err_console = Console(stderr=True, markup=False, emoji=False)
_state = {"debug": False}

DEFAULT_LEDGER = Path("results/hwadapt.db")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
RUN_HELP = "Run id (or a unique start of it, or its last part), or 'latest'"
RunArg = Annotated[str, typer.Argument(help=f"{RUN_HELP}.")]
LedgerOpt = Annotated[
    Path,
    typer.Option("--ledger", envvar="HWADAPT_LEDGER", help="Ledger file (SQLite).",
                 show_default=True),
]
ExecutorOpt = Annotated[str | None, typer.Option(
    "--executor", envvar="HWADAPT_EXECUTOR", show_default=False,
    help="Where independent tasks (batches, settings, arms) run: local (a process pool on "
         "this machine; the default) | ray.")]
WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", envvar="HWADAPT_WORKERS", show_default=False,
    help="Workers (default: one per core; submit/resume: 1; 1 = in this process). Each runs "
    "1 thread.")]
RayAddressOpt = Annotated[str | None, typer.Option(
    "--ray-address", envvar="HWADAPT_RAY_ADDRESS", show_default=False,
    help="--executor ray: auto | <host>:<port> of a running cluster (default: a private "
         "Ray instance here).")]


def executor_from(name: str | None, workers: int | None, address: str | None,
                  one_run: bool = False):
    """The executor the shared options ``--executor/--workers/--ray-address`` ask for (a
    context manager; a bad choice is one :class:`~hwadapt.errors.InputError` before any
    work: exit 2, nothing written).

    ``one_run`` (submit, resume): the local executor defaults to 1 worker, in this process.
    One run's batches already keep Aer's threads busy; a process pool would add each
    worker's start (imports: 10-15 s) for nothing (the demo: 43 s in-process, 64 s on 2
    workers here). Sweeps and studies default to one worker per core."""
    from hwadapt.executors import ENV_WORKERS, executor_name, get_executor

    if one_run and workers is None and not os.environ.get(ENV_WORKERS) \
            and executor_name(name) == "local":
        workers = 1
    return get_executor(name, workers, address)


_NETWORK_NAMES = ("ConnectionError", "NewConnectionError", "NameResolutionError",
                  "MaxRetryError", "ConnectTimeout", "ReadTimeout", "ProxyError")


def _network_cause(exc: BaseException) -> BaseException | None:
    """The network failure (DNS, refused, timeout) behind ``exc``, if any in its chain."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ConnectionError | TimeoutError) or \
                type(exc).__name__ in _NETWORK_NAMES or type(exc).__name__ == "gaierror":
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def command(fn: Callable) -> Callable:
    """Register ``fn`` as a subcommand whose errors become one line and an exit code.

    Ctrl-C stops at once (``os._exit(130)``; results already stored stay, a batch still
    running is redone by ``hwadapt resume``)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        as_json = bool(kwargs.get("as_json"))
        try:
            check_environment()
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            err_console.print("aborted: results stored so far are kept; `hwadapt resume` "
                              "continues", highlight=False)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)  # do not wait for a simulator thread to finish its batch
        except Exception as e:  # noqa: BLE001 - last line of defence: one line, no traceback
            _fail(e, *_describe(e), as_json)

    return app.command(cls=_LiteralHelp)(wrapper)


class _LiteralHelp(typer.core.TyperCommand):
    """A command whose help texts show literally: typer renders them as rich markup, where a
    spec table such as ``[execution]`` vanished; and its line in ``hwadapt --help`` is the
    first paragraph of its docstring joined (typer kept the docstring's line breaks)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.help = escape(inspect.cleandoc(self.help or ""))
        self.short_help = " ".join(self.help.split("\n\n")[0].split())
        for param in self.params:
            if getattr(param, "help", None):
                param.help = escape(param.help)


def _describe(e: BaseException) -> tuple[str, int]:
    """``(message, exit code)`` of an exception reaching the command line."""
    if isinstance(e, HwadaptError):
        return str(e), e.exit_code
    net = _network_cause(e)
    if net is not None:
        err = NetworkError(f"cannot reach IBM Quantum (network): {type(net).__name__}; check "
                           "the connection (or proxy) and retry")
        return str(err), err.exit_code
    if isinstance(e, sqlite3.DatabaseError):
        return (f"the ledger could not be read ({e}): it may be damaged; check it with "
                "`hwadapt status --check` (nothing was written)"), 2
    return (f"internal error: {type(e).__name__}: {e} (rerun with --debug for the "
            "traceback)"), 1


def _fail(exc: BaseException, message: str, code: int, as_json: bool = False) -> None:
    if _state["debug"]:
        traceback.print_exception(exc)
    line = plain(" ".join(message.split()))  # one line, whatever the exception held
    if as_json:
        sys.stdout.write(json.dumps({"error": line, "code": code}) + "\n")
    err_console.print(Text.assemble(("error:", "red"), " " + line), highlight=False,
                      soft_wrap=True)
    raise typer.Exit(code) from None


def emit(data: Any, as_json: bool) -> bool:
    """Print ``data`` as JSON when ``as_json``; return True if it was printed."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    return as_json


def print_table(title: str, cols: list[str], rows: list[list[str]]) -> None:
    """``rows`` (text, shown literally) under ``cols`` as a table whose columns are at least
    their longest word wide (cells wrap between words, never cut: run ids go into commands);
    on a terminal too narrow for that (80 columns), each row as its first cell, then
    ``column value; ...`` on an indented line, instead of a table of cut cells."""
    from rich.table import Table

    widths = [max(len(w) for text in [c, *(r[i] for r in rows)] for w in text.split() or [""])
              for i, c in enumerate(cols)]
    if sum(w + 3 for w in widths) + 1 > console.width:
        console.print(title)
        for r in rows:
            console.print(r[0])
            console.print("  " + "; ".join(f"{c} {v}" for c, v in zip(cols[1:], r[1:],
                                                                      strict=True) if v))
        return
    table = Table(title=title)
    for col, width in zip(cols, widths, strict=True):
        table.add_column(col, min_width=width)
    for r in rows:
        table.add_row(*r)
    console.print(table)


def _version(value: bool) -> None:
    if value:
        console.print(f"hwadapt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    threads: Annotated[int | None, typer.Option(
        "--threads", min=1, help="Threads for every compute pool (torch, BLAS, numba, Aer); "
        "default: $HWADAPT_THREADS, else the cores available.")] = None,
) -> None:
    _state["debug"] = debug
    try:
        set_threads(threads)
    except HwadaptError as e:
        _fail(e, str(e), e.exit_code)


def main() -> None:
    """Console entry point. Usage errors (unknown option, missing argument) are one line
    too, exit 2; with ``--json`` also a JSON error on stdout."""
    try:  # typer >= 0.2x vendors click: its exceptions, not an installed click's (ray brings one)
        from typer._click.exceptions import ClickException
    except ImportError:
        from click.exceptions import ClickException

    logging.getLogger("qiskit_ibm_runtime").setLevel(logging.ERROR)  # no account chatter
    try:
        rv = app(prog_name="hwadapt", standalone_mode=False)
    except ClickException as e:
        ctx = getattr(e, "ctx", None)
        hint = f" (`{ctx.command_path} --help` lists the options)" if ctx else ""
        line = plain(" ".join(e.format_message().split())) + hint
        if "--json" in sys.argv:
            sys.stdout.write(json.dumps({"error": line, "code": e.exit_code}) + "\n")
        err_console.print(Text.assemble(("error:", "red"), " " + line), highlight=False,
                          soft_wrap=True)
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
