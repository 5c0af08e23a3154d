"""Observables on the data register of an LCU circuit, and ancilla postselection written as
observables (for Estimator runs).

Qubit order (Qiskit little-endian, :mod:`hwadapt.circuits.lcu`): data qubit ``i`` is circuit
qubit ``i`` (``0..n-1``), ancilla ``j`` is circuit qubit ``n + j``. In the unary encoding
data qubit ``i`` holds mode ``i``, so the occupation of mode ``i`` is ``(I - Z_i)/2``.

Names (:func:`parse_observable`):

- a Pauli string as letter-index pairs, e.g. ``"Z0"``, ``"Z0Z1"``, ``"X1Y2"`` (letters
  ``X``, ``Y``, ``Z``; each data qubit at most once);
- ``"unary:i"``: occupation of mode ``i``, ``(I - Z_i)/2`` (the probability of outcome
  ``e_i`` on the postselected state, i.e. ``(M x)_i² / ‖M x‖²``);
- ``"parity"``: ``Z_0 Z_1 ... Z_{n-1}`` on the data register.

Postselection (:func:`postselected_operators`): the accepted state of an LCU circuit is its
data register with every ancilla in ``|0>``. With ``P0 = ⊗_j (I + Z_j)/2 = 2^-a Σ_S Z_S``
(sum over the ``2^a`` subsets ``S`` of the ancillas), ``<O>_post = <P0 ⊗ O> / <P0>``.
"""

from __future__ import annotations

import itertools
import re

from qiskit.quantum_info import SparsePauliOp

MAX_POSTSELECT_ANCILLAS = 10
"""Largest ancilla register expanded into ``2^a`` Pauli terms (1,024)."""
_PAULI = re.compile(r"([XYZ])(\d+)")


def parse_observable(name: str, n: int) -> SparsePauliOp:
    """The observable called ``name`` (module docstring) on ``n`` data qubits.

    Raises ``ValueError`` with a one-line message naming the problem and the accepted forms.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"observable {name!r} must be a non-empty string such as \"Z0\"")
    if name == "parity":
        return SparsePauliOp.from_sparse_list([("Z" * n, list(range(n)), 1.0)], n)
    if name.startswith("unary:"):
        i = name[6:]
        if not i.isdigit() or int(i) >= n:
            raise ValueError(f"observable {name!r}: unary:i needs a mode 0..{n - 1}")
        return SparsePauliOp.from_sparse_list([("", [], 0.5), ("Z", [int(i)], -0.5)], n)
    pairs = _PAULI.findall(name)
    if not pairs or "".join(p + q for p, q in pairs) != name:
        raise ValueError(f"observable {name!r} is not understood: use a Pauli string like "
                         "\"Z0\" or \"X0Z2\", \"unary:i\" or \"parity\"")
    qubits = [int(q) for _, q in pairs]
    if max(qubits) >= n or len(set(qubits)) != len(qubits):
        raise ValueError(f"observable {name!r} must name distinct data qubits 0..{n - 1}")
    return SparsePauliOp.from_sparse_list([("".join(p for p, _ in pairs), qubits, 1.0)], n)


def ancilla_projector(n_data: int, n_ancilla: int) -> SparsePauliOp:
    """``I_data ⊗ P0_anc``, ``P0 = 2^-a Σ_S Z_S`` on the ``a`` ancillas (qubits ``n..n+a-1``):
    ``2^a`` Pauli terms; ``ValueError`` above :data:`MAX_POSTSELECT_ANCILLAS`."""
    if n_ancilla > MAX_POSTSELECT_ANCILLAS:
        raise ValueError(f"postselection on {n_ancilla} ancillas needs 2^{n_ancilla} Pauli "
                         f"terms (limit 2^{MAX_POSTSELECT_ANCILLAS}): use fewer qubits or "
                         "another construction")
    anc = [n_data + j for j in range(n_ancilla)]
    terms = [("Z" * len(s), list(s), 2.0 ** -n_ancilla)
             for r in range(n_ancilla + 1) for s in itertools.combinations(anc, r)]
    return SparsePauliOp.from_sparse_list(terms, n_data + n_ancilla)


def postselected_operators(observables: list[SparsePauliOp], n_ancilla: int
                           ) -> tuple[list[SparsePauliOp], list[tuple[int, int, int]]]:
    """What an Estimator must measure to give every ``<O>_post``: ``(operators, index)``.

    ``operators`` (on ``n + a`` qubits) are distinct, the first is ``P0``; ``index[k] =
    (i_num, i_den, i_sq)`` points at ``P0 ⊗ O_k``, ``P0`` and ``P0 ⊗ O_k²`` (the second
    moment the ratio's error propagation needs; ``= P0`` for a Pauli string, ``= P0 ⊗ O_k``
    for a projector such as ``unary:i``).
    """
    n = observables[0].num_qubits if observables else 0
    p0 = ancilla_projector(n, n_ancilla)
    ops: list[SparsePauliOp] = [p0]
    keys: dict[tuple, int] = {_key(p0): 0}

    def add(op: SparsePauliOp) -> int:
        k = _key(op)
        if k not in keys:
            keys[k] = len(ops)
            ops.append(op)
        return keys[k]

    index = []
    for obs in observables:
        wide = SparsePauliOp("I" * n_ancilla).tensor(obs) if n_ancilla else obs
        num = (p0 @ wide).simplify()
        sq = (p0 @ (wide @ wide)).simplify()
        index.append((add(num), 0, add(sq)))
    return ops, index


def _key(op: SparsePauliOp) -> tuple:
    op = op.simplify()
    return tuple(sorted((lbl, round(c.real, 12), round(c.imag, 12))
                        for lbl, c in zip(op.paulis.to_labels(), op.coeffs, strict=True)))
