"""The search for large gradients (``verinet.analyses.gradient_search``) and the lower bounds it feeds.

The search itself is a float heuristic; what must hold exactly is that the lower bound reported by
``lipschitz`` from its candidates never exceeds the true constant (exact rational oracle of
``tests/oracle.py``), including candidates exactly on a kink, where the float search picks one piece's
gradient but the Clarke gradient is a set.
"""

from __future__ import annotations

import importlib
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from verinet.analyses.gradient_search import approx_gradient_candidates, approx_gradient_norms
from verinet.analyses.lipschitz import lipschitz
from verinet.network import Layer, Network
from verinet.region import Region

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import hyp  # noqa: E402
from oracle import ExactLayer, exact_lipschitz, network_from_spec, random_spec  # noqa: E402

F = Fraction
# the module (``verinet.analyses.lipschitz`` the attribute is the function)
lipschitz_module = importlib.import_module("verinet.analyses.lipschitz")


def _kinked_at_zero() -> Network:
    """``f(x) = 5 relu(x + 10) − 4 relu(x)``: slope 5 on ``[−10, 0]``, 1 for ``x > 0``; the constant on
    [0, 1] is 1."""
    return Network((Layer.from_exact([["1"], ["1"]], ["10", "0"], "relu"),
                    Layer.from_exact([["5", "-4"]], ["0"], "identity")))


def test_kink_on_the_region_boundary_gives_no_bound_from_the_outside_piece():
    net = _kinked_at_zero()
    # the float search's gate is 0 at z = 0: at the vertex 0 it sees the outside piece's slope 5
    assert approx_gradient_norms(net, [1.0], [[0.0]])[0] == 5.0
    r = lipschitz(net, Region.box(["0"], ["1"]), max_boxes=1, search=0.5, time_limit=5.0)
    assert r.lower <= 1.0  # exact: the constant on [0, 1] is 1
    r = lipschitz(net, Region.box(["0"], ["1"]), max_boxes=1)
    assert r.lower <= 1.0


def test_mutation_float_candidates_as_bounds_are_caught(monkeypatch):
    """Deliberate bug: take the search's float values as lower bounds. The kink test must then fail."""
    def unsound_points(self, x):
        return approx_gradient_norms(net, self.c, x, self.norm)

    net = _kinked_at_zero()
    monkeypatch.setattr(lipschitz_module._Evaluator, "points", unsound_points)
    with pytest.raises(AssertionError):
        test_kink_on_the_region_boundary_gives_no_bound_from_the_outside_piece()


def _kink_corner_case(seed: int):
    """A random 2-input network with one first-layer kink through the corner ``lo`` of a box."""
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, 2, [6, 6], 1)
    lo = [F(int(rng.integers(-64, 64)), 64), F(int(rng.integers(-64, 64)), 64)]
    hi = [lo[0] + F(int(rng.integers(1, 64)), 64), lo[1] + F(int(rng.integers(1, 64)), 64)]
    first = spec[0]
    i = int(rng.integers(0, 6))
    b = list(first.b)
    b[i] = -(first.W[i][0] * lo[0] + first.W[i][1] * lo[1])  # z_i(lo) = 0 exactly
    spec[0] = ExactLayer(first.W, tuple(b), first.act, first.alpha)
    return spec, lo, hi


@pytest.mark.parametrize("seed", range(6))
def test_lower_bound_from_search_is_below_the_exact_constant(seed):
    spec, lo, hi = _kink_corner_case(seed)
    net = network_from_spec(spec)
    region = Region.box(lo, hi)
    exact = exact_lipschitz(spec, lo, hi, "inf", 0)
    r = lipschitz(net, region, max_boxes=1, search=0.5, time_limit=2.0, seed=seed)
    assert exact.ge(r.lower), (r.lower, exact)
    # the corner itself, on a kink, evaluated rigorously
    ev = lipschitz_module._Evaluator(net, np.array([1.0]), "inf", None)
    corner = np.array([[float(lo[0]), float(lo[1])]])
    assert exact.ge(float(ev.points(corner)[0]))


@given(seed=st.integers(0, 2**31 - 1), norm=st.sampled_from(["inf", "2", "1"]))
@hyp(25)
def test_hypothesis_search_lower_bounds_are_sound(seed, norm):
    spec, lo, hi = _kink_corner_case(seed)
    net = network_from_spec(spec)
    exact = exact_lipschitz(spec, lo, hi, norm, 0)
    r = lipschitz(net, Region.box(lo, hi), norm=norm, max_boxes=1, seed=seed)
    assert exact.ge(r.lower), (r.lower, exact)


@pytest.mark.parametrize("seed", range(3))
def test_tightness_search_finds_the_largest_piece(seed):
    """On small 2-input networks the search alone (one box, no refinement) reaches the exact constant to
    about 1e-9: the largest piece is found and its gradient enclosed at an interior point."""
    rng = np.random.default_rng(100 + seed)
    spec = random_spec(rng, 2, [8, 8], 1)
    lo, hi = [F(-1, 2), F(-1, 2)], [F(1, 2), F(1, 2)]
    exact = exact_lipschitz(spec, lo, hi, "inf", 0)
    r = lipschitz(network_from_spec(spec), Region.box(lo, hi), max_boxes=1, search=0.5, time_limit=4.0)
    assert exact.ge(r.lower)
    assert exact.le(r.lower * (1 + 1e-9))


def test_tightness_smoothed_ascent_direction_is_a_hessian_vector_product():
    """The ascent direction is ``∇_x ‖g_τ(x)‖₂``: compare with central differences on a tanh network."""
    from verinet.analyses.gradient_search import _Search

    rng = np.random.default_rng(0)
    sizes = [3, 6, 5, 2]
    net = Network(tuple(Layer.from_floats(rng.standard_normal((sizes[k + 1], sizes[k])), rng.standard_normal(sizes[k + 1]),
                                          "identity" if k == 2 else "tanh") for k in range(3)))
    c = np.array([1.0, -0.5])
    s = _Search(net, c, "2", -np.ones(3), np.ones(3), np.ones(3, bool), None, None, rng)
    X = rng.uniform(-1, 1, (4, 3))
    d = s._smoothed_ascent_direction(X, s.net.forward(X), None)

    def value(Y):
        G, _ = s.net.backward(c, s.net.gates(s.net.forward(Y))[0])
        return np.sqrt((G * G).sum(axis=1))

    h = 1e-6
    fd = np.stack([(value(X + h * e) - value(X - h * e)) / (2 * h) for e in np.eye(3)], axis=1)
    assert np.max(np.abs(fd - d)) < 1e-6 * max(1.0, np.max(np.abs(d)))


def test_candidates_stay_in_the_box_and_ball():
    rng = np.random.default_rng(3)
    net = network_from_spec(random_spec(rng, 3, [8], 1))
    lo, hi = -np.ones(3), np.ones(3)
    cand = approx_gradient_candidates(net, [1.0], lo, hi, norm="2", ball=(np.zeros(3), 1.0, "2"), samples=256,
                                      restarts=4, steps=5)
    assert len(cand.points) and (cand.points >= lo).all() and (cand.points <= hi).all()
    assert (np.sqrt((cand.points ** 2).sum(axis=1)) <= 1.0).all()
    assert (np.diff(cand.values) <= 0).all()  # best first


def test_lower_bound_is_monotone_and_search_is_deterministic_without_time_limit():
    rng = np.random.default_rng(5)
    net = network_from_spec(random_spec(rng, 3, [8, 8], 1))
    region = Region.box(["-0.5"] * 3, ["0.5"] * 3)
    a = lipschitz(net, region, max_boxes=50)
    b = lipschitz(net, region, max_boxes=50)
    assert (a.lower, a.upper, a.witness) == (b.lower, b.upper, b.witness)
    lows = [h[2] for h in a.history]
    assert lows == sorted(lows)


def test_search_share_is_validated():
    from verinet.errors import QueryError

    net = _kinked_at_zero()
    with pytest.raises(QueryError, match="search"):
        lipschitz(net, Region.box(["0"], ["1"]), search=1.5)
