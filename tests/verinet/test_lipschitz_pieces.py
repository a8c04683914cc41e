"""Exact piece enumeration for tiny networks (``verinet.analyses.lipschitz_pieces``).

The walk and its linear programs are float heuristics; what must hold exactly: the bounds contain the
exact constant (rational oracle of ``tests/oracle.py``), a pruned prefix is claimed empty only when no
point of the box has its signs (exact rational affine forms), witnesses lie in their pieces, and the
partition passes the independent exact checker.
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

from verinet.analyses import lipschitz_pieces as LP
from verinet.analyses.lipschitz import lipschitz
from verinet.bounds.backends import make_backend
from verinet.bounds.propagation import kinked_layout
from verinet.evidence.certificate import lipschitz_certificate
from verinet.evidence.checker import check_certificate
from verinet.io import load_network, save_network
from verinet.network import Layer, Network
from verinet.region import Region

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import hyp  # noqa: E402
from oracle import ExactLayer, exact_lipschitz, network_from_spec, random_spec  # noqa: E402

F = Fraction
lipschitz_module = importlib.import_module("verinet.analyses.lipschitz")


def _pieces(net, region, norm="2"):
    lo, hi = region.outer_box()
    kinked, _ = kinked_layout(net)
    return LP.piece_bounds(make_backend(net, None), kinked, norm, region, lo, hi)


# ------------------------------------------------------------------------------------- exact constants
@pytest.mark.parametrize("kind", ["dyadic", "decimal", "float"])
@pytest.mark.parametrize("seed", range(4))
def test_bounds_contain_the_exact_constant(kind, seed):
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, 2, [5, 4], 3, kind=kind)
    net = network_from_spec(spec)
    lo, hi = [F(-1), F(-1, 2)], [F(1, 2), F(1)]
    region = Region.box(lo, hi)
    for norm in ("2", "1", "inf"):
        exact = exact_lipschitz(spec, lo, hi, norm, "all")
        pb = _pieces(net, region, norm)
        assert pb is not None
        assert exact.ge(pb.lower) and exact.le(pb.upper), (norm, pb.lower, pb.upper, exact)
        assert pb.upper - pb.lower <= 1e-9 * pb.upper
        r = lipschitz(net, region, norm=norm, output="all", tol=1e-8)
        assert r.status.value == "converged" and exact.ge(r.lower) and exact.le(r.upper)
        assert r.witness is not None and region.contains(r.witness)


@given(seed=st.integers(0, 2**31 - 1), norm=st.sampled_from(["2", "1", "inf"]),
       kind=st.sampled_from(["dyadic", "decimal"]), corner=st.booleans())
@hyp(30)
def test_hypothesis_public_bounds_contain_the_exact_constant(seed, norm, kind, corner):
    """Random 2-input networks and boxes, some with a first-layer kink through a corner of the box."""
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, 2, [int(rng.integers(2, 6)), int(rng.integers(2, 5))], int(rng.integers(1, 4)),
                       kind=kind)
    lo = [F(int(rng.integers(-8, 0)), 8), F(int(rng.integers(-8, 0)), 8)]
    hi = [lo[0] + F(int(rng.integers(1, 9)), 8), lo[1] + F(int(rng.integers(1, 9)), 8)]
    if corner:
        first = spec[0]
        b = list(first.b)
        i = int(rng.integers(0, len(b)))
        b[i] = -(first.W[i][0] * lo[0] + first.W[i][1] * lo[1])  # z_i(lo) = 0 exactly
        spec[0] = ExactLayer(first.W, tuple(b), first.act, first.alpha)
    net = network_from_spec(spec)
    exact = exact_lipschitz(spec, lo, hi, norm, "all")
    r = lipschitz(net, Region.box(lo, hi), norm=norm, output="all", tol=1e-8, max_boxes=20_000)
    assert exact.ge(r.lower) and exact.le(r.upper), (r.lower, r.upper, exact)


def _kinks_through_a_corner() -> tuple[list[ExactLayer], list, list]:
    """relu(x1 + x2) and relu(−x1 − x2) (coinciding kinks) and a kink through the box corner (0, 0)."""
    W1 = ((F(1), F(1)), (F(-1), F(-1)), (F(1), F(-2)), (F(3), F(1)))
    b1 = (F(0), F(0), F(0), F(-1))
    W2 = ((F(2), F(1), F(-1), F(1)), (F(1), F(-3), F(1), F(2)))
    return [ExactLayer(W1, b1), ExactLayer(W2, (F(0), F(1)), "identity")], [F(0), F(0)], [F(1), F(1)]


@pytest.mark.parametrize("norm", ["2", "1", "inf"])
def test_degenerate_kinks_stay_sound(norm):
    """Kinks through a corner of the box and two coinciding kinks: the walk gives up or proves; the
    public result contains the exact constant either way."""
    spec, lo, hi = _kinks_through_a_corner()
    net = network_from_spec(spec)
    region = Region.box(lo, hi)
    exact = exact_lipschitz(spec, lo, hi, norm, "all")
    pb = _pieces(net, region, norm)
    if pb is not None:
        assert exact.ge(pb.lower) and exact.le(pb.upper)
    r = lipschitz(net, region, norm=norm, output="all", tol=1e-8)
    assert exact.ge(r.lower) and exact.le(r.upper)


def test_witnesses_lie_strictly_inside_their_pieces():
    rng = np.random.default_rng(7)
    spec = random_spec(rng, 3, [6, 5], 2, kind="float")
    net = network_from_spec(spec)
    pb = _pieces(net, Region.box([F(-1)] * 3, [F(1)] * 3))
    assert pb is not None and len(pb.pieces)
    found = LP.enumerate_pieces(net, np.full(3, -1.0), np.full(3, 1.0))
    P, X = found[0], found[1]
    for signs, x in zip(P, X):
        pre = _exact_pre(net, [F(float(v)) for v in x])
        flat = [v for layer in pre[:-1] for v in layer]
        # a float heuristic may land on a boundary: then the proof step would refuse the witness; it
        # must never claim a sign the point does not have, and most witnesses are strict
        strict = all((v > 0) if s > 0 else (v < 0) for v, s in zip(flat, signs))
        assert strict or any(v == 0 for v in flat)


# ------------------------------------------------------------------------------------- emptiness proofs
def _exact_pre(net: Network, x: list[Fraction]) -> list[list[Fraction]]:
    a, out = x, []
    for L in net.layers:
        W, b = L.weight_exact(), L.bias_exact()
        z = [sum((W[i, j] * a[j] for j in range(len(a))), b[i]) for i in range(L.n_out)]
        out.append(z)
        a = [max(v, F(0)) for v in z] if L.activation.value == "relu" else z
    return out


def _exact_forms(net: Network, signs: np.ndarray, kinked):
    """Exact ``(A_k, c_k)`` per hidden layer under the flat pattern ``signs`` (ReLU: slope 1 or 0)."""
    n = net.n_inputs
    A = [[F(int(i == j)) for j in range(n)] for i in range(n)]
    c = [F(0)] * n
    out = []
    for (k, off, w), L in zip(kinked, net.layers):
        W, b = L.weight_exact(), L.bias_exact()
        Az = [[sum((W[i, t] * A[t][j] for t in range(L.n_in)), F(0)) for j in range(n)] for i in range(w)]
        cz = [sum((W[i, t] * c[t] for t in range(L.n_in)), b[i]) for i in range(w)]
        out.append((Az, cz))
        keep = [signs[off + i] > 0 for i in range(w)]
        A = [row if keep[i] else [F(0)] * n for i, row in enumerate(Az)]
        c = [v if keep[i] else F(0) for i, v in enumerate(cz)]
    return out


def _exact_max(net, kinked, prefix, lam, lo, hi) -> Fraction:
    """``max_{x ∈ [lo, hi]} Σ λ_i s_i z_i(x)`` exactly (negative: no point of the box has the prefix's signs)."""
    forms = _exact_forms(net, np.where(prefix != 0, prefix, 1), kinked)
    n = len(lo)
    coef, const = [F(0)] * n, F(0)
    for (k, off, w), (Az, cz) in zip(kinked, forms):
        for i in range(w):
            s, l = int(prefix[off + i]), F(float(lam[off + i]))
            if s == 0 or l == 0:
                continue
            coef = [a + l * s * v for a, v in zip(coef, Az[i])]
            const += l * s * cz[i]
    return const + sum((max(a * F(float(u)), a * F(float(v))) for a, u, v in zip(coef, lo, hi)), F(0))


def _scaled_net(rng, scale_w: float, scale_b: float, sizes=(3, 5, 4, 2)) -> Network:
    layers = []
    for k in range(len(sizes) - 1):
        W = rng.standard_normal((sizes[k + 1], sizes[k])) * scale_w
        b = rng.standard_normal(sizes[k + 1]) * scale_b
        layers.append(Layer.from_floats(W, b, "identity" if k == len(sizes) - 2 else "relu"))
    return Network(tuple(layers))


@pytest.mark.parametrize("scale_w,scale_b", [(1.0, 0.5), (1e150, 1e150), (1e-150, 1e-150), (1.0, 5e-324),
                                             (2.0 ** -1070, 2.0 ** -1070)])
@pytest.mark.parametrize("seed", range(3))
def test_pruned_prefixes_are_empty_exactly(scale_w, scale_b, seed):
    """Every prefix :func:`_prune_proved` accepts has no point in the box (exact rationals): the walk's own
    certificates, perturbed ones and random ones; huge, tiny and subnormal weights."""
    rng = np.random.default_rng(seed)
    net = _scaled_net(rng, scale_w, scale_b)
    lo, hi = np.full(3, -1.0), np.full(3, 1.0)
    kinked, H = kinked_layout(net)
    backend = make_backend(net, None)
    found = LP.enumerate_pieces(net, lo, hi)
    cases = []
    if found is not None:
        Q, Y = found[2], found[3]
        cases += [(Q, Y), (Q, Y * (1 + 1e-3 * rng.standard_normal(Y.shape)))]
    prefixes = rng.choice(np.array([-1, 1], dtype=np.int8), size=(40, H))
    depth = rng.integers(1, H + 1, size=40)
    prefixes[np.arange(H)[None, :] >= depth[:, None]] = 0
    cases.append((prefixes, np.abs(rng.standard_normal((40, H)))))
    proved_any = False
    for Q, Y in cases:
        if len(Q) == 0:
            continue
        Y = np.where(Q != 0, np.abs(Y), 0.0)
        proved = LP._prune_proved(backend, kinked, Q, Y, lo, hi)
        for i in np.flatnonzero(proved):
            proved_any = True
            assert _exact_max(net, kinked, Q[i], Y[i], lo, hi) < 0, (i, Q[i], Y[i])
    if scale_w == 1.0 and scale_b == 0.5:
        assert proved_any  # the test exercises the proofs, not only refusals


def test_touching_part_is_not_proved_empty():
    """``x1 + x2 ≤ 0`` on [0, 1]²: the part is the corner, not empty (max of −z is exactly 0); with a
    bias of ∓ the smallest subnormal it is empty / a corner-plus-sliver."""
    for bias, empty in ((0.0, False), (-5e-324, False), (5e-324, True)):
        net = Network((Layer.from_floats(np.array([[1.0, 1.0]]), np.array([bias])),
                       Layer.from_floats(np.array([[1.0]]), np.zeros(1), "identity")))
        kinked, _ = kinked_layout(net)
        lo, hi = np.zeros(2), np.ones(2)
        proved = LP._prune_proved(make_backend(net, None), kinked, np.array([[-1]], dtype=np.int8),
                                  np.array([[1.0]]), lo, hi)
        assert not proved[0] or empty
        assert (_exact_max(net, kinked, np.array([-1]), np.array([1.0]), lo, hi) < 0) == empty


# ------------------------------------------------------------------------------------- the LP heuristic
def test_simplex_matches_scipy():
    linprog = pytest.importorskip("scipy.optimize").linprog
    rng = np.random.default_rng(0)
    for _ in range(40):
        m, n = int(rng.integers(1, 9)), int(rng.integers(1, 5))
        G = rng.standard_normal((m, n))
        G /= np.linalg.norm(G, axis=1, keepdims=True)
        e = rng.standard_normal(m) * 0.5
        w = rng.random(n) + 0.1
        y, x = np.zeros(m), np.zeros(n)
        t = LP._simplex(G, e, w, 10.0, y, x)
        # max t s.t. t − G x ≤ e, 0 ≤ x ≤ w, t ≤ 10
        res = linprog(np.r_[np.zeros(n), -1.0], A_ub=np.c_[-G, np.ones(m)], b_ub=e,
                      bounds=[(0, wj) for wj in w] + [(None, 10.0)], method="highs")
        assert abs(t - (-res.fun)) <= 1e-9
        assert np.all(G @ x + e >= t - 1e-9) and np.all((x >= 0) & (x <= w))
        if t < 10.0 - 1e-9:  # dual prices: a convex combination whose maximum over the box is t
            assert abs(y.sum() - 1) <= 1e-9
            c = y @ G
            assert abs(np.sum(np.maximum(c * 0, c * w)) + y @ e - t) <= 1e-9


# ------------------------------------------------------------------------------------- public behaviour
def test_public_result_uses_the_pieces_and_matches_the_search():
    rng = np.random.default_rng(4)
    net = _scaled_net(rng, 1.0, 0.5, (4, 5, 5, 3))
    region = Region.box([0.0] * 4, [1.0] * 4)
    for norm in ("2", "1", "inf"):
        fast = lipschitz(net, region, norm=norm, output="all")
        slow = lipschitz(net, region, norm=norm, output="all", bounds="linear")  # the branch-and-bound
        assert fast.status.value == slow.status.value == "converged"
        assert fast.lower <= slow.upper and slow.lower <= fast.upper
        leaves = tuple(fast.partition)
        assert all(len(leaf.fixed) == 10 or leaf.null for leaf in leaves)  # pieces and pruned prefixes
        assert max(leaf.bound for leaf in leaves) == fast.upper


def test_budget_and_options_fall_back_to_the_search(monkeypatch):
    rng = np.random.default_rng(4)
    net = _scaled_net(rng, 1.0, 0.5, (4, 5, 5, 3))
    region = Region.box([0.0] * 4, [1.0] * 4)
    r = lipschitz(net, region, norm="2", output="all", max_boxes=3)  # more parts than the budget
    assert r.status.value == "box_limit"
    calls = []
    real = lipschitz_module.pieces_lipschitz
    monkeypatch.setattr(lipschitz_module, "pieces_lipschitz", lambda *a: calls.append(a) or real(*a))
    lipschitz(net, region, norm="2", output=0, max_boxes=50)  # one output
    lipschitz(net, region, norm="2", output="all", max_boxes=50, precision=80)  # mp throughout
    lipschitz(net, region, norm="2", output="all", max_boxes=50, strategy="widest")
    lipschitz(net, region, norm="2", output="all", max_boxes=50, bounds="interval")
    assert not calls
    lipschitz(net, region, norm="2", output="all")
    assert len(calls) == 1
    # a pinned coordinate that is not a float: positive width outside, flat inside
    flat = Region.box(["0", "0.1", "0", "0"], ["1", "0.1", "1", "1"])
    assert real(net, flat, make_backend(net, None), kinked_layout(net)[0], "2", "all", 1e-6, 10**6, 0.0,
                *flat.outer_box()) is None


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_certificate_of_the_pieces_is_valid(tmp_path, norm):
    rng = np.random.default_rng(1)
    path = tmp_path / "net.json"
    save_network(_scaled_net(rng, 1.0, 0.5, (3, 5, 4, 2)), path)
    net = load_network(path)
    r = lipschitz(net, Region.box(["-0.5"] * 3, ["0.5"] * 3), norm=norm, output="all", tol=1e-9)
    assert any(leaf.null for leaf in r.partition) and any(len(leaf.fixed) == 9 for leaf in r.partition)
    res = check_certificate(lipschitz_certificate(r, net), path)
    assert res.valid, res
