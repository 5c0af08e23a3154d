"""Commands on runs and backends: backends, submit, status, runs, fetch, resume, cancel.

``status``, ``runs`` and ``backends`` import neither Qiskit nor torch: they read SQLite and
the shipped device configurations only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from hwadapt.cli.core import (
    DEFAULT_LEDGER,
    RUN_HELP,
    ExecutorOpt,
    JsonOpt,
    LedgerOpt,
    RayAddressOpt,
    RunArg,
    WorkersOpt,
    command,
    console,
    emit,
    err_console,
    executor_from,
    print_table,
)
from hwadapt.errors import HwadaptError
from hwadapt.progress import plain


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
                                        "and simulation-time limits (jobs/README.md).")
                     ] = False,
    mode: Annotated[str | None, typer.Option(
        help="IBM execution mode: job, batch or session (default: the spec's [execution] "
        "mode, else batch when the run has several jobs; local backends ignore it; a refused "
        "session falls back to batch).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Plan the first round and print jobs, PUBs, shots, payload and the "
        "estimated QPU time (docs/IBM.md); submit and write nothing.")] = False,
    max_qpu_seconds: Annotated[float | None, typer.Option(
        "--max-qpu-seconds", min=0.001, help="Refuse the run, before anything is submitted, "
        "if its estimated QPU time exceeds this (default: [execution] max_qpu_seconds)."
        )] = None,
    as_json: JsonOpt = False,
    ledger: LedgerOpt = DEFAULT_LEDGER,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    ray_address: RayAddressOpt = None,
) -> None:
    """Run a TOML job spec on a backend and record it in the ledger (local backends: the
    batches on --executor/--workers; the driver alone writes the ledger)."""
    from hwadapt.execution import manager
    from hwadapt.spec import load_spec

    if dry_run:
        _dry_run(spec, backend, noise_from, force, max_qpu_seconds, as_json)
        return

    def created(run_id: str) -> None:
        err_console.print(f"run {run_id} recorded in {plain(ledger)}", highlight=False)

    load_spec(spec)  # a bad spec is one line before an executor starts (Ray: seconds)
    with executor_from(executor, workers, ray_address, one_run=True) as ex:
        run_id = manager.submit(spec, backend, ledger, noise_from=noise_from, detach=detach,
                                progress=not as_json, on_created=created, force=force,
                                mode=mode, max_qpu_seconds=max_qpu_seconds, executor=ex)
    _show_runs([manager.summary(manager.Ledger(ledger, readonly=True), run_id)], as_json)


def _dry_run(spec: Path, backend: str, noise_from: str | None, force: bool,
             limit: float | None, as_json: bool) -> None:
    """``submit --dry-run``: print the first round's plan and QPU-time estimate; exit 2 if it
    exceeds the limit. Nothing is written."""
    from hwadapt.execution.plan import MAX_SIMULATION_S, check_qpu_seconds, duration
    from hwadapt.execution.submit import plan_only

    plan = plan_only(spec, backend, noise_from, force=force)
    plan["max_qpu_seconds"] = limit if limit is not None else plan["max_qpu_seconds"]
    if not emit(plan, as_json):
        secs = plan["qpu_seconds"]
        console.print(
            f"dry run: {plain(plan['spec'])} on {plain(backend)}, first round (max_rounds "
            f"{plan['max_rounds']}); nothing submitted\n" +
            ("" if plan["planned_on"] == backend else
             f"  no IBM account here: planned on the {plan['planned_on']} snapshot (same "
             "coupling map and basis gates; the live device's durations and calibration "
             "may differ)\n") +
            f"  jobs {plan['jobs']}, PUBs {plan['pubs']}, raw shots {plan['shots']:,}, "
            f"payload {plan['payload_bytes'] / 1e6:.2f} MB\n  QPU time: " +
            ("no durations (a simulator without device timing)" if secs is None else
             f"{secs:.1f} s estimated (circuits {max(plan['circuit_seconds']) * 1e6:.1f} us "
             f"+ rep_delay {plan['rep_delay_s'] * 1e6:.0f} us per shot, "
             f"+ {plan['job_overhead_s']:g} s per job)") +
            ("" if plan["max_qpu_seconds"] is None else
             f"\n  max_qpu_seconds {plan['max_qpu_seconds']:g}") +
            ("" if plan["simulation_seconds"] is None else
             f"\n  local simulation: {duration(plan['simulation_seconds'])} on this "
             "machine (cost model of the Aer method each job gets: within ~2x from 9 "
             "qubits on, below that fixed costs of up to ~0.1 s per binding add to it)" +
             (" — over the limit: submit refuses it without --force"
              if plan["simulation_seconds"] > MAX_SIMULATION_S else "")), highlight=False)
    check_qpu_seconds(plan, plan["max_qpu_seconds"])


def _default_ledger(ledger: Path) -> bool:
    """Whether ``ledger`` is the default one (neither --ledger nor HWADAPT_LEDGER given)."""
    return ledger == DEFAULT_LEDGER and "HWADAPT_LEDGER" not in os.environ


@command
def status(run: Annotated[str | None, typer.Argument(
               help=f"{RUN_HELP} (default: all).")] = None,
           check: Annotated[bool, typer.Option(
               "--check", help="Also run SQLite's integrity check on the ledger and verify "
               "every run's stored files (exit 2 if anything is damaged).")] = False,
           as_json: JsonOpt = False, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Show runs and their batches (read-only: never creates or writes the ledger)."""
    from hwadapt.execution.artifacts import verify_run  # ledger reading only: no Qiskit/torch
    from hwadapt.execution.ledger import Ledger
    from hwadapt.execution.summary import resolve_run, summary

    if run is None and _default_ledger(ledger) and not Path(ledger).exists():
        _show_runs([], as_json, "no runs yet: `hwadapt submit jobs/<spec>.toml` starts one")
        return
    led = Ledger(ledger, readonly=True)
    if check:
        led.check_integrity()
    ids = [led.run(resolve_run(ledger, run))["id"]] if run else [r["id"] for r in led.runs()]
    summaries = [summary(led, r) for r in ids]
    if check:
        for s in summaries:
            if s["status"] != "damaged":
                try:
                    verify_run(led, s["run"])
                except HwadaptError as e:
                    s["status"], s["reason"] = "damaged", str(e)
    _show_runs(summaries, as_json, "no runs in this ledger yet: `hwadapt submit "
               "jobs/<spec>.toml` starts one")
    damaged = [s["run"] for s in summaries if s["status"] == "damaged"]
    if check and damaged:
        raise HwadaptError(f"{len(damaged)} damaged run(s): {', '.join(damaged)}; restore "
                           "their folders from a backup (the ledger file itself is sound)")


@command
def runs(as_json: JsonOpt = False, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """List the runs in the ledger (same as `status` without a run)."""
    status(None, False, as_json, ledger)


@command
def fetch(run: RunArg, as_json: JsonOpt = False, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Wait for or collect a run's results (idempotent)."""
    from hwadapt.execution import manager
    from hwadapt.execution.summary import resolve_run

    _show_runs([manager.fetch(ledger, resolve_run(ledger, run))], as_json)


@command
def resume(run: Annotated[str | None, typer.Argument(help=f"{RUN_HELP} (default: every "
                                                     "unfinished run).")] = None,
           as_json: JsonOpt = False, ledger: LedgerOpt = DEFAULT_LEDGER,
           executor: ExecutorOpt = None, workers: WorkersOpt = None,
           ray_address: RayAddressOpt = None) -> None:
    """Continue every unfinished run (or one); local backends' batches on --executor."""
    from hwadapt.execution import manager
    from hwadapt.execution.summary import resolve_run

    run = None if run is None else resolve_run(ledger, run)
    with executor_from(executor, workers, ray_address, one_run=True) as ex:
        _show_runs(manager.resume(ledger, run, progress=not as_json, executor=ex), as_json,
                   "nothing to resume: every run in this ledger is finished (`hwadapt runs`)")


@command
def cancel(run: RunArg, as_json: JsonOpt = False, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Cancel a run: its remote jobs and every batch not yet done."""
    from hwadapt.execution import manager
    from hwadapt.execution.summary import resolve_run

    _show_runs([manager.cancel(ledger, resolve_run(ledger, run))], as_json)


RUN_COLUMNS = ("run", "name", "backend", "status", "batches", "accepted (min/target)",
               "QPU s (est/used)", "note")


def _show_runs(summaries: list[dict], as_json: bool, empty: str = "") -> None:
    """The runs (:func:`print_table`); the QPU column only when a run has QPU seconds;
    ``empty``: the line printed instead of a table without rows."""
    if emit(summaries, as_json):
        return
    if not summaries and empty:
        console.print(empty)
        return
    rows = [[plain(c) for c in _run_cells(s)] for s in summaries]
    cols = list(RUN_COLUMNS)
    if not any(r[6] for r in rows):  # local runs only
        cols.pop(6)
        rows = [r[:6] + r[7:] for r in rows]
    print_table("hwadapt runs", cols, rows)


def _run_cells(s: dict) -> list[str]:
    """A run summary's cells, in :data:`RUN_COLUMNS` order."""
    target = s["target_accepted"]  # None: an Estimator run (no target)
    acc = " ".join(f"{f['name']}:{_target_min(f)}" + ("" if target is None else f"/{target}")
                   for f in s["families"])
    batches = " ".join(f"{k}={v}" for k, v in sorted(s["batches"].items()))
    note = s["reason"] or ""
    if s.get("driver"):
        note = f"driven by {s['driver']}" + (f"; {note}" if note else "")
    sim = s.get("simulated_with")  # the Aer method(s), where a simulator recorded one
    backend = s["backend"] + (f" ({', '.join(sim)})" if sim else "")
    return [s["run"], s["name"], backend, s["status"], batches, acc,
            _qpu(s.get("qpu_seconds")), note]


def _target_min(family: dict) -> int:
    """Fewest accepted shots of a family's target inputs (its calibration inputs, the last
    rows, have no target: their shots are the spec's ``[calibration] shots``)."""
    acc = family["accepted"]
    return min(acc[:len(acc) - family.get("calibration_inputs", 0)], default=0)


def _qpu(q: dict | None) -> str:
    """``estimated/used`` QPU seconds of a run ("-" where unknown; IBM's own estimate in
    brackets when it has one)."""
    if not q or q["estimated"] is None and q["used"] is None:
        return ""
    est = "-" if q["estimated"] is None else f"{q['estimated']:.1f}"
    ibm = "" if q["ibm_estimated"] is None else f" (IBM {q['ibm_estimated']:.1f})"
    used = "-" if q["used"] is None else f"{q['used']:.1f}"
    return f"{est}{ibm}/{used}"
