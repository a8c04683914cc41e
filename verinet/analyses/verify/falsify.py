"""Falsification glue: random points and projected gradient descent on the approximate score of a
specification (float64 heuristics), and the *confirm* functions that accept a candidate only after an
exact (rational) or rigorous point check."""

from __future__ import annotations

import time

import numpy as np

from intervals.rounding import float_down, float_up, to_fraction
from verinet.bounds.exact_eval import ExactEvaluationTimeout
from verinet.bounds.propagation import output_bounds
from verinet.io.vnnlib import VnnlibProperty
from verinet.network import Network, approx_value_and_grad
from verinet.analyses.verify.geometry import BoxGeometry
from verinet.analyses.verify.spec import OutputSpec

__all__ = ["Attacker", "approx_random_attack", "confirm_factory"]


class Attacker:
    """Random sampling and projected gradient descent on the approximate score (non-rigorous)."""

    def __init__(self, spec: OutputSpec, geom, confirm, rng) -> None:
        self.spec, self.geom, self.confirm, self.rng = spec, geom, confirm, rng
        self.tried = 0

    def check(self, X: np.ndarray, s: np.ndarray, limit: int = 8):
        """Confirm up to ``limit`` candidates with approximate score ``≤ 0``, most negative first."""
        order = np.argsort(s, kind="stable")
        for i in order[:limit]:
            if not s[i] <= 0:
                break
            self.tried += 1
            found = self.confirm(X[i])
            if found is not None:
                return found
        return None

    def scores(self, X: np.ndarray):
        with np.errstate(over="ignore", invalid="ignore"):
            Z = self.spec.network.approx_evaluate(X)
        return self.spec.approx_scores(Z)

    def run(self, X: np.ndarray, steps: int, deadline: float):
        """PGD from the rows of ``X``; returns a confirmed counterexample or None."""
        X = self.geom.project(X)
        s, atom = self.scores(X)
        found = self.check(X, s)
        if found is not None:
            return found
        for t in range(steps):
            if time.perf_counter() > deadline:
                return None
            alpha = 0.1 * (0.02 ** (t / max(steps - 1, 1)))  # geometric decay 0.1 -> 0.002 of the width
            _, G = approx_value_and_grad(self.spec.network, X, atom)
            X = self.geom.project(self.geom.step(X, G, alpha))
            s, atom = self.scores(X)
            found = self.check(X, s, limit=4)
            if found is not None:
                return found
        return None

    def random(self, k: int, steps: int, deadline: float):
        return self.run(self.geom.sample(self.rng, k), steps, deadline)


def approx_random_attack(spec: OutputSpec, geom, confirm, count: int, *, seed: int = 0, deadline: float):
    """Evaluate ``count`` random points of the region approximately; confirm the most unsafe ones.

    The search is a heuristic (float64, no guarantee of finding anything); a returned counterexample is
    whatever ``confirm`` accepted (rigorously checked by the caller's function), else None.
    """
    return Attacker(spec, geom, confirm, np.random.default_rng(seed)).random(count, 0, deadline)


def confirm_factory(network: Network, prop: VnnlibProperty, spec: OutputSpec, geom: BoxGeometry,
                    deadline: float | None = None):
    """The confirm function of one case: ``confirm(x_float)`` returns ``(x, y)`` for a rigorously
    confirmed counterexample near ``x_float`` (exact evaluation for piecewise-linear networks, a rigorous
    point enclosure otherwise), else None (also when ``deadline`` has passed)."""
    exact = network.piecewise_linear

    def confirm(xf):
        if deadline is not None and time.perf_counter() > deadline:
            return None  # out of time: unconfirmed; the search reports a timeout, not an unchecked sat
        x = geom.exact_point(xf)
        if exact:
            try:
                y = network.evaluate_exact(x, deadline=deadline)
            except ExactEvaluationTimeout:
                return None
            if prop.violated_by_exact(x, y):  # x in a case box and y unsafe, decided exactly
                return x, tuple(y)
            return None
        # smooth network: a rigorous enclosure of z = C f(x) − d over the point (a float box that
        # contains the exact point) must satisfy some conjunction certainly
        lo = np.array([float_down(to_fraction(v)) for v in x])
        hi = np.array([float_up(to_fraction(v)) for v in x])
        Z = output_bounds(spec.network, lo, hi)
        ok = any(all((Z.hi[i] < 0) if spec.strict[i] else (Z.hi[i] <= 0) for i in c) for c in spec.conjunctions)
        if not ok or not all(a <= to_fraction(v) <= b for v, a, b in zip(x, geom.lower, geom.upper)):
            return None
        Y = output_bounds(network, lo, hi)
        return x, tuple(float(v) for v in Y.mid())

    return confirm
