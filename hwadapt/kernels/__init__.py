"""Compiled (numba) CPU kernels behind :mod:`hwadapt.linalg` and the Hamming-weight adapter;
every other device takes the pure-torch reference paths (the switch: :func:`supported`).

- :mod:`~hwadapt.kernels.compounds`: all compounds of a batch of matrices (Laplace
  recursion as contiguous axpys, forward and reverse).
- :mod:`~hwadapt.kernels.hamming`: the fused Hamming-weight layer (:class:`HammingDense`,
  :class:`HammingBlocks`).
- :mod:`~hwadapt.kernels.givens`: Givens products (:class:`GivensMatrix`).

Imports only :mod:`hwadapt.linalg.subsets` from the rest of hwadapt. numba compiles on first
use (``cache=True``: the compiled code is kept in ``__pycache__`` next to these files, and
dropped when any of these sources changed: :func:`_drop_stale_compiled`).
"""

import hashlib
from pathlib import Path


def _drop_stale_compiled(folder: Path) -> None:
    """Delete numba's cached code in ``folder/__pycache__`` when any ``folder/*.py`` changed.

    ``cache=True`` keys a function's compiled code on its own file's timestamp, but the
    code also holds what it compiled in from the other kernel modules (inlined helpers such
    as ``compounds._coef``, callees, the BLAS overload): edit only ``compounds.py`` and
    ``hamming.py``'s cached functions kept running the old helper. A digest of all the
    sources, stored next to the cache, catches that. A read-only install is left alone."""
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.glob("*.py"))))
    stamp = folder / "__pycache__" / "kernels-sources.sha256"
    try:
        if stamp.is_file() and stamp.read_text() == digest.hexdigest():
            return
        for f in [*stamp.parent.glob("*.nbi"), *stamp.parent.glob("*.nbc")]:
            f.unlink()
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(digest.hexdigest())
    except OSError:
        pass


_drop_stale_compiled(Path(__file__).parent)

from hwadapt.kernels.compounds import DTYPES, _plan, compounds_flat, supported  # noqa: E402
from hwadapt.kernels.givens import GivensMatrix, givens_product  # noqa: E402
from hwadapt.kernels.hamming import (  # noqa: E402
    BlockIndex,
    HammingBlocks,
    HammingDense,
    _add_cols,
    _block_gemms,
    _block_gram,
    _gather_blocks,
    block_index,
    fused_linear,
    hw_colex_order,
)

__all__ = ["DTYPES", "BlockIndex", "GivensMatrix", "HammingBlocks", "HammingDense",
           "_add_cols", "_block_gemms", "_block_gram", "_gather_blocks", "_plan",
           "block_index", "compounds_flat", "fused_linear", "givens_product", "hw_colex_order",
           "supported"]
