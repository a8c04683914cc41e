"""The gradient MILP (:mod:`verinet.analyses.gradient_milp`): a candidate oracle for Lipschitz lower bounds.

* on random 1–2-input ReLU networks its optimum equals the exact constant (float tolerance: the MILP
  is a float model; it is never reported as a bound), and the fixed-sign variant stays below it;
* its candidate points, evaluated with verinet's rigorous point enclosures, give lower bounds that are
  ≤ the exact constant (exact comparison) and reach it;
* the unsupported cases are refused.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy.optimize")

from verinet.analyses.gradient_milp import gradient_milp, milp_candidates, supports_milp  # noqa: E402
from verinet.analyses.lipschitz import _Evaluator  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from oracle import exact_lipschitz, network_from_spec, random_spec  # noqa: E402

F = Fraction


@pytest.mark.parametrize("i", range(4))
def test_optimum_is_the_exact_constant_and_candidates_are_sound(i):
    rng = np.random.default_rng(11 + i)
    n_in = 1 + i % 2
    spec = random_spec(rng, n_in, [6, 5], 2)
    net = network_from_spec(spec)
    lo, hi = np.full(n_in, -0.5), np.full(n_in, 0.75)
    c = np.array([1.0, -1.0]) if i % 2 else np.array([1.0, 0.0])
    L = exact_lipschitz(spec, [F(v) for v in lo], [F(v) for v in hi], "inf", [F(int(v)) for v in c])
    res = gradient_milp(net, c, lo, hi, seconds=20)
    assert res.status == "optimal"
    assert abs(res.value - L.to_float()) <= 1e-6 * max(1.0, L.to_float())
    assert res.float_bound >= res.value - 1e-9
    sub = gradient_milp(net, c, lo, hi, seconds=20, direction=np.ones(n_in))
    assert sub.value <= res.value + 1e-9
    cand, _ = milp_candidates(net, c, lo, hi, seconds=10, full=0.5)
    ev = _Evaluator(net, c, "inf", None)
    low = ev.points(cand.points)
    assert all(L.ge(float(v)) for v in low)  # rigorous: never above the exact constant
    assert float(low.max()) >= L.to_float() * (1 - 1e-9)  # and the MILP's pattern reaches it


def test_deeper_network_candidates_are_sound():
    rng = np.random.default_rng(5)
    spec = random_spec(rng, 2, [5, 4, 4], 1, kind="decimal")
    net = network_from_spec(spec)
    lo, hi = np.array([-0.5, -0.25]), np.array([0.5, 0.5])
    L = exact_lipschitz(spec, [F(v) for v in lo], [F(v) for v in hi], "inf", 0)
    res = gradient_milp(net, np.array([1.0]), lo, hi, seconds=20)
    assert abs(res.value - L.to_float()) <= 1e-6 * max(1.0, L.to_float())
    cand, _ = milp_candidates(net, np.array([1.0]), lo, hi, seconds=5)
    low = _Evaluator(net, np.array([1.0]), "inf", None).points(cand.points)
    assert all(L.ge(float(v)) for v in low)


def test_unsupported_networks_and_norms():
    rng = np.random.default_rng(1)
    relu = network_from_spec(random_spec(rng, 2, [3], 1))
    smooth = network_from_spec(random_spec(rng, 2, [3], 1, act="sigmoid"))
    assert supports_milp(relu, "inf")
    assert not supports_milp(relu, "2") and not supports_milp(relu, "1")
    assert not supports_milp(smooth, "inf")
    # infinite pre-activation bounds give no big-M constants: no solve, no candidate
    pre = [(np.full(3, -np.inf), np.full(3, np.inf)), (np.zeros(1), np.zeros(1))]
    res = gradient_milp(relu, np.array([1.0]), np.zeros(2), np.ones(2), pre=pre,
                        grad_bounds=(np.full(2, -1.0), np.ones(2)), seconds=1)
    assert res.status == "failed" and res.x is None


@pytest.mark.parametrize("i", range(3))
def test_fixed_signs_restrict_the_solve(i):
    rng = np.random.default_rng(30 + i)
    spec = random_spec(rng, 2, [6, 5], 1)
    net = network_from_spec(spec)
    lo, hi = np.full(2, -0.5), np.full(2, 0.75)
    c = np.array([1.0])
    free = gradient_milp(net, c, lo, hi, seconds=20)
    k, j = int(rng.integers(0, 2)), int(rng.integers(0, 5))
    for s in (-1, 1):
        fixed = [np.zeros(6, dtype=np.int8), np.zeros(5, dtype=np.int8)]
        fixed[k][j] = s
        res = gradient_milp(net, c, lo, hi, seconds=20, fixed=fixed)
        if res.x is None:
            assert res.status == "infeasible"
            continue
        assert res.signs[k][j] == s  # the incumbent's pattern has the imposed sign
        assert res.value <= free.value * (1 + 1e-6) + 1e-9  # (float solves: mip_rel_gap 1e-6)


def test_restarts_reach_the_optimum_on_few_inputs():
    # on this network the ascent from the centre stops at a fixed point at 8.42 (optimum 9.72)
    rng = np.random.default_rng(10)
    spec = random_spec(rng, 4, [8, 6], 1)
    net = network_from_spec(spec)
    lo, hi = np.full(4, -0.5), np.full(4, 0.5)
    c = np.array([1.0])
    best = gradient_milp(net, c, lo, hi, seconds=20)
    assert best.status == "optimal"
    cand, _ = milp_candidates(net, c, lo, hi, seconds=8, seed=1)
    low = _Evaluator(net, c, "inf", None).points(cand.points)
    assert float(low.max()) >= best.value * (1 - 1e-6)
