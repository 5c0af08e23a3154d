"""Noise sweep: one spec on ``aer_noisy`` across devices × noise scales, then compared.

Experiment and analysis are separate: every setting ``(device, scale)`` is an ordinary ledger
run on ``aer_noisy`` with ``--noise-from <device>@<scale>`` (:mod:`hwadapt.backends.noise`;
0 = ideal),
submitted and driven by :mod:`hwadapt.execution.manager`, so a crashed sweep resumes like any
run. The analysis is :func:`hwadapt.compare.compare_run` on each finished run. The sweep's
state lives in ``<runs dir>/<sweep id>/sweep.json`` (written atomically after every step):
the spec path and digest, the settings, their run ids, aggregate metrics and what their error
bars cover (``error_bars``, as ``compare`` says it); ``sweep.png``
plots TVD, relative L2 error, 2·stderr coverage and HW-discarded fraction vs noise scale.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from pathlib import Path
from typing import Any

from hwadapt.errors import InputError
from hwadapt.fileio import atomic_write

METRICS = ("tvd", "rel_l2", "coverage_2se", "hw_discarded")
DEFAULT_SCALES = (0.0, 0.5, 1.0, 2.0)


def parse_scales(text: str) -> list[float]:
    """``"0,0.5,1,2"`` → ``[0.0, 0.5, 1.0, 2.0]`` (finite, >= 0, distinct)."""
    try:
        scales = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise InputError(f"--scales {text!r} is not a comma-separated list of numbers: "
                         "use e.g. --scales 0,0.5,1,2") from None
    if not scales or any(not math.isfinite(s) or s < 0 for s in scales):
        raise InputError(f"--scales {text!r}: give one or more finite numbers >= 0, "
                         "e.g. --scales 0,0.5,1,2")
    if len(set(scales)) != len(scales):
        raise InputError(f"--scales {text!r} repeats a value: list each scale once")
    return scales


def plan_settings(noise_from: str | None, devices: list[str], scales: list[float]
                  ) -> list[dict[str, Any]]:
    """Settings ``[{device, scale, noise_from}, ...]`` for every device × scale.

    Devices: ``noise_from`` (if given) then ``devices``, deduplicated; neither given means
    :data:`hwadapt.backends.DEFAULT_NOISE_DEVICE`. Each must be a known fake device.
    """
    from hwadapt.backends import DEFAULT_NOISE_DEVICE, fake_device_names
    from hwadapt.backends.noise import noise_source

    names = ([noise_from] if noise_from else []) + list(devices)
    names = list(dict.fromkeys(names)) or [DEFAULT_NOISE_DEVICE]
    known = fake_device_names()
    for d in names:
        if "@" in d:
            raise InputError(f"device {d!r}: give scales with --scales, not '@' in the name")
        if d not in known:
            raise InputError(f"unknown fake device {d!r}: run `hwadapt backends` for the list "
                             "(e.g. fake_torino)")
    return [{"device": d, "scale": s, "noise_from": noise_source(d, s)}
            for d in names for s in scales]


def _save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(json.dumps(state, indent=1).encode()))


def sweep_state(ledger_path: str | Path, sweep_id: str) -> dict:
    """The stored state of sweep ``sweep_id`` (its ``sweep.json``)."""
    from hwadapt.execution.ledger import Ledger

    path = Ledger(ledger_path, readonly=True).runs_dir / sweep_id / "sweep.json"
    if not path.is_file():
        raise InputError(f"no sweep {sweep_id!r} ({str(path)!r} not found): check the id "
                         "printed by `hwadapt sweep`")
    return json.loads(path.read_text())


def run_sweep(spec_path: str | Path, ledger_path: str | Path, settings: list[dict],
              mitigate: str | None = None, resume: str | None = None, plot: bool = True,
              progress: bool = False, on_run=None, executor=None, force: bool = False
              ) -> dict:
    """Run (or with ``resume``, continue) the sweep; returns the final ``sweep.json`` dict.
    ``force`` lifts the planned-work and simulation-time limits of ``submit``.

    ``settings`` from :func:`plan_settings`; with ``resume`` they must equal the stored ones
    and the spec file must be unchanged. ``mitigate="readout"`` adds mitigated metrics per
    setting (calibration stored in each run's folder). ``on_run(setting)`` is called after
    each setting's run is recorded. ``executor`` (:mod:`hwadapt.executors`, parallel): the
    settings' runs are created here, then all their batches run as tasks on it at once
    (:func:`hwadapt.execution.parallel.drive_runs`; this process alone writes the ledger).
    A new sweep writes nothing (ledger, ``sweep.json``) until its first run is recorded: one
    refused by a limit, or stopped before, leaves no trace.
    """
    from hwadapt.compare import check_mitigation, compare_run
    from hwadapt.execution import manager
    from hwadapt.execution.ledger import Ledger, runs_dir_of
    from hwadapt.spec import load_spec

    mitigate = check_mitigation(mitigate)
    spec = load_spec(spec_path)
    if spec.circuit.encoding != "unary":
        raise InputError(f"sweep compares unary encodings only, the spec has "
                         f"{spec.circuit.encoding!r}")
    ledger = Ledger(ledger_path) if resume else None  # a new sweep: opened once it has a run
    if resume:
        state = sweep_state(ledger_path, resume)
        if state["spec_sha256"] != spec.digest:
            raise InputError(f"sweep {resume} was run on a different version of "
                             f"{state['spec']!r}: restore it or start a new sweep")
        planned = [(s["device"], s["scale"]) for s in state["settings"]]
        if planned != [(s["device"], s["scale"]) for s in settings]:
            raise InputError(f"sweep {resume} was planned with settings {planned}: pass the "
                             "same --noise-from/--devices/--scales or start a new sweep")
        state["mitigate"] = mitigate
    else:
        sweep_id = time.strftime("sweep-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        state = {"sweep": sweep_id, "spec": str(Path(spec_path).resolve()),
                 "spec_sha256": spec.digest, "name": spec.name, "backend": "aer_noisy",
                 "mitigate": mitigate,
                 "settings": [{**s, "run": None, "status": None} for s in settings]}
    out_dir = runs_dir_of(ledger_path) / state["sweep"]
    path = out_dir / "sweep.json"
    if resume:
        _save(path, state)
    if executor is not None and executor.parallel:
        ledger = _drive_parallel(state, path, spec_path, ledger_path, ledger, executor,
                                 progress, force)
    for s in state["settings"]:
        if s["run"] is None:
            def created(run_id: str, s=s) -> None:
                s["run"] = run_id
                _save(path, state)

            manager.submit(spec_path, "aer_noisy", ledger_path, noise_from=s["noise_from"],
                           progress=progress, on_created=created, force=force)
            ledger = ledger or Ledger(ledger_path)
        elif ledger.run(s["run"])["status"] == "active":
            manager.resume(ledger_path, s["run"], progress=progress)
        s["status"] = ledger.run(s["run"])["status"]
        compared = compare_run(ledger_path, s["run"])
        s["aggregate"], s["error_bars"] = compared["aggregate"], compared["error_bars"]
        if mitigate:
            s[f"aggregate_{mitigate}"] = compare_run(ledger_path, s["run"], mitigate)["aggregate"]
        _save(path, state)
        if on_run:
            on_run(s)
    if plot:
        state["plot"] = str(plot_sweep(state, out_dir / "sweep.png"))
    state["path"] = str(path)
    _save(path, state)
    return state


def _drive_parallel(state: dict, path: Path, spec_path: str | Path, ledger_path: str | Path,
                    ledger, executor, progress: bool, force: bool):
    """Build every setting's run not yet created (one task each on ``executor``; recorded
    here as each arrives; ``ledger`` None, a new sweep: opened with the first), then drive
    all active ones together on it; the per-setting loop then finds them finished and only
    compares. Returns the open :class:`~hwadapt.execution.ledger.Ledger`."""
    from hwadapt.execution import manager
    from hwadapt.execution.build import build_task
    from hwadapt.execution.ledger import Ledger
    from hwadapt.execution.parallel import drive_runs
    from hwadapt.execution.submit import record_run
    from hwadapt.progress import ProgressBar

    todo = [s for s in state["settings"] if s["run"] is None]
    items = [(str(Path(spec_path).resolve()), "aer_noisy", s["noise_from"], force)
             for s in todo]
    leases = {}
    bar = ProgressBar(progress, f"building {len(todo)} runs on {executor.describe()}",
                      len(todo))
    try:
        for i, built in executor.map_unordered(build_task, items):
            ledger = ledger or Ledger(ledger_path)
            _, todo[i]["run"], leases[todo[i]["run"]] = record_run(ledger, built)
            _save(path, state)
            bar.advance()
        bar.close()
        ledger = ledger or Ledger(ledger_path)  # a resumed sweep with every run created
        active = [s["run"] for s in state["settings"]
                  if ledger.run(s["run"])["status"] == "active"]
        runs = [manager.load_run(ledger, rid) for rid in active]
    except BaseException:
        bar.close()
        for rid, token in leases.items():
            ledger.release(rid, token)
        raise
    drive_runs(ledger, runs, executor, progress, [leases.get(rid) for rid in active])
    return ledger


def plot_sweep(state: dict, path: Path) -> Path:
    """Error vs noise scale, one line per device (dashed: readout-mitigated), 4 panels; the
    coverage panel says whether its error bars are shot noise only or include the
    calibrated systematic term."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stat = {s["aggregate"]["systematic"] is None for s in state["settings"]
            if s.get("aggregate")}  # True: no calibration measured the device's bias
    bars = {frozenset({True}): "shot noise only", frozenset({False}): "total"}.get(
        frozenset(stat), "total; shot noise only without calibration counts")
    labels = {"tvd": "TVD (postselected)", "rel_l2": "relative L2 error of ŷ",
              "coverage_2se": f"fraction within 2·stderr ({bars})",
              "hw_discarded": "HW-discarded shots"}
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.6))
    devices = list(dict.fromkeys(s["device"] for s in state["settings"]))
    mit = state.get("mitigate")
    for ax, m in zip(axes, METRICS, strict=True):
        for d in devices:
            rows = sorted((s["scale"], s) for s in state["settings"]
                          if s["device"] == d and s.get("aggregate"))
            xs = [r[0] for r in rows]
            line = ax.plot(xs, [r[1]["aggregate"][m] for r in rows], "o-", label=d)[0]
            if mit and all(f"aggregate_{mit}" in r[1] for r in rows):
                ax.plot(xs, [r[1][f"aggregate_{mit}"][m] for r in rows], "s--",
                        color=line.get_color(), label=f"{d}, {mit} mitigated")
        ax.set(xlabel="noise scale (× device errors)", title=labels[m])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    name = state["name"].replace("$", r"\$")  # shown as written: no mathtext
    fig.suptitle(f"{name}: sweep {state['sweep']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
