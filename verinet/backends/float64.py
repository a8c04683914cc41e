"""The float64 backend: boxes are :class:`intervals.IntervalArray`, products use :mod:`intervals.linalg`.

Rounding: every step is an enclosure computed by the ``intervals`` package (a-priori error bounds for
products, one-ulp outward steps elsewhere). Activation enclosures (IEEE 1788 monotone extensions):

* ReLU ``max(z, 0)`` and leaky ReLU are monotone: exact on the endpoints, except the ``α·z`` product,
  rounded outward.
* logistic and tanh: :mod:`intervals.elementary` (mpmath interval kernels, rounded outward).

Clarke derivatives (Zhou et al. 2023, Section 4; Clarke 1983, Thm 2.5.1): ReLU ``{0}`` if ``hi < 0``,
``{1}`` if ``lo > 0``, else ``[0, 1]`` (a box touching 0 included); leaky ReLU ``{α}``, ``{1}``, or
``[α, 1]``; smooth activations the interval extension of the derivative.
"""

from __future__ import annotations

import numpy as np

from intervals import rounding as R
from intervals.array import IntervalArray
from intervals.elementary import logistic_bounds, logistic_deriv_bounds, tanh_bounds, tanh_deriv_bounds
from intervals.linalg import IntervalMatrix, PointMatrix
from verinet.network import Activation, Layer, Network

__all__ = ["Float64Backend"]


def _matrix(lo: np.ndarray, hi: np.ndarray):
    return PointMatrix(lo) if np.array_equal(lo, hi) else IntervalMatrix(lo, hi)


def _alpha_bounds(L: Layer) -> tuple[float, float]:
    return R.float_down(L.alpha), R.float_up(L.alpha)


def _map_pairs(fn, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


class Float64Backend:
    """Float64 interval backend for one network (weights prepared once).

    Rigorous: every method returns an enclosure of the exact real result (see the module docstring).
    """

    name = "float64"
    precision = 53

    def __init__(self, network: Network) -> None:
        self.network = network
        self._W = [_matrix(L.weight_lo, L.weight_hi) for L in network.layers]
        self._WT = [_matrix(L.weight_lo.T, L.weight_hi.T) for L in network.layers]
        self._b = [IntervalArray(L.bias_lo, L.bias_hi) for L in network.layers]
        self._alpha = [_alpha_bounds(L) for L in network.layers]

    # ------------------------------------------------------------------ conversion
    def box(self, lo, hi) -> IntervalArray:
        return IntervalArray(lo, hi)

    def point(self, values) -> IntervalArray:
        return IntervalArray(values)

    def to_float(self, a: IntervalArray) -> IntervalArray:
        return a

    # ------------------------------------------------------------------ linear algebra
    def linear(self, k: int, x: IntervalArray) -> IntervalArray:
        return self._W[k].matvec(x)

    def affine(self, k: int, x: IntervalArray) -> IntervalArray:
        return self._W[k].matvec(x, self._b[k])

    def linear_t(self, k: int, g: IntervalArray) -> IntervalArray:
        return self._WT[k].matvec(g)

    def dot(self, P: IntervalArray, c: np.ndarray) -> IntervalArray:
        out = PointMatrix(np.asarray(c, dtype=np.float64)[None, :]).matvec(P)
        return out[..., 0]

    # ------------------------------------------------------------------ activations
    def activate(self, k: int, z: IntervalArray) -> IntervalArray:
        L = self.network.layers[k]
        act = L.activation
        if act is Activation.IDENTITY:
            return z
        if act is Activation.RELU:
            return z.relu()
        if act is Activation.LEAKY_RELU:
            alo, ahi = self._alpha[k]
            # z < 0 maps to α z (decreasing in α for z < 0): lower end uses α_hi, upper end α_lo
            # α = 0 with z.lo = −inf: 0·(−inf) is NaN in IEEE, but α z = 0 for every real z (set semantics)
            lo = np.where(z.lo < 0, np.where(ahi == 0, 0.0, R.mul_down(ahi, z.lo)), z.lo)
            hi = np.where(z.hi < 0, R.mul_up(alo, z.hi), z.hi)
            return IntervalArray._unsafe(lo, hi)
        fn = logistic_bounds if act is Activation.SIGMOID else tanh_bounds
        return IntervalArray._unsafe(*_map_pairs(fn, z.lo, z.hi))

    def derivative(self, k: int, z: IntervalArray) -> IntervalArray:
        """Clarke-derivative enclosure ``σ_k'(z)`` of the activation on each pre-activation interval."""
        L = self.network.layers[k]
        act = L.activation
        if act is Activation.IDENTITY:
            return IntervalArray._unsafe(np.ones_like(z.lo), np.ones_like(z.hi))
        if act in (Activation.RELU, Activation.LEAKY_RELU):
            alo, ahi = self._alpha[k] if act is Activation.LEAKY_RELU else (0.0, 0.0)
            lo = np.where(z.lo > 0, 1.0, alo)  # lo > 0: {1}; otherwise the slope α is reachable
            hi = np.where(z.hi < 0, ahi, 1.0)  # hi < 0: {α}; otherwise slope 1 is reachable
            return IntervalArray._unsafe(lo, hi)
        fn = logistic_deriv_bounds if act is Activation.SIGMOID else tanh_deriv_bounds
        return IntervalArray._unsafe(*_map_pairs(fn, z.lo, z.hi))

    def chain(self, k: int, g: IntervalArray, z: IntervalArray) -> IntervalArray:
        act = self.network.layers[k].activation
        if act is Activation.IDENTITY:
            return g
        if act is Activation.RELU:
            # exact, no rounding: D ∈ {0}, {1} or [0, 1]; [0,1]·[a,b] = [min(a,0), max(b,0)]
            on = z.lo > 0
            off = z.hi < 0
            lo = np.where(on, g.lo, np.where(off, 0.0, np.minimum(g.lo, 0.0)))
            hi = np.where(on, g.hi, np.where(off, 0.0, np.maximum(g.hi, 0.0)))
            return IntervalArray._unsafe(lo, hi)
        return g * self.derivative(k, z)
