"""Sound linear bound propagation (``verinet.bounds.linear``) against exact rational forward passes.

Random ReLU / leaky-ReLU / identity networks (depth 1–4, widths 2–10; weights that are full-precision
floats, few-bit dyadic floats, or decimal strings read with ``Layer.from_exact``, i.e. interval weights in
float64), random boxes, boxes with a corner or the centre exactly on ReLU kinks, zero-width boxes, and
networks with weights scaled to 2^±500 or to subnormals. At every sampled rational point (all corners for
up to 4 inputs) the exact pre-activations, outputs and objectives ``C y`` must lie in the enclosures,
compared exactly (no tolerance). The enclosures must also lie inside the interval (IBP) ones, and be
tighter on deeper networks (``test_tightness_*``, the only tests with an inequality that is not a
soundness claim). Also: the compiled kernels against their pure-Python twins, networks mixing ReLU and sigmoid/tanh layers, the
API (shapes, batches, ``IntervalArray`` boxes, errors) and one ACAS Xu network.
"""

from __future__ import annotations

import itertools
import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers  # noqa: E402
from helpers import assert_encloses, assert_iv_enclosed, hyp  # noqa: E402

from intervals.array import IntervalArray  # noqa: E402
from verinet.bounds.backends import make_backend  # noqa: E402
from verinet.bounds.linear import _concretize, _relax_step, linear_objective_bounds, linear_propagate  # noqa: E402
from verinet.network import Layer, Network  # noqa: E402
from verinet.bounds.propagation import LayerBounds, propagate  # noqa: E402

INF = math.inf
ACASXU = Path(__file__).resolve().parents[1] / "data" / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx"


# --------------------------------------------------------------------------------------------------
# cases and checks
# --------------------------------------------------------------------------------------------------


@st.composite
def net_case(draw, max_depth: int = 4):
    seed = draw(st.integers(0, 2**32 - 1))
    depth = draw(st.integers(1, max_depth))
    n_in = draw(st.integers(1, 5))
    widths = [draw(st.integers(2, 10)) for _ in range(depth)]
    n_out = draw(st.integers(1, 3))
    acts = [draw(st.sampled_from(["relu", "relu", "leaky_relu", "identity"])) for _ in range(depth)]
    kind = draw(st.sampled_from(["float", "dyadic", "decimal"]))
    alpha = draw(st.sampled_from(["0.0625", "0.01", "0"]))
    return seed, [n_in] + widths + [n_out], acts + ["identity"], kind, alpha


def make_spec(rng, sizes, acts, kind, alpha="0.0625"):
    return helpers.random_spec(rng, sizes, acts, exact_decimals=(kind == "decimal"),
                               dyadic_bits=(8 if kind == "dyadic" else None), alpha=alpha)


def random_box(rng, x0, kind: str):
    """A box around the rational point ``x0`` (float endpoints): 'wide', 'small' or 'point'."""
    c = np.array([float(v) for v in x0])
    if kind == "point":
        return c.copy(), c.copy()
    r = np.abs(rng.standard_normal(len(c))) * (1.0 if kind == "wide" else 1e-6)
    return c - r, c + r


def box_points(rng, lo, hi, n_random: int = 8):
    """Exact rational points: every corner (up to 4 inputs, else 8 random corners), centre, random points."""
    lo_q = [Fraction(float(v)) for v in lo]
    hi_q = [Fraction(float(v)) for v in hi]
    n = len(lo_q)
    if n <= 4:
        pts = [[h if bit else lq for lq, h, bit in zip(lo_q, hi_q, bits)]
               for bits in itertools.product((0, 1), repeat=n)]
    else:
        pts = helpers.random_points_in_box(rng, lo, hi, 0, include_corners=8)
    return pts + helpers.random_points_in_box(rng, lo, hi, n_random, include_corners=0)


def assert_inside(inner, outer, what):
    """``inner ⊆ outer`` entrywise (exact float comparison), and no NaN anywhere."""
    for a in (inner.lo, inner.hi, outer.lo, outer.hi):
        assert not np.isnan(a).any(), f"{what}: NaN endpoint"
    bad = (inner.lo < outer.lo) | (inner.hi > outer.hi)
    assert not bad.any(), f"{what}: linear {inner} not inside interval {outer}"


def check_net(spec, net, lo, hi, rng, n_random: int = 8, refine="unstable"):
    """Linear bounds contain the exact values at points of the box and lie inside the IBP bounds."""
    lin = linear_propagate(net, lo, hi, refine=refine)
    backend = make_backend(net)
    ibp = propagate(backend, backend.box(np.asarray(lo), np.asarray(hi)))
    assert len(lin.pre) == len(ibp.pre)
    for k, (a, b) in enumerate(zip(lin.pre, ibp.pre)):
        assert a.shape == b.shape
        assert_inside(a, b, f"layer {k}")
    assert_inside(lin.output, ibp.output, "output")
    for p in box_points(rng, lo, hi, n_random):
        pre, y = helpers.exact_forward(spec, p)
        for k, z in enumerate(pre):
            assert_encloses(lin.pre[k].lo, lin.pre[k].hi, np.array(z, dtype=object), f"layer {k} pre-activation")
        assert_encloses(lin.output.lo, lin.output.hi, np.array(y, dtype=object), "output")
    return lin, ibp


# --------------------------------------------------------------------------------------------------
# (a) soundness against exact values, (b) inside IBP
# --------------------------------------------------------------------------------------------------


@hyp(45)
@given(net_case(), st.sampled_from(["wide", "small", "point"]), st.sampled_from(["unstable", "all"]))
def test_linear_bounds_contain_exact_values(case, box_kind, refine):
    seed, sizes, acts, kind, alpha = case
    rng = np.random.default_rng(seed)
    spec = make_spec(rng, sizes, acts, kind, alpha)
    net = spec.build()
    x0 = helpers.dyadic_point(rng, sizes[0], bits=10, scale=2.0)
    lo, hi = random_box(rng, x0, box_kind)
    check_net(spec, net, lo, hi, rng, refine=refine)


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
    hidden = [k for k in range(len(sizes) - 2) if acts[k] in ("relu", "leaky_relu")]
    kinks = sorted({(k, int(i)) for k in hidden[:2]
                    for i in rng.choice(sizes[k + 1], size=min(sizes[k + 1], 2), replace=False)})
    spec = helpers.place_kinks(spec, x0, kinks)
    net = spec.build()
    c = np.array([float(v) for v in x0])
    pre, _ = helpers.exact_forward(spec, x0)
    assert all(pre[k][i] == 0 for k, i in kinks)
    lo, hi = helpers.kink_box(rng, c, where)
    check_net(spec, net, lo, hi, rng)


@hyp(25)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.sampled_from(["float", "decimal"]))
def test_linear_networks_at_points_are_enclosed_despite_rounding(seed, depth, kind):
    """All-identity networks with full-precision weights on zero-width boxes: the linear bound is the
    exact value up to rounding only, so a missing rounding-error term would show up here."""
    rng = np.random.default_rng(seed)
    sizes = [int(v) for v in rng.integers(2, 11, depth + 2)]
    spec = make_spec(rng, sizes, "identity", kind)
    net = spec.build()
    x = np.array([float(v) for v in helpers.dyadic_point(rng, sizes[0], bits=40, scale=3.0)])
    lin = linear_propagate(net, x, x, refine="all")
    pre, y = helpers.exact_forward(spec, [Fraction(v) for v in x])
    for k, z in enumerate(pre):
        assert_encloses(lin.pre[k].lo, lin.pre[k].hi, np.array(z, dtype=object), f"layer {k}")
    assert_encloses(lin.output.lo, lin.output.hi, np.array(y, dtype=object), "output")
    C = rng.standard_normal((2, sizes[-1]))  # full-precision exact float coefficients
    obj = linear_objective_bounds(net, x, x, C)
    exact = [sum((Fraction(C[i, j]) * y[j] for j in range(sizes[-1])), Fraction(0)) for i in range(2)]
    assert_encloses(obj.lo, obj.hi, np.array(exact, dtype=object), "objective")


@hyp(15)
@given(net_case(max_depth=3))
def test_batched_boxes(case):
    """A batch of boxes of very different sizes: each box's enclosures contain its exact values."""
    seed, sizes, acts, kind, alpha = case
    rng = np.random.default_rng(seed)
    spec = make_spec(rng, sizes, acts, kind, alpha)
    net = spec.build()
    B = 5
    c = rng.standard_normal((B, sizes[0]))
    r = np.abs(rng.standard_normal((B, sizes[0]))) * np.array([0, 1e-3, 0.1, 1, 3])[:, None]
    lo, hi = c - r, c + r
    lin = linear_propagate(net, lo, hi)
    assert lin.output.shape == (B, sizes[-1])
    assert [p.shape for p in lin.pre] == [(B, s) for s in sizes[1:]]
    for b in range(B):
        one = linear_propagate(net, lo[b], hi[b])
        assert one.output.shape == (sizes[-1],)
        for p in box_points(rng, lo[b], hi[b], 3):
            pre, y = helpers.exact_forward(spec, p)
            for k, z in enumerate(pre):
                zq = np.array(z, dtype=object)
                assert_encloses(lin.pre[k].lo[b], lin.pre[k].hi[b], zq, f"batch box {b} layer {k}")
                assert_encloses(one.pre[k].lo, one.pre[k].hi, zq, f"single box {b} layer {k}")
            assert_encloses(lin.output.lo[b], lin.output.hi[b], np.array(y, dtype=object), f"batch box {b}")


# --------------------------------------------------------------------------------------------------
# (c) objectives C y
# --------------------------------------------------------------------------------------------------


@hyp(30)
@given(net_case(), st.sampled_from(["wide", "small", "point"]), st.booleans())
def test_objective_bounds_contain_exact_values(case, box_kind, given_bounds):
    seed, sizes, acts, kind, alpha = case
    rng = np.random.default_rng(seed)
    spec = make_spec(rng, sizes, acts, kind, alpha)
    net = spec.build()
    x0 = helpers.dyadic_point(rng, sizes[0], bits=10, scale=2.0)
    lo, hi = random_box(rng, x0, box_kind)
    m = sizes[-1]
    rows = [rng.integers(-2, 3, m).astype(float), rng.standard_normal(m)]  # margins and full-precision rows
    C = np.array(rows)
    bounds = None
    if given_bounds:  # interval bounds are valid intermediate bounds too
        backend = make_backend(net)
        bounds = propagate(backend, backend.box(lo, hi))
    obj = linear_objective_bounds(net, lo, hi, C, bounds=bounds)
    assert obj.shape == (2,)
    for p in box_points(rng, lo, hi, 8):
        _, y = helpers.exact_forward(spec, p)
        exact = [sum((Fraction(C[i, j]) * y[j] for j in range(m)), Fraction(0)) for i in range(2)]
        assert_encloses(obj.lo, obj.hi, np.array(exact, dtype=object), "objective")
    assert not np.isnan(obj.lo).any() and not np.isnan(obj.hi).any()


def test_objective_shapes_and_vector_c():
    net = Network((Layer.from_exact([["1"], ["-1"]], ["0", "0"]),
                   Layer.from_exact([["1", "0"], ["0", "1"]], ["0", "0"], "identity")))
    y = linear_objective_bounds(net, [-1.0], [1.0], [1.0, 1.0])  # relu(x) + relu(-x) = |x| ∈ [0, 1]
    assert y.shape == ()
    assert y.lo <= 0.0 and 1.0 <= y.hi
    yb = linear_objective_bounds(net, np.array([[-1.0], [0.5]]), np.array([[1.0], [0.75]]), [[1.0, 1.0], [1.0, -1.0]])
    assert yb.shape == (2, 2)
    assert yb.lo[1, 0] <= 0.5 and yb.hi[1, 0] >= 0.75
    with pytest.raises(ValueError):
        linear_objective_bounds(net, [-1.0], [1.0], [[1.0, 1.0, 1.0]])
    with pytest.raises(ValueError):
        linear_objective_bounds(net, [-1.0], [1.0], [[np.nan, 1.0]])


def test_tightness_objective_dependency_effect():
    """``C y`` by back-substitution beats ``C`` applied to the output enclosure (dependency effect)."""
    net = Network((Layer.from_exact([["1", "1"], ["1", "-1"]], ["0", "0"]),
                   Layer.from_exact([["1", "0"], ["0", "1"]], ["0", "0"], "identity")))
    lo, hi = np.array([0.5, -0.25]), np.array([1.0, 0.25])  # both neurons active: y1 - y2 = 2 x2
    obj = linear_objective_bounds(net, lo, hi, [[1.0, -1.0]])
    out = linear_propagate(net, lo, hi).output
    naive_width = (out.hi[0] - out.lo[1]) - (out.lo[0] - out.hi[1])
    assert obj.lo[0] <= -0.5 and obj.hi[0] >= 0.5
    assert obj.hi[0] - obj.lo[0] < 1.0 + 1e-12 < naive_width


# --------------------------------------------------------------------------------------------------
# (d) huge, tiny, subnormal and cancelling weights
# --------------------------------------------------------------------------------------------------


def _scaled_spec(rng, sizes, acts, scales):
    spec = helpers.random_spec(rng, sizes, acts, dyadic_bits=10)
    spec.weights = [w * s for w, s in zip(spec.weights, scales)]
    spec.biases = [b * s for b, s in zip(spec.biases, scales)]
    return spec


@pytest.mark.parametrize("scales", [
    (Fraction(2) ** 500, Fraction(2) ** 500, 1),  # overflow of the bounds: ±inf allowed, never NaN
    (Fraction(2) ** 500, Fraction(2) ** -500, 1),  # huge then tiny: finite again
    (Fraction(2) ** -520, Fraction(2) ** -520, Fraction(2) ** 1000),  # underflow in the products
    (Fraction(2) ** -1060, 1, Fraction(2) ** 1000),  # subnormal weights (multiples of 2^-1070)
    (Fraction(2) ** -1070, 1, Fraction(2) ** 1000),  # below the subnormal grid: interval weights
    (Fraction(2) ** 200, Fraction(2) ** 200, Fraction(2) ** 200),
])
@pytest.mark.parametrize("act", ["relu", "leaky_relu"])
def test_extreme_magnitudes_never_nan_and_sound(scales, act):
    rng = np.random.default_rng(11)
    sizes = [3, 6, 5, 2]
    spec = _scaled_spec(rng, sizes, [act, act, "identity"], scales)
    net = spec.build()
    for lo, hi in ((np.array([-1.0, 0.5, -2.0]), np.array([1.0, 0.75, 0.0])),
                   (np.array([0.25, -0.5, 1.0]),) * 2):
        check_net(spec, net, lo, hi, rng, n_random=4)
        C = np.array([[1.0, -1.0], [0.5, 2.0]])
        obj = linear_objective_bounds(net, lo, hi, C)
        assert not np.isnan(obj.lo).any() and not np.isnan(obj.hi).any()
        for p in box_points(rng, lo, hi, 2):
            _, y = helpers.exact_forward(spec, p)
            exact = [Fraction(C[i, 0]) * y[0] + Fraction(C[i, 1]) * y[1] for i in range(2)]
            assert_encloses(obj.lo, obj.hi, np.array(exact, dtype=object), "objective")


def test_cancellation():
    """Rows that cancel exactly (w and −w, plus a tiny perturbation): the tiny remainder must stay enclosed."""
    eps = 2.0**-52
    W1 = [[1.0, 1.0 + eps], [1.0, -1.0], [1e16, -1e16]]
    W2 = [[1.0, -1.0, 1.0], [1e16, 1.0, -1e16]]
    W3 = [[1.0, -1.0]]
    net = Network((Layer.from_floats(W1, [0.0, 0.0, 1.0]), Layer.from_floats(W2, [0.0, -eps]),
                   Layer.from_floats(W3, [eps], "identity")))
    spec = helpers.NetSpec([np.array([[Fraction(v) for v in row] for row in W], dtype=object) for W in (W1, W2, W3)],
                           [np.array([Fraction(v) for v in b], dtype=object) for b in ([0.0, 0.0, 1.0], [0.0, -eps], [eps])],
                           ["relu", "relu", "identity"], [Fraction(0)] * 3)
    rng = np.random.default_rng(3)
    for lo, hi in (([1.0, 1.0], [1.0, 1.0]), ([1.0, 1.0 - eps], [1.0 + eps, 1.0]), ([0.5, 0.5], [2.0, 2.0])):
        check_net(spec, net, np.array(lo), np.array(hi), rng, n_random=4, refine="all")


def test_unbounded_box_falls_back_to_interval_bounds():
    rng = np.random.default_rng(4)
    spec = helpers.random_spec(rng, [3, 6, 2], "relu", dyadic_bits=8)
    net = spec.build()
    lo, hi = np.array([-INF, 0.0, -1.0]), np.array([1.0, INF, 2.0])
    lin = linear_propagate(net, lo, hi)
    obj = linear_objective_bounds(net, lo, hi, [[1.0, -1.0]])
    for a in (lin.output.lo, lin.output.hi, obj.lo, obj.hi):
        assert not np.isnan(a).any()
    _, y = helpers.exact_forward(spec, [Fraction(-1000), Fraction(7), Fraction(0)])
    assert_encloses(lin.output.lo, lin.output.hi, np.array(y, dtype=object), "unbounded box")


# --------------------------------------------------------------------------------------------------
# tightness (not soundness: the only inequalities allowed to be statistical)
# --------------------------------------------------------------------------------------------------


def test_tightness_deeper_networks_beat_interval_bounds():
    rng = np.random.default_rng(2024)
    ratios, unstable_lin, unstable_ibp = [], 0, 0
    for trial in range(12):
        depth = 3 + trial % 2
        sizes = [4] + [int(v) for v in rng.integers(8, 17, depth)] + [3]
        net = helpers.random_spec(rng, sizes, "relu").build()
        c = rng.standard_normal(sizes[0])
        lo, hi = c - 0.3, c + 0.3
        lin = linear_propagate(net, lo, hi)
        backend = make_backend(net)
        ibp = propagate(backend, backend.box(lo, hi))
        ratios.append(float(np.mean(lin.output.hi - lin.output.lo) / np.mean(ibp.output.hi - ibp.output.lo)))
        unstable_lin += sum(int(((p.lo < 0) & (p.hi > 0)).sum()) for p in lin.pre[:-1])
        unstable_ibp += sum(int(((p.lo < 0) & (p.hi > 0)).sum()) for p in ibp.pre[:-1])
    assert max(ratios) <= 1.0
    assert np.mean(ratios) < 0.8, ratios
    assert unstable_lin < unstable_ibp


def test_tightness_objective_vs_output_box():
    rng = np.random.default_rng(5)
    better = 0
    for _ in range(6):
        net = helpers.random_spec(rng, [3, 12, 12, 4], "relu").build()
        c = rng.standard_normal(3)
        lo, hi = c - 0.2, c + 0.2
        C = np.array([[1.0, -1.0, 0.0, 0.0], [0.0, 1.0, 0.0, -1.0]])
        obj = linear_objective_bounds(net, lo, hi, C)
        out = linear_propagate(net, lo, hi).output
        naive_w = (np.abs(C) @ (out.hi - out.lo))
        assert np.all(obj.hi - obj.lo <= naive_w * (1 + 1e-12))
        better += int(np.sum(obj.hi - obj.lo < 0.99 * naive_w))
    assert better >= 6


# --------------------------------------------------------------------------------------------------
# smooth activations, API, kernels
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_mixed_relu_and_smooth_layers_sound(act):
    rng = np.random.default_rng(8)
    spec = helpers.random_spec(rng, [3, 5, 4, 2], ["relu", act, "identity"])
    net = spec.build()
    lo, hi = np.array([-0.5, 0.0, 0.25]), np.array([0.5, 0.5, 0.75])
    lin = linear_propagate(net, lo, hi)
    backend = make_backend(net)
    ibp = propagate(backend, backend.box(lo, hi))
    assert_inside(lin.output, ibp.output, "smooth output")
    obj = linear_objective_bounds(net, lo, hi, [[1.0, -1.0]])
    for p in helpers.random_points_in_box(rng, lo, hi, 2, include_corners=2):
        y, _ = helpers.iv_gradient(spec, p, [1, 0], prec=200)
        assert_iv_enclosed(lin.output.lo, lin.output.hi, y, "smooth network output")
        (a0, b0), (a1, b1) = y
        assert_iv_enclosed(obj.lo, obj.hi, [(a0 - b1, b0 - a1)], "smooth objective")


def test_api_accepts_backend_and_interval_array():
    rng = np.random.default_rng(1)
    net = helpers.random_spec(rng, [2, 5, 3], "relu").build()
    box = IntervalArray([[-1.0, 0.0], [0.0, 0.5]], [[0.0, 1.0], [0.25, 0.5]])
    a = linear_propagate(make_backend(net), box)
    b = linear_propagate(net, box.lo, box.hi)
    assert isinstance(a, LayerBounds)
    assert np.array_equal(a.output.lo, b.output.lo) and np.array_equal(a.output.hi, b.output.hi)
    with pytest.raises(TypeError):
        linear_propagate(make_backend(net, 64), box)
    with pytest.raises(TypeError):
        linear_propagate(net, box.lo)
    with pytest.raises(ValueError):
        linear_propagate(net, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError):
        linear_propagate(net, [1.0, 0.0], [0.0, 1.0])
    with pytest.raises(ValueError):
        linear_propagate(net, box, refine="some")


def _kernel_inputs(rng, B=3, n=7, P_per=(2, 0, 3)):
    seg = np.concatenate([[0], np.cumsum(P_per)]).astype(np.int64)
    P = int(seg[-1])
    T = rng.standard_normal((P, n))
    T[rng.uniform(size=T.shape) < 0.3] = 0.0
    T[0, 1] = -0.0
    sU = rng.uniform(0, 1, (B, n))
    sL = (rng.uniform(size=(B, n)) < 0.5).astype(float)
    kU = rng.uniform(0, 1, (B, n))
    kU[0, 2] = INF
    kL = -rng.uniform(0, 1, (B, n))
    w = rng.uniform(0, 1e-14, (B, n))
    scal = np.full(B, 1e-320)
    acc = rng.standard_normal(P)
    acc[-1] = INF
    return T, seg, sU, sL, kU, kL, w, scal, acc


def test_kernels_match_their_python_twins():
    from verinet.activations._relu_kernels import kinked_lines as _kinked_lines
    from verinet.bounds.linear import _weights

    rng = np.random.default_rng(0)
    B, n = 4, 9
    zl = rng.standard_normal((B, n)) * 3
    zu = zl + np.abs(rng.standard_normal((B, n))) * np.array([0, 1, 5, 1])[:, None]
    zl[0, 0], zu[1, 1], zl[2, 2] = -INF, INF, 0.0
    Ahi = np.maximum(zu, 0.0)
    b = rng.standard_normal(n)
    b[3] = 0.0
    outs = []
    for fn in (_kinked_lines, _kinked_lines.py_func):
        o = [np.empty((B, n)) for _ in range(4)]
        fn(zl, zu, Ahi, 0.0099, 0.0101, b - 1e-17, b, *o)
        outs.append(o)
    for x, y in zip(*outs):
        assert np.array_equal(x, y)
    gma = np.abs(rng.standard_normal((B, n)))
    for wrma in (np.abs(rng.standard_normal((B, n))) * 1e-17, np.empty((0, 0))):
        outs = []
        for fn in (_weights, _weights.py_func):
            o = [np.empty((B, n)), np.empty(B)]
            fn(gma, wrma, 1e-15, 1e-300, np.ones(B), *o)
            outs.append(o)
        for x, y in zip(*outs):
            assert np.array_equal(x, y)
    rng = np.random.default_rng(0)
    T, seg, sU, sL, kU, kL, w, scal, acc = _kernel_inputs(rng)
    args = (T, seg, sU, sL, kU, kL, w, scal, 2e-15, 1.0000000000000002, 7e-323)
    out_c, out_p = np.empty_like(T), np.empty_like(T)
    acc_c, acc_p = acc.copy(), acc.copy()
    r_c = _relax_step(*args, out_c, acc_c)
    r_p = _relax_step.py_func(*args, out_p, acc_p)
    assert r_c == r_p
    assert np.array_equal(out_c, out_p) and np.array_equal(acc_c, acc_p)
    xm = rng.standard_normal((3, 7))
    ax = np.abs(rng.standard_normal((3, 7)))
    acc_c, acc_p = acc.copy(), acc.copy()
    _concretize(T, seg, xm, ax, 1.0000000000000002, 7e-323, acc_c)
    _concretize.py_func(T, seg, xm, ax, 1.0000000000000002, 7e-323, acc_p)
    assert np.array_equal(acc_c, acc_p)
    assert acc_c[-1] == INF  # dead rows stay dead


@pytest.mark.parametrize("scale", [1.0, 2.0**-540, 2.0**-1000, 2.0**500])
def test_relax_step_exact_upper_bound(scale):
    """The kernel's offset is ≥ the exact ``Σ Γ_i k_i + Σ |fl(Γ_i s_i)| w_i + σ`` (checked in Fractions),
    also when the products underflow (the ``nη`` and ``σ`` terms are all that is left there)."""
    from verinet.bounds.linear import _consts

    rng = np.random.default_rng(7)
    for _ in range(20):
        T, seg, sU, sL, kU, kL, w, scal, acc = _kernel_inputs(rng)
        T *= scale
        kU[np.isinf(kU)] = 1.0
        kU *= 2.0**-30 if scale < 1 else 1.0
        kL *= 2.0**-30 if scale < 1 else 1.0
        scal[:] = 1e-318 if scale < 1 else 1e-300
        acc[:] = 0.0
        n = T.shape[1]
        gam, inv, neta = _consts(n)
        Lt = np.empty_like(T)
        _relax_step(T, seg, sU, sL, kU, kL, w, scal, gam, inv, neta, Lt, acc)
        for b in range(len(seg) - 1):
            for p in range(seg[b], seg[b + 1]):
                exact = Fraction(float(scal[b]))
                for i in range(n):
                    g = T[p, i]
                    pos = g >= 0
                    s, k = (sU[b, i], kU[b, i]) if pos else (sL[b, i], kL[b, i])
                    assert Lt[p, i] == g * s
                    exact += Fraction(g) * Fraction(k) + abs(Fraction(Lt[p, i])) * Fraction(w[b, i])
                assert Fraction(acc[p]) >= exact


@pytest.mark.parametrize("scale", [1.0, 2.0**-540, 2.0**-1060, 2.0**500])
def test_concretize_exact_upper_bound(scale):
    """``_concretize`` adds ``≥ max_{x ∈ box} G x`` (exact: ``Σ max(G_l lo_l, G_l hi_l)``), with the input
    data of :func:`_input_data`, including products in the subnormal range."""
    from verinet.bounds.linear import _input_data, _prepare

    rng = np.random.default_rng(12)
    n = 40  # n·η/2 of underflow error exceeds the η of each final outward step
    net = Network((Layer.from_floats(np.ones((1, n)), [0.0], "identity"),))
    prep = _prepare(net)
    for _ in range(20):
        B = 3
        xl = rng.standard_normal((B, n)) * (scale if scale < 1 else 1.0)
        xu = xl + np.abs(rng.standard_normal((B, n))) * np.array([0.0, 2.0**-30, 1.0])[:, None] * (scale if scale < 1 else 1.0)
        inp = _input_data(prep, xl, xu)
        seg = np.array([0, 2, 2, 5], dtype=np.int64)
        T = rng.standard_normal((5, n)) * (2.0**-12 if scale < 1 else scale)  # products near η: maximal error
        acc = np.zeros(5)
        _concretize(T, seg, inp.xm, inp.ax, prep.inv0, prep.neta0, acc)
        for b in range(B):
            for p in range(seg[b], seg[b + 1]):
                exact = sum((max(Fraction(T[p, l]) * Fraction(xl[b, l]), Fraction(T[p, l]) * Fraction(xu[b, l]))
                             for l in range(n)), Fraction(0))
                assert Fraction(acc[p]) >= exact


# --------------------------------------------------------------------------------------------------
# ACAS Xu
# --------------------------------------------------------------------------------------------------


def _acasxu():
    if not ACASXU.exists():
        pytest.skip("ACAS Xu network not available")
    pytest.importorskip("onnx")
    from verinet.io import load_network

    return load_network(ACASXU)


def test_tightness_acasxu():
    net = _acasxu()
    c = np.array([0.1, -0.2, 0.05, 0.3, -0.1])
    lo, hi = c - 0.01, c + 0.01
    lin = linear_propagate(net, lo, hi)
    backend = make_backend(net)
    ibp = propagate(backend, backend.box(lo, hi))
    assert np.all(lin.output.hi - lin.output.lo < 0.5 * (ibp.output.hi - ibp.output.lo))
    assert unstable_count(lin) < unstable_count(ibp)


def unstable_count(bounds) -> int:
    return sum(int(((p.lo < 0) & (p.hi > 0)).sum()) for p in bounds.pre[:-1])


def test_acasxu_small_box_sound():
    net = _acasxu()
    c = np.array([0.1, -0.2, 0.05, 0.3, -0.1])
    lo, hi = c - 0.01, c + 0.01
    lin = linear_propagate(net, lo, hi)
    backend = make_backend(net)
    ibp = propagate(backend, backend.box(lo, hi))
    assert_inside(lin.output, ibp.output, "ACAS Xu output")
    C = np.array([[1.0, -1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, -1.0]])
    obj = linear_objective_bounds(net, lo, hi, C, bounds=lin)
    rng = np.random.default_rng(0)
    pts = [list(lo), list(hi)] + [list(lo + (hi - lo) * rng.uniform(size=5)) for _ in range(1)]
    for p in pts:
        y = net.evaluate_exact([Fraction(float(v)) for v in p])
        assert_encloses(lin.output.lo, lin.output.hi, np.array(y, dtype=object), "ACAS Xu output")
        exact = [y[0] - y[1], y[0] - y[4]]
        assert_encloses(obj.lo, obj.hi, np.array(exact, dtype=object), "ACAS Xu objective")


def _float_spec(Ws, bs, acts):
    net = Network(tuple(Layer.from_floats(W, b, a) for W, b, a in zip(Ws, bs, acts)))
    spec = helpers.NetSpec([np.array([[Fraction(v) for v in row] for row in W], dtype=object) for W in Ws],
                           [np.array([Fraction(v) for v in b], dtype=object) for b in bs],
                           list(acts), [Fraction(0)] * len(Ws))
    return net, spec


def _adversarial_net(rng, mode, act):
    """Two-layer networks whose exact results are tiny differences of large rounded quantities.

    * ``inverse``: ``W2 = fl(W1⁻¹)``, ``b2 ≈ −W2 b1``: ``W2 W1`` and ``W2 b1`` cancel (both error sources).
    * ``nullspace``: ``W2 W1 ≈ 0`` (rows of ``W2`` orthogonal to the columns of ``W1``), zero biases: only
      the coefficient products' rounding errors are left (a missing GEMM error term shows here).
    * ``bias``: large last-layer biases ``b2 = big·v`` and objective rows ``≈ ⊥ v``, small activations: only
      the offset sums' rounding errors are left (a missing dot-product allowance shows here).
    """
    n = int(rng.integers(2, 6))
    h = n + int(rng.integers(1, 4))
    big = 2.0 ** int(rng.integers(10, 40))
    if mode == "inverse":
        W1 = rng.standard_normal((n, n))
        W2 = np.linalg.inv(W1)
        b1 = big * (1.0 + rng.uniform(size=n))  # > 0: ReLU neurons active near x = 0
        b2 = -(W2 @ b1) + rng.standard_normal(n) * 2.0**-20
        C = rng.standard_normal((2, n))
    elif mode == "nullspace":
        W1 = rng.standard_normal((h, n))
        q, _ = np.linalg.qr(W1, mode="complete")
        W2 = big * (rng.standard_normal((n, h - n)) @ q[:, n:].T)  # W2 W1 ≈ 0 up to rounding
        b1 = 4.0 + rng.uniform(size=h) if act == "relu" else np.zeros(h)  # active near 0
        b2 = -(W2 @ b1)
        C = rng.standard_normal((2, n))
    else:
        W1 = rng.standard_normal((n, n)) * 2.0**-20
        b1 = 1.0 + rng.uniform(size=n)
        W2 = rng.standard_normal((n, n))
        v = rng.standard_normal(n)
        b2 = big * v
        C = rng.standard_normal((2, n))
        C -= np.outer(C @ v / (v @ v), v)  # rows ≈ orthogonal to b2
    net, spec = _float_spec([W1, W2], [b1, b2], [act, "identity"])
    return net, spec, C


@hyp(60)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["relu", "identity"]), st.sampled_from(["zero", "point", "tiny"]),
       st.sampled_from(["inverse", "nullspace", "bias"]))
def test_cancellation_adversarial(seed, act, where, mode):
    """Ill-conditioned products where the rounding errors dwarf the result (see :func:`_adversarial_net`);
    at ``x = 0`` the only slack left is the rounding allowance itself."""
    rng = np.random.default_rng(seed)
    net, spec, C = _adversarial_net(rng, mode, act)
    n = net.n_inputs
    x = np.zeros(n) if where == "zero" else rng.standard_normal(n) * (1.0 if where == "point" else 2.0**-30)
    lo, hi = (x, x) if where != "tiny" else (x - 2.0**-40, x + 2.0**-40)
    lin = linear_propagate(net, lo, hi, refine="all")
    obj = linear_objective_bounds(net, lo, hi, C)
    for p in box_points(rng, lo, hi, 2):
        pre, y = helpers.exact_forward(spec, p)
        for k, z in enumerate(pre):
            assert_encloses(lin.pre[k].lo, lin.pre[k].hi, np.array(z, dtype=object), f"layer {k}")
        exact = [sum((Fraction(C[i, j]) * y[j] for j in range(len(y))), Fraction(0)) for i in range(2)]
        assert_encloses(obj.lo, obj.hi, np.array(exact, dtype=object), "objective")


# --------------------------------------------------------------------------------------------------
# the rounding-sensitive pieces, checked exactly (one ulp matters here)
# --------------------------------------------------------------------------------------------------

_ENDPOINTS = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.floats(-1e-300, 1e-300, allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1.0, -1.0, 0.1, -0.1, 1.7976931348623157e308]),
)


def _sigma(act, alpha, z):
    if act == "relu":
        return max(z, Fraction(0))
    return z if z > 0 else alpha * z


@hyp(150)
@given(st.lists(st.tuples(_ENDPOINTS, _ENDPOINTS), min_size=1, max_size=6),
       st.sampled_from(["relu", "leaky_relu"]), st.sampled_from(["0", "0.01", "0.25", "1", "0.3"]))
def test_relaxation_lines_are_valid_exactly(pairs, act, alpha):
    """``s_L z + t_L ≤ σ(z) ≤ s_U z + t_U`` on ``[l, u]``, checked in Fractions at ``l``, ``u`` and the kink
    (σ minus a line is convex or concave and piecewise linear, so these points decide); slopes ≥ 0;
    ``k_U ≥ t_U + s_U b_hi`` and ``k_L ≤ t_L + s_L b_lo`` exactly."""
    from verinet.bounds.linear import _LayerPrep, _relaxation

    lo = np.array([min(a, b) for a, b in pairs])
    hi = np.array([max(a, b) for a, b in pairs])
    keep = ~(np.isposinf(lo) | np.isneginf(hi))
    lo, hi = lo[keep], hi[keep]
    if lo.size == 0:
        return
    n = lo.size
    rng = np.random.default_rng(n)
    bias = rng.standard_normal(n) * 10.0 ** rng.integers(-5, 5, n) * rng.integers(0, 2, n)  # some exact 0
    layer = Layer.from_exact(np.ones((n, 1)), [str(v) for v in bias], act, alpha)
    prep = _LayerPrep(layer)
    net = Network((layer,))
    Z = IntervalArray(lo[None, :], hi[None, :])
    A = make_backend(net).activate(0, Z)
    rx = _relaxation(prep, Z, A, np.ones((1, 1)))
    a = Fraction(alpha) if act == "leaky_relu" else Fraction(0)
    for i in range(n):
        sU, sL, kU, kL = (float(v[0, i]) for v in (rx.sU, rx.sL, rx.kU, rx.kL))
        assert sU >= 0.0 and sL >= 0.0 and not math.isnan(kU) and not math.isnan(kL)
        bhi, blo = Fraction(float(layer.bias_hi[i])), Fraction(float(layer.bias_lo[i]))
        tU = None if math.isinf(kU) else Fraction(kU) - Fraction(sU) * bhi  # the intercept implied by k_U
        tL = None if math.isinf(kL) else Fraction(kL) - Fraction(sL) * blo
        pts = [Fraction(float(v)) for v in (lo[i], hi[i]) if math.isfinite(v)]
        if lo[i] < 0 < hi[i]:
            pts.append(Fraction(0))
        for z in pts:
            if tU is not None:
                assert Fraction(sU) * z + tU >= _sigma(act, a, z), (lo[i], hi[i], sU, kU, z)
            if tL is not None:
                assert Fraction(sL) * z + tL <= _sigma(act, a, z), (lo[i], hi[i], sL, kL, z)
        if math.isinf(lo[i]) or math.isinf(hi[i]):  # unbounded side: the slope must make the line valid too
            if math.isinf(hi[i]) and tU is not None:
                assert sU >= 1.0
            if math.isinf(lo[i]) and tU is not None:
                assert Fraction(sU) <= a
            if math.isinf(lo[i]) and tL is not None:
                assert Fraction(sL) >= a


@pytest.mark.parametrize("alpha", ["0.25", "0.3", "0.01", "1"])
def test_leaky_chord_near_alpha_exactly(alpha):
    """Unstable leaky-ReLU intervals with ``u ≪ |l|``: the chord slope is close to α, so ``σ(l) − s l`` is a
    small difference and one ulp lost in ``σ̄(l) = α_lo l`` would show. Checked in Fractions."""
    from verinet.bounds.linear import _LayerPrep, _relaxation

    rng = np.random.default_rng(5)
    n = 200
    lo = -np.exp(rng.uniform(0, 14, n))
    hi = np.exp(rng.uniform(-20, -1, n))
    layer = Layer.from_exact(np.ones((n, 1)), ["0"] * n, "leaky_relu", alpha)
    Z = IntervalArray(lo[None, :], hi[None, :])
    rx = _relaxation(_LayerPrep(layer), Z, make_backend(Network((layer,))).activate(0, Z), np.ones((1, 1)))
    a = Fraction(alpha)
    for i in range(n):
        s, t = Fraction(float(rx.sU[0, i])), Fraction(float(rx.kU[0, i]))  # zero bias: k_U = t_U
        for z in (Fraction(float(lo[i])), Fraction(float(hi[i]))):
            assert s * z + t >= _sigma("leaky_relu", a, z), (lo[i], hi[i])
        sl = Fraction(float(rx.sL[0, i]))
        assert a <= sl <= 1 and rx.kL[0, i] == 0.0


@hyp(60)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["float", "decimal"]),
       st.sampled_from([1.0, 1e-300, 1e300, 5e-324]))
def test_error_weights_and_start_offsets_are_upper_bounds(seed, kind, scale):
    """``w ≥ γ_{n_j}(|W| ma) + Wr ma + u h``, ``σ ≥ η/2 Σ h + n_j η Σ ma`` with ``h ≥ (|Wm| + Wr) ma``,
    ``Wm ± Wr ⊇ [W_lo, W_hi]``, and the input data ``ax ≥ xr + γ_n|xm|``, all in Fractions."""
    from verinet.bounds.linear import _consts, _input_data, _LayerPrep, _nonneg_matvec_up, _prepare, _relaxation

    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    spec = make_spec(rng, [n_in, n_out], ["relu"], kind)
    layer = spec.build().layers[0]
    prep = _LayerPrep(layer)
    W = np.array(spec.weights[0], dtype=object)
    Wm = prep.Wm
    Wr = np.zeros_like(Wm) if prep.WrT is None else prep.WrT.T
    for i in range(n_out):
        for j in range(n_in):
            assert abs(W[i, j] - Fraction(float(Wm[i, j]))) <= Fraction(float(Wr[i, j]))
    ma = np.abs(rng.standard_normal((2, n_in))) * scale
    ma[0, 0] = 0.0
    Z = IntervalArray(-np.abs(rng.standard_normal((2, n_out))), np.abs(rng.standard_normal((2, n_out))))
    rx = _relaxation(prep, Z, Z.relu(), ma)
    gam = Fraction(_consts(n_out)[0])
    for b in range(2):
        hsum = Fraction(0)
        for i in range(n_out):
            gma = sum((abs(Fraction(float(Wm[i, j]))) * Fraction(float(ma[b, j])) for j in range(n_in)), Fraction(0))
            wr = sum((Fraction(float(Wr[i, j])) * Fraction(float(ma[b, j])) for j in range(n_in)), Fraction(0))
            h = gma + wr
            hsum += h
            assert Fraction(float(rx.w[b, i])) >= gam * gma + wr + Fraction(1, 2**53) * h
        eta = Fraction(5e-324)
        need = eta / 2 * hsum + n_out * eta * sum(Fraction(float(v)) for v in ma[b])
        assert Fraction(float(rx.scal[b])) >= need
        up = _nonneg_matvec_up(ma[b:b + 1], prep.absWmT, prep.inv_in, prep.neta_in)
        for i in range(n_out):
            assert Fraction(float(up[0, i])) >= sum((abs(Fraction(float(Wm[i, j]))) * Fraction(float(ma[b, j]))
                                                     for j in range(n_in)), Fraction(0))
    net = spec.build()
    xl = rng.standard_normal((3, n_in)) * scale
    xu = xl + np.abs(rng.standard_normal((3, n_in))) * scale * np.array([0.0, 1e-10, 1.0])[:, None]
    inp = _input_data(_prepare(net), xl, xu)
    g0 = Fraction(_consts(n_in)[0])
    for b in range(3):
        for j in range(n_in):
            m = Fraction(float(inp.xm[b, j]))
            r = max(Fraction(float(xu[b, j])) - m, m - Fraction(float(xl[b, j])))
            assert Fraction(float(inp.ax[b, j])) >= r + g0 * abs(m)
            assert Fraction(float(inp.ma[b, j])) >= max(abs(Fraction(float(xl[b, j]))), abs(Fraction(float(xu[b, j]))))


@hyp(40)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["float", "decimal"]), st.sampled_from([1.0, 1e-300, 1e300]))
def test_start_rows_bound_the_exact_pre_activations(seed, kind, scale):
    """``±z_i ≤ ±Wm_i a + offset`` for every ``|a| ≤ ma``, exact weights and biases: the offset must be
    ``≥ ±b_i + Σ_j |W_ij − Wm_ij| ma_j`` (worst case over ``a``), checked in Fractions."""
    from verinet.bounds.linear import _LayerPrep, _start_rows

    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    spec = make_spec(rng, [n_in, n_out], ["relu"], kind)
    prep = _LayerPrep(spec.build().layers[0])
    ma = np.abs(rng.standard_normal((2, n_in))) * scale
    bb = np.array([0, 0, 1] * n_out)[: 2 * n_out]
    rr = np.array(list(range(n_out)) * 2)[: 2 * n_out]
    order = np.argsort(bb, kind="stable")
    bb, rr = bb[order], rr[order]
    T, acc = _start_rows(prep, bb, rr, ma)
    W, b = spec.weights[0], spec.biases[0]
    for q, (bx, i) in enumerate(zip(bb, rr)):
        for sign, row in ((1, 2 * q), (-1, 2 * q + 1)):
            assert np.array_equal(T[row], sign * prep.Wm[i])
            slack = sum((abs(W[i, j] - Fraction(float(prep.Wm[i, j]))) * Fraction(float(ma[bx, j]))
                         for j in range(n_in)), Fraction(0))
            assert Fraction(float(acc[row])) >= sign * b[i] + slack


def test_perf_benchmark_quick_runs():
    import subprocess

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_bounds.py"
    out = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=180,
                         check=False, cwd=script.parents[1])
    assert out.returncode == 0, out.stderr
    assert "width IBP" in out.stdout and "relu 8-16-16-4" in out.stdout and "tanh 4-16-16-3" in out.stdout
