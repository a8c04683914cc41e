"""A pre-pass for big JSON model files: arrays of decimal strings are cut out of the text as byte rows.

``json.loads`` builds one Python ``str`` per number, and the fast decimal path then copies them all into a
numpy array; for a million weights that is most of the load time. :func:`scan` finds, with one regular
expression over the raw bytes, every *row*: an array whose elements are all quoted plain decimal strings
(``[``, ``"…"`` separated by ``,``, ``]``, JSON whitespace between). Each row is replaced in a much
smaller *skeleton* text by a marker string ``"\\u0001<k>"`` and kept as the bytes ``n,n,…,n`` (quotes,
brackets and whitespace deleted), which :func:`verinet.io.decimals.enclose_decimal_rows` converts in
bulk. The skeleton is then parsed by ``json.loads`` as usual.

Why this is faithful (the caller parses the skeleton, and on any failure the original text):

* Files containing a backslash are not scanned. Without escapes a strict JSON parser ends every string
  at the next quote and no string contains a quote, so in a valid file no match can start inside a
  string (its first quote would close that string and be followed by a digit: invalid JSON). In an
  invalid file a match that starts inside a string leaves the marker's backslash outside any string
  of the skeleton, which is then rejected too.
* A marker decodes to a string starting with U+0001, which no string of the file can hold (strict
  parsing rejects raw control characters in strings and there are no escapes), so markers are
  unambiguous. A row followed by ``:`` (an object key position) is not replaced: elsewhere a row and a
  marker are both one JSON value, so the skeleton is valid exactly when the file is.
* Whitespace is only deleted between tokens (the strings of a row hold decimal characters only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MARK", "ScannedRows", "expand", "marker_index", "scan"]

#: first character of a marker string in the skeleton
MARK = "\x01"

_BLANK = rb"[ \t\n\r]*"  # JSON whitespace
_NUM = rb'"[0-9eE+.\-]+"'  # a quoted plain decimal string (the alphabet of verinet.io.decimals)
_ROW = re.compile(rb"\[" + _BLANK + _NUM + rb"(?:" + _BLANK + rb"," + _BLANK + _NUM + rb")*" + _BLANK + rb"\]"
                  + rb"(?!" + _BLANK + rb":)")
_DELETE = b'"[] \t\n\r'


@dataclass(frozen=True)
class ScannedRows:
    """The rows found by :func:`scan`: ``blobs[k]`` is row ``k`` as ``b"n,n,…,n"``, ``counts[k]`` its length."""

    blobs: list[bytes]
    counts: list[int]

    def strings(self, k: int) -> list[str]:
        return self.blobs[k].decode("ascii").split(",")


def marker_index(v) -> int | None:
    """``k`` when ``v`` is the marker of row ``k``, else None."""
    if type(v) is str and v[:1] == MARK:
        return int(v[1:])
    return None


def expand(value, rows: ScannedRows | None):
    """``value`` with every marker replaced by its row as a list of Python strings (the document
    ``json.loads`` would have returned for the original text)."""
    if rows is None:
        return value
    if type(value) is str:
        k = marker_index(value)
        return value if k is None else rows.strings(k)
    if type(value) is list:
        return [expand(v, rows) for v in value]
    if type(value) is dict:
        return {key: expand(v, rows) for key, v in value.items()}
    return value


def scan(data: bytes) -> tuple[str, ScannedRows] | None:
    """``(skeleton, rows)`` for the JSON bytes ``data``, or None (no row, or a backslash in the file).
    Decoding the skeleton raises UnicodeDecodeError exactly when ``data`` is not UTF-8 (rows are ASCII)."""
    if b"\\" in data:
        return None
    pieces, blobs, counts, prev = [], [], [], 0
    for m in _ROW.finditer(data):
        a, b = m.span()
        pieces.append(data[prev:a])
        pieces.append(b'"\\u0001%d"' % len(blobs))
        row = m.group().translate(None, _DELETE)
        blobs.append(row)
        counts.append(row.count(b",") + 1)
        prev = b
    if not blobs:
        return None
    pieces.append(data[prev:])
    return b"".join(pieces).decode("utf-8"), ScannedRows(blobs, counts)
