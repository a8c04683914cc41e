"""Back-substitution: the compiled step through one layer (steps 1–5), the concretisation over the input
box (step 6), the split multipliers of β-CROWN (step 7) and the rows of ``±z_i`` it starts from.

Proofs referred to as "the module docstring" (the statement ``S_j`` and steps 1–7) are in the docstring
of :mod:`verinet.bounds.linear`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from intervals import rounding as R
from intervals.directed import down, up
from verinet.bounds.linear.prep import _LayerPrep, _Prepared
from verinet.bounds.linear.relaxation import _Input, _nonneg_matvec_up


@njit(cache=True, fastmath=False)
def _relax_step(T, seg, sU, sL, kU, kL, w, scal, gam, inv, neta, Lt, acc):  # pragma: no cover
    """One back-substitution step through the activation and the bias of a layer ``j`` (steps 1–5).

    Rows of ``T`` (shape (P, n_j)) are the coefficient vectors ``Γ`` of (box, row) pairs sorted by box:
    box ``b`` owns rows ``seg[b]:seg[b+1]``. Writes ``Lt = fl(Γ ⊙ s)`` and adds to ``acc[p]`` an upper
    bound of ``Σ Γ_i k_i + Σ |Λ̂_i| w_i + σ``. A row whose ``acc`` is ``+inf`` is dead: its coefficients
    are zeroed so that the next GEMM sees finite numbers. ``gam, inv, neta``: ``γ_n, 1/(1 − γ_n), nη``
    rounded up. The selects below compile to branch-free code (a sign pattern is data, not control).
    Returns True when some live output coefficient is nonzero.
    """
    n = T.shape[1]
    nonzero = False
    for b in range(seg.shape[0] - 1):
        su = sU[b]
        sl_ = sL[b]
        ku = kU[b]
        kl = kL[b]
        wb = w[b]
        for p in range(seg[b], seg[b + 1]):
            Tp = T[p]
            Lp = Lt[p]
            c = 0.0  # Σ Γ_i k_i (round-to-nearest)
            s = 0.0  # Σ |Γ_i k_i|
            e = 0.0  # Σ |Λ̂_i| w_i
            chk = 0.0  # Σ Γ_i·0: 0 for finite coefficients, NaN as soon as one is inf/NaN
            na = 0.0  # Σ |Λ̂_i|: zero iff the output row is zero
            for i in range(n):
                g = Tp[i]
                pos = g >= 0.0  # Γ_i ≥ 0: the upper line bounds Γ_i a_i from above; else the lower one
                sl = su[i] if pos else sl_[i]
                k = ku[i] if pos else kl[i]
                lam = g * sl
                Lp[i] = lam
                al = abs(lam)
                t = g * k
                if g == 0.0:  # exact 0 (k may be infinite: never 0·inf)
                    t = 0.0
                ew = al * wb[i]
                if al == 0.0:
                    ew = 0.0
                c += t
                s += abs(t)
                e += ew
                chk += g * 0.0
                na += al
            if acc[p] != np.inf and chk == 0.0 and np.isfinite(c) and np.isfinite(s) and np.isfinite(e):
                rho = up(up(gam * up(up(s + neta) * inv)) + neta)  # ≥ γ_n S + nη
                ebound = up(up(e + neta) * inv)  # ≥ exact Σ |Λ̂_i| w_i (non-negative terms)
                acc[p] = up(acc[p] + up(up(c + rho) + up(ebound + scal[b])))
                if na != 0.0:
                    nonzero = True
            else:
                acc[p] = np.inf
                for i in range(n):
                    Lp[i] = 0.0
    return nonzero


@njit(cache=True, fastmath=False)
def _concretize(T, seg, xm, ax, inv, neta, acc):  # pragma: no cover - compiled
    """Add to ``acc[p]`` an upper bound of ``G x`` over the input box ``⟨xm, xr⟩``, ``ax ≥ xr + γ_n|xm|``.

    ``G`` is row ``p`` of ``T`` (step 6): ``G x ≤ ĉ + |G| ax + nη``, ``|G| ax ≤ (ŝ + nη)/(1 − γ_n)``.
    """
    n = T.shape[1]
    for b in range(seg.shape[0] - 1):
        m = xm[b]
        a = ax[b]
        for p in range(seg[b], seg[b + 1]):
            Tp = T[p]
            c = 0.0
            s = 0.0
            chk = 0.0
            for l in range(n):
                g = Tp[l]
                c += g * m[l]
                s += abs(g) * a[l]
                chk += g * 0.0
            if acc[p] != np.inf and chk == 0.0 and np.isfinite(c) and np.isfinite(s):
                rho = up(up(up(s + neta) * inv) + neta)
                acc[p] = up(acc[p] + up(c + rho))
            else:
                acc[p] = np.inf


def _backsub(prep: _Prepared, relax: list, inp: _Input, j0: int, T: np.ndarray, seg: np.ndarray,
             acc: np.ndarray, concretize: bool = True, multipliers: list | None = None):
    """Upper bounds of ``Γ a_{j0} + acc`` per row, updated in place in ``acc`` (P,).

    ``T`` (P, n_{j0}) holds one ``Γ`` per row; ``seg`` (B+1,) the row range of each box. With
    ``concretize=False`` returns ``(G, acc)`` instead: the statement ``S_{−1}`` of the module docstring,
    ``Γ a_{j0}(x) + acc_in ≤ G x + acc`` for every real ``x`` of the box (``G`` the exact values of the
    floats returned; a row with ``acc = +inf`` says nothing). ``multipliers[j]`` (None or (P, n_j) floats
    ``E``): split terms added to the coefficients of ``z_j`` (step 7); the bounds then hold on the part of
    each box where ``E_i z_i ≥ 0`` for every ``i`` (the caller's sign constraints).
    """
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for j in range(j0, -1, -1):
            L = prep.layers[j]
            rx = relax[j]
            Lt = np.empty(T.shape)
            nonzero = _relax_step(T, seg, rx.sU, rx.sL, rx.kU, rx.kL, rx.w, rx.scal,
                                  L.gam_out, L.inv_out, L.neta_out, Lt, acc)
            if multipliers is not None and multipliers[j] is not None:
                w_rows = np.repeat(rx.w, np.diff(seg), axis=0)
                nonzero = _split_terms(Lt, multipliers[j], w_rows, L, acc) or nonzero
            if not nonzero:  # every live coefficient is exactly 0: nothing more to add
                return acc if concretize else (np.zeros((T.shape[0], prep.network.n_inputs)), acc)
            T = Lt @ L.Wm  # (P, n_j) @ (n_j, n_{j−1}): one GEMM for all boxes and rows
        if not concretize:
            return T, acc
        _concretize(T, seg, inp.xm, inp.ax, prep.inv0, prep.neta0, acc)
    return acc


def _split_terms(Lt: np.ndarray, E: np.ndarray, w_rows: np.ndarray, L: _LayerPrep, acc: np.ndarray) -> bool:
    """Step 7 of the module docstring, in place: ``Lt ← fl(Lt + E)`` and ``acc`` raised by an upper bound
    of ``Σ D_i b_i + Σ |D_i| w_i`` with ``D = fl(Lt + E) − Lt`` (exact). Non-finite ``E`` entries count as 0;
    a row whose terms are not finite becomes dead (``acc = +inf``, coefficients 0). Returns whether some live
    coefficient is nonzero.

    Rounding (two lines each): ``D ∈ [down(d), up(d)]`` with ``d = fl(M̂ − Λ̂)`` (``d = 0`` only when ``D = 0``:
    gradual underflow) and ``D_i b_i`` is bilinear, so its maximum over that box and ``[b_lo, b_hi]`` is at a
    corner, each corner product rounded up. A sum of
    ``n_j`` floats ``t`` (no products, so no underflow) has ``|Σt − fl(Σt)| ≤ γ_n Σ|t|`` and
    ``Σ|t| ≤ fl(Σ|t|)/(1 − γ_n)`` (Higham Thm 3.5, any order): the kernel's ``γ_n S + nη`` over-covers it.
    The upward rounding of the corner products is a second margin, not needed: a nearest-rounded product
    obeys ``p ≤ t + u|t| + η/2``, which that term covers too. The step that must round up is the last one,
    ``acc ← up(acc + add)`` (``tests/verinet/test_beta.py`` fails when it rounds to nearest).
    """
    E = np.ascontiguousarray(E, dtype=np.float64)
    w_rows = np.ascontiguousarray(w_rows, dtype=np.float64)
    return _split_kernel(Lt, E, w_rows, np.ascontiguousarray(L.blo, dtype=np.float64),
                         np.ascontiguousarray(L.bhi, dtype=np.float64), L.gam_out, L.inv_out, L.neta_out, acc)


@njit(cache=True, fastmath=False)
def _split_kernel(Lt, E, w, blo, bhi, gam, inv, neta, acc):  # pragma: no cover - compiled
    """The loop of :func:`_split_terms` (proof there), in place. ``up``/``down`` bound the exact value of the
    round-to-nearest result they wrap (:mod:`intervals.directed`); an entry with ``E_i = 0`` (or non-finite,
    counted as 0) leaves ``M̂_i = Λ̂_i`` exactly, so ``D_i = 0`` and it adds nothing."""
    P, n = Lt.shape
    nonzero = False
    for p in range(P):
        c = 0.0  # Σ t_i, t_i ≥ max over the corners of D_i b_i
        s = 0.0  # Σ |t_i|
        es = 0.0  # Σ e_i, e_i ≥ |D_i| w_i
        finite = True
        for i in range(n):
            e = E[p, i]
            if e == 0.0 or not np.isfinite(e):
                continue
            lt = Lt[p, i]
            m = lt + e  # round to nearest: monotone, so m − lt has the sign of e (or is 0)
            if not np.isfinite(m):
                finite = False
                continue
            d = m - lt
            if d == 0.0:  # RN of the exact difference is 0 only when it is exactly 0 (no underflow in a sum)
                continue
            dlo = down(d)  # ≤ D_i = m − lt (exact real) ≤ dhi
            dhi = up(d)
            t = -np.inf
            for dd in (dlo, dhi):
                for bb in (blo[i], bhi[i]):
                    q = 0.0 if (dd == 0.0 or bb == 0.0) else up(dd * bb)
                    t = max(t, q)
            dmax = max(abs(dlo), abs(dhi))
            wi = w[p, i]
            ew = 0.0 if (dmax == 0.0 or wi == 0.0) else up(dmax * wi)
            c += t
            s += abs(t)
            es += ew
        ok = finite and np.isfinite(c) and np.isfinite(s) and np.isfinite(es) and np.isfinite(acc[p])
        if ok:
            rho = up(up(gam * up(up(s + neta) * inv)) + neta)  # ≥ γ_n S + nη
            ebound = up(up(es + neta) * inv)  # ≥ exact Σ |D_i| w_i (non-negative terms)
            add = up(up(c + rho) + ebound)
            ok = np.isfinite(add)
            if ok:
                acc[p] = up(acc[p] + add)
                ok = np.isfinite(acc[p])
        if not ok:
            acc[p] = np.inf
            for i in range(n):
                Lt[p, i] = 0.0
            continue
        for i in range(n):
            e = E[p, i]
            if e != 0.0 and np.isfinite(e):
                Lt[p, i] = Lt[p, i] + e
            if Lt[p, i] != 0.0:
                nonzero = True
    return nonzero


def _start_rows(L: _LayerPrep, bb: np.ndarray, rr: np.ndarray, ma_prev: np.ndarray):
    """Coefficients (2Q, n_in) and offsets (2Q,) of ``+z_i`` and ``−z_i`` (rows 2q, 2q+1) for the pairs
    ``(bb[q], rr[q])``, in terms of ``a = a_{k−1}``:
    ``±z_i = ±Wm_i a ± b_i ± (W − Wm)_i a ≤ ±Wm_i a + (b_hi | −b_lo)_i + (Wr ma)_i``.
    """
    Q = bb.size
    T = np.empty((2 * Q, L.n_in))
    T[0::2] = L.Wm[rr]
    T[1::2] = -L.Wm[rr]
    acc = np.empty(2 * Q)
    acc[0::2] = L.bhi[rr]
    acc[1::2] = -L.blo[rr]
    if L.WrT is not None:
        wrma = _nonneg_matvec_up(ma_prev, L.WrT, L.inv_in, L.neta_in)  # (B, n_k) ≥ Wr ma
        acc = R.add_up(acc, np.repeat(wrma[bb, rr], 2))
    return T, np.ascontiguousarray(acc, dtype=np.float64)
