"""The arbitrary-precision backend: boxes are :class:`intervals.mparray.MPIntervalArray` at ``prec`` bits.

Same algorithm and same meaning as :mod:`verinet.backends.float64`; only the numbers differ.

* Weights are the exact numbers of the model (``Layer.weight_q``/``bias_q`` when they are not floats):
  float and dyadic weights are held exactly; other rationals (decimals) as ``C ± 2^−(prec+10)|C|``
  (:class:`intervals.mparray.MPPointMatrix`), biases outward at ``prec + 10`` bits. Prepared once here.
* ``affine`` accumulates ``W x + b`` exactly in integers and rounds once per output (outward, ``prec``
  bits); with a point matrix this is the tightest ``prec``-bit enclosure of the exact hull.
* ReLU and leaky ReLU are monotone: exact on the endpoints (the ``α·z`` product rounded outward).
  logistic and tanh: :mod:`intervals.elementary` mpf kernels (the proved directed primitives of
  :mod:`intervals.rounding`) at ``prec`` bits, with tiny endpoints widened so exponents stay bounded.

Clarke derivatives (Zhou et al. 2023, Section 4; Clarke 1983, Thm 2.5.1): ReLU ``{0}`` if ``hi < 0``,
``{1}`` if ``lo > 0``, else ``[0, 1]`` (a box that only touches 0 included); leaky ReLU ``{α}``, ``{1}``
or ``[α, 1]``; smooth activations the interval extension of the derivative.

No global state: mpmath's global precision is never read or written; ``prec`` is passed to every kernel.
"""

from __future__ import annotations

import numpy as np
from mpmath import libmp

from intervals.array import IntervalArray
from intervals.elementary import (
    logistic_bounds_mpf,
    logistic_deriv_bounds_mpf,
    tanh_bounds_mpf,
    tanh_deriv_bounds_mpf,
)
from intervals.mparray import MPIntervalArray, MPPointMatrix
from verinet.network import Activation, Network

__all__ = ["MPBackend"]

#: extra bits used to enclose non-dyadic biases and the leaky-ReLU slope before the final rounding
_GUARD = 10
#: smooth-activation endpoints below ``2^−(2·prec + _FLUSH_BITS)`` in magnitude are widened to that bound
_FLUSH_BITS = 1100


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


def _map_pairs(fn, z: MPIntervalArray, prec: int) -> MPIntervalArray:
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
    def activate(self, k: int, z: MPIntervalArray) -> MPIntervalArray:
        act = self.network.layers[k].activation
        if act is Activation.IDENTITY:
            return z
        if act is Activation.RELU:
            return z.relu()
        if act is Activation.LEAKY_RELU:
            # for 0 <= α <= 1, leaky(x) = max(x, α x); interval max is monotone in both arguments, so
            # [max(z.lo, (αz).lo), max(z.hi, (αz).hi)] encloses it (and equals α_hi·z.lo, α_lo·z.hi below 0)
            return z.maximum(z * self._alpha[k])
        fn = logistic_bounds_mpf if act is Activation.SIGMOID else tanh_bounds_mpf
        return _map_pairs(fn, z, self.precision)

    def derivative(self, k: int, z: MPIntervalArray) -> MPIntervalArray:
        """Clarke-derivative enclosure ``σ_k'(z)`` of the activation on each pre-activation interval."""
        L = self.network.layers[k]
        act = L.activation
        p = self.precision
        if act is Activation.IDENTITY:
            one = np.ones(z.shape, dtype=object)
            return MPIntervalArray._unsafe(one, one, 0, p)
        if act in (Activation.RELU, Activation.LEAKY_RELU):
            if act is Activation.LEAKY_RELU:
                a = self._alpha[k]
                alo, ahi, e = int(a.lo_man), int(a.hi_man), a.exp
            else:
                alo, ahi, e = 0, 0, 0
            one = 1 << -e if e < 0 else 1  # 1 over the exponent min(e, 0)
            if e > 0:
                alo, ahi, e = alo << e, ahi << e, 0
            lo = np.full(z.shape, alo, dtype=object)
            lo[z.lo_man > 0] = one  # lo > 0: {1}; otherwise slope α is reachable
            hi = np.full(z.shape, one, dtype=object)
            hi[z.hi_man < 0] = ahi  # hi < 0: {α}; otherwise slope 1 is reachable
            return MPIntervalArray._unsafe(lo, hi, e, p)
        fn = logistic_deriv_bounds_mpf if act is Activation.SIGMOID else tanh_deriv_bounds_mpf
        return _map_pairs(fn, z, p)

    def chain(self, k: int, g: MPIntervalArray, z: MPIntervalArray) -> MPIntervalArray:
        act = self.network.layers[k].activation
        if act is Activation.IDENTITY:
            return g
        if act is Activation.RELU:
            # exact, no rounding: D ∈ {0}, {1} or [0, 1]; [0, 1]·[a, b] = [min(a, 0), max(b, 0)]
            on = z.lo_man > 0
            off = z.hi_man < 0
            glo, ghi = g.lo_man, g.hi_man
            lo = np.where(on, glo, np.where(off, 0, np.minimum(glo, 0)))
            hi = np.where(on, ghi, np.where(off, 0, np.maximum(ghi, 0)))
            return MPIntervalArray._unsafe(np.asarray(lo, dtype=object), np.asarray(hi, dtype=object), g.exp,
                                           max(g.prec, self.precision))
        return g * self.derivative(k, z)
