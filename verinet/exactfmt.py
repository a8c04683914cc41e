"""Exact decimal formatting of rationals and floats (for JSON output and certificates)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

__all__ = ["fraction_to_str", "float_to_exact_str", "str_to_fraction"]


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


def str_to_fraction(s: str) -> Fraction:
    """Inverse of :func:`fraction_to_str` (accepts decimals, scientific notation and ``p/q``)."""
    return Fraction(s.strip())
