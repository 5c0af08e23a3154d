"""``ibm_<device>``: a real IBM device through ``QiskitRuntimeService``; needs
``QISKIT_IBM_TOKEN`` or an account saved with ``QiskitRuntimeService.save_account``."""

from __future__ import annotations

from typing import ClassVar

from hwadapt.backends import runtime
from hwadapt.backends.base import Backend, BackendInfo, estimator_pubs


class IBMBackend(Backend):
    """Remote jobs, tagged so that a job submitted just before a crash can be adopted."""

    kind: ClassVar[str] = "ibm"
    names: ClassVar[str] = "ibm_<device>"
    local: ClassVar[bool] = False
    retrievable: ClassVar[bool] = True
    readout_at_submit: ClassVar[bool] = True

    @classmethod
    def matches(cls, name: str) -> bool:
        return name.startswith("ibm_") and len(name) > 4

    @classmethod
    def create(cls, name: str, noise_from: str | None = None, service=None) -> IBMBackend:
        service = service if service is not None else runtime.ibm_service()
        return cls(name, transpile_target=service.backend(name), device=name, service=service)

    @classmethod
    def info(cls) -> list[BackendInfo]:
        have = runtime.ibm_credentials_available()
        return [BackendInfo(
            "ibm_<device>", "ibm", have,
            "IBM Quantum via QiskitRuntimeService" if have else
            "needs QISKIT_IBM_TOKEN or a saved Qiskit account (QiskitRuntimeService.save_account)",
        )]

    def run(self, pubs: list, seed: int, tag: str):
        sampler = runtime.runtime_sampler(self.transpile_target, self.sampler_options)
        sampler.options.environment.job_tags = [tag]
        return sampler.run(pubs)

    def estimate(self, pubs: list, seed: int, tag: str, shots: int):
        """Runtime Estimator on the device with the spec's options (resilience level, TREX,
        ZNE, twirling, DD) and ``shots`` per binding, tagged ``tag``."""
        est = runtime.runtime_estimator(self.transpile_target,
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
