"""The base class of activations and the helpers shared by its subclasses.

:class:`verinet.network.Activation` stays the stable identifier stored in a :class:`~verinet.network.Layer`
(and so in model files, certificates and reports); ``act.impl`` (or :func:`verinet.activations.activation_of`)
gives the object that implements it. Each class holds

* its float64 value and derivative (vectorised numpy; search heuristics only, never a bound);
* ``piecewise_linear`` (exact value of a rational is rational), ``has_kinks`` (ReLU-like neurons with a
  sign to split on, and a lower line whose slope can be optimised) and ``has_alpha`` (the layer's slope
  parameter ``alpha`` is meaningful);
* its exact value at a rational point (piecewise-linear activations);
* its interval enclosure and Clarke-derivative enclosure for the float64 backend
  (:class:`intervals.array.IntervalArray`) and the mp backend (:class:`intervals.mparray.MPIntervalArray`),
  with the rounding arguments beside the code;
* its linear relaxation for the sound back-substitution of :mod:`verinet.bounds.linear`
  (:meth:`ActivationFn.relax_f64`, with the proofs of the lines and of their rounding);
* its operator names in the model file formats (:func:`verinet.activations.names`).

Enclosures (IEEE 1788 monotone extensions): ReLU ``max(z, 0)`` and leaky ReLU are monotone, so exact on
the endpoints except the ``α·z`` product, rounded outward; logistic and tanh use the mpmath interval
kernels of :mod:`intervals.elementary` (rounded outward). Clarke derivatives (Zhou et al. 2023, Section 4;
Clarke 1983, Thm 2.5.1): ReLU ``{0}`` if ``hi < 0``, ``{1}`` if ``lo > 0``, else ``[0, 1]`` (a box that only
touches 0 included); leaky ReLU ``{α}``, ``{1}`` or ``[α, 1]``; smooth activations the interval extension
of the derivative.

The slope ``alpha`` of a layer is passed to the methods in the form each backend prepared once per layer
(a Fraction for exact code, a float for float code, ``(α_lo, α_hi)`` floats for the float64 backend and the
linear relaxation, a one-element ``MPIntervalArray`` for the mp backend). Methods work on whole arrays: a
backend dispatches once per layer, never per element.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from mpmath import libmp

from intervals.mparray import MPIntervalArray
from verinet.network import Activation

__all__ = ["ActivationFn"]

#: smooth-activation endpoints below ``2^−(2·prec + _FLUSH_BITS)`` in magnitude are widened to that bound
_FLUSH_BITS = 1100


# ---------------------------------------------------------------------------------------------- helpers
def _map_pairs_f64(fn, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a scalar enclosure ``fn(lo, hi) -> (lo', hi')`` to every entry (smooth activations)."""
    out_lo = np.empty(lo.shape)
    out_hi = np.empty(hi.shape)
    flat_lo, flat_hi = out_lo.reshape(-1), out_hi.reshape(-1)
    cache: dict[tuple[float, float], tuple[float, float]] = {}
    for i, key in enumerate(zip(lo.reshape(-1).tolist(), hi.reshape(-1).tolist())):
        v = cache.get(key)
        if v is None:
            v = cache[key] = fn(*key)
        flat_lo[i], flat_hi[i] = v
    return out_lo, out_hi


def _flush(lo, hi, k: int):
    """Widen endpoints of magnitude below ``2^−k`` outward to ``0`` or ``±2^−k`` (raw mpf).

    Sound (each endpoint moves outward) and it bounds the spread of exponents within one array: the
    block representation shares one exponent, so a single ``e^{−10^6}`` would otherwise lengthen every
    mantissa of the array by a million bits. With ``k`` beyond the float64 range nothing visible is lost.
    """
    tiny = libmp.from_man_exp(1, -k)
    if lo[1] and lo[2] + lo[3] < -k:  # 0 < |lo| < 2^-k
        lo = libmp.mpf_neg(tiny) if lo[0] else libmp.fzero
    if hi[1] and hi[2] + hi[3] < -k:
        hi = libmp.fzero if hi[0] else tiny
    return lo, hi


def _map_pairs_mp(fn, z, prec: int):
    """Apply a raw-mpf enclosure ``fn(lo, hi, prec) -> (lo', hi')`` to every entry (smooth activations)."""
    lo_raw, hi_raw = z.raw_lo(), z.raw_hi()
    k = 2 * prec + _FLUSH_BITS
    cache: dict = {}
    out_lo, out_hi = [], []
    for a, b in zip(lo_raw, hi_raw):
        v = cache.get((a, b))
        if v is None:
            v = cache[(a, b)] = _flush(*fn(a, b, prec), k)
        out_lo.append(v[0])
        out_hi.append(v[1])
    return MPIntervalArray.from_mpf(out_lo, out_hi, z.shape, prec=prec)


class ActivationFn:
    """Base class: one activation function (stateless; one instance per :class:`Activation` member)."""

    #: the stable identifier (stored in layers, files and certificates)
    enum: Activation
    #: exact value of a rational point is rational (exact evaluation and exact certificates possible)
    piecewise_linear: bool = False
    #: ReLU-like: a kink at 0, neurons have a sign to split on (one slope each side)
    has_kinks: bool = False
    #: the layer's ``alpha`` is meaningful (stored, printed and written by the loaders)
    has_alpha: bool = False
    #: operator names in model files: ONNX op type, torch module class (None: not an activation there)
    onnx_op: str | None = None
    torch_module: str | None = None

    # ---- float64, non-rigorous (search heuristics) ----
    def value(self, z: np.ndarray, alpha: float = 0.0) -> np.ndarray:
        """``σ(z)`` in float64 (approximate)."""
        raise NotImplementedError

    def derivative(self, z: np.ndarray, alpha: float = 0.0) -> np.ndarray:
        """``σ'(z)`` in float64 (one subgradient at a kink: the right one; approximate)."""
        raise NotImplementedError

    def second_derivative(self, z: np.ndarray) -> np.ndarray | None:
        """``σ''(z)`` in float64 for smooth activations; None when it is 0 almost everywhere."""
        return None

    # ---- exact ----
    def slope_below(self, alpha: Fraction) -> Fraction:
        """Slope on ``z < 0`` of a kinked activation (exact)."""
        raise TypeError(f"{self.enum.value} has no kink")

    def exact(self, v: Fraction, alpha: Fraction) -> Fraction:
        """Exact ``σ(v)`` at a rational point (piecewise-linear activations only)."""
        raise ValueError(f"{self.enum.value}: no exact rational value; use a rigorous enclosure")

    # ---- float64 backend (rigorous) ----
    def enclose_f64(self, z, alpha: tuple[float, float]):
        """Enclosure of ``σ(z)`` for an :class:`~intervals.array.IntervalArray` ``z``."""
        raise NotImplementedError

    def derivative_f64(self, z, alpha: tuple[float, float]):
        """Clarke-derivative enclosure ``∂σ(z)`` for an :class:`~intervals.array.IntervalArray` ``z``."""
        raise NotImplementedError

    def chain_f64(self, g, z, alpha: tuple[float, float]):
        """Enclosure of ``g · ∂σ(z)`` (reverse-mode chain rule through the activation)."""
        return g * self.derivative_f64(z, alpha)

    # ---- mp backend (rigorous) ----
    def enclose_mp(self, z, alpha, prec: int):
        """Enclosure of ``σ(z)`` for an :class:`~intervals.mparray.MPIntervalArray` ``z`` at ``prec`` bits."""
        raise NotImplementedError

    def derivative_mp(self, z, alpha, prec: int):
        """Clarke-derivative enclosure ``∂σ(z)`` at ``prec`` bits."""
        raise NotImplementedError

    def chain_mp(self, g, z, alpha, prec: int):
        """Enclosure of ``g · ∂σ(z)`` at ``prec`` bits."""
        return g * self.derivative_mp(z, alpha, prec)

    # ---- linear relaxation (float64, rigorous; used by verinet.bounds.linear) ----
    def relax_f64(self, zl: np.ndarray, zu: np.ndarray, Alo: np.ndarray, Ahi: np.ndarray,
                  alpha: tuple[float, float], blo: np.ndarray, bhi: np.ndarray):
        """Lines ``s_L z + t_L ≤ σ(z) ≤ s_U z + t_U`` on every pre-activation interval ``[l, u]``.

        Parameters
        ----------
        zl, zu : (B, n) float arrays
            Pre-activation bounds (``l ≤ u``; infinite where nothing better is known).
        Alo, Ahi : (B, n) float arrays
            A sound enclosure of ``σ`` on them (:meth:`enclose_f64`).
        alpha : (α_lo, α_hi)
            Floats enclosing the layer's slope parameter (``(0, 0)`` when it has none).
        blo, bhi : (n,) float arrays
            Bounds of the layer's bias ``b``.

        Returns
        -------
        (sU, sL, kU, kL), each a new C-contiguous (B, n) float64 array: float slopes ``s ≥ 0`` (the
        back-substitution needs them non-negative) and the offsets with the bias folded in,
        ``k_U ≥ t_U + s_U b_hi`` and ``k_L ≤ t_L + s_L b_lo`` (step 2 of :mod:`verinet.bounds.linear`).
        The caller silences floating-point warnings (overflow is handled by the lines themselves).
        """
        raise NotImplementedError

    def bounds_matter(self, z) -> np.ndarray:
        """(B, n) mask of the neurons whose relaxation :meth:`relax_f64` tightens with tighter bounds of
        ``z`` (an :class:`~intervals.array.IntervalArray`): the ones worth back-substituted bounds."""
        return np.ones(z.shape, dtype=bool)

    def lower_line_f64(self, s: np.ndarray, alpha: tuple[float, float], blo: np.ndarray):
        """``(s', k_L)``: an optimised lower line ``s'·z`` valid on every interval, and its offset
        ``k_L ≤ s'·b_lo`` (α-CROWN; kinked activations only, ``has_kinks``)."""
        raise TypeError(f"{self.enum.value} has no optimisable lower line")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
