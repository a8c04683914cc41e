"""Smooth S-shaped activations: logistic sigmoid and tanh."""

from __future__ import annotations

import numpy as np

from intervals import elementary as E
from intervals import rounding as R
from intervals.array import IntervalArray
from verinet.activations.base import ActivationFn, _map_pairs_f64, _map_pairs_mp
from verinet.network import Activation

__all__ = ["Sigmoid", "Tanh"]


def _logistic(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow warning for large |z|, unlike 1/(1+exp(-z))


class _Smooth(ActivationFn):
    """A smooth activation whose enclosures are scalar interval kernels of :mod:`intervals.elementary`.

    Its linear relaxation (:meth:`relax_f64`) assumes an S-shaped function: increasing, convex on
    ``z ≤ 0`` and concave on ``z ≥ 0``, with ``0 < σ' ≤ max_derivative``.
    """

    #: the maximum of ``σ'`` (clamps the chord slope guess; any float slope ≥ 0 is proved anyway)
    max_derivative: float

    def _kernels(self) -> tuple:
        """``(value_f64, deriv_f64, value_mpf, deriv_mpf)`` kernels (outward-rounded)."""
        raise NotImplementedError

    def enclose_f64(self, z, alpha):
        return IntervalArray.unchecked(*_map_pairs_f64(self._kernels()[0], z.lo, z.hi))

    def derivative_f64(self, z, alpha):
        return IntervalArray.unchecked(*_map_pairs_f64(self._kernels()[1], z.lo, z.hi))

    def enclose_mp(self, z, alpha, prec):
        return _map_pairs_mp(self._kernels()[2], z, prec)

    def derivative_mp(self, z, alpha, prec):
        return _map_pairs_mp(self._kernels()[3], z, prec)

    def _min_derivative(self, a: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Floats ``≤ min σ'`` over every ``z`` with ``σ(z) ∈ [a, c]`` (entrywise; may be negative)."""
        raise NotImplementedError

    def relax_f64(self, zl, zu, Alo, Ahi, alpha, blo, bhi):
        """Two parallel lines on any ``[l, u]``, with the chord as the upper line on a convex piece
        (``u ≤ 0``) and as the lower line on a concave piece (``l ≥ 0``); the constant lines
        ``A.lo ≤ σ(z) ≤ A.hi`` (slope 0, the interval enclosure) where ``l``, ``u`` or an intermediate is not
        finite. Proofs in :meth:`_curved_lines`."""
        # constant lines, offsets t + 0·b = t exactly (−0 written as +0)
        sU = np.zeros(zl.shape)
        sL = np.zeros(zl.shape)
        kU = np.where(Ahi == 0.0, 0.0, Ahi)
        kL = np.where(Alo == 0.0, 0.0, Alo)
        self._curved_lines(zl, zu, Alo, Ahi, blo, bhi, sU, sL, kU, kL)
        return sU, sL, kU, kL

    def _curved_lines(self, zl, zu, Alo, Ahi, blo, bhi, sU, sL, kU, kL) -> None:
        """Replace, in place, the constant lines (slope 0, ``k = A.lo`` / ``A.hi``) by the parallel and chord
        lines wherever ``l``, ``u`` and every intermediate are finite; elsewhere the constant lines stay.
        Vectorised over (B, n). ``A.lo ≤ σ(z) ≤ A.hi`` on ``[l, u]`` (the interval enclosure).

        * parallel lines, any ``[l, u]``: a float ``s`` with ``0 ≤ s ≤ min_{[l, u]} σ'`` from the enclosure
          ``σ([l, u]) ⊆ A`` (:meth:`_min_derivative`). ``σ − s·id`` is then nondecreasing on ``[l, u]``, so
          ``s z + t_L ≤ σ(z) ≤ s z + t_U`` with ``t_L ≤ A.lo − s l`` (rounded down) and ``t_U ≥ A.hi − s u``
          (rounded up).
        * convex piece ``l < u ≤ 0``: the upper line is the chord trick of the ReLU upper line, any float
          slope ``s ≥ 0`` (≈ the chord, clamped to ``[s_par, max σ']``) and ``t = max(σ̄(l) − s l, A.hi − s u)``
          rounded up, ``σ̄(l) ≥ σ(l)`` a rigorous point enclosure (:mod:`intervals.elementary`):
          ``s z + t − σ(z)`` is concave and ≥ 0 at both ends. Concave piece ``0 ≤ l < u``: mirrored for the
          lower line, ``t = min(A.lo − s l, σ̲(u) − s u)`` rounded down.
        """
        fin = np.isfinite(zl) & np.isfinite(zu) & np.isfinite(Alo) & np.isfinite(Ahi)
        l = np.where(fin, zl, 0.0)  # placeholders where not finite: those entries are never written back
        u = np.where(fin, zu, 0.0)
        a = np.where(fin, Alo, 0.0)  # ≤ σ(z) for every z in [l, u], in particular ≤ σ(l)
        c = np.where(fin, Ahi, 0.0)  # ≥ σ(z) on [l, u], in particular ≥ σ(u)
        d = self._min_derivative(a, c)
        s = np.maximum(d, 0.0)  # 0 ≤ s ≤ min_{[l, u]} σ'
        # parallel lines: g = σ − s·id is nondecreasing on [l, u], so g(l) ≤ g(z) ≤ g(u). t_L ≤ σ(l) − s l: a ≤ σ(l)
        # minus an upper bound of s l, rounded down; t_U ≥ σ(u) − s u: c ≥ σ(u) minus a lower bound of s u, rounded up.
        tL = R.sub_down(a, R.mul_up(s, l))
        tU = R.sub_up(c, R.mul_down(s, u))
        sLn = s.copy()
        sUn = s.copy()
        fn = self._kernels()[0]
        smax = self.max_derivative  # only clamps the slope guess (any float slope ≥ 0 is proved below)
        for convex in (True, False):
            # convex piece u ≤ 0: upper chord; concave piece l ≥ 0: lower chord
            pick = fin & ((zu <= 0.0) if convex else (zl >= 0.0)) & (zl < zu)
            if not pick.any():
                continue
            lp, up_, ap, cp, sp = l[pick], u[pick], a[pick], c[pick], s[pick]
            if convex:
                e = _point_bound(fn, lp, 1)  # ≥ σ(l)
                g = (cp - e) / (up_ - lp)  # a guess of the chord slope (u > l, both finite)
            else:
                e = _point_bound(fn, up_, 0)  # ≤ σ(u)
                g = (e - ap) / (up_ - lp)
            g = np.where(np.isfinite(g), np.minimum(np.maximum(g, sp), smax), sp)
            if convex:
                # h(z) = g z + t − σ(z) is concave (σ convex on [l, u]); t ≥ σ̄(l) − g l and t ≥ σ̄(u) − g u (each a
                # float ≥ σ minus a lower bound of g·z, rounded up) give h(l), h(u) ≥ 0, hence h ≥ 0 on [l, u].
                t = np.maximum(R.sub_up(e, R.mul_down(g, lp)), R.sub_up(cp, R.mul_down(g, up_)))
            else:
                # mirror: σ(z) − g z − t is concave (σ concave), ≥ 0 at l (a ≤ σ(l)) and at u (e ≤ σ(u))
                t = np.minimum(R.sub_down(ap, R.mul_up(g, lp)), R.sub_down(e, R.mul_up(g, up_)))
            ok = np.isfinite(t)  # else keep the parallel line
            idx = tuple(ix[ok] for ix in np.nonzero(pick))
            if convex:
                sUn[idx], tU[idx] = g[ok], t[ok]
            else:
                sLn[idx], tL[idx] = g[ok], t[ok]
        # offsets k_U ≥ t_U + s_U b_hi, k_L ≤ t_L + s_L b_lo (each product and sum directed)
        kUn = R.add_up(tU, R.mul_up(sUn, bhi))
        kLn = R.add_down(tL, R.mul_down(sLn, blo))
        okU = fin & np.isfinite(kUn)  # a non-finite offset (overflow, NaN): keep the constant line
        okL = fin & np.isfinite(kLn)
        sU[okU], kU[okU] = sUn[okU], kUn[okU]
        sL[okL], kL[okL] = sLn[okL], kLn[okL]


def _point_bound(fn, x: np.ndarray, side: int) -> np.ndarray:
    """``fn(x_i, x_i)[side]`` for every entry of the 1-D float array ``x`` (``fn`` a rigorous scalar enclosure
    of :mod:`intervals.elementary`, called once per distinct value): ``side`` 1 gives floats ``≥ σ(x_i)``,
    ``side`` 0 floats ``≤ σ(x_i)``."""
    cache: dict[float, float] = {}
    out = np.empty(x.shape)
    for i, v in enumerate(x.tolist()):
        r = cache.get(v)
        if r is None:
            r = cache[v] = fn(v, v)[side]
        out[i] = r
    return out



class Sigmoid(_Smooth):
    """The logistic function ``1 / (1 + e^{−z})`` (``σ'' = σ'·(1 − 2σ)``: ≥ 0 for z ≤ 0, ≤ 0 for z ≥ 0)."""

    enum = Activation.SIGMOID
    onnx_op = "Sigmoid"
    torch_module = "Sigmoid"
    max_derivative = 0.25

    def value(self, z, alpha=0.0):
        return _logistic(z)

    def derivative(self, z, alpha=0.0):
        s = _logistic(z)
        return s * (1.0 - s)

    def second_derivative(self, z):
        s = _logistic(z)
        return s * (1.0 - s) * (1.0 - 2.0 * s)

    def _kernels(self):
        return (E.logistic_bounds, E.logistic_deriv_bounds, E.logistic_bounds_mpf, E.logistic_deriv_bounds_mpf)

    def _min_derivative(self, a, c):
        # σ' = φ(σ), φ(p) = p(1 − p) concave, σ(z) ∈ [p0, p1] := [max(a, 0), min(c, 1)] ⊆ [0, 1]: the minimum of
        # φ on [p0, p1] is at an end. Each end: p ≥ 0 times a lower bound of 1 − p, rounded down, is ≤ φ(p).
        p0 = np.maximum(a, 0.0)
        p1 = np.minimum(c, 1.0)
        return np.minimum(R.mul_down(p0, R.sub_down(1.0, p0)), R.mul_down(p1, R.sub_down(1.0, p1)))


class Tanh(_Smooth):
    """``tanh`` (``tanh'' = −2 tanh·tanh'``: ≥ 0 for z ≤ 0, ≤ 0 for z ≥ 0)."""

    enum = Activation.TANH
    onnx_op = "Tanh"
    torch_module = "Tanh"
    max_derivative = 1.0

    def value(self, z, alpha=0.0):
        return np.tanh(z)

    def derivative(self, z, alpha=0.0):
        return 1.0 - np.tanh(z) ** 2

    def second_derivative(self, z):
        t = np.tanh(z)
        return -2.0 * t * (1.0 - t * t)

    def _kernels(self):
        return (E.tanh_bounds, E.tanh_deriv_bounds, E.tanh_bounds_mpf, E.tanh_deriv_bounds_mpf)

    def _min_derivative(self, a, c):
        # tanh' = 1 − p², p = tanh(z) ∈ [a, c] ∩ [−1, 1], so p² ≤ m² with m = min(max(|a|, |c|), 1) (exact);
        # m² rounded up, then 1 − (that) rounded down, is ≤ 1 − p².
        m = np.minimum(np.maximum(np.abs(a), np.abs(c)), 1.0)
        return R.sub_down(1.0, R.mul_up(m, m))
