"""The arbitrary-precision backend: boxes are :class:`intervals.mparray.MPIntervalArray` at ``prec`` bits.

Same algorithm and same meaning as :mod:`verinet.bounds.backends.float64`; only the numbers differ.

* Weights are the exact numbers of the model (``Layer.weight_q``/``bias_q`` when they are not floats):
  float and dyadic weights are held exactly; other rationals (decimals) as ``C ± 2^−(prec+10)|C|``
  (:class:`intervals.mparray.MPPointMatrix`), biases outward at ``prec + 10`` bits. Prepared once here.
* ``affine`` accumulates ``W x + b`` exactly in integers and rounds once per output (outward, ``prec``
  bits); with a point matrix this is the tightest ``prec``-bit enclosure of the exact hull.
* Activation enclosures and Clarke-derivative enclosures are the ``*_mp`` methods of the activation
  objects in :mod:`verinet.activations` (with their proofs): ReLU and leaky ReLU exact on the endpoints
  (the ``α·z`` product rounded outward); logistic and tanh the :mod:`intervals.elementary` mpf kernels
  at ``prec`` bits, with tiny endpoints widened so exponents stay bounded.

No global state: mpmath's global precision is never read or written; ``prec`` is passed to every kernel.
"""

from __future__ import annotations

import numpy as np

from intervals.array import IntervalArray
from intervals.mparray import MPIntervalArray, MPPointMatrix
from verinet.network import Network

__all__ = ["MPBackend"]

#: extra bits used to enclose non-dyadic biases and the leaky-ReLU slope before the final rounding
_GUARD = 10


class MPBackend:
    """Arbitrary-precision interval backend for one network (weights prepared once).

    Parameters
    ----------
    network : Network
    prec : int
        Working precision in bits (every computed endpoint is a ``prec``-bit binary number).
    accelerator : {None, "object", "flint", "auto"}
        Strategy of the exact integer matrix products (see :class:`intervals.mparray.MPIntervalMatrix`):
        BLAS on base-2^16 digits by default (no optional dependency); python-flint's ``fmpz_mat`` with
        ``"flint"``, or with ``"auto"`` only for operands above about 1000 bits, where it is faster.

    Examples
    --------
    >>> from verinet import Layer, Network
    >>> net = Network((Layer.from_exact([["0.1", "-1"]], ["0"], "identity"),))
    >>> b = MPBackend(net, 128)
    >>> y = b.affine(0, b.box(np.array([1.0, 0.0]), np.array([1.0, 0.0])))
    >>> bool(y.contains(["0.1"])[0]), bool((y.exact_hi() - y.exact_lo())[0] < 1e-37)
    (True, True)

    Rigorous: every method returns an enclosure of the exact real result (see the module docstring).
    """

    name = "mp"

    def __init__(self, network: Network, prec: int, *, accelerator: str | None = None) -> None:
        if isinstance(prec, bool) or not isinstance(prec, (int, np.integer)) or int(prec) < 2:
            raise ValueError(f"MPBackend: precision must be an int >= 2 bits, got {prec!r}")
        self.network = network
        self.precision = int(prec)
        self.accelerator = accelerator
        p = self.precision
        self._W = []
        self._b = []
        self._alpha = []
        for k, L in enumerate(network.layers):
            # a layer is a point (exact floats, or exact rationals in weight_q/bias_q) or an interval
            # family; the mp backend only represents points, so a family must be refused, not truncated
            if (L.weight_q is None and not np.array_equal(L.weight_lo, L.weight_hi)) or (
                L.bias_q is None and not np.array_equal(L.bias_lo, L.bias_hi)
            ):
                raise ValueError(f"layer {k} has interval weights (a family of networks): "
                                 "the arbitrary-precision backend needs exact weights; use float64")
            w = L.weight_q if L.weight_q is not None else L.weight_lo
            self._W.append(MPPointMatrix(w, prec=p, accelerator=accelerator))
            b = L.bias_q if L.bias_q is not None else L.bias_lo
            self._b.append(MPIntervalArray(b, prec=p + _GUARD).with_prec(p))
            a = np.array(L.alpha, dtype=object)
            self._alpha.append(MPIntervalArray(a, prec=p + _GUARD).with_prec(p))
        self._WT = [W.T for W in self._W]
        self._act = [L.activation.impl for L in network.layers]
        self._dot_cache: dict[bytes, MPPointMatrix] = {}

    # ------------------------------------------------------------------ conversion
    def box(self, lo, hi) -> MPIntervalArray:
        """Exact conversion of float64 endpoint arrays."""
        return MPIntervalArray(np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64),
                               prec=self.precision)

    def point(self, values) -> MPIntervalArray:
        """An exact point array from float64 values."""
        return MPIntervalArray(np.asarray(values, dtype=np.float64), prec=self.precision)

    def to_float(self, a) -> IntervalArray:
        """Outward float64 enclosure (a float64 array, e.g. an intersection already made, passes through)."""
        return a if isinstance(a, IntervalArray) else a.to_float()

    # ------------------------------------------------------------------ linear algebra
    def linear(self, k: int, x: MPIntervalArray) -> MPIntervalArray:
        return self._W[k].matvec(x, prec=self.precision)

    def affine(self, k: int, x: MPIntervalArray) -> MPIntervalArray:
        return self._W[k].matvec(x, bias=self._b[k], prec=self.precision)

    def linear_t(self, k: int, g: MPIntervalArray) -> MPIntervalArray:
        return self._WT[k].matvec(g, prec=self.precision)

    def dot(self, P: MPIntervalArray, c: np.ndarray) -> MPIntervalArray:
        c = np.ascontiguousarray(c, dtype=np.float64)
        key = c.tobytes()
        M = self._dot_cache.get(key)
        if M is None:
            M = self._dot_cache[key] = MPPointMatrix(c[None, :], prec=self.precision)
        return M.matvec(P, prec=self.precision)[..., 0]

    # ------------------------------------------------------------------ activations
    # one dispatch per layer to the activation's object (verinet.activations), which works on whole arrays
    def activate(self, k: int, z: MPIntervalArray) -> MPIntervalArray:
        return self._act[k].enclose_mp(z, self._alpha[k], self.precision)

    def derivative(self, k: int, z: MPIntervalArray) -> MPIntervalArray:
        """Clarke-derivative enclosure ``σ_k'(z)`` of the activation on each pre-activation interval."""
        return self._act[k].derivative_mp(z, self._alpha[k], self.precision)

    def chain(self, k: int, g: MPIntervalArray, z: MPIntervalArray) -> MPIntervalArray:
        return self._act[k].chain_mp(g, z, self._alpha[k], self.precision)
