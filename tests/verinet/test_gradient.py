"""Clarke-gradient enclosures against exact rational gradients (Zhou et al. 2023; STYLE habit 13).

For piecewise-linear networks the exact gradient of ``cᵀ f`` at a rational point is ``cᵀ W_L D_{L−1} ⋯
D_1 W_1`` with ``D_k`` the activation slopes. At a point where some pre-activations are exactly 0 (a
kink) every choice of one-sided slope (0 or 1 for ReLU, α or 1 for leaky ReLU) at those neurons is
checked: the Clarke gradient is the convex hull of the realised ones, and the interval chain rule must
contain all of them. Checked for the modes reverse, forward and both, for ``jacobian_enclosure``, for
batches, for boxes whose corners or centres sit exactly on kinks, plus:

* monotonicity: the enclosure over each half of a split box is inside the enclosure over the box;
* mean-value inclusion: exact finite-difference slopes ``(f(x + h e_i) − f(x))/h`` between two points of a
  box lie in the enclosure over that box (the slope is an average of Clarke gradients on the segment);
* sigmoid/tanh networks: 200-bit mpmath interval gradients lie inside the enclosure;
* reference values of the paper's accuracy table (``tests/data/seed``).

No tolerances except in ``test_tightness_*``.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers
from helpers import assert_encloses, assert_iv_enclosed, hyp

from intervals.array import IntervalArray
from verinet.bounds.backends import make_backend
from verinet.bounds.gradient import (
    gradient_enclosure,
    gradient_from_bounds,
    jacobian_enclosure,
)
from verinet.network import Layer, Network
from verinet.bounds.propagation import propagate

MODES = ("reverse", "forward", "both")


@st.composite
def net_case(draw, smooth: bool = False, max_out: int = 3):
    seed = draw(st.integers(0, 2**32 - 1))
    depth = draw(st.integers(1, 4))
    n_in = draw(st.integers(1, 6))
    widths = [draw(st.integers(1, 20 if depth <= 2 else 10)) for _ in range(depth)]
    n_out = draw(st.integers(1, max_out))
    names = ("sigmoid", "tanh", "identity") if smooth else helpers.HIDDEN_ACTIVATIONS
    acts = [draw(st.sampled_from(names)) for _ in range(depth)] + ["identity"]
    kind = draw(st.sampled_from(["float", "dyadic", "decimal"]))
    alpha = draw(st.sampled_from(["0.0625", "0.01", "0"]))
    return seed, [n_in] + widths + [n_out], acts, kind, alpha


def make_spec(rng, sizes, acts, kind, alpha="0.0625"):
    return helpers.random_spec(rng, sizes, acts, exact_decimals=(kind == "decimal"),
                               dyadic_bits=(8 if kind == "dyadic" else None), alpha=alpha)


def coefficients(rng, m: int):
    """An output index or an exact float combination (e.g. a logit margin)."""
    if m > 1 and rng.integers(0, 2):
        c = [0.0] * m
        i, j = rng.choice(m, 2, replace=False)
        c[i], c[j] = 1.0, -0.5
        return c, c
    k = int(rng.integers(0, m))
    c = [0.0] * m
    c[k] = 1.0
    return k, c


def check_gradient(spec, net, lo, hi, points, output, c, rng, what=""):
    encs = {mode: gradient_enclosure(net, lo, hi, output=output, mode=mode) for mode in MODES}
    for mode, g in encs.items():
        assert g.shape == (len(lo),), (mode, g.shape)
        assert not np.isnan(g.lo).any() and not np.isnan(g.hi).any(), (mode, g)
    for p in points:
        grads, kinks = helpers.clarke_candidates(spec, p, c, rng=rng)
        for mode, g in encs.items():
            for gr in grads:
                assert_encloses(g.lo, g.hi, np.array(gr, dtype=object),
                                f"{what} {mode} gradient at {[str(v) for v in p]} (kinks {kinks})")
    return encs


def check_jacobian(spec, net, lo, hi, points, rng, what=""):
    m = spec.sizes[-1]
    jacs = {mode: jacobian_enclosure(net, lo, hi, mode=mode) for mode in MODES}
    for mode, J in jacs.items():
        assert J.shape == (m, len(lo)), (mode, J.shape)
    for p in points:
        for j in range(m):
            e = [0] * m
            e[j] = 1
            grads, _ = helpers.clarke_candidates(spec, p, e, rng=rng)
            for mode, J in jacs.items():
                for gr in grads:
                    assert_encloses(J.lo[j], J.hi[j], np.array(gr, dtype=object), f"{what} {mode} Jacobian row {j}")
    return jacs


def box_around(rng, c: np.ndarray, kind: str):
    if kind == "point":
        return c.copy(), c.copy()
    r = np.abs(rng.standard_normal(len(c))) * (1.0 if kind == "wide" else 1e-6)
    return c - r, c + r


# --------------------------------------------------------------------------------------------------
# containment at random points
# --------------------------------------------------------------------------------------------------


@hyp(40)
@given(net_case(), st.sampled_from(["wide", "small", "point"]))
def test_gradient_contains_exact_gradients(case, box_kind):
    seed, sizes, acts, kind, alpha = case
    rng = np.random.default_rng(seed)
    spec = make_spec(rng, sizes, acts, kind, alpha)
    net = spec.build()
    c0 = np.array([float(v) for v in helpers.dyadic_point(rng, sizes[0], bits=10, scale=2.0)])
    lo, hi = box_around(rng, c0, box_kind)
    output, c = coefficients(rng, sizes[-1])
    pts = helpers.random_points_in_box(rng, lo, hi, 8)
    check_gradient(spec, net, lo, hi, pts, output, c, rng)


@hyp(25)
@given(net_case(max_out=4), st.sampled_from(["wide", "small", "point"]))
def test_jacobian_contains_exact_jacobians(case, box_kind):
    seed, sizes, acts, kind, alpha = case
    rng = np.random.default_rng(seed)
    spec = make_spec(rng, sizes, acts, kind, alpha)
    net = spec.build()
    c0 = rng.standard_normal(sizes[0])
    lo, hi = box_around(rng, c0, box_kind)
    check_jacobian(spec, net, lo, hi, helpers.random_points_in_box(rng, lo, hi, 5), rng)


@hyp(15)
@given(net_case())
def test_batched_gradient_and_jacobian(case):
    seed, sizes, acts, kind, alpha = case
    rng = np.random.default_rng(seed)
    spec = make_spec(rng, sizes, acts, kind, alpha)
    net = spec.build()
    B = 4
    c0 = rng.standard_normal((B, sizes[0]))
    r = np.abs(rng.standard_normal((B, sizes[0]))) * np.array([0.0, 1e-6, 0.1, 1.0])[:, None]
    lo, hi = c0 - r, c0 + r
    output, c = coefficients(rng, sizes[-1])
    for mode in MODES:
        g = gradient_enclosure(net, lo, hi, output=output, mode=mode)
        J = jacobian_enclosure(net, lo, hi, mode=mode)
        assert g.shape == (B, sizes[0]) and J.shape == (B, sizes[-1], sizes[0])
        for b in range(B):
            for p in helpers.random_points_in_box(rng, lo[b], hi[b], 3, include_corners=1):
                for gr in helpers.clarke_candidates(spec, p, c)[0]:
                    assert_encloses(g.lo[b], g.hi[b], np.array(gr, dtype=object), f"batched {mode} box {b}")
                for j in range(sizes[-1]):
                    e = [int(i == j) for i in range(sizes[-1])]
                    for gr in helpers.clarke_candidates(spec, p, e)[0]:
                        assert_encloses(J.lo[b, j], J.hi[b, j], np.array(gr, dtype=object), f"batched Jacobian {mode}")


# --------------------------------------------------------------------------------------------------
# kinks: every combination of one-sided derivatives
# --------------------------------------------------------------------------------------------------


@hyp(40)
@given(net_case(), st.sampled_from(["point", "corner", "inside"]))
def test_kink_points_every_one_sided_combination(case, where):
    seed, sizes, acts, kind, alpha = case
    rng = np.random.default_rng(seed)
    if kind == "float":
        kind = "dyadic"  # biases that put a kink at a float point must be exact floats
    spec = make_spec(rng, sizes, acts, kind, alpha)
    x0 = helpers.dyadic_point(rng, sizes[0], bits=6)
    kinks = helpers.kink_neurons(rng, spec, 3)
    spec = helpers.place_kinks(spec, x0, kinks)
    net = spec.build()
    c = np.array([float(v) for v in x0])
    lo, hi = helpers.kink_box(rng, c, where)
    output, cvec = coefficients(rng, sizes[-1])
    _, found = helpers.clarke_candidates(spec, x0, cvec)
    assert set(kinks) <= set(found)
    pts = [x0] + (helpers.random_points_in_box(rng, lo, hi, 4) if where != "point" else [])
    check_gradient(spec, net, lo, hi, pts, output, cvec, rng, what=f"kink box ({where})")
    check_jacobian(spec, net, lo, hi, [x0], rng, what=f"kink box ({where})")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "act, alpha, lo, hi, expected",
    [
        ("relu", 0, 0.0, 0.0, (0, 1)),  # exactly at the kink: [0, 1], not a pick
        ("relu", 0, -1.0, 0.0, (0, 1)),  # touching 0 from below
        ("relu", 0, 0.0, 1.0, (0, 1)),  # touching 0 from above
        ("relu", 0, -1.0, 1.0, (0, 1)),
        ("relu", 0, 0.5, 1.0, (1, 1)),
        ("relu", 0, -1.0, -0.5, (0, 0)),
        ("leaky_relu", "0.25", 0.0, 0.0, (Fraction(1, 4), 1)),
        ("leaky_relu", "0.1", -1.0, 0.0, (Fraction(1, 10), 1)),  # α = 0.1 is enclosed, not rounded
        ("leaky_relu", "0.1", -1.0, -0.5, (Fraction(1, 10), Fraction(1, 10))),
    ],
)
def test_unit_kink_enclosure(mode, act, alpha, lo, hi, expected):
    """f(x) = σ(x): the enclosure over the box contains every Clarke derivative there."""
    net = Network((Layer.from_exact([["1"]], ["0"], act, alpha), Layer.from_exact([["1"]], ["0"], "identity")))
    g = gradient_enclosure(net, [lo], [hi], mode=mode)
    for v in expected:
        assert g.lo[0] <= v <= g.hi[0], (g, v)
    J = jacobian_enclosure(net, [lo], [hi], mode=mode)
    for v in expected:
        assert J.lo[0, 0] <= v <= J.hi[0, 0]


def test_docstring_example_two_relus():
    """f(x) = 2 relu(x) + relu(−x) on [−1, 1]: Clarke gradients range over [−1, 2]."""
    net = Network((Layer.from_exact([["1"], ["-1"]], ["0", "0"]), Layer.from_exact([["2", "1"]], ["0"], "identity")))
    for mode in MODES:
        g = gradient_enclosure(net, [-1.0], [1.0], mode=mode)
        assert g.lo[0] <= -1 and g.hi[0] >= 2
        g0 = gradient_enclosure(net, [0.0], [0.0], mode=mode)  # the kink alone: slopes -1 (left) .. 2 (right)
        assert g0.lo[0] <= -1 and g0.hi[0] >= 2


# --------------------------------------------------------------------------------------------------
# monotonicity and mean-value inclusion
# --------------------------------------------------------------------------------------------------


def _within(part: IntervalArray, whole: IntervalArray, rel: float = 1e-12) -> bool:
    """``part ⊆ whole`` up to ``rel`` times the magnitude of ``whole`` (tightness, not soundness)."""
    tol = rel * np.maximum(np.maximum(np.abs(whole.lo), np.abs(whole.hi)), 1.0)
    return bool(np.all((part.lo >= whole.lo - tol) & (part.hi <= whole.hi + tol)))


@hyp(25)
@given(net_case(), st.integers(0, 5))
def test_tightness_monotone_under_splitting(case, axis_seed):
    """Each half of a split box has an enclosure inside the box's enclosure, up to rounding slack.

    Not exact: the a-priori rounding allowance of the midpoint–radius products (``γ_n |W||m|`` and the
    final outward steps) depends on the midpoint ``m``, so a half box can stick out by an ulp (seen:
    a pre-activation upper bound 1.9705594834104565 for the half vs 1.970559483410456 for the box). This
    is not a soundness issue; callers that need monotone bounds intersect with the parent's enclosure.
    """
    seed, sizes, acts, kind, alpha = case
    rng = np.random.default_rng(seed)
    spec = make_spec(rng, sizes, acts, kind, alpha)
    net = spec.build()
    c = rng.standard_normal(sizes[0])
    r = np.abs(rng.standard_normal(sizes[0])) * 0.5
    box = IntervalArray(c - r, c + r)
    axis = axis_seed % sizes[0]
    output, _ = coefficients(rng, sizes[-1])
    for mode in MODES:
        whole = gradient_enclosure(net, box.lo, box.hi, output=output, mode=mode)
        wholeJ = jacobian_enclosure(net, box.lo, box.hi, mode=mode)
        for half in box.split(axis):
            part = gradient_enclosure(net, half.lo, half.hi, output=output, mode=mode)
            assert _within(part, whole), (mode, part, whole)
            assert _within(jacobian_enclosure(net, half.lo, half.hi, mode=mode), wholeJ), mode


@hyp(30)
@given(net_case(), st.sampled_from(["wide", "small", "kink"]))
def test_finite_difference_slopes_lie_in_enclosure(case, box_kind):
    """Mean-value inclusion: (f(x + h e_i) − f(x))/h, computed exactly, lies in G(box)_i."""
    seed, sizes, acts, kind, alpha = case
    rng = np.random.default_rng(seed)
    if box_kind == "kink" and kind == "float":
        kind = "dyadic"
    spec = make_spec(rng, sizes, acts, kind, alpha)
    x0 = helpers.dyadic_point(rng, sizes[0], bits=6)
    if box_kind == "kink":
        spec = helpers.place_kinks(spec, x0, helpers.kink_neurons(rng, spec, 3))
    net = spec.build()
    c = np.array([float(v) for v in x0])
    r = np.abs(rng.standard_normal(len(c))) * (1e-6 if box_kind == "small" else 0.5) + 2.0**-30
    lo, hi = c - r, c + r
    output, cvec = coefficients(rng, sizes[-1])
    encs = {mode: gradient_enclosure(net, lo, hi, output=output, mode=mode) for mode in MODES}

    def f(x):
        return sum(Fraction(ci) * yi for ci, yi in zip(cvec, helpers.exact_forward(spec, x)[1]))

    L = [Fraction(v) for v in lo]
    H = [Fraction(v) for v in hi]
    for i in range(len(c)):
        for _ in range(3):
            x = [L[j] + (H[j] - L[j]) * Fraction(int(rng.integers(0, 2**16 + 1)), 2**16) for j in range(len(c))]
            if box_kind == "kink" and rng.integers(0, 2):
                x = list(x0)  # start exactly at the kinks
            t = L[i] + (H[i] - L[i]) * Fraction(int(rng.integers(0, 2**16 + 1)), 2**16)
            h = t - x[i]
            if h == 0:
                continue
            x2 = list(x)
            x2[i] = t
            slope = (f(x2) - f(x)) / h
            for mode, g in encs.items():
                assert helpers.contains(g.lo[i], g.hi[i], slope), (
                    f"{mode}: slope {float(slope)!r} along x{i} not in [{g.lo[i]!r}, {g.hi[i]!r}]"
                )


# --------------------------------------------------------------------------------------------------
# smooth activations
# --------------------------------------------------------------------------------------------------


@hyp(12)
@given(net_case(smooth=True), st.sampled_from(["wide", "small", "point"]))
def test_smooth_gradients_contain_high_precision_values(case, box_kind):
    seed, sizes, acts, kind, _ = case
    rng = np.random.default_rng(seed)
    sizes = [min(s, 6) for s in sizes]
    spec = make_spec(rng, sizes, acts, kind)
    net = spec.build()
    c0 = np.array([float(v) for v in helpers.dyadic_point(rng, sizes[0], bits=10)])
    lo, hi = box_around(rng, c0, box_kind)
    output, cvec = coefficients(rng, sizes[-1])
    encs = {mode: gradient_enclosure(net, lo, hi, output=output, mode=mode) for mode in MODES}
    for p in helpers.random_points_in_box(rng, lo, hi, 2, include_corners=1):
        _, g = helpers.iv_gradient(spec, p, cvec, prec=200)
        for mode, enc in encs.items():
            assert_iv_enclosed(enc.lo, enc.hi, g, f"smooth {mode} gradient")


# --------------------------------------------------------------------------------------------------
# reference values (Zhou et al. 2023, accuracy table; tests/data/seed)
# --------------------------------------------------------------------------------------------------


def _l1_interval(g) -> tuple[Fraction, Fraction]:
    """Exact [Σ mig, Σ mag] of an interval vector."""
    a = g.abs()
    return sum((Fraction(v) for v in a.lo), Fraction(0)), sum((Fraction(v) for v in a.hi), Fraction(0))


@pytest.mark.parametrize("mode", ["auto", *MODES])
@pytest.mark.parametrize("name", ["iris", "mnist_784_10_10_2"])
def test_seed_single_pattern_reference(seed, name, mode):
    net, spec, lo, hi, qry, expected = seed(name)
    g = gradient_enclosure(net, lo, hi, output=qry["output_index"], mode=mode)
    mig, mag = _l1_interval(g)
    assert mig <= expected <= mag, (name, mode, float(mig), float(mag))
    # the exact gradient at the centre (one activation pattern over the box) is inside too
    centre = [(Fraction(a) + Fraction(b)) / 2 for a, b in zip(lo, hi)]
    c = [0] * spec.sizes[-1]
    c[qry["output_index"]] = 1
    for gr in helpers.clarke_candidates(spec, centre, c)[0]:
        assert_encloses(g.lo, g.hi, np.array(gr, dtype=object), f"{name} centre gradient")


@pytest.mark.parametrize("mode", ["auto", "reverse", "both"])
def test_tightness_iris_reference(seed, mode):
    net, _, lo, hi, qry, expected = seed("iris")
    mig, mag = _l1_interval(gradient_enclosure(net, lo, hi, output=qry["output_index"], mode=mode))
    assert (mag - mig) < Fraction(1e-13) * expected


@pytest.mark.parametrize("mode", ["auto", *MODES])
@pytest.mark.parametrize("name", ["random01", "random02"])
def test_seed_kink_at_centre_reference(seed, name, mode):
    """Both hidden ReLUs have their kink at the centre: Σ mig = 0 and Σ mag ≥ the true constant."""
    net, spec, lo, hi, qry, expected = seed(name)
    g = gradient_enclosure(net, lo, hi, output=qry["output_index"], mode=mode)
    mig, mag = _l1_interval(g)
    assert mig == 0
    assert mag >= expected, (name, mode, float(mag))
    # the kinks pass within ~1e-16 of the (decimal) centre: all four activation patterns occur in the box
    c = [0] * spec.sizes[-1]
    c[qry["output_index"]] = 1
    # exact crossing point x* of the two kink lines (2x2 system in Fractions), then x* + ε W1⁻¹ s for the
    # four sign vectors s: points of the box realising each activation pattern
    (a, b), (cc, d) = spec.weights[0]
    b1, b2 = spec.biases[0]
    det = a * d - b * cc
    inv = [[d / det, -b / det], [-cc / det, a / det]]
    xs = [inv[0][0] * -b1 + inv[0][1] * -b2, inv[1][0] * -b1 + inv[1][1] * -b2]
    assert all(Fraction(lo[i]) < xs[i] < Fraction(hi[i]) for i in range(2))
    grads, kinks = helpers.clarke_candidates(spec, xs, c)
    assert len(kinks) == 2 and len(grads) == 4
    pts = [xs]
    for s1 in (-1, 1):
        for s2 in (-1, 1):
            dv = [inv[0][0] * s1 + inv[0][1] * s2, inv[1][0] * s1 + inv[1][1] * s2]
            eps = Fraction(1, 10**9) / max(abs(v) for v in dv)
            pts.append([xs[i] + eps * dv[i] for i in range(2)])
    patterns = {}
    for p in pts:
        assert all(Fraction(lo[i]) <= p[i] <= Fraction(hi[i]) for i in range(2))
        pre, _ = helpers.exact_forward(spec, p)
        grads, _ = helpers.clarke_candidates(spec, p, c)
        if all(v != 0 for v in pre[0]):
            patterns[tuple(v > 0 for v in pre[0])] = grads[0]
        for gr in grads:
            assert_encloses(g.lo, g.hi, np.array(gr, dtype=object), f"{name} gradient at a point of the box")
    assert len(patterns) == 4
    # the true constant is the largest l1 norm over the realised patterns; the enclosure's Σ mag covers it
    best = max(sum(abs(v) for v in gr) for gr in patterns.values())
    assert best <= mag


@pytest.mark.parametrize("name", ["random01", "random02"])
def test_tightness_kink_seed_upper_bound(seed, name):
    net, _, lo, hi, qry, expected = seed(name)
    _, mag = _l1_interval(gradient_enclosure(net, lo, hi, output=qry["output_index"]))
    assert mag <= expected * (1 + Fraction(1e-13)), float(mag / expected - 1)


# --------------------------------------------------------------------------------------------------
# API errors and the backend-level entry point
# --------------------------------------------------------------------------------------------------


def test_bad_arguments_raise_value_error():
    net = Network((Layer.from_exact([["1", "2"]], ["0"], "identity"),))
    with pytest.raises(ValueError, match="mode"):
        gradient_enclosure(net, [0.0, 0.0], [1.0, 1.0], mode="sideways")
    with pytest.raises(ValueError, match="out of range"):
        gradient_enclosure(net, [0.0, 0.0], [1.0, 1.0], output=3)
    with pytest.raises(ValueError, match="coordinates"):
        gradient_enclosure(net, [0.0], [1.0])
    with pytest.raises(ValueError, match="float64"):
        gradient_enclosure(net, [0.0, 0.0], [1.0, 1.0], output=["0.1"])


def test_gradient_from_bounds_matches_public_entry_point():
    rng = np.random.default_rng(2)
    spec = make_spec(rng, [3, 8, 8, 2], ["relu", "leaky_relu", "identity"], "float")
    net = spec.build()
    lo, hi = -np.ones(3) * 0.3, np.ones(3) * 0.2
    backend = make_backend(net)
    bounds = propagate(backend, backend.box(lo, hi))
    for mode in MODES:
        g1 = backend.to_float(gradient_from_bounds(backend, bounds, np.array([1.0, 0.0]), mode))
        g2 = gradient_enclosure(net, lo, hi, output=0, mode=mode)
        assert np.array_equal(g1.lo, g2.lo) and np.array_equal(g1.hi, g2.hi)
    assert math.isfinite(float(g2.hi.sum()))
