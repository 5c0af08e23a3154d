"""Analysis commands: compare (a run vs exact simulation) and sweep (noise scales)."""

from __future__ import annotations

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
    RunArg,
    WorkersOpt,
    command,
    console,
    emit,
    err_console,
    executor_from,
    print_table,
)
from hwadapt.progress import plain


@command
def compare(
    run: RunArg,
    plot: Annotated[bool, typer.Option("--plot", help="Write PNG plots to the run folder.")]
    = False,
    mitigate: Annotated[str | None, typer.Option(
        help="none | readout (mthree) | learned (response map from the run's [calibration] "
             "inputs; on an Estimator run one affine map per observable) | learned+readout.")]
    = None,
    as_json: JsonOpt = False,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Compare a run's stored results with exact simulation (TVD, L2 error, coverage)."""
    from hwadapt.compare import compare_run
    from hwadapt.execution.summary import resolve_run

    run_id = resolve_run(ledger, run)
    out = compare_run(ledger, run_id, mitigate=mitigate, plot=plot)
    if out.get("estimator"):  # an Estimator run: observables vs exact
        if not emit(out, as_json):
            _print_observables(run_id, out)
        return
    if emit({k: v for k, v in out.items() if k not in ("estimate", "exact")}, as_json):
        return
    a = out["aggregate"]
    mitigate = out["mitigate"]
    sim = f" ({', '.join(out['simulated_with'])})" if out.get("simulated_with") else ""
    table = Table(title=f"{run_id} on {out['backend']}{sim} vs exact"
                        f"{' (' + mitigate + ' mitigation)' if mitigate else ''}")
    for col in ("metric", "value"):
        table.add_column(col)
    signed = a["sign_agreement"] is not None
    rows = [("inputs × components", f"{a['inputs']} × {a['components'] // a['inputs']}"),
            ("TVD (mean / max)", f"{a['tvd']:.4f} / {a['tvd_max']:.4f}"),
            ("relative L2 error" + ("" if signed else " of magnitudes"), f"{a['rel_l2']:.4f}"),
            ("within 2·stderr (total / shot noise only)",
             f"{a['coverage_2se']:.1%} / {a['coverage_2se_stat']:.1%}"),
            ("systematic σ (cross-validated)", "not measured (" + (
                "calibration inputs without counts" if out.get("calibration_unmeasured")
                else "no [calibration] inputs") + "): error bars are shot noise only"
             if a["systematic"] is None else f"{a['systematic']:.4f}"),
            ("signs agree", f"{a['sign_agreement']:.1%}" if signed else
             "not measured (no sign family): magnitudes compared"),
            ("postselection rate (obs / ideal)", f"{a['rate']:.4f} / {a['rate_ideal']:.4f}"),
            ("discarded by HW check", f"{a['hw_discarded']:.2%}")]
    readout = out["mitigation"].get("readout", "mthree")
    if readout != "mthree":  # --mitigate readout on a backend without readout errors
        rows.append(("readout mitigation", readout))
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
        for key in ("tvd", "rel_l2", "coverage_2se", "coverage_2se_stat", "systematic",
                    "sign_agreement", "rate", "rate_ideal", "hw_discarded"):
            side.add_row(key, *(f"{v[key]:.4f}" if v[key] is not None else "-"
                                for v in out["by_mode"].values()))
        console.print(side)
    console.print(f"wrote {out['path']}" + "".join(f", {p}" for p in out.get("plots", [])))


def _print_observables(run_id: str, out: dict) -> None:
    """Table of an Estimator run's compare (:func:`hwadapt.expectations.
    compare_estimator_run`): per observable, then overall, then what the ± covers."""
    a = out["aggregate"]
    table = Table(title=f"{run_id} on {out['backend']}: observables vs exact "
                        f"({a['inputs']} inputs, {out['shots']} shots each)")
    calibrated = bool(out.get("calibration_inputs"))
    cols = ["observable", "mean |error|", "max |z|", "within 2σ"]
    cols += ["within 2σ, shot noise only", "σ_sys"] if calibrated else []
    for col in cols:
        table.add_column(col)

    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    for row in [*out["by_observable"], {"name": "all", **a}]:
        cells = [row["name"], fmt(row["mean_abs_error"], ".4f"),
                 fmt(row["max_abs_z"], ".2f"), fmt(row["coverage_2se"], ".1%")]
        if calibrated:
            cells += [fmt(row["coverage_2se_stat"], ".1%"), fmt(row.get("systematic"), ".4f")]
        table.add_row(*cells)
    console.print(table)
    console.print(f"postselection rate <P0> (obs / ideal): {a['rate']:.4f} / "
                  f"{a['rate_ideal']:.4f}; ± = {out['error_bars']}", highlight=False)
    console.print(f"wrote {out['path']}")


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
    force: Annotated[bool, typer.Option("--force", help="Run even above submit's "
                                        "planned-work and simulation-time limits.")] = False,
    as_json: JsonOpt = False,
    ledger: LedgerOpt = DEFAULT_LEDGER,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    ray_address: RayAddressOpt = None,
) -> None:
    """Run SPEC on aer_noisy at several noise scales/devices (one ledger run each) and
    compare each with exact: writes sweep.json and sweep.png in <runs>/<sweep>/. The
    settings' batches run together on --executor/--workers."""
    from hwadapt.spec import load_spec
    from hwadapt.sweep import parse_scales, plan_settings, run_sweep

    load_spec(spec)  # a bad spec is one line before an executor starts (Ray: seconds)
    settings = plan_settings(noise_from, [d.strip() for d in devices.split(",") if d.strip()],
                             parse_scales(scales))

    def done(s: dict) -> None:
        err_console.print(f"{s['noise_from']}: run {s['run']} {s['status']}, "
                          f"TVD {s['aggregate']['tvd']:.4f}", highlight=False)

    with executor_from(executor, workers, ray_address) as ex:
        state = run_sweep(spec, ledger, settings, mitigate=mitigate, resume=resume, force=force,
                          progress=not as_json, on_run=None if as_json else done, executor=ex)
    if emit(state, as_json):
        return
    rows = []
    for s in state["settings"]:
        aggs = [("", s["aggregate"])]
        if mitigate:
            aggs.append((f" ({mitigate})", s[f"aggregate_{mitigate}"]))
        rows += [[s["device"], f"{s['scale']:g}{tag}", s["run"], f"{a['tvd']:.4f}",
                  f"{a['rel_l2']:.4f}", f"{a['coverage_2se']:.1%}", f"{a['hw_discarded']:.2%}",
                  f"{a['rate']:.4f}/{a['rate_ideal']:.4f}"] for tag, a in aggs]
    print_table(f"sweep {state['sweep']} ({plain(state['name'])} on aer_noisy) vs exact",
                ["device", "scale", "run", "TVD", "rel. L2", "within 2·se", "HW discarded",
                 "rate (obs/ideal)"], rows)
    for note in sorted({s["error_bars"] for s in state["settings"]
                        if s["aggregate"]["systematic"] is None}):
        console.print(f"within 2·se: {note}", highlight=False, markup=False)
    console.print(f"wrote {state['path']}, {state['plot']}")
