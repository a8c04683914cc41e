"""Input regions of a search: an exact box or an l2/l1 ball, with the float operations the search needs
(outer float box, sampling, projection, steps, and the rigorous test that drops boxes outside a ball)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from intervals import rounding as R
from intervals.rounding import float_down, float_nearest, float_up, to_fraction
from verinet.bounds.norms import sum_down

__all__ = ["BallGeometry", "BoxGeometry"]


class BoxGeometry:
    """A box ``[lower, upper]`` (exact) for the search: outer float box, sampling, projection."""

    def __init__(self, lower: Sequence, upper: Sequence) -> None:
        self.lower = tuple(to_fraction(v) for v in lower)
        self.upper = tuple(to_fraction(v) for v in upper)
        self.lo = np.array([float_down(v) for v in self.lower])
        self.hi = np.array([float_up(v) for v in self.upper])
        ilo = np.array([float_up(v) for v in self.lower])
        ihi = np.array([float_down(v) for v in self.upper])
        near = np.array([float_nearest(v) for v in self.lower])
        bad = ilo > ihi  # no float inside (a degenerate non-binary coordinate): use the nearest
        self.ilo = np.where(bad, near, ilo)
        self.ihi = np.where(bad, near, ihi)
        self.width = self.ihi - self.ilo

    def sample(self, rng, k: int) -> np.ndarray:
        return self.ilo + rng.random((k, len(self.lo))) * self.width

    def project(self, X: np.ndarray) -> np.ndarray:
        return np.clip(X, self.ilo, self.ihi)

    def step(self, X: np.ndarray, G: np.ndarray, alpha: float) -> np.ndarray:
        return X - alpha * self.width * np.sign(G)

    def keep(self, L: np.ndarray, H: np.ndarray) -> np.ndarray:
        return np.ones(len(L), dtype=bool)

    def exact_point(self, x) -> tuple:
        """The point of the exact box nearest to ``x``: floats kept when inside, else the exact bound.

        Rigorous: the returned point lies in the exact box ``[lower, upper]``.
        """
        out = []
        for v, a, b in zip(np.asarray(x, dtype=np.float64).tolist(), self.lower, self.upper):
            q = Fraction(v)
            out.append(v if a <= q <= b else (a if q < a else b))
        return tuple(out)


class BallGeometry:
    """An l2 or l1 ball ``‖x − c‖ ≤ r`` (exact centre and radius) for the search."""

    def __init__(self, center: Sequence, radius, norm: str) -> None:
        self.center = tuple(to_fraction(v) for v in center)
        self.radius = to_fraction(radius)
        self.norm = norm
        self.c = np.array([float_nearest(v) for v in self.center])
        self.c_lo = np.array([float_down(v) for v in self.center])
        self.c_hi = np.array([float_up(v) for v in self.center])
        self.r = float_down(self.radius)
        self.lo = np.array([float_down(v - self.radius) for v in self.center])
        self.hi = np.array([float_up(v + self.radius) for v in self.center])
        self._r_sq_up = float_up(self.radius * self.radius)
        self._r_up = float_up(self.radius)

    def sample(self, rng, k: int) -> np.ndarray:
        n = len(self.c)
        if self.norm == "2":
            u = rng.standard_normal((k, n))
            u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-300)
        else:  # uniform direction on the l1 sphere: signed exponential variables
            u = rng.exponential(size=(k, n)) * rng.choice([-1.0, 1.0], size=(k, n))
            u /= np.maximum(np.abs(u).sum(axis=1, keepdims=True), 1e-300)
        t = rng.random((k, 1)) ** (1.0 / n)
        return self.c + self.r * t * u

    def project(self, X: np.ndarray) -> np.ndarray:
        D = X - self.c
        if self.norm == "2":
            nrm = np.linalg.norm(D, axis=1, keepdims=True)
            scale = np.minimum(1.0, self.r * (1 - 1e-12) / np.maximum(nrm, 1e-300))
            return self.c + D * scale
        return self.c + _project_l1(D, self.r * (1 - 1e-12))

    def step(self, X: np.ndarray, G: np.ndarray, alpha: float) -> np.ndarray:
        if self.norm == "2":
            nrm = np.maximum(np.linalg.norm(G, axis=1, keepdims=True), 1e-300)
            return X - alpha * self.r * G / nrm
        j = np.argmax(np.abs(G), axis=1)
        S = np.zeros_like(X)
        S[np.arange(len(X)), j] = np.sign(G[np.arange(len(X)), j])
        return X - alpha * self.r * S

    def keep(self, L: np.ndarray, H: np.ndarray) -> np.ndarray:
        """False only for boxes proved disjoint from the ball (directed rounding throughout).

        The distance from the centre to the box in coordinate i is at least
        ``max(0, lo_i − c_i, c_i − hi_i)``, bounded below with ``c_i ∈ [c_lo, c_hi]`` and rounding down.

        Rigorous: a box is dropped only if every point of it is farther than ``r`` from the centre.
        """
        d = np.maximum(0.0, np.maximum(R.sub_down(L, self.c_hi), R.sub_down(self.c_lo, H)))
        if self.norm == "2":
            return ~(sum_down(R.mul_down(d, d), axis=-1) > self._r_sq_up)
        return ~(sum_down(d, axis=-1) > self._r_up)

    def exact_point(self, x) -> tuple | None:
        """``x`` itself if the ball contains it exactly, else a point moved slightly towards the centre.

        Rigorous: a returned point lies in the ball (exact rational test); None when none was found.
        """
        x = np.asarray(x, dtype=np.float64)
        for shrink in (0.0, 1e-12, 1e-9, 1e-6):
            p = self.c + (x - self.c) * (1.0 - shrink)
            if self._contains(p):
                return tuple(float(v) for v in p)
        return None

    def _contains(self, p) -> bool:
        d = [abs(Fraction(float(v)) - c) for v, c in zip(p, self.center)]
        if self.norm == "2":
            return sum(v * v for v in d) <= self.radius * self.radius
        return sum(d) <= self.radius


def _project_l1(D: np.ndarray, r: float) -> np.ndarray:
    """Euclidean projection of each row of ``D`` onto the l1 ball of radius ``r`` (Duchi et al. 2008)."""
    A = np.abs(D)
    inside = A.sum(axis=1) <= r
    U = -np.sort(-A, axis=1)
    css = np.cumsum(U, axis=1) - r
    idx = np.arange(1, D.shape[1] + 1)
    cond = U - css / idx > 0
    rho = np.where(cond.any(axis=1), D.shape[1] - 1 - np.argmax(cond[:, ::-1], axis=1), 0)
    theta = np.maximum(css[np.arange(len(D)), rho] / (rho + 1), 0.0)
    P = np.sign(D) * np.maximum(A - theta[:, None], 0.0)
    return np.where(inside[:, None], D, P)
