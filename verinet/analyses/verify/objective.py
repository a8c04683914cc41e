"""The verification search as an objective of :mod:`verinet.search`, and its chunk evaluator.

A node is a box of the region, optionally restricted to fixed neuron signs (a *part*). Its engine bound is
``−margin``, where ``margin`` is the rigorous lower bound of the score ``min_conj max_{i∈conj} z_i`` over
the part: best first therefore pops the part with the worst margin, and ``−upper`` of the search is the
rigorous margin over the whole region. A part is *closed* when every unsafe conjunction is refuted on it
(one atom with ``min z_i > 0``, ``≥ 0`` when strict) or it is proved empty; the search is ``PROVED`` when
every part is closed. Closure is decided by the evaluator from the sound enclosures alone (no threshold
or tolerance: a margin exactly 0 closes a strict atom only).

The evaluation of a batch goes through the worker pool of :mod:`verinet.parallel` in chunks fixed by the
batch alone (:func:`verinet.search.pool_chunk`); the random points behind the split scores are drawn from
a generator seeded by the chunk's position (batch number, first row), so the whole search is identical
for any number of workers (under a box budget; under a time limit, the number of batches done depends on
speed).
"""

from __future__ import annotations

import math
import time

import numpy as np

from verinet.analyses.attack import pgd_attack
from verinet.analyses.verify.enclosure import Enclosure
from verinet.analyses.verify.spec import approx_scores
from verinet.network import Network, approx_value_and_grad
from verinet.search import Node, ObjectiveBase, Search, Status, bisect, neuron_children, pool_chunk

__all__ = ["NEURON_SPLIT_UNSTABLE", "WARM_START_BYTES", "SpecEvaluator", "SpecParts"]

#: a box with at most this many free unstable ReLUs is split on a neuron's sign rather than a coordinate
NEURON_SPLIT_UNSTABLE = 2

#: memory for the slopes and multipliers kept as warm starts by the open boxes (optimised slopes only);
#: beyond it new boxes start cold
WARM_START_BYTES = 768 * 2**20

#: nodes per evaluation call with optimised slopes (a batch of 1,024 goes out in four chunks: up to four
#: processes share it; smaller calls of the optimiser cost more per node) and without (a batch of 256 in
#: two chunks; the Python cost of a call needs chunks this large)
CHUNK_ALPHA = 256
CHUNK_PLAIN = 128


class SpecEvaluator:
    """Evaluates chunks of nodes of one specification, in any process (a picklable recipe).

    :meth:`chunk` takes ``(L, H, F, same, key, *parent)``: boxes (B, n), neuron signs (B, H) (H = 0
    without neuron splitting), whether each part is its parent's part cut by one more sign (B,), the
    chunk's position ``key`` (B, 2) (batch number, row: seeds the sampled gradients) and optionally the
    parents' enclosures (per layer: lower ends, then upper ends, then the slopes and multipliers; see
    :class:`~verinet.analyses.verify.enclosure.Enclosure`). It returns ``(closed, margin, bad, infl,
    centres, centre_scores, n_unstable, cand, xs, xs_scores, *own)``: ``margin`` a rigorous lower bound of
    the score on each part, ``closed`` whether it is refuted or empty, ``bad`` whether some conjunction
    holds on the whole box (an unsafe box: its centre is a candidate), ``infl`` the per-coordinate split
    scores, ``n_unstable``/``cand`` the neuron choice, ``xs``/``xs_scores`` the minimisers of the linear
    bounds (projected into the region; a variable number of rows), ``own`` the enclosures of the open
    parts, in order (the warm starts of their children; optimised slopes only). Everything except
    ``margin``/``closed`` is a heuristic.
    """

    def __init__(self, network: Network, bounds: str, conjunctions, strict, neurons: str, split: str, geom,
                 seed: int) -> None:
        self.network = network
        self.enclose = Enclosure(network, bounds, conjunctions)
        self.conjunctions = tuple(tuple(c) for c in conjunctions)
        self.strict = np.array(strict, dtype=bool)
        self.conj = [list(c) for c in self.conjunctions]
        self.use_neurons = neurons == "auto" and self.enclose.n_kinked > 0
        # high-dimensional inputs (optimised slopes): bisecting one of hundreds of coordinates barely
        # tightens anything, so boxes are split on neurons whenever one is unstable
        self.neuron_limit = NEURON_SPLIT_UNSTABLE if self.enclose.slopes is None else self.enclose.n_kinked
        self.split, self.geom, self.seed = split, geom, seed
        #: enclosures per part: the pre-activations of every layer, then the output
        self.n_bounds = len(network.layers) + 1

    @property
    def n_signs(self) -> int:
        return self.enclose.n_kinked if self.use_neurons else 0

    def chunk(self, L, H, F, same, key, *parent):
        enclose, conj, strict = self.enclose, self.conj, self.strict
        F = F if self.use_neurons else None
        P = None
        if parent:
            n = self.n_bounds
            if len(parent) not in (2 * n, 2 * n + 2 * (n - 2)):  # bounds, or bounds and warm starts
                raise ValueError(f"a parent enclosure has {len(parent)} arrays: expected {2 * n} or {4 * n - 4}")
            P = (list(parent[:n]), list(parent[n:2 * n])) + ((list(parent[2 * n:]),) if len(parent) > 2 * n else ())
        rng = np.random.default_rng([self.seed, *(int(v) for v in key[0])])
        pre, Z, empty = enclose(L, H, F, P, same if P is not None else None)
        refuted = np.where(strict, Z.lo >= 0, Z.lo > 0)  # atom impossible on the part
        certain = np.where(strict, Z.hi < 0, Z.hi <= 0)  # atom holds on the whole box
        B = len(L)
        margin = np.full(B, np.inf)
        closed = np.ones(B, dtype=bool)
        bad = np.zeros(B, dtype=bool)
        for c in conj:
            closed &= refuted[:, c].any(axis=1)
            margin = np.minimum(margin, Z.lo[:, c].max(axis=1))
            bad |= certain[:, c].all(axis=1)
        closed |= empty  # an empty part has no unsafe point
        margin[empty] = np.inf
        bad &= ~empty
        centres = 0.5 * L + 0.5 * H
        _, atom = approx_scores(self.conjunctions, Z.lo)  # the atom that is closest to being refuted
        zc, G = approx_value_and_grad(self.network, centres, atom)  # split on width × |gradient|
        sc, _ = approx_scores(self.conjunctions, zc)
        infl = np.abs(G)
        if self.use_neurons:
            n_unstable, cand = enclose.neuron_choice(pre, F)
        else:
            n_unstable, cand = np.zeros(B, dtype=np.int64), np.full(B, -1, dtype=np.int64)
        # sampled gradients only where a coordinate may be bisected (with optimised slopes, boxes with an
        # unstable neuron are always split on a neuron)
        need = np.ones(B, dtype=bool)
        if self.use_neurons and enclose.slopes is not None:
            need = ~closed & ~((cand >= 0) & (n_unstable <= self.neuron_limit))
        if self.split == "widest":
            infl = np.zeros_like(infl)
        elif self.split.startswith("multi") and need.any():
            rows = np.flatnonzero(need)
            for _ in range(int(self.split[5:] or 3)):
                X = L[rows] + rng.random(L[rows].shape) * (H[rows] - L[rows])
                infl[rows] = np.maximum(infl[rows], np.abs(approx_value_and_grad(self.network, X, atom[rows])[1]))
        n_in = self.network.n_inputs
        xs, xs_scores = np.zeros((0, n_in)), np.zeros(0)
        own: tuple = ()
        if enclose.slopes is not None:
            if len(enclose.slopes.candidates):  # minimisers of the linear bounds: attack candidates
                xs = self.geom.project(enclose.slopes.candidates)
                with np.errstate(over="ignore", invalid="ignore"):
                    xs_scores = approx_scores(self.conjunctions, self.network.approx_evaluate(xs))[0]
            lo, hi, params = enclose.last
            rows = np.flatnonzero(~closed)  # only open parts have children to warm-start
            own = tuple(a[rows] for a in (*lo, *hi, *params))
        return (closed, margin, bad, infl, centres, sc, n_unstable, cand, xs, xs_scores, *own)


class SpecParts(ObjectiveBase):
    """The objective of :func:`~verinet.analyses.verify.search_spec` (see the module docstring).

    ``evaluate`` drops boxes proved outside the region (closed, bound −inf), evaluates the rest through
    ``pool``, closes refuted and empty parts (recorded as the proof's leaves), and ends the search with
    ``FALSIFIED`` when ``confirm`` accepts a candidate (unsafe box centres, box centres, minimisers of the
    linear bounds). ``expand`` splits a part on a neuron sign (few unstable neurons, or a box too narrow to
    bisect) or bisects a coordinate (:func:`verinet.search.bisect`, ``influence``), and holds a part that
    can be split neither way. ``interject`` runs gradient attacks from the worst boxes every few seconds
    (:attr:`attack_pause`) and ends the search when the next batch would overrun the deadline.
    """

    def __init__(self, pool, atk, geom, width0: np.ndarray, batch: int, deadline: float, recorder=None) -> None:
        self.pool, self.ev, self.atk, self.geom = pool, pool.local, atk, geom
        self.width0, self.batch, self.deadline, self.recorder = width0, batch, deadline, recorder
        self.slopes = self.ev.enclose.slopes is not None
        self.chunk = CHUNK_ALPHA if self.slopes else CHUNK_PLAIN
        self.n_bounds = self.ev.n_bounds
        self.step_time = 0.0
        self.next_attack = math.inf
        self.candidates = np.zeros((0, self.ev.network.n_inputs))  # the last batch's linear minimisers
        self.batches = 0
        self.found: object = None  # a confirmed counterexample, once one is
        # attacks take at most ~1/7 of the time, ~1/13 with optimised slopes: there every batch already
        # offers the minimisers of its linear bounds as candidates (measured on MNIST 256x2: the sat
        # instances fall at the root, and the attacks run while the other processes wait)
        self.attack_pause = 12.0 if self.slopes else 6.0

    # -- evaluation ---------------------------------------------------------------------------------------
    def evaluate(self, nodes, search: Search) -> None:
        t = time.perf_counter()
        ev, geom, recorder = self.ev, self.geom, self.recorder
        L = np.array([n.lo for n in nodes])
        H = np.array([n.hi for n in nodes])
        F = np.array([n.fix for n in nodes], dtype=np.int8).reshape(len(nodes), ev.n_signs)
        keep = geom.keep(L, H)
        for i in np.flatnonzero(~keep):  # proved disjoint from the region: a leaf with nothing in it
            nodes[i].closed, nodes[i].bound, nodes[i].tag = True, -math.inf, None
        if recorder is not None and not keep.all():
            recorder.outside(L[~keep], H[~keep], F[~keep] if ev.use_neurons else None)
        idx = np.flatnonzero(keep)
        if not len(idx):
            return
        kept = [nodes[i] for i in idx]
        L, H, F = L[idx], H[idx], F[idx]
        same = np.array([n.tag is not None and n.tag[0] for n in kept], dtype=bool)
        parents = [None if n.tag is None else n.tag[1] for n in kept]
        arrays = [L, H, F, same, np.stack([np.full(len(kept), self.batches), np.arange(len(kept))], axis=1)]
        if all(p is not None for p in parents):
            # the parents' enclosures (and warm starts, when every parent kept one), stacked per layer
            n_parts = 2 * self.n_bounds
            if all(len(p) > n_parts for p in parents):
                n_parts = len(parents[0])
            arrays += [np.array([p[k] for p in parents]) for k in range(n_parts)]
        self.batches += 1
        self.pool.chunk = pool_chunk(len(kept), self.chunk)
        out = self.pool.evaluate(*arrays)
        closed, margin, bad, infl, centres, sc, n_unstable, cand, xs, xs_scores = out[:10]
        own = out[10:]
        if recorder is not None and closed.any():
            recorder.closed(L[closed], H[closed], F[closed] if ev.use_neurons else None)
        # warm starts (slopes and multipliers) only while the open parts' copies fit in WARM_START_BYTES
        n_open = len(search.frontier)
        n_enc = 2 * self.n_bounds
        part_bytes = sum(a[0].nbytes for a in own[n_enc:]) if own and len(own[0]) else 0
        j = 0  # the rows of ``own`` are the open parts, in order
        for i, n in enumerate(kept):
            n.lo, n.hi, n.fix = L[i], H[i], F[i]
            n.bound, n.closed, n.score = -float(margin[i]), bool(closed[i]), infl[i]
            n.n_unstable, n.cand = int(n_unstable[i]), int(cand[i])
            n.tag = None
            if own and not closed[i]:
                n_open += 1
                k = len(own) if part_bytes * n_open <= WARM_START_BYTES else n_enc
                n.tag = tuple(a[j] for a in own[:k])
                j += 1
        self.candidates = xs
        points = np.concatenate([geom.project(centres[bad]), geom.project(centres), xs])
        cs = np.concatenate([np.full(int(bad.sum()), -np.inf), sc, xs_scores])
        found = self.atk.check(points, cs, limit=4)
        if found is not None:
            self.found = found
            search.finish(Status.FALSIFIED, found)
        self.step_time = time.perf_counter() - t

    # -- splitting ----------------------------------------------------------------------------------------
    def batch_size(self, search: Search, now: float) -> int:
        return self.batch // 2 or 1

    def expand(self, node: Node, search: Search) -> list[Node]:
        ev = self.ev
        lo, hi = node.lo, node.hi
        mid = 0.5 * lo + 0.5 * hi
        can_split = bool(((mid > lo) & (mid < hi)).any())
        own, node.tag = node.tag, None
        if ev.use_neurons and node.cand >= 0 and (not can_split or node.n_unstable <= ev.neuron_limit):
            # the parts z ≤ 0 and z ≥ 0 cover the part; each keeps the parent's enclosures (same box)
            kids = [Node(lo, hi, f, bound=node.bound) for f in neuron_children(node.fix, node.cand)]
            for k in kids:
                k.tag = (True, own)
            return kids
        halves = bisect(lo, hi, self.width0, "influence", node.score) if can_split else None
        if halves is None:  # neither a coordinate nor a neuron to split: the part stays as it is
            search.hold(node)
            return []
        kids = [Node(a, b, node.fix, bound=node.bound) for a, b in halves]
        for k in kids:
            k.tag = (False, own)
        return kids

    # -- side work ----------------------------------------------------------------------------------------
    def interject(self, search: Search, now: float) -> bool:
        if now + 2.0 * self.step_time >= self.deadline:  # the next batch (up to twice as large) would overrun
            search.finish(Status.TIME_LIMIT)
            return True
        if now < self.next_attack:
            return False
        # PGD from the centres of the worst boxes (and the last linear minimisers)
        starts = [np.array([0.5 * n.lo + 0.5 * n.hi for n in search.frontier.best(16)]).reshape(-1, len(self.width0)),
                  self.candidates[:16]]
        found = pgd_attack(self.atk.spec, self.geom, self.atk.confirm, deadline=min(self.deadline, now + 0.5),
                           rng=self.atk.rng, restarts=4, steps=30, starts=np.concatenate(starts))
        if found is not None:
            search.finish(Status.FALSIFIED, found)
        spent = time.perf_counter() - now
        self.next_attack = time.perf_counter() + max(2.0, self.attack_pause * spent)
        return True
