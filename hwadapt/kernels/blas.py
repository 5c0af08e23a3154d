"""A BLAS ``gemm`` callable from numba-compiled code on strided blocks of flat arrays
(numba's own cached binding to SciPy's BLAS, no copies), with an interpreted reference."""

from __future__ import annotations

import numpy as np
from numba.extending import overload
from numba.np.linalg import _BLAS, get_blas_kind


def _gemm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc):
    """BLAS ``gemm`` (column-major, ``C = op(A) op(B)``, ``C`` overwritten) on the matrices
    starting at flat ``a[0]``, ``b[0]``, ``c[0]`` with leading dimensions ``lda``, ``ldb``,
    ``ldc``; ``ta``/``tb``: ``ord("n")`` or ``ord("t")``. Compiled code calls the overload
    below (numba's own cached binding to SciPy's BLAS, ``numba_xxgemm``: strided blocks go to
    BLAS as they are, no copies); this is the interpreted reference."""
    def mat(p, rows, cols, ld, t):
        M = np.lib.stride_tricks.as_strided(p, (rows, cols), (p.itemsize, ld * p.itemsize))
        return M.T if t == ord("t") else M

    op_a = mat(a, *((k, m) if ta == ord("t") else (m, k)), lda, ta)
    op_b = mat(b, *((n, k) if tb == ord("t") else (k, n)), ldb, tb)
    out = np.lib.stride_tricks.as_strided(c, (m, n), (c.itemsize, ldc * c.itemsize))
    out[...] = op_a @ op_b


@overload(_gemm)
def _gemm_compiled(ta, tb, m, n, k, a, lda, b, ldb, c, ldc):  # pragma: no cover - compiled
    gemm = _BLAS().numba_xxgemm(a.dtype)
    kind = ord(get_blas_kind(a.dtype))

    def impl(ta, tb, m, n, k, a, lda, b, ldb, c, ldc):
        scal = np.zeros(2, dtype=a.dtype)
        scal[0] = 1
        gemm(kind, ta, tb, m, n, k, scal[:1].ctypes, a.ctypes, lda, b.ctypes, ldb,
             scal[1:].ctypes, c.ctypes, ldc)

    return impl
