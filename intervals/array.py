"""Interval arrays with float64 endpoints (boxes, batches of boxes, interval matrices).

An :class:`IntervalArray` holds two float64 arrays ``lo <= hi`` of the same shape and stands for the set
of real arrays ``x`` with ``lo <= x <= hi`` elementwise (IEEE 1788 set semantics, one interval per entry;
``±inf`` endpoints allowed, ``[+inf, +inf]`` and ``[-inf, -inf]`` are not intervals). Every operation
returns an array that contains the exact real result for every real input in the operands.
All rounding goes through :mod:`intervals.rounding`; the products live in :mod:`intervals.linalg`.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from intervals import rounding as R

__all__ = ["IntervalArray"]


def _as_f64(a, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"IntervalArray: {name} must be numeric, got dtype {arr.dtype}")
    # float16/32/int -> float64 is exact for float16/32 and for ints below 2**53
    out = np.array(arr, dtype=np.float64, copy=True)
    if arr.dtype.kind in "iu":
        big = np.abs(out) >= 2.0**53  # only these can be rounded; compare them exactly as Python ints
        if big.any() and any(int(f) != int(i) for f, i in zip(out[big].tolist(), arr[big].tolist())):
            raise ValueError(f"IntervalArray: {name} has an integer entry that float64 cannot represent exactly")
    return out


class IntervalArray:
    """An array of intervals ``[lo, hi]`` with float64 endpoints.

    Parameters
    ----------
    lo, hi : array_like
        Endpoints; ``hi`` defaults to ``lo`` (a point array). Float inputs are taken as the exact binary
        numbers they are. Raises ``ValueError`` on NaN, on ``lo > hi`` and on infinite singletons.

    Examples
    --------
    >>> x = IntervalArray([0.0, -1.0], [1.0, 1.0])
    >>> (x + x).hi.tolist()
    [2.0, 2.0]
    >>> x.relu().lo.tolist()
    [0.0, 0.0]

    Rigorous: every method returns an enclosure of the exact real result.
    """

    __slots__ = ("lo", "hi")

    def __init__(self, lo, hi=None, *, _check: bool = True) -> None:
        lo_a = _as_f64(lo, "lo")
        hi_a = lo_a.copy() if hi is None else _as_f64(hi, "hi")
        if _check:
            if lo_a.shape != hi_a.shape:
                lo_a, hi_a = np.broadcast_arrays(lo_a, hi_a)
                lo_a, hi_a = lo_a.copy(), hi_a.copy()
            if np.isnan(lo_a).any() or np.isnan(hi_a).any():
                raise ValueError("IntervalArray: NaN endpoint")
            bad = lo_a > hi_a
            if bad.any():
                i = tuple(int(v) for v in np.argwhere(bad)[0])
                raise ValueError(f"IntervalArray: lo > hi at index {i} ({lo_a[i]!r} > {hi_a[i]!r})")
            if np.isposinf(lo_a).any() or np.isneginf(hi_a).any():
                raise ValueError("IntervalArray: infinite singleton [inf, inf] is not an interval")
        self.lo = lo_a
        self.hi = hi_a

    @classmethod
    def unchecked(cls, lo: np.ndarray, hi: np.ndarray) -> "IntervalArray":
        """Wrap two endpoint arrays without checking or copying them (the constructor's fast twin).

        For code whose results are enclosures by construction (kernels, backends, bound propagation).
        The caller guarantees:

        * ``lo`` and ``hi`` are float64 numpy arrays of the same shape;
        * no NaN, ``lo <= hi`` entrywise, and no infinite singleton (``[+inf, +inf]``, ``[-inf, -inf]``);
        * the arrays are not modified afterwards (they are shared, not copied);
        * soundness: ``[lo, hi]`` contains the values it is claimed to enclose.

        Nothing is verified: an array that breaks the contract makes later operations return wrong
        results. Use ``IntervalArray(lo, hi)`` for data that is not an enclosure by construction.
        """
        obj = cls.__new__(cls)
        obj.lo = lo
        obj.hi = hi
        return obj


    @classmethod
    def from_center_radius(cls, center, radius) -> "IntervalArray":
        """The box ``[c − r, c + r]`` (outward rounded). ``radius`` must be ``>= 0``."""
        c = _as_f64(center, "center")
        r = _as_f64(radius, "radius")
        if np.isnan(c).any() or np.isnan(r).any() or (r < 0).any():
            raise ValueError("IntervalArray.from_center_radius: radius must be >= 0 and not NaN")
        return cls(R.sub_down(c, r), R.add_up(c, r))

    # ------------------------------------------------------------------ shape
    @property
    def shape(self) -> tuple[int, ...]:
        return self.lo.shape

    @property
    def ndim(self) -> int:
        return self.lo.ndim

    def __len__(self) -> int:
        return len(self.lo)

    def __getitem__(self, idx) -> "IntervalArray":
        return IntervalArray.unchecked(np.asarray(self.lo[idx]), np.asarray(self.hi[idx]))

    def __iter__(self) -> Iterator["IntervalArray"]:
        for i in range(len(self)):
            yield self[i]

    def reshape(self, *shape) -> "IntervalArray":
        return IntervalArray.unchecked(self.lo.reshape(*shape), self.hi.reshape(*shape))

    def copy(self) -> "IntervalArray":
        return IntervalArray.unchecked(self.lo.copy(), self.hi.copy())

    def __repr__(self) -> str:
        return f"IntervalArray(lo={self.lo!r}, hi={self.hi!r})"

    # ------------------------------------------------------------------ measures (rounded up / exact)
    def width(self) -> np.ndarray:
        """Upper bound of ``hi − lo``."""
        return R.sub_up(self.hi, self.lo)

    def mid(self) -> np.ndarray:
        """A float in ``[lo, hi]`` near the midpoint (0 for the entire line)."""
        with np.errstate(invalid="ignore", over="ignore"):
            m = 0.5 * self.lo + 0.5 * self.hi  # halving first: no overflow
        m = np.where(np.isfinite(m), m, np.where(np.isfinite(self.lo), self.lo, np.where(np.isfinite(self.hi), self.hi, 0.0)))
        return np.clip(m, self.lo, self.hi)

    def rad(self) -> np.ndarray:
        """Upper bound of ``max(hi − mid, mid − lo)`` for :meth:`mid`."""
        m = self.mid()
        return np.maximum(R.sub_up(self.hi, m), R.sub_up(m, self.lo))

    def mag(self) -> np.ndarray:
        """``max |x|`` over the interval (exact)."""
        return np.maximum(np.abs(self.lo), np.abs(self.hi))

    def mig(self) -> np.ndarray:
        """``min |x|`` over the interval (exact)."""
        return np.where((self.lo <= 0) & (self.hi >= 0), 0.0, np.minimum(np.abs(self.lo), np.abs(self.hi)))

    # ------------------------------------------------------------------ set operations
    def contains(self, x) -> np.ndarray:
        """Elementwise ``lo <= x <= hi`` for a float array ``x`` (exact comparison)."""
        x = np.asarray(x, dtype=np.float64)
        return (self.lo <= x) & (x <= self.hi)

    def is_subset(self, other: "IntervalArray") -> bool:
        """True when every interval is contained in the corresponding one of ``other``."""
        return bool(np.all((other.lo <= self.lo) & (self.hi <= other.hi)))

    def hull(self, other: "IntervalArray") -> "IntervalArray":
        """Smallest interval array containing both (exact)."""
        return IntervalArray.unchecked(np.minimum(self.lo, other.lo), np.maximum(self.hi, other.hi))

    def intersect(self, other: "IntervalArray") -> "IntervalArray":
        """Intersection; raises ``ValueError`` if some entry is empty (boxes here are never empty)."""
        lo = np.maximum(self.lo, other.lo)
        hi = np.minimum(self.hi, other.hi)
        if (lo > hi).any():
            raise ValueError("IntervalArray.intersect: empty intersection")
        return IntervalArray.unchecked(lo, hi)

    def split(self, axis: int, at: float | None = None) -> tuple["IntervalArray", "IntervalArray"]:
        """Split a box (1-D interval array) along coordinate ``axis`` at ``at`` (default: midpoint).

        The two halves share the split point, so their union is exactly the box.
        """
        if self.ndim != 1:
            raise ValueError("split: expected a box (1-D interval array)")
        c = float(self.mid()[axis]) if at is None else float(at)
        if not (self.lo[axis] <= c <= self.hi[axis]):
            raise ValueError(f"split: point {c} outside [{self.lo[axis]}, {self.hi[axis]}]")
        left_hi = self.hi.copy()
        left_hi[axis] = c
        right_lo = self.lo.copy()
        right_lo[axis] = c
        return IntervalArray.unchecked(self.lo.copy(), left_hi), IntervalArray.unchecked(right_lo, self.hi.copy())

    # ------------------------------------------------------------------ arithmetic
    def __neg__(self) -> "IntervalArray":
        return IntervalArray.unchecked(-self.hi, -self.lo)

    def __add__(self, other) -> "IntervalArray":
        o = _coerce(other)
        return IntervalArray.unchecked(R.add_down(self.lo, o.lo), R.add_up(self.hi, o.hi))

    __radd__ = __add__

    def __sub__(self, other) -> "IntervalArray":
        o = _coerce(other)
        return IntervalArray.unchecked(R.sub_down(self.lo, o.hi), R.sub_up(self.hi, o.lo))

    def __rsub__(self, other) -> "IntervalArray":
        return _coerce(other) - self

    def __mul__(self, other) -> "IntervalArray":
        o = _coerce(other)
        return _mul(self, o)

    __rmul__ = __mul__

    def relu(self) -> "IntervalArray":
        """``max(x, 0)``: monotone, so exact on endpoints."""
        return IntervalArray.unchecked(np.maximum(self.lo, 0.0), np.maximum(self.hi, 0.0))

    def abs(self) -> "IntervalArray":
        """``|x|`` (exact): ``[mig, mag]``."""
        return IntervalArray.unchecked(self.mig(), self.mag())


def _coerce(x) -> IntervalArray:
    return x if isinstance(x, IntervalArray) else IntervalArray(x)


def _mul(a: IntervalArray, b: IntervalArray) -> IntervalArray:
    """Elementwise interval product: min/max of the four endpoint products, each directed.

    ``0 · ∞`` is taken as 0: a zero endpoint times an unbounded one contributes exactly 0 to the
    product set of reals (every real times 0 is 0), so this is the IEEE 1788 convention.
    """
    al, ah, bl, bh = np.broadcast_arrays(a.lo, a.hi, b.lo, b.hi)
    with np.errstate(invalid="ignore"):
        cands_lo = [R.mul_down(x, y) for x, y in ((al, bl), (al, bh), (ah, bl), (ah, bh))]
        cands_hi = [R.mul_up(x, y) for x, y in ((al, bl), (al, bh), (ah, bl), (ah, bh))]
    cands_lo = [np.where(np.isnan(c), 0.0, c) for c in cands_lo]
    cands_hi = [np.where(np.isnan(c), 0.0, c) for c in cands_hi]
    lo = np.minimum.reduce(cands_lo)
    hi = np.maximum.reduce(cands_hi)
    return IntervalArray.unchecked(np.asarray(lo), np.asarray(hi))
