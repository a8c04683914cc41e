"""Validated Lipschitz constants: an anytime best-first branch-and-bound over sub-boxes.

Zhou, Shaikh, Li & Farjudian (MSCS 2023), Section 5: for a partition ``{B}`` of the region ``X``,
``max_B min_{g∈G(B)} ‖g‖ ≤ L(f, X) ≤ max_B max_{g∈G(B)} ‖g‖`` and refining the partition makes both sides
converge (for ReLU networks in general position). verinet keeps the guarantees and removes two
limits of the reference tool:

* the global lower bound is the *running maximum* of every rigorous lower bound seen (point
  enclosures at box centres and sample points inside the region), so it is monotone; a box is never
  discarded — boxes whose upper bound is below the lower bound simply stay unexpanded at the bottom of
  the queue — so the true maximum cannot be lost (the reference tool reports 3.4833 on a 1-12-1 network
  whose constant is 3.9967 because it prunes boxes whose upper bound *equals* the lower bound and
  recomputes the lower bound from the current children only);
* only one coordinate is split per box (chosen by the gradient-influence heuristic), not all ``n``
  at once, so 16-input networks are within reach.

When the gap reaches float64 resolution the boxes at the top of the queue are re-evaluated (and
further split) with the arbitrary-precision backend, so the bounds converge to the last bit.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np

from intervals.array import IntervalArray
from verinet.bounds.backends import make_backend
from verinet.errors import QueryError
from verinet.exactfmt import float_to_exact_str
from verinet.bounds.gradient import coefficient_vector, gradient_from_bounds, jacobian_from_bounds
from verinet.analyses.gradient_search import approx_region_candidates
from verinet.bounds.jacobian_bounds import gradient_bounds
from verinet.analyses.leaf_search import leaf_candidates
from verinet.bounds.linear import linear_propagate, linear_propagate_fixed
from verinet.analyses.lipschitz_neuron import neuron_lipschitz, wants_neuron_search
from verinet.analyses.lipschitz_pieces import pieces_lipschitz
from verinet.network import Network
from verinet.bounds.norms import canonical_norm, gradient_norm_bounds, operator_norm_bounds
from verinet.analyses.null_parts import prove_null_part
from verinet.parallel import CHUNK, make_pool
from verinet.bounds.propagation import LayerBounds, kinked_layout, per_layer_signs, propagate, propagate_fixed
from verinet.region import Region
from verinet.search import (Node, ObjectiveBase, Search, SearchConfig, Status, bisect, neuron_children,
                            pool_chunk)
from verinet.bounds.vertex_bounds import LazyLeaves, vertex_leaves, vertex_operator_upper
from verinet.analyses.witness import piece_point

__all__ = ["Status", "Leaf", "LipschitzResult", "lipschitz", "STRATEGIES"]

log = logging.getLogger(__name__)

STRATEGIES = ("influence", "widest", "bisect-all")
#: relative gap below which float64 enclosures are refined with the mp backend
_FLOAT_FLOOR = 1e-11
_POLISH_PRECISION = 128
#: an upper bound below 2^-511 is rounding noise around a constant that is 0 (the underflow terms of the
#: sound products are subnormal, ~1e-322; the l2 norm's upward-rounded square root lifts them to ~1e-162):
#: no refinement can remove it, so the search stops there
_ZERO_FLOOR = 2.0 ** -511


@dataclass(frozen=True)
class Leaf:
    """One piece of the final partition with the upper bound it contributes (and the precision used)."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    bound: float
    precision: int
    #: (layer, neuron, +1 active / −1 inactive): the leaf is the part of the box where these neurons
    #: have these signs (empty: the whole box)
    fixed: tuple[tuple[int, int, int], ...] = ()
    #: (layer, neuron, λ > 0): multipliers proving that the part has no interior (bound 0; see
    #: :mod:`verinet.analyses.null_parts`); empty for an ordinary leaf
    null: tuple[tuple[int, int, Fraction], ...] = ()
    #: where ``bound`` was computed when not on this leaf itself: ``(lower, upper, fixed)`` of an ancestor
    #: (a larger part: its bound holds here too; kept because bounds are not monotone under refinement)
    source: tuple | None = None


@dataclass(frozen=True)
class LipschitzResult:
    """A verified enclosure ``lower ≤ L ≤ upper`` of the Lipschitz constant on a region.

    Attributes
    ----------
    lower, upper : float
        Rigorous bounds (lower rounded down, upper rounded up).
    status : Status
    norm : str
        Input norm (``"inf"``, ``"2"``, ``"1"``); the output uses ``|·|`` for one output or a combination,
        and the same norm for ``output="all"``.
    output : str
        ``"k"``, ``"c=[...]"`` or ``"all"``.
    boxes : int
        Boxes evaluated.
    seconds : float
    partition : tuple of Leaf
        The final partition of the region's bounding box (evidence for certificates; for ``output="all"``
        a sequence built on first use, see :func:`verinet.bounds.vertex_bounds.vertex_leaves`).
    witness : tuple of float or None
        A point of the region whose rigorous gradient enclosure gave ``lower``.
    history : tuple of (seconds, boxes, lower, upper)
        Anytime convergence.
    """

    lower: float
    upper: float
    status: Status
    norm: str
    output: str
    boxes: int
    seconds: float
    region: Region
    partition: tuple[Leaf, ...] = field(repr=False, default=())
    witness: tuple[float, ...] | None = None
    history: tuple[tuple[float, int, float, float], ...] = field(repr=False, default=())
    strategy: str = "influence"
    precision: int = 53
    tol: float = 1e-6
    #: pre-activation bounds used for the leaf enclosures ("interval" or "linear")
    bounds: str = "interval"
    #: gradient bounds per box: interval chain rule only, or also back-substitution ("linear")
    jacobian: str = "interval"
    #: neuron-sign search: the hidden-layer bounds over the whole box that every part's bounds were met
    #: with, ``{"bounds": [(lo, hi), ...], "slopes": [(layer, neuron, side, slopes), ...]}`` (evidence)
    root: dict | None = field(repr=False, default=None, compare=False)

    @property
    def gap(self) -> float:
        """Relative gap ``(upper − lower)/upper`` (0 when both are 0)."""
        return 0.0 if self.upper == 0 else (self.upper - self.lower) / self.upper

    def to_json(self) -> dict:
        """The machine-readable summary printed by ``verinet lipschitz --json``."""
        return {
            "lower": self.lower,
            "upper": self.upper,
            "lower_exact": float_to_exact_str(self.lower),
            "upper_exact": float_to_exact_str(self.upper),
            "status": self.status.value,
            "norm": self.norm,
            "output": self.output,
            "boxes": self.boxes,
            "seconds": round(self.seconds, 6),
            "gap": self.gap,
            "strategy": self.strategy,
            "leaves": len(self.partition),
            "bounds": self.bounds,
            "jacobian": self.jacobian,
            "witness": list(self.witness) if self.witness is not None else None,
        }


class _Evaluator:
    """Per-box upper bounds, point lower bounds and split scores, batched, for one backend.

    ``fix`` (optional, shape (B, H) int8 over the H piecewise-linear hidden neurons, flat in layer order)
    restricts a box to the part where a neuron is active (+1) or inactive (−1). On that part the
    neuron's derivative is the constant 1 (or α) almost everywhere, and the Lipschitz constant is the
    essential supremum of the gradient norm (Rademacher), so overriding its derivative enclosure is sound
    for the *upper* bound; the two halves together cover the box. When the box's own pre-activation
    bounds prove the opposite strict sign, the part is empty and contributes 0 (its sibling covers the
    box). Lower bounds never use ``fix``: they come from real points.
    """

    def __init__(self, network: Network, c: np.ndarray | None, norm: str, precision: int | None,
                 free: np.ndarray | None = None, bounds: str = "interval", jacobian: str = "interval") -> None:
        self.backend = make_backend(network, precision)
        # pre-activation bounds for the derivative enclosures: interval propagation, or sound linear
        # (CROWN-style) bounds intersected with it (fewer [0, 1] derivatives; float64 only)
        self.linear = bounds == "linear" and self.backend.name == "float64"
        # also bound each box's gradient norm by back-substitution through the backward pass
        # (verinet.bounds.jacobian_bounds) and keep the smaller of the two sound upper bounds
        self.jac = jacobian == "linear" and self.backend.name == "float64" and c is not None
        # coordinates in which the region has positive width; the constant of f restricted to a flat
        # region only involves the gradient components along them (mean value theorem inside the region)
        self.free = None if free is None or np.all(free) else np.asarray(free, dtype=bool)
        self.precision = 53 if precision is None else precision
        self.c = c
        self.norm = norm
        # (layer, offset, width) of every layer whose activation has a kink; H = total such neurons
        self.kinked, self.n_kinked = kinked_layout(network)

    def _override(self, bounds, fix):
        """Bounds whose pre-activations of fixed neurons are replaced by a point of the fixed sign, and
        per box the number of unstable (free) neurons and the first of them (flat index, −1 if none)."""
        B = fix.shape[0]
        pre = list(bounds.pre)
        n_unstable = np.zeros(B, dtype=np.int64)
        cand = np.full(B, -1, dtype=np.int64)
        empty = np.zeros(B, dtype=bool)
        b = self.backend
        for k, off, n in self.kinked:
            # signs are all that matter for a kinked activation's derivative, so the outward float64
            # enclosure of an mp pre-activation is as good as the mp one (sound either way)
            z = b.to_float(pre[k])
            f = fix[:, off:off + n]
            # the box proves the opposite strict sign: its part with the fixed sign is empty
            empty |= ((f > 0) & (z.hi < 0)).any(axis=1) | ((f < 0) & (z.lo > 0)).any(axis=1)
            lo = np.where(f > 0, 1.0, np.where(f < 0, -1.0, z.lo))
            hi = np.where(f > 0, 1.0, np.where(f < 0, -1.0, z.hi))
            pre[k] = IntervalArray.unchecked(lo, hi) if b.name == "float64" else b.box(lo, hi)
            unstable = ~(lo > 0) & ~(hi < 0)
            n_unstable += unstable.sum(axis=1)
            width = np.where(unstable, hi - lo, -1.0)
            first = (cand < 0) & unstable.any(axis=1)
            cand = np.where(first, off + np.argmax(width, axis=1), cand)
        return LayerBounds(tuple(pre), bounds.output), n_unstable, cand, empty

    def _bounds(self, lo: np.ndarray, hi: np.ndarray, fix: np.ndarray | None):
        """Pre-activation bounds over the boxes, or over their parts where ``fix`` holds (float64: the
        fixed signs also tighten every later layer), and the parts proved empty (or None)."""
        b = self.backend
        linear = self.linear and not np.array_equal(lo, hi)
        if fix is not None and fix.any() and b.name == "float64":
            per_layer = per_layer_signs(fix, self.kinked, len(b.network.layers))
            if linear:
                r = linear_propagate_fixed(b, lo, hi, per_layer)
            else:
                r = propagate_fixed(b, lo, hi, per_layer)
            return r.bounds, r.infeasible
        if linear:
            return linear_propagate(b, lo, hi), None
        return propagate(b, b.box(lo, hi)), None

    def _enclose(self, lo: np.ndarray, hi: np.ndarray, fix: np.ndarray | None = None, boxes: bool = True,
                 vertices: bool = True):
        b = self.backend
        bounds, infeasible = self._bounds(lo, hi, fix)
        n_unstable = cand = empty = None
        if self.kinked:
            if fix is None:
                fix = np.zeros((len(lo), self.n_kinked), dtype=np.int8)
            bounds, n_unstable, cand, empty = self._override(bounds, fix)
            if infeasible is not None:
                empty |= infeasible
        if self.c is not None:
            G = b.to_float(gradient_from_bounds(b, bounds, self.c, "auto"))
            if self.free is not None:
                G = IntervalArray.unchecked(np.where(self.free, G.lo, 0.0), np.where(self.free, G.hi, 0.0))
            low, up = gradient_norm_bounds(G, self.norm)
            influence = G.mag()
            if self.jac and boxes:
                jb = gradient_bounds(b, bounds, self.c, self.norm, free=self.free, G=G)
                up = np.minimum(up, jb.upper)
                influence = np.maximum(np.abs(jb.lo), np.abs(jb.hi))
        else:
            J = b.to_float(jacobian_from_bounds(b, bounds, "auto"))
            if self.free is not None:
                J = IntervalArray.unchecked(np.where(self.free, J.lo, 0.0), np.where(self.free, J.hi, 0.0))
            if boxes and vertices and self.kinked and b.name == "float64":  # also the 2^k vertices of k kinks
                low, up = np.zeros(len(lo)), vertex_operator_upper(b, bounds, self.kinked, self.norm, self.free, J=J)
            else:
                # boxes need the upper bound only, points the lower one only
                low, up = operator_norm_bounds(J, self.norm, lower=not boxes, upper=boxes)
            influence = J.mag().sum(axis=-2)
        up = np.asarray(up)
        if n_unstable is None:
            n_unstable = np.zeros(len(lo), dtype=np.int64)
            cand = np.full(len(lo), -1, dtype=np.int64)
        elif empty.any():  # an empty piece contributes nothing to the supremum
            up = np.where(empty, 0.0, up)
            n_unstable = np.where(empty, 0, n_unstable)
        return np.asarray(low), up, influence, n_unstable, cand

    def unstable_parts(self, lo: np.ndarray, hi: np.ndarray, fix: np.ndarray):
        """Upper bounds (B,) of boxes (parts) without the vertex bounds of :mod:`verinet.bounds.vertex_bounds`, and
        their unstable kinked neurons (B, H): the parts that spell out a vertex bound."""
        bounds, _ = self._bounds(lo, hi, fix)
        bounds = self._override(bounds, fix)[0]
        unstable = np.concatenate([~(bounds.pre[k].lo > 0) & ~(bounds.pre[k].hi < 0) for k, _, _ in self.kinked],
                                  axis=1)
        return self._enclose(lo, hi, fix, vertices=False)[1], unstable

    def pattern(self, lo: np.ndarray, hi: np.ndarray, fix: np.ndarray) -> list | None:
        """Sign of every kinked neuron on the part of one box (one ±1 array per layer, None for the other
        layers), or None when the part's enclosures leave some neuron unstable or prove the part empty."""
        bounds, infeasible = self._bounds(lo[None, :], hi[None, :], fix[None, :])
        if infeasible is not None and infeasible[0]:
            return None
        signs: list = [None] * len(self.backend.network.layers)
        for k, off, n in self.kinked:
            z = self.backend.to_float(bounds.pre[k])
            f = fix[off:off + n]
            s = np.where(f != 0, f, np.where(z.lo[0] > 0, 1, np.where(z.hi[0] < 0, -1, 0)))
            if (s == 0).any():
                return None
            signs[k] = s.astype(np.float64)
        return signs

    def boxes(self, lo: np.ndarray, hi: np.ndarray, fix: np.ndarray | None = None):
        """(upper (B,), split scores (B, n), unstable count (B,), branch candidate (B,)) for boxes."""
        _, up, infl, n_unstable, cand = self._enclose(lo, hi, fix)
        return up, infl, n_unstable, cand

    def points(self, x: np.ndarray) -> np.ndarray:
        """Rigorous lower bounds (B,) from the enclosures at the points ``x`` (B, n)."""
        return self._enclose(x, x, boxes=False)[0]

    def chunk(self, lo: np.ndarray, hi: np.ndarray, centres: np.ndarray, fix: np.ndarray | None = None):
        """Everything the search needs for one chunk of boxes."""
        return (*self.boxes(lo, hi, fix), self.points(centres))


class _LazyEvaluator:
    """An :class:`_Evaluator` constructed when first called."""

    def __init__(self, *args) -> None:
        self._args = args
        self._ev: _Evaluator | None = None

    def _get(self) -> _Evaluator:
        if self._ev is None:
            self._ev = _Evaluator(*self._args)
        return self._ev

    def boxes(self, lo, hi, fix=None):
        return self._get().boxes(lo, hi, fix)

    def points(self, x):
        return self._get().points(x)


def _output_label(network: Network, output) -> tuple[np.ndarray | None, str]:
    if isinstance(output, str) and output == "all":
        return None, "all"
    if network.n_outputs == 1 and output is None:
        output = 0
    c = coefficient_vector(network, 0 if output is None else output)
    if isinstance(output, (int, np.integer)) or output is None:
        return c, str(int(np.argmax(c)))
    return c, "c=[" + ",".join(repr(float(v)) for v in c) + "]"


def lipschitz(
    network: Network,
    region: Region | None = None,
    *,
    norm="inf",
    output=0,
    tol: float = 1e-6,
    time_limit: float | None = None,
    max_boxes: int = 1_000_000,
    strategy: str = "influence",
    precision: int | None = None,
    batch: int = 128,
    samples: int = 16,
    search: float = 0.05,
    workers: int = 1,
    bounds: str = "auto",
    neurons: str = "auto",
    jacobian: str = "auto",
    scheduler: str | None = None,
    seed: int = 0,
    progress: Callable[[dict], None] | None = None,
) -> LipschitzResult:
    """Verified local Lipschitz constant of ``network`` on ``region`` by branch-and-bound.

    Parameters
    ----------
    network : Network
    region : Region, optional
        Defaults to the network's input domain.
    norm : {"inf", "2", "1"}
        Input norm; the output uses ``|·|`` (one output or a combination) or the same norm (``"all"``).
    output : int, sequence of float, or "all"
        Output index, coefficients ``c`` of ``cᵀy`` (e.g. a logit margin ``[1, -1]``), or ``"all"`` for the
        induced operator norm of the Jacobian.
    tol : float
        Stop when ``upper − lower ≤ tol·upper`` (or when ``upper < 2^-511``: the constant is 0 to float64
        resolution).
    time_limit : float, optional
        Seconds; the result is then the (sound) bounds reached.
    max_boxes : int
        Budget of evaluated boxes.
    strategy : {"influence", "widest", "bisect-all"}
        Split heuristic; ``bisect-all`` is the reference tool's (all coordinates at once).
    precision : int, optional
        Bits for the arbitrary-precision backend throughout; default float64 with mp refinement
        at the end when the gap reaches float64 resolution.
    bounds : {"auto", "interval", "linear"}
        Pre-activation bounds behind the gradient enclosures: interval propagation, or sound linear
        (CROWN-style) bounds of :mod:`verinet.bounds.linear`, tighter on deep networks and costlier per box.
        ``auto`` takes linear bounds for piecewise-linear networks with at least two hidden layers and
        32 hidden neurons (with ``output="all"``: with any hidden ReLU layer), interval bounds otherwise
        (``benchmarks/bench_lipschitz.py`` and ``benchmarks/bench_norms.py`` compare them). With
        ``output="all"``, ``auto`` and the default strategy, a ReLU network with at most 64 hidden neurons
        on a box is first solved by enumerating its linear pieces (:mod:`verinet.analyses.lipschitz_pieces`;
        the search runs when that gives up or does not reach ``tol``).
    neurons : {"auto", "never"}
        ``auto``: a box with an unstable ReLU (with interval bounds: with at most the number of free
        coordinates + 1 of them; with linear bounds: with at most 32 and half of all ReLUs unstable) is split on
        the sign of one — the earliest layer's widest — rather than
        on a coordinate: its two parts cover the box, on each the neuron's derivative is exact, and its
        sign constraint tightens every later layer (with linear bounds it also shrinks the box and may
        prove the part empty). ``never``: coordinates only, as in the paper's method.
    search : float
        Share of ``time_limit`` spent first on a search for large gradients (random and vertex samples,
        smoothed gradient ascent, a walk over activation patterns; :mod:`verinet.analyses.gradient_search`), whose
        points give rigorous lower bounds; the search resumes for one share at 1/4, 1/2 and 3/4 of the
        time limit (4 shares in all at most). Without a time limit a small fixed search (deterministic).
        Besides, short searches in the boxes with the largest upper bounds (:mod:`verinet.analyses.leaf_search`)
        take at most this share of the time elapsed (without a time limit: one round each time the
        number of boxes doubles), so the lower bound follows the upper bound's worst regions.
        0 disables both. Single outputs and combinations only (not ``"all"``).
    jacobian : {"auto", "interval", "linear"}
        Upper bound of each box's gradient norm: the interval chain rule, or also sound linear bounds
        back-substituted through the backward pass (:mod:`verinet.bounds.jacobian_bounds`; the smaller of the
        two is kept). ``auto`` takes ``linear`` where the pre-activation bounds are linear (deep networks)
        for one output or a combination, in float64. Measured on one box: ACAS Xu, [-0.01, 0.01]^5,
        127 → 5.7; MNIST 256×2, the box of ``prop_0_0.03``, 237 → 184 (``benchmarks/bench_jacobian_bounds.py``).
    workers : int
        Processes that evaluate boxes, this one included (see :mod:`verinet.parallel`). The result
        (bounds, boxes, status, partition) is identical for any number of workers, except under a
        ``time_limit``: boxes are always evaluated in fixed chunks and merged in the same order.
    scheduler : str, optional
        Address of a Dask ``distributed`` scheduler (``"tcp://host:8786"``): boxes are then evaluated on
        its workers (``workers`` is ignored). Needs ``pip install 'verinet[dist]'``.
    progress : callable, optional
        Called about once a second with a dict of running statistics.

    Returns
    -------
    LipschitzResult

    Examples
    --------
    >>> from verinet import Layer, Network
    >>> net = Network((Layer.from_exact([["1"], ["-1"]], ["0", "0"]), Layer.from_exact([["2", "1"]], ["0"], "identity")))
    >>> r = lipschitz(net, Region.box(["-1"], ["1"]), tol=1e-9)   # f(x) = 2 relu(x) + relu(-x)
    >>> r.status.value, r.lower <= 2.0 <= r.upper, r.upper - r.lower < 1e-8
    ('converged', True, True)

    Rigorous: ``lower ≤ L(f, region) ≤ upper`` for the exact real semantics of the weights.
    """
    t0 = time.perf_counter()
    norm = canonical_norm(norm)
    if strategy not in STRATEGIES:
        raise QueryError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    if not (tol >= 0):
        raise QueryError(f"tol must be >= 0, got {tol}")
    if max_boxes < 1:
        raise QueryError(f"max_boxes must be >= 1, got {max_boxes}")
    region = Region.from_domain(network) if region is None else region
    region.check_dim(network.n_inputs)
    if strategy == "bisect-all" and network.n_inputs > 16:
        raise QueryError("bisect-all makes 2^n children per box; use it only with at most 16 inputs")
    c, out_label = _output_label(network, output)
    lo0, hi0 = region.outer_box()
    width0 = hi0 - lo0
    free = width0 > 0
    if not free.any():
        raise QueryError("region is a single point: a Lipschitz constant needs a region of positive width")

    if workers < 1:
        raise QueryError(f"workers must be >= 1, got {workers}")
    if bounds not in ("auto", "interval", "linear"):
        raise QueryError(f"unknown bounds {bounds!r}: use auto, interval or linear")
    exact_pieces = c is None and precision is None and strategy == "influence" and bounds == "auto"
    if bounds == "auto":
        bounds = _auto_bounds(network, c)
    if neurons not in ("auto", "never"):
        raise QueryError(f"unknown neuron splitting {neurons!r}: use auto or never")
    if not 0 <= search < 1:
        raise QueryError(f"search must be a share of the time limit in [0, 1), got {search}")
    if jacobian not in ("auto", "interval", "linear"):
        raise QueryError(f"unknown jacobian bounds {jacobian!r}: use auto, interval or linear")
    if jacobian == "auto":
        jacobian = "linear" if bounds == "linear" else "interval"
    if c is None or precision is not None:  # back-substitution: one output or a combination, float64
        jacobian = "interval"
    # (with a time limit below a second the anytime search answers: the walk's length is bounded by its
    # budgets, not by the clock)
    if exact_pieces and neurons == "auto" and jacobian == "interval" and (time_limit is None or time_limit >= 1):
        # tiny networks: enumerate the linear pieces (verinet.analyses.lipschitz_pieces), else the search
        kinked, _ = kinked_layout(network)
        result = pieces_lipschitz(network, region, make_backend(network, None), kinked, norm, out_label, tol,
                                  max_boxes, t0, lo0, hi0)
        if result is not None:
            return dataclasses.replace(result, bounds=bounds, jacobian=jacobian)
    pool = make_pool(_Evaluator, (network, c, norm, precision, free, bounds, jacobian), workers, scheduler)
    try:
        if wants_neuron_search(network, c, jacobian, precision, strategy, neurons):
            # high-dimensional inputs: neuron-sign branch-and-bound on the whole box (its own worker pool)
            result = neuron_lipschitz(network, region, pool.local, c, norm, out_label, tol, time_limit, max_boxes,
                                      batch, samples, search, seed, progress, t0, workers=workers,
                                      scheduler=scheduler)
            return dataclasses.replace(result, bounds=bounds, jacobian=jacobian)
        result = _search(network, region, pool, c, norm, out_label, tol, time_limit, max_boxes, strategy,
                         precision, batch, samples, seed, progress, t0, lo0, hi0, width0, neurons, search)
        return dataclasses.replace(result, bounds=bounds, jacobian=jacobian)
    finally:
        pool.close()


def _auto_bounds(network: Network, c: np.ndarray | None = np.zeros(0)) -> str:
    hidden = network.layers[:-1]
    deep = len(hidden) >= 2 and sum(L.n_out for L in hidden) >= 32
    # output="all" (c is None): sign constraints that shrink the box and prove parts empty decide how many
    # boxes the operator norm needs (benchmarks/bench_norms.py: 4-5-5-3, 10-15-10-3 and 4-20-3 need 2-13x
    # fewer boxes with linear bounds, for each of the three norms)
    kinks = any(L.activation.impl.has_kinks for L in hidden)
    return "linear" if (deep or (c is None and kinks)) and network.piecewise_linear else "interval"


def _fixed_tuple(fix: np.ndarray, kinked) -> tuple[tuple[int, int, int], ...]:
    """(layer, neuron, sign) of every fixed neuron, from the flat ``fix`` vector."""
    if not fix.any():  # the common case; keeps building a large partition cheap
        return ()
    out = []
    for k, off, n in kinked:
        for j in np.flatnonzero(fix[off:off + n]):
            out.append((k, int(j), int(fix[off + j])))
    return tuple(out)


#: a box with at most this many unstable ReLUs (or n + 1 for a region of n free coordinates, if more) is
#: refined by fixing one of them (both signs) rather than by splitting a coordinate: interval chain rules
#: overestimate at kinks however small the box is. In general position up to n kink surfaces meet at a
#: point, so a smaller limit leaves the boxes around such points unrefinable (no convergence in 3-D+).
#: With linear bounds every box with an unstable neuron is split on one: there a sign constraint also
#: shrinks the box and can prove parts empty (measured: 8-32-32-1, r = 0.1, converged in 1,733 boxes
#: instead of a gap of 0.27 after 145,000; with interval bounds fixing neurons early is 10–100× worse)
_BRANCH_UNSTABLE = 2
#: ... but a box with more than this share of the kinked neurons (or more than _LINEAR_BRANCH_MAX of them)
#: unstable is split on a coordinate: its bounds are too loose for sign constraints to pay. Measured on
#: ACAS Xu 5-50×6-5 (300 ReLUs; about 250 unstable at the root of [-0.3, 0.3]^5, 200 at the top boxes
#: after 4,000 boxes): upper bound 2.2e5 after 60 s when every such box was split on a neuron, 5.2e4 with
#: coordinate splits; on the sub-box [-0.3,-0.15]²×[0,0.15]×[-0.3,-0.15]×[0,0.15] after 5,000 boxes
#: 4.0e4 (every box on a neuron), 7.8e3 (limit 150), 3.2e3 (limit 75 or coordinates only). The random
#: networks of ``benchmarks/bench_lipschitz.py`` (table 3), where activation splitting converges fast,
#: have 9–25 unstable ReLUs at the root.
_LINEAR_BRANCH_SHARE = 0.5
_LINEAR_BRANCH_MAX = 32
#: boxes per chunk of a small batch (larger batches go out in four chunks)
_CHUNK = CHUNK


def _pop_count(batch: int, frontier: int, lower: float, upper: float) -> int:
    """Boxes to expand next: ``batch``, or up to 8 batches when the frontier is large (16 batches or more)
    and the relative gap still above 0.1. Far from convergence many boxes have to be refined anyway, and
    evaluating them together amortises per-call costs (ACAS Xu 5-50×6-5, linear bounds, boxes of width
    0.0375: 5.9 ms per box in chunks of 128, 2.8 ms in chunks of 512); near convergence the search stays
    focused on the few boxes at the top."""
    if frontier < 16 * batch or not upper - lower > 0.1 * upper:
        return batch
    return min(8 * batch, frontier // 16)


#: boxes searched for large gradients per leaf search (those with the largest upper bounds)
_LEAF_BOXES = 8


class _BoxParts(ObjectiveBase):
    """The objective of :func:`_search`: boxes (or their parts with fixed neuron signs) of the region.

    A node's bound is the sound upper bound of the gradient norm on its piece (never above its parent's),
    evaluated in batches through the worker pool; lower bounds come from rigorous enclosures at points of
    the region (box centres, samples, searches for large gradients, points inside linear pieces). A node is
    split on a neuron sign (few unstable neurons) or a coordinate (:func:`verinet.search.bisect`),
    re-evaluated with the mp backend when the gap reaches float64 resolution, held when it cannot be split.
    """

    def __init__(self, network, region, pool, c, norm, tol, time_limit, strategy, batch, seed, t0, lo0, hi0,
                 width0, neurons, search, polish) -> None:
        ev = self.ev = pool.local
        self.network, self.region, self.pool, self.c, self.norm = network, region, pool, c, norm
        self.time_limit, self.strategy, self.batch, self.seed, self.t0 = time_limit, strategy, batch, seed, t0
        self.width0, self.free, self.search, self.polish = width0, width0 > 0, search, polish
        self.lo0, self.hi0 = lo0, hi0
        self.kinked = ev.kinked
        self.branch_neurons = strategy != "bisect-all" and ev.n_kinked > 0 and neurons == "auto"
        self.branch_limit = (min(int(_LINEAR_BRANCH_SHARE * ev.n_kinked), _LINEAR_BRANCH_MAX) if ev.linear
                             else max(_BRANCH_UNSTABLE, int((width0 > 0).sum()) + 1))
        self.tried: set[bytes] = set()  # sign patterns whose piece was searched for a point
        self.null_keys: set[bytes] = set()  # sign patterns whose part had no interior in some box
        # coordinates the exact region leaves free (a pinned coordinate that is not a float has an outer box
        # of positive width, but rows along it do not bound the interior of the region's affine hull)
        self.region_free = np.array([a < b for a, b in zip(region.lower, region.upper)])
        self.piecewise = network.piecewise_linear
        self.witness_polished = False
        self.searching = search > 0 and c is not None
        # with a time limit the search resumes (new seeds) at 1/4, 1/2 and 3/4 of it, for one share each
        self.resumes = [0.25, 0.5, 0.75] if self.searching and time_limit is not None else []
        # leaf searches: the lower bound follows the upper bound's worst boxes (verinet.analyses.leaf_search); with a
        # time limit they take at most one share of the time elapsed, without one they run each time the
        # number of boxes doubles (deterministic)
        self.leaf_state = {"seconds": 0.0, "next": 4 * batch, "round": 0}
        self.at_floor = False

    def try_lower(self, bnb: Search, points: np.ndarray, values: np.ndarray) -> None:
        order = np.argsort(-values, kind="stable")
        for i in order:
            if values[i] <= bnb.lower:
                break
            if self.region.contains(points[i]):  # lower bounds only from points of the region
                bnb.improve_lower(float(values[i]), tuple(float(v) for v in points[i]))
                self.witness_polished = False
                break

    def evaluate(self, nodes, bnb: Search) -> None:
        """Evaluate new nodes (their bounds so far: the parent's).

        A child is a subset of its parent, so the parent's bound is also sound for it: keeping the smaller
        makes the global upper bound non-increasing (rounding can make a child's enclosure a few ulps
        wider than its parent's)."""
        pool, ev = self.pool, self.ev
        L = np.array([n.lo for n in nodes])
        H = np.array([n.hi for n in nodes])
        F = np.array([n.fix for n in nodes], dtype=np.int8).reshape(len(nodes), ev.n_kinked)
        centres = np.clip(0.5 * L + 0.5 * H, L, H)
        # a large batch goes out in four chunks (the split depends on the batch alone, so results do not
        # depend on the number of workers): per-call costs amortise over more boxes
        pool.chunk = pool_chunk(len(nodes), _CHUNK)
        up, score, n_unstable, cand, low = pool.evaluate(L, H, centres, F)
        own = up
        up = np.minimum(up, np.array([n.bound for n in nodes], dtype=np.float64))
        self.try_lower(bnb, centres, low)
        for i, n in enumerate(nodes):
            n.lo, n.hi, n.fix, n.bound, n.score = L[i], H[i], F[i], float(up[i]), score[i]
            n.n_unstable, n.cand = int(n_unstable[i]), int(cand[i])
            if not own[i] > up[i]:  # its own bound (otherwise the parent's, computed on ``n.src``)
                n.src = None

    def polish_node(self, bnb: Search, node: Node) -> None:
        """Re-evaluate a box with the mp backend; both enclosures are sound, keep the smaller bound."""
        up, sc, _, _ = self.polish.boxes(node.lo[None, :], node.hi[None, :], node.fix[None, :])
        bnb.boxes += 1
        if float(up[0]) <= node.bound:  # the node's own bound now
            node.src = None
        node.bound = min(float(up[0]), node.bound)
        node.score = sc[0]
        node.polished = True
        bnb.push(node)

    def search_lower(self, bnb: Search, seconds: float | None, k: int) -> None:
        # float candidates from a search for large gradients; the bound is the rigorous enclosure at them
        cand = approx_region_candidates(self.network, self.region, self.c, self.norm, seconds=seconds,
                                        seed=self.seed + k)
        if len(cand.points):
            self.try_lower(bnb, cand.points, self.ev.points(cand.points))

    def search_leaves(self, bnb: Search) -> None:
        top = [n for n in bnb.frontier.best(4 * _LEAF_BOXES) if not n.searched and n.bound > bnb.lower]
        top = top[:_LEAF_BOXES]
        if not top:
            return
        t = time.perf_counter()
        for n in top:
            n.searched = True
        state = self.leaf_state
        pts = leaf_candidates(self.network, self.c, self.norm, [(n.lo, n.hi) for n in top], self.free,
                              seed=self.seed + 1000 * (state["round"] + 1))
        if len(pts):
            self.try_lower(bnb, pts, self.ev.points(pts))
        state["round"] += 1
        state["seconds"] += time.perf_counter() - t

    def leaf_due(self, bnb: Search, now: float) -> bool:
        state = self.leaf_state
        if not self.searching or bnb.boxes < state["next"]:
            return False
        if self.time_limit is None:
            state["next"] = 2 * bnb.boxes
            return True
        state["next"] = bnb.boxes + self.batch
        return state["seconds"] <= self.search * (now - self.t0)

    def interject(self, bnb: Search, now: float) -> bool:
        if self.resumes and now - self.t0 >= self.resumes[0] * self.time_limit:
            self.resumes.pop(0)
            self.search_lower(bnb, self.search * self.time_limit, 3 - len(self.resumes))
            return True
        if self.leaf_due(bnb, now):
            self.search_leaves(bnb)
            return True
        upper = bnb.upper
        self.at_floor = self.polish is not None and upper - bnb.lower <= _FLOAT_FLOOR * upper
        if self.at_floor and bnb.witness is not None and not self.witness_polished:
            val = float(self.polish.points(np.array([bnb.witness]))[0])
            self.witness_polished = True
            bnb.improve_lower(val, bnb.witness)  # running maximum: the lower bound never decreases
            return True
        return False

    def batch_size(self, bnb: Search, now: float) -> int:
        return _pop_count(self.batch, len(bnb.frontier), bnb.lower, bnb.upper)

    def expand(self, node: Node, bnb: Search) -> list[Node]:
        ev, polish = self.ev, self.polish
        if node.bound < bnb.lower:  # cannot contain the maximum: keep it as a leaf, do not expand
            bnb.push(node)
            return []
        if node.polished:
            # refined with mp already: split it further in mp (no neuron fixing there)
            kids = bisect(node.lo, node.hi, self.width0, self.strategy, node.score)
            if kids is None:
                bnb.hold(node)
                return []
            for klo, khi in kids:
                up, sc, _, _ = polish.boxes(klo[None, :], khi[None, :], node.fix[None, :])
                bnb.boxes += 1
                kid = Node(klo, khi, node.fix, min(float(up[0]), node.bound), sc[0])
                kid.polished = True
                if float(up[0]) > node.bound:  # the parent's bound is kept: record where it was computed
                    kid.src = node.source()
                bnb.push(kid)
                centre = np.clip(0.5 * klo[None, :] + 0.5 * khi[None, :], klo, khi)
                self.try_lower(bnb, centre, polish.points(centre))
            return []
        if self.at_floor and polish is not None:
            self.polish_node(bnb, node)
            return []
        key = node.fix.tobytes()
        if (self.branch_neurons and self.piecewise and node.n_unstable == 0 and node.fix.any()
                and (key not in self.tried or key in self.null_keys)):
            # one linear piece: its bound is exact if the part has a point; parts are often slivers
            # that centres miss, so look for a point inside the piece (lower bounds stay rigorous:
            # they come from enclosures at the points found)
            fresh = key not in self.tried
            self.tried.add(key)
            signs = ev.pattern(node.lo, node.hi, node.fix)
            # anywhere in the region: a point of the piece gives its exact norm as a lower bound even when
            # the piece misses this box (each pattern is tried once)
            x = piece_point(self.network, self.lo0, self.hi0, signs) if signs is not None and fresh else None
            if x is not None:
                self.try_lower(bnb, x[None, :], ev.points(x[None, :]))
            elif signs is not None:
                # no interior point found: the part may be a null set (coinciding kinks), which bounds
                # nothing (the constant is an essential supremum); drop it only with an exact proof
                null = prove_null_part(self.network, node.lo, node.hi, signs,
                                       _fixed_tuple(node.fix, self.kinked), self.region_free)
                if null is not None:
                    self.null_keys.add(key)
                    node.bound, node.null = 0.0, null
                    bnb.push(node)
                    return []
        if self.branch_neurons and 1 <= node.n_unstable <= self.branch_limit and node.cand >= 0:
            return _children(node, [(node.lo, node.hi, f) for f in neuron_children(node.fix, node.cand)])
        kids = bisect(node.lo, node.hi, self.width0, self.strategy, node.score)
        if kids is None:
            if polish is not None:  # too narrow to split in float64: refine with the mp backend
                self.polish_node(bnb, node)
            else:
                bnb.hold(node)
            return []
        return _children(node, [(klo, khi, node.fix) for klo, khi in kids])


def _children(parent: Node, parts) -> list[Node]:
    """New nodes for ``(lo, hi, fix)`` parts of ``parent``, holding its bound (and where it was computed)
    until they are evaluated."""
    kids = [Node(lo, hi, fix, parent.bound) for lo, hi, fix in parts]
    for kid in kids:
        kid.src = parent.source()
    return kids


def _leaf(node: Node, kinked, precision: int = 53) -> Leaf:
    src = None if node.src is None else (tuple(node.src[0].tolist()), tuple(node.src[1].tolist()),
                                         _fixed_tuple(node.src[2], kinked))
    return Leaf(tuple(node.lo.tolist()), tuple(node.hi.tolist()), node.bound,
                _POLISH_PRECISION if node.polished else precision, _fixed_tuple(node.fix, kinked), node.null,
                src)


def _search(network, region, pool, c, norm, out_label, tol, time_limit, max_boxes, strategy, precision, batch,
            samples, seed, progress, t0, lo0, hi0, width0, neurons="auto", search=0.0) -> LipschitzResult:
    """The best-first search of :func:`lipschitz` (arguments already validated) on :mod:`verinet.search`."""
    ev = pool.local
    # the mp evaluator is built on first use (preparing exact weights costs time on large networks)
    exact_weights = all(L.has_exact_weights for L in network.layers)  # interval-weight families cannot
    # be refined in mp (see verinet.bounds.backends.mp)
    free = width0 > 0
    polish = (_LazyEvaluator(network, c, norm, _POLISH_PRECISION, free)
              if precision is None and exact_weights else None)
    objective = _BoxParts(network, region, pool, c, norm, tol, time_limit, strategy, batch, seed, t0, lo0, hi0,
                          width0, neurons, search, polish)
    config = SearchConfig(tol=tol, zero_floor=_ZERO_FLOOR, time_limit=time_limit, max_boxes=max_boxes)
    report = None if progress is None else (
        lambda p: progress({"seconds": p.seconds, "boxes": p.boxes, "boxes_per_second": p.boxes_per_second,
                            "lower": p.lower, "upper": p.upper}))
    bnb = Search(objective, config, t0=t0, progress=report)

    # root box and sample points for the lower bound
    bnb.add([Node(lo0.copy(), hi0.copy(), np.zeros(ev.n_kinked, dtype=np.int8))])
    rng = np.random.default_rng(seed)
    if samples > 0:
        pts = lo0 + rng.random((samples, network.n_inputs)) * width0
        pts = np.clip(pts, lo0, hi0)
        objective.try_lower(bnb, pts, ev.points(pts))
    # not when the root box leaves a gap of 1 % or less: refinement closes it faster than a search
    top = bnb.frontier.top()
    if objective.searching and top - bnb.lower > max(tol, 0.01) * top:
        objective.search_lower(bnb, None if time_limit is None else search * time_limit, 0)

    out = bnb.run()
    kinked = ev.kinked
    nodes = list(out.open) + list(out.held)
    partition = tuple(_leaf(n, kinked, ev.precision) for n in nodes)
    if c is None:  # vertex bounds are spelt out as fixed-sign parts on first use (verinet.bounds.vertex_bounds)
        n_unstable = np.array([n.n_unstable for n in nodes], dtype=np.int64)
        partition = LazyLeaves(functools.partial(vertex_leaves, ev, partition, n_unstable, out.upper))
    seconds = time.perf_counter() - t0  # building the partition included
    history = out.history[:-1] + ((seconds, *out.history[-1][1:]),)
    return LipschitzResult(
        lower=out.lower,
        upper=out.upper,
        status=out.status,
        norm=norm,
        output=out_label,
        boxes=out.boxes,
        seconds=seconds,
        region=region,
        partition=partition,
        witness=out.witness,
        history=history,
        strategy=strategy,
        precision=ev.precision,
        tol=tol,
    )
