"""Exact coverage of a box by many leaves: the split-tree test of :func:`verinet.evidence.checker._tiling_failure`,
vectorised over all the nodes of one tree level.

The leaves are given by integer ranks of their corners per coordinate (indices into strictly increasing
tables of the exact corner values, :mod:`verinet.evidence.leaftable`), so every comparison is an exact integer
comparison. The recursion is the same as the scalar one: a piece (a box, all its leaves inside it) is cut at
``x_d = t`` strictly inside it when no leaf straddles the cut (every leaf before the cut in the order of
lower corners ends at or before ``t``: a running maximum of upper corners) — at *every* such cut of one
coordinate at once, so a grid of ``k`` cells per axis takes ``n`` levels, not ``n·log₂ k``; children cover
their parent, and a single leaf must equal its piece. Pieces that no coordinate cut separates (leaves that
differ only in the neuron signs they fix) go to the scalar recursion, which also splits on neuron signs.

Any valid cut of a split-tree partition leaves split-tree partitions on both sides (restrict every node of
the tree to the half-space), so cutting at any valid cuts is complete. Each level costs ``O(N·n)`` array
operations: per coordinate, the leaves stay sorted by (piece, lower corner) from one level to the next by a
stable sort on the piece alone; there are at most as many levels as the tree is deep.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["tiling_failure_ranks"]


def tiling_failure_ranks(lo: np.ndarray, hi: np.ndarray, top: np.ndarray, n_fixed: np.ndarray,
                         fixed_of: Callable[[int], dict]) -> str | None:
    """None if the leaves tile the box ``[0, top]`` (in ranks) exactly, else the first reason found.

    Parameters
    ----------
    lo, hi : (N, n) integer arrays
        Ranks of the leaves' corners, ``lo ≤ hi`` and ``hi ≤ top`` (validated by the caller).
    top : (n,) integer array
        Rank of the box's upper corner per coordinate (its lower corner has rank 0).
    n_fixed : (N,) integer array
        Number of neuron signs each leaf fixes (a leaf alone in its piece must fix none).
    fixed_of : callable
        ``fixed_of(i) -> {(layer, neuron): ±1}`` for the scalar recursion on pieces without a coordinate cut.
    """
    from verinet.evidence.checker import _tiling_failure

    idx = np.int32 if max(int(top.max()) + 2, len(lo)) < 2**31 else np.int64  # halves the memory traffic
    N, n = lo.shape
    M = int(top.max()) + 2  # packs (piece, rank) into one int64: piece·M + rank
    g = np.zeros(N, dtype=idx)  # piece of each leaf
    blo = np.zeros((1, n), dtype=np.int64)  # pieces' boxes (ranks)
    bhi = np.asarray(top, dtype=np.int64).reshape(1, n).copy()
    loc = [lo[:, d].astype(idx) for d in range(n)]  # columns: gathers stay in cache
    hic = [hi[:, d].astype(idx) for d in range(n)]
    perms = [np.argsort(loc[d], kind="stable").astype(idx) for d in range(n)]  # sorted by (piece, lower corner)
    while perms[0].size:
        G = blo.shape[0]
        p0 = perms[0]
        gs0 = g[p0]
        sizes = np.bincount(gs0, minlength=G)
        # ---- pieces with one leaf: it must be the piece, with no sign fixed
        single = sizes[gs0] == 1
        if single.any():
            i1 = p0[single]
            gi = g[i1]
            same = np.ones(i1.size, dtype=bool)
            for d in range(n):
                same &= (loc[d][i1] == blo[gi, d]) & (hic[d][i1] == bhi[gi, d])
            if not same.all():
                i = int(i1[np.argmin(same)])
                return f"leaf {i} does not fill its part of the box (a gap, an overlap or a leaf outside it)"
            signs = n_fixed[i1] > 0
            if signs.any():
                i = int(i1[np.argmax(signs)])
                return f"leaf {i} fixes neuron signs whose complement no leaf covers"
        multi = sizes > 1
        if not multi.any():
            return None
        perms = [p[multi[g[p]]] for p in perms]
        # ---- per coordinate: every valid cut of each piece (no leaf straddles it, strictly inside)
        oks, gss, lvs = [], [], []
        count = np.zeros((n, G), dtype=np.int64)
        for d in range(n):
            p = perms[d]
            gs = g[p]
            lv = loc[d][p]
            gM = gs.astype(np.int64) * M
            run = np.maximum.accumulate(gM + hic[d][p])  # running max of upper corners within the piece
            ok = np.zeros(p.size, dtype=bool)
            g1, l1 = gs[1:], lv[1:]
            ok[1:] = (g1 == gs[:-1]) & (run[:-1] <= gM[1:] + l1)
            ok[1:] &= (blo[:, d][g1] < l1) & (l1 < bhi[:, d][g1])
            oks.append(ok)
            gss.append(gs)
            lvs.append(lv)
            count[d] = np.bincount(gs[ok], minlength=G)
        best_d = np.argmax(count, axis=0)  # the coordinate with the most cuts
        cuts = count[best_d, np.arange(G)]
        # ---- pieces without a coordinate cut: the scalar recursion (neuron signs)
        stuck = multi & (cuts == 0)
        if stuck.any():
            members = perms[0][stuck[g[perms[0]]]]
            for piece in np.flatnonzero(stuck):
                idx = members[g[members] == piece].tolist()
                why = _tiling_failure({i: [int(c[i]) for c in loc] for i in idx},
                                      {i: [int(c[i]) for c in hic] for i in idx},
                                      {i: fixed_of(i) for i in idx}, blo[piece].tolist(), bhi[piece].tolist(),
                                      ids=idx)
                if why is not None:
                    return why
        # ---- cut every remaining piece at all the valid cuts of its chosen coordinate at once: consecutive
        # cuts bound slabs, and each valid cut keeps the leaves before it below it and those after above it,
        # so each slab holds exactly the leaves between its two cuts (and the slabs cover the piece)
        cut = multi & ~stuck
        slabs = np.where(cut, cuts + 1, 0)
        offset = np.cumsum(slabs) - slabs  # first new piece of each cut piece (in piece order)
        nlo = np.repeat(blo, slabs, axis=0)
        nhi = np.repeat(bhi, slabs, axis=0)
        for d in range(n):
            p, gs, ok, lv = perms[d], gss[d], oks[d], lvs[d]
            chosen = cut[gs] & (best_d[gs] == d)
            mark = ok & chosen
            run = np.cumsum(mark)
            first = np.searchsorted(gs, gs)  # start of each leaf's piece in this order
            slab = run - run[first]  # cuts at or before the leaf within its piece (no cut at a piece's start)
            g[p[chosen]] = offset[gs[chosen]] + slab[chosen]
            j = np.flatnonzero(mark)
            right = offset[gs[j]] + slab[j]  # the new piece that starts at cut j
            nlo[right, d] = lv[j]
            nhi[right - 1, d] = lv[j]
        keep = [cut[gss[d]] for d in range(n)]
        blo, bhi = nlo, nhi
        perms = [_stable_by_piece(p[k], g[p[k]]) for p, k in zip(perms, keep)]
    return None


def _stable_by_piece(p: np.ndarray, gs: np.ndarray) -> np.ndarray:
    """``p`` reordered by piece, stably (each old piece's run holds its two children interleaved, so the
    stable sort keeps every child's leaves in lower-corner order; timsort merges the runs in ``O(N)``)."""
    return p[np.argsort(gs, kind="stable").astype(p.dtype)]
