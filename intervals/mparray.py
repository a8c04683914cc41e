"""Interval arrays and matrix products at arbitrary precision (the ``mp`` half of the engine).

**Representation (block floating point).** An :class:`MPIntervalArray` holds two numpy object arrays of
Python ints, ``lo_man`` and ``hi_man``, and one shared int exponent ``exp``: entry ``i`` is the closed
interval ``[lo_man[i]·2^exp, hi_man[i]·2^exp]``. Every endpoint is a dyadic rational, i.e. an exact
mpmath number (``.lo``/``.hi`` return them as ``mpmath.mpf``). Python ints are unbounded, so there is no
overflow or underflow; only finite endpoints are represented (unbounded boxes are rejected).

**Precision.** Each array carries a working precision ``prec`` (bits). Results of operations are rounded
*outward per entry* to ``prec`` significant bits: the lower endpoint towards −∞ and the upper towards +∞,
exactly as ``mpmath.libmp`` does with ``round_floor``/``round_ceiling``. So every computed endpoint is a
``prec``-bit binary floating-point number (with an unbounded exponent), stored exactly as an integer
multiple of the shared power of two. Inputs (floats, dyadic rationals) are stored exactly; non-dyadic
rationals such as the decimal ``0.1`` are enclosed outward at ``prec`` bits.

**Arithmetic: exact, then one rounding.** Sums and products of endpoints are computed *exactly* in
integers after aligning the exponents; each result entry is then rounded once (IEEE 1788-2015 §6.1,
the inclusion property: the exact result lies between the two rounded endpoints). A point matrix times a
box uses the midpoint–radius identity ``W⟨c, r⟩ = ⟨W c, |W| r⟩`` (exact in real arithmetic for a point
matrix: the hull of ``{W x : x ∈ [c − r, c + r]}`` row by row), so the product is the exact hull rounded
outward once per entry: the tightest ``prec``-bit enclosure. Interval matrices ``⟨C, R⟩`` use Rump's bound
``⟨C, R⟩⟨c, r⟩ ⊆ ⟨C c, |C| r + R(|c| + r)⟩`` (Rump, BIT 39, 1999), also evaluated exactly.

The integer matrix products never create an mpmath object per scalar. By default both operands are split
into base-2^16 digits held in float64 and multiplied with BLAS, which is exact because every intermediate
is an integer below 2^53 (see ``_IntMat``); the digits are recombined into Python ints. Alternatives:
numpy object-dtype ``matmul`` of Python ints (``accelerator="object"``) and python-flint's ``fmpz_mat``
(``accelerator="flint"``, or ``"auto"`` to use it only for operands above about 1000 bits, where it is
faster); the weight matrices are converted once, when the matrix is prepared.

The directed integer rounding used here (``_floor_bits``/``_ceil_bits``) is the mp twin of
:mod:`intervals.rounding`: Python's ``v >> s`` is ``floor(v / 2^s)`` for every int ``v`` (also negative),
and ``−((−v) >> s)`` is ``ceil(v / 2^s)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction

import mpmath
import numpy as np
from mpmath import libmp

from intervals import rounding as R
from intervals.array import IntervalArray
from intervals.context import current_precision

__all__ = ["MPIntervalArray", "MPIntervalMatrix", "MPPointMatrix", "flint_available"]

_BITLEN = np.frompyfunc(int.bit_length, 1, 1)
_F64_MAX = float(np.finfo(np.float64).max)


def flint_available() -> bool:
    """True when python-flint (``import flint``) can be used as the exact integer matrix accelerator."""
    try:
        import flint  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        return False
    return True


def _check_prec(prec) -> int:
    if prec is None:
        return current_precision()
    if isinstance(prec, bool) or not isinstance(prec, (int, np.integer)) or int(prec) < 2:
        raise ValueError(f"precision must be an int >= 2 bits, got {prec!r}")
    return int(prec)


# --------------------------------------------------------------------------------------------------
# integer kernels: directed rounding, normalisation, exponent alignment
# --------------------------------------------------------------------------------------------------


def _obj(a) -> np.ndarray:
    """``a`` as an object ndarray of Python ints (numpy ops on 0-d arrays return bare scalars)."""
    if isinstance(a, np.ndarray) and a.dtype == object:
        return a
    if isinstance(a, np.integer):
        a = int(a)
    if isinstance(a, np.ndarray) and a.dtype.kind in "iub":
        return a.astype(object)
    return np.asarray(a, dtype=object)


def _flat(*arrays: np.ndarray) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """Broadcast object arrays and flatten them to 1-D (ufuncs on 1-D object arrays return arrays,
    never bare scalars that numpy would then turn into fixed-width ints)."""
    b = np.broadcast_arrays(*arrays)
    return b[0].shape, [x.reshape(-1) for x in b]


def _floor_bits(v: np.ndarray, prec: int) -> np.ndarray:
    """Each int rounded towards −∞ to ``prec`` significant bits (same exponent, trailing zeros).

    With ``s = max(bitlen(v) − prec, 0)``: ``(v >> s) << s = floor(v / 2^s)·2^s ≤ v``, a multiple of
    ``2^s`` whose quotient has at most ``prec`` bits.
    """
    flat = v.reshape(-1)
    if flat.size == 0:
        return v
    s = np.maximum(_BITLEN(flat) - prec, 0)
    return ((flat >> s) << s).reshape(v.shape)


def _ceil_bits(v: np.ndarray, prec: int) -> np.ndarray:
    """Each int rounded towards +∞ to ``prec`` significant bits: ``−floor(−v / 2^s)·2^s ≥ v``."""
    flat = v.reshape(-1)
    if flat.size == 0:
        return v
    s = np.maximum(_BITLEN(flat) - prec, 0)
    return (-(((-flat) >> s) << s)).reshape(v.shape)


def _normalize(lo: np.ndarray, hi: np.ndarray, exp: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Divide out the common power of two (exact): keeps mantissas short. All zeros get ``exp = 0``."""
    acc = 0
    if lo.size:
        # the lowest set bit of an OR (two's complement, also for negatives) is the minimum lowest set bit
        acc = int(np.bitwise_or.reduce(lo.reshape(-1))) | int(np.bitwise_or.reduce(hi.reshape(-1)))
    if acc == 0:
        return lo, hi, 0
    t = (acc & -acc).bit_length() - 1
    if t:
        return lo >> t, hi >> t, exp + t
    return lo, hi, exp


def _align(a: np.ndarray, ea: int, b: np.ndarray, eb: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Express two mantissa arrays over the smaller of their exponents (exact left shifts)."""
    if ea == eb:
        return a, b, ea
    if ea > eb:
        return _obj(a << (ea - eb)), b, eb
    return a, _obj(b << (eb - ea)), ea


def _ceil_block(v: np.ndarray, exp: int, prec: int) -> tuple[np.ndarray, int]:
    """Upward rounding of a single mantissa array (used for radii, which are ≥ 0)."""
    v = _ceil_bits(_obj(v), prec)
    v, _, exp = _normalize(v, v, exp)
    return v, exp


def _finish(lo, hi, exp: int, prec: int) -> MPIntervalArray:
    """Round exact integer endpoints outward to ``prec`` bits and wrap them."""
    lo = _floor_bits(_obj(lo), prec)
    hi = _ceil_bits(_obj(hi), prec)
    lo, hi, exp = _normalize(lo, hi, exp)
    return MPIntervalArray.unchecked(lo, hi, exp, prec)


# --------------------------------------------------------------------------------------------------
# conversions in
# --------------------------------------------------------------------------------------------------


def _f64_pairs(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact odd int64 mantissas and int64 exponents of a finite float64 array (``a = m·2^e``)."""
    m, e = np.frexp(a)
    mi = (m * 2.0**53).astype(np.int64)  # |m| in [0.5, 1) has <= 53 significant bits: exact
    e = e.astype(np.int64) - 53
    nz = mi != 0
    low = mi & -mi  # lowest set bit (|mi| < 2^53, no int64 overflow)
    tz = np.where(nz, np.frexp(np.where(nz, low, 1).astype(np.float64))[1] - 1, 0)
    return np.where(nz, mi >> tz, 0), np.where(nz, e + tz, 0)


def _block_from_f64(*arrays: np.ndarray) -> tuple[list[np.ndarray], int]:
    """Float64 arrays (finite) as object int arrays over one shared exponent: exact."""
    pairs = [_f64_pairs(np.asarray(a, dtype=np.float64)) for a in arrays]
    exps = [e[m != 0] for m, e in pairs]
    nonzero = [e for e in exps if e.size]
    E = int(min(int(e.min()) for e in nonzero)) if nonzero else 0
    out = []
    for m, e in pairs:
        shift = np.where(m != 0, e - E, 0).astype(object)
        out.append(_obj(m.astype(object) << shift))
    return out, E


def _pair_from_fraction(q: Fraction, prec: int, rnd: str) -> tuple[int, int]:
    """``q`` as ``(man, exp)``: exact when dyadic, else rounded in direction ``rnd`` to ``prec`` bits."""
    n, d = q.numerator, q.denominator
    if d & (d - 1) == 0:  # power of two: exact
        return n, -(d.bit_length() - 1)
    return _pair_from_mpf(libmp.from_rational(n, d, prec, rnd))


def _pair_from_mpf(v) -> tuple[int, int]:
    """A finite raw mpf ``(sign, man, exp, bc)`` as ``(±man, exp)``."""
    sign, man, exp, _ = v
    if man == 0:
        if v != libmp.fzero:
            raise ValueError("MPIntervalArray: infinite or NaN endpoint")
        return 0, 0
    return (-man if sign else man), exp


def _block_from_pairs(shape: tuple[int, ...], *pair_lists) -> tuple[list[np.ndarray], int]:
    """Lists of ``(man, exp)`` pairs as object int arrays of ``shape`` over one shared exponent."""
    exps = [e for pl in pair_lists for m, e in pl if m]
    E = min(exps) if exps else 0
    out = []
    for pl in pair_lists:
        arr = np.empty(len(pl), dtype=object)
        arr[:] = [m << (e - E) if m else 0 for m, e in pl]
        out.append(arr.reshape(shape))
    return out, E


def _to_fractions(values) -> np.ndarray:
    arr = np.asarray(values, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    out.reshape(-1)[:] = [R.to_fraction(v) for v in arr.reshape(-1)]
    return out


# --------------------------------------------------------------------------------------------------
# conversion out
# --------------------------------------------------------------------------------------------------


def _ints_to_f64(vals: list[int], exp: int, up: bool) -> np.ndarray:
    """``v·2^exp`` rounded to float64 downward (``up=False``) or upward, for every ``v``.

    With ``s = max(bitlen(v) − 53, −1074 − exp, 0)`` the directed quotient ``t`` of ``v / 2^s`` has at most
    53 bits and ``t·2^(exp+s)`` is a multiple of ``2^−1074``: a float64 (normal or subnormal) unless it
    overflows, so ``ldexp`` is exact. Overflow goes to ``±max`` or ``±inf`` on the correct side.
    """
    out = np.empty(len(vals))
    for i, v in enumerate(vals):
        if v == 0:
            out[i] = 0.0
            continue
        s = max(v.bit_length() - 53, -1074 - exp, 0)
        t = -((-v) >> s) if up else v >> s
        try:
            out[i] = math.ldexp(t, exp + s)
        except OverflowError:
            if up:
                out[i] = math.inf if t > 0 else -_F64_MAX
            else:
                out[i] = _F64_MAX if t > 0 else -math.inf
    return out


def _man_to_fraction(v: int, exp: int) -> Fraction:
    return Fraction(v << exp) if exp >= 0 else Fraction(v, 1 << -exp)


# --------------------------------------------------------------------------------------------------
# the array type
# --------------------------------------------------------------------------------------------------


class MPIntervalArray:
    """An array of intervals with exact dyadic endpoints and a working precision ``prec`` (bits).

    Parameters
    ----------
    lo, hi : array_like
        Endpoints; ``hi`` defaults to ``lo``. float64 values are the exact binary numbers they are;
        ints, ``Fraction`` and decimal strings are exact rationals, enclosed outward at ``prec`` bits
        when they are not dyadic. Raises ``ValueError`` on NaN, infinities and ``lo > hi``.
    prec : int, optional
        Working precision of results computed from this array (default: the precision of the
        :mod:`intervals.context` in force).

    Examples
    --------
    >>> x = MPIntervalArray(["0.1", "-1"], ["0.1", "2"], prec=128)
    >>> [str(v) for v in (x + x).hi]
    ['0.2', '4.0']
    >>> bool(x.exact_lo()[0] < Fraction(1, 10) < x.exact_hi()[0])
    True
    >>> x.relu().to_float().lo.tolist()
    [0.09999999999999999, 0.0]

    Rigorous: every operation returns an enclosure of the exact real result, rounded outward to
    ``prec`` significant bits per endpoint.
    """

    __slots__ = ("_exp", "_hi", "_lo", "prec")

    def __init__(self, lo, hi=None, *, prec: int | None = None) -> None:
        prec = _check_prec(prec)
        if isinstance(lo, IntervalArray) and hi is None:
            lo, hi = lo.lo, lo.hi
        lo_a = np.asarray(lo)
        hi_a = lo_a if hi is None else np.asarray(hi)
        if lo_a.shape != hi_a.shape:
            lo_a, hi_a = np.broadcast_arrays(lo_a, hi_a)
        if lo_a.dtype.kind in "fiub" and hi_a.dtype.kind in "fiub":
            if lo_a.dtype.kind == "b" or hi_a.dtype.kind == "b":
                raise TypeError("MPIntervalArray: booleans are not numbers here")
            if lo_a.dtype.kind in "iu" and (np.abs(lo_a) >= 2**53).any() or (
                    hi_a.dtype.kind in "iu" and (np.abs(hi_a) >= 2**53).any()):
                lo_a, hi_a = lo_a.astype(object), hi_a.astype(object)  # exact big ints
            else:
                lo_f = lo_a.astype(np.float64)
                hi_f = hi_a.astype(np.float64)
                if not (np.isfinite(lo_f).all() and np.isfinite(hi_f).all()):
                    raise ValueError("MPIntervalArray: NaN or infinite endpoint (only bounded boxes)")
                (ml, mh), e = _block_from_f64(lo_f, hi_f)
                self._set_checked(ml, mh, e, prec)
                return
        ql = _to_fractions(lo_a)
        qh = ql if hi is None else _to_fractions(hi_a)
        pl = [_pair_from_fraction(q, prec, R.MP_FLOOR) for q in ql.reshape(-1)]
        ph = [_pair_from_fraction(q, prec, R.MP_CEIL) for q in qh.reshape(-1)]
        (ml, mh), e = _block_from_pairs(ql.shape, pl, ph)
        self._set_checked(ml, mh, e, prec)

    def _set_checked(self, lo: np.ndarray, hi: np.ndarray, exp: int, prec: int) -> None:
        bad = lo > hi
        if np.any(bad):
            i = tuple(int(v) for v in np.argwhere(np.asarray(bad))[0])
            raise ValueError(f"MPIntervalArray: lo > hi at index {i}")
        lo, hi, exp = _normalize(lo, hi, exp)
        self._lo, self._hi, self._exp, self.prec = _obj(lo), _obj(hi), exp, prec

    @classmethod
    def unchecked(cls, lo: np.ndarray, hi: np.ndarray, exp: int, prec: int) -> MPIntervalArray:
        """Wrap integer mantissa arrays, ``[lo·2^exp, hi·2^exp]`` at working precision ``prec``, without checks.

        For code whose results are enclosures by construction (the kernels of this module, the mp
        backend, activation enclosures). The caller guarantees: ``lo`` and ``hi`` have the same shape and
        hold Python ints (object arrays; others are converted), ``lo <= hi`` entrywise, and the intervals
        contain the values they are claimed to enclose. Nothing is verified.
        """
        obj = cls.__new__(cls)
        obj._lo, obj._hi, obj._exp, obj.prec = _obj(lo), _obj(hi), int(exp), prec
        return obj


    @classmethod
    def from_mpf(cls, lo, hi, shape=None, *, prec: int | None = None) -> MPIntervalArray:
        """From flat sequences of raw mpf tuples or ``mpmath.mpf`` values, stored exactly.

        ``shape`` defaults to ``(len(lo),)``. Raises ``ValueError`` on infinities, NaN and ``lo > hi``.
        """
        prec = _check_prec(prec)
        lo, hi = list(lo), list(hi)
        if len(lo) != len(hi):
            raise ValueError("from_mpf: lo and hi have different lengths")
        shape = (len(lo),) if shape is None else tuple(shape)
        pl = [_pair_from_mpf(getattr(v, "_mpf_", v)) for v in lo]
        ph = [_pair_from_mpf(getattr(v, "_mpf_", v)) for v in hi]
        (ml, mh), e = _block_from_pairs(shape, pl, ph)
        obj = cls.__new__(cls)
        obj._set_checked(ml, mh, e, prec)
        return obj

    def with_prec(self, prec: int) -> MPIntervalArray:
        """The same intervals (not rounded) with another working precision for later results."""
        return MPIntervalArray.unchecked(self._lo, self._hi, self._exp, _check_prec(prec))

    def rounded(self, prec: int | None = None) -> MPIntervalArray:
        """Endpoints rounded outward to ``prec`` bits (default: the array's own precision).

        Rigorous: the result contains ``self``.
        """
        prec = self.prec if prec is None else _check_prec(prec)
        return _finish(self._lo, self._hi, self._exp, prec)

    # ------------------------------------------------------------------ shape
    @property
    def shape(self) -> tuple[int, ...]:
        return self._lo.shape

    @property
    def ndim(self) -> int:
        return self._lo.ndim

    @property
    def size(self) -> int:
        return self._lo.size

    def __len__(self) -> int:
        return len(self._lo)

    def __getitem__(self, idx) -> MPIntervalArray:
        return MPIntervalArray.unchecked(_obj(self._lo[idx]), _obj(self._hi[idx]), self._exp, self.prec)

    def __iter__(self) -> Iterator[MPIntervalArray]:
        for i in range(len(self)):
            yield self[i]

    def reshape(self, *shape) -> MPIntervalArray:
        lo, hi = self._lo.reshape(*shape), self._hi.reshape(*shape)
        return MPIntervalArray.unchecked(lo, hi, self._exp, self.prec)

    def swapaxes(self, a: int, b: int) -> MPIntervalArray:
        return MPIntervalArray.unchecked(np.swapaxes(self._lo, a, b), np.swapaxes(self._hi, a, b), self._exp,
                                       self.prec)

    def copy(self) -> MPIntervalArray:
        return MPIntervalArray.unchecked(self._lo.copy(), self._hi.copy(), self._exp, self.prec)

    def __repr__(self) -> str:
        return f"MPIntervalArray(shape={self.shape}, prec={self.prec}, lo={self.lo!r}, hi={self.hi!r})"

    # ------------------------------------------------------------------ endpoints (exact)
    @property
    def exp(self) -> int:
        """The shared exponent: entry ``i`` is ``[lo_man[i], hi_man[i]]·2^exp``."""
        return self._exp

    @property
    def lo_man(self) -> np.ndarray:
        """Integer mantissas of the lower endpoints (object array; shared, do not modify in place)."""
        return self._lo

    @property
    def hi_man(self) -> np.ndarray:
        """Integer mantissas of the upper endpoints (object array; shared, do not modify in place)."""
        return self._hi

    @property
    def lo(self) -> np.ndarray:
        """Lower endpoints as an object array of ``mpmath.mpf`` (exact values; note that arithmetic on
        ``mpf`` objects rounds in mpmath's global context: use :meth:`exact_lo` for exact work)."""
        return self._mpf_array(self._lo)

    @property
    def hi(self) -> np.ndarray:
        """Upper endpoints as an object array of ``mpmath.mpf`` (exact values)."""
        return self._mpf_array(self._hi)

    def _mpf_array(self, man: np.ndarray) -> np.ndarray:
        out = np.empty(man.shape, dtype=object)
        out.reshape(-1)[:] = [mpmath.mp.make_mpf(libmp.from_man_exp(int(v), self._exp))
                              for v in man.reshape(-1)]
        return out

    def raw_lo(self) -> list:
        """Lower endpoints as a flat list of raw mpf tuples (exact)."""
        return [libmp.from_man_exp(v, self._exp) for v in self._lo.reshape(-1).tolist()]

    def raw_hi(self) -> list:
        """Upper endpoints as a flat list of raw mpf tuples (exact)."""
        return [libmp.from_man_exp(v, self._exp) for v in self._hi.reshape(-1).tolist()]

    def exact_lo(self) -> np.ndarray:
        """Lower endpoints as an object array of ``Fraction`` (exact)."""
        out = np.empty(self.shape, dtype=object)
        out.reshape(-1)[:] = [_man_to_fraction(v, self._exp) for v in self._lo.reshape(-1).tolist()]
        return out

    def exact_hi(self) -> np.ndarray:
        """Upper endpoints as an object array of ``Fraction`` (exact)."""
        out = np.empty(self.shape, dtype=object)
        out.reshape(-1)[:] = [_man_to_fraction(v, self._exp) for v in self._hi.reshape(-1).tolist()]
        return out

    def to_float(self) -> IntervalArray:
        """Outward float64 enclosure (lower endpoints rounded down, upper up; exact comparisons).

        Rigorous: the float64 array contains ``self``.
        """
        lo = _ints_to_f64(self._lo.reshape(-1).tolist(), self._exp, up=False).reshape(self.shape)
        hi = _ints_to_f64(self._hi.reshape(-1).tolist(), self._exp, up=True).reshape(self.shape)
        return IntervalArray.unchecked(lo, hi)

    # ------------------------------------------------------------------ set operations (exact)
    def contains(self, x) -> np.ndarray:
        """Elementwise ``lo <= x <= hi`` for exact numbers ``x`` (floats, ints, Fractions, decimals)."""
        q = _to_fractions(x)
        lo, hi, q = np.broadcast_arrays(self.exact_lo(), self.exact_hi(), q)
        out = [a <= v <= b for a, b, v in zip(lo.reshape(-1), hi.reshape(-1), q.reshape(-1))]
        return np.array(out, dtype=bool).reshape(lo.shape)

    def is_subset(self, other: MPIntervalArray) -> bool:
        """True when every interval lies in the corresponding one of ``other`` (exact)."""
        o = _coerce(other, self.prec)
        a, b, _ = _align(self._lo, self._exp, o._lo, o._exp)
        c, d, _ = _align(self._hi, self._exp, o._hi, o._exp)
        return bool(np.all(b <= a) and np.all(c <= d))

    def hull(self, other) -> MPIntervalArray:
        """Smallest interval array containing both.

        Rigorous: exact (no rounding).
        """
        o = _coerce(other, self.prec)
        a, b, e = _align(self._lo, self._exp, o._lo, o._exp)
        c, d, _ = _align(self._hi, self._exp, o._hi, o._exp)
        sh, (a, b, c, d) = _flat(a, b, c, d)
        lo, hi, e = _normalize(np.minimum(a, b).reshape(sh), np.maximum(c, d).reshape(sh), e)
        return MPIntervalArray.unchecked(lo, hi, e, max(self.prec, o.prec))

    def intersect(self, other) -> MPIntervalArray:
        """Intersection; raises ``ValueError`` if some entry is empty.

        Rigorous: exact (no rounding).
        """
        o = _coerce(other, self.prec)
        a, b, e = _align(self._lo, self._exp, o._lo, o._exp)
        c, d, _ = _align(self._hi, self._exp, o._hi, o._exp)
        sh, (a, b, c, d) = _flat(a, b, c, d)
        lo, hi = np.maximum(a, b).reshape(sh), np.minimum(c, d).reshape(sh)
        if np.any(lo > hi):
            raise ValueError("MPIntervalArray.intersect: empty intersection")
        lo, hi, e = _normalize(lo, hi, e)
        return MPIntervalArray.unchecked(lo, hi, e, max(self.prec, o.prec))

    def split(self, axis: int, at=None) -> tuple[MPIntervalArray, MPIntervalArray]:
        """Split a box (1-D) along coordinate ``axis`` at ``at`` (exact dyadic; default: the exact midpoint).

        Rigorous: exact; the halves share the split point, so their union is exactly the box.
        """
        if self.ndim != 1:
            raise ValueError("split: expected a box (1-D interval array)")
        lo, hi, e = self._lo << 1, self._hi << 1, self._exp - 1  # one more bit: room for the midpoint
        if at is None:
            c = (self._lo[axis] + self._hi[axis], e)
        else:
            q = R.to_fraction(at)
            if q.denominator & (q.denominator - 1):
                raise ValueError(f"split: point {at!r} is not a dyadic rational")
            c = _pair_from_fraction(q, self.prec, R.MP_FLOOR)
        (cv,), (lo, hi), e = _merge_scalar(c, lo, hi, e)
        if not (lo[axis] <= cv <= hi[axis]):
            raise ValueError(f"split: point {at} outside the box along axis {axis}")
        left_hi, right_lo = hi.copy(), lo.copy()
        left_hi[axis] = cv
        right_lo[axis] = cv
        left = MPIntervalArray.unchecked(*_normalize(lo.copy(), left_hi, e), self.prec)
        right = MPIntervalArray.unchecked(*_normalize(right_lo, hi.copy(), e), self.prec)
        return left, right

    # ------------------------------------------------------------------ arithmetic
    def __neg__(self) -> MPIntervalArray:
        sh, (lo, hi) = _flat(self._lo, self._hi)
        return MPIntervalArray.unchecked((-hi).reshape(sh), (-lo).reshape(sh), self._exp, self.prec)

    def __add__(self, other) -> MPIntervalArray:
        o = _coerce(other, self.prec)
        a, b, e = _align(self._lo, self._exp, o._lo, o._exp)
        c, d, _ = _align(self._hi, self._exp, o._hi, o._exp)
        sh, (a, b, c, d) = _flat(a, b, c, d)
        return _finish((a + b).reshape(sh), (c + d).reshape(sh), e, max(self.prec, o.prec))

    __radd__ = __add__

    def __sub__(self, other) -> MPIntervalArray:
        return self + (-_coerce(other, self.prec))

    def __rsub__(self, other) -> MPIntervalArray:
        return _coerce(other, self.prec) + (-self)

    def __mul__(self, other) -> MPIntervalArray:
        """Elementwise product: min/max of the four exact endpoint products, then one rounding."""
        o = _coerce(other, self.prec)
        sh, (al, ah, bl, bh) = _flat(self._lo, self._hi, o._lo, o._hi)
        p = (al * bl, al * bh, ah * bl, ah * bh)
        lo = np.minimum(np.minimum(p[0], p[1]), np.minimum(p[2], p[3])).reshape(sh)
        hi = np.maximum(np.maximum(p[0], p[1]), np.maximum(p[2], p[3])).reshape(sh)
        return _finish(lo, hi, self._exp + o._exp, max(self.prec, o.prec))

    __rmul__ = __mul__

    def relu(self) -> MPIntervalArray:
        """``max(x, 0)``.

        Rigorous: exact (monotone, evaluated on the endpoints).
        """
        sh, (lo, hi) = _flat(self._lo, self._hi)
        return MPIntervalArray.unchecked(np.maximum(lo, 0).reshape(sh), np.maximum(hi, 0).reshape(sh),
                                       self._exp, self.prec)

    def maximum(self, other) -> MPIntervalArray:
        """Elementwise ``max(x, y)``.

        Rigorous: exact (monotone in both arguments: ``[max(lo), max(hi)]``).
        """
        o = _coerce(other, self.prec)
        a, b, e = _align(self._lo, self._exp, o._lo, o._exp)
        c, d, _ = _align(self._hi, self._exp, o._hi, o._exp)
        sh, (a, b, c, d) = _flat(a, b, c, d)
        lo, hi, e = _normalize(np.maximum(a, b).reshape(sh), np.maximum(c, d).reshape(sh), e)
        return MPIntervalArray.unchecked(lo, hi, e, max(self.prec, o.prec))

    def abs(self) -> MPIntervalArray:
        """``|x|`` as ``[mig, mag]`` (``mig = 0`` when the interval contains 0).

        Rigorous: exact (no rounding).
        """
        sh, (lo, hi) = _flat(self._lo, self._hi)
        mag = np.maximum(-lo, hi)
        mig = np.where(lo > 0, lo, np.where(hi < 0, -hi, 0))  # 0 in [lo, hi]: mig = 0
        return MPIntervalArray.unchecked(_obj(mig).reshape(sh), mag.reshape(sh), self._exp, self.prec)


def _merge_scalar(pair, lo, hi, e):
    """Express a scalar ``(man, exp)`` and two mantissa arrays over one exponent."""
    m, pe = pair
    m = np.asarray(m, dtype=object)
    lo2, m2, e2 = _align(lo, e, m, pe)
    hi2, _, _ = _align(hi, e, m, pe)
    return (int(m2),), (_obj(lo2), _obj(hi2)), e2


def _coerce(x, prec: int) -> MPIntervalArray:
    if isinstance(x, MPIntervalArray):
        return x
    return MPIntervalArray(x, prec=prec)


# --------------------------------------------------------------------------------------------------
# matrices
# --------------------------------------------------------------------------------------------------


#: limb width of the BLAS path: products of two limbs are below 2^32 in magnitude
_LIMB = 16
#: longest dot product for which ``n·2^32 <= 2^52``: every partial sum is an integer below 2^53
_BLAS_MAX_N = 1 << 20
#: most limbs per operand (diagonal sums of ``k`` entries below 2^52 stay below 2^62 in int64)
_BLAS_MAX_LIMBS = 1024
#: GEMM output kept below this many float64 entries per chunk of rows
_BLAS_CHUNK = 1 << 22
#: below this many scalar products (B·n·m) the object path is faster than the BLAS set-up
_BLAS_MIN_WORK = 4096
#: with ``accelerator="auto"``, python-flint takes over when an operand pair has more digit pairs
_FLINT_FROM_LIMB_PAIRS = 400


def _limbs(vals: list[int], k: int) -> np.ndarray:
    """Base-2^16 digits of each int, shape (len(vals), k), float64: ``v = Σ_b d_b 2^(16 b)``.

    Two's complement bytes (little-endian): digits ``0 <= d_b < 2^16`` except the top one, which is read
    as a signed 16-bit number, so ``|d_b| < 2^16`` and the expansion is exact (``k`` large enough).
    """
    buf = b"".join([v.to_bytes(2 * k, "little", signed=True) for v in vals])
    u = np.frombuffer(buf, dtype="<u2").reshape(len(vals), k).astype(np.float64)
    if k and len(vals):
        u[:, -1] = np.frombuffer(buf, dtype="<i2").reshape(len(vals), k)[:, -1]
    return u


def _n_limbs(vals: list[int]) -> int:
    bits = max(map(int.bit_length, vals), default=0) + 1  # + sign bit
    return max(1, -(-bits // _LIMB))


def _from_digits(D: np.ndarray) -> list[int]:
    """Ints ``Σ_s D[s, i] 2^(16 s)`` from int64 diagonal sums ``D`` (shape (S, M)), exactly.

    Carry propagation in int64 (``t & 0xFFFF`` and the arithmetic shift ``t >> 16`` are the floor
    remainder and quotient, also for negative ``t``) leaves digits in ``[0, 2^16)``; four extra digits
    absorb the carry (``|carry| < 2^47``), after which the digit string is the two's complement of the value.
    """
    S, M = D.shape
    digits = np.empty((S + 4, M), dtype="<u2")
    carry = np.zeros(M, dtype=np.int64)
    for s in range(S + 4):
        t = D[s] + carry if s < S else carry
        digits[s] = t & 0xFFFF
        carry = t >> 16
    w = 2 * (S + 4)
    buf = memoryview(np.ascontiguousarray(digits.T).tobytes())
    frm = int.from_bytes
    return [frm(buf[i:i + w], "little", signed=True) for i in range(0, M * w, w)]


class _IntMat:
    """An exact integer matrix ``M`` (n × m, object dtype) applied as ``X @ M`` to row batches ``X``.

    Exact strategies, chosen by ``accelerator``:

    * default (``None``): split both operands into base-2^16 digits held as float64 and multiply the digit
      matrices with BLAS. Every digit product is an integer below 2^32 in magnitude and every partial sum
      of a dot product of length ``n <= 2^20`` is an integer below ``n·2^32 <= 2^52`` (whatever the
      summation order, with or without FMA), so float64 represents every intermediate exactly and the
      digit products are exact; they are recombined in int64 and Python ints. Assumes, like
      :mod:`intervals.linalg`, that BLAS forms each entry as a sum of the ``n`` products (no Strassen).
      Operands beyond the limits fall back to the object path.
    * ``"object"``: numpy object-dtype matmul of Python ints (exact, slow, no assumptions).
    * ``"flint"``: python-flint ``fmpz_mat`` products (exact; the matrix is converted once).
    * ``"auto"``: BLAS digits, or flint for very long operands (above about 1000 bits), where it is faster.
    """

    __slots__ = ("_fl", "_k", "_limbs", "_mode", "a")

    def __init__(self, a: np.ndarray, accelerator: str | None) -> None:
        self.a = a
        self._fl = None
        self._limbs = None
        self._k = 0
        self._mode = accelerator or "blas"
        n, m = a.shape
        if self._mode in ("flint", "auto"):
            import flint

            self._fl = flint.fmpz_mat(n, m, [int(v) for v in a.reshape(-1).tolist()])  # once
        if self._mode in ("blas", "auto"):
            vals = a.reshape(-1).tolist()
            k = _n_limbs(vals)
            if n > _BLAS_MAX_N or k > _BLAS_MAX_LIMBS:
                self._mode = "object" if self._mode == "blas" else "flint"
            else:
                L = _limbs(vals, k).reshape(n, m, k)  # L[j, i, a]: digit a of M[j, i]
                self._limbs = np.ascontiguousarray(L.transpose(2, 1, 0).reshape(k * m, n))  # (k·m, n)
                self._k = k

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Exact ``X @ M`` for X of shape (B, n) (object ints) as an object array (B, m)."""
        B, n = X.shape
        m = self.a.shape[1]
        if B == 0:
            return np.empty((0, m), dtype=object)
        mode = self._mode
        if mode in ("blas", "auto") and B * n * m >= _BLAS_MIN_WORK:
            vals = X.reshape(-1).tolist()
            kx = _n_limbs(vals)
            # measured: fmpz_mat wins once the digit products outnumber ~400 per scalar (>~1000-bit operands)
            if kx <= _BLAS_MAX_LIMBS and (mode == "blas" or kx * self._k <= _FLINT_FROM_LIMB_PAIRS):
                return self._blas(vals, B, n, m, kx)
        if mode in ("flint", "auto"):
            import flint

            y = flint.fmpz_mat(B, n, X.reshape(-1).tolist()) * self._fl  # (B, n) @ (n, m) -> (B, m)
            out = np.empty(B * m, dtype=object)
            out[:] = [int(v) for v in y.entries()]
            return out.reshape(B, m)
        return _obj(X @ self.a)

    def _blas(self, vals: list[int], B: int, n: int, m: int, kx: int) -> np.ndarray:
        kw = self._k
        xl = _limbs(vals, kx).reshape(B, n, kx)  # xl[r, j, b]: digit b of X[r, j]
        out = np.empty(B * m, dtype=object)
        rows = max(1, _BLAS_CHUNK // max(1, kw * m * kx))
        for r0 in range(0, B, rows):
            r1 = min(B, r0 + rows)
            Xc = np.ascontiguousarray(xl[r0:r1].transpose(1, 2, 0).reshape(n, kx * (r1 - r0)))  # (n, kx·Bc)
            G = (self._limbs @ Xc).astype(np.int64)  # exact integers < 2^52: (kw·m, kx·Bc)
            G = G.reshape(kw, m, kx, r1 - r0)
            D = np.zeros((kw + kx - 1, r1 - r0, m), dtype=np.int64)  # diagonal s = a + b, entry (row, i)
            for a in range(kw):
                D[a:a + kx] += G[a].transpose(1, 2, 0)  # (kx, Bc, m)
            out[r0 * m:r1 * m] = _from_digits(D.reshape(kw + kx - 1, (r1 - r0) * m))
        return out.reshape(B, m)


def _check_accel(accelerator) -> str | None:
    if accelerator in (None, "none", "blas"):
        return None
    if accelerator == "object":
        return "object"
    if accelerator == "auto":
        return "auto" if flint_available() else None
    if accelerator == "flint":
        if not flint_available():  # pragma: no cover - depends on the environment
            raise ImportError("accelerator='flint' needs python-flint (pip install python-flint)")
        return "flint"
    raise ValueError(f"unknown accelerator {accelerator!r}: use None, 'object', 'flint' or 'auto'")


class MPIntervalMatrix:
    """An interval matrix ``⟨C, R⟩ = [C − R, C + R]`` (dyadic ``C``, ``R ≥ 0``) prepared for exact products.

    Parameters
    ----------
    lo, hi : array_like, shape (m, n)
        Endpoints (floats exact; other rationals enclosed outward at ``prec`` bits), or an
        :class:`MPIntervalArray` as ``lo`` with ``hi`` omitted.
    prec : int, optional
        Precision used to enclose non-dyadic entries.
    accelerator : {None, "object", "flint", "auto"}
        Strategy of the exact integer products: BLAS on base-2^16 digits (default), numpy object ints,
        python-flint's ``fmpz_mat`` (converted once, here), or BLAS/flint chosen by operand length.

    Rigorous: ``M.matvec(X)`` contains ``W x`` for every real ``W`` in ``M`` and ``x`` in every box of ``X``.
    """

    __slots__ = ("_A", "_C", "_R", "_accel", "_exp", "_rel", "m", "n")

    def __init__(self, lo, hi=None, *, prec: int | None = None, accelerator: str | None = None) -> None:
        W = lo if isinstance(lo, MPIntervalArray) and hi is None else MPIntervalArray(lo, hi, prec=prec)
        if W.ndim != 2:
            raise ValueError(f"MPIntervalMatrix: expected a matrix, got shape {W.shape}")
        # C = (lo + hi)/2 and R = (hi − lo)/2 exactly, over the exponent exp − 1
        C = _obj(W._lo + W._hi)
        Rr = _obj(W._hi - W._lo)
        self._setup(C, None if not Rr.any() else Rr, None, W._exp - 1, _check_accel(accelerator))

    def _setup(self, C, Rr, rel, exp, accel) -> None:
        self.m, self.n = C.shape
        self._exp = exp
        self._rel = rel
        self._accel = accel
        self._C = _IntMat(np.ascontiguousarray(C.T), accel)  # (n, m): x @ Cᵀ
        self._A = _IntMat(np.ascontiguousarray(_obj(np.abs(C)).T), accel)
        self._R = None if Rr is None else _IntMat(np.ascontiguousarray(Rr.T), accel)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.m, self.n)

    @property
    def T(self) -> MPIntervalMatrix:
        """The transposed matrix (``g @ W`` as ``Wᵀ`` applied to ``g``); converted again if accelerated."""
        out = type(self).__new__(type(self))
        out._setup(self._C.a, None if self._R is None else self._R.a, self._rel, self._exp, self._accel)
        return out

    def __matmul__(self, x) -> MPIntervalArray:
        return self.matvec(x)

    def matvec(self, x, bias=None, prec: int | None = None) -> MPIntervalArray:
        """Enclosure of ``W x (+ b)`` over the last axis: ``x`` of shape (..., n) gives (..., m).

        ``bias`` (an :class:`MPIntervalArray` of shape (m,)) is added exactly before the single rounding.
        Float64 :class:`IntervalArray` inputs are converted exactly.

        Rigorous: contains ``W x + b`` for all ``W`` in the matrix, ``x`` in each box and ``b`` in ``bias``.
        """
        if isinstance(x, IntervalArray):
            x = MPIntervalArray(x.lo, x.hi, prec=prec)
        if not isinstance(x, MPIntervalArray):
            raise TypeError(f"matvec: expected an MPIntervalArray, got {type(x).__name__}")
        if x.ndim == 0 or x.shape[-1] != self.n:
            raise ValueError(f"matvec: last dimension of {x.shape} does not match matrix columns {self.n}")
        prec = x.prec if prec is None else _check_prec(prec)
        lead = x.shape[:-1]
        xl = x._lo.reshape(-1, self.n)
        xh = x._hi.reshape(-1, self.n)
        # x = ⟨c, r⟩ with c = c2·2^ex, r = r2·2^ex exactly
        c2 = _obj(xl + xh)
        r2 = _obj(xh - xl)
        ex = x._exp - 1
        point_x = not r2.any()
        yc = self._C(c2)  # exact W c, exponent ey
        ey = self._exp + ex
        rad, er = None, ey
        if self._rel is not None:
            # W ∈ C ± 2^−P|C|: W x ⊆ ⟨C c, |C|((1 + 2^−P) r + 2^−P|c|)⟩; the vector is rounded up (≥ 0)
            P = self._rel
            a, ea = _ceil_block(_obj((r2 << P) + r2 + np.abs(c2)), ex - P, prec + 2)
            rad, er = self._A(a), self._exp + ea
        elif self._R is None:
            if not point_x:  # point matrix: ⟨W c, |W| r⟩ is the exact hull
                rad = self._A(r2)
        else:  # Rump: |C| r + R(|c| + r)
            rad = self._R(_obj(np.abs(c2) + r2))
            if not point_x:
                rad = _obj(rad + self._A(r2))
        if rad is None:
            lo, hi, e = yc, yc, ey
        else:
            yc2, rad2, e = _align(yc, ey, rad, er)
            lo, hi = _obj(yc2 - rad2), _obj(yc2 + rad2)
        if bias is not None:
            bias = _coerce(bias, prec)
            lo, bl, e2 = _align(lo, e, bias._lo, bias._exp)
            hi, bh, _ = _align(hi, e, bias._hi, bias._exp)
            lo, hi, e = _obj(lo + bl), _obj(hi + bh), e2
        out = _finish(lo, hi, e, prec)
        return out.reshape(lead + (self.m,))


class MPPointMatrix(MPIntervalMatrix):
    """A matrix of exact numbers prepared for products with :class:`MPIntervalArray` boxes.

    float64 entries and dyadic rationals are held exactly (a point matrix: each product is the exact
    hull, rounded outward once). If some entry is not dyadic (e.g. the decimal ``0.1``), every entry is
    replaced by its nearest ``P = prec + 10``-bit number ``C_ij``; then ``|W_ij − C_ij| ≤ 2^−P |C_ij|``
    (nearest rounding to ``P`` bits errs by at most half an ulp, and ``ulp ≤ 2^(1−P)|C_ij|``; zero is exact),
    and the product uses ``W ∈ C ± 2^−P|C|``.

    Examples
    --------
    >>> W = MPPointMatrix([["0.1", "-1"], ["3", "0.5"]], prec=128)
    >>> y = W.matvec(MPIntervalArray([1.0, 0.0], [1.0, 2.0], prec=128))
    >>> bool(y.contains(["-1.9", "3"])[0])
    True

    Rigorous: ``W.matvec(X)`` contains ``W x`` for every real ``x`` in every box of ``X``.
    """

    __slots__ = ()

    def __init__(self, W, *, prec: int | None = None, accelerator: str | None = None) -> None:
        prec = _check_prec(prec)
        accel = _check_accel(accelerator)
        arr = np.asarray(W)
        if arr.ndim != 2:
            raise ValueError(f"MPPointMatrix: expected a matrix, got shape {arr.shape}")
        if arr.dtype.kind in "fiu" and not (arr.dtype.kind in "iu" and (np.abs(arr) >= 2**53).any()):
            f = arr.astype(np.float64)
            if not np.isfinite(f).all():
                raise ValueError("MPPointMatrix: NaN or infinite entry")
            (C,), e = _block_from_f64(f)
            C, _, e = _normalize(C, C, e)
            self._setup(C, None, None, e, accel)
            return
        q = _to_fractions(arr)
        flat = q.reshape(-1)
        if all(v.denominator & (v.denominator - 1) == 0 for v in flat):  # all dyadic: exact
            pairs = [_pair_from_fraction(v, prec, R.MP_FLOOR) for v in flat]
            rel = None
        else:
            P = prec + 10
            pairs = [_pair_from_mpf(libmp.from_rational(v.numerator, v.denominator, P, libmp.round_nearest))
                     for v in flat]
            rel = P
        (C,), e = _block_from_pairs(q.shape, pairs)
        C, _, e = _normalize(C, C, e)
        self._setup(C, None, rel, e, accel)
