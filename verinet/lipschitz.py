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
import enum
import functools
import heapq
import itertools
import logging
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np

from intervals.array import IntervalArray
from verinet.backends import make_backend
from verinet.errors import QueryError
from verinet.exactfmt import float_to_exact_str
from verinet.gradient import coefficient_vector, gradient_from_bounds, jacobian_from_bounds
from verinet.gradient_search import approx_region_candidates
from verinet.jacobian_bounds import gradient_bounds
from verinet.leaf_search import leaf_candidates
from verinet.linear import linear_propagate, linear_propagate_fixed
from verinet.lipschitz_neuron import neuron_lipschitz, wants_neuron_search
from verinet.network import Network
from verinet.norms import canonical_norm, gradient_norm_bounds, operator_norm_bounds
from verinet.null_parts import prove_null_part
from verinet.parallel import CHUNK, make_pool
from verinet.propagation import LayerBounds, kinked_layout, per_layer_signs, propagate, propagate_fixed
from verinet.region import Region
from verinet.vertex_bounds import LazyLeaves, vertex_leaves, vertex_operator_upper
from verinet.witness import piece_point

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


class Status(enum.Enum):
    """Why the branch-and-bound stopped."""

    CONVERGED = "converged"
    TIME_LIMIT = "time_limit"
    BOX_LIMIT = "box_limit"
    RESOLUTION = "resolution"  # no box at the top can be split further at this precision


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
    #: :mod:`verinet.null_parts`); empty for an ordinary leaf
    null: tuple[tuple[int, int, Fraction], ...] = ()


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
        a sequence built on first use, see :func:`verinet.vertex_bounds.vertex_leaves`).
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
        # (verinet.jacobian_bounds) and keep the smaller of the two sound upper bounds
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
            pre[k] = IntervalArray._unsafe(lo, hi) if b.name == "float64" else b.box(lo, hi)
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
                G = IntervalArray._unsafe(np.where(self.free, G.lo, 0.0), np.where(self.free, G.hi, 0.0))
            low, up = gradient_norm_bounds(G, self.norm)
            influence = G.mag()
            if self.jac and boxes:
                jb = gradient_bounds(b, bounds, self.c, self.norm, free=self.free, G=G)
                up = np.minimum(up, jb.upper)
                influence = np.maximum(np.abs(jb.lo), np.abs(jb.hi))
        else:
            J = b.to_float(jacobian_from_bounds(b, bounds, "auto"))
            if self.free is not None:
                J = IntervalArray._unsafe(np.where(self.free, J.lo, 0.0), np.where(self.free, J.hi, 0.0))
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
        """Upper bounds (B,) of boxes (parts) without the vertex bounds of :mod:`verinet.vertex_bounds`, and
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


def _split(lo: np.ndarray, hi: np.ndarray, strategy: str, score: np.ndarray, width0: np.ndarray):
    """Children of one box, or None when no coordinate can be split in float64."""
    mid = 0.5 * lo + 0.5 * hi
    splittable = (mid > lo) & (mid < hi)
    if not splittable.any():
        return None
    if strategy == "bisect-all":
        axes = np.flatnonzero(splittable)
        kids = []
        for choice in itertools.product((0, 1), repeat=len(axes)):
            clo, chi = lo.copy(), hi.copy()
            for ax, side in zip(axes, choice):
                if side == 0:
                    chi[ax] = mid[ax]
                else:
                    clo[ax] = mid[ax]
            kids.append((clo, chi))
        return kids
    rel = np.divide(hi - lo, width0, out=np.zeros_like(width0), where=width0 > 0)
    if strategy == "influence":
        s = np.where(splittable, (hi - lo) * score, -1.0)
        ax = int(np.argmax(s)) if s.max() > 0 else int(np.argmax(np.where(splittable, rel, -1.0)))
    else:  # widest, relative to the region's own widths
        ax = int(np.argmax(np.where(splittable, rel, -1.0)))
    left_hi = hi.copy()
    left_hi[ax] = mid[ax]
    right_lo = lo.copy()
    right_lo[ax] = mid[ax]
    return [(lo.copy(), left_hi), (right_lo, hi.copy())]


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
        (CROWN-style) bounds of :mod:`verinet.linear`, tighter on deep networks and costlier per box.
        ``auto`` takes linear bounds for piecewise-linear networks with at least two hidden layers and
        32 hidden neurons (with ``output="all"``: with any hidden ReLU layer), interval bounds otherwise
        (``benchmarks/bench_lipschitz.py`` and ``benchmarks/bench_norms.py`` compare them).
    neurons : {"auto", "never"}
        ``auto``: a box with an unstable ReLU (with interval bounds: with at most the number of free
        coordinates + 1 of them; with linear bounds: with at most 32 and half of all ReLUs unstable) is split on
        the sign of one — the earliest layer's widest — rather than
        on a coordinate: its two parts cover the box, on each the neuron's derivative is exact, and its
        sign constraint tightens every later layer (with linear bounds it also shrinks the box and may
        prove the part empty). ``never``: coordinates only, as in the paper's method.
    search : float
        Share of ``time_limit`` spent first on a search for large gradients (random and vertex samples,
        smoothed gradient ascent, a walk over activation patterns; :mod:`verinet.gradient_search`), whose
        points give rigorous lower bounds; the search resumes for one share at 1/4, 1/2 and 3/4 of the
        time limit (4 shares in all at most). Without a time limit a small fixed search (deterministic).
        Besides, short searches in the boxes with the largest upper bounds (:mod:`verinet.leaf_search`)
        take at most this share of the time elapsed (without a time limit: one round each time the
        number of boxes doubles), so the lower bound follows the upper bound's worst regions.
        0 disables both. Single outputs and combinations only (not ``"all"``).
    jacobian : {"auto", "interval", "linear"}
        Upper bound of each box's gradient norm: the interval chain rule, or also sound linear bounds
        back-substituted through the backward pass (:mod:`verinet.jacobian_bounds`; the smaller of the
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
    pool = make_pool(_Evaluator, (network, c, norm, precision, free, bounds, jacobian), workers, scheduler)
    try:
        if wants_neuron_search(network, c, jacobian, precision, strategy, neurons):
            # high-dimensional inputs: neuron-sign branch-and-bound on the whole box (one process)
            result = neuron_lipschitz(network, region, pool.local, c, norm, out_label, tol, time_limit, max_boxes,
                                      batch, samples, search, seed, progress, t0)
            return dataclasses.replace(result, bounds=bounds, jacobian=jacobian)
        result = _search(network, region, pool, c, norm, out_label, tol, time_limit, max_boxes, strategy,
                         precision, batch, samples, seed, progress, t0, lo0, hi0, width0, neurons, search)
        return dataclasses.replace(result, bounds=bounds, jacobian=jacobian)
    finally:
        pool.close()


def _stop_status(lower: float, upper: float, tol: float, boxes: int, max_boxes: int, elapsed: float,
                 time_limit: float | None, unrefinable: bool = False) -> Status | None:
    """Why an anytime search stops now (in this order of precedence), or None to go on."""
    if upper - lower <= tol * upper or upper < _ZERO_FLOOR:
        return Status.CONVERGED
    if unrefinable:
        return Status.RESOLUTION
    if boxes >= max_boxes:
        return Status.BOX_LIMIT
    if time_limit is not None and elapsed >= time_limit:
        return Status.TIME_LIMIT
    return None


def _auto_bounds(network: Network, c: np.ndarray | None = np.zeros(0)) -> str:
    hidden = network.layers[:-1]
    deep = len(hidden) >= 2 and sum(L.n_out for L in hidden) >= 32
    # output="all" (c is None): sign constraints that shrink the box and prove parts empty decide how many
    # boxes the operator norm needs (benchmarks/bench_norms.py: 4-5-5-3, 10-15-10-3 and 4-20-3 need 2-13x
    # fewer boxes with linear bounds, for each of the three norms)
    kinks = any(L.activation.impl.has_kinks for L in hidden)
    return "linear" if (deep or (c is None and kinks)) and network.piecewise_linear else "interval"


class _Node:
    """A box of the search: corners, the fixed neuron signs, and what its last evaluation found."""

    __slots__ = ("lo", "hi", "fix", "bound", "score", "n_unstable", "cand", "polished", "null", "searched")

    def __init__(self, lo, hi, fix, bound, score, n_unstable, cand, polished) -> None:
        self.lo, self.hi, self.fix = lo, hi, fix
        self.bound, self.score = float(bound), score
        self.n_unstable, self.cand, self.polished = int(n_unstable), int(cand), polished
        self.null: tuple = ()
        self.searched = False  # a leaf search has looked for large gradients in this box

    def leaf(self, kinked, precision: int = 53) -> Leaf:
        return Leaf(tuple(self.lo.tolist()), tuple(self.hi.tolist()), self.bound,
                    _POLISH_PRECISION if self.polished else precision, _fixed_tuple(self.fix, kinked), self.null)


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


def _search(network, region, pool, c, norm, out_label, tol, time_limit, max_boxes, strategy, precision, batch,
            samples, seed, progress, t0, lo0, hi0, width0, neurons="auto", search=0.0) -> LipschitzResult:
    """The best-first loop of :func:`lipschitz` (arguments already validated)."""
    ev = pool.local
    # the mp evaluator is built on first use (preparing exact weights costs time on large networks)
    exact_weights = all(L.has_exact_weights for L in network.layers)  # interval-weight families cannot
    # be refined in mp (see verinet.backends.mp)
    free = width0 > 0
    polish = (_LazyEvaluator(network, c, norm, _POLISH_PRECISION, free)
              if precision is None and exact_weights else None)
    kinked = ev.kinked
    branch_neurons = strategy != "bisect-all" and ev.n_kinked > 0 and neurons == "auto"
    branch_limit = (min(int(_LINEAR_BRANCH_SHARE * ev.n_kinked), _LINEAR_BRANCH_MAX) if ev.linear
                    else max(_BRANCH_UNSTABLE, int((width0 > 0).sum()) + 1))

    boxes = 0
    tried: set[bytes] = set()  # sign patterns whose piece was searched for a point
    null_keys: set[bytes] = set()  # sign patterns whose part had no interior in some box
    # coordinates the exact region leaves free (a pinned coordinate that is not a float has an outer box of
    # positive width, but rows along it do not bound the interior of the region's affine hull)
    region_free = np.array([a < b for a, b in zip(region.lower, region.upper)])
    piecewise = network.piecewise_linear
    seq = itertools.count()
    heap: list = []  # (-bound, seq, node); seq makes entries unique and the order deterministic
    stuck: list[_Node] = []
    history: list[tuple[float, int, float, float]] = []
    lower = 0.0
    witness: tuple[float, ...] | None = None
    witness_polished = False

    def try_lower(points: np.ndarray, values: np.ndarray) -> None:
        nonlocal lower, witness, witness_polished
        order = np.argsort(-values, kind="stable")
        for i in order:
            if values[i] <= lower:
                break
            if region.contains(points[i]):  # lower bounds only from points of the region
                lower = float(values[i])
                witness = tuple(float(v) for v in points[i])
                witness_polished = False
                break

    def push(node: _Node) -> None:
        heapq.heappush(heap, (-node.bound, next(seq), node))

    def evaluate(children: list) -> None:
        """Evaluate (lo, hi, fix, parent bound) tuples and push them.

        A child is a subset of its parent, so the parent's bound is also sound for it: keeping the smaller
        makes the global upper bound non-increasing (rounding can make a child's enclosure a few ulps
        wider than its parent's)."""
        nonlocal boxes
        L = np.array([k[0] for k in children])
        H = np.array([k[1] for k in children])
        F = np.array([k[2] for k in children], dtype=np.int8).reshape(len(children), ev.n_kinked)
        centres = np.clip(0.5 * L + 0.5 * H, L, H)
        # a large batch goes out in four chunks (the split depends on the batch alone, so results do not
        # depend on the number of workers): per-call costs amortise over more boxes
        pool.chunk = max(_CHUNK, -(-len(children) // 4))
        up, score, n_unstable, cand, low = pool.evaluate(L, H, centres, F)
        up = np.minimum(up, np.array([k[3] for k in children], dtype=np.float64))
        try_lower(centres, low)
        boxes += len(children)
        for i in range(len(children)):
            push(_Node(L[i], H[i], F[i], up[i], score[i], n_unstable[i], cand[i], False))

    def polish_node(node: _Node) -> None:
        """Re-evaluate a box with the mp backend; both enclosures are sound, keep the smaller bound."""
        nonlocal boxes
        up, sc, _, _ = polish.boxes(node.lo[None, :], node.hi[None, :], node.fix[None, :])
        boxes += 1
        node.bound = min(float(up[0]), node.bound)
        node.score = sc[0]
        node.polished = True
        push(node)

    # root box and sample points for the lower bound
    evaluate([(lo0.copy(), hi0.copy(), np.zeros(ev.n_kinked, dtype=np.int8), np.inf)])
    rng = np.random.default_rng(seed)
    if samples > 0:
        pts = lo0 + rng.random((samples, network.n_inputs)) * width0
        pts = np.clip(pts, lo0, hi0)
        try_lower(pts, ev.points(pts))

    def search_lower(seconds: float | None, k: int) -> None:
        # float candidates from a search for large gradients; the bound is the rigorous enclosure at them
        cand = approx_region_candidates(network, region, c, norm, seconds=seconds, seed=seed + k)
        if len(cand.points):
            try_lower(cand.points, ev.points(cand.points))

    searching = search > 0 and c is not None
    # not when the root box leaves a gap of 1 % or less: refinement closes it faster than a search
    if searching and -heap[0][0] - lower > max(tol, 0.01) * -heap[0][0]:
        search_lower(None if time_limit is None else search * time_limit, 0)
    # with a time limit the search resumes (new seeds) at 1/4, 1/2 and 3/4 of it, for one share each
    resumes = [0.25, 0.5, 0.75] if searching and time_limit is not None else []
    # leaf searches: the lower bound follows the upper bound's worst boxes (verinet.leaf_search); with a
    # time limit they take at most one share of the time elapsed, without one they run each time the
    # number of boxes doubles (deterministic)
    leaf_state = {"seconds": 0.0, "next": 4 * batch, "round": 0}

    def search_leaves() -> None:
        top = [e[2] for e in heapq.nsmallest(4 * _LEAF_BOXES, heap)]
        top = [n for n in top if not n.searched and n.bound > lower][:_LEAF_BOXES]
        if not top:
            return
        t = time.perf_counter()
        for n in top:
            n.searched = True
        pts = leaf_candidates(network, c, norm, [(n.lo, n.hi) for n in top], free,
                              seed=seed + 1000 * (leaf_state["round"] + 1))
        if len(pts):
            try_lower(pts, ev.points(pts))
        leaf_state["round"] += 1
        leaf_state["seconds"] += time.perf_counter() - t

    def leaf_due(now: float) -> bool:
        if not searching or boxes < leaf_state["next"]:
            return False
        if time_limit is None:
            leaf_state["next"] = 2 * boxes
            return True
        leaf_state["next"] = boxes + batch
        return leaf_state["seconds"] <= search * (now - t0)
    last_report = time.perf_counter()
    last_boxes = 0
    status = Status.CONVERGED

    while True:
        upper = max(-heap[0][0] if heap else -np.inf, max((n.bound for n in stuck), default=-np.inf))
        now = time.perf_counter()
        if not history or history[-1][2:] != (lower, upper):
            history.append((now - t0, boxes, lower, upper))
        if progress is not None and now - last_report >= 1.0:
            rate = (boxes - last_boxes) / (now - last_report)
            progress({"seconds": now - t0, "boxes": boxes, "boxes_per_second": rate, "lower": lower,
                      "upper": upper})
            last_report, last_boxes = now, boxes
        # the box that determines the upper bound may be one that cannot be refined at this precision
        unrefinable = not heap or bool(stuck and max(n.bound for n in stuck) >= -heap[0][0])
        stop = _stop_status(lower, upper, tol, boxes, max_boxes, now - t0, time_limit, unrefinable)
        if stop is not None:
            status = stop
            break
        if resumes and now - t0 >= resumes[0] * time_limit:
            resumes.pop(0)
            search_lower(search * time_limit, 3 - len(resumes))
            continue
        if leaf_due(now):
            search_leaves()
            continue
        at_floor = polish is not None and upper - lower <= _FLOAT_FLOOR * upper
        if at_floor and witness is not None and not witness_polished:
            val = float(polish.points(np.array([witness]))[0])
            witness_polished = True
            lower = max(lower, val)  # running maximum: the lower bound never decreases
            continue
        # pop a batch of the most promising boxes
        popped = [heapq.heappop(heap)[2] for _ in range(min(_pop_count(batch, len(heap), lower, upper), len(heap)))]
        children: list = []
        for node in popped:
            if node.bound < lower:  # cannot contain the maximum: keep it as a leaf, do not expand
                push(node)
                continue
            if node.polished:
                # refined with mp already: split it further in mp (no neuron fixing there)
                kids = _split(node.lo, node.hi, strategy, node.score, width0)
                if kids is None:
                    stuck.append(node)
                    continue
                for klo, khi in kids:
                    up, sc, _, _ = polish.boxes(klo[None, :], khi[None, :], node.fix[None, :])
                    boxes += 1
                    push(_Node(klo, khi, node.fix, min(float(up[0]), node.bound), sc[0], 0, -1, True))
                    try_lower(np.clip(0.5 * klo[None, :] + 0.5 * khi[None, :], klo, khi),
                              polish.points(np.clip(0.5 * klo[None, :] + 0.5 * khi[None, :], klo, khi)))
                continue
            if at_floor and polish is not None:
                polish_node(node)
                continue
            key = node.fix.tobytes()
            if (branch_neurons and piecewise and node.n_unstable == 0 and node.fix.any()
                    and (key not in tried or key in null_keys)):
                # one linear piece: its bound is exact if the part has a point; parts are often slivers
                # that centres miss, so look for a point inside the piece (lower bounds stay rigorous:
                # they come from enclosures at the points found)
                fresh = key not in tried
                tried.add(key)
                signs = ev.pattern(node.lo, node.hi, node.fix)
                # anywhere in the region: a point of the piece gives its exact norm as a lower bound even
                # when the piece misses this box (each pattern is tried once)
                x = piece_point(network, lo0, hi0, signs) if signs is not None and fresh else None
                if x is not None:
                    try_lower(x[None, :], ev.points(x[None, :]))
                elif signs is not None:
                    # no interior point found: the part may be a null set (coinciding kinks), which bounds
                    # nothing (the constant is an essential supremum); drop it only with an exact proof
                    null = prove_null_part(network, node.lo, node.hi, signs, _fixed_tuple(node.fix, kinked),
                                           region_free)
                    if null is not None:
                        null_keys.add(key)
                        node.bound, node.null = 0.0, null
                        push(node)
                        continue
            if branch_neurons and 1 <= node.n_unstable <= branch_limit and node.cand >= 0:
                for sign in (-1, 1):
                    f = node.fix.copy()
                    f[node.cand] = sign
                    children.append((node.lo, node.hi, f, node.bound))
                continue
            kids = _split(node.lo, node.hi, strategy, node.score, width0)
            if kids is None:
                if polish is not None:  # too narrow to split in float64: refine with the mp backend
                    polish_node(node)
                else:
                    stuck.append(node)
                continue
            children.extend((klo, khi, node.fix, node.bound) for klo, khi in kids)
        if children:
            evaluate(children)

    upper = max(-heap[0][0] if heap else -np.inf, max((n.bound for n in stuck), default=-np.inf))
    nodes = [e[2] for e in sorted(heap, key=lambda e: e[1])] + stuck
    partition = tuple(n.leaf(kinked, ev.precision) for n in nodes)
    if c is None:  # vertex bounds are spelt out as fixed-sign parts on first use (verinet.vertex_bounds)
        n_unstable = np.array([n.n_unstable for n in nodes], dtype=np.int64)
        partition = LazyLeaves(functools.partial(vertex_leaves, ev, partition, n_unstable, upper))
    seconds = time.perf_counter() - t0
    history.append((seconds, boxes, lower, upper))
    return LipschitzResult(
        lower=lower,
        upper=upper,
        status=status,
        norm=norm,
        output=out_label,
        boxes=boxes,
        seconds=seconds,
        region=region,
        partition=partition,
        witness=witness,
        history=tuple(history),
        strategy=strategy,
        precision=ev.precision,
        tol=tol,
    )
