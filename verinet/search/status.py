"""The one vocabulary of why a branch-and-bound search stopped (every analysis reports it)."""

from __future__ import annotations

import enum

__all__ = ["Status"]


class Status(enum.Enum):
    """Why a search stopped.

    ``CONVERGED``: the gap reached the tolerance; ``PROVED``: every node was closed (its bound is at most
    the threshold, or the objective proved it); ``FALSIFIED``: the objective confirmed a counterexample;
    ``TIME_LIMIT``/``BOX_LIMIT``: a budget ran out; ``RESOLUTION``: the node that decides the bound cannot
    be refined at this precision. The values are the strings of the JSON outputs; analyses whose JSON used
    other words map them at their boundary (e.g. ``"timeout"`` in :mod:`verinet.analyses.robustness`).
    """

    CONVERGED = "converged"
    PROVED = "proved"
    FALSIFIED = "falsified"
    TIME_LIMIT = "time_limit"
    BOX_LIMIT = "box_limit"
    RESOLUTION = "resolution"  # no node at the top can be split further at this precision
