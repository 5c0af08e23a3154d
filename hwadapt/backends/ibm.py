"""``ibm_<device>``: a real IBM device through ``QiskitRuntimeService``; needs
``QISKIT_IBM_TOKEN`` or an account saved with ``QiskitRuntimeService.save_account``."""

from __future__ import annotations

import sys
from typing import ClassVar

from hwadapt.backends import runtime
from hwadapt.backends.base import Backend, BackendInfo, estimator_pubs
from hwadapt.errors import InputError


class IBMBackend(Backend):
    """Remote jobs, tagged so that a job submitted just before a crash can be adopted."""

    kind: ClassVar[str] = "ibm"
    names: ClassVar[str] = "ibm_<device>"
    local: ClassVar[bool] = False
    retrievable: ClassVar[bool] = True
    readout_at_submit: ClassVar[bool] = True
    mode_kind: str | None = None  # "batch"/"session" while self.mode is open

    @classmethod
    def matches(cls, name: str) -> bool:
        return name.startswith("ibm_") and len(name) > 4

    @classmethod
    def create(cls, name: str, noise_from: str | None = None, service=None) -> IBMBackend:
        """A device IBM no longer lists (retired: ``QiskitBackendNotFoundError``) gets no
        ``transpile_target``: its submitted jobs can still be retrieved, nothing new runs."""
        service = service if service is not None else runtime.ibm_service()
        try:
            device = service.backend(name)
        except Exception as e:
            if type(e).__name__ != "QiskitBackendNotFoundError":
                raise
            device = None
        return cls(name, transpile_target=device, device=name, service=service)

    def check_available(self) -> None:
        """:class:`InputError` on a retired device (no ``transpile_target``)."""
        if self.transpile_target is None:
            raise InputError(f"{self.name} is not available to this account (retired or "
                             "unknown): jobs already submitted can still be fetched "
                             "(`hwadapt fetch RUN`); cancel the rest (`hwadapt cancel RUN`) "
                             "or submit to another device")

    @classmethod
    def info(cls) -> list[BackendInfo]:
        have = runtime.ibm_credentials_available()
        return [BackendInfo(
            "ibm_<device>", "ibm", have,
            "IBM Quantum via QiskitRuntimeService" if have else
            "needs QISKIT_IBM_TOKEN or a saved Qiskit account (QiskitRuntimeService.save_account)",
        )]

    def run(self, pubs: list, seed: int, tag: str):
        """Submit into the open mode, if any; a session IBM refuses only at the first job
        (Open plan) is replaced by a batch (one warning line) and the job submitted there."""
        self.check_available()
        sampler = runtime.runtime_sampler(self.mode or self.transpile_target,
                                          self.sampler_options)
        sampler.options.environment.job_tags = [tag]
        try:
            return sampler.run(pubs)
        except Exception as e:
            if self.mode_kind != "session" or not runtime.session_refused(e):
                raise
            self._refused(e)
            self.open_mode("batch")
            return self.run(pubs, seed, tag)

    def _refused(self, e: BaseException) -> None:
        print(f"warning: {self.name} refused a session ({str(e).strip()}); running in batch "
              "mode instead", file=sys.stderr)

    def open_mode(self, kind: str, mode_id: str | None = None) -> tuple[str, str | None]:
        """``job``: none. ``batch``/``session``: a Runtime ``Batch``/``Session``
        (:func:`runtime.runtime_mode`); a session IBM refuses (Open plan) falls back to a batch
        with one warning line; a ``mode_id`` that cannot be reattached (closed, expired) is
        replaced by a new mode of the same kind."""
        self.close_mode()
        self.check_available()
        if kind == "job":
            return "job", None
        try:
            self.mode = runtime.runtime_mode(kind, self.transpile_target, self.service, mode_id)
        except Exception as e:
            if kind == "session" and runtime.session_refused(e):
                self._refused(e)
                return self.open_mode("batch")
            if mode_id is None:
                raise
            return self.open_mode(kind)
        state = str(self.mode.status() or "").lower() if mode_id is not None else ""
        if "closed" in state or "not accepting" in state:
            return self.open_mode(kind)  # it closed meanwhile (TTL, cancel): a new one
        self.mode_kind = kind
        return kind, getattr(self.mode, "session_id", None)

    def close_mode(self) -> None:
        self.mode_kind = None
        if self.mode is not None:
            mode, self.mode = self.mode, None
            mode.close()

    def estimate(self, pubs: list, seed: int, tag: str, shots: int):
        """Runtime Estimator on the device with the spec's options (resilience level, TREX,
        ZNE, twirling, DD) and ``shots`` per binding, tagged ``tag``."""
        self.check_available()
        est = runtime.runtime_estimator(self.mode or self.transpile_target,
                                        {**self.estimator_options, "default_shots": shots})
        est.options.environment.job_tags = [tag]
        return est.run(estimator_pubs(pubs))

    def calibrate_readout(self, qubits: tuple[int, ...], seed: int, shots: int,
                          device_job: bool = False):
        """With ``device_job``: mthree's calibration circuits on the device itself
        (``seed`` unused), calibrated qubit ``j`` = physical ``qubits[j]``; else None."""
        if not device_job:
            return None
        import mthree

        m3 = mthree.M3Mitigation(self.transpile_target)
        m3.cals_from_system(list(qubits), shots=shots)
        return m3

    def job(self, job_id: str):
        return self.service.job(job_id)

    def jobs_with_tag(self, tag: str) -> list:
        return list(self.service.jobs(job_tags=[tag]))
