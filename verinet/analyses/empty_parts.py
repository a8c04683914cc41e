"""Proofs that a sign-constrained part of a box is empty, checked with directed rounding (any input size).

The neuron-sign search of :mod:`verinet.analyses.lipschitz_neuron` splits a box into parts
``P = {x ∈ B : s_i z_i(x) ≥ 0, (i, s_i) fixed}``. Its bounds prove some parts empty (crossing ends), but
many parts at the top of the search are empty without their bounds showing it: each sign constraint is
met with the others only through relaxations. When every ReLU of the layers below the last fixed one has
a known sign on ``P`` (fixed, or proved by the box's interval bounds), every ``z_i`` is affine on ``P``
and emptiness is a linear feasibility question.

**Certificate** (Farkas). Multipliers ``λ_i ≥ 0`` on the fixed neurons with
``max_{x ∈ B} Σ λ_i s_i z_i(x) < 0``, where ``z_i`` follows the pattern. On ``P`` every term is ``≥ 0``,
so the sum is ``≥ 0`` at any point of ``P``: there is none. The multipliers come from a float LP
(:func:`verinet.analyses.null_parts._float_multipliers`, HiGHS); the maximum is bounded above with
interval arithmetic from the weights' enclosures (back-substitution ``v ← Dᵀ(W_kᵀ v) + μ`` with sound
matrix products, the constant ``Σ vᵀ b_k`` enclosed likewise), so any multipliers that pass are a proof.
An empty part is a null set, and the multipliers are recorded as such (``Leaf.null``): the certificate
checker's exact test (``min Σ λ_i ℓ_i ≥ 0`` with ``ℓ_i = −s_i z_i``) accepts them.

ReLU hidden layers only (the slopes ``0`` and ``1`` are exact).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from intervals.array import IntervalArray
from intervals.linalg import IntervalMatrix, PointMatrix
from verinet.network import Activation, Network

__all__ = ["EmptyPartProver"]


class EmptyPartProver:
    """Emptiness proofs for parts of one box ``[lo, hi]`` of a ReLU network (module docstring).

    ``signs``: per layer, the sign (+1 / −1 / 0 unknown) of every neuron on the whole box from sound
    enclosures (None for the output layer); ``free``: coordinates the region leaves free (rows without a
    free coefficient or a positive constant are not used, as the certificate checker asks).
    """

    def __init__(self, network: Network, lo: np.ndarray, hi: np.ndarray, signs: list, free: np.ndarray) -> None:
        self.network = network
        self.lo = np.asarray(lo, dtype=np.float64)
        self.hi = np.asarray(hi, dtype=np.float64)
        self.signs = signs
        self.free = np.asarray(free, dtype=bool)
        layers = network.layers
        self.ok = all(L.activation is Activation.RELU for L in layers[:-1])
        self._WT: dict[int, IntervalMatrix] = {}  # transposed weight enclosures, built on first use
        self._box = IntervalArray(self.lo, self.hi)

    def _wt(self, k: int) -> IntervalMatrix:
        if k not in self._WT:
            L = self.network.layers[k]
            self._WT[k] = IntervalMatrix(np.ascontiguousarray(L.weight_lo.T), np.ascontiguousarray(L.weight_hi.T))
        return self._WT[k]

    def _pattern(self, fixed) -> list | None:
        """Slopes (0/1 arrays) of the layers below the last fixed one, or None if some neuron's sign is
        unknown there."""
        top = max(k for k, _, _ in fixed)
        slopes = []
        for k in range(top):
            s = np.array(self.signs[k], dtype=np.int64)
            for kk, j, sg in fixed:
                if kk == k:
                    s[j] = sg
            if (s == 0).any():
                return None
            slopes.append((s > 0).astype(np.float64))
        return slopes

    def prove(self, fixed: tuple[tuple[int, int, int], ...]) -> tuple[tuple[int, int, Fraction], ...] | None:
        """Multipliers ``(layer, neuron, λ > 0)`` proving the part where ``fixed`` holds empty, or None."""
        if not self.ok or not fixed:
            return None
        slopes = self._pattern(fixed)
        if slopes is None:
            return None
        top = max(k for k, _, _ in fixed)
        rows, consts, ids = self._float_rows(fixed, slopes, top)
        if not len(ids):
            return None
        lam = _farkas_multipliers(rows, consts, self.lo, self.hi)
        if lam is None:
            return None
        keep = lam > 1e-12 * float(lam.max())
        used = [(ids[i][0], ids[i][1], ids[i][2], float(lam[i])) for i in np.flatnonzero(keep)]
        if not self.max_upper(used, slopes) < 0.0:
            return None
        return tuple((k, j, Fraction(v)) for k, j, _, v in used)

    def _float_rows(self, fixed, slopes, top):
        """Float rows ``ℓ_i = −s_i z_i = a_i·x + e_i`` of the fixed neurons under the pattern (for the LP only)."""
        layers = self.network.layers
        n = self.network.n_inputs
        A, c = None, np.zeros(n)  # a_{k−1} = A x + c (None: the identity)
        rows, consts, ids = [], [], []
        for k in range(top + 1):
            L = layers[k]
            want = [(j, s) for kk, j, s in fixed if kk == k]
            # the top layer needs the fixed rows only
            sel = np.array([j for j, _ in want], dtype=np.int64) if k == top else slice(None)
            W = L.weight_mid[sel]
            Az = W if A is None else W @ A
            cz = W @ c + L.bias_mid[sel]
            for t, (j, s) in enumerate(want):
                i = t if k == top else j
                r, e = -s * Az[i], -s * cz[i]
                if (r[self.free] != 0).any() or e > 0:
                    rows.append(r)
                    consts.append(e)
                    ids.append((k, j, s))
            if k < top:
                A, c = slopes[k][:, None] * Az, slopes[k] * cz
        return np.array(rows).reshape(len(rows), n), np.array(consts), ids

    def max_upper(self, used, slopes) -> float:
        """A float ``≥ max_{x ∈ box} Σ λ_i s_i z_i(x)`` for ``used`` = [(layer, neuron, sign, λ)], with ``z``
        following ``slopes`` below the top layer (rigorous).

        Write ``μ_k`` (n_k,) with ``μ_k[j] = λ s`` (exact: ``s = ±1``). Going down from the top layer ``t``,
        ``Σ_{k ≥ m} μ_kᵀ z_k = v_mᵀ z_m + c_m`` with ``v_t = μ_t``, ``c_t = 0`` and, as
        ``z_m = W_m D_{m−1} z_{m−1} + b_m`` on the part, ``c_{m−1} = c_m + v_mᵀ b_m`` and
        ``v_{m−1} = D_{m−1} W_mᵀ v_m + μ_{m−1}``; finally the sum is ``(W_0ᵀ v_0)·x + c_0 + v_0ᵀ b_0``.
        Each product is an interval enclosure over the weights' enclosures (IntervalMatrix: the real
        product lies inside), ``D`` is 0/1 (exact), and the maximum over the box is the upper end of
        the enclosure of ``Σ_j C_j x_j`` (interval products and a sound sum), plus the constant's upper end.
        """
        layers = self.network.layers
        top = max(k for k, _, _, _ in used)
        mu = [np.zeros(L.n_out) for L in layers[:top + 1]]
        for k, j, s, v in used:
            mu[k][j] += s * v  # one entry per neuron: exact (a sign change)
        v = IntervalArray(mu[top], mu[top])
        const = IntervalArray(np.zeros(1), np.zeros(1))
        for m in range(top, -1, -1):
            L = layers[m]
            const = const + _dot(v, _bias(L))
            w = self._wt(m).matvec(v)  # ⊇ W_mᵀ v over the weight enclosure
            if m == 0:
                total = _dot(w, self._box) + const
                return float(total.hi[0])
            d = slopes[m - 1]
            # D w: multiplying by 0 or 1 is exact; then + μ (interval addition rounds outward)
            v = IntervalArray.unchecked(w.lo * d, w.hi * d) + IntervalArray(mu[m - 1], mu[m - 1])
        raise AssertionError("unreachable")  # pragma: no cover


def _bias(layer) -> IntervalArray:
    """The enclosure of a layer's bias."""
    return IntervalArray(layer.bias_lo, layer.bias_hi)


def _farkas_multipliers(a: np.ndarray, e: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray | None:
    """Float ``λ ≥ 0`` with ``min_{x ∈ box} Σ λ_i (a_i·x + e_i) > 0`` (approximately), or None. Heuristic.

    Solves ``min t`` s.t. ``a_i·x + e_i ≤ t``, ``x`` in the box, with HiGHS: one row per constraint (the
    LP of :func:`verinet.analyses.null_parts._float_multipliers` has two per coordinate, too many for 784
    inputs). Its duals are ``λ ≥ 0`` with ``Σ λ = 1`` and ``min_x Σ λ_i (a_i·x + e_i) = t*`` (LP duality), so
    ``t* > 0`` means the constraints have no common point in the box."""
    try:
        from scipy.optimize import linprog
    except ImportError:
        return None
    m, n = a.shape
    A = np.hstack([a, -np.ones((m, 1))])
    cost = np.zeros(n + 1)
    cost[-1] = 1.0
    bounds = [(float(x), float(y)) for x, y in zip(lo, hi)] + [(None, None)]
    try:
        res = linprog(cost, A_ub=A, b_ub=-e, bounds=bounds, method="highs")
    except (ValueError, np.linalg.LinAlgError):
        return None
    if res.status != 0 or not res.fun > 0 or getattr(res, "ineqlin", None) is None:
        return None
    lam = np.maximum(-np.asarray(res.ineqlin.marginals, dtype=np.float64), 0.0)
    return lam if np.isfinite(lam).all() and lam.max() > 0 else None


def _dot(a: IntervalArray, b: IntervalArray) -> IntervalArray:
    """Enclosure (1,) of ``Σ_j a_j b_j`` over the boxes ``a`` and ``b`` (n,): elementwise interval products
    (outward rounded), then their sum by a sound product with a row of ones."""
    p = a * b
    return PointMatrix(np.ones((1, len(p.lo)))).matvec(p)
