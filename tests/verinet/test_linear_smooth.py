"""Linear relaxations of sigmoid/tanh layers (``verinet.activations.smooth``, used by ``verinet.bounds.linear``:
parallel lines, chords on convex/concave pieces) against an independent high-precision oracle.

* ``_relaxation`` lines: ``s_L z + t_L ≤ σ(z) ≤ s_U z + t_U`` at many float points of ``[l, u]`` (endpoints,
  their neighbours, 0, landmarks, a grid), on adversarial intervals: points, one-ulp widths, ``±30``,
  ``±700``, ``±1e300``, the largest float, intervals straddling 0, one-signed ones, subnormal endpoints,
  infinite endpoints (constant fallback), and Hypothesis-drawn ones. The intercepts are the ones implied by
  the offsets ``k`` (``t_U = k_U − s_U b_hi``, ``t_L = k_L − s_L b_lo``, exact Fractions), so the offsets of
  step 2 are checked too. σ(z) comes from a private mpmath context at 512 bits or more (up to 2560 bits
  for ``|z|`` near 800, 3600 for ``|z| < 1e-20``, where σ minus a line can be as small as ``|z|³``); the only tolerance is the oracle's own
  relative error, ``2^-(prec − 16)``, far below float resolution. For ``|z| ≥ 800`` the exact range
  ``(λ − 2^-1150, λ)`` of σ around its limit λ is used, strictly.
* ``linear_propagate`` / ``linear_objective_bounds`` on small random sigmoid/tanh networks contain the true
  pre-activations (exact Fractions in layer 0, mpmath interval enclosures at 300 bits after that) and
  outputs at sampled points; tightness against interval propagation and against the former constant lines
  (the only statistical inequalities here).
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers
from helpers import assert_iv_enclosed, hyp

from intervals.array import IntervalArray
from verinet.activations.smooth import _Smooth
from verinet.bounds.backends import make_backend
from verinet.bounds.linear import _LayerPrep, _relaxation, linear_objective_bounds, linear_propagate
from verinet.network import Layer, Network
from verinet.bounds.propagation import propagate

INF = math.inf
FMAX = float(np.finfo(np.float64).max)
TINY = 5e-324

# --------------------------------------------------------------------------------------------------
# oracle
# --------------------------------------------------------------------------------------------------

_CTX: dict[int, mpmath.MPContext] = {}


def _ctx(prec: int) -> mpmath.MPContext:
    """A private mpmath context at ``prec`` bits (the global ``mpmath.mp`` is never touched)."""
    c = _CTX.get(prec)
    if c is None:
        c = _CTX[prec] = mpmath.MPContext()
        c.prec = prec
    return c


def _mpf_frac(x) -> Fraction:
    return helpers._raw_frac(x._mpf_)


_SIGMA_CACHE: dict = {}


def sigma(act: str, z: float) -> tuple[Fraction, Fraction]:
    """``(U, L)``: an upper line must be ``≥ U`` at ``z`` and a lower line ``≤ L``.

    ``|z| < 800``: ``U = σ̃ − m``, ``L = σ̃ + m`` with σ̃ from mpmath and ``m = |σ̃|·2^-(prec − 16)`` its
    relative error (lenient by the oracle error only; ``prec`` ≥ 512 bits, more where σ is within
    ``2^-prec`` of its limit or of its tangent at 0). ``|z| ≥ 800`` (there ``e^{-800} < 2^-1150``, and
    ``σ̃`` would have an exponent too large for a Fraction): σ is within ``2^-1150`` of its limit
    ``λ ∈ {0, ±1}`` on the inner side, and ``(U, L)`` are the far/near ends of that range (strict: a line in
    between would fail although it might be valid; none of ours comes that close).
    """
    key = (act, z)
    r = _SIGMA_CACHE.get(key)
    if r is None:
        if abs(z) >= 800.0:
            eps = Fraction(1, 2**1150)
            if z > 0:  # σ ∈ (1 − eps, 1)
                r = (Fraction(1), 1 - eps)
            elif act == "tanh":  # σ ∈ (−1, −1 + eps)
                r = (-1 + eps, Fraction(-1))
            else:  # σ ∈ (0, eps)
                r = (eps, Fraction(0))
        else:
            # enough bits to resolve σ's distance to its limit (≈ e^{-2|z|} for tanh, e^{-|z|} for the logistic)
            # and, for tiny z, its distance to the tangent at 0 (≈ |z|³): a lower line at the limit would show
            prec = 3600 if abs(z) < 1e-20 else 256 * (2 + int(2.9 * abs(z)) // 256)
            ctx = _ctx(prec)
            x = ctx.mpf(z)  # exact: prec ≥ 53
            v = ctx.tanh(x) if act == "tanh" else 1 / (1 + ctx.exp(-x))
            f = _mpf_frac(v)
            m = abs(f) / 2 ** (prec - 16)
            r = (f - m, f + m)
        _SIGMA_CACHE[key] = r
    return r


def nxt(x: float, d: float) -> float:
    """The float next to ``x`` towards ``d`` (``±inf`` past the largest float, without a warning)."""
    with np.errstate(over="ignore"):
        return float(np.nextafter(x, d))


def sample_points(l: float, u: float) -> list[float]:
    """Finite float points of ``[l, u]``: ends, their neighbours, 0, landmarks, a grid."""
    pts = {l, u, nxt(l, INF), nxt(u, -INF), 0.0}
    for m in (1e-300, 1e-20, 1e-8, 0.5, 1.0, 2.0, 5.0, 20.0, 30.0, 40.0, 700.0, 1e300):
        pts.update((m, -m))
    with np.errstate(over="ignore", invalid="ignore"):
        for f in np.linspace(0.0, 1.0, 13):
            pts.add(float(l * (1.0 - f) + u * f))
    return sorted(p for p in pts if math.isfinite(p) and l <= p <= u)


def lines_of(act: str, lo, hi, bias=None):
    """``_relaxation`` of a one-input layer ``z_i = 1·x + b_i`` on the pre-activation boxes ``[lo_i, hi_i]``."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    n = lo.size
    bias = ["0"] * n if bias is None else bias
    layer = Layer.from_exact(np.ones((n, 1)), bias, act)
    Z = IntervalArray(lo[None, :], hi[None, :])
    A = make_backend(Network((layer,))).activate(0, Z)
    rx = _relaxation(_LayerPrep(layer), Z, A, np.ones((1, 1)))
    return layer, A, rx


def check_lines(act: str, lo, hi, bias=None):
    """Every line valid at every sample point (oracle); slopes ≥ 0; finite lines for finite intervals.
    Returns ``(sU, tU, sL, tL)`` per interval (Fractions, intercepts implied by the offsets)."""
    layer, A, rx = lines_of(act, lo, hi, bias)
    out = []
    for i, (l, u) in enumerate(zip(np.asarray(lo, dtype=float).tolist(), np.asarray(hi, dtype=float).tolist())):
        sU, sL, kU, kL = (float(v[0, i]) for v in (rx.sU, rx.sL, rx.kU, rx.kL))
        assert 0.0 <= sU < INF and 0.0 <= sL < INF, (l, u, sU, sL)
        assert math.isfinite(kU) and math.isfinite(kL), (l, u, kU, kL)
        tU = Fraction(kU) - Fraction(sU) * Fraction(float(layer.bias_hi[i]))
        tL = Fraction(kL) - Fraction(sL) * Fraction(float(layer.bias_lo[i]))
        if not (math.isfinite(l) and math.isfinite(u)):  # constant fallback: slope 0, the interval bounds
            assert sU == 0.0 and sL == 0.0
            assert tU == Fraction(float(A.hi[0, i])) and tL == Fraction(float(A.lo[0, i]))
        for z in sample_points(l, u):
            need_U, need_L = sigma(act, z)
            zq = Fraction(z)
            up = Fraction(sU) * zq + tU
            lw = Fraction(sL) * zq + tL
            assert up >= need_U, f"{act} upper line above σ fails on [{l!r}, {u!r}] at {z!r}: {sU!r}, {float(tU)!r}"
            assert lw <= need_L, f"{act} lower line below σ fails on [{l!r}, {u!r}] at {z!r}: {sL!r}, {float(tL)!r}"
        out.append((Fraction(sU), tU, Fraction(sL), tL))
    return out


# --------------------------------------------------------------------------------------------------
# (1) the lines, on adversarial intervals
# --------------------------------------------------------------------------------------------------

_MAGS = [0.0, TINY, 1e-320, 2.2250738585072014e-308, 1e-300, 1e-20, 0.1, 1.0, 2.0, 5.0, 30.0, 36.7, 40.0,
         700.0, 710.0, 1e300, FMAX]
_POINTS = sorted({s * m for m in _MAGS for s in (1.0, -1.0)} | {-0.0})


def _adversarial_intervals():
    iv = []
    for x in _POINTS:
        iv.append((x, x))  # points
        iv.append((nxt(x, -INF), x))  # one ulp wide
        iv.append((x, nxt(x, INF)))
    for m in (1e-300, 1e-8, 0.5, 1.0, 3.0, 30.0, 700.0, 1e300, FMAX):
        iv += [(-m, m), (-m, m / 3), (-m / 7, m), (-m, 0.0), (0.0, m), (-0.0, m)]  # straddling 0 / touching 0
        iv += [(-m, -m / 2), (m / 2, m), (-2 * m, -m) if m < FMAX else (-m, -m / 2), (m, 2 * m) if m < FMAX else (m / 4, m)]
    iv += [(-30.0, -29.5), (29.0, 30.0), (-700.0, -699.0), (699.0, 700.0), (-1e300, -1e299), (1e299, 1e300),
           (-40.0, -36.0), (36.0, 40.0), (-745.0, -700.0), (-20.0, 20.0), (-1.0, 2.0), (-2.0, -1.0), (1.0, 2.0),
           (TINY, 1e-323), (-1e-320, -TINY), (-TINY, TINY), (0.0, TINY), (-TINY, 0.0), (1e-310, 1.0),
           (-1e-310, 1.0), (-1.0, -1e-310), (-1e-300, 1e-300), (-FMAX, FMAX), (1e308, FMAX), (-FMAX, -1e308),
           (-0.1, -0.1 + 2**-40), (0.7, 0.7 + 2**-30), (-5.0, 1e-300)]
    return iv


_INFINITE = [(-INF, 0.0), (0.0, INF), (-INF, INF), (-INF, -1e300), (1e300, INF),
             (-INF, 3.0), (-3.0, INF)]


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_lines_valid_on_adversarial_intervals(act):
    iv = _adversarial_intervals() + _INFINITE
    lo = [a for a, _ in iv]
    hi = [b for _, b in iv]
    assert all(a <= b for a, b in iv)
    check_lines(act, lo, hi)


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_lines_valid_with_interval_and_float_biases(act):
    """Nonzero biases (decimal ones are float intervals ``b_lo < b_hi``): the offsets ``k`` of step 2."""
    iv = _adversarial_intervals()
    rng = np.random.default_rng(3)
    choices = ["0.1", "-3.25", "1e-300", "-7e300", "0.3333", "2.5e-320", "1e308", "-0.1"]
    bias = [choices[int(rng.integers(len(choices)))] for _ in iv]
    check_lines(act, [a for a, _ in iv], [b for _, b in iv], bias)


_ENDPOINTS = st.one_of(
    st.floats(-60.0, 60.0, allow_nan=False),
    st.floats(-1e-300, 1e-300, allow_nan=False),
    st.floats(-800.0, 800.0, allow_nan=False),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, TINY, -TINY, 1.0, -1.0, 30.0, -30.0, 700.0, -700.0, 1e300, -1e300, FMAX, -FMAX]),
)


@hyp(120)
@given(st.lists(st.tuples(_ENDPOINTS, _ENDPOINTS, st.sampled_from([None, 1, 2, 3])), min_size=1, max_size=6),
       st.sampled_from(["sigmoid", "tanh"]))
def test_lines_valid_property(triples, act):
    """Hypothesis: random endpoints; ``None`` keeps the pair, ``k`` makes it ``k`` ulps wide."""
    lo, hi = [], []
    for a, b, w in triples:
        a, b = min(a, b), max(a, b)
        if w is not None:
            b = a
            for _ in range(w):
                b = nxt(b, INF)
            if not math.isfinite(b):
                b = a
        lo.append(a)
        hi.append(b)
    check_lines(act, lo, hi)


def dsigma(act: str, z: float) -> Fraction:
    """A number ``≥ σ'(z)`` (mpmath at 512 bits, rounded up by its relative error; ``2^-1150`` for ``|z| ≥ 800``)."""
    if abs(z) >= 800.0:
        return Fraction(1, 2**1150)
    ctx = _ctx(512)
    x = abs(ctx.mpf(z))
    e = ctx.exp(-x) if act == "sigmoid" else ctx.exp(-2 * x)
    v = e / (1 + e) ** 2 if act == "sigmoid" else 4 * e / (1 + e) ** 2  # well conditioned for large |z|
    f = _mpf_frac(v)
    return f + f / 2**490


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_parallel_slope_below_min_derivative(act):
    """The proof obligation of the parallel lines, checked directly: their slope ``s`` is ``≤ σ'(l)`` and
    ``≤ σ'(u)`` (the minimum of σ' on ``[l, u]``). Parallel: both lines where ``l < 0 < u`` or ``l = u``,
    the lower line on a convex piece, the upper one on a concave piece."""
    rng = np.random.default_rng(17)
    mags = np.exp(rng.uniform(-6, 7, 400)) * rng.choice([-1.0, 1.0], 400)
    pairs = [tuple(sorted(p)) for p in mags.reshape(-1, 2)]
    pairs += [(x, x) for x in _POINTS if math.isfinite(x)] + [(nxt(x, -INF), x) for x in _POINTS if abs(x) < 1e300]
    lo = [a for a, _ in pairs]
    hi = [b for _, b in pairs]
    _, _, rx = lines_of(act, lo, hi)
    for i, (l, u) in enumerate(pairs):
        bound = min(dsigma(act, l), dsigma(act, u))
        sU, sL = Fraction(float(rx.sU[0, i])), Fraction(float(rx.sL[0, i]))
        par = [sU, sL] if (l < 0.0 < u or l == u) else ([sL] if u <= 0.0 else [sU])
        for s in par:
            assert s <= bound, (l, u, float(s), float(bound))


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_chord_lines_at_endpoints(act):
    """One-signed intervals, many of them (one end at 0, or both ends random): the chord lines at ``l``
    and ``u``, where a missing term of ``max``/``min`` in the intercept or a rounding in the wrong
    direction would show (the chord passes within rounding of σ at both ends)."""
    rng = np.random.default_rng(23)
    x = rng.uniform(1e-3, 3.0, 300)
    y = rng.uniform(1e-3, 3.0, 300)
    pairs = [(-v, 0.0) for v in x[:100]] + [(0.0, v) for v in x[100:200]]
    pairs += [(-max(a, b), -min(a, b)) for a, b in zip(x[200:250], y[200:250])]
    pairs += [(min(a, b), max(a, b)) for a, b in zip(x[250:], y[250:])]
    lo = [a for a, _ in pairs]
    hi = [b for _, b in pairs]
    _, _, rx = lines_of(act, lo, hi)
    for i, (l, u) in enumerate(pairs):
        sU, sL, tU, tL = (Fraction(float(v[0, i])) for v in (rx.sU, rx.sL, rx.kU, rx.kL))  # zero bias: k = t
        for z in (l, u):
            need_U, need_L = sigma(act, z)
            assert sU * Fraction(z) + tU >= need_U, (act, l, u, z, "upper")
            assert sL * Fraction(z) + tL <= need_L, (act, l, u, z, "lower")


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_lines_are_informative(act):
    """Not soundness: the slopes are close to ``min σ'`` (parallel) or to the chord (one-signed pieces),
    and the band between the lines is never wider than the constant-line band ``A.hi − A.lo``."""
    f = (lambda z: 1 / (1 + math.exp(-z))) if act == "sigmoid" else math.tanh
    df = (lambda z: f(z) * (1 - f(z))) if act == "sigmoid" else (lambda z: 1 - math.tanh(z) ** 2)
    iv = [(-1.0, 2.0), (-3.0, 0.5), (-0.2, 0.2), (-4.0, -1.0), (-2.0, -1.5), (0.5, 3.0), (1.0, 1.25)]
    lo = [a for a, _ in iv]
    hi = [b for _, b in iv]
    _, A, _ = lines_of(act, lo, hi)
    res = check_lines(act, lo, hi)
    for (l, u), (sU, tU, sL, tL), alo, ahi in zip(iv, res, A.lo[0], A.hi[0]):
        chord = (f(u) - f(l)) / (u - l)
        par = min(df(l), df(u))
        exp_U = chord if u <= 0 else par
        exp_L = chord if l >= 0 else par
        assert math.isclose(float(sU), exp_U, rel_tol=1e-9), (l, u, float(sU), exp_U)
        assert math.isclose(float(sL), exp_L, rel_tol=1e-9), (l, u, float(sL), exp_L)
        for z in (Fraction(l), Fraction(u), (Fraction(l) + Fraction(u)) / 2):
            band = (sU - sL) * z + tU - tL
            assert 0 <= band <= Fraction(float(ahi)) - Fraction(float(alo)) + Fraction(1, 2**45)
        if l < 0 < u:  # parallel lines: the band is σ(u) − σ(l) − s(u − l) up to rounding
            assert float(tU - tL) <= f(u) - f(l) - par * (u - l) + 1e-14


def test_relu_paths_unchanged(monkeypatch):
    """Identity/ReLU layers never reach the curved-line code (it only runs for sigmoid/tanh)."""
    calls = []
    orig = _Smooth._curved_lines
    monkeypatch.setattr(_Smooth, "_curved_lines", lambda *a, **k: calls.append(a) or orig(*a, **k))
    for act in ("relu", "leaky_relu", "identity"):
        lines_of(act, [-1.0, 0.0], [1.0, 2.0])
    assert not calls
    lines_of("tanh", [-1.0], [1.0])
    assert len(calls) == 1


# --------------------------------------------------------------------------------------------------
# (2) whole networks
# --------------------------------------------------------------------------------------------------


def iv_forward(spec, x, prec: int = 300):
    """Pre-activations of every layer at the rational point ``x``: exact Fractions for layer 0 (as 1-tuples),
    then mpmath interval enclosures ``(lo, hi)`` (Fractions) at ``prec`` bits."""
    ctx = helpers.iv_context(prec)
    out = []
    zq = [sum((spec.weights[0][i, j] * Fraction(x[j]) for j in range(len(x))), spec.biases[0][i])
          for i in range(spec.weights[0].shape[0])]
    out.append([(v, v) for v in zq])
    z = [helpers._iv_of(ctx, v) for v in zq]
    for k in range(1, len(spec.weights)):
        act = spec.activations[k - 1]
        if act == "sigmoid":
            a = [1 / (1 + ctx.exp(-v)) for v in z]
        elif act == "tanh":
            a = [1 - 2 / (ctx.exp(2 * v) + 1) for v in z]
        else:
            assert act == "identity"
            a = z
        W, b = spec.weights[k], spec.biases[k]
        z = []
        for i in range(W.shape[0]):
            s = helpers._iv_of(ctx, b[i])
            for j in range(W.shape[1]):
                s = s + helpers._iv_of(ctx, W[i, j]) * a[j]
            z.append(s)
        out.append([helpers.iv_to_fractions(v) for v in z])
    return out


@hyp(25)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["sigmoid", "tanh", "mixed"]),
       st.sampled_from(["point", "small", "medium", "wide"]), st.sampled_from(["unstable", "all"]))
def test_networks_contain_true_values(seed, act, box, refine):
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(1, 4))
    sizes = [int(rng.integers(1, 4))] + [int(rng.integers(2, 7)) for _ in range(depth)] + [int(rng.integers(1, 3))]
    hidden = [act if act != "mixed" else str(rng.choice(["sigmoid", "tanh", "identity"])) for _ in range(depth)]
    spec = helpers.random_spec(rng, sizes, hidden + ["identity"], exact_decimals=bool(rng.integers(0, 2)))
    net = spec.build()
    if box == "point":
        lo = hi = rng.standard_normal(sizes[0])
    else:
        r = {"small": 1e-3, "medium": 0.1, "wide": 1.0}[box] * np.abs(rng.standard_normal(sizes[0]))
        c = rng.standard_normal(sizes[0])
        lo, hi = c - r, c + r
    lin = linear_propagate(net, lo, hi, refine=refine)
    backend = make_backend(net)
    ibp = propagate(backend, backend.box(np.asarray(lo), np.asarray(hi)))
    for a, b in zip(list(lin.pre) + [lin.output], list(ibp.pre) + [ibp.output]):
        assert not (np.isnan(a.lo).any() or np.isnan(a.hi).any())
        assert np.all(a.lo >= b.lo) and np.all(a.hi <= b.hi)
    C = rng.standard_normal((2, sizes[-1]))
    obj = linear_objective_bounds(net, lo, hi, C)
    for p in helpers.random_points_in_box(rng, lo, hi, 3, include_corners=2):
        zs = iv_forward(spec, p)
        for k, z in enumerate(zs):
            assert_iv_enclosed(lin.pre[k].lo, lin.pre[k].hi, z, f"layer {k} pre-activation")
        y = zs[-1]
        assert_iv_enclosed(lin.output.lo, lin.output.hi, y, "output")
        cy = []
        for r in range(C.shape[0]):
            lo_r = sum(Fraction(float(C[r, i])) * (y[i][0] if C[r, i] >= 0 else y[i][1]) for i in range(len(y)))
            hi_r = sum(Fraction(float(C[r, i])) * (y[i][1] if C[r, i] >= 0 else y[i][0]) for i in range(len(y)))
            cy.append((lo_r, hi_r))
        assert_iv_enclosed(obj.lo, obj.hi, cy, "objective C y")


def test_batched_boxes_sound_and_same_as_single():
    rng = np.random.default_rng(11)
    spec = helpers.random_spec(rng, [3, 6, 5, 2], ["tanh", "sigmoid", "identity"])
    net = spec.build()
    c = rng.standard_normal((4, 3))
    r = np.array([1e-3, 0.05, 0.3, 0.0])[:, None] * np.ones((1, 3))
    lo, hi = c - r, c + r
    batch = linear_propagate(net, lo, hi)
    for b in range(4):
        one = linear_propagate(net, lo[b], hi[b])
        assert np.all(batch.output.lo[b] <= one.output.hi) and np.all(one.output.lo <= batch.output.hi[b])
        for p in helpers.random_points_in_box(rng, lo[b], hi[b], 2, include_corners=2):
            zs = iv_forward(spec, p)
            assert_iv_enclosed(batch.output.lo[b], batch.output.hi[b], zs[-1], f"box {b} output")


def _widths(net, lo, hi):
    lin = linear_propagate(net, lo, hi)
    backend = make_backend(net)
    ibp = propagate(backend, backend.box(lo, hi))
    return float(np.mean(lin.output.hi - lin.output.lo)), float(np.mean(ibp.output.hi - ibp.output.lo))


def test_tightness_tanh_two_hidden_layers_beats_interval_bounds():
    """A 2-hidden-layer tanh network (4-16-16-3) on small boxes: the linear output width is a small fraction
    of the interval (IBP) width (it was equal with the former constant lines)."""
    ratios = []
    for seed in range(4):
        rng = np.random.default_rng(100 + seed)
        net = helpers.random_spec(rng, [4, 16, 16, 3], "tanh").build()
        c = rng.standard_normal(4)
        w_lin, w_ibp = _widths(net, c - 0.01, c + 0.01)
        ratios.append(w_lin / w_ibp)
    assert max(ratios) < 0.3, ratios
    assert np.mean(ratios) < 0.2, ratios


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_tightness_vs_constant_lines(act, monkeypatch):
    """Against the former relaxation (constant lines ``A.lo ≤ σ ≤ A.hi``, i.e. ``_curved_lines`` skipped):
    never wider on average over a set of networks and boxes, and much narrower overall."""
    cases = []
    for seed in range(6):
        rng = np.random.default_rng(7 + seed)
        net = helpers.random_spec(rng, [3, 10, 10, 2], act).build()
        c = rng.standard_normal(3)
        for r in (0.01, 0.1, 0.4):
            cases.append((net, c - r, c + r))
    new = [_widths(net, lo, hi)[0] for net, lo, hi in cases]
    monkeypatch.setattr(_Smooth, "_curved_lines", lambda *a, **k: None)
    old = [_widths(net, lo, hi)[0] for net, lo, hi in cases]
    new, old = np.array(new), np.array(old)
    assert np.all(new <= old * (1 + 1e-9)), (new, old)
    assert np.mean(new / old) < 0.6, new / old
