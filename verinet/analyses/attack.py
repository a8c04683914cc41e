"""Falsification by projected gradient descent on every disjunct of an output specification.

An unsafe set ``∃ conj ∀ i ∈ conj: z_i ≤ 0`` (:class:`verinet.analyses.verify.OutputSpec`) is attacked one
disjunct at a time: for each conjunction, many starting points descend the hinge loss
``Σ_{i∈conj} max(z_i + τ, 0)`` (``τ`` a small push past the boundary, so that rounding in the float
model does not leave the exact output just on the safe side) with signed steps for boxes (the
l∞-steepest direction, Madry et al., "Towards deep learning models resistant to adversarial attacks",
ICLR 2018) and normalised steps for l2/l1 balls, step sizes decaying from a quarter of the region's
width, restarts from random points. Targeting each disjunct separately matters for classifiers: the
class closest at the centre is often not the one that can overtake the true label.

Everything here is float64 heuristics. A candidate becomes a counterexample only through the caller's
``confirm`` function, which re-checks it rigorously (exact rational evaluation for piecewise-linear
networks, a rigorous point enclosure otherwise; see :func:`verinet.analyses.verify.verify_vnnlib`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from verinet.network import approx_value_and_grad

__all__ = ["pgd_attack"]

#: relative push past the boundary ``z_i ≤ 0`` that the loss asks for
_PUSH = 1e-7


def pgd_attack(spec, geom, confirm: Callable[[np.ndarray], object], *, deadline: float,
               rng: np.random.Generator, restarts: int = 8, steps: int = 40,
               starts: np.ndarray | None = None, max_confirm: int = 8):
    """Search for a point of the region ``geom`` whose output is unsafe for ``spec``; confirmed or None.

    Parameters
    ----------
    spec : OutputSpec
        ``spec.network`` computes the atoms ``z``; ``spec.conjunctions`` the disjuncts.
    geom : BoxGeometry or BallGeometry
        The region: ``sample``, ``project`` and ``step`` (signed / normalised steps).
    confirm : callable
        Rigorous check of a float candidate; returns a counterexample or None.
    deadline : float
        ``time.perf_counter()`` value after which the search stops.
    rng : numpy Generator
    restarts : int
        Random starting points per disjunct (the centre of the region and ``starts`` come in addition).
    steps : int
        Descent steps per round.
    starts : array (k, n), optional
        Extra starting points (e.g. centres of open boxes, minimisers of linear bounds).
    max_confirm : int
        At most this many candidates confirmed per step (most violating first).

    Returns
    -------
    Whatever ``confirm`` returned for the first accepted candidate, or None (a heuristic: no claim).
    """
    conj = [list(c) for c in spec.conjunctions if c]
    if not conj:
        return None
    net = spec.network
    m = spec.n_atoms
    K = len(conj)
    mask = np.zeros((K, m))
    for k, c in enumerate(conj):
        mask[k, c] = 1.0
    centre = geom.project(0.5 * geom.lo[None, :] + 0.5 * geom.hi[None, :])
    pts = [centre, geom.sample(rng, restarts)]
    if starts is not None and len(starts):
        pts.append(np.asarray(starts, dtype=np.float64))
    P = geom.project(np.concatenate(pts))
    # every start against every disjunct: row r = (start r // K, disjunct r % K)
    X = np.repeat(P, K, axis=0)
    M = np.tile(mask, (len(P), 1))
    tried: set[bytes] = set()

    def coef(Z):
        tau = _PUSH * (1.0 + np.abs(Z))
        return np.where((Z + tau > 0) & (M > 0), 1.0, 0.0)

    def candidates(Z, Xc):
        """Confirm the rows whose disjunct holds approximately (worst atom of the disjunct ≤ 0)."""
        v = np.where(M > 0, Z, -np.inf).max(axis=1)
        order = np.argsort(v, kind="stable")
        count = 0
        for i in order:
            if not v[i] <= 0 or count >= max_confirm:
                break
            key = Xc[i].tobytes()
            if key in tried:
                continue
            tried.add(key)
            count += 1
            found = confirm(Xc[i])
            if found is not None:
                return found
        return None

    for t in range(steps + 1):
        if time.perf_counter() > deadline:
            return None
        Z, G = approx_value_and_grad(net, X, coef)
        found = candidates(Z, X)
        if found is not None:
            return found
        if t == steps:
            break
        alpha = 0.25 * (0.01 ** (t / max(steps - 1, 1)))  # geometric decay: a quarter of the width to 1/400
        done = ~(G != 0).any(axis=1)  # disjunct satisfied (or flat): keep the point
        X = np.where(done[:, None], X, geom.project(geom.step(X, G, alpha)))
    return None

