"""The paper's quantum adapter on quantum data (issue 18): spin-chain ground states
(:mod:`.data`), a torch statevector (:mod:`.statevector`), the QNN / compound / LCU models
and their circuits (:mod:`.models`), backend estimates (:mod:`.estimates`), the fine-tuning
study (:mod:`.experiment`) and dynamical Lie algebras and gradient variance (:mod:`.dla`)."""
