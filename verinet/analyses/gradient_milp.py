"""A mixed-integer program for the largest gradient of a ReLU network over a box (candidates only).

LipMIP (Jordan & Dimakis, "Exactly computing the local Lipschitz constant of ReLU networks", NeurIPS
2020) writes ``max_x ‖∇(cᵀf)(x)‖₁`` over a box as a MILP. For ``f = W_{L−1} σ(⋯ σ(W_0 x + b_0) ⋯)`` the
gradient is ``g = W_0ᵀ D_0 W_1ᵀ D_1 ⋯ D_{L−2} W_{L−1}ᵀ c`` with ``D_k = diag(d_k)`` the ReLU gates; here

* **forward** (which patterns exist in the box): ``z_k = W_k a_{k−1} + b_k`` with the big-M ReLU encoding
  on the pre-activation bounds ``[l, u]`` that :func:`verinet.bounds.linear.linear_propagate` proves (a binary
  ``d`` per unstable neuron: ``z ≥ l(1 − d)``, ``z ≤ u d``, ``a ≥ z``, ``a ≥ 0``, ``a ≤ z − l(1 − d)``,
  ``a ≤ u d``); stable neurons are fixed;
* **backward**: ``u_{L−2} = d ⊙ W_{L−1}ᵀ c`` (linear in the binaries), ``v_k = W_{k+1}ᵀ u_{k+1}``,
  ``u_k = d_k ⊙ v_k`` linearised exactly for a binary ``d`` on float interval bounds ``[p, q]`` of ``v_k``
  (``y ≤ q d``, ``y ≥ p d``, ``y ≤ v − p(1 − d)``, ``y ≥ v − q(1 − d)``), ``g = W_0ᵀ u_0``;
* **norm**: ``|g_i| = P_i + N_i`` with ``g_i = P_i − N_i`` and a sign binary (``P_i ≤ h_i s_i``,
  ``N_i ≤ −l_i(1 − s_i)``) where the sound gradient bounds ``[l_i, h_i]`` of
  :func:`verinet.bounds.jacobian_bounds.gradient_bounds` leave the sign open.

HiGHS (``scipy.optimize.milp``) solves it with a time limit in float64. Nothing it returns is rigorous:
its incumbent's gate vector is only a **candidate activation pattern** (the input ``x`` may sit on a kink,
where its ``d`` is one of several Clarke choices). :func:`milp_candidates` turns the pattern into points
the caller evaluates rigorously: the MILP's ``x``, and the Chebyshev centre (an LP) of the pattern's piece
inside the box (:func:`verinet.analyses.gradient_search._lp_piece_point`), followed by the pattern walk of
:mod:`verinet.analyses.gradient_search` from it. The solver's dual bound is reported as ``float_bound``: an
*unsound* estimate of where the true constant lies (float tolerances, and big-M constants from float
interval sums), never to be printed as a bound.

Only ReLU hidden layers, an identity output layer and l∞ inputs (the l1 norm of the gradient).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass

import numpy as np

from verinet.network import Activation, Network

__all__ = ["MilpResult", "supports_milp", "gradient_milp", "milp_candidates"]


@dataclass(frozen=True)
class MilpResult:
    """What one MILP solve found (float64, not rigorous).

    Attributes
    ----------
    x : ndarray (n,) or None
        The incumbent input point.
    signs : list or None
        Its activation pattern: one ±1 array per hidden ReLU layer (None for the output layer).
    value : float
        The incumbent's objective (a float estimate of ``‖∇(cᵀf)‖₁`` on its pattern), ``-inf`` if none.
    float_bound : float
        The solver's dual bound on the maximum. NOT SOUND (float tolerances): for display only.
    status : str
        ``"optimal"``, ``"time_limit"``, ``"infeasible"``, ``"failed"``.
    binaries : int
    seconds : float
    """

    x: np.ndarray | None
    signs: list | None
    value: float
    float_bound: float
    status: str
    binaries: int
    seconds: float


def supports_milp(network: Network, norm: str) -> bool:
    """ReLU hidden layers, identity output, l∞ inputs."""
    from verinet.bounds.norms import canonical_norm

    layers = network.layers
    return (canonical_norm(norm) == "inf" and layers[-1].activation is Activation.IDENTITY and len(layers) >= 2
            and all(L.activation is Activation.RELU for L in layers[:-1]))


class _Builder:
    """Columns (bounds, integrality) and sparse constraint rows of a MILP."""

    def __init__(self) -> None:
        self.lb: list[np.ndarray] = []
        self.ub: list[np.ndarray] = []
        self.integ: list[np.ndarray] = []
        self.n = 0
        self.rows, self.cols, self.vals = [], [], []
        self.rlo: list[float] = []
        self.rhi: list[float] = []

    def var(self, lb, ub, integer: bool = False) -> np.ndarray:
        lb = np.atleast_1d(np.asarray(lb, dtype=np.float64))
        ub = np.atleast_1d(np.asarray(ub, dtype=np.float64))
        idx = np.arange(self.n, self.n + len(lb))
        self.n += len(lb)
        self.lb.append(lb)
        self.ub.append(ub)
        self.integ.append(np.full(len(lb), 1 if integer else 0))
        return idx

    def row(self, cols, vals, lo: float, hi: float) -> None:
        r = len(self.rlo)
        cols = np.asarray(cols, dtype=np.int64)
        vals = np.asarray(vals, dtype=np.float64)
        keep = vals != 0.0
        self.rows.append(np.full(int(keep.sum()), r))
        self.cols.append(cols[keep])
        self.vals.append(vals[keep])
        self.rlo.append(lo)
        self.rhi.append(hi)

    def block(self, M, cols, lo, hi) -> None:
        """Rows ``lo ≤ M @ var[cols] ≤ hi`` (M dense (r, len(cols)))."""
        M = np.asarray(M, dtype=np.float64)
        r0 = len(self.rlo)
        rr, cc = np.nonzero(M)
        self.rows.append(r0 + rr)
        self.cols.append(np.asarray(cols)[cc])
        self.vals.append(M[rr, cc])
        self.rlo.extend(np.broadcast_to(lo, (M.shape[0],)).tolist())
        self.rhi.extend(np.broadcast_to(hi, (M.shape[0],)).tolist())

    def matrix(self):
        from scipy.sparse import csr_matrix

        rows = np.concatenate(self.rows) if self.rows else np.zeros(0, dtype=np.int64)
        cols = np.concatenate(self.cols) if self.cols else np.zeros(0, dtype=np.int64)
        vals = np.concatenate(self.vals) if self.vals else np.zeros(0)
        return csr_matrix((vals, (rows, cols)), shape=(len(self.rlo), self.n))


def _pad(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float interval sums widened a little (big-M constants only need to hold for the float model)."""
    s = 1e-9 * np.maximum(np.abs(lo), np.abs(hi)) + 1e-12
    return lo - s, hi + s


def gradient_milp(network: Network, c, lo, hi, *, pre=None, grad_bounds=None, seconds: float = 10.0,
                  direction=None, heuristics: float = 0.05, fixed=None) -> MilpResult:
    """Solve the MILP of the module docstring with HiGHS for at most ``seconds``.

    Parameters
    ----------
    network : Network
        ReLU hidden layers and an identity output layer (:func:`supports_milp`).
    c : array_like (m,)
        Output coefficients of ``cᵀf``.
    lo, hi : array_like (n,)
        The box.
    pre : list of (lo, hi) float arrays per layer, optional
        Pre-activation bounds over the box (default: :func:`verinet.bounds.linear.linear_propagate`).
    grad_bounds : (lo, hi) float arrays (n,), optional
        Bounds of the gradient over the box (default: :func:`verinet.bounds.jacobian_bounds.gradient_bounds`).
    seconds : float
        HiGHS time limit.
    direction : array_like (n,) of ±1, optional
        Maximise ``directionᵀ g`` instead of ``‖g‖₁`` (no sign binaries: a much smaller problem whose
        optimum is ``≤`` the constant; ``float_bound`` then bounds that linear objective only).
    heuristics : float
        HiGHS ``mip_heuristic_effort`` (its default 0.05).
    fixed : list of int arrays, optional
        Per hidden layer, +1 / −1 for neurons whose sign is imposed (the gate binary is fixed: the solve
        searches the part of the box where these neurons have these signs), 0 for free ones.

    Returns
    -------
    MilpResult
        Not rigorous (module docstring). Raises ``ImportError`` with a clear message without SciPy.
    """
    t0 = time.perf_counter()
    try:
        from scipy.optimize import Bounds, LinearConstraint, milp
    except ImportError as e:  # pragma: no cover - SciPy is an optional dependency
        raise ImportError("the gradient MILP needs SciPy (pip install scipy)") from e
    lo, hi, c, pre, grad_bounds = _query(network, c, lo, hi, pre, grad_bounds)
    layers = network.layers
    H = len(layers) - 1  # hidden layers
    finite = all(np.isfinite(np.asarray(a, dtype=np.float64)).all() for p in pre[:H] for a in p)
    if not finite or not all(np.isfinite(np.asarray(a, dtype=np.float64)).all() for a in grad_bounds):
        # big-M constants need finite bounds
        return MilpResult(None, None, -np.inf, np.inf, "failed", 0, time.perf_counter() - t0)
    W = [L.weight_mid for L in layers]
    bvec = [L.bias_mid for L in layers]
    mb = _Builder()
    free = hi > lo
    x = mb.var(lo, hi)
    # ---- forward: a_{k−1} as (columns, coefficient matrix, constant) of an affine expression
    a_cols, a_M, a_c = x, np.eye(len(lo)), np.zeros(len(lo))
    gate: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # per layer: (d value or −1, binary col, mask)
    for k in range(H):
        pl, ph = (np.asarray(p, dtype=np.float64).reshape(-1) for p in pre[k])
        Wk = W[k] @ a_M  # z_k = Wk · var[a_cols] + ck
        ck = W[k] @ a_c + bvec[k]
        on = pl >= 0.0
        off = ph <= 0.0
        uns = ~on & ~off
        dval = np.where(on, 1.0, np.where(off, 0.0, -1.0))
        nu = int(uns.sum())
        if fixed is not None and fixed[k] is not None:
            fk = np.asarray(fixed[k])
            if ((fk > 0) & off).any() or ((fk < 0) & on).any():  # the bounds exclude the imposed signs
                return MilpResult(None, None, -np.inf, -np.inf, "infeasible", 0, time.perf_counter() - t0)
            d = mb.var(np.where(fk[uns] > 0, 1.0, 0.0), np.where(fk[uns] < 0, 0.0, 1.0), integer=True)
        else:
            d = mb.var(np.zeros(nu), np.ones(nu), integer=True)
        dcol = np.full(len(pl), -1, dtype=np.int64)
        dcol[uns] = d
        gate.append((dval, dcol, uns))
        if k == H - 1:
            # the last hidden layer's activations are not needed; its gates must still match the sign of z
            z = mb.var(pl[uns], ph[uns])
            mb.block(np.hstack([Wk[uns], -np.eye(nu)]), np.concatenate([a_cols, z]), -ck[uns], -ck[uns])
            _gate_rows(mb, z, d, pl[uns], ph[uns])
            break
        # active neurons: a = z (an affine expression); unstable: new columns a with the ReLU encoding
        alive = on | uns
        ua = mb.var(np.zeros(nu), np.maximum(ph[uns], 0.0))
        zu = mb.var(pl[uns], ph[uns])
        mb.block(np.hstack([Wk[uns], -np.eye(nu)]), np.concatenate([a_cols, zu]), -ck[uns], -ck[uns])
        _gate_rows(mb, zu, d, pl[uns], ph[uns])
        for i in range(nu):  # a ≥ z, a ≤ z − l(1 − d), a ≤ u d
            li, ui = pl[uns][i], ph[uns][i]
            mb.row([ua[i], zu[i]], [1.0, -1.0], 0.0, np.inf)
            mb.row([ua[i], zu[i], d[i]], [1.0, -1.0, -li], -np.inf, -li)
            mb.row([ua[i], d[i]], [1.0, -ui], -np.inf, 0.0)
        # next expression: rows of the alive neurons (active ones affine in the old columns)
        n_k = len(pl)
        cols = np.concatenate([a_cols, ua])
        M = np.zeros((n_k, len(cols)))
        cc = np.zeros(n_k)
        M[on, :len(a_cols)] = Wk[on]
        cc[on] = ck[on]
        M[np.flatnonzero(uns), len(a_cols) + np.arange(nu)] = 1.0
        keep = np.abs(M).sum(axis=0) > 0
        a_cols, a_M, a_c = cols[keep], M[:, keep], cc
        del alive
    # ---- backward
    w = W[H].T @ c  # (n_{H−1},)
    dval, dcol, uns = gate[H - 1]
    # u_{H−1} = d ⊙ w as an affine expression in the binaries: (columns, matrix, constant)
    nH = len(w)
    u_cols = dcol[uns]
    u_M = np.zeros((nH, len(u_cols)))
    u_M[np.flatnonzero(uns), np.arange(len(u_cols))] = w[uns]
    u_c = np.where(dval == 1.0, w, 0.0)
    ul, uh = np.minimum(u_c, u_c + np.minimum(u_M.sum(axis=1), 0.0)), np.maximum(u_c, u_c + np.maximum(u_M.sum(axis=1), 0.0))
    for k in range(H - 1, 0, -1):
        # v_{k−1} = W_kᵀ u_k
        Wt = W[k].T
        v_M, v_c = Wt @ u_M, Wt @ u_c
        Wp, Wn = np.maximum(Wt, 0.0), np.minimum(Wt, 0.0)
        vl, vh = _pad(Wp @ ul + Wn @ uh, Wp @ uh + Wn @ ul)
        dval, dcol, uns = gate[k - 1]
        nu = int(uns.sum())
        y = mb.var(np.minimum(vl[uns], 0.0), np.maximum(vh[uns], 0.0))
        d = dcol[uns]
        p, q = vl[uns], vh[uns]
        for i in range(nu):  # y = d·v exactly for binary d and v ∈ [p, q]
            mb.row([y[i], d[i]], [1.0, -q[i]], -np.inf, 0.0)
            mb.row([y[i], d[i]], [1.0, -p[i]], 0.0, np.inf)
        # y − v + p(1 − d) ≤ 0 and y − v + q(1 − d) ≥ 0, v affine: rows over [u_cols, y, d]
        rows = v_M[uns]
        cols = np.concatenate([u_cols, y])
        E = np.hstack([-rows, np.eye(nu)])
        for i in range(nu):
            mb.row(np.concatenate([cols, [d[i]]]), np.concatenate([E[i], [-p[i]]]), -np.inf, v_c[uns][i] - p[i])
            mb.row(np.concatenate([cols, [d[i]]]), np.concatenate([E[i], [-q[i]]]), v_c[uns][i] - q[i], np.inf)
        on = dval == 1.0
        # u_{k−1}: v on active neurons, y on unstable ones, 0 on inactive ones
        n_k = len(dval)
        new_M = np.zeros((n_k, len(cols)))
        new_M[on, :len(u_cols)] = v_M[on]
        new_M[np.flatnonzero(uns), len(u_cols) + np.arange(nu)] = 1.0
        new_c = np.where(on, v_c, 0.0)
        ul = np.where(on, vl, np.where(uns, np.minimum(vl, 0.0), 0.0))
        uh = np.where(on, vh, np.where(uns, np.maximum(vh, 0.0), 0.0))
        keep = np.abs(new_M).sum(axis=0) > 0
        u_cols, u_M, u_c = cols[keep], new_M[:, keep], new_c
    # g = W_0ᵀ u_0
    g_M, g_c = W[0].T @ u_M, W[0].T @ u_c
    gl, gh = (np.asarray(a, dtype=np.float64).reshape(-1) for a in grad_bounds)
    Wp, Wn = np.maximum(W[0].T, 0.0), np.minimum(W[0].T, 0.0)
    il, ih = _pad(Wp @ ul + Wn @ uh, Wp @ uh + Wn @ ul)
    gl, gh = np.maximum(gl, il), np.minimum(gh, ih)
    gl, gh = _pad(gl, gh)
    obj_cols = [np.zeros(0, dtype=np.int64)]
    obj_vals = [np.zeros(0)]
    const = 0.0
    posi = free & (gl >= 0.0)
    negi = free & (gh <= 0.0)
    mixi = free & ~posi & ~negi
    if direction is not None:  # a fixed sign per coordinate: a linear objective
        dirn = np.where(np.asarray(direction, dtype=np.float64) >= 0.0, 1.0, -1.0)
        posi = free & (posi | (mixi & (dirn > 0)))
        negi = free & (negi | (mixi & (dirn < 0)))
        mixi = np.zeros_like(mixi)
    # known signs: ±g_i directly in the objective
    sgn = np.where(posi, 1.0, np.where(negi, -1.0, 0.0))
    lin = sgn @ g_M
    const += float(sgn @ g_c)
    obj_cols.append(u_cols)
    obj_vals.append(lin)
    m = int(mixi.sum())
    if m:
        P = mb.var(np.zeros(m), gh[mixi])
        N = mb.var(np.zeros(m), -gl[mixi])
        s = mb.var(np.zeros(m), np.ones(m), integer=True)
        # P − N − g = 0 (g affine in u_cols)
        mb.block(np.hstack([-g_M[mixi], np.eye(m), -np.eye(m)]), np.concatenate([u_cols, P, N]), g_c[mixi], g_c[mixi])
        for i in range(m):
            mb.row([P[i], s[i]], [1.0, -gh[mixi][i]], -np.inf, 0.0)
            mb.row([N[i], s[i]], [1.0, -gl[mixi][i]], -np.inf, -gl[mixi][i])  # N ≤ −l(1 − s)
        obj_cols += [P, N]
        obj_vals += [np.ones(m), np.ones(m)]
    cost = np.zeros(mb.n)
    np.add.at(cost, np.concatenate(obj_cols), -np.concatenate(obj_vals))  # milp minimises
    A = mb.matrix()
    lb = np.concatenate(mb.lb)
    ub = np.concatenate(mb.ub)
    integ = np.concatenate(mb.integ)
    n_bin = int(integ.sum())
    left = max(float(seconds) - (time.perf_counter() - t0), 0.05)
    cons = [LinearConstraint(A, np.array(mb.rlo), np.array(mb.rhi))] if A.shape[0] else []
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "highs.log")
        # options beyond scipy's own are passed to HiGHS verbatim (with a warning): more primal heuristics
        # (the gate equalities make rounding fail); the solver's log (file descriptor 1, captured) is the
        # only place that holds the dual bound when no incumbent was found
        opts = {"time_limit": left, "disp": True, "presolve": True, "mip_rel_gap": 1e-6,
                "mip_heuristic_effort": heuristics}
        try:
            with warnings.catch_warnings(), _stdout_to(log):
                warnings.simplefilter("ignore", RuntimeWarning)
                res = milp(cost, constraints=cons, integrality=integ, bounds=Bounds(lb, ub), options=opts)
        except (ValueError, MemoryError):
            return MilpResult(None, None, -np.inf, np.inf, "failed", n_bin, time.perf_counter() - t0)
        dual = getattr(res, "mip_dual_bound", None)
        if dual is None or not np.isfinite(dual):
            dual = _logged_dual_bound(log)
    fb = np.inf if dual is None or not np.isfinite(dual) else const - float(dual)
    status = {0: "optimal", 1: "time_limit"}.get(res.status, "infeasible" if res.status == 2 else "failed")
    if res.x is None:
        return MilpResult(None, None, -np.inf, fb, status, n_bin, time.perf_counter() - t0)
    X = res.x
    signs: list = []
    for k in range(H):
        dval, dcol, uns = gate[k]
        dd = dval.copy()
        dd[uns] = np.round(X[dcol[uns]])
        signs.append(np.where(dd > 0.5, 1.0, -1.0))
    signs.append(None)
    return MilpResult(np.clip(X[x], lo, hi), signs, const - float(res.fun), fb, status, n_bin,
                      time.perf_counter() - t0)


@contextlib.contextmanager
def _stdout_to(path: str):
    """Redirect file descriptor 1 (where HiGHS writes its log) to ``path`` for the duration."""
    sys.stdout.flush()
    saved = os.dup(1)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.dup2(fd, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(fd)
        os.close(saved)


def _logged_dual_bound(path: str) -> float | None:
    """The ``Dual bound`` of a HiGHS log's solving report, or None."""
    try:
        with open(path) as fh:
            m = re.findall(r"Dual bound\s+(\S+)", fh.read())
    except OSError:
        return None
    try:
        return float(m[-1]) if m else None
    except ValueError:
        return None


def _gate_rows(mb: _Builder, z: np.ndarray, d: np.ndarray, l: np.ndarray, u: np.ndarray) -> None:
    """``d = 1 ⇒ z ≥ 0`` (``z ≥ l(1 − d)``) and ``d = 0 ⇒ z ≤ 0`` (``z ≤ u d``)."""
    for i in range(len(z)):
        mb.row([z[i], d[i]], [1.0, l[i]], l[i], np.inf)
        mb.row([z[i], d[i]], [1.0, -u[i]], -np.inf, 0.0)


def _query(network: Network, c, lo, hi, pre, grad_bounds):
    """The box and output combination as float64 arrays, and the bounds the caller did not pass."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    if pre is None or grad_bounds is None:
        pre_, gb = _sound_bounds(network, c, lo, hi)
        pre = pre_ if pre is None else pre
        grad_bounds = gb if grad_bounds is None else grad_bounds
    return lo, hi, c, pre, grad_bounds


def _sound_bounds(network: Network, c: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Pre-activation bounds (linear) and gradient bounds (back-substitution) over the box, as floats."""
    from verinet.bounds.backends import make_backend
    from verinet.bounds.gradient import gradient_from_bounds
    from verinet.bounds.jacobian_bounds import gradient_bounds
    from verinet.bounds.linear import linear_propagate

    backend = make_backend(network)
    bounds = linear_propagate(backend, lo[None, :], hi[None, :])
    pre = [(np.asarray(p.lo).reshape(-1), np.asarray(p.hi).reshape(-1)) for p in bounds.pre]
    G = backend.to_float(gradient_from_bounds(backend, bounds, c, "auto"))
    jb = gradient_bounds(backend, bounds, c, "inf", G=G)
    return pre, (jb.lo[0], jb.hi[0])


#: starts of :func:`milp_candidates` whose ascent is tried before random restarts (the best points of a
#: gradient search mostly lie in one basin of the ascent)
_RESTART_STARTS = 2
#: a random restart's first solve is followed by an ascent only if it reaches this share of the best value
#: so far; otherwise the next random direction is probed (one solve each: the first solve shows the basin)
_PROBE_KEEP = 0.8
#: time limit of one probe's solve
_PROBE_SECONDS = 15.0


def milp_candidates(network: Network, c, lo, hi, *, seconds: float, starts=None, pre=None, grad_bounds=None,
                    full: float = 0.0, done: set | None = None, restarts: bool = True, seed: int = 0):
    """Candidate points from MILP solves (float64; the caller evaluates them rigorously).

    An ascent over sign vectors: from a start point ``x`` with gradient ``g``, maximise ``sign(g)ᵀ g'`` over
    the box by the MILP with a fixed ``direction`` (binaries only for the unstable gates, so HiGHS solves
    it fast); the optimum's pattern gives a point (the Chebyshev centre of its piece in the box, an LP) and
    a new sign vector. ``‖g'‖₁ ≥ sign(g)ᵀg' ≥ sign(g)ᵀg = ‖g‖₁``, so the float values never decrease along
    one ascent. At a fixed point the ascent restarts (``restarts``): from the next start, then from random
    sign vectors (``seed``) — different sign vectors reach different fixed points (MNIST 256x2: 27.4, 28.2
    and 50.9 from four starts) — until the time limit. A ``full`` share of ``seconds`` then goes to the
    MILP with sign binaries (its dual bound is the unsound ``float_bound`` of the result).

    Parameters
    ----------
    network, c, lo, hi : as :func:`gradient_milp`.
    seconds : float
        Wall-clock budget.
    starts : ndarray (K, n), optional
        Start points (default: the box centre); the best by float gradient norm is used first.
    full : float
        Share of ``seconds`` for the full MILP (0: none; then ``float_bound`` is ``inf``).
    restarts : bool
        Restart at fixed points until the time is spent (False: stop at the first fixed point).
    seed : int
        Seed of the random restart directions.
    done : set, optional
        Sign vectors (``bytes``) whose MILP was solved to optimality (or probed and dropped), shared
        between calls and updated:
        the ascent starts from the best start whose sign vector is not in it (so a later call continues
        an ascent that an earlier one left unfinished, and does not repeat a finished one).

    Returns
    -------
    (GradientCandidates, float_bound)
        Points best first with float estimates of their gradient norms; the full MILP's dual bound
        (NOT SOUND, display only) or ``inf``.
    """
    from verinet.analyses.gradient_search import GradientCandidates, _dual_norm, _lp_piece_point, _Search

    t0 = time.perf_counter()
    deadline = t0 + seconds
    lo, hi, c, pre, grad_bounds = _query(network, c, lo, hi, pre, grad_bounds)
    s = _Search(network, c, "1", lo, hi, hi > lo, None, deadline, np.random.default_rng(0))
    X = (0.5 * lo + 0.5 * hi)[None, :] if starts is None or not len(starts) else np.atleast_2d(starts)
    G = s.grads(X)[0]
    v = _dual_norm(G, s.q)
    s.record(X, v)
    done = set() if done is None else done
    fresh = np.array([np.where(G[k] >= 0.0, 1.0, -1.0).tobytes() not in done for k in range(len(G))])
    if not fresh.any():
        fresh[:] = True
    # restart queue: the fresh starts best first, then random sign vectors (seeded)
    queue = [G[k] for k in np.argsort(-np.where(fresh, v, -np.inf), kind="stable") if fresh[k]][:_RESTART_STARTS]
    rng = np.random.default_rng(seed)
    g = queue.pop(0)
    cur = float(_dual_norm(g[None, :], s.q)[0])
    asc_end = t0 + (1.0 - full) * seconds
    seen: set[bytes] = set()
    retry = False
    skips = 0
    probing = False
    while time.perf_counter() < asc_end - 0.05:
        dirn = np.where(g >= 0.0, 1.0, -1.0)
        key = dirn.tobytes()
        if (key in seen or key in done) and not retry:
            skips += 1
            if not restarts or skips > 20:  # (few inputs: the sign vectors run out)
                break
            # a finished ascent: restart from the next start, or from a random sign vector (any
            # improvement on it counts)
            if queue:
                g = queue.pop(0)
                cur = float(_dual_norm(g[None, :], s.q)[0])
                probing = False
            else:
                g, cur = rng.choice([-1.0, 1.0], size=len(lo)), 0.0
                probing = True
            continue
        skips = 0
        seen.add(key)
        left = asc_end - time.perf_counter()
        # a few ascent steps per budget: HiGHS finds good incumbents long before it proves them optimal
        # (after a solve without an incumbent, the next one gets all the time left)
        cap = left if retry else max(min(left, max(left / 3, 5.0), _PROBE_SECONDS if probing else np.inf), 0.05)
        res = gradient_milp(network, c, lo, hi, pre=pre, grad_bounds=grad_bounds, seconds=cap, direction=dirn)
        if res.x is None:
            if probing:  # no incumbent for a random probe: probe another direction
                done.add(key)
                probing = False
                continue
            if retry:
                break
            retry = True
            continue
        retry = False
        if res.status == "optimal":
            done.add(key)
        pts = [res.x[None, :]]
        y = _lp_piece_point(network, res.signs, lo, hi, max(deadline - time.perf_counter(), 0.5))
        if y is not None:
            pts.append(np.clip(y, lo, hi)[None, :])
        P = np.concatenate(pts)
        Gp = s.grads(P)[0]
        vp = _dual_norm(Gp, s.q)
        s.record(P, vp)
        j = int(np.argmax(vp))
        if probing and vp[j] < _PROBE_KEEP * float(s.best(1)[1][0]):
            done.add(key)  # a random probe far below the best point: probe again rather than ascend
        elif vp[j] > cur * (1 + 1e-12):
            g, cur = Gp[j], float(vp[j])
        elif res.status == "optimal":
            done.add(key)  # a fixed point of the ascent: the next round restarts
        probing = False
    fb = np.inf
    left = deadline - time.perf_counter()
    if full > 0 and left > 0.1:
        res = gradient_milp(network, c, lo, hi, pre=pre, grad_bounds=grad_bounds, seconds=left)
        fb = res.float_bound
        if res.x is not None:
            pts = [res.x[None, :]]
            y = _lp_piece_point(network, res.signs, lo, hi, 1.0)
            if y is not None:
                pts.append(np.clip(y, lo, hi)[None, :])
            P = np.concatenate(pts)
            s.record(P, _dual_norm(s.grads(P)[0], s.q))
    P, V = s.best(16)
    return GradientCandidates(P, V, s.evaluated, time.perf_counter() - t0), fb
