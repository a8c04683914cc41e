"""Lower-bound candidates inside the boxes where the Lipschitz branch-and-bound's upper bound is largest.

The branch-and-bound's global upper bound is the largest bound of its leaves; the true constant is the
supremum of ``‖∇(cᵀf)‖_q`` over the region, so where the upper bound is large is also where a large
gradient is most likely to be. Searching those boxes (a short run of
:func:`verinet.analyses.gradient_search.approx_gradient_candidates`: samples, smoothed ascent and a pattern walk,
restricted to the box) makes the lower bound follow the upper bound's worst regions instead of relying on
one search over the whole region at the start. Float heuristic only: the caller turns each point into a
rigorous lower bound with an interval enclosure of the Clarke gradient (and checks it lies in the region).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from verinet.analyses.gradient_search import approx_gradient_candidates
from verinet.network import Network

__all__ = ["LEAF_WORK", "leaf_candidates"]

#: work per box: a few hundred samples, a short ascent and a short pattern walk (no LP); about 20–60 ms on
#: ACAS Xu (5-50×6-5) per box
LEAF_WORK = dict(samples=128, restarts=2, steps=10, pattern_rounds=2, lp=False, keep=4)


def leaf_candidates(network: Network, c: np.ndarray, norm: str, boxes: Sequence[tuple[np.ndarray, np.ndarray]],
                    free: np.ndarray, seed: int = 0) -> np.ndarray:
    """Candidate points (K, n) with large ``‖∇(cᵀf)‖_q`` inside the given boxes (float64, not rigorous).

    Parameters
    ----------
    network : Network
    c : ndarray (m,)
        Output coefficients.
    norm : {"inf", "2", "1"}
        Input norm (the gradient is measured in its dual).
    boxes : sequence of (lo, hi)
        The boxes to search, e.g. the leaves with the largest upper bounds.
    free : ndarray of bool (n,)
        Coordinates the region leaves free.
    seed : int
        Seed of the searches (box ``i`` uses ``seed + i``): the same boxes give the same points.

    Returns
    -------
    ndarray (K, n)
        Points of the boxes (every coordinate clipped to its box), best first per box.
    """
    pts = []
    for i, (lo, hi) in enumerate(boxes):
        cand = approx_gradient_candidates(network, c, lo, hi, norm=norm, free=free, seed=seed + i, **LEAF_WORK)
        if len(cand.points):
            pts.append(np.clip(cand.points, lo, hi))
    return np.concatenate(pts) if pts else np.zeros((0, len(free)))
