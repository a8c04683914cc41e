"""Lipschitz bounds from gradient and Jacobian enclosures (per box, batched).

For input norm ``p`` and dual norm ``q`` (l∞↔l1, l2↔l2, l1↔l∞), and ``G`` an enclosure of the Clarke
gradients of a scalar ``cᵀf`` over a box ``X`` (Zhou et al. 2023, Thm 5.3; Lebourg's mean value theorem):

* upper: ``L(f, X) ≤ max_{g ∈ G} ‖g‖_q = ‖mag G‖_q`` (``q`` is monotone in each ``|g_i|``);
* lower: ``min_{g ∈ G} ‖g‖_q = ‖mig G‖_q ≤ ‖g*‖_q ≤ L(f, X)`` for ``g*`` a Clarke gradient at an interior
  point of ``X`` (the Clarke gradient at an interior point lies in the ball of radius ``L``).

For a vector output with the same norm on both sides the constant is the induced operator norm of the
Jacobian: max row sum (l∞), max column sum (l1), spectral norm (l2). Every sum is rounded up (upper
bounds) or down (lower bounds): ``math.fsum`` is correctly rounded, so one step outward encloses the
exact sum.
"""

from __future__ import annotations

import math

import numpy as np

from intervals import rounding as R
from intervals.array import IntervalArray
from intervals.spectral import norm2_interval_bounds

__all__ = ["NORMS", "dual", "gradient_norm_bounds", "operator_norm_bounds", "sum_up", "sum_down"]

#: accepted spellings of the input norm -> canonical name
NORMS = {"inf": "inf", "linf": "inf", "l_inf": "inf", "2": "2", "l2": "2", "1": "1", "l1": "1"}


def canonical_norm(norm) -> str:
    """``"inf"``, ``"2"`` or ``"1"`` from any accepted spelling (also ``numpy.inf``, 1, 2)."""
    key = "inf" if (isinstance(norm, float) and np.isinf(norm)) else str(norm).lower()
    if key not in NORMS:
        raise ValueError(f"unknown norm {norm!r}: use inf, 2 or 1")
    return NORMS[key]


def dual(norm: str) -> str:
    """Dual norm of an input norm: inf -> 1, 2 -> 2, 1 -> inf."""
    return {"inf": "1", "2": "2", "1": "inf"}[canonical_norm(norm)]


def _fsum_rows(x: np.ndarray, axis: int) -> np.ndarray:
    """``math.fsum`` (correctly rounded sum) of ``x`` along ``axis``."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    flat = x.reshape(-1, x.shape[-1]) if x.shape[-1] else np.zeros((max(x.size, 1), 1))
    out = np.array([_fsum(row) for row in flat.tolist()], dtype=np.float64)
    return out.reshape(x.shape[:-1])


def _fsum(row: list) -> float:
    try:
        return math.fsum(row)
    except OverflowError:  # the exact sum of these non-negative terms exceeds the float range
        return math.inf


def sum_up(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Upper bound of the exact sum of floats along ``axis``.

    ``math.fsum`` returns the exact sum correctly rounded to nearest (Shewchuk's algorithm), so its
    successor is ≥ the exact sum (overflow gives ``inf``, which is sound for an upper bound).
    """
    with np.errstate(over="ignore"):
        return R.next_up(_fsum_rows(x, axis))


def sum_down(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Lower bound of the exact sum of non-negative floats along ``axis`` (predecessor of ``fsum``)."""
    s = _fsum_rows(x, axis)
    s = np.where(np.isinf(s), np.finfo(np.float64).max, s)  # overflowed exact sum is > max
    return np.maximum(R.next_down(s), 0.0)


def _norm_up(v: np.ndarray, q: str) -> np.ndarray:
    """Upper bound of ``‖v‖_q`` along the last axis for ``v ≥ 0``."""
    if q == "inf":
        return np.max(v, axis=-1)
    if q == "1":
        return sum_up(v)
    return R.sqrt_up(sum_up(R.mul_up(v, v)))


def _norm_down(v: np.ndarray, q: str) -> np.ndarray:
    """Lower bound of ``‖v‖_q`` along the last axis for ``v ≥ 0``."""
    if q == "inf":
        return np.max(v, axis=-1)
    if q == "1":
        return sum_down(v)
    return R.sqrt_down(sum_down(R.mul_down(v, v)))


def gradient_norm_bounds(G: IntervalArray, norm: str) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` of ``‖g‖_q`` over the gradient enclosure ``G`` (shape (..., n)), ``q`` dual to ``norm``.

    Examples
    --------
    >>> G = IntervalArray([-1.0, 0.5], [2.0, 0.75])
    >>> lo, hi = gradient_norm_bounds(G, "inf")      # l1 norm of the gradient
    >>> bool(0.5 - 1e-14 < lo <= 0.5), bool(2.75 <= hi < 2.75 + 1e-14)
    (True, True)

    Rigorous: ``lower ≤ ‖g‖_q ≤ upper`` for every ``g`` in ``G``.
    """
    q = dual(norm)
    return _norm_down(G.mig(), q), _norm_up(G.mag(), q)


def operator_norm_bounds(J: IntervalArray, norm: str, *, lower: bool = True,
                         upper: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` of the induced operator norm ``‖J‖_{p→p}`` over a Jacobian enclosure (..., m, n).

    Rigorous: ``lower ≤ ‖J‖_{p→p} ≤ upper`` for every ``J`` in the enclosure. ``lower=False``: only the upper
    bounds are computed (the lower ones are returned as 0); ``upper=False``: the spectral norm's upper bounds
    are skipped (returned as ``inf``; the cheap l1/l∞ ones are always computed).
    """
    p = canonical_norm(norm)
    mag = J.mag()
    if p in ("inf", "1"):  # max row sum / max column sum
        axis = -1 if p == "inf" else -2
        up = np.max(sum_up(mag, axis=axis), axis=-1)
        low = np.max(sum_down(J.mig(), axis=axis), axis=-1) if lower else np.zeros(up.shape)
        return low, up
    # spectral norm: ‖mid‖₂ (verified SVD) + ‖rad‖₂, or ‖mag‖₂, whichever is smaller; a point Jacobian
    # (every neuron of the part fixed) is enclosed to ~1e-12 relative (see intervals.spectral)
    return norm2_interval_bounds(J.lo, J.hi, lower=lower, upper=upper)
