"""Verified spectral norms (intervals.spectral) against exact rational arithmetic.

``μ ≥ ‖J‖₂`` ⇔ ``μ²I − G ⪰ 0`` for the smaller Gram matrix ``G`` (``JJᵀ`` or ``JᵀJ``), checked exactly by
"every principal minor ≥ 0"; ``ℓ ≤ ‖J‖₂`` ⇔ ``ℓ²I − G`` is not positive definite, i.e. some leading
principal minor is ≤ 0 (Sylvester). Determinants in ``fractions.Fraction``.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from intervals import spectral
from intervals.spectral import norm2_interval_bounds, norm2_nonneg_upper, norm2_point_bounds
from tests.helpers import hyp


def _det(M: list[list[Fraction]]) -> Fraction:
    M = [row[:] for row in M]
    n, det = len(M), Fraction(1)
    for k in range(n):
        p = next((i for i in range(k, n) if M[i][k] != 0), None)
        if p is None:
            return Fraction(0)
        if p != k:
            M[k], M[p] = M[p], M[k]
            det = -det
        det *= M[k][k]
        for i in range(k + 1, n):
            f = M[i][k] / M[k][k]
            for j in range(k, n):
                M[i][j] -= f * M[k][j]
    return det


def _gram(J: np.ndarray) -> list[list[Fraction]]:
    X = [[Fraction(float(v)) for v in row] for row in (J if J.shape[0] <= J.shape[1] else J.T)]
    return [[sum((a * b for a, b in zip(r, s)), Fraction(0)) for s in X] for r in X]


def _shifted(G, t: Fraction):
    return [[(t if i == j else 0) - G[i][j] for j in range(len(G))] for i in range(len(G))]


def upper_ok(J: np.ndarray, mu: float) -> bool:
    """Exactly: ``mu² I − G ⪰ 0`` (all principal minors non-negative)."""
    if mu == np.inf:
        return True
    A = _shifted(_gram(J), Fraction(mu) ** 2)
    n = len(A)
    return all(_det([[A[i][j] for j in S] for i in S]) >= 0
               for r in range(1, n + 1) for S in itertools.combinations(range(n), r))


def lower_ok(J: np.ndarray, ell: float) -> bool:
    """Exactly: ``ell² I − G`` is not positive definite (some leading minor ≤ 0), i.e. ``ell ≤ ‖J‖₂``."""
    A = _shifted(_gram(J), Fraction(ell) ** 2)
    return any(_det([row[:k] for row in A[:k]]) <= 0 for k in range(1, len(A) + 1))


def _check(J: np.ndarray, rel: float | None = 1e-10) -> tuple[float, float]:
    lo, up = norm2_point_bounds(J)
    lo, up = float(lo), float(up)
    assert 0 <= lo <= up
    assert upper_ok(J, up), (J, up)
    assert lower_ok(J, lo), (J, lo)
    if rel is not None:
        assert up - lo <= rel * up, (lo, up)
    return lo, up


def _random(rng, m, n, cond=1.0):
    U, _ = np.linalg.qr(rng.standard_normal((m, m)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    k = min(m, n)
    s = np.geomspace(1.0, 1.0 / cond, k) if k > 1 else np.ones(1)
    return (U[:, :k] * s) @ V[:k]


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (3, 10), (10, 3), (4, 4), (5, 2)])
def test_random_matrices_are_enclosed_tightly(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(4):
        _check(rng.standard_normal(shape))


@pytest.mark.parametrize("cond", [1e4, 1e8, 1e15, 1e30])
def test_ill_conditioned(cond):
    rng = np.random.default_rng(int(np.log10(cond)))
    _check(_random(rng, 4, 4, cond))
    _check(_random(rng, 3, 6, cond))


def test_rank_deficient_and_zero():
    rng = np.random.default_rng(5)
    u, v = rng.standard_normal(4), rng.standard_normal(3)
    _check(np.outer(u, v))  # rank one
    J = rng.standard_normal((4, 3))
    J[2] = 0.0
    J[:, 1] = 0.0
    _check(J)
    _check(np.vstack([J[0], J[0], -J[0]]))  # repeated rows
    lo, up = norm2_point_bounds(np.zeros((3, 2)))
    assert lo == up == 0.0


def test_known_norms_exact():
    # ‖[[1, 1], [1, -1]]‖₂ = √2 (mixed signs: ‖|J|‖₂ = 2); ‖[[3, 0], [4, 5]]‖₂ = √45
    for J, n2 in [(np.array([[1.0, 1.0], [1.0, -1.0]]), 2), (np.array([[3.0, 0.0], [4.0, 5.0]]), 45)]:
        lo, up = _check(J)
        assert Fraction(float(lo)) ** 2 <= n2 <= Fraction(float(up)) ** 2


@pytest.mark.parametrize("scale", [1e-300, 2.0**-1060, 1e300, 2.0**1000])
def test_tiny_huge_and_subnormal_entries(scale):
    rng = np.random.default_rng(7)
    J = rng.standard_normal((3, 4)) * scale  # subnormal for 2^-1060: entries lose bits, still exact floats
    _check(J, rel=1e-10 if scale > 1e-300 else None)
    lo, up = norm2_point_bounds(J)
    assert up > 0 and np.isfinite(up)


def test_mixed_magnitudes_and_single_subnormal():
    J = np.array([[1e200, 5e-324, 0.0], [-1e-200, 1e200, 3.0]])
    _check(J, rel=None)
    _check(np.array([[5e-324]]), rel=None)
    _check(np.array([[5e-324, -5e-324], [5e-324, 5e-324]]), rel=None)


def test_cancellation_in_the_gram_matrix():
    # rows almost orthogonal with huge entries: JJᵀ has massive cancellation off the diagonal
    J = np.array([[1e8, 1.0, -1e8], [1e8, 2.0, 1e8], [1.0, 1e8 + 1.0, 0.0]])
    _check(J)


def test_non_finite_entries():
    lo, up = norm2_point_bounds(np.array([[[1.0, np.inf]], [[1.0, 0.0]]]))
    assert up[0] == np.inf and lo[0] == 0.0
    assert lo[1] <= 1.0 <= up[1]


def test_batch_matches_single():
    rng = np.random.default_rng(9)
    J = rng.standard_normal((6, 3, 5))
    lo, up = norm2_point_bounds(J)
    for i in range(6):
        assert (lo[i], up[i]) == tuple(map(float, norm2_point_bounds(J[i])))


@hyp(40)
@given(arrays(np.float64, (3, 3), elements=st.floats(-1e6, 1e6, allow_subnormal=True) | st.sampled_from([0.0, 5e-324, -1e-310, 1.0])))
def test_property_exact(J):
    _check(J, rel=None)


def test_any_factor_and_shift_are_sound_and_dropping_the_residual_is_caught(monkeypatch):
    """The a-posteriori argument holds for any float ``s`` and any ``L``: a useless factor (``L = 0``) and a
    shift below ``σ²`` still give a sound bound, which rests entirely on the residual term ``‖E‖₂``."""
    monkeypatch.setattr(spectral, "_SHIFTS", (-0.25,))
    monkeypatch.setattr(spectral, "_cholesky", lambda A: (np.zeros_like(A), np.ones(A.shape[0], dtype=bool)))
    rng = np.random.default_rng(11)
    cases = [rng.standard_normal((3, 4)) for _ in range(5)]
    for J in cases:
        assert upper_ok(J, float(norm2_point_bounds(J)[1]))
    monkeypatch.setattr(spectral, "_two_norm_bound", lambda E: np.zeros(E.shape[0]))  # the mutation
    assert not any(upper_ok(J, float(norm2_point_bounds(J)[1])) for J in cases)


# ------------------------------------------------------------------------------ interval matrices


def test_interval_bounds_contain_every_member_exactly():
    rng = np.random.default_rng(13)
    for width in (0.0, 2.0**-40, 1e-3, 0.5):
        M = rng.standard_normal((3, 4))
        R = np.abs(rng.standard_normal((3, 4))) * width
        lo, hi = M - R, M + R
        low, up = norm2_interval_bounds(lo, hi)
        low, up = float(low), float(up)
        for _ in range(6):
            t = rng.random((3, 4))
            J = np.clip(lo + t * (hi - lo), lo, hi)
            assert upper_ok(J, up) and lower_ok(J, low)
        for corner in itertools.islice(itertools.product((0, 1), repeat=12), 0, 4096, 512):
            J = np.where(np.array(corner).reshape(3, 4) == 1, hi, lo)
            assert upper_ok(J, up) and lower_ok(J, low)
        if width <= 2.0**-40:  # a point (or rounding-width) matrix: ~1e-12 relative, as for points
            assert up - low <= 1e-10 * up



def test_lower_only_skips_the_upper_bound_and_keeps_the_lower_one():
    # points of a search need the lower bound only: same lower bounds, upper left at inf (sound, unused)
    rng = np.random.default_rng(17)
    for width in (0.0, 2.0**-40, 1e-3, 0.5):
        M = rng.standard_normal((5, 3, 4))
        R = np.abs(rng.standard_normal((5, 3, 4))) * width
        low, up = norm2_interval_bounds(M - R, M + R)
        low1, up1 = norm2_interval_bounds(M - R, M + R, upper=False)
        assert np.array_equal(low1, low) and np.isinf(up1).all()
        for b in range(5):
            assert lower_ok(M[b] - R[b], float(low1[b])) and lower_ok(M[b] + R[b], float(low1[b]))

def test_interval_bound_beats_the_magnitude_bound_on_mixed_signs():
    J = np.array([[1.0, 1.0], [1.0, -1.0]])
    low, up = norm2_interval_bounds(J, J + 2.0**-50)
    assert float(up) < 1.5 < float(norm2_nonneg_upper(np.abs(J)))  # √2 vs ‖|J|‖₂ = 2


def test_nonneg_upper_exact():
    rng = np.random.default_rng(17)
    for shape in [(3, 5), (4, 2), (1, 1)]:
        M = np.abs(rng.standard_normal(shape))
        assert upper_ok(M, float(norm2_nonneg_upper(M)))
    assert float(norm2_nonneg_upper(np.zeros((2, 2)))) == 0.0


def test_interval_bounds_never_nan():
    big = np.finfo(np.float64).max
    lo = np.array([[[-np.inf, 0.0], [1.0, 2.0]], [[big, big], [big, -big]], [[0.0, 0.0], [0.0, 0.0]],
                   [[-1e-320, 0.0], [0.0, 5e-324]]])
    hi = np.array([[[0.0, 0.0], [1.0, 2.0]], [[big, big], [big, big]], [[0.0, 0.0], [0.0, 0.0]],
                   [[1e-320, 0.0], [0.0, 5e-324]]])
    low, up = norm2_interval_bounds(lo, hi)
    assert not np.isnan(low).any() and not np.isnan(up).any()
    assert up[0] == np.inf and low[2] == up[2] == 0.0 and up[1] >= big
    assert upper_ok(np.array([[-1e-320, 0.0], [0.0, 5e-324]]), float(up[3]))
    assert not np.isnan(norm2_nonneg_upper(np.array([[big, big], [big, big]])))


# ------------------------------------------------------------------ cheap radius bound, upper bounds only


@pytest.mark.parametrize("width", [0.0, 2.0**-60, 2.0**-45, 2.0**-38, 1e-6, 0.3])
def test_radius_shortcut_is_sound_at_every_width(width):
    """Around the 2^-40 switch between the cheap ``‖rad‖₂ ≤ √(‖rad‖₁‖rad‖∞)`` and the Collatz–Wielandt
    bounds: every corner and random member is below the upper bound, exactly; ``lower=False`` gives the
    same upper bound."""
    rng = np.random.default_rng(int(-np.log2(width)) if width else 1)
    for shape in [(3, 4), (4, 2)]:
        M = rng.standard_normal(shape)
        lo = M - np.abs(rng.standard_normal(shape)) * width
        hi = M + np.abs(rng.standard_normal(shape)) * width
        low, up = norm2_interval_bounds(lo, hi)
        _, up_only = norm2_interval_bounds(lo, hi, lower=False)
        assert abs(float(up_only) - float(up)) <= 1e-12 * float(up)  # singular values without vectors
        assert upper_ok(lo, float(up_only)) and upper_ok(hi, float(up_only))
        for corner in itertools.islice(itertools.product((0, 1), repeat=M.size), 0, 2 ** M.size, 97):
            J = np.where(np.array(corner).reshape(shape) == 1, hi, lo)
            assert upper_ok(J, float(up)) and lower_ok(J, float(low))


def test_dropping_the_radius_term_is_caught(monkeypatch):
    """The mutation "no radius term" (the cheap ``‖rad‖₂`` bound returns 0, so every matrix takes the
    shortcut ``‖mid‖₂ + 0``) is refuted exactly at the corners of wide interval matrices."""
    rng = np.random.default_rng(23)
    cases = []
    for _ in range(4):
        M = rng.standard_normal((3, 4))
        cases.append((M - 0.25, M + 0.25))
    for lo, hi in cases:  # sound as written
        _, up = norm2_interval_bounds(lo, hi, lower=False)
        assert all(upper_ok(np.where(np.array(c).reshape(3, 4) == 1, hi, lo), float(up))
                   for c in itertools.islice(itertools.product((0, 1), repeat=12), 0, None, 97))
    original = spectral._two_norm_bound
    # the residual of the verified ‖mid‖₂ (square 3×3) keeps its bound: only the 3×4 radius term is dropped
    monkeypatch.setattr(spectral, "_two_norm_bound",
                        lambda E: original(E) if E.shape[-1] == E.shape[-2] else np.zeros(E.shape[0]))
    refuted = 0
    for lo, hi in cases:
        _, up = norm2_interval_bounds(lo, hi, lower=False)
        corners = (np.where(np.array(c).reshape(3, 4) == 1, hi, lo)
                   for c in itertools.islice(itertools.product((0, 1), repeat=12), 0, None, 97))
        refuted += not all(upper_ok(J, float(up)) for J in corners)
    assert refuted >= 1


@hyp(30)
@given(arrays(np.float64, (2, 3), elements=st.floats(-1e3, 1e3, allow_subnormal=True)),
       st.sampled_from([0.0, 2.0**-50, 2.0**-41, 2.0**-39, 1e-3]))
def test_property_interval_upper_only(M, width):
    lo, hi = M - width * np.abs(M), M + width * np.abs(M)
    _, up = norm2_interval_bounds(lo, hi, lower=False)
    for corner in itertools.product((0, 1), repeat=6):
        assert upper_ok(np.where(np.array(corner).reshape(2, 3) == 1, hi, lo), float(up))
