"""Exact operator-norm Lipschitz constants of small ReLU networks by enumerating their linear pieces.

On a box ``X`` with non-empty interior a ReLU network ``f`` is piecewise affine: each sign pattern ``s`` of
its hidden neurons has a *piece* ``P_s = {x ∈ X : s_i z_i(x) ≥ 0}`` (``z_i`` affine in ``x`` once the signs of
the earlier layers are fixed) on which ``f`` is affine with Jacobian ``J_s = W_L D_{L−1} W_{L−1} ⋯ D_1 W_1``.
The Lipschitz constant (any norm; here the operator norm of ``output="all"``) is the essential supremum of
``‖∇f‖`` over ``X`` (Rademacher), hence ``L = max ‖J_s‖`` over the pieces with interior. For a network with a
few dozen neurons on a small box the pieces are few, and enumerating them is faster than a box search
(LipBaB, Bhowmick et al. 2021, enumerates patterns too, inside its branch-and-bound).

**Search (float64, heuristic).** A depth-first walk over the neurons in layer order fixes one sign at a
time; each child's polytope is tested with a small linear program (dense simplex, Bland's rule) for the
largest margin ``t`` with which a point of ``X`` satisfies every fixed sign (rows scaled to unit norm).
``t > 0``: the child has an interior point (its *witness*); ``t < 0``: its closed polytope is empty and the
LP's dual multipliers are a Farkas certificate; ``|t|`` tiny: undecided, and the whole method gives up.

**Proof (rigorous).** Nothing the walk computes is trusted:

* upper bound: every sign pattern lies in a completed piece or below a pruned prefix; the prefix's
  certificate is re-checked with directed rounding (:func:`_prune_proved`), so pruned parts are empty and
  ``upper = max ‖J_s‖`` over the completed pieces, each ``‖J_s‖`` enclosed by the interval chain rule with
  every neuron fixed (:func:`verinet.bounds.gradient.jacobian_from_bounds`) and the verified spectral-norm
  bounds of :mod:`intervals.spectral` (or the exact row/column sums for l∞/l1);
* lower bound: a witness whose interval forward pass gives every neuron its piece's strict sign is a
  point near which ``f`` is affine with Jacobian ``J_s``, so ``‖J_s‖ ≤ L`` (the box has interior, so a
  neighbourhood of the point within the box has interior too); the lower end of the enclosure counts.

When a certificate or a witness fails, the walk gives up or the gap stays above the tolerance, the
caller runs the branch-and-bound instead: this module only ever returns bounds that hold.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numba import njit

from intervals import rounding as R
from intervals.array import IntervalArray
from intervals.spectral import _sum_up
from verinet.bounds.gradient import jacobian_from_bounds
from verinet.bounds.norms import operator_norm_bounds
from verinet.bounds.propagation import LayerBounds, propagate
from verinet.network import Activation, Network

__all__ = ["PieceBounds", "enumerate_pieces", "eligible", "piece_bounds", "pieces_lipschitz"]

#: linear programs per walk at most (then the branch-and-bound takes over)
MAX_LPS = 4000
#: pieces (completed patterns) and pruned prefixes per walk at most
MAX_PIECES = 8192
#: hidden ReLUs at most (the walk is exponential in the worst case; the proof packs a pattern in 64 bits)
MAX_NEURONS = 64
#: margins (relative to the box's largest width) that decide a child: above ``_FEASIBLE`` it has a witness,
#: below ``−_EMPTY`` a certificate, in between the walk gives up (a sliver or a degenerate kink)
_FEASIBLE = 1e-9
_EMPTY = 1e-9
#: an inherited witness is kept while its margin stays above this (relative): no linear program needed
_KEEP = 1e-4

_OK, _GIVE_UP = 0, 1


def eligible(network: Network) -> bool:
    """Hidden layers ReLU, last layer identity, at most :data:`MAX_NEURONS` hidden neurons."""
    layers = network.layers
    return (len(layers) >= 2 and layers[-1].activation == Activation.IDENTITY
            and all(L.activation == Activation.RELU for L in layers[:-1])
            and sum(L.n_out for L in layers[:-1]) <= MAX_NEURONS)


# ---------------------------------------------------------------------------------------------- search
@njit(cache=True, fastmath=False)
def _simplex(G, e, w, cap, y_out, x_out):  # pragma: no cover - compiled
    """max ``t`` s.t. ``G[i]·x' + e[i] ≥ t`` (rows of unit norm), ``0 ≤ x' ≤ w``, ``t ≤ cap``; float64 heuristic.

    Shifted to ``t' = t + T ≥ 0`` with ``T = max(0, −min e)`` so that ``x' = 0, t' = 0`` is a feasible basis:
    rows ``−G[i]·x' + t' ≤ e[i] + T``, ``x'_j ≤ w_j``, ``t' ≤ cap + T``. Returns ``t`` (``nan`` if the pivot
    limit is hit); ``x_out`` the maximiser, ``y_out`` the dual prices of the ``G`` rows (≥ 0; they sum to 1
    when ``t < cap``: then ``max_{x'} Σ y_i (G[i]·x' + e[i]) = t``)."""
    m, n = G.shape
    T = 0.0
    for i in range(m):
        T = max(T, -e[i])
    R_ = m + n + 1
    C = n + 1 + R_
    tab = np.zeros((R_ + 1, C + 1))
    basis = np.empty(R_, dtype=np.int64)
    for i in range(m):
        for j in range(n):
            tab[i, j] = -G[i, j]
        tab[i, n] = 1.0
        tab[i, C] = e[i] + T
    for j in range(n):
        tab[m + j, j] = 1.0
        tab[m + j, C] = w[j]
    tab[m + n, n] = 1.0
    tab[m + n, C] = cap + T
    for r in range(R_):
        tab[r, n + 1 + r] = 1.0
        basis[r] = n + 1 + r
    tab[R_, n] = -1.0  # objective row: z − t' = 0
    eps = 1e-12
    done = False
    for _ in range(50 * (R_ + C)):
        col = -1
        for j in range(C):  # Bland: the first improving column
            if tab[R_, j] < -eps:
                col = j
                break
        if col < 0:
            done = True
            break
        row = -1
        best = np.inf
        for r in range(R_):
            a = tab[r, col]
            if a > eps:
                ratio = tab[r, C] / a
                if ratio < best - 1e-15 or (ratio <= best + 1e-15 and row >= 0 and basis[r] < basis[row]):
                    best = ratio
                    row = r
        if row < 0:
            return np.nan  # unbounded: impossible with the cap; numerical trouble
        p = tab[row, col]
        for j in range(C + 1):
            tab[row, j] /= p
        for r in range(R_ + 1):
            if r != row:
                f = tab[r, col]
                if f != 0.0:
                    for j in range(C + 1):
                        tab[r, j] -= f * tab[row, j]
        basis[row] = col
    if not done:
        return np.nan
    for j in range(n):
        x_out[j] = 0.0
    tp = 0.0
    for r in range(R_):
        b = basis[r]
        if b < n:
            x_out[b] = min(max(tab[r, C], 0.0), w[b])
        elif b == n:
            tp = tab[r, C]
    for i in range(m):
        y_out[i] = max(tab[R_, n + 1 + i], 0.0)
    return tp - T


@njit(cache=True, fastmath=False)
def _walk(Ws, bs, sizes, lo, hi, max_lps, max_pieces):  # pragma: no cover - compiled
    """Depth-first enumeration of the sign patterns whose pieces have interior (float64 heuristic).

    ``Ws``/``bs``: the hidden layers' midpoint weights and biases, flattened row-major one after the other
    (``sizes``: n_in, n_1, …, n_{L−1}). Returns ``(status, pieces (P, H) ±1, witnesses (P, n), pruned (Q, H)
    with 0 for free neurons, multipliers (Q, H), linear programs solved)``."""
    n = lo.shape[0]
    nl = sizes.shape[0] - 1
    H = 0
    for k in range(nl):
        H += sizes[k + 1]
    layer_of = np.empty(H, dtype=np.int64)
    first = np.empty(H, dtype=np.bool_)
    q = 0
    for k in range(nl):
        for j in range(sizes[k + 1]):
            layer_of[q] = k
            first[q] = j == 0
            q += 1
    w = hi - lo
    diam = 0.0
    for j in range(n):
        diam = max(diam, w[j])
    F = np.zeros((H, n + 1))  # affine forms z_q(x) = F[q, :n]·x + F[q, n] under the current prefix
    rows = np.zeros((H, n))  # unit rows of the fixed signs, in the shifted variable x' = x − lo
    rhs = np.zeros(H)
    sign = np.zeros(H, dtype=np.int8)
    child = np.zeros(H, dtype=np.int64)
    wit = np.zeros((H + 1, n))
    marg = np.zeros(H + 1)
    for j in range(n):
        wit[0, j] = 0.5 * w[j]
    marg[0] = np.inf
    pieces = np.zeros((max_pieces, H), dtype=np.int8)
    points = np.zeros((max_pieces, n))
    pruned = np.zeros((max_pieces, H), dtype=np.int8)
    mult = np.zeros((max_pieces, H))
    n_pieces = 0
    n_pruned = 0
    lps = 0
    y = np.zeros(H)
    x = np.zeros(n)
    prev = np.zeros(n + 1)
    offs_w = 0
    w_off = np.zeros(nl, dtype=np.int64)
    b_off = np.zeros(nl, dtype=np.int64)
    ob = 0
    for k in range(nl):
        w_off[k] = offs_w
        b_off[k] = ob
        offs_w += sizes[k + 1] * sizes[k]
        ob += sizes[k + 1]
    start = np.zeros(nl + 1, dtype=np.int64)
    for k in range(nl):
        start[k + 1] = start[k] + sizes[k + 1]
    q = 0
    child[0] = 0
    while q >= 0:
        k = layer_of[q]
        if child[q] == 0 and first[q]:
            # forms of layer k from those of layer k − 1 under its (fixed) signs
            n_in = sizes[k]
            for i in range(sizes[k + 1]):
                row = start[k] + i
                for c in range(n + 1):
                    F[row, c] = 0.0
                F[row, n] = bs[b_off[k] + i]
                for t in range(n_in):
                    wt = Ws[w_off[k] + i * n_in + t]
                    if wt == 0.0:
                        continue
                    if k == 0:
                        F[row, t] += wt
                    else:
                        src = start[k - 1] + t
                        if sign[src] > 0:
                            for c in range(n + 1):
                                F[row, c] += wt * F[src, c]
        if child[q] == 2:
            q -= 1
            continue
        s = 1 if child[q] == 0 else -1
        child[q] += 1
        # the row s·z_q ≥ 0 in x' with unit norm
        nrm = 0.0
        for c in range(n):
            nrm += F[q, c] * F[q, c]
        nrm = np.sqrt(nrm)
        val = F[q, n]
        for c in range(n):
            val += F[q, c] * lo[c]
        if nrm == 0.0:
            if s * val > 0.0:  # constant row satisfied: the parent's witness stays
                feasible = True
                for c in range(n):
                    wit[q + 1, c] = wit[q, c]
                marg[q + 1] = marg[q]
                for c in range(n):
                    rows[q, c] = 0.0
                rhs[q] = 1.0
                sign[q] = s
            elif s * val < 0.0:
                for c in range(H):
                    pruned[n_pruned, c] = sign[c] if c < q else 0
                    mult[n_pruned, c] = 0.0
                pruned[n_pruned, q] = s
                mult[n_pruned, q] = 1.0
                n_pruned += 1
                if n_pruned == max_pieces:
                    return _GIVE_UP, pieces[:0], points[:0], pruned[:0], mult[:0], lps
                continue
            else:
                return _GIVE_UP, pieces[:0], points[:0], pruned[:0], mult[:0], lps
        else:
            for c in range(n):
                rows[q, c] = s * F[q, c] / nrm
            rhs[q] = s * val / nrm
            sign[q] = s
            m_here = rhs[q]
            top = rhs[q]  # the largest value of the row over the whole box
            for c in range(n):
                m_here += rows[q, c] * wit[q, c]
                top += max(rows[q, c] * w[c], 0.0)
            if top < -_EMPTY * diam:
                # the row alone rules the box out (a neuron of fixed sign on it): no linear program
                for c in range(H):
                    pruned[n_pruned, c] = sign[c] if c <= q else 0
                    mult[n_pruned, c] = 0.0
                mult[n_pruned, q] = 1.0 / nrm
                n_pruned += 1
                if n_pruned == max_pieces:
                    return _GIVE_UP, pieces[:0], points[:0], pruned[:0], mult[:0], lps
                continue
            if min(marg[q], m_here) > _KEEP * diam:
                for c in range(n):
                    wit[q + 1, c] = wit[q, c]
                marg[q + 1] = min(marg[q], m_here)
            else:
                lps += 1
                if lps > max_lps:
                    return _GIVE_UP, pieces[:0], points[:0], pruned[:0], mult[:0], lps
                t = _simplex(rows[:q + 1], rhs[:q + 1], w, diam, y[:q + 1], x)
                if not (t == t):
                    return _GIVE_UP, pieces[:0], points[:0], pruned[:0], mult[:0], lps
                if t > _FEASIBLE * diam:
                    for c in range(n):
                        wit[q + 1, c] = x[c]
                    marg[q + 1] = t
                elif t < -_EMPTY * diam:
                    for c in range(H):
                        pruned[n_pruned, c] = sign[c] if c <= q else 0
                        mult[n_pruned, c] = 0.0
                    for c in range(q + 1):
                        # back to the unscaled forms: y_c (s_c z_c / ‖·‖) = (y_c / ‖·‖) s_c z_c
                        nc = 0.0
                        for d in range(n):
                            nc += F[c, d] * F[c, d]
                        nc = np.sqrt(nc)
                        mult[n_pruned, c] = y[c] / nc if nc > 0.0 else 0.0
                    n_pruned += 1
                    if n_pruned == max_pieces:
                        return _GIVE_UP, pieces[:0], points[:0], pruned[:0], mult[:0], lps
                    continue
                else:
                    return _GIVE_UP, pieces[:0], points[:0], pruned[:0], mult[:0], lps
        if q == H - 1:
            for c in range(H):
                pieces[n_pieces, c] = sign[c]
            for c in range(n):
                points[n_pieces, c] = lo[c] + wit[q + 1, c]
            n_pieces += 1
            if n_pieces == max_pieces:
                return _GIVE_UP, pieces[:0], points[:0], pruned[:0], mult[:0], lps
            continue
        q += 1
        child[q] = 0
    return _OK, pieces[:n_pieces], points[:n_pieces], pruned[:n_pruned], mult[:n_pruned], lps


def enumerate_pieces(network: Network, lo: np.ndarray, hi: np.ndarray, max_lps: int = MAX_LPS,
                     max_parts: int = MAX_PIECES):
    """The float64 walk of the module docstring: ``(pieces, witnesses, pruned, multipliers, LPs)`` or None
    when it gives up. A heuristic: :func:`piece_bounds` checks everything it returns."""
    hidden = network.layers[:-1]
    Ws = np.concatenate([L.weight_mid.reshape(-1) for L in hidden]).astype(np.float64)
    bs = np.concatenate([L.bias_mid for L in hidden]).astype(np.float64)
    sizes = np.array([network.n_inputs] + [L.n_out for L in hidden], dtype=np.int64)
    with np.errstate(all="ignore"):
        status, P, X, Q, Y, lps = _walk(Ws, bs, sizes, np.ascontiguousarray(lo, dtype=np.float64),
                                        np.ascontiguousarray(hi, dtype=np.float64), max_lps,
                                        max(1, min(max_parts, MAX_PIECES)))
    if status != _OK or not np.isfinite(X).all() or not np.isfinite(Y).all():
        return None
    return P, X, Q, Y, lps


# ---------------------------------------------------------------------------------------------- proof
def _point_bounds(backend, signs: np.ndarray, kinked) -> LayerBounds:
    """Pre-activations replaced by the point ±1 of each neuron's sign (derivative exactly 1 or 0), for the
    chain rule; non-kinked layers get a placeholder (their derivative does not depend on it)."""
    B = signs.shape[0]
    pre = []
    layout = {k: (off, n) for k, off, n in kinked}
    for k, L in enumerate(backend.network.layers):
        if k in layout:
            off, n = layout[k]
            v = signs[:, off:off + n].astype(np.float64)
        else:
            v = np.zeros((B, L.n_out))
        pre.append(IntervalArray.unchecked(v, v.copy()))
    return LayerBounds(tuple(pre), None)


def _forms(backend, signs: np.ndarray, kinked, upto: int):
    """Enclosures of the affine forms ``z_k = A_k x + a_k`` of the layers ``0..upto`` under the sign
    patterns ``signs`` (B, H): lists of ``A_k`` (B, n, n_k) (transposed: row ``j`` is ``∂z_k/∂x_j``) and ``a_k``
    (B, n_k). Each step is the backend's sound product; the ReLU slopes 1 and 0 are exact."""
    net = backend.network
    B, n = signs.shape[0], net.n_inputs
    pts = _point_bounds(backend, signs, kinked).pre
    A = IntervalArray(np.ascontiguousarray(np.broadcast_to(np.eye(n), (B, n, n))))
    a = IntervalArray(np.zeros((B, n)))
    As, as_ = [], []
    for k in range(upto + 1):
        A = backend.linear(k, A)
        a = backend.affine(k, a)
        As.append(A)
        as_.append(a)
        A = backend.chain(k, A, pts[k][:, None, :])
        a = backend.chain(k, a, pts[k])
    return As, as_


def _prune_proved(backend, kinked, pruned: np.ndarray, mult: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray) -> np.ndarray:
    """Which pruned prefixes (Q, H) are proved empty on the box by their multipliers (Q, H) (bool (Q,)).

    Rows: for a fixed neuron with sign ``s`` and enclosed form ``z(x) ∈ [A]·x + [a]``, take ``g = −s·m`` with
    ``m`` a float in ``[A]`` and ``d = (s a)^hi + Σ_j rad_j max(|lo_j|, |hi_j|)`` rounded up, ``rad ≥ |[A] − m|``.
    On the part ``−s z(x) ≤ 0``, so ``g·x = −s z(x) + s (z(x) − m·x) ≤ d``: every point of the part satisfies
    ``g·x ≤ d``, and :func:`verinet.bounds.linear._farkas_lower` > 0 proves that no point of the box does.
    """
    from verinet.bounds.linear import _farkas_lower

    Qn, H = pruned.shape
    n = lo.shape[0]
    if Qn == 0:
        return np.zeros(0, dtype=bool)
    deepest = max(k for k, off, w in kinked if (pruned[:, off:off + w] != 0).any())
    # the forms of a prefix's rows depend on the signs of the layers above its deepest one only: computed
    # once per distinct such pattern (many prefixes share their parents' patterns)
    depth = np.zeros(Qn, dtype=np.int64)
    for i, (k, off, w) in enumerate(kinked):
        depth = np.where((pruned[:, off:off + w] != 0).any(axis=1), i, depth)
    above = np.where(pruned != 0, pruned, 1).astype(np.int8)
    for i, (k, off, w) in enumerate(kinked):
        above[:, off:off + w] = np.where((depth <= i)[:, None], 1, above[:, off:off + w])
    # one 64-bit key per pattern (H ≤ 64): np.unique on rows of int8 sorts slowly
    packed = np.zeros((Qn, 8), dtype=np.uint8)
    bits = np.packbits(above > 0, axis=1)
    packed[:, :bits.shape[1]] = bits
    _, first, inverse = np.unique(packed.view(np.uint64).reshape(-1), return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    As, as_ = _forms(backend, above[first], kinked, deepest)
    # per distinct pattern and neuron: the float row m, the bound of the form's radius term, the constant
    U = len(first)
    MID = np.zeros((U, H, n))
    SLACK = np.zeros((U, H))
    ALO, AHI = np.zeros((U, H)), np.zeros((U, H))
    M = np.maximum(np.abs(lo), np.abs(hi))
    with np.errstate(all="ignore"):
        for k, off, w in kinked:
            if k > deepest:
                break
            A, a = As[k], as_[k]
            mid = 0.5 * A.lo + 0.5 * A.hi  # any float works: the radius below is measured from it
            rad = np.maximum(R.sub_up(A.hi, mid), R.sub_up(mid, A.lo))  # (U, n, w)
            SLACK[:, off:off + w] = _sum_up(R.mul_up(rad, M[None, :, None]), axis=1)  # Σ_j rad_j M_j
            MID[:, off:off + w, :] = np.swapaxes(mid, 1, 2)
            ALO[:, off:off + w], AHI[:, off:off + w] = a.lo, a.hi
        # the rows with a positive multiplier only (a basic LP solution has at most n + 1 of them)
        lam = np.where(pruned != 0, np.maximum(mult, 0.0), 0.0)
        width = max(int((lam > 0).sum(axis=1).max()), 1)
        sel = np.argsort(-lam, axis=1, kind="stable")[:, :width]  # (Q, width)
        rows = np.arange(Qn)[:, None]
        lam = lam[rows, sel]
        s = np.where(lam > 0, pruned[rows, sel], 0).astype(np.float64)
        u = inverse[:, None]
        g = -s[:, :, None] * MID[u, sel]
        end = np.where(s > 0, AHI[u, sel], -ALO[u, sel])  # (s a)^hi
        d = np.where(s != 0, R.add_up(end, SLACK[u, sel]), 0.0)
    ok = np.isfinite(g).all(axis=(1, 2)) & np.isfinite(d).all(axis=1)
    phi = _farkas_lower(lam, np.where(ok[:, None, None], g, 0.0), np.where(ok[:, None], d, 0.0),
                        np.broadcast_to(lo, (Qn, n)), np.broadcast_to(hi, (Qn, n)))
    return ok & (phi > 0)


class PieceBounds:
    """What :func:`piece_bounds` proved: bounds, the witness of the lower bound, the pieces and the pruned
    prefixes with their float multipliers (as fixed-sign leaves), and the linear programs solved."""

    __slots__ = ("lower", "upper", "witness", "pieces", "piece_upper", "pruned", "mult", "lps")

    def __init__(self, lower, upper, witness, pieces, piece_upper, pruned, mult, lps) -> None:
        self.lower, self.upper, self.witness = lower, upper, witness
        self.pieces, self.piece_upper, self.pruned, self.mult, self.lps = pieces, piece_upper, pruned, mult, lps


def piece_bounds(backend, kinked, norm: str, region, lo: np.ndarray, hi: np.ndarray,
                 max_parts: int = MAX_PIECES) -> PieceBounds | None:
    """Rigorous ``lower ≤ L ≤ upper`` for ``output="all"`` on the box ``[lo, hi]`` (positive widths) from the
    pieces of :func:`enumerate_pieces`, or None when the walk gives up or a pruned prefix is not proved
    empty. The lower bound only counts witnesses that ``region`` contains."""
    net = backend.network
    found = enumerate_pieces(net, lo, hi, max_parts=max_parts)
    if found is None:
        return None
    P, X, Q, Y, lps = found
    if len(P) == 0 or not _prune_proved(backend, kinked, Q, Y, lo, hi).all():
        return None
    J = jacobian_from_bounds(backend, _point_bounds(backend, P, kinked), "auto")
    low, up = operator_norm_bounds(J, norm)
    low, up = np.asarray(low, dtype=np.float64), np.asarray(up, dtype=np.float64)
    # witnesses: every neuron strictly of its piece's sign on the point (interval forward pass)
    pre = propagate(backend, IntervalArray(X)).pre
    ok = np.ones(len(P), dtype=bool)
    for k, off, w in kinked:
        s = P[:, off:off + w]
        ok &= np.where(s > 0, pre[k].lo > 0, pre[k].hi < 0).all(axis=1)
    lower, witness = 0.0, None
    for i in np.argsort(-low, kind="stable"):
        if ok[i] and region.contains(X[i]):
            lower, witness = float(low[i]), tuple(float(v) for v in X[i])
            break
    upper = float(np.max(up))
    return PieceBounds(lower, upper, witness, P, up, Q, Y, lps)


def null_multipliers(kinked, prefix: np.ndarray, mult: np.ndarray) -> tuple[tuple[int, int, Fraction], ...]:
    """``(layer, neuron, λ)`` of the positive multipliers of a pruned prefix (the leaf's ``null`` evidence)."""
    out = []
    for k, off, w in kinked:
        for j in range(w):
            if prefix[off + j] != 0 and mult[off + j] > 0:
                out.append((k, j, Fraction(float(mult[off + j]))))
    return tuple(out)


def pieces_lipschitz(network: Network, region, backend, kinked, norm: str, out_label: str, tol: float,
                     max_boxes: int, t0: float, lo0: np.ndarray, hi0: np.ndarray):
    """A converged :class:`verinet.analyses.lipschitz.LipschitzResult` for ``output="all"`` from the pieces
    (:func:`piece_bounds`), or None when they do not reach the relative gap ``tol`` within ``max_boxes``
    pieces and pruned prefixes (the caller then runs its branch-and-bound).

    The partition (built on first use) holds one leaf per piece (the region's box with every neuron fixed,
    bound ``‖J_s‖``) and one per pruned prefix (its fixed neurons, bound 0, and the multipliers as the
    ``null`` evidence of :mod:`verinet.analyses.null_parts`: they prove the part empty, a fortiori without
    interior): the two signs of each neuron cover the box, so the leaves do.
    """
    import functools
    import time

    # imported here: verinet.analyses.lipschitz imports this module
    from verinet.analyses.lipschitz import Leaf, LipschitzResult, Status, _fixed_tuple
    from verinet.bounds.vertex_bounds import LazyLeaves

    # every coordinate free in the exact region (a pinned coordinate that is not a float has an outer box
    # of positive width, but a witness's full Jacobian norm bounds nothing on a flat region)
    if not (eligible(network) and backend.name == "float64" and region.kind == "box"
            and all(a < b for a, b in zip(region.lower, region.upper))):
        return None
    pb = piece_bounds(backend, kinked, norm, region, lo0, hi0, max_parts=max_boxes)
    if pb is None or len(pb.pieces) + len(pb.pruned) > max_boxes:
        return None
    lower, upper = pb.lower, pb.upper
    if not (lower <= upper < np.inf) or upper - lower > tol * upper:
        return None

    def leaves():
        box = (tuple(lo0.tolist()), tuple(hi0.tolist()))
        out = [Leaf(*box, float(u), 53, _fixed_tuple(s, kinked)) for s, u in zip(pb.pieces, pb.piece_upper)]
        out += [Leaf(*box, 0.0, 53, _fixed_tuple(s, kinked), null_multipliers(kinked, s, y))
                for s, y in zip(pb.pruned, pb.mult)]
        return tuple(out)

    boxes = len(pb.pieces) + len(pb.pruned)
    seconds = time.perf_counter() - t0
    return LipschitzResult(lower=lower, upper=upper, status=Status.CONVERGED, norm=norm, output=out_label,
                           boxes=boxes, seconds=seconds, region=region,
                           partition=LazyLeaves(functools.partial(leaves)), witness=pb.witness,
                           history=((seconds, boxes, lower, upper),), precision=53, tol=tol)
