"""A point inside one linear piece of a ReLU network (search heuristic for lower bounds).

After activation splitting, the Lipschitz branch-and-bound holds boxes restricted to the part where some
ReLUs have fixed signs. When the enclosures fix the sign of every neuron on such a part, the network is
one affine map there, its upper bound is the exact gradient norm of that piece, and the gap can only
close if a point of the piece is found — pieces are often slivers that random samples and box centres
miss.

:func:`piece_point` writes the piece as linear inequalities ``s_i z_i(x) ≥ 0`` (``z_i`` affine under the
sign pattern) and finds the point of the box that maximises the smallest slack, normalised by the row
norms (a Chebyshev centre), with a log-barrier interior-point method. It is a float64 heuristic: the
point is only a *candidate*, and the caller derives lower bounds from rigorous point enclosures.
"""

from __future__ import annotations

import numpy as np

from verinet.network import Network

__all__ = ["piece_point"]


def _piece_rows(network: Network, signs) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(G, h)`` with the piece ``{x : G x ≤ h}``: ``−s_i (A_i x + c_i) ≤ 0`` for every kinked neuron,
    where ``z = A x + c`` under the pattern ``signs`` (one ±1 array per layer, None for smooth or
    identity layers; float64, approximate)."""
    n = network.n_inputs
    A, c = np.eye(n), np.zeros(n)
    G, h = [], []
    for L, s in zip(network.layers, signs):
        Az = L.weight_mid @ A
        cz = L.weight_mid @ c + L.bias_mid
        if s is None:
            A, c = Az, cz
            continue
        G.append(-s[:, None] * Az)
        h.append(s * cz)
        alpha = float(L.activation.impl.slope_below(L.alpha))
        slope = np.where(s > 0, 1.0, alpha)
        A, c = slope[:, None] * Az, slope * cz
    if not G:
        return np.zeros((0, n)), np.zeros(0)
    return np.concatenate(G), np.concatenate(h)


def piece_point(network: Network, lo: np.ndarray, hi: np.ndarray, signs, *, iters: int = 60) -> np.ndarray | None:
    """A point of the box ``[lo, hi]`` strictly inside the linear piece with sign pattern ``signs``, or None.

    ``signs``: one entry per layer, an array of ±1 per neuron for ReLU / leaky-ReLU layers, else None.
    Maximises ``t`` subject to ``g_i·x + t ≤ h_i`` (rows scaled to unit norm) and the box, by a
    log-barrier method (Newton steps with a backtracking line search, the barrier weight shrinking by
    0.3 per step); returns the point when ``t > 0``. Piecewise-linear networks only (a smooth layer would
    be read as the identity). Heuristic (float64).
    """
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    G, h = _piece_rows(network, signs)
    free = hi > lo
    with np.errstate(all="ignore"):
        h = h - G[:, ~free] @ lo[~free]  # pinned coordinates are constants
        G = G[:, free]
        norm = np.linalg.norm(G, axis=1)
        live = norm > 0
        if (h[~live] < 0).any() or not np.isfinite(G).all() or not np.isfinite(h).all():
            return None  # a constant row is violated: the piece misses the box
        G, h = G[live] / norm[live, None], h[live] / norm[live]
        l, u = lo[free], hi[free]
        m, k = G.shape
        if k == 0:
            return lo.copy() if m == 0 else None
        x = 0.5 * l + 0.5 * u
        span = float(np.max(u - l))
        # constraint matrix on y = (x, t): rows g_i·x + t ≤ h_i, x ≤ u, −x ≤ −l, t ≤ span
        C = np.zeros((m + 2 * k + 1, k + 1))
        C[:m, :k], C[:m, k] = G, 1.0
        C[m:m + k, :k] = np.eye(k)
        C[m + k:m + 2 * k, :k] = -np.eye(k)
        C[-1, k] = 1.0
        e = np.concatenate([h, u, -l, [span]])
        y = np.append(x, min(float(np.min(h - G @ x)) if m else 0.0, span) - span)  # strictly feasible
        obj = np.zeros(k + 1)
        obj[k] = -1.0  # minimise −t
        mu = span
        for _ in range(iters):
            s = e - C @ y
            if (s <= 0).any():
                return None
            grad = obj / mu + C.T @ (1.0 / s)
            H = (C.T * (1.0 / s ** 2)) @ C
            try:
                step = -np.linalg.solve(H + 1e-14 * np.eye(k + 1), grad)
            except np.linalg.LinAlgError:
                return None
            a = 1.0
            while (e - C @ (y + a * step) <= 0).any() and a > 1e-12:
                a *= 0.5  # stay strictly inside
            y = y + a * step
            if y[k] > 0 and (G @ y[:k] < h).all():
                if mu < 1e-6 * span or y[k] > 1e-9 * span:
                    break
            mu *= 0.3
    if not y[k] > 0:
        return None
    out = lo.copy()
    out[free] = np.clip(y[:k], l, u)
    return out
