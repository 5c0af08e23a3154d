"""Readout calibration of a run's measured physical qubits (mthree), stored with the run.

Taken at submit time for ``fake_*`` and ``ibm_*`` runs (an ``ibm_*`` calibration is a device
job, so it rides along with the run instead of being needed later by ``compare``), and on
demand by ``hwadapt compare --mitigate readout`` for ``aer_noisy``/``fake_*`` runs that have
none (local simulation, no device job).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hwadapt.backends import Backend
from hwadapt.errors import InputError
from hwadapt.fileio import atomic_write

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
    with tempfile.TemporaryDirectory() as tmp:  # mthree writes only to a file name
        out = Path(tmp) / READOUT_CALS
        m3.cals_to_file(str(out))
        data = json.loads(out.read_text())
    data["physical_qubits"] = [int(q) for q in physical_qubits]
    return atomic_write(Path(run_dir) / READOUT_CALS, lambda f: f.write(json.dumps(data).encode()))


def calibrate_run_readout(run_dir: Path, backend: Backend, isa: list, seed: int) -> Path | None:
    """Calibrate the physical qubits the run's ISA circuits measure and store the result in
    ``run_dir`` (``None``: ideal backend, nothing to calibrate)."""
    qubits = sorted({q for c in isa for q in measured_qubits(c)})
    m3 = backend.calibrate_readout(tuple(qubits), seed, CAL_SHOTS, device_job=True)
    return None if m3 is None else store_readout_calibration(run_dir, m3, qubits)


__all__ = ["CAL_SHOTS", "READOUT_CALS", "calibrate_run_readout",
           "measured_qubits", "store_readout_calibration"]
