"""Optimised ReLU lower slopes (``verinet.bounds.alpha``) against exact rational minima.

The lower bound of an output over a box computed by :func:`sound_lower_bounds` must be ``≤`` the exact
minimum of that output over the box for *every* choice of slopes (random, extreme 0/1, the optimiser's),
on random ReLU / leaky-ReLU / identity networks with 1–2 inputs, boxes with and without kinks; the exact
minimum comes from the exact linear regions of :mod:`oracle` (a continuous piecewise-affine function
attains its minimum over a box at a vertex of a region). A mutation is caught: slopes outside ``[0, 1]``
(clipping disabled) on a network where that matters.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers  # noqa: E402
import oracle  # noqa: E402
from helpers import hyp  # noqa: E402

import verinet.activations.relu as relu_mod  # noqa: E402
import verinet.bounds.alpha as alpha_mod  # noqa: E402
from verinet.bounds.alpha import optimise_slopes, sound_lower_bounds, supports_slopes  # noqa: E402
from verinet.bounds.linear import linear_propagate  # noqa: E402
from verinet.network import Layer, Network  # noqa: E402


def exact_minima(net: Network, lo, hi) -> list[Fraction]:
    """Exact ``min_{x ∈ box} f_i(x)`` for each output ``i`` (1–2 inputs, box with interior)."""
    spec = oracle.spec_from_network(net)
    lo_q = [Fraction(float(v)) for v in lo]
    hi_q = [Fraction(float(v)) for v in hi]
    best = None
    for cell, J, d, _ in oracle.cells(spec, lo_q, hi_q):
        for p in cell:
            y = [sum((a * b for a, b in zip(row, p)), di) for row, di in zip(J, d)]
            best = y if best is None else [min(a, b) for a, b in zip(best, y)]
    return best


def rows_all(B: int, m: int):
    box, atoms = np.divmod(np.arange(B * m), m)
    return box, atoms


def random_slopes(rng, net: Network, R: int, mode: str):
    out = []
    for L in net.layers[:-1]:
        if mode == "zero":
            s = np.zeros((R, L.n_out))
        elif mode == "one":
            s = np.ones((R, L.n_out))
        else:
            s = rng.random((R, L.n_out))
            s[rng.random(s.shape) < 0.2] = 0.0
            s[rng.random(s.shape) < 0.2] = 1.0
        out.append(s)
    return out


@st.composite
def case(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    depth = draw(st.integers(1, 3))
    n_in = draw(st.integers(1, 2))
    widths = [draw(st.integers(2, 6)) for _ in range(depth)]
    n_out = draw(st.integers(1, 3))
    acts = [draw(st.sampled_from(["relu", "relu", "leaky_relu", "identity"])) for _ in range(depth)]
    kind = draw(st.sampled_from(["float", "dyadic", "decimal"]))
    where = draw(st.sampled_from(["random", "kink"]))
    mode = draw(st.sampled_from(["random", "zero", "one", "optimised"]))
    return seed, [n_in] + widths + [n_out], acts + ["identity"], kind, where, mode


def build(seed, sizes, acts, kind, where):
    rng = np.random.default_rng(seed)
    if where == "kink" and kind == "float":
        kind = "dyadic"  # exact kinks at float points need few-bit weights
    spec = helpers.random_spec(rng, sizes, acts, exact_decimals=(kind == "decimal"),
                               dyadic_bits=(8 if kind == "dyadic" else None), alpha="0.0625")
    x0 = helpers.dyadic_point(rng, sizes[0], bits=6)
    if where == "kink":
        spec = helpers.place_kinks(spec, x0, helpers.kink_neurons(rng, spec, 2))
        c = np.array([float(v) for v in x0])
        lo, hi = helpers.kink_box(rng, c, "inside")
    else:
        c = np.array([float(v) for v in x0])
        r = np.abs(rng.standard_normal(len(c))) + 0.05
        lo, hi = c - r, c + r
    return rng, spec.build(), lo, hi


@hyp(40)
@given(case())
def test_any_admissible_slopes_give_a_valid_lower_bound(c):
    seed, sizes, acts, kind, where, mode = c
    rng, net, lo, hi = build(seed, sizes, acts, kind, where)
    assert supports_slopes(net)
    xl, xu = lo[None, :], hi[None, :]
    b = linear_propagate(net, xl, xu)
    box, atoms = rows_all(1, sizes[-1])
    if mode == "optimised":
        slopes, fb, _ = optimise_slopes(net, [p.lo for p in b.pre], [p.hi for p in b.pre], xl, xu, box, atoms,
                                        iters=15)
    else:
        slopes = random_slopes(rng, net, len(box), mode)
    bound = sound_lower_bounds(net, xl, xu, b.pre, b.output, box, atoms, slopes)
    exact = exact_minima(net, lo, hi)
    for r, i in enumerate(atoms):
        assert not np.isnan(bound[r])
        assert Fraction(float(bound[r])) <= exact[i], f"output {i}: bound {bound[r]!r} > exact min {float(exact[i])!r}"
        assert bound[r] >= b.output.lo[0, i]  # never looser than the enclosure it was given


def test_optimised_slopes_tighten_and_stay_sound():
    """f(x) = relu(x) − x/2 on [−1, 2] (the −x/2 through an always-active neuron): CROWN's default lower
    slope (1, as u ≥ −l) gives min x/2 = −1/2; slope 1/2 gives 0, the exact minimum (at x = 0)."""
    net = Network((Layer.from_exact([["1"], ["1"]], ["0", "10"], "relu"),
                   Layer.from_exact([["1", "-0.5"]], ["5"], "identity")))
    lo, hi = np.array([[-1.0]]), np.array([[2.0]])
    assert exact_minima(net, lo[0], hi[0]) == [0]
    b = linear_propagate(net, lo, hi)
    box, atoms = np.array([0]), np.array([0])
    lows, ups = [p.lo for p in b.pre], [p.hi for p in b.pre]
    default = sound_lower_bounds(net, lo, hi, b.pre, b.output, box, atoms,
                                 alpha_mod.default_slopes(net.layers, lows, ups, box))
    slopes, fb, _ = optimise_slopes(net, lows, ups, lo, hi, box, atoms, iters=40)
    sb = sound_lower_bounds(net, lo, hi, b.pre, b.output, box, atoms, slopes)
    assert default[0] < -0.49
    assert Fraction(float(sb[0])) <= 0
    assert sb[0] > -0.05  # close to the optimum 0
    assert sb[0] <= fb[0] + 1e-12  # the sound bound is the float bound minus rounding terms


def test_slopes_outside_the_range_are_caught(monkeypatch):
    """Mutation: without clipping to [0, 1], slope −1/2 on y = −x + 2 relu(−x) over [−1, 1] (exact minimum
    −1 at x = 1; −x through an always-active neuron) claims min ≥ 0."""
    net = Network((Layer.from_exact([["1"], ["-1"]], ["10", "0"], "relu"),
                   Layer.from_exact([["-1", "2"]], ["10"], "identity")))
    lo, hi = np.array([[-1.0]]), np.array([[1.0]])
    exact = exact_minima(net, lo[0], hi[0])[0]
    assert exact == -1
    b = linear_propagate(net, lo, hi)
    box, atoms = np.array([0]), np.array([0])
    bad = [np.array([[-0.5, -0.5]])]
    ok = sound_lower_bounds(net, lo, hi, b.pre, b.output, box, atoms, bad)  # clipped to 0: valid
    assert Fraction(float(ok[0])) <= exact
    monkeypatch.setattr(relu_mod, "admissible_slopes", lambda s, leak: s)
    mutated = sound_lower_bounds(net, lo, hi, b.pre, b.output, box, atoms, bad)
    assert Fraction(float(mutated[0])) > exact  # the exact oracle catches the invalid line


@hyp(30)
@given(case())
def test_slopes_of_split_neurons_give_a_valid_bound_on_the_part(c):
    """Neurons with a fixed sign (bounds clamped by :func:`linear_propagate_fixed`) also take optimised lower
    slopes; the bound must hold on the part of the box where the signs hold (exact regions of the oracle)."""
    from verinet.bounds.linear import linear_propagate_fixed
    from verinet.bounds.propagation import kinked_layout, per_layer_signs

    seed, sizes, acts, kind, where, mode = c
    rng, net, lo, hi = build(seed, sizes, acts, kind, where)
    kinked, H = kinked_layout(net)
    if H == 0:
        return
    F = np.zeros((1, H), dtype=np.int8)
    idx = rng.choice(H, size=min(H, 2), replace=False)
    F[0, idx] = rng.choice([-1, 1], size=len(idx))
    fix = per_layer_signs(F, kinked, len(net.layers))
    xl, xu = lo[None, :], hi[None, :]
    r = linear_propagate_fixed(net, xl, xu, fix)
    if r.infeasible[0]:
        return
    pre = r.bounds.pre
    box, atoms = rows_all(1, sizes[-1])
    fixed = [None if f is None else f != 0 for f in fix]
    if mode == "optimised":
        slopes, _, _ = optimise_slopes(net, [p.lo for p in pre], [p.hi for p in pre], xl, xu, box, atoms,
                                       iters=15, fixed=fixed)
    else:
        slopes = random_slopes(rng, net, len(box), mode)
    bound = sound_lower_bounds(net, xl, xu, pre, r.bounds.output, box, atoms, slopes, fixed=fixed)
    # exact minimum over the cells whose signs agree with the constraints
    flat = {off + j: (k, j) for k, off, n in kinked for j in range(n)}
    want = {flat[int(i)]: int(F[0, i]) for i in idx}
    best = oracle.minima_on_signs(oracle.spec_from_network(net), [Fraction(float(v)) for v in lo],
                                  [Fraction(float(v)) for v in hi], want)
    if best is None:
        return
    for r_, i in enumerate(atoms):
        assert Fraction(float(bound[r_])) <= best[i], f"output {i}: {bound[r_]!r} > exact min {float(best[i])!r}"
