"""The paper's MNIST study: data (:mod:`.data`), experiment (:mod:`.experiment`), report
(:mod:`.report`: plots, tables, claims)."""
