"""Compiled (Numba) kernels of :mod:`verinet.activations.relu`, in their own module so that importing the
activations (every model loader does) does not import Numba."""

from __future__ import annotations

import numpy as np
from numba import njit

from intervals.directed import down, up

__all__ = ["kinked_lines", "offset_down", "offset_up"]


@njit(cache=True, fastmath=False, inline="always")
def offset_up(s, t, b):  # pragma: no cover - compiled
    """A float ``≥ t + s·b`` (exact, not stepped, when ``s ∈ {0, 1}`` and ``t = 0``)."""
    p = 0.0 if (s == 0.0 or b == 0.0) else (b if s == 1.0 else up(s * b))
    return p if t == 0.0 else (t if p == 0.0 else up(t + p))


@njit(cache=True, fastmath=False, inline="always")
def offset_down(s, t, b):  # pragma: no cover - compiled
    """A float ``≤ t + s·b`` (exact, not stepped, when ``s ∈ {0, 1}`` and ``t = 0``)."""
    p = 0.0 if (s == 0.0 or b == 0.0) else (b if s == 1.0 else down(s * b))
    return p if t == 0.0 else (t if p == 0.0 else down(t + p))


@njit(cache=True, fastmath=False)
def kinked_lines(zl, zu, Ahi, alo, ahi, blo, bhi, sU, sL, kU, kL):  # pragma: no cover - compiled
    """The lines of :meth:`LeakyReLU.relax_f64` (proofs there), elementwise over (B, n), with the offsets
    ``k_U ≥ t_U + s_U b_hi`` and ``k_L ≤ t_L + s_L b_lo``. ``up``/``down`` bound the exact value of the
    round-to-nearest operation they wrap; products or sums proved exact are not stepped."""
    B, n = zl.shape
    for b in range(B):
        for i in range(n):
            l = zl[b, i]
            u = zu[b, i]
            tu = 0.0
            tl = 0.0
            if l >= 0.0:  # active: σ(z) = z
                su = 1.0
                sl = 1.0
            elif u <= 0.0:  # inactive: α_hi z ≤ α z ≤ α_lo z for z ≤ 0
                su = alo
                sl = ahi
            else:  # unstable
                sl = 1.0 if u >= -l else ahi
                ok = np.isfinite(l) and np.isfinite(u)
                s = 1.0
                t = np.inf
                if ok:
                    s = (u - alo * l) / (u - l)  # a guess of the chord slope: t makes any s valid
                    if not np.isfinite(s):
                        s = 1.0
                    s = min(max(s, 0.0), 1.0)
                    sig = 0.0 if alo == 0.0 else up(alo * l)  # ≥ σ(l) = α l  (l < 0, α ≥ α_lo)
                    t = max(up(sig - down(s * l)), up(u - down(s * u)))  # ≥ σ(l) − s l and σ(u) − s u
                if ok and np.isfinite(t):
                    su = s
                    tu = t
                else:  # overflowed bounds: constant line at the interval bound of σ
                    su = 0.0
                    tu = Ahi[b, i]
            kU[b, i] = offset_up(su, tu, bhi[i])
            kL[b, i] = offset_down(sl, tl, blo[i])
            sU[b, i] = su
            sL[b, i] = sl
