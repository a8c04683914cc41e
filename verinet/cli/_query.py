"""Shared parsing of query options for the command line: centres, boxes, numbers.

Every number read from text keeps its *decimal* meaning (``"0.1"`` is 1/10, not the nearest float), as
the soundness of every conversion requires; numbers read from a ``.npy``
file are float arrays and therefore exact binary numbers. Every problem is a
:class:`~verinet.errors.QueryError` with one clear message (exit code 3 on the command line).
"""

from __future__ import annotations

import json
import os
import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from intervals.rounding import to_fraction
from verinet.errors import NumberFormatError, QueryError
from verinet.exactfmt import parse_exact
from verinet.region import Region

__all__ = ["domain_region", "load_model", "parse_box_file", "parse_center", "parse_index", "parse_number"]

_FILE_SUFFIXES = (".npy", ".json", ".txt", ".csv")
_SEPARATORS = re.compile(r"\s*[,;]\s*|\s+")
_NUMBER_LIST = re.compile(r"[\s0-9.,;eE+\-/]+")


def parse_number(text, what: str = "value") -> Fraction:
    """Exact rational value of a decimal string (``"1e-3"``, ``"-0.25"``, ``"1/3"``) or a number.

    Text goes through :func:`verinet.exactfmt.parse_exact` (the one parser, with its limits on exponent
    and length); floats (from ``.npy`` files) are their exact binary values.

    >>> parse_number("0.1")
    Fraction(1, 10)
    """
    if isinstance(text, str):
        try:
            return parse_exact(text, what)
        except NumberFormatError as exc:
            raise QueryError(str(exc)) from None
    if isinstance(text, (bool, np.bool_)) or not isinstance(text, (int, float, Fraction, np.integer, np.floating)):
        raise QueryError(f"{what}: {text!r} is not a number")
    try:
        return to_fraction(text)
    except (ValueError, TypeError):
        raise QueryError(f"{what}: {text!r} is not a finite number") from None


def parse_index(text, what: str = "index") -> int:
    """A non-negative integer."""
    try:
        k = int(str(text).strip())
    except ValueError:
        raise QueryError(f"{what}: {text!r} is not an integer") from None
    if k < 0:
        raise QueryError(f"{what} must be >= 0, got {k}")
    return k


def _entries(values, what: str) -> tuple[Fraction, ...]:
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise QueryError(f"{what}: expected a flat list of numbers, got shape {arr.shape}")
    out = tuple(parse_number(v, f"{what}[{i}]") for i, v in enumerate(arr.tolist()))
    if not out:
        raise QueryError(f"{what} is empty")
    return out


def _split_text(text: str, what: str) -> list[str]:
    """Fields separated by commas, semicolons or white space; an empty field is an error, not skipped."""
    s = text.strip()
    if not s:
        return []
    fields = _SEPARATORS.split(s)
    for i, f in enumerate(fields):
        if not f:
            raise QueryError(f"{what}: field {i} is empty (two separators in a row, or one at an end)")
    return fields


def _load_json(path: Path):
    try:
        # parse_float/parse_int receive the literal text: parse_number keeps its exact decimal value
        return json.loads(path.read_text(), parse_float=str, parse_int=str, parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryError(f"cannot read {path}: {exc}") from None
    except RecursionError:
        raise QueryError(f"{path}: JSON nested too deeply") from None
    except (json.JSONDecodeError, ValueError) as exc:
        raise QueryError(f"{path}: not valid JSON ({exc})") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not allowed (NaN and infinite numbers are not allowed)")


def _is_number_list(s: str) -> bool:
    return _NUMBER_LIST.fullmatch(s) is not None


def _names_file(path: Path) -> bool:
    """Whether ``path`` is an existing file; False for text the OS cannot take as a name (too long, NUL)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _read_vector_file(path: Path, what: str) -> tuple[Fraction, ...]:
    if path.is_dir():
        raise QueryError(f"{what}: {path} is a directory, not a file")
    if not _names_file(path):
        raise QueryError(f"{what} file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise QueryError(f"{path}: not a readable .npy array ({exc})") from None
        if arr.dtype.kind not in "fiu":
            raise QueryError(f"{path}: expected a numeric array, got dtype {arr.dtype}")
        return _entries(arr.astype(np.float64).reshape(-1), what)  # float16/32 -> float64 is exact
    if suffix == ".json":
        data = _load_json(path)
        if isinstance(data, dict):
            for key in ("center", "x", "point", "values"):
                if key in data:
                    data = data[key]
                    break
            else:
                raise QueryError(f"{path}: expected a list of numbers or an object with a 'center' list")
        if not isinstance(data, list):
            raise QueryError(f"{path}: expected a list of numbers")
        return _entries([str(v) if isinstance(v, str) else v for v in data], what)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryError(f"cannot read {path}: {exc}") from None
    lines = [ln.split("#", 1)[0] for ln in text.splitlines()]
    return _entries(_split_text(" ".join(lines), f"{path}"), what)


def parse_center(text, what: str = "center") -> tuple[Fraction, ...]:
    """A point from ``--center``: comma-separated numbers, or a ``.npy``/``.json``/``.txt`` file.

    Parameters
    ----------
    text : str
        ``"0.5,0.25,-1e-3"`` (exact decimals), or the path of a file: ``.npy`` (a float array: exact
        binary values), ``.json`` (a list, or an object with a ``"center"`` list, of numbers or exact
        decimal strings; JSON numbers keep their decimal text), or ``.txt``/``.csv`` (numbers separated
        by commas or whitespace, ``#`` comments).

    Returns
    -------
    tuple of Fraction

    Examples
    --------
    >>> parse_center("0.5, -1e-1")
    (Fraction(1, 2), Fraction(-1, 10))
    """
    if text is None:
        raise QueryError(f"{what} is missing")
    s = str(text).strip()
    if not s:
        raise QueryError(f"{what} is empty")
    if _is_number_list(s):  # numbers, however long (never probed as a file name)
        return _entries(_split_text(s, what), what)
    path = Path(os.path.expanduser(s))
    if path.suffix.lower() in _FILE_SUFFIXES or _names_file(path):
        return _read_vector_file(path, what)
    return _entries(_split_text(s, what), what)


def parse_box_file(path) -> Region:
    """A box region from a JSON file ``{"lower": [...], "upper": [...]}``.

    Entries are JSON numbers (their exact decimal text) or exact decimal strings. A ``.nnet``-style
    ``{"center": [...], "radius": r, "norm": "inf"}`` ball is accepted too.

    Raises
    ------
    QueryError
        Missing file, invalid JSON, missing keys, lengths that differ, inverted bounds.
    """
    p = Path(os.fspath(path))
    if p.is_dir():
        raise QueryError(f"box path is a directory, not a file: {p}")
    if not _names_file(p):
        raise QueryError(f"box file not found: {p}")
    data = _load_json(p)
    if not isinstance(data, dict):
        raise QueryError(f"{p}: expected an object with 'lower' and 'upper' lists")
    if "lower" in data or "upper" in data:
        if not isinstance(data.get("lower"), list) or not isinstance(data.get("upper"), list):
            raise QueryError(f"{p}: 'lower' and 'upper' must both be lists of numbers")
        lo = _entries(data["lower"], "lower")
        hi = _entries(data["upper"], "upper")
        return Region.box(lo, hi)
    if "center" in data and "radius" in data:
        c = _entries(data["center"], "center")
        return Region.ball(c, parse_number(data["radius"], "radius"), str(data.get("norm", "inf")))
    raise QueryError(f"{p}: expected keys 'lower' and 'upper' (or 'center' and 'radius')")


def load_model(path, coordinates: str | None = None):
    """Load a model; ``coordinates`` (``raw``/``normalized``) applies to ``.nnet`` files only."""
    from verinet.io import load_network

    if coordinates is not None and Path(os.fspath(path)).suffix.lower() == ".nnet":
        return load_network(path, coordinates=coordinates)
    return load_network(path)


def domain_region(network, box: str | None, domain: bool) -> Region:
    """The domain of a global or parameter query: ``--box FILE`` or ``--domain`` (the model's own)."""
    import click

    if (box is None) == (not domain):
        raise click.UsageError("give exactly one domain: --box FILE or --domain")
    region = parse_box_file(box) if box is not None else Region.from_domain(network)
    region.check_dim(network.n_inputs)
    return region
