"""Tightened pre-activation bounds of the neuron-sign search (:class:`verinet.analyses.lipschitz_neuron._Tightening`).

* root (α-CROWN) and part (β-CROWN under the part's sign constraints) bounds contain the exact
  pre-activations of every sampled point of the part (2 inputs: a dense grid; 64: corners, interior points),
  and are tighter than the untightened ones somewhere;
* the search with each tightening encloses the exact constant on small networks (region enumeration) and
  stays above exact finite-difference slopes on 64 inputs;
* mutation: multipliers for the opposite signs (constraints that do not hold on the part) are caught.
"""

from __future__ import annotations

import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import verinet.bounds.alpha as alpha
import verinet.analyses.lipschitz_neuron as ln
from verinet.analyses.lipschitz import _Evaluator, _output_label, lipschitz
from verinet.region import Region

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from oracle import dot, exact_lipschitz, finite_difference_slope, network_from_spec, random_spec  # noqa: E402

F = Fraction


def _pre_activations(spec, x) -> list[list[Fraction]]:
    """Exact pre-activations of every layer at the float point ``x``."""
    a = [F(float(v)) for v in x]
    out = []
    for L in spec:
        z = [dot(row, a, bi) for row, bi in zip(L.W, L.b)]
        out.append(z)
        a = [L.activation(v) for v in z]
    return out


def _setup(seed: int, n_in: int, widths=(24, 16, 12)):
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, n_in, list(widths), 2)
    net = network_from_spec(spec)
    r = 0.125 if n_in > 2 else 0.75
    lo, hi = np.full(n_in, -r), np.full(n_in, r)
    c, _ = _output_label(net, [1.0, -1.0])
    ev = _Evaluator(net, c, "inf", None, None, "linear", "linear")
    return rng, spec, net, lo, hi, ev


def _points(rng, lo, hi, n: int) -> np.ndarray:
    if len(lo) == 2:  # a dense grid: close to the extremes of every pre-activation over every part
        g = np.linspace(lo[0], hi[0], 25)
        return np.array([(a, b) for a in g for b in g])
    corners = np.where(rng.random((n, len(lo))) < 0.5, lo, hi)
    inside = lo + rng.random((n, len(lo))) * (hi - lo)
    return np.concatenate([corners, inside])


def _parts(ev, spec, points, root_bounds, n_fix: int):
    """One part per point: the point's signs on up to ``n_fix`` neurons unstable at the root per layer."""
    rows = []
    exact = []
    for x in points:
        z = _pre_activations(spec, x)
        f = np.zeros(ev.n_kinked, dtype=np.int8)
        for k, off, n in ev.kinked:
            unst = np.flatnonzero((root_bounds.pre[k].lo[0] < 0) & (root_bounds.pre[k].hi[0] > 0))[:n_fix]
            for i in unst:
                f[off + i] = 1 if z[k][i] >= 0 else -1  # z = 0 satisfies both signs
        rows.append(f)
        exact.append(z)
    return np.array(rows), exact


def _check_parts(seed: int, mode: str, n_in: int) -> tuple[int, float]:
    """(points outside their part's tightened bounds, total width removed by the tightening)."""
    rng, spec, net, lo, hi, ev = _setup(seed, n_in, (6, 5, 4) if n_in == 2 else (24, 16, 12))
    F0 = np.zeros((1, ev.n_kinked), dtype=np.int8)
    L0, H0 = lo[None, :], hi[None, :]
    root_plain, _ = ev._bounds(L0, H0, F0)
    tight = ln._Tightening(net, ev.kinked, mode)
    root, _ = tight(L0, H0, F0, root_plain)
    pts = _points(rng, lo, hi, 12)
    Fs, exact = _parts(ev, spec, pts, root_plain, 3)
    B = len(Fs)
    L, H = np.repeat(L0, B, axis=0), np.repeat(H0, B, axis=0)
    plain, infeasible = ev._bounds(L, H, Fs)
    bounds, empty = tight(L, H, Fs, plain)
    bad = int(np.count_nonzero(empty)) + (0 if infeasible is None else int(np.count_nonzero(infeasible)))
    gain = 0.0
    for k, _, _ in ev.kinked:
        for old, new in ((root_plain, root), (plain, bounds)):
            gain += float(np.sum(old.pre[k].hi - old.pre[k].lo) - np.sum(new.pre[k].hi - new.pre[k].lo))
        for b in range(B):
            for i, v in enumerate(exact[b][k]):
                assert F(float(root.pre[k].lo[0, i])) <= v <= F(float(root.pre[k].hi[0, i]))
                if not (F(float(bounds.pre[k].lo[b, i])) <= v <= F(float(bounds.pre[k].hi[b, i]))):
                    bad += 1
    return bad, gain


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("mode", ["root", "beta"])
@pytest.mark.parametrize("n_in", [2, 64])
def test_tightened_bounds_contain_exact_pre_activations(seed, mode, n_in):
    bad, gain = _check_parts(seed, mode, n_in)
    assert bad == 0
    assert gain > 0  # the tightening did something


def test_opposite_multipliers_are_caught(monkeypatch):
    """Mutation: the β bound of a part taken under its sibling's sign constraints (they do not hold on it)."""
    signs = ln.per_layer_signs

    def flipped(*args):
        return [None if f is None else -f for f in signs(*args)]

    monkeypatch.setattr(ln, "per_layer_signs", flipped)
    assert sum(_check_parts(seed, "beta", 2)[0] for seed in range(3)) > 0


@pytest.mark.parametrize("i", range(4))
@pytest.mark.parametrize("mode", ["root", "beta"])
def test_search_encloses_the_exact_constant(i, mode):
    rng = np.random.default_rng(140 + i)
    n_in = 1 + i % 2
    spec = random_spec(rng, n_in, [5, 4, 4], 2)
    net = network_from_spec(spec)
    lo, hi = [-0.75] * n_in, [0.5] * n_in
    region = Region.box([str(v) for v in lo], [str(v) for v in hi])
    output = 0 if i % 2 else [1.0, -1.0]
    c, label = _output_label(net, output)
    l0, h0 = region.outer_box()
    ev = _Evaluator(net, c, "inf", None, h0 > l0, "linear", "linear")
    r = ln.neuron_lipschitz(net, region, ev, c, "inf", label, 1e-9, None, 300, 4, 16, 0.0, 0, None,
                            time.perf_counter(), tighten=mode)
    L = exact_lipschitz(spec, [F(v) for v in lo], [F(v) for v in hi], "inf", output)
    assert L.le(r.upper) and L.ge(r.lower), (r.lower, r.upper, L)


@pytest.mark.parametrize("mode", ["none", "root", "beta"])
def test_64_inputs_above_finite_difference_slopes(monkeypatch, mode):
    monkeypatch.setattr(ln, "TIGHTEN", mode)
    rng = np.random.default_rng(5)
    spec = random_spec(rng, 64, [24, 16], 2)
    net = network_from_spec(spec)
    region = Region.box(["-0.125"] * 64, ["0.125"] * 64)
    r = lipschitz(net, region, output=[1.0, -1.0], max_boxes=40, search=0.0)
    assert r.strategy == "neurons"
    lo, hi = region.outer_box()
    for _ in range(5):
        x = np.where(rng.random(64) < 0.5, lo, hi)
        y = np.clip(x + rng.uniform(-0.02, 0.02, 64), lo, hi)
        assert finite_difference_slope(spec, list(x), list(y), "inf", [1, -1]).le(r.upper)


def test_unknown_tightening():
    rng = np.random.default_rng(0)
    net = network_from_spec(random_spec(rng, 2, [3], 1))
    with pytest.raises(ValueError, match="unknown tightening"):
        ln._Tightening(net, [], "gamma")
