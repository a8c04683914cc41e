"""Per-box data of the back-substitution: the input boxes as midpoint and radius, and per layer the
relaxation lines (from the activation classes, :meth:`verinet.activations.ActivationFn.relax_f64`) with
the layer's error weights.

Proofs referred to as "the module docstring" (the statement ``S_j`` and steps 1–7) are in the docstring
of :mod:`verinet.bounds.linear`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from intervals import rounding as R
from intervals.array import IntervalArray
from intervals.directed import mid_rad_a, up
from verinet.bounds.linear.prep import _U, _LayerPrep, _Prepared


@dataclass
class _Input:
    xm: np.ndarray  # (B, n) midpoints
    ax: np.ndarray  # (B, n) ≥ xr + γ_n |xm|
    ma: np.ndarray  # (B, n) ≥ |x|


@dataclass
class _Relax:
    """Per-box data of one layer ``j`` for :func:`_relax_step`, each (B, n_j) unless noted."""

    sU: np.ndarray  # upper-line slopes (≥ 0)
    sL: np.ndarray  # lower-line slopes (≥ 0)
    kU: np.ndarray  # ≥ t_U + s_U b_hi
    kL: np.ndarray  # ≤ t_L + s_L b_lo
    w: np.ndarray  # ≥ γ_{n_j}(|Wm| ma)_i + (Wr ma)_i + u h_i
    scal: np.ndarray  # (B,) ≥ η/2 Σ h + n_j η Σ ma


def _input_data(prep: _Prepared, xl: np.ndarray, xu: np.ndarray) -> _Input | None:
    """Midpoint/radius data of the input boxes, or None when an endpoint is infinite."""
    xm = np.empty(xl.shape)
    ax = np.empty(xl.shape)
    if not mid_rad_a(xl.reshape(-1), xu.reshape(-1), prep.gam0, xm.reshape(-1), ax.reshape(-1)):
        return None
    return _Input(xm, ax, np.maximum(np.abs(xl), np.abs(xu)))


def _nonneg_matvec_up(v: np.ndarray, MT: np.ndarray, inv: float, neta: float) -> np.ndarray:
    """Upper bound of ``v @ MT`` for ``v ≥ 0`` (``+inf`` allowed, ``0·inf = 0``) and finite ``MT ≥ 0``.

    Non-negative terms: ``|ŝ − S| ≤ γ_n S + nη`` gives ``S ≤ (ŝ + nη)/(1 − γ_n)``; each step rounded up.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(v).all():
            s = v @ MT
        else:  # rare path (overflowed bounds): exact zero weights contribute exactly 0
            prod = v[:, :, None] * MT[None, :, :]  # (B, n_in, n_out)
            s = np.where(MT[None, :, :] == 0.0, 0.0, prod).sum(axis=1)
        return R.next_up(R.next_up(s + neta) * inv)


@njit(cache=True, fastmath=False)
def _weights(gma, wrma, gam, scal_k, mamax, w, scal):  # pragma: no cover - compiled
    """Error weights of :func:`_relaxation` (steps 3–5 of the module docstring), elementwise over (B, n):
    ``w ≥ γ_{n_j}(|Wm| ma)_i + (Wr ma)_i + u h_i`` and ``scal ≥ η/2 Σ h + n_j η Σ ma`` (as
    ``scal_k·max(h, ma)``).
    ``up`` bounds the exact value of the round-to-nearest operation it wraps; zero terms are not stepped.
    """
    B, n = gma.shape
    for b in range(B):
        hmax = 0.0
        for i in range(n):
            g = gma[b, i]
            wr = wrma[b, i] if wrma.shape[0] > 0 else 0.0
            h = g if wr == 0.0 else up(g + wr)  # ≥ (|Wm| + Wr) ma
            w1 = up(gam * g) if g != 0.0 else 0.0
            w1 = w1 if wr == 0.0 else up(w1 + wr)
            w[b, i] = w1 if h == 0.0 else up(w1 + up(_U * h))
            hmax = max(hmax, h)
        scal[b] = up(scal_k * max(hmax, mamax[b]))


_NO_ARRAY = np.empty((0, 0))


def _relaxation(L: _LayerPrep, Z: IntervalArray, A: IntervalArray, ma_prev: np.ndarray) -> _Relax:
    """Lines ``s_L z + t_L ≤ σ(z) ≤ s_U z + t_U`` on every pre-activation interval ``[l, u]`` of ``Z``.

    The lines and the offsets ``k`` of step 2 (module docstring) are the activation's
    (:meth:`verinet.activations.ActivationFn.relax_f64`, proofs there; ``A`` encloses ``σ(Z)``); the error
    weights ``w``, ``σ`` of steps 3–5 are the layer's, from ``ma_prev ≥ |a_{j−1}|`` (:func:`_weights`).
    """
    gma = np.ascontiguousarray(_nonneg_matvec_up(ma_prev, L.absWmT, L.inv_in, L.neta_in))  # ≥ |Wm| ma
    wrma = _NO_ARRAY if L.WrT is None else np.ascontiguousarray(_nonneg_matvec_up(ma_prev, L.WrT, L.inv_in,
                                                                                  L.neta_in))  # ≥ Wr ma
    zl = np.ascontiguousarray(Z.lo, dtype=np.float64)
    zu = np.ascontiguousarray(Z.hi, dtype=np.float64)
    Alo = np.ascontiguousarray(A.lo, dtype=np.float64)
    Ahi = np.ascontiguousarray(A.hi, dtype=np.float64)
    w = np.empty(zl.shape)
    scal = np.empty(zl.shape[0])
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        sU, sL, kU, kL = L.act.impl.relax_f64(zl, zu, Alo, Ahi, (L.alo, L.ahi), L.blo, L.bhi)
        _weights(gma, wrma, L.gam_out, L.scal_k, np.ascontiguousarray(ma_prev.max(axis=-1)), w, scal)
    return _Relax(sU, sL, kU, kL, w, scal)
