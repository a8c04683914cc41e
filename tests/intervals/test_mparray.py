"""Tests of :mod:`intervals.mparray` against exact rational arithmetic (``fractions.Fraction``).

Soundness checks compare endpoints exactly. Because every operation here computes the exact result and
rounds once, the expected endpoints are known exactly too: ``floor``/``ceil`` of the exact hull to
``prec`` significant bits, which ``mpmath.libmp.from_rational`` gives independently.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from mpmath import libmp
from mpmath.ctx_mp import MPContext

from intervals import rounding as R
from intervals.array import IntervalArray
from intervals.elementary import (
    logistic_bounds_mpf,
    logistic_deriv_bounds_mpf,
    tanh_bounds_mpf,
    tanh_deriv_bounds_mpf,
)
from intervals.mparray import MPIntervalArray, MPIntervalMatrix, MPPointMatrix, flint_available

ROOT = Path(__file__).resolve().parents[2]
PRECS = [53, 128, 256]
TINY = 2.0**-1074
HUGE = float(np.finfo(np.float64).max)


# ------------------------------------------------------------------ exact oracles
def floor_p(q: Fraction, prec: int) -> Fraction:
    """Largest ``prec``-bit binary number <= q (exact)."""
    if q == 0:
        return q
    return R.mpf_to_fraction(libmp.from_rational(q.numerator, q.denominator, prec, libmp.round_floor))


def ceil_p(q: Fraction, prec: int) -> Fraction:
    if q == 0:
        return q
    return R.mpf_to_fraction(libmp.from_rational(q.numerator, q.denominator, prec, libmp.round_ceiling))


def fr(a) -> np.ndarray:
    """Exact Fractions of a float array."""
    a = np.asarray(a, dtype=np.float64)
    out = np.empty(a.shape, dtype=object)
    out.reshape(-1)[:] = [Fraction(float(v)) for v in a.reshape(-1)]
    return out


def exact_hull_matvec(W, xlo, xhi):
    """Exact hull of {W x} row by row (each x_j occurs once per row): lists of Fractions, shape (..., m)."""
    W = np.asarray(W, dtype=object)
    xlo = np.asarray(xlo, dtype=object)
    xhi = np.asarray(xhi, dtype=object)
    lead = xlo.shape[:-1]
    xl = xlo.reshape(-1, xlo.shape[-1])
    xh = xhi.reshape(-1, xhi.shape[-1])
    lo = np.empty((xl.shape[0], W.shape[0]), dtype=object)
    hi = np.empty_like(lo)
    for b in range(xl.shape[0]):
        for i in range(W.shape[0]):
            ts = [(W[i, j] * xl[b, j], W[i, j] * xh[b, j]) for j in range(W.shape[1])]
            lo[b, i] = sum((min(t) for t in ts), Fraction(0))
            hi[b, i] = sum((max(t) for t in ts), Fraction(0))
    return lo.reshape(lead + (W.shape[0],)), hi.reshape(lead + (W.shape[0],))


def rounded(lo, hi, prec):
    f = np.vectorize(lambda q: floor_p(q, prec), otypes=[object])
    g = np.vectorize(lambda q: ceil_p(q, prec), otypes=[object])
    return f(lo), g(hi)


def assert_eq_exact(x: MPIntervalArray, lo, hi):
    assert x.shape == np.shape(lo)
    assert list(x.exact_lo().reshape(-1)) == list(np.asarray(lo, dtype=object).reshape(-1))
    assert list(x.exact_hi().reshape(-1)) == list(np.asarray(hi, dtype=object).reshape(-1))


def assert_contains(x: MPIntervalArray, lo, hi):
    """``x`` contains ``[lo, hi]`` elementwise (exact)."""
    for a, b, c, d in zip(x.exact_lo().reshape(-1), x.exact_hi().reshape(-1),
                          np.asarray(lo, dtype=object).reshape(-1), np.asarray(hi, dtype=object).reshape(-1)):
        assert a <= c and d <= b, (a, b, c, d)


# ------------------------------------------------------------------ strategies
special = st.sampled_from([0.0, -0.0, TINY, -TINY, 2.0**-1022, -(2.0**-1022), 1e-300, -1e300, 1e300, HUGE,
                           -HUGE,
                           1.0, -1.0, 0.5, 3.0, 1.0 + 2.0**-52, -(1.0 + 2.0**-52)])
floats = st.one_of(special, st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True),
                   st.floats(min_value=-10, max_value=10))


@st.composite
def intervals(draw):
    a = draw(floats)
    b = draw(st.one_of(st.just(a), floats))  # zero-width boxes are common
    return (min(a, b), max(a, b))


# ------------------------------------------------------------------ construction and conversion
@settings(max_examples=60, deadline=None)
@given(st.lists(floats, min_size=1, max_size=6))
@example([0.0, -0.0, TINY, -HUGE, 1e-300, 1e300])
def test_floats_are_stored_exactly(vals):
    x = MPIntervalArray(np.array(vals), prec=53)
    assert list(x.exact_lo()) == [Fraction(v) for v in vals]
    assert list(x.exact_hi()) == [Fraction(v) for v in vals]


@pytest.mark.parametrize("prec", PRECS + [8])
@pytest.mark.parametrize("s", ["0.1", "-0.1", "1e-300", "-7e300", "1/3", "3", "0.5", "-0.375", "0"])
def test_decimals_enclosed_outward_tightly(s, prec):
    q = Fraction(s)
    x = MPIntervalArray(np.array([s], dtype=object), prec=prec)
    dyadic = q.denominator & (q.denominator - 1) == 0
    assert x.exact_lo()[0] == (q if dyadic else floor_p(q, prec))
    assert x.exact_hi()[0] == (q if dyadic else ceil_p(q, prec))


@pytest.mark.parametrize("lo, hi", [([math.nan], [1.0]), ([0.0], [math.inf]), ([-math.inf], [0.0]),
                                    ([2.0], [1.0]), (["1/3"], ["0.3"])])
def test_invalid_endpoints_raise(lo, hi):
    with pytest.raises(ValueError):
        MPIntervalArray(np.array(lo, dtype=object if isinstance(lo[0], str) else float),
                        np.array(hi, dtype=object if isinstance(hi[0], str) else float), prec=64)


def test_invalid_precision_raises():
    with pytest.raises(ValueError):
        MPIntervalArray([1.0], prec=1)
    with pytest.raises(ValueError):
        MPPointMatrix([[1.0]], prec=64, accelerator="gpu")


@pytest.mark.parametrize("v", [0.0, TINY, -TINY, 2.0**-1022, 1.0 + 2.0**-52, HUGE, -HUGE])
@pytest.mark.parametrize("k", [0, 1, -1, 60, -60, 1100, -1100])
def test_to_float_is_outward_and_tightest(v, k):
    """Values at and beyond the float range (subnormal, overflow) round exactly like float_down/up."""
    q = Fraction(v) * Fraction(2) ** k + (Fraction(1, 3) * Fraction(v) * Fraction(2) ** (k - 70))
    x = MPIntervalArray(np.array([q, q], dtype=object), np.array([q, q + abs(q)], dtype=object), prec=256)
    f = x.to_float()
    for i in range(2):
        assert f.lo[i] == R.float_down(x.exact_lo()[i])
        assert f.hi[i] == R.float_up(x.exact_hi()[i])


def test_from_mpf_and_mpf_endpoints():
    v = libmp.from_rational(1, 3, 100, libmp.round_floor)
    x = MPIntervalArray.from_mpf([v, libmp.fzero], [libmp.from_int(1), libmp.fzero], prec=100)
    assert x.exact_lo()[0] == R.mpf_to_fraction(v)
    assert x.lo[0] == mpmath.mp.make_mpf(v)
    with pytest.raises(ValueError):
        MPIntervalArray.from_mpf([libmp.finf], [libmp.finf], prec=53)


# ------------------------------------------------------------------ table of elementwise cases (exact)
TABLE = [
    ("add", (1, 2), (3, 4), (4, 6)),
    ("sub", (1, 2), (3, 4), (-3, -1)),
    ("mul", (-1, 2), (3, 4), (-4, 8)),
    ("mul", (-2, -1), (-4, 3), (-6, 8)),
    ("mul", (0, 0), (-5, 7), (0, 0)),
    ("mul", (-3, -2), (-5, -4), (8, 15)),
    ("neg", (-1, 2), None, (-2, 1)),
    ("relu", (-1, 2), None, (0, 2)),
    ("relu", (-2, -1), None, (0, 0)),
    ("relu", (0, 0), None, (0, 0)),
    ("abs", (-3, 2), None, (0, 3)),
    ("abs", (-3, -2), None, (2, 3)),
    ("abs", (0, 0), None, (0, 0)),
    ("hull", (-3, -2), (1, 4), (-3, 4)),
    ("intersect", (-3, 2), (1, 4), (1, 2)),
    ("maximum", (-1, 2), (0, 1), (0, 2)),
    ("maximum", (-5, -4), (-6, -1), (-5, -1)),
]


@pytest.mark.parametrize("op, a, b, expected", TABLE)
def test_table(op, a, b, expected):
    x = MPIntervalArray([float(a[0])], [float(a[1])], prec=64)
    y = None if b is None else MPIntervalArray([float(b[0])], [float(b[1])], prec=64)
    fn = {"add": lambda: x + y, "sub": lambda: x - y, "mul": lambda: x * y, "neg": lambda: -x,
          "relu": x.relu, "abs": x.abs, "hull": lambda: x.hull(y), "intersect": lambda: x.intersect(y),
          "maximum": lambda: x.maximum(y)}[op]
    assert_eq_exact(fn(), [Fraction(expected[0])], [Fraction(expected[1])])


def test_intersect_empty_raises():
    with pytest.raises(ValueError):
        MPIntervalArray([0.0], [1.0]).intersect(MPIntervalArray([2.0], [3.0]))


@pytest.mark.parametrize("prec", [8, 53, 128, 256])
@settings(max_examples=40, deadline=None)
@given(a=intervals(), b=intervals())
@example(a=(1.0, 1.0 + 2.0**-52), b=(-1.0, -1.0))  # cancellation
@example(a=(TINY, TINY), b=(-HUGE, HUGE))
@example(a=(0.0, 0.0), b=(-1e300, 1e-300))
def test_arithmetic_is_the_rounded_exact_hull(prec, a, b):
    x = MPIntervalArray([a[0]], [a[1]], prec=prec)
    y = MPIntervalArray([b[0]], [b[1]], prec=prec)
    al, ah, bl, bh = (Fraction(v) for v in (*a, *b))
    prods = [al * bl, al * bh, ah * bl, ah * bh]
    cases = [(x + y, al + bl, ah + bh), (x - y, al - bh, ah - bl), (x * y, min(prods), max(prods))]
    for got, lo, hi in cases:
        assert_eq_exact(got, [floor_p(lo, prec)], [ceil_p(hi, prec)])
    assert_eq_exact(x.relu(), [max(al, 0)], [max(ah, 0)])


def test_broadcasting_and_zero_dim():
    x = MPIntervalArray(np.array(2.0), prec=64)
    y = MPIntervalArray([[1.0, -1.0]], [[3.0, 1.0]], prec=64)
    z = x * y + x
    assert z.shape == (1, 2)
    assert_eq_exact(z, [[Fraction(4), Fraction(0)]], [[Fraction(8), Fraction(4)]])
    assert (x * x).shape == ()
    big = Fraction(2) * Fraction(1e300) ** 2
    assert_eq_exact(x.with_prec(256) * 1e300 * 1e300, big, big)


# ------------------------------------------------------------------ indexing, split, predicates
def test_numpy_style_indexing():
    rng = np.random.default_rng(3)
    lo = rng.standard_normal((2, 3, 4))
    x = MPIntervalArray(lo, lo + 1, prec=80)
    ql = fr(lo)
    for idx in [(Ellipsis, None, slice(None)), 1, (slice(None), 0), (-1, Ellipsis), (0, 1, 2),
                (Ellipsis, None, 2), (np.array([1, 0]),)]:
        y = x[idx]
        assert y.shape == np.shape(ql[idx])
        assert list(y.exact_lo().reshape(-1)) == list(np.asarray(ql[idx]).reshape(-1))
    assert len(x) == 2 and [t.shape for t in x] == [(3, 4), (3, 4)]
    assert x.reshape(6, 4).shape == (6, 4) and x.swapaxes(0, 2).shape == (4, 3, 2)


def test_split_shares_the_midpoint():
    x = MPIntervalArray([0.0, -1.0], [1.0, 2.0], prec=53)
    left, right = x.split(1)
    assert left.exact_hi()[1] == right.exact_lo()[1] == Fraction(1, 2)
    assert left.exact_lo()[1] == -1 and right.exact_hi()[1] == 2
    assert left.is_subset(x) and right.is_subset(x)
    a, b = x.split(0, at=0.25)
    assert a.exact_hi()[0] == b.exact_lo()[0] == Fraction(1, 4)
    with pytest.raises(ValueError):
        x.split(0, at=3.0)
    with pytest.raises(ValueError):
        x.split(0, at="0.1")


def test_contains_is_exact():
    x = MPIntervalArray(np.array(["0.1"], dtype=object), prec=53)
    assert x.contains(["0.1"])[0]
    assert not x.contains([0.1 + 2**-50])[0]
    assert MPIntervalArray([0.0], [1.0]).contains([0.1])[0]


# ------------------------------------------------------------------ products
ADVERSARIAL_W = np.array([
    [1.0, -1.0, 2.0**-60, 0.0],
    [1e300, 1e-300, -1e300, TINY],
    [3.0, 3.0, -6.0, 1.0],
    [TINY, -TINY, 2.0**-1022, 1e-310],
])


def adversarial_boxes():
    lo = np.array([
        [1.0 + 2.0**-52, 1.0, 1.0, 0.0],  # cancellation: W0 x = 2^-52 + 2^-60 exactly
        [1e-300, -1e300, 1e-300, -TINY],
        [-1.0, -1.0, -1.0, 0.0],  # touching 0 / kinks
        [TINY, TINY, -TINY, 5e-320],
    ])
    hi = lo.copy()
    hi[2] = [0.0, 1.0, 0.0, 0.0]
    hi[3] = [2 * TINY, TINY, 0.0, 1e-310]
    return lo, hi


@pytest.mark.parametrize("prec", PRECS + [24])
@pytest.mark.parametrize("accelerator", [None, "object", "flint", "auto"])
def test_point_matvec_is_the_rounded_exact_hull(prec, accelerator):
    if accelerator in ("flint", "auto") and not flint_available():
        pytest.skip("python-flint not installed")
    lo, hi = adversarial_boxes()
    M = MPPointMatrix(ADVERSARIAL_W, prec=prec, accelerator=accelerator)
    y = M.matvec(MPIntervalArray(lo, hi, prec=prec))
    elo, ehi = exact_hull_matvec(fr(ADVERSARIAL_W), fr(lo), fr(hi))
    assert_eq_exact(y, *rounded(elo, ehi, prec))
    # batch axes (B, r, n) and a single vector (n,)
    y3 = M.matvec(MPIntervalArray(lo.reshape(2, 2, 4), hi.reshape(2, 2, 4), prec=prec))
    assert_eq_exact(y3, *rounded(elo.reshape(2, 2, 4), ehi.reshape(2, 2, 4), prec))
    y1 = M.matvec(MPIntervalArray(lo[0], hi[0], prec=prec))
    assert y1.exact_lo()[0] == floor_p(Fraction(2) ** -52 + Fraction(2) ** -60, prec)


@pytest.mark.parametrize("prec", [53, 128])
def test_point_matvec_blas_digit_path_adversarial(prec):
    """Tiled adversarial operands, large enough to take the BLAS digit path (64·16·4 scalar products)."""
    lo, hi = adversarial_boxes()
    W = np.tile(ADVERSARIAL_W, (4, 16))  # (16, 64)
    lo, hi = np.tile(lo, (1, 16)), np.tile(hi, (1, 16))  # (4, 64)
    y = MPPointMatrix(W, prec=prec).matvec(MPIntervalArray(lo, hi, prec=prec))
    elo, ehi = exact_hull_matvec(fr(W), fr(lo), fr(hi))
    assert_eq_exact(y, *rounded(elo, ehi, prec))


@pytest.mark.parametrize("prec", [53, 128])
def test_bias_is_added_before_the_single_rounding(prec):
    W = np.array([[1.0, 1.0]])
    b = MPIntervalArray(np.array(["0.1"], dtype=object), prec=prec + 10)
    x = MPIntervalArray([1.0, 2.0**-80], prec=prec)
    y = MPPointMatrix(W, prec=prec).matvec(x, bias=b)
    assert y.exact_lo()[0] == floor_p(1 + Fraction(2) ** -80 + b.exact_lo()[0], prec)
    assert y.exact_hi()[0] == ceil_p(1 + Fraction(2) ** -80 + b.exact_hi()[0], prec)


@pytest.mark.parametrize("accelerator", [None, "object", "flint"])
@pytest.mark.parametrize("shape", [(70, 90, 3), (5, 7, 1), (40, 130, 2)])
def test_exact_integer_strategies_agree(accelerator, shape):
    """Large products (the BLAS digit path) with operands spanning 1e-200..1e200 match exactly."""
    if accelerator == "flint" and not flint_available():
        pytest.skip("python-flint not installed")
    m, n, B = shape
    rng = np.random.default_rng(m * n)
    W = rng.standard_normal((m, n)) * 10.0 ** rng.integers(-200, 200, size=(m, n))
    lo = rng.standard_normal((B, n)) * 10.0 ** rng.integers(-50, 50, size=(B, n))
    hi = lo + np.abs(lo) * 1e-3
    ref = MPPointMatrix(W, prec=200, accelerator="object").matvec(MPIntervalArray(lo, hi, prec=200))
    got = MPPointMatrix(W, prec=200, accelerator=accelerator).matvec(MPIntervalArray(lo, hi, prec=200))
    assert got.exp == ref.exp
    assert (got.lo_man == ref.lo_man).all() and (got.hi_man == ref.hi_man).all()
    assert got.is_subset(ref) and ref.is_subset(got)


@pytest.mark.parametrize("prec", PRECS)
def test_decimal_point_matrix_contains_the_exact_hull(prec):
    Wq = np.array([["0.1", "-0.7", "1e-30"], ["3", "0.3333", "-2.5e10"]], dtype=object)
    Wf = np.vectorize(Fraction, otypes=[object])(Wq)
    lo = np.array([[0.1, -1.0, 1e20], [0.0, 0.0, 0.0]])
    hi = np.array([[0.2, -1.0, 1e20], [0.0, 2.0**-40, 1.0]])
    M = MPPointMatrix(Wq, prec=prec)
    y = M.matvec(MPIntervalArray(lo, hi, prec=prec))
    elo, ehi = exact_hull_matvec(Wf, fr(lo), fr(hi))
    assert_contains(y, elo, ehi)
    # and tightly: the excess is below 2^-(prec-3) of sum |W||x|
    scale = exact_hull_matvec(np.abs(Wf), np.abs(fr(lo)) + np.abs(fr(hi)), np.abs(fr(lo)) + np.abs(fr(hi)))[1]
    excess = (elo - y.exact_lo()) + (y.exact_hi() - ehi)
    for e, s in zip(excess.reshape(-1), scale.reshape(-1)):
        assert e <= s * Fraction(1, 2 ** (prec - 3))


@pytest.mark.parametrize("prec", [53, 128])
def test_interval_matrix_contains_every_product(prec):
    rng = np.random.default_rng(11)
    Wl = rng.standard_normal((4, 5))
    Wh = Wl + np.abs(rng.standard_normal((4, 5))) * 1e-3
    Wh[0, :] = Wl[0, :]  # some point entries
    lo = rng.standard_normal((3, 5))
    hi = lo + np.array([0.0, 1e-9, 1.0])[:, None]
    M = MPIntervalMatrix(Wl, Wh, prec=prec)
    y = M.matvec(MPIntervalArray(lo, hi, prec=prec))
    # exact range of each row: sum over j of the hull of {w x : w in W_ij, x in x_j} (4 vertices)
    qWl, qWh, ql, qh = fr(Wl), fr(Wh), fr(lo), fr(hi)
    for b in range(3):
        for i in range(4):
            vs = [[w * x for w in (qWl[i, j], qWh[i, j]) for x in (ql[b, j], qh[b, j])] for j in range(5)]
            assert y.exact_lo()[b, i] <= sum(min(v) for v in vs)
            assert sum(max(v) for v in vs) <= y.exact_hi()[b, i]
    # transposed matrix: g @ W
    g = M.T.matvec(MPIntervalArray(lo[:, :4], hi[:, :4], prec=prec))
    assert g.shape == (3, 5)


def test_float64_interval_array_input_is_converted_exactly():
    W = MPPointMatrix([[1.0, 2.0]], prec=64)
    y = W.matvec(IntervalArray([0.0, 1.0], [1.0, 1.0]))
    assert_eq_exact(y, [Fraction(2)], [Fraction(3)])
    with pytest.raises(ValueError):
        W.matvec(MPIntervalArray([1.0, 2.0, 3.0]))


# ------------------------------------------------------------------ elementary functions (mpf kernels)
def _ctx(prec=400):
    ctx = MPContext()  # private context: the global mpmath precision is never touched
    ctx.prec = prec
    return ctx


@pytest.mark.parametrize("prec", [53, 128, 256])
@pytest.mark.parametrize("a, b", [(0.0, 0.0), (-1.5, 2.0), (3.0, 3.0), (-40.0, -39.0), (1e-300, 1e-300),
                                  (-1e5, 1e6), (2.0**30, 2.0**40)])
def test_elementary_mpf_kernels_contain_high_precision_values(prec, a, b):
    ctx = _ctx()
    ra, rb = libmp.from_float(a), libmp.from_float(b)
    pts = [a, b, 0.5 * (a + b)] + ([0.0] if a <= 0 <= b else [])
    funcs = [
        (logistic_bounds_mpf, lambda t: 1 / (1 + ctx.exp(-t))),
        (tanh_bounds_mpf, ctx.tanh),
        (logistic_deriv_bounds_mpf, lambda t: ctx.exp(-t) / (1 + ctx.exp(-t)) ** 2),
        (tanh_deriv_bounds_mpf, lambda t: 1 / ctx.cosh(t) ** 2),
    ]
    for kernel, ref in funcs:
        lo, hi = kernel(ra, rb, prec)
        for t in pts:
            v = ref(ctx.mpf(t))._mpf_
            # exact comparisons of raw mpf values (exponents may be far beyond any Fraction's reach)
            assert libmp.mpf_le(lo, v) and libmp.mpf_le(v, hi), (kernel.__name__, t)


# ------------------------------------------------------------------ hygiene and benchmark smoke run
def test_no_global_precision_change():
    before = (mpmath.mp.prec, mpmath.iv.prec)
    x = MPIntervalArray([0.1, 0.2], prec=300)
    MPPointMatrix([["0.1", "0.2"]], prec=300).matvec(x * x)
    logistic_bounds_mpf(libmp.fone, libmp.fone, 300)
    assert (mpmath.mp.prec, mpmath.iv.prec) == before
    for f in (ROOT / "intervals" / "mparray.py", ROOT / "verinet" / "bounds" / "backends" / "mp.py"):
        src = f.read_text()
        assert re.search(r"\bmp(math)?\.(mp|iv)?\.?(prec|dps)\s*=", src) is None
        assert "mp.prec" not in src and "mp.dps" not in src and "fastmath" not in src


def test_perf_benchmark_quick_runs():
    script = ROOT / "benchmarks" / "bench_intervals.py"
    out = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=120,
                         check=False, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "mpmath.iv" in out.stdout and "float64 point" in out.stdout and "mp pure 128" in out.stdout


@pytest.mark.parametrize("prec", [53, 128])
@pytest.mark.parametrize("x", [1e-30, -1e-300, 0.5, 7.0, -40.0, 300.0])
def test_tightness_elementary_mpf_relative(prec, x):
    """Relative accuracy where 1 − σ and 1 − tanh² would cancel (large |x|) and tanh(x) for tiny x."""
    v = libmp.from_float(x)
    for kernel in (logistic_bounds_mpf, tanh_bounds_mpf, logistic_deriv_bounds_mpf, tanh_deriv_bounds_mpf):
        lo, hi = (R.mpf_to_fraction(t) for t in kernel(v, v, prec))
        assert lo <= hi and hi - lo <= abs(hi) * Fraction(1, 2 ** (prec - 8)), kernel.__name__
