"""Error mitigation and honest error bars for signed estimates (issue 16).

One module per job:

- :mod:`~hwadapt.mitigation.calibration`: calibration inputs (unit vectors with exactly
  simulable outputs) bound to the same ISA template as a run's targets;
- :mod:`~hwadapt.mitigation.response`: response maps fitted from noisy to exact kept
  probabilities (diagonal or full affine);
- :mod:`~hwadapt.mitigation.bootstrap`: parametric resampling of kept counts;
- :mod:`~hwadapt.mitigation.crossval`: k-fold folds and the systematic error term;
- :mod:`~hwadapt.mitigation.learned`: the pipeline — mitigated estimate with statistical
  (bootstrap) and systematic (cross-validated) error bars;
- :mod:`~hwadapt.mitigation.readout`: mthree readout correction of counts;
- :mod:`~hwadapt.mitigation.runs`: a stored run's readout calibration, calibration inputs and
  mitigated estimate (what ``compare`` calls);
- :mod:`~hwadapt.mitigation.zne`: local folding of two-qubit gates and Richardson
  extrapolation.

Rule: a mitigation uses the target's noisy counts and what it learned from other bindings
(calibration inputs), never the target's exact answer.
"""
