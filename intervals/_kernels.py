"""Numba kernels behind :mod:`intervals.linalg` (``fastmath`` off, ``cache=True``).

The kernels compute plain round-to-nearest sums; the rounding argument that turns them into
enclosures is in :mod:`intervals.linalg`, next to the code that applies it. Each kernel has a
pure-Python twin (``kernel.py_func``) that the tests compare it with.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Branch-free outward steps (Rump, Zimmermann, Boldo & Melquiond, "Computing predecessor and successor
# in rounding to nearest", BIT 49, 2009, Alg. 2): for every finite float c, in round-to-nearest,
# fl(c + fl(PHI·|c| + ETA)) ≥ succ(c) and fl(c − fl(PHI·|c| + ETA)) ≤ pred(c), with PHI = u(1 + 2u)
# and ETA the smallest subnormal. Several times cheaper than nextafter in compiled loops. Infinite
# inputs stay infinite, except that an RN overflow to −∞ used as an *upper* bound (or +∞ as a lower
# bound) is moved back to ∓max, the correct side of the exact value.
_PHI = 2.0**-53 * (1.0 + 2.0**-52)
_ETA = 2.0**-1074
_MAX = 1.7976931348623157e308


@njit(cache=True, fastmath=False, inline="always")
def up(c):  # pragma: no cover - compiled
    """A float ≥ succ(c): an upper bound of any real that rounds to nearest to ``c``."""
    if c == -np.inf:
        return -_MAX
    return c + (_PHI * abs(c) + _ETA)


@njit(cache=True, fastmath=False, inline="always")
def down(c):  # pragma: no cover - compiled
    """A float ≤ pred(c): a lower bound of any real that rounds to nearest to ``c``."""
    if c == np.inf:
        return _MAX
    return c - (_PHI * abs(c) + _ETA)


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


@njit(cache=True, fastmath=False, inline="always")
def finite(c):  # pragma: no cover - compiled
    """``c`` is neither infinite nor NaN (a comparison, so loops that use it stay branch-free)."""
    return abs(c) <= _MAX


@njit(cache=True, fastmath=False)
def mid_rad_a(lo, hi, g, m, a):  # pragma: no cover - compiled
    """Midpoint ``m``, and ``a ≥ r + g|m|`` with ``r ≥ max(hi − m, m − lo)``, for flat finite arrays.

    Returns False (and leaves meaningless outputs) when an endpoint is not finite. Each rounded
    operation is followed by :func:`up`: IEEE operations are correctly rounded, so a float ≥ the
    successor of the round-to-nearest result is ≥ the exact value. The loop has no branch (selects
    only), so LLVM vectorises it; non-finite endpoints are only noted and reported at the end.
    """
    ok = True
    for i in range(lo.shape[0]):
        l = lo[i]
        h = hi[i]
        ok &= finite(l) & finite(h)
        mi = 0.5 * l + 0.5 * h  # any float will do: r covers the rounding of m
        # Exact zeros are kept exact (a difference of floats rounds to 0 only if it is 0; 0·g = 0):
        # stepping them up would feed subnormals to BLAS, which is two orders of magnitude slower.
        d = max(h - mi, mi - l)
        r = 0.0 if d == 0.0 else up(d)
        t = 0.0 if mi == 0.0 else up(g * abs(mi))
        m[i] = mi
        a[i] = r if t == 0.0 else up(r + t)
    return ok


@njit(cache=True, fastmath=False, inline="always")
def _enclose(ci, si, inv, neta):  # pragma: no cover - compiled
    """``(lo, hi, ok)`` with ``[lo, hi] = [ĉ − ρ, ĉ + ρ]`` outward, ``ρ ≥ (ŝ + nη)·inv + nη``; ``ok`` is
    False when ``ĉ`` or ``ŝ`` is not finite (then ``lo``/``hi`` mean nothing).

    Proof: |ĉ − W m| ≤ γ_n|W||m| + nη and |W| a ≤ (ŝ + nη)/(1 − γ_n) (ŝ sums non-negative terms), so with
    a ≥ r + γ_n|m|, W x ∈ ĉ ± ρ; every rounded step is followed by up/down, hence ≥ / ≤ its exact value.
    """
    rho = up(up(up(si + neta) * inv) + neta)
    return down(ci - rho), up(ci + rho), finite(ci) & finite(si)


@njit(cache=True, fastmath=False)
def finish(c, s, inv, neta, blo, bhi, lo, hi):  # pragma: no cover - compiled
    """``[ĉ − ρ, ĉ + ρ] + [blo, bhi]`` with ``ρ ≥ (ŝ + nη)·inv + nη``, outward, over flat arrays.

    ``blo``/``bhi`` are broadcast along the flat array with period ``len(blo)`` (the neuron axis is
    last); pass zero-length arrays for no bias. A non-finite ``ĉ`` or ``ŝ`` (overflow) gives the whole
    line: a partial sum overflowed (an infinity never becomes finite again), so the a-priori bound does
    not apply. ``lo``/``hi`` may be ``c``/``s`` themselves: each block of ``ĉ``, ``ŝ`` is copied to a
    private buffer first, so the branch-free (selects only) inner loops vectorise in place too.
    """
    k = blo.shape[0]
    total = c.shape[0]
    block = k if k > 0 else min(total, 512)
    cb = np.empty(block)
    sb = np.empty(block)
    for start in range(0, total, max(block, 1)):
        cnt = min(block, total - start)
        cb[:cnt] = c[start:start + cnt]
        sb[:cnt] = s[start:start + cnt]
        lv = lo[start:start + cnt]
        hv = hi[start:start + cnt]
        if k == 0:
            for t in range(cnt):
                l, h, ok = _enclose(cb[t], sb[t], inv, neta)
                lv[t] = l if ok else -np.inf
                hv[t] = h if ok else np.inf
        else:
            for t in range(cnt):  # a block is one row of the batch: t is the neuron index
                l, h, ok = _enclose(cb[t], sb[t], inv, neta)
                l = down(l + blo[t])
                h = up(h + bhi[t])
                ok &= not (np.isnan(l) or np.isnan(h))  # e.g. an infinite bias end of the wrong sign
                lv[t] = l if ok else -np.inf
                hv[t] = h if ok else np.inf


@njit(cache=True, fastmath=False)
def point_matvec_1(WT, lo, hi, g, inv, neta, blo, bhi, out_lo, out_hi):  # pragma: no cover - compiled
    """Fused single-box ``W [lo, hi] (+ [blo, bhi])``: midpoint–radius, both dot products in one pass over
    ``WT`` (``|w|`` taken on the fly, so ``W`` is read once), and :func:`finish`'s rounding.

    Same proof as :func:`mid_rad_a`, :func:`dual_matvec_t` and :func:`finish` combined. Returns False
    (outputs untouched) when an endpoint is not finite, so the caller takes the careful path.
    """
    n, k = WT.shape
    m = np.empty(n)
    a = np.empty(n)
    if not mid_rad_a(lo, hi, g, m, a):
        return False
    c = out_lo  # the sums are accumulated in the outputs and finished in place
    s = out_hi
    c[:] = 0.0
    s[:] = 0.0
    # Four rows of WT per sweep: each c[i], s[i] is still the sequential sum in order j = 0 … n−1
    # (the same roundings as one row per sweep), with a quarter of the loads and stores of c and s.
    n4 = n - n % 4
    for j in range(0, n4, 4):
        m0, m1, m2, m3 = m[j], m[j + 1], m[j + 2], m[j + 3]
        a0, a1, a2, a3 = a[j], a[j + 1], a[j + 2], a[j + 3]
        for i in range(k):
            w0, w1, w2, w3 = WT[j, i], WT[j + 1, i], WT[j + 2, i], WT[j + 3, i]
            c[i] = (((c[i] + w0 * m0) + w1 * m1) + w2 * m2) + w3 * m3
            s[i] = (((s[i] + abs(w0) * a0) + abs(w1) * a1) + abs(w2) * a2) + abs(w3) * a3
    for j in range(n4, n):
        mj = m[j]
        aj = a[j]
        for i in range(k):
            w = WT[j, i]
            c[i] += w * mj
            s[i] += abs(w) * aj
    finish(c, s, inv, neta, blo, bhi, c, s)
    return True
