"""The branch-and-bound engine (verinet.search): frontier order, stopping rules, the loop on toy objectives."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from verinet.search import (Frontier, Node, ObjectiveBase, Search, SearchConfig, Status, bisect, neuron_children,
                            stop_status)


def _node(bound):
    return Node(None, None, bound=bound)


def test_frontier_best_first_ties_to_the_older_node():
    f = Frontier("best")
    nodes = [_node(b) for b in (1.0, 3.0, 3.0, 2.0, 3.0)]
    for n in nodes:
        f.push(n)
    order = [f.pop() for _ in range(len(nodes))]
    assert order == [nodes[1], nodes[2], nodes[4], nodes[3], nodes[0]]
    assert f.top() == -math.inf and len(f) == 0


def test_frontier_restore_keeps_the_insertion_number_and_fifo_ignores_bounds():
    f = Frontier("best")
    a, b = _node(2.0), _node(2.0)
    f.push(a)
    f.push(b)
    first = f.pop()
    f.restore(first)  # back in front of b, not behind it
    assert f.pop() is a and f.pop() is b
    q = Frontier("fifo")
    nodes = [_node(b) for b in (1.0, 5.0, 2.0)]
    for n in nodes:
        q.push(n)
    assert q.top() == 5.0  # the largest open bound, whatever the order
    assert [q.pop() for _ in nodes] == nodes
    assert [n.seq for n in nodes] == [0, 1, 2]


def _stop(config, **kw):
    base = dict(lower=0.0, upper=10.0, top=10.0, held=-math.inf, open_nodes=5, n_held=0, partition=5, boxes=0,
                elapsed=0.0)
    base.update(kw)
    return stop_status(config, **base)


def test_stop_rules_and_their_precedence():
    c = SearchConfig(tol=0.1, max_boxes=100, time_limit=1.0, max_nodes=50)
    assert _stop(c) is None
    assert _stop(c, lower=9.0) is Status.CONVERGED
    assert _stop(SearchConfig(tol=0.0, zero_floor=1e-300), upper=1e-301, top=1e-301) is Status.CONVERGED
    assert _stop(c, n_held=1, held=10.0) is Status.RESOLUTION  # a held node decides the bound
    assert _stop(c, n_held=1, held=9.0) is None  # ... not when an open node is above it
    assert _stop(c, boxes=100) is Status.BOX_LIMIT
    assert _stop(c, partition=51) is Status.BOX_LIMIT
    assert _stop(c, elapsed=1.0) is Status.TIME_LIMIT
    # the goal first, then resolution, then the budgets (boxes before time)
    assert _stop(c, lower=9.5, boxes=100, elapsed=2.0) is Status.CONVERGED
    assert _stop(c, n_held=1, held=10.0, boxes=100) is Status.RESOLUTION
    assert _stop(c, boxes=100, elapsed=2.0) is Status.BOX_LIMIT
    t = SearchConfig(threshold=1.0)
    assert _stop(t, top=1.0) is Status.PROVED
    assert _stop(t, top=1.0, n_held=1, held=2.0) is Status.RESOLUTION  # a held node above: not proved
    assert _stop(t, open_nodes=0, top=-math.inf) is Status.PROVED  # every node closed
    with pytest.raises(ValueError, match="order"):
        SearchConfig(order="random")


def test_bisect_rules():
    lo, hi, w = np.array([0.0, 0.0, 1.0]), np.array([1.0, 4.0, 1.0]), np.array([1.0, 8.0, 0.0])
    (a, b), (c, d) = bisect(lo, hi, w, "widest")  # relative widths 1, 0.5, 0
    assert a[0] == 0 and b[0] == 0.5 and c[0] == 0.5 and d[0] == 1 and (b[1:] == hi[1:]).all()
    kids = bisect(lo, hi, w, "influence", np.array([1.0, 1.0, 9.0]))  # width × score: 1, 4, 0
    assert kids[0][1][1] == 2.0
    assert bisect(lo, hi, w, "influence", np.zeros(3))[0][1][0] == 0.5  # no influence: the widest
    assert len(bisect(lo, hi, w, "bisect-all")) == 4
    tiny = np.array([1.0, np.nextafter(1.0, 2.0)])
    assert bisect(tiny[:1], tiny[1:], np.ones(1), "widest") is None
    with pytest.raises(ValueError, match="rule"):
        bisect(lo, hi, w, "random")
    f = np.zeros(3, dtype=np.int8)
    assert [k.tolist() for k in neuron_children(f, 1)] == [[0, -1, 0], [0, 1, 0]] and not f.any()


class _Sup(ObjectiveBase):
    """sup of f(x) = x(1 − x) on [0, 1] from the sound bound hi·(1 − lo) of boxes, with a lower bound at centres."""

    batch = 4

    def evaluate(self, nodes, search):
        for n in nodes:
            lo, hi = Fraction(n.lo[0]), Fraction(n.hi[0])
            n.bound = min(n.bound, float(hi * (1 - lo)) * (1 + 1e-15))
            c = (lo + hi) / 2
            search.improve_lower(float(c * (1 - c)) * (1 - 1e-15), (float(c),))

    def expand(self, node, search):
        kids = bisect(node.lo, node.hi, np.ones(1), "widest")
        if kids is None:
            search.hold(node)
            return []
        return [Node(lo, hi, bound=node.bound) for lo, hi in kids]


def _run(objective, config):
    s = Search(objective, config)
    s.add([Node(np.array([0.0]), np.array([1.0]))])
    return s.run()


def test_the_loop_brackets_the_supremum_and_keeps_a_partition():
    out = _run(_Sup(), SearchConfig(tol=1e-3))
    assert out.status is Status.CONVERGED
    assert out.lower <= 0.25 <= out.upper and out.upper - out.lower <= 1e-3 * out.upper
    # nothing dropped: the open nodes tile [0, 1]
    boxes = sorted((n.lo[0], n.hi[0]) for n in out.open)
    assert boxes[0][0] == 0.0 and boxes[-1][1] == 1.0
    assert all(a[1] == b[0] for a, b in zip(boxes, boxes[1:]))
    assert out.upper == max(n.bound for n in out.open)
    assert out.boxes == 2 * len(out.open) - 1  # every split adds two evaluated boxes and one leaf
    assert [h[2] for h in out.history] == sorted(h[2] for h in out.history)  # the lower bound never decreases
    again = _run(_Sup(), SearchConfig(tol=1e-3))
    assert (again.lower, again.upper, again.boxes) == (out.lower, out.upper, out.boxes)
    assert [n.seq for n in again.open] == [n.seq for n in out.open]


def test_budgets_and_threshold():
    assert _run(_Sup(), SearchConfig(tol=0.0, max_boxes=9)).status is Status.BOX_LIMIT
    assert _run(_Sup(), SearchConfig(tol=0.0, max_nodes=6)).status is Status.BOX_LIMIT
    assert _run(_Sup(), SearchConfig(tol=0.0, time_limit=0.0)).status is Status.TIME_LIMIT
    out = _run(_Sup(), SearchConfig(threshold=0.26))
    assert out.status is Status.PROVED and out.upper <= 0.26 and out.closed and not out.open
    # the closed boxes tile [0, 1]
    assert sum(n.hi[0] - n.lo[0] for n in out.closed) == 1.0


def test_resolution_when_nothing_can_be_refined():
    class Stuck(_Sup):
        def expand(self, node, search):
            search.restore(node)
            return []

    assert _run(Stuck(), SearchConfig(tol=0.0)).status is Status.RESOLUTION
    # held nodes at float resolution: sup of x(1 − x) on a box two floats wide
    s = Search(_Sup(), SearchConfig(tol=0.0))
    s.add([Node(np.array([0.5]), np.array([np.nextafter(0.5, 1.0)]))])
    out = s.run()
    assert out.status is Status.RESOLUTION and out.held and out.upper >= 0.25


def test_lazy_fifo_and_finish():
    class Count(ObjectiveBase):
        batch = 3
        evaluated: list = []

        def evaluate(self, nodes, search):
            self.evaluated.append([n.seq for n in nodes])

        def expand(self, node, search):
            if node.hi[0] - node.lo[0] <= 0.25:
                search.close(node)
                return []
            return [Node(lo, hi) for lo, hi in bisect(node.lo, node.hi, np.ones(1), "widest")]

    ob = Count()
    out = _run(ob, SearchConfig(order="fifo", lazy=True))
    assert out.status is Status.PROVED and out.boxes == 7 and len(out.closed) == 4
    assert ob.evaluated == [[0], [1, 2], [3, 4, 5], [6]]  # creation order, in batches
    assert [n.lo[0] for n in out.closed] == [0.0, 0.25, 0.5, 0.75]

    class Found(_Sup):
        def evaluate(self, nodes, search):
            super().evaluate(nodes, search)
            if search.lower > 0.24:
                search.finish(Status.FALSIFIED, "x")

    out = _run(Found(), SearchConfig(tol=0.0))
    assert out.status is Status.FALSIFIED and out.payload == "x"


def test_robustness_json_keeps_its_status_words():
    from verinet.analyses.robustness import ParamResult, Perturbation

    r = ParamResult(None, Perturbation.absolute("0.1"), None, (0,), 1.0, 0.0, None, Status.TIME_LIMIT)
    assert r.to_json()["status"] == "timeout" == r.status_text
    for s in (Status.PROVED, Status.CONVERGED, Status.BOX_LIMIT, Status.RESOLUTION, Status.FALSIFIED):
        assert ParamResult(None, Perturbation.absolute("0.1"), None, (0,), 1.0, 0.0, None, s).to_json()["status"] \
            == s.value


def test_bound_search_threshold_closes_boxes_and_keeps_unsplittable_ones():
    """``_bound_search`` on a quantity that is 2 on boxes containing 0.5 and 0 elsewhere: with threshold 1
    every other box closes, the ones around 0.5 shrink to float resolution and decide the result."""
    from verinet.analyses.robustness import _bound_search

    def evaluate(L, H):
        hit = (L[:, 0] <= 0.5) & (0.5 <= H[:, 0])
        return np.where(hit, 2.0, 0.0), np.ones(L.shape)

    lo, hi = np.array([0.0]), np.array([1.0])
    out = _bound_search(evaluate, lo, hi, threshold=1.0, deadline=math.inf, max_boxes=10**4)
    assert out.status is Status.RESOLUTION and out.upper == 2.0 and out.held
    assert all(n.hi[0] == np.nextafter(n.lo[0], 2.0) for n in out.held)
    out = _bound_search(evaluate, np.array([0.6]), hi, threshold=1.0, deadline=math.inf, max_boxes=10**4)
    assert out.status is Status.PROVED and out.upper == 0.0 and out.boxes == 1
    out = _bound_search(evaluate, lo, hi, threshold=None, deadline=math.inf, max_boxes=50, tol=1e-3)
    assert out.status is Status.BOX_LIMIT and out.upper == 2.0
