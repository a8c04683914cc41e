"""Speed of the sound products: float64 kernels vs plain numpy, mp backend vs ``mpmath.iv``.

Run ``python benchmarks/bench_intervals.py`` (about a minute) or ``--quick`` (a few seconds, smaller
sizes and fewer repeats; the test-suite runs it as a smoke test). Every number in the table is measured
in this one run after a warm-up call (the first Numba call compiles or loads the cache),
``time.perf_counter``: float64 rows take the best of repeats timed in alternation with their baseline
(the machine load is printed before and after); mp rows the median of repeats. OpenBLAS runs
single-threaded unless ``OPENBLAS_NUM_THREADS`` says otherwise (several BLAS threads on a shared 2-core
machine make small products erratic).

Rows:

* ``float64 point``: ``intervals.linalg.PointMatrix(W).matvec(IntervalArray(lo, hi))`` (matrix prepared
  outside the timing) against plain ``W @ x`` / ``X @ W.T`` (the unsound floor), per box.
* ``float64 interval``: the same with an :class:`IntervalMatrix` (one-ulp-wide weights).
* ``mpmath.iv``: ``mpmath.iv`` matrices (a private ``MPIntervalContext`` at the given precision).
* ``mp pure`` / ``mp flint``: :class:`intervals.mparray.MPPointMatrix` at 53/128/256 bits on boxes
  whose endpoints carry full ``prec``-bit mantissas, with the default exact products (BLAS on base-2^16
  digits, no optional dependency) or python-flint's ``fmpz_mat``; and the default on a batch of boxes.

Targets: float64 point within 2.5x of ``W @ x`` (single vector, n = 100 and 1000) and within 3x of
``X @ W.T`` per box (batch of 256); mp at 128 bits at least 10x faster than ``mpmath.iv`` at n = 100 (100x
with python-flint).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads OpenBLAS

import argparse
import math
import platform
import statistics
import sys
import time
from fractions import Fraction
from functools import partial

import numpy as np

from intervals.array import IntervalArray
from intervals.linalg import IntervalMatrix, PointMatrix
from intervals.mparray import MPIntervalArray, MPPointMatrix, flint_available


def timeit(fn, repeats: int, inner: int = 1) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` timings of ``inner`` calls, after one warm-up."""
    fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def _inner_for(fn, target: float = 2e-3) -> int:
    """Calls per timing so that one timing lasts about ``target`` seconds (stable medians for µs kernels)."""
    t0 = time.perf_counter()
    fn()
    dt = max(time.perf_counter() - t0, 1e-7)
    return max(1, min(10_000, int(target / dt)))


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:9.1f} us"
    if s < 1:
        return f"{s * 1e3:9.2f} ms"
    return f"{s:9.2f} s "


def _bench(fn, repeats: int) -> float:
    return timeit(fn, repeats, _inner_for(fn))


def _pair(fn, base, repeats: int) -> tuple[float, float]:
    """Best seconds per call of ``fn`` and of ``base``, timed in alternation (same machine load for both).

    The minimum over repeats, not the median: on a shared machine other jobs only ever add time, so the
    fastest repeat is the best estimate of the cost of the code itself.
    """
    fi, bi = _inner_for(fn), _inner_for(base)
    ts, tb = [], []
    for _ in range(repeats):
        tb.append(timeit(base, 1, bi))
        ts.append(timeit(fn, 1, fi))
    return min(ts), min(tb)


def float64_rows(sizes, batch: int, repeats: int, rng) -> list[tuple]:
    rows = []
    for n in sizes:
        W = rng.standard_normal((n, n))
        Wi = IntervalMatrix(W, np.nextafter(W, np.inf))
        P = PointMatrix(W)
        x = rng.standard_normal(n)
        box = IntervalArray(x, x + 1e-3)
        X = rng.standard_normal((batch, n))
        boxes = IntervalArray(X, X + 1e-3)
        WT = np.ascontiguousarray(W.T)
        mv, mm = partial(np.matmul, W, x), partial(np.matmul, X, WT)
        t_pm, t_np = _pair(partial(P.matvec, box), mv, repeats)
        t_im, t_np2 = _pair(partial(Wi.matvec, box), mv, repeats)
        t_pmb, t_npb = (t / batch for t in _pair(partial(P.matvec, boxes), mm, repeats))
        t_imb, t_npb2 = (t / batch for t in _pair(partial(Wi.matvec, boxes), mm, repeats))
        per_box = f"{batch} (per box)"
        rows += [
            ("float64 point", n, "1", t_pm, "W @ x", t_np, t_pm / t_np, "<= 2.5x"),
            ("float64 interval", n, "1", t_im, "W @ x", t_np2, t_im / t_np2, ""),
            ("float64 point", n, per_box, t_pmb, "X @ W.T", t_npb, t_pmb / t_npb, "<= 3x"),
            ("float64 interval", n, per_box, t_imb, "X @ W.T", t_npb2, t_imb / t_npb2, ""),
        ]
    return rows


def _mp_box(n: int, prec: int, rng) -> MPIntervalArray:
    """A box whose endpoints are full ``prec``-bit numbers (non-dyadic rationals rounded outward)."""
    c = rng.standard_normal(n)
    lo = [Fraction(float(v)) - Fraction(1, 3000) for v in c]
    hi = [Fraction(float(v)) + Fraction(1, 7000) for v in c]
    return MPIntervalArray(np.array(lo, dtype=object), np.array(hi, dtype=object), prec=prec)


def mp_batch_rows(n: int, batch: int, prec: int, repeats: int, rng) -> list[tuple]:
    """The mp product on a batch of boxes, per box, next to the same product one box at a time."""
    W = rng.standard_normal((n, n))
    M = MPPointMatrix(W, prec=prec)
    boxes = _mp_box(n * batch, prec, rng).reshape(batch, n)
    one = boxes[0]
    t_b = timeit(lambda: M.matvec(boxes), max(3, repeats // 3)) / batch
    t_1 = timeit(lambda: M.matvec(one), repeats)
    return [(f"mp pure {prec}", n, f"{batch} (per box)", t_b, "mp pure, 1 box", t_1, t_1 / t_b, "")]


def mp_rows(sizes_mp, precs, repeats: int, rng, iv_n: int, iv_repeats: int) -> list[tuple]:
    from mpmath.ctx_iv import MPIntervalContext

    rows = []
    W = rng.standard_normal((max(max(sizes_mp), iv_n), max(max(sizes_mp), iv_n)))
    for prec in precs:
        iv = MPIntervalContext()  # private context: mpmath's global precision is untouched
        iv.prec = prec
        x = _mp_box(iv_n, prec, rng)
        A = iv.matrix(W[:iv_n, :iv_n].tolist())
        v = iv.matrix([[iv.mpf([a, b])] for a, b in zip(x.lo.tolist(), x.hi.tolist())])
        t_iv = timeit(partial(A.__mul__, v), iv_repeats)
        rows.append(("mpmath.iv", iv_n, "1", t_iv, f"mpmath.iv {prec} bits", t_iv, 1.0, f"prec {prec}"))
        for n in sizes_mp:
            x = _mp_box(n, prec, rng)
            reps = repeats if n <= 100 else max(3, repeats // 3)
            ref = t_iv if n == iv_n else math.nan
            base = "mpmath.iv" if n == iv_n else "-"
            accels = [("pure", None)] + ([("flint", "flint")] if flint_available() else [])
            for label, accel in accels:
                M = MPPointMatrix(W[:n, :n], prec=prec, accelerator=accel)
                t = timeit(partial(M.matvec, x), reps)
                target = ""
                if prec == 128 and n == iv_n:
                    target = ">= 10x faster" if accel is None else ">= 100x faster"
                rows.append((f"mp {label} {prec}", n, "1", t, base, ref, ref / t, target))
    return rows


def print_table(rows) -> None:
    head = (f"{'kernel':<18} {'n':>5} {'boxes':>15} {'time':>12}   {'baseline':<22} {'base time':>12} "
            f"{'ratio':>9}  target")
    print(head)
    print("-" * len(head))
    for name, n, boxes, t, base, tb, ratio, target in rows:
        tb_s = " " * 12 if math.isnan(tb) else fmt_time(tb)
        r_s = " " * 9 if math.isnan(ratio) else f"{ratio:8.2f}x"
        print(f"{name:<18} {n:>5} {boxes:>15} {fmt_time(t):>12}   {base:<22} {tb_s:>12} {r_s}  {target}")
    print("ratio: time/baseline for float64 rows (lower is better); baseline/time for mp rows (speed-up).")
    print("'mp pure' = default exact products (BLAS on base-2^16 digits); "
          "'mp flint' = python-flint fmpz_mat.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and few repeats (smoke run)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(20240601)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {platform.python_implementation()} {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, load {load:.2f}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"python-flint {'yes' if flint_available() else 'no'}")
    if args.quick:
        rows = float64_rows([100], batch=32, repeats=3, rng=rng)
        rows += mp_rows([30], [53, 128], repeats=3, rng=rng, iv_n=30, iv_repeats=1)
    else:
        rows = float64_rows([100, 1000], batch=256, repeats=15, rng=rng)
        rows += mp_rows([100, 1000], [53, 128, 256], repeats=15, rng=rng, iv_n=100, iv_repeats=3)
        rows += mp_batch_rows(100, 256, 128, repeats=15, rng=rng)
    print_table(rows)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# load {load:.2f} after the run (2 cores shared with other jobs: timings are noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
