"""The compiled bounding-box tightening of :mod:`verinet.bounds.linear` (``_tighten_box``) against exact rationals.

A box ``[lo, hi]`` and halfspaces ``a·x ≤ d`` are shrunk to a box that must contain every real point of
the box satisfying its halfspaces. Points are placed exactly on the constraints (``d`` = the exact
``a·x0`` rounded up), at corners of the box, with huge, tiny and subnormal magnitudes and cancelling
coefficients: the tightened bounds then touch ``x0`` and every rounding decides whether it stays inside.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import hyp
from verinet.bounds.linear import tightening as linear


def _up(q: Fraction) -> float:
    """The least float ≥ ``q``."""
    v = float(q)
    while Fraction(v) < q:
        v = float(np.nextafter(v, np.inf))
    return v


def _case(seed: int, n: int, rows: int, kind: str):
    """Boxes (B, n), rows ``(A, d, bb)`` that hold at a point ``x0[b]`` of each box, exactly with equality
    (``d`` rounded up by at most an ulp), and the points ``x0`` as rationals."""
    rng = np.random.default_rng(seed)
    B = 3
    scale = {"plain": 1.0, "huge": 2.0**300, "tiny": 2.0**-300, "sub": 2.0**-1060}.get(kind, 1.0)
    lo = rng.uniform(-2, 0, (B, n)) * scale
    hi = lo + rng.uniform(0, 2, (B, n)) * scale * rng.integers(0, 4, (B, n)).clip(0, 1)  # some pinned
    corner = rng.integers(0, 2, (B, n)).astype(bool)
    inner = lo + rng.random((B, n)) * (hi - lo)
    x0f = np.where(corner, hi, np.clip(inner, lo, hi))
    if kind == "corner":  # every coordinate at a corner: the bound lands exactly on a face
        x0f = np.where(corner, hi, lo)
    x0 = [[Fraction(float(v)) for v in row] for row in x0f]
    bb = rng.integers(0, B, rows)
    A = rng.standard_normal((rows, n)) * 10.0 ** rng.integers(-3, 4, (rows, 1))
    if kind == "cancel":  # two coefficients of equal size and opposite sign
        A[:, -1] = -A[:, 0] if n > 1 else A[:, -1]
    if kind == "face":  # x0 at the corner minimising every row: each row's bounds all touch x0
        bb[:] = 0
        A[:, :] = A[0] * 10.0 ** rng.integers(-6, 7, n)  # mixed magnitudes: the sum's rounding matters
        A *= rng.uniform(0.5, 2.0, (rows, 1))
        x0f[0] = np.where(A[0] > 0, lo[0], hi[0])
        x0[0] = [Fraction(float(v)) for v in x0f[0]]
    if kind == "zero":
        A[rng.random((rows, n)) < 0.4] = 0.0
    d = np.array([_up(sum((Fraction(float(a)) * x for a, x in zip(A[q], x0[bb[q]])), Fraction(0)))
                  for q in range(rows)])
    return lo, hi, A, d, bb, x0


def _contains(lo, hi, x0) -> bool:
    return all(Fraction(float(lo[b, j])) <= x0[b][j] <= Fraction(float(hi[b, j]))
               for b in range(len(x0)) for j in range(len(x0[b])))


def _exact_feasible_bounds(A, d, bb, lo, hi):
    """The exact bounds one row alone gives (rationals): the tightest ``_tighten_box`` can be."""
    out = []
    for q in range(len(d)):
        b = bb[q]
        m = [min(Fraction(float(a)) * Fraction(float(lo[b, j])), Fraction(float(a)) * Fraction(float(hi[b, j])))
             for j, a in enumerate(A[q])]
        for j, a in enumerate(A[q]):
            if a != 0:
                out.append((b, j, a > 0, (Fraction(float(d[q])) - (sum(m) - m[j])) / Fraction(float(a))))
    return out


@hyp(200)
@given(st.integers(0, 2**32 - 1), st.integers(1, 9), st.integers(1, 6),
       st.sampled_from(["plain", "corner", "face", "huge", "tiny", "sub", "cancel", "zero"]))
def test_tightened_boxes_keep_every_feasible_point_and_are_nearly_exact(seed, n, rows, kind):
    lo, hi, A, d, bb, x0 = _case(seed, n, rows, kind)
    xl, xu = lo.copy(), hi.copy()
    moved = linear._tighten_box(A, d, bb, xl, xu)
    assert _contains(xl, xu, x0)  # x0 satisfies every row of its box: it must stay
    assert (xl >= lo).all() and (xu <= hi).all()
    assert moved == int((xl != lo).sum() + (xu != hi).sum())
    # the exact result: per coordinate, the tightest of the box and every row's exact bound
    ex_hi = {(b, j): Fraction(float(hi[b, j])) for b in range(len(lo)) for j in range(n)}
    ex_lo = {(b, j): Fraction(float(lo[b, j])) for b in range(len(lo)) for j in range(n)}
    for b, j, upper, t in _exact_feasible_bounds(A, d, bb, lo, hi):
        if upper:
            ex_hi[b, j] = min(ex_hi[b, j], t)
        else:
            ex_lo[b, j] = max(ex_lo[b, j], t)
    tol = {key: 0.0 for key in ex_hi}
    for q in range(len(d)):  # a row's bound errs by ~1e-16 of its terms' size over |a_j|
        b = bb[q]
        size = 1.0 + abs(float(d[q])) + float(np.abs(A[q]) @ np.maximum(np.abs(lo[b]), np.abs(hi[b])))
        for j in np.flatnonzero(A[q]):
            tol[b, j] = max(tol[b, j], 1e-9 * size / abs(float(A[q, j])))
    for (b, j), t in ex_hi.items():
        assert Fraction(float(xu[b, j])) >= t  # sound: never inside the exact bound
        if kind in ("plain", "corner", "face", "cancel", "zero"):  # and tight
            assert float(xu[b, j]) <= float(t) + tol[b, j]
    for (b, j), t in ex_lo.items():
        assert Fraction(float(xl[b, j])) <= t
        if kind in ("plain", "corner", "face", "cancel", "zero"):
            assert float(xl[b, j]) >= float(t) - tol[b, j]

def test_tighten_box_known_values_and_exact_faces():
    # x + y ≤ 1 on [0, 1]² with x ≥ 0.75: y ≤ 0.25 exactly (a face), x ≤ 1 unchanged
    lo, hi = np.array([[0.75, 0.0]]), np.array([[1.0, 1.0]])
    xl, xu = lo.copy(), hi.copy()
    assert linear._tighten_box(np.array([[1.0, 1.0]]), np.array([1.0]), np.array([0]), xl, xu) == 1
    assert 0.25 <= xu[0, 1] <= 0.25 + 1e-15 and xu[0, 0] == 1.0 and xl.tolist() == lo.tolist()
    # a row the box violates everywhere empties it (xl > xu somewhere); a row with inf or NaN is ignored
    xl, xu = lo.copy(), hi.copy()
    linear._tighten_box(np.array([[1.0, 1.0]]), np.array([0.5]), np.array([0]), xl, xu)
    assert (xl > xu).any()
    xl, xu = lo.copy(), hi.copy()
    assert linear._tighten_box(np.array([[1.0, np.inf], [np.nan, 1.0]]), np.array([0.0, 0.0]),
                               np.array([0, 0]), xl, xu) == 0


def test_cancelling_sum_keeps_its_point_and_dropping_the_error_term_is_caught():
    """``2^60·x₀ + (x₁ + … + x₆₀₀) + 2^60·x₆₀₁ ≤ −600`` holds with equality at the corner ``(1, −1, …, −1)``
    of ``[1, 2] × [−1, 0]⁶⁰¹``, where every term takes its least value. In floats the 600 terms ``−1`` are
    lost against ``2^60`` (the one-ulp steps of the products, 128 and 256, do not make up for them), so
    without the a-priori term ``γ_n Σ|m|`` each ``x_j ≤ −217`` comes out and the box is emptied."""
    k = 600
    A = np.concatenate([[2.0**60], np.ones(k), [2.0**60]])[None, :]
    d, bb = np.array([-float(k)]), np.array([0])
    lo = np.concatenate([[1.0], -np.ones(k + 1)])[None, :]
    hi = np.concatenate([[2.0], np.zeros(k + 1)])[None, :]
    x0 = [[Fraction(float(v)) for v in lo[0]]]
    xl, xu = lo.copy(), hi.copy()
    linear._tighten_box(A, d, bb, xl, xu)
    assert _contains(xl, xu, x0)
    gam, inv, _ = linear._consts(k + 2)
    xl, xu = lo.copy(), hi.copy()
    linear._tighten_box_kernel.py_func(A, d, bb, xl, xu, gam, inv)  # the twin agrees
    assert _contains(xl, xu, x0)
    xl, xu = lo.copy(), hi.copy()
    linear._tighten_box_kernel.py_func(A, d, bb, xl, xu, 0.0, inv)  # mutation: γ_n = 0
    assert not _contains(xl, xu, x0) and (xu[0, 1:k + 1] < -1.0).all()


def test_dropping_the_rounding_error_terms_is_caught(monkeypatch):
    """The checks above fail for a kernel without the a-priori error term of the sum (``γ_n = 0``) and with
    the subtractions and quotients rounded to nearest: run the kernel's Python twin so mutated on rows
    built to touch their point on every face (``face``)."""
    kernel = linear._tighten_box_kernel.py_func
    monkeypatch.setattr(linear, "_s_div", lambda a, b, upward: a / b)
    monkeypatch.setattr(linear, "_s_add_up", lambda a, b: a + b)
    monkeypatch.setattr(linear, "_s_add_down", lambda a, b: a + b)
    caught = 0
    for seed in range(100):
        lo, hi, A, d, bb, x0 = _case(seed, 6, 1, "face")
        xl, xu = lo.copy(), hi.copy()
        kernel(A, d, bb.astype(np.int64), xl, xu, 0.0, 1.0)
        caught += not _contains(xl, xu, x0)
        xl, xu = lo.copy(), hi.copy()
        gam, inv, _ = linear._consts(6)
        linear._tighten_box(A, d, bb, xl, xu)  # the real kernel keeps the point
        assert _contains(xl, xu, x0)
    assert caught > 0
