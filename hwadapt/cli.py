"""The ``hwadapt`` command line: submit/status/fetch/resume/compare/finetune/backends.

Conventions (DESIGN.md §2): every command takes ``--json`` for machine-readable output
on stdout; human output uses rich. The ledger defaults to ``results/hwadapt.db`` and
moves with ``--ledger PATH`` or ``HWADAPT_LEDGER``. Exit codes: 0 success, 1 a failed
job, 2 bad input. Errors are one line on stderr; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import functools
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hwadapt import __version__
from hwadapt.errors import HwadaptError, InputError

app = typer.Typer(
    name="hwadapt",
    help="Quantum-inspired adapters: PyTorch layers, Qiskit circuits, hardware runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
_state = {"debug": False}

DEFAULT_LEDGER = Path("results/hwadapt.db")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
LedgerOpt = Annotated[
    Path,
    typer.Option("--ledger", envvar="HWADAPT_LEDGER", help="Ledger file (SQLite).",
                 show_default=True),
]


def command(fn: Callable) -> Callable:
    """Register ``fn`` as a subcommand whose errors become one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except HwadaptError as e:
            _fail(e, str(e), e.exit_code)
        except KeyboardInterrupt:
            err_console.print("aborted")
            raise typer.Exit(130) from None
        except Exception as e:  # noqa: BLE001 - last line of defence: one line, no traceback
            _fail(e, f"internal error: {type(e).__name__}: {e} (rerun with --debug for the "
                  "traceback)", 1)

    return app.command()(wrapper)


def _fail(exc: BaseException, message: str, code: int) -> None:
    if _state["debug"]:
        traceback.print_exception(exc)
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True,
                      markup=True)
    raise typer.Exit(code) from None


def emit(data: Any, as_json: bool) -> bool:
    """Print ``data`` as JSON when ``as_json``; return True if it was printed."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    return as_json


def _version(value: bool) -> None:
    if value:
        console.print(f"hwadapt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


@command
def backends(as_json: JsonOpt = False) -> None:
    """List backend names, whether each is usable here, qubit count and basis gates."""
    from hwadapt.backends import list_backends

    with err_console.status("reading device configurations"):
        infos = list_backends()
    if emit([b.to_dict() for b in infos], as_json):
        return
    table = Table(title="hwadapt backends")
    for col in ("name", "usable", "qubits", "basis gates", "note"):
        table.add_column(col)
    for b in infos:
        table.add_row(b.name, "yes" if b.usable else "[red]no[/red]",
                      "" if b.num_qubits is None else str(b.num_qubits),
                      " ".join(b.basis_gates), b.note)
    console.print(table)


def _not_yet(command: str) -> None:
    raise InputError(f"`hwadapt {command}` is not available yet in hwadapt {__version__}; "
                     "see README.md for what this version can run")


@command
def submit(spec: Path, backend: str = "aer_noisy", as_json: JsonOpt = False,
           ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Run a TOML job spec on a backend and record it in the ledger."""
    _not_yet("submit")


@command
def status(run: str | None = None, as_json: JsonOpt = False,
           ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Show runs and their batches."""
    _not_yet("status")


@command
def fetch(run: str, as_json: JsonOpt = False, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Wait for or collect a run's results."""
    _not_yet("fetch")


@command
def resume(run: str | None = None, as_json: JsonOpt = False,
           ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Continue every unfinished run (or one)."""
    _not_yet("resume")


@command
def compare(run: str, as_json: JsonOpt = False, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Compare a run's results with exact simulation."""
    _not_yet("compare")


@command
def finetune(as_json: JsonOpt = False) -> None:
    """Fine-tune the MNIST study's model with adapters."""
    _not_yet("finetune")


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
