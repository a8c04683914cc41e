"""The checker's own screening kernel: interval enclosures of many leaves at once in double-double
arithmetic with a rigorous error bound.

Part of the independent checker (:mod:`verinet.evidence.checker`): written for it, sharing no code with the fast
path. Exact rational arithmetic costs about 100 µs per leaf of a tiny network in Python; a million leaves
would take minutes. This kernel evaluates the same enclosures (forward intervals; reverse-mode
Clarke-gradient enclosure with the ReLU slope sets ``{0}``, ``{1}``, ``[0, 1]``, leaky ``{α}``, ``[α, 1]``;
fixed signs) for a whole batch with numpy. A leaf it confirms is confirmed for the exact semantics; a leaf
it cannot confirm is re-verified in exact rationals by the caller, so the answer never depends on this
kernel, only the speed does.

Why double-double: the search records each leaf's bound rounded outward by the float64 error of its own
computation, a few ulps above the exact value. A float64 recomputation with its own a-priori error bound
lands a few ulps higher still and cannot confirm it. Here every endpoint is a pair ``h + l`` (Dekker 1971;
the algorithms and error bounds of Joldes, Muller & Popescu, *ACM TOMS* 44(2), 2017: ``TwoSum``,
``TwoProd`` by Veltkamp splitting, DWPlusDW with relative error ≤ 3u², DWTimesDW ≤ 6u², ``u = 2⁻⁵³``) with a
separate float64 bound ``E`` of its distance to the exact endpoint, so the result is within about ``2⁻¹⁰⁰``
relative of the exact enclosure.

Error bookkeeping (each step, with the proof in the comment beside it): an interval endpoint is
``(h, l, E)`` meaning that the exact endpoint lies within ``E`` of ``h + l``. ReLU, leaky ReLU (``α ≤ 1``),
``min(·, 0)`` and ``max(·, 0)`` are 1-Lipschitz, so they keep ``E``. A sum ``Σ_j w_j x_j + b`` of ``T`` dd
products adds ``Σ|w_j|·E_j`` (propagated) and at most ``(6 + 3T)·u²·Σ|w_j x_j|`` (rounding) plus
``T·2⁻¹⁰⁰⁰`` (underflow of the error terms); we add twice that. Anything that overflows becomes NaN or
infinity, which no test accepts.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["FloatNet", "float_down", "float_up", "norm_upper"]

_U2 = 2.0 ** -106  # u²
_TINY = 2.0 ** -1000  # absolute allowance for underflow (≥ any count of 2⁻¹⁰⁷⁴ terms we ever sum)
_UP = 1.0 + 2.0 ** -40  # inflates float sums of non-negative error terms (each rounding ≤ 2⁻⁵³ relative)
_SPLIT = 134217729.0  # 2²⁷ + 1 (Veltkamp)
_INF = np.inf


def float_down(q: Fraction) -> float:
    """The largest float64 ≤ ``q`` (OverflowError beyond the float range)."""
    f = float(q)
    return float(np.nextafter(f, -_INF)) if Fraction(f) > q else f


def float_up(q: Fraction) -> float:
    """The smallest float64 ≥ ``q``."""
    f = float(q)
    return float(np.nextafter(f, _INF)) if Fraction(f) < q else f


def _dd(q: Fraction) -> tuple[float, float]:
    """``q`` as a double-double ``h + l`` (``|q − h − l| ≤ 2⁻⁵³·|l|``: l is the float nearest ``q − h``)."""
    h = float(q)
    return h, float(q - Fraction(h))


# ---------------------------------------------------------------------------------- error-free transforms
def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)  # s + e = a + b exactly (Knuth)


def _fast_two_sum(a, b):  # |a| ≥ |b| (or a = 0): s + e = a + b exactly (Dekker)
    s = a + b
    return s, b - (s - a)


def _split(a):
    t = _SPLIT * a
    h = t - (t - a)
    return h, a - h


def _two_prod(a, b):
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl  # p + e = a·b exactly (no over/underflow)


def _add(xh, xl, yh, yl):
    """DWPlusDW (accurate version): relative error ≤ 3u² + 13u³."""
    s, e = _two_sum(xh, yh)
    t, f = _two_sum(xl, yl)
    e = e + t
    s, e = _fast_two_sum(s, e)
    e = e + f
    return _fast_two_sum(s, e)


def _mul(xh, xl, yh, yl, x_split=None):
    """DWTimesDW: relative error ≤ 6u² (the dropped ``xl·yl`` included). ``x_split``: Veltkamp's split of
    ``xh`` when it is already known (weights: split once)."""
    if x_split is None:
        p, e = _two_prod(xh, yh)
    else:
        p = xh * yh
        ah, al = x_split
        bh, bl = _split(yh)
        e = ((ah * bh - p) + ah * bl + al * bh) + al * bl  # TwoProd with the stored split
    e = e + (xh * yl + xl * yh)
    return _fast_two_sum(p, e)


def _lower_float(h, l, E):
    """A float ≤ the exact value when that lies within E of ``h + l`` (``h − (|l| + E)`` rounded down: the
    subtrahend is raised by 2⁻⁴⁰ to cover its two roundings, the subtraction stepped down once)."""
    return np.nextafter(h - (np.abs(l) + E) * _UP, -_INF)


def _upper_float(h, l, E):
    return np.nextafter(h + (np.abs(l) + E) * _UP, _INF)


class FloatNet:
    """A network of :class:`verinet.evidence.checker._ExactLayer` in double-double (weights to about 2⁻¹⁰⁶).

    Raises OverflowError when a weight is beyond the float64 range (the caller then checks exactly).
    """

    def __init__(self, layers) -> None:
        self.layers = []
        for L in layers:
            W = [[_dd(Fraction(w, L.den)) for w in row] for row in L.Wn]
            b = [_dd(Fraction(v, L.den)) for v in L.bn]
            Wh = np.array([[p[0] for p in row] for row in W], dtype=np.float64)
            Wl = np.array([[p[1] for p in row] for row in W], dtype=np.float64)
            bh = np.array([p[0] for p in b], dtype=np.float64)
            bl = np.array([p[1] for p in b], dtype=np.float64)
            if not (np.isfinite(Wh).all() and np.isfinite(bh).all()) or np.abs(Wh).max(initial=0) > 2.0 ** 900:
                raise OverflowError("weight beyond the range of the screening kernel")
            # |q − h − l| ≤ 2⁻⁵³|l| needs l normal; for |h| ≥ 2⁻⁹⁰⁰ a subnormal l still leaves
            # |q − h − l| ≤ 2⁻¹⁰⁷⁵ ≤ 2⁻¹⁷⁵|h|, inside the per-term allowance. Tinier weights: exact checks only.
            for a in (Wh, bh):
                if ((a != 0) & (np.abs(a) < 2.0 ** -900)).any():
                    raise OverflowError("weight below the range of the screening kernel")
            alpha = _dd(Fraction(L.a_num, L.a_den)) if L.act == "leaky_relu" else (0.0, 0.0)
            if 0 < abs(alpha[0]) < 2.0 ** -900:
                raise OverflowError("leaky slope below the range of the screening kernel")
            self.layers.append((Wh, Wl, bh, bl, L.act, alpha))

    # ------------------------------------------------------------------ one affine map, one endpoint
    @staticmethod
    def _affine(Wh, Wl, bh, bl, use_lo, lo, hi, transpose: bool):
        """One endpoint ``(h, l, E)`` of ``Σ_j W_rj x_j + b_r`` (or of ``Σ_i g_i W_ij``, ``transpose``) where
        each term takes ``lo`` (an endpoint ``(h, l, E)`` of ``x``) when ``use_lo`` (bool matrix, W's layout
        but for the term) else ``hi``. Loops over the summation index, vectorised over the batch."""
        W_h = Wh.T if transpose else Wh  # (out, in)
        W_l = Wl.T if transpose else Wl
        use = use_lo.T if transpose else use_lo
        S_h, S_l = _split(W_h)
        B = lo[0].shape[0]
        n_out, n_in = W_h.shape
        sh = np.broadcast_to(bh, (B, n_out)).copy() if bh is not None else np.zeros((B, n_out))
        sl = np.broadcast_to(bl, (B, n_out)).copy() if bl is not None else np.zeros((B, n_out))
        mag = np.abs(sh)  # Σ|terms| (float, for the rounding bound)
        prop = np.zeros((B, n_out))  # Σ|w|·E (propagated input error)
        for j in range(n_in):
            u = use[:, j]
            xh = np.where(u, lo[0][:, j:j + 1], hi[0][:, j:j + 1])  # (B, n_out)
            xl = np.where(u, lo[1][:, j:j + 1], hi[1][:, j:j + 1])
            xe = np.where(u, lo[2][:, j:j + 1], hi[2][:, j:j + 1])
            ph, pl = _mul(W_h[:, j], W_l[:, j], xh, xl, (S_h[:, j], S_l[:, j]))
            sh, sl = _add(sh, sl, ph, pl)
            mag += np.abs(ph)
            prop += np.abs(W_h[:, j]) * xe
        # rounding: T products (6u² each) and T sums (3u² of a partial sum ≤ Σ|terms|), doubled; |W_l| ≤
        # 2⁻⁵³|W_h| and the float sums' own roundings are inside the doubling and the 2⁻⁴⁰ factors
        up = 1.0 + (n_in + 4) * 2.0 ** -52  # covers the float sums' n_in roundings (each ≤ 2⁻⁵³ relative)
        err = (prop * up * (1.0 + 2.0 ** -50) + mag * up * ((12 + 6 * n_in) * _U2)) * _UP + (n_in + 1) * _TINY
        return sh, sl, err

    # ------------------------------------------------------------------ forward
    def forward(self, lo: np.ndarray, hi: np.ndarray, fixed: np.ndarray | None):
        """Pre-activation enclosures per layer as ``((h, l, E) lower, (h, l, E) upper, positive, negative)``
        (``positive``/``negative``: the neuron's sign proved, or fixed), the output enclosure, and a mask of
        the boxes whose part is empty, and a mask of the boxes where something overflowed (their results
        mean nothing). ``fixed``: ``(B, F, 3)`` rows ``[layer, neuron, ±1]`` (0: padding)."""
        B = lo.shape[0]
        zero = np.zeros_like(lo)
        xl, xh = (lo, zero, zero), (hi, zero, zero)
        empty = np.zeros(B, dtype=bool)
        bad = ~(np.isfinite(lo).all(axis=1) & np.isfinite(hi).all(axis=1))
        pre = []
        for k, (Wh, Wl, bh, bl, act, alpha) in enumerate(self.layers):
            pos_w = Wh > 0  # W_l cannot change the sign of a non-zero W_h; W_h = 0 means W = 0
            zl = self._affine(Wh, Wl, bh, bl, pos_w, xl, xh, False)  # low end: w > 0 takes x's low end
            zh = self._affine(Wh, Wl, bh, bl, ~pos_w, xl, xh, False)
            # no overflow check needed here: a NaN or infinite end makes the slope set [0, 1] (the widest)
            # and fails every later comparison; only the reverse pass's slopes could hide one (see gradient)
            lower_f = _lower_float(*zl)
            upper_f = _upper_float(*zh)
            pos, neg = lower_f > 0, upper_f < 0
            if fixed is not None:
                rows, cols = np.nonzero((fixed[:, :, 0] == k) & (fixed[:, :, 2] != 0))
                j, s = fixed[rows, cols, 1], fixed[rows, cols, 2]
                # the part where z ≥ 0 is empty if z < 0 is proved (and conversely)
                empty[rows[(s > 0) & neg[rows, j]]] = True
                empty[rows[(s < 0) & pos[rows, j]]] = True
                zl = _clip_rows(zl, rows[s > 0], j[s > 0], np.maximum)  # max(z, 0) on the part: 1-Lipschitz
                zh = _clip_rows(zh, rows[s < 0], j[s < 0], np.minimum)
                pos[rows, j] = s > 0  # a fixed neuron's slope is its sign's
                neg[rows, j] = s < 0
            pre.append((pos, neg))
            xl, xh = _act(zl, act, alpha), _act(zh, act, alpha)
        return pre, (xl, xh), empty, bad

    # ------------------------------------------------------------------ reverse mode
    def gradient(self, pre, c: list[tuple[float, float]], bad: np.ndarray):
        """Enclosure ``((h, l, E) lower, (h, l, E) upper)`` of ``∇(cᵀf)`` over each box's part; marks in
        ``bad`` the boxes where something overflowed."""
        B = pre[0][0].shape[0]
        ch = np.array([p[0] for p in c])
        cl = np.array([p[1] for p in c])
        e0 = np.abs(ch) * (2 * _U2) + _TINY  # |c − (h + l)| ≤ 2⁻⁵³·|l| ≤ u²·|h| (dd of an exact rational)
        g_lo = (np.broadcast_to(ch, (B, ch.size)).copy(), np.broadcast_to(cl, (B, ch.size)).copy(),
                np.broadcast_to(e0, (B, ch.size)).copy())
        g_hi = tuple(a.copy() for a in g_lo)
        for k in range(len(self.layers) - 1, -1, -1):
            Wh, Wl, bh, bl, act, alpha = self.layers[k]
            bad |= _nonfinite(g_lo) | _nonfinite(g_hi)  # before the slopes, which may zero a NaN
            if act != "identity":
                pos, neg = pre[k]
                g_lo, g_hi = _chain(g_lo, g_hi, pos, neg, act, alpha)
            pos_w = Wh > 0
            # Σ_i g_i W_ij: the low end takes g's low end where w > 0 and its high end where w < 0
            n_lo = self._affine(Wh, Wl, None, None, pos_w, g_lo, g_hi, True)
            n_hi = self._affine(Wh, Wl, None, None, ~pos_w, g_lo, g_hi, True)
            g_lo, g_hi = n_lo, n_hi
        bad |= _nonfinite(g_lo) | _nonfinite(g_hi)
        return g_lo, g_hi


def _nonfinite(z) -> np.ndarray:
    """Rows with a NaN or infinite entry (any such entry makes the row's sum non-finite)."""
    with np.errstate(all="ignore"):
        return ~np.isfinite(z[0].sum(axis=1) + z[1].sum(axis=1) + z[2].sum(axis=1))


def _clip_rows(z, rows, cols, op):
    h, l, E = (a.copy() for a in z)
    sel_h = h[rows, cols]
    keep = (op(sel_h, 0.0) == sel_h) | np.isnan(sel_h)  # h on the right side of 0: keep (h, l); else 0
    h[rows, cols] = np.where(keep, sel_h, 0.0)
    l[rows, cols] = np.where(keep, l[rows, cols], 0.0)
    return h, l, E


def _act(z, act, alpha):
    """Activation of one endpoint (monotone, 1-Lipschitz: E is kept, plus α's product rounding)."""
    h, l, E = z
    if act == "identity":
        return z
    neg = h < 0  # h + l < 0 exactly when h < 0 (|l| ≤ ulp(h)/2)
    if act == "relu":
        return np.where(neg, 0.0, h), np.where(neg, 0.0, l), E
    ph, pl = _mul(h, l, alpha[0], alpha[1])
    err = E + np.abs(ph) * (8 * _U2) + _TINY  # α ≤ 1 keeps E; the product's rounding ≤ 6u²
    return np.where(neg, ph, h), np.where(neg, pl, l), np.where(neg, err, E)


def _chain(g_lo, g_hi, pos, neg, act, alpha):
    """``g ⊙ σ'`` for one layer: slope 1 where ``pos``, 0 (α) where ``neg``, else ``[0, 1]`` (``[α, 1]``)."""
    zero = np.zeros_like(g_lo[0])
    if act == "relu":
        # [a, b]·[0, 1] = [min(a, 0), max(b, 0)]: 1-Lipschitz in the endpoints
        lo_free = tuple(np.where(g_lo[0] < 0, a, zero) for a in g_lo[:2]) + (g_lo[2],)
        hi_free = tuple(np.where(g_hi[0] > 0, a, zero) for a in g_hi[:2]) + (g_hi[2],)
        lo = tuple(np.where(pos, a, np.where(neg, zero, f)) for a, f in zip(g_lo, lo_free))
        hi = tuple(np.where(pos, a, np.where(neg, zero, f)) for a, f in zip(g_hi, hi_free))
        # a slope-0 entry is exactly 0: no error left
        return (lo[0], lo[1], np.where(neg & ~pos, 0.0, lo[2])), (hi[0], hi[1], np.where(neg & ~pos, 0.0, hi[2]))
    # leaky: α·[a, b] = [α a, α b] (α ≥ 0); [α, 1]·[a, b] = [min(a, α a), max(b, α b)]
    a_lo = _act_scale(g_lo, alpha)
    a_hi = _act_scale(g_hi, alpha)
    lo_free = _pick(g_lo[0] < 0, g_lo, a_lo)  # a < 0: a ≤ α a; a ≥ 0: α a ≤ a
    hi_free = _pick(g_hi[0] > 0, g_hi, a_hi)
    lo = tuple(np.where(pos, x, np.where(neg, y, f)) for x, y, f in zip(g_lo, a_lo, lo_free))
    hi = tuple(np.where(pos, x, np.where(neg, y, f)) for x, y, f in zip(g_hi, a_hi, hi_free))
    return lo, hi


def _act_scale(g, alpha):
    h, l, E = g
    ph, pl = _mul(h, l, alpha[0], alpha[1])
    return ph, pl, E + np.abs(ph) * (8 * _U2) + _TINY


def _pick(mask, a, b):
    return tuple(np.where(mask, x, y) for x, y in zip(a, b))


def norm_upper(g_lo, g_hi, norm: str) -> np.ndarray:
    """An upper bound (float64, per box) of the dual norm of the gradient enclosure's magnitudes: l∞ input
    → the l1 sum, l1 → the max, l2 → the *square* of the l2 norm (summed in double-double)."""
    # |g| ≤ max(|lo|, |hi|) + E on each coordinate; |h + l| = ±(h + l) with the sign of h
    a = (np.abs(g_lo[0]), np.where(g_lo[0] < 0, -g_lo[1], g_lo[1]), g_lo[2])
    b = (np.abs(g_hi[0]), np.where(g_hi[0] < 0, -g_hi[1], g_hi[1]), g_hi[2])
    take_a = (a[0] > b[0]) | ((a[0] == b[0]) & (a[1] >= b[1]))
    mh, ml = np.where(take_a, a[0], b[0]), np.where(take_a, a[1], b[1])
    mE = np.maximum(a[2], b[2])
    if norm == "1":
        return _upper_float(mh, ml, mE).max(axis=1)
    n = mh.shape[1]
    if norm == "2":  # (m + E)² = m² + E(2m + E): square in dd, the rest as error
        mE = mE * (2 * (mh + np.abs(ml)) + mE) * _UP + np.abs(mh * mh) * (8 * _U2) + _TINY
        mh, ml = _mul(mh, ml, mh, ml)
    sh, sl = mh[:, 0], ml[:, 0]
    for j in range(1, n):
        sh, sl = _add(sh, sl, mh[:, j], ml[:, j])
    err = mE.sum(axis=1) * _UP + np.abs(mh).sum(axis=1) * ((8 + 4 * n) * _U2) * _UP + n * _TINY
    return _upper_float(sh, sl, err)


def output_bounds(net: FloatNet, lo: np.ndarray, hi: np.ndarray):
    """Float64 ``(lower, upper)`` of the network's outputs over the boxes (rigorous), and the mask of
    boxes where something overflowed (their bounds may be NaN: every comparison with them fails)."""
    _, (yl, yh), _, bad = net.forward(lo, hi, None)
    lo_f, hi_f = _lower_float(*yl), _upper_float(*yh)
    return lo_f, hi_f, bad | _nonfinite((lo_f, hi_f, hi_f))
