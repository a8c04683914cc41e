"""Robustness verdicts against exactly known answers; every counterexample re-checked exactly here.

Reference answers (worked out by hand, no library code):

* ``fc_2-2-3``: output 0 is ``2·relu(s) − relu(−s)`` with ``s = x1 + x2``; outputs 1 and 2 are
  ``relu(−s) − relu(s)`` and ``relu(s) − relu(−s)``. Around ``(0.5, 0.5)`` with ``r ≤ 0.5``, ``s > 0`` on the
  whole ball, ``f_0 = 2s``, so ``max |f_0(x) − f_0(x0)| = 2·max|Δs|``: ``4r`` (l∞), ``2√2·r`` (l2), ``2r`` (l1).
* one-input ReLU networks: the exact range over an interval from the exact breakpoints (oracle below).
"""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.helpers import exact_forward, iv_gradient, random_spec
from verinet import Layer, Network
from verinet.cli import main
from verinet.cli._query import parse_box_file, parse_center
from verinet.errors import QueryError
from verinet.io import load_network
from verinet.region import Region
from verinet.analyses.robustness import (
    Perturbation,
    Verdict,
    certified_radius,
    global_robustness,
    local_robustness,
    parameter_robustness,
    perturbed_network,
    quantized_network,
)
from verinet.analyses.verify import BallGeometry

DATA = Path(__file__).resolve().parents[1] / "data"
FC = DATA / "nnet" / "fc_2-2-3.onnx"
F = Fraction


@pytest.fixture(scope="module")
def fc():
    return load_network(FC)


def _dev(net, x, c, k=0):
    return abs(net.evaluate_exact(x)[k] - net.evaluate_exact(c)[k])


def _lp(x, c, norm):
    d = [abs(F(a) - F(b)) for a, b in zip(x, c)]
    return max(d) if norm == "inf" else (sum(d) if norm == "1" else sum(v * v for v in d))


def _in_ball(x, c, r, norm):
    v = _lp(x, c, norm)
    return v <= (r * r if norm == "2" else r)


# --------------------------------------------------------------------------------------------------
# exact oracle: range of a one-input piecewise-linear network over [a, b]


def exact_range_1d(spec, a: F, b: F, k: int = 0) -> tuple[F, F]:
    """Exact min and max of output ``k`` over ``[a, b]``: split at every kink, layer by layer.

    On a piece where all earlier activations are affine, a pre-activation is affine in x, so its zero is
    found exactly from the endpoint values; at the end the output is affine on each piece.
    """
    pieces = [(F(a), F(b))]
    for layer in range(len(spec.weights)):
        new = []
        for p, q in pieces:
            zp = exact_forward(spec, [p])[0][layer]
            zq = exact_forward(spec, [q])[0][layer]
            cuts = sorted({p + (q - p) * u / (u - v) for u, v in zip(zp, zq) if (u < 0 < v) or (v < 0 < u)})
            pts = [p] + cuts + [q]
            new += list(itertools.pairwise(pts))
        pieces = new
    vals = [exact_forward(spec, [x])[1][k] for piece in pieces for x in piece]
    return min(vals), max(vals)


def test_oracle_on_a_hand_example():
    spec = random_spec(np.random.default_rng(0), [1, 3, 1], "relu", dyadic_bits=4)
    lo, hi = exact_range_1d(spec, F(-1), F(1))
    xs = [F(i, 64) for i in range(-64, 65)]
    ys = [exact_forward(spec, [x])[1][0] for x in xs]
    assert lo <= min(ys) and max(ys) <= hi


# --------------------------------------------------------------------------------------------------
# local robustness, regressor


@pytest.mark.parametrize("norm, exact_max", [("inf", F("0.4")), ("1", F("0.2"))])
def test_local_regressor_rational_norms(fc, norm, exact_max):
    c, r = ["0.5", "0.5"], "0.1"
    ok = local_robustness(fc, c, r, norm=norm, epsilon=exact_max * F("1.001"), output=0, time_limit=10)
    assert ok.verdict is Verdict.VERIFIED
    assert ok.bound is None or ok.bound >= exact_max
    bad = local_robustness(fc, c, r, norm=norm, epsilon=exact_max * F("0.999"), output=0, time_limit=10)
    assert bad.verdict is Verdict.FALSIFIED
    x0 = [F(v) for v in c]
    assert _in_ball(bad.x, x0, F(r), norm)
    assert Region.ball(c, r, norm).contains(bad.x)
    assert _dev(fc, bad.x, x0) > exact_max * F("0.999")
    assert list(bad.y) == fc.evaluate_exact(bad.x)


def test_local_regressor_l2(fc):
    c, r = ["0.5", "0.5"], F("0.1")
    # exact max 2·√2·0.1 = 0.28284271...
    ok = local_robustness(fc, c, r, norm="2", epsilon="0.2829", output=0, time_limit=10)
    assert ok.verdict is Verdict.VERIFIED
    bad = local_robustness(fc, c, r, norm="2", epsilon="0.2828", output=0, time_limit=10)
    assert bad.verdict is Verdict.FALSIFIED
    x0 = [F(v) for v in c]
    assert _lp(bad.x, x0, "2") <= r * r
    assert _dev(fc, bad.x, x0) > F("0.2828")


def test_local_regressor_all_outputs_and_bounds(fc):
    # outputs 1 and 2 are ∓s: deviation 2r in l∞; output 0 dominates with 4r
    res = local_robustness(fc, ["0.5", "0.5"], "0.05", epsilon="0.25", time_limit=10)
    assert res.verdict is Verdict.VERIFIED and res.outputs == (0, 1, 2)
    res = local_robustness(fc, ["0.5", "0.5"], "0.05", epsilon="0.15", output=1, time_limit=10)
    assert res.verdict is Verdict.VERIFIED
    res = local_robustness(fc, ["0.5", "0.5"], "0.05", epsilon="0.099", output=1, time_limit=10)
    assert res.verdict is Verdict.FALSIFIED and _dev(fc, res.x, [F(1, 2)] * 2, 1) > F("0.099")


@pytest.mark.parametrize("seed", range(4))
def test_local_regressor_one_input_oracle(seed):
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, [1, 6, 6, 1], "relu", dyadic_bits=5)
    net = spec.build()
    c, r = F(int(rng.integers(-8, 8)), 16), F(1, 4)
    lo, hi = exact_range_1d(spec, c - r, c + r)
    y0 = exact_forward(spec, [c])[1][0]
    dev = max(hi - y0, y0 - lo)
    if dev == 0:
        pytest.skip("constant network on this interval")
    ok = local_robustness(net, [c], r, epsilon=dev * F(101, 100), time_limit=10)
    assert ok.verdict is Verdict.VERIFIED, ok
    assert ok.bound is None or F(ok.bound) >= dev  # a rigorous upper bound of the true deviation
    bad = local_robustness(net, [c], r, epsilon=dev * F(99, 100), time_limit=10)
    assert bad.verdict is Verdict.FALSIFIED, bad
    assert abs(F(bad.x[0]) - c) <= r and abs(net.evaluate_exact(bad.x)[0] - y0) > dev * F(99, 100)


def test_local_regressor_smooth_network():
    # f(x) = σ(x0 + x1): around 0 with l∞ radius 0.25 the max deviation is σ(0.5) − 1/2 = 0.1224593...
    from tests.helpers import NetSpec

    net = Network((Layer.from_exact([["1", "1"]], ["0"], "sigmoid"),))
    ok = local_robustness(net, ["0", "0"], "0.25", epsilon="0.1225", time_limit=10)
    assert ok.verdict is Verdict.VERIFIED
    bad = local_robustness(net, ["0", "0"], "0.25", epsilon="0.1224", time_limit=10)
    assert bad.verdict is Verdict.FALSIFIED
    assert max(abs(F(v)) for v in bad.x) <= F("0.25")
    spec = NetSpec([np.array([[F(1), F(1)]], dtype=object)], [np.array([F(0)], dtype=object)], ["sigmoid"], [F(0)])
    (y_lo, y_hi), = iv_gradient(spec, bad.x, [1])[0]  # independent high-precision enclosure of f(x)
    assert y_lo - F(1, 2) > F("0.1224") or F(1, 2) - y_hi > F("0.1224")


# --------------------------------------------------------------------------------------------------
# local robustness, classifier


def test_local_classifier(fc):
    # label 0 at (0.5, 0.5): margins y0 − y1 = 3s, y0 − y2 = s (s > 0 on the ball): robust for r < 0.5
    res = local_robustness(fc, ["0.5", "0.5"], "0.4", time_limit=10)
    assert res.verdict is Verdict.VERIFIED and res.label == 0 and res.mode == "classifier"
    assert res.bound is not None and 0 < res.bound <= F("0.2")  # true worst margin s = 0.2
    # r = 0.6 reaches s ≤ 0, where y0 − y2 = s ≤ 0 (s = 0 gives a tie: not robust)
    bad = local_robustness(fc, ["0.5", "0.5"], "0.6", norm="inf", time_limit=10)
    assert bad.verdict is Verdict.FALSIFIED
    y = fc.evaluate_exact(bad.x)
    assert Region.ball(["0.5", "0.5"], "0.6").contains(bad.x) and any(y[0] <= y[j] for j in (1, 2))


@pytest.mark.parametrize("norm", ["2", "1"])
def test_local_classifier_balls(fc, norm):
    # the margin s = x1 + x2 stays > 0 on the l2 ball of radius < 1/√2 and the l1 ball of radius < 1
    r_ok, r_bad = ("0.7", "0.72") if norm == "2" else ("0.99", "1.02")
    assert local_robustness(fc, ["0.5", "0.5"], r_ok, norm=norm, time_limit=10).verdict is Verdict.VERIFIED
    bad = local_robustness(fc, ["0.5", "0.5"], r_bad, norm=norm, time_limit=10)
    assert bad.verdict is Verdict.FALSIFIED
    assert _in_ball(bad.x, [F(1, 2)] * 2, F(r_bad), norm)
    y = fc.evaluate_exact(bad.x)
    assert any(y[0] <= y[j] for j in (1, 2))


def test_local_classifier_given_label_and_tie(fc):
    bad = local_robustness(fc, ["0.5", "0.5"], "0.1", label=1, time_limit=5)
    assert bad.verdict is Verdict.FALSIFIED  # the centre itself already violates it
    y = fc.evaluate_exact(bad.x)
    assert y[1] <= y[0] or y[1] <= y[2]
    tie = local_robustness(fc, ["0.5", "-0.5"], "0.1", time_limit=5)  # s = 0: all outputs are 0
    assert tie.verdict is Verdict.UNKNOWN and "not unique" in tie.note


def test_local_bad_queries(fc):
    with pytest.raises(QueryError, match="radius must be > 0"):
        local_robustness(fc, ["0", "0"], "0", epsilon=1)
    with pytest.raises(QueryError, match="coordinates"):
        local_robustness(fc, ["0", "0", "0"], "0.1", epsilon=1)
    with pytest.raises(QueryError, match="output index"):
        local_robustness(fc, ["0", "0"], "0.1", epsilon=1, output=7)
    with pytest.raises(QueryError, match="either"):
        local_robustness(fc, ["0", "0"], "0.1", epsilon=1, label=0)
    with pytest.raises(QueryError):
        local_robustness(fc, ["0", "0"], "0.1", label=5)


def test_ball_geometry_drops_only_disjoint_boxes():
    rng = np.random.default_rng(1)
    for norm in ("2", "1"):
        g = BallGeometry(["0.3", "-0.1", "0.2"], "0.5", norm)
        L = rng.uniform(-1, 1, (400, 3))
        H = L + rng.uniform(0, 0.5, (400, 3))
        keep = g.keep(L, H)
        assert (~keep).any() and keep.any()
        c, r = [F("0.3"), F("-0.1"), F("0.2")], F("0.5")
        for lo, hi, k in zip(L, H, keep):
            d = [max(F(0), F(a) - ci, ci - F(b)) for a, b, ci in zip(lo, hi, c)]
            dist = sum(v * v for v in d) if norm == "2" else sum(d)
            if not k:
                assert dist > (r * r if norm == "2" else r)


# --------------------------------------------------------------------------------------------------
# certified radius


def test_certified_radius_brackets_the_true_radius(fc):
    # |f0(x) − f0(x0)| ≤ 0.4 holds exactly up to r = 0.1 (l∞)
    res = certified_radius(fc, ["0.5", "0.5"], epsilon="0.4", output=0, r_max="0.5", tol="0.002",
                           time_limit=30, probe_time=3)
    assert res.verified_radius is not None and res.falsified_radius is not None
    assert res.verified_radius <= F("0.1") <= res.falsified_radius
    assert res.falsified_radius - res.verified_radius <= F("0.01")
    assert _dev(fc, res.x, [F(1, 2)] * 2) > F("0.4") and _lp(res.x, [F(1, 2)] * 2, "inf") <= res.falsified_radius
    assert json.loads(json.dumps(res.to_json()))["norm"] == "inf"


# --------------------------------------------------------------------------------------------------
# global robustness


@pytest.mark.parametrize("norm, sup", [("inf", F("0.4")), ("1", F("0.2"))])
def test_global_on_a_linear_region(fc, norm, sup):
    # on [0.5, 1]² the network is f0 = 2s: sup over pairs with ‖x − y‖ ≤ 0.1 is 0.4 (l∞), 0.2 (l1)
    dom = Region.box(["0.5", "0.5"], ["1", "1"])
    ok = global_robustness(fc, dom, "0.1", sup * F("1.01"), norm=norm, output=0, time_limit=10)
    assert ok.verdict is Verdict.VERIFIED and ok.bound >= sup
    bad = global_robustness(fc, dom, "0.1", sup * F("0.99"), norm=norm, output=0, time_limit=10)
    assert bad.verdict is Verdict.FALSIFIED
    assert dom.contains(bad.x) and dom.contains(bad.y) and _lp(bad.x, bad.y, norm) <= F("0.1")
    assert abs(fc.evaluate_exact(bad.x)[0] - fc.evaluate_exact(bad.y)[0]) > sup * F("0.99")


def test_global_across_the_kink(fc):
    # on [-1, 1]² the steepest part is s > 0 (slope 2 in s): sup = 0.4 for δ = 0.1 (l∞); interval
    # gradients at the kink give the sound but loose constant 6, the neighbourhood ranges do better
    dom = Region.box(["-1", "-1"], ["1", "1"])
    bad = global_robustness(fc, dom, "0.1", "0.39", output=0, time_limit=10)
    assert bad.verdict is Verdict.FALSIFIED
    assert abs(fc.evaluate_exact(bad.x)[0] - fc.evaluate_exact(bad.y)[0]) > F("0.39")
    ok = global_robustness(fc, dom, "0.1", "0.7", output=0, time_limit=10)
    assert ok.verdict is Verdict.VERIFIED and ok.lipschitz >= 4


def test_global_bad_queries(fc):
    with pytest.raises(QueryError, match="delta"):
        global_robustness(fc, Region.box([0, 0], [1, 1]), 0, 1)
    with pytest.raises(QueryError, match="input domain"):
        global_robustness(fc, None, "0.1", 1)


# --------------------------------------------------------------------------------------------------
# parameter perturbation


def test_quantised_networks_are_exact():
    net = Network((Layer.from_exact([["0.1", "3"], ["-1e-3", "70000"]], ["0.3", "0"], "relu"),
                   Layer.from_exact([["1", "-1"]], ["0"], "identity")))
    small = Network((Layer.from_exact([["0.1", "3"]], ["0.3"], "identity"),))
    w = quantized_network(small, "float16").layers[0].weight_exact()
    assert w[0, 0] == F(float(np.float16(0.1))) and w[0, 1] == 3
    qb = quantized_network(net, "bfloat16").layers[0].weight_exact()
    assert qb[0, 0] == F(0.10009765625) and qb[0, 1] == 3  # 0.1 to 8 significant bits
    q8 = quantized_network(net, "int8").layers[0].weight_exact()
    s = F(70000.0 / 127.0)
    assert q8[1, 1] == 127 * s and q8[0, 1] == 0 and q8[0, 0] == 0
    fam = perturbed_network(net, Perturbation.quantize("int8"))
    for L, Q, O in zip(fam.layers, quantized_network(net, "int8").layers, net.layers):
        for lo, hi, qv, ov in zip(L.weight_lo.reshape(-1), L.weight_hi.reshape(-1),
                                  Q.weight_exact().reshape(-1), O.weight_exact().reshape(-1)):
            assert F(lo) <= min(qv, ov) and max(qv, ov) <= F(hi)
    with pytest.raises(QueryError, match="float16 range"):
        quantized_network(net, "float16")  # 70000 > 65504


def test_params_relative_on_a_linear_network():
    # f = 3 x0 − 2 x1 + 1 on [0, 1]²: a relative perturbation ρ changes f by at most ρ(3 + 2 + 1) = 6ρ
    net = Network((Layer.from_exact([["3", "-2"]], ["1"], "identity"),))
    dom = Region.box([0, 0], [1, 1])
    res = parameter_robustness(net, dom, perturbation=Perturbation.relative("0.01"), epsilon="0.0601",
                               time_limit=5, lipschitz=True)
    assert res.verdict is Verdict.VERIFIED and F(res.change_upper) >= F("0.06")
    assert res.lipschitz_upper >= 5.05  # member 3.03 x0 − 2.02 x1 has l∞→|·| constant 5.05
    res = parameter_robustness(net, dom, perturbation=Perturbation.relative("0.01"), epsilon="0.059",
                               time_limit=3, lipschitz=False)
    assert res.verdict is not Verdict.VERIFIED
    res = parameter_robustness(net, dom, perturbation=Perturbation.absolute("0.5", biases=False),
                               epsilon="1.001", time_limit=3, lipschitz=False)
    assert res.verdict is Verdict.VERIFIED  # |Δw|·|x| ≤ 0.5 + 0.5


def test_params_quantisation_verdicts(fc):
    dom = Region.box(["-1", "-1"], ["1", "1"])
    # every weight of fc_2-2-3 is a small integer: float16 changes nothing
    res = parameter_robustness(fc, dom, perturbation=Perturbation.quantize("float16"), epsilon=0, time_limit=5,
                               lipschitz=False)
    assert res.verdict is Verdict.VERIFIED and res.change_upper < 1e-300
    # int8 with s = 2/127: the weight 1 becomes 63·2/127 = 126/127, so f0 = 2s·... changes by 2/127 at a corner
    q = quantized_network(fc, "int8")
    res = parameter_robustness(fc, dom, perturbation=Perturbation.quantize("int8"), epsilon="0.01", time_limit=5,
                               lipschitz=False)
    assert res.verdict is Verdict.FALSIFIED
    assert dom.contains(res.x)
    change = max(abs(a - b) for a, b in zip(fc.evaluate_exact(res.x), q.evaluate_exact(res.x)))
    assert change > F("0.01")
    ok = parameter_robustness(fc, dom, perturbation=Perturbation.quantize("int8"), epsilon="0.05", time_limit=5,
                              lipschitz=False)
    assert ok.verdict is Verdict.VERIFIED and ok.change_upper >= float(change)
    doc = ok.to_json()
    assert json.loads(json.dumps(doc))["perturbation"] == "quantize to int8"


def test_perturbation_validation():
    with pytest.raises(QueryError):
        Perturbation("scale", F(1))
    with pytest.raises(QueryError):
        Perturbation.quantize("int4")
    with pytest.raises(QueryError):
        Perturbation.absolute("-1")


# --------------------------------------------------------------------------------------------------
# query parsing and the command line


def test_parse_center_and_box(tmp_path):
    assert parse_center("0.1, -2,3e-1") == (F(1, 10), F(-2), F(3, 10))
    (tmp_path / "c.json").write_text('{"center": [0.1, "0.2"]}')
    assert parse_center(str(tmp_path / "c.json")) == (F(1, 10), F(1, 5))
    (tmp_path / "c.txt").write_text("0.1 0.3  # comment\n-1\n")
    assert parse_center(str(tmp_path / "c.txt")) == (F(1, 10), F(3, 10), F(-1))
    np.save(tmp_path / "c.npy", np.array([0.1, 0.5]))
    assert parse_center(str(tmp_path / "c.npy")) == (F(0.1), F(1, 2))
    (tmp_path / "b.json").write_text('{"lower": [0.1, "-1"], "upper": [1, "2.5"]}')
    box = parse_box_file(tmp_path / "b.json")
    assert box.lower == (F(1, 10), F(-1)) and box.upper == (F(1), F(5, 2))
    for bad in ("", "1,x", str(tmp_path / "missing.json")):
        with pytest.raises(QueryError):
            parse_center(bad)
    (tmp_path / "bad.json").write_text('{"lower": [1], "upper": [0]}')
    with pytest.raises(QueryError, match="inverted"):
        parse_box_file(tmp_path / "bad.json")
    with pytest.raises(QueryError, match="not found"):
        parse_box_file(tmp_path / "nope.json")


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_local_exit_codes():
    r = _run("robust", "local", FC, "--center", "0.5,0.5", "--radius", "0.1", "--epsilon", "0.41", "--output", "0",
             "--quiet")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == "verified"
    r = _run("robust", "local", FC, "--center", "0.5,0.5", "--radius", "0.1", "--epsilon", "0.39", "--output", "0",
             "--json", "--quiet")
    assert r.exit_code == 10, r.output
    doc = json.loads(r.stdout)
    x = [F(v) for v in doc["counterexample"]["x"]]
    net = load_network(FC)
    assert _dev(net, x, [F(1, 2)] * 2) > F("0.39")
    r = _run("robust", "local", FC, "--center", "0.5,-0.5", "--radius", "0.1", "--quiet")
    assert r.exit_code == 20, r.output


@pytest.mark.parametrize("args, message", [
    (("--center", "0.5,0.5", "--radius", "0", "--epsilon", "1"), "radius must be > 0"),
    (("--center", "0.5,0.5", "--radius", "-1", "--epsilon", "1"), "radius must be > 0"),
    (("--center", "0.5,0.5,1", "--radius", "0.1", "--epsilon", "1"), "coordinates"),
    (("--center", "0.5,abc", "--radius", "0.1", "--epsilon", "1"), "not a number"),
    (("--center", "missing.npy", "--radius", "0.1", "--epsilon", "1"), "not found"),
])
def test_cli_local_bad_input(args, message):
    r = _run("robust", "local", FC, *args)
    assert r.exit_code == 3, r.output
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("verinet: error: ") and message in lines[0]
    assert "Traceback" not in r.output


def test_cli_missing_model(tmp_path):
    r = _run("robust", "local", tmp_path / "none.onnx", "--center", "0", "--radius", "1", "--epsilon", "1")
    assert r.exit_code == 3 and r.stderr.count("\n") == 1


def test_cli_global_params_radius(tmp_path):
    box = tmp_path / "box.json"
    box.write_text('{"lower": ["0.5", "0.5"], "upper": ["1", "1"]}')
    r = _run("robust", "global", FC, "--box", box, "--delta", "0.1", "--epsilon", "0.41", "--output", "0",
             "--time-limit", "5", "--quiet")
    assert r.exit_code == 0, r.output
    r = _run("robust", "global", FC, "--box", box, "--delta", "0.1", "--epsilon", "0.39", "--output", "0",
             "--time-limit", "5", "--quiet", "--json")
    assert r.exit_code == 10, r.output
    assert json.loads(r.stdout)["verdict"] == "falsified"
    r = _run("robust", "params", FC, "--box", box, "--quantize", "int8", "--epsilon", "0.05", "--time-limit", "3",
             "--no-lipschitz", "--quiet")
    assert r.exit_code == 0, r.output
    r = _run("robust", "params", FC, "--box", box, "--quantize", "int8", "--relative", "0.1")
    assert r.exit_code == 2
    r = _run("robust", "global", FC, "--domain", "--delta", "0.1", "--epsilon", "1")
    assert r.exit_code == 3 and "input domain" in r.stderr
    r = _run("robust", "radius", FC, "--center", "0.5,0.5", "--epsilon", "0.4", "--output", "0", "--r-max", "0.2",
             "--tol", "0.01", "--time-limit", "10", "--json", "--quiet")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert F(doc["verified_radius"]) <= F("0.1") <= F(doc["falsified_radius"])
