"""Transpile a circuit to a backend's native gates (preset pass manager) and report its cost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from qiskit.circuit import QuantumCircuit


@dataclass(frozen=True)
class TranspileReport:
    """Cost of an ISA circuit: depth, two-qubit gates, SWAPs inserted by routing."""

    backend: str
    optimization_level: int
    depth: int
    two_qubit_gates: int
    swaps: int
    num_qubits: int  # active physical qubits
    ops: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


TRANSLATION_PLUGINS = "qiskit.transpiler.translation"
"""Entry-point group of Qiskit's translation-stage plugins (stevedore)."""


@contextmanager
def _builtin_translation_only(backend) -> Iterator[None]:
    """While building a preset pass manager for a ``backend`` that names no translation
    plugin of its own (fake devices, local simulators: not ``IBMBackend``), leave out the
    translation plugins other packages register: Qiskit loads every registered plugin
    whether used or not, and loading qiskit_ibm_runtime's imports that whole package
    (~1 s of a submit's start-up). The pass manager is the same: the default translation
    stage is Qiskit's own."""
    import importlib.metadata
    import sys

    import stevedore

    if hasattr(backend, "get_translation_stage_plugin") or "qiskit_ibm_runtime" in sys.modules:
        yield  # the backend may need a plugin, or the package is loaded anyway
        return
    cache = stevedore.ExtensionManager.ENTRY_POINT_CACHE
    before = cache.get(TRANSLATION_PLUGINS)
    found = list(importlib.metadata.entry_points(group=TRANSLATION_PLUGINS)) \
        if before is None else before
    cache[TRANSLATION_PLUGINS] = [ep for ep in found if ep.value.startswith("qiskit.")]
    try:
        yield
    finally:
        if before is None:
            cache.pop(TRANSLATION_PLUGINS, None)
        else:
            cache[TRANSLATION_PLUGINS] = before


def transpile_for(
    circuit: QuantumCircuit, backend, optimization_level: int = 1, seed: int | None = 0,
    initial_layout: list[int] | None = None,
) -> tuple[QuantumCircuit, TranspileReport]:
    """ISA circuit for ``backend`` (a BackendV2, e.g. a fake device)
    with ``generate_preset_pass_manager``, and its :class:`TranspileReport`.

    SWAPs are counted in the routed circuit, before they are translated to native gates.
    ``seed`` fixes the stochastic layout/routing (None: random). ``initial_layout``
    (virtual qubit ``i`` -> physical ``initial_layout[i]``) replaces the preset layout
    stage (see :mod:`hwadapt.circuits.placement`).
    """
    from qiskit.transpiler import generate_preset_pass_manager

    if circuit.num_qubits > backend.num_qubits:
        raise ValueError(f"circuit needs {circuit.num_qubits} qubits, {backend.name} has "
                         f"{backend.num_qubits}")
    with _builtin_translation_only(backend):
        pm = generate_preset_pass_manager(optimization_level=optimization_level,
                                          backend=backend, seed_transpiler=seed,
                                          initial_layout=initial_layout)
    swaps = 0

    def count_swaps(dag, **_):
        nonlocal swaps
        swaps = max(swaps, dag.count_ops().get("swap", 0))

    isa = pm.run(circuit, callback=lambda **kw: count_swaps(**kw))
    ops = {k: int(v) for k, v in isa.count_ops().items()}
    two_q = sum(1 for inst in isa.data
                if inst.operation.num_qubits == 2 and inst.operation.name != "barrier")
    active = {isa.find_bit(q).index for inst in isa.data for q in inst.qubits
              if inst.operation.name != "barrier"}
    report = TranspileReport(backend.name, optimization_level, isa.depth(), two_q, swaps,
                             len(active), ops)
    return isa, report


def active_circuit(isa: QuantumCircuit) -> tuple[QuantumCircuit, list[int], list[int]]:
    """The ISA circuit restricted to its active physical qubits (small enough to simulate).

    Returns:
        ``(circuit, initial, final)``: ``initial[i]`` / ``final[i]`` = position, in the
        restricted circuit, of virtual qubit ``i`` at the start / end (routing may move it).
        Physical qubits that are neither used nor hold a virtual qubit are dropped; the
        remaining ones keep their physical order.
    """
    layout = isa.layout
    n_virtual = len(layout.initial_index_layout(filter_ancillas=True)) if layout else \
        isa.num_qubits
    init = layout.initial_index_layout(filter_ancillas=True) if layout else \
        list(range(isa.num_qubits))
    final = layout.final_index_layout(filter_ancillas=True) if layout else init
    used = {isa.find_bit(q).index for inst in isa.data for q in inst.qubits}
    phys = sorted(used | set(init[:n_virtual]))
    pos = {p: j for j, p in enumerate(phys)}
    out = QuantumCircuit(len(phys), global_phase=isa.global_phase)
    for inst in isa.data:
        if inst.operation.name in ("barrier", "measure"):
            continue
        out.append(inst.operation, [pos[isa.find_bit(q).index] for q in inst.qubits])
    return out, [pos[p] for p in init], [pos[p] for p in final]
