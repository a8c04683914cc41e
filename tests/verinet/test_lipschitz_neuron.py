"""Neuron-sign branch-and-bound for Lipschitz constants (:mod:`verinet.analyses.lipschitz_neuron`), against exact rationals.

* on random 1–2-input ReLU networks the bounds enclose the exact constant (region enumeration), for boxes
  in general position, boxes whose corners and centre lie exactly on kinks, and a network with a neuron
  whose pre-activation is identically 0 on the box (the kink set has interior: both children's rules hold
  there);
* on a 64-input network (the automatic dispatch) the upper bound is ≥ exact finite-difference slopes;
* dropping one child of each split (a part left uncovered) is caught.
"""

from __future__ import annotations

import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import verinet.analyses.lipschitz_neuron as ln
from verinet.analyses.lipschitz import _Evaluator, _output_label, lipschitz
from verinet.region import Region

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import hyp  # noqa: E402
from oracle import ExactLayer, exact_lipschitz, finite_difference_slope, network_from_spec, random_spec  # noqa: E402

F = Fraction


def _run(spec, lo, hi, norm="inf", output=0, max_boxes=400, search=0.0):
    net = network_from_spec(spec)
    region = Region.box([str(v) for v in lo], [str(v) for v in hi])
    c, label = _output_label(net, output)
    l0, h0 = region.outer_box()
    ev = _Evaluator(net, c, norm, None, h0 > l0, "linear", "linear")
    return ln.neuron_lipschitz(net, region, ev, c, norm, label, 1e-9, None, max_boxes, 4, 16, search, 0, None,
                               time.perf_counter())


def _exact(spec, lo, hi, norm="inf", output=0):
    return exact_lipschitz(spec, [F(v) for v in lo], [F(v) for v in hi], norm, output)


@pytest.mark.parametrize("i", range(6))
def test_bounds_enclose_the_exact_constant(i):
    rng = np.random.default_rng(40 + i)
    n_in = 1 + i % 2
    spec = random_spec(rng, n_in, [5, 4], 2, kind="decimal" if i % 3 == 2 else "dyadic")
    lo, hi = [-0.75] * n_in, [0.5] * n_in
    output = 0 if i % 2 else [1.0, -1.0]
    for norm in ("inf", "2"):
        r = _run(spec, lo, hi, norm, output)
        L = _exact(spec, lo, hi, norm, output)
        assert L.le(r.upper) and L.ge(r.lower), (norm, r.lower, r.upper, L)
        assert r.upper < np.inf


def _kinked_spec(rng, x0):
    """A 2-input network whose first-layer neurons 0 and 1 have exactly 0 pre-activation at ``x0``."""
    spec = random_spec(rng, 2, [4, 4], 1)
    L0 = spec[0]
    b = list(L0.b)
    for j in (0, 1):
        b[j] = -sum((w * v for w, v in zip(L0.W[j], x0)), F(0))
    spec[0] = ExactLayer(L0.W, tuple(b), L0.act, L0.alpha)
    return spec


@pytest.mark.parametrize("i", range(4))
@pytest.mark.parametrize("where", ["corner", "centre"])
def test_boxes_on_exact_kinks(i, where):
    rng = np.random.default_rng(90 + i)
    x0 = [F(int(v), 8) for v in rng.integers(-4, 5, 2)]
    spec = _kinked_spec(rng, x0)
    xf = np.array([float(v) for v in x0])
    lo, hi = (xf, xf + 0.5) if where == "corner" else (xf - 0.25, xf + 0.25)
    r = _run(spec, list(lo), list(hi))
    L = _exact(spec, list(lo), list(hi))
    assert L.le(r.upper) and L.ge(r.lower), (r.lower, r.upper, L)


def test_a_neuron_that_is_zero_on_the_whole_box():
    """``z ≡ 0`` (zero weights and bias): its kink set is the whole box; both children must still be sound."""
    rng = np.random.default_rng(7)
    spec = random_spec(rng, 2, [4, 3], 1)
    L0 = spec[0]
    W = list(L0.W)
    b = list(L0.b)
    W[0], b[0] = (F(0), F(0)), F(0)
    spec[0] = ExactLayer(tuple(W), tuple(b), L0.act, L0.alpha)
    r = _run(spec, [-0.5, -0.5], [0.5, 0.5])
    L = _exact(spec, [-0.5, -0.5], [0.5, 0.5])
    assert L.le(r.upper) and L.ge(r.lower)


def test_dropping_a_child_is_caught(monkeypatch):
    """Mutation: only the ``z ≥ 0`` child of each split (the part ``z < 0`` uncovered)."""
    monkeypatch.setattr(ln, "_CHILD_SIGNS", (1,))
    caught = 0
    for i in range(6):
        rng = np.random.default_rng(40 + i)
        n_in = 1 + i % 2
        spec = random_spec(rng, n_in, [5, 4], 2)
        lo, hi = [-0.75] * n_in, [0.5] * n_in
        r = _run(spec, lo, hi)
        if not _exact(spec, lo, hi).le(r.upper):
            caught += 1
    assert caught > 0


def test_lipschitz_dispatches_on_64_inputs():
    """64 inputs: ``lipschitz`` takes the neuron search; its upper bound is ≥ exact secant slopes."""
    rng = np.random.default_rng(3)
    spec = random_spec(rng, 64, [24, 16], 2)
    net = network_from_spec(spec)
    region = Region.box(["-0.0625"] * 64, ["0.0625"] * 64)
    r = lipschitz(net, region, output=[1.0, -1.0], max_boxes=60, search=0.0)
    assert r.strategy == "neurons" and r.lower <= r.upper
    lo, hi = region.outer_box()
    for _ in range(5):
        x = lo + rng.random(64) * (hi - lo)
        y = np.clip(x + rng.uniform(-0.01, 0.01, 64), lo, hi)
        slope = finite_difference_slope(spec, list(x), list(y), "inf", [1, -1])
        assert slope.le(r.upper)
    old = lipschitz(net, region, output=[1.0, -1.0], max_boxes=60, search=0.0, jacobian="interval")
    assert old.strategy != "neurons"


@hyp(12)
@given(seed=st.integers(0, 2**16), a=st.integers(-16, 15), w=st.integers(1, 16), b=st.integers(-16, 15),
       h=st.integers(1, 16))
def test_property_random_networks_and_dyadic_boxes(seed, a, w, b, h):
    """Any small network and dyadic box (endpoints often exactly on kinks of dyadic weights)."""
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, 2, [4, 3], 2)
    lo, hi = [a / 16, b / 16], [(a + w) / 16, (b + h) / 16]
    r = _run(spec, lo, hi, "inf", [1.0, -1.0], max_boxes=100)
    L = _exact(spec, lo, hi, "inf", [1.0, -1.0])
    assert L.le(r.upper) and L.ge(r.lower), (r.lower, r.upper, L)


def test_search_stages_give_the_exact_constant_on_a_decimal_box():
    """With the lower-bound search (gradient search + MILP stage) on a box whose ends are not floats."""
    pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(21)
    spec = random_spec(rng, 2, [5, 4], 1)
    net = network_from_spec(spec)
    region = Region.box(["-0.3", "-0.1"], ["0.7", "0.3"])
    c, label = _output_label(net, 0)
    l0, h0 = region.outer_box()
    ev = _Evaluator(net, c, "inf", None, h0 > l0, "linear", "linear")
    r = ln.neuron_lipschitz(net, region, ev, c, "inf", label, 1e-9, 3.0, 10**6, 4, 0, 0.2, 0, None,
                            time.perf_counter())
    L = exact_lipschitz(spec, [F("-0.3"), F("-0.1")], [F("0.7"), F("0.3")], "inf", 0)
    assert L.ge(r.lower) and L.le(r.upper)
    assert r.lower >= L.to_float() * (1 - 1e-9)
    assert region.contains(np.array(r.witness))
