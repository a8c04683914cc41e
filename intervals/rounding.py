"""Directed rounding: every primitive that rounds an endpoint lives here.

Two families, one meaning ("the result is a float/mpf on the correct side of the exact real value"):

* **float64** (numpy, elementwise, scalars or arrays). IEEE 754 ``+ - * / sqrt`` in round-to-nearest are
  *correctly rounded*: the computed ``r = fl(x op y)`` is the float nearest to the exact value ``z``, so
  ``pred(r) <= z <= succ(r)``. Stepping one ulp outward (``np.nextafter``) therefore encloses ``z``
  without touching the FPU rounding mode. Where an error-free transformation proves ``r == z`` we do not
  step (tighter, same proof). Overflow: ``fl`` returns ``±inf`` only when ``|z| > max``; stepping
  ``±inf`` inward gives ``±max``, which is still on the correct side. NaN never escapes: callers check.
* **mp** (mpmath ``libmp`` raw tuples, precision and rounding passed explicitly, no global context).
  ``libmp`` rounds correctly in the requested direction, so ``round_floor`` / ``round_ceiling`` give the
  lower / upper endpoint directly.

Also here: exact conversions between ``Fraction`` and floats/mpf, and the a-priori error constant
``gamma(n)`` used by the float64 dot-product kernels (Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., Lemma 3.1 and Section 3.1).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from mpmath import libmp

__all__ = [
    "U",
    "ETA",
    "next_up",
    "next_down",
    "add_down",
    "add_up",
    "sub_down",
    "sub_up",
    "mul_down",
    "mul_up",
    "div_down",
    "div_up",
    "sqrt_down",
    "sqrt_up",
    "gamma",
    "float_down",
    "float_up",
    "float_nearest",
    "to_fraction",
    "MP_FLOOR",
    "MP_CEIL",
    "mpf_from_fraction",
    "mpf_from_float",
    "mpf_to_fraction",
    "mpf_to_float_down",
    "mpf_to_float_up",
]

#: unit roundoff of binary64 in round-to-nearest
U = 2.0**-53
#: smallest positive subnormal binary64 number
ETA = 2.0**-1074

_INF = np.inf

MP_FLOOR = libmp.round_floor
MP_CEIL = libmp.round_ceiling


# --------------------------------------------------------------------------------------------------
# float64: one-ulp steps
# --------------------------------------------------------------------------------------------------


def next_up(x):
    """Smallest float64 strictly greater than ``x`` (``+inf`` stays ``+inf``)."""
    return np.nextafter(x, _INF)


def next_down(x):
    """Largest float64 strictly smaller than ``x`` (``-inf`` stays ``-inf``)."""
    return np.nextafter(x, -_INF)


def _two_sum_err(a, b, s):
    """Exact error ``e = (a + b) - s`` of ``s = fl(a + b)`` (Knuth's TwoSum, valid when ``s`` is finite).

    TwoSum is an error-free transformation in binary floating point with round-to-nearest and no
    overflow (Knuth TAOCP vol. 2, 4.2.2 Thm B): ``a + b == s + e`` exactly.
    """
    bb = s - a
    return (a - (s - bb)) + (b - bb)


def add_down(a, b):
    """Lower bound of ``a + b``: ``fl(a+b)``, stepped down unless TwoSum proves it exact."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        s = a + b
        e = _two_sum_err(a, b, s)
        # finite s and e >= 0: s <= a+b exactly. Otherwise (e < 0, or overflow with e = nan) step down.
        out = np.where(np.isfinite(s) & np.isfinite(e) & (e >= 0), s, next_down(s))
        # inf operands: s is +-inf (or nan for inf-inf, caught by callers); s exact in the extended reals.
        out = np.where(np.isinf(a) | np.isinf(b), s, out)
    return out[()] if out.ndim == 0 else out


def add_up(a, b):
    """Upper bound of ``a + b``: ``fl(a+b)``, stepped up unless TwoSum proves it exact."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        s = a + b
        e = _two_sum_err(a, b, s)
        out = np.where(np.isfinite(s) & np.isfinite(e) & (e <= 0), s, next_up(s))
        out = np.where(np.isinf(a) | np.isinf(b), s, out)
    return out[()] if out.ndim == 0 else out


def sub_down(a, b):
    """Lower bound of ``a - b`` (negation is exact)."""
    return add_down(a, np.negative(b))


def sub_up(a, b):
    """Upper bound of ``a - b`` (negation is exact)."""
    return add_up(a, np.negative(b))


def mul_down(a, b):
    """Lower bound of ``a * b``. Zero times anything finite is exactly 0 (callers avoid ``0 * inf``)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        p = a * b
        exact = (a == 0) | (b == 0) | np.isinf(a) | np.isinf(b)
        out = np.where(exact, p, next_down(p))
        out = np.where(exact & (p == 0), 0.0, out)
    return out[()] if out.ndim == 0 else out


def mul_up(a, b):
    """Upper bound of ``a * b``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        p = a * b
        exact = (a == 0) | (b == 0) | np.isinf(a) | np.isinf(b)
        out = np.where(exact, p, next_up(p))
        out = np.where(exact & (p == 0), 0.0, out)
    return out[()] if out.ndim == 0 else out


def div_down(a, b):
    """Lower bound of ``a / b`` for ``b != 0``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore", under="ignore", divide="ignore"):
        q = a / b
        exact = (a == 0) | np.isinf(a) | np.isinf(b)
        out = np.where(exact, q, next_down(q))
        out = np.where(exact & (q == 0), 0.0, out)
    return out[()] if out.ndim == 0 else out


def div_up(a, b):
    """Upper bound of ``a / b`` for ``b != 0``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore", under="ignore", divide="ignore"):
        q = a / b
        exact = (a == 0) | np.isinf(a) | np.isinf(b)
        out = np.where(exact, q, next_up(q))
        out = np.where(exact & (q == 0), 0.0, out)
    return out[()] if out.ndim == 0 else out


def sqrt_down(a):
    """Lower bound of ``sqrt(a)`` for ``a >= 0`` (IEEE sqrt is correctly rounded)."""
    a = np.asarray(a, dtype=np.float64)
    r = np.sqrt(a)
    out = np.where((a == 0) | np.isinf(a), r, np.maximum(next_down(r), 0.0))
    return out[()] if out.ndim == 0 else out


def sqrt_up(a):
    """Upper bound of ``sqrt(a)`` for ``a >= 0``."""
    a = np.asarray(a, dtype=np.float64)
    r = np.sqrt(a)
    out = np.where((a == 0) | np.isinf(a), r, next_up(r))
    return out[()] if out.ndim == 0 else out


# --------------------------------------------------------------------------------------------------
# a-priori error constants
# --------------------------------------------------------------------------------------------------


def gamma(n: int) -> float:
    """Float64 upper bound of ``γ_n = n·u / (1 − n·u)``, ``u = 2⁻⁵³`` (requires ``n·u < 1``).

    Higham (Lemma 3.1): a sum of ``n`` terms, or a dot product of length ``n``, evaluated in any order in
    round-to-nearest without underflow satisfies ``|fl(s) − s| ≤ γ_n Σ|terms|``. Computed exactly in
    rationals and rounded up, so the returned float is ≥ the real ``γ_n``.
    """
    if n < 0:
        raise ValueError(f"gamma: n must be >= 0, got {n}")
    nu = Fraction(n, 2**53)
    if nu >= 1:
        raise ValueError(f"gamma: n = {n} is too large for an a-priori bound")
    return float_up(nu / (1 - nu))


# --------------------------------------------------------------------------------------------------
# exact conversions
# --------------------------------------------------------------------------------------------------


def to_fraction(x) -> Fraction:
    """Exact rational value of ``x``.

    Accepts ``int``, ``Fraction``, a finite ``float`` (its exact binary value), a numpy float64 or
    integer scalar, and decimal strings such as ``"0.1"`` or ``"-1.5e-7"`` (their exact decimal value,
    *not* the nearest float). Raises ``ValueError`` for NaN, infinities and malformed strings and
    ``TypeError`` for other types.
    """
    if isinstance(x, Fraction):
        return x
    if isinstance(x, (bool, np.bool_)):
        raise TypeError("to_fraction: booleans are not numbers here")
    if isinstance(x, (int, np.integer)):
        return Fraction(int(x))
    if isinstance(x, (float, np.floating)):
        if isinstance(x, np.floating) and x.dtype != np.float64:
            x = float(x)  # float16/float32 values are exactly representable as float64
        if not math.isfinite(x):
            raise ValueError(f"to_fraction: {x!r} is not a finite number")
        return Fraction(float(x))
    if isinstance(x, str):
        s = x.strip()
        try:
            return Fraction(s)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"to_fraction: {x!r} is not a decimal number") from None
    raise TypeError(f"to_fraction: cannot convert {type(x).__name__} to an exact number")


def float_nearest(q: Fraction) -> float:
    """``q`` correctly rounded to the nearest float64 (``±inf`` on overflow).

    CPython's ``int / int`` true division is correctly rounded, which ``Fraction.__float__`` uses.
    """
    try:
        return q.numerator / q.denominator
    except OverflowError:
        return math.inf if q > 0 else -math.inf


def float_down(q) -> float:
    """Largest float64 ``<= q`` (may be ``-inf``)."""
    q = to_fraction(q)
    f = float_nearest(q)
    if math.isinf(f):
        return f if f < 0 else float(np.finfo(np.float64).max)
    if Fraction(f) > q:
        f = math.nextafter(f, -math.inf)
    return f


def float_up(q) -> float:
    """Smallest float64 ``>= q`` (may be ``+inf``)."""
    q = to_fraction(q)
    f = float_nearest(q)
    if math.isinf(f):
        return f if f > 0 else -float(np.finfo(np.float64).max)
    if Fraction(f) < q:
        f = math.nextafter(f, math.inf)
    return f


# --------------------------------------------------------------------------------------------------
# mp: raw mpmath tuples with explicit precision and rounding
# --------------------------------------------------------------------------------------------------


def mpf_from_fraction(q: Fraction, prec: int, rnd: str):
    """``q`` rounded to ``prec`` bits in direction ``rnd`` (``MP_FLOOR`` or ``MP_CEIL``)."""
    return libmp.from_rational(q.numerator, q.denominator, prec, rnd)


def mpf_from_float(x: float, prec: int, rnd: str):
    """A float64 (``±inf`` allowed) as an mpf rounded to ``prec`` bits (exact when ``prec >= 53``)."""
    if math.isnan(x):
        raise ValueError("mpf_from_float: NaN")
    if math.isinf(x):
        return libmp.finf if x > 0 else libmp.fninf
    return libmp.from_float(float(x), prec, rnd)


def mpf_to_fraction(v) -> Fraction:
    """Exact rational value of a finite raw mpf."""
    if v in (libmp.finf, libmp.fninf, libmp.fnan):
        raise ValueError("mpf_to_fraction: not finite")
    sign, man, exp, _ = v  # raw mpf: (-1)**sign * man * 2**exp
    q = Fraction(-man if sign else man)
    return q * (1 << exp) if exp >= 0 else q / (1 << -exp)


def mpf_to_float_down(v) -> float:
    """Largest float64 ``<=`` the mpf ``v`` (exact comparison, so correct in the subnormal range)."""
    if v == libmp.finf:
        return math.inf
    if v == libmp.fninf:
        return -math.inf
    return float_down(mpf_to_fraction(v))


def mpf_to_float_up(v) -> float:
    """Smallest float64 ``>=`` the mpf ``v``."""
    if v == libmp.finf:
        return math.inf
    if v == libmp.fninf:
        return -math.inf
    return float_up(mpf_to_fraction(v))
