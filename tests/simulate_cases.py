"""Random circuits for the simulator's tests (tests/test_simulate_plan.py, tests/simulate/):
every gate kind, controlled and composite gates, and the LCU constructions with ancillas."""

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.circuit.library import RYGate, XXPlusYYGate

from hwadapt.circuits.adapter import adapter_circuit
from hwadapt.circuits.dilation import combination_matrix, dilation_circuit
from hwadapt.circuits.efficient_lcu import efficient_lcu_circuit
from hwadapt.circuits.gates import fbs_gate, rbs_gate
from hwadapt.circuits.layouts import num_angles
from hwadapt.circuits.lcu import lcu_circuit
from hwadapt.circuits.loaders import subspace_loader, unary_angles, unary_loader
from hwadapt.circuits.spectral_lcu import spectral_lcu_circuit


def random_circuit(rng, n: int, depth: int, weight: int) -> QuantumCircuit:
    """HW-``weight`` input, then random kernels (free parameters ``t``), FBS, controlled
    RBS/RY, CX/CZ/H and a conditional global phase."""
    t = ParameterVector("t", depth)
    qc = QuantumCircuit(n)
    for q in rng.choice(n, weight, replace=False):
        qc.x(int(q))
    for i in range(depth):
        kind = rng.integers(10)
        a, b, c = (int(q) for q in rng.choice(n, 3, replace=False))
        lo, hi = min(a, b), max(a, b)
        if kind == 0:
            qc.append(rbs_gate(t[i]), [a, b])
        elif kind == 1:
            qc.append(fbs_gate(2 * t[i] - 0.3, hi - lo), list(range(lo, hi + 1)))
        elif kind == 2:
            qc.append(XXPlusYYGate(t[i], 0.4 * t[i] + 1), [a, b])
        elif kind == 3:
            gate = rbs_gate(-t[i]).control(1, ctrl_state=int(rng.integers(2)), annotated=False)
            qc.append(gate, [c, a, b])
        elif kind == 4:
            gate = RYGate(t[i]).control(2, ctrl_state=int(rng.integers(4)), annotated=False)
            qc.append(gate, [a, b, c])
        elif kind == 5:
            getattr(qc, ["rx", "ry", "rz", "p"][rng.integers(4)])(t[i], a)
        elif kind == 6:
            qc.u(t[i], 0.5 * t[i], -t[i] + 0.2, a)
        elif kind == 7:
            qc.cx(a, b)
            qc.cz(b, c)
        elif kind == 8:
            qc.h(a)
        else:
            sub = QuantumCircuit(2, global_phase=t[i])
            sub.append(rbs_gate(0.7), [0, 1])
            qc.append(sub.to_gate().control(1, annotated=False), [c, a, b])
    return qc


def lcu_cases(rng, n: int):
    """(name, circuit with a ParameterVector loader, bindings (B, P), n_ancilla, weight)."""
    R = 3
    m = num_angles(n, "pyramid")
    angles = rng.uniform(-np.pi, np.pi, (R, m))
    alphas = np.array([0.6, -0.9, 0.4])
    x = ParameterVector("x", n - 1)
    X = rng.normal(size=(4, n))
    ua = unary_angles(X)
    us = [adapter_circuit(n, a) for a in angles]
    out = [("textbook", lcu_circuit(us, alphas, unary_loader(n, x)), ua, 2, 1),
           ("efficient", efficient_lcu_circuit(angles, alphas, unary_loader(n, x)), ua, 2, 1),
           ("spectral", spectral_lcu_circuit(angles[:2], alphas[:2], n=n,
                                             state_prep=unary_loader(n, x)), ua, 1, 1)]
    y = ParameterVector("y", m)
    hw2 = rng.uniform(-np.pi, np.pi, (4, m))
    out.append(("textbook_hw2", lcu_circuit(us, alphas, subspace_loader(n, 2, y)), hw2, 2, 2))
    M = combination_matrix(angles, alphas, n, "pyramid")
    out.append(("dilation", dilation_circuit(M, x)[0], ua, 0, 1))
    return out
