"""The ``hwadapt`` command line: submit/status/fetch/resume/compare/finetune/backends.

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
import json
import logging
import os
import sqlite3
import statistics
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hwadapt import __version__
from hwadapt.env import check_environment
from hwadapt.errors import HwadaptError, InputError, NetworkError
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
LedgerOpt = Annotated[
    Path,
    typer.Option("--ledger", envvar="HWADAPT_LEDGER", help="Ledger file (SQLite).",
                 show_default=True),
]


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

    return app.command()(wrapper)


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
        table.add_row(b.name, "yes" if b.usable else Text("no", style="red"),
                      "" if b.num_qubits is None else str(b.num_qubits),
                      " ".join(b.basis_gates), b.note)
    console.print(table)


@command
def submit(
    spec: Path,
    backend: Annotated[str, typer.Option(help="exact, aer, aer_noisy, fake_<device>, "
                                         "ibm_<device>")] = "aer_noisy",
    noise_from: Annotated[str | None, typer.Option(
        "--noise-from", help="aer_noisy's noise source (fake_<device>, or "
        "fake_<device>@<scale> for scaled errors).")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="IBM only: submit and return; "
                                         "collect later with fetch/resume.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Run even above the planned-work "
                                        "limits (jobs/README.md).")] = False,
    as_json: JsonOpt = False,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Run a TOML job spec on a backend and record it in the ledger."""
    from hwadapt.execution import manager

    def created(run_id: str) -> None:
        err_console.print(f"run {run_id} recorded in {plain(ledger)}", highlight=False)

    run_id = manager.submit(spec, backend, ledger, noise_from=noise_from, detach=detach,
                            progress=not as_json, on_created=created, force=force)
    _show_runs([manager.summary(manager.Ledger(ledger, readonly=True), run_id)], as_json)


def _default_ledger(ledger: Path) -> bool:
    """Whether ``ledger`` is the default one (neither --ledger nor HWADAPT_LEDGER given)."""
    return ledger == DEFAULT_LEDGER and "HWADAPT_LEDGER" not in os.environ


@command
def status(run: Annotated[str | None, typer.Argument(help="Run id (default: all).")] = None,
           check: Annotated[bool, typer.Option(
               "--check", help="Also run SQLite's integrity check on the ledger and verify "
               "every run's stored files (exit 2 if anything is damaged).")] = False,
           as_json: JsonOpt = False, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Show runs and their batches (read-only: never creates or writes the ledger)."""
    from hwadapt.execution.artifacts import verify_run  # ledger reading only: no Qiskit/torch
    from hwadapt.execution.ledger import Ledger
    from hwadapt.execution.summary import summary

    if run is None and _default_ledger(ledger) and not Path(ledger).exists():
        _show_runs([], as_json)  # nothing submitted yet: no runs
        return
    led = Ledger(ledger, readonly=True)
    if check:
        led.check_integrity()
    ids = [led.run(run)["id"]] if run else [r["id"] for r in led.runs()]
    summaries = [summary(led, r) for r in ids]
    if check:
        for s in summaries:
            if s["status"] != "damaged":
                try:
                    verify_run(led, s["run"])
                except HwadaptError as e:
                    s["status"], s["reason"] = "damaged", str(e)
    _show_runs(summaries, as_json)
    damaged = [s["run"] for s in summaries if s["status"] == "damaged"]
    if check and damaged:
        raise HwadaptError(f"{len(damaged)} damaged run(s): {', '.join(damaged)}; restore "
                           "their folders from a backup (the ledger file itself is sound)")


@command
def runs(as_json: JsonOpt = False, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """List the runs in the ledger (same as `status` without a run)."""
    status(None, False, as_json, ledger)


@command
def fetch(run: str, as_json: JsonOpt = False, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Wait for or collect a run's results (idempotent)."""
    from hwadapt.execution import manager

    _show_runs([manager.fetch(ledger, run)], as_json)


@command
def resume(run: Annotated[str | None, typer.Argument(help="Run id (default: every "
                                                     "unfinished run).")] = None,
           as_json: JsonOpt = False, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Continue every unfinished run (or one)."""
    from hwadapt.execution import manager

    _show_runs(manager.resume(ledger, run, progress=not as_json), as_json)


@command
def cancel(run: str, as_json: JsonOpt = False, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Cancel a run: its remote jobs and every batch not yet done."""
    from hwadapt.execution import manager

    _show_runs([manager.cancel(ledger, run)], as_json)


def _show_runs(summaries: list[dict], as_json: bool) -> None:
    if emit(summaries, as_json):
        return
    table = Table(title="hwadapt runs")
    # ids are copied into fetch/compare: never cut, whatever the terminal's width
    table.add_column("run", no_wrap=True, overflow="fold",
                     min_width=max((len(s["run"]) for s in summaries), default=3))
    for col in ("name", "backend", "status", "batches", "accepted (min/target)", "note"):
        table.add_column(col)
    for s in summaries:
        acc = " ".join(f"{f['name']}:{min(f['accepted'], default=0)}/{s['target_accepted']}"
                       for f in s["families"])
        batches = " ".join(f"{k}={v}" for k, v in sorted(s["batches"].items()))
        note = s["reason"] or ""
        if s.get("driver"):
            note = f"driven by {s['driver']}" + (f"; {note}" if note else "")
        table.add_row(*(plain(c) for c in (s["run"], s["name"], s["backend"], s["status"],
                                            batches, acc, note)))
    console.print(table)


@command
def compare(
    run: Annotated[str, typer.Argument(help="Run id, or 'latest'.")],
    plot: Annotated[bool, typer.Option("--plot", help="Write PNG plots to the run folder.")]
    = False,
    mitigate: Annotated[str | None, typer.Option(
        help="none | readout (mthree) | learned (response map from the run's [calibration] "
             "inputs) | learned+readout.")]
    = None,
    as_json: JsonOpt = False,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Compare a run's stored results with exact simulation (TVD, L2 error, coverage)."""
    from hwadapt.compare import compare_run, latest_run

    run_id = latest_run(ledger) if run == "latest" else run
    out = compare_run(ledger, run_id, mitigate=mitigate, plot=plot)
    if emit({k: v for k, v in out.items() if k not in ("estimate", "exact")}, as_json):
        return
    a = out["aggregate"]
    mitigate = out["mitigate"]
    table = Table(title=f"{run_id} on {out['backend']} vs exact"
                        f"{' (' + mitigate + ' mitigation)' if mitigate else ''}")
    for col in ("metric", "value"):
        table.add_column(col)
    signed = a["sign_agreement"] is not None
    rows = [("inputs × components", f"{a['inputs']} × {a['components'] // a['inputs']}"),
            ("TVD (mean / max)", f"{a['tvd']:.4f} / {a['tvd_max']:.4f}"),
            ("relative L2 error" + ("" if signed else " of magnitudes"), f"{a['rel_l2']:.4f}"),
            ("within 2·stderr (total / shot noise only)",
             f"{a['coverage_2se']:.1%} / {a['coverage_2se_stat']:.1%}"),
            ("systematic σ (cross-validated)", "not measured (no [calibration] inputs): "
             "error bars are shot noise only" if a["systematic"] is None
             else f"{a['systematic']:.4f}"),
            ("signs agree", f"{a['sign_agreement']:.1%}" if signed else
             "not measured (no sign family): magnitudes compared"),
            ("postselection rate (obs / ideal)", f"{a['rate']:.4f} / {a['rate_ideal']:.4f}"),
            ("discarded by HW check", f"{a['hw_discarded']:.2%}")]
    if "downstream" in out:
        d = out["downstream"]
        rows.append((f"digit accuracy, exact / estimate ({d['inputs']} inputs)",
                     f"{d['accuracy_exact']:.1%} / {d['accuracy_estimate']:.1%} "
                     f"(agree {d['agreement']:.1%})"))
    for r in rows:
        table.add_row(*r)
    console.print(table)
    if "by_mode" in out:  # lcu vs separate side by side (spec mode = ["lcu", "separate"])
        side = Table(title="modes side by side")
        side.add_column("metric")
        for m in out["by_mode"]:
            side.add_column(m)
        for key in ("tvd", "rel_l2", "coverage_2se", "sign_agreement", "rate", "rate_ideal",
                    "hw_discarded"):
            side.add_row(key, *(f"{v[key]:.4f}" if v[key] is not None else "-"
                                for v in out["by_mode"].values()))
        console.print(side)
    console.print(f"wrote {out['path']}" + "".join(f", {p}" for p in out.get("plots", [])))


@command
def sweep(
    spec: Path,
    noise_from: Annotated[str | None, typer.Option(
        "--noise-from", help="Device whose errors are scaled (fake_<device>).")] = None,
    scales: Annotated[str, typer.Option(help="Comma-separated factors on the device's "
                                        "errors (0 = ideal).")] = "0,0.5,1,2",
    devices: Annotated[str, typer.Option(help="More devices, comma-separated "
                                         "(fake_torino,fake_sherbrooke).")] = "",
    mitigate: Annotated[str | None, typer.Option(
        help="'readout': also report mthree-mitigated metrics.")] = None,
    resume: Annotated[str | None, typer.Option(
        help="Continue this sweep id (same spec and settings).")] = None,
    as_json: JsonOpt = False,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Run SPEC on aer_noisy at several noise scales/devices (one ledger run each) and
    compare each with exact: writes sweep.json and sweep.png in <runs>/<sweep>/."""
    from hwadapt.sweep import parse_scales, plan_settings, run_sweep

    settings = plan_settings(noise_from, [d.strip() for d in devices.split(",") if d.strip()],
                             parse_scales(scales))

    def done(s: dict) -> None:
        err_console.print(f"{s['noise_from']}: run {s['run']} {s['status']}, "
                          f"TVD {s['aggregate']['tvd']:.4f}", highlight=False)

    state = run_sweep(spec, ledger, settings, mitigate=mitigate, resume=resume,
                      progress=not as_json, on_run=None if as_json else done)
    if emit(state, as_json):
        return
    table = Table(title=f"sweep {state['sweep']} ({state['name']} on aer_noisy) vs exact")
    for col in ("device", "scale", "run", "TVD", "rel. L2", "within 2·se", "HW discarded",
                "rate (obs/ideal)"):
        table.add_column(col)
    for s in state["settings"]:
        rows = [("", s["aggregate"])]
        if mitigate:
            rows.append((f" ({mitigate})", s[f"aggregate_{mitigate}"]))
        for tag, a in rows:
            table.add_row(s["device"], f"{s['scale']:g}{tag}", s["run"], f"{a['tvd']:.4f}",
                          f"{a['rel_l2']:.4f}", f"{a['coverage_2se']:.1%}",
                          f"{a['hw_discarded']:.2%}", f"{a['rate']:.4f}/{a['rate_ideal']:.4f}")
    console.print(table)
    console.print(f"wrote {state['path']}, {state['plot']}")


@command
def finetune(
    methods: Annotated[str, typer.Option(
        help="Comma-separated arms: full, head-only, lora-matched, lora-r8, hamming, "
             "compound, hamming-orth (default: all).")] = "",
    seeds: Annotated[int, typer.Option(help="Number of seeds (0..N-1).")] = 3,
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs on B = {5..9}.")] = 20,
    pretrain_epochs: Annotated[int, typer.Option(help="Pretraining epochs on A.")] = 10,
    hidden: Annotated[int | None, typer.Option(
        help="N_H, a perfect square (default 256 = 16x16; 16 with --quantum).")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Directory with the four MNIST IDX files (.gz or raw); default: the "
             "embedded 5,000 digits.")] = None,
    max_per_class: Annotated[int | None, typer.Option(
        help="Cap samples per class in each split (quick runs).")] = None,
    threads: Annotated[int, typer.Option(help="torch threads (fixed for determinism).")] = 1,
    out: Annotated[Path | None, typer.Option(
        help="Output folder (default: results/runs/mnist-<time>).")] = None,
    as_json: JsonOpt = False,
    quantum: Annotated[bool, typer.Option(
        "--quantum", help="Hybrid run instead of the study: a quantum adapter on fc2 "
        "estimated on --backend (uses --hidden, --pretrain-epochs, --epochs as warm-start "
        "epochs, --max-per-class, --out; resume: rerun with the same --out).")] = False,
    backend: Annotated[str, typer.Option(help="--quantum: exact, aer, aer_noisy, fake_<dev>, "
                                         "ibm_<dev>.")] = "aer_noisy",
    qubits: Annotated[int, typer.Option(help="--quantum: unary qubits per block.")] = 8,
    steps: Annotated[int, typer.Option(help="--quantum: hybrid training steps.")] = 5,
    shots: Annotated[int, typer.Option(help="--quantum: raw shots per circuit.")] = 2000,
    gradient: Annotated[str, typer.Option(
        help="--quantum: exact | parameter_shift | spsa.")] = "spsa",
    batch: Annotated[int, typer.Option(help="--quantum: training samples per step.")] = 16,
    lr: Annotated[float, typer.Option(help="--quantum: Adam learning rate of the hybrid "
                                      "steps (and of the warm start).")] = 0.005,
    construction: Annotated[str, typer.Option(
        help="--quantum: LCU circuits for the 2-term adapter: spectral (fewest 2q gates) | "
             "efficient.")] = "spectral",
    eval_repeats: Annotated[int, typer.Option(
        help="--quantum: independent estimation runs per evaluation (mean ± std).")] = 1,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """The paper's MNIST study: pretrain on digits 0-4, fine-tune on 5-9 per arm and seed;
    writes study.json, README.md and PNG plots. With --quantum: hybrid fine-tuning on a
    backend (hwadapt.training.quantum_task.quantum_finetune)."""
    import time

    _check_finetune_options(quantum, backend, shots, seeds, epochs, pretrain_epochs, threads,
                            max_per_class, out)
    if quantum:
        from hwadapt.training.quantum_task import quantum_finetune

        out = out or Path("results/runs") / time.strftime("hybrid-%Y%m%d-%H%M%S")
        rep = quantum_finetune(backend, out=out, ledger=ledger, qubits=qubits,
                               hidden=hidden or 16, steps=steps, shots=shots,
                               gradient=gradient, construction=construction, batch=batch,
                               lr=lr, eval_repeats=eval_repeats,
                               pretrain_epochs=pretrain_epochs, warm_epochs=epochs,
                               max_per_class=max_per_class, progress=not as_json)
        if emit({"out": str(out), **rep}, as_json):
            return
        _print_hybrid(rep, out, backend, eval_repeats, steps)
        return

    from hwadapt.training.experiment import ARMS, StudyConfig, run_study
    from hwadapt.training.report import claims, table_markdown

    arms = [m.strip() for m in methods.split(",") if m.strip()] or list(ARMS)
    cfg = StudyConfig(methods=arms, seeds=seeds, epochs=epochs, pretrain_epochs=pretrain_epochs,
                      hidden=hidden or 256, data_dir=None if data_dir is None else str(data_dir),
                      max_per_class=max_per_class, threads=threads)
    out = out or Path("results/runs") / time.strftime("mnist-%Y%m%d-%H%M%S")
    study = run_study(cfg, out=out, progress=not as_json)
    if emit({"out": str(out), "summary": study["summary"], "wall_s": study["wall_s"]},
            as_json):
        return
    console.print(table_markdown(study), highlight=False, soft_wrap=True)
    for line in claims(study):
        console.print(f"- {line}", highlight=False, soft_wrap=True)
    console.print(f"wrote {out}/study.json, README.md and plots in {study['wall_s']:.0f} s")


def _print_hybrid(rep: dict, out: Path, backend: str, eval_repeats: int, steps: int) -> None:
    """The B-validation table of a ``finetune --quantum`` report and where it was written."""
    ev = rep["evaluation"]
    table = Table(title=f"B validation ({rep['eval_samples']} samples): accuracy / loss")
    for col in ("model", f"estimated on {backend} ({eval_repeats} run(s): mean ± std)",
                "exact simulation"):
        table.add_column(col)
    for key, label in (("warm_start", "classical warm start"),
                       ("fine_tuned", f"after {steps} hybrid step(s)")):
        table.add_row(label, *(" / ".join(_mean_std(ev[key][src], m) for m in
                                          ("accuracy", "loss"))
                               for src in ("backend", "exact")))
    console.print(table)
    console.print(f"wrote {out}/hybrid.json")


def _check_finetune_options(quantum: bool, backend: str, shots: int, seeds: int, epochs: int,
                            pretrain_epochs: int, threads: int, max_per_class: int | None,
                            out: Path | None) -> None:
    """The options no later check reaches before minutes of pretraining: one-line errors now
    (the rest are validated by ``StudyConfig`` / ``quantum_finetune`` before any work)."""
    for name, value, low in (("--seeds", seeds, 1), ("--epochs", epochs, 0),
                             ("--pretrain-epochs", pretrain_epochs, 0), ("--threads", threads, 1),
                             ("--max-per-class", max_per_class, 1), ("--shots", shots, 1)):
        if value is not None and value < low:
            raise InputError(f"{name} must be >= {low}, got {value}")
    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} is a file: give a folder")
    if quantum:
        from hwadapt.backends import get_backend, ibm_credentials_available

        if not backend.startswith("ibm_"):
            get_backend(backend)  # unknown names fail here (local backends: no network)
        elif not ibm_credentials_available():
            raise InputError("no IBM account: set QISKIT_IBM_TOKEN (and QISKIT_IBM_INSTANCE) "
                             "or save one with QiskitRuntimeService.save_account")


def _mean_std(entry: dict, metric: str) -> str:
    """``"m"`` or ``"m ± s"`` (sample std over the entry's ``runs``, when it has several)."""
    runs = [r[metric] for r in entry.get("runs", ())]
    if len(runs) < 2:
        return f"{entry[metric]:.3f}"
    return f"{entry[metric]:.3f} ± {statistics.stdev(runs):.3f}"


@command
def quantum_finetune(
    qubits: Annotated[int, typer.Option(help="Qubits of the spin chains (3-12).")] = 8,
    layers: Annotated[int, typer.Option(help="U_QNN layers (RY/RZ + CZ line).")] = 3,
    layout: Annotated[str, typer.Option(help="U_QA layout: brick | pyramid.")] = "brick",
    seeds: Annotated[int, typer.Option(help="Number of seeds (0..N-1).")] = 3,
    train: Annotated[int, typer.Option(help="Training ground states per task.")] = 24,
    val: Annotated[int, typer.Option(help="Validation ground states per task.")] = 40,
    pretrain_steps: Annotated[int, typer.Option(help="Adam steps on task A.")] = 150,
    steps: Annotated[int, typer.Option(help="Adam steps per fine-tuning arm on B.")] = 150,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 0.05,
    task_a: Annotated[str, typer.Option(help="Pretraining task: ising | cluster.")] = "ising",
    task_b: Annotated[str, typer.Option(help="Fine-tuning task: ising | cluster.")] = "cluster",
    backend: Annotated[str, typer.Option(
        help="Backend of the short ledger run (aer, aer_noisy, fake_<dev>, ibm_<dev>) or "
             "'none' to skip it.")] = "aer_noisy",
    backend_steps: Annotated[int, typer.Option(help="SPSA steps on --backend.")] = 3,
    shots: Annotated[int, typer.Option(help="Shots per binding on --backend.")] = 1000,
    backend_qubits: Annotated[int, typer.Option(help="Qubits of the --backend run.")] = 4,
    check: Annotated[bool, typer.Option(
        "--check/--no-check", help="Sampler and EstimatorV2 on aer vs exact (a table).")]
    = True,
    variance_max: Annotated[int, typer.Option(
        help="Largest n of the gradient-variance sweep (4, 6, ..; 0 skips DLA and "
             "variance).")] = 12,
    variance_samples: Annotated[int, typer.Option(help="Random draws per variance point.")]
    = 100,
    out: Annotated[Path | None, typer.Option(
        help="Output folder (default: results/runs/qdata-<time>); rerun with the same --out "
             "and --ledger to resume the backend run.")] = None,
    as_json: JsonOpt = False,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """The paper's quantum adapter on quantum data (Fig. 2): pretrain U_QNN on task A,
    fine-tune on task B by full retraining, the LCU adapter, the U_QA warm start and a linear
    probe; DLA dimensions, gradient variance vs n, a short backend run. Writes study.json,
    README.md and quantum_adapter.png."""
    import time

    from hwadapt.errors import InputError
    from hwadapt.quantum.experiment import QuantumStudyConfig
    from hwadapt.quantum.study import run_all

    if variance_max and not 4 <= variance_max <= 14:
        raise InputError(f"--variance-max must be 0 or in 4..14, got {variance_max}")
    if variance_samples < 2:
        raise InputError(f"--variance-samples must be >= 2, got {variance_samples}")
    cfg = QuantumStudyConfig(qubits=qubits, layers=layers, layout=layout, seeds=seeds,
                             train=train, val=val, pretrain_steps=pretrain_steps, steps=steps,
                             lr=lr, task_a=task_a, task_b=task_b)
    cfg.validate()
    if backend != "none":
        from hwadapt.backends import get_backend
        from hwadapt.quantum.backend_run import check_options

        get_backend(backend)  # a bad name fails here, before any training
        check_options(backend_steps, shots, backend_qubits)
    out = out or Path("results/runs") / time.strftime("qdata-%Y%m%d-%H%M%S")
    rep = run_all(cfg, out, ledger=ledger, backend=None if backend == "none" else backend,
                  backend_steps=backend_steps, shots=shots, backend_qubits=backend_qubits,
                  check=check, dla_sizes=(3, 4, 5, 6) if variance_max else (),
                  variance_sizes=tuple(range(4, variance_max + 1, 2)),
                  variance_samples=variance_samples, progress=not as_json)
    if emit({"out": str(out), "summary": rep["summary"], "claims": rep["claims"],
             "slopes": rep["slopes"], "wall_s": rep["wall_s"]}, as_json):
        return
    from hwadapt.quantum.report import table_markdown

    console.print(table_markdown(rep), highlight=False, markup=False)
    for line in rep["claims"]:
        console.print(f"- {line}", highlight=False, markup=False)
    console.print(f"wrote {out}/study.json, README.md and quantum_adapter.png in "
                  f"{rep['wall_s']:.0f} s", highlight=False, markup=False)


def main() -> None:
    """Console entry point. Usage errors (unknown option, missing argument) are one line
    too, exit 2; with ``--json`` also a JSON error on stdout."""
    try:
        from click.exceptions import ClickException
    except ImportError:  # typer >= 0.2x vendors click
        from typer._click.exceptions import ClickException

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


if __name__ == "__main__":
    main()
