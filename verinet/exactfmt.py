"""Exact decimal formatting of rationals and floats (for JSON output and certificates)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

__all__ = ["fraction_to_str", "float_to_exact_str", "str_to_fraction"]


def fraction_to_str(q: Fraction) -> str:
    """The exact decimal expansion of ``q`` if it terminates, else ``"p/q"``.

    >>> fraction_to_str(Fraction(1, 8)), fraction_to_str(Fraction(1, 3)), fraction_to_str(Fraction(-5))
    ('0.125', '1/3', '-5')
    """
    q = Fraction(q)
    d = q.denominator
    twos = fives = 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    if d != 1:
        return f"{q.numerator}/{q.denominator}"
    k = max(twos, fives)
    scaled = q * 10**k  # an integer
    s = str(Decimal(int(scaled)).scaleb(-k))
    if "E" in s or "e" in s:
        s = format(Decimal(int(scaled)).scaleb(-k), "f")
    return s


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
