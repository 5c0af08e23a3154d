"""Does aer_noisy's noisy state compress as a matrix-product density operator (MPDO)?

The demo's magnitude circuit (``jobs/demo.toml`` at ``--qubits`` data qubits, fake_torino,
optimisation level 1) lies on a line of physical qubits (:func:`hwadapt.backends.aer_method.
line_order`), and a Hamming-weight-1 *pure* state has bond dimension 2 (4 for ``|ψ><ψ|``). This
study evolves the vectorised density matrix (local dimension 4: ket bit, bra bit) through the
circuit's gates and the restricted noise model's channels (Kraus operators of each gate's
``QuantumError``), one SVD per two-qubit gate, keeping singular values above ``cutoff`` times
the largest, and records the largest bond dimension against the maximum ``4^floor(q/2)``
and the TVD of the final distribution vs Aer's density matrix. Readout errors are left out
of both (a classical map after the state). One binding (the first input).

If the bonds stay near the maximum, an MPDO costs more than the density matrix itself: no
structure to exploit. Writes ``results/benchmarks/mpdo_rank.json``. Usage:
    .venv/bin/python benchmarks/mpdo_rank.py [--qubits 4 6 8] [--cutoffs 1e-12 1e-3]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from qiskit.quantum_info import Kraus, Operator

from hwadapt.backends.aer_method import line_order
from hwadapt.backends.noise import active_qubits, compact_circuit

ROOT = Path(__file__).parents[1]


def superop(kraus: list[np.ndarray], m: int) -> np.ndarray:
    """``(4^m, 4^m)`` map of ``ρ -> Σ K ρ K†`` on ``m`` qubits, index per qubit ``2 ket + bra``,
    qubit 0 most significant (Kraus matrices in Qiskit's little-endian order)."""
    out = 0
    for K in kraus:
        T = np.einsum("ab,cd->acbd", K, K.conj()).reshape([2] * (4 * m))
        ket_o, bra_o = list(range(m))[::-1], list(range(m, 2 * m))[::-1]
        ket_i, bra_i = list(range(2 * m, 3 * m))[::-1], list(range(3 * m, 4 * m))[::-1]
        perm = [a for j in range(m) for a in (ket_o[j], bra_o[j])] + \
            [a for j in range(m) for a in (ket_i[j], bra_i[j])]
        out = out + T.transpose(perm).reshape(4**m, 4**m)
    return out


def mpdo_probabilities(circuit, errors: dict, cutoff: float) -> tuple[np.ndarray, int]:
    """Diagonal of the noisy output state (index ``Σ bit_k 2^k``) and the largest bond."""
    q = circuit.num_qubits
    sites = [np.eye(1, 4).reshape(1, 4, 1).astype(complex) for _ in range(q)]
    cache, top = {}, 1
    for inst in circuit.data:
        op = inst.operation
        if op.name in ("barrier", "measure"):
            continue
        idx = [circuit.find_bit(b).index for b in inst.qubits]
        key = (op.name, tuple(idx), tuple(float(p) for p in op.params))
        if key not in cache:
            U = Operator(op).data
            err = errors.get(op.name, {}).get(tuple(idx))
            ks = [U] if err is None else [k @ U for k in Kraus(err).data]
            cache[key] = superop(ks, len(idx))
        S = cache[key]
        if len(idx) == 1:
            sites[idx[0]] = np.einsum("st,ltr->lsr", S, sites[idx[0]])
            continue
        a, b = idx
        if a > b:  # qubit 0 of the gate is the right site
            a, b = b, a
            S = S.reshape(4, 4, 4, 4).transpose(1, 0, 3, 2).reshape(16, 16)
        assert b == a + 1, "gates must be nearest-neighbour on the line"
        th = np.einsum("lsm,mtr->lstr", sites[a], sites[b])
        dl, dr = th.shape[0], th.shape[3]
        th = np.einsum("xy,lyr->lxr", S, th.reshape(dl, 16, dr)).reshape(dl * 4, 4 * dr)
        u, s, vh = np.linalg.svd(th, full_matrices=False)
        keep = max(1, int((s > cutoff * s[0]).sum()))
        top = max(top, keep)
        sites[a] = u[:, :keep].reshape(dl, 4, keep)
        sites[b] = (s[:keep, None] * vh[:keep]).reshape(keep, 4, dr)
    probs = np.ones((1, 1), dtype=complex)
    for site in sites:
        probs = np.einsum("pl,lxr->pxr", probs, site[:, [0, 3], :]).reshape(-1, site.shape[2])
    return probs.real.reshape([2] * q).transpose(list(range(q))[::-1]).reshape(-1), top


def aer_probabilities(circuit, noise_model) -> np.ndarray:
    from qiskit_aer import AerSimulator

    c = circuit.remove_final_measurements(inplace=False)
    c.save_density_matrix()
    sim = AerSimulator(method="density_matrix", noise_model=noise_model, max_parallel_threads=1)
    return np.real(np.diag(np.asarray(sim.run(c, shots=1).result().data()["density_matrix"])))


def main() -> None:
    from benchmarks.aer_methods import case  # the demo's circuit at n data qubits

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qubits", type=int, nargs="+", default=[4, 6, 8])
    ap.add_argument("--cutoffs", type=float, nargs="+", default=[1e-12, 1e-3])
    ap.add_argument("--out", default=str(ROOT / "results/benchmarks/mpdo_rank.json"))
    args = ap.parse_args()
    rows = []
    for n in args.qubits:
        backend, (isa, values, _) = case(n)
        line = line_order([isa], tuple(sorted(active_qubits(isa))))
        circuit = compact_circuit(isa, line).assign_parameters(values[0])
        model = backend.noise_model(line)
        exact = aer_probabilities(circuit, model)
        for cutoff in args.cutoffs:
            t = time.perf_counter()
            probs, top = mpdo_probabilities(circuit, model._local_quantum_errors, cutoff)
            rows.append({"data_qubits": n, "qubits": circuit.num_qubits, "cutoff": cutoff,
                         "max_bond": top, "bond_limit": 4 ** (circuit.num_qubits // 2),
                         "tvd_vs_density_matrix": float(0.5 * np.abs(probs - exact).sum()),
                         "seconds": round(time.perf_counter() - t, 2)})
            print(rows[-1], flush=True)
    Path(args.out).write_text(json.dumps({"what": __doc__.splitlines()[0], "rows": rows},
                                         indent=1) + "\n")


if __name__ == "__main__":
    main()
