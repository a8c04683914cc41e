"""What ``intervals`` publishes for compiled code and fast construction: :mod:`intervals.directed` and
``IntervalArray.unchecked`` / ``MPIntervalArray.unchecked``."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numba import njit

from intervals import _kernels, directed
from intervals.array import IntervalArray
from intervals.mparray import MPIntervalArray


@njit(cache=True, fastmath=False)
def _dot_bounds(x, y):  # pragma: no cover - compiled
    """Lower and upper bounds of the exact ``Σ x_i y_i`` with every product and sum stepped outward."""
    lo = 0.0
    hi = 0.0
    for i in range(x.shape[0]):
        lo = directed.down(lo + directed.down(x[i] * y[i]))
        hi = directed.up(hi + directed.up(x[i] * y[i]))
    return lo, hi


def test_directed_steps_are_the_tested_kernels():
    """The public names are the kernels that ``tests/intervals/test_linalg.py`` checks outward."""
    assert directed.up is _kernels.up and directed.down is _kernels.down
    assert directed.mid_rad_a is _kernels.mid_rad_a


def test_directed_steps_bound_exact_sums_in_compiled_code():
    """Cancellation, huge/tiny and subnormal products: the compiled bounds hold the exact rational sum."""
    cases = [
        ([1e16, 1.0, -1e16], [1.0, 1.0, 1.0]),
        ([0.1, 0.2, -0.3], [3.0, 3.0, 1.0]),
        ([1e300, -1e300, 5e-324], [1e-300, 1e-300, 0.5]),
        ([2.0**-1070, 3.0, 1.0 / 3.0], [2.0**-10, 1.0 / 3.0, -3.0]),
    ]
    for x, y in cases:
        x, y = np.array(x), np.array(y)
        lo, hi = _dot_bounds(x, y)
        exact = sum(Fraction(a) * Fraction(b) for a, b in zip(x.tolist(), y.tolist()))
        assert Fraction(lo) <= exact <= Fraction(hi), (x, y, lo, hi)
        assert lo < hi  # the steps are outward even when round-to-nearest is exact


def test_unchecked_wraps_without_copying():
    lo, hi = np.array([0.0, -1.0]), np.array([1.0, 2.0])
    a = IntervalArray.unchecked(lo, hi)
    assert a.lo is lo and a.hi is hi
    assert type(a) is IntervalArray
    assert (a + a).hi.tolist() == [2.0, 4.0]
    m = MPIntervalArray.unchecked(np.array([1, -3], dtype=object), np.array([2, 5], dtype=object), -1, 53)
    assert m.to_float().hi.tolist() == [1.0, 2.5]
    one, two = np.array([1], dtype=object), np.array([2], dtype=object)
    assert MPIntervalArray.unchecked(one, two, 0, 53).shape == (1,)
