"""Lower-bound searches inside the branch-and-bound's worst boxes (``verinet.analyses.leaf_search``), the batch
size rule of the search loop, and ``verinet lipschitz --search``.

The leaf search is a float heuristic; what must hold exactly is that every lower bound it leads to is a
rigorous enclosure at a point of the region (exact rational oracle of ``tests/oracle.py``).
"""

from __future__ import annotations

import importlib
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from verinet.cli import main
from verinet.analyses.leaf_search import leaf_candidates
from verinet.analyses.lipschitz import lipschitz
from verinet.region import Region

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from oracle import exact_lipschitz, network_from_spec, random_spec  # noqa: E402

F = Fraction
L = importlib.import_module("verinet.analyses.lipschitz")
SEED = Path(__file__).resolve().parents[1] / "data" / "seed"


def _case(seed: int, n: int = 2):
    rng = np.random.default_rng(300 + seed)
    spec = random_spec(rng, n, [8, 8], 1)
    lo, hi = [F(-1, 2)] * n, [F(1, 2)] * n
    return spec, lo, hi


def _count_rounds(monkeypatch) -> list:
    calls: list = []
    real = L.leaf_candidates

    def counted(*a, **k):
        calls.append(len(a[3]))
        return real(*a, **k)

    monkeypatch.setattr(L, "leaf_candidates", counted)
    return calls


@pytest.mark.parametrize("seed", range(4))
def test_leaf_searches_run_and_bounds_contain_the_exact_constant(seed, monkeypatch):
    calls = _count_rounds(monkeypatch)
    spec, lo, hi = _case(seed, 2)
    exact = exact_lipschitz(spec, lo, hi, "inf", 0)
    r = lipschitz(network_from_spec(spec), Region.box(lo, hi), max_boxes=400, batch=4, seed=seed)
    assert calls, "no leaf search ran"
    assert exact.ge(r.lower) and exact.le(r.upper), (r.lower, r.upper, exact)


def test_mutation_points_outside_the_region_are_never_bounds(monkeypatch):
    """Deliberate bug: the leaf search proposes points outside the region, where the network is steeper
    (``f = relu(x) + 9 relu(x − 1)``: slope 1 on [0, 1], 10 beyond). They must not become lower bounds."""
    from verinet.network import Layer, Network

    net = Network((Layer.from_exact([["1"], ["1"]], ["0", "-1"], "relu"),
                   Layer.from_exact([["1", "9"]], ["0"], "identity")))
    monkeypatch.setattr(L, "leaf_candidates", lambda *a, **k: np.array([[1.5], [2.0]]))
    r = lipschitz(net, Region.box(["0"], ["1"]), max_boxes=200, batch=2, tol=0.0)
    assert r.lower <= 1.0 <= r.upper


def test_mutation_float_values_as_bounds_are_caught(monkeypatch):
    """Deliberate bug: take the leaf search's float gradient norms as lower bounds at kinks. The kink
    case (``f = 5 relu(x + 10) − 4 relu(x)`` on [0, 1], constant 1; the float gate at x = 0 sees slope 5)
    then reports a lower bound above the constant."""
    from verinet.analyses.gradient_search import approx_gradient_norms
    from verinet.network import Layer, Network

    net = Network((Layer.from_exact([["1"], ["1"]], ["10", "0"], "relu"),
                   Layer.from_exact([["5", "-4"]], ["0"], "identity")))
    monkeypatch.setattr(L, "leaf_candidates", lambda *a, **k: np.array([[0.0]]))
    good = lipschitz(net, Region.box(["0"], ["1"]), max_boxes=60, batch=2)
    assert good.lower <= 1.0
    monkeypatch.setattr(L._Evaluator, "points", lambda self, x: approx_gradient_norms(net, self.c, x, self.norm))
    bad = lipschitz(net, Region.box(["0"], ["1"]), max_boxes=60, batch=2)
    assert bad.lower > 1.0  # the oracle comparison above is what catches this


def test_leaf_candidates_stay_in_their_boxes_and_are_deterministic():
    spec, lo, hi = _case(0, 3)
    net = network_from_spec(spec)
    boxes = [(np.array([-0.5, -0.5, 0.0]), np.array([0.0, 0.0, 0.5])),
             (np.array([0.1, 0.2, -0.5]), np.array([0.3, 0.5, -0.25]))]
    a = leaf_candidates(net, np.array([1.0]), "inf", boxes, np.ones(3, dtype=bool), seed=3)
    b = leaf_candidates(net, np.array([1.0]), "inf", boxes, np.ones(3, dtype=bool), seed=3)
    assert np.array_equal(a, b) and len(a)
    inside = [((a >= blo) & (a <= bhi)).all(axis=1) for blo, bhi in boxes]
    assert np.logical_or(*inside).all()


def test_leaf_searches_go_to_the_boxes_with_the_largest_upper_bounds(monkeypatch):
    """``f = 50 relu(x1 + x2 − 1.9) + x1`` on [0, 1]²: gradient l1 norm 101 on the corner triangle
    ``x1 + x2 > 1.9``, 1 elsewhere. Every box a leaf search is given must reach into the triangle (the
    others have upper bounds near 1, below the lower bound), and the lower bound reaches 101."""
    from verinet.network import Layer, Network

    net = Network((Layer.from_exact([["1", "1"], ["1", "0"], ["-1", "0"]], ["-1.9", "0", "0"], "relu"),
                   Layer.from_exact([["50", "1", "-1"]], ["0"], "identity")))
    seen: list = []
    real = L.leaf_candidates

    def spy(network, c, norm, boxes, free, seed=0):
        seen.extend(boxes)
        return real(network, c, norm, boxes, free, seed)

    monkeypatch.setattr(L, "leaf_candidates", spy)
    r = lipschitz(net, Region.box(["0", "0"], ["1", "1"]), max_boxes=400, batch=4, samples=0, tol=0.0)
    assert seen
    assert all(hi[0] + hi[1] > 1.9 for _, hi in seen)
    assert r.lower == pytest.approx(101.0, rel=1e-12) and r.upper >= 101.0


@pytest.mark.parametrize("frontier", [0, 100, 2047, 2048, 5000, 10**6])
@pytest.mark.parametrize("gap", [0.0, 0.05, 0.5])
def test_pop_count(frontier, gap):
    n = L._pop_count(128, frontier, (1 - gap) * 10.0, 10.0)
    assert 128 <= n <= 8 * 128
    if frontier < 16 * 128 or gap <= 0.1:
        assert n == 128
    else:
        assert n == min(1024, frontier // 16)


def test_large_batches_give_the_same_result_with_any_number_of_workers(monkeypatch):
    """Batches above twice the chunk size go out in four chunks fixed by the batch alone (4 boxes a batch here,
    so that a small search has large batches)."""
    monkeypatch.setattr(L, "_CHUNK", 2)
    net = network_from_spec(random_spec(np.random.default_rng(7), 5, [16, 16], 1))
    region = Region.box(["-0.5"] * 5, ["0.5"] * 5)
    sizes: list = []
    real = L._pop_count
    monkeypatch.setattr(L, "_pop_count", lambda *a: sizes.append(real(*a)) or sizes[-1])
    a = lipschitz(net, region, max_boxes=800, batch=4, workers=1, search=0.0)
    b = lipschitz(net, region, max_boxes=800, batch=4, workers=2, search=0.0)
    assert max(sizes) > 4  # large batches happened
    assert (a.lower, a.upper, a.boxes) == (b.lower, b.upper, b.boxes)


# ----------------------------------------------------------------------------------------- the CLI option
def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "-inf", "abc", ""])
def test_cli_search_rejects_bad_values(value):
    r = _run("lipschitz", SEED / "random01.json", "--center", "0.1,0.2", "--radius", "0.01", "--search", value,
             "--time-limit", "5", "--workers", "1", "--quiet")
    assert r.exit_code == 3, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("verinet: error: ") and "--search" in lines[0]
    assert "Traceback" not in r.output


def test_cli_search_seconds_need_a_longer_time_limit():
    base = ("lipschitz", SEED / "random01.json", "--center", "0.1,0.2", "--radius", "0.01", "--workers", "1")
    r = _run(*base, "--search", "2")
    assert r.exit_code == 3 and "--time-limit" in r.stderr
    r = _run(*base, "--search", "5", "--time-limit", "5")
    assert r.exit_code == 3 and "shorter" in r.stderr


def test_cli_search_values_reach_the_search(monkeypatch):
    import verinet.cli.lipschitz as cli

    seen = []
    real = L.lipschitz

    def spy(*a, **k):
        seen.append(k["search"])
        return real(*a, **k)

    monkeypatch.setattr(L, "lipschitz", spy)
    base = ("lipschitz", SEED / "random01.json", "--center", "0.1,0.2", "--radius", "0.01", "--workers", "1",
            "--quiet")
    for opt, want in ((("--search", "off"), 0.0), (("--search", "0.2"), 0.2), (("--search", "1", "--time-limit",
                                                                                 "4"), 0.25), ((), 0.05)):
        r = _run(*base, *opt)
        assert r.exit_code in (0, 20), r.output
        assert seen[-1] == pytest.approx(want)
    assert cli._search_share("OFF", None) == 0.0
