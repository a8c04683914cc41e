"""The configuration of one branch-and-bound run (frozen: a search never changes its own rules)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SearchConfig"]


@dataclass(frozen=True)
class SearchConfig:
    """What a run of :class:`verinet.search.Search` stops at and how it orders its frontier.

    Attributes
    ----------
    tol : float or None
        Stop (``CONVERGED``) when ``upper − lower ≤ tol·|upper|``; None: no gap rule (a threshold search).
    zero_floor : float
        Also ``CONVERGED`` when ``upper`` is below it (rounding noise around a value that is 0).
    threshold : float or None
        A node whose bound is ``≤ threshold`` is closed; the search is ``PROVED`` when every bound is.
    time_limit : float or None
        Seconds from the run's ``t0``.
    max_boxes : int or None
        Budget of evaluated nodes.
    max_nodes : int or None
        Budget of the partition's size (closed + open + held nodes): ``BOX_LIMIT`` beyond it.
    order : {"best", "fifo"}
        ``best``: largest bound first; ``fifo``: creation order (breadth first). Ties go to the older node.
    lazy : bool
        Evaluate a node when it is popped instead of when it is created (a breadth-first enumeration
        whose nodes need no bound to be ordered).
    progress_seconds : float
        Interval between progress reports.
    """

    tol: float | None = None
    zero_floor: float = -math.inf
    threshold: float | None = None
    time_limit: float | None = None
    max_boxes: int | None = None
    max_nodes: int | None = None
    order: str = "best"
    lazy: bool = False
    progress_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.order not in ("best", "fifo"):
            raise ValueError(f"unknown frontier order {self.order!r}: use best or fifo")
