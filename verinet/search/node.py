"""A node of the search: a box, optionally restricted to fixed neuron signs, and what evaluating it found."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Node"]


class Node:
    """One piece of the partition.

    ``lo``/``hi`` bound the box; ``fix`` (or None) holds the neuron signs that restrict it (+1 active,
    −1 inactive, 0 free, flat over the kinked neurons). An objective's evaluation sets ``bound`` (a sound
    bound of the objective on the piece: before evaluation, the parent's, which is sound too) and the
    split hints: ``score`` (per coordinate), ``cand`` (the neuron to split, −1: none) and ``n_unstable``.
    ``closed`` marks a node the objective settled; ``tag`` is free for the objective (e.g. why it closed).
    ``seq`` is the frontier's insertion number: ties in priority go to the smaller one. ``src`` (or None)
    is the ``(lo, hi, fix)`` of the larger piece ``bound`` was computed on, when the node keeps an
    ancestor's bound (sound on every subset; kept because bounds are not monotone under refinement).
    """

    __slots__ = ("lo", "hi", "fix", "bound", "score", "cand", "n_unstable", "seq", "closed", "tag",
                 "polished", "searched", "null", "src")

    def __init__(self, lo: np.ndarray | None, hi: np.ndarray | None, fix: np.ndarray | None = None,
                 bound: float = math.inf, score: np.ndarray | None = None, cand: int = -1,
                 n_unstable: int = 0) -> None:
        self.lo, self.hi, self.fix = lo, hi, fix
        self.bound = float(bound)
        self.score = score
        self.cand, self.n_unstable = int(cand), int(n_unstable)
        self.seq = -1
        self.closed = False
        self.tag: object = None
        self.polished = False  # re-evaluated at a higher precision
        self.searched = False  # a local search for lower bounds has looked inside
        self.null: tuple = ()  # a proof that the piece has no interior (its bound is then 0)
        self.src: tuple | None = None

    def source(self) -> tuple:
        """The piece on which ``bound`` was computed: ``src``, or this node's own ``(lo, hi, fix)``."""
        return self.src if self.src is not None else (self.lo, self.hi, self.fix)

    def __repr__(self) -> str:
        return f"Node(bound={self.bound!r}, seq={self.seq}, cand={self.cand}, closed={self.closed})"
