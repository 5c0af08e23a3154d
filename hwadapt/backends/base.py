"""The base class every backend kind implements, and the job-status vocabulary they share.

A kind is one module in :mod:`hwadapt.backends` with one :class:`Backend` subclass; its
capabilities are class attributes (``local``, ``retrievable``, ``takes_noise_from``,
``readout_noise``), so nothing outside it switches on its name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar

from hwadapt.errors import InputError
from hwadapt.threads import aer_options


@dataclass(frozen=True)
class BackendInfo:
    """What ``hwadapt backends`` shows for one registry entry."""

    name: str
    kind: str  # exact | aer | aer_noisy | fake | ibm | any registered kind
    usable: bool
    note: str = ""
    num_qubits: int | None = None
    basis_gates: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


FINAL_STATUSES = ("DONE", "ERROR", "CANCELLED")
"""Normalised job statuses after which nothing changes."""

_STATUS_ALIASES = {"INITIALIZING": "QUEUED", "VALIDATING": "QUEUED", "QUEUED": "QUEUED",
                   "RUNNING": "RUNNING", "DONE": "DONE", "ERROR": "ERROR",
                   "CANCELLED": "CANCELLED", "CANCELED": "CANCELLED"}


def estimator_pubs(pubs: list) -> list[tuple]:
    """``[(circuit, observables (K,), values (B, P))]`` -> Qiskit Estimator PUBs whose results
    are ``(B, K)``: observables shaped ``(1, K)``, values ``(B, 1, P)`` (broadcast)."""
    import numpy as np

    return [(c, [list(obs)], np.asarray(v, float)[:, None, :]) for c, obs, v in pubs]


def normalise_status(status: object) -> str:
    """Map a job status (``JobStatus`` enum locally, a string from IBM) to one upper-case word.

    Returns one of QUEUED, RUNNING, DONE, ERROR, CANCELLED; raises ``ValueError`` otherwise.
    """
    word = getattr(status, "name", status)
    word = str(word).strip().upper().rsplit(".", 1)[-1]
    if word not in _STATUS_ALIASES:
        raise ValueError(f"unknown job status {status!r}")
    return _STATUS_ALIASES[word]


@dataclass
class Backend:
    """One execution target: how to make ISA circuits and how to sample them.

    ``transpile_target`` is the BackendV2 circuits are transpiled for (None: no transpiling,
    the backend takes any circuit). ``local`` backends run in this process and their jobs
    cannot be retrieved later (``retrievable`` False), so a crash means re-running.
    Subclasses set the class attributes and override :meth:`matches` (default: the name equals
    ``kind``), :meth:`create`, :meth:`info`, :meth:`run` and, where they have one,
    :meth:`noise_model`.
    """

    name: str
    transpile_target: object | None = None
    device: str | None = None  # fake device for aer_noisy / fake_*; IBM name for ibm_*
    service: object | None = None
    noise_scale: float = 1.0  # aer_noisy: factor on the device's errors (backends.noise)
    sampler_options: dict = field(default_factory=dict)  # Runtime SamplerV2 (fake_*, ibm_*)
    mode: object | None = None  # open Runtime Batch/Session jobs go to (ibm_*), else None
    estimator_options: dict = field(default_factory=dict)  # Runtime EstimatorV2 (ibm_*)

    kind: ClassVar[str] = ""
    names: ClassVar[str] = ""
    """How users write this kind's names, for error messages (``exact``, ``fake_<device>``)."""
    local: ClassVar[bool] = True
    retrievable: ClassVar[bool] = False
    takes_noise_from: ClassVar[bool] = False
    """Whether ``--noise-from`` applies (it picks the noise source)."""
    readout_noise: ClassVar[bool] = True
    """False where readout is ideal: nothing for readout mitigation to correct."""
    readout_at_submit: ClassVar[bool] = False
    """Whether ``submit`` calibrates readout with the run (:meth:`calibrate_readout` on the
    run's measured qubits, stored with it): devices, whose readout drifts."""
    estimator_shared_shots: ClassVar[bool] = True
    """Whether the expectation values of one Estimator PUB are estimated from the same shots
    (correlated; :func:`hwadapt.expectations.shot_correlation`), False where each value
    carries its own independent noise (Aer's Gaussian ``precision``) or none (exact)."""

    @classmethod
    def matches(cls, name: str) -> bool:
        """Whether ``name`` (a ``--backend`` value) belongs to this kind."""
        return name == cls.kind

    @classmethod
    def create(cls, name: str, noise_from: str | None = None, service=None) -> Backend:
        """The backend called ``name`` (``matches(name)`` is true); ``noise_from`` only reaches
        kinds with ``takes_noise_from``; ``service`` replaces the IBM service (tests)."""
        return cls(name)

    @classmethod
    def info(cls) -> list[BackendInfo]:
        """Entries this kind adds to ``hwadapt backends``."""
        raise NotImplementedError

    def run(self, pubs: list, seed: int, tag: str):
        """Submit sampler ``pubs`` ``[(isa_circuit, values (B, P), shots), ...]``; return a job.

        All pubs must have the same shots (one job per shot count). ``seed`` seeds simulators
        (ignored by IBM); ``tag`` labels IBM jobs so orphans can be found by tag.
        """
        raise NotImplementedError

    def estimate(self, pubs: list, seed: int, tag: str, shots: int):
        """Submit Estimator ``pubs`` ``[(isa_circuit, observables, values (B, P)), ...]``
        (``observables``: ``SparsePauliOp`` list on the ISA circuit's qubits); return a job
        whose ``result()[i].data.evs``/``.stds`` are ``(B, len(observables))``. ``shots`` per
        binding (Runtime ``default_shots``; Aer: precision ``1/sqrt(shots)``)."""
        raise InputError(f"backend {self.name} has no Estimator: use exact, aer, aer_noisy, "
                         "fake_<device> or ibm_<device>")

    def simulation_seconds(self, pubs: list) -> float | None:
        """Modelled wall seconds this machine needs to sample one job's ``pubs``
        ``[(isa_circuit, bindings, shots), ...]``; None where that is not the cost that
        matters (remote devices, cheap ideal simulators)."""
        return None

    def job(self, job_id: str):
        """Retrieve a submitted job by id (retrievable backends only)."""
        raise InputError(f"backend {self.name} runs locally: its jobs cannot be retrieved")

    def jobs_with_tag(self, tag: str) -> list:
        """Jobs carrying ``tag`` (retrievable backends): adopts a job submitted just before a
        crash. Local backends have none."""
        return []

    def check_available(self) -> None:
        """:class:`InputError` naming the fix when this backend cannot run new jobs (a
        retired device); jobs already submitted may still be retrievable."""

    def open_mode(self, kind: str, mode_id: str | None = None) -> tuple[str, str | None]:
        """Open a Runtime execution mode (``job``/``batch``/``session``) for the jobs that
        follow, or with ``mode_id`` reattach to one; returns ``(kind used, mode id)``. Local
        kinds accept and ignore modes (Runtime ignores them in local mode): ``("local",
        None)``."""
        return "local", None

    def close_mode(self) -> None:
        """Close the open mode (no new jobs; submitted ones still finish)."""
        self.mode = None

    def noise_model(self, qubits: tuple[int, ...]):
        """Aer ``NoiseModel`` of this backend on physical ``qubits`` (renumbered ``0..len-1``),
        or None where there is no local model (ideal simulators, real devices)."""
        return None

    def calibrate_readout(self, qubits: tuple[int, ...], seed: int, shots: int,
                          device_job: bool = False):
        """Readout-calibration hook: an mthree ``M3Mitigation`` calibrated on physical
        ``qubits`` (calibrated qubit ``j`` = ``qubits[j]``) by simulating :meth:`noise_model`
        with ``seed``, ``shots`` per calibration circuit; None when that needs a device job
        (no local noise model) and ``device_job`` is False (``submit`` passes True: remote
        kinds then run mthree's calibration circuits on the device)."""
        noise = self.noise_model(qubits)
        if noise is None:
            return None
        import mthree
        from qiskit_aer import AerSimulator

        m3 = mthree.M3Mitigation(AerSimulator(noise_model=noise, seed_simulator=seed,
                                               **aer_options()))
        m3.cals_from_system(list(range(len(qubits))), shots=shots)
        return m3
