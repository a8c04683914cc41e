"""Operator-norm bounds from derivative vertices (verinet.bounds.vertex_bounds) against exact rational arithmetic.

For a box, the interval pre-activation bounds leave ``k`` kinked neurons unstable; every matrix
``J(d) = W_L D_{L−1} ⋯ D_1 W_1`` with ``d`` in the derivative box (vertices *and* interior points) must have
``‖J(d)‖ ≤ bound`` — checked exactly: ``bound² I − J Jᵀ ⪰ 0`` (all principal minors ≥ 0) for l2, exact row /
column sums for l∞ / l1.
"""

from __future__ import annotations

import itertools
import pickle
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import hyp, place_kinks, random_spec
from tests.intervals.test_spectral import _det
from verinet.bounds import vertex_bounds
from verinet.bounds.backends import make_backend
from verinet.evidence.certificate import lipschitz_certificate
from verinet.evidence.checker import check_certificate
from verinet.analyses.lipschitz import _Evaluator, lipschitz
from verinet.io import load_network, save_network
from verinet.bounds.propagation import kinked_layout, propagate
from verinet.region import Region
from verinet.bounds.vertex_bounds import MAX_VERTEX_NEURONS, LazyLeaves, vertex_operator_upper


def _exact_jacobian(spec, slopes) -> list[list[Fraction]]:
    """``W_L D_{L−1} ⋯ D_1 W_1`` in Fractions (``slopes[k]``: the diagonal of ``D_k``, one per hidden layer)."""
    J = [list(row) for row in spec.weights[0]]
    for k in range(1, len(spec.weights)):
        d = slopes[k - 1]
        J = [[d[i] * v for v in J[i]] for i in range(len(J))]
        W = spec.weights[k]
        J = [[sum((W[r][i] * J[i][c] for i in range(len(J))), Fraction(0)) for c in range(len(J[0]))]
             for r in range(W.shape[0])]
    return J


def _norm_ok(J: list[list[Fraction]], mu: float, norm: str) -> bool:
    """Exactly ``‖J‖_{p→p} ≤ mu``."""
    if mu == np.inf:
        return True
    m = Fraction(mu)
    if norm == "inf":
        return max(sum(abs(v) for v in row) for row in J) <= m
    if norm == "1":
        return max(sum(abs(J[r][c]) for r in range(len(J))) for c in range(len(J[0]))) <= m
    X = J if len(J) <= len(J[0]) else [list(col) for col in zip(*J)]
    G = [[sum((a * b for a, b in zip(r, s)), Fraction(0)) for s in X] for r in X]
    A = [[(m * m if i == j else 0) - G[i][j] for j in range(len(G))] for i in range(len(G))]
    n = len(A)
    return all(_det([[A[i][j] for j in S] for i in S]) >= 0
               for r in range(1, n + 1) for S in itertools.combinations(range(n), r))


def _slope_sets(spec, bounds, kinked):
    """Per hidden layer and neuron: the exact derivative choices allowed by the float bounds."""
    out = []
    for k, _, n in kinked:
        lo, hi = bounds.pre[k].lo[0], bounds.pre[k].hi[0]
        alpha = spec.alphas[k]
        out.append([(Fraction(1),) if lo[i] > 0 else (alpha,) if hi[i] < 0 else (alpha, Fraction(1))
                    for i in range(n)])
    return out


def _check_case(spec, lo, hi, norm="2", rng=None, interior=3) -> tuple[float, int]:
    """The vertex bound of one box against every vertex and a few interior derivative choices, exactly.
    Returns the bound and the number of unstable neurons."""
    net = spec.build()
    backend = make_backend(net, None)
    bounds = propagate(backend, backend.box(np.array([lo]), np.array([hi])))
    kinked, _ = kinked_layout(net)
    mu = float(vertex_operator_upper(backend, bounds, kinked, norm)[0])
    choices = _slope_sets(spec, bounds, kinked)
    k = sum(len(c) > 1 for layer in choices for c in layer)
    if not 1 <= k <= MAX_VERTEX_NEURONS:
        assert mu == np.inf
        return mu, k
    best = 0.0
    for pick in itertools.product(*[c for layer in choices for c in layer]):
        slopes, it = [], iter(pick)
        for layer in choices:
            slopes.append([next(it) for _ in layer])
        J = _exact_jacobian(spec, slopes)
        assert _norm_ok(J, mu, norm), (pick, mu)
        Jf = np.array([[float(v) for v in row] for row in J])
        best = max(best, float(np.linalg.norm(Jf, {"2": 2, "1": 1, "inf": np.inf}[norm])))
    assert mu <= best * (1 + 1e-9) + 1e-300  # the largest vertex, not a looser bound
    rng = rng or np.random.default_rng(0)
    for _ in range(interior):  # points inside the derivative box: below the largest vertex (convexity)
        slopes = [[c[0] + (c[-1] - c[0]) * Fraction(int(rng.integers(0, 9)), 8) for c in layer] for layer in choices]
        assert _norm_ok(_exact_jacobian(spec, slopes), mu, norm)
    return mu, k


@pytest.mark.parametrize("norm", ["2", "1", "inf"])
@pytest.mark.parametrize("seed", range(4))
def test_vertex_bound_encloses_every_member_exactly(seed, norm):
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, [3, 4, 3, 2], "relu")
    lo, hi = -0.4 + 0.1 * rng.random(3), 0.4 + 0.1 * rng.random(3)
    mu, k = _check_case(spec, lo, hi, norm, rng)
    assert np.isfinite(mu) or k == 0 or k > MAX_VERTEX_NEURONS


def test_leaky_relu_decimal_weights_and_wide_outputs():
    """Leaky ReLU with a slope that is not a float, decimal (interval) weights, more outputs than inputs."""
    rng = np.random.default_rng(5)
    spec = random_spec(rng, [2, 3, 3, 4], "leaky_relu", exact_decimals=True, alpha="0.1")
    _check_case(spec, np.array([-0.3, -0.2]), np.array([0.3, 0.25]), "2", rng)
    _check_case(spec, np.array([-0.3, -0.2]), np.array([0.3, 0.25]), "inf", rng)


def test_kinks_exactly_at_the_box_corner():
    """Pre-activations exactly 0 at a corner (the box only touches the kink): both derivatives count."""
    rng = np.random.default_rng(7)
    spec = random_spec(rng, [2, 3, 3, 2], "relu", dyadic_bits=6)
    spec = place_kinks(spec, [Fraction(0), Fraction(0)], [(0, 0), (0, 2), (1, 1)])
    _, k = _check_case(spec, np.array([0.0, 0.0]), np.array([0.25, 0.25]), "2", rng)
    assert k >= 1


@pytest.mark.parametrize("scale", [2.0**-600, 2.0**500])
def test_tiny_and_huge_weights(scale):
    rng = np.random.default_rng(11)
    spec = random_spec(rng, [3, 4, 2], "relu")
    spec.weights[1] = np.array([[w * Fraction(scale) for w in row] for row in spec.weights[1]], dtype=object)
    mu, _ = _check_case(spec, np.full(3, -0.5), np.full(3, 0.5), "2", rng)
    assert mu > 0


def test_subnormal_jacobian_entries():
    spec = random_spec(np.random.default_rng(13), [2, 3, 2], "relu")
    spec.weights[1] = np.array([[w * Fraction(2.0**-1070) for w in row] for row in spec.weights[1]], dtype=object)
    _check_case(spec, np.full(2, -0.5), np.full(2, 0.5), "2")


@hyp(15)
@given(st.integers(0, 10_000), st.sampled_from(["2", "1", "inf"]), st.floats(0.05, 1.0))
def test_property_random_boxes(seed, norm, width):
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, [2, 3, 2, 2], "relu", dyadic_bits=8)
    c = rng.uniform(-0.5, 0.5, 2)
    _check_case(spec, c - width / 2, c + width / 2, norm, rng, interior=1)


def _refuted_cases() -> int:
    """How many of six random 3-4-3-2 cases the exact vertex check refutes (for mutation tests)."""
    caught = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        spec = random_spec(rng, [3, 4, 3, 2], "relu")
        try:
            _check_case(spec, -0.4 + 0.1 * rng.random(3), 0.4 + 0.1 * rng.random(3), "2", rng, interior=0)
        except AssertionError:
            caught += 1
    return caught


def test_dropping_vertices_is_caught(monkeypatch):
    """The mutation "evaluate only the all-active vertex" gives bounds that the exact check refutes."""
    monkeypatch.setattr(vertex_bounds, "_vertex_signs", lambda vertex, rank: np.ones(rank.shape))
    assert _refuted_cases() >= 1


def test_budget_and_limits():
    rng = np.random.default_rng(3)
    spec = random_spec(rng, [3, 12, 2], "relu")
    net = spec.build()
    backend = make_backend(net, None)
    bounds = propagate(backend, backend.box(np.full((1, 3), -2.0), np.full((1, 3), 2.0)))
    kinked, _ = kinked_layout(net)
    k = int((~(bounds.pre[0].lo > 0) & ~(bounds.pre[0].hi < 0)).sum())
    assert vertex_operator_upper(backend, bounds, kinked, "2", max_neurons=k - 1)[0] == np.inf
    assert np.isfinite(vertex_operator_upper(backend, bounds, kinked, "2", max_neurons=k)[0]) or k == 0


# ------------------------------------------------------------------------------ the search and its leaves


def _net(seed: int, sizes=(3, 6, 5, 3)):
    return random_spec(np.random.default_rng(seed), list(sizes), "relu").build()


def test_spelt_out_leaves_are_confirmed_by_their_own_enclosures(tmp_path):
    """Every leaf of the partition is confirmed by the enclosure of its own part (what a checker
    recomputes), and the parts of each box still tile it. Without :func:`vertex_leaves` the leaves carry
    vertex bounds up to 2x below their own enclosures."""
    path = tmp_path / "net.json"
    save_network(_net(1), path)
    net = load_network(path)
    region = Region.box(["-0.5"] * 3, ["0.5"] * 3)
    # explicit bounds: the branch-and-bound ("auto" enumerates the pieces of a network this small,
    # verinet.analyses.lipschitz_pieces)
    r = lipschitz(net, region, norm="2", output="all", tol=1e-8, max_boxes=400, bounds="linear")
    assert isinstance(r.partition, LazyLeaves)
    leaves = tuple(r.partition)
    assert all(leaf.bound <= r.upper for leaf in leaves)
    ev = _Evaluator(net, None, "2", None, None, r.bounds)
    flat = [(k, j) for k, _, n in ev.kinked for j in range(n)]
    fix = np.zeros((len(leaves), len(flat)), dtype=np.int8)
    for i, leaf in enumerate(leaves):
        for k, j, s in leaf.fixed:
            fix[i, flat.index((k, j))] = s
    own, _ = ev.unstable_parts(np.array([x.lower for x in leaves]), np.array([x.upper for x in leaves]), fix)
    # up to the float slack of the verified norms (a leaf keeps its parent's bound when that is a few ulps
    # lower; the exact checker has no such slack), not the margin of a vertex bound over an interval one
    bad = [(i, own[i], x) for i, x in enumerate(leaves) if not own[i] <= x.bound * (1 + 1e-11)]
    assert not bad, bad[:3]
    # and the exact checker confirms the whole partition (tiling and every leaf)
    cert = lipschitz_certificate(r, net)
    res = check_certificate(cert, path)
    assert res.valid, res


def test_lazy_leaves_behave_like_a_tuple():
    made = []
    lazy = LazyLeaves(lambda: made.append(1) or (1, 2, 3))
    assert not made
    assert len(lazy) == 3 and lazy[1] == 2 and list(lazy) == [1, 2, 3] and lazy == (1, 2, 3)
    assert made == [1]
    assert pickle.loads(pickle.dumps(lazy)) == (1, 2, 3)
    assert lazy + (4,) == (1, 2, 3, 4) and hash(lazy) == hash((1, 2, 3))


def test_search_encloses_the_constant_with_vertex_bounds():
    """Same bounds with and without the vertex bounds (both converge to the exact constant)."""
    net = _net(2)
    region = Region.box(["-0.5"] * 3, ["0.5"] * 3)
    r = lipschitz(net, region, norm="2", output="all", tol=1e-9, max_boxes=3000)
    assert r.status.value == "converged"
    grid = np.stack(np.meshgrid(*[np.linspace(-0.5, 0.5, 21)] * 3), -1).reshape(-1, 3)
    ev = _Evaluator(net, None, "2", None, None, "interval")
    assert ev.points(grid).max() <= r.upper  # rigorous lower bounds at grid points stay below
    assert r.lower <= r.upper


# ------------------------------------------------------------------------------------- pruned vertex rows
@pytest.mark.parametrize("kind", ["plain", "tiny", "sub", "huge", "zero", "mixed"])
def test_frobenius_bound_is_above_the_exact_value(kind):
    """``_frobenius_up`` ≥ ``‖mag V‖_F`` exactly (squares compared in rationals), for entries down to
    subnormals, up to overflow (then ``inf``), exact zeros and intervals that straddle 0."""
    from intervals.array import IntervalArray

    rng = np.random.default_rng(len(kind))
    scale = {"plain": 1.0, "tiny": 2.0**-500, "sub": 2.0**-1070, "huge": 2.0**511, "zero": 1.0, "mixed": 1.0}[kind]
    lo = rng.standard_normal((40, 3, 4)) * scale
    hi = lo + np.abs(rng.standard_normal((40, 3, 4))) * scale * (rng.random((40, 1, 1)) < 0.5)
    if kind == "zero":
        lo[rng.random(lo.shape) < 0.5] = 0.0
        hi = np.maximum(hi, lo)
    if kind == "mixed":
        lo *= 10.0 ** rng.integers(-150, 150, lo.shape)
        hi = lo + np.abs(lo) * (rng.random(lo.shape) < 0.3)
    fro = vertex_bounds._frobenius_up(IntervalArray(lo, hi))
    for r in range(len(lo)):
        exact = sum(max(abs(Fraction(float(a))), abs(Fraction(float(b)))) ** 2
                    for a, b in zip(lo[r].ravel(), hi[r].ravel()))
        assert fro[r] == np.inf or Fraction(float(fro[r])) ** 2 >= exact
        if kind in ("plain", "zero"):
            assert float(fro[r]) ** 2 <= float(exact) * (1 + 1e-12)  # and tight
    if kind == "huge":
        assert np.isinf(fro).any()


def _random_boxes(seed: int, count: int = 12):
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, [3, 5, 4, 2], "relu")
    net = spec.build()
    backend = make_backend(net, None)
    c = rng.uniform(-0.5, 0.5, (count, 3))
    w = rng.uniform(0.05, 0.8, (count, 1))
    bounds = propagate(backend, backend.box(c - w, c + w))
    return spec, net, backend, bounds, c - w, c + w


@pytest.mark.parametrize("seed", range(6))
def test_pruned_rows_give_the_same_or_smaller_bounds(seed, monkeypatch):
    """Verifying only the rows a box's verified bound does not already dominate gives the bound of
    verifying every row, or a smaller one, for every box of a batch (and the interval-Jacobian boxes)."""
    from verinet.bounds.gradient import jacobian_from_bounds

    _, net, backend, bounds, _, _ = _random_boxes(seed)
    kinked, _ = kinked_layout(net)
    J = backend.to_float(jacobian_from_bounds(backend, bounds, "auto"))
    pruned = vertex_operator_upper(backend, bounds, kinked, "2", J=J)
    monkeypatch.setattr(vertex_bounds, "_frobenius_up", lambda V: np.full(V.lo.shape[0], np.inf))
    full = vertex_operator_upper(backend, bounds, kinked, "2", J=J)
    assert np.isfinite(full).all() and (pruned <= full).all()
    assert np.array_equal(pruned, full)  # the row bounds do not depend on the batch: the same maximum


def test_a_frobenius_bound_below_the_norm_is_caught(monkeypatch):
    """The mutation "a lower bound of the norm (the largest column norm) in place of the Frobenius bound"
    skips rows that hold a box's maximum: the exact check of every vertex refutes the bound."""
    def column_norm(V):
        mag = np.maximum(np.abs(V.lo), np.abs(V.hi))
        return np.sqrt((mag**2).sum(axis=-2)).max(axis=-1)

    monkeypatch.setattr(vertex_bounds, "_frobenius_up", column_norm)
    assert _refuted_cases() >= 1
