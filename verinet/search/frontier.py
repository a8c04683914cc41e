"""The open nodes of a search: a heap keyed by priority, ties broken by insertion order."""

from __future__ import annotations

import heapq
import itertools
import math

from verinet.search.node import Node

__all__ = ["Frontier"]


class Frontier:
    """Open nodes, popped largest bound first (``"best"``) or oldest first (``"fifo"``).

    Entries are ``(key, seq, node)`` with ``seq`` unique and increasing, so the order is total and
    deterministic (no comparison of nodes, no dependence on the heap's history beyond insertion order).
    """

    def __init__(self, order: str = "best") -> None:
        self._best = order == "best"
        self._heap: list = []
        self._seq = itertools.count()

    def _key(self, node: Node) -> float:
        return -node.bound if self._best else 0.0

    def push(self, node: Node) -> None:
        """Add a node with a new insertion number."""
        node.seq = next(self._seq)
        heapq.heappush(self._heap, (self._key(node), node.seq, node))

    def restore(self, node: Node) -> None:
        """Put a popped node back with its own insertion number (its bound unchanged)."""
        heapq.heappush(self._heap, (self._key(node), node.seq, node))

    def pop(self) -> Node:
        return heapq.heappop(self._heap)[2]

    def top(self) -> float:
        """The largest open bound (−inf when empty)."""
        if not self._heap:
            return -math.inf
        return self._heap[0][2].bound if self._best else max(e[2].bound for e in self._heap)

    def best(self, k: int) -> list[Node]:
        """The first ``k`` nodes in pop order (not removed)."""
        return [e[2] for e in heapq.nsmallest(k, self._heap)]

    def nodes(self) -> list[Node]:
        """Every open node in insertion order."""
        return [e[2] for e in sorted(self._heap, key=lambda e: e[1])]

    def __len__(self) -> int:
        return len(self._heap)
