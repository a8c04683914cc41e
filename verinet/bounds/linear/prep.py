"""Per-network float data of the linear bounds: the layers' weights as midpoint and radius, biases, leaks and
the a-priori rounding constants, computed once per network (cached).

Proofs referred to as "the module docstring" (the statement ``S_j`` and steps 1–7) are in the docstring
of :mod:`verinet.bounds.linear`.
"""

from __future__ import annotations

import weakref
from fractions import Fraction

import numpy as np

from intervals import rounding as R
from verinet.bounds.backends import make_backend
from verinet.bounds.backends.float64 import Float64Backend
from verinet.network import Network

_ETA = R.ETA
_U = R.U


def _consts(n: int) -> tuple[float, float, float]:
    """``(γ_n, 1/(1 − γ_n), n·η)``, each rounded up (exact rationals, then one directed rounding)."""
    n = max(n, 1)
    nu = Fraction(n, 2**53)
    g = nu / (1 - nu)
    return R.float_up(g), R.float_up(1 / (1 - g)), R.float_up(n * Fraction(_ETA))


class _LayerPrep:
    """Float data of one layer: ``W ∈ [Wm − Wr, Wm + Wr]`` (``Wr`` None for float weights), biases, slopes."""

    def __init__(self, layer) -> None:
        lo, hi = layer.weight_lo, layer.weight_hi
        self.act = layer.activation
        self.n_out, self.n_in = lo.shape
        if np.array_equal(lo, hi):
            self.Wm = np.ascontiguousarray(lo, dtype=np.float64)
            self.WrT = None
        else:
            # any float midpoint; radius rounded up so that |W − Wm| ≤ Wr for every W in [lo, hi]
            self.Wm = np.ascontiguousarray(0.5 * lo + 0.5 * hi)
            self.WrT = np.ascontiguousarray(R.next_up(np.maximum(hi - self.Wm, self.Wm - lo)).T)
        self.absWmT = np.ascontiguousarray(np.abs(self.Wm).T)  # (n_in, n_out)
        self.blo = np.ascontiguousarray(layer.bias_lo, dtype=np.float64)
        self.bhi = np.ascontiguousarray(layer.bias_hi, dtype=np.float64)
        # α enclosed by floats; both in [0, 1] because α ∈ [0, 1] and 0, 1 are floats
        self.alo, self.ahi = (R.float_down(layer.alpha), R.float_up(layer.alpha)) \
            if layer.activation.impl.has_alpha else (0.0, 0.0)
        # GEMM Λ̂ Wm and the relaxation-step sums have n_out terms
        self.gam_out, self.inv_out, self.neta_out = _consts(self.n_out)
        _, self.inv_in, self.neta_in = _consts(self.n_in)  # |Wm| ma, Wr ma (inner dimension n_in)
        self.scal_k = R.float_up(Fraction(self.n_out * (self.n_in + 1)) * Fraction(_ETA))


class _Prepared:
    def __init__(self, network: Network, backend: Float64Backend) -> None:
        self.network = network
        self.backend = backend
        self.layers = [_LayerPrep(L) for L in network.layers]
        self.gam0, self.inv0, self.neta0 = _consts(network.n_inputs)


_CACHE: weakref.WeakKeyDictionary[Network, _Prepared] = weakref.WeakKeyDictionary()


def _prepare(backend_or_network) -> _Prepared:
    if isinstance(backend_or_network, Network):
        net, backend = backend_or_network, None
    else:
        backend = backend_or_network
        net = getattr(backend, "network", None)
        if not isinstance(net, Network):
            raise TypeError(f"expected a Network or a backend, got {type(backend_or_network).__name__}")
    if backend is not None and not isinstance(backend, Float64Backend):
        raise TypeError("linear bounds need the float64 backend (use make_backend(network) without precision)")
    prep = _CACHE.get(net)
    if prep is None:
        prep = _Prepared(net, backend if backend is not None else make_backend(net))
        _CACHE[net] = prep
    return prep
