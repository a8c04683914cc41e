"""IntervalArray (float64 endpoints) against exact rational arithmetic.

Inclusion property (IEEE 1788-2015 §6 / §10.5): for every operation the result contains the exact real
result for every real input in the operands. For the monotone operations here the exact *range* is
spanned by endpoint combinations, so we check that the whole exact range (computed in Fractions, with the
set convention ``0·∞ = 0``) is inside the result — stronger than sampling points. No tolerances except in
``test_tightness_*``.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import FMAX, INF, assert_encloses, contains, ext_mul, ext_sum, hyp, q

from intervals import rounding as R
from intervals.array import IntervalArray

TINY = 5e-324  # smallest subnormal
MINNORM = 2.2250738585072014e-308
EDGE = [0.0, -0.0, TINY, -TINY, 2.2e-308, -2.2e-308, MINNORM, 1.0, -1.0, 0.1, 3.0, 1e16, -1e16, 1e300,
        -1e300, FMAX, -FMAX, INF, -INF]

floats = st.one_of(st.sampled_from(EDGE), st.floats(allow_nan=False))


@st.composite
def interval(draw, finite: bool = False):
    f = st.floats(allow_nan=False, allow_infinity=False) if finite else floats
    a, b = draw(f), draw(f)
    lo, hi = min(a, b), max(a, b)
    if lo == hi == INF:
        lo = FMAX
    if lo == hi == -INF:
        hi = -FMAX
    return lo, hi


def iv_arrays(n: int, finite: bool = False):
    return st.lists(interval(finite), min_size=n, max_size=n)


def _arr(ivs) -> IntervalArray:
    return IntervalArray([a for a, _ in ivs], [b for _, b in ivs])


def _check_valid(r: IntervalArray, what: str) -> None:
    assert not np.isnan(r.lo).any() and not np.isnan(r.hi).any(), f"{what}: NaN endpoint {r!r}"
    assert (r.lo <= r.hi).all(), f"{what}: lo > hi in {r!r}"


# --------------------------------------------------------------------------------------------------
# + and -
# --------------------------------------------------------------------------------------------------


@hyp(300)
@given(interval(), interval())
@example((1.0, 1.0), (1e-30, 1e-30))  # rounding at the last bit
@example((1e16, 1e16), (-1e16 + 2.0, 1.0))  # catastrophic cancellation
@example((FMAX, FMAX), (FMAX, FMAX))  # overflow: [max, inf] must contain 2·max
@example((-FMAX, -FMAX), (-FMAX, -1.0))
@example((TINY, TINY), (TINY, TINY))  # subnormals add exactly
@example((-0.0, 0.0), (0.0, -0.0))  # zeros of both signs
@example((-INF, 0.0), (0.0, INF))  # unbounded: no inf - inf
@example((-INF, INF), (1.0, 1.0))
@example((0.1, 0.1), (0.2, 0.2))
def test_add_sub_contain_exact_range(x, y):
    X = IntervalArray(*x)
    Y = IntervalArray(*y)
    s = X + Y
    d = X - Y
    _check_valid(s, "add")
    _check_valid(d, "sub")
    (xl, xh), (yl, yh) = [(q(a), q(b)) for a, b in (x, y)]
    assert_encloses(s.lo, s.hi, np.array(ext_sum([xl, yl]), dtype=object), "x + y lower")
    assert_encloses(s.lo, s.hi, np.array(ext_sum([xh, yh]), dtype=object), "x + y upper")
    assert_encloses(d.lo, d.hi, np.array(ext_sum([xl, ext_mul(-1, yh)]), dtype=object), "x - y lower")
    assert_encloses(d.lo, d.hi, np.array(ext_sum([xh, ext_mul(-1, yl)]), dtype=object), "x - y upper")


@hyp(200)
@given(interval(finite=True), interval(finite=True))
@example((1.0, 1.0), (1e-30, 1e-30))
@example((1.0, 1.0), (2.0**-53, 2.0**-53))  # a tie: round-to-nearest-even gives 1.0
@example((TINY, 1.0), (-TINY, 3.0))
def test_tightness_add_is_one_ulp_optimal(x, y):
    """``add_down``/``add_up`` with TwoSum: the endpoints are the nearest floats on the correct side."""
    s = IntervalArray(*x) + IntervalArray(*y)
    lo = Fraction(x[0]) + Fraction(y[0])
    hi = Fraction(x[1]) + Fraction(y[1])
    if abs(lo) <= Fraction(FMAX):
        assert float(s.lo) == R.float_down(lo)
    if abs(hi) <= Fraction(FMAX):
        assert float(s.hi) == R.float_up(hi)


# --------------------------------------------------------------------------------------------------
# *
# --------------------------------------------------------------------------------------------------


def _exact_mul_range(x, y):
    ps = [ext_mul(q(a), q(b)) for a in x for b in y]
    return min(ps), max(ps)


@hyp(300)
@given(interval(), interval())
@example((1e300, 1e300), (1e300, 1e300))  # overflow to [max, inf]
@example((-1e300, 1e300), (1e300, 1e300))
@example((TINY, TINY), (0.5, 0.5))  # exact 2^-1075 underflows: result must straddle it
@example((-TINY, -TINY), (0.5, 0.5))
@example((2.2e-308, 2.2e-308), (1e-10, 1e-10))
@example((0.0, 0.0), (-INF, INF))  # 0 · R = {0}
@example((-0.0, 0.0), (1.0, INF))
@example((0.0, 1.0), (1.0, INF))  # touching 0 times unbounded
@example((-INF, -1.0), (-INF, -1.0))
@example((-INF, INF), (-INF, INF))
@example((0.1, 0.1), (0.1, 0.1))
@example((-1.0, 2.0), (-3.0, 0.5))  # both straddle 0
@example((FMAX, FMAX), (-FMAX, FMAX))
def test_mul_contains_exact_range(x, y):
    r = IntervalArray(*x) * IntervalArray(*y)
    _check_valid(r, "mul")
    lo, hi = _exact_mul_range(x, y)
    assert contains(r.lo, r.hi, lo), (x, y, r, lo)
    assert contains(r.lo, r.hi, hi), (x, y, r, hi)


@hyp(200)
@given(interval(finite=True), interval(finite=True))
@example((1.0, 3.0), (0.1, 0.1))
@example((TINY, TINY), (0.5, 0.5))
def test_tightness_mul_within_one_ulp(x, y):
    r = IntervalArray(*x) * IntervalArray(*y)
    lo, hi = _exact_mul_range(x, y)
    if abs(lo) < Fraction(FMAX) and abs(hi) < Fraction(FMAX):
        with np.errstate(over="ignore"):
            assert float(r.lo) >= np.nextafter(R.float_down(lo), -INF)
            assert float(r.hi) <= np.nextafter(R.float_up(hi), INF)


@hyp(100)
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(iv_arrays(n), iv_arrays(n))))
def test_vectorised_ops_match_elementwise_exact_ranges(pair):
    xs, ys = pair
    X, Y = _arr(xs), _arr(ys)
    for op, name in ((lambda a, b: a + b, "add"), (lambda a, b: a - b, "sub"), (lambda a, b: a * b, "mul")):
        r = op(X, Y)
        _check_valid(r, name)
        for i, (x, y) in enumerate(zip(xs, ys)):
            if name == "mul":
                lo, hi = _exact_mul_range(x, y)
            elif name == "add":
                lo, hi = ext_sum([q(x[0]), q(y[0])]), ext_sum([q(x[1]), q(y[1])])
            else:
                lo, hi = ext_sum([q(x[0]), ext_mul(-1, q(y[1]))]), ext_sum([q(x[1]), ext_mul(-1, q(y[0]))])
            assert contains(r.lo[i], r.hi[i], lo) and contains(r.lo[i], r.hi[i], hi), (name, i, x, y)


def test_scalar_coercion_and_broadcasting():
    x = IntervalArray([0.0, -1.0], [1.0, 1.0])
    y = 1.0 - x
    assert y.lo.tolist() == [0.0, 0.0] and y.hi.tolist() == [1.0, 2.0]
    z = 0.1 * x  # 0.1 here is the float 0.1 (an exact binary number)
    assert contains(z.lo[0], z.hi[0], Fraction(0.1)) and contains(z.lo[1], z.hi[1], -Fraction(0.1))
    b = IntervalArray(np.zeros((3, 2)), np.ones((3, 2))) + x
    assert b.shape == (3, 2) and b.hi[2, 0] == 2.0


# --------------------------------------------------------------------------------------------------
# relu, abs, neg, mag, mig (exact operations)
# --------------------------------------------------------------------------------------------------


@hyp(200)
@given(interval())
@example((-0.0, -0.0))
@example((-TINY, TINY))
@example((-INF, -1.0))
@example((-INF, INF))
@example((0.0, 0.0))
@example((-1.0, 0.0))  # touching 0 from below
def test_relu_abs_neg_mag_mig_exact(x):
    X = IntervalArray(*x)
    lo, hi = q(x[0]), q(x[1])
    r = X.relu()
    _check_valid(r, "relu")
    assert q(r.lo) == max(lo, Fraction(0)) and q(r.hi) == max(hi, Fraction(0))
    n = -X
    assert q(n.lo) == ext_mul(-1, hi) and q(n.hi) == ext_mul(-1, lo)
    mig = Fraction(0) if lo <= 0 <= hi else min(abs(lo), abs(hi))
    mag = max(abs(lo), abs(hi))
    assert q(X.mig()) == mig and q(X.mag()) == mag
    a = X.abs()
    assert q(a.lo) == mig and q(a.hi) == mag


# --------------------------------------------------------------------------------------------------
# mid, rad, width, from_center_radius
# --------------------------------------------------------------------------------------------------


@hyp(300)
@given(interval())
@example((TINY, TINY))  # 0.5·η underflows to 0: the midpoint must still be in the interval
@example((TINY, 3 * TINY))
@example((-FMAX, FMAX))
@example((FMAX, FMAX))
@example((-INF, INF))
@example((-INF, -FMAX))
@example((1.0, INF))
@example((-0.0, 0.0))
def test_mid_rad_width(x):
    X = IntervalArray(*x)
    m = float(X.mid())
    assert not math.isnan(m)
    assert contains(x[0], x[1], q(m)), (x, m)
    r = float(X.rad())
    w = float(X.width())
    lo, hi, mq = q(x[0]), q(x[1]), q(m)
    assert r >= 0 and w >= 0
    if math.isinf(lo) or math.isinf(hi):
        assert r == INF and w == INF
    else:
        assert q(r) >= max(hi - mq, mq - lo) if not math.isinf(r) else True
        assert q(w) >= hi - lo if not math.isinf(w) else True


@hyp(300)
@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(0, FMAX))
@example(1.0, 1e-30)
@example(FMAX, FMAX)  # c + r overflows: upper end +inf
@example(-FMAX, 1.0)
@example(0.0, TINY)
@example(TINY, TINY)
@example(0.1, 0.0)  # zero radius: the point itself
def test_from_center_radius_contains_exact_box(c, r):
    X = IntervalArray.from_center_radius(c, r)
    _check_valid(X, "from_center_radius")
    assert contains(X.lo, X.hi, Fraction(c) - Fraction(r))
    assert contains(X.lo, X.hi, Fraction(c) + Fraction(r))


# --------------------------------------------------------------------------------------------------
# set operations
# --------------------------------------------------------------------------------------------------


@hyp(200)
@given(interval(), interval())
def test_hull_intersect_contains_subset(x, y):
    X, Y = IntervalArray(*x), IntervalArray(*y)
    h = X.hull(Y)
    assert float(h.lo) == min(x[0], y[0]) and float(h.hi) == max(x[1], y[1])
    assert X.is_subset(h) and Y.is_subset(h)
    lo, hi = max(x[0], y[0]), min(x[1], y[1])
    if lo <= hi:
        i = X.intersect(Y)
        assert float(i.lo) == lo and float(i.hi) == hi
        assert i.is_subset(X) and i.is_subset(Y)
    else:
        with pytest.raises(ValueError, match="empty"):
            X.intersect(Y)
    for v in (x[0], x[1], y[0], y[1]):
        assert bool(X.contains(v)) == contains(x[0], x[1], q(v))


@hyp(200)
@given(st.lists(interval(), min_size=1, max_size=4), st.data())
@example([(TINY, 3 * TINY)], None)
@example([(-INF, INF), (0.0, 0.0)], None)
@example([(1.0, 1.0)], None)
def test_split_halves_cover_the_box(ivs, data):
    X = _arr(ivs)
    axis = 0 if data is None else data.draw(st.integers(0, len(ivs) - 1))
    left, right = X.split(axis)
    for part in (left, right):
        _check_valid(part, "split")
        assert part.is_subset(X)
    # they share the split point and together cover the box coordinate exactly
    assert left.hi[axis] == right.lo[axis]
    assert left.lo[axis] == X.lo[axis] and right.hi[axis] == X.hi[axis]
    for k in range(len(ivs)):
        if k != axis:
            assert left.lo[k] == right.lo[k] == X.lo[k] and left.hi[k] == right.hi[k] == X.hi[k]


def test_split_at_point_and_errors():
    X = IntervalArray([0.0, -1.0], [1.0, 1.0])
    a, b = X.split(1, at=0.25)
    assert a.hi[1] == 0.25 and b.lo[1] == 0.25
    with pytest.raises(ValueError, match="outside"):
        X.split(0, at=2.0)
    with pytest.raises(ValueError, match="1-D"):
        IntervalArray(np.zeros((2, 2))).split(0)


# --------------------------------------------------------------------------------------------------
# invalid input: clear ValueErrors, never NaN
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lo, hi, match",
    [
        (math.nan, 1.0, "NaN"),
        (0.0, math.nan, "NaN"),
        (2.0, 1.0, "lo > hi"),
        ([0.0, 2.0], [1.0, 1.0], r"lo > hi at index \(1,\)"),
        (INF, INF, "infinite"),
        (-INF, -INF, "infinite"),
        (TINY, 0.0, "lo > hi"),
        (0.0, -TINY, "lo > hi"),
    ],
)
def test_invalid_endpoints_raise_clear_value_error(lo, hi, match):
    with pytest.raises(ValueError, match=match):
        IntervalArray(lo, hi)


def test_invalid_center_radius_and_dtype():
    with pytest.raises(ValueError, match="radius"):
        IntervalArray.from_center_radius(0.0, -1.0)
    with pytest.raises(ValueError, match="radius"):
        IntervalArray.from_center_radius(math.nan, 1.0)
    with pytest.raises(ValueError):
        IntervalArray.from_center_radius(INF, 0.0)  # [inf, inf] is not an interval
    with pytest.raises(TypeError, match="numeric"):
        IntervalArray(["0.1"])


def test_negative_zero_is_accepted_as_zero():
    X = IntervalArray(0.0, -0.0)  # -0.0 == 0.0: a valid point interval
    assert X.contains(0.0)


def test_issue_int_above_2_53_is_exact_or_rejected():
    """An integer endpoint that float64 cannot represent must not be silently rounded (inclusion)."""
    v = 2**53 + 1
    try:
        X = IntervalArray(np.array([v], dtype=np.int64))
    except ValueError:
        return
    assert contains(X.lo[0], X.hi[0], Fraction(v)), f"int {v} converted to [{X.lo[0]!r}, {X.hi[0]!r}]"


def test_float32_endpoints_are_exact():
    v = np.float32(0.1)
    X = IntervalArray(np.array([v]))
    assert Fraction(float(X.lo[0])) == Fraction(float(v))
