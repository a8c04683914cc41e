"""Compact leaf tables: the leaves of a certificate as exact binary float64 arrays in a ``.npz`` companion.

A JSON certificate spells every leaf corner as an exact decimal string (about 150 bytes per leaf of a
two-input network); a million leaves make a document of 150 MB that takes seconds to write and gigabytes
of Python objects to check. Certificates of schema version ``"3"`` may instead keep the leaves in a
companion file, named in the document with its SHA-256 (which the checker verifies before reading it)::

    "evidence": {"domain": {...}, "witness": {...},
                 "leaves": {"file": "net.certificate.leaves.npz", "sha256": "…", "count": N, "dim": n,
                            "null": {"17": [[layer, neuron, "λ"], ...]}}}

The companion is a deflate-compressed zip of ``.npy`` arrays (numpy's ``.npz``
layout, read with ``allow_pickle=False``: no array may hold Python objects):

* ``coords_<d>`` (float64, strictly increasing): the distinct corner values of coordinate ``d``;
* ``lower_index``, ``upper_index`` (N, n) unsigned integers: leaf ``i`` is the box
  ``[coords_d[lower_index[i, d]], coords_d[upper_index[i, d]]]`` (exact: the floats are the values);
* ``bound`` (N,) float64 (Lipschitz: the upper bound the leaf contributes), ``precision`` (N,) int32;
* ``fixed_ptr`` (N + 1,) int64 and ``fixed`` (F, 3) int32 rows ``[layer, neuron, ±1]``: the signs leaf ``i``
  fixes are ``fixed[fixed_ptr[i]:fixed_ptr[i + 1]]`` (absent when no leaf fixes a sign);
* ``outside`` (N,) int8 (robustness: 1 for a leaf that claims not to meet the region).

Storing indices into sorted coordinate tables halves the size of branch-and-bound partitions (their corners
repeat) and gives the coverage check exact integer ranks for free. Null-part multipliers (exact rationals,
rare) stay in the JSON document.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from verinet.errors import CertificateError

__all__ = ["AUTO_NPZ_LEAVES", "LeafTable", "file_sha256", "read_leaf_table"]

#: ``--certificate-format auto`` writes a companion ``.npz`` from this many leaves on
AUTO_NPZ_LEAVES = 20_000
_NAMES = ("lower_index", "upper_index", "bound", "precision", "fixed_ptr", "fixed", "outside")
#: companion files larger than this are refused (a certificate is not an archive bomb)
_MAX_MEMBER_BYTES = 1 << 34


def file_sha256(path) -> str:
    """SHA-256 of a file, read in 8 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 23):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class LeafTable:
    """The leaves of a certificate as arrays (see the module docstring for the layout).

    ``null`` maps a leaf index to its null-part multipliers ``[[layer, neuron, λ], ...]`` (λ a Fraction).
    """

    coords: tuple[np.ndarray, ...]
    lower_index: np.ndarray
    upper_index: np.ndarray
    bound: np.ndarray | None = None
    precision: np.ndarray | None = None
    fixed_ptr: np.ndarray | None = None
    fixed: np.ndarray | None = None
    outside: np.ndarray | None = None
    null: dict | None = None

    @property
    def count(self) -> int:
        return int(self.lower_index.shape[0])

    @property
    def dim(self) -> int:
        return len(self.coords)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_boxes(cls, lower: np.ndarray, upper: np.ndarray, *, bound=None, precision=None, fixed=None,
                   outside=None, null: dict | None = None) -> LeafTable:
        """A table from float64 corner arrays ``(N, n)``; ``fixed`` is a list of per-leaf
        ``[(layer, neuron, ±1), ...]`` (or None)."""
        lower = np.ascontiguousarray(lower, dtype=np.float64)
        upper = np.ascontiguousarray(upper, dtype=np.float64)
        if lower.ndim != 2 or lower.shape != upper.shape or lower.shape[0] == 0:
            raise CertificateError("leaf corners must be two arrays of the same shape (leaves, inputs)")
        if not (np.isfinite(lower).all() and np.isfinite(upper).all()):
            raise CertificateError("cannot certify a leaf with a non-finite corner")
        coords, lo_idx, hi_idx = [], [], []
        for d in range(lower.shape[1]):
            vals, inv = np.unique(np.concatenate([lower[:, d], upper[:, d]]), return_inverse=True)
            vals = vals + 0.0  # -0.0 and 0.0 are one value: np.unique keeps one of them
            coords.append(vals)
            lo_idx.append(inv[: len(lower)])
            hi_idx.append(inv[len(lower):])
        top = max(len(c) for c in coords)
        dtype = np.uint16 if top <= 1 << 16 else np.uint32
        lo_i = np.stack(lo_idx, axis=1).astype(dtype)
        hi_i = np.stack(hi_idx, axis=1).astype(dtype)
        ptr = fx = None
        if fixed is not None and any(len(f) for f in fixed):
            counts = np.fromiter((len(f) for f in fixed), dtype=np.int64, count=len(fixed))
            ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            fx = np.array([t for f in fixed for t in f], dtype=np.int32).reshape(-1, 3)
        if bound is not None:
            bound = np.ascontiguousarray(bound, dtype=np.float64)
            if not np.isfinite(bound).all():
                raise CertificateError("cannot certify a leaf with a non-finite bound")
        if precision is not None:
            precision = np.ascontiguousarray(precision, dtype=np.int32)
        if outside is not None:
            outside = np.ascontiguousarray(outside, dtype=np.int8)
        return cls(tuple(coords), lo_i, hi_i, bound, precision, ptr, fx, outside, null or None)

    def corners(self, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Float64 corners ``(lower, upper)`` of leaves ``start:stop``."""
        a = self.lower_index[start:stop]
        b = self.upper_index[start:stop]
        lo = np.stack([c[a[:, d]] for d, c in enumerate(self.coords)], axis=1)
        hi = np.stack([c[b[:, d]] for d, c in enumerate(self.coords)], axis=1)
        return lo, hi

    def fixed_of(self, i: int) -> list[tuple[int, int, int]]:
        if self.fixed_ptr is None:
            return []
        return [tuple(int(v) for v in row) for row in self.fixed[self.fixed_ptr[i]:self.fixed_ptr[i + 1]]]

    def n_fixed(self) -> np.ndarray:
        """Number of signs each leaf fixes."""
        if self.fixed_ptr is None:
            return np.zeros(self.count, dtype=np.int64)
        return np.diff(self.fixed_ptr)

    # ------------------------------------------------------------------ files
    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"coords_{d}": c for d, c in enumerate(self.coords)}
        for name in _NAMES:
            v = getattr(self, name)
            if v is not None:
                out[name] = v
        return out

    def write(self, path, progress: Callable[[str], None] | None = None) -> str:
        """Write the ``.npz`` companion to ``path`` (atomically: a temporary file renamed into place);
        returns its SHA-256."""
        p = Path(os.fspath(path))
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1,
                                 allowZip64=True) as zf:
                for name, arr in self.arrays().items():
                    if progress is not None:
                        progress(name)
                    with zf.open(name + ".npy", "w", force_zip64=True) as f:
                        np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)
            digest = file_sha256(tmp)
            os.replace(tmp, p)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return digest

    def reference(self, file_name: str, sha256: str) -> dict:
        """The JSON reference to the companion (``evidence.leaves`` of a schema-3 document)."""
        ref = {"file": file_name, "sha256": sha256, "count": self.count, "dim": self.dim,
               "arrays": sorted(self.arrays())}
        if self.null:
            ref["null"] = {str(i): [[int(k), int(j), _exact_fraction(v)] for k, j, v in rows]
                           for i, rows in sorted(self.null.items())}
        return ref


def _exact_fraction(v) -> str:
    from verinet.exactfmt import fraction_to_str

    return fraction_to_str(Fraction(v))


def _load_member(zf: zipfile.ZipFile, name: str) -> np.ndarray:
    info = zf.getinfo(name)
    if info.file_size > _MAX_MEMBER_BYTES:
        raise CertificateError(f"leaf table member {name} is too large ({info.file_size} bytes)")
    with zf.open(info) as f:
        try:
            arr = np.lib.format.read_array(io.BufferedReader(f), allow_pickle=False)
        except ValueError as exc:  # object arrays (pickle) are refused here
            raise CertificateError(f"leaf table member {name} is not a plain numeric array ({exc})") from None
    return arr


def read_leaf_table(ref: dict, base: Path, n: int) -> LeafTable:
    """Read and validate the companion named by ``ref`` (``evidence.leaves`` of a schema-3 document).

    The file must sit next to the certificate and have the recorded SHA-256 (checked before anything is
    parsed); arrays are read without unpickling. Raises CertificateError for a missing or malformed file
    and ``ValueError("sha256")`` (caught by the checker: a rejected certificate) for a hash mismatch.
    """
    name = ref.get("file")
    if not isinstance(name, str) or not name or name != Path(name).name or name in (".", ".."):
        raise CertificateError(f"malformed certificate: evidence.leaves.file must be a bare file name, got {name!r}")
    want = ref.get("sha256")
    if not isinstance(want, str) or len(want) != 64:
        raise CertificateError("malformed certificate: evidence.leaves.sha256 must be a SHA-256 hex digest")
    path = base / name
    if not path.is_file():
        raise CertificateError(f"leaf table not found: {path} (the companion file of the certificate)")
    have = file_sha256(path)
    if have != want.lower():
        raise LeafTableMismatch(f"leaf table SHA-256 mismatch: the certificate names {want.lower()}, "
                                f"{name} has {have}")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CertificateError(f"{path}: not a readable .npz leaf table ({exc})") from None
    with zf:
        members = {m[:-4]: m for m in zf.namelist() if m.endswith(".npy")}
        try:
            coords = tuple(_load_member(zf, members[f"coords_{d}"]) for d in range(n))
            data = {k: _load_member(zf, members[k]) if k in members else None for k in _NAMES}
        except KeyError as exc:
            raise CertificateError(f"{path}: leaf table lacks the array {exc.args[0]}") from None
        except (zipfile.BadZipFile, OSError, EOFError, zlib_error()) as exc:
            raise CertificateError(f"{path}: corrupt leaf table ({exc})") from None
    if data["lower_index"] is None or data["upper_index"] is None:
        raise CertificateError(f"{path}: leaf table lacks lower_index/upper_index")
    null = {}
    raw = ref.get("null") or {}
    if not isinstance(raw, dict):
        raise CertificateError("malformed certificate: evidence.leaves.null must be an object")
    for key, rows in raw.items():
        if not (isinstance(key, str) and key.isdigit()):
            raise CertificateError(f"malformed certificate: evidence.leaves.null key {key!r} is not a leaf index")
        null[int(key)] = rows
    table = LeafTable(coords, data["lower_index"], data["upper_index"], data["bound"], data["precision"],
                      data["fixed_ptr"], data["fixed"], data["outside"], null or None)
    _validate(table, n, ref)
    return table


class LeafTableMismatch(CertificateError):
    """The companion file is not the one the certificate names (a rejected certificate, not bad input)."""


def zlib_error() -> type:
    """The exception a corrupt deflate stream raises."""
    import zlib

    return zlib.error


def _validate(t: LeafTable, n: int, ref: dict) -> None:
    """Shapes, dtypes and ranges; raises CertificateError with one line."""
    def bad(msg: str):
        raise CertificateError(f"malformed leaf table: {msg}")

    for d, c in enumerate(t.coords):
        if c.dtype != np.float64 or c.ndim != 1 or c.size == 0:
            bad(f"coords_{d} must be a non-empty float64 vector")
        if not np.isfinite(c).all() or (c.size > 1 and not (np.diff(c) > 0).all()):
            bad(f"coords_{d} must be finite and strictly increasing")
    N = t.lower_index.shape[0] if t.lower_index.ndim == 2 else -1
    for name in ("lower_index", "upper_index"):
        a = getattr(t, name)
        if a.dtype.kind != "u" or a.shape != (N, n) or N < 1:
            bad(f"{name} must be an unsigned integer array of shape (leaves, {n})")
    if ref.get("count") != N:
        bad(f"the certificate names {ref.get('count')!r} leaves, the table has {N}")
    for d, c in enumerate(t.coords):
        if int(t.upper_index[:, d].max()) >= c.size:
            bad(f"an index of coordinate {d} is out of range")
    if (t.lower_index > t.upper_index).any():
        i = int(np.argmax((t.lower_index > t.upper_index).any(axis=1)))
        raise _EmptyLeaf(i)
    if t.bound is not None and (t.bound.dtype != np.float64 or t.bound.shape != (N,) or
                                not np.isfinite(t.bound).all()):
        bad("bound must be a finite float64 vector with one entry per leaf")
    if t.precision is not None and (t.precision.dtype.kind not in "iu" or t.precision.shape != (N,)):
        bad("precision must be an integer vector with one entry per leaf")
    if t.outside is not None and (t.outside.dtype != np.int8 or t.outside.shape != (N,)
                                  or not np.isin(t.outside, (0, 1)).all()):
        bad("outside must be an int8 vector of 0/1 with one entry per leaf")
    if (t.fixed_ptr is None) != (t.fixed is None):
        bad("fixed and fixed_ptr go together")
    if t.fixed_ptr is not None:
        p, f = t.fixed_ptr, t.fixed
        if p.dtype != np.int64 or p.shape != (N + 1,) or p[0] != 0 or (np.diff(p) < 0).any():
            bad("fixed_ptr must be a non-decreasing int64 vector of leaves + 1 entries starting at 0")
        if f.dtype.kind != "i" or f.ndim != 2 or f.shape[1] != 3 or p[-1] != f.shape[0]:
            bad("fixed must be an integer array of shape (fixed signs, 3) matching fixed_ptr")
    for i in (t.null or {}):
        if not 0 <= i < N:
            bad(f"null leaf index {i} out of range")


class _EmptyLeaf(Exception):
    """A leaf with lower > upper (the checker reports it as an invalid certificate)."""

    def __init__(self, i: int) -> None:
        super().__init__(f"leaf {i} is empty (lower > upper)")
        self.leaf = i

