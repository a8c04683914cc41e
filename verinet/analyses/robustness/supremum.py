"""A best-first search for upper bounds of a per-box quantity (global and parameter robustness), on
:mod:`verinet.search`.
"""

from __future__ import annotations

import numpy as np

from verinet.search import Node, ObjectiveBase, Search, SearchConfig, SearchOutcome, Status, bisect


class _Supremum(ObjectiveBase):
    """Objective of :func:`_bound_search`: boxes bounded by ``evaluate(L, H) -> (upper (B,), scores (B, n))``,
    split at one coordinate (largest width × score, else the relatively widest)."""

    batch = 64

    def __init__(self, evaluate, width0: np.ndarray) -> None:
        self._evaluate = evaluate
        self.width0 = width0

    def evaluate(self, nodes, search) -> None:
        up, sc = self._evaluate(np.array([n.lo for n in nodes]), np.array([n.hi for n in nodes]))
        for i, n in enumerate(nodes):
            n.bound, n.score = float(up[i]), sc[i]

    def expand(self, node, search) -> list:
        kids = bisect(node.lo, node.hi, self.width0, "influence", node.score)
        if kids is None:  # too narrow to split in float64: its bound stays in the result
            search.hold(node)
            return []
        return [Node(lo, hi) for lo, hi in kids]


def _bound_search(evaluate, lo0, hi0, *, threshold, deadline, max_boxes, lower: float = 0.0, tol=1e-3,
                  batch=64, progress=None, t0=0.0) -> SearchOutcome:
    """Refine ``sup`` of a quantity bounded per box by ``evaluate(L, H) -> (upper (B,), scores (B, n))``.

    A box whose bound is ``≤ threshold`` is closed. Stops when all are closed (``PROVED``), when
    ``upper − lower ≤ tol·upper`` without a threshold (``CONVERGED``), on time, box budget or float
    resolution. ``upper`` of the outcome is the max over the final partition.
    """
    objective = _Supremum(evaluate, np.where(hi0 - lo0 > 0, hi0 - lo0, 1.0))
    objective.batch = batch
    config = SearchConfig(tol=tol if threshold is None else None, threshold=threshold,
                          time_limit=deadline - t0, max_boxes=max_boxes)
    report = None if progress is None else (
        lambda p: progress({"seconds": p.seconds, "boxes": p.boxes, "upper": p.upper, "open": p.open}))
    search = Search(objective, config, t0=t0, progress=report, lower=lower)
    search.add([Node(lo0.copy(), hi0.copy())])
    return search.run()


def _status_text(status: Status) -> str:
    """The status words of the robustness JSON outputs (``"timeout"`` for a time limit)."""
    return "timeout" if status is Status.TIME_LIMIT else status.value
