"""The verification search on the engine (:mod:`verinet.analyses.verify.objective`), against exact minima.

* verdicts: on random 2-input ReLU networks the property ``y₀ ≤ t`` is ``sat`` exactly when ``t`` is at
  least the exact minimum of ``y₀`` over the box (exact linear regions of :mod:`oracle`): the search gives
  that verdict (input splitting, neuron splitting, optimised slopes with split multipliers), and never
  the opposite one;
* the search is identical (status, boxes, margin) for 1, 2 and 3 processes evaluating its batches;
* mutations are caught: an enclosure whose lower ends are raised a little proves a property that is false;
  parent enclosures of the wrong shape are refused.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.verinet.test_alpha import build  # noqa: E402
from tests.verinet.test_beta import exact_range  # noqa: E402
from tests.verinet.test_parallel import _warm_pools  # noqa: E402

import verinet.analyses.verify.driver as driver  # noqa: E402
from intervals.array import IntervalArray  # noqa: E402
from verinet.analyses.verify import verify_vnnlib  # noqa: E402
from verinet.analyses.verify.enclosure import Enclosure  # noqa: E402
from verinet.analyses.verify.objective import SpecEvaluator  # noqa: E402
from verinet.analyses.verify.spec import case_spec  # noqa: E402
from verinet.analyses.verify.geometry import BoxGeometry  # noqa: E402
from verinet.io.vnnlib import parse_vnnlib  # noqa: E402

DECL = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"


def _case(seed: int):
    _, net, lo, hi = build(seed, [2, 8, 8, 2], ["relu", "relu", "identity"], "dyadic", "random")
    mins, maxs = exact_range(net, lo, hi)
    return net, lo, hi, mins[0], maxs[0]


def _prop(lo, hi, t: Fraction):
    box = "".join(f"(assert (>= X_{i} {float(lo[i])!r})) (assert (<= X_{i} {float(hi[i])!r}))" for i in range(2))
    return parse_vnnlib(DECL + box + f"(assert (<= Y_0 {float(t)!r}))")


MODES = [{"bounds": "linear", "neurons": "never"}, {"bounds": "linear", "neurons": "auto"},
         {"bounds": "alpha", "neurons": "auto"}]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("mode", MODES, ids=["input", "neuron", "alpha"])
def test_verdicts_agree_with_the_exact_minimum(seed, mode):
    net, lo, hi, lo_y, hi_y = _case(seed)
    gap = (hi_y - lo_y) / 16
    for t, want in ((lo_y - gap, "unsat"), (lo_y + gap, "sat")):
        prop = _prop(lo, hi, t)
        res = verify_vnnlib(net, prop, timeout=30, max_boxes=20000, **mode)
        assert res.result == want, (float(t), float(lo_y), res)
        if want == "sat":
            assert prop.violated_by_exact(res.x, net.evaluate_exact(res.x))
        else:  # the margin is a rigorous lower bound of the score over the box: y₀ − t ≥ margin > 0
            assert 0 < res.margin <= float(lo_y - Fraction(float(t)))


@pytest.mark.parametrize(("seed", "mode"), [(1, {"bounds": "ibp", "neurons": "never"}),
                                            (3, {"bounds": "alpha", "neurons": "auto"})], ids=["input", "alpha"])
def test_identical_for_any_worker_count(seed, mode, monkeypatch):
    """Budgeted searches (batches of several hundred nodes: four chunks each) give the same status, boxes and
    margin: the sampled split scores (input splitting) and the warm starts and parent enclosures that travel
    to the helpers (optimised slopes) do not depend on which process evaluates a chunk."""
    net, lo, hi, lo_y, hi_y = _case(seed)
    prop = _prop(lo, hi, lo_y - (hi_y - lo_y) / 4096)  # unsat, but not within the budget
    runs = []
    for workers, start in ((1, "auto"), (2, "fork"), (3, "spawn")):
        made = _warm_pools(monkeypatch, start, module=driver)
        res = verify_vnnlib(net, prop, timeout=120, max_boxes=1500, batch=1024, **mode, workers=workers)
        runs.append((res.result, res.boxes, res.margin))
        if workers > 1:
            assert made[-1].stats["helper_chunks"] > 0  # the helpers did evaluate chunks
    assert runs[0][0] in ("unknown", "unsat") and runs[0][1] > 1024
    assert runs[1] == runs[0] and runs[2] == runs[0]


def test_a_raised_lower_bound_is_caught(monkeypatch):
    """Mutation: enclosures whose lower ends are raised by 1/8 of the output range (unsound) prove
    ``y₀ ≤ t`` impossible for a ``t`` above the exact minimum: the verdict test above would fail."""
    net, lo, hi, lo_y, hi_y = _case(0)
    real = Enclosure.__call__
    shift = float(hi_y - lo_y) / 8

    def raised(self, L, H, F=None, parent=None, same=None):
        pre, out, empty = real(self, L, H, F, parent, same)
        return pre, IntervalArray.unchecked(out.lo + shift, out.hi + shift), empty

    monkeypatch.setattr(Enclosure, "__call__", raised)
    prop = _prop(lo, hi, lo_y + (hi_y - lo_y) / 16)
    res = verify_vnnlib(net, prop, timeout=30, max_boxes=20000, bounds="linear", neurons="never", seed=3)
    # the random points may still find the counterexample first; the search alone would be wrong
    assert res.result in ("unsat", "sat")
    monkeypatch.setattr("verinet.analyses.verify.falsify.Attacker.check", lambda self, X, s, limit=8: None)
    monkeypatch.setattr(driver, "pgd_attack", lambda *a, **k: None)
    monkeypatch.setattr("verinet.analyses.verify.objective.pgd_attack", lambda *a, **k: None)
    res = verify_vnnlib(net, prop, timeout=30, max_boxes=20000, bounds="linear", neurons="never")
    assert res.result == "unsat"  # the wrong verdict the exact-minimum test refuses


def test_parent_enclosures_of_the_wrong_shape_are_refused():
    net, lo, hi, lo_y, _ = _case(0)
    case = _prop(lo, hi, lo_y).cases[0]
    spec = case_spec(net, case)
    geom = BoxGeometry(case.lower, case.upper)
    ev = SpecEvaluator(spec.network, "alpha", spec.conjunctions, spec.strict, "auto", "multi4", geom, 0)
    L, H = geom.lo[None, :], geom.hi[None, :]
    F = np.zeros((1, ev.n_signs), dtype=np.int8)
    key = np.zeros((1, 2), dtype=np.int64)
    out = ev.chunk(L, H, F, np.zeros(1, dtype=bool), key)
    own = out[10:]
    assert len(own) == 2 * ev.n_bounds + 2 * (len(spec.network.layers) - 1)
    again = ev.chunk(L, H, F, np.ones(1, dtype=bool), key, *own)  # a valid parent: its own enclosures
    assert again[1][0] >= out[1][0]  # intersected with the parent's: never looser
    with pytest.raises(ValueError, match="parent enclosure"):
        ev.chunk(L, H, F, np.ones(1, dtype=bool), key, *own[:-1])
