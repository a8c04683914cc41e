"""Lipschitz bounds of high-dimensional ReLU networks: branch-and-bound on neuron signs over one box.

Splitting the input box is hopeless in hundreds of dimensions (MNIST: 784). This search keeps the region's
box whole and splits the *sign* of one unstable neuron at a time (as β-CROWN does for verification, Wang
et al., NeurIPS 2021): a node is the part ``P_F = {x ∈ box : s_i z_i(x) ≥ 0 for (i, s_i) ∈ F}``; its upper
bound is the sound gradient bound of :mod:`verinet.analyses.lipschitz` (``_Evaluator``: pre-activation bounds with
the sign constraints back-substituted by :func:`verinet.bounds.linear.linear_propagate_fixed`, fixed neurons with
derivative exactly 1 or 0, then the interval chain rule met with back-substitution through the backward
pass, :mod:`verinet.bounds.jacobian_bounds`). Nodes are expanded best first (largest upper bound); the split
neuron is the one whose derivative uncertainty carries the largest share of the l1 bound (below).

Why the children cover the parent (the kink ``z = 0``). Let ``f`` be Lipschitz on the box. The constant is
the essential supremum of ``‖∇f‖`` over the box (Rademacher; points of non-differentiability and any null
set can be ignored). Split neuron ``z`` (a continuous piecewise-affine function of ``x``: affine on each of
finitely many polyhedral linear regions of the earlier layers). Write ``S₊ = {z > 0}``, ``S₋ = {z < 0}``,
``S₀ = {z = 0}`` inside ``P_F``.

* At ``x ∈ S₊`` where ``f`` is differentiable, Clarke's chain rule gives ``∇f(x)`` in the hull of the
  products with this neuron's derivative ``∂relu(z(x)) = {1}``; the child ``F ∪ {(z, +1)}`` bounds those
  products over ``{z ≥ 0} ⊇ S₊``. Likewise ``S₋`` and the child with derivative 0.
* ``S₀``: on each linear region ``z`` is affine, so ``S₀`` ∩ region is either the whole region (``z ≡ 0``
  there) or a hyperplane section or empty. Hence ``S₀`` is a finite union of polyhedra with nonempty
  interior plus a null set, and its points outside its interior form a null set (boundaries of finitely
  many polyhedra). At an interior point of ``S₀``, ``relu(z) = 1·z = 0·z`` on a neighbourhood, so ``f``
  coincides there with the network in which this neuron is the identity, and also with the one in which
  it is 0: ``∇f(x)`` is covered by *both* children's rules (and the point satisfies both ``z ≥ 0`` and
  ``z ≤ 0``).

So for almost every ``x`` of ``P_F`` some child's bound holds at ``x``, and the maximum of the children's
bounds bounds the essential supremum over ``P_F``; by induction the maximum over the leaves bounds the
constant on the box. (A child whose constraints the sound bounds prove infeasible contributes 0.) Lower
bounds never use the signs: they are rigorous gradient enclosures at real points of the region, found by
:mod:`verinet.analyses.gradient_search` and the MILP of :mod:`verinet.analyses.gradient_milp`.

Tighter pre-activation bounds (:class:`_Tightening`): every unstable neuron contributes a derivative
``[0, 1]``, so tighter bounds of the hidden pre-activations make more neurons stable. At the root the
hidden-layer bounds are re-bounded with optimised slopes (α-CROWN, :meth:`verinet.bounds.alpha.SlopeTightener.
tighten_hidden`); they hold on the whole box, so every part's bounds are met with them. Optionally
(``"beta"``) each part's later-layer bounds are re-bounded under its sign constraints with multipliers
``β ≥ 0`` (β-CROWN,
step 7 of :mod:`verinet.bounds.linear`: valid on the part for any ``β ≥ 0``); ends that cross prove the part
empty. The optimisers only choose slopes and multipliers; every end is a sound back-substitution bound.

Empty parts (:mod:`verinet.analyses.empty_parts`): a part at the top of the queue whose neurons below its last
fixed layer all have known signs is linear in ``x`` there; before it is split, a Farkas certificate that
it is empty is sought (multipliers from a float LP, the certificate checked with directed rounding). An
empty part bounds nothing: it keeps bound 0 and the multipliers (``Leaf.null``, which the certificate
checker re-verifies exactly). On MNIST 256x2 most of the parts at the top after a minute are such empty
parts that the relaxed bounds cannot refute.

Split choice (heuristic only): for an unstable neuron ``i`` of hidden layer ``k`` the backward pass holds
``u_{k,i} = d_i v_{k,i}`` with ``d_i ∈ [0, 1]``; fixing ``d_i`` removes at most ``|v_{k,i}|`` from
``|u_{k,i}|``, whose effect on ``‖g‖₁`` is at most ``ρ_{k,i} = ‖W_0ᵀ D_0 ⋯ W_kᵀ e_i‖₁`` (bounded with the
upper derivative enclosures and ``|W|``). The score is ``max|v_{k,i}| · ρ_{k,i}``.
"""

from __future__ import annotations

import time

import numpy as np

from intervals import rounding as R
from intervals.array import IntervalArray
from verinet.bounds.gradient import gradient_from_bounds
from verinet.bounds.jacobian_bounds import gradient_bounds
from verinet.network import Activation, Network
from verinet.bounds.norms import gradient_norm_bounds
from verinet.parallel import make_pool
from verinet.bounds.propagation import LayerBounds, per_layer_signs
from verinet.search import Node, ObjectiveBase, Search, SearchConfig, neuron_children, pool_chunk
from verinet.analyses.witness import piece_point

__all__ = ["NEURON_MIN_INPUTS", "TIGHTEN", "TIGHTENINGS", "wants_neuron_search", "neuron_lipschitz",
           "split_scores"]

#: inputs from which :func:`verinet.analyses.lipschitz.lipschitz` splits neurons on the whole box (as verify's
#: neuron branch-and-bound: :data:`verinet.bounds.alpha.ALPHA_MIN_INPUTS`)
NEURON_MIN_INPUTS = 64
#: tightenings of the parts' pre-activation bounds (:class:`_Tightening`) and the default one. Measured on
#: MNIST 256x2 (``benchmarks/bench_lipschitz_mnist.py --tighten``, 60 s): "root" lowered the upper bound
#: or left it unchanged; "beta" gave −10 % (prop_0_0.03 y0) but +1 % to +15 % on the other cases (it
#: evaluates 3–5× fewer parts in the time)
TIGHTENINGS = ("none", "root", "beta")
TIGHTEN = "root"
#: parts per evaluation call (a large batch goes out in four chunks: :func:`verinet.search.pool_chunk`).
#: Fixed, whatever the number of workers, so that results do not depend on it; small, because one part
#: costs milliseconds on MNIST-sized networks and batches start small (they grow with the tree)
PART_CHUNK = 8
#: the children of a split: the parts z ≤ 0 (−1) and z ≥ 0 (+1); together they cover the parent
_CHILD_SIGNS = (-1, 1)


def wants_neuron_search(network: Network, c, jacobian: str, precision, strategy: str, neurons: str) -> bool:
    """Whether :func:`verinet.analyses.lipschitz.lipschitz` should use :func:`neuron_lipschitz` (high-dimensional
    ReLU network, one output or a combination, back-substituted gradient bounds in float64)."""
    return (c is not None and jacobian == "linear" and precision is None and neurons == "auto"
            and strategy != "bisect-all" and network.n_inputs >= NEURON_MIN_INPUTS
            and all(L.activation is Activation.RELU for L in network.layers[:-1])
            and network.layers[-1].activation is Activation.IDENTITY)


def split_scores(network: Network, bounds, c: np.ndarray, free: np.ndarray | None = None) -> np.ndarray:
    """(B, H) split scores over the kinked neurons (flat, layer order) from pre-activation bounds
    (module docstring; 0 for stable neurons). Heuristic, float64."""
    layers = network.layers
    Hn = len(layers) - 1
    pre = [(np.atleast_2d(p.lo), np.atleast_2d(p.hi)) for p in bounds.pre]
    B = pre[0][0].shape[0]
    dh = [np.where(h < 0, 0.0, 1.0) for _, h in pre[:Hn]]
    uns = [(l < 0) & (h > 0) for l, h in pre[:Hn]]
    absW = [np.abs(L.weight_mid) for L in layers]
    # ρ: l1 size of each neuron's column of the backward map to g
    f = np.ones(network.n_inputs) if free is None else np.asarray(free, dtype=np.float64)
    rho = [np.broadcast_to(absW[0] @ f, (B, layers[0].n_out))]
    for k in range(1, Hn):
        rho.append((dh[k - 1] * rho[k - 1]) @ absW[k].T)
    # magnitude of v_k (the backward adjoint before gate k)
    mag = [None] * Hn
    v = np.broadcast_to(np.abs(layers[Hn].weight_mid.T @ c), (B, layers[Hn - 1].n_out))
    for k in range(Hn - 1, -1, -1):
        mag[k] = v
        if k:
            v = (dh[k] * v) @ absW[k]
    return np.concatenate([np.where(uns[k], mag[k] * rho[k], 0.0) for k in range(Hn)], axis=1)


class _Tightening:
    """Hidden-layer pre-activation bounds of the parts tightened by optimised slopes (module docstring).

    ``mode``: ``"none"``; ``"root"`` — the root's bounds re-bounded by α-CROWN
    (:meth:`verinet.bounds.alpha.SlopeTightener.tighten_hidden`), then met with every part's own bounds (they
    hold on the whole box, so on each part); ``"beta"`` — also each part's later layers re-bounded under
    its sign constraints with multipliers (β-CROWN), ``iters`` Adam steps.
    """

    def __init__(self, network: Network, kinked, mode: str, iters: int = 5) -> None:
        from verinet.bounds.alpha import SlopeTightener, supports_slopes

        if mode not in TIGHTENINGS:
            raise ValueError(f"unknown tightening {mode!r}: use one of {', '.join(TIGHTENINGS)}")
        self.mode = mode if supports_slopes(network) else "none"
        self.slopes = SlopeTightener(network)
        self.kinked = kinked
        self.n_layers = len(network.layers)
        self.iters = iters
        self.root: list | None = None  # (lo, hi) (n_k,) per hidden layer, valid on the whole box
        self.root_slopes: list = []  # the slopes that prove the root's ends (certificates)

    def __call__(self, L: np.ndarray, H: np.ndarray, F: np.ndarray, bounds):
        """``(bounds, empty (B,))``: ``bounds`` (sound on each part) tightened; parts proved empty."""
        B = len(F)
        empty = np.zeros(B, dtype=bool)
        if self.mode == "none":
            return bounds, empty
        hidden = self.n_layers - 1
        pre = list(bounds.pre)
        if self.root is None and not F.any():
            self.slopes.record = []
            pre = self.slopes.tighten_hidden(L, H, pre)
            self.root_slopes, self.slopes.record = self.slopes.record, None
            self.root = [(np.asarray(p.lo)[0].copy(), np.asarray(p.hi)[0].copy()) for p in pre[:hidden]]
            return LayerBounds(tuple(pre), bounds.output), empty
        if self.root is not None:  # both enclose the part: so does their intersection
            pre[:hidden] = [IntervalArray.unchecked(np.maximum(p.lo, a), np.minimum(p.hi, b))
                            for p, (a, b) in zip(pre[:hidden], self.root)]
        if self.mode == "beta" and F.any():
            fix = per_layer_signs(F, self.kinked, self.n_layers)
            ok = ~np.any([(p.lo > p.hi).any(axis=1) for p in pre[:hidden]], axis=0)
            if ok.any():
                sub = [IntervalArray.unchecked(np.asarray(p.lo)[ok], np.asarray(p.hi)[ok]) for p in pre]
                part = [None if f is None else f[ok] for f in fix]
                sub = self.slopes.tighten_hidden(L[ok], H[ok], sub, part, iters=self.iters)
                for k in range(hidden):
                    lo_k, hi_k = np.array(pre[k].lo), np.array(pre[k].hi)
                    lo_k[ok], hi_k[ok] = sub[k].lo, sub[k].hi
                    pre[k] = IntervalArray.unchecked(lo_k, hi_k)
        # crossing ends: no point of the box satisfies the part's constraints
        empty = np.any([(p.lo > p.hi).any(axis=1) for p in pre[:hidden]], axis=0)
        if empty.any():  # keep well-formed enclosures for the (discarded) empty parts
            pre[:hidden] = [IntervalArray.unchecked(np.where(empty[:, None], o.lo, p.lo),
                                                  np.where(empty[:, None], o.hi, p.hi))
                            for p, o in zip(pre[:hidden], bounds.pre[:hidden])]
        return LayerBounds(tuple(pre), bounds.output), empty


def _evaluate(ev, network: Network, lo: np.ndarray, hi: np.ndarray, F: np.ndarray, split: str = "effect",
              tight: _Tightening | None = None):
    """Sound upper bounds (B,) over the parts ``F`` of the box, split candidates (B,) (−1: none), and the
    parts proved empty (B,). ``ev`` is a :class:`verinet.analyses.lipschitz._Evaluator` (its sound kernels);
    ``tight`` tightens the pre-activation bounds."""
    B = len(F)
    L = np.broadcast_to(lo, (B, len(lo))).copy()
    H = np.broadcast_to(hi, (B, len(hi))).copy()
    bounds, infeasible = ev._bounds(L, H, F)
    if tight is not None:
        bounds, cut = tight(L, H, F, bounds)
        infeasible = cut if infeasible is None else infeasible | cut
    bounds, n_unstable, widest, empty = ev._override(bounds, F)
    if infeasible is not None:
        empty = empty | infeasible
    b = ev.backend
    G = b.to_float(gradient_from_bounds(b, bounds, ev.c, "auto"))
    if ev.free is not None:
        G = IntervalArray.unchecked(np.where(ev.free, G.lo, 0.0), np.where(ev.free, G.hi, 0.0))
    _, up = gradient_norm_bounds(G, ev.norm)
    jb = gradient_bounds(b, bounds, ev.c, ev.norm, free=ev.free, G=G)
    up = np.minimum(np.asarray(up, dtype=np.float64), jb.upper)
    up = np.where(empty, 0.0, up)
    score = split_scores(network, bounds, ev.c, ev.free)
    cand = np.where(score.max(axis=1) > 0, np.argmax(score, axis=1), -1)
    # unstable neurons with a zero score (e.g. zero weights) are still split, widest first
    cand = np.where((cand < 0) & (n_unstable > 0), _first_unstable(ev, bounds), cand)
    if split == "widest":  # the input-splitting search's choice: the earliest layer's widest neuron
        cand = widest
    cand = np.where(empty, -1, cand)
    return up, cand, empty


def _first_unstable(ev, bounds) -> np.ndarray:
    B = np.atleast_2d(bounds.pre[0].lo).shape[0]
    out = np.full(B, -1, dtype=np.int64)
    for k, off, n in ev.kinked:
        z = ev.backend.to_float(bounds.pre[k])
        u = (np.atleast_2d(z.lo) < 0) & (np.atleast_2d(z.hi) > 0)
        pick = (out < 0) & u.any(axis=1)
        out = np.where(pick, off + np.argmax(u, axis=1), out)
    return out


class _PartEvaluator:
    """The worker pool's evaluator of the neuron search (:mod:`verinet.parallel`): :func:`_evaluate` of a
    chunk of sign vectors over the box ``[lo, hi]``.

    ``ev_args``: the arguments of :class:`verinet.analyses.lipschitz._Evaluator` after the network; ``mode`` the
    tightening (None: none at all) and ``root`` the root's tightened hidden-layer bounds, computed once by
    the calling process and shipped here (they hold on the whole box, so meeting a part's bounds with them
    is sound in any process)."""

    def __init__(self, network: Network, ev_args: tuple, lo: np.ndarray, hi: np.ndarray, split: str,
                 mode: str | None, root: list | None) -> None:
        from verinet.analyses.lipschitz import _Evaluator

        self.ev = _Evaluator(network, *ev_args)
        self.network, self.lo, self.hi, self.split = network, lo, hi, split
        self.tight = None if mode is None else _Tightening(network, self.ev.kinked, mode)
        if self.tight is not None:
            self.tight.root = root

    def chunk(self, F: np.ndarray) -> tuple:
        return _evaluate(self.ev, self.network, self.lo, self.hi, F, self.split, self.tight)


def _evaluator_args(ev) -> tuple:
    """The arguments that rebuild the float64 evaluator ``ev`` (:class:`verinet.analyses.lipschitz._Evaluator`)
    after the network, in another process."""
    return (ev.c, ev.norm, None, ev.free, "linear" if ev.linear else "interval",
            "linear" if ev.jac else "interval")


class _SignParts(ObjectiveBase):
    """The objective of :func:`neuron_lipschitz`: parts of one box given by fixed neuron signs.

    A node's ``fix`` holds its signs, ``cand`` the neuron to split next (−1: the part is one linear piece,
    or proved empty, ``tag``), ``bound`` the sound upper bound of the gradient norm on the part (never above
    the parent's)."""

    def __init__(self, network: Network, ev, lo0: np.ndarray, hi0: np.ndarray, split: str, tight, batch: int,
                 time_limit: float | None, t0: float, try_lower, resume) -> None:
        self.network, self.ev, self.lo0, self.hi0 = network, ev, lo0, hi0
        self.split, self.tight, self.batch = split, tight, batch
        self.time_limit, self.t0 = time_limit, t0
        self.try_lower, self.resume = try_lower, resume
        self.pool = None  # the worker pool, once the root is evaluated (None: this process only)
        self.per_box = 0.0  # seconds per evaluated part (running average)
        self.tried: set[bytes] = set()
        self.prover = None  # emptiness proofs (verinet.analyses.empty_parts), set by neuron_lipschitz
        self.proved = 0  # parts proved empty by it

    def evaluate(self, nodes, search) -> None:
        t = time.perf_counter()
        F = np.array([n.fix for n in nodes], dtype=np.int8)
        # fixed chunks (they depend on the batch alone): the same bounds whoever evaluates them
        chunk = pool_chunk(len(F), PART_CHUNK)
        if self.pool is None:
            parts = [_evaluate(self.ev, self.network, self.lo0, self.hi0, F[i:i + chunk], self.split, self.tight)
                     for i in range(0, len(F), chunk)]
            up, cand, empty = (np.concatenate([p[k] for p in parts]) for k in range(3))
        else:
            self.pool.chunk = chunk
            up, cand, empty = self.pool.evaluate(F)
        self.per_box = (self.per_box * search.boxes + (time.perf_counter() - t)) / (search.boxes + len(F))
        own = up
        up = np.minimum(up, np.array([n.bound for n in nodes]))
        for i, n in enumerate(nodes):
            n.fix, n.bound, n.cand, n.tag = F[i], float(up[i]), int(cand[i]), bool(empty[i])
            if not own[i] > up[i]:  # its own bound (otherwise the parent's, computed on ``n.src``)
                n.src = None

    def batch_size(self, search, now: float) -> int:
        # batches grow with the tree (one evaluation of a large batch can take seconds on MNIST)
        size = min(self.batch, max(1, search.boxes // 8))
        if self.time_limit is not None and self.per_box > 0:  # end the last evaluation near the time limit
            size = max(1, min(size, int((self.time_limit - (now - self.t0)) / (2 * self.per_box))))
        return size

    def ends_batch(self, node) -> bool:
        return node.cand < 0  # nothing left to split: the parts below it matter less

    def interject(self, search, now: float) -> bool:
        return self.resume(now)

    def expand(self, node, search) -> list:
        if node.cand < 0 or node.bound < search.lower:
            search.restore(node)  # a leaf whose bound is final, or one below the lower bound
            if node.cand < 0 and not node.tag:
                key = node.fix.tobytes()
                if key not in self.tried:  # one linear piece: a point inside it gives its exact value
                    self.tried.add(key)
                    signs = self.ev.pattern(self.lo0, self.hi0, node.fix)
                    x = piece_point(self.network, self.lo0, self.hi0, signs) if signs is not None else None
                    if x is not None:
                        self.try_lower(x[None, :])
            return []
        if self.prover is not None and self._prove_empty(node):
            search.push(node)  # changed (bound 0): not a batch that could not refine anything
            return []
        kids = [Node(None, None, f, node.bound) for f in neuron_children(node.fix, node.cand, _CHILD_SIGNS)]
        for kid in kids:  # until evaluated, a child holds its parent's bound, computed on the parent's source
            kid.src = node.source()
        return kids


    def _prove_empty(self, node) -> bool:
        """Try a Farkas proof that the part is empty (its signs below the last fixed layer all known);
        on success the node keeps bound 0 and the proof (a null set bounds nothing)."""
        from verinet.analyses.lipschitz import _fixed_tuple

        null = self.prover.prove(_fixed_tuple(node.fix, self.ev.kinked))
        if null is None:
            return False
        node.bound, node.null, node.cand, node.tag, node.src = 0.0, null, -1, True, None
        self.proved += 1
        return True


def neuron_lipschitz(network: Network, region, ev, c: np.ndarray, norm: str, out_label: str, tol: float,
                     time_limit: float | None, max_boxes: int, batch: int, samples: int, search: float,
                     seed: int, progress, t0: float, split: str = "effect", tighten: str | None = None,
                     workers: int = 1, scheduler=None):
    """Best-first neuron-sign branch-and-bound over the region's box (module docstring).

    Arguments as :func:`verinet.analyses.lipschitz.lipschitz` (validated there); ``ev`` its float64 evaluator.
    The root is evaluated here (its tightening once); later batches go through a worker pool
    (:mod:`verinet.parallel`) when ``workers > 1`` or ``scheduler`` is given, in chunks fixed by the batch
    alone, so the result is the same for any number of workers (except under a time limit). ``split``: ``"effect"`` (module docstring) or ``"widest"`` (the
    earliest layer's widest unstable neuron, for comparison). ``tighten``: one of :data:`TIGHTENINGS`
    (:class:`_Tightening`; None: :data:`TIGHTEN`).
    Lower bounds: box centre and ``samples`` random points, then (``search > 0``) the gradient search of
    :mod:`verinet.analyses.gradient_search` for a ``search`` share of the time limit followed by the MILP sign
    ascent of :mod:`verinet.analyses.gradient_milp` from the best points found (4 shares the first time), repeated
    at 1/4, 1/2 and 3/4 of the time limit with new seeds (one share each).

    Returns
    -------
    LipschitzResult
        Rigorous ``lower ≤ L ≤ upper``; ``partition`` holds one leaf per node (the box with fixed signs).
    """
    from verinet.analyses.gradient_search import approx_region_candidates
    from verinet.analyses.lipschitz import _ZERO_FLOOR, Leaf, LipschitzResult, _fixed_tuple

    lo0, hi0 = region.outer_box()
    nk = ev.n_kinked
    tight = _Tightening(network, ev.kinked, TIGHTEN if tighten is None else tighten) \
        if ev.backend.name == "float64" else None

    def try_lower(points: np.ndarray) -> None:
        if not len(points):
            return
        vals = ev.points(points)
        for i in np.argsort(-vals, kind="stable"):
            if vals[i] <= bnb.lower:
                break
            if region.contains(points[i]):
                bnb.improve_lower(float(vals[i]), tuple(float(v) for v in points[i]))
                break

    def resume(now: float) -> bool:
        """The gradient search resumes (new seeds) at 1/4, 1/2 and 3/4 of the time limit."""
        if resumes and now - t0 >= resumes[0] * time_limit:
            resumes.pop(0)
            search_lower(3 - len(resumes))
            return True
        return False

    objective = _SignParts(network, ev, lo0, hi0, split, tight, batch, time_limit, t0, try_lower, resume)
    config = SearchConfig(tol=tol, zero_floor=_ZERO_FLOOR, time_limit=time_limit, max_boxes=max_boxes)
    report = None if progress is None else (
        lambda p: progress({"seconds": p.seconds, "boxes": p.boxes, "lower": p.lower, "upper": p.upper}))
    bnb = Search(objective, config, t0=t0, progress=report)
    bnb.add([Node(None, None, np.zeros(nk, dtype=np.int8))])
    objective.prover = _empty_prover(network, ev, lo0, hi0,
                                     np.array([a < b for a, b in zip(region.lower, region.upper)]))
    if workers > 1 or scheduler is not None:  # the root's tightened bounds go to every process
        objective.pool = make_pool(_PartEvaluator, (network, _evaluator_args(ev), lo0, hi0, split,
                                                    None if tight is None else tight.mode,
                                                    None if tight is None else tight.root), workers, scheduler)
    rng = np.random.default_rng(seed)
    pts = np.clip(lo0 + rng.random((max(samples, 0), len(lo0))) * (hi0 - lo0), lo0, hi0)
    try_lower(np.concatenate([np.clip(0.5 * lo0 + 0.5 * hi0, lo0, hi0)[None, :], pts]))

    def search_lower(k: int) -> None:
        share = None if time_limit is None else search * time_limit
        # the MILP ascent needs seconds per solve on MNIST-sized networks: the first stage gets 4 shares
        milp_share = None if share is None else (4 if k == 0 else 1) * share
        cand = approx_region_candidates(network, region, c, norm, seconds=share, seed=seed + k)
        try_lower(cand.points)
        if norm != "inf":
            return
        from verinet.analyses.gradient_milp import milp_candidates, supports_milp

        if not supports_milp(network, norm):
            return
        try:
            import scipy.optimize  # noqa: F401  (optional dependency: the MILP stage needs it)
        except ImportError:
            return
        secs = 10.0 if milp_share is None else milp_share
        if time_limit is not None:
            secs = min(secs, max(time_limit - (time.perf_counter() - t0), 0.0))
        if secs < 0.5:
            return
        # the ascent goes on from the best point so far (unless it finished there) or the new candidates
        w = bnb.witness
        starts = cand.points[:8] if w is None else np.concatenate([np.array([w]), cand.points[:8]])
        mc, _ = milp_candidates(network, c, ilo, ihi, seconds=secs, starts=starts, done=milp_done, seed=seed + k)
        try_lower(mc.points)

    milp_done: set = set()
    # the MILP's points sit on faces of its box: the float box inside the exact region, so that they count
    ilo = np.array([R.float_up(v) for v in region.lower], dtype=np.float64)
    ihi = np.array([R.float_down(v) for v in region.upper], dtype=np.float64)
    pinned = ilo > ihi  # a pinned coordinate that is not a float: its outer enclosure
    ilo[pinned], ihi[pinned] = lo0[pinned], hi0[pinned]
    searching = search > 0
    if searching:
        search_lower(0)
    resumes = [0.25, 0.5, 0.75] if searching and time_limit is not None else []
    try:
        out = bnb.run()
    finally:
        if objective.pool is not None:
            objective.pool.close()
    kinked = ev.kinked
    box = (tuple(lo0.tolist()), tuple(hi0.tolist()))
    partition = tuple(Leaf(*box, n.bound, 53, _fixed_tuple(n.fix, kinked), null=n.null,
                           source=None if n.src is None else (*box, _fixed_tuple(n.src[2], kinked)))
                      for n in out.open)
    root = None if tight is None or tight.root is None else {"bounds": tight.root, "slopes": tight.root_slopes}
    return LipschitzResult(lower=out.lower, upper=out.upper, status=out.status, norm=norm, output=out_label,
                           boxes=out.boxes, seconds=out.seconds, region=region, partition=partition,
                           witness=out.witness, history=out.history, strategy="neurons", precision=53,
                           tol=tol, root=root)


def _empty_prover(network: Network, ev, lo: np.ndarray, hi: np.ndarray, free: np.ndarray):
    """An :class:`verinet.analyses.empty_parts.EmptyPartProver` for the box, with the signs its interval
    bounds prove (float64 ReLU networks; None otherwise)."""
    from verinet.analyses.empty_parts import EmptyPartProver
    from verinet.bounds.propagation import propagate

    b = ev.backend
    if b.name != "float64":
        return None
    pre = propagate(b, b.box(lo[None, :], hi[None, :])).pre
    signs = [np.where(np.asarray(p.lo)[0] >= 0, 1, np.where(np.asarray(p.hi)[0] <= 0, -1, 0)) for p in pre]
    prover = EmptyPartProver(network, lo, hi, signs, free)
    return prover if prover.ok else None
