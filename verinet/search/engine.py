"""The branch-and-bound loop shared by the analyses.

An *objective* says what a node is worth and how to split it; :class:`Search` owns the frontier, the
running bounds, the counters, the stopping rules (:func:`verinet.search.stopping.stop_status`), the
anytime history and the progress reports. One iteration:

1. ``upper`` = the largest bound over the partition (open, held and closed nodes); history and progress;
   stop if a rule says so;
2. ``objective.interject(search, now)``: side work between batches (searches for lower bounds,
   re-evaluating at a higher precision); when it returns True the iteration starts again;
3. pop ``objective.batch_size(search, now)`` nodes (``objective.ends_batch(node)`` may end the batch
   early); in lazy mode evaluate them now;
4. ``objective.expand(node, search)`` for each: returns the children (new :class:`Node` s carrying their
   parent's bound, which is sound for them) and may instead put the node back (:meth:`Search.push`,
   :meth:`Search.restore`), hold it as unrefinable (:meth:`Search.hold`) or close it
   (:meth:`Search.close`);
5. the children are evaluated together (``objective.evaluate(nodes, search)`` through the objective's
   worker pool, in chunks fixed by the batch alone) and filed: closed when the objective closed them or
   their bound is at most the threshold, open otherwise. A batch that changed nothing (no child, every
   node restored) means the top cannot be refined: ``RESOLUTION``.

An objective may end the search with its own verdict (:meth:`Search.finish`, e.g. ``FALSIFIED`` with a
confirmed counterexample). Soundness stays with the objectives: the engine never changes a bound, it
only orders, counts and stops; nodes are never dropped (they are open, held or closed), so the maximum
over the final partition bounds the objective on the root.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from verinet.search.config import SearchConfig
from verinet.search.frontier import Frontier
from verinet.search.node import Node
from verinet.search.status import Status
from verinet.search.stopping import stop_status

__all__ = ["Objective", "ObjectiveBase", "Progress", "Search", "SearchOutcome", "pool_chunk"]


@dataclass(frozen=True)
class Progress:
    """An anytime report: the bounds are sound at the moment of the report."""

    seconds: float
    boxes: int
    boxes_per_second: float
    lower: float
    upper: float
    open: int


@dataclass(frozen=True)
class SearchOutcome:
    """The end of a run: status, bounds and the final partition (open nodes in insertion order, then the
    held ones, and the closed ones in the order they were closed)."""

    status: Status
    lower: float
    upper: float
    boxes: int
    seconds: float
    history: tuple[tuple[float, int, float, float], ...] = field(repr=False, default=())
    open: tuple[Node, ...] = field(repr=False, default=())
    held: tuple[Node, ...] = field(repr=False, default=())
    closed: tuple[Node, ...] = field(repr=False, default=())
    witness: tuple[float, ...] | None = None
    #: what the objective ended the search with (:meth:`Search.finish`), e.g. a counterexample
    payload: object = None


class Objective(Protocol):
    """What an analysis gives the engine."""

    def evaluate(self, nodes: Sequence[Node], search: Search) -> None:
        """Set ``bound``, split hints and ``closed`` of new nodes (one batch)."""

    def expand(self, node: Node, search: Search) -> list[Node]:
        """The children of a popped node, or [] after putting it back, holding or closing it."""

    def batch_size(self, search: Search, now: float) -> int: ...

    def ends_batch(self, node: Node) -> bool: ...

    def interject(self, search: Search, now: float) -> bool: ...


class ObjectiveBase:
    """Defaults: fixed batches, no side work."""

    batch = 128

    def batch_size(self, search: Search, now: float) -> int:
        return self.batch

    def ends_batch(self, node: Node) -> bool:
        return False

    def interject(self, search: Search, now: float) -> bool:
        return False


def pool_chunk(n: int, chunk: int) -> int:
    """Boxes per chunk for a batch of ``n``: ``chunk``, or a quarter of a large batch (four chunks) so that
    per-call costs amortise. Depends on the batch alone, so results do not depend on the worker count."""
    return max(chunk, -(-n // 4))


class Search:
    """One run: frontier, held and closed nodes, running lower bound and witness, counters, history.

    Objectives read ``lower``, ``boxes``, ``frontier`` and ``upper`` and may raise ``lower``
    (:meth:`improve_lower`: a running maximum, so it never decreases)."""

    def __init__(self, objective: Objective, config: SearchConfig, t0: float | None = None,
                 progress: Callable[[Progress], None] | None = None, lower: float = 0.0) -> None:
        self.objective, self.config = objective, config
        self.t0 = time.perf_counter() if t0 is None else t0
        self.progress = progress
        self.frontier = Frontier(config.order)
        self.held: list[Node] = []
        self.closed: list[Node] = []
        self.lower = lower
        self.witness: tuple[float, ...] | None = None
        self.boxes = 0
        self.history: list[tuple[float, int, float, float]] = []
        self._closed_max = -math.inf
        self._held_max = -math.inf
        self._changed = False
        self._finished: tuple[Status, object] | None = None

    # ------------------------------------------------------------------------------ for objectives
    def push(self, node: Node) -> None:
        """Open a node (a new insertion number)."""
        self.frontier.push(node)
        self._changed = True

    def restore(self, node: Node) -> None:
        """Put a popped node back unchanged (its insertion number kept)."""
        self.frontier.restore(node)

    def hold(self, node: Node) -> None:
        """Keep a node that cannot be refined: it stays in the partition and its bound in ``upper``."""
        self.held.append(node)
        self._held_max = max(self._held_max, node.bound)
        self._changed = True

    def close(self, node: Node) -> None:
        """Settle a node: it stays in the partition, never expanded again."""
        node.closed = True
        self.closed.append(node)
        self._closed_max = max(self._closed_max, node.bound)
        self._changed = True

    def improve_lower(self, value: float, witness=None) -> bool:
        """Raise the lower bound to ``value`` (with the point that proves it) if that is higher."""
        if value > self.lower:
            self.lower = value
            self.witness = witness
            return True
        return False

    def finish(self, status: Status, payload: object = None) -> None:
        """End the search after the current step with the objective's own verdict."""
        self._finished = (status, payload)

    def add(self, nodes: list[Node]) -> None:
        """Evaluate new nodes as one batch (lazy mode: open them unevaluated) and file them."""
        if not nodes:
            return
        if not self.config.lazy:
            self.objective.evaluate(nodes, self)
            self.boxes += len(nodes)
        threshold = self.config.threshold
        for node in nodes:
            if node.closed or (threshold is not None and node.bound <= threshold):
                self.close(node)
            else:
                self.push(node)

    @property
    def upper(self) -> float:
        """The largest bound over the partition (−inf before any node)."""
        return max(self.frontier.top(), self._held_max, self._closed_max)

    # ------------------------------------------------------------------------------ the loop
    def _stop(self, upper: float, now: float) -> Status | None:
        if self._finished is not None:
            return self._finished[0]
        return stop_status(self.config, lower=self.lower, upper=upper, top=self.frontier.top(),
                           held=self._held_max, open_nodes=len(self.frontier), n_held=len(self.held),
                           partition=len(self.frontier) + len(self.held) + len(self.closed), boxes=self.boxes,
                           elapsed=now - self.t0)

    def run(self) -> SearchOutcome:
        """Expand nodes until a stopping rule holds (the roots must have been added)."""
        objective, config = self.objective, self.config
        last_report = time.perf_counter()
        last_boxes = self.boxes
        while True:
            upper = self.upper
            now = time.perf_counter()
            if not self.history or self.history[-1][2:] != (self.lower, upper):
                self.history.append((now - self.t0, self.boxes, self.lower, upper))
            if self.progress is not None and now - last_report >= config.progress_seconds:
                rate = (self.boxes - last_boxes) / (now - last_report)
                self.progress(Progress(now - self.t0, self.boxes, rate, self.lower, upper,
                                       len(self.frontier)))
                last_report, last_boxes = now, self.boxes
            status = self._stop(upper, now)
            if status is not None:
                break
            if objective.interject(self, now):
                continue
            popped: list[Node] = []
            size = objective.batch_size(self, now)
            while len(self.frontier) and len(popped) < size:
                node = self.frontier.pop()
                popped.append(node)
                if objective.ends_batch(node):
                    break
            if config.lazy:
                objective.evaluate(popped, self)
                self.boxes += len(popped)
            self._changed = False
            children: list[Node] = []
            for node in popped:
                children.extend(objective.expand(node, self))
            if children:
                self.add(children)
            elif not self._changed:
                status = Status.RESOLUTION  # the nodes at the top cannot be refined
                break
            if self._finished is not None:
                status = self._finished[0]
                break
        upper = self.upper
        seconds = time.perf_counter() - self.t0
        self.history.append((seconds, self.boxes, self.lower, upper))
        return SearchOutcome(status=status, lower=self.lower, upper=upper, boxes=self.boxes, seconds=seconds,
                             history=tuple(self.history), open=tuple(self.frontier.nodes()),
                             held=tuple(self.held), closed=tuple(self.closed), witness=self.witness,
                             payload=None if self._finished is None else self._finished[1])
