"""Sound matrix–box products (PointMatrix, IntervalMatrix) against exact rational arithmetic.

The module docstring of :mod:`intervals.linalg` proves ``W x ∈ [ĉ − ρ, ĉ + ρ]`` from an a-priori bound on
round-to-nearest dot products. These tests try to break that proof: catastrophic cancellation, overflow
of products and partial sums, subnormal products, long dot products, unbounded boxes, interval weights,
and all batch layouts (single vector, (B, n), (B1, B2, n)).

Two exact oracles, both in Fractions:

* the exact range of every output entry over the box (sum over ``j`` of the min/max of the endpoint
  products, ``0·∞ = 0``) must lie inside the result — this covers every ``x`` in the box at once;
* ``W x`` at corners / finite points of the box must lie inside (the requested corner check).

No tolerance except in ``test_tightness_*``.
"""

from __future__ import annotations

import itertools
import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import (
    FMAX,
    INF,
    assert_encloses,
    assert_range_enclosed,
    exact_interval_matvec,
    hyp,
    q,
)
from helpers import ext_sum as helpers_ext_sum

from intervals import _kernels
from intervals import rounding as R
from intervals.array import IntervalArray
from intervals.linalg import IntervalMatrix, PointMatrix

TINY = 5e-324
MINNORM = 2.2250738585072014e-308

weight_floats = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.1, 1e16, -1e16, 1e300, -1e300, 1e308, -1e308, FMAX, -FMAX,
                     TINY, -TINY, MINNORM, 2.2e-308, 3.0]),
    st.floats(-4.0, 4.0),
    st.floats(allow_nan=False, allow_infinity=False),
)
box_floats = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 1e16, -1e16, 1e300, -1e300, FMAX, -FMAX, TINY, -TINY,
                     MINNORM, 0.1]),
    st.floats(-8.0, 8.0),
    st.floats(allow_nan=False, allow_infinity=False),
)


@st.composite
def box_entry(draw, allow_inf: bool):
    a, b = draw(box_floats), draw(box_floats)
    lo, hi = min(a, b), max(a, b)
    if allow_inf and draw(st.integers(0, 9)) == 0:
        lo = -INF
    if allow_inf and draw(st.integers(0, 9)) == 0:
        hi = INF
    if draw(st.integers(0, 5)) == 0:
        hi = lo if lo != -INF else hi  # zero-width entries
    return lo, hi


@st.composite
def boxes(draw, n: int, allow_inf: bool):
    lead = draw(st.sampled_from([(), (3,), (2, 2)]))
    count = int(np.prod(lead, dtype=int)) * n
    ents = draw(st.lists(box_entry(allow_inf), min_size=count, max_size=count))
    lo = np.array([a for a, _ in ents], dtype=np.float64).reshape(lead + (n,))
    hi = np.array([b for _, b in ents], dtype=np.float64).reshape(lead + (n,))
    return lo, hi


@st.composite
def point_case(draw, allow_inf: bool = True):
    m = draw(st.integers(1, 4))
    n = draw(st.integers(1, 6))
    W = np.array(draw(st.lists(weight_floats, min_size=m * n, max_size=m * n)), dtype=np.float64).reshape(m, n)
    lo, hi = draw(boxes(n, allow_inf))
    return W, lo, hi


@st.composite
def interval_case(draw):
    m = draw(st.integers(1, 4))
    n = draw(st.integers(1, 6))
    a = np.array(draw(st.lists(weight_floats, min_size=m * n, max_size=m * n))).reshape(m, n)
    b = np.array(draw(st.lists(weight_floats, min_size=m * n, max_size=m * n))).reshape(m, n)
    same = np.array(draw(st.lists(st.booleans(), min_size=m * n, max_size=m * n))).reshape(m, n)
    b = np.where(same, a, b)
    lo, hi = draw(boxes(n, allow_inf=False))
    return np.minimum(a, b), np.maximum(a, b), lo, hi


def _finite_points(lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator, count: int = 8):
    """Corners of the box (all of them when n <= 4), infinite ends replaced by far finite points."""
    n = lo.shape[-1]

    def pick(v, other, side):
        if math.isfinite(v):
            return Fraction(v)
        base = Fraction(other) if math.isfinite(other) else Fraction(0)
        return base + side * Fraction(FMAX)

    corners = itertools.product((0, 1), repeat=n) if n <= 4 else (tuple(rng.integers(0, 2, n)) for _ in range(count))
    out = []
    for bits in corners:
        out.append([pick(hi[j], lo[j], 1) if bits[j] else pick(lo[j], hi[j], -1) for j in range(n)])
    return out


def _check_valid(y: IntervalArray, what: str) -> None:
    assert not np.isnan(y.lo).any() and not np.isnan(y.hi).any(), f"{what}: NaN escaped: {y!r}"
    assert (y.lo <= y.hi).all(), f"{what}: lo > hi: {y!r}"


def _check_point_product(W, lo, hi, rng=None):
    y = PointMatrix(W) @ IntervalArray(lo, hi)
    _check_valid(y, "PointMatrix")
    assert y.shape == lo.shape[:-1] + (W.shape[0],)
    elo, ehi = exact_interval_matvec(W, W, lo, hi)
    assert_range_enclosed(y.lo, y.hi, elo, ehi, "PointMatrix exact range")
    rng = rng or np.random.default_rng(0)
    Wq = np.vectorize(Fraction, otypes=[object])(W)
    for b in np.ndindex(lo.shape[:-1]):
        for x in _finite_points(lo[b], hi[b], rng):
            exact = Wq @ np.array(x, dtype=object)
            assert_encloses(y.lo[b], y.hi[b], exact, f"PointMatrix at the point {x} of box {b}")
    return y


# --------------------------------------------------------------------------------------------------
# PointMatrix
# --------------------------------------------------------------------------------------------------


@hyp(250)
@given(point_case())
@example((np.array([[1e16, 1.0, -1e16]]), np.ones(3), np.ones(3)))  # cancellation: exact 1
@example((np.array([[1e308, 1e308, -1e308]]), np.ones(3), np.ones(3)))  # partial sum overflows
@example((np.array([[1e308, 1e308, -1e308]]), np.ones((3, 3)), np.ones((3, 3))))  # same, batched (BLAS)
@example((np.array([[FMAX, FMAX]]), np.ones(2), np.ones(2)))  # exact 2·max: upper end +inf
@example((np.array([[FMAX, -FMAX]]), np.full(2, 2.0), np.full(2, 2.0)))  # products overflow, sum 0
@example((np.array([[TINY, TINY]]), np.full(2, 0.5), np.full(2, 0.5)))  # both products underflow
@example((np.array([[0.5]]), np.array([TINY]), np.array([3 * TINY])))  # subnormal box
@example((np.array([[MINNORM, -MINNORM]]), np.array([0.5, 0.25]), np.array([0.5, 0.75])))
@example((np.array([[3.0]]), np.array([0.1]), np.array([0.1])))  # length-1 dot product
@example((np.array([[2.0, 4.0]]), np.array([0.5, 0.25]), np.array([0.5, 0.25])))  # exactly representable
@example((np.array([[1.0, -1.0, 0.0]]), np.array([-INF, 0.0, -INF]), np.array([1.0, INF, INF])))  # careful
@example((np.array([[1e308, 0.0]]), np.array([1e10, -INF]), np.array([1e10, INF])))  # overflow, careful path
@example((np.array([[0.0, 1.0]]), np.array([-FMAX, 0.0]), np.array([FMAX, 0.0])))  # radius next_up(max) = inf
@example((np.array([[1.0, 1.0]]), np.array([[-FMAX, -FMAX]]), np.array([[FMAX, FMAX]])))
@example((np.array([[1.0, 2.0]]), np.array([-0.0, -0.0]), np.array([0.0, 0.0])))  # signed zeros
def test_point_matrix_contains_exact_product(case):
    W, lo, hi = case
    _check_point_product(W, lo, hi)


def test_issue_partial_sum_overflow_is_not_excluded():
    """fl(1e308 + 1e308 − 1e308) = +inf while the exact value is 1e308: ĉ = inf breaks the γ_n bound.

    Before the fix the result was [1.797e308, inf] (``next_down(inf)`` = max), which excludes 1e308.
    """
    W = PointMatrix([[1e308, 1e308, -1e308]])
    for x in (IntervalArray(np.ones(3)), IntervalArray(np.ones((2, 3))), IntervalArray(np.ones((2, 2, 3)))):
        y = W @ x
        assert (y.lo <= 1e308).all() and (y.hi >= 1e308).all(), y
    M = IntervalMatrix([[1e308, 1e308, -1e308]], [[1e308, 1e308, -1e308 + 2.0**972]])
    y = M @ IntervalArray(np.ones(3))
    assert (y.lo <= 1e308).all() and (y.hi >= 1e308).all(), y


@pytest.mark.parametrize("lead", [(), (4,), (2, 3)])
def test_point_matrix_long_dot_product(lead):
    """n = 2000 with mixed magnitudes and cancellation (exact sums are large Fractions)."""
    rng = np.random.default_rng(7)
    n = 2000
    W = rng.standard_normal((2, n)) * np.exp2(rng.integers(-30, 30, (2, n)))
    W[1] = W[0]
    W[1, n // 2:] = -W[0, : n - n // 2]
    c = rng.standard_normal(lead + (n,))
    r = np.abs(rng.standard_normal(lead + (n,))) * 1e-6
    lo, hi = c - r, c + r
    y = PointMatrix(W) @ IntervalArray(lo, hi)
    _check_valid(y, "long")
    elo, ehi = exact_interval_matvec(W, W, lo, hi)
    assert_range_enclosed(y.lo, y.hi, elo, ehi, "n = 2000")
    # a zero-width box of the same length
    y0 = PointMatrix(W) @ IntervalArray(c)
    e0, _ = exact_interval_matvec(W, W, c, c)
    assert_encloses(y0.lo, y0.hi, e0, "n = 2000 point box")


def test_point_matrix_subnormal_weights_and_inputs():
    rng = np.random.default_rng(3)
    W = rng.integers(-5, 6, (3, 50)) * TINY
    x = rng.integers(-3, 4, 50) * 0.5
    _check_point_product(W, x, x)
    W = rng.standard_normal((3, 50)) * 1e-300
    x = rng.standard_normal(50) * 1e-20  # products underflow into the subnormal range
    _check_point_product(W, x - 1e-30, x)
    _check_point_product(W, np.stack([x, -x]), np.stack([x, -x]))


def test_point_matrix_huge_batched_never_nan():
    W = np.array([[FMAX, -FMAX, 1.0], [1e300, 1e300, 0.0]])
    lo = np.array([[1.0, 1.0, -1.0], [-FMAX, -FMAX, 0.0], [1e10, 1e10, 1e10]])
    hi = np.array([[2.0, 2.0, 1.0], [FMAX, FMAX, 0.0], [1e10, 1e10, 1e10]])
    _check_point_product(W, lo, hi)
    _check_point_product(W, lo[None], hi[None])


# --------------------------------------------------------------------------------------------------
# IntervalMatrix
# --------------------------------------------------------------------------------------------------


def _check_interval_product(Wlo, Whi, lo, hi, Wq=None):
    y = IntervalMatrix(Wlo, Whi) @ IntervalArray(lo, hi)
    _check_valid(y, "IntervalMatrix")
    elo, ehi = exact_interval_matvec(Wlo, Whi, lo, hi)
    assert_range_enclosed(y.lo, y.hi, elo, ehi, "IntervalMatrix exact range")
    rng = np.random.default_rng(1)
    mats = [Wq] if Wq is not None else []
    mats += [np.vectorize(Fraction, otypes=[object])(np.where(rng.integers(0, 2, Wlo.shape), Whi, Wlo))
             for _ in range(3)]
    for M in mats:
        for b in np.ndindex(lo.shape[:-1]):
            for x in _finite_points(lo[b], hi[b], rng, count=4):
                assert_encloses(y.lo[b], y.hi[b], M @ np.array(x, dtype=object), "IntervalMatrix at a corner")
    return y


@hyp(200)
@given(interval_case())
@example((np.array([[1e16, 1.0, -1e16]]), np.array([[1e16, 1.0, -1e16 + 2.0]]), np.ones(3), np.ones(3)))
@example((np.array([[TINY, -TINY]]), np.array([[3 * TINY, TINY]]), np.full(2, 0.5), np.full(2, 0.5)))
@example((np.array([[FMAX, 1.0]]), np.array([[FMAX, 2.0]]), np.array([1.0, -FMAX]), np.array([2.0, FMAX])))
def test_interval_matrix_contains_exact_product(case):
    Wlo, Whi, lo, hi = case
    _check_interval_product(Wlo, Whi, lo, hi)


@pytest.mark.parametrize("lead", [(), (5,), (2, 3)])
def test_interval_matrix_decimal_weights(lead):
    """Weights written as decimals ("0.1") are enclosed outward; the exact decimal product is inside."""
    rng = np.random.default_rng(11)
    m, n = 4, 30
    Wq = np.array([[Fraction(f"{v:.3f}") for v in row] for row in rng.standard_normal((m, n))], dtype=object)
    Wq[0, :] = Fraction("0.1")
    Wlo = np.vectorize(R.float_down, otypes=[float])(Wq)
    Whi = np.vectorize(R.float_up, otypes=[float])(Wq)
    c = rng.standard_normal(lead + (n,))
    lo, hi = c - 1e-3, c + 1e-3
    _check_interval_product(Wlo, Whi, lo, hi, Wq)
    _check_interval_product(Wlo, Whi, c, c, Wq)  # zero-width box


def test_interval_matrix_point_weights_use_point_path():
    W = np.array([[1.0, -2.0]])
    y = IntervalMatrix(W, W) @ IntervalArray([1.0, 1.0])
    assert contains_all(y, [Fraction(-1)])


def contains_all(y, values):
    return all(y.lo[i] <= v <= y.hi[i] for i, v in enumerate(values))


# --------------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------------


def test_errors_are_clear():
    with pytest.raises(ValueError, match="NaN or infinite"):
        PointMatrix([[1.0, math.nan]])
    with pytest.raises(ValueError, match="NaN or infinite"):
        PointMatrix([[INF]])
    with pytest.raises(ValueError, match="2-D"):
        PointMatrix([1.0, 2.0])
    with pytest.raises(ValueError, match="does not match"):
        PointMatrix([[1.0, 2.0]]) @ IntervalArray([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="IntervalArray"):
        PointMatrix([[1.0]]) @ np.array([1.0])
    with pytest.raises(ValueError, match="lo > hi"):
        IntervalMatrix([[2.0]], [[1.0]])
    with pytest.raises(ValueError, match="infinite"):
        IntervalMatrix([[-INF]], [[1.0]])
    with pytest.raises(ValueError, match="unbounded"):
        IntervalMatrix([[1.0]], [[2.0]]) @ IntervalArray([-INF], [0.0])


def test_issue_int_matrix_above_2_53_is_exact_or_rejected():
    v = 2**53 + 1
    try:
        W = PointMatrix(np.array([[v]], dtype=np.int64))
    except ValueError:
        return
    y = W @ IntervalArray([1.0])
    assert y.lo[0] <= v <= y.hi[0], f"{v} * 1 not in [{y.lo[0]!r}, {y.hi[0]!r}]"


# --------------------------------------------------------------------------------------------------
# Numba kernels equal their pure-Python twins bit for bit
# --------------------------------------------------------------------------------------------------


def _py(kernel):
    """The pure-Python twin (the kernel itself when NUMBA_DISABLE_JIT=1 leaves plain functions)."""
    return getattr(kernel, "py_func", kernel)


def _bits(a) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float64).tobytes()


def _kernel_names() -> list[str]:
    return sorted(name for name, obj in vars(_kernels).items() if hasattr(obj, "py_func") and not name.startswith("__"))


SCALARS = [0.0, -0.0, TINY, -TINY, MINNORM, -MINNORM, 1.0, -1.0, 0.1, 1e16, FMAX, -FMAX, 1e300, INF, -INF]


def _gen_args(name: str, rng: np.random.Generator):
    """Random (and adversarial) inputs for the kernel ``name``: (args, indices of output arrays)."""
    n, k = int(rng.integers(1, 40)), int(rng.integers(1, 12))
    scale = np.exp2(rng.integers(-1074, 1000, (n, k)).astype(float) * (rng.random() < 0.2))
    WT = rng.standard_normal((n, k)) * scale
    WT[rng.random((n, k)) < 0.1] = 0.0
    lo = rng.standard_normal(n) * np.exp2(rng.integers(-60, 60, n))
    hi = lo + np.abs(rng.standard_normal(n)) * (rng.random(n) < 0.7)
    g, inv, neta = R.gamma(n), 1.0 + 2.0**-40, R.float_up(Fraction(n) * Fraction(TINY))
    if name in ("up", "down", "finite"):
        return (float(rng.choice(SCALARS + list(lo) + [np.nan])),), ()
    if name == "_enclose":
        c, s_ = float(rng.choice(SCALARS + list(lo))), abs(float(rng.choice(SCALARS + list(hi))))
        return (c, s_, inv, neta), ()
    if name == "dual_matvec_t":
        return (WT, np.abs(WT), lo, np.abs(hi), np.empty(k), np.empty(k)), (4, 5)
    if name == "careful_matvec_t":
        xl, xh = lo.copy(), hi.copy()
        xl[rng.random(n) < 0.2] = -INF
        xh[rng.random(n) < 0.2] = INF
        return (WT, xl, xh, np.empty(k), np.empty(k)), (3, 4)
    if name == "mid_rad_a":
        if rng.random() < 0.2:
            hi[0] = INF
        return (lo, hi, g, np.zeros(n), np.zeros(n)), (3, 4)
    if name == "finish":
        c = rng.standard_normal(k * 3) * 1e3
        c[0] = INF if rng.random() < 0.2 else c[0]
        s_ = np.abs(rng.standard_normal(k * 3))
        b = rng.standard_normal(k) if rng.random() < 0.5 else np.empty(0)
        return (c, s_, inv, neta, b, b + 1.0 if len(b) else b, np.empty(k * 3), np.empty(k * 3)), (6, 7)
    if name == "point_matvec_1":
        b = rng.standard_normal(k) if rng.random() < 0.5 else np.empty(0)
        return (WT, lo, hi, g, inv, neta, b, b + 0.5 if len(b) else b, np.zeros(k), np.zeros(k)), (8, 9)
    return None, None


@pytest.mark.parametrize("name", _kernel_names())
def test_every_kernel_equals_its_py_func(name):
    """numba habit: each compiled kernel gives bit-for-bit the results of its pure-Python twin."""
    kernel = getattr(_kernels, name)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    for trial in range(30):
        args, outs = _gen_args(name, rng)
        if args is None:
            pytest.fail(f"no random-input generator for the kernel {name!r}: add one to _gen_args")
        a1 = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
        a2 = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
        with np.errstate(all="ignore"):  # the kernel is the Python function under NUMBA_DISABLE_JIT=1
            r1 = kernel(*a1)
            r2 = kernel.py_func(*a2)
        if isinstance(r1, float) or isinstance(r2, float):
            assert _bits(np.float64(r1)) == _bits(np.float64(r2)), (name, args, r1, r2)
        elif isinstance(r1, tuple):
            bits1, bits2 = ([_bits(np.float64(v)) for v in r] for r in (r1, r2))
            assert bits1 == bits2, (name, args, r1, r2)
        else:
            assert r1 == r2, (name, trial, r1, r2)
        for i in outs:
            assert _bits(a1[i]) == _bits(a2[i]), (name, trial, i, a1[i], a2[i])


@hyp(300)
@given(st.one_of(st.sampled_from(SCALARS), st.floats(allow_nan=False)))
def test_branch_free_steps_are_outward(c):
    """``up(c) >= succ(c)`` and ``down(c) <= pred(c)`` for every float (Rump et al. 2009, Alg. 2)."""
    u, d = _kernels.up(c), _kernels.down(c)
    if c == INF:
        assert u == INF and d == FMAX
    elif c == -INF:
        assert u == -FMAX and d == -INF
    else:
        with np.errstate(over="ignore"):
            assert u >= np.nextafter(c, INF) and d <= np.nextafter(c, -INF), (c, u, d)


@hyp(60)
@given(point_case(allow_inf=False), st.integers(0, 2**32 - 1))
def test_dual_matvec_kernel_equals_py_func(case, seed):
    W, lo, hi = case
    rng = np.random.default_rng(seed)
    n, k = W.shape[1], W.shape[0]
    WT = np.ascontiguousarray(W.T)
    AT = np.ascontiguousarray(np.abs(W.T))
    m = lo.reshape(-1, n)[0]
    a = np.abs(hi.reshape(-1, n)[0]) * rng.random(n)
    out = [np.empty(k) for _ in range(4)]
    with np.errstate(all="ignore"):
        _kernels.dual_matvec_t(WT, AT, m, a, out[0], out[1])
        _py(_kernels.dual_matvec_t)(WT, AT, m, a, out[2], out[3])
    assert _bits(out[0]) == _bits(out[2]) and _bits(out[1]) == _bits(out[3])


@hyp(60)
@given(point_case(allow_inf=True))
def test_careful_matvec_kernel_equals_py_func(case):
    W, lo, hi = case
    n, k = W.shape[1], W.shape[0]
    WT = np.ascontiguousarray(W.T)
    xl, xh = lo.reshape(-1, n)[0].copy(), hi.reshape(-1, n)[0].copy()
    out = [np.empty(k) for _ in range(4)]
    with np.errstate(all="ignore"):
        _kernels.careful_matvec_t(WT, xl, xh, out[0], out[1])
        _py(_kernels.careful_matvec_t)(WT, xl, xh, out[2], out[3])
    assert _bits(out[0]) == _bits(out[2]) and _bits(out[1]) == _bits(out[3])
    # and the careful kernel on its own is an enclosure of the exact range
    elo, ehi = exact_interval_matvec(W, W, xl, xh)
    assert_range_enclosed(out[0], out[1], elo, ehi, "careful_matvec_t")


# --------------------------------------------------------------------------------------------------
# products with a bias (the fused affine step)
# --------------------------------------------------------------------------------------------------


@hyp(120)
@given(point_case(allow_inf=True), st.data())
def test_matvec_with_bias_contains_exact_affine_range(case, data):
    W, lo, hi = case
    m = W.shape[0]
    b = np.array(data.draw(st.lists(box_entry(False), min_size=m, max_size=m)))
    bias = IntervalArray(b[:, 0], b[:, 1])
    elo, ehi = exact_interval_matvec(W, W, lo, hi)
    with np.errstate(over="ignore"):
        Whi = np.where(W < FMAX, np.nextafter(W, INF), W)
    for M in (PointMatrix(W), IntervalMatrix(W, Whi)):
        if isinstance(M, IntervalMatrix):
            if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
                continue
            elo, ehi = exact_interval_matvec(W, Whi, lo, hi)
        try:
            y = M.matvec(IntervalArray(lo, hi), bias)
        except TypeError:  # an older matvec without the bias argument
            pytest.skip("matvec(x, bias) not available")
        _check_valid(y, "affine")
        alo = np.empty(elo.shape, dtype=object)
        ahi = np.empty(elo.shape, dtype=object)
        for idx in np.ndindex(elo.shape):
            alo[idx] = helpers_ext_sum([elo[idx], q(b[idx[-1], 0])])
            ahi[idx] = helpers_ext_sum([ehi[idx], q(b[idx[-1], 1])])
        assert_range_enclosed(y.lo, y.hi, alo, ahi, f"{type(M).__name__}.matvec(x, bias)")


# --------------------------------------------------------------------------------------------------
# tightness
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lead", [(), (8,)])
@pytest.mark.parametrize("n", [10, 100, 500])
def test_tightness_point_box_width(n, lead):
    """For a point box and positive data the width is ~γ_n relative: below 1e-12 for moderate n."""
    rng = np.random.default_rng(n)
    W = rng.random((5, n)) + 0.1
    x = rng.random(lead + (n,)) + 0.1
    y = PointMatrix(W) @ IntervalArray(x)
    e, _ = exact_interval_matvec(W, W, x, x)
    for idx in np.ndindex(e.shape):
        width = Fraction(y.hi[idx]) - Fraction(y.lo[idx])
        assert width <= Fraction(1e-12) * abs(e[idx]), (idx, float(width / e[idx]))
    M = IntervalMatrix(W, np.nextafter(W, INF))
    y = M @ IntervalArray(x)
    for idx in np.ndindex(e.shape):
        assert Fraction(y.hi[idx]) - Fraction(y.lo[idx]) <= Fraction(1e-12) * abs(e[idx])


# --------------------------------------------------------------------------------------------------
# the error term is what makes the kernels sound: dropping it must be caught
# --------------------------------------------------------------------------------------------------


def _kernel_product(W, lo, hi, g, inv, neta):
    """The fused single-box kernel and the batched path (mid-rad, BLAS, in-place finish) with the given
    error constants; returns both enclosures."""
    WT = np.ascontiguousarray(W.T)
    k = W.shape[0]
    o1, o2 = np.empty(k), np.empty(k)
    assert _kernels.point_matvec_1(WT, lo, hi, g, inv, neta, np.empty(0), np.empty(0), o1, o2)
    m, a = np.empty(lo.shape), np.empty(lo.shape)
    assert _kernels.mid_rad_a(lo, hi, g, m, a)
    c, s = (m[None, :] @ WT).reshape(-1), (a[None, :] @ np.abs(WT)).reshape(-1)
    _kernels.finish(c, s, inv, neta, np.empty(0), np.empty(0), c, s)
    return (o1, o2), (c, s)


@pytest.mark.parametrize("W, x", [
    (np.array([[1e16, 1.0, -1e16]]), np.ones(3)),  # cancellation: exact 1, float sum 0
    (np.full((1, 40), TINY), np.full(40, 0.5)),  # 40 products underflow to 0: exact 20η, float sum 0
    (np.array([[1.0, 2.0**-60, -1.0]]), np.array([3.0, 1.0, 3.0])),  # small term absorbed
])
def test_dropping_the_error_term_is_caught(W, x):
    """Mutation check of the oracle: the kernels with γ_n = 0, 1/(1 − γ_n) = 1 and nη = 0 (no rounding-error
    term) miss the exact product on these inputs, and with the real constants they contain it."""
    n = W.shape[1]
    exact = Fraction(0)
    for w, v in zip(W[0], x):
        exact += Fraction(w) * Fraction(v)
    g, inv, neta = R.gamma(n), R.float_up(1 / (1 - Fraction(n, 2**53) / (1 - Fraction(n, 2**53)))), \
        R.float_up(Fraction(n) * Fraction(TINY))
    for lo_, hi_ in _kernel_product(W, x, x.copy(), g, inv, neta):
        assert Fraction(lo_[0]) <= exact <= Fraction(hi_[0])
    for lo_, hi_ in _kernel_product(W, x, x.copy(), 0.0, 1.0, 0.0):
        assert not (Fraction(lo_[0]) <= exact <= Fraction(hi_[0])), "the oracle misses a dropped error term"


@hyp(60)
@given(point_case(allow_inf=False), st.integers(1, 40))
def test_large_batches_contain_exact_product(case, reps):
    """The batched path (BLAS, in-place blocked finish) on batches longer than one finish block."""
    W, lo, hi = case
    n = W.shape[1]
    lo2 = np.tile(lo.reshape(-1, n), (reps, 1))
    hi2 = np.tile(hi.reshape(-1, n), (reps, 1))
    y = PointMatrix(W) @ IntervalArray(lo2, hi2)
    _check_valid(y, "batched")
    elo, ehi = exact_interval_matvec(W, W, lo.reshape(-1, n), hi.reshape(-1, n))
    rows = lo.reshape(-1, n).shape[0]
    for r in range(0, lo2.shape[0], max(1, lo2.shape[0] // 3)):
        assert_range_enclosed(y.lo[r], y.hi[r], elo[r % rows], ehi[r % rows], f"batched row {r}")
