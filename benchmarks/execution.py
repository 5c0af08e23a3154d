"""The demo's noisy sampling on aer_noisy vs Qiskit Runtime local mode on the fake device.

All three sample the same ISA circuit (the demo's magnitude family, transpiled for
fake_torino), its target bindings (16 inputs; the calibration inputs are left out, as in the
issue's measurement), the same raw shots per binding (the first planned round),
Aer on ``--threads`` threads (1 by default: steadier on a shared machine):

- ours: ``aer_noisy`` (``Backend.run``: the noise model restricted to the circuit's active
  qubits and built once per device and qubits, Aer's method chosen by size, one PUB);
- ``local_one_call``: what a competent Qiskit user writes, ``SamplerV2(mode=FakeTorino())``
  with the whole PUB in one call (local testing mode builds the device's noise model and
  runs Aer on it);
- ``local_per_input``: the naive form, one local-mode call per binding (``--naive-inputs``
  of them timed, scaled to all bindings).

Rounds are interleaved (each round times every variant once); a ratio is taken per round
against ours; the JSON holds median and spread over the rounds, the 1-minute load average
before and after, and one ``hwadapt submit`` of the whole demo (targets and calibration
inputs, every family) on aer_noisy, timed once. Writes results/benchmarks/execution.json.
    .venv/bin/python benchmarks/execution.py [--rounds 10] [--naive-inputs 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from adapters import _spread  # the benchmarks' one median/quartile summary

from hwadapt.backends import fake_backend, get_backend, runtime_sampler
from hwadapt.execution import batching, manager
from hwadapt.spec import build_families, load_spec
from hwadapt.threads import set_threads

ROOT = Path(__file__).parents[1]


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(ROOT / "jobs" / "demo.toml"))
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--naive-inputs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "execution.json"))
    args = ap.parse_args()
    set_threads(args.threads)  # every pool, Aer in local mode included (through OMP)
    spec = load_spec(args.spec)
    backend = get_backend("aer_noisy")
    fam = build_families(spec)[0]
    isa = manager.transpile(fam.circuit, backend, spec.optimization_level, spec.seed)
    rates = manager.exact_rates(fam)
    shots = batching.first_round_shots(rates, spec.shots.target_accepted, spec.shots.pilot,
                                       len(fam.values))
    shots = int(batching.round_shots(int(shots.max())))  # one PUB: one shot count
    values = fam.values[:len(fam.values) - fam.calibration]
    n, k = len(values), min(args.naive_inputs, len(values))
    pub = (isa, values, shots)

    def ours():
        res = backend.run([pub], seed=1, tag="bench").result()
        assert res[0].join_data().shape == (n,)

    def local_one_call():
        runtime_sampler(fake_backend(backend.device)).run([pub]).result()

    def local_per_input():
        for i in range(k):
            runtime_sampler(fake_backend(backend.device)).run([(isa, values[i], shots)]).result()

    variants = {"ours": ours, "local_one_call": local_one_call,
                "local_per_input": local_per_input}
    scale = {"local_per_input": n / k}
    ours()  # the noise model and the device are cached by every variant's first call
    local_one_call()
    load0 = os.getloadavg()[0]
    times: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(args.rounds):
        for name, fn in variants.items():
            times[name].append(_timed(fn) * scale.get(name, 1.0))
        print(f"round {r}: " + ", ".join(f"{v} {t[-1]:.2f} s" for v, t in times.items()),
              flush=True)
    load1 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        rid = manager.submit(args.spec, "aer_noisy", Path(d) / "l.db")
        t_demo = time.perf_counter() - t
        s = manager.summary(manager.Ledger(Path(d) / "l.db"), rid)
    out = {
        "spec": str(Path(args.spec).relative_to(ROOT)), "device": backend.device,
        "bindings": n, "shots_per_binding": shots, "threads": args.threads,
        "isa_two_qubit_gates":
            sum(v for g, v in isa.count_ops().items() if g in ("cz", "ecr", "cx")),
        "rounds": args.rounds, "loadavg_1min": [load0, load1], "cpus": os.cpu_count(),
        "naive_inputs_timed": k,
        "seconds": {v: _spread(t) for v, t in times.items()},
        "ratio_vs_ours": {v: _spread([a / b for a, b in zip(t, times["ours"], strict=True)])
                          for v, t in times.items()},
        "demo_submit_wall_s": round(t_demo, 2), "demo_status": s["status"],
        "demo_raw_shots": sum(f["raw_shots"] for f in s["families"]),
        "demo_families": [f["name"] for f in s["families"]],
    }
    print(json.dumps(out, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
