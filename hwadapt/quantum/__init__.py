"""The paper's quantum adapter on quantum data (issue 18, Fig. 2).

Modules, lowest first: :mod:`.data` (spin-chain ground states), :mod:`.statevector` (torch
statevector), :mod:`.models` (U_QNN, U_QA, the LCU and their circuits), :mod:`.gradients`
(parameter shift, SPSA), :mod:`.dla` (Lie closure, gradient variance), :mod:`.estimates`
(Sampler through the ledger, EstimatorV2), :mod:`.experiment` (the fine-tuning arms),
:mod:`.backend_run` (a short resumable run on a backend), :mod:`.report` and :mod:`.study`
(the whole study, ``hwadapt quantum-finetune``).
"""
