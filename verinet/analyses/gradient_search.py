"""Search for points where the gradient of ``cᵀf`` is large: candidates for Lipschitz lower bounds.

The Lipschitz constant of ``cᵀf`` on a region ``X`` is the supremum of ``‖∇(cᵀf)(x)‖_q`` over the points of
``X`` where ``f`` is differentiable (``q`` dual to the input norm), so any point gives a lower bound and a
good point gives a good one. Box centres and a few random samples rarely hit the largest linear piece of
a real ReLU network (ACAS Xu, MNIST classifiers); this module looks for it in float64, batched over many
points at once:

1. **Sampling**: uniform points of the box and random vertices (one forward and one backward pass per
   batch).
2. **Smoothed ascent** from the best samples (restarts): the gradient of a ReLU network is piecewise
   constant, so ``∇_x‖g(x)‖`` is zero almost everywhere. The ascent direction is taken from the surrogate
   ``g_τ`` in which every ReLU gate ``1[z > 0]`` of the backward pass is replaced by ``sigmoid(z/τ)``
   (``τ`` shrinking): ``∇_x ‖g_τ‖_q = (∇²_τ)·r``, a Hessian-vector product computed with one forward-mode
   and one reverse-mode pass (``r = ∂‖g‖_q/∂g``). Steps are sign steps ``x ← clip(x + η·w·sign(·))``
   (the l∞-steepest ascent in the box of widths ``w``; balls are projected back).
3. **Pattern ascent** (piecewise-linear networks): flipping one neuron ``j`` of layer ``k`` changes the
   gradient *exactly* by ``(d'_j − d_j)·u_{kj}·∇z_{kj}`` (``u`` the backward adjoint at the neuron,
   ``∇z_{kj}`` its pre-activation gradient under the current pattern), so the flips that raise the norm
   most are known in closed form. The search steps just across each such neuron's kink (all candidates
   in one batch) and, when that step fails, asks the HiGHS LP solver (``scipy.optimize.linprog``) for the
   Chebyshev centre of the flipped pattern's piece inside the box.

Everything here is a heuristic in round-to-nearest float64 (names ``approx_*``): a point it returns is
only a *candidate*. The caller turns candidates into rigorous lower bounds with interval enclosures of the
Clarke gradient at each point (:mod:`verinet.analyses.lipschitz`); a candidate on a kink then gets the smallest
norm of its Clarke gradient enclosure, which is sound.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np

from verinet.network import Network
from verinet.parallel import limit_blas_threads

__all__ = ["GradientCandidates", "approx_gradient_norms", "approx_gradient_candidates", "approx_region_candidates"]


@dataclass(frozen=True)
class GradientCandidates:
    """Points found by :func:`approx_gradient_candidates`, best first (float64 estimates, not bounds).

    Attributes
    ----------
    points : ndarray, shape (K, n)
    values : ndarray, shape (K,)
        Float64 estimates of ``‖∇(cᵀf)‖_q`` at the points (round-to-nearest; a point on a kink gets the
        value of one of its pieces).
    evaluated : int
        Points whose gradient was computed.
    seconds : float
    """

    points: np.ndarray
    values: np.ndarray
    evaluated: int
    seconds: float


class _Net:
    """Float64 midpoint weights and activation data of a network (search only)."""

    def __init__(self, network: Network) -> None:
        self.W = [np.ascontiguousarray(L.weight_mid) for L in network.layers]
        self.b = [np.ascontiguousarray(L.bias_mid) for L in network.layers]
        self.act = [L.activation.impl for L in network.layers]  # verinet.activations objects
        self.alpha = [float(L.alpha) if L.activation.impl.has_alpha else 0.0 for L in network.layers]
        self.piecewise = network.piecewise_linear

    def forward(self, X: np.ndarray) -> list[np.ndarray]:
        """Pre-activations ``z_k`` (B, n_k) of every layer."""
        zs = []
        a = X
        for W, b, act, al in zip(self.W, self.b, self.act, self.alpha):
            z = a @ W.T + b
            zs.append(z)
            a = act.value(z, al)
        return zs

    def gates(self, zs: list[np.ndarray], tau: list[float] | None = None):
        """Derivatives ``σ'(z_k)`` (true, or with ReLU gates smoothed to ``sigmoid(z/τ_k)``) and, when
        smoothing, the second derivatives ``σ''``."""
        d, dd = [], []
        for k, (z, act, al) in enumerate(zip(zs, self.act, self.alpha)):
            if act.has_kinks:
                if tau is None:
                    d.append(np.where(z > 0, 1.0, al))
                    dd.append(None)
                else:
                    with np.errstate(over="ignore"):
                        s = 1.0 / (1.0 + np.exp(-z / tau[k]))
                    d.append(al + (1.0 - al) * s)
                    dd.append((1.0 - al) * s * (1.0 - s) / tau[k])
            else:
                d.append(act.derivative(z, al))
                dd.append(act.second_derivative(z))
        return d, dd

    def backward(self, c: np.ndarray, d: list[np.ndarray]):
        """Gradients ``∇(cᵀf)`` (B, n) and the adjoints ``u_k`` (B, n_k) *before* each layer's gate."""
        u = np.broadcast_to(c, (d[0].shape[0], len(c)))
        us = [None] * len(d)
        for k in range(len(d) - 1, -1, -1):
            us[k] = u
            u = (u * d[k]) @ self.W[k]
        return u, us


def _dual_norm(G: np.ndarray, q: str) -> np.ndarray:
    A = np.abs(G)
    if q == "1":
        return A.sum(axis=-1)
    if q == "2":
        return np.sqrt((A * A).sum(axis=-1))
    return A.max(axis=-1)


def _norm_direction(G: np.ndarray, q: str) -> np.ndarray:
    """``∂‖g‖_q/∂g`` (one subgradient) for each row of ``G``."""
    if q == "1":
        return np.sign(G)
    if q == "2":
        n = np.sqrt((G * G).sum(axis=-1, keepdims=True))
        return G / np.where(n > 0, n, 1.0)
    r = np.zeros_like(G)
    i = np.argmax(np.abs(G), axis=-1)
    rows = np.arange(len(G))
    r[rows, i] = np.sign(G[rows, i])
    return r


def approx_gradient_norms(network: Network, c, X, norm: str = "inf", free: np.ndarray | None = None) -> np.ndarray:
    """Float64 estimates of ``‖∇(cᵀf)(x)‖_q`` at the rows of ``X`` (B, n), ``q`` dual to ``norm``.

    ``free`` (bool, n) keeps only those gradient components (the others are coordinates the region pins).
    Heuristic: round-to-nearest, and at a kink one piece's gradient (ReLU gate 0 at ``z = 0``).
    """
    from verinet.bounds.norms import dual

    net = _Net(network)
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    G, _ = net.backward(np.asarray(c, dtype=np.float64), net.gates(net.forward(X))[0])
    if free is not None:
        G = G[:, np.asarray(free, dtype=bool)]
    return _dual_norm(G, dual(norm))


class _Search:
    """State of one search: the box, the norm, the best points seen, the clock."""

    def __init__(self, network, c, q, lo, hi, free, ball, deadline, rng) -> None:
        self.net = _Net(network)
        self.network = network
        self.c = np.asarray(c, dtype=np.float64)
        self.q = q
        self.lo, self.hi = lo, hi
        self.w = hi - lo
        self.free = free
        self.ball = ball
        self.deadline = deadline
        self.rng = rng
        self.evaluated = 0
        self.pts: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def project(self, X: np.ndarray) -> np.ndarray:
        X = np.clip(X, self.lo, self.hi)
        if self.ball is not None:  # shrink towards the centre into the l2 / l1 ball
            centre, radius, p = self.ball
            D = X - centre
            n = np.sqrt((D * D).sum(axis=1)) if p == "2" else np.abs(D).sum(axis=1)
            s = np.where(n > radius, radius / np.where(n > 0, n, 1.0) * (1.0 - 1e-12), 1.0)
            X = np.clip(centre + D * s[:, None], self.lo, self.hi)
        return X

    def grads(self, X: np.ndarray, zs=None):
        zs = self.net.forward(X) if zs is None else zs
        d, _ = self.net.gates(zs)
        G, us = self.net.backward(self.c, d)
        G = np.where(self.free, G, 0.0)
        self.evaluated += len(X)
        return G, zs, d, us

    def record(self, X: np.ndarray, v: np.ndarray, keep: int = 64) -> None:
        top = np.argsort(-v, kind="stable")[:keep]
        self.pts.append(X[top].copy())
        self.vals.append(v[top].copy())

    def best(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        P = np.concatenate(self.pts) if self.pts else np.zeros((0, len(self.lo)))
        V = np.concatenate(self.vals) if self.vals else np.zeros(0)
        order = np.argsort(-V, kind="stable")
        P, V = P[order], V[order]
        # distinct points only
        _, first = np.unique(P, axis=0, return_index=True)
        first = np.sort(first)
        return P[first][:k], V[first][:k]

    # ---------------------------------------------------------------------------------------- phases
    def sample(self, n: int, chunk: int) -> None:
        done = 0
        while done < n and not (done and self.out_of_time()):
            m = min(chunk, n - done)
            X = self.lo + self.rng.random((m, len(self.lo))) * self.w
            nv = m // 4  # a quarter of random vertices: for ReLU networks large gradients often sit there
            X[:nv] = np.where(self.rng.random((nv, len(self.lo))) < 0.5, self.lo, self.hi)
            X = self.project(X)
            G, *_ = self.grads(X)
            self.record(X, _dual_norm(G, self.q))
            done += m

    def ascend(self, starts: np.ndarray, steps: int, output: float = 0.0) -> None:
        """Sign ascent from every start (one batch): on the smoothed surrogate ``‖g_τ‖`` (``output = 0``), or
        on ``output·cᵀf`` (``output = ±1``: PGD steps as an attack takes them, which drive points to the
        box's faces and vertices, where trained ReLU networks often have their steepest pieces)."""
        X = starts.copy()
        for t in range(steps):
            if self.out_of_time():
                return
            frac = t / max(steps - 1, 1)
            zs = self.net.forward(X)
            G, *_ = self.grads(X, zs)
            self.record(X, _dual_norm(G, self.q))
            if output:
                h = output * G
            else:
                # temperature relative to each layer's typical pre-activation size, annealed 0.3 -> 0.003
                scale = 0.3 * (0.01 ** frac)
                tau = [max(scale * float(np.median(np.abs(z))), 1e-12) for z in zs]
                h = self._smoothed_ascent_direction(X, zs, tau)
            eta = 0.1 * (0.05 ** frac)
            X = self.project(X + eta * self.w * np.sign(h))
        G, *_ = self.grads(X)
        self.record(X, _dual_norm(G, self.q))

    def _smoothed_ascent_direction(self, X, zs, tau) -> np.ndarray:
        """``∇_x ‖g_τ(x)‖_q`` (B, n): a Hessian-vector product ``∇²_τ(cᵀf)·r`` of the smoothed surrogate.

        ``g_τ = W_1ᵀ(S_1 W_2ᵀ(S_2 ⋯ c))`` with ``S_k = σ'_τ(z_k)``; with ``r = ∂‖g_τ‖/∂g`` and the tangent
        ``ρ_1 = W_1 r``, ``ρ_{k+1} = W_{k+1}(S_k ρ_k)``, the derivative of ``‖g_τ‖`` with respect to ``z_k``
        is ``e_k = ρ_k ⊙ u_k ⊙ σ''_τ(z_k)`` (``u_k`` the adjoint before gate ``k``), and ``∇_x = Σ_k J_kᵀ e_k``
        by one reverse pass through the true forward Jacobians ``J_k = ∂z_k/∂x``.
        """
        net = self.net
        S, S2 = net.gates(zs, tau)
        Gt, us = net.backward(self.c, S)
        r = _norm_direction(np.where(self.free, Gt, 0.0), self.q)
        D, _ = net.gates(zs)
        K = len(zs)
        rho = r @ net.W[0].T
        e = []
        for k in range(K):
            e.append(None if S2[k] is None else rho * us[k] * S2[k])
            if k + 1 < K:
                rho = (S[k] * rho) @ net.W[k + 1].T
        adj = None
        for k in range(K - 1, -1, -1):
            a = adj * D[k] if adj is not None else None
            if e[k] is not None:
                a = e[k] if a is None else a + e[k]
            adj = None if a is None else a @ net.W[k]
        return np.zeros_like(X) if adj is None else np.where(self.free, adj, 0.0)

    def pattern_ascent(self, starts: np.ndarray, rounds: int, lp: bool) -> None:
        """Greedy walk over activation patterns from each start (see the module docstring)."""
        for x in starts:
            for _ in range(rounds):
                if self.out_of_time():
                    return
                y = self._flip_step(x, lp)
                if y is None:
                    break
                x = y

    def _flip_step(self, x: np.ndarray, lp: bool) -> np.ndarray | None:
        net = self.net
        G, zs, d, us = self.grads(x[None, :])
        g0 = G[0]
        v0 = _dual_norm(g0, self.q)
        # Jacobians of every kinked layer's pre-activations under the pattern at x, and the exact
        # gradient after flipping each of their neurons alone
        J = np.eye(len(x))
        Jrows, zvals, newg, meta = [], [], [], []
        for k in range(len(zs)):
            Jk = net.W[k] @ J  # (n_k, n)
            if net.act[k].has_kinks:
                al = net.alpha[k]
                dk = d[k][0]
                flip = np.where(dk == 1.0, al, 1.0) - dk
                delta = (flip * us[k][0])[:, None] * Jk  # (n_k, n): change of g per flip
                gk = g0[None, :] + np.where(self.free, delta, 0.0)
                Jrows.append(Jk)
                zvals.append(zs[k][0])
                newg.append(_dual_norm(gk, self.q))
                meta.append(np.stack([np.full(len(dk), k), np.arange(len(dk))], axis=1))
            J = d[k][0][:, None] * Jk
        if not Jrows:
            return None
        Jr = np.concatenate(Jrows)
        z = np.concatenate(zvals)
        nv = np.concatenate(newg)
        ids = np.concatenate(meta)
        order = np.argsort(-nv, kind="stable")
        order = order[nv[order] > v0 * (1 + 1e-12)][:64]
        if not len(order):
            return None
        # step just across each kink: z -> -sign(z)·margin along the pre-activation gradient
        rows = np.where(self.free, Jr[order], 0.0)
        nrm2 = (rows * rows).sum(axis=1)
        ok = nrm2 > 0
        if not ok.any():
            return None
        rows, zo, nrm2, order = rows[ok], z[order][ok], nrm2[ok], order[ok]
        margin = 1e-6 * np.sqrt(nrm2) * float(np.max(self.w))
        target = np.where(zo > 0, -margin, margin)
        Y = self.project(x[None, :] + ((target - zo) / nrm2)[:, None] * rows)
        Gy, *_ = self.grads(Y)
        vy = _dual_norm(Gy, self.q)
        self.record(Y, vy)
        i = int(np.argmax(vy))
        if vy[i] > v0 * (1 + 1e-12):
            return Y[i]
        if not lp or not net.piecewise:
            return None
        # the direct step crossed other kinks too: ask an LP for a point of the flipped piece
        for j in order[:3]:
            if self.out_of_time():
                return None
            signs = _signs(net, zs)
            k, nn = int(ids[j, 0]), int(ids[j, 1])
            signs[k][nn] = -signs[k][nn]
            left = None if self.deadline is None else self.deadline - time.perf_counter()
            if left is not None and (left < 0.5 or ("scipy.optimize" not in sys.modules and left < 5.0)):
                return None  # importing SciPy's optimisers alone takes seconds on a busy machine
            y = _lp_piece_point(self.network, signs, self.lo, self.hi, left)
            if y is None:
                continue
            y = self.project(y[None, :])
            Gy, *_ = self.grads(y)
            vy = _dual_norm(Gy, self.q)
            self.record(y, vy)
            if vy[0] > v0 * (1 + 1e-12):
                return y[0]
        return None


def _signs(net: _Net, zs: list[np.ndarray]) -> list:
    """±1 per kinked neuron at one point (one array per layer, None for the others)."""
    return [np.where(z[0] > 0, 1.0, -1.0) if a.has_kinks else None
            for z, a in zip(zs, net.act)]


def _lp_piece_point(network: Network, signs, lo: np.ndarray, hi: np.ndarray,
                    seconds: float | None = None) -> np.ndarray | None:
    """Chebyshev centre of the piece with pattern ``signs`` inside the box, by the HiGHS LP solver
    (``max t`` s.t. ``g_i·x + ‖g_i‖ t ≤ h_i``, ``lo ≤ x ≤ hi``); None when the piece misses the box, the
    solver fails, or SciPy is not installed. Heuristic (float LP)."""
    try:
        from scipy.optimize import linprog
    except ImportError:  # optional: the search then only takes direct steps
        return None
    from verinet.analyses.witness import _piece_rows

    Gm, h = _piece_rows(network, signs)
    free = hi > lo
    if not free.any() or not len(h):
        return None
    h = h - Gm[:, ~free] @ lo[~free]
    Gm = Gm[:, free]
    nrm = np.linalg.norm(Gm, axis=1)
    live = nrm > 0
    if (h[~live] < 0).any() or not np.isfinite(Gm).all():
        return None
    Gm, h, nrm = Gm[live], h[live], nrm[live]
    k = int(free.sum())
    A = np.hstack([Gm / nrm[:, None], np.ones((len(h), 1))])
    span = float(np.max(hi[free] - lo[free]))
    bounds = [(float(a), float(b)) for a, b in zip(lo[free], hi[free])] + [(None, span)]
    cost = np.zeros(k + 1)
    cost[-1] = -1.0
    try:
        options = {} if seconds is None else {"time_limit": max(float(seconds), 0.01)}
        res = linprog(cost, A_ub=A, b_ub=h / nrm, bounds=bounds, method="highs", options=options)
    except (ValueError, np.linalg.LinAlgError):
        return None
    if res.status != 0 or res.x is None or not res.x[-1] > 0:
        return None
    out = lo.copy()
    out[free] = np.clip(res.x[:k], lo[free], hi[free])
    return out


def approx_gradient_candidates(network: Network, c, lo, hi, *, norm: str = "inf", free: np.ndarray | None = None,
                               ball: tuple | None = None, seconds: float | None = None, samples: int = 4096,
                               restarts: int = 16, steps: int = 30, pattern_rounds: int = 8, lp: bool = True,
                               keep: int = 64, seed: int = 0) -> GradientCandidates:
    """Points of the box ``[lo, hi]`` with a large ``‖∇(cᵀf)‖_q`` (``q`` dual to ``norm``), best first.

    Parameters
    ----------
    network : Network
    c : array_like, shape (m,)
        Output coefficients of the scalar ``cᵀf``.
    lo, hi : array_like, shape (n,)
        The box searched; every returned point lies in it (and in ``ball``, up to float rounding).
    norm : {"inf", "2", "1"}
        Input norm; the gradient is measured in its dual.
    free : bool array, optional
        Coordinates the region leaves free (the others' gradient components are ignored).
    ball : (centre, radius, p), optional
        Also keep points in this l2 (``p = "2"``) or l1 (``p = "1"``) ball (float, approximate).
    seconds : float, optional
        Wall-clock budget; without it the search does its fixed amount of work (deterministic).
    samples, restarts, steps, pattern_rounds : int
        Random points (a quarter of them vertices), ascent starts (the best samples), smoothed-ascent
        steps, and pattern-flip rounds per start (piecewise-linear networks).
    lp : bool
        Let the pattern ascent call the HiGHS LP solver (needs SciPy) when a direct step fails.
    keep : int
        Candidates returned.

    Returns
    -------
    GradientCandidates
        Not rigorous: float64 heuristics (see the module docstring); evaluate the points rigorously.
    """
    from verinet.bounds.norms import dual

    t0 = time.perf_counter()
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    free = (hi > lo) if free is None else np.asarray(free, dtype=bool)
    deadline = None if seconds is None else t0 + max(float(seconds), 0.0)
    if ball is not None:
        ball = (np.asarray(ball[0], dtype=np.float64), float(ball[1]), str(ball[2]))
    s = _Search(network, c, dual(norm), lo, hi, free, ball, None, np.random.default_rng(seed))
    # small batches dominate the ascent: one BLAS thread avoids thread hand-offs (10x on a busy machine)
    restore = limit_blas_threads(1)
    try:
        # batches of a few hundred KB: the clock is checked between them, so a busy machine still leaves
        # the ascent its share
        width = max(sum(L.n_out for L in network.layers), 1)
        chunk = int(np.clip(400_000 // width, 64, 4_096))
        # time shares: sampling 25%, smoothed ascent up to 60% (then the pattern walk)
        s.deadline = None if deadline is None else t0 + 0.25 * (deadline - t0)
        s.sample(samples, chunk)
        centre = s.project(0.5 * lo[None, :] + 0.5 * hi[None, :])
        s.record(centre, _dual_norm(s.grads(centre)[0], s.q))
        s.deadline = None if deadline is None else t0 + 0.6 * (deadline - t0)
        if restarts > 0 and steps > 0:
            starts, _ = s.best(restarts)
            s.ascend(starts, steps)
        s.deadline = deadline
        if network.piecewise_linear and pattern_rounds > 0 and not s.out_of_time():
            starts, _ = s.best(max(1, restarts // 4))
            s.pattern_ascent(starts, pattern_rounds, lp)
        # with a budget left: more rounds from fresh samples, alternating the smoothed ascent with PGD on
        # ±cᵀf, each followed by a short pattern walk from the best point of the round
        r = 0
        while deadline is not None and not s.out_of_time() and restarts > 0 and steps > 0:
            fresh = _Search(network, c, s.q, lo, hi, free, ball, deadline, s.rng)
            if r % 3 == 0:
                fresh.sample(max(samples // 4, restarts), chunk)
                starts, _ = fresh.best(restarts)
            else:  # PGD rounds start from uniform random points, as an attack would
                starts = s.project(lo + s.rng.random((restarts, len(lo))) * s.w)
            if r % 3 == 0:  # half of the smoothed-ascent starts: the best points so far, slightly moved
                best, _ = s.best(restarts // 2)
                moved = best + 0.02 * s.w * (s.rng.random(best.shape) - 0.5)
                starts = np.concatenate([starts[:restarts - len(best)], s.project(moved)])
            fresh.ascend(starts, steps, (0.0, 1.0, -1.0)[r % 3])
            if network.piecewise_linear and pattern_rounds > 0:
                fresh.pattern_ascent(fresh.best(1)[0], pattern_rounds, lp)
            s.pts += fresh.pts
            s.vals += fresh.vals
            s.evaluated += fresh.evaluated
            r += 1
            s.pts, s.vals = [s.best(keep)[0]], [s.best(keep)[1]]  # keep memory bounded
    finally:
        restore()
    P, V = s.best(keep)
    return GradientCandidates(P, V, s.evaluated, time.perf_counter() - t0)


def approx_region_candidates(network: Network, region, c, norm: str, *, seconds: float | None = None,
                             seed: int = 0) -> GradientCandidates:
    """:func:`approx_gradient_candidates` over a :class:`~verinet.region.Region`.

    With a time budget (``seconds``) the search does its full work (20,000 samples, 32 ascent starts,
    pattern walk with LP help) until the budget ends; without one a small fixed amount of work
    (deterministic, milliseconds on small networks). Candidates lie in the float box inside the region's
    exact box (and, for a ball, in the ball up to rounding): the caller still checks each point with
    :meth:`Region.contains` and evaluates it rigorously.
    """
    from intervals.rounding import float_down, float_up

    lo0, hi0 = region.outer_box()
    lo = np.array([float_up(v) for v in region.lower], dtype=np.float64)
    hi = np.array([float_down(v) for v in region.upper], dtype=np.float64)
    bad = lo > hi  # a pinned coordinate that is not a float: stay on its outer enclosure
    lo[bad], hi[bad] = lo0[bad], hi0[bad]
    free = hi0 > lo0
    ball = None
    if region.kind == "ball":
        ball = (np.array([float(v) for v in region.center]), float(region.radius), region.norm)
    if seconds is None:
        work = dict(samples=2048, restarts=8, steps=20, pattern_rounds=2, lp=False)
    else:
        work = dict(samples=20_000, restarts=32, steps=40, pattern_rounds=20, lp=True)
    return approx_gradient_candidates(network, c, lo, hi, norm=norm, free=free, ball=ball, seconds=seconds,
                                      seed=seed, **work)
