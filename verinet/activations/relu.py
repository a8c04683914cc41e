"""ReLU and leaky ReLU: the kinked activations (a sign to split on, an optimisable lower line)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from intervals import rounding as R
from intervals.array import IntervalArray
from intervals.mparray import MPIntervalArray
from verinet.activations.base import ActivationFn
from verinet.network import Activation

__all__ = ["LeakyReLU", "ReLU", "admissible_slopes"]


class LeakyReLU(ActivationFn):
    """``max(z, α z)`` with ``0 ≤ α ≤ 1``."""

    enum = Activation.LEAKY_RELU
    piecewise_linear = True
    has_kinks = True
    has_alpha = True
    onnx_op = "LeakyRelu"
    torch_module = "LeakyReLU"

    def value(self, z, alpha=0.0):
        return np.where(z > 0, z, alpha * z)

    def derivative(self, z, alpha=0.0):
        return np.where(z > 0, 1.0, alpha)

    def slope_below(self, alpha):
        return alpha

    def exact(self, v, alpha):
        return v if v > 0 else alpha * v

    def enclose_f64(self, z, alpha):
        alo, ahi = alpha
        # z < 0 maps to α z (decreasing in α for z < 0): lower end uses α_hi, upper end α_lo
        # α = 0 with z.lo = −inf: 0·(−inf) is NaN in IEEE, but α z = 0 for every real z (set semantics)
        lo = np.where(z.lo < 0, np.where(ahi == 0, 0.0, R.mul_down(ahi, z.lo)), z.lo)
        hi = np.where(z.hi < 0, R.mul_up(alo, z.hi), z.hi)
        return IntervalArray.unchecked(lo, hi)

    def derivative_f64(self, z, alpha):
        alo, ahi = alpha
        lo = np.where(z.lo > 0, 1.0, alo)  # lo > 0: {1}; otherwise the slope α is reachable
        hi = np.where(z.hi < 0, ahi, 1.0)  # hi < 0: {α}; otherwise slope 1 is reachable
        return IntervalArray.unchecked(lo, hi)

    def enclose_mp(self, z, alpha, prec):
        # for 0 <= α <= 1, leaky(x) = max(x, α x); interval max is monotone in both arguments, so
        # [max(z.lo, (αz).lo), max(z.hi, (αz).hi)] encloses it (and equals α_hi·z.lo, α_lo·z.hi below 0)
        return z.maximum(z * alpha)

    def derivative_mp(self, z, alpha, prec):
        return _kink_derivative_mp(z, int(alpha.lo_man), int(alpha.hi_man), alpha.exp, prec)

    def relax_f64(self, zl, zu, Alo, Ahi, alpha, blo, bhi):
        """Lines on ``[l, u]`` for ``σ(z) = max(z, αz)``, ``0 ≤ α ≤ 1`` (convex), ``α_lo ≤ α ≤ α_hi`` floats
        in ``[0, 1]``.

        * ``l ≥ 0``: σ(z) = z, both lines ``z``. ``u ≤ 0``: σ(z) = αz and for ``z ≤ 0``
          ``α_hi z ≤ αz ≤ α_lo z`` (larger slope, smaller value), intercepts 0.
        * unstable lower line ``s z`` with ``s ∈ {α_hi, 1}`` (1 when ``u ≥ −l``): for any ``s ∈ [α, 1]``,
          ``s z ≤ z`` for z ≥ 0 and ``s z ≤ α z`` for z ≤ 0, so ``s z ≤ σ(z)`` everywhere.
        * unstable upper line: any float slope ``s ∈ [0, 1]`` (≈ the chord ``(u − α l)/(u − l)``) and
          ``t = max(σ̄(l) − s l, u − s u)`` rounded up, ``σ̄(l) = α_lo l`` rounded up ``≥ σ(l)``: the line is
          above σ at both endpoints, and ``s z + t − σ(z)`` is concave, so it is ≥ 0 on all of ``[l, u]``.
          Infinite ``l``/``u`` (overflowed bounds): the constant line ``t = A.hi`` (interval bound of σ).
        """
        shape = zl.shape
        sU, sL, kU, kL = (np.empty(shape) for _ in range(4))
        from verinet.activations._relu_kernels import kinked_lines  # Numba: imported when first used

        kinked_lines(zl, zu, Ahi, alpha[0], alpha[1], blo, bhi, sU, sL, kU, kL)
        return sU, sL, kU, kL

    def bounds_matter(self, z):
        return (z.lo < 0.0) & (z.hi > 0.0)  # unstable: the only neurons whose relaxation uses l, u

    def lower_line_f64(self, s, alpha, blo):
        """``s·z`` with ``s`` clipped to ``[α_hi, 1]`` (:func:`admissible_slopes`) lies below σ everywhere
        (the unstable lower line of :meth:`relax_f64`), so it may replace the lower line of any neuron; its
        intercept is 0, so ``k_L ≤ s·b_lo``: the product rounded down (exact when ``s ∈ {0, 1}``)."""
        s = admissible_slopes(s, alpha[1])
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            k = np.where(s == 0.0, 0.0, R.mul_down(s, np.broadcast_to(blo, s.shape)))
        return s, k


class ReLU(LeakyReLU):
    """``max(z, 0)``: leaky ReLU with ``α = 0``, with exact shortcuts."""

    enum = Activation.RELU
    has_alpha = False
    onnx_op = "Relu"
    torch_module = "ReLU"

    def value(self, z, alpha=0.0):
        return np.maximum(z, 0.0)

    def derivative(self, z, alpha=0.0):
        return (z > 0).astype(np.float64)

    def slope_below(self, alpha):
        return Fraction(0)

    def exact(self, v, alpha):
        return v if v > 0 else Fraction(0)

    def enclose_f64(self, z, alpha):
        return z.relu()

    def derivative_f64(self, z, alpha):
        return super().derivative_f64(z, (0.0, 0.0))

    def chain_f64(self, g, z, alpha):
        # exact, no rounding: D ∈ {0}, {1} or [0, 1]; [0,1]·[a,b] = [min(a,0), max(b,0)]
        on = z.lo > 0
        off = z.hi < 0
        lo = np.where(on, g.lo, np.where(off, 0.0, np.minimum(g.lo, 0.0)))
        hi = np.where(on, g.hi, np.where(off, 0.0, np.maximum(g.hi, 0.0)))
        return IntervalArray.unchecked(lo, hi)

    def enclose_mp(self, z, alpha, prec):
        return z.relu()

    def derivative_mp(self, z, alpha, prec):
        return _kink_derivative_mp(z, 0, 0, 0, prec)

    def chain_mp(self, g, z, alpha, prec):
        # exact, no rounding: D ∈ {0}, {1} or [0, 1]; [0, 1]·[a, b] = [min(a, 0), max(b, 0)]
        on = z.lo_man > 0
        off = z.hi_man < 0
        glo, ghi = g.lo_man, g.hi_man
        lo = np.where(on, glo, np.where(off, 0, np.minimum(glo, 0)))
        hi = np.where(on, ghi, np.where(off, 0, np.maximum(ghi, 0)))
        return MPIntervalArray.unchecked(np.asarray(lo, dtype=object), np.asarray(hi, dtype=object), g.exp,
                                       max(g.prec, prec))


def _kink_derivative_mp(z, alo: int, ahi: int, e: int, prec: int):
    """``{α}``, ``{1}`` or ``[α, 1]`` per entry, with ``α ∈ [alo, ahi]·2^e`` (exact: only endpoints chosen)."""
    one = 1 << -e if e < 0 else 1  # 1 over the exponent min(e, 0)
    if e > 0:
        alo, ahi, e = alo << e, ahi << e, 0
    lo = np.full(z.shape, alo, dtype=object)
    lo[z.lo_man > 0] = one  # lo > 0: {1}; otherwise slope α is reachable
    hi = np.full(z.shape, one, dtype=object)
    hi[z.hi_man < 0] = ahi  # hi < 0: {α}; otherwise slope 1 is reachable
    return MPIntervalArray.unchecked(lo, hi, e, prec)


def admissible_slopes(s: np.ndarray, alpha_hi: float) -> np.ndarray:
    """Slopes clipped to ``[α_hi, 1]`` (NaN → 1), the range in which ``s·z`` is a lower line of a leaky ReLU
    for every leak ``α ≤ α_hi`` (:meth:`LeakyReLU.lower_line_f64`)."""
    return np.clip(np.nan_to_num(s, nan=1.0), alpha_hi, 1.0)
