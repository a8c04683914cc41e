"""Proofs that a sign-constrained part of a box has no interior (zero volume), so it bounds nothing.

The Lipschitz constant of ``f`` on a region ``X`` with non-empty interior (relative to the affine hull
``H`` of ``X``: coordinates the region pins stay pinned) is the essential supremum of ``‖∇f‖`` over ``X``
(Rademacher; Zhou, Shaikh, Li & Farjudian, MSCS 2023, Section 5). A part of a box on which some ReLUs
have fixed signs and that has no interior in ``H`` is a null set: it can be dropped from the partition.
Such parts appear when two kinks coincide, e.g. ``relu(x1 + x2)`` and ``relu(−x1 − x2)``: the part where
both are active is the line ``x1 + x2 = 0``, and the chain rule there adds both slopes.

**Certificate** (a Gordan/Motzkin-type alternative with the non-strict inequality). Let the part be
``P = {x ∈ B : ℓ_i(x) ≤ 0}`` with ``ℓ_i = −s_i z_i`` affine on ``P`` (every ReLU below the fixed neurons
has a sign fixed or proved on ``P``, so ``z_i`` follows one linear piece), and let ``λ_i > 0`` be multipliers
of some of the rows such that

* ``min_{x ∈ B} Σ λ_i ℓ_i(x) ≥ 0``, and
* every row used has a non-zero coefficient on a coordinate ``H`` leaves free, or a positive constant.

Then ``P`` has no interior in ``H``: at an interior point ``x`` a row with a non-zero free coefficient is
``< 0`` (else moving along that coefficient leaves ``P``) and a row with a positive constant is violated,
so ``Σ λ_i ℓ_i(x) < 0`` — a contradiction. The minimum and the rows are computed in exact rational
arithmetic from the weights as written; only the multipliers come from a float LP (HiGHS through
``scipy.optimize.linprog``) or an exact null-space computation, and any multipliers that pass the exact
test are a proof. The certificate checker (:mod:`verinet.evidence.checker`) repeats the exact test independently.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from verinet.network import Network

__all__ = ["prove_null_part", "MAX_EXACT_ENTRIES"]

#: exact affine maps are built only when the layers up to the fixed neurons have at most this many
#: weights times inputs (rational products); larger networks keep the part (sound, maybe looser)
MAX_EXACT_ENTRIES = 200_000


def _exact_rows(network: Network, signs: list, upto: int):
    """Exact affine maps ``z_k = A_k x + c_k`` (lists of Fraction rows) of layers ``0..upto`` under the
    sign pattern ``signs`` (one ±1 array per layer, None for non-kinked layers), or None when a smooth
    layer comes first."""
    n = network.n_inputs
    A = [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]
    c = [Fraction(0)] * n
    out = []
    for k, L in enumerate(network.layers[:upto + 1]):
        W, b = L.weight_exact(), L.bias_exact()
        Az = [[sum((W[i, t] * A[t][j] for t in range(L.n_in) if W[i, t]), Fraction(0)) for j in range(n)]
              for i in range(L.n_out)]
        cz = [sum((W[i, t] * c[t] for t in range(L.n_in) if W[i, t] and c[t]), b[i]) for i in range(L.n_out)]
        out.append((Az, cz))
        if k == upto:
            break
        act = L.activation.impl
        if not act.piecewise_linear:
            return None
        if not act.has_kinks:  # identity
            A, c = Az, cz
        else:
            s = signs[k]
            if s is None:
                return None
            alpha = act.slope_below(L.alpha)
            slope = [Fraction(1) if v > 0 else alpha for v in s]
            A = [[slope[i] * v for v in row] for i, row in enumerate(Az)]
            c = [slope[i] * v for i, v in enumerate(cz)]
    return out


def _exact_min(lam: list[Fraction], rows: list[list[Fraction]], consts: list[Fraction], lo, hi) -> Fraction:
    """``min_{x ∈ [lo, hi]} Σ λ_i (rows_i·x + consts_i)`` exactly (each coordinate at its better end)."""
    n = len(lo)
    C = [sum((l * r[j] for l, r in zip(lam, rows)), Fraction(0)) for j in range(n)]
    return sum((min(C[j] * lo[j], C[j] * hi[j]) for j in range(n)), Fraction(0)) + sum(
        (l * e for l, e in zip(lam, consts)), Fraction(0))


def _kernel_vector(M: list[list[Fraction]]) -> list[Fraction] | None:
    """A vector ``y`` with ``Σ_i y_i M_i = 0`` (rows ``M_i``) when that kernel is one-dimensional, else None."""
    m = len(M)
    if m == 0:
        return None
    cols = len(M[0])
    # Gaussian elimination on the transpose: unknowns y (m), equations one per column
    T = [[M[i][j] for i in range(m)] for j in range(cols)]
    pivots = []
    r = 0
    for col in range(m):
        p = next((i for i in range(r, len(T)) if T[i][col] != 0), None)
        if p is None:
            continue
        T[r], T[p] = T[p], T[r]
        inv = 1 / T[r][col]
        T[r] = [v * inv for v in T[r]]
        for i in range(len(T)):
            if i != r and T[i][col] != 0:
                f = T[i][col]
                T[i] = [a - f * b for a, b in zip(T[i], T[r])]
        pivots.append(col)
        r += 1
        if r == len(T):
            break
    free_cols = [col for col in range(m) if col not in pivots]
    if len(free_cols) != 1:
        return None
    f = free_cols[0]
    y = [Fraction(0)] * m
    y[f] = Fraction(1)
    for row, col in zip(T, pivots):
        y[col] = -row[f]
    return y


def _float_multipliers(a: np.ndarray, e: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray | None:
    """Float ``λ ≥ 0`` (summing to 1) maximising ``min_{x ∈ box} Σ λ_i (a_i·x + e_i)`` by the HiGHS LP, or
    None (no SciPy, solver failure, or a clearly negative optimum). Heuristic."""
    try:
        from scipy.optimize import linprog
    except ImportError:
        return None
    m, n = a.shape
    # variables: λ (m), p (n) with p_j ≤ C_j lo_j and p_j ≤ C_j hi_j (C = aᵀλ), φ; maximise φ
    # φ − Σ p − eᵀλ ≤ 0;  p_j − lo_j (aᵀλ)_j ≤ 0;  p_j − hi_j (aᵀλ)_j ≤ 0;  Σ λ = 1
    nv = m + n + 1
    rows = [np.concatenate([-e, -np.ones(n), [1.0]])]
    for j in range(n):
        for end in (lo[j], hi[j]):
            r = np.zeros(nv)
            r[:m] = -end * a[:, j]
            r[m + j] = 1.0
            rows.append(r)
    eq = np.zeros((1, nv))
    eq[0, :m] = 1.0
    cost = np.zeros(nv)
    cost[-1] = -1.0
    bounds = [(0, None)] * m + [(None, None)] * n + [(None, None)]
    try:
        res = linprog(cost, A_ub=np.array(rows), b_ub=np.zeros(len(rows)), A_eq=eq, b_eq=[1.0], bounds=bounds,
                      method="highs")
    except (ValueError, np.linalg.LinAlgError):
        return None
    if res.status != 0 or res.x is None:
        return None
    scale = float(np.abs(a).sum() + np.abs(e).sum()) * float(np.max(np.abs(np.concatenate([lo, hi]))) + 1.0)
    if res.x[-1] < -1e-9 * scale:
        return None
    return np.maximum(res.x[:m], 0.0)


def prove_null_part(network: Network, lo: np.ndarray, hi: np.ndarray, signs: list,
                    fixed: tuple[tuple[int, int, int], ...], free: np.ndarray):
    """Multipliers proving that the part of the box ``[lo, hi]`` where the neurons ``fixed`` have their
    signs has no interior in the coordinates ``free``, or None.

    Parameters
    ----------
    network : Network
        Piecewise-linear activations below the fixed neurons.
    lo, hi : ndarray, shape (n,)
        The box (exact binary numbers).
    signs : list
        The sign of every kinked neuron on the part (one ±1 array per layer, None for other layers),
        fixed or proved by rigorous enclosures of the part.
    fixed : tuple of (layer, neuron, sign)
    free : bool ndarray, shape (n,)
        Coordinates the region does not pin.

    Returns
    -------
    tuple of (layer, neuron, Fraction) or None
        ``λ > 0`` per row used; see the module docstring for why they prove the claim.

    Rigorous: a non-None answer has passed the exact rational test of the module docstring (given that
    ``signs`` hold on the part).
    """
    if not fixed:
        return None
    upto = max(k for k, _, _ in fixed)
    n = network.n_inputs
    if sum(L.n_out * L.n_in for L in network.layers[:upto + 1]) * n > MAX_EXACT_ENTRIES:
        return None
    maps = _exact_rows(network, signs, upto)
    if maps is None:
        return None
    qlo = [Fraction(float(v)) for v in lo]
    qhi = [Fraction(float(v)) for v in hi]
    rows, consts, ids = [], [], []
    for k, j, s in fixed:
        Az, cz = maps[k]
        r = [-s * v for v in Az[j]]
        e = -s * cz[j]
        if any(r[d] != 0 for d in range(n) if free[d]) or e > 0:  # only rows that bound the interior
            rows.append(r)
            consts.append(e)
            ids.append((k, j))
    if not rows:
        return None
    a = np.array([[float(v) for v in r] for r in rows])
    e = np.array([float(v) for v in consts])
    lam = _float_multipliers(a, e, np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))
    if lam is None:
        return None
    support = [i for i in range(len(rows)) if lam[i] > 1e-12 * float(lam.max())]
    tries = [[Fraction(float(lam[i])) for i in support]]
    # a null part that is not empty needs the combination to vanish exactly: solve for it in rationals
    y = _kernel_vector([rows[i] + [consts[i]] for i in support])
    if y is not None:
        if all(v < 0 for v in y):
            y = [-v for v in y]
        tries.append(y)
    for q in tries:
        if q and all(v > 0 for v in q) and _exact_min(q, [rows[i] for i in support], [consts[i] for i in support],
                                                     qlo, qhi) >= 0:
            return tuple((ids[i][0], ids[i][1], v) for i, v in zip(support, q))
    return None
