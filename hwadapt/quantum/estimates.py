"""Backend estimates of the quantum-data models' readout ``<Z_q>`` (postselected for the LCU).

- Sampler path (:class:`LedgerReadout`): one circuit family per input state (exact
  ``StatePreparation`` + the model's parameterised circuit, measured), transpiled ONCE per
  state for the backend and re-bound per request; every request is one ledger run
  (:func:`hwadapt.execution.manager.submit_families`), so a killed process resumes its run.
  From counts: accepted = ancilla ``0`` (any data weight), ``z = (N₊ - N₋)/N_acc``,
  ``stderr = sqrt((1 - z²)/N_acc)`` (shot noise only).
- Estimator path (:func:`estimator_readout`, ``aer``): EstimatorV2 with the projector
  observables ``P0⊗Z_q = (Z_q + Z_a Z_q)/2`` and ``P0 = (I + Z_a)/2`` (``a`` the ancilla);
  the readout is the ratio ``r = <P0⊗Z_q>/<P0>`` with ``stderr = sqrt(σ₁² + r² σ₀²)/|<P0>|``
  (first-order propagation; the two estimates are independent in Aer's EstimatorV2, on
  hardware they are correlated and this is only an approximation).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit

from hwadapt.errors import InputError
from hwadapt.quantum.data import state_prep_circuit
from hwadapt.quantum.models import QuantumDataModel, model_circuit


def prepared(model: QuantumDataModel, psi: np.ndarray, measure: bool
             ) -> tuple[QuantumCircuit, np.ndarray]:
    """``(state preparation of psi + the model's circuit, values)``, measured into one
    register (clbit i = qubit i) when ``measure``."""
    body, values = model_circuit(model)
    qc = QuantumCircuit(body.num_qubits)
    qc.compose(state_prep_circuit(psi), range(model.n), inplace=True)
    qc.compose(body, inplace=True)
    if measure:
        qc.add_register(ClassicalRegister(qc.num_qubits, "c"))
        qc.measure(range(qc.num_qubits), range(qc.num_qubits))
    return qc, values


def counts_readout(counts: dict[int, int], n: int, ancilla: bool, q: int
                   ) -> tuple[float, float, float]:
    """``(z, stderr, acceptance)`` of ``<Z_q>`` from counts (outcome ints, bit i = qubit i;
    ancilla = bit ``n``); z is 0 with stderr 1 when nothing was accepted."""
    out = np.fromiter(counts, dtype=np.int64, count=len(counts))
    c = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    ok = (out >> n & 1) == 0 if ancilla else np.ones(len(out), bool)
    acc = c[ok].sum()
    if acc == 0:
        return 0.0, 1.0, 0.0
    z = float((c[ok] * (1 - 2 * (out[ok] >> q & 1))).sum() / acc)
    return z, float(np.sqrt(max(1 - z * z, 0.0) / acc)), float(acc / c.sum())


class LedgerReadout:
    """``<Z_q>`` of a model's circuit on fixed input states, estimated through the ledger.

    ``__call__(values (S, P), idx, run_id)`` runs the ``S`` bindings (ordered like
    ``model_circuit(model)[0].parameters``) on each state ``idx`` in one ledger run and
    returns ``(z, stderr, acceptance)``, each ``(S, len(idx))``.
    """

    def __init__(self, model: QuantumDataModel, states: np.ndarray, backend: str,
                 ledger: str | Path, *, shots: int = 2000, seed: int = 0,
                 noise_from: str | None = None, optimization_level: int = 1):
        from hwadapt.backends import get_backend

        if shots < 1:
            raise InputError(f"--shots must be >= 1, got {shots}")
        self.model, self.states, self.shots, self.seed = model, np.asarray(states), shots, seed
        self.backend_name, self.noise_from = backend, noise_from
        self.backend = get_backend(backend, noise_from)
        self.ledger, self.level = Path(ledger), optimization_level
        self.names = [p.name for p in model_circuit(model)[0].parameters]
        self._isa: dict[int, QuantumCircuit] = {}

    def isa(self, i: int) -> QuantumCircuit:
        """The transpiled measured circuit of state ``i`` (cached). It is unrolled to
        ``{u, cx}`` first: Aer's native binding of parameterised controlled gates (``cu``,
        ``crz``, ``mcphase`` with parameter expressions, which the ``aer`` target keeps) gave
        wrong counts here (acceptance 0.420 vs exact 0.469 at 20k shots, qiskit-aer 0.18.2)."""
        from qiskit import transpile as unroll

        from hwadapt.execution.manager import transpile

        if i not in self._isa:
            qc, _ = prepared(self.model, self.states[i], measure=True)
            qc = unroll(qc, basis_gates=["u", "cx", "measure"], optimization_level=0)
            self._isa[i] = transpile(qc, self.backend, self.level, self.seed)
        return self._isa[i]

    def __call__(self, values: np.ndarray, idx: list[int], run_id: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from hwadapt.execution.manager import run_counts, submit_families
        from hwadapt.execution.family import Family

        values = np.atleast_2d(np.asarray(values, dtype=float))
        lcu = self.model.mode == "lcu"
        fams = []
        for i in idx:
            isa = self.isa(i)
            cols = [self.names.index(p.name) for p in isa.parameters]
            fams.append(Family(f"s{i}", isa, values[:, cols], self.model.n, int(lcu), None))
        seed = int.from_bytes(hashlib.sha256(f"{self.seed}:{run_id}".encode()).digest()[:4],
                              "little")
        submit_families(fams, self.backend_name, self.ledger, run_id=run_id, shots=self.shots,
                        seed=seed, name="quantum-data", noise_from=self.noise_from,
                        isa=[f.circuit for f in fams])
        counts = run_counts(self.ledger, run_id)
        res = np.array([[counts_readout(counts[f"s{i}"][s], self.model.n, lcu, self.model.q)
                         for i in idx] for s in range(len(values))])  # (S, B, 3)
        return res[..., 0], res[..., 1], res[..., 2]


def estimator_readout(model: QuantumDataModel, psi: np.ndarray, precision: float = 0.01,
                      seed: int = 0) -> tuple[float, float]:
    """``(<Z_q>, stderr)`` on the postselected state from Aer's EstimatorV2 (``precision``
    per observable; see the module docstring for the ratio's error)."""
    from qiskit.quantum_info import SparsePauliOp
    from qiskit_aer.primitives import EstimatorV2

    qc, values = prepared(model, psi, measure=False)
    nq, q = qc.num_qubits, model.q
    lcu = model.mode == "lcu"
    zq = SparsePauliOp.from_sparse_list([("Z", [q], 1.0)], nq)
    if lcu:
        a = model.n
        num = SparsePauliOp.from_sparse_list([("Z", [q], 0.5), ("ZZ", [q, a], 0.5)], nq)
        den = SparsePauliOp.from_sparse_list([("", [], 0.5), ("Z", [a], 0.5)], nq)
        obs = [[num], [den]]
    else:
        obs = [[zq]]
    est = EstimatorV2(options={"run_options": {"seed_simulator": seed}})
    res = est.run([(qc.decompose(reps=6), obs, values)], precision=precision).result()[0]
    evs, stds = np.asarray(res.data.evs).reshape(-1), np.asarray(res.data.stds).reshape(-1)
    if not lcu:
        return float(evs[0]), float(stds[0])
    r = evs[0] / evs[1]
    return float(r), float(np.sqrt(stds[0] ** 2 + r**2 * stds[1] ** 2) / abs(evs[1]))


def agreement(ledger: str | Path, n: int = 4, states: int = 4, shots: int = 20_000,
              precision: float = 0.01, seed: int = 0) -> list[dict]:
    """Exact vs Sampler (``aer``, through the ledger) vs EstimatorV2 (``aer``) readouts of a
    seeded random LCU model on cluster-Ising ground states: one row per state with each
    estimate, its stderr and its deviation in stderr units."""
    import torch

    from hwadapt.quantum.data import phase_data

    model = QuantumDataModel(n, 1, "brick", "lcu", seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (model.qnn, model.qa):
            p.copy_(torch.empty_like(p).uniform_(-np.pi, np.pi, generator=g))
        model.alphas.copy_(torch.tensor([0.6, -0.5]))
    psi = phase_data("cluster", n, states, 2, seed).part("train")[0]
    with torch.no_grad():
        z_exact, p_exact = (t.numpy() for t in model.readout(torch.as_tensor(psi)))
    sampler = LedgerReadout(model, psi, "aer", ledger, shots=shots, seed=seed)
    z, se, acc = sampler(model_circuit(model)[1][None], list(range(states)),
                         f"qdata-agreement-{seed}")
    rows = []
    for i in range(states):
        r, s = estimator_readout(model, psi[i], precision, seed + i)
        rows.append({"exact": float(z_exact[i]), "p_success": float(p_exact[i]),
                     "sampler": float(z[0, i]), "sampler_stderr": float(se[0, i]),
                     "acceptance": float(acc[0, i]), "estimator": r, "estimator_stderr": s,
                     "sampler_sigmas": float((z[0, i] - z_exact[i]) / se[0, i]),
                     "estimator_sigmas": float((r - z_exact[i]) / s)})
    return rows
