"""``finetune``: the MNIST study, or with ``--quantum`` hybrid fine-tuning on a backend."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hwadapt.cli.core import (
    DEFAULT_LEDGER,
    ExecutorOpt,
    JsonOpt,
    LedgerOpt,
    RayAddressOpt,
    WorkersOpt,
    command,
    console,
    emit,
    executor_from,
)
from hwadapt.errors import InputError


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
    batch_bindings: Annotated[int, typer.Option(
        help="--quantum: at most this many bindings per batch (0: one batch per step), so "
             "--workers share a step's bindings; the estimates depend on it, not on the "
             "executor.")] = 0,
    force: Annotated[bool, typer.Option(
        "--force", help="--quantum: run even when a step's local simulation is modelled "
                        "above an hour.")] = False,
    ledger: LedgerOpt = DEFAULT_LEDGER,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    ray_address: RayAddressOpt = None,
) -> None:
    """The paper's MNIST study: pretrain on digits 0-4, fine-tune on 5-9 per arm and seed
    (one task per arm × seed on --executor/--workers); writes study.json, README.md and PNG
    plots. With --quantum: hybrid fine-tuning on a backend
    (hwadapt.training.quantum_task.quantum_finetune)."""
    import time

    _check_finetune_options(quantum, backend, shots, seeds, epochs, pretrain_epochs, threads,
                            max_per_class, out)
    with executor_from(executor, workers, ray_address) as ex:
        if not quantum:
            _study(methods, seeds, epochs, pretrain_epochs, hidden, data_dir, max_per_class,
                   threads, out, as_json, ex)
            return
        from hwadapt.training.quantum_task import quantum_finetune

        out = out or Path("results/runs") / time.strftime("hybrid-%Y%m%d-%H%M%S")
        rep = quantum_finetune(backend, out=out, ledger=ledger, qubits=qubits,
                               hidden=hidden or 16, steps=steps, shots=shots,
                               gradient=gradient, construction=construction, batch=batch,
                               lr=lr, eval_repeats=eval_repeats,
                               pretrain_epochs=pretrain_epochs, warm_epochs=epochs,
                               max_per_class=max_per_class, progress=not as_json,
                               batch_bindings=batch_bindings, executor=ex, force=force)
    if emit({"out": str(out), **rep}, as_json):
        return
    _print_hybrid(rep, out, backend, eval_repeats, steps)


def _study(methods: str, seeds: int, epochs: int, pretrain_epochs: int, hidden: int | None,
           data_dir: Path | None, max_per_class: int | None, threads: int, out: Path | None,
           as_json: bool, executor) -> None:
    """``finetune`` without ``--quantum``: the MNIST study, printed or as JSON."""
    import time

    from hwadapt.training.experiment import ARMS, StudyConfig, run_study
    from hwadapt.training.report import claims, table_markdown

    arms = [m.strip() for m in methods.split(",") if m.strip()] or list(ARMS)
    cfg = StudyConfig(methods=arms, seeds=seeds, epochs=epochs, pretrain_epochs=pretrain_epochs,
                      hidden=hidden or 256, data_dir=None if data_dir is None else str(data_dir),
                      max_per_class=max_per_class, threads=threads)
    out = out or Path("results/runs") / time.strftime("mnist-%Y%m%d-%H%M%S")
    study = run_study(cfg, out=out, progress=not as_json, executor=executor)
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
    runs = "1 run" if eval_repeats == 1 else f"{eval_repeats} runs: mean ± std"
    for col in ("model", f"estimated on {backend} ({runs})", "exact simulation"):
        table.add_column(col)
    for key, label in (("warm_start", "classical warm start"),
                       ("fine_tuned", f"after {steps} hybrid step{'s' * (steps != 1)}")):
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
