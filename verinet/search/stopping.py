"""The stopping rules of every search, in one place and one order of precedence."""

from __future__ import annotations

from verinet.search.config import SearchConfig
from verinet.search.status import Status

__all__ = ["stop_status"]


def stop_status(config: SearchConfig, *, lower: float, upper: float, top: float, held: float, open_nodes: int,
                n_held: int, partition: int, boxes: int, elapsed: float) -> Status | None:
    """Why the search stops now, or None to go on.

    ``upper``: the bound over the whole partition; ``top``/``held``: the largest open/held bound (−inf
    when none); ``partition``: closed + open + held nodes. Precedence: the goal (``PROVED``: every node
    closed, or every open and held bound at most the threshold; ``CONVERGED``: gap or zero floor), then
    ``RESOLUTION`` (a held node, which cannot be refined, decides the bound), then the budgets (boxes, the
    partition's size, time).
    """
    if open_nodes == 0 and n_held == 0:
        return Status.PROVED
    if config.threshold is not None and max(top, held) <= config.threshold:
        return Status.PROVED
    if config.tol is not None and (upper - lower <= config.tol * abs(upper) or upper < config.zero_floor):
        return Status.CONVERGED
    if n_held and held >= top:
        return Status.RESOLUTION
    if config.max_boxes is not None and boxes >= config.max_boxes:
        return Status.BOX_LIMIT
    if config.max_nodes is not None and partition > config.max_nodes:
        return Status.BOX_LIMIT
    if config.time_limit is not None and elapsed >= config.time_limit:
        return Status.TIME_LIMIT
    return None
