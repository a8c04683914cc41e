"""Rigorous bounds of the spectral norm ``‖J‖₂`` of point and interval matrices, batched over stacks.

Point matrix ``J`` (float64 entries, exact reals):

* **upper**: a float SVD gives the candidate ``σ̂``. With ``X = J`` or ``Jᵀ`` (whichever has fewer rows,
  ``k`` of them) and ``G = XXᵀ`` (so ``‖J‖₂² = λ_max(G)``), take a float ``s ≈ σ̂²(1 + 2τ)`` and any float
  lower-triangular ``L`` (a float Cholesky factor of ``sI − fl(G)``). Then exactly, in real arithmetic,
  ``μ²I − G = LLᵀ + E + (μ² − s)I`` with ``E = sI − G − LLᵀ``, and ``LLᵀ ⪰ 0``, so
  ``μ² ≥ s + ‖E‖₂`` implies ``μ²I − G ⪰ 0``, i.e. ``‖J‖₂ ≤ μ``. ``E`` is enclosed with sound products
  (``G`` and ``LLᵀ``) and directed subtractions, and ``‖E‖₂ ≤ √(‖|E|‖₁‖|E|‖∞)`` is rounded up. This is an
  a-posteriori version of the Cholesky positive-definiteness test (Rump, "Verification of positive
  definiteness", BIT 46, 2006): it needs no error analysis of the Cholesky itself — a factor that is
  inaccurate (or a failed factorisation, retried with a larger shift) only gives a larger, still
  sound, ``μ``.
* **lower**: ``‖J‖₂ ≥ ‖Jv‖₂ / ‖v‖₂`` for any ``v ≠ 0``, here the float top right singular vector, with
  ``Jv`` enclosed soundly and the norms rounded down / up.

Both are computed on ``2^e J`` with ``e`` chosen so the largest entry is in ``[1/2, 1)`` (exact unless
entries become subnormal, which is accounted for), so tiny and huge matrices keep full relative
accuracy, and the bounds are scaled back with directed correction.

Interval matrix ``𝕁 = [lo, hi]`` with midpoint ``m`` and radius ``r ≥ 0`` (``𝕁 ⊆ ⟨m, r⟩``): for every
``J ∈ 𝕁``, ``‖J‖₂ ≤ ‖m‖₂ + ‖J − m‖₂ ≤ ‖m‖₂ + ‖r‖₂`` (``|J − m| ≤ r`` entrywise and ``‖A‖₂ ≤ ‖|A|‖₂ ≤ ‖B‖₂``
for ``|A| ≤ B``), and ``‖J‖₂ ≤ ‖mag 𝕁‖₂``; the smaller is kept. Norms of non-negative matrices use the
Collatz–Wielandt bound ``ρ(BᵀB) ≤ max_i (BᵀBv)_i / v_i`` for any ``v > 0``. Lower: ``min_{J∈𝕁} ‖Jv‖₂`` is at
least the norm of the mignitude of an enclosure of ``{Jv : J ∈ 𝕁}``.

Batched products use the a-priori bound of :mod:`intervals.linalg`: an entry ``ĉ`` of ``fl(AB)`` with
``p`` terms satisfies ``|ĉ − c| ≤ γ_p Σ|a_k b_k| + p·η`` and ``Σ|a_k b_k| ≤ (fl(|A||B|) + p·η)/(1 − γ_p)``.
"""

from __future__ import annotations

import functools

import numpy as np

from intervals import rounding as R
from intervals.linalg import _err_consts as _err_consts_exact
from intervals.linalg import _mid_rad

__all__ = ["norm2_point_bounds", "norm2_interval_bounds", "norm2_nonneg_upper"]

#: relative shifts ``τ`` tried for ``s = σ̂²(1 + 2τ)``: the first succeeds unless ``J`` is badly scaled
_SHIFTS = (2.0**-40, 2.0**-30, 2.0**-20, 2.0**-10, 1.0)
_err_consts = functools.lru_cache(maxsize=256)(_err_consts_exact)  # exact rationals: compute once per length
_gamma = functools.lru_cache(maxsize=256)(R.gamma)

#: power iterations behind the Collatz–Wielandt vector (any positive vector is valid; more are tighter)
_POWER_STEPS = 20


def _up(x):
    """Successor of a round-to-nearest result of one IEEE operation on non-negative exact operands.

    ``fl(z)`` is the float nearest to ``z`` (also in the subnormal range; ``0`` when ``z < η/2``), so
    ``z ≤ succ(fl(z))``; ``+inf`` stays ``+inf`` (sound)."""
    return R.next_up(x)


def _bmm(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(C, ρ)`` with ``|AB − C| ≤ ρ`` entrywise for stacks ``A`` (..., m, p), ``B`` (..., p, n) of finite floats.

    ``C = fl(AB)`` in any summation order (BLAS or numpy loops; FMA allowed): ``|C − AB| ≤ γ_p S + p·η`` with
    ``S = |A||B| ≤ (fl(|A||B|) + p·η)·inv``, ``inv ≥ 1/(1 − γ_p)``. Each step below rounds a non-negative
    quantity to nearest and takes the successor, so ``ρ`` is ≥ the exact bound (overflow gives ``inf``)."""
    p = A.shape[-1]
    g, inv, neta = _err_consts(p)
    with np.errstate(over="ignore", under="ignore"):
        C = A @ B
        S = np.abs(A) @ np.abs(B)
        S = _up(_up(S + neta) * inv)  # ≥ |A||B| exactly
        rho = _up(_up(g * S) + neta)
    return C, rho


def _sum_up(x: np.ndarray, axis: int) -> np.ndarray:
    """Upper bound of the exact sum of non-negative floats along ``axis``.

    ``|fl(Σ) − Σ| ≤ γ_{k−1} Σ`` for ``k`` non-negative terms in any order (additions never underflow
    inexactly), so ``Σ ≤ fl(Σ)/(1 − γ_k) ≤ fl(Σ)·inv`` rounded up."""
    _, inv, _ = _err_consts(x.shape[axis])
    with np.errstate(over="ignore"):
        return _up(_up(np.sum(x, axis=axis)) * inv)


def _sum_down(x: np.ndarray, axis: int) -> np.ndarray:
    """Lower bound of the exact sum of non-negative floats: ``Σ ≥ fl(Σ)/(1 + γ_k) ≥ fl(Σ)(1 − γ_k)``,
    rounded down (``fl(Σ) = inf`` means the exact sum exceeds the largest float)."""
    g = _gamma(max(x.shape[axis], 1))
    with np.errstate(over="ignore"):
        s = np.sum(x, axis=axis)
    s = np.where(np.isinf(s), np.finfo(np.float64).max, s)
    return np.maximum(R.next_down(R.next_down(s * R.next_down(1.0 - g))), 0.0)


def _scaled(M: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(M', e, δ)`` per matrix of the stack: ``M' = fl(2^e M)`` with the largest entry in ``[1/2, 1)``, and
    ``δ ≥ ‖M' − 2^e M‖_F``.

    Scaling by a power of two is exact unless an entry lands in the subnormal range, where it is rounded
    to nearest (error ``≤ η/2`` per entry); then ``δ = m·n·η ≥ √(mn)·η/2`` (an exact float for any stack
    that fits in memory), else ``δ = 0``. So ``|‖2^e M‖₂ − ‖M'‖₂| ≤ δ``."""
    amax = np.max(np.abs(M), axis=(-2, -1))
    _, ex = np.frexp(amax)
    e = np.where(amax > 0, -ex, 0).astype(np.int64)
    with np.errstate(under="ignore"):
        Ms = np.ldexp(M, e[..., None, None])
        exact = np.all(np.ldexp(Ms, -e[..., None, None]) == M, axis=(-2, -1))
    delta = np.where(exact, 0.0, M.shape[-1] * M.shape[-2] * R.ETA)
    return Ms, e, delta


def _unscale_up(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Upper bound of ``x·2^-e`` (``ldexp`` rounds to nearest only when the result is subnormal: step
    up when scaling back does not reproduce ``x``)."""
    with np.errstate(over="ignore", under="ignore"):
        y = np.ldexp(x, -e)
        return np.where(np.isfinite(x) & (np.ldexp(y, e) < x), R.next_up(y), y)


def _unscale_down(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Lower bound of ``x·2^-e`` for ``x ≥ 0``."""
    with np.errstate(over="ignore", under="ignore"):
        y = np.ldexp(x, -e)
        y = np.where(np.isfinite(x) & (np.ldexp(y, e) > x), R.next_down(y), y)
        y = np.where(np.isinf(y), np.finfo(np.float64).max, y)
    return np.maximum(y, 0.0)


def _norm2_up_vec(v: np.ndarray) -> np.ndarray:
    """Upper bound of ``‖v‖₂`` along the last axis."""
    return R.sqrt_up(_sum_up(R.mul_up(v, v), axis=-1))


def _norm2_down_vec(v: np.ndarray) -> np.ndarray:
    """Lower bound of ``‖v‖₂`` along the last axis for ``v ≥ 0``."""
    return R.sqrt_down(_sum_down(R.mul_down(v, v), axis=-1))


def _two_norm_bound(E: np.ndarray) -> np.ndarray:
    """Upper bound of ``‖E‖₂`` for a stack of non-negative matrices: ``√(‖E‖₁‖E‖∞)`` rounded up."""
    rows = np.max(_sum_up(E, axis=-1), axis=-1)
    cols = np.max(_sum_up(E, axis=-2), axis=-1)
    return R.sqrt_up(R.mul_up(rows, cols))


def _point_upper(X: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Upper bounds of ``‖X‖₂`` for a stack ``X`` (B, k, p) of finite floats with largest entry in
    ``[1/2, 1)`` (or 0), given float estimates ``sigma`` of the norms (see the module docstring)."""
    B, k, _ = X.shape
    out = np.full(B, np.inf)
    if B == 0:
        return out
    Ghat, rG = _bmm(X, np.swapaxes(X, -1, -2))  # G = XXᵀ ∈ Ĝ ± rG
    eye = np.eye(k)
    todo = np.arange(B)
    for tau in _SHIFTS:
        if todo.size == 0:
            break
        s = R.next_up(sigma[todo] ** 2 * (1.0 + 2.0 * tau)) + tau  # any float works; this one has margin
        A = s[:, None, None] * eye - Ghat[todo]
        L, ok = _cholesky(A)
        if not ok.any():
            continue
        idx, L, s = todo[ok], L[ok], s[ok]
        P, rP = _bmm(L, np.swapaxes(L, -1, -2))  # LLᵀ ∈ P ± rP
        # E = sI − G − LLᵀ: the float part sI − Ĝ − P with directed subtractions (sub_down(0, g) = −g
        # exactly off the diagonal), then the product radii added, all rounded up
        sI = s[:, None, None] * eye
        T_lo, T_hi = R.sub_down(sI, Ghat[idx]), R.sub_up(sI, Ghat[idx])
        D = np.maximum(np.abs(R.sub_down(T_lo, P)), np.abs(R.sub_up(T_hi, P)))
        Ebound = R.add_up(D, R.add_up(rG[idx], rP))
        mu2 = R.add_up(s, _two_norm_bound(Ebound))  # μ² ≥ s + ‖E‖₂  ⇒  μ²I − G ⪰ 0
        out[idx] = R.sqrt_up(mu2)
        todo = todo[~ok]
    return out


def _cholesky(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float Cholesky factors ``L`` of a stack of symmetric matrices and which ones succeeded (a failed
    one gets ``L = 0``). Only a candidate: the caller verifies ``A ≈ LLᵀ`` rigorously."""
    A = 0.5 * (A + np.swapaxes(A, -1, -2))
    try:
        L = np.linalg.cholesky(A)
        ok = np.isfinite(L).all(axis=(-2, -1))
        return np.where(ok[:, None, None], L, 0.0), ok
    except np.linalg.LinAlgError:
        pass
    L = np.zeros_like(A)
    ok = np.zeros(A.shape[0], dtype=bool)
    for i in range(A.shape[0]):
        try:
            Li = np.linalg.cholesky(A[i])
        except np.linalg.LinAlgError:
            continue
        if np.isfinite(Li).all():
            L[i], ok[i] = Li, True
    return L, ok


def _point_lower(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``‖Xv‖₂/‖v‖₂`` rounded down for stacks ``X`` (B, m, n), ``v`` (B, n) (0 where ``v = 0``)."""
    c, rho = _bmm(X, v[..., None])
    c, rho = c[..., 0], rho[..., 0]
    mig = np.maximum(R.sub_down(np.abs(c), rho), 0.0)  # |(Xv)_i| ≥ |ĉ_i| − ρ_i
    num = _norm2_down_vec(mig)
    den = _norm2_up_vec(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, R.div_down(num, np.where(den > 0, den, 1.0)), 0.0)
    return np.where(np.isfinite(out), np.maximum(out, 0.0), 0.0)


def norm2_point_bounds(J) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` of the spectral norm of each float64 matrix of a stack ``J`` (..., m, n).

    Examples
    --------
    >>> lo, up = norm2_point_bounds(np.array([[3.0, 0.0], [4.0, 5.0]]))  # singular values √45, √5
    >>> bool(lo <= 45 ** 0.5 <= up), bool(up - lo < 1e-10)
    (True, True)

    Rigorous: ``lower ≤ ‖J‖₂ ≤ upper`` for the exact real entries (``upper = inf`` and ``lower = 0`` for a
    matrix with a non-finite entry).
    """
    J = np.asarray(J, dtype=np.float64)
    if J.ndim < 2:
        raise ValueError(f"norm2_point_bounds: expected a (stack of) matrices, got shape {J.shape}")
    lead, (m, n) = J.shape[:-2], J.shape[-2:]
    lower, upper, _ = _point_bounds(J.reshape((-1, m, n)))
    return lower.reshape(lead), upper.reshape(lead)


def _point_bounds(Jf: np.ndarray, lower_too: bool = True, upper_too: bool = True,
                  vectors_only: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`norm2_point_bounds` of a stack (B, m, n), and the float top right singular vectors (B, n)
    (``lower_too=False``: the lower bounds are left at 0 and only the singular values are computed;
    ``upper_too=False``: the upper bounds are left at ``inf``, no verified Cholesky; ``vectors_only``: the
    singular vectors without the lower bounds, which stay 0)."""
    B, m, n = Jf.shape
    lower = np.zeros(B)
    upper = np.zeros(B)
    V = np.zeros((B, n))
    if m == 0 or n == 0 or B == 0:
        return lower, upper, V
    finite = np.isfinite(Jf).all(axis=(-2, -1))
    upper[~finite] = np.inf
    nonzero = finite & np.any(Jf != 0, axis=(-2, -1))
    idx = np.flatnonzero(nonzero)
    if idx.size:
        Ms, e, delta = _scaled(Jf[idx])
        X = Ms if m <= n else np.swapaxes(Ms, -1, -2)
        if lower_too:
            _, sv, Vt = np.linalg.svd(Ms)
        else:
            sv = np.linalg.svd(X, compute_uv=False)  # candidates only: the check below is rigorous
        if upper_too:
            up = R.add_up(_point_upper(np.ascontiguousarray(X), sv[:, 0]), delta)
            upper[idx] = _unscale_up(up, e)
        else:
            upper[idx] = np.inf
        if lower_too and not vectors_only:
            low = np.maximum(R.sub_down(_point_lower(Ms, Vt[:, 0, :]), delta), 0.0)
            lower[idx] = np.minimum(_unscale_down(low, e), upper[idx])
        if lower_too:
            V[idx] = Vt[:, 0, :]
    return lower, upper, V


def norm2_nonneg_upper(M) -> np.ndarray:
    """Upper bound of ``‖M‖₂`` for each non-negative matrix of a stack (..., m, n) (Collatz–Wielandt).

    ``ρ(MMᵀ) ≤ max_i (MMᵀv)_i / v_i`` for every ``v > 0`` (with ``M`` or ``Mᵀ``, whichever has fewer rows);
    ``v`` from a few power iterations, ``MMᵀv`` enclosed with sound products. Rigorous for the exact entries; ``inf`` for a non-finite entry.
    """
    M = np.asarray(M, dtype=np.float64)
    lead, (m, n) = M.shape[:-2], M.shape[-2:]
    Mf = M.reshape((-1, m, n))
    out = np.zeros(Mf.shape[0])
    if m == 0 or n == 0 or Mf.shape[0] == 0:
        return out.reshape(lead)
    finite = np.isfinite(Mf).all(axis=(-2, -1))
    out[~finite] = np.inf
    idx = np.flatnonzero(finite & np.any(Mf != 0, axis=(-2, -1)))
    if idx.size:
        A, e, delta = _scaled(Mf[idx])
        if m > n:  # ρ(AᵀA) = ρ(AAᵀ): iterate in the smaller dimension
            A = np.swapaxes(A, -1, -2)
        A = np.ascontiguousarray(A)
        At = np.ascontiguousarray(np.swapaxes(A, -1, -2))
        C = A @ At  # float Gram: only steers the positive vector
        v = np.ones((len(idx), A.shape[-2], 1))
        with np.errstate(under="ignore"):
            for _ in range(_POWER_STEPS):  # A ≠ 0, entries ≤ 1, v > 0: max(Cv) > 0 and finite
                w = C @ v
                v = w / w.max(axis=1, keepdims=True)
        v = np.where(np.isfinite(v) & (v > 2.0**-60), v, 2.0**-60)  # any positive vector is valid
        c1, r1 = _bmm(At, v)
        Mv = R.add_up(c1, r1)  # ≥ Aᵀv entrywise (≥ 0)
        c2, r2 = _bmm(A, np.maximum(Mv, 0.0))
        AAv = R.add_up(c2, r2)  # ≥ AAᵀv
        ratio = np.max(R.div_up(np.maximum(AAv, 0.0), v), axis=(-2, -1))
        ratio = np.where(np.isnan(ratio), np.inf, ratio)
        out[idx] = _unscale_up(R.add_up(R.sqrt_up(ratio), delta), e)
    return out.reshape(lead)


def norm2_interval_bounds(lo, hi, *, lower: bool = True, upper: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` with ``lower ≤ ‖J‖₂ ≤ upper`` for every ``J`` with ``lo ≤ J ≤ hi`` (stacks (..., m, n)).

    ``lower=False`` skips the lower bounds (returned as 0) when only the upper bounds are needed, and
    ``upper=False`` the upper bounds (returned as ``inf``; the lower bounds do not use them).

    Examples
    --------
    >>> lo = np.array([[1.0, -1.0], [1.0, 1.0]]); hi = lo + 2.0**-40
    >>> low, up = norm2_interval_bounds(lo, hi)   # ‖lo‖₂ = √2
    >>> bool(low <= 2 ** 0.5 <= up), bool(up - low < 1e-10)
    (True, True)
    """
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    lead, (m, n) = lo.shape[:-2], lo.shape[-2:]
    lof, hif = lo.reshape((-1, m, n)), hi.reshape((-1, m, n))
    B = lof.shape[0]
    want_upper = upper
    low_out, upper = np.zeros(B), np.full(B, np.inf)
    if m == 0 or n == 0 or B == 0:
        return low_out.reshape(lead), np.zeros(B).reshape(lead)
    finite = np.isfinite(lof).all(axis=(-2, -1)) & np.isfinite(hif).all(axis=(-2, -1))
    idx = np.flatnonzero(finite)  # a non-finite endpoint: upper = inf, lower = 0
    if idx.size:
        mid, rad = _mid_rad(lof[idx], hif[idx])
        finite_rad = np.isfinite(rad).all(axis=(-2, -1))
        rad = np.where(finite_rad[:, None, None], rad, 0.0)
        _, mid_up, V = _point_bounds(mid, lower, want_upper, vectors_only=True)  # the lower bound is below
        if want_upper:
            # ‖J‖₂ ≤ ‖mid‖₂ + ‖rad‖₂ with the cheap ‖rad‖₂ ≤ √(‖rad‖₁‖rad‖∞) first; the Collatz–Wielandt
            # bounds of ‖rad‖₂ and ‖mag‖₂ (power iterations) only where the radius matters: ‖mag‖₂ ≥ ‖mid‖₂
            # (mag ≥ |mid|), so ‖mag‖₂ can undercut ‖mid‖₂ + ‖rad‖₂ by at most the cheap ‖rad‖₂, below
            # 2^-40·‖mid‖₂ for the skipped ones (rounding-width matrices, e.g. point Jacobians)
            rad_up = np.where(finite_rad, _two_norm_bound(rad), np.inf)
            up = R.add_up(mid_up, rad_up)
            wide = np.flatnonzero(~(rad_up <= 2.0**-40 * mid_up))
            if wide.size:  # one call for the radii and the magnitudes
                mag = np.maximum(np.abs(lof[idx[wide]]), np.abs(hif[idx[wide]]))
                cw = norm2_nonneg_upper(np.concatenate([rad[wide], mag]))
                rad_cw = np.where(finite_rad[wide], cw[:wide.size], np.inf)
                up[wide] = np.minimum(R.add_up(mid_up[wide], np.minimum(rad_cw, rad_up[wide])),
                                      cw[wide.size:])
            upper[idx] = up
        # lower: v = top right singular vector of mid; {Jv} ⊆ mid·v ± (ρ + rad·|v|)
        if lower and np.any(mid != 0):
            v = V
            c, rho = _bmm(mid, v[..., None])
            cr, rr = _bmm(rad, np.abs(v)[..., None])
            spread = R.add_up(rho, R.add_up(cr, rr))[..., 0]
            mig = np.maximum(R.sub_down(np.abs(c[..., 0]), spread), 0.0)
            num = _norm2_down_vec(mig)
            den = _norm2_up_vec(v)
            with np.errstate(invalid="ignore", divide="ignore"):
                low = np.where(den > 0, R.div_down(num, np.where(den > 0, den, 1.0)), 0.0)
            low = np.where(finite_rad & np.isfinite(low), np.maximum(low, 0.0), 0.0)
            low_out[idx] = np.minimum(low, upper[idx])
    return low_out.reshape(lead), upper.reshape(lead)
