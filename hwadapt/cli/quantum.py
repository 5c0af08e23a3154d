"""``quantum-finetune``: the paper's quantum adapter on quantum data (Fig. 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hwadapt.cli.core import DEFAULT_LEDGER, JsonOpt, LedgerOpt, command, console, emit


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
