"""The protocol every LCU construction implements (one module per construction).

A construction turns adapter angles ``(R, m)`` (layout order), LCU weights ``alphas (R,)``
and a unary ``loader`` (``ParameterVector("x", n-1)``, one binding per input) into the
circuits of a job's families, and declares the facts the rest of the toolkit reads instead
of switching on its name:

- ``name``; :meth:`check` (constraints on qubits/terms/modes, one-line ``InputError``);
- :meth:`lcu_circuit` (``magnitude`` family), :meth:`sign_circuit` (``signs`` family),
  :meth:`separate_circuit` (one term of the ``separate`` mode);
- :meth:`sign_references` (the reference kinds ``r`` of the signs families, by family name
  :meth:`sign_families`; first:
  :meth:`sign_reference`: ``"uniform"``,
  ``"input"`` or ``"term0"``, see :mod:`hwadapt.circuits.signs`);
- :meth:`sign_beta` (the reference weight ``β`` of the signs families);
- :meth:`scale` (``K0`` of the lcu magnitude family), :meth:`fold_inputs` (the inputs the
  lcu loader actually loads), :meth:`fold_counts` (measured counts onto the LCU convention
  of :func:`hwadapt.estimate.tally`);
- :meth:`template_kinds` / :meth:`template_reference`: the parameterised training templates
  (:func:`hwadapt.circuits.templates.circuit_template` kinds) and the sign reference they use;
  ``template_kinds`` returns None when the construction cannot be trained.

Every circuit returned is ``(circuit, n_ancilla)``: data qubits ``0..n-1``, then
``n_ancilla`` qubits postselected on 0 (:func:`hwadapt.circuits.lcu.postselect`), no
measurements. Register a new construction in :mod:`hwadapt.circuits.constructions`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qiskit.circuit import QuantumCircuit

from hwadapt.circuits.efficient_lcu import efficient_sign_circuit, separate_circuits
from hwadapt.circuits.signs import default_beta, reference_vector


class Construction:
    """Base class of the construction protocol (module docstring); defaults are the LCU's:
    ``K0 = ‖α‖₁``, inputs and counts unchanged, separate terms without ancilla (magnitude)
    and with the input reference (signs), not trainable."""

    name: str = ""

    def check(self, qubits: int, terms: int, modes: Sequence[str], max_qubits: int) -> None:
        """Raise :class:`hwadapt.errors.InputError` if the spec's shape is unsupported."""

    def needs_frames(self, terms: int, families: Sequence[str], modes: Sequence[str]) -> bool:
        """Whether some circuit has an ancilla-controlled multiplexed SELECT
        (:func:`hwadapt.circuits.efficient_lcu.multiplexed_select`, limited by its frame
        search to ``spec.MAX_FRAME_QUBITS`` data qubits): by default the separate-mode signs
        circuits."""
        return "separate" in modes and "signs" in families

    def lcu_circuit(self, angles: np.ndarray, alphas: np.ndarray, loader: QuantumCircuit,
                    layout: str) -> tuple[QuantumCircuit, int]:
        """``(circuit, n_ancilla)`` of the lcu-mode magnitude family (``M x / K0``)."""
        raise NotImplementedError

    def sign_circuit(self, angles: np.ndarray, alphas: np.ndarray, loader: QuantumCircuit,
                     layout: str, beta: float, kind: str | None = None
                     ) -> tuple[QuantumCircuit, int]:
        """``(circuit, n_ancilla)`` of an lcu-mode signs family: reference ``kind`` (one of
        :meth:`sign_references` ``(R, "lcu")``, default the first) with weight ``beta``."""
        raise NotImplementedError

    def separate_circuit(self, theta: np.ndarray, loader: QuantumCircuit, layout: str,
                         signs: bool, kind: str | None = None
                         ) -> tuple[QuantumCircuit, int]:
        """``(circuit, n_ancilla)`` of one term of the separate mode (``U_i x``, α = 1, β = 1);
        ``signs``: with the reference branch of ``kind`` (one of :meth:`sign_references`
        ``(R, "separate")``)."""
        if not signs:
            x_params = list(loader.parameters)
            return separate_circuits(theta[None, :], x_params, layout)[0], 0
        return efficient_sign_circuit(theta[None, :], [1.0], loader, reference=kind or "input",
                                      beta=1.0, layout=layout), 1

    def sign_reference(self, terms: int, mode: str) -> str:
        """Reference kind of the first signs family of ``mode`` (``"lcu"`` or
        ``"separate"``)."""
        return "input"

    def sign_references(self, terms: int, mode: str) -> list[str]:
        """Reference kinds of all signs families of ``mode``, one family each (by default
        the one :meth:`sign_reference`); more than one where a single reference has blind
        spots (components where it is near zero). The separate mode's input reference
        (``V_ref = I``, blind where ``x_j ≈ 0``) gets ``"mix"`` beside it: each term one more
        circuit of its signs circuit's size."""
        first = self.sign_reference(terms, mode)
        return [first, "mix"] if mode == "separate" and first == "input" else [first]

    def sign_families(self, terms: int, mode: str) -> dict[str, str]:
        """:meth:`sign_references` by family name: ``{"signs": kind0, "signs1": kind1, …}``."""
        kinds = self.sign_references(terms, mode)
        return {("signs" if k == 0 else f"signs{k}"): kind for k, kind in enumerate(kinds)}

    def sign_beta(self, alphas: np.ndarray, terms: int, mode: str) -> float:
        """``β`` of the signs families of ``mode`` (one for all, ``K1 = K0 + β``): by default
        :func:`hwadapt.circuits.signs.default_beta` ``‖α‖₂``."""
        return default_beta(alphas)

    def scale(self, angles: np.ndarray, alphas: np.ndarray, n: int, layout: str) -> float:
        """``K0`` of the lcu magnitude family: ``‖α‖₁`` for an LCU."""
        return float(np.abs(alphas).sum())

    def fold_inputs(self, angles: np.ndarray, x: np.ndarray, n: int, layout: str
                    ) -> np.ndarray:
        """The vectors ``(count, n)`` the lcu circuits' loader loads for inputs ``x``."""
        return x

    def fold_counts(self, counts, n: int):
        """One binding's counts of an lcu circuit in the convention of ``estimate.tally``."""
        return counts

    def template_kinds(self, terms: int) -> dict[str, str] | None:
        """Training template kind per family (``magnitude``, ``signs``) for ``terms``
        terms, or None if this construction has no parameterised template."""
        return None

    def template_reference(self, angles: np.ndarray, alphas: np.ndarray, psi: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, float]:
        """``(sign-family weights, r (S, B, n), β)`` of the templates for settings ``angles
        (S, R, m)``, ``alphas (R,)`` and unit inputs ``psi (B, n)``: the uniform reference."""
        r = reference_vector("uniform", psi)
        return alphas, np.broadcast_to(r, (len(angles), *psi.shape)), default_beta(alphas)
