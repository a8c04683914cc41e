"""Checking certificates whose leaves are in a companion ``.npz`` table (schema version 3).

Part of the independent checker (:mod:`verinet.evidence.checker`). The table (:mod:`verinet.evidence.leaftable`) is read only
after its SHA-256 matches the one the certificate names; the arrays (about 16 bytes per leaf) stay in memory,
never a Python object per leaf. Then:

* **coverage**, exact: the corners are indices into strictly increasing tables of float64 values (exact
  numbers; the extremes must equal the recorded box, which must contain the region's bounding box, compared
  as rationals), and the leaves must tile that box as a split tree (:mod:`verinet.evidence.checker_cover`);
* **recorded bounds** (Lipschitz): every one ≤ the claimed upper bound, compared exactly;
* **each leaf**, in blocks of :data:`BLOCK` leaves: first the checker's outward-rounded float64 kernel
  (:mod:`verinet.evidence.checker_fast`, a whole block at once) confirms the leaf's bound or property; a leaf it
  cannot confirm (and every null-part or ``outside`` leaf) is re-verified in exact rationals exactly as a
  JSON certificate's leaf is. Blocks are shared out over ``workers`` processes with
  :func:`verinet.parallel.make_pool` (results in block order: the answer does not depend on ``workers``);
  the first failing leaf's reason is recomputed here. ``progress(done, total)`` is called after every
  block.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from verinet.evidence.checker import (
    CheckResult,
    _choose,
    _get,
    _Invalid,
    _lipschitz_leaf_failure,
    _linear_network,
    _q,
    _qvec,
    _robust_leaf_failure,
    _show,
)
from verinet.errors import CertificateError

__all__ = ["BLOCK", "check_lipschitz_table", "check_robustness_table"]

#: leaves handed to the pool per call (progress is reported between calls)
BLOCK = 1 << 16
#: leaves per pool chunk (a chunk is the unit a worker process evaluates)
CHUNK = 4096


def _read(cert: dict, base: Path, n: int):
    from verinet.evidence.leaftable import LeafTableMismatch, _EmptyLeaf, read_leaf_table

    ref = _get(cert, "evidence.leaves", dict)
    try:
        return read_leaf_table(ref, base, n)
    except LeafTableMismatch as exc:
        raise _Invalid(str(exc)) from None
    except _EmptyLeaf as exc:
        raise _Invalid(str(exc)) from None


def _cover(table, layers, region, evidence: dict, n: int) -> None:
    """Exact coverage: raise _Invalid unless the leaves tile a box containing the region."""
    from verinet.evidence.checker_cover import tiling_failure_ranks

    dlo = _qvec(_get(evidence, "domain.lower", list), n, "evidence.domain.lower")
    dhi = _qvec(_get(evidence, "domain.upper", list), n, "evidence.domain.upper")
    for d in range(n):
        if dlo[d] > region.lower[d] or dhi[d] < region.upper[d]:
            raise _Invalid(f"leaves do not cover the region: the partitioned box misses coordinate {d} of the region")
    for d, c in enumerate(table.coords):
        if Fraction(float(c[0])) != dlo[d] or Fraction(float(c[-1])) != dhi[d]:
            raise _Invalid(f"leaves do not cover the region: along coordinate {d} the leaves span "
                           f"[{c[0]!r}, {c[-1]!r}], not the partitioned box")
    _check_fixed(table, layers)
    top = np.array([c.size - 1 for c in table.coords], dtype=np.int64)
    why = tiling_failure_ranks(table.lower_index, table.upper_index, top, table.n_fixed(),
                               lambda i: {(k, j): s for k, j, s in table.fixed_of(i)})
    if why is not None:
        raise _Invalid(f"leaves do not cover the region: {why}")


def _check_fixed(table, layers) -> None:
    """Fixed signs name ReLU / leaky ReLU neurons, ±1, each at most once per leaf (vectorised)."""
    if table.fixed is None:
        return
    f = table.fixed.astype(np.int64)
    k, j, s = f[:, 0], f[:, 1], f[:, 2]
    kinked = np.array([L.act in ("relu", "leaky_relu") for L in layers])
    width = np.array([len(L.bn) for L in layers])
    ok = (k >= 0) & (k < len(layers)) & np.isin(s, (1, -1))
    kk = np.where(ok, k, 0)
    ok &= kinked[kk] & (j >= 0) & (j < width[kk])
    if not ok.all():
        r = int(np.argmin(ok))
        leaf = int(np.searchsorted(table.fixed_ptr, r, side="right") - 1)
        raise CertificateError(f"malformed certificate: leaf {leaf} has an invalid fixed neuron {f[r].tolist()}")
    leaf = np.repeat(np.arange(table.count), table.n_fixed())
    key = (leaf * (len(layers) + 1) + k) * (int(width.max()) + 1) + j
    if np.unique(key).size != key.size:
        raise CertificateError("malformed certificate: a leaf fixes the same neuron twice")


def _padded_fixed(table, ids: np.ndarray) -> np.ndarray:
    """Fixed signs of the leaves ``ids`` as ``(B, F, 3)`` int64, padded with sign 0."""
    B = ids.size
    if table.fixed is None:
        return np.zeros((B, 1, 3), dtype=np.int64)
    counts = np.diff(table.fixed_ptr)[ids]
    out = np.zeros((B, max(int(counts.max()) if B else 0, 1), 3), dtype=np.int64)
    rows = np.repeat(np.arange(B), counts)
    offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    out[rows, offset] = table.fixed[np.repeat(table.fixed_ptr[ids], counts) + offset]
    return out


def _fixed_dict(fx: np.ndarray) -> dict:
    return {(int(k), int(j)): int(s) for k, j, s in fx.tolist() if s != 0}


def _fraction_rows(a: np.ndarray) -> list[Fraction]:
    return [Fraction(v) for v in a.tolist()]


# ============================================================================================ evaluators
class LipschitzLeaves:
    """Pool evaluator: ``chunk(lo, hi, bound, fixed, ids) -> (failed,)`` for Lipschitz leaves."""

    def __init__(self, layers, norm: str, output: dict, n: int, upper: Fraction, free, null: dict,
                 preactivation: str, backsub=None, sources=None) -> None:
        from verinet.evidence.checker import _Quantity

        self.layers, self.upper, self.free, self.null = layers, upper, free, null
        self.quantity = _Quantity(layers, norm, output, n)
        self.linear = _linear_network({"preactivation": preactivation}, layers)
        #: the checker's back-substituted leaf bounds (verinet.evidence.checker_backsub), root evidence confirmed
        self.backsub = backsub
        self.sources = sources or {}
        self.norm = norm
        self.fast = None
        c = self.quantity.c
        if c is not None and self.linear is None:  # the screening kernel does gradients of cᵀf only
            try:
                from verinet.evidence.checker_fast import FloatNet, _dd

                self.c = [_dd(a) for a, _ in c.fractions()]
                self.fast = FloatNet(layers)
            except OverflowError:
                self.fast = None

    def screen(self, lo, hi, bound, fixed) -> np.ndarray:
        """True where the screening kernel confirms the leaf's recorded bound."""
        from verinet.evidence.checker_fast import norm_upper

        if self.fast is None:
            return np.zeros(len(lo), dtype=bool)
        with np.errstate(all="ignore"):
            pre, _, empty, bad = self.fast.forward(lo, hi, fixed)
            g_lo, g_hi = self.fast.gradient(pre, self.c, bad)
            s = norm_upper(g_lo, g_hi, self.norm)
            if self.norm == "2":  # compare squares: B² rounded down (B ≥ 0)
                ok = (s <= np.nextafter(bound * bound, -np.inf)) & (bound >= 0)
            else:
                ok = s <= bound
        return (ok | empty) & ~bad

    def failure(self, lo, hi, bound, fixed, i: int) -> str | None:
        """Exact re-verification of one leaf (rationals); for back-substituted leaves of large networks the
        re-derivation's reason instead (see :attr:`verinet.evidence.checker_backsub.BacksubLeaves.exact_fallback`)."""
        if self.backsub is not None and int(i) not in self.null and not self.backsub.exact_fallback:
            return self.backsub.failure(lo, hi, _fixed_dict(fixed), float(bound), int(i),
                                        self.sources.get(str(int(i))))
        return _lipschitz_leaf_failure(self.quantity, self.layers, _fraction_rows(lo), _fraction_rows(hi),
                                       _fixed_dict(fixed), Fraction(float(bound)), self.upper,
                                       self.null.get(int(i)), self.free, self.linear, int(i))

    def chunk(self, lo, hi, bound, fixed, ids):
        ok = self.screen(lo, hi, bound, fixed)
        if self.backsub is not None:
            for r in np.flatnonzero(~ok & ~np.isin(ids, list(self.null))):
                ok[r] = self.backsub.confirms(lo[r], hi[r], _fixed_dict(fixed[r]), float(bound[r]),
                                              self.sources.get(str(int(ids[r]))))
        if self.backsub is not None and not self.backsub.exact_fallback:  # failed: no exact retry
            redo = np.isin(ids, list(self.null))
        else:
            redo = ~ok | np.isin(ids, list(self.null))
        for r in np.flatnonzero(redo):
            ok[r] = self.failure(lo[r], hi[r], bound[r], fixed[r], ids[r]) is None
        return (~ok,)


class RobustLeaves:
    """Pool evaluator: ``chunk(lo, hi, outside, fixed, ids) -> (failed,)`` for robustness leaves."""

    def __init__(self, layers, region, prop) -> None:
        self.layers, self.region, self.prop = layers, region, prop
        self.fast = None
        try:
            from verinet.evidence.checker_fast import FloatNet, float_down, float_up

            self.fast = FloatNet(layers)
            kind, ks, eps, y0 = prop
            if kind == "regression":  # thresholds rounded inward: a float pass implies the exact one
                self.t_lo = {k: float_up(y0[k] - eps) for k in ks}
                self.t_hi = {k: float_down(y0[k] + eps) for k in ks}
        except OverflowError:
            self.fast = None

    def screen(self, lo, hi) -> np.ndarray:
        from verinet.evidence.checker_fast import output_bounds

        if self.fast is None:
            return np.zeros(len(lo), dtype=bool)
        with np.errstate(all="ignore"):
            yl, yh, bad = output_bounds(self.fast, lo, hi)
        kind, ks, eps, y0 = self.prop
        if kind == "classification":
            k = ks[0]
            others = np.delete(yh, k, axis=1)
            return (yl[:, k][:, None] > others).all(axis=1) & ~bad
        ok = ~bad
        for k in ks:
            ok &= (yl[:, k] >= self.t_lo[k]) & (yh[:, k] <= self.t_hi[k])
        return ok

    def failure(self, lo, hi, outside, i: int) -> str | None:
        return _robust_leaf_failure(self.prop, self.layers, self.region, _fraction_rows(lo), _fraction_rows(hi),
                                    bool(outside), int(i))

    def chunk(self, lo, hi, outside, ids):
        ok = self.screen(lo, hi) & (outside == 0)
        for r in np.flatnonzero(~ok):
            ok[r] = self.failure(lo[r], hi[r], outside[r], ids[r]) is None
        return (~ok,)


def _run(evaluator_cls, args: tuple, table, chosen: np.ndarray, columns, workers: int, progress):
    """Failed-leaf mask over ``chosen`` (in order), evaluated block by block on a pool."""
    from verinet.parallel import make_pool

    total = chosen.size
    with make_pool(evaluator_cls, args, workers, chunk=CHUNK) as pool:
        for a in range(0, total, BLOCK):
            ids = chosen[a:a + BLOCK]
            arrays = columns(ids)
            (failed,) = pool.evaluate(*arrays, ids)
            if failed.any():
                return int(ids[np.argmax(failed)]), pool.local
            if progress is not None:
                progress(min(a + BLOCK, total), total)
    return None, None


def _block(table, ids: np.ndarray):
    """Corners and fixed signs of the leaves ``ids`` (sorted)."""
    if ids.size and ids[-1] - ids[0] + 1 == ids.size:  # a contiguous run: slices
        lo, hi = table.corners(int(ids[0]), int(ids[-1]) + 1)
    else:
        lo, hi = table.corners()
        lo, hi = lo[ids], hi[ids]
    return lo, hi, _padded_fixed(table, ids)


def _chosen(total: int, sample, seed: int, first: int) -> np.ndarray:
    if sample is None or sample >= total:
        return np.arange(total, dtype=np.int64)
    return np.array(_choose(total, sample, seed, first), dtype=np.int64)


# ============================================================================================ entry points
def check_lipschitz_table(cert: dict, layers, n: int, region, quantity, upper: Fraction, sample, seed, *,
                          base: Path, progress=None, workers: int = 1) -> CheckResult:
    """Check a Lipschitz certificate whose leaves are in a companion table (see the module docstring)."""
    from verinet.evidence.checker_fast import float_down

    evidence = _get(cert, "evidence", dict)
    preactivation = evidence.get("preactivation", "interval")
    if preactivation not in ("interval", "linear"):
        raise CertificateError("malformed certificate: evidence.preactivation must be 'interval' or 'linear'")
    table = _read(cert, base, n)
    if table.bound is None:
        raise CertificateError("malformed leaf table: a Lipschitz certificate's table needs 'bound'")
    _cover(table, layers, region, evidence, n)
    total = table.count
    null = {i: rows for i, rows in (table.null or {}).items()}
    for i, rows in null.items():
        if not isinstance(rows, list):
            raise CertificateError(f"malformed certificate: leaf {i} null must be a list")
    # every recorded bound ≤ the claim: a float above the largest float ≤ upper is above upper
    try:
        cap = float_down(upper)
    except OverflowError:
        cap = np.inf
    over = table.bound > cap
    if over.any():
        i = int(np.argmax(over))
        raise _Invalid(f"leaf {i}: recorded bound {_show(Fraction(float(table.bound[i])))} exceeds the claimed "
                       f"upper bound {_show(upper)}")
    first = int(np.argmax(table.bound))
    chosen = _chosen(total, sample, seed, first)
    free = [a < b for a, b in zip(region.lower, region.upper)]
    output = _get(cert, "query.output", dict)
    from verinet.evidence.checker import _backsub_leaves

    backsub = _backsub_leaves(layers, quantity, evidence, free)
    sources = evidence.get("sources") or {}
    if not isinstance(sources, dict):
        raise CertificateError("malformed certificate: evidence.sources must be an object")
    args = (layers, quantity.norm, output, n, upper, free, null, preactivation, backsub, sources)

    def columns(ids):
        lo, hi, fx = _block(table, ids)
        return lo, hi, table.bound[ids], fx

    bad, ev = _run(LipschitzLeaves, args, table, chosen, columns, workers, progress)
    if bad is not None:
        lo, hi, fx = _block(table, np.array([bad]))
        why = ev.failure(lo[0], hi[0], table.bound[bad], fx[0], bad)
        raise _Invalid(why or f"leaf {bad}: not confirmed")
    sampled = chosen.size < total
    reason = f"valid (sampled {chosen.size} of {total} leaves)" if sampled else "valid"
    return CheckResult(True, reason, int(chosen.size), total, sampled)


def check_robustness_table(cert: dict, layers, n: int, region, prop, sample, seed, *, base: Path,
                           progress=None, workers: int = 1) -> CheckResult:
    """Check a verified robustness certificate whose leaves are in a companion table."""
    evidence = _get(cert, "evidence", dict)
    table = _read(cert, base, n)
    _cover(table, layers, region, evidence, n)
    if table.fixed is not None:
        raise CertificateError("malformed leaf table: robustness leaves cannot fix neuron signs")
    total = table.count
    chosen = _chosen(total, sample, seed, 0)
    outside = table.outside if table.outside is not None else np.zeros(total, dtype=np.int8)

    def columns(ids):
        lo, hi, _ = _block(table, ids)
        return lo, hi, outside[ids]

    bad, ev = _run(RobustLeaves, (layers, region, prop), table, chosen, columns, workers, progress)
    if bad is not None:
        lo, hi = table.corners(bad, bad + 1)
        raise _Invalid(ev.failure(lo[0], hi[0], outside[bad], bad) or f"leaf {bad}: not confirmed")
    sampled = chosen.size < total
    reason = f"valid (sampled {chosen.size} of {total} leaves)" if sampled else "valid"
    return CheckResult(True, reason, int(chosen.size), total, sampled)
