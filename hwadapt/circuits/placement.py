"""Layout-aware placement: put a nearest-neighbour register on a physical line of a device.

Pyramid adapters, unary loaders and the Halmos dilation only couple qubits ``i`` and
``i + 1``, so mapping virtual qubit ``i`` to the ``i``-th qubit of a simple path in the
coupling map needs no SWAP at all. Heavy-hex (Eagle/Heron) and square lattices contain long
simple paths; :func:`find_line` picks the one with the lowest summed error (two-qubit gate
errors on its edges + readout errors of its qubits) by exhaustive depth-first search
(heavy-hex degree ≤ 3 keeps it small). LCU ancillas go on free neighbours of the line,
as close as possible to its middle (:func:`lcu_placement`); their CZs to far data qubits are
routed by the preset pass manager. :func:`compare_placement` transpiles a circuit with the
preset pass manager's own layout and with ours and reports both.
"""

from __future__ import annotations

from dataclasses import dataclass

from qiskit.circuit import QuantumCircuit

from hwadapt.circuits.transpile import TranspileReport, transpile_for

MAX_PATHS = 200_000
"""Safety cap on the number of path extensions :func:`find_line` explores."""


def _graph(backend) -> tuple[dict[int, set[int]], dict[tuple[int, int], float], list[float]]:
    """Undirected coupling graph, two-qubit error per edge (mean of both directions/gates),
    readout error per qubit (0 when the target does not say)."""
    target = backend.target
    adj: dict[int, set[int]] = {q: set() for q in range(target.num_qubits)}
    errs: dict[tuple[int, int], list[float]] = {}
    for name in target.operation_names:
        qmap = target[name]
        if qmap is None or None in qmap:
            continue
        for qargs, props in qmap.items():
            if len(qargs) != 2:
                continue
            a, b = sorted(qargs)
            adj[a].add(b)
            adj[b].add(a)
            err = getattr(props, "error", None) if props is not None else None
            errs.setdefault((a, b), []).append(0.0 if err is None else float(err))
    edge = {e: sum(v) / len(v) for e, v in errs.items()}
    readout = [0.0] * target.num_qubits
    if "measure" in target.operation_names:
        for qargs, props in target["measure"].items():
            if qargs and props is not None and props.error is not None:
                readout[qargs[0]] = float(props.error)
    return adj, edge, readout


def find_line(backend, length: int, exclude: frozenset[int] = frozenset()) -> list[int]:
    """Lowest-error simple path of ``length`` physical qubits in ``backend``'s coupling map.

    Args:
        backend: a BackendV2 (fake device or IBM backend).
        length: number of qubits on the line (virtual qubit ``i`` -> ``path[i]``).
        exclude: physical qubits not to use.
    Returns:
        ``[p_0, ..., p_{length-1}]`` with every ``(p_i, p_{i+1})`` a coupler. Raises
        ``ValueError`` when the device has no such path.
    """
    adj, edge, readout = _graph(backend)
    if length < 1 or length > len(adj):
        raise ValueError(f"a line of {length} qubits does not fit {backend.name} "
                         f"({len(adj)} qubits)")
    best: tuple[float, list[int]] = (float("inf"), [])
    budget = [MAX_PATHS]

    def dfs(path: list[int], cost: float) -> None:
        nonlocal best
        if cost >= best[0] or budget[0] <= 0:
            return
        if len(path) == length:
            best = (cost, list(path))
            return
        budget[0] -= 1
        last = path[-1]
        for nxt in sorted(adj[last]):
            if nxt in exclude or nxt in path:
                continue
            path.append(nxt)
            dfs(path, cost + edge[tuple(sorted((last, nxt)))] + readout[nxt])
            path.pop()

    for start in sorted(adj):
        if start not in exclude:
            dfs([start], readout[start])
    if not best[1]:
        raise ValueError(f"{backend.name} has no simple path of {length} qubits")
    return best[1]


def lcu_placement(backend, n: int, n_ancilla: int) -> list[int]:
    """Initial layout for an LCU register (data ``0..n-1`` on a line, ancillas after them):
    the best line for the data, each ancilla on a free neighbour of the line nearest to its
    middle (falling back to the next line qubit outward). Returns ``n + n_ancilla``
    physical qubits."""
    adj, _, readout = _graph(backend)
    line = find_line(backend, n)
    used = set(line)
    order = sorted(range(n), key=lambda i: (abs(i - (n - 1) / 2), i))
    anc: list[int] = []
    for _ in range(n_ancilla):
        spot = next((min((q for q in adj[line[i]] if q not in used), key=readout.__getitem__)
                     for i in order if any(q not in used for q in adj[line[i]])), None)
        if spot is None:
            raise ValueError(f"no free qubit next to the data line on {backend.name}")
        anc.append(spot)
        used.add(spot)
    return line + anc


@dataclass(frozen=True)
class PlacementReport:
    """Transpiled cost with the preset pass manager's own layout and with ours."""

    default: TranspileReport
    placed: TranspileReport
    layout: list[int]

    def to_dict(self) -> dict:
        return {"default": self.default.to_dict(), "placed": self.placed.to_dict(),
                "layout": list(self.layout)}


def compare_placement(circuit: QuantumCircuit, backend, layout: list[int],
                      optimization_level: int = 1, seed: int | None = 0) -> PlacementReport:
    """Transpile ``circuit`` with the preset layout and with ``layout``; report both."""
    _, default = transpile_for(circuit, backend, optimization_level, seed)
    if len(layout) != circuit.num_qubits:
        raise ValueError(f"layout has {len(layout)} qubits, the circuit {circuit.num_qubits}")
    _, placed = transpile_for(circuit, backend, optimization_level, seed, initial_layout=layout)
    return PlacementReport(default, placed, list(layout))


__all__ = ["PlacementReport", "compare_placement", "find_line", "lcu_placement"]
