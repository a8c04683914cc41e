"""Interval bound propagation against exact rational forward passes.

Random networks (1–4 hidden layers, widths 1–20, 1–6 inputs; ReLU, leaky ReLU, identity; weights that
are arbitrary floats, few-bit dyadic floats, or decimal strings read with ``Layer.from_exact``), random
boxes, boxes with a corner exactly on a ReLU kink and zero-width boxes at kinks. For every sampled
rational point of the box, the exact output and every exact pre-activation must lie in the enclosures
(``propagate`` / ``output_bounds``). Also: batches, unbounded boxes, monotonicity under splitting,
and sigmoid/tanh networks against a 200-bit mpmath interval forward pass. No tolerances.
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

from verinet.bounds.backends import make_backend
from verinet.network import Layer, Network
from verinet.bounds.propagation import output_bounds, propagate

INF = math.inf


# --------------------------------------------------------------------------------------------------
# random cases
# --------------------------------------------------------------------------------------------------


@st.composite
def net_case(draw, smooth: bool = False):
    seed = draw(st.integers(0, 2**32 - 1))
    depth = draw(st.integers(1, 4))
    n_in = draw(st.integers(1, 6))
    widths = [draw(st.integers(1, 20 if depth <= 2 else 10)) for _ in range(depth)]
    n_out = draw(st.integers(1, 3))
    names = ("sigmoid", "tanh", "identity") if smooth else helpers.HIDDEN_ACTIVATIONS
    acts = [draw(st.sampled_from(names)) for _ in range(depth)] + ["identity"]
    kind = draw(st.sampled_from(["float", "dyadic", "decimal"]))
    alpha = draw(st.sampled_from(["0.0625", "0.01", "0"]))
    return seed, [n_in] + widths + [n_out], acts, kind, alpha


def make_spec(rng, sizes, acts, kind, alpha="0.0625"):
    return helpers.random_spec(rng, sizes, acts, exact_decimals=(kind == "decimal"),
                               dyadic_bits=(8 if kind == "dyadic" else None), alpha=alpha)


def random_box(rng, x0, kind: str):
    """A box around the rational point ``x0`` (float endpoints). ``kind``: 'wide', 'small', 'point'."""
    n = len(x0)
    c = np.array([float(v) for v in x0])
    if kind == "point":
        return c.copy(), c.copy()
    r = np.abs(rng.standard_normal(n)) * (1.0 if kind == "wide" else 1e-6)
    return c - r, c + r


def check_box(spec, net, lo, hi, rng, n_points: int = 12):
    """Exact pre-activations and outputs at points of the box lie in propagate()'s enclosures."""
    backend = make_backend(net)
    bounds = propagate(backend, backend.box(lo, hi))
    out = output_bounds(net, lo, hi)
    for p in helpers.random_points_in_box(rng, lo, hi, n_points):
        pre, y = helpers.exact_forward(spec, p)
        for k, z in enumerate(pre):
            assert_encloses(bounds.pre[k].lo, bounds.pre[k].hi, np.array(z, dtype=object), f"layer {k} pre-activation")
        assert_encloses(out.lo, out.hi, np.array(y, dtype=object), "output")
    return out


@hyp(40)
@given(net_case(), st.sampled_from(["wide", "small", "point"]))
def test_output_bounds_contain_exact_outputs(case, box_kind):
    seed, sizes, acts, kind, alpha = case
    rng = np.random.default_rng(seed)
    spec = make_spec(rng, sizes, acts, kind, alpha)
    net = spec.build()
    x0 = helpers.dyadic_point(rng, sizes[0], bits=10, scale=2.0)
    lo, hi = random_box(rng, x0, box_kind)
    check_box(spec, net, lo, hi, rng)


@hyp(30)
@given(net_case(), st.sampled_from(["corner", "point", "inside"]))
def test_kink_boxes(case, where):
    """Boxes whose corner (or centre, or the whole zero-width box) sits exactly on ReLU kinks."""
    seed, sizes, acts, kind, alpha = case
    rng = np.random.default_rng(seed)
    if kind == "float":
        kind = "dyadic"  # kinks at float points need biases that are exact floats: few-bit weights
    spec = make_spec(rng, sizes, acts, kind, alpha)
    x0 = helpers.dyadic_point(rng, sizes[0], bits=6)
    kinks = helpers.kink_neurons(rng, spec, 2)
    spec = helpers.place_kinks(spec, x0, kinks)
    net = spec.build()
    c = np.array([float(v) for v in x0])
    assert all(Fraction(v) == q for v, q in zip(c, x0))
    pre, _ = helpers.exact_forward(spec, x0)
    assert all(pre[k][i] == 0 for k, i in kinks)
    lo, hi = helpers.kink_box(rng, c, where)
    check_box(spec, net, lo, hi, rng)


@hyp(20)
@given(net_case())
def test_batched_boxes(case):
    """A batch (B, n) of boxes: every box's enclosure contains its exact outputs."""
    seed, sizes, acts, kind, alpha = case
    rng = np.random.default_rng(seed)
    spec = make_spec(rng, sizes, acts, kind, alpha)
    net = spec.build()
    B = 5
    c = rng.standard_normal((B, sizes[0]))
    r = np.abs(rng.standard_normal((B, sizes[0]))) * np.array([0, 1e-3, 0.1, 1, 3])[:, None]
    lo, hi = c - r, c + r
    out = output_bounds(net, lo, hi)
    assert out.shape == (B, sizes[-1])
    for b in range(B):
        for p in helpers.random_points_in_box(rng, lo[b], hi[b], 6):
            _, y = helpers.exact_forward(spec, p)
            assert_encloses(out.lo[b], out.hi[b], np.array(y, dtype=object), f"batch box {b}")


@hyp(25)
@given(net_case(), st.integers(0, 5))
def test_tightness_monotone_under_splitting(case, axis_seed):
    """Each half of a split box has an output enclosure inside the box's one, up to rounding slack.

    Not exact (see ``test_gradient.test_tightness_monotone_under_splitting``): the midpoint–radius
    rounding allowance depends on the midpoint, so a half can stick out by an ulp.
    """
    from intervals.array import IntervalArray

    seed, sizes, acts, kind, alpha = case
    rng = np.random.default_rng(seed)
    spec = make_spec(rng, sizes, acts, kind, alpha)
    net = spec.build()
    c = rng.standard_normal(sizes[0])
    lo, hi = c - 0.5, c + 0.5
    box = IntervalArray(lo, hi)
    whole = output_bounds(net, lo, hi)
    for half in box.split(axis_seed % sizes[0]):
        part = output_bounds(net, half.lo, half.hi)
        tol = 1e-12 * np.maximum(np.maximum(np.abs(whole.lo), np.abs(whole.hi)), 1.0)
        assert np.all((part.lo >= whole.lo - tol) & (part.hi <= whole.hi + tol)), (part, whole)


# --------------------------------------------------------------------------------------------------
# unbounded boxes, leaky ReLU slope 0, smooth activations
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", ["0", "0.25"])
@pytest.mark.parametrize("act", ["relu", "leaky_relu", "identity"])
def test_unbounded_boxes_never_nan(act, alpha):
    rng = np.random.default_rng(4)
    spec = helpers.random_spec(rng, [3, 6, 5, 2], act, dyadic_bits=8, alpha=alpha)
    net = spec.build()
    lo = np.array([-INF, 0.0, -1.0])
    hi = np.array([1.0, INF, 2.0])
    out = output_bounds(net, lo, hi)
    assert not np.isnan(out.lo).any() and not np.isnan(out.hi).any(), out
    for x in ([-1e6, 3.0, 0.5], [1.0, 0.0, -1.0], [-5.0, 1e9, 2.0]):
        _, y = helpers.exact_forward(spec, [Fraction(v) for v in x])
        assert_encloses(out.lo, out.hi, np.array(y, dtype=object), "unbounded box")


def test_issue_leaky_relu_zero_slope_unbounded_box():
    """Leaky ReLU with α = 0 on z ∈ [−inf, 1]: ``0 · (−inf)`` must not produce a NaN lower bound."""
    net = Network((Layer.from_floats([[1.0]], [0.0], "leaky_relu", alpha=0),
                   Layer.from_floats([[1.0]], [0.0], "identity")))
    out = output_bounds(net, [-INF], [1.0])
    assert not np.isnan(out.lo).any(), out
    assert out.lo[0] <= 0.0 and out.hi[0] >= 1.0


def test_interval_weights_with_unbounded_box_raise_clearly():
    net = Network((Layer.from_exact([["0.1"]], ["0"], "identity"),))
    with pytest.raises(ValueError, match="unbounded"):
        output_bounds(net, [-INF], [1.0])


@hyp(12)
@given(net_case(smooth=True), st.sampled_from(["wide", "small", "point"]))
def test_smooth_networks_contain_high_precision_outputs(case, box_kind):
    seed, sizes, acts, kind, _ = case
    rng = np.random.default_rng(seed)
    sizes = [min(s, 6) for s in sizes]
    spec = make_spec(rng, sizes, acts, kind)
    net = spec.build()
    x0 = helpers.dyadic_point(rng, sizes[0], bits=10)
    lo, hi = random_box(rng, x0, box_kind)
    out = output_bounds(net, lo, hi)
    for p in helpers.random_points_in_box(rng, lo, hi, 3, include_corners=2):
        y, _ = helpers.iv_gradient(spec, p, [1] + [0] * (sizes[-1] - 1), prec=200)
        assert_iv_enclosed(out.lo, out.hi, y, "smooth network output")


def test_exact_evaluator_agrees_with_oracle():
    """``Network.evaluate_exact`` (used by certificate checks) matches the independent oracle."""
    rng = np.random.default_rng(9)
    for kind in ("float", "decimal"):
        spec = make_spec(rng, [4, 7, 3], ["leaky_relu", "identity"], kind, "0.01")
        net = spec.build()
        x = helpers.dyadic_point(rng, 4)
        assert net.evaluate_exact(x) == helpers.exact_forward(spec, x)[1]
