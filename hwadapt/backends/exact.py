"""``exact``: hwadapt's exact subspace sampler (:mod:`hwadapt.execution.exact_sampler`)."""

from __future__ import annotations

from typing import ClassVar

from hwadapt.backends.base import Backend, BackendInfo, estimator_pubs


class ExactBackend(Backend):
    """Exact outcome probabilities, sampled; takes any circuit (no transpiling)."""

    kind: ClassVar[str] = "exact"
    names: ClassVar[str] = "exact"
    readout_noise: ClassVar[bool] = False
    estimator_shared_shots: ClassVar[bool] = False  # exact values: no noise at all

    @classmethod
    def info(cls) -> list[BackendInfo]:
        return [BackendInfo("exact", "exact", True,
                            "exact Hamming-weight subspace simulator (torch)")]

    def run(self, pubs: list, seed: int, tag: str):
        # imported here: the sampler pulls in Qiskit, which listing backends does not need
        from hwadapt.execution.exact_sampler import ExactSampler

        return ExactSampler(seed=seed).run(pubs)

    def estimate(self, pubs: list, seed: int, tag: str, shots: int):
        from hwadapt.execution.exact_estimator import ExactEstimator

        return ExactEstimator().run(estimator_pubs(pubs))
