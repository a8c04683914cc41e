"""Soundness of the back-substituted gradient bounds (:mod:`verinet.bounds.jacobian_bounds`) against exact rationals.

* every line of the product relaxation and of the ``|·|`` chord is checked exactly (``Fraction``) at
  sampled points, the ends and 0, on adversarial floats (huge, tiny, subnormal, exact ties);
* on random small networks (ReLU, leaky ReLU, identity; float and decimal weights) and boxes (random,
  and boxes on exact kinks) every exact gradient product at sampled points and at kinks lies in the
  coordinate bounds and its dual norm is ≤ the upper bound, compared exactly;
* on 1- and 2-input networks the upper bound is ≥ the exact Lipschitz constant (region enumeration);
* mutations (intercepts rounded to nearest, a slope outside its valid range, error terms dropped) are
  caught by these checks.
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

import verinet.bounds.jacobian_bounds as jb
from verinet.bounds.backends import make_backend
from verinet.bounds.gradient import coefficient_vector, gradient_from_bounds
from verinet.bounds.jacobian_bounds import abs_chord, gradient_bounds, gradient_norm_upper, product_lines
from verinet.bounds.linear import linear_propagate
from verinet.network import Layer, Network
from verinet.bounds.propagation import propagate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import (  # noqa: E402
    clarke_candidates,
    hyp,
    kink_box,
    kink_neurons,
    place_kinks,
    random_points_in_box,
    random_spec,
)
from oracle import exact_lipschitz, network_from_spec, random_spec as oracle_spec  # noqa: E402

F = Fraction
TINY = 5e-324
BIG = 1e300

# --------------------------------------------------------------------------------------------------
# the relaxation lines, exactly
# --------------------------------------------------------------------------------------------------


def _line_violations(fn, dl, dh, vl, vh) -> list:
    """Points where ``sL v + tL ≤ d v ≤ sU v + tU`` fails (exact), over ends, 0, midpoints; d at ends/middle."""
    sU, tU, sL, tL = (np.atleast_1d(a) for a in fn(np.array([dl]), np.array([dh]), np.array([vl]), np.array([vh])))
    bad = []
    if not (dl <= sU[0] <= dh and dl <= sL[0] <= dh):
        bad.append(("slope", sU[0], sL[0]))
    fl, fh = F(vl), F(vh)
    vs = {fl, fh, (fl + fh) / 2, fl + (fh - fl) / 3}
    if fl < 0 < fh:
        vs |= {F(0), fl / 7, fh / 5}
    ds = {F(dl), F(dh), (F(dl) + F(dh)) / 2}
    for v in vs:
        for d in ds:
            w = d * v
            if math.isfinite(tU[0]) and not w <= F(sU[0]) * v + F(tU[0]):
                bad.append(("upper", v, d))
            if math.isfinite(tL[0]) and not F(sL[0]) * v + F(tL[0]) <= w:
                bad.append(("lower", v, d))
    return bad


_floats = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.sampled_from([0.0, -0.0, TINY, -TINY, 2.2250738585072014e-308, -1e-300, 1e-300, BIG, -BIG, 0.1, -0.3, 1 / 3]),
)
_slopes = st.one_of(st.sampled_from([0.0, 1.0, 0.0625, 0.1, 1 / 3, TINY]), st.floats(min_value=0.0, max_value=2.0))

ADVERSARIAL = [
    (0.0, 1.0, -1.0, 1.0), (0.0, 1.0, -0.1, 0.3), (0.1, 1.0, -3.0, 1 / 3), (0.0, 1.0, -BIG, BIG),
    (0.0, 1.0, -TINY, TINY), (0.0625, 1.0, -1e-300, 7e-301), (1 / 3, 0.7, -0.1, 0.2), (0.0, 1.0, -1e-8, 1.0),
    (0.0, 1.0, -1.0, 1e-8), (0.2, 0.2, -1.0, 1.0), (0.0, 1.0, 0.5, 2.0), (0.0, 1.0, -2.0, -0.5),
    (0.0, 1.0, -0.7, 0.3), (0.0, 1.0, -0.3, 0.7), (0.1, 0.9, -0.6, 0.7), (0.0, 1.0, -1 / 3, 0.1),
]


@pytest.mark.parametrize("case", ADVERSARIAL)
def test_product_lines_exact_on_adversarial_cases(case):
    assert _line_violations(product_lines, *case) == []


@hyp(300)
@given(_slopes, _slopes, _floats, _floats)
@example(0.0, 1.0, -1.0, 1.0)
@example(0.0, 1.0, -TINY, 1.0)
@example(0.1, 1.0, -BIG, BIG)
def test_product_lines_exact(d1, d2, v1, v2):
    dl, dh = sorted((d1, d2))
    vl, vh = sorted((v1, v2))
    assert _line_violations(product_lines, dl, dh, vl, vh) == []


@hyp(300)
@given(_floats, _floats)
@example(-1.0, 1.0)
@example(-TINY, 1.0)
@example(-0.1, 0.30000000000000004)
def test_abs_chord_exact(t1, t2):
    lo, hi = sorted((t1, t2))
    a, b = (float(v[0]) for v in abs_chord(np.array([lo]), np.array([hi])))
    assert -1.0 <= a <= 1.0
    fl, fh = F(lo), F(hi)
    for t in {fl, fh, (fl + fh) / 2, fl + (fh - fl) / 7, F(0) if fl < 0 < fh else fl}:
        if math.isfinite(b):
            assert abs(t) <= F(a) * t + F(b), (lo, hi, t, a, b)


# mutants of product_lines: each must be caught by the exact line checks


def _mutant_nearest(dl, dh, vl, vh):
    """Intercepts in round-to-nearest (the outward rounding error dropped)."""
    sU, tU, sL, tL = product_lines(dl, dh, vl, vh)
    mixed = (vl < 0) & (vh > 0) & (dl < dh)
    with np.errstate(all="ignore"):
        tUn = np.maximum(dl * vl - sU * vl, dh * vh - sU * vh)
        tLn = np.minimum(dh * vl - sL * vl, dl * vh - sL * vh)
    return sU, np.where(mixed, tUn, tU), sL, np.where(mixed, tLn, tL)


def _mutant_slope(dl, dh, vl, vh):
    """Lower line through 0 with slope ``dl`` on an unstable sign (valid only for slopes ≥ dh there)."""
    sU, tU, sL, tL = product_lines(dl, dh, vl, vh)
    mixed = (vl < 0) & (vh > 0) & (dl < dh)
    return sU, tU, np.where(mixed, dl, sL), np.where(mixed, 0.0, tL)


def test_mutants_of_the_lines_are_caught():
    rng = np.random.default_rng(5)
    cases = ADVERSARIAL + [(0.0, 1.0, -float(a), float(b)) for a, b in rng.random((200, 2)) * 3 + 1e-3]
    cases += [(float(a), 1.0, -float(b), float(c)) for a, b, c in rng.random((200, 3))]
    for mutant in (_mutant_nearest, _mutant_slope):
        assert sum(bool(_line_violations(mutant, *c)) for c in cases) > 0, mutant.__name__
    assert sum(bool(_line_violations(product_lines, *c)) for c in cases) == 0


# --------------------------------------------------------------------------------------------------
# networks: exact gradients at points and kinks
# --------------------------------------------------------------------------------------------------

SHAPES = [([3, 5, 4, 1], "relu"), ([2, 6, 5, 4, 2], "relu"), ([4, 6, 6, 3], "leaky_relu"),
          ([3, 4, 1], "relu"), ([2, 5, 5, 2], ["relu", "identity", "identity"]),
          ([3, 5, 4, 5, 2], ["leaky_relu", "relu", "relu", "identity"])]


def _exact_norm_ok(g, upper: float, q: str) -> bool:
    if q == "1":
        return sum(abs(v) for v in g) <= F(upper)
    if q == "inf":
        return max(abs(v) for v in g) <= F(upper)
    return sum(v * v for v in g) <= F(upper) ** 2


def _check_case(spec, lo, hi, rng, c, linear=True, points=12, signs=jb.SIGNS):
    net = spec.build()
    backend = make_backend(net)
    L, H = np.atleast_2d(lo), np.atleast_2d(hi)
    bounds = linear_propagate(backend, L, H) if linear else propagate(backend, backend.box(L, H))
    cq = [F(v) for v in c]
    pts = random_points_in_box(rng, lo, hi, points)
    results = {}
    for norm, q in (("inf", "1"), ("2", "2"), ("1", "inf")):
        gb = gradient_bounds(backend, bounds, c, norm, signs=signs)  # no intersection with the interval chain
        results[q] = gb
    for x in pts:
        grads, _ = clarke_candidates(spec, x, cq, max_combos=64, rng=rng)
        for g in grads:
            for q, gb in results.items():
                for i, v in enumerate(g):
                    assert F(gb.lo[0, i]) <= v <= F(gb.hi[0, i]), (q, i, v, gb.lo[0, i], gb.hi[0, i])
                assert _exact_norm_ok(g, float(gb.upper[0]), q), (q, g, gb.upper)
    return results


@pytest.mark.parametrize("i", range(12))
def test_random_networks_exact_gradients(i):
    rng = np.random.default_rng(100 + i)
    sizes, acts = SHAPES[i % len(SHAPES)]
    spec = random_spec(rng, sizes, acts, exact_decimals=(i % 3 == 2))
    n = sizes[0]
    centre = rng.uniform(-1, 1, n)
    r = rng.uniform(0.05, 0.6)
    c = np.zeros(sizes[-1])
    c[0] = 1.0
    if sizes[-1] > 1 and i % 2:
        c[1] = -1.0  # a margin
    _check_case(spec, centre - r, centre + r, rng, c, linear=bool(i % 2), signs=i % 6)


@pytest.mark.parametrize("i", range(8))
@pytest.mark.parametrize("where", ["point", "corner", "centre"])
def test_boxes_on_exact_kinks(i, where):
    rng = np.random.default_rng(300 + i)
    sizes, acts = SHAPES[i % len(SHAPES)]
    spec = random_spec(rng, sizes, acts, dyadic_bits=8)
    x0 = [F(round(float(v) * 64), 64) for v in rng.uniform(-1, 1, sizes[0])]
    spec = place_kinks(spec, x0, kink_neurons(rng, spec, 2))
    lo, hi = kink_box(rng, np.array([float(v) for v in x0]), where)
    c = coefficient_vector(spec.build(), 0)
    res = _check_case(spec, lo, hi, rng, c, linear=(i % 2 == 0), points=6)
    # the kink point itself: every one-sided choice at the exact kinks
    for g in clarke_candidates(spec, x0, [F(v) for v in c], max_combos=64, rng=rng)[0]:
        for q, gb in res.items():
            assert _exact_norm_ok(g, float(gb.upper[0]), q)


@pytest.mark.parametrize("i", range(6))
def test_upper_bound_above_exact_constant(i):
    """1–2 inputs: the upper bound is ≥ the exact Lipschitz constant (exact region enumeration)."""
    rng = np.random.default_rng(700 + i)
    n_in = 1 + i % 2
    spec = oracle_spec(rng, n_in, [6, 5], act="leaky_relu" if i % 3 == 2 else "relu",
                       kind="decimal" if i % 2 else "dyadic")
    net = network_from_spec(spec)
    lo = [F(-1)] * n_in
    hi = [F(1)] * n_in
    for norm in ("inf", "2", "1"):
        L = exact_lipschitz(spec, lo, hi, norm, 0)
        up = gradient_norm_upper(net, [-1.0] * n_in, [1.0] * n_in, 0, norm).upper[0]
        assert L.le(float(up)), (norm, L, up)


def test_tighter_than_interval_products_on_a_small_network():
    """Back-substitution keeps the dependency that interval products lose (f = relu(−x), constant 1)."""
    net = Network((Layer.from_exact([["1"], ["-1"]], ["0", "0"]),
                   Layer.from_exact([["1", "1"], ["1", "-1"]], ["0", "0"]),
                   Layer.from_exact([["1", "-1"]], ["0"], "identity")))
    b = make_backend(net)
    bd = propagate(b, b.box(np.array([[-1.0]]), np.array([[1.0]])))
    G = b.to_float(gradient_from_bounds(b, bd, np.array([1.0]), "auto"))
    up = gradient_bounds(b, bd, np.array([1.0]), "inf").upper[0]
    assert 1.0 <= up < float(np.maximum(-G.lo, G.hi).max())


# --------------------------------------------------------------------------------------------------
# mutations at network level
# --------------------------------------------------------------------------------------------------


def _cancellation_net() -> Network:
    """Stable everywhere near 0; ``∂f/∂x = 1 + 2^-53 − 1 = 2^-53`` exactly, while round-to-nearest sums give 0."""
    e = 2.0**-53
    return Network((Layer.from_floats(np.array([[1.0], [1.0], [1.0]]), np.array([1.0, 1.0, 1.0])),
                    Layer.from_floats(np.array([[1.0, e, -1.0]]), np.array([1.0])),
                    Layer.from_floats(np.array([[1.0]]), np.array([0.0]), "identity")))


def _gradient_hi(net) -> float:
    b = make_backend(net)
    bd = propagate(b, b.box(np.array([[0.0]]), np.array([[0.0]])))
    return float(gradient_bounds(b, bd, np.array([1.0]), "inf").hi[0, 0])


def test_rounding_error_terms_are_needed(monkeypatch):
    """The exact gradient 2^-53 is enclosed; dropping the GEMM error weights of the backward layers loses it."""
    net = _cancellation_net()
    assert F(_gradient_hi(net)) >= F(2) ** -53
    real = jb._relaxation

    def no_errors(*args):
        rx = real(*args)
        return jb._Relax(rx.sU, rx.sL, rx.kU, rx.kL, np.zeros_like(rx.w), np.zeros_like(rx.scal))

    monkeypatch.setattr(jb, "_relaxation", no_errors)
    try:
        hi = _gradient_hi(net)
    except RuntimeError:  # the unsound bound contradicts the interval one
        return
    assert F(hi) < F(2) ** -53


def test_network_level_mutant_is_caught(monkeypatch):
    """The slope mutant, plugged into the network bound, gives a bound some exact gradient exceeds."""
    monkeypatch.setattr(jb, "product_lines", _mutant_slope)
    caught = 0
    for i in range(8):
        rng = np.random.default_rng(100 + i)
        sizes, acts = SHAPES[i % len(SHAPES)]
        spec = random_spec(rng, sizes, acts)
        centre = rng.uniform(-1, 1, sizes[0])
        c = np.zeros(sizes[-1])
        c[0] = 1.0
        try:
            _check_case(spec, centre - 0.5, centre + 0.5, rng, c, points=30)
        except (AssertionError, RuntimeError):
            caught += 1
    assert caught > 0


def test_one_box_figures_on_acasxu():
    """The tightness gain on a real network (ACAS Xu, box [-0.01, 0.01]^5): ≥ 5× below interval products."""
    path = Path(__file__).resolve().parents[1] / "data" / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx"
    from verinet.io import load_network
    from verinet.bounds.norms import gradient_norm_bounds

    net = load_network(path)
    b = make_backend(net)
    lo, hi = np.full((1, 5), -0.01), np.full((1, 5), 0.01)
    bd = linear_propagate(b, lo, hi)
    c = coefficient_vector(net, 0)
    G = b.to_float(gradient_from_bounds(b, bd, c, "auto"))
    old = gradient_norm_bounds(G, "inf")[1][0]
    new = gradient_bounds(b, bd, c, "inf", G=G).upper[0]
    assert 0.0 < new and new * 5 <= old


# --------------------------------------------------------------------------------------------------
# the branch-and-bound with back-substituted gradient bounds
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("i", range(4))
def test_lipschitz_with_linear_jacobian_converges_to_the_exact_constant(i):
    from verinet.analyses.lipschitz import Status, lipschitz
    from verinet.region import Region

    rng = np.random.default_rng(900 + i)
    n_in = 1 + i % 2
    spec = oracle_spec(rng, n_in, [8, 8], act="leaky_relu" if i == 3 else "relu")
    net = network_from_spec(spec)
    lo, hi = [F(-1, 2)] * n_in, [F(1, 2)] * n_in
    region = Region.box(["-0.5"] * n_in, ["0.5"] * n_in)
    for norm in ("inf", "2"):
        L = exact_lipschitz(spec, lo, hi, norm, 0)
        r = lipschitz(net, region, norm=norm, tol=1e-9, bounds="linear", jacobian="linear", max_boxes=20_000)
        assert r.jacobian == "linear" and r.to_json()["jacobian"] == "linear"
        assert L.le(r.upper) and L.ge(r.lower), (norm, L, r.lower, r.upper)
        assert r.status is Status.CONVERGED


def test_jacobian_option_resolution_and_errors():
    from verinet.errors import QueryError
    from verinet.analyses.lipschitz import lipschitz
    from verinet.region import Region

    net = network_from_spec(oracle_spec(np.random.default_rng(3), 2, [6, 6]))
    region = Region.box(["-0.5", "-0.5"], ["0.5", "0.5"])
    assert lipschitz(net, region, bounds="interval", max_boxes=3).jacobian == "interval"  # auto follows bounds
    assert lipschitz(net, region, bounds="linear", max_boxes=3).jacobian == "linear"
    assert lipschitz(net, region, jacobian="linear", output="all", max_boxes=3).jacobian == "interval"
    assert lipschitz(net, region, jacobian="linear", precision=80, max_boxes=3).jacobian == "interval"
    with pytest.raises(QueryError, match="unknown jacobian"):
        lipschitz(net, region, jacobian="crown")


def test_certificates_keep_the_back_substituted_bound(tmp_path):
    """A run with back-substituted gradient bounds is certified as it is (no switch to interval gradients),
    and the checker re-derives the bounds (verinet.evidence.checker_backsub)."""
    import json

    from click.testing import CliRunner

    from verinet.evidence.certificate import lipschitz_certificate
    from verinet.evidence.checker import check_certificate
    from verinet.cli import main
    from verinet.analyses.lipschitz import lipschitz
    from verinet.io import load_network, save_network
    from verinet.region import Region

    model = tmp_path / "net.npz"
    save_network(network_from_spec(oracle_spec(np.random.default_rng(4), 2, [6, 6])), model)
    net = load_network(model)
    r = lipschitz(net, Region.box(["-0.5", "-0.5"], ["0.5", "0.5"]), bounds="interval", jacobian="linear",
                  max_boxes=50)
    doc = lipschitz_certificate(r, net)
    assert doc["evidence"]["gradient"] == "backsub"
    assert check_certificate(doc, model).valid
    cert = tmp_path / "cert.json"
    res = CliRunner().invoke(main, ["lipschitz", str(model), "--center", "0,0", "--radius", "0.5",
                                    "--jacobian", "linear", "--certificate", str(cert), "--max-boxes", "200",
                                    "--workers", "1"])
    assert res.exit_code in (0, 20), res.output  # 20: the box budget ran out before convergence
    assert "--jacobian interval" not in res.stderr
    doc = json.loads(cert.read_text())
    assert doc["evidence"]["gradient"] == "backsub"
    assert check_certificate(doc, model).valid


@pytest.mark.parametrize("i", range(4))
def test_smooth_networks_against_high_precision_gradients(i):
    """Sigmoid/tanh layers (derivative enclosures ≥ 0): 200-bit interval gradients at sampled points lie in
    the bounds, and their norms (upper ends) below the upper bound."""
    from helpers import assert_iv_enclosed, iv_gradient

    rng = np.random.default_rng(1100 + i)
    act = "sigmoid" if i % 2 == 0 else "tanh"
    spec = random_spec(rng, [3, 6, 5, 2], act, exact_decimals=(i >= 2))
    net = spec.build()
    b = make_backend(net)
    centre = rng.uniform(-1, 1, 3)
    lo, hi = centre - 0.4, centre + 0.4
    bd = linear_propagate(b, lo[None, :], hi[None, :])
    c = np.array([1.0, -1.0])
    for norm in ("inf", "2", "1"):
        gb = gradient_bounds(b, bd, c, norm)
        assert np.isfinite(gb.upper).all() and np.isfinite(gb.lo).all() and np.isfinite(gb.hi).all()
        for x in random_points_in_box(rng, lo, hi, 6):
            _, g = iv_gradient(spec, x, [F(1), F(-1)])
            assert_iv_enclosed(gb.lo[0], gb.hi[0], g, f"{act} {norm}")
            mags = [max(abs(a), abs(z)) for a, z in g]
            assert _exact_norm_ok(mags, float(gb.upper[0]), {"inf": "1", "2": "2", "1": "inf"}[norm])
