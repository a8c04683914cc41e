"""Sound linear bounds on the backward pass: the gradient norm over a box, tighter than interval products.

Mathematics: the backward pass of a network is a network in its own right (RecurJac, Zhang, Zhang & Hsieh,
AAAI 2019; Shi, Wang, Zhang, Kolter & Hsieh, "Efficiently computing local Lipschitz constants of neural
networks via bound propagation", NeurIPS 2022). With ``v_{L−1} = c`` and, for the hidden layers
``k = L−2, …, 0``,

    v_k = W_{k+1}ᵀ u_{k+1},   u_k = d_k ⊙ v_k,   g = W_0ᵀ u_0,

(``u_{L−1} = d_{L−1} ⊙ c`` for the output layer), where ``d_k`` is a Clarke derivative of the activation of
layer ``k`` at ``z_k(x)``, contained in the enclosure ``[dl, dh] ⊆ [0, ∞)`` that the pre-activation bounds
give (:meth:`Float64Backend.derivative`). At every point ``x`` of the box where ``f`` is differentiable the
gradient of ``cᵀ f`` is such a product (Clarke's chain rule, Thm 2.6.6: ``∇f(x) ∈ ∂f(x) ⊆`` the convex hull
of the products; Rademacher: the Lipschitz constant is the supremum of ``‖∇f‖_q`` over those points), so a
bound valid for every product with ``d_k ∈ [dl, dh]`` — and, being linear, for their convex hull — bounds the
Lipschitz constant of ``cᵀ f`` on the box.

The backward network is bounded as CROWN bounds a forward one, with :mod:`verinet.bounds.linear`'s sound kernels:

* its **input** is the box of ``u_{L−2}`` (the interval chain rule from ``c``: ``v_{L−2}`` is a point up to
  rounding and interval weights, so the entries of ``u_{L−2}`` range independently over an exact hull);
* its **layers** are ``v = Mᵀ u`` with ``M = W_k`` (no bias), then the **product relaxation**
  ``u = d ⊙ v``: for ``d ∈ [dl, dh]``, ``dl ≥ 0``, and ``v ∈ [l, r]`` the product lies between
  ``min(dl v, dh v)`` (concave) and ``max(dl v, dh v)`` (convex), and the convex hull of
  ``{(v, d v)}`` is bounded by their chords (:func:`product_lines`); ``[l, r]`` come from back-substitution
  layer by layer, intersected with the interval chain rule (as CROWN's intermediate bounds);
* its **output** is ``g``; each ``g_i`` is bounded by back-substituting ``±e_i``, and for the l1 norm
  (l∞ inputs) the coordinates are coupled: ``|g_i| ≤ a_i g_i + b_i`` (the chord of ``|·|`` on the
  bounds of ``g_i``; ``a_i = ±1``, ``b_i = 0`` where the sign is known), so
  ``‖g‖₁ ≤ max_u aᵀ g + Σ b_i`` with ``aᵀ g`` back-substituted as one row (Shi et al., Sec. 3.3).

Rounding: every back-substitution step is :func:`verinet.bounds.linear._relax_step` (statement ``S_j`` and its proof
in the :mod:`verinet.bounds.linear` docstring, steps 1–6: rounding errors folded into the offsets with a-priori
bounds, concretisation with directed rounding). The backward layers are given to it as identity layers
with weights ``W_kᵀ`` and zero biases (so its error weights ``w``, ``σ`` are those of ``v = W_kᵀ u``,
computed by :func:`verinet.bounds.linear._relaxation` from ``ma ≥ |u|``), and their slopes and offsets are then
replaced by the product lines, whose intercepts are rounded outward here (proofs at
:func:`product_lines`). The step proof needs slopes ``≥ 0`` only for the bias term, and the biases are 0;
the lines have slopes in ``[dl, dh] ⊆ [0, ∞)`` anyway. The final sums are rounded up.

Only float64, and hidden layers whose derivative enclosures are ``≥ 0`` (every activation verinet has).
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass

import numpy as np

from intervals import rounding as R
from intervals.array import IntervalArray
from verinet.bounds.backends import make_backend
from verinet.bounds.backends.float64 import Float64Backend
from verinet.bounds.linear import _backsub, _consts, _input_data, _LayerPrep, _relaxation, _Relax, _refine_pre
from verinet.network import Activation, Network
from verinet.bounds.norms import canonical_norm, dual, sum_up
from verinet.bounds.propagation import LayerBounds, propagate

__all__ = ["GradientBounds", "gradient_bounds", "product_lines", "abs_chord"]

#: l1 norm: the signs of up to this many gradient coordinates of unknown sign are enumerated (2^SIGNS rows
#: per box), the others relaxed by chords
SIGNS = 5


# --------------------------------------------------------------------------------------------------
# the relaxations (elementwise, directed rounding)
# --------------------------------------------------------------------------------------------------


def _mul_dn(d: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Lower bound of ``d·v`` for a finite float ``d ≥ 0`` (``0·v = 0`` even for infinite ``v``)."""
    return np.where(d == 0.0, 0.0, R.mul_down(d, v))


def _mul_upp(d: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Upper bound of ``d·v`` for a finite float ``d ≥ 0``."""
    return np.where(d == 0.0, 0.0, R.mul_up(d, v))


def product_hull(dl, dh, vl, vh) -> tuple[np.ndarray, np.ndarray]:
    """Interval enclosure of ``{d·v : d ∈ [dl, dh], v ∈ [vl, vh]}`` for floats ``0 ≤ dl ≤ dh``.

    ``d ≥ 0``: ``d·v`` is nondecreasing in ``v``, so the least value is ``min(dl·vl, dh·vl)`` and the
    largest ``max(dl·vh, dh·vh)`` (linear in ``d``: extremes at ``dl`` or ``dh``); each product rounded
    outward.
    """
    lo = np.minimum(_mul_dn(dl, vl), _mul_dn(dh, vl))
    hi = np.maximum(_mul_upp(dl, vh), _mul_upp(dh, vh))
    return lo, hi


def product_lines(dl, dh, vl, vh) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lines ``sL v + tL ≤ d·v ≤ sU v + tU`` for all ``d ∈ [dl, dh]``, ``v ∈ [vl, vh]`` (floats, ``0 ≤ dl ≤ dh``).

    Returns ``(sU, tU, sL, tL)`` (float arrays, slopes in ``[dl, dh]``). Proofs (``φ(v) = max(dl v, dh v)``
    convex and ``ψ(v) = min(dl v, dh v)`` concave; ``ψ(v) ≤ d v ≤ φ(v)`` because ``d v`` is linear in ``d``):

    * ``dl = dh``: ``d v`` with ``d = dl``, exact (``t = 0``).
    * ``vl ≥ 0``: ``dl v ≤ d v ≤ dh v``; ``vh ≤ 0``: ``dh v ≤ d v ≤ dl v`` (``t = 0``).
    * ``vl < 0 < vh``: upper line, any float slope ``s`` (≈ the chord of ``φ``) and
      ``tU = max(φ̄(vl) − s vl, φ̄(vh) − s vh)`` rounded up (``φ̄ ≥ φ``: products rounded up); the line is
      ``≥ φ`` at both ends and ``φ − line`` is convex, so it is ``≤ 0`` on ``[vl, vh]``. Lower line mirrored:
      ``tL = min(ψ̲(vl) − s vl, ψ̲(vh) − s vh)`` rounded down, ``ψ − line`` concave and ``≥ 0`` at both ends.
    * an infinite ``vl``/``vh``: the constant lines at the product's interval hull (:func:`product_hull`;
      infinite offsets say nothing and turn the rows that use them into ``+inf``).
    """
    dl, dh, vl, vh = (np.asarray(a, dtype=np.float64) for a in (dl, dh, vl, vh))
    with np.errstate(all="ignore"):
        fin = np.isfinite(vl) & np.isfinite(vh)
        pos = vl >= 0.0
        neg = vh <= 0.0
        same = dl == dh
        mixed = fin & ~pos & ~neg & ~same
        # slopes and offsets of the exact cases
        sU = np.where(same, dl, np.where(pos, dh, dl))
        sL = np.where(same, dl, np.where(pos, dl, dh))
        tU = np.zeros(np.shape(vl))
        tL = np.zeros(np.shape(vl))
        # unstable sign: chords (the guesses need no proof; the offsets make any slope valid)
        l = np.where(mixed, vl, -1.0)
        u = np.where(mixed, vh, 1.0)
        w = u - l
        gU = np.clip((dh * u - dl * l) / w, dl, dh)
        gL = np.clip((dl * u - dh * l) / w, dl, dh)
        gU = np.where(np.isfinite(gU), gU, dh)
        gL = np.where(np.isfinite(gL), gL, dl)
        # φ(l) = dl l, φ(u) = dh u (l < 0 < u, dl ≤ dh); ψ(l) = dh l, ψ(u) = dl u
        tUm = np.maximum(R.sub_up(_mul_upp(dl, l), R.mul_down(gU, l)), R.sub_up(_mul_upp(dh, u), R.mul_down(gU, u)))
        tLm = np.minimum(R.sub_down(_mul_dn(dh, l), R.mul_up(gL, l)), R.sub_down(_mul_dn(dl, u), R.mul_up(gL, u)))
        sU = np.where(mixed, gU, sU)
        sL = np.where(mixed, gL, sL)
        tU = np.where(mixed, tUm, tU)
        tL = np.where(mixed, tLm, tL)
        # infinite bounds on v (overflow): constant lines at the hull
        inf_ = ~fin & ~same & ~pos & ~neg
        if inf_.any():
            hlo, hhi = product_hull(dl, dh, vl, vh)
            sU = np.where(inf_, 0.0, sU)
            sL = np.where(inf_, 0.0, sL)
            tU = np.where(inf_, hhi, tU)
            tL = np.where(inf_, hlo, tL)
        bad = ~np.isfinite(tU) | np.isnan(tU)
        tU = np.where(bad, np.inf, tU)
        tL = np.where(~np.isfinite(tL) | np.isnan(tL), -np.inf, tL)
    return sU, tU, sL, tL


def abs_chord(lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` with ``|t| ≤ a t + b`` for every ``t ∈ [lo, hi]`` (floats; ``b`` may be ``+inf``).

    ``lo ≥ 0``: ``a = 1, b = 0``; ``hi ≤ 0``: ``a = −1, b = 0`` (exact). Otherwise a float slope ``a``
    (≈ the chord ``(hi + lo)/(hi − lo)``) and ``b = max(|lo| − a lo, |hi| − a hi)`` rounded up: the line is
    ``≥ |·|`` at both ends and ``|·| − line`` is convex, so it is ``≤ 0`` on ``[lo, hi]``.
    """
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    with np.errstate(all="ignore"):
        fin = np.isfinite(lo) & np.isfinite(hi)
        mixed = (lo < 0.0) & (hi > 0.0)
        l = np.where(mixed & fin, lo, -1.0)
        u = np.where(mixed & fin, hi, 1.0)
        a = np.clip((u + l) / (u - l), -1.0, 1.0)
        a = np.where(np.isfinite(a), a, 0.0)
        b = np.maximum(R.sub_up(-l, R.mul_down(a, l)), R.sub_up(u, R.mul_down(a, u)))
        a = np.where(mixed, a, np.where(lo >= 0.0, 1.0, -1.0))
        b = np.where(mixed, np.where(fin, b, np.inf), 0.0)
        b = np.where(np.isnan(b), np.inf, b)
        a = np.where(mixed & ~fin, 0.0, a)
    return a, b


# --------------------------------------------------------------------------------------------------
# per-network preparation: the backward network as identity layers with weights W_kᵀ
# --------------------------------------------------------------------------------------------------


class _TransposedLayer:
    """The layer ``v = W_kᵀ u`` (no bias) in the form :class:`verinet.bounds.linear._LayerPrep` reads."""

    def __init__(self, layer) -> None:
        self.weight_lo = np.ascontiguousarray(layer.weight_lo.T)
        self.weight_hi = np.ascontiguousarray(layer.weight_hi.T)
        self.bias_lo = np.zeros(layer.n_in)
        self.bias_hi = np.zeros(layer.n_in)
        self.activation = Activation.IDENTITY
        self.alpha = 0


class _BackNet:
    """What :func:`verinet.bounds.linear._backsub` reads: ``layers`` and ``network.n_inputs``, input constants."""

    def __init__(self, network: Network) -> None:
        L = len(network.layers)
        # backward layer j maps u_{L−2−j} to v_{L−3−j} (the last one, j = L−2, to g): weights W_{L−2−j}ᵀ
        self.layers = [_LayerPrep(_TransposedLayer(network.layers[L - 2 - j])) for j in range(L - 1)]
        n_start = network.layers[L - 2].n_out
        self.network = _Dims(n_start)
        self.gam0, self.inv0, self.neta0 = _consts(n_start)


@dataclass(frozen=True)
class _Dims:
    n_inputs: int


_CACHE: weakref.WeakKeyDictionary[Network, _BackNet] = weakref.WeakKeyDictionary()


def _backnet(network: Network) -> _BackNet:
    bn = _CACHE.get(network)
    if bn is None:
        bn = _CACHE[network] = _BackNet(network)
    return bn


# --------------------------------------------------------------------------------------------------
# the bound
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GradientBounds:
    """Bounds over every box of a batch (B boxes, n inputs).

    Attributes
    ----------
    lo, hi : ndarray (B, n)
        ``lo ≤ g ≤ hi`` for every gradient product ``g`` (see the module docstring).
    upper : ndarray (B,)
        Upper bound of ``‖g‖_q`` (``q`` dual to the input norm), ``+inf`` where nothing is proved.
    """

    lo: np.ndarray
    hi: np.ndarray
    upper: np.ndarray


def _refine_all(bn: _BackNet, relax: list, inp, j: int, Z: IntervalArray, mask: np.ndarray, ma_prev,
                dead: np.ndarray) -> IntervalArray:
    """``Z`` met with back-substituted bounds at ``mask``; boxes where the two enclosures are disjoint (only
    possible when the derivative enclosures describe an empty set, e.g. the part of a box with fixed
    signs that has no point) are marked in ``dead`` and keep ``Z``."""
    if not mask.any():
        return Z
    return _refine_pre(bn, relax, inp, j, Z, mask, ma_prev, dead)


def gradient_bounds(backend: Float64Backend, bounds: LayerBounds, c: np.ndarray, norm: str = "inf",
                    free: np.ndarray | None = None, G: IntervalArray | None = None,
                    signs: int = SIGNS) -> GradientBounds:
    """Linear (back-substituted) bounds on the gradient of ``cᵀ f`` and on its dual norm, per box.

    Parameters
    ----------
    backend : Float64Backend
    bounds : LayerBounds
        Pre-activation enclosures over a batch of boxes (shape (B, n_k) each), e.g. from
        :func:`verinet.bounds.linear.linear_propagate`; derivative enclosures are taken from them.
    c : ndarray (m,)
        Exact float64 coefficients of the output combination.
    norm : {"inf", "2", "1"}
        Input norm; the gradient is measured in the dual norm.
    free : ndarray of bool (n,), optional
        Coordinates that count (the others are dropped from the norm, as for a region flat in them).
    G : IntervalArray (B, n), optional
        A gradient enclosure for the same boxes (the interval chain rule) to intersect with.
    signs : int
        l1 norm: enumerate the signs of up to this many gradient coordinates of unknown sign
        (``2^signs`` back-substituted rows per box); 0 relaxes every coordinate by its chord.

    Returns
    -------
    GradientBounds

    Rigorous: for every box, ``lo ≤ ∇(cᵀf)(x) ≤ hi`` and ``‖∇(cᵀf)(x)‖_q ≤ upper`` (restricted to ``free``) at
    every point ``x`` of the box where ``f`` is differentiable, for the exact weights (module docstring);
    hence ``upper`` bounds the Lipschitz constant of ``cᵀ f`` on the box.
    """
    if not isinstance(backend, Float64Backend):
        raise TypeError("gradient_bounds needs the float64 backend")
    net = backend.network
    q = dual(canonical_norm(norm))
    n_layers = len(net.layers)
    pre = [IntervalArray.unchecked(np.atleast_2d(p.lo), np.atleast_2d(p.hi)) for p in bounds.pre]
    B = pre[0].shape[0]
    n = net.n_inputs
    free = np.ones(n, dtype=bool) if free is None else np.asarray(free, dtype=bool)
    c = np.asarray(c, dtype=np.float64)
    # interval chain from c down to u_{L−2} (the backward network's input box), as gradient.py computes it
    g = backend.point(np.ascontiguousarray(np.broadcast_to(c, (B, len(c)))))
    g = backend.chain(n_layers - 1, g, pre[n_layers - 1])
    if n_layers == 1:
        G1 = backend.linear_t(0, g)
        return _finish(G1.lo, G1.hi, None, None, None, None, q, free, G)
    v = backend.linear_t(n_layers - 1, g)
    D = [backend.derivative(k, pre[k]) for k in range(n_layers - 1)]
    if any((d.lo < 0).any() for d in D):  # the product lines assume d ≥ 0
        return _finish(*_interval_rest(backend, D, v, n_layers), None, None, None, None, q, free, G)
    ulo, uhi = product_hull(D[n_layers - 2].lo, D[n_layers - 2].hi, v.lo, v.hi)
    bn = _backnet(net)
    with np.errstate(all="ignore"):
        inp = _input_data(bn, np.ascontiguousarray(ulo), np.ascontiguousarray(uhi))
    if inp is None:  # unbounded: interval chain only
        return _finish(*_interval_rest(backend, D, v, n_layers), None, None, None, None, q, free, G)
    A = IntervalArray.unchecked(ulo, uhi)
    ma_prev = inp.ma
    relax: list[_Relax] = []
    dead = np.zeros(B, dtype=bool)
    H = n_layers - 1
    for j in range(H):
        kf = n_layers - 2 - j  # forward layer whose weights this backward layer uses
        Z = backend.linear_t(kf, A)  # interval step: v_{kf−1} (or g for j = H−1)
        last = j == H - 1
        if j > 0:
            if last:
                mask = np.broadcast_to(free, Z.shape)
            else:
                d = D[kf - 1]
                mask = (d.lo < d.hi) & (Z.lo < 0.0) & (Z.hi > 0.0)
            Z = _refine_all(bn, relax, inp, j, Z, mask, ma_prev, dead)
        Lj = bn.layers[j]
        rx = _relaxation(Lj, Z, Z, ma_prev)  # identity lines (slope 1, offset 0) and the error weights
        if last:
            relax.append(rx)
            break
        d = D[kf - 1]
        sU, tU, sL, tL = product_lines(d.lo, d.hi, Z.lo, Z.hi)
        relax.append(_Relax(np.ascontiguousarray(sU), np.ascontiguousarray(sL), np.ascontiguousarray(tU),
                            np.ascontiguousarray(tL), rx.w, rx.scal))
        A = IntervalArray.unchecked(*product_hull(d.lo, d.hi, Z.lo, Z.hi))
        ma_prev = np.maximum(np.abs(A.lo), np.abs(A.hi))
    out = _finish(Z.lo, Z.hi, bn, relax, inp, H - 1, q, free, G, signs)
    if dead.any():  # nothing proved there (the caller's other bound stands)
        out = GradientBounds(out.lo, out.hi, np.where(dead, np.inf, out.upper))
    return out


def _interval_rest(backend, D, v, n_layers):
    """The interval chain from ``v_{L−2}`` down to ``g`` (fallback): ``(lo, hi)``."""
    g = v
    for k in range(n_layers - 2, -1, -1):
        d = D[k]
        g = g * d
        g = backend.linear_t(k, g)
    return g.lo, g.hi


def _l1_joint(bn, relax, inp, j0, glo, ghi, free, signs: int) -> np.ndarray:
    """Upper bounds (B,) of ``‖g‖₁`` coupling the coordinates through one back-substitution per sign choice.

    ``|g_i| ≤ a_i g_i + b_i`` (:func:`abs_chord`) for every coordinate, except for the (up to ``signs``)
    coordinates of unknown sign with the largest offsets ``b_i``, whose sign ``s_i`` is enumerated: for each
    ``g`` some ``s`` has ``|g_i| = s_i g_i`` on them, so ``‖g‖₁ ≤ max_s (sᵀ g + Σ_rest (a_i g_i + b_i))``, and
    each term is bounded by back-substituting its row (Shi et al.'s sign branching, done inside one box).
    The all-chords row is also a bound; the smaller of the two is returned. Sums are rounded up.
    """
    B, n = glo.shape
    a, b = abs_chord(glo, ghi)
    a = np.where(free, a, 0.0)
    b = np.where(free, b, 0.0)
    live = np.isfinite(b).all(axis=1)
    if not live.any():
        return np.full(B, np.inf)
    b = np.where(np.isfinite(b), b, 0.0)
    k = int(min(signs, n, max(int((b > 0).sum(axis=1).max()), 0)))
    pick = np.argsort(-b, axis=1, kind="stable")[:, :k]  # (B, k): largest offsets first
    picked = np.take_along_axis(b, pick, axis=1) > 0  # only coordinates whose sign is open
    combos = np.array(list(itertools.product((-1.0, 1.0), repeat=k)), dtype=np.float64).reshape(2**k, k)
    S = combos.shape[0] + (k > 0)  # the last row (when signs are enumerated) keeps every chord
    rows = np.repeat(a[:, None, :], S, axis=1)  # (B, S, n)
    offs = np.repeat(b[:, None, :], S, axis=1)
    bi = np.arange(B)[:, None]
    E = S - (k > 0)  # rows with enumerated signs
    for t in range(k):
        idx = pick[:, t]
        on = picked[:, t]
        rows[bi[:, 0], :E, idx] = np.where(on[:, None], combos[None, :, t], rows[bi[:, 0], :E, idx])
        offs[bi[:, 0], :E, idx] = np.where(on[:, None], 0.0, offs[bi[:, 0], :E, idx])
    T = np.ascontiguousarray(rows.reshape(B * S, n))
    seg = np.arange(B + 1, dtype=np.int64) * S
    acc = np.zeros(B * S)
    with np.errstate(all="ignore"):
        acc = _backsub(bn, relax, inp, j0, T, seg, acc)
    joint = sum_up(np.concatenate([acc[:, None], offs.reshape(B * S, n)], axis=1)).reshape(B, S)
    joint = np.where(np.isfinite(acc.reshape(B, S)), joint, np.inf)
    # both are bounds: the largest over the sign choices, and the all-chords row
    best = np.minimum(joint[:, :E].max(axis=1), joint[:, -1]) if k > 0 else joint[:, 0]
    return np.where(live, best, np.inf)


def _finish(glo, ghi, bn, relax, inp, j0, q: str, free: np.ndarray, G, signs: int = SIGNS) -> GradientBounds:
    """Intersect the coordinate bounds with ``G``, then bound the norm (jointly for ``q = 1``)."""
    glo = np.asarray(glo, dtype=np.float64)
    ghi = np.asarray(ghi, dtype=np.float64)
    if G is not None:
        glo = np.maximum(glo, np.reshape(G.lo, glo.shape))
        ghi = np.minimum(ghi, np.reshape(G.hi, ghi.shape))
    glo = np.where(free, glo, 0.0)
    ghi = np.where(free, ghi, 0.0)
    mag = np.maximum(np.abs(glo), np.abs(ghi))
    if q == "inf":
        upper = mag.max(axis=-1)
    elif q == "2":
        upper = R.sqrt_up(sum_up(R.mul_up(mag, mag)))
    else:
        upper = sum_up(mag)
        if bn is not None:
            upper = np.minimum(upper, _l1_joint(bn, relax, inp, j0, glo, ghi, free, signs))
    upper = np.where(np.isnan(upper), np.inf, upper)
    return GradientBounds(glo, ghi, np.asarray(upper, dtype=np.float64))


def gradient_norm_upper(network: Network, lo, hi, output=0, norm: str = "inf", *,
                        linear: bool = True) -> GradientBounds:
    """:func:`gradient_bounds` over one box or a batch, pre-activation bounds from :mod:`verinet.bounds.linear`.

    Parameters
    ----------
    network : Network
    lo, hi : array_like, shape (n,) or (B, n)
    output : int or sequence
        Output index or coefficients (see :func:`verinet.bounds.gradient.coefficient_vector`).
    norm : {"inf", "2", "1"}
    linear : bool
        Sound linear pre-activation bounds (default) or interval propagation.

    Returns
    -------
    GradientBounds (batched (B, ·) even for one box)

    Examples
    --------
    >>> from verinet import Layer, Network
    >>> from verinet.bounds.gradient import gradient_enclosure
    >>> net = Network((Layer.from_exact([["1"], ["-1"]], ["0", "0"]),
    ...                Layer.from_exact([["1", "1"], ["1", "-1"]], ["0", "0"]),
    ...                Layer.from_exact([["1", "-1"]], ["0"], "identity")))
    >>> u = float(gradient_norm_upper(net, [-1.0], [1.0]).upper[0])  # back-substituted
    >>> bool(2.5 <= u < 2.5 + 1e-12)     # f = |x| − relu(x) = relu(−x): true constant 1
    True
    >>> G = gradient_enclosure(net, [-1.0], [1.0])                   # interval products: [-3, 1]
    >>> round(float(G.lo[0]), 9), round(float(G.hi[0]), 9)
    (-3.0, 1.0)

    Rigorous: as :func:`gradient_bounds`.
    """
    from verinet.bounds.gradient import coefficient_vector, gradient_from_bounds
    from verinet.bounds.linear import linear_propagate

    backend = make_backend(network)
    lo = np.atleast_2d(np.asarray(lo, dtype=np.float64))
    hi = np.atleast_2d(np.asarray(hi, dtype=np.float64))
    c = coefficient_vector(network, output)
    bounds = linear_propagate(backend, lo, hi) if linear else propagate(backend, backend.box(lo, hi))
    G = backend.to_float(gradient_from_bounds(backend, bounds, c, "auto"))
    return gradient_bounds(backend, bounds, c, norm, G=G)
