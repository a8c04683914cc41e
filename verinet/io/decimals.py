"""Vectorised tightest float64 enclosures of decimal strings (the fast path of the text model loaders).

A decimal string ``d`` (``"0.1"``, ``"-1.5e-7"``) is an exact rational; its tightest float enclosure is
``[d, d]`` when ``d`` is a float and the two neighbouring floats otherwise. Converting millions of strings
through ``Fraction`` costs seconds, so:

* ``f`` = a float near ``d`` (``ℓ`` below rounded to float64; nothing is assumed about it);
* ``ℓ`` = ``d`` rounded to the x87 80-bit format (64-bit significand, ``numpy.longdouble`` on x86-64,
  ``strtold``): every float is representable there and rounding is monotone, so ``f < ℓ < succ f`` proves
  ``f < d < succ f`` (if ``d ≤ f`` then its rounding is ``≤ f``; likewise for ``succ f``) and the tightest
  enclosure is ``[f, succ f]``; symmetrically ``[pred f, f]``;
* anything else (``d`` is a float, or within 2⁻⁶⁴ relative of one: about 0.05 % of random 9-digit
  decimals) is settled exactly with ``Fraction``.

:func:`enclose_decimals` takes a list of strings; :func:`enclose_decimal_rows` takes rows of
comma-joined strings cut straight from a JSON file's bytes (:mod:`verinet.io._jsonscan`) and computes ``ℓ``
with one ``numpy.fromstring`` call, no Python object per number.

The fast path accepts only plain decimal strings (digits, sign, point, exponent) whose floats are finite;
anything else (``"p/q"``, whitespace, ``nan``, overflow, non-strings) returns ``None`` and the caller takes
the exact path, which also produces the error messages. The 80-bit format is probed once against exact
rationals; where it is missing or unfaithful every entry is settled exactly.
"""

from __future__ import annotations

import functools
import warnings
from decimal import Decimal
from fractions import Fraction

import numpy as np

from intervals.rounding import float_down, float_up

__all__ = ["enclose_decimal_rows", "enclose_decimal_text", "enclose_decimals"]

#: bytes a plain decimal string may contain (0 is the padding of numpy's fixed-width bytes arrays)
_ALLOWED = b"0123456789+-.eE\x00"

_PROBES = ("0.1", "-0.3", "1e-310", "2.2250738585072011e-308", "9007199254740993", "0.30000000000000004",
           "1.000000000000000000108420217248550443400745280086994171142578125", "123456789.987654321e-30")


@functools.cache
def _longdouble_ok() -> bool:
    """Is ``bytes → numpy.longdouble`` a 64-bit-significand conversion that is faithful on the probes?"""
    try:
        if np.finfo(np.longdouble).nmant < 63:
            return False
        ld = np.array(_PROBES, dtype="S").astype(np.longdouble)
        for s, v in zip(_PROBES, ld):
            n, d = v.as_integer_ratio()
            q = Fraction(s)
            if abs(Fraction(n, d) - q) > abs(q) * Fraction(1, 2**63):  # faithful: within one ulp
                return False
        return True
    except (TypeError, ValueError, OverflowError, AttributeError):
        return False


@functools.cache
def _fromstring_ok() -> bool:
    """Does ``numpy.fromstring(..., longdouble, sep=",")`` give the (probed) 80-bit roundings of
    :func:`_longdouble_ok`, bit for bit, on the probes?"""
    if not _longdouble_ok():
        return False
    try:
        got = np.fromstring(",".join(_PROBES).encode(), dtype=np.longdouble, sep=",")
        want = np.array(_PROBES, dtype="S").astype(np.longdouble)
        return got.shape == want.shape and bool(np.all(got == want))
    except (TypeError, ValueError, OverflowError, DeprecationWarning):
        return False


def enclose_decimals(values: list) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(lo, hi, text)`` for a flat list of decimal strings, or ``None`` when the fast path does not apply.

    ``lo ≤ d ≤ hi`` are the tightest float64 bounds of each exact decimal ``d`` (equal when ``d`` is a
    float; ``-0`` is returned as ``0``) and ``text`` the strings as a numpy bytes array (compact; exact
    Fractions can be rebuilt from it).
    """
    if not set(map(type, values)) <= {str}:
        return None
    try:
        text = np.array(values, dtype="S") if values else np.zeros(0, dtype="S1")
    except (UnicodeEncodeError, ValueError):
        return None
    if text.shape != (len(values),):
        return None
    return enclose_decimal_text(text)


def enclose_decimal_text(text: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`enclose_decimals` for a flat numpy bytes array ``text`` (returned as the third item)."""
    # deleting the allowed bytes leaves nothing (one C pass over the buffer, no per-byte lookup array)
    if text.dtype.kind != "S" or text.ndim != 1 or text.tobytes().translate(None, _ALLOWED):
        return None
    ld_ok = _longdouble_ok()
    try:
        # on this alphabet numpy's parsers accept exactly the strings ``Fraction`` accepts (tested)
        # out-of-range literals parse to inf with a RuntimeWarning; the isfinite test in _settle sends them
        # to the exact path, whose error names the file and value
        with warnings.catch_warnings(), np.errstate(over="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            ld = text.astype(np.longdouble) if ld_ok else None
            f = ld.astype(np.float64) if ld_ok else text.astype(np.float64)
    except (ValueError, OverflowError):
        return None
    r = _settle(ld, f, lambda i: text[i].decode("ascii"))
    return None if r is None else (*r, text)


def enclose_decimal_rows(rows: list[bytes], n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(lo, hi)`` (flat, row after row) for rows of ``n`` decimal strings each, every row given as the
    bytes ``b"d,d,…,d"`` over the alphabet of plain decimal strings (as :mod:`verinet.io._jsonscan` cuts
    them from a JSON file), or None when the fast path does not apply (the caller takes the exact path).
    """
    if not rows or n < 1 or not _fromstring_ok():
        return None
    blob = b",".join(rows)
    # exactly len(rows)·n fields: with the count check below each yields one value, so none is empty
    if blob.translate(None, _ALLOWED + b",") or blob.count(b",") != len(rows) * n - 1:
        return None
    try:
        # numpy parses each element with strtold and raises ValueError unless an element is followed by the
        # separator or the end (so each element is one whole literal; Fraction accepts the same, tested)
        with warnings.catch_warnings(), np.errstate(over="ignore"):
            warnings.simplefilter("error", DeprecationWarning)  # older numpy: warning, not ValueError
            warnings.simplefilter("ignore", RuntimeWarning)
            ld = np.fromstring(blob, dtype=np.longdouble, sep=",")
            f = ld.astype(np.float64)
    except (ValueError, OverflowError, DeprecationWarning):
        return None
    if ld.shape != (len(rows) * n,):
        return None
    cache: dict[int, list[bytes]] = {}

    def string(i: int) -> str:
        r, j = divmod(i, n)
        if r not in cache:
            cache[r] = rows[r].split(b",")
        return cache[r][j].decode("ascii")

    return _settle(ld, f, string)


def _settle(ld: np.ndarray | None, f: np.ndarray, string) -> tuple[np.ndarray, np.ndarray] | None:
    """The tightest enclosures ``(lo, hi)`` from ``ℓ`` (80-bit roundings, or None: settle all exactly),
    ``f`` (float64 near each value) and ``string(i)`` (the exact text of entry ``i``); None if not finite."""
    if f.size and not np.isfinite(f).all():
        return None
    f += 0.0  # -0 -> 0 (f is a fresh array)
    with np.errstate(over="ignore"):
        up, down = np.nextafter(f, np.inf), np.nextafter(f, -np.inf)
    if ld is not None:
        # ℓ > f ⇒ d > f, and ℓ < succ f ⇒ d < succ f (succ f is representable, rounding is monotone):
        # then [f, succ f] is the tightest enclosure; symmetrically below. Nothing is assumed about f.
        above = (ld > f) & (ld < up)
        below = (ld < f) & (ld > down)
        unsettled = np.flatnonzero(~(above | below))
    else:
        above = below = np.zeros(f.shape, dtype=bool)
        unsettled = np.arange(f.size)
    lo = np.where(below, down, f)
    hi = np.where(above, up, f)
    for i in unsettled.tolist():  # d is a float, or too close to one for ℓ to tell: exact
        s = string(i)
        if Decimal(s) == Decimal(float(f[i])):  # both conversions and the comparison are exact
            continue  # lo = hi = f already
        q = Fraction(s)
        lo[i], hi[i] = float_down(q), float_up(q)
    lo += 0.0  # fresh arrays from np.where: -0 -> 0 in place
    hi += 0.0
    return lo, hi
