"""Helpers shared by the model readers and writers: reading a file once, provenance, exact numbers."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from fractions import Fraction
from pathlib import Path

from verinet.errors import ModelFormatError
from verinet.exactfmt import decimal_parts
from verinet.exactfmt import parse_exact as _parse_exact
from verinet.network import Layer, Network

__all__ = ["build_network", "exact_str", "parse_exact", "read_model_bytes", "with_provenance"]


def read_model_bytes(path) -> tuple[Path, bytes]:
    """The file's bytes, read once (the SHA-256 and the parse see the same bytes)."""
    p = Path(os.fspath(path))
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ModelFormatError(f"model file not found: {p}") from None
    except IsADirectoryError:
        raise ModelFormatError(f"model path is a directory, not a file: {p}") from None
    except OSError as exc:
        raise ModelFormatError(f"cannot read model file {p}: {exc.strerror or exc}") from None
    if not data:
        raise ModelFormatError(f"{p}: empty file")
    return p, data


def with_provenance(net: Network, path: Path, data: bytes, fmt: str) -> Network:
    """``net`` with ``name`` (file stem), ``format``, ``source`` and ``sha256`` (of ``data``) set."""
    return dataclasses.replace(
        net, name=path.stem, format=fmt, source=str(path), sha256=hashlib.sha256(data).hexdigest()
    )


def build_network(path: Path, layers: list[Layer], **kwargs) -> Network:
    """``Network(layers, ...)`` with its validation errors (shapes that do not chain) as ModelFormatError."""
    try:
        return Network(tuple(layers), **kwargs)
    except ValueError as exc:
        raise ModelFormatError(f"{path}: {exc}") from None


def parse_exact(text: str) -> Fraction:
    """Exact value of a decimal string (``"0.1"``, ``"-1.5e-7"``) or a ratio ``"p/q"`` in a model file.

    :func:`verinet.exactfmt.parse_exact` with its limits; raises a ``ValueError`` with a short reason.
    """
    return _parse_exact(text, "")


def exact_str(q) -> str:
    """A string whose exact value is ``q``: a terminating decimal when there is one, else ``"p/q"``.

    Every float is a dyadic rational, hence a terminating decimal, so floats come out exactly (note:
    ``repr(0.1) == "0.1"`` would *not* do, since the decimal 0.1 is not the float 0.1).

    >>> exact_str(Fraction(1, 4)), exact_str(Fraction(-3)), exact_str(Fraction(1, 3))
    ('0.25', '-3', '1/3')
    >>> exact_str(0.1)
    '0.1000000000000000055511151231257827021181583404541015625'
    >>> exact_str(2.0 ** -60)
    '8.67361737988403547205962240695953369140625e-19'
    """
    q = Fraction(q)
    parts = decimal_parts(q)
    if parts is None:
        return f"{q.numerator}/{q.denominator}"
    sign_, n, exp = parts
    if n == 0:
        return "0"
    sign = "-" if sign_ < 0 else ""
    digits = str(n)
    if 0 <= exp <= 6:
        return sign + digits + "0" * exp
    point = len(digits) + exp  # position of the decimal point within digits
    if exp < 0 and point > -6:
        if point > 0:
            return sign + digits[:point] + "." + digits[point:]
        return sign + "0." + "0" * (-point) + digits
    # scientific: d.ddd e(point-1)
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mant}e{point - 1}"
