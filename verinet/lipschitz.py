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

import enum
import heapq
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from verinet.backends import make_backend
from verinet.errors import QueryError
from verinet.exactfmt import float_to_exact_str
from verinet.gradient import coefficient_vector, gradient_from_bounds, jacobian_from_bounds
from verinet.network import Network
from verinet.norms import canonical_norm, gradient_norm_bounds, operator_norm_bounds
from verinet.propagation import propagate
from verinet.region import Region

__all__ = ["Status", "Leaf", "LipschitzResult", "lipschitz", "STRATEGIES"]

log = logging.getLogger(__name__)

STRATEGIES = ("influence", "widest", "bisect-all")
#: relative gap below which float64 enclosures are refined with the mp backend
_FLOAT_FLOOR = 1e-11
_POLISH_PRECISION = 128


class Status(enum.Enum):
    """Why the branch-and-bound stopped."""

    CONVERGED = "converged"
    TIME_LIMIT = "time_limit"
    BOX_LIMIT = "box_limit"
    RESOLUTION = "resolution"  # no box at the top can be split further at this precision


@dataclass(frozen=True)
class Leaf:
    """One box of the final partition with the upper bound it contributes (and the precision used)."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    bound: float
    precision: int


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
        The final partition of the region's bounding box (evidence for certificates).
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
            "witness": list(self.witness) if self.witness is not None else None,
        }


class _Evaluator:
    """Per-box upper bounds, point lower bounds and split scores, batched, for one backend."""

    def __init__(self, network: Network, c: np.ndarray | None, norm: str, precision: int | None) -> None:
        self.backend = make_backend(network, precision)
        self.precision = 53 if precision is None else precision
        self.c = c
        self.norm = norm

    def _enclose(self, lo: np.ndarray, hi: np.ndarray):
        b = self.backend
        bounds = propagate(b, b.box(lo, hi))
        if self.c is not None:
            G = b.to_float(gradient_from_bounds(b, bounds, self.c, "auto"))
            low, up = gradient_norm_bounds(G, self.norm)
            influence = G.mag()
        else:
            J = b.to_float(jacobian_from_bounds(b, bounds, "auto"))
            low, up = operator_norm_bounds(J, self.norm)
            influence = J.mag().sum(axis=-2)
        return np.asarray(low), np.asarray(up), influence

    def boxes(self, lo: np.ndarray, hi: np.ndarray):
        """(upper (B,), split scores (B, n)) for a batch of boxes."""
        _, up, infl = self._enclose(lo, hi)
        return up, infl

    def points(self, x: np.ndarray) -> np.ndarray:
        """Rigorous lower bounds (B,) from the enclosures at the points ``x`` (B, n)."""
        low, _, _ = self._enclose(x, x)
        return low

    def chunk(self, lo: np.ndarray, hi: np.ndarray, centres: np.ndarray):
        """Everything the search needs for one chunk of boxes: (upper, scores, centre lower bounds)."""
        up, infl = self.boxes(lo, hi)
        return up, infl, self.points(centres)


#: boxes per evaluation call. Fixed, whatever the number of workers, so that every box is evaluated in
#: the same company (BLAS results may depend on the batch shape) and results do not depend on workers.
_CHUNK = 64

# The evaluator of a worker process (set once by the pool initializer; process-local by construction).
_WORKER: _Evaluator | None = None


def _init_worker(args) -> None:
    global _WORKER
    _WORKER = _Evaluator(*args)


def _work(job):
    return _WORKER.chunk(*job)


class _Pool:
    """Evaluates chunks of boxes in-process (``workers == 1``) or on a process pool."""

    def __init__(self, args: tuple, workers: int) -> None:
        self.local = _Evaluator(*args)
        self.workers = workers
        self._pool = None
        if workers > 1:
            import concurrent.futures as cf
            import multiprocessing as mp

            ctx = mp.get_context("spawn")  # no fork of a process that may hold threads (BLAS, numba)
            self._pool = cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(args,))

    def evaluate(self, lo: np.ndarray, hi: np.ndarray, centres: np.ndarray):
        jobs = [(lo[i:i + _CHUNK], hi[i:i + _CHUNK], centres[i:i + _CHUNK]) for i in range(0, len(lo), _CHUNK)]
        if self._pool is None or len(jobs) == 1:
            parts = [self.local.chunk(*j) for j in jobs]
        else:
            parts = list(self._pool.map(_work, jobs))
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


class _LazyEvaluator:
    """An :class:`_Evaluator` constructed when first called."""

    def __init__(self, *args) -> None:
        self._args = args
        self._ev: _Evaluator | None = None

    def _get(self) -> _Evaluator:
        if self._ev is None:
            self._ev = _Evaluator(*self._args)
        return self._ev

    def boxes(self, lo, hi):
        return self._get().boxes(lo, hi)

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
    rel = (hi - lo) / width0
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
    workers: int = 1,
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
        Stop when ``upper − lower ≤ tol·upper``.
    time_limit : float, optional
        Seconds; the result is then the (sound) bounds reached.
    max_boxes : int
        Budget of evaluated boxes.
    strategy : {"influence", "widest", "bisect-all"}
        Split heuristic; ``bisect-all`` is the reference tool's (all coordinates at once).
    precision : int, optional
        Bits for the arbitrary-precision backend throughout; default float64 with mp refinement
        at the end when the gap reaches float64 resolution.
    workers : int
        Processes that evaluate boxes. The result (bounds, boxes, partition) is identical for any
        number of workers: boxes are always evaluated in fixed chunks, in the same order.
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
    if not (width0 > 0).all():
        i = int(np.argmin(width0))
        raise QueryError(f"region has zero width in coordinate {i}: the Lipschitz constant needs an open region")

    if workers < 1:
        raise QueryError(f"workers must be >= 1, got {workers}")
    pool = _Pool((network, c, norm, precision), workers)
    try:
        return _search(network, region, pool, c, norm, out_label, tol, time_limit, max_boxes, strategy,
                       precision, batch, samples, seed, progress, t0, lo0, hi0, width0)
    finally:
        pool.close()


def _search(network, region, pool, c, norm, out_label, tol, time_limit, max_boxes, strategy, precision, batch,
            samples, seed, progress, t0, lo0, hi0, width0) -> LipschitzResult:
    """The best-first loop of :func:`lipschitz` (arguments already validated)."""
    ev = pool.local
    # the mp evaluator is built on first use (preparing exact weights costs time on large networks)
    polish = _LazyEvaluator(network, c, norm, _POLISH_PRECISION) if precision is None else None

    boxes = 0
    seq = itertools.count()
    heap: list = []  # (-upper, seq, lo, hi, polished, split scores); seq makes entries unique
    stuck: list[Leaf] = []
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

    def push(lo, hi, up, polished, score) -> None:
        heapq.heappush(heap, (-float(up), next(seq), lo, hi, polished, score))

    def evaluate(children: list, use) -> None:
        nonlocal boxes
        L = np.array([k[0] for k in children])
        H = np.array([k[1] for k in children])
        centres = np.clip(0.5 * L + 0.5 * H, L, H)
        if use is ev:
            up, score, low = pool.evaluate(L, H, centres)
        else:
            up, score = use.boxes(L, H)
            low = use.points(centres)
        try_lower(centres, low)
        boxes += len(children)
        for i in range(len(children)):
            push(L[i], H[i], up[i], use is not ev, score[i])

    # root box and sample points for the lower bound
    evaluate([(lo0.copy(), hi0.copy())], ev)
    rng = np.random.default_rng(seed)
    if samples > 0:
        pts = lo0 + rng.random((samples, network.n_inputs)) * width0
        pts = np.clip(pts, lo0, hi0)
        try_lower(pts, ev.points(pts))
    last_report = time.perf_counter()
    status = Status.CONVERGED

    while True:
        upper = max(-heap[0][0], max((leaf.bound for leaf in stuck), default=-np.inf))
        now = time.perf_counter()
        if not history or history[-1][2:] != (lower, upper):
            history.append((now - t0, boxes, lower, upper))
        if progress is not None and now - last_report >= 1.0:
            progress({"seconds": now - t0, "boxes": boxes, "lower": lower, "upper": upper})
            last_report = now
        if upper - lower <= tol * upper:
            status = Status.CONVERGED
            break
        if boxes >= max_boxes:
            status = Status.BOX_LIMIT
            break
        if time_limit is not None and now - t0 >= time_limit:
            status = Status.TIME_LIMIT
            break
        at_floor = polish is not None and upper - lower <= _FLOAT_FLOOR * upper
        if at_floor and witness is not None and not witness_polished:
            w = np.array([witness])
            val = float(polish.points(w)[0])
            witness_polished = True
            if val > lower:
                lower = val
            continue
        # pop a batch of the most promising boxes
        popped = [heapq.heappop(heap) for _ in range(min(batch, len(heap)))]
        by_use: dict[int, list] = {0: [], 1: []}
        progressed = False
        for neg_up, _, lo, hi, polished, score in popped:
            if -neg_up < lower:  # cannot contain the maximum: keep it as a leaf, do not expand
                push(lo, hi, -neg_up, polished, score)
                continue
            if at_floor and not polished:
                up, sc = polish.boxes(lo[None, :], hi[None, :])
                boxes += 1
                # both enclosures are sound, so the smaller upper bound is too
                push(lo, hi, min(float(up[0]), -neg_up), True, sc[0])
                progressed = True
                continue
            kids = _split(lo, hi, strategy, score, width0)
            if kids is None and not polished and polish is not None:
                # too narrow to split in float64: refine its bound with the mp backend instead
                up, sc = polish.boxes(lo[None, :], hi[None, :])
                boxes += 1
                push(lo, hi, min(float(up[0]), -neg_up), True, sc[0])
                progressed = True
                continue
            if kids is None:
                prec = _POLISH_PRECISION if polished else ev.precision
                stuck.append(Leaf(tuple(lo.tolist()), tuple(hi.tolist()), -neg_up, prec))
                continue
            by_use[1 if polished else 0].extend(kids)
            progressed = True
        if by_use[0]:
            evaluate(by_use[0], ev)
        if by_use[1]:
            evaluate(by_use[1], polish)
        stuck_max = max((leaf.bound for leaf in stuck), default=-np.inf)
        if not heap or stuck_max >= -heap[0][0] or not progressed:
            # the box that determines the upper bound cannot be refined at this precision
            status = Status.RESOLUTION
            break

    upper = max(-heap[0][0] if heap else -np.inf, max((leaf.bound for leaf in stuck), default=-np.inf))
    partition = tuple(
        Leaf(tuple(lo.tolist()), tuple(hi.tolist()), -nu, _POLISH_PRECISION if pol else ev.precision)
        for nu, _, lo, hi, pol, _ in sorted(heap, key=lambda e: e[1])
    ) + tuple(stuck)
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
