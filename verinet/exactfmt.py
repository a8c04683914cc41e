"""Exact decimal text of rationals and floats, both ways: formatting (JSON output, certificates) and the
one parser of numbers written as text that every entry point uses (options, boxes, model files,
certificates, VNN-LIB properties).

:func:`parse_exact` keeps a literal's *decimal* meaning (``"0.1"`` is 1/10, not the nearest float) and
refuses, with one clear line, what would make the exact arithmetic behind it explode: exponents beyond
:data:`MAX_EXPONENT` (``1e99999999`` would build a hundred-million-digit integer) and literals longer
than :data:`MAX_LENGTH` characters.
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from fractions import Fraction

from verinet.errors import NumberFormatError

__all__ = ["MAX_EXPONENT", "MAX_LENGTH", "fraction_to_str", "float_to_exact_str", "parse_exact"]

#: Largest ``|e|`` accepted in a decimal exponent (float64 spans about 1e-324 .. 1e308).
MAX_EXPONENT = 10_000
#: Longest number literal accepted, in characters (a float64 needs at most 767 significant digits).
MAX_LENGTH = 20_000
#: Largest magnitude of a number that must fit a float64 (model weights, regions, property bounds).
FLOAT_MAX = Fraction(sys.float_info.max)

_DECIMAL_RE = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_RATIO_RE = re.compile(r"([+-]?\d+)\s*/\s*(\d+)")
_NONFINITE = frozenset({"nan", "inf", "infinity"})


def parse_exact(text: str, what: str = "value", *, float_range: bool = True) -> Fraction:
    """Exact value of a number written as text: a decimal (``"-0.25"``, ``"1e-3"``, ``".5"``, ``"3."``)
    or a ratio of integers (``"1/3"``).

    Parameters
    ----------
    text : str
        The literal; surrounding white space is ignored.
    what : str
        What the number is (an option, a file and entry), named in the error message.
    float_range : bool
        Also refuse magnitudes beyond the largest float64 (every analysed quantity is enclosed in
        float64 intervals, so such a number could only turn into an overflow deep inside).

    Raises
    ------
    NumberFormatError
        Not a number, NaN or infinite, exponent beyond ``±MAX_EXPONENT``, longer than ``MAX_LENGTH``
        characters, or (``float_range``) beyond the float64 range. A ``ValueError``.

    Examples
    --------
    >>> parse_exact("0.1"), parse_exact("-3/4"), parse_exact("1e-3")
    (Fraction(1, 10), Fraction(-3, 4), Fraction(1, 1000))
    >>> parse_exact("1e99999999", "--radius")
    Traceback (most recent call last):
    verinet.errors.NumberFormatError: --radius: exponent of '1e99999999' is beyond ±10000
    """
    pre = f"{what}: " if what else ""
    if not isinstance(text, str):
        raise NumberFormatError(f"{pre}expected a number as text, got {type(text).__name__}")
    s = text.strip()
    if len(s) > MAX_LENGTH:
        raise NumberFormatError(f"{pre}number literal of {len(s)} characters (at most {MAX_LENGTH})")
    if s.lower().lstrip("+-") in _NONFINITE:
        raise NumberFormatError(f"{pre}{s!r} is not finite (NaN and infinite numbers are not allowed)")
    m = _DECIMAL_RE.fullmatch(s)
    if m is not None and (m.group(2) or m.group(3)):
        sign, whole, frac, exp = m.groups()
        frac = frac or ""
        e = int(exp) if exp is not None else 0
        if abs(e) > MAX_EXPONENT:
            raise NumberFormatError(f"{pre}exponent of {_short(s)} is beyond ±{MAX_EXPONENT}")
        value = int(whole + frac or "0") * Fraction(10) ** (e - len(frac))
        value = -value if sign == "-" else value
    else:
        m = _RATIO_RE.fullmatch(s)
        if m is None:
            raise NumberFormatError(f"{pre}{_short(s)} is not a number")
        if int(m.group(2)) == 0:
            raise NumberFormatError(f"{pre}{_short(s)} divides by zero")
        value = Fraction(int(m.group(1)), int(m.group(2)))
    if float_range and abs(value) > FLOAT_MAX:
        raise NumberFormatError(f"{pre}{_short(s)} is beyond the float64 range (about ±1.8e308)")
    return value


def _short(s: str, limit: int = 40) -> str:
    return repr(s if len(s) <= limit else s[:limit] + "…")


def decimal_parts(q) -> tuple[int, int, int] | None:
    """``(sign, n, e)`` with ``q = sign·n·10**e``, ``n ≥ 0`` an integer without trailing zeros
    (``(1, 0, 0)`` for 0), or None when ``q`` has no terminating decimal expansion.

    ``q`` terminates iff its reduced denominator is ``2**a · 5**b``; then ``q·10**k`` is an integer for
    ``k = max(a, b)``.

    >>> decimal_parts(Fraction(-3, 8)), decimal_parts(Fraction(1, 3)), decimal_parts(Fraction(1200))
    ((-1, 375, -3), None, (1, 12, 2))
    """
    q = Fraction(q)
    if q == 0:
        return (1, 0, 0)
    den = q.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return None
    k = max(twos, fives)
    n = abs(q.numerator) * (2 ** (k - twos)) * (5 ** (k - fives))
    e = -k
    while n % 10 == 0:  # strip trailing zeros: n·10**e unchanged
        n //= 10
        e += 1
    return (-1 if q < 0 else 1, n, e)


def fixed_point(sign: int, n: int, e: int) -> str:
    """Plain decimal text (no exponent) of ``sign·n·10**e``.

    >>> fixed_point(-1, 375, -3), fixed_point(1, 12, 2), fixed_point(1, 5, 0)
    ('-0.375', '1200', '5')
    """
    digits = str(n)
    if e >= 0:
        body = digits + "0" * e if n else "0"
    else:
        digits = digits.rjust(-e + 1, "0")
        body = digits[:e] + "." + digits[e:]
    return ("-" if sign < 0 and n else "") + body


def fraction_to_str(q: Fraction) -> str:
    """The exact decimal expansion of ``q`` if it terminates, else ``"p/q"``.

    >>> fraction_to_str(Fraction(1, 8)), fraction_to_str(Fraction(1, 3)), fraction_to_str(Fraction(-5))
    ('0.125', '1/3', '-5')
    """
    q = Fraction(q)
    parts = decimal_parts(q)
    return f"{q.numerator}/{q.denominator}" if parts is None else fixed_point(*parts)


def float_to_exact_str(x: float) -> str:
    """The exact decimal value of a float64 (every finite float has a terminating expansion).

    >>> float_to_exact_str(0.1)
    '0.1000000000000000055511151231257827021181583404541015625'
    """
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    return format(Decimal(x), "f")

