"""Operator-norm upper bounds of a box's Jacobian set by enumerating the derivative vertices of its kinks.

Over a box (or the part of it where some neurons have fixed signs) the interval chain rule encloses every
Clarke Jacobian in the set ``S = {W_L D_{L−1} W_{L−1} ⋯ D_1 W_1}`` with each diagonal entry ``d_i`` of a
kinked neuron in its derivative enclosure (``{1}``, ``{α}`` or ``[α, 1]``), but multiplying interval
matrices forgets that one ``d_i`` is shared by every entry. For a fixed choice of the other factors,
``J(d)`` is affine in each ``d_i`` separately (``d_i`` occurs in one factor, linearly), so ``‖J(d)‖`` is a
convex function of each ``d_i`` and its maximum over the box of ``d`` is reached at a vertex (maximise one
coordinate at a time: a convex function of one variable is maximal at an endpoint). With ``k`` unstable
kinked neurons (``d_i = [α, 1]``), the largest norm over ``S`` is therefore the largest over the ``2^k``
products with every ``d_i ∈ {α, 1}``, each enclosed by the same interval chain rule with the neuron's
pre-activation replaced by a point of the chosen sign. This is the bound that splitting all ``k`` neurons
would give, in one batched evaluation, without the per-part pre-activation tightening; the search still
splits to prove patterns infeasible.

This holds for any norm (every norm is convex) and any enclosure of the other factors (interval weights,
smooth activations: the argument is per fixed choice of them). Used for ``output="all"``, where interval
products lose most (the l2 norm of a wide interval matrix is bounded by ``‖mid‖₂ + ‖rad‖₂``).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import itertools

import numpy as np

from intervals import rounding as R
from intervals.spectral import _sum_up
from verinet.bounds.gradient import jacobian_from_bounds
from verinet.bounds.norms import canonical_norm, operator_norm_bounds
from verinet.bounds.propagation import LayerBounds

__all__ = ["LazyLeaves", "MAX_VERTEX_NEURONS", "vertex_leaves", "vertex_operator_upper"]

#: boxes with more unstable kinked neurons than this keep their interval bound (2^k products per box)
MAX_VERTEX_NEURONS = 6
#: Jacobian entries evaluated per call at most (memory and time on wide networks); boxes with fewer
#: unstable neurons go first
_ENTRY_BUDGET = 1 << 21


def vertex_operator_upper(backend, bounds: LayerBounds, kinked, norm: str, free: np.ndarray | None = None,
                          max_neurons: int = MAX_VERTEX_NEURONS, J=None) -> np.ndarray:
    """Upper bound (B,) of the operator norm ``‖J‖_{p→p}`` over the Jacobian set of each box, from the
    ``2^k`` derivative vertices of its ``k`` unstable kinked neurons; ``inf`` where not computed (``k = 0``,
    ``k > max_neurons`` or over the budget). With ``J`` (the boxes' interval Jacobians, (B, m, n)), the bound
    of ``J`` for the other boxes, in the same batched norm evaluation.

    Parameters
    ----------
    backend
        The float64 backend of the network.
    bounds : LayerBounds
        Pre-activation enclosures of a batch of boxes (B, n_k) per layer; fixed neurons already replaced by
        a point of their sign.
    kinked : list of (layer, offset, width)
        The kinked layers (:func:`verinet.bounds.propagation.kinked_layout`).
    norm : str
        ``"inf"``, ``"2"`` or ``"1"``.
    free : bool array (n_in,), optional
        Input coordinates in which the region has positive width (columns of the others are zeroed).
    J : IntervalArray, optional
        Interval Jacobians of the boxes (already restricted to ``free``).

    Rigorous: the result is ≥ ``‖J‖`` for every ``J`` in the chain-rule set of each box (module docstring).
    """
    pre = bounds.pre
    B = pre[0].lo.shape[0]
    out = np.full(B, np.inf)
    if J is not None and (B == 0 or not kinked):
        return operator_norm_bounds(J, norm, lower=False)[1]
    if B == 0 or not kinked:
        return out
    layers = [k for k, _, _ in kinked]
    unstable = [~(pre[k].lo > 0) & ~(pre[k].hi < 0) for k in layers]
    count = sum(u.sum(axis=1) for u in unstable)
    m, n = backend.network.n_outputs, backend.network.n_inputs
    rows = np.where((count >= 1) & (count <= max_neurons), 1 << np.minimum(count, 62), 0)
    order = np.argsort(count, kind="stable")
    room = max(_ENTRY_BUDGET // max(m * n, 1), 0)
    take = np.zeros(B, dtype=bool)
    used = 0
    for i in order:
        if rows[i] == 0:
            continue
        if used + rows[i] > room:
            break
        take[i] = True
        used += int(rows[i])
    boxes = np.flatnonzero(take)
    if boxes.size == 0:
        return out if J is None else operator_norm_bounds(J, norm, lower=False)[1]
    reps = rows[boxes]
    owner = np.repeat(boxes, reps)  # box of each vertex row
    vertex = np.arange(owner.size) - np.repeat(np.cumsum(reps) - reps, reps)  # vertex number within its box
    # bit j of the vertex number chooses the sign of the box's j-th unstable neuron (flat order)
    rank = np.cumsum(np.concatenate([u.astype(np.int64) for u in unstable], axis=1), axis=1) - 1
    new_pre = [type(z).unchecked(z.lo[owner], z.hi[owner]) for z in pre]
    off = 0
    for k, u in zip(layers, unstable):
        width = u.shape[1]
        r = rank[owner, off:off + width]
        uu = u[owner]
        sign = _vertex_signs(vertex, r)
        # a point of the chosen sign: the derivative enclosure there is exactly {1} or {α}
        lo = np.where(uu, sign, new_pre[k].lo)
        hi = np.where(uu, sign, new_pre[k].hi)
        new_pre[k] = type(pre[k]).unchecked(lo, hi)
        off += width
    V = jacobian_from_bounds(backend, LayerBounds(tuple(new_pre), None), "auto")
    if free is not None:
        V = type(V).unchecked(np.where(free, V.lo, 0.0), np.where(free, V.hi, 0.0))
    rest = np.flatnonzero(~take) if J is not None else np.zeros(0, dtype=np.int64)
    best = np.full(B, -np.inf)
    if canonical_norm(norm) == "2" and owner.size > boxes.size:
        # most vertex rows cannot hold a box's maximum: verify each box's row of largest Frobenius bound
        # first, then only the rows whose Frobenius bound exceeds that verified bound (a skipped row's
        # norm is at most its Frobenius bound, hence at most the box's bound; the bound of a row does not
        # depend on the other rows of the batch, so the result is the same or smaller)
        fro = _frobenius_up(V)
        lead = np.lexsort((-fro, owner))  # by box, largest Frobenius bound first
        lead = lead[np.r_[True, owner[lead][1:] != owner[lead][:-1]]]
        up = _norms2(V, lead, J, rest)
        best[owner[lead]] = up[:lead.size]
        out[rest] = up[lead.size:]
        others = np.ones(owner.size, dtype=bool)
        others[lead] = False
        todo = np.flatnonzero(others & ~(fro <= best[owner]))
        if todo.size:
            np.maximum.at(best, owner[todo], _norms2(V, todo, None, rest[:0]))
        out[boxes] = best[boxes]
        return out
    if rest.size:  # one call for the vertex rows and the other boxes' own interval Jacobians (the vertex
        # products lie in the interval ones, so the interval bound of a box with vertices is not needed)
        V = type(V).unchecked(np.concatenate([V.lo, J.lo[rest]]), np.concatenate([V.hi, J.hi[rest]]))
    up = np.asarray(operator_norm_bounds(V, norm, lower=False)[1], dtype=np.float64)
    np.maximum.at(best, owner, up[:owner.size])
    out[boxes] = best[boxes]
    out[rest] = up[owner.size:]
    return out


def _norms2(V, rows: np.ndarray, J, rest: np.ndarray) -> np.ndarray:
    """Spectral-norm upper bounds of the vertex rows ``V[rows]`` and then of the interval Jacobians
    ``J[rest]``, in one batched call."""
    lo, hi = V.lo[rows], V.hi[rows]
    if rest.size:
        lo, hi = np.concatenate([lo, J.lo[rest]]), np.concatenate([hi, J.hi[rest]])
    return np.asarray(operator_norm_bounds(type(V).unchecked(lo, hi), "2", lower=False)[1], dtype=np.float64)


def _frobenius_up(V) -> np.ndarray:
    """Upper bounds (R,) of ``‖J‖_F ≥ ‖J‖₂`` over each interval matrix of ``V`` (R, m, n).

    ``‖J‖_F ≤ ‖mag V‖_F``; the squares are rounded up and their sum bounded with the a-priori bound for
    non-negative terms (:func:`intervals.spectral._sum_up`), the root rounded up: each step is ≥ the exact
    value of its rounded-up inputs, so the result is ≥ ``‖mag V‖_F`` (``inf`` on overflow or an infinite
    entry; NaN never compares below a bound, so such a row is verified like the others)."""
    mag = np.maximum(np.abs(V.lo), np.abs(V.hi)).reshape(V.lo.shape[0], -1)
    with np.errstate(over="ignore", under="ignore"):
        return R.sqrt_up(_sum_up(R.mul_up(mag, mag), axis=-1))


#: a part of a spelt-out leaf whose neurons are all stable but whose enclosure is still above the bound (a
#: sign pattern its box cannot rule out) is bisected, at most this many times per leaf
_MAX_BISECTIONS = 64


def _vertex_signs(vertex: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """±1 for each row and neuron: bit ``rank`` of the row's vertex number (``rank``: the neuron's place among
    its box's unstable neurons; entries of stable neurons are ignored by the caller)."""
    return np.where((vertex[:, None] >> np.maximum(rank, 0)) & 1 == 1, 1.0, -1.0)


def vertex_leaves(evaluator, leaves: tuple, n_unstable: np.ndarray, upper: float) -> tuple:
    """The partition with every leaf whose bound rests on :func:`vertex_operator_upper` confirmed by its own
    enclosure (what an independent checker re-computes): a leaf whose interval bound is at most ``upper``
    (the reported bound) records that bound; the others are replaced by parts with the leaf's unstable
    neurons fixed to each sign combination (the parts cover the leaf: each point has some sign for each
    neuron, and the leaf's bound holds on each), and a part still above both (its own pre-activation
    bounds may leave other neurons unstable) is expanded the same way, or bisected when none is unstable.

    ``evaluator`` is the search's float64 evaluator; ``n_unstable`` (one per leaf) selects the leaves that
    may carry a vertex bound. A part that stays above ``upper`` after :data:`_MAX_BISECTIONS` bisections
    records its own (sound) bound, which an exact checker then reports as exceeding the claimed bound.
    """
    cand = [i for i, (leaf, k) in enumerate(zip(leaves, n_unstable))
            if 1 <= k <= MAX_VERTEX_NEURONS and leaf.precision == 53 and not leaf.null and leaf.bound > 0]
    if not cand or evaluator.backend.name != "float64" or not evaluator.kinked:
        return tuple(leaves)
    flat = [(k, j) for k, _, n in evaluator.kinked for j in range(n)]  # flat neuron number -> (layer, neuron)
    position = {kj: f for f, kj in enumerate(flat)}
    parts: dict[int, list] = {i: [] for i in cand}
    bisections = dict.fromkeys(cand, 0)
    todo = [(i, leaves[i]) for i in cand]
    while todo:
        lo = np.array([leaf.lower for _, leaf in todo], dtype=np.float64)
        hi = np.array([leaf.upper for _, leaf in todo], dtype=np.float64)
        fix = np.zeros((len(todo), len(flat)), dtype=np.int8)
        for r, (_, leaf) in enumerate(todo):
            for k, j, s in leaf.fixed:
                fix[r, position[(k, j)]] = s
        own, unstable = evaluator.unstable_parts(lo, hi, fix)
        nxt = []
        for r, (i, leaf) in enumerate(todo):
            free = np.flatnonzero(unstable[r] & (fix[r] == 0))
            if own[r] <= max(leaf.bound, upper):
                parts[i].append(dataclasses.replace(leaf, bound=max(leaf.bound, float(own[r]))))
            elif 1 <= free.size <= MAX_VERTEX_NEURONS:
                for signs in itertools.product((-1, 1), repeat=free.size):
                    f = fix[r].copy()
                    f[free] = signs
                    fixed = tuple((flat[q][0], flat[q][1], int(f[q])) for q in np.flatnonzero(f))
                    nxt.append((i, dataclasses.replace(leaf, fixed=fixed)))
            elif bisections[i] < _MAX_BISECTIONS and (halves := _bisect(lo[r], hi[r])) is not None:
                bisections[i] += 1
                nxt += [(i, dataclasses.replace(leaf, lower=tuple(a.tolist()), upper=tuple(b.tolist())))
                        for a, b in halves]
            else:
                parts[i].append(dataclasses.replace(leaf, bound=float(own[r])))
        todo = nxt
    return tuple(x for i, leaf in enumerate(leaves) for x in (parts[i] if i in parts else [leaf]))


def _bisect(lo: np.ndarray, hi: np.ndarray):
    """The two halves of a box along its widest coordinate, or None when it cannot be split in float64."""
    mid = 0.5 * lo + 0.5 * hi
    ok = (mid > lo) & (mid < hi)
    if not ok.any():
        return None
    d = int(np.argmax(np.where(ok, hi - lo, -1.0)))
    left_hi, right_lo = hi.copy(), lo.copy()
    left_hi[d] = right_lo[d] = mid[d]
    return (lo, left_hi), (right_lo, hi)


class LazyLeaves(collections.abc.Sequence):
    """A tuple of leaves computed on first use: spelling out vertex bounds for a certificate can cost as
    much as the search, and most callers only want the bounds. Compares equal to the same leaves in any
    sequence; pickles as a tuple."""

    __slots__ = ("_make", "_leaves")

    def __init__(self, make) -> None:
        self._make = make
        self._leaves: tuple | None = None

    def _get(self) -> tuple:
        if self._leaves is None:
            self._leaves, self._make = tuple(self._make()), None
        return self._leaves

    def __len__(self) -> int:
        return len(self._get())

    def __getitem__(self, i):
        return self._get()[i]

    def __iter__(self):
        return iter(self._get())

    def __eq__(self, other) -> bool:
        return isinstance(other, collections.abc.Sequence) and self._get() == tuple(other)

    def __hash__(self) -> int:
        return hash(self._get())

    def __add__(self, other):
        return self._get() + tuple(other)

    def __reduce__(self):
        return tuple, (self._get(),)

    def __repr__(self) -> str:
        return repr(self._get())
