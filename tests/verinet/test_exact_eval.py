"""Integer exact evaluation (``verinet.bounds.exact_eval``) against the textbook ``Fraction`` evaluation.

The reference is ``tests.helpers.exact_forward``: ``Σ W_ij a_j + b_i`` with ``fractions.Fraction`` entries,
the activation applied exactly. Inputs are adversarial: full 53-bit float weights, huge/tiny weights and
subnormals (common denominators near ``2^1100``), decimal weights that are not floats (``"0.1"``, from
text and JSON), mixed float weights with decimal biases, points placed exactly on ReLU kinks.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import NetSpec, dyadic_point, exact_forward, hyp, kink_neurons, place_kinks, random_spec
from verinet import Layer, Network
from verinet.bounds.exact_eval import ExactEvaluationTimeout, integer_layer
from verinet.io import load_network
from verinet.analyses.verify import verify_vnnlib
from verinet.io.vnnlib import parse_vnnlib

F = Fraction


def _spec_of(net: Network) -> NetSpec:
    return NetSpec([L.weight_exact() for L in net.layers], [L.bias_exact() for L in net.layers],
                   [L.activation.value for L in net.layers], [L.alpha for L in net.layers])


def _reference(net: Network, x) -> list[Fraction]:
    return exact_forward(_spec_of(net), [Fraction(v) for v in x])[1]


def _assert_same(net: Network, x) -> None:
    y = net.evaluate_exact(x)
    assert all(type(v) is Fraction for v in y)
    assert y == _reference(net, x)


@pytest.mark.parametrize("kind", ["float", "decimal", "dyadic"])
@pytest.mark.parametrize("act", ["relu", "leaky_relu", "identity"])
def test_random_networks_equal_fraction_evaluation(kind, act):
    rng = np.random.default_rng(hash((kind, act)) % 2**32)
    for _ in range(3):
        spec = random_spec(rng, [7, 9, 8, 3], act, exact_decimals=kind == "decimal",
                           dyadic_bits=8 if kind == "dyadic" else None)
        net = spec.build()
        for x in (rng.standard_normal(7), dyadic_point(rng, 7), ["0.1", "-0.3", "1/3", 0, 2, "1e-9", -5.5]):
            _assert_same(net, x)


@pytest.mark.parametrize("kind", ["decimal", "dyadic"])
def test_points_exactly_on_kinks(kind):
    rng = np.random.default_rng(7)
    for _ in range(4):
        spec = random_spec(rng, [5, 6, 6, 2], "relu", exact_decimals=kind == "decimal", dyadic_bits=6)
        x0 = [Fraction(int(v), 64) for v in rng.integers(-64, 65, 5)]
        kinked = place_kinks(spec, x0, kink_neurons(rng, spec, 2))
        pre, _ = exact_forward(kinked, x0)
        assert sum(v == 0 for z in pre[:-1] for v in z) >= 2  # the point really is on kinks
        for acts in (["relu", "relu", "identity"], ["leaky_relu", "leaky_relu", "identity"]):
            s = NetSpec(kinked.weights, kinked.biases, acts, [F(1, 10)] * 3, kinked.decimal_strings)
            _assert_same(s.build(), x0)


def test_huge_tiny_and_subnormal_weights():
    tiny = 5e-324  # the smallest subnormal: the common denominator is 2^1074
    W1 = np.array([[1e300, -1e300, tiny], [2.0**-1000, 3.0, -tiny * 7],
                   [1.7976931348623157e308, 0.0, -1e-310]])
    b1 = np.array([tiny, -2.5e-320, 1e-300])
    W2 = np.array([[1e-300, 1.0, -1e-308], [0.1, 0.2, 0.3]])
    b2 = np.array([0.0, -tiny])
    net = Network((Layer.from_floats(W1, b1, "relu"), Layer.from_floats(W2, b2, "identity")))
    for x in ([1.0, 1.0, 1.0], [tiny, -tiny, 1e308], [1e-300, 1e300, -1.0], ["1/3", "0.1", "-7"]):
        _assert_same(net, x)
    # cancellation: 1e300·1 − 1e300·1 leaves only the subnormal bias
    one = Network((Layer.from_floats(W1, b1, "identity"),))
    assert one.evaluate_exact([1.0, 1.0, 0.0])[0] == F(tiny)


def test_decimal_weights_from_json_and_mixed_layers(tmp_path):
    doc = {"layers": [{"weight": [["0.1", "0.2"], ["-0.3", "1/3"]], "bias": ["0.7", "-0.1"],
                       "activation": "relu"},
                      {"weight": [[0.1, -2.5]], "bias": [0.3], "activation": "identity"}]}
    path = tmp_path / "net.json"
    path.write_text(json.dumps(doc))
    net = load_network(path)
    y = net.evaluate_exact(["0.1", "0.2"])
    # by hand: h = relu(0.01 + 0.04 + 0.7, −0.03 + 0.2/3 − 0.1) = (0.75, 0); y = 0.1·0.75 + 0.3
    assert y == [F("0.375")]
    _assert_same(net, ["0.1", "0.2"])
    _assert_same(net, [0.1, 0.2])  # the floats nearest to 0.1, 0.2: different exact values
    # float weights with decimal biases (weights dyadic, biases over 10^k) and the reverse
    mixed = Network((Layer.from_exact([[0.5, 0.1], [-1.25, 3.0]], ["0.1", "-0.7"], "leaky_relu", "0.01"),
                     Layer.from_exact([["0.3", "-0.9"]], [2.0**-60], "identity")))
    assert mixed.layers[0].weight_q is None and mixed.layers[0].bias_q is not None
    for x in ([0.3, -0.2], ["0.3", "-0.2"], [1e-20, 7.0]):
        _assert_same(mixed, x)


def test_integer_form_is_cached_and_exact():
    rng = np.random.default_rng(3)
    net = random_spec(rng, [4, 5, 2], "relu").build()
    L = net.layers[0]
    I = integer_layer(L)
    assert integer_layer(L) is I
    assert I.den > 0 and I.den & (I.den - 1) == 0  # float weights: a power of two
    for i in range(L.n_out):
        assert F(int(I.bias[i]), I.den) == F(float(L.bias_lo[i]))
        for j in range(L.n_in):
            assert F(int(I.weight[i, j]), I.den) == F(float(L.weight_lo[i, j]))


_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.floats(min_value=-1e-300, max_value=1e-300, allow_subnormal=True),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1.0, -1.0, 0.1]),
)
_exact = st.one_of(_floats.map(float), st.fractions(max_denominator=10**6).map(str),
                   st.decimals(allow_nan=False, allow_infinity=False, places=5).map(str))


@hyp(60)
@given(data=st.data(), act=st.sampled_from(["relu", "leaky_relu", "identity"]),
       sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4))
def test_hypothesis_matches_fraction_evaluation(data, act, sizes):
    layers = []
    for k in range(len(sizes) - 1):
        w = data.draw(st.lists(st.lists(_exact, min_size=sizes[k], max_size=sizes[k]),
                               min_size=sizes[k + 1], max_size=sizes[k + 1]))
        b = data.draw(st.lists(_exact, min_size=sizes[k + 1], max_size=sizes[k + 1]))
        a = act if k < len(sizes) - 2 else "identity"
        layers.append(Layer.from_exact(w, b, a, "0.125" if a == "leaky_relu" else 0))
    net = Network(tuple(layers))
    x = data.draw(st.lists(_exact, min_size=sizes[0], max_size=sizes[0]))
    _assert_same(net, x)


# ------------------------------------------------------------------------------------------ deadline
def test_deadline_is_checked_between_layers(monkeypatch):
    rng = np.random.default_rng(5)
    net = random_spec(rng, [3, 4, 4, 2], "relu").build()
    x = [0.5, -0.25, 1.0]
    assert net.evaluate_exact(x, deadline=float("inf")) == _reference(net, x)
    with pytest.raises(ExactEvaluationTimeout):
        net.evaluate_exact(x, deadline=-1.0)  # perf_counter() > −1 at once
    clock = iter([0.0, 0.0, 10.0, 10.0])  # the third check (before layer 2) is past the deadline
    calls = []

    def fake():
        calls.append(1)
        return next(clock)

    monkeypatch.setattr("verinet.bounds.exact_eval.time.perf_counter", fake)
    with pytest.raises(ExactEvaluationTimeout):
        net.evaluate_exact(x, deadline=5.0)
    assert len(calls) == 3


def test_verify_never_reports_sat_without_a_finished_confirmation(monkeypatch):
    # y = x on [0, 1], unsafe y ≤ 0.5: sat at once, unless the confirmation has no time left
    net = Network((Layer.from_exact([["1"]], ["0"], "identity"),))
    prop = parse_vnnlib("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n"
                        "(assert (>= X_0 0)) (assert (<= X_0 1)) (assert (<= Y_0 0.5))")
    assert verify_vnnlib(net, prop, timeout=10).result == "sat"

    def too_late(self, x, *, deadline=None):
        raise ExactEvaluationTimeout("stopped")

    monkeypatch.setattr(Network, "evaluate_exact", too_late)
    res = verify_vnnlib(net, prop, timeout=0.5)
    assert res.result == "timeout" and res.x is None
    monkeypatch.undo()
    # a limit shorter than the random sampling: every candidate arrives after the deadline
    res = verify_vnnlib(net, prop, timeout=1e-6)
    assert res.result == "timeout" and res.x is None


def test_local_robustness_never_falsifies_after_its_deadline():
    # f(x) = 2 x0 − x1 deviates by 0.3 on the 0.1-ball: falsified for ε = 0.29, unless out of time
    from verinet.analyses.robustness import local_robustness

    net = Network((Layer.from_exact([["2", "-1"]], ["0"], "identity"),))
    assert local_robustness(net, ["0", "0"], "0.1", epsilon="0.29", time_limit=10).verdict.value == "falsified"
    res = local_robustness(net, ["0", "0"], "0.1", epsilon="0.29", time_limit=1e-6)
    assert res.verdict.value == "timeout" and res.x is None
