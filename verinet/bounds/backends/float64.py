"""The float64 backend: boxes are :class:`intervals.IntervalArray`, products use :mod:`intervals.linalg`.

Rounding: every step is an enclosure computed by the ``intervals`` package (a-priori error bounds for
products, one-ulp outward steps elsewhere). Activation enclosures and Clarke-derivative enclosures are
the ``*_f64`` methods of the activation objects in :mod:`verinet.activations` (with their proofs).
"""

from __future__ import annotations

import numpy as np

from intervals import rounding as R
from intervals.array import IntervalArray
from intervals.linalg import IntervalMatrix, PointMatrix
from verinet.network import Layer, Network

__all__ = ["Float64Backend"]


def _matrix(lo: np.ndarray, hi: np.ndarray):
    return PointMatrix(lo) if np.array_equal(lo, hi) else IntervalMatrix(lo, hi)


def _alpha_bounds(L: Layer) -> tuple[float, float]:
    return R.float_down(L.alpha), R.float_up(L.alpha)


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
        self._act = [L.activation.impl for L in network.layers]

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
    # one dispatch per layer to the activation's object (verinet.activations), which works on whole arrays
    def activate(self, k: int, z: IntervalArray) -> IntervalArray:
        return self._act[k].enclose_f64(z, self._alpha[k])

    def derivative(self, k: int, z: IntervalArray) -> IntervalArray:
        """Clarke-derivative enclosure ``σ_k'(z)`` of the activation on each pre-activation interval."""
        return self._act[k].derivative_f64(z, self._alpha[k])

    def chain(self, k: int, g: IntervalArray, z: IntervalArray) -> IntervalArray:
        return self._act[k].chain_f64(g, z, self._alpha[k])
