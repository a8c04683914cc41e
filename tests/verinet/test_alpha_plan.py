"""The float objective of the slope/multiplier optimiser (``verinet.bounds.alpha._CrownPlan``) and the shared per-box
relaxations of the sound re-evaluation.

The optimiser only proposes parameters, but it should optimise the bound that is then proved: for any
admissible slopes and multipliers its float bound must agree with :func:`sound_lower_bounds` up to rounding
terms (and the sound one must not be higher beyond them), in float64 and, looser, in float32; its gradient must
match finite differences. Relaxations computed once (:func:`box_relaxations`) and reused must give bit-identical
sound bounds, which are themselves checked against exact rational minima in ``test_alpha.py``/``test_beta.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import hyp  # noqa: E402
from test_alpha import build, case, random_slopes, rows_all  # noqa: E402
from test_beta import random_betas  # noqa: E402

import verinet.bounds.alpha as alpha_mod  # noqa: E402
import verinet.bounds.linear as linear_mod  # noqa: E402
from intervals.array import IntervalArray  # noqa: E402
from verinet.bounds.alpha import _CrownPlan, box_relaxations, optimise_multipliers, sound_lower_bounds  # noqa: E402
from verinet.bounds.linear import linear_propagate  # noqa: E402
from verinet.bounds.propagation import clamp_signs, kinked_layout, per_layer_signs  # noqa: E402


def _setup(c, n_split):
    seed, sizes, acts, kind, where, mode = c
    rng, net, lo, hi = build(seed, sizes, acts, kind, where)
    kinked, H = kinked_layout(net)
    xl, xu = lo[None, :], hi[None, :]
    b = linear_propagate(net, xl, xu)
    pre, fixed, split = list(b.pre), None, None
    if H and n_split:
        F = np.zeros((1, H), dtype=np.int8)
        idx = rng.choice(H, size=min(H, n_split), replace=False)
        F[0, idx] = rng.choice([-1, 1], size=len(idx))
        fix = per_layer_signs(F, kinked, len(net.layers))
        dead = np.zeros(1, dtype=bool)
        pre = [p if f is None else clamp_signs(p, f, dead) for p, f in zip(b.pre, fix)]
        if dead[0]:
            return None
        fixed = [None if f is None else f != 0 for f in fix]
        split = list(fix[:-1])
    box, atoms = rows_all(1, sizes[-1])
    slopes = [alpha_mod.admissible_slopes(s, alpha_mod._leak(L)) for s, L in
              zip(random_slopes(rng, net, len(box), mode if mode != "optimised" else "random"), net.layers)]
    betas = random_betas(rng, net, len(box), "random") if split is not None else None
    return net, xl, xu, pre, fixed, split, box, atoms, slopes, betas


@hyp(40)
@given(case(), st.integers(0, 3), st.sampled_from(["float64", "float32"]))
def test_float_objective_is_the_sound_bound_up_to_rounding(c, n_split, dtype):
    s = _setup(c, n_split)
    if s is None:
        return
    net, xl, xu, pre, fixed, split, box, atoms, slopes, betas = s
    lows, ups = [np.asarray(p.lo) for p in pre], [np.asarray(p.hi) for p in pre]
    plan = _CrownPlan(net.layers, lows, ups, box, atoms, xl, xu, fixed=fixed, split=split, dtype=dtype)
    fb, _, _ = plan.run([np.asarray(v, dtype=dtype) for v in slopes], False,
                        None if betas is None else [np.asarray(v, dtype=dtype) for v in betas])
    m = net.n_outputs
    unbounded = IntervalArray.unchecked(np.full((1, m), -np.inf), np.full((1, m), np.inf))
    sb = sound_lower_bounds(net, xl, xu, pre, unbounded, box, atoms, slopes, fixed=fixed, split=split, betas=betas)
    fb = np.asarray(fb, dtype=np.float64)
    if not np.isfinite(fb).all():
        return
    # the scale of the terms that were summed: the float bound with every coefficient made positive
    scale = 1.0 + np.abs(fb) + sum(float(np.abs(L.weight_mid).sum() + np.abs(L.bias_mid).sum()) for L in net.layers) \
        * (1.0 + float(np.abs(np.concatenate([xl, xu])).max())) * (1.0 + (0.0 if betas is None else
                                                                       max(float(b.max()) for b in betas)))
    tol = (1e-9 if dtype == "float64" else 1e-4) * scale
    assert np.all(sb <= fb + tol), (sb, fb)  # the proof never claims more than the float objective
    assert np.all(sb >= fb - tol), (sb, fb)  # and is the same bound (no line chosen differently)


@pytest.mark.parametrize("seed", range(6))
def test_gradient_of_the_float_objective_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    s = None
    while s is None:
        c = (int(rng.integers(2**32)), [2, 5, 5, 2], ["relu", "leaky_relu", "identity"], "float", "random", "random")
        s = _setup(c, 2)
    net, xl, xu, pre, fixed, split, box, atoms, slopes, betas = s
    lows, ups = [np.asarray(p.lo) for p in pre], [np.asarray(p.hi) for p in pre]
    plan = _CrownPlan(net.layers, lows, ups, box, atoms, xl, xu, fixed=fixed, split=split)
    slopes = [np.clip(v, 0.1, 0.9) for v in slopes]  # inside the range: the objective is smooth there a.e.
    b0, _, g = plan.run(slopes, True, betas)
    dirs = [rng.standard_normal(v.shape) for v in slopes] + [rng.standard_normal(v.shape) for v in betas]
    h = 1e-6
    plus = plan.run([v + h * d for v, d in zip(slopes, dirs)], False, [v + h * d for v, d in zip(betas, dirs[2:])])[0]
    minus = plan.run([v - h * d for v, d in zip(slopes, dirs)], False, [v - h * d for v, d in zip(betas, dirs[2:])])[0]
    fd = (plus - minus) / (2 * h)
    an = sum((gk * dk).sum(axis=1) for gk, dk in zip(g, dirs) if gk is not None)
    assert np.allclose(fd, an, rtol=1e-5, atol=1e-6), (fd, an)


@hyp(25)
@given(case(), st.integers(0, 3))
def test_shared_relaxations_give_the_same_bounds(c, n_split):
    s = _setup(c, n_split)
    if s is None:
        return
    net, xl, xu, pre, fixed, split, box, atoms, slopes, betas = s
    out = linear_propagate(net, xl, xu).output
    relaxed = box_relaxations(net, xl, xu, pre)
    a = sound_lower_bounds(net, xl, xu, pre, out, box, atoms, slopes, fixed=fixed, split=split, betas=betas)
    for _ in range(2):  # the shared data is not modified by a call
        b = sound_lower_bounds(net, xl, xu, pre, out, box, atoms, slopes, fixed=fixed, split=split, betas=betas,
                               relaxed=relaxed)
        assert np.array_equal(a, b)


def test_float32_optimiser_proposes_admissible_parameters():
    """float32 optimisation returns float64 slopes in ``[0, 1]`` and multipliers ``≥ 0`` whose sound bound is at
    least the default slopes' (on this example, where the optimum is known: see test_alpha)."""
    from verinet.network import Layer, Network
    net = Network((Layer.from_exact([["1"], ["1"]], ["0", "10"], "relu"),
                   Layer.from_exact([["1", "-0.5"]], ["5"], "identity")))
    lo, hi = np.array([[-1.0]]), np.array([[2.0]])
    b = linear_propagate(net, lo, hi)
    box, atoms = np.array([0]), np.array([0])
    lows, ups = [p.lo for p in b.pre], [p.hi for p in b.pre]
    slopes, _, fb, _ = optimise_multipliers(net, lows, ups, lo, hi, box, atoms, iters=40, dtype=np.float32)
    assert all(v.dtype == np.float64 and (v >= 0).all() and (v <= 1).all() for v in slopes)
    sb = sound_lower_bounds(net, lo, hi, b.pre, b.output, box, atoms, slopes)
    assert -0.05 < sb[0] <= 0.0  # the exact minimum is 0


def test_split_term_error_weight_is_counted():
    """``D = 1`` on a neuron with error weight ``w = 1`` and bias 0: the increment must be ``≥ |D| w = 1``
    (a kernel that forgot the ``|D_i| w_i`` terms adds only rounding slack, about 1e-300)."""

    class _L:
        pass

    L = _L()
    L.blo, L.bhi = np.zeros(1), np.zeros(1)
    L.gam_out, L.inv_out, L.neta_out = linear_mod._consts(1)
    Lt, acc = np.array([[1.0]]), np.zeros(1)
    linear_mod._split_terms(Lt, np.array([[1.0]]), np.array([[1.0]]), L, acc)
    assert Lt[0, 0] == 2.0
    assert acc[0] >= 1.0
