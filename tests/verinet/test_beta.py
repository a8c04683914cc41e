"""Split multipliers (β-CROWN) in the sound back-substitution, against exact rational minima.

On the part of a box where some neurons have fixed signs, :func:`verinet.bounds.alpha.sound_lower_bounds` with
multipliers ``β`` must give a lower bound ``≤`` the exact minimum of the output over that part for *every*
admissible choice — slopes anywhere in their range, any ``β ≥ 0`` (zero, tiny, huge, random, the
optimiser's) — on random ReLU / leaky-ReLU / identity networks with 1–2 inputs (the exact minimum over the
part comes from the exact linear regions of :mod:`oracle`). Mutations are caught: a negative multiplier
(the projection to ``β ≥ 0`` disabled) and a sign-flipped split term.
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
import oracle  # noqa: E402
from helpers import hyp  # noqa: E402

from tests.verinet.test_alpha import build, case, random_slopes, rows_all  # noqa: E402

import verinet.bounds.alpha as alpha_mod  # noqa: E402
import verinet.bounds.linear as linear_mod  # noqa: E402
import verinet.bounds.linear.backsub as backsub_mod  # noqa: E402
from verinet.bounds.alpha import optimise_multipliers, sound_lower_bounds  # noqa: E402
from verinet.bounds.linear import linear_propagate, linear_propagate_fixed  # noqa: E402
from verinet.network import Layer, Network  # noqa: E402
from verinet.bounds.propagation import clamp_signs, kinked_layout, per_layer_signs  # noqa: E402


def exact_minima_on_part(net: Network, lo, hi, want: dict) -> list[Fraction] | None:
    """Exact minima of the outputs over the part of the box where neuron ``(layer, j)`` has sign
    ``want[(layer, j)]`` (``z ≥ 0`` for +1, ``z ≤ 0`` for −1); None when the part has no interior."""
    return oracle.minima_on_signs(oracle.spec_from_network(net), [Fraction(float(v)) for v in lo],
                                  [Fraction(float(v)) for v in hi], want)


def random_betas(rng, net: Network, R: int, mode: str):
    out = []
    for L in net.layers[:-1]:
        if mode == "zero":
            b = np.zeros((R, L.n_out))
        else:
            scale = {"tiny": 1e-300, "huge": 1e12, "random": 1.0}.get(mode, 1.0)
            b = rng.exponential(size=(R, L.n_out)) * scale * 10.0 ** rng.integers(-3, 3, size=(R, L.n_out))
            b[rng.random(b.shape) < 0.2] = 0.0
        out.append(b)
    return out


@hyp(40)
@given(case(), st.sampled_from(["zero", "tiny", "huge", "random", "optimised"]), st.booleans())
def test_any_multipliers_give_a_valid_bound_on_the_part(c, beta_mode, reuse):
    """``reuse``: the pre-activation bounds are those of the whole box with only the split neurons clamped
    (what branch-and-bound reuses from a parent), else those of :func:`linear_propagate_fixed`."""
    seed, sizes, acts, kind, where, mode = c
    rng, net, lo, hi = build(seed, sizes, acts, kind, where)
    kinked, H = kinked_layout(net)
    if H == 0:
        return
    F = np.zeros((1, H), dtype=np.int8)
    idx = rng.choice(H, size=min(H, int(rng.integers(1, 4))), replace=False)
    F[0, idx] = rng.choice([-1, 1], size=len(idx))
    fix = per_layer_signs(F, kinked, len(net.layers))
    xl, xu = lo[None, :], hi[None, :]
    if reuse:
        b = linear_propagate(net, xl, xu)
        dead = np.zeros(1, dtype=bool)
        pre = [p if f is None else clamp_signs(p, f, dead) for p, f in zip(b.pre, fix)]
        out = b.output
    else:
        r = linear_propagate_fixed(net, xl, xu, fix)
        if r.infeasible[0]:
            return
        pre, out = r.bounds.pre, r.bounds.output
    box, atoms = rows_all(1, sizes[-1])
    fixed = [None if f is None else f != 0 for f in fix]
    split = fix[:-1]
    if beta_mode == "optimised":
        slopes, betas, _, _ = optimise_multipliers(net, [p.lo for p in pre], [p.hi for p in pre], xl, xu, box,
                                                   atoms, iters=15, fixed=fixed, split=split)
    else:
        slopes = random_slopes(rng, net, len(box), mode)
        betas = random_betas(rng, net, len(box), beta_mode)
    bound = sound_lower_bounds(net, xl, xu, pre, out, box, atoms, slopes, fixed=fixed, split=split, betas=betas)
    flat = {off + j: (k, j) for k, off, n in kinked for j in range(n)}
    best = exact_minima_on_part(net, lo, hi, {flat[int(i)]: int(F[0, i]) for i in idx})
    if best is None:
        return
    for r_, i in enumerate(atoms):
        assert not np.isnan(bound[r_])
        assert Fraction(float(bound[r_])) <= best[i], f"output {i}: {bound[r_]!r} > exact min {float(best[i])!r}"


def _identity_through_relu():
    """y = relu(x + 10) − 10 = x on [−1, 1], with a second neuron relu(x) split inactive (x ≤ 0): the exact
    minimum over the part is −1; the split term ``β·(−1)·x`` turns the bound of −y into ``(1 + β)·(−x)`` for
    admissible β (valid) but into ``(1 − |β|)·(−x)`` for a negative or sign-flipped one (0 at |β| = 1)."""
    net = Network((Layer.from_exact([["1"], ["1"]], ["0", "10"], "relu"),
                   Layer.from_exact([["0", "1"]], ["-10"], "identity")))
    lo, hi = np.array([[-1.0]]), np.array([[1.0]])
    fix = [np.array([[-1, 0]], dtype=np.int8), None]
    b = linear_propagate(net, lo, hi)
    pre = [clamp_signs(b.pre[0], fix[0], np.zeros(1, dtype=bool)), b.pre[1]]
    return net, lo, hi, fix, pre, b.output


def test_exact_minimum_of_the_example():
    net, lo, hi, fix, pre, out = _identity_through_relu()
    assert exact_minima_on_part(net, lo[0], hi[0], {(0, 0): -1}) == [-1]


def _bound(beta: float):
    net, lo, hi, fix, pre, out = _identity_through_relu()
    box, atoms = np.array([0]), np.array([0])
    return sound_lower_bounds(net, lo, hi, pre, out, box, atoms, [np.ones((1, 2))], fixed=[fix[0] != 0, None],
                              split=fix[:-1], betas=[np.array([[beta, 0.0]])])[0]


def test_negative_multipliers_are_projected_and_the_mutation_is_caught(monkeypatch):
    assert Fraction(float(_bound(-1.0))) <= -1  # β = −1 counts as 0: valid
    assert Fraction(float(_bound(1.0))) <= -1  # an admissible β: valid (and looser here)
    monkeypatch.setattr(alpha_mod, "_nonnegative", lambda b: b)
    assert Fraction(float(_bound(-1.0))) > -1  # the exact oracle catches the invalid multiplier


def test_a_sign_flipped_split_term_is_caught(monkeypatch):
    real = linear_mod._split_terms
    monkeypatch.setattr(backsub_mod, "_split_terms", lambda Lt, E, w, L, acc: real(Lt, -E, w, L, acc))
    assert Fraction(float(_bound(1.0))) > -1


def test_multipliers_tighten_a_split_bound():
    """y = relu(x + 10) − 10 = x on the part x ≥ 0 of [−1, 1] (the split neuron relu(x) active, the box not
    shrunk): the bound is −1 without multipliers and 0, the exact minimum, with β = 1 (y ≥ x − β x)."""
    net = Network((Layer.from_exact([["1"], ["1"]], ["0", "10"], "relu"),
                   Layer.from_exact([["0", "1"]], ["-10"], "identity")))
    lo, hi = np.array([[-1.0]]), np.array([[1.0]])
    fix = [np.array([[1, 0]], dtype=np.int8), None]
    b = linear_propagate(net, lo, hi)
    pre = [clamp_signs(b.pre[0], fix[0], np.zeros(1, dtype=bool)), b.pre[1]]
    box, atoms = np.array([0]), np.array([0])
    assert exact_minima_on_part(net, lo[0], hi[0], {(0, 0): 1}) == [0]
    lows, ups = [p.lo for p in pre], [p.hi for p in pre]
    slopes, betas, fb, _ = optimise_multipliers(net, lows, ups, lo, hi, box, atoms, iters=60, lr_beta=0.1,
                                                split=fix[:-1])
    plain = sound_lower_bounds(net, lo, hi, pre, b.output, box, atoms, slopes)
    tight = sound_lower_bounds(net, lo, hi, pre, b.output, box, atoms, slopes, split=fix[:-1], betas=betas)
    assert plain[0] < -0.99
    assert Fraction(float(tight[0])) <= 0
    assert tight[0] > -0.05


def exact_range(net: Network, lo, hi) -> tuple[list[Fraction], list[Fraction]]:
    """Exact minima and maxima of the outputs over the box (exact linear regions of :mod:`oracle`)."""
    spec = oracle.spec_from_network(net)
    mins = maxs = None
    for cell, J, d, _ in oracle.cells(spec, [Fraction(float(v)) for v in lo], [Fraction(float(v)) for v in hi]):
        for p in cell:
            y = [sum((a * b for a, b in zip(row, p)), di) for row, di in zip(J, d)]
            mins = y if mins is None else [min(a, b) for a, b in zip(mins, y)]
            maxs = y if maxs is None else [max(a, b) for a, b in zip(maxs, y)]
    return mins, maxs


@hyp(30)
@given(case())
def test_optimised_intermediate_bounds_enclose_the_exact_range(c):
    """:meth:`SlopeTightener.tighten_hidden` only tightens, and every hidden pre-activation range it gives
    contains the exact range of that pre-activation over the box (the layers up to ``k`` with an identity
    activation at ``k``, exact weights kept, as the oracle's network)."""
    import dataclasses

    from verinet.bounds.alpha import SlopeTightener
    from verinet.network import Activation

    seed, sizes, acts, kind, where, mode = c
    rng, net, lo, hi = build(seed, sizes, acts, kind, where)
    xl, xu = lo[None, :], hi[None, :]
    b = linear_propagate(net, xl, xu)
    pre = SlopeTightener(net).tighten_hidden(xl, xu, list(b.pre))
    for k in range(1, len(net.layers) - 1):
        assert (pre[k].lo >= b.pre[k].lo).all() and (pre[k].hi <= b.pre[k].hi).all()
        head = Network(net.layers[:k] + (dataclasses.replace(net.layers[k], activation=Activation.IDENTITY),))
        mins, maxs = exact_range(head, lo, hi)
        for j in range(net.layers[k].n_out):
            assert Fraction(float(pre[k].lo[0, j])) <= mins[j], f"layer {k} neuron {j}: lower end above the minimum"
            assert Fraction(float(pre[k].hi[0, j])) >= maxs[j], f"layer {k} neuron {j}: upper end below the maximum"


def test_intermediate_bounds_tighten_a_hidden_neuron():
    """z₂ = relu(x) − x/2 on [−1, 2] (through an always-active neuron): CROWN's default lower slope gives
    min ≥ −1/2, an optimised slope (1/2) gives the exact minimum 0."""
    from verinet.bounds.alpha import SlopeTightener

    net = Network((Layer.from_exact([["1"], ["1"]], ["0", "10"], "relu"),
                   Layer.from_exact([["1", "-0.5"]], ["5"], "relu"),
                   Layer.from_exact([["1"]], ["0"], "identity")))
    lo, hi = np.array([[-1.0]]), np.array([[2.0]])
    b = linear_propagate(net, lo, hi)
    assert b.pre[1].lo[0, 0] < -0.49
    pre = SlopeTightener(net).tighten_hidden(lo, hi, list(b.pre))
    assert -0.05 < pre[1].lo[0, 0] <= 0


@pytest.mark.parametrize("seed", range(6))
def test_search_with_multipliers_never_contradicts_the_exact_minimum(seed):
    """The search with optimised slopes and split multipliers (``bounds="alpha"``: neuron splits whose parts
    reuse their parent's hidden enclosures) on ``y₀ ≤ t``: never ``unsat`` when ``t`` is above the exact
    minimum over the box, never ``sat`` when it is below (and ``sat`` witnesses are exact)."""
    from verinet.analyses.verify import verify_vnnlib
    from verinet.io.vnnlib import parse_vnnlib

    _, net, lo, hi = build(seed, [2, 8, 8, 2], ["relu", "relu", "identity"], "dyadic", "random")
    mins, _ = exact_range(net, lo, hi)
    decl = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
    box = "".join(f"(assert (>= X_{i} {float(lo[i])!r})) (assert (<= X_{i} {float(hi[i])!r}))" for i in range(2))
    for delta, forbidden in ((Fraction(1, 4096), "sat"), (Fraction(-1, 4096), "unsat")):  # most need splits
        t = mins[0] - delta
        prop = parse_vnnlib(decl + box + f"(assert (<= Y_0 {float(t)!r}))")
        res = verify_vnnlib(net, prop, timeout=5, max_boxes=400, bounds="alpha")
        assert res.result != forbidden, f"threshold {float(t)!r}, exact minimum {float(mins[0])!r}"
        if res.result == "sat":
            assert prop.violated_by_exact(res.x, net.evaluate_exact(res.x))


_FLOATS = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.0, 5e-324, -5e-324, 1e-300, -1e-300,
                                                                             1.0, -1.0, 3.0, 1e300, -1e300]))


def _split_step(lt, e, w, blo, bhi, acc0: float) -> tuple[float, Fraction | None]:
    """One step-7 update of a row whose running bound is ``acc0``: the new float bound and the exact least
    value it must reach, ``acc0 + Σ D_i b_i + Σ |D_i| w_i`` at the worst ``b`` (None for a dead row). Also
    checks that ``D = fl(Λ̂ + E) − Λ̂`` has the sign of ``E`` (or is 0)."""
    lt, e, w, blo, bhi = (np.array(v, dtype=np.float64) for v in (lt, e, w, blo, bhi))

    class _L:
        pass

    L = _L()
    L.blo, L.bhi = blo, bhi
    L.gam_out, L.inv_out, L.neta_out = linear_mod._consts(len(lt))
    Lt = lt[None, :].copy()
    acc = np.array([acc0])
    linear_mod._split_terms(Lt, e[None, :], w[None, :], L, acc)
    if not np.isfinite(acc[0]):
        assert (Lt == 0).all()  # a dead row says nothing and passes no coefficients on
        return float(acc[0]), None
    total = Fraction(acc0)
    for i in range(len(lt)):
        D = Fraction(float(Lt[0, i])) - Fraction(float(lt[i]))
        assert D == 0 or (D > 0) == (e[i] > 0), "the multiplier used has the wrong sign"
        worst_b = Fraction(float(bhi[i])) if D > 0 else Fraction(float(blo[i]))
        total += D * worst_b + abs(D) * Fraction(float(w[i]))
    return float(acc[0]), total


@hyp(60)
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(*[st.lists(_FLOATS, min_size=n, max_size=n)] * 5)),
       st.booleans(), _FLOATS)
def test_split_terms_against_exact_rationals(cols, cancel, acc0):
    """One step-7 update against exact arithmetic: ``D = fl(Λ̂ + E) − Λ̂`` has the sign of ``E`` (or is 0),
    and the new ``acc`` is ``≥ acc0 + Σ D_i b_i + Σ |D_i| w_i`` for every ``b`` in the bias interval —
    with cancellation (``E ≈ −Λ̂``), subnormals, huge values and a nonzero running bound ``acc0``."""
    lt, e, w, b1, b2 = (np.array(c, dtype=np.float64) for c in cols)
    if cancel:
        e = -lt * (1 + 2.0**-52)
    acc, total = _split_step(lt, e, np.abs(w), np.minimum(b1, b2), np.maximum(b1, b2), acc0)
    assert total is None or Fraction(acc) >= total


@pytest.mark.parametrize("acc0", [1.0, -1.0, 1.5 * 2.0**1000, -(2.0**60)])
@pytest.mark.parametrize("lt, e, w, b", [
    ([0.0], [2.0**-60], [0.0], [1.0]),  # D = 2^-60 exact: increment 2^-60
    ([0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 2.0**-53 - 1.0]),  # cancellation: 1 + (2^-53 - 1) = 2^-53
    ([0.0, 0.0], [5e-324, 1e-323], [5e-324, 0.0], [1e-300, 1e-300]),  # subnormal D: products underflow
    ([2.0**-30], [2.0**-80], [2.0**-40], [2.0**-20]),  # D = 2^-80 on a coefficient 2^-30: 2^-100 + 2^-120
])
def test_split_terms_running_bound_rounds_up(acc0, lt, e, w, b):
    """The running bound ``acc0`` is raised by a positive increment far below half its ulp: to nearest,
    ``fl(acc0 + add) = acc0`` lies under the exact ``acc0 + Σ D_i b_i + Σ |D_i| w_i``, so the kernel must
    round this addition upward (the slack inside ``add`` is of the size of the increment, not of ``acc0``)."""
    acc, total = _split_step(lt, e, w, b, b, acc0)
    assert total is not None and Fraction(acc) >= total, (acc, float(total))
