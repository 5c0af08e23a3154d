"""Qiskit Runtime: the sampler and estimator classes (local testing mode and IBM) and the IBM
account."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from hwadapt.errors import InputError


def runtime_sampler(mode, options: dict | None = None):
    """The ONE place that picks Qiskit Runtime's sampler class.

    ``options``: nested ``SamplerV2`` options, e.g. ``{"dynamical_decoupling": {"enable":
    True, "sequence_type": "XY4"}, "twirling": {"enable_gates": True}}`` (a spec's
    :attr:`hwadapt.spec.JobSpec.sampler_options`). IBM devices apply them; local testing mode
    (``fake_*``) drops them with a warning "Options {...} have no effect in local testing mode".

    qiskit-ibm-runtime 0.51 deprecates ``SamplerV2`` in favour of ``executor_sampler``, but the
    executor primitives do not run in local testing mode yet and differ in options; we keep
    ``SamplerV2`` (silencing its deprecation warning) until that changes.
    """
    from qiskit_ibm_runtime import SamplerV2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sampler = SamplerV2(mode=mode)
    if options:
        sampler.options.update(**options)
    return sampler


MODES = ("job", "batch", "session")
"""Runtime execution modes: ``job`` (each job on its own), ``batch``, ``session``."""

SESSION_REFUSED = "not authorized to run a session"
"""What IBM answers an Open-plan account that opens a session."""


def runtime_mode(kind: str, backend, service, mode_id: str | None = None):
    """The ONE place that opens a Runtime ``Batch``/``Session`` on IBM ``backend``, or with
    ``mode_id`` reattaches to an existing one (``from_id``; raises if it is unknown)."""
    from qiskit_ibm_runtime import Batch, Session

    cls = {"batch": Batch, "session": Session}[kind]
    if mode_id is not None:
        return cls.from_id(mode_id, service)
    return cls(backend=backend)


def session_refused(exc: BaseException) -> bool:
    """Whether ``exc`` is IBM refusing a session to an Open-plan account."""
    return SESSION_REFUSED in str(exc).lower()


ESTIMATOR_IMPLEMENTATION = "legacy"
"""Which Runtime Estimator :func:`runtime_estimator` builds: ``"legacy"`` (``EstimatorV2``,
server-side processing) or ``"executor"`` (``executor_estimator.Estimator``, client-side)."""
ESTIMATOR_IMPLEMENTATIONS = ("legacy", "executor")


def runtime_estimator(mode, options: dict | None = None, implementation: str | None = None):
    """The ONE place that picks Qiskit Runtime's estimator class.

    ``options``: nested Estimator options, e.g. ``{"resilience_level": 1, "resilience":
    {"measure_mitigation": True, "zne": {"noise_factors": [1, 3, 5]}}, "twirling":
    {"enable_gates": True}, "default_shots": 4096}`` (a spec's
    :attr:`hwadapt.spec.ObservableSpec.options`). ``implementation`` (default
    :data:`ESTIMATOR_IMPLEMENTATION`):

    - ``"legacy"``: ``qiskit_ibm_runtime.EstimatorV2`` (deprecated in 0.50, its warning
      silenced here). IBM devices apply every option server-side; local testing mode
      (``fake_*``) drops the resilience, twirling and DD options with a warning ("The
      resilience_level option has no effect in local testing mode") and samples the noisy
      circuit with ``default_shots``.
    - ``"executor"``: ``qiskit_ibm_runtime.executor_estimator.Estimator`` (0.50+): the same
      options, processed client-side (TREX/ZNE/twirling run here, also in local mode), its
      own options model (``options_models.EstimatorOptions``).

    The next Runtime release that retires ``EstimatorV2`` changes
    :data:`ESTIMATOR_IMPLEMENTATION` only.
    """
    impl = implementation or ESTIMATOR_IMPLEMENTATION
    if impl not in ESTIMATOR_IMPLEMENTATIONS:
        raise InputError(f"estimator implementation {impl!r} is not known: use "
                         f"{' or '.join(ESTIMATOR_IMPLEMENTATIONS)}")
    if impl == "executor":
        from qiskit_ibm_runtime.executor_estimator import Estimator
    else:
        from qiskit_ibm_runtime import EstimatorV2 as Estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        estimator = Estimator(mode=mode)
    set_options(estimator.options, options or {})
    return estimator


def set_options(target, options: dict) -> None:
    """Set nested ``options`` (dicts of dicts) on a Runtime options object attribute by
    attribute (works for both options models)."""
    for key, value in options.items():
        if isinstance(value, dict):
            set_options(getattr(target, key), value)
        else:
            setattr(target, key, value)


def ibm_credentials_available() -> bool:
    """True when an IBM token is in the environment or a Qiskit account is saved on disk.

    Only checks presence; never reads the token into memory for display.
    """
    if os.environ.get("QISKIT_IBM_TOKEN"):
        return True
    saved = Path(os.environ.get("QISKIT_IBM_CONFIG", Path.home() / ".qiskit" / "qiskit-ibm.json"))
    return saved.is_file()


def ibm_service():
    """``QiskitRuntimeService`` from ``QISKIT_IBM_TOKEN``/``QISKIT_IBM_INSTANCE`` or the saved
    account. The token is passed straight through, never stored or printed."""
    from qiskit_ibm_runtime import QiskitRuntimeService

    if not ibm_credentials_available():
        raise InputError("no IBM account: set QISKIT_IBM_TOKEN (and QISKIT_IBM_INSTANCE) or "
                         "save one with QiskitRuntimeService.save_account")
    token = os.environ.get("QISKIT_IBM_TOKEN")
    if token:
        return QiskitRuntimeService(channel="ibm_quantum_platform", token=token,
                                    instance=os.environ.get("QISKIT_IBM_INSTANCE"))
    return QiskitRuntimeService()
