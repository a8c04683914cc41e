"""Genuine Lipschitz results with many leaves, fast: a uniform grid over the region's bounding box, each
cell bounded by verinet's rigorous gradient enclosure (what a branch-and-bound search that bisected every
box to the same depth would record). Used by the certificate tests and ``benchmarks/bench_certificates.py``.
"""

from __future__ import annotations

import time

import numpy as np

from verinet.bounds.gradient import gradient_enclosure
from verinet.analyses.lipschitz import Leaf, LipschitzResult, Status


def grid_boxes(lo0: np.ndarray, hi0: np.ndarray, per_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The cells of a ``per_axis``ⁿ grid of the box (shared faces are the same floats)."""
    n = lo0.size
    ticks = [np.concatenate([[lo0[d]], lo0[d] + (hi0[d] - lo0[d]) * np.arange(1, per_axis) / per_axis, [hi0[d]]])
             for d in range(n)]
    idx = np.indices((per_axis,) * n).reshape(n, -1).T
    lo = np.stack([ticks[d][idx[:, d]] for d in range(n)], axis=1)
    hi = np.stack([ticks[d][idx[:, d] + 1] for d in range(n)], axis=1)
    return lo, hi


def grid_bounds(network, lo: np.ndarray, hi: np.ndarray, output: int = 0, batch: int = 1 << 16) -> np.ndarray:
    """Upper bounds (l∞ input norm: l1 norm of the gradient magnitudes, rounded up) per cell."""
    out = np.empty(len(lo))
    n = lo.shape[1]
    for a in range(0, len(lo), batch):
        G = gradient_enclosure(network, lo[a:a + batch], hi[a:a + batch], output=output)
        s = np.maximum(np.abs(G.lo), np.abs(G.hi)).sum(axis=1)
        out[a:a + batch] = np.nextafter(s + s * ((n + 4) * 2.0 ** -52), np.inf)  # sum of n terms, rounded up
    return out


def grid_result(network, region, per_axis: int, output: int = 0) -> tuple[LipschitzResult, float]:
    """A rigorous :class:`LipschitzResult` (lower bound 0) on the grid partition, and the seconds spent
    computing the cells' bounds (the "search")."""
    lo0, hi0 = region.outer_box()
    t = time.perf_counter()
    lo, hi = grid_boxes(lo0, hi0, per_axis)
    bound = grid_bounds(network, lo, hi, output)
    seconds = time.perf_counter() - t
    leaves = tuple(Leaf(a, b, c, 53) for a, b, c in zip(map(tuple, lo.tolist()), map(tuple, hi.tolist()),
                                                         bound.tolist()))
    res = LipschitzResult(0.0, float(bound.max()), Status.BOX_LIMIT, "inf", str(output), len(leaves), seconds,
                          region, leaves, None, (), "bisect-all", 53, 0.0)
    return res, seconds
