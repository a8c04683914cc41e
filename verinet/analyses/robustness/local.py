"""Local robustness (regressor and classifier) on a ball, and the certified radius.

Mathematics and the verdict rule: :mod:`verinet.analyses.robustness`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from intervals import rounding as R
from intervals.rounding import float_nearest, float_up, to_fraction
from verinet.analyses.robustness._common import (
    _STATUS,
    _check_time,
    _enclose_at,
    _f,
    _geometry,
    _outputs,
    _s,
    _vec,
)
from verinet.analyses.verify import Verdict, approx_random_attack, build_spec, search_spec
from verinet.bounds.norms import canonical_norm
from verinet.errors import QueryError
from verinet.network import Network
from verinet.region import Region


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
