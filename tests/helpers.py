"""Exact oracles shared by the soundness tests (no library code is trusted here).

Everything is computed in Python ``fractions.Fraction`` (or, for smooth activations, in a *private*
mpmath interval context at high precision), independently of ``intervals``/``verinet`` internals:

* extended-real helpers (``Fraction`` for finite values, ``±math.inf`` for the infinities) and exact
  containment checks of float64 enclosures;
* the exact interval product of a matrix with a box (the true range, entry by entry);
* a specification of a random feed-forward network as exact rationals, the ``Layer``/``Network`` built
  from it, an exact forward pass, and the exact gradients of ``cᵀ f`` for every choice of one-sided
  derivatives at the neurons whose pre-activation is exactly 0 (the Clarke gradient is their convex hull
  when the activation patterns are realised; in any case every such product lies in the interval chain
  rule, which is what the enclosure must contain);
* a high-precision mpmath interval forward/gradient pass for sigmoid/tanh networks.

Soundness assertions built on these helpers have no tolerance: a float endpoint is compared with an
exact rational by exact comparison.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import mpmath
import numpy as np
from hypothesis import HealthCheck, settings

INF = math.inf
FMAX = float(np.finfo(np.float64).max)
ETA = 5e-324

# --------------------------------------------------------------------------------------------------
# hypothesis settings
# --------------------------------------------------------------------------------------------------


def hyp(max_examples: int, **kw):
    """``settings`` with ``deadline=None`` and ``max_examples`` examples.

    The loaded profile scales the per-test numbers relative to Hypothesis' built-in 100 examples (the
    ``default``/``ci`` profiles of ``tests/intervals/conftest.py`` ask for 50/80, so 0.5×/0.8×);
    ``VERINET_HYP_SCALE=k`` multiplies them again for a longer bug hunt.
    """
    scale = settings.default.max_examples / 100 * float(os.environ.get("VERINET_HYP_SCALE", "1"))
    n = round(max_examples * scale)
    return settings(deadline=None, max_examples=max(n, 1),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much], **kw)


# --------------------------------------------------------------------------------------------------
# extended reals
# --------------------------------------------------------------------------------------------------


def q(x):
    """Exact value of a float (``Fraction``), keeping ``±inf`` as float infinities."""
    if isinstance(x, Fraction):
        return x
    x = float(x)
    if math.isnan(x):
        raise AssertionError("NaN endpoint")
    return x if math.isinf(x) else Fraction(x)


def ext_mul(a, b):
    """Product in the extended reals with the set convention ``0 · ±inf = 0``."""
    if a == 0 or b == 0:
        return Fraction(0)
    if isinstance(a, float) or isinstance(b, float):  # an infinity is involved
        return INF if (a > 0) == (b > 0) else -INF
    return a * b


def ext_sum(values):
    """Sum in the extended reals; ``+inf + -inf`` is an error (never needed for range endpoints)."""
    pos = neg = False
    s = Fraction(0)
    for v in values:
        if isinstance(v, float):
            if v > 0:
                pos = True
            else:
                neg = True
        else:
            s += v
    if pos and neg:
        raise AssertionError("inf - inf in an exact range computation")
    return INF if pos else (-INF if neg else s)


def contains(lo, hi, v) -> bool:
    """Exact ``lo <= v <= hi`` for float endpoints and an extended-real ``v``; False on NaN."""
    lo = float(lo)
    hi = float(hi)
    if math.isnan(lo) or math.isnan(hi):
        return False
    return lo <= v <= hi


def assert_encloses(lo, hi, exact, what: str = "") -> None:
    """Every entry: ``lo[i] <= exact[i] <= hi[i]`` exactly, and the endpoints are no NaN."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    exact = np.asarray(exact, dtype=object)
    assert lo.shape == hi.shape == exact.shape, f"{what}: shapes {lo.shape}, {hi.shape}, {exact.shape}"
    for idx in np.ndindex(exact.shape):
        v = exact[idx]
        if not contains(lo[idx], hi[idx], v):
            raise AssertionError(
                f"{what}: enclosure [{lo[idx]!r}, {hi[idx]!r}] at {idx} does not contain the exact value "
                f"{v} (~{float(v) if not isinstance(v, float) else v!r})"
            )


def assert_range_enclosed(lo, hi, exact_lo, exact_hi, what: str = "") -> None:
    """The whole exact range ``[exact_lo, exact_hi]`` lies in ``[lo, hi]`` (entrywise)."""
    assert_encloses(lo, hi, exact_lo, what + " (lower end of the exact range)")
    assert_encloses(lo, hi, exact_hi, what + " (upper end of the exact range)")


def frac_array(a) -> np.ndarray:
    """Object array of the exact values of a float array (infinities kept as floats)."""
    a = np.asarray(a, dtype=np.float64)
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(a.shape):
        out[idx] = q(a[idx])
    return out


def exact_interval_matvec(Wlo, Whi, xlo, xhi):
    """Exact range of ``W x`` over ``W ∈ [Wlo, Whi]``, ``x ∈ [xlo, xhi]`` (last axis of x), per entry.

    Terms are independent across ``j``, so the range of the sum is the sum of the ranges, and the range
    of ``w_j x_j`` over a rectangle is spanned by the four endpoint products. Returns two object arrays
    of shape ``x.shape[:-1] + (m,)``.
    """
    Wlo = np.asarray(Wlo, dtype=np.float64)
    Whi = np.asarray(Whi, dtype=np.float64)
    xlo = np.asarray(xlo, dtype=np.float64)
    xhi = np.asarray(xhi, dtype=np.float64)
    m, n = Wlo.shape
    WL, WH = frac_array(Wlo), frac_array(Whi)
    lead = xlo.shape[:-1]
    out_lo = np.empty(lead + (m,), dtype=object)
    out_hi = np.empty(lead + (m,), dtype=object)
    for b in np.ndindex(lead):
        XL = [q(v) for v in xlo[b]]
        XH = [q(v) for v in xhi[b]]
        for i in range(m):
            los, his = [], []
            for j in range(n):
                if WL[i, j] == WH[i, j]:
                    w = WL[i, j]
                    p = (ext_mul(w, XL[j]), ext_mul(w, XH[j]))
                else:
                    p = tuple(ext_mul(a, c) for a in (WL[i, j], WH[i, j]) for c in (XL[j], XH[j]))
                los.append(min(p))
                his.append(max(p))
            out_lo[b + (i,)] = ext_sum(los)
            out_hi[b + (i,)] = ext_sum(his)
    return out_lo, out_hi


def exact_matvec_point(W, x):
    """Exact ``W x`` for object/float arrays (finite), ``x`` of shape (n,)."""
    W = np.asarray(W, dtype=object)
    return np.array([sum((Fraction(W[i, j]) * Fraction(x[j]) for j in range(W.shape[1])), Fraction(0))
                     for i in range(W.shape[0])], dtype=object)


# --------------------------------------------------------------------------------------------------
# random networks as exact specifications
# --------------------------------------------------------------------------------------------------

HIDDEN_ACTIVATIONS = ("relu", "leaky_relu", "identity")


@dataclass
class NetSpec:
    """Exact rational description of a network: ``weights[k]`` (out, in) and ``biases[k]`` as Fractions."""

    weights: list  # list of object arrays of Fraction
    biases: list
    activations: list  # activation names
    alphas: list  # Fraction slope of leaky ReLU (0 otherwise)
    decimal_strings: bool = False

    @property
    def sizes(self) -> list[int]:
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    def layer_args(self, k: int):
        """Arguments for ``Layer.from_exact``: decimal strings when the spec was built from them."""
        w, b = self.weights[k], self.biases[k]
        if self.decimal_strings and all(_is_decimal(v) for v in list(w.reshape(-1)) + list(b)):
            w = np.vectorize(_decimal_str, otypes=[object])(w)
            b = np.vectorize(_decimal_str, otypes=[object])(b)
        return w, b

    def build(self):
        """The ``verinet.Network`` of this specification (weights passed as exact values)."""
        from verinet.network import Layer, Network

        layers = []
        for k, act in enumerate(self.activations):
            w, b = self.layer_args(k)
            alpha = self.alphas[k] if act == "leaky_relu" else 0
            layers.append(Layer.from_exact(w, b, act, alpha))
        return Network(tuple(layers))


def _is_decimal(v: Fraction) -> bool:
    d = v.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def _decimal_str(v: Fraction) -> str:
    """The exact decimal expansion of a Fraction whose denominator is 2^a 5^b."""
    sign = "-" if v < 0 else ""
    v = abs(v)
    k = 0
    while (v * 10**k).denominator != 1:
        k += 1
    digits = str((v * 10**k).numerator).rjust(k + 1, "0")
    return sign + (digits[:-k] + "." + digits[-k:] if k else digits)


def random_spec(rng: np.random.Generator, sizes: Sequence[int], activations, exact_decimals: bool = False,
                *, dyadic_bits: int | None = None, alpha: str = "0.0625") -> NetSpec:
    """Random network specification.

    ``sizes = [n_in, h_1, ..., n_out]``. ``activations`` is a name for every hidden layer (the last layer
    is the identity) or a list with one name per layer. Weights are

    * ``exact_decimals=True``: decimals with 4 digits (``"0.1234"``, not floats: they become interval
      weights in the float64 backend);
    * ``dyadic_bits=k``: multiples of ``2^-k`` (exact floats with few significant bits, so that exact
      kinks can be placed with float biases);
    * otherwise: arbitrary float64 numbers (full 53-bit significands).
    """
    n_layers = len(sizes) - 1
    if isinstance(activations, str):
        acts = [activations] * (n_layers - 1) + ["identity"]
    else:
        acts = list(activations)
        assert len(acts) == n_layers
    weights, biases, alphas = [], [], []
    for k in range(n_layers):
        n_in, n_out = sizes[k], sizes[k + 1]
        scale = 1.5 / math.sqrt(n_in)
        raw_w = rng.standard_normal((n_out, n_in)) * scale
        raw_b = rng.standard_normal(n_out) * 0.5
        weights.append(_exactify(raw_w, exact_decimals, dyadic_bits))
        biases.append(_exactify(raw_b, exact_decimals, dyadic_bits))
        alphas.append(Fraction(alpha) if acts[k] == "leaky_relu" else Fraction(0))
    return NetSpec(weights, biases, acts, alphas, decimal_strings=exact_decimals)


def _exactify(a: np.ndarray, decimals: bool, bits: int | None) -> np.ndarray:
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(a.shape):
        v = float(a[idx])
        if decimals:
            out[idx] = Fraction(f"{v:.4f}")
        elif bits is not None:
            out[idx] = Fraction(round(v * 2**bits), 2**bits)
        else:
            out[idx] = Fraction(v)
    return out


def place_kinks(spec: NetSpec, x0, neurons) -> NetSpec:
    """Copy of ``spec`` whose biases make the listed ``(layer, neuron)`` pre-activations exactly 0 at ``x0``.

    Layers are processed in order, so later kinks see the adjusted earlier layers. The new biases are
    exact rationals (decimal when the spec is decimal and ``x0`` is, dyadic when both are dyadic).
    """
    biases = [b.copy() for b in spec.biases]
    new = NetSpec(spec.weights, biases, spec.activations, spec.alphas, spec.decimal_strings)
    for k, i in sorted(neurons):
        pre, _ = exact_forward(new, x0)
        biases[k][i] = biases[k][i] - pre[k][i]
    return new


def kink_neurons(rng: np.random.Generator, spec: NetSpec, layers: int) -> list[tuple[int, int]]:
    """Neurons to put a kink on: one or two in the first kinked hidden layer, one in each of the next
    ``layers − 1`` kinked hidden layers (``(layer, neuron)``, sorted)."""
    hidden = [k for k in range(len(spec.weights) - 1) if spec.activations[k] in ("relu", "leaky_relu")]
    out = set()
    for k in hidden[:layers]:
        n = spec.weights[k].shape[0]
        for i in rng.choice(n, size=min(n, 2 if k == hidden[0] else 1), replace=False):
            out.add((k, int(i)))
    return sorted(out)


def kink_box(rng: np.random.Generator, c: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """A box at the point ``c`` (on kinks): the point itself, a box with ``c`` as a random corner, or a box
    centred on ``c`` (half-widths about 0.01, at least 2^-20)."""
    delta = np.abs(rng.standard_normal(len(c))) * 0.01 + 2.0**-20
    if where == "point":
        return c.copy(), c.copy()
    if where == "corner":
        s = rng.integers(0, 2, len(c)).astype(bool)
        return np.where(s, c, c - delta), np.where(s, c + delta, c)
    return c - delta, c + delta


def _act(name: str, alpha: Fraction, z: Fraction) -> Fraction:
    if name == "relu":
        return z if z > 0 else Fraction(0)
    if name == "leaky_relu":
        return z if z > 0 else alpha * z
    if name == "identity":
        return z
    raise ValueError(f"no exact value for activation {name}")


def exact_forward(spec: NetSpec, x):
    """Exact pre-activations of every layer and the output at a rational point ``x``."""
    a = [Fraction(v) for v in x]
    pre = []
    for W, b, act, al in zip(spec.weights, spec.biases, spec.activations, spec.alphas):
        z = [sum((W[i, j] * a[j] for j in range(len(a))), b[i]) for i in range(W.shape[0])]
        pre.append(z)
        a = [_act(act, al, v) for v in z]
    return pre, a


def _slope_choices(act: str, alpha: Fraction, z: Fraction) -> tuple[Fraction, ...]:
    """One-sided derivatives of the activation at ``z`` (two of them exactly at a kink)."""
    if act == "identity":
        return (Fraction(1),)
    low = Fraction(0) if act == "relu" else alpha
    if z > 0:
        return (Fraction(1),)
    if z < 0:
        return (low,)
    return (low, Fraction(1))


def clarke_candidates(spec: NetSpec, x, c, max_combos: int = 256, rng: np.random.Generator | None = None):
    """Exact gradients of ``cᵀ f`` at ``x`` for every choice of one-sided derivative at exact kinks.

    Away from kinks this is the single exact gradient. At kinks the Clarke gradient is contained in the
    convex hull of these products (and the interval chain rule contains every one of them). If there are
    more than ``max_combos`` choices, the two extreme patterns plus random ones are returned.
    """
    pre, _ = exact_forward(spec, x)
    options = []  # per layer, per neuron: tuple of slopes
    kinks = []
    for k, (z, act, al) in enumerate(zip(pre, spec.activations, spec.alphas)):
        opts = [_slope_choices(act, al, v) for v in z]
        options.append(opts)
        kinks += [(k, i) for i, o in enumerate(opts) if len(o) == 2]
    n_combo = 2 ** len(kinks)
    if n_combo <= max_combos:
        combos = list(itertools.product((0, 1), repeat=len(kinks)))
    else:
        rng = rng or np.random.default_rng(0)
        combos = [(0,) * len(kinks), (1,) * len(kinks)]
        combos += [tuple(int(v) for v in rng.integers(0, 2, len(kinks))) for _ in range(max_combos - 2)]
    grads = []
    for combo in combos:
        choice = dict(zip(kinks, combo))
        slopes = [[o[choice.get((k, i), 0)] for i, o in enumerate(opts)] for k, opts in enumerate(options)]
        grads.append(_chain(spec, slopes, c))
    return grads, kinks


def _chain(spec: NetSpec, slopes, c):
    """``cᵀ W_L D_{L-1} ... D_1 W_1`` in Fractions (reverse order)."""
    g = [Fraction(v) for v in c]
    for k in range(len(spec.weights) - 1, -1, -1):
        W = spec.weights[k]
        g = [g[i] * slopes[k][i] for i in range(len(g))]
        g = [sum((g[i] * W[i, j] for i in range(W.shape[0])), Fraction(0)) for j in range(W.shape[1])]
    return g


def random_points_in_box(rng: np.random.Generator, lo, hi, count: int, include_corners: int = 4):
    """Exact rational points of the box ``[lo, hi]`` (finite): the centre, some corners, random points."""
    lo = [Fraction(float(v)) for v in lo]
    hi = [Fraction(float(v)) for v in hi]
    n = len(lo)
    pts = [[(a + b) / 2 for a, b in zip(lo, hi)]]
    for _ in range(include_corners):
        bits = rng.integers(0, 2, n)
        pts.append([hi[i] if bits[i] else lo[i] for i in range(n)])
    for _ in range(count):
        t = rng.integers(0, 2**20 + 1, n)
        pts.append([lo[i] + (hi[i] - lo[i]) * Fraction(int(t[i]), 2**20) for i in range(n)])
    return pts


def dyadic_point(rng: np.random.Generator, n: int, bits: int = 6, scale: float = 1.0):
    """A random point with float64 coordinates that are multiples of ``2^-bits`` (exact floats)."""
    return [Fraction(round(float(v) * scale * 2**bits), 2**bits) for v in rng.standard_normal(n)]


# --------------------------------------------------------------------------------------------------
# high-precision interval oracle for smooth networks (private mpmath context: no global precision)
# --------------------------------------------------------------------------------------------------


def iv_context(prec: int):
    """A private mpmath interval context at ``prec`` bits (does not touch ``mpmath.mp`` or ``mpmath.iv``)."""
    ctx = mpmath.ctx_iv.MPIntervalContext()
    ctx.prec = prec
    return ctx


def _iv_of(ctx, v: Fraction):
    return ctx.mpf(v.numerator) / ctx.mpf(v.denominator)


def iv_to_fractions(x) -> tuple[Fraction, Fraction]:
    """Exact rational endpoints of an mpmath interval (``ivmpf``); infinite endpoints are an error."""
    a, b = x._mpi_
    return _raw_frac(a), _raw_frac(b)


def _raw_frac(v) -> Fraction:
    sign, man, exp, bc = v  # raw mpf: (-1)**sign * man * 2**exp; special values have man == 0
    if man == 0:
        if exp != 0 or bc != 0:
            raise AssertionError(f"non-finite mpmath endpoint {v}")
        return Fraction(0)
    val = Fraction(int(man)) * (Fraction(2) ** int(exp))
    return -val if sign else val


def iv_gradient(spec: NetSpec, x, c, prec: int = 200):
    """Interval enclosures (mpmath, ``prec`` bits) of the output and of ``∇(cᵀ f)`` at a rational point.

    Smooth activations: ``σ' = e^{-|z|}/(1 + e^{-|z|})²`` and ``tanh' = 4 e^{-2|z|}/(1 + e^{-2|z|})²``
    (well conditioned for large ``|z|``). Returns (outputs, gradient) as lists of (lo, hi) Fraction pairs.
    """
    ctx = iv_context(prec)
    a = [_iv_of(ctx, Fraction(v)) for v in x]
    derivs = []
    for W, b, act, al in zip(spec.weights, spec.biases, spec.activations, spec.alphas):
        z = []
        for i in range(W.shape[0]):
            s = _iv_of(ctx, b[i])
            for j in range(W.shape[1]):
                s = s + _iv_of(ctx, W[i, j]) * a[j]
            z.append(s)
        a, d = [], []
        for v in z:
            if act == "sigmoid":
                a.append(1 / (1 + ctx.exp(-v)))
                e = ctx.exp(-abs(v))
                d.append(e / (1 + e) ** 2)
            elif act == "tanh":
                a.append(1 - 2 / (ctx.exp(2 * v) + 1))  # the iv context has no tanh
                e = ctx.exp(-2 * abs(v))
                d.append(4 * e / (1 + e) ** 2)
            elif act == "identity":
                a.append(v)
                d.append(ctx.mpf(1))
            elif act == "relu":
                lo_v, hi_v = iv_to_fractions(v)
                assert lo_v > 0 or hi_v < 0, "iv_gradient: ReLU at (or too near) its kink"
                a.append(v if lo_v > 0 else ctx.mpf(0))
                d.append(ctx.mpf(1) if lo_v > 0 else ctx.mpf(0))
            else:
                raise ValueError(act)
        derivs.append(d)
    g = [_iv_of(ctx, Fraction(v)) for v in c]
    for k in range(len(spec.weights) - 1, -1, -1):
        W = spec.weights[k]
        g = [g[i] * derivs[k][i] for i in range(len(g))]
        g = [sum((g[i] * _iv_of(ctx, W[i, j]) for i in range(W.shape[0])), ctx.mpf(0)) for j in range(W.shape[1])]
    return [iv_to_fractions(v) for v in a], [iv_to_fractions(v) for v in g]


def assert_iv_enclosed(lo, hi, ivs, what: str = "") -> None:
    """Each high-precision interval ``[a, b]`` (exact Fractions) lies inside ``[lo[i], hi[i]]``."""
    lo = np.asarray(lo, dtype=np.float64).reshape(-1)
    hi = np.asarray(hi, dtype=np.float64).reshape(-1)
    assert len(lo) == len(ivs)
    for i, (a, b) in enumerate(ivs):
        if not (contains(lo[i], hi[i], a) and contains(lo[i], hi[i], b)):
            raise AssertionError(f"{what}: [{lo[i]!r}, {hi[i]!r}] at {i} does not contain the {float(a)!r} .. "
                                 f"{float(b)!r} enclosure of the exact value")
