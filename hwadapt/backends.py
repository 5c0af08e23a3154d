"""Backend registry: names users pass as ``--backend`` and what each needs.

Names:
- ``exact``: hwadapt's exact subspace simulator (no shots noise, no Qiskit).
- ``aer``: ideal ``AerSimulator``.
- ``aer_noisy``: ``AerSimulator`` with the noise model and coupling map of a fake
  device (default :data:`DEFAULT_NOISE_DEVICE`, a Heron device).
- ``fake_<device>``: Qiskit Runtime local testing mode on that fake device.
- ``ibm_<device>``: a real IBM device through ``QiskitRuntimeService``; needs
  ``QISKIT_IBM_TOKEN`` or an account saved with ``QiskitRuntimeService.save_account``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

from hwadapt.errors import InputError

DEFAULT_NOISE_DEVICE = "fake_torino"
"""Device whose noise model ``aer_noisy`` uses unless ``--noise-from`` says otherwise."""


@dataclass(frozen=True)
class BackendInfo:
    """What ``hwadapt backends`` shows for one registry entry."""

    name: str
    kind: str  # exact | aer | aer_noisy | fake | ibm
    usable: bool
    note: str = ""
    num_qubits: int | None = None
    basis_gates: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def ibm_credentials_available() -> bool:
    """True when an IBM token is in the environment or a Qiskit account is saved on disk.

    Only checks presence; never reads the token into memory for display.
    """
    if os.environ.get("QISKIT_IBM_TOKEN"):
        return True
    saved = Path(os.environ.get("QISKIT_IBM_CONFIG", Path.home() / ".qiskit" / "qiskit-ibm.json"))
    return saved.is_file()


@cache
def _fake_classes() -> dict[str, type]:
    from qiskit_ibm_runtime import fake_provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    classes = {}
    for attr in dir(fake_provider):
        cls = getattr(fake_provider, attr)
        if isinstance(cls, type) and issubclass(cls, FakeBackendV2) and cls is not FakeBackendV2:
            classes[cls.backend_name] = cls
    return dict(sorted(classes.items()))


def fake_device_names() -> tuple[str, ...]:
    """Names (``fake_<device>``) of every fake V2 backend shipped by qiskit-ibm-runtime."""
    return tuple(_fake_classes())


def fake_backend(name: str):
    """Instantiate the fake device ``name`` (``fake_torino`` ...), or raise :class:`InputError`."""
    import warnings

    if name not in fake_device_names():
        raise InputError(
            f"unknown fake device {name!r}: run `hwadapt backends` for the list (e.g. fake_torino)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _fake_classes()[name]()


def _device_info(name: str, kind: str, note: str) -> BackendInfo:
    """Qubits and basis gates of a fake device from its shipped configuration JSON (reading
    it is ~50x faster than instantiating the backend, which also parses its properties)."""
    import json

    cls = _fake_classes()[name]
    conf = json.loads((Path(cls.dirname) / cls.conf_filename).read_text())
    gates = sorted(set(conf["basis_gates"]) - _NON_GATES)
    return BackendInfo(name, kind, True, note, conf["n_qubits"], gates)


_NON_GATES = {"measure", "reset", "delay", "barrier", "if_else", "switch_case", "for_loop",
              "while_loop"}


def list_backends() -> list[BackendInfo]:
    """Every backend name the registry knows, with usability here, qubits and basis gates."""
    noisy = _device_info(DEFAULT_NOISE_DEVICE, "aer_noisy", f"noise of {DEFAULT_NOISE_DEVICE}; "
                         "change with --noise-from fake_<device>")
    out = [
        BackendInfo("exact", "exact", True, "exact Hamming-weight subspace simulator (torch)"),
        BackendInfo("aer", "aer", True, "ideal AerSimulator, all-to-all"),
        BackendInfo("aer_noisy", "aer_noisy", True, noisy.note, noisy.num_qubits,
                    noisy.basis_gates),
    ]
    out += [_device_info(n, "fake", "Qiskit Runtime local testing mode") for n in
            fake_device_names()]
    have = ibm_credentials_available()
    out.append(BackendInfo(
        "ibm_<device>", "ibm", have,
        "IBM Quantum via QiskitRuntimeService" if have else
        "needs QISKIT_IBM_TOKEN or a saved Qiskit account (QiskitRuntimeService.save_account)",
    ))
    return out


# --------------------------------------------------------------------------------------
# Execution side of the registry: ``get_backend(name)`` -> :class:`Backend`.
# --------------------------------------------------------------------------------------

FINAL_STATUSES = ("DONE", "ERROR", "CANCELLED")
"""Normalised job statuses after which nothing changes."""

_STATUS_ALIASES = {"INITIALIZING": "QUEUED", "VALIDATING": "QUEUED", "QUEUED": "QUEUED",
                   "RUNNING": "RUNNING", "DONE": "DONE", "ERROR": "ERROR",
                   "CANCELLED": "CANCELLED", "CANCELED": "CANCELLED"}


def normalise_status(status: object) -> str:
    """Map a job status (``JobStatus`` enum locally, a string from IBM) to one upper-case word.

    Returns one of QUEUED, RUNNING, DONE, ERROR, CANCELLED; raises ``ValueError`` otherwise.
    """
    word = getattr(status, "name", status)
    word = str(word).strip().upper().rsplit(".", 1)[-1]
    if word not in _STATUS_ALIASES:
        raise ValueError(f"unknown job status {status!r}")
    return _STATUS_ALIASES[word]


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
    import warnings

    from qiskit_ibm_runtime import SamplerV2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sampler = SamplerV2(mode=mode)
    if options:
        sampler.options.update(**options)
    return sampler


def active_qubits(circuit) -> tuple[int, ...]:
    """Indices of the qubits any non-delay, non-barrier instruction of ``circuit`` touches."""
    used: set[int] = set()
    for inst in circuit.data:
        if inst.operation.name in ("barrier", "delay"):
            continue
        used.update(circuit.find_bit(q).index for q in inst.qubits)
    return tuple(sorted(used))


def compact_circuit(circuit, qubits: tuple[int, ...]):
    """Copy of ``circuit`` on ``len(qubits)`` qubits, physical qubit ``qubits[j]`` -> qubit j.

    Classical bits (hence measured outcomes) are unchanged; barriers/delays on dropped qubits
    are removed. Raises ``ValueError`` if an instruction uses a qubit outside ``qubits``.
    """
    from qiskit.circuit import QuantumCircuit, QuantumRegister

    where = {q: j for j, q in enumerate(qubits)}
    out = QuantumCircuit(QuantumRegister(len(qubits), "q"), *circuit.cregs,
                         name=circuit.name, global_phase=circuit.global_phase)
    for inst in circuit.data:
        idx = [circuit.find_bit(q).index for q in inst.qubits]
        if inst.operation.name in ("barrier", "delay") and not all(i in where for i in idx):
            continue
        out.append(inst.operation, [out.qubits[where[i]] for i in idx],
                   [out.clbits[circuit.find_bit(c).index] for c in inst.clbits])
    return out


def map_target(target, qubits, qubit_properties=None, instruction_properties=None):
    """A new ``Target`` on physical ``qubits`` of ``target``, renumbered ``0..len-1``.

    Instructions on qubits outside ``qubits`` are dropped. ``qubit_properties(props)`` and
    ``instruction_properties(op, qargs, props)`` may rewrite the kept properties (default:
    copied as they are) — the one loop behind :func:`restricted_target` and
    :func:`hwadapt.noise.scale_target`.
    """
    from qiskit.transpiler import Target

    where = {q: j for j, q in enumerate(qubits)}
    props = target.qubit_properties
    qprops = None if props is None else [props[q] for q in qubits]
    if qprops is not None and qubit_properties is not None:
        qprops = [None if p is None else qubit_properties(p) for p in qprops]
    out = Target(num_qubits=len(where), dt=target.dt, qubit_properties=qprops)
    for name in target.operation_names:
        op = target.operation_from_name(name)
        qmap = target[name]
        if qmap is None or None in qmap:
            out.add_instruction(op, name=name)
            continue
        kept = {}
        for qargs, p in qmap.items():
            if all(q in where for q in qargs):
                new = tuple(where[q] for q in qargs)
                keep = p if instruction_properties is None or p is None else \
                    instruction_properties(op, new, p)
                kept[new] = keep
        if kept:
            out.add_instruction(op, kept, name=name)
    return out


def restricted_target(target, qubits: tuple[int, ...]):
    """The part of ``target`` on ``qubits``, renumbered 0..len-1 (errors, durations, T1/T2)."""
    return map_target(target, qubits)


def _target_backend(target):
    """Minimal BackendV2 carrying ``target``: enough for ``NoiseModel.from_backend``."""
    from qiskit.providers import BackendV2, Options

    class TargetBackend(BackendV2):
        def __init__(self):
            super().__init__(name="hwadapt_restricted")

        @property
        def target(self):
            return target

        @property
        def max_circuits(self):
            return None

        @classmethod
        def _default_options(cls):
            return Options()

        def run(self, run_input, **options):
            raise NotImplementedError("a noise-model source only")

    return TargetBackend()


@cache
def restricted_noise_model(device: str, qubits: tuple[int, ...], scale: float = 1.0):
    """Aer ``NoiseModel`` of fake ``device`` restricted to physical ``qubits`` (renumbered),
    its errors scaled by ``scale`` (:func:`hwadapt.noise.scale_target`; 0 = ideal).

    The same model as Runtime local mode's for those qubits: gate errors with thermal
    relaxation from the device's ``Target``, and the device's *asymmetric* readout errors
    ``p(1|0), p(0|1)`` from its properties (the ``Target`` only holds their mean, so a model
    built from it alone symmetrises them; scaled by :func:`hwadapt.noise.scale_readout`).
    Built once per (device, qubits, scale) and cached: the full 133-qubit model costs seconds
    to build and to serialise on every run, the restricted one milliseconds (DESIGN.md §3).
    """
    import warnings

    from qiskit_aer.noise import NoiseModel, ReadoutError
    from qiskit_aer.noise.device import readout_error_values

    from hwadapt.noise import scale_readout, scale_target

    fake = fake_backend(device)
    sub = restricted_target(fake.target, qubits)
    if scale != 1.0:
        sub = scale_target(sub, scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = NoiseModel.from_backend(_target_backend(sub))
    readout = readout_error_values(fake.properties())
    for j, q in enumerate(qubits):
        if readout[q] is None:
            continue  # no readout data: the Target's (symmetric) error stays
        p10, p01 = scale_readout(*readout[q], scale)  # (0, 0) is ideal: nothing added
        model.add_readout_error(ReadoutError([[1 - p10, p10], [p01, 1 - p01]]), [j],
                                warnings=False)
    return model


@dataclass
class Backend:
    """One execution target: how to make ISA circuits and how to sample them.

    ``transpile_target`` is the BackendV2 circuits are transpiled for (None: no transpiling,
    the exact simulator takes any circuit). ``local`` backends run in this process and their
    jobs cannot be retrieved later (``retrievable`` False), so a crash means re-running.
    """

    name: str
    kind: str  # exact | aer | aer_noisy | fake | ibm
    local: bool
    retrievable: bool
    transpile_target: object | None = None
    device: str | None = None  # fake device for aer_noisy / fake_*; IBM name for ibm_*
    service: object | None = None
    noise_scale: float = 1.0  # aer_noisy: factor on the device's errors (hwadapt.noise)
    sampler_options: dict = field(default_factory=dict)  # Runtime SamplerV2 (fake_*, ibm_*)

    def run(self, pubs: list, seed: int, tag: str):
        """Submit sampler ``pubs`` ``[(isa_circuit, values (B, P), shots), ...]``; return a job.

        All pubs must have the same shots (one job per shot count). ``seed`` seeds simulators
        (ignored by IBM); ``tag`` labels IBM jobs so orphans can be found by tag.
        """
        if self.kind == "exact":
            from hwadapt.execution.exact_sampler import ExactSampler

            return ExactSampler(seed=seed).run(pubs)
        if self.kind == "aer":
            from qiskit_aer.primitives import SamplerV2

            return SamplerV2(seed=seed).run(pubs)
        if self.kind == "aer_noisy":
            return self._run_aer_noisy(pubs, seed)
        if self.kind == "fake":
            sampler = runtime_sampler(self.transpile_target, self.sampler_options)
            sampler.options.simulator.seed_simulator = seed
            return sampler.run(pubs)
        sampler = runtime_sampler(self.transpile_target, self.sampler_options)
        sampler.options.environment.job_tags = [tag]
        return sampler.run(pubs)

    def _run_aer_noisy(self, pubs: list, seed: int):
        from qiskit_aer import AerSimulator
        from qiskit_aer.primitives import SamplerV2

        qubits = tuple(sorted(set().union(*(active_qubits(p[0]) for p in pubs))))
        noise = restricted_noise_model(self.device, qubits, self.noise_scale)
        sim = AerSimulator(noise_model=noise)
        sampler = SamplerV2.from_backend(sim, seed=seed)
        small = [(compact_circuit(p[0], qubits), *p[1:]) for p in pubs]
        return sampler.run(small)

    def job(self, job_id: str):
        """Retrieve a submitted job by id (IBM only)."""
        if not self.retrievable:
            raise InputError(f"backend {self.name} runs locally: its jobs cannot be retrieved")
        return self.service.job(job_id)

    def jobs_with_tag(self, tag: str) -> list:
        """Jobs carrying ``tag`` (IBM only): adopts a job submitted just before a crash."""
        if not self.retrievable:
            return []
        return list(self.service.jobs(job_tags=[tag]))


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


def get_backend(name: str, noise_from: str | None = None, service=None) -> Backend:
    """Build the :class:`Backend` called ``name`` (see the module docstring for names).

    ``noise_from`` (``fake_<device>``, or ``fake_<device>@<scale>`` for scaled errors, see
    :mod:`hwadapt.noise`) picks aer_noisy's noise source; ``service`` replaces
    the IBM service (tests pass a double here).
    """
    if noise_from is not None and name != "aer_noisy":
        raise InputError(f"--noise-from only applies to aer_noisy, not {name!r}: drop it")
    if name == "exact":
        return Backend(name, "exact", local=True, retrievable=False)
    if name == "aer":
        from qiskit_aer import AerSimulator

        return Backend(name, "aer", local=True, retrievable=False,
                       transpile_target=AerSimulator())
    if name == "aer_noisy":
        from hwadapt.noise import parse_noise_source

        device, scale = parse_noise_source(noise_from or DEFAULT_NOISE_DEVICE)
        return Backend(name, "aer_noisy", local=True, retrievable=False,
                       transpile_target=fake_backend(device), device=device, noise_scale=scale)
    if name.startswith("fake_"):
        return Backend(name, "fake", local=True, retrievable=False,
                       transpile_target=fake_backend(name), device=name)
    if name.startswith("ibm_") and len(name) > 4:
        service = service if service is not None else ibm_service()
        return Backend(name, "ibm", local=False, retrievable=True,
                       transpile_target=service.backend(name), device=name, service=service)
    raise InputError(f"unknown backend {name!r}: use exact, aer, aer_noisy, fake_<device> or "
                     "ibm_<device> (`hwadapt backends` lists them)")
