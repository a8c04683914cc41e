"""The neuron-sign search through the worker pool (:mod:`verinet.analyses.lipschitz_neuron`, :mod:`verinet.parallel`).

* the pool's evaluator, rebuilt from the search's evaluator and the shipped root bounds, gives the chunk
  results of this process bit for bit;
* 1, 2 (forked or spawned) and 3 workers give identical Lipschitz results (bounds, parts, partition).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from verinet.region import Region

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from oracle import network_from_spec, random_spec  # noqa: E402

from tests.verinet.test_parallel import _warm_pools  # noqa: E402

L = importlib.import_module("verinet.analyses.lipschitz")
ln = importlib.import_module("verinet.analyses.lipschitz_neuron")

MAX_BOXES = 300  # batches of up to 37 parts: several chunks of PART_CHUNK


@pytest.fixture(scope="module")
def query():
    """A 64-32-32-2 ReLU network (the neuron search's input size), a box on which the root tightening
    lowers the bounds, and an output margin."""
    net = network_from_spec(random_spec(np.random.default_rng(3), 64, [32, 32], 2))
    return net, Region.box(["-0.005"] * 64, ["0.005"] * 64), [1.0, -1.0]


def _run(query, **kw):
    net, region, output = query
    return L.lipschitz(net, region, output=output, max_boxes=MAX_BOXES, search=0.0, **kw)


@pytest.fixture(scope="module")
def reference(query):
    r = _run(query, workers=1)
    assert r.strategy == "neurons" and r.status is L.Status.BOX_LIMIT
    return r


def _key(r):
    return (r.lower, r.upper, r.status, r.boxes, r.witness, r.partition, r.root is None,
            tuple(h[1:] for h in r.history))


@pytest.mark.parametrize("mode", ["root", "beta"])
def test_rebuilt_evaluator_matches_this_process(query, mode):
    net, region, output = query
    c, _ = L._output_label(net, output)
    lo, hi = region.outer_box()
    ev = L._Evaluator(net, c, "inf", None, hi > lo, "linear", "linear")
    tight = ln._Tightening(net, ev.kinked, mode)
    ln._evaluate(ev, net, lo, hi, np.zeros((1, ev.n_kinked), dtype=np.int8), tight=tight)  # the root
    assert tight.root is not None
    rng = np.random.default_rng(0)
    F = np.where(rng.random((12, ev.n_kinked)) < 0.05, rng.choice([-1, 1], (12, ev.n_kinked)), 0).astype(np.int8)
    mine = ln._evaluate(ev, net, lo, hi, F, "effect", tight)
    other = ln._PartEvaluator(net, ln._evaluator_args(ev), lo, hi, "effect", tight.mode, tight.root).chunk(F)
    assert all(np.array_equal(a, b) for a, b in zip(mine, other))
    if mode == "beta":  # each part re-bounded: the root's bounds need not matter any more
        return
    # the shipped root bounds are used: without them the workers' bounds would be looser somewhere
    loose = ln._PartEvaluator(net, ln._evaluator_args(ev), lo, hi, "effect", tight.mode, None)
    loose.tight.root = None
    up = loose.chunk(F)[0]
    assert np.all(up >= mine[0]) and np.any(up > mine[0])


@pytest.mark.parametrize(("workers", "start"), [(2, "fork"), (2, "spawn"), (3, "fork")])
def test_neuron_search_identical_with_workers(query, reference, monkeypatch, workers, start):
    made = _warm_pools(monkeypatch, start, module=ln)
    r = _run(query, workers=workers)
    assert _key(r) == _key(reference)
    assert len(made) == 1 and made[0].stats["helper_chunks"] > 0
    assert not made[0].pids  # closed at the end of the search


def test_neuron_search_default_pool_identical(query, reference):
    """The pool as the search makes it (helpers start in the background, join when ready)."""
    assert _key(_run(query, workers=2)) == _key(reference)
