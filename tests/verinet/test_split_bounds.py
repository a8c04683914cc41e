"""Bounds over the parts of boxes where neurons have fixed signs (activation splitting).

``propagate_fixed`` (interval) and ``linear_propagate_fixed`` (sound back-substitution) must contain the
exact pre-activations and outputs of every point of the box that satisfies the sign constraints
(``z_i ≥ 0`` for +1, ``z_i ≤ 0`` for −1; compared exactly in rational arithmetic), and may call a part
infeasible only when no such point exists. Points are sampled at corners, at random, and exactly on
kinks (a point with ``z_i = 0`` belongs to both parts). Fix patterns are read off an anchor point of the
box (so the part is non-empty) and then perturbed at random (so some parts are empty).
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers  # noqa: E402
from helpers import assert_encloses, hyp  # noqa: E402

from verinet.bounds.backends import make_backend  # noqa: E402
from verinet.bounds.linear import linear_propagate, linear_propagate_fixed  # noqa: E402
from verinet.network import Layer, Network  # noqa: E402
from verinet.bounds.propagation import propagate_fixed  # noqa: E402

from .test_linear import box_points, make_spec, net_case  # noqa: E402  (the same random networks)


def satisfies(pre, fix_rows) -> bool:
    """Whether the exact pre-activations ``pre`` meet the sign constraints of one box."""
    for z, f in zip(pre, fix_rows):
        if f is None:
            continue
        for zi, s in zip(z, f):
            if (s > 0 and zi < 0) or (s < 0 and zi > 0):
                return False
    return True


def fix_patterns(rng, spec, anchors, acts):
    """One fix pattern per anchor point: the anchor's own signs on a random subset of kinked neurons,
    with one sign flipped at random in half of the boxes."""
    fixes = [np.zeros((len(anchors), n), dtype=np.int8) if a in ("relu", "leaky_relu") else None
             for a, n in zip(acts, spec.sizes[1:])]
    for b, x in enumerate(anchors):
        pre, _ = helpers.exact_forward(spec, x)
        for k, f in enumerate(fixes):
            if f is None:
                continue
            chosen = rng.random(f.shape[1]) < 0.4
            signs = np.array([1 if v > 0 else (-1 if v < 0 else int(rng.choice([-1, 1]))) for v in pre[k]])
            f[b] = np.where(chosen, signs, 0)
        if rng.random() < 0.5:
            k = int(rng.integers(len(fixes)))
            if fixes[k] is not None:
                i = int(rng.integers(fixes[k].shape[1]))
                fixes[k][b, i] = -fixes[k][b, i] if fixes[k][b, i] else 1
    return fixes


def check(spec, net, lo, hi, fix, points_per_box, method):
    if method == "linear":
        r = linear_propagate_fixed(net, lo, hi, fix)
    else:
        r = propagate_fixed(make_backend(net), lo, hi, fix)
    assert r.infeasible.shape == (lo.shape[0],)
    hits = 0
    for b, pts in enumerate(points_per_box):
        rows = [None if f is None else f[b] for f in fix]
        for p in pts:
            pre, y = helpers.exact_forward(spec, p)
            if not satisfies(pre, rows):
                continue
            hits += 1
            assert not r.infeasible[b], f"box {b}: a point satisfies its constraints but it was called empty"
            for k, z in enumerate(pre):
                zk = r.bounds.pre[k]
                assert_encloses(zk.lo[b], zk.hi[b], np.array(z, dtype=object), f"box {b} layer {k}")
            assert_encloses(r.bounds.output.lo[b], r.bounds.output.hi[b], np.array(y, dtype=object),
                            f"box {b} output")
    return r, hits


@hyp(40)
@given(net_case(max_depth=3), st.sampled_from(["wide", "small", "kink"]), st.sampled_from(["linear", "ibp"]))
def test_fixed_parts_contain_exact_values(case, box_kind, method):
    seed, sizes, acts, kind, alpha = case
    rng = np.random.default_rng(seed)
    if kind == "float" and box_kind == "kink":
        kind = "dyadic"  # kinks at float points need exact float biases
    spec = make_spec(rng, sizes, acts, kind, alpha)
    B = 4
    anchors = [helpers.dyadic_point(rng, sizes[0], bits=6, scale=1.5) for _ in range(B)]
    if box_kind == "kink":  # the anchor of box 0 sits exactly on kinks of the first hidden layer
        hidden = [k for k in range(len(sizes) - 2) if acts[k] in ("relu", "leaky_relu")]
        if hidden:
            kinks = [(hidden[0], int(i)) for i in rng.choice(sizes[hidden[0] + 1], size=2, replace=False)]
            spec = helpers.place_kinks(spec, anchors[0], kinks)
    net = spec.build()
    c = np.array([[float(v) for v in a] for a in anchors])
    r = np.abs(rng.standard_normal(c.shape)) * (0.5 if box_kind != "small" else 1e-5)
    lo, hi = c - r, c + r
    fix = fix_patterns(rng, spec, anchors, acts)
    pts = [[list(a)] + box_points(rng, lo[b], hi[b], 12) for b, a in enumerate(anchors)]
    check(spec, net, lo, hi, fix, pts, method)


def test_both_signs_at_a_kink_and_empty_parts():
    """``relu(x) + relu(−x)`` on ``[−1, 1]``: x = 0 is in both parts; a part proved empty is infeasible."""
    net = Network((Layer.from_exact([["1"], ["-1"]], ["0", "0"]), Layer.from_exact([["1", "1"]], ["0"], "identity")))
    lo = np.array([[-1.0], [-1.0], [0.25], [-1.0]])
    hi = np.array([[1.0], [1.0], [1.0], [0.0]])
    fix = [np.array([[1, 1], [-1, -1], [-1, 0], [1, 0]], dtype=np.int8), None]
    for method in ("linear", "ibp"):
        r = (linear_propagate_fixed(net, lo, hi, fix) if method == "linear"
             else propagate_fixed(make_backend(net), lo, hi, fix))
        # box 0: x ≥ 0 and −x ≥ 0, i.e. x = 0, where f = 0; box 1 likewise; box 2: x ≤ 0 on [1/4, 1] is empty;
        # box 3: x ≥ 0 on [−1, 0] is the point 0
        assert r.infeasible.tolist() == [False, False, True, False], method
        for b in (0, 1, 3):
            assert r.bounds.output.lo[b, 0] <= 0.0 <= r.bounds.output.hi[b, 0]
    lin = linear_propagate_fixed(net, lo, hi, fix)
    assert lin.bounds.output.hi[0, 0] < 1e-12  # x − x: exact cancellation in the back-substitution
    assert lin.bounds.output.hi[1, 0] < 1e-12  # both inactive: 0


def test_fixing_tightens_and_agrees_without_fixes():
    """With no neuron fixed the result is exactly the unconstrained one; fixing tightens on the whole."""
    rng = np.random.default_rng(5)
    spec = make_spec(rng, [4, 12, 12, 2], ["relu", "relu", "identity"], "float")
    net = spec.build()
    lo = rng.uniform(-1, 0, (6, 4))
    hi = lo + 0.6
    free = [np.zeros((6, 12), dtype=np.int8), np.zeros((6, 12), dtype=np.int8), None]
    a = linear_propagate_fixed(net, lo, hi, free)
    b = linear_propagate(net, lo, hi)
    assert not a.infeasible.any()
    for x, y in zip(a.bounds.pre + (a.bounds.output,), b.pre + (b.output,)):
        assert np.array_equal(x.lo, y.lo) and np.array_equal(x.hi, y.hi)
    z0 = b.pre[0]
    fixed = [np.where(z0.lo + z0.hi >= 0, 1, -1).astype(np.int8), np.zeros((6, 12), dtype=np.int8), None]
    c = linear_propagate_fixed(net, lo, hi, fixed)
    live = ~c.infeasible
    assert live.any()
    # (not per box: without the constraint in the input concretisation, back-substitution is not monotone)
    w_fixed = (c.bounds.output.hi - c.bounds.output.lo)[live].sum()
    w_free = (b.output.hi - b.output.lo)[live].sum()
    assert w_fixed < w_free  # every first-layer relaxation exact: strictly tighter on these boxes


def test_bad_fix_arguments():
    net = Network((Layer.from_exact([["1"], ["-1"]], ["0", "0"]), Layer.from_exact([["1", "1"]], ["0"], "identity")))
    with pytest.raises(ValueError, match="one entry per layer"):
        linear_propagate_fixed(net, [[0.0]], [[1.0]], [None])
    with pytest.raises(ValueError, match="shape"):
        linear_propagate_fixed(net, [[0.0]], [[1.0]], [np.zeros((1, 3), dtype=np.int8), None])
    with pytest.raises(ValueError, match="batch"):
        linear_propagate_fixed(net, [0.0], [1.0], [None, None])


def test_sign_constraints_shrink_the_box():
    """On ``[0, 1]²`` the part ``x₁ + x₂ ≥ 3/2`` lies in ``[1/2, 1]²``: the output ``x₁`` is then ≥ 1/2 (the
    box itself only gives ≥ 0). Two opposite constraints ``x₁ + x₂ ≥ 3/2`` and ``x₁ + x₂ ≤ 1/2`` leave
    nothing: the first pass shrinks the box to the point (1/2, 1/2), the second proves it empty."""
    net = Network((Layer.from_exact([["1", "1"], ["1", "1"], ["1", "0"]], ["-1.5", "-0.5", "0"]),
                   Layer.from_exact([["0", "0", "1"]], ["0"], "identity")))
    lo, hi = np.zeros((3, 2)), np.ones((3, 2))
    fix = [np.array([[1, 0, 0], [1, -1, 0], [0, 0, 0]], dtype=np.int8), None]
    r = linear_propagate_fixed(net, lo, hi, fix)
    assert r.infeasible.tolist() == [False, True, False]
    assert 0.5 - 1e-12 <= r.bounds.output.lo[0, 0] <= 0.5  # the exact minimum on the part is 1/2
    assert r.bounds.output.lo[2, 0] <= 0.0  # unconstrained: x₁ = 0 is in the box
    assert r.bounds.pre[0].lo[0, 2] >= 0.5 - 1e-12  # and the pre-activation x₁ of the part


def test_deeper_sign_constraints_shrink_the_box():
    """A second-layer neuron ``relu(x₁) + relu(x₂) − 3/2 ≥ 0`` on ``[−1, 1]²`` (forcing ``x₁, x₂ ≥ 1/2``): the
    back-substituted upper bound of that neuron gives a halfspace that shrinks the box."""
    net = Network((Layer.from_exact([["1", "0"], ["0", "1"]], ["0", "0"]),
                   Layer.from_exact([["1", "1"]], ["-1.5"]),
                   Layer.from_exact([["1"]], ["0"], "identity")))
    spec_first = np.zeros((1, 2), dtype=np.int8)
    r = linear_propagate_fixed(net, -np.ones((1, 2)), np.ones((1, 2)), [spec_first, np.array([[1]], dtype=np.int8), None])
    assert not r.infeasible[0]
    z0 = r.bounds.pre[0]
    # first pass: relu(x_i) ≤ (x_i + 1)/2 on [−1, 1] (the triangle relaxation), so the part has
    # x₁ + x₂ ≥ 1 and x_i ≥ 0; the second pass starts from [0, 1]² (the box alone gives x_i ≥ −1)
    assert (z0.lo[0] >= -1e-12).all() and (z0.lo[0] <= 0.5).all()
    assert r.bounds.output.hi[0, 0] >= 0.5  # the value at (1, 1) is 1/2


# ---------------------------------------------------------------------------------------------- Farkas
def test_farkas_proves_slowly_shrinking_systems_empty():
    """``x₁ + x₂ ≥ 6/5`` and ``x₁ + x₂ ≤ 9/10`` on ``[0, 1]²``: bounding-box tightening only shaves 1/10 per
    pass; the multipliers (1, 1) prove the system empty at once. A satisfiable pair is never claimed."""
    from verinet.bounds.linear import _farkas_empty

    A = np.array([[-1.0, -1.0], [1.0, 1.0], [-1.0, -1.0], [1.0, 1.0]])
    d = np.array([-1.2, 0.9, -1.2, 1.3])
    bb = np.array([0, 0, 1, 1])
    lo, hi = np.zeros((2, 2)), np.ones((2, 2))
    assert _farkas_empty([(A, d, bb)], lo, hi, np.zeros(2, dtype=bool)).tolist() == [True, False]


@hyp(60)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(2, 8), st.booleans())
def test_farkas_never_claims_a_satisfiable_system(seed, n, q, tight):
    """Rows built to hold at a point ``x0`` of the box (``d ≥ a·x0``, exactly, or with equality for
    ``tight``, so the system may have an empty interior): never called empty."""
    from verinet.bounds.linear import _farkas_empty

    rng = np.random.default_rng(seed)
    lo = rng.uniform(-2, 0, (1, n))
    hi = lo + rng.uniform(0, 2, (1, n)) * rng.integers(0, 2, (1, n))  # some coordinates pinned
    x0 = [Fraction(float(v)) for v in (lo[0] + rng.random(n) * (hi[0] - lo[0]))]
    A = rng.standard_normal((q, n)) * 10.0 ** rng.integers(-3, 4, (q, 1))
    d = np.empty(q)
    for i in range(q):
        exact = sum(Fraction(float(a)) * x for a, x in zip(A[i], x0))
        v = float(exact)
        while Fraction(v) < exact:
            v = np.nextafter(v, np.inf)
        d[i] = v if tight else v + abs(rng.standard_normal())
    assert not _farkas_empty([(A, d, np.zeros(q, dtype=np.int64))], lo, hi, np.zeros(1, dtype=bool))[0]


# ---------------------------------------------------------------------------------------------- witness
def test_piece_point_finds_a_sliver():
    """A piece of relative volume ~1e-7 in a corner of the box: the interior-point search lands in it and
    the exact pattern there is the requested one."""
    from fractions import Fraction as Q

    from verinet.analyses.witness import piece_point

    # z1 = x1 + x2 − 1.9999 ≥ 0 and z2 = x1 − x2 − 0.00005 ≤ 0 on [0, 1]²: a thin triangle near (1, 1)
    net = Network((Layer.from_exact([["1", "1"], ["1", "-1"]], ["-1.9999", "-0.00005"]),
                   Layer.from_exact([["1", "1"]], ["0"], "identity")))
    signs = [np.array([1.0, -1.0]), None]
    x = piece_point(net, np.zeros(2), np.ones(2), signs)
    assert x is not None
    x1, x2 = Q(float(x[0])), Q(float(x[1]))
    assert 0 <= x1 <= 1 and 0 <= x2 <= 1
    assert x1 + x2 - Q("1.9999") > 0 and x1 - x2 - Q("0.00005") < 0
    # a piece that misses the box: x1 + x2 ≥ 3 on [0, 1]²
    far = Network((Layer.from_exact([["1", "1"]], ["-3"]), Layer.from_exact([["1"]], ["0"], "identity")))
    assert piece_point(far, np.zeros(2), np.ones(2), [np.array([1.0]), None]) is None


@hyp(150)
@given(st.integers(0, 2**32 - 1), st.integers(1, 7), st.integers(1, 8),
       st.sampled_from(["plain", "huge", "tiny", "cancel", "zero", "dzero"]))
def test_farkas_lower_bound_is_below_the_exact_value(seed, n, q, kind):
    """The rigorous lower bound of ``min_x Σ λ_i (a_i·x − d_i)`` never exceeds the exact value (rationals),
    with magnitudes up to 2^±300, subnormal products, rows that cancel exactly, and ``zero``: terms of
    mixed magnitudes whose total is ≈ 0, where every rounding error decides the sign."""
    from verinet.bounds.linear import _farkas_lower

    rng = np.random.default_rng(seed)
    scale = {"plain": 1.0, "huge": 2.0**300, "tiny": 2.0**-540, "cancel": 1.0, "zero": 1.0, "dzero": 1e-9}[kind]
    A = rng.standard_normal((1, q, n)) * scale * (10.0 ** rng.integers(-8, 9, (1, q, n)) if kind == "zero" else 1)
    if kind == "cancel" and q >= 2:
        A[0, 1] = -A[0, 0]
    lam = rng.random((1, q)) * (10.0 ** rng.integers(-3, 4))
    d = rng.standard_normal((1, q)) * (scale * 1e-3 if kind != "dzero" else 10.0 ** rng.integers(-8, 9, (1, q)))
    lo = rng.uniform(-1, 0, (1, n))
    hi = lo + rng.uniform(0, 1, (1, n))
    if kind in ("zero", "dzero"):  # choose d₀ so that the float estimate of the minimum is 0
        c = lam[0] @ A[0]
        m = np.minimum(c * lo[0], c * hi[0]).sum()
        d[0, 0] = (m - lam[0, 1:] @ d[0, 1:]) / lam[0, 0]
    got = _farkas_lower(lam, A, d, lo, hi)[0]
    exact = -sum(Fraction(float(l)) * Fraction(float(v)) for l, v in zip(lam[0], d[0]))
    for j in range(n):
        c = sum(Fraction(float(l)) * Fraction(float(a)) for l, a in zip(lam[0], A[0, :, j]))
        exact += c * Fraction(float(lo[0, j] if c > 0 else hi[0, j]))
    assert got == -np.inf or Fraction(float(got)) <= exact
