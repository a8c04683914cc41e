"""Activations as objects: everything verinet knows about one activation function, in one class.

:class:`verinet.network.Activation` stays the stable identifier stored in a :class:`~verinet.network.Layer`
(and so in model files, certificates and reports); ``act.impl`` (or :func:`activation_of`) gives the
object below that implements it. Each class holds

* its float64 value and derivative (vectorised numpy; search heuristics only, never a bound);
* ``piecewise_linear`` (exact value of a rational is rational), ``has_kinks`` (ReLU-like neurons with a
  sign to split on) and ``has_alpha`` (the layer's slope parameter ``alpha`` is meaningful);
* its exact value at a rational point (piecewise-linear activations);
* its interval enclosure and Clarke-derivative enclosure for the float64 backend
  (:class:`intervals.array.IntervalArray`) and the mp backend (:class:`intervals.mparray.MPIntervalArray`),
  with the rounding arguments beside the code;
* its operator names in the model file formats (:func:`names`).

Enclosures (IEEE 1788 monotone extensions): ReLU ``max(z, 0)`` and leaky ReLU are monotone, so exact on
the endpoints except the ``α·z`` product, rounded outward; logistic and tanh use the mpmath interval
kernels of :mod:`intervals.elementary` (rounded outward). Clarke derivatives (Zhou et al. 2023, Section 4;
Clarke 1983, Thm 2.5.1): ReLU ``{0}`` if ``hi < 0``, ``{1}`` if ``lo > 0``, else ``[0, 1]`` (a box that only
touches 0 included); leaky ReLU ``{α}``, ``{1}`` or ``[α, 1]``; smooth activations the interval extension
of the derivative.

The slope ``alpha`` of a layer is passed to the methods in the form each backend prepared once per layer
(a Fraction for exact code, a float for float code, ``(α_lo, α_hi)`` floats for the float64 backend, a
one-element ``MPIntervalArray`` for the mp backend). Methods work on whole arrays: a backend dispatches
once per layer, never per element.

Adding an activation: a member of :class:`~verinet.network.Activation`, a subclass of :class:`ActivationFn`
registered in ``_IMPLS``, its linear relaxation in :mod:`verinet.bounds.linear` (and slopes in :mod:`verinet.bounds.alpha`
if optimised) and its exact semantics in the certificate checker (which keeps its own code on purpose).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from mpmath import libmp

from intervals import elementary as E
from intervals import rounding as R
from intervals.array import IntervalArray
from intervals.mparray import MPIntervalArray
from verinet.network import Activation

__all__ = ["ActivationFn", "Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "activation_of", "names"]

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


def _logistic(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow warning for large |z|, unlike 1/(1+exp(-z))


# ---------------------------------------------------------------------------------------------- classes
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

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Identity(ActivationFn):
    enum = Activation.IDENTITY
    piecewise_linear = True

    def value(self, z, alpha=0.0):
        return z

    def derivative(self, z, alpha=0.0):
        return np.ones_like(z)

    def exact(self, v, alpha):
        return v

    def enclose_f64(self, z, alpha):
        return z

    def derivative_f64(self, z, alpha):
        return IntervalArray._unsafe(np.ones_like(z.lo), np.ones_like(z.hi))

    def chain_f64(self, g, z, alpha):
        return g

    def enclose_mp(self, z, alpha, prec):
        return z

    def derivative_mp(self, z, alpha, prec):
        one = np.ones(z.shape, dtype=object)
        return MPIntervalArray._unsafe(one, one, 0, prec)

    def chain_mp(self, g, z, alpha, prec):
        return g


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
        return IntervalArray._unsafe(lo, hi)

    def derivative_f64(self, z, alpha):
        alo, ahi = alpha
        lo = np.where(z.lo > 0, 1.0, alo)  # lo > 0: {1}; otherwise the slope α is reachable
        hi = np.where(z.hi < 0, ahi, 1.0)  # hi < 0: {α}; otherwise slope 1 is reachable
        return IntervalArray._unsafe(lo, hi)

    def enclose_mp(self, z, alpha, prec):
        # for 0 <= α <= 1, leaky(x) = max(x, α x); interval max is monotone in both arguments, so
        # [max(z.lo, (αz).lo), max(z.hi, (αz).hi)] encloses it (and equals α_hi·z.lo, α_lo·z.hi below 0)
        return z.maximum(z * alpha)

    def derivative_mp(self, z, alpha, prec):
        return _kink_derivative_mp(z, int(alpha.lo_man), int(alpha.hi_man), alpha.exp, prec)


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
        return IntervalArray._unsafe(lo, hi)

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
        return MPIntervalArray._unsafe(np.asarray(lo, dtype=object), np.asarray(hi, dtype=object), g.exp,
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
    return MPIntervalArray._unsafe(lo, hi, e, prec)


class _Smooth(ActivationFn):
    """A smooth activation whose enclosures are scalar interval kernels of :mod:`intervals.elementary`."""

    def _kernels(self) -> tuple:
        """``(value_f64, deriv_f64, value_mpf, deriv_mpf)`` kernels (outward-rounded)."""
        raise NotImplementedError

    def enclose_f64(self, z, alpha):
        return IntervalArray._unsafe(*_map_pairs_f64(self._kernels()[0], z.lo, z.hi))

    def derivative_f64(self, z, alpha):
        return IntervalArray._unsafe(*_map_pairs_f64(self._kernels()[1], z.lo, z.hi))

    def enclose_mp(self, z, alpha, prec):
        return _map_pairs_mp(self._kernels()[2], z, prec)

    def derivative_mp(self, z, alpha, prec):
        return _map_pairs_mp(self._kernels()[3], z, prec)


class Sigmoid(_Smooth):
    """The logistic function ``1 / (1 + e^{−z})``."""

    enum = Activation.SIGMOID
    onnx_op = "Sigmoid"
    torch_module = "Sigmoid"

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


class Tanh(_Smooth):
    enum = Activation.TANH
    onnx_op = "Tanh"
    torch_module = "Tanh"

    def value(self, z, alpha=0.0):
        return np.tanh(z)

    def derivative(self, z, alpha=0.0):
        return 1.0 - np.tanh(z) ** 2

    def second_derivative(self, z):
        t = np.tanh(z)
        return -2.0 * t * (1.0 - t * t)

    def _kernels(self):
        return (E.tanh_bounds, E.tanh_deriv_bounds, E.tanh_bounds_mpf, E.tanh_deriv_bounds_mpf)


_IMPLS: dict[Activation, ActivationFn] = {c.enum: c() for c in (Identity, ReLU, LeakyReLU, Sigmoid, Tanh)}
assert set(_IMPLS) == set(Activation), "every Activation member needs a class"


def activation_of(act: Activation | str) -> ActivationFn:
    """The object implementing ``act`` (an :class:`Activation` or its value, e.g. ``"relu"``)."""
    return _IMPLS[Activation(act)]


def names(fmt: str) -> dict[str, Activation]:
    """Activation names of a model file format: ``"onnx"`` (op types), ``"torch"`` (module classes), or
    ``"json"``/``"npz"`` (the lowercase :class:`Activation` values)."""
    if fmt == "onnx":
        return {f.onnx_op: a for a, f in _IMPLS.items() if f.onnx_op is not None}
    if fmt == "torch":
        return {f.torch_module: a for a, f in _IMPLS.items() if f.torch_module is not None}
    if fmt in ("json", "npz"):
        return {a.value: a for a in _IMPLS}
    raise ValueError(f"unknown model format {fmt!r} (known: onnx, torch, json, npz)")
