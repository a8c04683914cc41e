"""Scalar arbitrary-precision intervals: ``Interval``, the ``mp`` backend's user-facing object.

Semantics: IEEE 1788-2015, set-based flavour. An interval is a closed connected set of *reals*
``[lo, hi]`` (``lo`` may be ``-inf``, ``hi`` may be ``+inf``; infinities are never members), or the
empty set. Every operation returns an interval containing ``{f(x, y) : x in X, y in Y}`` for the exact
real ``f`` (§10.5, "inclusion property"); functions are restricted to their domain (§10.5.1:
``sqrt([-4, 4]) = [0, 2]``, ``log([-1, 0]) = empty``, ``[1, 2] / [0, 0] = empty``). Endpoints are raw
``mpmath.libmp`` tuples; every rounding goes through ``intervals.rounding`` at the precision in force
(``intervals.precision``) when the operation runs. Operations that are exact on endpoints (negation,
``abs``, ``relu``, ``min``, ``max``, hull, intersection) do not round.

Comparisons are explicit predicates (``certainly_lt``, ``possibly_lt``, ...; §10.5.10 quantifies them);
``<``, ``<=``, ``>``, ``>=`` and ``bool()`` raise ``IndeterminateComparison``; ``==`` is set equality.
See ``docs/design.md``.

>>> x = Interval("0.1") + Interval("0.2")
>>> x.contains("0.3"), possibly_eq(x, Interval("0.3"))
(True, True)
>>> Interval(1, 2) / Interval(0, 1)
Interval('1', 'inf')
>>> Interval(-2, 1) ** 2
Interval('0', '4')
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from numbers import Integral

import mpmath
import numpy as np
from mpmath import libmp

from intervals import rounding as R
from intervals.context import current_precision
from intervals.errors import IndeterminateComparison

__all__ = [
    "Interval",
    "certainly_eq",
    "certainly_ge",
    "certainly_gt",
    "certainly_le",
    "certainly_lt",
    "contains",
    "exp",
    "is_subset",
    "log",
    "logistic",
    "maximum",
    "minimum",
    "possibly_eq",
    "possibly_ge",
    "possibly_gt",
    "possibly_le",
    "possibly_lt",
    "relu",
    "sqrt",
    "tanh",
]

_DN, _UP = R.MP_FLOOR, R.MP_CEIL
_ZERO, _ONE, _INF, _NINF, _NAN = libmp.fzero, libmp.fone, libmp.finf, libmp.fninf, libmp.fnan
_neg, _cmp = libmp.mpf_neg, libmp.mpf_cmp
_INF_WORDS = {"inf": _INF, "+inf": _INF, "infinity": _INF, "+infinity": _INF,
              "-inf": _NINF, "-infinity": _NINF}
_DECIMAL_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_MAX_DECIMAL_EXP = 100_000  # "1e1000000000" would build a billion-digit integer: refuse it clearly


def _sign(a) -> int:
    return libmp.mpf_sign(a)


def _lo_of(a, b):  # smaller of two raw mpf
    return a if _cmp(a, b) <= 0 else b


def _hi_of(a, b):
    return a if _cmp(a, b) >= 0 else b


def _exact(v, what: str):
    """Exact value of a scalar: a raw mpf (dyadic inputs and ``±inf``) or a ``Fraction``.

    ``float`` is taken as the exact binary number it is; strings and ``Decimal`` keep their decimal
    value. Raises ``ValueError`` for NaN and malformed strings, ``TypeError`` for other types.
    """
    if isinstance(v, (bool, np.bool_)) or v is None:
        raise TypeError(f"{what}: expected a number or a decimal string, got {type(v).__name__}")
    if isinstance(v, (Integral, np.integer)):
        return libmp.from_int(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)  # exact: float16/32 values are float64 values
        if math.isnan(v):
            raise ValueError(f"{what}: NaN is not a number (an interval never contains NaN)")
        return R.mpf_from_float(v, 53, _DN)  # exact: every float64 fits in 53 bits
    if isinstance(v, Fraction):
        return v
    if isinstance(v, mpmath.mpf):
        if v._mpf_ == _NAN:
            raise ValueError(f"{what}: NaN is not a number (an interval never contains NaN)")
        return v._mpf_
    if isinstance(v, Decimal):
        if v.is_nan():
            raise ValueError(f"{what}: NaN is not a number (an interval never contains NaN)")
        return (_NINF if v < 0 else _INF) if v.is_infinite() else Fraction(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _INF_WORDS:
            return _INF_WORDS[s]
        m = _DECIMAL_RE.fullmatch(s)
        if m is None:
            raise ValueError(f"{what}: {v!r} is not a decimal number (expected e.g. '0.1', '-2.5e-3', 'inf')")
        if m.group(2) and abs(int(m.group(2)[1:])) > _MAX_DECIMAL_EXP:
            raise ValueError(f"{what}: the exponent of {v!r} is beyond +-{_MAX_DECIMAL_EXP}")
        return Fraction(s)
    raise TypeError(f"{what}: cannot make an interval endpoint from {type(v).__name__}")


def _round(e, prec: int, rnd: str):
    """Round an exact value from :func:`_exact` to ``prec`` bits in direction ``rnd``."""
    if isinstance(e, Fraction):
        return R.mpf_from_fraction(e, prec, rnd)
    return libmp.mpf_pos(e, prec, rnd)


def _as_fraction(e):
    return e if isinstance(e, Fraction) else R.mpf_to_fraction(e)


def _exact_cmp(a, b) -> int:
    """Exact comparison of two values from :func:`_exact` (infinities included)."""
    if not isinstance(a, Fraction) and not isinstance(b, Fraction):
        return _cmp(a, b)
    for e, s in ((a, 1), (b, -1)):
        if not isinstance(e, Fraction) and e in (_INF, _NINF):
            return s if e == _INF else -s
    qa, qb = _as_fraction(a), _as_fraction(b)
    return (qa > qb) - (qa < qb)


def _show(v) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def _rebuild(lo, hi):
    """Unpickling helper (endpoints were valid when pickled)."""
    return Interval._unsafe_from_bounds(lo, hi)


class Interval:
    """A closed real interval with arbitrary-precision endpoints (IEEE 1788 set-based semantics).

    Parameters
    ----------
    lo, hi : int, float, Fraction, Decimal, str, mpmath.mpf or Interval
        ``Interval(x)`` is the tightest enclosure of ``x`` at the working precision; ``Interval(lo, hi)``
        encloses ``[lo, hi]`` (``lo`` rounded down, ``hi`` up). A ``float`` is the exact binary number it
        denotes (so ``Interval(0.1)`` is *not* one tenth); a decimal string keeps its decimal meaning
        (``Interval("0.1")`` contains 1/10). ``"inf"``/``"-inf"`` (or float infinities) are allowed as
        ``hi``/``lo``. Use :meth:`empty` and :meth:`entire` for those sets.

    Raises
    ------
    ValueError
        NaN, a malformed string, ``lo > hi``, ``lo = +inf`` or ``hi = -inf``.
    TypeError
        Any other type (``None``, ``bool``, lists, ...).

    Rigorous: the constructed interval contains every real in ``[lo, hi]`` (exact values of the inputs).

    >>> Interval("0.1").contains("0.1"), Interval(0.1).contains("0.1")
    (True, False)
    >>> Interval(2, 1)
    Traceback (most recent call last):
    ...
    ValueError: Interval: lo > hi (lo=2, hi=1)
    """

    __slots__ = ("_hi", "_lo")

    def __init__(self, lo, hi=None) -> None:
        if isinstance(lo, Interval) and hi is None:
            object.__setattr__(self, "_lo", lo._lo)
            object.__setattr__(self, "_hi", lo._hi)
            return
        prec = current_precision()
        a = _exact(lo, "Interval")
        b = a if hi is None else _exact(hi, "Interval")
        if not isinstance(a, Fraction) and a == _INF:
            raise ValueError(f"Interval: the lower endpoint cannot be +inf (got {_show(lo)})")
        if not isinstance(b, Fraction) and b == _NINF:
            raise ValueError(f"Interval: the upper endpoint cannot be -inf (got {_show(lo if hi is None else hi)})")
        if hi is not None and _exact_cmp(a, b) > 0:
            raise ValueError(f"Interval: lo > hi (lo={_show(lo)}, hi={_show(hi)})")
        object.__setattr__(self, "_lo", _round(a, prec, _DN))
        object.__setattr__(self, "_hi", _round(b, prec, _UP))

    @classmethod
    def _unsafe_from_bounds(cls, lo, hi) -> Interval:
        """Build from raw mpf endpoints WITHOUT checks (``None, None`` is the empty set).

        Danger: no check of ``lo <= hi``, NaN or infinities. Only this module's operations (whose results
        are valid by construction) and ``intervals`` backend code converting already-validated raw
        endpoints may call it.
        """
        x = object.__new__(cls)
        object.__setattr__(x, "_lo", lo)
        object.__setattr__(x, "_hi", hi)
        return x

    @classmethod
    def empty(cls) -> Interval:
        """The empty set (IEEE 1788 §7.2).

        >>> Interval.empty().is_empty()
        True
        """
        return cls._unsafe_from_bounds(None, None)

    @classmethod
    def entire(cls) -> Interval:
        """The whole real line ``[-inf, inf]``."""
        return cls._unsafe_from_bounds(_NINF, _INF)

    def __setattr__(self, name, value):
        raise AttributeError("Interval is immutable")

    def __reduce__(self):
        return (_rebuild, (self._lo, self._hi))

    # ---- endpoints and numeric functions (IEEE 1788 §10.5.9) -------------------------------------

    @property
    def lo(self) -> mpmath.mpf:
        """Lower endpoint as an ``mpmath.mpf`` (exact; ``+inf`` for the empty set, as IEEE 1788 ``inf``)."""
        return mpmath.mp.make_mpf(_INF if self._lo is None else self._lo)

    @property
    def hi(self) -> mpmath.mpf:
        """Upper endpoint as an ``mpmath.mpf`` (exact; ``-inf`` for the empty set)."""
        return mpmath.mp.make_mpf(_NINF if self._hi is None else self._hi)

    def _nonempty(self, what: str) -> None:
        if self._lo is None:
            raise ValueError(f"{what} of the empty interval is undefined")

    def mid(self) -> mpmath.mpf:
        """Midpoint rounded to nearest at the working precision, clamped into the interval.

        Rigorous: the returned point lies in the interval (it is a point, not an enclosure).
        Entire: 0. Half-unbounded: ``ValueError``.
        """
        self._nonempty("mid")
        if self._lo == _NINF and self._hi == _INF:
            return mpmath.mp.make_mpf(_ZERO)
        if self._lo == _NINF or self._hi == _INF:
            raise ValueError("mid of a half-unbounded interval is undefined")
        m = libmp.mpf_shift(libmp.mpf_add(self._lo, self._hi, current_precision(), libmp.round_nearest), -1)
        return mpmath.mp.make_mpf(_hi_of(self._lo, _lo_of(m, self._hi)))

    def rad(self) -> mpmath.mpf:
        """Radius ``r`` rounded up so that ``[mid - r, mid + r]`` contains the interval.

        Rigorous: ``r >= max(mid - lo, hi - mid)`` with ``mid = self.mid()``.
        """
        self._nonempty("rad")
        if self._lo == _NINF or self._hi == _INF:
            return mpmath.mp.make_mpf(_INF)
        m, p = self.mid()._mpf_, current_precision()
        return mpmath.mp.make_mpf(_hi_of(R.mp_sub(m, self._lo, p, _UP), R.mp_sub(self._hi, m, p, _UP)))

    def width(self) -> mpmath.mpf:
        """Width ``hi - lo`` rounded up. Rigorous: ``width() >= hi - lo``."""
        self._nonempty("width")
        return mpmath.mp.make_mpf(R.mp_sub(self._hi, self._lo, current_precision(), _UP))

    def mag(self) -> mpmath.mpf:
        """Rigorous (exact): magnitude ``max |x|`` over the interval."""
        self._nonempty("mag")
        return mpmath.mp.make_mpf(_hi_of(libmp.mpf_abs(self._lo), libmp.mpf_abs(self._hi)))

    def mig(self) -> mpmath.mpf:
        """Rigorous (exact): mignitude ``min |x|`` over the interval (0 if it contains 0)."""
        self._nonempty("mig")
        if _sign(self._lo) <= 0 <= _sign(self._hi):
            return mpmath.mp.make_mpf(_ZERO)
        return mpmath.mp.make_mpf(_lo_of(libmp.mpf_abs(self._lo), libmp.mpf_abs(self._hi)))

    def to_fraction_bounds(self) -> tuple[Fraction | None, Fraction | None]:
        """Rigorous (exact): the endpoints as ``Fraction`` (``None`` for an infinite endpoint).

        >>> Interval("0.5", "inf").to_fraction_bounds()
        (Fraction(1, 2), None)
        """
        self._nonempty("to_fraction_bounds")
        return (None if self._lo == _NINF else R.mpf_to_fraction(self._lo),
                None if self._hi == _INF else R.mpf_to_fraction(self._hi))

    def float_bounds(self) -> tuple[float, float]:
        """Outward-rounded float64 endpoints. Rigorous: ``[lo_f, hi_f]`` contains the interval.

        >>> from intervals.context import precision
        >>> with precision(100):
        ...     Interval("0.1").float_bounds()
        (0.09999999999999999, 0.1)
        """
        self._nonempty("float_bounds")
        return R.mpf_to_float_down(self._lo), R.mpf_to_float_up(self._hi)

    # ---- set operations and predicates (§10.5.10) -------------------------------------------------

    def is_empty(self) -> bool:
        return self._lo is None

    def is_entire(self) -> bool:
        return self._lo == _NINF and self._hi == _INF

    def is_bounded(self) -> bool:
        """True for the empty set and for intervals with two finite endpoints."""
        return self._lo is None or (self._lo != _NINF and self._hi != _INF)

    def is_singleton(self) -> bool:
        return self._lo is not None and self._lo == self._hi

    def contains(self, value) -> bool:
        """Exact membership of a real number (infinities are never members).

        >>> Interval(0, 1).contains("1"), Interval(0, "inf").contains(float("inf"))
        (True, False)
        """
        if isinstance(value, Interval):
            raise TypeError("contains() takes a number; for intervals use is_subset(y, x)")
        v = _exact(value, "contains")
        if self._lo is None or (not isinstance(v, Fraction) and v in (_INF, _NINF)):
            return False
        return _exact_cmp(self._lo, v) <= 0 <= _exact_cmp(self._hi, v)

    __contains__ = contains

    def is_subset(self, other) -> bool:
        """``self ⊆ other`` (the empty set is a subset of everything)."""
        other = _coerce_strict(other)
        if self._lo is None:
            return True
        return other._lo is not None and _cmp(other._lo, self._lo) <= 0 and _cmp(self._hi, other._hi) <= 0

    def __or__(self, other):
        """Rigorous (exact): interval hull ``self | other``."""
        other = _coerce(other)
        if other is None:
            return NotImplemented
        if self._lo is None or other._lo is None:
            return other if self._lo is None else self
        return Interval._unsafe_from_bounds(_lo_of(self._lo, other._lo), _hi_of(self._hi, other._hi))

    def __and__(self, other):
        """Rigorous (exact): intersection ``self & other``."""
        other = _coerce(other)
        if other is None:
            return NotImplemented
        if self._lo is None or other._lo is None:
            return Interval.empty()
        lo, hi = _hi_of(self._lo, other._lo), _lo_of(self._hi, other._hi)
        return Interval.empty() if _cmp(lo, hi) > 0 else Interval._unsafe_from_bounds(lo, hi)

    __ror__, __rand__ = __or__, __and__

    # ---- comparisons -------------------------------------------------------------------------------

    def __eq__(self, other):
        """Set equality: same endpoints (numbers compare as exact singletons). Always decidable."""
        if not isinstance(other, Interval):
            if isinstance(other, str) or _coerce(other) is None:
                return NotImplemented
            v = _exact(other, "==")
            return self.is_singleton() and _exact_cmp(self._lo, v) == 0
        if self._lo is None or other._lo is None:
            return self._lo is other._lo
        return _cmp(self._lo, other._lo) == 0 and _cmp(self._hi, other._hi) == 0

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __hash__(self):
        if self._lo is None:
            return hash(("Interval.empty",))
        if self.is_singleton() and self._lo not in (_INF, _NINF):
            return hash(R.mpf_to_fraction(self._lo))  # equal to the hash of the equal number
        return hash((self._lo, self._hi))

    def __lt__(self, other):
        raise IndeterminateComparison("<", "certainly_lt", "possibly_lt")

    def __le__(self, other):
        raise IndeterminateComparison("<=", "certainly_le", "possibly_le")

    def __gt__(self, other):
        raise IndeterminateComparison(">", "certainly_gt", "possibly_gt")

    def __ge__(self, other):
        raise IndeterminateComparison(">=", "certainly_ge", "possibly_ge")

    def __bool__(self):
        raise IndeterminateComparison("bool()", "x.is_empty()", "x.contains(0)")

    # ---- arithmetic (§10.5.3) ----------------------------------------------------------------------

    def __pos__(self):
        """Rigorous (exact): the interval itself."""
        return self

    def __neg__(self):
        """Rigorous (exact): ``{-x}``."""
        if self._lo is None:
            return self
        return Interval._unsafe_from_bounds(_neg(self._hi), _neg(self._lo))

    def __add__(self, other):
        """Rigorous: contains ``x + y`` for all ``x`` in self, ``y`` in other (endpoints rounded outward)."""
        other = _coerce(other)
        if other is None:
            return NotImplemented
        if self._lo is None or other._lo is None:
            return Interval.empty()
        p = current_precision()
        # lo + lo never meets +inf and hi + hi never meets -inf, so no inf - inf.
        return Interval._unsafe_from_bounds(R.mp_add(self._lo, other._lo, p, _DN),
                                            R.mp_add(self._hi, other._hi, p, _UP))

    __radd__ = __add__

    def __sub__(self, other):
        """Rigorous: contains ``x - y`` for all ``x`` in self, ``y`` in other."""
        other = _coerce(other)
        return NotImplemented if other is None else self + (-other)

    def __rsub__(self, other):
        """Rigorous: contains ``y - x`` for the number ``y``."""
        other = _coerce(other)
        return NotImplemented if other is None else other + (-self)

    def __mul__(self, other):
        """Rigorous: contains ``x * y``; endpoint products with ``0 * inf = 0`` (set semantics).

        The hull of a product of two intervals is attained at endpoint pairs: the four products are
        formed exactly (``prec=0``), and the smallest is rounded down, the largest up.
        """
        other = _coerce(other)
        if other is None:
            return NotImplemented
        if self._lo is None or other._lo is None:
            return Interval.empty()
        p = current_precision()
        a, b, c, d = self._lo, self._hi, other._lo, other._hi
        ps = [R.mp_mul(a, c, 0, _DN), R.mp_mul(a, d, 0, _DN), R.mp_mul(b, c, 0, _DN), R.mp_mul(b, d, 0, _DN)]
        lo, hi = ps[0], ps[0]
        for v in ps[1:]:
            lo, hi = _lo_of(lo, v), _hi_of(hi, v)
        return Interval._unsafe_from_bounds(libmp.mpf_pos(lo, p, _DN), libmp.mpf_pos(hi, p, _UP))

    __rmul__ = __mul__

    def __truediv__(self, other):
        """Rigorous: contains ``{x / y : y != 0}`` (IEEE 1788 set semantics; hull of the two pieces).

        >>> Interval(1, 2) / Interval(-1, 1), Interval(1, 2) / 0
        (Interval('-inf', 'inf'), Interval.empty())
        """
        other = _coerce(other)
        if other is None:
            return NotImplemented
        return _div(self, other, current_precision())

    def __rtruediv__(self, other):
        """Rigorous: contains ``y / x`` for the number ``y`` (as ``/``)."""
        other = _coerce(other)
        return NotImplemented if other is None else _div(other, self, current_precision())

    def __pow__(self, n):
        """Integer power ``x**n`` (IEEE 1788 ``pown``); even powers use ``[mig^n, mag^n]``.

        Rigorous: contains ``x**n`` for all ``x`` in self (``x != 0`` when ``n < 0``).

        >>> Interval(-1, 1) ** -2, Interval(-3, 2) ** 3
        (Interval('1', 'inf'), Interval('-27', '8'))
        """
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (Integral, np.integer)):
            raise TypeError(f"Interval ** n needs an integer n, got {type(n).__name__}; "
                            "for real exponents use exp(y * log(x))")
        n = int(n)
        if self._lo is None:
            return self
        if n == 0:
            return Interval._unsafe_from_bounds(_ONE, _ONE)
        if n < 0:
            return Interval(1) / (self ** -n)
        p = current_precision()

        def pw(a, rnd):  # a**n on the rnd side; odd n: a**n = -(|a|**n) for a < 0 (opposite side)
            if _sign(a) >= 0:
                return R.mp_pow_nonneg(a, n, p, rnd)
            return _neg(R.mp_pow_nonneg(_neg(a), n, p, _UP if rnd == _DN else _DN))

        if n % 2:  # odd: increasing
            return Interval._unsafe_from_bounds(pw(self._lo, _DN), pw(self._hi, _UP))
        return Interval._unsafe_from_bounds(pw(self.mig()._mpf_, _DN), pw(self.mag()._mpf_, _UP))

    # ---- elementary functions (§10.5.3, restricted to their domains) ------------------------------

    def __abs__(self):
        """Rigorous (exact): ``{|x|}``."""
        if self._lo is None or _sign(self._lo) >= 0:
            return self
        if _sign(self._hi) <= 0:
            return -self
        return Interval._unsafe_from_bounds(_ZERO, self.mag()._mpf_)

    def _monotone(self, f):
        if self._lo is None:
            return self
        p = current_precision()
        return Interval._unsafe_from_bounds(f(self._lo, p, _DN), f(self._hi, p, _UP))

    def sqrt(self):
        """Rigorous: contains ``sqrt(x)`` for all ``x >= 0`` in self (empty if none)."""
        if self._lo is None or _sign(self._hi) < 0:
            return Interval.empty()
        p = current_precision()
        return Interval._unsafe_from_bounds(R.mp_sqrt(_hi_of(self._lo, _ZERO), p, _DN), R.mp_sqrt(self._hi, p, _UP))

    def exp(self):
        """Rigorous: contains ``exp(x)`` for all ``x`` in self (increasing; see ``rounding.mp_exp``)."""
        return self._monotone(R.mp_exp)

    def log(self):
        """Rigorous: contains ``log(x)`` for all ``x > 0`` in self (empty if none; ``-inf`` if ``lo <= 0``)."""
        if self._lo is None or _sign(self._hi) <= 0:
            return Interval.empty()
        p = current_precision()
        lo = _NINF if _sign(self._lo) <= 0 else R.mp_log(self._lo, p, _DN)
        return Interval._unsafe_from_bounds(lo, R.mp_log(self._hi, p, _UP))

    def tanh(self):
        """Rigorous: contains ``tanh(x)`` for all ``x`` in self (increasing)."""
        return self._monotone(R.mp_tanh)

    def logistic(self):
        """Rigorous: contains ``1 / (1 + exp(-x))`` for all ``x`` in self (increasing)."""
        return self._monotone(R.mp_logistic)

    def relu(self):
        """Rigorous (exact): ``{max(x, 0)}``."""
        if self._lo is None:
            return self
        return Interval._unsafe_from_bounds(_hi_of(self._lo, _ZERO), _hi_of(self._hi, _ZERO))

    def min(self, other):
        """Rigorous (exact): ``{min(x, y)}`` (increasing in both arguments)."""
        other = _coerce_strict(other)
        if self._lo is None or other._lo is None:
            return Interval.empty()
        return Interval._unsafe_from_bounds(_lo_of(self._lo, other._lo), _lo_of(self._hi, other._hi))

    def max(self, other):
        """Rigorous (exact): ``{max(x, y)}`` (increasing in both arguments)."""
        other = _coerce_strict(other)
        if self._lo is None or other._lo is None:
            return Interval.empty()
        return Interval._unsafe_from_bounds(_hi_of(self._lo, other._lo), _hi_of(self._hi, other._hi))

    # ---- display -----------------------------------------------------------------------------------

    def _strs(self) -> tuple[str, str]:
        d = math.ceil(current_precision() * math.log10(2)) + 1
        return R.mpf_to_decimal(self._lo, d, _DN), R.mpf_to_decimal(self._hi, d, _UP)

    def __repr__(self) -> str:
        """``Interval('lo', 'hi')`` with decimals rounded outward: evaluating it gives a superset."""
        if self._lo is None:
            return "Interval.empty()"
        a, b = self._strs()
        return f"Interval('{a}')" if a == b else f"Interval('{a}', '{b}')"

    def __str__(self) -> str:
        if self._lo is None:
            return "[empty]"
        a, b = self._strs()
        return f"[{a}, {b}]"


def _coerce(v) -> Interval | None:
    """An operand as an Interval (numbers enclosed at the working precision), ``None`` if unsupported."""
    if isinstance(v, Interval):
        return v
    if isinstance(v, (str, bool, np.bool_)) or not isinstance(
            v, (Integral, float, Fraction, Decimal, mpmath.mpf, np.integer, np.floating)):
        return None
    return Interval(v)


def _coerce_strict(v) -> Interval:
    x = _coerce(v)
    if x is None:
        raise TypeError(f"expected an Interval or a number, got {type(v).__name__}")
    return x


def _div(x: Interval, y: Interval, p: int) -> Interval:
    """``x / y`` by the sign-case table of IEEE 1788 §10.5.3 (no ``inf / inf`` or ``0 / 0`` is formed)."""
    if x._lo is None or y._lo is None:
        return Interval.empty()
    (a, b), (c, d) = (x._lo, x._hi), (y._lo, y._hi)
    sa, sb, sc, sd = _sign(a), _sign(b), _sign(c), _sign(d)
    q = Interval._unsafe_from_bounds
    if sc > 0:  # y > 0
        if sa >= 0:  # x >= 0: smallest x over largest y
            return q(R.mp_div(a, d, p, _DN), R.mp_div(b, c, p, _UP))
        if sb <= 0:  # x <= 0
            return q(R.mp_div(a, c, p, _DN), R.mp_div(b, d, p, _UP))
        return q(R.mp_div(a, c, p, _DN), R.mp_div(b, c, p, _UP))  # x straddles 0: divide by the smallest y
    if sd < 0:  # y < 0
        if sa >= 0:
            return q(R.mp_div(b, d, p, _DN), R.mp_div(a, c, p, _UP))
        if sb <= 0:
            return q(R.mp_div(b, c, p, _DN), R.mp_div(a, d, p, _UP))
        return q(R.mp_div(b, d, p, _DN), R.mp_div(a, d, p, _UP))
    # 0 in y
    if sc == 0 and sd == 0:  # y = {0}: no y != 0
        return Interval.empty()
    if sa <= 0 <= sb:  # 0 in x: 0/y and x/(y near 0) give everything
        return Interval.entire()
    if sa > 0:  # x > 0
        if sc == 0:
            return q(R.mp_div(a, d, p, _DN), _INF)  # y in (0, d]
        if sd == 0:
            return q(_NINF, R.mp_div(a, c, p, _UP))  # y in [c, 0)
        return Interval.entire()  # two unbounded pieces; their hull
    if sc == 0:  # x < 0, y in (0, d]
        return q(_NINF, R.mp_div(b, d, p, _UP))
    if sd == 0:  # x < 0, y in [c, 0)
        return q(R.mp_div(b, c, p, _DN), _INF)
    return Interval.entire()


# ---- functions ---------------------------------------------------------------------------------------


def _unary(x, name: str):
    if not isinstance(x, Interval) and hasattr(x, name) and _coerce(x) is None:
        return getattr(x, name)()  # duck typing: other interval types with the same method
    return getattr(_coerce_strict(x), name)()


def sqrt(x):
    """Rigorous: contains ``sqrt`` of every ``x >= 0`` in ``x``. Also dispatches to ``x.sqrt()``.

    >>> sqrt(Interval(-4, 4))
    Interval('0', '2')
    """
    return _unary(x, "sqrt")


def exp(x):
    """Rigorous: contains ``exp`` of every point of ``x``.

    >>> exp(Interval(0))
    Interval('1')
    """
    return _unary(x, "exp")


def log(x):
    """Rigorous: contains ``log`` of every ``x > 0`` in ``x`` (natural logarithm).

    >>> log(Interval(0, 1))
    Interval('-inf', '0')
    """
    return _unary(x, "log")


def tanh(x):
    """Rigorous: contains ``tanh`` of every point of ``x``."""
    return _unary(x, "tanh")


def logistic(x):
    """Rigorous: contains the logistic sigmoid ``1 / (1 + exp(-x))`` of every point of ``x``.

    >>> logistic(Interval(0))
    Interval('0.5')
    """
    return _unary(x, "logistic")


def relu(x):
    """Rigorous (exact): ``{max(x, 0)}``."""
    return _unary(x, "relu")


def minimum(x, y):
    """Rigorous (exact): ``{min(a, b) : a in x, b in y}``."""
    return _coerce_strict(x).min(y)


def maximum(x, y):
    """Rigorous (exact): ``{max(a, b) : a in x, b in y}``."""
    return _coerce_strict(x).max(y)


# ---- certain / possible comparisons (IEEE 1788 §10.5.10 quantifiers) -------------------------------
# certainly_op(X, Y): for all x in X, y in Y, x op y   (vacuously True if X or Y is empty)
# possibly_op(X, Y):  there exist x in X, y in Y with x op y   (False if X or Y is empty)
# Numbers are enclosed at the working precision first; that can only make "certainly" stricter and
# "possibly" looser, so both stay sound.


def _pair(x, y):
    return _coerce_strict(x), _coerce_strict(y)


def certainly_lt(x, y) -> bool:
    """Every point of ``x`` is < every point of ``y``.

    >>> certainly_lt(Interval(0, 1), 2), certainly_lt(Interval(0, 1), 1)
    (True, False)
    """
    x, y = _pair(x, y)
    return x._lo is None or y._lo is None or _cmp(x._hi, y._lo) < 0


def possibly_lt(x, y) -> bool:
    """Some point of ``x`` is < some point of ``y``."""
    x, y = _pair(x, y)
    return x._lo is not None and y._lo is not None and _cmp(x._lo, y._hi) < 0


def certainly_le(x, y) -> bool:
    """Every point of ``x`` is <= every point of ``y``."""
    x, y = _pair(x, y)
    return x._lo is None or y._lo is None or _cmp(x._hi, y._lo) <= 0


def possibly_le(x, y) -> bool:
    """Some point of ``x`` is <= some point of ``y``."""
    x, y = _pair(x, y)
    return x._lo is not None and y._lo is not None and _cmp(x._lo, y._hi) <= 0


def certainly_gt(x, y) -> bool:
    """Every point of ``x`` is > every point of ``y``."""
    return certainly_lt(y, x)


def possibly_gt(x, y) -> bool:
    """Some point of ``x`` is > some point of ``y``."""
    return possibly_lt(y, x)


def certainly_ge(x, y) -> bool:
    """Every point of ``x`` is >= every point of ``y``."""
    return certainly_le(y, x)


def possibly_ge(x, y) -> bool:
    """Some point of ``x`` is >= some point of ``y``."""
    return possibly_le(y, x)


def certainly_eq(x, y) -> bool:
    """Every point of ``x`` equals every point of ``y`` (both the same singleton, or one is empty)."""
    x, y = _pair(x, y)
    return x._lo is None or y._lo is None or (x.is_singleton() and x == y)


def possibly_eq(x, y) -> bool:
    """Some point of ``x`` equals some point of ``y`` (the intervals intersect)."""
    x, y = _pair(x, y)
    return not (x & y).is_empty()


def is_subset(x, y) -> bool:
    """``x ⊆ y``."""
    return _coerce_strict(x).is_subset(y)


def contains(x, value) -> bool:
    """Exact membership of the number ``value`` in the interval ``x``."""
    return _coerce_strict(x).contains(value)
