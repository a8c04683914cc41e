"""Robustness: local (regressor and classifier), certified radius, global on a domain, parameters.

Every verdict follows one rule: VERIFIED is a proof (rigorous enclosures), FALSIFIED
carries a counterexample re-checked in exact rational arithmetic (piecewise-linear networks) or with a
rigorous point enclosure (smooth activations), anything else is UNKNOWN or TIMEOUT with the best bounds.

Mathematics:

* **Local, regressor** (``|f_k(x) − f_k(x₀)| ≤ ε`` on a ball): two independent proofs.
  (i) the output enclosure over boxes covering the ball, refined by input splitting
  (:func:`verinet.analyses.verify.search_spec` on the atoms ``f_k − f_k(x₀) ≤ ε`` and ``f_k(x₀) − f_k ≤ ε``, with
  ``f(x₀)`` exact or enclosed); (ii) Lebourg's mean value theorem with a verified Lipschitz constant on
  the ball's bounding box: ``|f_k(x) − f_k(x₀)| ≤ L_k · ‖x − x₀‖ ≤ L_k · r`` (Zhou et al. 2023, Thm 5.3).
* **Local, classifier**: the margins ``y_label − y_j > 0`` on the ball (atoms ``y_label − y_j ≤ 0`` are
  unsafe), the label being the rigorously certified argmax at ``x₀`` when not given.
* **Global** (``∀ x, y ∈ D, ‖x − y‖ ≤ δ: |f(x) − f(y)| ≤ ε``): ``L(f, D) · δ ≤ ε``, refined per box ``B``
  of a partition of ``D`` on its δ-neighbourhood ``N_B = (B ⊕ [−δ, δ]ⁿ) ∩ D``: a pair with ``x ∈ B`` has
  ``y ∈ N_B`` (``‖·‖_∞ ≤ ‖·‖_p``) and the segment in the box ``N_B``, so
  ``|f(x) − f(y)| ≤ min(L(f, N_B) · δ, width f(N_B))``.
* **Parameters**: the weights as intervals (absolute/relative radius, or the hull of each weight and its
  quantised value). Interval bound propagation with interval weights encloses the outputs of *every*
  network of the family; the output change over a box ``B`` is at most
  ``max(P.hi − O.lo, O.hi − P.lo)`` with ``P``/``O`` the family/original enclosures on ``B``; the interval
  chain rule with interval weights bounds the Lipschitz constant of every member.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from intervals import rounding as R
from intervals.rounding import float_down, float_nearest, float_up, to_fraction
from verinet.bounds.backends import make_backend
from verinet.errors import QueryError
from verinet.exactfmt import fraction_to_str
from verinet.bounds.gradient import jacobian_from_bounds
from verinet.network import Activation, Layer, Network
from verinet.bounds.norms import canonical_norm, gradient_norm_bounds
from verinet.bounds.propagation import output_bounds, propagate
from verinet.region import Region
from verinet.search import Node, ObjectiveBase, Search, SearchConfig, SearchOutcome, Status, bisect
from verinet.analyses.verify import (
    BallGeometry,
    BoxGeometry,
    Verdict,
    approx_random_attack,
    approx_value_and_grad,
    build_spec,
    search_spec,
)

__all__ = ["GlobalResult", "LocalResult", "ParamResult", "Perturbation", "RadiusResult", "Verdict",
           "certified_radius", "global_robustness", "local_robustness", "parameter_robustness",
           "perturbed_network", "quantized_network"]

_STATUS = {"proved": Verdict.VERIFIED, "falsified": Verdict.FALSIFIED, "timeout": Verdict.TIMEOUT,
           "box_limit": Verdict.UNKNOWN, "resolution": Verdict.UNKNOWN}


def _s(v) -> str | None:
    """Exact text of a number (floats by their exact binary value), None passes through."""
    if v is None:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return fraction_to_str(to_fraction(v))


def _f(v) -> float | None:
    """A float for JSON: None for missing or non-finite values (strict JSON has no infinity)."""
    return None if v is None or not math.isfinite(v) else float(v)


def _vec(v) -> list | None:
    return None if v is None else [_s(x) for x in v]


def _geometry(region: Region):
    if region.kind == "box":
        return BoxGeometry(region.lower, region.upper)
    return BallGeometry(region.center, region.radius, region.norm)


def _outputs(network: Network, output) -> tuple[int, ...]:
    m = network.n_outputs
    if output is None:
        return tuple(range(m))
    k = int(output)
    if not 0 <= k < m:
        raise QueryError(f"output index {k} out of range: the network has {m} outputs (0..{m - 1})")
    return (k,)


def _point_box(x) -> tuple[np.ndarray, np.ndarray]:
    q = [to_fraction(v) for v in x]
    return np.array([float_down(v) for v in q]), np.array([float_up(v) for v in q])


def _enclose_at(network: Network, x) -> tuple[list[Fraction], list[Fraction]]:
    """Exact outputs at ``x`` as ``(y, y)`` for piecewise-linear networks, else a rigorous enclosure.

    Rigorous: ``lo[k] ≤ f_k(x) ≤ hi[k]`` (equality for piecewise-linear networks).
    """
    if network.piecewise_linear:
        y = network.evaluate_exact(x)
        return y, y
    Y = output_bounds(network, *_point_box(x))
    return [Fraction(v) for v in Y.lo.tolist()], [Fraction(v) for v in Y.hi.tolist()]


def _check_time(time_limit) -> float:
    if not (time_limit > 0):
        raise QueryError(f"time limit must be > 0, got {time_limit}")
    return float(time_limit)


# --------------------------------------------------------------------------------------------------
# local robustness


@dataclass(frozen=True, slots=True)
class LocalResult:
    """Verdict of a local robustness query.

    Attributes
    ----------
    verdict : Verdict
    mode : str
        ``"regressor"`` or ``"classifier"``.
    bound : float or None
        Regressor: rigorous upper bound of ``max_k max_x |f_k(x) − f_k(x₀)|`` over the ball (from the
        box search, when it ran to a bound). Classifier: rigorous lower bound of the worst margin
        ``min_x min_j (y_label − y_j)``.
    lipschitz_bound : float or None
        Regressor: ``max_k L_k · r`` rounded up (an alternative upper bound of the deviation).
    x, y : tuple or None
        Counterexample (exact point of the ball) and the outputs there (exact, or an enclosure midpoint
        for smooth networks).
    """

    verdict: Verdict
    mode: str
    region: Region
    label: int | None
    epsilon: Fraction | None
    outputs: tuple[int, ...]
    bound: float | None = None
    lipschitz_bound: float | None = None
    x: tuple | None = None
    y: tuple | None = None
    boxes: int = 0
    seconds: float = 0.0
    note: str | None = None

    def to_json(self) -> dict:
        return {
            "verdict": self.verdict.value,
            "mode": self.mode,
            "region": self.region.to_json(),
            "label": self.label,
            "epsilon": _s(self.epsilon),
            "outputs": list(self.outputs),
            "bound": _f(self.bound),
            "bound_exact": _s(self.bound),
            "lipschitz_bound": _f(self.lipschitz_bound),
            "counterexample": None if self.x is None else {"x": _vec(self.x), "y": _vec(self.y)},
            "boxes": self.boxes,
            "seconds": round(self.seconds, 6),
            "note": self.note,
        }


def _certified_label(network: Network, center) -> tuple[int | None, str | None]:
    """The argmax of ``f`` at the centre if it is certainly unique, else (None, reason)."""
    lo, hi = _enclose_at(network, center)
    m = len(lo)
    best = max(range(m), key=lambda j: (lo[j] + hi[j]) / 2)
    if all(lo[best] > hi[j] for j in range(m) if j != best):
        return best, None
    if network.piecewise_linear:
        return None, "the argmax at the centre is not unique (tie)"
    return None, "the argmax at the centre cannot be certified with a rigorous enclosure"


def local_robustness(
    network: Network,
    center: Sequence,
    radius,
    *,
    norm="inf",
    epsilon=None,
    label: int | None = None,
    output: int | None = None,
    time_limit: float = 30.0,
    max_boxes: int | None = 1_000_000,
    seed: int = 0,
    progress: Callable[[dict], None] | None = None,
) -> LocalResult:
    """Is ``network`` robust on the ball ``‖x − center‖ ≤ radius``?

    Parameters
    ----------
    center : sequence of numbers or decimal strings (exact)
    radius : number or decimal string, > 0
    norm : {"inf", "2", "1"}
    epsilon : number, optional
        Regressor mode: ``|f_k(x) − f_k(center)| ≤ epsilon`` for output ``output`` (all when None).
    label : int, optional
        Classifier mode: all margins ``y_label − y_j > 0``. When neither ``epsilon`` nor ``label`` is
        given, the label is the argmax at the centre, certified rigorously (UNKNOWN if it is not).
    time_limit : float
        Seconds.

    Returns
    -------
    LocalResult

    Examples
    --------
    >>> from verinet import Layer, Network
    >>> net = Network((Layer.from_exact([["2", "-1"]], ["0"], "identity"),))   # f(x) = 2 x0 − x1
    >>> local_robustness(net, ["0", "0"], "0.1", epsilon="0.31").verdict.value   # max deviation 0.3
    'verified'
    >>> r = local_robustness(net, ["0", "0"], "0.1", epsilon="0.29")
    >>> r.verdict.value, abs(net.evaluate_exact(r.x)[0]) > Fraction("0.29")
    ('falsified', True)

    Rigorous: VERIFIED is a proof for the exact real semantics; a FALSIFIED counterexample lies in the
    ball (exact test) and violates the property in exact arithmetic (or by a rigorous enclosure).
    """
    t0 = time.perf_counter()
    time_limit = _check_time(time_limit)
    norm = canonical_norm(norm)
    region = Region.ball(center, radius, norm)
    region.check_dim(network.n_inputs)
    deadline = t0 + time_limit
    eps = None if epsilon is None else to_fraction(epsilon)
    if eps is not None and eps < 0:
        raise QueryError(f"epsilon must be >= 0, got {epsilon}")
    if eps is not None and label is not None:
        raise QueryError("give either epsilon (regressor) or label (classifier), not both")
    geom = _geometry(region)
    c = region.center
    m = network.n_outputs

    def done(verdict, mode, outs, **kw) -> LocalResult:
        return LocalResult(verdict, mode, region, kw.pop("label", None), eps, outs,
                           seconds=time.perf_counter() - t0, **kw)

    if eps is None:  # ------------------------------------------------ classifier
        if m < 2:
            raise QueryError("classifier mode needs at least 2 outputs; give --epsilon for a regressor")
        if label is None:
            label, why = _certified_label(network, c)
            if label is None:
                return done(Verdict.UNKNOWN, "classifier", (), note=why)
        elif not 0 <= int(label) < m:
            raise QueryError(f"label {label} out of range: the network has {m} outputs (0..{m - 1})")
        label = int(label)
        others = [j for j in range(m) if j != label]
        coef = [[(1 if i == label else 0) - (1 if i == j else 0) for i in range(m)] for j in others]
        spec = build_spec(network, coef, [0] * len(others), [(k,) for k in range(len(others))],
                          [False] * len(others))

        def violated(lo, hi):  # some margin y_label − y_j certainly ≤ 0
            return any(hi[label] <= lo[j] for j in others)

        outs = tuple(others)
    else:  # ---------------------------------------------------------- regressor
        outs = _outputs(network, output)
        y0lo, y0hi = _enclose_at(network, c)
        coef, rhs = [], []
        for k in outs:
            e = [0] * m
            e[k] = 1
            coef += [[-v for v in e], e]  # −f_k + (y0lo + ε) < 0  and  f_k − (y0hi − ε) < 0 are unsafe
            rhs += [-(y0lo[k] + eps), y0hi[k] - eps]
        spec = build_spec(network, coef, rhs, [(i,) for i in range(len(coef))], [True] * len(coef))

        def violated(lo, hi):  # |f_k(x) − f_k(x0)| > ε certainly
            return any(lo[k] - y0hi[k] > eps or y0lo[k] - hi[k] > eps for k in outs)

    def confirm(xf):
        if time.perf_counter() > deadline:
            return None  # out of time: unconfirmed, the answer is a timeout (not an unchecked falsification)
        x = geom.exact_point(xf)
        if x is None or not region.contains(x):
            return None
        lo, hi = _enclose_at(network, x)
        if not violated(lo, hi):
            return None
        y = tuple(lo) if network.piecewise_linear else tuple(float((a + b) / 2) for a, b in zip(lo, hi))
        return x, y

    mode = "classifier" if eps is None else "regressor"
    # the centre itself (a classifier given a wrong label)
    found = confirm(np.array([float_nearest(v) for v in c])) if all(
        Fraction(float_nearest(v)) == v for v in c) else None
    if found is not None:
        return done(Verdict.FALSIFIED, mode, outs, label=label, x=found[0], y=found[1])

    # random points first: counterexamples are often found at once
    found = approx_random_attack(spec, geom, confirm, 1024, seed=seed + 1, deadline=deadline)
    if found is not None:
        return done(Verdict.FALSIFIED, mode, outs, label=label, x=found[0], y=found[1])
    # regressors: the Lipschitz proof L·r ≤ ε uses the ball itself (the boxes only its bounding box), so
    # it goes first for l2/l1 balls and last, in the time left, for l∞ balls
    lip_share = min(0.1 * time_limit, 5.0) if eps is not None else 0.0
    lip_bound = None
    if lip_share and norm != "inf":
        lip_bound = _lipschitz_deviation(network, region, norm, outs, lip_share)
        if lip_bound is not None and Fraction(lip_bound) <= eps:
            return done(Verdict.VERIFIED, mode, outs, bound=None, lipschitz_bound=lip_bound)
    search_deadline = deadline - (lip_share if norm == "inf" else 0.0)
    out = search_spec(spec, geom, confirm, deadline=search_deadline, max_boxes=max_boxes, seed=seed,
                      attack_seconds=min(2.0, 0.1 * time_limit), progress=progress)
    verdict = _STATUS[out.status]
    if lip_share and norm == "inf" and verdict not in (Verdict.VERIFIED, Verdict.FALSIFIED):
        lip_bound = _lipschitz_deviation(network, region, norm, outs, max(deadline - time.perf_counter(), 0.05))
        if lip_bound is not None and Fraction(lip_bound) <= eps:
            return done(Verdict.VERIFIED, mode, outs, bound=None, lipschitz_bound=lip_bound, boxes=out.boxes)
    if verdict is Verdict.FALSIFIED:
        x, y = out.counterexample
        return done(verdict, mode, outs, label=label, x=x, y=y, lipschitz_bound=lip_bound, boxes=out.boxes)
    bound = None
    if out.margin is not None and math.isfinite(out.margin):
        if eps is None:
            bound = out.margin
        else:  # every atom ≥ margin on the ball, so |f_k(x) − f_k(x0)| ≤ ε − margin
            bound = float_up(eps - Fraction(out.margin))
    return done(verdict, mode, outs, label=label, bound=bound, lipschitz_bound=lip_bound, boxes=out.boxes)


def _lipschitz_deviation(network, region, norm, outs, seconds) -> float | None:
    """``max_k L_k · r`` rounded up, with ``L_k`` the verified Lipschitz upper bound of output ``k`` on the
    ball's bounding box (None when the time is too short)."""
    from verinet.analyses.lipschitz import lipschitz

    r_up = float_up(region.radius)
    worst = 0.0
    for k in outs:
        try:
            res = lipschitz(network, region, norm=norm, output=int(k), tol=1e-3,
                            time_limit=max(seconds / len(outs), 1e-3), max_boxes=20_000)
        except QueryError:
            return None
        worst = max(worst, float(R.mul_up(res.upper, r_up)))
    return worst


# --------------------------------------------------------------------------------------------------
# certified radius


@dataclass(frozen=True, slots=True)
class RadiusResult:
    """Bisection on the radius: ``verified_radius`` is the largest radius proved robust, and
    ``falsified_radius`` the smallest radius at which a confirmed counterexample exists (robustness fails
    at every radius ≥ it). Both are exact rationals; ``probes`` lists ``(radius, verdict)``."""

    verified_radius: Fraction | None
    falsified_radius: Fraction | None
    probes: tuple[tuple[Fraction, Verdict], ...]
    norm: str
    label: int | None
    epsilon: Fraction | None
    x: tuple | None = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "verified_radius": _s(self.verified_radius),
            "falsified_radius": _s(self.falsified_radius),
            "norm": self.norm,
            "label": self.label,
            "epsilon": _s(self.epsilon),
            "probes": [{"radius": _s(r), "verdict": v.value} for r, v in self.probes],
            "counterexample": _vec(self.x),
            "seconds": round(self.seconds, 6),
        }


def _distance_up(x, center, norm: str) -> Fraction:
    """An exact rational ``≥ ‖x − center‖_p`` (exact for l∞ and l1; l2 rounded up)."""
    d = [abs(to_fraction(a) - b) for a, b in zip(x, center)]
    if norm == "inf":
        return max(d)
    if norm == "1":
        return sum(d, Fraction(0))
    return Fraction(float(R.sqrt_up(float_up(sum((v * v for v in d), Fraction(0))))))


def certified_radius(
    network: Network,
    center: Sequence,
    *,
    norm="inf",
    label: int | None = None,
    epsilon=None,
    output: int | None = None,
    r_max="1",
    tol="1e-3",
    time_limit: float = 60.0,
    probe_time: float | None = None,
    seed: int = 0,
) -> RadiusResult:
    """Largest verified and smallest falsified radius by bisection on ``r ∈ (0, r_max]``.

    Each probe is :func:`local_robustness` with ``probe_time`` seconds (default: a tenth of the budget);
    UNKNOWN probes shrink the upper end without claiming anything. Stops when the bracket is narrower
    than ``tol`` or the time is spent.

    Rigorous: ``verified_radius`` was VERIFIED by a probe; ``falsified_radius`` is an upper bound of the
    distance of a confirmed counterexample from the centre.
    """
    t0 = time.perf_counter()
    time_limit = _check_time(time_limit)
    norm = canonical_norm(norm)
    rmax = to_fraction(r_max)
    tol_q = to_fraction(tol)
    if rmax <= 0:
        raise QueryError(f"r_max must be > 0, got {r_max}")
    if tol_q <= 0:
        raise QueryError(f"tol must be > 0, got {tol}")
    per = probe_time if probe_time is not None else max(time_limit / 10.0, 0.5)
    if epsilon is None and label is None:
        Region.ball(center, rmax, norm).check_dim(network.n_inputs)
        label, why = _certified_label(network, [to_fraction(v) for v in center])
        if label is None:
            raise QueryError(f"no label given and {why}")
    lo, hi = Fraction(0), rmax  # robust at lo (vacuous for 0); not known robust at hi
    verified = falsified = None
    witness = None
    probes = []
    r = rmax
    while True:
        left = time_limit - (time.perf_counter() - t0)
        if left <= 0:
            break
        res = local_robustness(network, center, r, norm=norm, epsilon=epsilon, label=label, output=output,
                               time_limit=min(per, left), seed=seed)
        probes.append((r, res.verdict))
        if res.verdict is Verdict.VERIFIED:
            lo = verified = r
            if r == rmax:
                break
        else:
            hi = r
            if res.verdict is Verdict.FALSIFIED:
                dist = min(_distance_up(res.x, [to_fraction(v) for v in center], norm), r)
                if falsified is None or dist < falsified:
                    falsified, witness = dist, res.x
                hi = min(hi, falsified)
        if hi - lo <= tol_q:
            break
        r = (lo + hi) / 2
    return RadiusResult(verified, falsified, tuple(probes), norm, label,
                        None if epsilon is None else to_fraction(epsilon), witness, time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------------
# a best-first search for upper bounds of a per-box quantity


class _Supremum(ObjectiveBase):
    """Objective of :func:`_bound_search`: boxes bounded by ``evaluate(L, H) -> (upper (B,), scores (B, n))``,
    split at one coordinate (largest width × score, else the relatively widest)."""

    batch = 64

    def __init__(self, evaluate, width0: np.ndarray) -> None:
        self._evaluate = evaluate
        self.width0 = width0

    def evaluate(self, nodes, search) -> None:
        up, sc = self._evaluate(np.array([n.lo for n in nodes]), np.array([n.hi for n in nodes]))
        for i, n in enumerate(nodes):
            n.bound, n.score = float(up[i]), sc[i]

    def expand(self, node, search) -> list:
        kids = bisect(node.lo, node.hi, self.width0, "influence", node.score)
        if kids is None:  # too narrow to split in float64: its bound stays in the result
            search.hold(node)
            return []
        return [Node(lo, hi) for lo, hi in kids]


def _bound_search(evaluate, lo0, hi0, *, threshold, deadline, max_boxes, lower: float = 0.0, tol=1e-3,
                  batch=64, progress=None, t0=0.0) -> SearchOutcome:
    """Refine ``sup`` of a quantity bounded per box by ``evaluate(L, H) -> (upper (B,), scores (B, n))``.

    A box whose bound is ``≤ threshold`` is closed. Stops when all are closed (``PROVED``), when
    ``upper − lower ≤ tol·upper`` without a threshold (``CONVERGED``), on time, box budget or float
    resolution. ``upper`` of the outcome is the max over the final partition.
    """
    objective = _Supremum(evaluate, np.where(hi0 - lo0 > 0, hi0 - lo0, 1.0))
    objective.batch = batch
    config = SearchConfig(tol=tol if threshold is None else None, threshold=threshold,
                          time_limit=deadline - t0, max_boxes=max_boxes)
    report = None if progress is None else (
        lambda p: progress({"seconds": p.seconds, "boxes": p.boxes, "upper": p.upper, "open": p.open}))
    search = Search(objective, config, t0=t0, progress=report, lower=lower)
    search.add([Node(lo0.copy(), hi0.copy())])
    return search.run()


def _status_text(status: Status) -> str:
    """The status words of the robustness JSON outputs (``"timeout"`` for a time limit)."""
    return "timeout" if status is Status.TIME_LIMIT else status.value


# --------------------------------------------------------------------------------------------------
# global robustness


@dataclass(frozen=True, slots=True)
class GlobalResult:
    """Verdict of ``∀ x, y ∈ D, ‖x − y‖ ≤ δ: |f_k(x) − f_k(y)| ≤ ε``.

    ``bound`` is a rigorous upper bound of ``sup |f_k(x) − f_k(y)|`` over those pairs (and outputs),
    ``lipschitz`` the verified Lipschitz upper bound on ``D`` (max over outputs); ``x``/``y`` a confirmed
    pair and ``values`` their exact outputs.
    """

    verdict: Verdict
    delta: Fraction
    epsilon: Fraction
    norm: str
    outputs: tuple[int, ...]
    bound: float | None
    lipschitz: float | None
    x: tuple | None = None
    y: tuple | None = None
    values: tuple | None = None
    boxes: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "verdict": self.verdict.value,
            "delta": _s(self.delta),
            "epsilon": _s(self.epsilon),
            "norm": self.norm,
            "outputs": list(self.outputs),
            "bound": _f(self.bound),
            "bound_exact": _s(self.bound),
            "lipschitz": _f(self.lipschitz),
            "counterexample": None if self.x is None else {"x": _vec(self.x), "y": _vec(self.y),
                                                           "f_x": _vec(self.values[0]), "f_y": _vec(self.values[1])},
            "boxes": self.boxes,
            "seconds": round(self.seconds, 6),
        }


def _pair_ok(x, y, delta: Fraction, norm: str) -> bool:
    d = [abs(to_fraction(a) - to_fraction(b)) for a, b in zip(x, y)]
    if norm == "inf":
        return max(d) <= delta
    if norm == "1":
        return sum(d) <= delta
    return sum(v * v for v in d) <= delta * delta


def _direction(G: np.ndarray, norm: str) -> np.ndarray:
    """A unit vector (in ``norm``) maximising ``g·v`` (the dual-norm maximiser)."""
    if norm == "inf":
        return np.sign(G)
    if norm == "2":
        return G / np.maximum(np.linalg.norm(G, axis=1, keepdims=True), 1e-300)
    j = np.argmax(np.abs(G), axis=1)
    V = np.zeros_like(G)
    V[np.arange(len(G)), j] = np.sign(G[np.arange(len(G)), j])
    return V


def _attack_pairs(network, region, delta, eps, outs, norm, deadline, rng):
    """Search pairs ``(x, y)`` with ``|f_k(x) − f_k(y)| > ε``; confirm exactly. Non-rigorous search."""
    geom = BoxGeometry(region.lower, region.upper) if region.kind == "box" else _geometry(region)
    d = float_down(delta) * (1 - 1e-12)
    for _ in range(20):
        if time.perf_counter() > deadline:
            return None
        X = geom.sample(rng, 256)
        k = rng.choice(outs, size=len(X))
        for t in range(12):
            _, G = approx_value_and_grad(network, X, k)
            V = _direction(G, norm)
            Y = geom.project(X + d * V)
            if region.kind == "box":
                Y = np.clip(Y, X - d, X + d)
            fx = network.approx_evaluate(X)[np.arange(len(X)), k]
            fy = network.approx_evaluate(Y)[np.arange(len(X)), k]
            gap = np.abs(fy - fx)
            for i in np.argsort(-gap)[:3]:
                if gap[i] > float(eps):
                    found = _confirm_pair(network, region, X[i], Y[i], delta, eps, outs, norm)
                    if found is not None:
                        return found
            X = geom.project(X - 0.5 * d * V)  # move x against the gradient: widens the gap next round
    return None


def _confirm_pair(network, region, x, y, delta, eps, outs, norm):
    x = tuple(float(v) for v in x)
    y = tuple(float(v) for v in y)
    if not (region.contains(x) and region.contains(y) and _pair_ok(x, y, delta, norm)):
        return None
    fxl, fxh = _enclose_at(network, x)
    fyl, fyh = _enclose_at(network, y)
    if any(fyl[k] - fxh[k] > eps or fxl[k] - fyh[k] > eps for k in outs):
        fx = tuple(fxl) if network.piecewise_linear else tuple((a + b) / 2 for a, b in zip(fxl, fxh))
        fy = tuple(fyl) if network.piecewise_linear else tuple((a + b) / 2 for a, b in zip(fyl, fyh))
        return x, y, (fx, fy)
    return None


def global_robustness(
    network: Network,
    domain: Region | None,
    delta,
    epsilon,
    *,
    norm="inf",
    output: int | None = None,
    time_limit: float = 60.0,
    max_boxes: int | None = 200_000,
    seed: int = 0,
    progress: Callable[[dict], None] | None = None,
) -> GlobalResult:
    """Is ``|f_k(x) − f_k(y)| ≤ epsilon`` for all ``x, y`` in ``domain`` with ``‖x − y‖ ≤ delta``?

    ``output`` selects one output (all outputs, each with ``|·|``, when None). ``domain`` defaults to the
    network's input domain.

    Rigorous: VERIFIED when ``L_k(D)·δ ≤ ε`` or the neighbourhood partition bound (module docstring) is
    ``≤ ε``; FALSIFIED only with a pair checked exactly (membership, distance and outputs).
    """
    t0 = time.perf_counter()
    time_limit = _check_time(time_limit)
    norm = canonical_norm(norm)
    region = Region.from_domain(network) if domain is None else domain
    region.check_dim(network.n_inputs)
    dq, eps = to_fraction(delta), to_fraction(epsilon)
    if dq <= 0:
        raise QueryError(f"delta must be > 0, got {delta}")
    if eps < 0:
        raise QueryError(f"epsilon must be >= 0, got {epsilon}")
    outs = _outputs(network, output)
    deadline = t0 + time_limit
    d_up = float_up(dq)

    def done(verdict, **kw):
        return GlobalResult(verdict, dq, eps, norm, outs, seconds=time.perf_counter() - t0, **kw)

    # 1. one verified Lipschitz constant per output on the whole domain
    from verinet.analyses.lipschitz import lipschitz

    lip = None
    try:
        per = min(0.3 * time_limit, 20.0) / len(outs)
        lip = max(lipschitz(network, region, norm=norm, output=int(k), tol=1e-3, time_limit=per).upper
                  for k in outs)
    except QueryError:  # e.g. a domain of zero width in some coordinate
        lip = None
    if lip is not None and Fraction(float(R.mul_up(lip, d_up))) <= eps:
        return done(Verdict.VERIFIED, bound=float(R.mul_up(lip, d_up)), lipschitz=lip)
    # 2. falsification by pairs
    rng = np.random.default_rng(seed)
    found = _attack_pairs(network, region, dq, eps, outs, norm, min(deadline, time.perf_counter() + 0.2 * time_limit),
                          rng)
    if found is not None:
        x, y, vals = found
        return done(Verdict.FALSIFIED, bound=None, lipschitz=lip, x=x, y=y, values=vals)
    # 3. δ-neighbourhood partition
    lo0, hi0 = region.outer_box()
    backend = make_backend(network)
    cap = math.inf if lip is None else float(R.mul_up(lip, d_up))
    eps_down = float_down(eps)

    def evaluate(L, H):
        NL = np.maximum(R.sub_down(L, d_up), lo0)  # (B, n): the δ-neighbourhood, within the domain's box
        NH = np.minimum(R.add_up(H, d_up), hi0)
        bounds = propagate(backend, backend.box(NL, NH))
        Y = backend.to_float(bounds.output)
        J = backend.to_float(jacobian_from_bounds(backend, bounds))  # (B, m, n)
        worst = np.zeros(len(L))
        infl = np.zeros(L.shape)
        for k in outs:
            _, g_up = gradient_norm_bounds(J[:, k, :], norm)
            via_lip = R.mul_up(g_up, d_up)
            width = R.sub_up(Y.hi[:, k], Y.lo[:, k])
            worst = np.maximum(worst, np.minimum(np.minimum(via_lip, width), cap))
            infl = np.maximum(infl, J[:, k, :].mag())
        return worst, infl

    out = _bound_search(evaluate, lo0, hi0, threshold=eps_down, deadline=deadline, max_boxes=max_boxes,
                        progress=progress, t0=t0)
    upper = min(out.upper, cap)
    if out.status is Status.PROVED or Fraction(upper) <= eps:
        return done(Verdict.VERIFIED, bound=upper, lipschitz=lip, boxes=out.boxes)
    return done(Verdict.TIMEOUT if out.status is Status.TIME_LIMIT else Verdict.UNKNOWN, bound=upper,
                lipschitz=lip, boxes=out.boxes)


# --------------------------------------------------------------------------------------------------
# parameter perturbation

QUANT_FORMATS = ("float16", "bfloat16", "int8")


@dataclass(frozen=True, slots=True)
class Perturbation:
    """How the parameters may move: ``kind`` is ``"absolute"`` (``|w' − w| ≤ amount``), ``"relative"``
    (``|w' − w| ≤ amount·|w|``) or ``"quantize"`` (``w'`` between ``w`` and its quantised value in
    ``fmt``: float16 or bfloat16 round to nearest even; int8 is symmetric per tensor,
    ``q = s·round(w/s)`` with ``s = max|w|/127``). ``biases`` says whether biases move too."""

    kind: str
    amount: Fraction | None = None
    fmt: str | None = None
    biases: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("absolute", "relative", "quantize"):
            raise QueryError(f"unknown perturbation {self.kind!r}: use absolute, relative or quantize")
        if self.kind == "quantize":
            if self.fmt not in QUANT_FORMATS:
                raise QueryError(f"unknown quantisation {self.fmt!r}: use {', '.join(QUANT_FORMATS)}")
        elif self.amount is None or to_fraction(self.amount) < 0:
            raise QueryError(f"{self.kind} perturbation needs an amount >= 0")

    @classmethod
    def absolute(cls, a, biases: bool = True) -> Perturbation:
        return cls("absolute", to_fraction(a), None, biases)

    @classmethod
    def relative(cls, r, biases: bool = True) -> Perturbation:
        return cls("relative", to_fraction(r), None, biases)

    @classmethod
    def quantize(cls, fmt: str, biases: bool = True) -> Perturbation:
        return cls("quantize", None, str(fmt).lower(), biases)

    def describe(self) -> str:
        if self.kind == "quantize":
            return f"quantize to {self.fmt}" + ("" if self.biases else " (weights only)")
        return f"{self.kind} {fraction_to_str(self.amount)}" + ("" if self.biases else " (weights only)")


def _quantize_array(w: np.ndarray, fmt: str) -> np.ndarray:
    """Quantised values as an object array of exact Fractions (float16/bfloat16 exact floats)."""
    if fmt == "float16":
        with np.errstate(over="ignore"):
            q = w.astype(np.float16).astype(np.float64)
    elif fmt == "bfloat16":
        _, e = np.frexp(w)  # w = m·2^e, 0.5 ≤ |m| < 1: 8 significant bits of bfloat16
        e = np.maximum(e, -125)  # below 2^-126: the subnormal spacing 2^-133
        q = np.ldexp(np.round(np.ldexp(w, 8 - e)), e - 8)  # np.round: half to even; scalings are exact
        if (np.abs(q) > 3.3895313892515355e38).any():
            q = np.full_like(q, np.inf)
    else:
        s = float(np.max(np.abs(w))) / 127.0 if w.size else 0.0
        if s == 0.0:
            return np.array([Fraction(0)] * w.size, dtype=object).reshape(w.shape)
        k = np.clip(np.round(w / s), -127, 127).astype(np.int64)
        sq = Fraction(s)
        return np.array([sq * int(v) for v in k.reshape(-1)], dtype=object).reshape(w.shape)
    if not np.isfinite(q).all():
        raise QueryError(f"a parameter exceeds the {fmt} range (quantising it gives infinity)")
    return np.array([Fraction(float(v)) for v in q.reshape(-1)], dtype=object).reshape(w.shape)


def quantized_network(network: Network, fmt: str, biases: bool = True) -> Network:
    """The network with weights (and biases) quantised to ``fmt`` (exact values of the quantised numbers).

    Rigorous: the returned weights are exactly the quantised numbers (float16/bfloat16 values, or
    ``s·k`` for int8 with the float scale ``s``).
    """
    layers = []
    for i, L in enumerate(network.layers):
        wq = _quantize_array(L.weight_mid, fmt)
        bq = _quantize_array(L.bias_mid, fmt) if biases else L.bias_exact()
        layers.append(Layer.from_exact(wq, bq, L.activation, L.alpha, name=f"layer {i}"))
    return Network(tuple(layers), network.input_domain, name=f"{network.name}:{fmt}", format=network.format)


def _hull_exact(lo: np.ndarray, hi: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    qlo = np.array([float_down(v) for v in q.reshape(-1)]).reshape(q.shape)
    qhi = np.array([float_up(v) for v in q.reshape(-1)]).reshape(q.shape)
    return np.minimum(lo, qlo), np.maximum(hi, qhi)


def perturbed_network(network: Network, perturbation: Perturbation) -> Network:
    """The family of networks as one network with interval weights and biases (float64 backend only).

    Rigorous: every weight (bias) of every member of the family lies in ``[weight_lo, weight_hi]``
    (``[bias_lo, bias_hi]``), including the original and, for quantisation, the quantised network.
    The layers carry no exact weights (``weight_q``): analyse the family with the float64 backend.
    """
    p = perturbation
    layers = []
    for L in network.layers:
        def widen(lo, hi, mid, move):
            if not move:
                return lo, hi
            if p.kind == "quantize":
                return _hull_exact(lo, hi, _quantize_array(mid, p.fmt))
            if p.kind == "absolute":
                a = float_up(p.amount)
                return R.sub_down(lo, a), R.add_up(hi, a)
            mag = np.maximum(np.abs(lo), np.abs(hi))
            r = R.mul_up(mag, float_up(p.amount))
            return R.sub_down(lo, r), R.add_up(hi, r)

        wlo, whi = widen(L.weight_lo, L.weight_hi, L.weight_mid, True)
        blo, bhi = widen(L.bias_lo, L.bias_hi, L.bias_mid, p.biases)
        layers.append(Layer(np.asarray(wlo, dtype=np.float64), np.asarray(whi, dtype=np.float64),
                            np.asarray(blo, dtype=np.float64), np.asarray(bhi, dtype=np.float64),
                            L.activation, L.alpha, None, None))
    return Network(tuple(layers), network.input_domain, name=f"{network.name}:family", format=network.format)


@dataclass(frozen=True, slots=True)
class ParamResult:
    """Effect of a parameter perturbation on a domain.

    Attributes
    ----------
    verdict : Verdict or None
        For ``epsilon`` given: VERIFIED when ``change_upper ≤ ε``; FALSIFIED when a point shows
        ``|f_q(x) − f(x)| > ε`` for the quantised network exactly; None when no ``epsilon`` was asked.
    change_upper : float
        Rigorous upper bound of ``sup_x sup_θ' |f_θ'(x) − f_θ(x)|`` over the domain and the family.
    change_lower : float
        Rigorous lower bound of that supremum from the quantised network at sample points (0 otherwise).
    lipschitz_upper : float or None
        Upper bound of the Lipschitz constant of every member of the family on the domain.
    status : Status
        Why the search for ``change_upper`` stopped (:class:`verinet.search.Status`; the JSON writes
        ``"timeout"`` for a time limit, :attr:`status_text`).
    """

    verdict: Verdict | None
    perturbation: Perturbation
    epsilon: Fraction | None
    outputs: tuple[int, ...]
    change_upper: float
    change_lower: float
    lipschitz_upper: float | None
    status: Status
    x: tuple | None = None
    values: tuple | None = None
    boxes: int = 0
    seconds: float = 0.0

    @property
    def status_text(self) -> str:
        """The status as the JSON output and the CLI write it."""
        return _status_text(self.status)

    def to_json(self) -> dict:
        return {
            "verdict": None if self.verdict is None else self.verdict.value,
            "perturbation": self.perturbation.describe(),
            "epsilon": _s(self.epsilon),
            "outputs": list(self.outputs),
            "change_upper": _f(self.change_upper),
            "change_upper_exact": _s(self.change_upper),
            "change_lower": _f(self.change_lower),
            "lipschitz_upper": _f(self.lipschitz_upper),
            "status": self.status_text,
            "counterexample": None if self.x is None else {"x": _vec(self.x), "f": _vec(self.values[0]),
                                                           "f_quantized": _vec(self.values[1])},
            "boxes": self.boxes,
            "seconds": round(self.seconds, 6),
        }


class _ChangeBound:
    """Upper bounds of ``|f_θ'(x) − f_θ(x)|`` per box and output (B, m), for every ``θ'`` of the family.

    Two sound bounds, the smaller is kept:

    * ranges: ``max(P.hi − O.lo, O.hi − P.lo)`` with ``P``/``O`` the family/original output enclosures;
    * differences (in the style of ReluDiff, Paulsen, Wang & Wang, ICSE 2020): with ``Δa = a' − a``,
      ``Δz_k = W'_k Δa_{k−1} + (W'_k − W_k) a_{k−1} + (b'_k − b_k)`` exactly, so
      ``Δz_k ∈ [W'_k]·[Δa] + [W'_k − W_k]·A_{k−1} + [b'_k − b_k]``; and ``σ(z') − σ(z) = s·Δz`` with ``s`` a
      Clarke derivative at a point between ``z`` and ``z'`` (mean value theorem; secant slopes of ReLU lie
      in ``[0, 1]``), so ``Δa_k ∈ σ'(hull(Z_k, Z'_k))·Δz_k``. This bound scales with the perturbation, not
      with the width of the box.
    """

    def __init__(self, network: Network, family: Network) -> None:
        self.net_b = make_backend(network)
        self.fam_b = make_backend(family)
        delta = []
        for L, F in zip(network.layers, family.layers):
            delta.append(Layer(R.sub_down(F.weight_lo, L.weight_hi), R.sub_up(F.weight_hi, L.weight_lo),
                               R.sub_down(F.bias_lo, L.bias_hi), R.sub_up(F.bias_hi, L.bias_lo),
                               Activation.IDENTITY, Fraction(0), None, None))
        self.delta_b = make_backend(Network(tuple(delta), name="parameter-difference"))
        # every member equals the original (e.g. quantising exactly representable weights): no change at all
        self.identical = all(not (D.weight_lo.any() or D.weight_hi.any() or D.bias_lo.any() or D.bias_hi.any())
                             for D in delta)

    def __call__(self, L: np.ndarray, H: np.ndarray) -> np.ndarray:
        nb, fb, db = self.net_b, self.fam_b, self.delta_b
        if self.identical:
            return np.zeros((len(L), nb.network.n_outputs))
        O = propagate(nb, nb.box(L, H))
        P = propagate(fb, fb.box(L, H))
        ranges = np.maximum(R.sub_up(P.output.hi, O.output.lo), R.sub_up(O.output.hi, P.output.lo))
        a = nb.box(L, H)  # A_{k-1}: enclosure of the original activations
        da = None  # Δa_0 = 0: both networks see the same x
        for k in range(len(nb.network.layers)):
            dz = db.affine(k, a)  # (W' − W) a + (b' − b)
            if da is not None:
                dz = dz + fb.linear(k, da)  # + W' Δa
            z, zf = O.pre[k], P.pre[k]
            hull = type(z)._unsafe(np.minimum(z.lo, zf.lo), np.maximum(z.hi, zf.hi))
            da = nb.chain(k, dz, hull)
            a = nb.activate(k, z)
        diffs = np.maximum(np.abs(da.lo), np.abs(da.hi))
        return np.minimum(ranges, diffs)


def _family_lipschitz(family, region, norm, outs, deadline, max_boxes) -> float:
    backend = make_backend(family)
    lo0, hi0 = region.outer_box()

    def evaluate(L, H):
        bounds = propagate(backend, backend.box(L, H))
        J = backend.to_float(jacobian_from_bounds(backend, bounds))
        up = np.zeros(len(L))
        for k in outs:
            up = np.maximum(up, gradient_norm_bounds(J[:, k, :], norm)[1])
        return up, J[:, list(outs), :].mag().max(axis=1)

    return _bound_search(evaluate, lo0, hi0, threshold=None, deadline=deadline, max_boxes=max_boxes,
                         tol=1e-2).upper


def parameter_robustness(
    network: Network,
    domain: Region | None,
    *,
    perturbation: Perturbation,
    epsilon=None,
    norm="inf",
    output: int | None = None,
    time_limit: float = 30.0,
    max_boxes: int | None = 100_000,
    lipschitz: bool = True,
    seed: int = 0,
    progress: Callable[[dict], None] | None = None,
) -> ParamResult:
    """Bound the output change (and the Lipschitz constant) under a parameter perturbation.

    Parameters
    ----------
    domain : Region, optional
        Inputs considered (the network's input domain when None).
    perturbation : Perturbation
    epsilon : number, optional
        The question "does the perturbation keep every output within ε of the original?".

    Rigorous: ``change_upper`` bounds ``|f_θ'(x) − f_θ(x)|`` for every ``x`` in the domain and every
    ``θ'`` of the family; ``lipschitz_upper`` bounds the Lipschitz constant of every member; a FALSIFIED
    point is checked exactly for the quantised network.
    """
    t0 = time.perf_counter()
    time_limit = _check_time(time_limit)
    norm = canonical_norm(norm)
    region = Region.from_domain(network) if domain is None else domain
    region.check_dim(network.n_inputs)
    eps = None if epsilon is None else to_fraction(epsilon)
    if eps is not None and eps < 0:
        raise QueryError(f"epsilon must be >= 0, got {epsilon}")
    outs = _outputs(network, output)
    deadline = t0 + time_limit
    family = perturbed_network(network, perturbation)
    qnet = quantized_network(network, perturbation.fmt, perturbation.biases) if perturbation.kind == "quantize" else None
    geom = _geometry(region)
    rng = np.random.default_rng(seed)
    best = [Fraction(0), None]  # rigorous lower bound of the change, its point and values

    def probe(X) -> tuple | None:
        """Exact change at points (quantised network); a confirmed violation of ε ends the search."""
        if qnet is None:
            return None
        fq = qnet.approx_evaluate(X)[:, list(outs)]
        f0 = network.approx_evaluate(X)[:, list(outs)]
        gap = np.abs(fq - f0).max(axis=1)
        for i in np.argsort(-gap)[:2]:
            x = geom.exact_point(X[i])
            if x is None or not region.contains(x):
                continue
            al, ah = _enclose_at(network, x)
            bl, bh = _enclose_at(qnet, x)
            low = max(max(bl[k] - ah[k], al[k] - bh[k]) for k in outs)
            if low > best[0]:
                best[0] = low
                mid = (lambda lo, hi: tuple(lo) if network.piecewise_linear else
                       tuple((a + b) / 2 for a, b in zip(lo, hi)))
                best[1] = (x, (mid(al, ah), mid(bl, bh)))
            if eps is not None and low > eps:
                return best[1]
        return None

    found = None
    if qnet is not None:
        for _ in range(8):
            X = geom.sample(rng, 256)
            for t in range(10):
                found = probe(X)
                if found is not None or time.perf_counter() > t0 + 0.15 * time_limit:
                    break
                f0, g0 = approx_value_and_grad(network, X, np.full(len(X), outs[0]))
                fq, gq = approx_value_and_grad(qnet, X, np.full(len(X), outs[0]))
                sgn = np.sign(fq[:, outs[0]] - f0[:, outs[0]])[:, None]
                X = geom.project(geom.step(X, -(gq - g0) * sgn, 0.05))
            if found is not None or time.perf_counter() > t0 + 0.15 * time_limit:
                break
    if found is not None:
        x, vals = found
        return ParamResult(Verdict.FALSIFIED, perturbation, eps, outs, math.inf, float_down(best[0]), None,
                           Status.FALSIFIED, x, vals, 0, time.perf_counter() - t0)

    change = _ChangeBound(network, family)

    def evaluate(L, H):
        ch = change(L, H)[:, list(outs)].max(axis=1)
        return ch, np.ones(L.shape)

    lo0, hi0 = region.outer_box()
    share = deadline if not lipschitz else t0 + 0.6 * time_limit
    threshold = None if eps is None else float_down(eps)
    out = _bound_search(evaluate, lo0, hi0, threshold=threshold, deadline=share, max_boxes=max_boxes,
                        lower=float(best[0]), tol=1e-2, progress=progress, t0=t0)
    lip = _family_lipschitz(family, region, norm, outs, deadline, max_boxes) if lipschitz else None
    verdict = None
    if eps is not None:
        if Fraction(out.upper) <= eps:
            verdict = Verdict.VERIFIED
        else:
            verdict = Verdict.TIMEOUT if out.status is Status.TIME_LIMIT else Verdict.UNKNOWN
    return ParamResult(verdict, perturbation, eps, outs, out.upper, float_down(best[0]), lip, out.status,
                       best[1][0] if best[1] else None, best[1][1] if best[1] else None, out.boxes,
                       time.perf_counter() - t0)
