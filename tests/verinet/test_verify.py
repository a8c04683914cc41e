"""``verify_vnnlib`` and ``verinet verify``: known answers, exact re-checks of every counterexample.

Expected answers of the VNN-COMP test instances, worked out by hand (one input, ``x ∈ [−1, 1]``):

* ``test_nano``: ``y = relu(x/2) ∈ [0, 1/2]``; unsafe ``y ≤ −1``: unsat.
* ``test_tiny``: ``y = relu(x) ∈ [0, 1]``; unsafe ``y ≥ 100``: unsat.
* ``test_small``: ``h = relu(x + 1.5) ∈ [1/2, 5/2]`` (twice), ``g = 4h + 2.5 ∈ [4.5, 12.5]`` (twice),
  ``y = 6g + 3.5 ∈ [30.5, 78.5]``; unsafe ``y ≥ 100``: unsat.

``test_sat.onnx``/``test_unsat.onnx`` are listed in ``test_instances.csv`` but not shipped: skipped.
ACAS Xu (VNN-COMP 2021): properties 3 and 4 are violated on network 1_9, hold on 1_1 and 3_3.
"""

from __future__ import annotations

import csv
import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.helpers import exact_forward, random_spec
from verinet import Layer, Network
from verinet.cli import main
from verinet.io import load_network
from verinet.analyses.verify import Verdict, build_spec, verify_vnnlib
from verinet.io.vnnlib import parse_vnnlib

DATA = Path(__file__).resolve().parents[1] / "data"
SHARED = Path(__file__).resolve().parents[1] / "data"
VNN = SHARED / "vnncomp_test"
ACAS = SHARED / "acasxu"
F = Fraction
EXPECTED = {"test_nano.vnnlib": "unsat", "test_tiny.vnnlib": "unsat", "test_small.vnnlib": "unsat"}


def _vnn_instances():
    if not (VNN / "test_instances.csv").is_file():
        return []
    rows = list(csv.reader((VNN / "test_instances.csv").read_text().splitlines()))
    return [pytest.param(r[0], r[1], marks=pytest.mark.skipif(not (VNN / r[0]).is_file(), reason=f"{r[0]} missing"))
            for r in rows if r]


def _check_sat(net, prop, res):
    """The witness is inside a case box and violates the property, in exact arithmetic."""
    assert res.result == "sat" and res.verdict is Verdict.FALSIFIED
    y = net.evaluate_exact(res.x)
    assert tuple(y) == tuple(res.y)
    assert prop.violated_by_exact(res.x, y)
    assert any(case.contains_exact(res.x) for case in prop.cases)


def _one_input_range(spec, a, b):
    """Exact range of a one-input ReLU network over [a, b] (kinks located exactly, layer by layer)."""
    pieces = [(F(a), F(b))]
    for layer in range(len(spec.weights)):
        new = []
        for p, q in pieces:
            zp, zq = exact_forward(spec, [p])[0][layer], exact_forward(spec, [q])[0][layer]
            cuts = sorted({p + (q - p) * u / (u - v) for u, v in zip(zp, zq) if (u < 0 < v) or (v < 0 < u)})
            pts = [p] + cuts + [q]
            new += list(itertools.pairwise(pts))
        pieces = new
    vals = [exact_forward(spec, [x])[1][0] for piece in pieces for x in piece]
    return min(vals), max(vals)


# --------------------------------------------------------------------------------------------------
# VNN-COMP test instances


@pytest.mark.parametrize("onnx_name, vnnlib_name", _vnn_instances())
def test_vnncomp_instances(onnx_name, vnnlib_name):
    net = load_network(VNN / onnx_name)
    prop = parse_vnnlib(VNN / vnnlib_name)
    res = verify_vnnlib(net, prop, timeout=20)
    assert res.result == EXPECTED[vnnlib_name]
    r = CliRunner().invoke(main, ["verify", str(VNN / onnx_name), str(VNN / vnnlib_name), "--timeout", "20", "--quiet"])
    assert r.exit_code == 0 and r.stdout == "unsat\n"


def test_hand_answers_agree_with_exact_ranges():
    for name, (lo, hi), unsafe in (("test_nano", (F(0), F(1, 2)), lambda v: v <= -1),
                                   ("test_small", (F(61, 2), F(157, 2)), lambda v: v >= 100)):
        net = load_network(VNN / f"{name}.onnx") if (VNN / f"{name}.onnx").is_file() else None
        if net is None:
            pytest.skip("shared data not available")
        ys = [net.evaluate_exact([F(i, 50)])[0] for i in range(-50, 51)]
        assert min(ys) == lo and max(ys) == hi and not any(unsafe(v) for v in ys)


# --------------------------------------------------------------------------------------------------
# ACAS Xu


@pytest.mark.skipif(not ACAS.is_dir(), reason="ACAS Xu data not available")
@pytest.mark.parametrize("prop_no", [3, 4])
def test_acas_1_9_props_3_4_are_sat(prop_no):
    net = load_network(ACAS / "ACASXU_run2a_1_9_batch_2000.onnx")
    prop = parse_vnnlib(ACAS / f"prop_{prop_no}.vnnlib")
    res = verify_vnnlib(net, prop, timeout=116)
    _check_sat(net, prop, res)
    assert res.seconds < 116
    text = res.to_text().splitlines()
    assert text[0] == "sat" and text[1].startswith("((X_0 ") and text[-1].endswith("))")


@pytest.mark.skipif(not ACAS.is_dir(), reason="ACAS Xu data not available")
def test_acas_unsat_instance_is_never_sat():
    net = load_network(ACAS / "ACASXU_run2a_1_1_batch_2000.onnx")
    prop = parse_vnnlib(ACAS / "prop_3.vnnlib")
    res = verify_vnnlib(net, prop, timeout=6)
    assert res.result in ("unsat", "unknown", "timeout")
    assert res.x is None


@pytest.mark.skipif(not ACAS.is_dir(), reason="ACAS Xu data not available")
@pytest.mark.parametrize("prop_no", [3, 4])
def test_acas_3_3_props_3_4_are_proved(prop_no):
    pytest.importorskip("verinet.bounds.linear")
    net = load_network(ACAS / "ACASXU_run2a_3_3_batch_2000.onnx")
    res = verify_vnnlib(net, parse_vnnlib(ACAS / f"prop_{prop_no}.vnnlib"), timeout=60)
    assert res.result == "unsat" and res.margin > 0  # the linear bounds prove these in about a second


def _exact_score(prop, y) -> Fraction:
    """``min over disjuncts of max over constraints (c·y − d)`` in exact arithmetic (one case)."""
    (case,) = prop.cases
    return min(max(c.value_exact(y) - c.rhs for c in conj) for conj in case.unsafe)


@pytest.mark.skipif(not ACAS.is_dir(), reason="ACAS Xu data not available")
def test_acas_margin_is_a_lower_bound_of_the_exact_score():
    # 3_3 property 2 holds with a small margin: some inputs have a score of about 1e-3. The reported
    # margin (a rigorous lower bound over the whole box) must not exceed the exact score at such a point.
    net = load_network(ACAS / "ACASXU_run2a_3_3_batch_2000.onnx")
    prop = parse_vnnlib(ACAS / "prop_2.vnnlib")
    (case,) = prop.cases
    rng = np.random.default_rng(0)
    lo = np.array([float(v) for v in case.lower])
    hi = np.array([float(v) for v in case.upper])
    X = np.clip(lo + rng.random((20000, 5)) * (hi - lo), lo, hi)
    Y = net.approx_evaluate(X)
    approx = np.min([np.max([Y @ np.array([float(v) for v in c.coef]) - float(c.rhs) for c in conj], axis=0)
                     for conj in case.unsafe], axis=0)
    x = [float(v) for v in X[int(np.argmin(approx))]]
    assert case.contains_exact(x)
    score = _exact_score(prop, net.evaluate_exact(x))
    res = verify_vnnlib(net, prop, timeout=8)
    assert res.result in ("unsat", "timeout", "unknown")
    assert res.margin is not None and Fraction(res.margin) <= score


@pytest.mark.skipif(not ACAS.is_dir(), reason="ACAS Xu data not available")
@pytest.mark.parametrize("method", ["linear", "ibp"])
def test_batch_enclosures_contain_exact_values(method):
    from verinet.analyses.verify import _Enclosure

    if method == "linear":
        pytest.importorskip("verinet.bounds.linear")
    net = load_network(ACAS / "ACASXU_run2a_1_1_batch_2000.onnx")
    prop = parse_vnnlib(ACAS / "prop_3.vnnlib")
    (case,) = prop.cases
    spec = build_spec(net, [c.coef for c in case.unsafe[0]], [c.rhs for c in case.unsafe[0]], [(0, 1, 2, 3)],
                      [False] * 4)
    rng = np.random.default_rng(3)
    lo = np.array([float(v) for v in case.lower])
    hi = np.array([float(v) for v in case.upper])
    L = lo + rng.random((8, 5)) * (hi - lo) * 0.75
    H = L + (hi - lo) / 4
    _, Z, _ = _Enclosure(spec.network, method)(L, H)
    for b in range(8):
        x = list(L[b] + rng.random(5) * (H[b] - L[b]))
        z = spec.atoms_exact(net.evaluate_exact(x))
        assert all(F(Z.lo[b, i]) <= z[i] <= F(Z.hi[b, i]) for i in range(4))


@pytest.mark.skipif(not ACAS.is_dir(), reason="ACAS Xu data not available")
def test_acas_nnet_in_normalised_coordinates_cli(tmp_path):
    out = tmp_path / "result.txt"
    r = CliRunner().invoke(main, ["verify", str(ACAS / "ACASXU_run2a_1_9_batch_2000.nnet"),
                                  str(ACAS / "prop_3.vnnlib"), "--timeout", "60", "--result", str(out), "--quiet"])
    assert r.exit_code == 10, r.output
    assert out.read_text() == r.stdout and r.stdout.startswith("sat\n")
    values = {}
    for line in r.stdout.splitlines()[1:]:
        name, v = line.strip(" ()").split()
        values[name] = F(v)
    x = [values[f"X_{i}"] for i in range(5)]
    net = load_network(ACAS / "ACASXU_run2a_1_9_batch_2000.nnet", coordinates="normalized")
    assert parse_vnnlib(ACAS / "prop_3.vnnlib").violated_by_exact(x, net.evaluate_exact(x))


# --------------------------------------------------------------------------------------------------
# small networks with exact answers


def _identity_net():
    return Network((Layer.from_exact([["1"]], ["0"], "identity"),))


def _prop(body: str, n_in: int = 1, n_out: int = 1) -> str:
    decl = "".join(f"(declare-const X_{i} Real)\n" for i in range(n_in))
    decl += "".join(f"(declare-const Y_{j} Real)\n" for j in range(n_out))
    return decl + body


def test_tight_non_strict_constraint_is_sat_at_the_boundary():
    # y = x on [0, 1]; unsafe y <= 0 holds exactly at x = 0
    prop = parse_vnnlib(_prop("(assert (>= X_0 0)) (assert (<= X_0 1)) (assert (<= Y_0 0))"))
    res = verify_vnnlib(_identity_net(), prop, timeout=10)
    _check_sat(_identity_net(), prop, res)


def test_strict_constraint_at_the_boundary_is_never_sat():
    # unsafe y < 0 is impossible on [0, 1]; with plain intervals the proof needs min y ≥ 0 exactly
    prop = parse_vnnlib(_prop("(assert (>= X_0 0)) (assert (<= X_0 1)) (assert (< Y_0 0))"))
    res = verify_vnnlib(_identity_net(), prop, timeout=3)
    assert res.result in ("unsat", "unknown", "timeout")


def test_decimal_bounds_and_disjunctions():
    # y0 = x0 − x1, y1 = x0 + x1 on [0.1, 0.3]²: y0 ∈ [−0.2, 0.2], y1 ∈ [0.2, 0.6]
    net = Network((Layer.from_exact([["1", "-1"], ["1", "1"]], ["0", "0"], "identity"),))
    box = "(assert (>= X_0 0.1)) (assert (<= X_0 0.3)) (assert (>= X_1 0.1)) (assert (<= X_1 0.3))"
    unsat = parse_vnnlib(_prop(box + "(assert (or (>= Y_0 0.21) (<= Y_1 0.19) (and (>= Y_0 0.1) (>= Y_1 0.55))))",
                               2, 2))
    for method in ("auto", "ibp"):
        assert verify_vnnlib(net, unsat, timeout=10, bounds=method).result == "unsat"
    sat = parse_vnnlib(_prop(box + "(assert (or (>= Y_0 0.21) (and (>= Y_0 0.1) (>= Y_1 0.45))))", 2, 2))
    res = verify_vnnlib(net, sat, timeout=10)
    _check_sat(net, sat, res)


@pytest.mark.parametrize("seed", range(6))
def test_random_one_input_networks_agree_with_the_exact_range(seed):
    rng = np.random.default_rng(100 + seed)
    spec = random_spec(rng, [1, 5, 5, 1], "relu", dyadic_bits=5)
    net = spec.build()
    lo, hi = _one_input_range(spec, F(-1), F(1))
    margin = (hi - lo) / 20
    for threshold, expected in ((hi + margin, "unsat"), (hi - margin, "sat")):
        t = f"{float(threshold):.6f}"
        prop = parse_vnnlib(_prop(f"(assert (>= X_0 -1)) (assert (<= X_0 1)) (assert (>= Y_0 {t}))"))
        res = verify_vnnlib(net, prop, timeout=20)
        assert res.result == expected, (threshold, lo, hi, res)
        if expected == "sat":
            _check_sat(net, prop, res)


def test_spec_network_is_exact():
    rng = np.random.default_rng(5)
    spec = random_spec(rng, [3, 4, 3], "relu", exact_decimals=True)
    net = spec.build()
    s = build_spec(net, [["1", "-1", "0"], ["0.5", "0", "3"]], ["0.1", "-2"], [(0,), (1,)], [False, True])
    for _ in range(5):
        x = [F(int(v), 7) for v in rng.integers(-7, 8, 3)]
        y = net.evaluate_exact(x)
        z = s.network.evaluate_exact(x)
        assert z == [y[0] - y[1] - F("0.1"), F(1, 2) * y[0] + 3 * y[2] + 2]
        assert s.atoms_exact(y) == z


def test_dimension_mismatch_is_a_query_error():
    from verinet.errors import QueryError

    prop = parse_vnnlib(_prop("(assert (>= X_0 0)) (assert (<= X_0 1)) (assert (>= X_1 0)) (assert (<= X_1 1))"
                              "(assert (<= Y_0 0))", 2, 1))
    with pytest.raises(QueryError, match="inputs"):
        verify_vnnlib(_identity_net(), prop)


# --------------------------------------------------------------------------------------------------
# command line


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_bad_inputs(tmp_path):
    good_net = DATA / "vnncomp_test" / "test_nano.onnx"
    bad = tmp_path / "bad.vnnlib"
    bad.write_text("(declare-const X_0 Real)\n(assert (<= X_0 1)\n")
    two = tmp_path / "two.vnnlib"
    two.write_text(_prop("(assert (>= X_0 0)) (assert (<= X_0 1)) (assert (>= X_1 0)) (assert (<= X_1 1))"
                         "(assert (<= Y_0 0))", 2, 1))
    cases = [
        (good_net, bad),  # malformed property
        (good_net, tmp_path / "missing.vnnlib"),  # missing property
        (tmp_path / "missing.onnx", DATA / "test_nano.vnnlib"),  # missing model
        (good_net, two),  # wrong dimension
    ]
    for model, prop in cases:
        r = _run("verify", model, prop, "--timeout", "5")
        assert r.exit_code == 3, (model, prop, r.output)
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("verinet: error: ") and "Traceback" not in r.output
    r = _run("verify", good_net, DATA / "test_nano.vnnlib", "--timeout", "0")
    assert r.exit_code == 3


def test_cli_unknown_exit_code(tmp_path):
    prop = tmp_path / "strict.vnnlib"
    prop.write_text(_prop("(assert (>= X_0 0)) (assert (<= X_0 1)) (assert (< Y_0 0))"))
    net = tmp_path / "identity.json"
    from verinet.io import save_network

    save_network(_identity_net(), net)
    r = _run("verify", net, prop, "--timeout", "2", "--json", "--quiet")
    assert r.exit_code in (0, 20)
    assert '"result"' in r.stdout
