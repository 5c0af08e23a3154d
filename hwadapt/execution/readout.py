"""Readout calibration of a run's measured physical qubits (mthree), stored with the run.

Taken at submit time for ``fake_*`` and ``ibm_*`` runs (an ``ibm_*`` calibration is a device
job, so it rides along with the run instead of being needed later by ``compare``), and on
demand by ``hwadapt compare --mitigate readout`` for ``aer_noisy``/``fake_*`` runs that have
none (local simulation, no device job).
"""

from __future__ import annotations

import json
from pathlib import Path

from hwadapt.backends import Backend, restricted_noise_model
from hwadapt.errors import InputError

READOUT_CALS = "readout-cals.json"
"""mthree calibration stored in a run's folder (mthree's JSON plus ``physical_qubits``)."""
CAL_SHOTS = 20_000


def measured_qubits(isa) -> list[int]:
    """``q[i]`` = physical qubit measured into classical bit ``i`` of an ISA circuit."""
    q = [-1] * isa.num_clbits
    for inst in isa.data:
        if inst.operation.name == "measure":
            q[isa.find_bit(inst.clbits[0]).index] = isa.find_bit(inst.qubits[0]).index
    if min(q) < 0:
        raise InputError("a stored circuit does not measure every classical bit")
    return q


def store_readout_calibration(run_dir: Path, m3, physical_qubits: list[int]) -> Path:
    """Write calibrated ``m3`` (cal qubit ``j`` = physical ``physical_qubits[j]``) to
    ``run_dir/readout-cals.json``; ``compare`` reuses it instead of calibrating."""
    path = Path(run_dir) / READOUT_CALS
    tmp = path.with_suffix(".tmp")
    m3.cals_to_file(str(tmp))
    data = json.loads(tmp.read_text())
    data["physical_qubits"] = [int(q) for q in physical_qubits]
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
    return path


def calibrate_readout(backend: Backend, qubits: list[int], seed: int):
    """mthree calibration of physical ``qubits`` (sorted, distinct) on ``backend``; returns
    the calibrated ``M3Mitigation`` (cal qubit ``j`` = ``qubits[j]``), ``None`` on ideal
    backends. ``aer_noisy``/``fake_*``: local Aer on the run's restricted (scaled) noise
    model, seeded; ``ibm_*``: mthree's calibration circuits on the device (a device job)."""
    import mthree

    if backend.kind in ("exact", "aer"):
        return None
    if backend.kind == "ibm":
        m3 = mthree.M3Mitigation(backend.transpile_target)
        m3.cals_from_system(list(qubits), shots=CAL_SHOTS)
        return m3
    from qiskit_aer import AerSimulator

    noise = restricted_noise_model(backend.device, tuple(qubits), backend.noise_scale)
    m3 = mthree.M3Mitigation(AerSimulator(noise_model=noise, seed_simulator=seed))
    m3.cals_from_system(list(range(len(qubits))), shots=CAL_SHOTS)
    return m3


def calibrate_run_readout(run_dir: Path, backend: Backend, isa: list, seed: int) -> Path | None:
    """Calibrate the physical qubits the run's ISA circuits measure and store the result in
    ``run_dir`` (``None``: ideal backend, nothing to calibrate)."""
    qubits = sorted({q for c in isa for q in measured_qubits(c)})
    m3 = calibrate_readout(backend, qubits, seed)
    return None if m3 is None else store_readout_calibration(run_dir, m3, qubits)


__all__ = ["CAL_SHOTS", "READOUT_CALS", "calibrate_readout", "calibrate_run_readout",
           "measured_qubits", "store_readout_calibration"]
