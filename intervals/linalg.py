"""Sound products of matrices with interval vectors and batches of boxes (float64 backend).

Midpoint–radius arithmetic (Rump, "Fast and parallel interval arithmetic", BIT 39, 1999) with an
a-priori bound on the rounding error of round-to-nearest dot products, so the FPU rounding mode is
never touched:

* A box ``[lo, hi]`` is enclosed by ``⟨m, r⟩ = [m − r, m + r]`` with ``m ≈ (lo + hi)/2`` any float and
  ``r ≥ max(hi − m, m − lo)`` rounded up (so the enclosure does not depend on how ``m`` was rounded).
* For a point matrix ``W``: ``W⟨m, r⟩ ⊆ ⟨W m, |W| r⟩`` exactly in real arithmetic.
* ``ĉ = fl(W m)`` computed in any order with ``n`` terms per entry satisfies
  ``|ĉ − W m| ≤ γ_n |W||m| + n·η`` (Higham Thm 3.5 plus one underflow error ``≤ η/2`` per product,
  ``η = 2⁻¹⁰⁷⁴``; additions of floats never underflow inexactly).
* Hence ``W x ∈ [ĉ − ρ, ĉ + ρ]`` with ``ρ = |W| a + n·η`` for any ``a ≥ r + γ_n|m|``; and since ``|W| a`` is a
  sum of non-negative terms, ``ŝ = fl(|W| a)`` gives ``|W| a ≤ (ŝ + n·η)/(1 − γ_n)``.

Every float step that must round up is followed by ``next_up`` (IEEE ops are correctly rounded, so the
successor of the round-to-nearest result is ≥ the exact value), and symmetrically for ``next_down``.
Overflow gives ``±inf`` radii, which are sound; an ``inf − inf`` is mapped to the whole line. Boxes with
infinite endpoints take a slower path that rounds outward after every operation.

The batched path uses BLAS (``numpy.matmul``): the γ_n bound holds for any summation order and with
fused multiply-adds, provided the library computes each entry as a sum of the ``n`` products (no
Strassen-type algorithm; true of OpenBLAS, MKL and numpy's own loops).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from intervals import _kernels
from intervals import rounding as R
from intervals.array import IntervalArray

__all__ = ["PointMatrix", "IntervalMatrix"]

_ETA = R.ETA


def _err_consts(n: int) -> tuple[float, float, float]:
    """(γ_n rounded up, 1/(1 − γ_n) rounded up, n·η rounded up) for dot products of length ``n``."""
    g = R.gamma(max(n, 1))
    nu = Fraction(max(n, 1), 2**53)
    inv = R.float_up(1 / (1 - nu / (1 - nu)))  # 1/(1 − γ_n), γ_n = nu/(1 − nu) exactly
    neta = R.float_up(Fraction(max(n, 1)) * Fraction(_ETA))
    return g, inv, neta


def _mid_rad(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint ``m`` (any float, finite inputs) and radius ``r ≥ max(hi − m, m − lo)`` rounded up."""
    m = 0.5 * lo + 0.5 * hi  # halve first: no overflow; rounding of m is harmless (r covers it)
    with np.errstate(over="ignore"):  # next_up(max) = +inf is a sound radius
        d = np.maximum(hi - m, m - lo)  # one RN subtraction, then one step up
        # an RN difference of floats is 0 only when it is exactly 0: keep exact zeros exact (a
        # subnormal radius would make every BLAS product that touches it ~100x slower)
        r = np.where(d == 0, 0.0, R.next_up(d))
    return m, r


def _nz_up(x: np.ndarray) -> np.ndarray:
    """``next_up`` of a round-to-nearest result, except that an exact zero stays 0."""
    return np.where(x == 0, 0.0, R.next_up(x))


def _mm(x: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``x @ M`` over the last axis with leading batch axes folded into one BLAS-3 product."""
    lead = x.shape[:-1]
    return (x.reshape(-1, x.shape[-1]) @ M).reshape(lead + (M.shape[1],))


_NO_BIAS = np.empty(0)


def _finish_fused(c, s, inv, neta, bias: IntervalArray | None, out=None) -> IntervalArray:
    """:func:`_kernels.finish` plus an optional bias, in one compiled pass; ``out=(c, s)`` finishes in
    place (contiguous float64 ``c``, ``s`` owned by the caller)."""
    c = np.ascontiguousarray(c)
    s = np.ascontiguousarray(s)
    lo, hi = out if out is not None else (np.empty(c.shape), np.empty(c.shape))
    blo = _NO_BIAS if bias is None else np.ascontiguousarray(bias.lo, dtype=np.float64)
    bhi = _NO_BIAS if bias is None else np.ascontiguousarray(bias.hi, dtype=np.float64)
    if bias is not None and (blo.ndim != 1 or blo.shape[0] != c.shape[-1]):
        raise ValueError(f"bias of shape {blo.shape} does not match output shape {c.shape}")
    _kernels.finish(c.reshape(-1), s.reshape(-1), inv, neta, blo, bhi, lo.reshape(-1), hi.reshape(-1))
    return IntervalArray.unchecked(lo, hi)


def _check_box(x: IntervalArray, n: int, who: str) -> None:
    if not isinstance(x, IntervalArray):
        raise TypeError(f"{who}: expected an IntervalArray, got {type(x).__name__}")
    if x.shape[-1] != n:
        raise ValueError(f"{who}: last dimension {x.shape[-1]} does not match matrix columns {n}")


class PointMatrix:
    """A float64 matrix ``W`` (exact binary entries) prepared for sound products with boxes.

    Examples
    --------
    >>> W = PointMatrix([[1.0, -2.0], [0.5, 0.25]])
    >>> y = W @ IntervalArray([0.0, 1.0], [1.0, 2.0])
    >>> bool(y.lo[0] <= -4.0 + 1.0 and y.hi[0] >= 1.0 - 2.0)
    True

    Rigorous: ``(W @ X)`` contains ``W x`` for every real ``x`` in every box of ``X``.
    """

    __slots__ = ("W", "absW", "WT", "absWT", "n", "m", "_g", "_inv", "_neta")

    def __init__(self, W) -> None:
        W = np.asarray(W)
        if W.ndim != 2 or W.dtype.kind not in "fiu":
            raise ValueError(f"PointMatrix: expected a 2-D numeric matrix, got shape {W.shape}, dtype {W.dtype}")
        W = np.ascontiguousarray(W, dtype=np.float64)
        if not np.isfinite(W).all():
            raise ValueError("PointMatrix: NaN or infinite entry")
        self.W = W
        self.absW = np.abs(W)
        self.WT = np.ascontiguousarray(W.T)
        self.absWT = np.ascontiguousarray(self.absW.T)
        self.m, self.n = W.shape
        self._g, self._inv, self._neta = _err_consts(self.n)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.m, self.n)

    def __matmul__(self, x: IntervalArray) -> IntervalArray:
        return self.matvec(x)

    def matvec(self, x: IntervalArray, bias: IntervalArray | None = None) -> IntervalArray:
        """Enclosure of ``W x`` (plus the interval vector ``bias`` if given) for a box ``x`` of shape (n,)
        or a batch of shape (..., n)."""
        _check_box(x, self.n, "PointMatrix.matvec")
        if x.ndim == 1:  # one fused compiled call: the single-vector path is dominated by call overhead
            lo = np.empty(self.m)
            hi = np.empty(self.m)
            blo = _NO_BIAS if bias is None else np.ascontiguousarray(bias.lo, dtype=np.float64)
            bhi = _NO_BIAS if bias is None else np.ascontiguousarray(bias.hi, dtype=np.float64)
            if bias is not None and blo.shape != (self.m,):
                raise ValueError(f"bias of shape {blo.shape} does not match output shape ({self.m},)")
            if _kernels.point_matvec_1(self.WT, np.ascontiguousarray(x.lo), np.ascontiguousarray(x.hi), self._g,
                                       self._inv, self._neta, blo, bhi, lo, hi):
                return IntervalArray.unchecked(lo, hi)
        m = np.empty(x.shape)
        a = np.empty(x.shape)
        if not _kernels.mid_rad_a(x.lo.reshape(-1), x.hi.reshape(-1), self._g, m.reshape(-1), a.reshape(-1)):
            out = self._careful(x)
            return out if bias is None else out + bias
        # here a ≥ r + γ_n|m| elementwise; ĉ, ŝ are computed in the output arrays and finished in place
        # (fewer fresh arrays: first-touch page faults cost more than the BLAS products at n ~ 100)
        out_shape = x.shape[:-1] + (self.m,)
        c = np.empty(out_shape)
        s = np.empty(out_shape)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow/NaN are handled in finish
            if x.ndim == 1:
                _kernels.dual_matvec_t(self.WT, self.absWT, m, a, c, s)
            else:  # (B, n) @ (n, m) -> (B, m), leading batch axes folded into one BLAS-3 product
                np.matmul(m.reshape(-1, self.n), self.WT, out=c.reshape(-1, self.m))
                np.matmul(a.reshape(-1, self.n), self.absWT, out=s.reshape(-1, self.m))
        return _finish_fused(c, s, self._inv, self._neta, bias, out=(c, s))

    def _careful(self, x: IntervalArray) -> IntervalArray:
        lead = x.shape[:-1]
        xl = x.lo.reshape(-1, self.n)
        xh = x.hi.reshape(-1, self.n)
        lo = np.empty((xl.shape[0], self.m))
        hi = np.empty((xl.shape[0], self.m))
        for b in range(xl.shape[0]):
            _kernels.careful_matvec_t(self.WT, xl[b], xh[b], lo[b], hi[b])
        return IntervalArray.unchecked(lo.reshape(lead + (self.m,)), hi.reshape(lead + (self.m,)))


class IntervalMatrix:
    """An interval matrix ``[Wlo, Whi]`` prepared for sound products with boxes.

    Uses ``[Wlo, Whi] ⊆ ⟨Wm, Wr⟩`` and Rump's product
    ``⟨Wm, Wr⟩⟨m, r⟩ ⊆ ⟨Wm m, |Wm| r + Wr(|m| + r)⟩`` (overestimation at most a factor 1.5 in the radius),
    with the same rounding-error bound as :class:`PointMatrix` applied to the two radius products.

    Rigorous: ``(M @ X)`` contains ``W x`` for every real ``W`` in ``M`` and ``x`` in every box of ``X``.
    """

    __slots__ = ("mid", "n", "m", "_WmT", "_absWmT", "_WrT", "_g", "_inv", "_neta", "_point")

    def __init__(self, Wlo, Whi) -> None:
        W = IntervalArray(Wlo, Whi)
        if W.ndim != 2:
            raise ValueError(f"IntervalMatrix: expected 2-D endpoints, got shape {W.shape}")
        if not (np.isfinite(W.lo).all() and np.isfinite(W.hi).all()):
            raise ValueError("IntervalMatrix: infinite entry")
        Wm, Wr = _mid_rad(W.lo, W.hi)
        self.mid = Wm
        self.m, self.n = Wm.shape
        self._WmT = np.ascontiguousarray(Wm.T)
        self._absWmT = np.ascontiguousarray(np.abs(Wm).T)
        self._WrT = np.ascontiguousarray(Wr.T)
        # |Wm| a1 + Wr a2 is one non-negative dot product of length 2n
        self._g, _, _ = _err_consts(self.n)
        _, self._inv, self._neta = _err_consts(2 * self.n)
        self._point = PointMatrix(W.lo) if np.array_equal(W.lo, W.hi) else None

    @property
    def shape(self) -> tuple[int, int]:
        return (self.m, self.n)

    def __matmul__(self, x: IntervalArray) -> IntervalArray:
        return self.matvec(x)

    def matvec(self, x: IntervalArray, bias: IntervalArray | None = None) -> IntervalArray:
        """Enclosure of ``{W x : W ∈ M, x ∈ X}`` (plus ``bias``) for a box (n,) or batch (..., n)."""
        if self._point is not None:
            return self._point.matvec(x, bias)
        _check_box(x, self.n, "IntervalMatrix.matvec")
        if not (np.isfinite(x.lo).all() and np.isfinite(x.hi).all()):
            raise ValueError("IntervalMatrix.matvec: unbounded boxes are not supported with interval weights")
        m, r = _mid_rad(x.lo, x.hi)
        absm = np.abs(m)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow/NaN are handled in finish
            # exact zeros stay exact: 0 + 0 and γ·0 are exact (see _nz_up)
            a1 = _nz_up(r + _nz_up(self._g * absm))  # ≥ r + γ_n|m|  (error of fl(Wm m))
            a2 = _nz_up(absm + r)  # ≥ |m| + r
            if x.ndim == 1:
                c = np.empty(self.m)
                s1 = np.empty(self.m)
                _kernels.dual_matvec_t(self._WmT, self._absWmT, m, a1, c, s1)
                s2 = a2 @ self._WrT
            else:
                c = _mm(m, self._WmT)
                s1 = _mm(a1, self._absWmT)
                s2 = _mm(a2, self._WrT)
            # ŝ1 + ŝ2 is fl of a length-2n non-negative sum up to one more rounding: step it up
            s = R.next_up(s1 + s2)
        return _finish_fused(c, s, self._inv, self._neta, bias)
