"""TOML job specs: parse, validate (one-line errors naming the key and the fix), build circuits.

Modules: :mod:`~hwadapt.spec.model` (the spec's types and family names),
:mod:`~hwadapt.spec.fields` (typed TOML field checks), :mod:`~hwadapt.spec.parse` (TOML ->
:class:`JobSpec`), :mod:`~hwadapt.spec.parameters` (adapter angles, LCU weights, input vectors),
:mod:`~hwadapt.spec.families` (circuit families, sign references, run metadata).

Schema (documented for users in ``jobs/README.md``)::

    name = "demo"                 # label shown by `hwadapt runs`
    seed = 2024                   # seeds transpiling, sampling (per batch) and random parts
    [circuit]
    qubits = 8                    # data qubits n
    encoding = "unary"            # HW-1 amplitude loader (X + n-1 RBS gates)
    layout = "pyramid"            # pyramid | butterfly | brick (adapter gate layout)
    terms = 2                     # adapters R in the LCU  M = Σ α_i U_i
    alphas = [0.6, 0.4]           # LCU weights, non-zero, one per term
    angles = "seed"               # "seed" (uniform in ±angle_scale) or "checkpoint"
    angle_scale = 3.14159         # only with angles = "seed"
    checkpoint = "adapter.pt"     # only with angles = "checkpoint": torch state_dict
    layer = "fc1"                 # which adapted layer in the checkpoint (if several)
    families = ["magnitude"]      # circuit families to run (magnitude, signs)
    construction = "efficient"    # efficient | spectral (R = 2) | textbook | dilation
    mode = "lcu"                  # lcu | separate | ["lcu", "separate"] (side by side)
    [inputs]
    count = 16                    # number of input vectors (bindings of the loader)
    source = "random"             # random | mnist | file
    seed = 7                      # random: Gaussian vectors; mnist: which digits
    path = "x.npy"                # source = "file": (N >= count, n) array
    [shots]
    target_accepted = 4000        # postselected shots wanted per input and family
    budget = 2_000_000            # raw shots cap for the whole run
    max_rounds = 4                # planning rounds (first + top-ups)
    pilot = 1024                  # raw shots per input of the pilot round (when not exact)
    [calibration]                 # optional: calibration inputs in the run (issue 16)
    inputs = 64                   # unit vectors with exactly simulable outputs, bound to
    shots = 4096                  # the same ISA template (same PUBs, same physical qubits)
    seed = 11                     # default: the spec seed
    kind = "random"               # random | basis | mixed (hwadapt.mitigation.calibration)
    [mitigation]                  # optional: zero-noise extrapolation circuits in the run
    zne = { factors = [1, 3], extrapolation = "richardson" }  # fold 2q gates, same shots
    [execution]
    optimization_level = 1        # transpiler preset level 0..3
    dynamical_decoupling = "XY4"  # off (default) | XX | XpXm | XY4: Runtime sampler option
    twirling = true               # Pauli-twirl gates and measurements (Runtime sampler)
    [observables]                 # optional: an Estimator run (hwadapt.spec.observables)
    observables = ["Z0", "unary:1", "parity"]  # on the data register (qubit i = data i)
    shots = 4096                  # per input
    [estimator]                   # Runtime EstimatorV2 options (ibm_*; local mode drops them)
    resilience_level = 1          # 0 | 1 | 2; measure_mitigation, zne_mitigation, zne, twirling

Constructions (``circuit.construction``) are the registry :mod:`hwadapt.circuits.constructions`
(one module each: efficient, textbook, dilation, spectral); every family is built with ONE
ParameterVector for the loader angles, so one circuit plus a ``(count, n-1)`` parameter array
serves every input as one PUB.

Modes: ``lcu`` measures ``M x`` directly (families ``magnitude``/``signs``); ``separate``
measures every ``U_i x`` on its own (families ``term<i>.magnitude``/``term<i>.signs``, no
ancilla in the magnitude circuits, β = 1) and :func:`hwadapt.estimate.combine_terms` adds them
with ``α``. A list runs both in one job; ``hwadapt compare`` reports them side by side.

Relative paths are relative to the spec file; the files a spec references (checkpoint,
inputs) are part of its :attr:`JobSpec.digest` and are copied into the run's folder at submit,
with the analysis data of :func:`run_metadata`. Angles from a checkpoint: the orthogonal
Hamming adapter's ``<layer>.angles (R, m)`` (pyramid order = circuit order) and
``<layer>.alpha (R,)``; signs of α go into the circuits (B's ``lcu_circuit``).
"""

from hwadapt.execution.family import Family
from hwadapt.spec.families import build_families, reference_vectors, run_metadata, sign_reference
from hwadapt.spec.fields import check_alphas
from hwadapt.spec.model import (
    ALPHA_RANGE,
    DD_SEQUENCES,
    ENCODINGS,
    FAMILIES,
    LAYOUTS,
    MAX_FRAME_QUBITS,
    MAX_QUBITS,
    MODES,
    SOURCES,
    CalibrationSpec,
    CircuitSpec,
    InputSpec,
    JobSpec,
    sign_references,
)
from hwadapt.spec.observables import ObservableSpec, estimator_family, observables
from hwadapt.spec.parameters import adapter_parameters, calibration_vectors, input_vectors
from hwadapt.spec.parse import load_spec, parse_spec, sampler_options

__all__ = [
    "ALPHA_RANGE", "DD_SEQUENCES", "ENCODINGS", "FAMILIES", "LAYOUTS", "MAX_FRAME_QUBITS",
    "MAX_QUBITS", "MODES", "SOURCES", "CalibrationSpec", "CircuitSpec", "Family", "InputSpec",
    "JobSpec", "ObservableSpec", "adapter_parameters", "build_families", "calibration_vectors",
    "check_alphas", "estimator_family", "input_vectors", "load_spec", "observables",
    "parse_spec", "reference_vectors", "run_metadata", "sampler_options", "sign_reference",
    "sign_references",
]
