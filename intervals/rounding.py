"""Directed rounding: every primitive that rounds an endpoint lives here.

Two families, one meaning ("the result is a float/mpf on the correct side of the exact real value"):

* **float64** (numpy, elementwise, scalars or arrays). IEEE 754 ``+ - * / sqrt`` in round-to-nearest are
  *correctly rounded*: the computed ``r = fl(x op y)`` is the float nearest to the exact value ``z``, so
  ``pred(r) <= z <= succ(r)``. Stepping one ulp outward (``np.nextafter``) therefore encloses ``z``
  without touching the FPU rounding mode. Where an error-free transformation proves ``r == z`` we do not
  step (tighter, same proof). Overflow: ``fl`` returns ``±inf`` only when ``|z| > max``; stepping
  ``±inf`` inward gives ``±max``, which is still on the correct side. NaN never escapes: callers check.
* **mp** (mpmath ``libmp`` raw tuples, precision and rounding passed explicitly, no global context).
  ``libmp``'s ``+ - * / sqrt`` round correctly in the requested direction, so ``round_floor`` /
  ``round_ceiling`` give the lower / upper endpoint directly. Its ``exp``/``log`` do *not* (they round
  an approximation), so ``mp_exp``/``mp_log``/``mp_tanh``/``mp_logistic`` below evaluate or verify
  with directed integer arithmetic instead.

Also here: exact conversions between ``Fraction`` and floats/mpf, and the a-priori error constant
``gamma(n)`` used by the float64 dot-product kernels (Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., Lemma 3.1 and Section 3.1).
"""

from __future__ import annotations

import functools
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
    "mp_add",
    "mp_sub",
    "mp_mul",
    "mp_div",
    "mp_sqrt",
    "mp_pow_nonneg",
    "ln2_fixed",
    "mp_exp",
    "mp_expm1",
    "mp_log",
    "mp_tanh",
    "mp_logistic",
    "mpf_to_decimal",
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


def _far_to_near(v):
    """``v`` with a magnitude far outside the float64 range replaced by ``±2^±1100``.

    Every value in ``(2^1100, inf)`` rounds down to ``max`` and up to ``inf``, and every value in
    ``(0, 2^-1100]`` down to 0 and up to the smallest subnormal (and symmetrically), so the directed
    float conversion is unchanged; without this, ``exp(2^39)`` would build a 10^11-digit Fraction.
    """
    sign, man, exp, bc = v
    if man and exp + bc > 1100:
        return (sign, 1, 1100, 1)
    if man and exp + bc < -1100:
        return (sign, 1, -1100, 1)
    return v


def mpf_to_float_down(v) -> float:
    """Largest float64 ``<=`` the mpf ``v`` (exact comparison, so correct in the subnormal range)."""
    if v == libmp.finf:
        return math.inf
    if v == libmp.fninf:
        return -math.inf
    return float_down(mpf_to_fraction(_far_to_near(v)))


def mpf_to_float_up(v) -> float:
    """Smallest float64 ``>=`` the mpf ``v``."""
    if v == libmp.finf:
        return math.inf
    if v == libmp.fninf:
        return -math.inf
    return float_up(mpf_to_fraction(_far_to_near(v)))


# --------------------------------------------------------------------------------------------------
# mp: directed arithmetic on raw mpf endpoints (used by intervals.scalar)
#
# Conventions: ``x``, ``y`` are raw libmp tuples, ``prec`` is in bits, ``rnd`` is MP_FLOOR or MP_CEIL.
# ``libmp.mpf_mul/mpf_div/mpf_sqrt`` are correctly rounded in the requested direction (they compute
# exactly or with a sticky bit before one rounding), so the wrappers below only add the interval
# conventions for infinities: ``0 * inf = 0`` (IEEE 1788 §10.5.3, set semantics) and ``finite / inf = 0``.
# ``libmp.mpf_add`` is *not* always directed (see ``mp_add``, which adds exactly in integers and rounds
# once). Callers never form ``inf - inf`` or ``inf / inf``.
#
# ``libmp.mpf_exp``/``mpf_log`` are *not* directed: they evaluate at ``prec + 14`` bits with truncations
# and round that approximation, so ``rnd`` can be wrong near a rounding boundary. ``mp_exp`` below is
# therefore our own evaluation in integer fixed point with every step directed and a proved truncation
# bound; ``mp_log`` uses mpmath's value only as a guess and *verifies* it through ``mp_exp``.
# --------------------------------------------------------------------------------------------------

_FZERO = libmp.fzero
_FONE = libmp.fone
_FTWO = libmp.from_int(2)
_FINF = libmp.finf
_FNINF = libmp.fninf


def _is_zero(x) -> bool:
    return not x[1] and not x[2]  # libmp zero is (0, 0, 0, 0); infinities/NaN have a nonzero exponent slot


def mp_add(x, y, prec: int, rnd: str):
    """``x + y`` rounded to ``prec`` bits in direction ``rnd`` (exact integer sum, then one correct rounding).

    >>> mpf_to_fraction(mp_add(libmp.from_int(1), libmp.from_man_exp(1, -60), 53, MP_CEIL)) - 1
    Fraction(1, 4503599627370496)
    """
    specials = (libmp.fzero, libmp.finf, libmp.fninf, libmp.fnan)
    if x in specials or y in specials:
        r = libmp.mpf_add(x, y, prec, rnd)
        if r == libmp.fnan:
            raise ValueError("mp_add: inf - inf is undefined")
        return r
    # libmp.mpf_add is not always directed: (2**237 − 2**118·k) + ... = 2**237 + 1 rounded up at 113
    # bits gave 2**237. Add exactly in integers and round once with from_man_exp (correct rounding).
    (sx, mx, ex, bx), (sy, my, ey, by) = x, y
    if ex + bx < ey + by:
        (sx, mx, ex, bx), (sy, my, ey, by) = (sy, my, ey, by), (sx, mx, ex, bx)
    # The larger operand (below 2**top, top = ex + bx) is a multiple of 2**g, and so is every prec-bit
    # number near it (their ulp is at least 2**(top − 1 − prec), just below a power of two). If
    # |smaller| < 2**g, the exact sum lies strictly between two such multiples, so its directed
    # rounding depends only on the smaller operand's sign: replace it by ±2**(g − 1).
    g = min(ex, ex + bx - 1 - prec)
    if ey + by <= g:
        my, ey = 1, g - 1
    mx = -mx if sx else mx
    my = -my if sy else my
    e = min(ex, ey)
    m = (mx << (ex - e)) + (my << (ey - e))
    return libmp.from_man_exp(m, e, prec, rnd)


def mp_sub(x, y, prec: int, rnd: str):
    """``x - y`` rounded in direction ``rnd`` (negation is exact)."""
    return mp_add(x, libmp.mpf_neg(y), prec, rnd)


def mp_mul(x, y, prec: int, rnd: str):
    """``x * y`` rounded in direction ``rnd`` (``prec=0``: exact), with ``0 * (±inf) = 0`` (set semantics)."""
    if _is_zero(x) or _is_zero(y):
        return _FZERO
    return libmp.mpf_mul(x, y, prec, rnd)


def mp_div(x, y, prec: int, rnd: str):
    """``x / y`` for ``y != 0`` rounded in direction ``rnd``; ``0 / y = 0`` and ``finite / ±inf = 0``."""
    if _is_zero(y):
        raise ZeroDivisionError("mp_div: division by zero")
    if _is_zero(x):
        return _FZERO
    r = libmp.mpf_div(x, y, prec, rnd)
    if r == libmp.fnan:
        raise ValueError("mp_div: inf / inf is undefined")
    return libmp.mpf_abs(r) if _is_zero(r) else r


def mp_sqrt(x, prec: int, rnd: str):
    """``sqrt(x)`` for ``x >= 0`` rounded in direction ``rnd`` (libmp: integer ``isqrt``, correctly rounded)."""
    if libmp.mpf_sign(x) < 0:
        raise ValueError("mp_sqrt: negative argument")
    return libmp.mpf_sqrt(x, prec, rnd)


def mp_pow_nonneg(x, n: int, prec: int, rnd: str):
    """``x**n`` for ``x >= 0`` (``+inf`` allowed) and an integer ``n >= 1``, rounded in direction ``rnd``.

    Binary powering with every product rounded in direction ``rnd``: products of nonnegative numbers
    are increasing in each factor, so each partial result stays on the ``rnd`` side of the exact one.
    Intermediates carry ``2·bitlen(n) + 8`` guard bits; exact powers stay exact.
    """
    if n < 1:
        raise ValueError("mp_pow_nonneg: n must be >= 1")
    wp = prec + 2 * n.bit_length() + 8
    result = None
    base = x
    while True:
        if n & 1:
            result = base if result is None else mp_mul(result, base, wp, rnd)
        n >>= 1
        if not n:
            break
        base = mp_mul(base, base, wp, rnd)
    return libmp.mpf_pos(result, prec, rnd)


# ---- exp in directed fixed point -----------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _ln2_fixed_cached(w: int) -> tuple[int, int]:
    # ln 2 = 2 atanh(1/3) = sum_{k>=0} 2 / ((2k+1) 3^(2k+1)).  With T_k = 2^(w+1) / ((2k+1) 3^(2k+1)):
    # floor(T_k) <= T_k < floor(T_k) + 1, and once floor(T_K) = 0 (T_K < 1) the tail
    # sum_{k>=K} T_k <= T_K / (1 - 1/9) < 2 (ratio T_{k+1}/T_k < 1/9). So S <= 2^w ln 2 <= S + K + 2.
    num = 1 << (w + 1)
    s = 0
    k = 0
    p3 = 3
    while True:
        t = num // ((2 * k + 1) * p3)
        if not t:
            break
        s += t
        k += 1
        p3 *= 9
    return s, s + k + 2


def ln2_fixed(w: int) -> tuple[int, int]:
    """Integers ``(L, H)`` with ``L <= 2**w * ln(2) <= H`` and ``H - L <= w + 2``.

    Rigorous: series ``ln 2 = 2 atanh(1/3)`` summed with floored terms and a geometric tail bound.

    >>> L, H = ln2_fixed(60); L <= 799144290325165978 < H, H - L  # 2**60 ln 2 = 799144290325165978.73...
    (True, 2)
    """
    big = -(-w // 64) * 64  # cache on multiples of 64 bits, then shift (floor / ceil)
    lo, hi = _ln2_fixed_cached(big)
    s = big - w
    return lo >> s, -((-hi) >> s)


def _fixed(x, w: int) -> tuple[int, int]:
    """``(floor(x·2^w), ceil(x·2^w))`` for a finite raw mpf ``x`` (exact integer shifts)."""
    sign, man, exp, _ = x
    if sign:
        man = -man
    sh = exp + w
    if sh >= 0:
        v = man << sh
        return v, v
    f = man >> (-sh)  # Python's >> floors, also for negative man
    return f, f if (f << (-sh)) == man else f + 1


def _exp_series(t: int, w: int, up: bool) -> int:
    """Bound on ``2^w · exp(t / 2^w)`` for an integer ``0 <= t <= 2^(w-1)`` (argument in ``[0, 1/2]``).

    Taylor terms ``term_k = term_{k-1} · t / (k 2^w)`` are all >= 0; floored terms are lower bounds of
    the exact ones (induction), so their partial sum is a lower bound of ``exp``. Ceiled terms are upper
    bounds; the loop stops at ``term_k <= 1`` and adds ``term_k`` once more for the tail, since for
    ``t / 2^w <= 1/2`` the tail after term ``k`` is at most ``term_k · sum_i (1/2)^i = term_k``.
    """
    one = 1 << w
    s = term = one
    k = 1
    if up:
        while term > 1:
            term = -((-term * t) // (k << w))
            s += term
            k += 1
        return s + term
    while term:
        term = (term * t) // (k << w)
        s += term
        k += 1
    return s


def _exp_reduced(r: int, w: int, up: bool) -> int:
    """Bound on ``2^w · exp(r / 2^w)`` for an integer ``|r| <= 2^(w-1)``, rounded down or up.

    ``exp(r) = exp(r / 2^q)^(2^q)``: the scaled argument is floored (down) or ceiled (up) — exp is
    increasing — then squared ``q`` times with floor/ceil; squaring is increasing on positive numbers.
    Negative ``r``: ``exp(r) = 1 / exp(-r)`` with the opposite bound in the denominator.
    """
    if r < 0:
        d = _exp_reduced(-r, w, not up)
        return -((-(1 << (2 * w))) // d) if up else (1 << (2 * w)) // d
    q = max(1, math.isqrt(w) // 2)
    t = -((-r) >> q) if up else r >> q
    e = _exp_series(t, w, up)
    for _ in range(q):
        e = -((-e * e) >> w) if up else (e * e) >> w
    return e


#: |x| beyond which ``mp_exp`` stops resolving the value and clamps (exp is monotone; see mp_exp)
_EXP_ARG_BITS = 40


def mp_exp(x, prec: int, rnd: str):
    """``exp(x)`` rounded to ``prec`` bits, guaranteed on the ``rnd`` side (``MP_FLOOR``/``MP_CEIL``).

    Rigorous: ``x = n·ln2 + r`` with ``ln2`` enclosed by :func:`ln2_fixed` and ``r`` taken at the
    end of its enclosure that gives the wanted side; ``exp(r)`` by :func:`_exp_reduced` (every integer
    operation floored or ceiled in the safe direction); ``exp(x) = 2^n exp(r)`` exactly; one final
    directed rounding. For ``|x| >= 2^40`` the value is not resolved: the upper bound of ``exp(x)``,
    ``x >= 2^40``, is ``+inf`` and the lower bound is that of ``exp(2^39)``; for ``x <= -2^40`` the lower
    bound is 0 and the upper one that of ``exp(-2^39)`` (both valid by monotonicity).

    >>> mpf_to_fraction(mp_exp(libmp.fzero, 53, MP_FLOOR))
    Fraction(1, 1)
    >>> lo, hi = (mpf_to_fraction(mp_exp(libmp.fone, 53, r)) for r in (MP_FLOOR, MP_CEIL))
    >>> float(hi - lo) == 2.0**-51  # adjacent 53-bit numbers around e = 2.718281828459045...
    True
    """
    up = rnd == MP_CEIL
    if x == _FINF:
        return _FINF
    if x == _FNINF:
        return _FZERO
    if _is_zero(x):
        return _FONE
    sign, _, exp, bc = x
    if exp + bc > _EXP_ARG_BITS:  # |x| >= 2^40
        if sign:
            return mp_exp(libmp.from_int(-(1 << (_EXP_ARG_BITS - 1))), prec, rnd) if up else _FZERO
        return _FINF if up else mp_exp(libmp.from_int(1 << (_EXP_ARG_BITS - 1)), prec, rnd)
    # n only steers accuracy (|r| small); any integer n gives a valid enclosure.
    n = round(libmp.to_float(x) * 1.4426950408889634)
    q_guard = max(1, math.isqrt(prec + 64) // 2)
    w = prec + 40 + n.bit_length() + q_guard
    x_lo, x_hi = _fixed(x, w)
    l2_lo, l2_hi = ln2_fixed(w)
    # r = x - n ln2 lies in [x_lo - max(n L, n H), x_hi - min(n L, n H)] / 2^w
    r = x_hi - min(n * l2_lo, n * l2_hi) if up else x_lo - max(n * l2_lo, n * l2_hi)
    if abs(r) > (1 << (w - 1)):  # cannot happen for |x| < 2^40 (|r| < 0.35); keep the proof local
        raise AssertionError("mp_exp: argument reduction failed")
    e = _exp_reduced(r, w, up)
    return libmp.from_man_exp(e, n - w, prec, rnd)


def _mag(x) -> int:
    """``m`` with ``2^(m-1) <= |x| < 2^m`` for a finite nonzero raw mpf."""
    return x[2] + x[3]


def mp_expm1(x, prec: int, rnd: str):
    """``exp(x) - 1`` with *relative* accuracy near 0, rounded on the ``rnd`` side.

    Rigorous: ``mp_exp`` bound at ``prec + 20 + max(0, -mag(x))`` bits on the same side, minus 1 rounded
    on the same side (subtracting the exact 1 is increasing in the first argument). For
    ``|x| < 2^-(prec+8)``: ``x <= expm1(x) <= x + x^2``.
    """
    if x == _FINF:
        return _FINF
    if x == _FNINF:
        return libmp.mpf_neg(_FONE)
    if _is_zero(x):
        return _FZERO
    if _mag(x) < -(prec + 8):
        # |x| < 2^-(prec+8): x <= expm1(x) <= x + x^2 (Taylor, all |x| <= 1); x^2 < |x| 2^(2 mag x).
        if rnd == MP_CEIL:
            return mp_add(x, libmp.mpf_shift(libmp.mpf_abs(x), 2 * _mag(x)), prec, MP_CEIL)
        return libmp.mpf_pos(x, prec, MP_FLOOR)
    wp = prec + 20 + max(0, -_mag(x))
    e = mp_exp(x, wp, rnd)
    if e == _FINF:
        return _FINF
    return mp_sub(e, _FONE, prec, rnd)


def _log_bracket(f, prec: int, up: bool):
    """Verified bound of ``log(f)`` for a finite ``f`` in ``[1/2, 2]`` (``f != 1``).

    mpmath's ``mpf_log`` at ``prec + 10`` bits gives a guess ``y``; it is moved outward by a growing
    number of units until ``exp(y) <= f`` (lower bound) or ``exp(y) >= f`` (upper bound) is *proved*
    with :func:`mp_exp` rounded the unfavourable way. Since exp is increasing, the proved inequality
    gives ``y <= log f`` resp. ``y >= log f``. Fallback (never observed): ``log f >= 1 - 1/f`` and
    ``log f <= f - 1``.
    """
    p2 = prec + 10
    y = libmp.mpf_log(f, p2, MP_CEIL if up else MP_FLOOR)
    if not _is_zero(y):
        wp = prec + 30 + max(0, -_mag(y))
        for i in range(8):
            step = libmp.from_man_exp(1 << (4 * i), _mag(y) - p2)
            cand = mp_add(y, step, p2, MP_CEIL) if up else mp_sub(y, step, p2, MP_FLOOR)
            e = mp_exp(cand, wp, MP_FLOOR if up else MP_CEIL)
            c = libmp.mpf_cmp(e, f)
            if (c >= 0) if up else (c <= 0):
                return cand
    if up:
        return mp_sub(f, _FONE, prec, MP_CEIL)
    return mp_sub(_FONE, mp_div(_FONE, f, prec, MP_CEIL), prec, MP_FLOOR)


def mp_log(x, prec: int, rnd: str):
    """``log(x)`` for ``x > 0`` (``+inf`` allowed) rounded to ``prec`` bits on the ``rnd`` side.

    Rigorous: for ``x`` in ``[1/2, 2]`` a verified bound (:func:`_log_bracket`); otherwise
    ``x = f·2^k`` exactly with ``f`` in ``[1, 2)``, ``log x = log f + k·ln2`` with ``ln2`` from
    :func:`ln2_fixed` on the side matching the sign of ``k``; sums rounded on the ``rnd`` side. For
    ``|x|`` outside ``[1/2, 2]`` the two terms have the same sign, so there is no cancellation.

    >>> mp_log(libmp.fone, 53, MP_FLOOR) == libmp.fzero
    True
    """
    up = rnd == MP_CEIL
    if x == _FINF:
        return _FINF
    if libmp.mpf_sign(x) <= 0:
        raise ValueError("mp_log: argument must be > 0")
    if x == _FONE:
        return _FZERO
    wp = prec + 20
    m = _mag(x)
    if m in (0, 1) or x == _FTWO:  # x in [1/2, 2]
        return libmp.mpf_pos(_log_bracket(x, wp, up), prec, rnd)
    k = m - 1
    f = libmp.mpf_shift(x, -k)  # exact, f in [1, 2)
    y = _FZERO if f == _FONE else _log_bracket(f, wp, up)
    w = wp + k.bit_length() + 8
    l2_lo, l2_hi = ln2_fixed(w)
    l2 = l2_hi if (up == (k > 0)) else l2_lo
    return mp_add(y, libmp.from_man_exp(k * l2, -w), prec, rnd)


def mp_tanh(x, prec: int, rnd: str):
    """``tanh(x)`` rounded to ``prec`` bits on the ``rnd`` side (``±inf`` allowed).

    Rigorous: odd, so for ``x < 0`` use ``-tanh(-x)`` with the opposite side. For ``x > 0``,
    ``tanh x = m / (m + 2)`` with ``m = expm1(2x) >= 0`` (``2x`` exact), increasing in ``m``: the lower
    bound divides ``m_lo`` by ``m_lo + 2`` rounded up, the upper bound ``m_hi`` by ``m_hi + 2`` rounded
    down, then clamped to ``[0, 1]`` (true range). Tiny ``|x| < 2^-(prec+8)``:
    ``x - x^3/3 <= tanh x <= x`` with ``x^3/3 <= x·2^(2 mag x)``.
    """
    up = rnd == MP_CEIL
    if x == _FINF:
        return _FONE
    if x == _FNINF:
        return libmp.mpf_neg(_FONE)
    if _is_zero(x):
        return _FZERO
    if x[0]:
        return libmp.mpf_neg(mp_tanh(libmp.mpf_neg(x), prec, MP_FLOOR if up else MP_CEIL))
    if _mag(x) < -(prec + 8):
        if up:
            return libmp.mpf_pos(x, prec, MP_CEIL)
        return mp_sub(x, libmp.mpf_shift(x, 2 * _mag(x)), prec, MP_FLOOR)
    wp = prec + 10
    m = mp_expm1(libmp.mpf_shift(x, 1), wp, rnd)
    if m == _FINF:
        return _FONE  # only for the upper bound: tanh < 1
    if libmp.mpf_sign(m) < 0:  # m = expm1(2x) > 0 truly; a slightly negative lower bound is clamped
        m = _FZERO
    den = mp_add(m, _FTWO, wp, MP_FLOOR if up else MP_CEIL)
    r = mp_div(m, den, prec, rnd)
    return _FONE if libmp.mpf_cmp(r, _FONE) > 0 else r


def mp_logistic(x, prec: int, rnd: str):
    """Logistic sigmoid ``1 / (1 + exp(-x))`` rounded to ``prec`` bits on the ``rnd`` side.

    Rigorous: decreasing in ``exp(-x)``, so the lower bound uses ``exp(-x)`` rounded up, the sum
    ``1 + exp(-x)`` rounded up and the quotient rounded down (and symmetrically for the upper bound).
    ``exp(-x)`` carries relative error only, so the result is accurate for large ``|x|`` too.
    """
    up = rnd == MP_CEIL
    if x == _FINF:
        return _FONE
    if x == _FNINF:
        return _FZERO
    wp = prec + 10
    side = MP_FLOOR if up else MP_CEIL
    e = mp_exp(libmp.mpf_neg(x), wp, side)
    if e == _FINF:
        return _FZERO
    den = mp_add(_FONE, e, wp, side)
    return mp_div(_FONE, den, prec, rnd)


def mpf_to_decimal(v, digits: int, rnd: str) -> str:
    """Decimal string of at most ``digits`` significant digits on the ``rnd`` side of the raw mpf ``v``.

    Exact rational arithmetic, so the string, read back exactly, is ``<= v`` (``MP_FLOOR``) or ``>= v``
    (``MP_CEIL``); ``"inf"``/``"-inf"`` for infinities.

    >>> mpf_to_decimal(libmp.from_float(0.1), 17, MP_FLOOR), mpf_to_decimal(libmp.from_float(0.1), 17, MP_CEIL)
    ('0.1', '0.10000000000000001')
    >>> mpf_to_decimal(libmp.from_float(-2.5e-300), 3, MP_FLOOR)
    '-2.5e-300'
    """
    if v in (libmp.finf, libmp.fninf):
        return "inf" if v == libmp.finf else "-inf"
    q = mpf_to_fraction(v)
    if q == 0:
        return "0"
    neg, q = q < 0, abs(q)
    e = len(str(q.numerator)) - len(str(q.denominator))  # 10^(e-1) < q < 10^(e+1)
    if q < Fraction(10) ** e:
        e -= 1
    n = q * Fraction(10) ** (digits - 1 - e)  # digits-digit integer part
    away = (rnd == MP_CEIL) != neg  # the side points away from zero: round the magnitude up
    n = -(-n.numerator // n.denominator) if away else n.numerator // n.denominator
    if len(str(n)) > digits:  # carry 99..9 -> 100..0
        e += 1
    mant = str(n).rstrip("0")  # value = mant[0].mant[1:] * 10^e
    if e < -5 or e >= 17:
        s = mant[0] + ("." + mant[1:] if len(mant) > 1 else "") + f"e{e:+d}"
    elif e < 0:
        s = "0." + "0" * (-e - 1) + mant
    elif len(mant) <= e + 1:
        s = mant + "0" * (e + 1 - len(mant))
    else:
        s = mant[: e + 1] + "." + mant[e + 1:]
    return ("-" if neg else "") + s
