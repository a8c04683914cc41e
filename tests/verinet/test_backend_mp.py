"""Tests of :class:`verinet.bounds.backends.mp.MPBackend` against exact rational evaluation.

Piecewise-linear networks are evaluated exactly (``Network.evaluate_exact`` and an exact chain rule with
the activation pattern at the point); smooth ones against a private 400-bit mpmath context.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest
from mpmath.ctx_mp import MPContext

from intervals import rounding as R
from intervals.mparray import MPIntervalArray, flint_available
from verinet import Layer, Network
from verinet.bounds.backends import make_backend
from verinet.bounds.backends.mp import MPBackend
from verinet.bounds.gradient import coefficient_vector, gradient_enclosure, gradient_from_bounds, jacobian_enclosure
from verinet.bounds.propagation import output_bounds, propagate

SEED = Path(__file__).resolve().parents[1] / "data" / "seed"


# ------------------------------------------------------------------ exact oracles
def exact_pre(net: Network, x):
    a = [Fraction(v) for v in x]
    zs = []
    for L in net.layers:
        W, b = L.weight_exact(), L.bias_exact()
        z = [sum((W[i, j] * a[j] for j in range(L.n_in)), b[i]) for i in range(L.n_out)]
        zs.append(z)
        act = L.activation.value
        a = [v if (act == "identity" or v > 0) else (L.alpha * v if act == "leaky_relu" else Fraction(0))
             for v in z]
    return zs, a


def exact_gradient(net: Network, x, c, at_kink=None):
    """Exact gradient of ``cᵀ f`` at ``x`` (a rational point); ``at_kink`` is the slope used where z = 0."""
    zs, _ = exact_pre(net, x)
    g = [Fraction(v) for v in c]
    for k in range(len(net.layers) - 1, -1, -1):
        L = net.layers[k]
        act = L.activation.value
        if act != "identity":
            low = L.alpha if act == "leaky_relu" else Fraction(0)
            d = []
            for z in zs[k]:
                if z == 0:
                    assert at_kink is not None, "point on a kink"
                    d.append(at_kink)
                else:
                    d.append(Fraction(1) if z > 0 else low)
            g = [gi * di for gi, di in zip(g, d)]
        W = L.weight_exact()
        g = [sum((g[i] * W[i, j] for i in range(L.n_out)), Fraction(0)) for j in range(L.n_in)]
    return g


def contains(f64, values):
    """The float64 enclosure contains the exact values (exact comparison)."""
    lo, hi = f64.lo.reshape(-1), f64.hi.reshape(-1)
    return all(Fraction(float(a)) <= v <= Fraction(float(b)) for a, b, v in zip(lo, hi, values))


def random_net(rng, acts, decimal: bool, sizes=(3, 5, 4, 2)):
    layers = []
    for k, act in enumerate(acts):
        n_in, n_out = sizes[k], sizes[k + 1]
        W = rng.standard_normal((n_out, n_in))
        b = rng.standard_normal(n_out)
        alpha = "0.01" if act == "leaky_relu" else 0
        if decimal:
            Ws = [[f"{v:.6f}" for v in row] for row in W]
            bs = [f"{v:.5f}" for v in b]
            layers.append(Layer.from_exact(Ws, bs, act, alpha))
        else:
            layers.append(Layer.from_floats(W, b, act, alpha))
    return Network(tuple(layers))


def points_in(lo, hi, rng, k=4):
    """Corners and random rational points of the box (exact Fractions)."""
    ql, qh = [Fraction(float(v)) for v in lo], [Fraction(float(v)) for v in hi]
    pts = [ql, qh]
    for _ in range(k):
        t = [Fraction(int(rng.integers(0, 97)), 97) for _ in ql]
        pts.append([a + ti * (b - a) for a, b, ti in zip(ql, qh, t)])
    return pts


ACTS = [("relu", "relu", "identity"), ("leaky_relu", "relu", "identity"),
        ("relu", "leaky_relu", "leaky_relu"),
        ("identity", "relu", "identity")]


# ------------------------------------------------------------------ soundness on random networks
@pytest.mark.parametrize("acts", ACTS)
@pytest.mark.parametrize("decimal", [False, True])
def test_outputs_and_gradients_contain_exact_values(acts, decimal):
    rng = np.random.default_rng(hash((acts, decimal)) % 2**32)
    net = random_net(rng, acts, decimal)
    for trial in range(3):
        lo = rng.standard_normal(3)
        hi = lo + [0.0, 1e-6, 0.3][trial] * rng.random(3)
        y = output_bounds(net, lo, hi, precision=128)
        for p in points_in(lo, hi, rng):
            assert contains(y, exact_pre(net, p)[1])
        for mode in ("reverse", "forward", "both"):
            g = gradient_enclosure(net, lo, hi, output=1, mode=mode, precision=128)
            for p in points_in(lo, hi, rng, k=3):
                assert contains(g, exact_gradient(net, p, [0, 1]))
        J = jacobian_enclosure(net, lo, hi, mode="both", precision=128)
        p = points_in(lo, hi, rng, k=1)[-1]
        assert contains(J, exact_gradient(net, p, [1, 0]) + exact_gradient(net, p, [0, 1]))


def test_batch_of_boxes_and_combination():
    rng = np.random.default_rng(5)
    net = random_net(rng, ACTS[1], decimal=True)
    lo = rng.standard_normal((4, 3))
    hi = lo + 0.01
    c = [1.0, -1.0]  # a logit margin
    g = gradient_enclosure(net, lo, hi, output=c, precision=128)
    y = output_bounds(net, lo, hi, precision=128)
    assert g.shape == (4, 3) and y.shape == (4, 2)
    for b in range(4):
        for p in points_in(lo[b], hi[b], rng, k=2):
            assert contains(g[b], exact_gradient(net, p, c))
            assert contains(y[b], exact_pre(net, p)[1])


@pytest.mark.parametrize("prec", [53, 128, 256])
def test_kink_point_box_contains_both_one_sided_gradients(prec):
    # f(x) = 2 relu(x1 - x2) - relu(x2 - x1) + relu(x1): at x = (1, 1) the first two neurons sit on kinks
    net = Network((Layer.from_exact([["1", "-1"], ["-1", "1"], ["1", "0"]], ["0", "0", "0"]),
                   Layer.from_exact([["2", "-1", "1"]], ["0"], "identity")))
    x = np.array([1.0, 1.0])
    g = gradient_enclosure(net, x, x, precision=prec)
    for s in (Fraction(0), Fraction(1), Fraction(1, 2)):
        assert contains(g, exact_gradient(net, [1, 1], [1], at_kink=s))
    be = MPBackend(net, prec)
    z = propagate(be, be.box(x, x)).pre[0]
    d = be.derivative(0, z)
    assert list(d.exact_lo()) == [0, 0, 1] and list(d.exact_hi()) == [1, 1, 1]


@pytest.mark.parametrize("act, alpha", [("relu", 0), ("leaky_relu", Fraction(1, 100)),
                                        ("leaky_relu", Fraction(1, 4))])
def test_clarke_derivative_rules(act, alpha):
    net = Network((Layer.from_exact([["1"]] * 5, ["0"] * 5, act, alpha),))
    be = MPBackend(net, 128)
    z = MPIntervalArray([-1.0, 0.5, 0.0, -1.0, 0.0], [-0.5, 1.0, 0.0, 0.0, 1.0], prec=128)
    d = be.derivative(0, z)
    lo, hi = d.exact_lo(), d.exact_hi()
    # {α}, {1}, and [α, 1] whenever the box meets 0 (also when it only touches it)
    assert lo[1] == hi[1] == 1
    for i in (0, 2, 3, 4):
        assert lo[i] <= alpha and alpha - lo[i] < Fraction(1, 2**120)
    assert hi[0] >= alpha and hi[0] - alpha < Fraction(1, 2**120)
    assert all(h == 1 for h in hi[2:])
    # activation: leaky(z) = z for z >= 0, α z below 0, enclosed outward
    a = be.activate(0, z)
    assert a.contains([-alpha, Fraction(1, 2), 0, -alpha, 0]).all()
    assert a.contains([-alpha / 2, 1, 0, 0, 1]).all()


# ------------------------------------------------------------------ smooth activations vs 400-bit mpmath
def _smooth_reference(net: Network, x, ctx):
    """Output and gradient of output 0 at a point in a private high-precision context."""
    a = [ctx.mpf(v.numerator) / v.denominator for v in x]  # exact: binary floats
    derivs = []
    for L in net.layers:
        W, b = L.weight_exact(), L.bias_exact()
        z = [sum((ctx.mpf(W[i, j].numerator) / W[i, j].denominator * a[j] for j in range(L.n_in)),
                 ctx.mpf(b[i].numerator) / b[i].denominator) for i in range(L.n_out)]
        act = L.activation.value
        if act == "sigmoid":
            a = [1 / (1 + ctx.exp(-v)) for v in z]
            derivs.append([s * (1 - s) for s in a])
        elif act == "tanh":
            a = [ctx.tanh(v) for v in z]
            derivs.append([1 - t * t for t in a])
        else:
            a = z
            derivs.append([ctx.mpf(1)] * len(z))
    g = [ctx.mpf(1)] + [ctx.mpf(0)] * (net.n_outputs - 1)
    for k in range(len(net.layers) - 1, -1, -1):
        g = [gi * di for gi, di in zip(g, derivs[k])]
        W = net.layers[k].weight_exact()
        g = [sum((g[i] * ctx.mpf(W[i, j].numerator) / W[i, j].denominator for i in range(len(g))), ctx.mpf(0))
             for j in range(W.shape[1])]
    return a, g


@pytest.mark.parametrize("acts", [("sigmoid", "tanh", "identity"), ("tanh", "sigmoid", "sigmoid")])
def test_smooth_networks_contain_high_precision_values(acts):
    rng = np.random.default_rng(17)
    net = random_net(rng, acts, decimal=True)
    ctx = MPContext()  # private: the global mpmath precision is never touched
    ctx.prec = 400
    x = rng.standard_normal(3)
    for width in (0.0, 1e-3):
        lo, hi = x - width, x + width
        y = output_bounds(net, lo, hi, precision=128)
        g = gradient_enclosure(net, lo, hi, precision=128)
        ya, ga = _smooth_reference(net, [Fraction(float(v)) for v in x], ctx)
        assert contains(y, [R.mpf_to_fraction(v._mpf_) for v in ya])
        assert contains(g, [R.mpf_to_fraction(v._mpf_) for v in ga])
    # a point box at 128 bits: far tighter than float64 could be
    be = MPBackend(net, 128)
    g = gradient_from_bounds(be, propagate(be, be.box(x, x)), coefficient_vector(net, 0), "reverse")
    for lo, hi in zip(g.exact_lo(), g.exact_hi()):
        assert hi - lo <= Fraction(1, 10**25) * abs(hi)


# ------------------------------------------------------------------ tightness
@pytest.mark.parametrize("decimal", [False, True])
def test_tightness_point_box_fixed_pattern(decimal):
    """A point box: the 128-bit enclosures are within 1e-25 relative of the exact output and gradient."""
    rng = np.random.default_rng(23)
    net = random_net(rng, ("relu", "leaky_relu", "identity"), decimal)
    x = rng.standard_normal(3)
    be = MPBackend(net, 128)
    bounds = propagate(be, be.box(x, x))
    y = bounds.output
    g = gradient_from_bounds(be, bounds, coefficient_vector(net, 0), "reverse")
    for enc, exact in ((y, exact_pre(net, x)[1]), (g, exact_gradient(net, x, [1, 0]))):
        for lo, hi, v in zip(enc.exact_lo(), enc.exact_hi(), exact):
            assert lo <= v <= hi
            assert hi - lo <= Fraction(1, 10**25) * abs(v)


# ------------------------------------------------------------------ seed networks with published values
def _seed(name):
    path = SEED / f"{name}.json"
    if not path.exists():
        pytest.skip(f"reference data {path} not available")
    d = json.loads(path.read_text())
    n = len(d["layers"])
    layers = tuple(Layer.from_exact(L["weight"], L["bias"], "relu" if k < n - 1 else "identity")
                   for k, L in enumerate(d["layers"]))
    q = d["query"]
    r = Fraction(q["radius"])
    lo = np.array([R.float_down(Fraction(c) - r) for c in q["center"]])
    hi = np.array([R.float_up(Fraction(c) + r) for c in q["center"]])
    return Network(layers), lo, hi, d["expected_lipschitz"]


@pytest.mark.parametrize("name, expected", [("iris", "3.4878092617332435"),
                                            ("mnist_784_10_10_2", "0.34815343269413546")])
def test_seed_network_published_value_inside_enclosure(name, expected):
    """One activation pattern over the box: the Clarke gradient is a point, enclosed to ~1e-38 at 128 bits.

    The published value is a 17-digit decimal (the float64 nearest to the exact constant), so it is
    checked against the float64 enclosure that ``gradient_enclosure`` returns (sums of the float64 mig/mag
    computed exactly), and the 128-bit enclosure itself must round to that very float.
    """
    net, lo, hi, text = _seed(name)
    assert text == expected
    published = Fraction(text)
    g64 = gradient_enclosure(net, lo, hi, precision=128)
    low = sum(Fraction(float(v)) for v in g64.mig())
    up = sum(Fraction(float(v)) for v in g64.mag())
    assert low <= published <= up
    be = MPBackend(net, 128)
    g = gradient_from_bounds(be, propagate(be, be.box(lo, hi)), coefficient_vector(net, 0), "reverse")
    a = g.abs()  # [mig, mag], exact
    low, up = sum(a.exact_lo()), sum(a.exact_hi())
    assert R.float_nearest(low) == R.float_nearest(up) == float(expected)
    # the decimal is within half a unit of its last digit of the enclosure
    assert low - _half_unit(expected) <= published <= up + _half_unit(expected)
    if name == "iris":
        assert (up - low) / up < Fraction(1, 10**20)
    # the float64 backend's enclosure is sound too, so the two overlap
    gf = gradient_enclosure(net, lo, hi)
    assert np.all(np.maximum(gf.lo, g64.lo) <= np.minimum(gf.hi, g64.hi))


def _half_unit(decimal: str) -> Fraction:
    """Half a unit in the last digit of a decimal string such as ``"0.6144853028984674"``."""
    return Fraction(1, 2 * 10 ** len(decimal.split(".")[1]))


@pytest.mark.parametrize("name", ["random01", "random02"])
def test_seed_network_upper_bound_is_sound(name):
    """Kinks at the centre: the Lipschitz constant is the max of the l1 norm over the Clarke enclosure,
    whose upper bound Σ mag matches the published (rounded) decimal."""
    net, lo, hi, text = _seed(name)
    be = MPBackend(net, 128)
    g = gradient_from_bounds(be, propagate(be, be.box(lo, hi)), coefficient_vector(net, 0), "reverse")
    up = sum(g.abs().exact_hi())
    assert up + _half_unit(text) >= Fraction(text)
    assert R.float_nearest(up) == float(text)


# ------------------------------------------------------------------ plumbing
def test_make_backend_and_accelerator_agree():
    rng = np.random.default_rng(29)
    net = random_net(rng, ACTS[0], decimal=True, sizes=(40, 70, 30, 2))
    be = make_backend(net, 128)
    assert isinstance(be, MPBackend) and be.name == "mp" and be.precision == 128
    lo = rng.standard_normal((3, 40))
    hi = lo + 1e-3
    ref = be.to_float(propagate(be, be.box(lo, hi)).output)
    for accel in ("object",) + (("flint", "auto") if flint_available() else ()):
        alt = MPBackend(net, 128, accelerator=accel)
        out = alt.to_float(propagate(alt, alt.box(lo, hi)).output)
        assert np.array_equal(out.lo, ref.lo) and np.array_equal(out.hi, ref.hi)


def test_precision_is_validated_and_global_state_untouched():
    net = Network((Layer.from_exact([["1"]], ["0"], "identity"),))
    with pytest.raises(ValueError):
        MPBackend(net, 1)
    before = mpmath.mp.prec
    gradient_enclosure(net, [0.0], [1.0], precision=300)
    assert mpmath.mp.prec == before
