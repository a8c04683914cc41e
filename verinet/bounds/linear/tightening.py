"""Tightening: back-substituted pre-activation bounds, intersections of enclosures, boxes shrunk by the
halfspaces that sign constraints give (bounding boxes, Farkas certificates of emptiness).

Proofs referred to as "the module docstring" (the statement ``S_j`` and steps 1–7) are in the docstring
of :mod:`verinet.bounds.linear`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from intervals import rounding as R
from intervals.array import IntervalArray
from verinet.bounds.linear.backsub import _backsub, _start_rows
from verinet.bounds.linear.prep import _consts, _LayerPrep, _Prepared
from verinet.bounds.linear.relaxation import _Input


def _meet(a: IntervalArray, lo: np.ndarray, hi: np.ndarray, dead: np.ndarray | None = None) -> IntervalArray:
    """Intersection of two enclosures of the same values.

    Never empty unless a bound is unsound, or (with ``dead``, (B,) updated in place) unless the set they
    enclose is empty: the part of a box fixed by sign constraints. Such rows keep the values of ``a``.
    """
    nlo = np.maximum(a.lo, lo)
    nhi = np.minimum(a.hi, hi)
    empty = nlo > nhi
    if empty.any():
        if dead is None:
            raise RuntimeError("internal error: two enclosures of the same values do not intersect")
        rows = empty.reshape(len(dead), -1).any(axis=1)
        dead |= rows
        nlo = np.where(rows.reshape((-1,) + (1,) * (nlo.ndim - 1)), a.lo, nlo)
        nhi = np.where(rows.reshape((-1,) + (1,) * (nhi.ndim - 1)), a.hi, nhi)
    return IntervalArray.unchecked(nlo, nhi)


def _refine_mask(L: _LayerPrep, z: IntervalArray, last: bool, refine: str) -> np.ndarray:
    """(B, n_k) mask of the (box, neuron) pairs whose bounds are back-substituted."""
    if last or refine == "all":
        return np.ones(z.shape, dtype=bool)
    return L.act.impl.bounds_matter(z)  # e.g. unstable ReLUs: the only neurons whose relaxation uses l, u


def _refine_pre(prep: _Prepared, relax: list, inp: _Input, k: int, z: IntervalArray,
                mask: np.ndarray, ma_prev: np.ndarray, dead: np.ndarray | None = None) -> IntervalArray:
    """``z`` (layer ``k ≥ 1``) intersected with back-substituted bounds at the pairs of ``mask``."""
    B = z.shape[0]
    bb, rr = np.nonzero(mask)  # sorted by box
    T, acc = _start_rows(prep.layers[k], bb, rr, ma_prev)
    seg = np.zeros(B + 1, dtype=np.int64)
    np.cumsum(2 * np.bincount(bb, minlength=B), out=seg[1:])
    acc = _backsub(prep, relax, inp, k - 1, T, seg, acc)
    lo, hi = z.lo.copy(), z.hi.copy()
    lo[bb, rr] = np.maximum(lo[bb, rr], -acc[1::2])
    hi[bb, rr] = np.minimum(hi[bb, rr], acc[0::2])
    return _meet(z, lo, hi, dead)


def _tighten_by_signs(prep: _Prepared, relax: list, inp: _Input, k: int, z: IntervalArray, f: np.ndarray,
                      ma_prev: np.ndarray, xl: np.ndarray, xu: np.ndarray, dead: np.ndarray,
                      rows: list | None = None) -> bool:
    """Shrink the boxes ``[xl, xu]`` (in place) with the sign constraints ``f`` of layer ``k``.

    On the part where ``z_i ≥ 0``, back-substitution gives ``z_i(x) ≤ G x + c`` for every ``x`` of the box
    (``concretize=False``), so the part lies in the halfspace ``−G x ≤ c``; likewise ``−z_i ≤ G' x + c'``
    where ``z_i ≤ 0``. The bounding box of the box and these halfspaces (:func:`_tighten_box`) contains
    the part, so every later enclosure may be taken over it. Boxes emptied this way are marked ``dead``
    (and keep their corners). The halfspaces ``(A, d, box index)`` are appended to ``rows`` when given.
    Returns whether some box moved.
    """
    need = ((f > 0) & (z.lo < 0)) | ((f < 0) & (z.hi > 0))
    need &= ~dead[:, None]
    if not need.any():
        return False
    bb, rr = np.nonzero(need)  # sorted by box
    T, acc = _start_rows(prep.layers[k], bb, rr, ma_prev)
    if k > 0:
        seg = np.zeros(len(dead) + 1, dtype=np.int64)
        np.cumsum(2 * np.bincount(bb, minlength=len(dead)), out=seg[1:])
        T, acc = _backsub(prep, relax, inp, k - 1, T, seg, acc, concretize=False)
    up = f[bb, rr] > 0  # z ≥ 0: the row of +z (even); z ≤ 0: the row of −z (odd)
    G = np.where(up[:, None], T[0::2], T[1::2])
    c = np.where(up, acc[0::2], acc[1::2])
    old_lo, old_hi = xl.copy(), xu.copy()
    if rows is not None:
        rows.append((-G, c, bb))
    if not _tighten_box(-G, c, bb, xl, xu):
        return False
    empty = (xl > xu).any(axis=1)
    if empty.any():
        dead |= empty
        xl[empty], xu[empty] = old_lo[empty], old_hi[empty]
    return True


# directed scalar operations for compiled kernels, each the twin of one in intervals.rounding (round to
# nearest, then one ulp outward unless the result is proved exact: TwoSum for sums, a zero or infinite
# operand for products and quotients)


@njit(cache=True, fastmath=False, inline="always")
def _s_add_up(a, b):  # pragma: no cover - compiled
    s = a + b
    if np.isinf(a) or np.isinf(b):
        return s
    bb = s - a
    e = (a - (s - bb)) + (b - bb)  # TwoSum: a + b = s + e exactly when s is finite
    return s if (np.isfinite(s) and np.isfinite(e) and e <= 0) else np.nextafter(s, np.inf)


@njit(cache=True, fastmath=False, inline="always")
def _s_add_down(a, b):  # pragma: no cover - compiled
    return -_s_add_up(-a, -b)  # negation is exact


@njit(cache=True, fastmath=False, inline="always")
def _s_mul_up(a, b):  # pragma: no cover - compiled
    p = a * b
    if a == 0 or b == 0 or np.isinf(a) or np.isinf(b):
        return 0.0 if p == 0 else p
    return np.nextafter(p, np.inf)


@njit(cache=True, fastmath=False, inline="always")
def _s_mul_down(a, b):  # pragma: no cover - compiled
    p = a * b
    if a == 0 or b == 0 or np.isinf(a) or np.isinf(b):
        return 0.0 if p == 0 else p
    return np.nextafter(p, -np.inf)


@njit(cache=True, fastmath=False, inline="always")
def _s_div(a, b, upward):  # pragma: no cover - compiled
    q = a / b
    if a == 0 or np.isinf(a) or np.isinf(b):
        return 0.0 if q == 0 else q
    return np.nextafter(q, np.inf if upward else -np.inf)


@njit(cache=True, fastmath=False)
def _tighten_box_kernel(A, d, bb, xl, xu, gam, inv):  # pragma: no cover - compiled
    """:func:`_tighten_box` (its docstring has the rounding argument); every row reads the boxes as they
    were on entry. Returns how many bounds moved."""
    Q, n = A.shape
    lo0 = xl.copy()
    hi0 = xu.copy()
    m_up = np.empty(n)
    for q in range(Q):
        b = bb[q]
        ok = np.isfinite(d[q])
        S_dn = 0.0
        E = 0.0
        for j in range(n):
            a = A[q, j]
            ok = ok and np.isfinite(a)
            m_dn = min(_s_mul_down(a, lo0[b, j]), _s_mul_down(a, hi0[b, j]))
            m_up[j] = min(_s_mul_up(a, lo0[b, j]), _s_mul_up(a, hi0[b, j]))
            ok = ok and np.isfinite(m_up[j])
            S_dn += m_dn
            E += abs(m_dn)
        err = _s_mul_up(gam, _s_mul_up(E, inv))
        S = _s_add_down(S_dn, -err)  # ≤ Σ_l m_l
        if not (ok and np.isfinite(S)):
            continue
        for j in range(n):
            a = A[q, j]
            if a == 0:
                continue
            rest = _s_add_down(S, -m_up[j])  # ≤ Σ_{l≠j} m_l
            r = _s_add_up(d[q], -rest)  # ≥ A_j x_j
            if not np.isfinite(r):
                continue
            if a > 0:
                xu[b, j] = min(xu[b, j], _s_div(r, a, True))
            else:
                xl[b, j] = max(xl[b, j], _s_div(r, a, False))
    moved = 0
    for b in range(xl.shape[0]):
        for j in range(n):
            moved += (xl[b, j] != lo0[b, j]) + (xu[b, j] != hi0[b, j])
    return moved


def _tighten_box(A: np.ndarray, d: np.ndarray, bb: np.ndarray, xl: np.ndarray, xu: np.ndarray) -> int:
    """Shrink the boxes ``[xl, xu]`` (B, n), in place, to the bounding boxes of their intersections with
    the halfspaces ``A[q]·x ≤ d[q]`` (of box ``bb[q]``); returns how many bounds moved.

    For coordinate ``j``: ``A_j x_j ≤ d − Σ_{l≠j} A_l x_l ≤ d − Σ_{l≠j} m_l`` with ``m_l = min(A_l lo_l,
    A_l hi_l)`` the least value over the box. Rounding (two lines): ``S = Σ_l m_l`` is bounded below by
    ``fl(Σ m̌_l) − γ_n Σ|m̌_l|`` (Higham Thm 3.5 on the rounded-down products ``m̌_l``; sums of floats have no
    underflow error), and ``Σ_{l≠j} m_l ≥ S − m̂_j`` with ``m̂_j ≥ m_j`` rounded up; each step is
    directed, and the division by ``A_j`` rounds up (``A_j > 0``: an upper end) or down (``A_j < 0``).
    Rows with a non-finite entry are skipped (no information). An emptied box has ``xl > xu`` somewhere.
    """
    gam, inv, _ = _consts(xl.shape[1])
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        return int(_tighten_box_kernel(np.ascontiguousarray(A, dtype=np.float64),
                                       np.ascontiguousarray(d, dtype=np.float64),
                                       np.ascontiguousarray(bb, dtype=np.int64), xl, xu, gam, inv))


def _farkas_empty(rows: list, xl: np.ndarray, xu: np.ndarray, dead: np.ndarray, iters: int = 60) -> np.ndarray:
    """Boxes (B,) proved to have no point satisfying all their halfspaces ``A·x ≤ d`` (``rows``: a list of
    ``(A (Q, n), d (Q,), box index (Q,))``).

    Search (float, heuristic): multipliers ``λ ≥ 0`` on the simplex maximising the concave function
    ``φ(λ) = min_{x ∈ box} Σ_i λ_i (a_i·x − d_i)`` by exponentiated supergradient ascent (rows scaled to
    unit norm). Proof: if ``φ(λ) > 0`` then no ``x`` of the box satisfies all ``a_i·x ≤ d_i`` (summing them
    with weights ``λ_i ≥ 0`` gives ``Σ λ_i (a_i·x − d_i) ≤ 0``) — Farkas' lemma; a box is claimed empty
    only when a rigorous lower bound of ``φ`` (:func:`_farkas_lower`, directed rounding) is positive.
    """
    A = np.concatenate([r[0] for r in rows])
    d = np.concatenate([r[1] for r in rows])
    bb = np.concatenate([r[2] for r in rows])
    keep = ~dead[bb] & np.isfinite(d) & np.isfinite(A).all(axis=1)
    A, d, bb = A[keep], d[keep], bb[keep]
    out = np.zeros(len(dead), dtype=bool)
    if len(bb) < 2:
        return out
    order = np.argsort(bb, kind="stable")  # rows grouped by box (they come layer by layer)
    A, d, bb = A[order], d[order], bb[order]
    boxes, start, count = np.unique(bb, return_index=True, return_counts=True)
    sel = count >= 2  # one halfspace alone is handled exactly by _tighten_box
    if not sel.any():
        return out
    group = np.repeat(np.arange(len(boxes)), count)  # each row's box (among the unique ones)
    pos = np.arange(len(bb)) - np.repeat(start, count)  # each row's place within its box
    boxes, count = boxes[sel], count[sel]
    mine = sel[group]
    slot = (np.cumsum(sel) - 1)[group[mine]]
    Bn, Qm, n = len(boxes), int(count.max()), A.shape[1]
    As = np.zeros((Bn, Qm, n))
    ds = np.zeros((Bn, Qm))
    live = np.zeros((Bn, Qm), dtype=bool)
    As[slot, pos[mine]], ds[slot, pos[mine]], live[slot, pos[mine]] = A[mine], d[mine], True
    with np.errstate(all="ignore"):
        nrm = np.linalg.norm(As, axis=2)
        scale = np.where(nrm > 0, 1.0 / np.where(nrm > 0, nrm, 1.0), 0.0)
        An, dn = As * scale[:, :, None], ds * scale
        lo, hi = xl[boxes], xu[boxes]
        width = np.linalg.norm(hi - lo, axis=1) + 1e-300
    best, best_lam = _farkas_search(An, dn, live, count, lo, hi, width, iters)
    cand = np.flatnonzero(best > 0)
    if len(cand):
        proved = _farkas_lower(best_lam[cand] * scale[cand], As[cand], ds[cand], lo[cand], hi[cand]) > 0
        out[boxes[cand[proved]]] = True
    return out


@njit(cache=True, fastmath=False)
def _farkas_search(An, dn, live, count, lo, hi, width, iters):  # pragma: no cover
    """Float search behind :func:`_farkas_empty` (heuristic: only its result's check is rigorous).

    Per box ``b`` (rows ``An[b, :count[b]]`` of unit norm): exponentiated supergradient ascent of
    ``φ(λ) = min_{x ∈ box} Σ_i λ_i (a_i·x − d_i)`` on the simplex; returns the best ``φ`` (B,) and its ``λ``
    (B, Q). A box stops when ``φ > 0`` (a candidate) or when the minimiser ``x`` satisfies every row with a
    margin: then the system has a point and no ``λ`` can give ``φ > 0``."""
    Bn, Qm, n = An.shape
    best = np.full(Bn, -np.inf)
    best_lam = np.zeros((Bn, Qm))
    lam = np.zeros(Qm)
    cvec = np.zeros(n)
    x = np.zeros(n)
    g = np.zeros(Qm)
    for b in range(Bn):
        Q = count[b]
        for q in range(Q):
            lam[q] = 1.0 / Q
        xmax = 0.0
        for j in range(n):
            xmax = max(xmax, abs(lo[b, j]), abs(hi[b, j]))
        margin = 1e-9 * (1.0 + xmax)
        for _ in range(iters):
            for j in range(n):
                cvec[j] = 0.0
            for q in range(Q):
                for j in range(n):
                    cvec[j] += lam[q] * An[b, q, j]
            for j in range(n):
                x[j] = lo[b, j] if cvec[j] > 0 else hi[b, j]
            phi = 0.0
            gmax = -np.inf
            for q in range(Q):
                t = -dn[b, q]
                for j in range(n):
                    t += An[b, q, j] * x[j]
                g[q] = t
                phi += lam[q] * t
                gmax = max(gmax, t)
            if phi > best[b]:
                best[b] = phi
                for q in range(Q):
                    best_lam[b, q] = lam[q]
            if best[b] > 0 or gmax < -margin:
                break
            tot = 0.0
            for q in range(Q):
                e = min(max(4.0 * g[q] / width[b], -30.0), 30.0)
                lam[q] = lam[q] * np.exp(e) if live[b, q] else 0.0
                tot += lam[q]
            tot = max(tot, 1e-300)
            for q in range(Q):
                lam[q] /= tot
    return best, best_lam


def _farkas_lower(lam: np.ndarray, A: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Lower bounds (B,) of ``Φ = min_{x ∈ [lo, hi]} Σ_i λ_i (a_i·x − d_i)`` for floats ``λ ≥ 0`` (B, Q),
    ``A`` (B, Q, n), ``d`` (B, Q) and boxes (B, n) (``−inf`` when nothing is proved).

    Rounding (two lines each): ``c = λᵀA`` is enclosed by ``ĉ ± (γ_Q Σ_i|λ_i a_ij| + Qη)`` (Higham Thm 3.5
    with an underflow term per product; the computed ``Σ|λa|`` is scaled by ``1/(1 − γ_Q)``), and the
    minimum of ``c_j x_j`` over both intervals is at a corner, each corner product rounded down;
    ``Σ_j`` of those minima is bounded below and ``Σ λ_i d_i`` above by the same a-priori bound.
    """
    Q, n = A.shape[1], A.shape[2]
    gq, iq, nq = _consts(Q)
    gn, in_, _ = _consts(n)
    with np.errstate(all="ignore"):
        c = np.einsum("bq,bqn->bn", lam, A)
        err = R.add_up(R.mul_up(gq, R.mul_up(np.einsum("bq,bqn->bn", lam, np.abs(A)), iq)), nq)
        c_lo, c_hi = R.sub_down(c, err), R.add_up(c, err)
        m = np.minimum(np.minimum(R.mul_down(c_lo, lo), R.mul_down(c_lo, hi)),
                       np.minimum(R.mul_down(c_hi, lo), R.mul_down(c_hi, hi)))
        S = R.sub_down(m.sum(axis=1), R.mul_up(gn, R.mul_up(np.abs(m).sum(axis=1), in_)))
        D = (lam * d).sum(axis=1)
        D_err = R.add_up(R.mul_up(gq, R.mul_up(np.abs(lam * d).sum(axis=1), iq)), nq)
        phi = R.sub_down(S, R.add_up(D, D_err))
    ok = np.isfinite(phi) & (lam >= 0).all(axis=1) & np.isfinite(lam).all(axis=1)
    return np.where(ok, phi, -np.inf)
