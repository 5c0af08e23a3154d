"""Array coercion shared by every part: torch tensors (any device, with grad) or array-likes
to numpy."""

from __future__ import annotations

import numpy as np


def to_numpy(x, dtype=None) -> np.ndarray:
    """``x`` as a numpy array (a torch tensor is detached and moved to the CPU first)."""
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype)
