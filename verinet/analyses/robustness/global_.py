"""Global robustness on a domain: ``∀ x, y ∈ D, ‖x − y‖ ≤ δ: |f(x) − f(y)| ≤ ε``.

Mathematics and the verdict rule: :mod:`verinet.analyses.robustness`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from intervals import rounding as R
from intervals.rounding import float_down, float_up, to_fraction
from verinet.analyses.robustness._common import _check_time, _enclose_at, _f, _geometry, _outputs, _s, _vec
from verinet.analyses.robustness.supremum import _bound_search
from verinet.analyses.verify import BoxGeometry, Verdict, approx_value_and_grad
from verinet.bounds.backends import make_backend
from verinet.bounds.gradient import jacobian_from_bounds
from verinet.bounds.norms import canonical_norm, gradient_norm_bounds
from verinet.bounds.propagation import propagate
from verinet.errors import QueryError
from verinet.network import Network
from verinet.region import Region
from verinet.search import Status


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
