"""Numba kernels behind :mod:`intervals.linalg` (``fastmath`` off, ``cache=True``).

The kernels compute plain round-to-nearest sums; the rounding argument that turns them into
enclosures is in :mod:`intervals.linalg`, next to the code that applies it. Each kernel has a
pure-Python twin (``kernel.py_func``) that the tests compare it with.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, fastmath=False)
def dual_matvec_t(WT, AT, m, a, c, s):  # pragma: no cover - compiled
    """``c = W m`` and ``s = A a`` from the transposes ``WT = Wᵀ``, ``AT = Aᵀ`` (shape (n, k)).

    Axpy order (output index innermost, contiguous rows of the transposes) lets LLVM vectorise
    without reassociation: each ``c[i]`` is still the sequential sum ``Σ_j W[i, j]·m[j]`` in
    order ``j = 0 … n−1``, which is all the γ_n error bound needs.
    """
    n, k = WT.shape
    for i in range(k):
        c[i] = 0.0
        s[i] = 0.0
    for j in range(n):
        mj = m[j]
        aj = a[j]
        for i in range(k):
            c[i] += WT[j, i] * mj
            s[i] += AT[j, i] * aj


@njit(cache=True, fastmath=False)
def careful_matvec_t(WT, xlo, xhi, lo, hi):  # pragma: no cover - compiled
    """``W [xlo, xhi]`` with one outward step after every operation: the slow path for unbounded boxes.

    Each ``W[i, j]·x`` term is the interval ``[min, max]`` of the two endpoint products, rounded
    outward by one ulp (correct rounding of IEEE ``*``); zero weights are skipped, so ``0·∞`` never
    occurs. Partial sums are rounded outward after every addition. After stepping, a lower
    contribution or partial sum is never ``+∞`` and an upper one never ``−∞``, so no ``∞ − ∞`` arises.
    """
    n, k = WT.shape
    for i in range(k):
        acc_lo = 0.0
        acc_hi = 0.0
        for j in range(n):
            w = WT[j, i]
            if w == 0.0:
                continue
            if w > 0.0:
                pl = w * xlo[j]
                ph = w * xhi[j]
            else:
                pl = w * xhi[j]
                ph = w * xlo[j]
            # step outward unless already at the sound infinity (an RN overflow to the *other*
            # infinity is stepped back to ±max, which is on the correct side of the exact product)
            if pl != -np.inf:
                pl = np.nextafter(pl, -np.inf)
            if ph != np.inf:
                ph = np.nextafter(ph, np.inf)
            acc_lo = np.nextafter(acc_lo + pl, -np.inf)
            acc_hi = np.nextafter(acc_hi + ph, np.inf)
        lo[i] = acc_lo
        hi[i] = acc_hi
