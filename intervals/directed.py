"""Directed rounding for compiled code outside this package: scalar outward steps and box midpoints.

Numba-compiled loops (``@njit(fastmath=False)``) that compute plain round-to-nearest sums and products
and bound their exact value themselves use these (the rounding arguments live beside those loops):

* :func:`up` / :func:`down` — for a float ``c`` that is the round-to-nearest result of one IEEE
  operation (``+ − × ÷ √``, correctly rounded), ``up(c) ≥`` the exact result and ``down(c) ≤`` it:
  one step past the successor / predecessor (Rump, Zimmermann, Boldo & Melquiond, BIT 49, 2009, Alg. 2),
  cheaper than ``nextafter`` and branch-free. Infinite inputs stay infinite, except that an upper bound
  of ``−∞`` becomes ``−max`` (and a lower bound of ``+∞`` becomes ``+max``), the correct side.
* :func:`mid_rad_a` — midpoint ``m`` and ``a ≥ r + g|m|`` (``r`` the radius) of flat float boxes,
  the input form of the a-priori error bounds of :mod:`intervals.linalg`; returns False when an
  endpoint is not finite.

Both are Numba functions (``inline="always"`` for the scalar steps): call them from ``@njit`` code; the
scalar steps also work from Python on floats. The numpy-level directed operations are in
:mod:`intervals.rounding`.
"""

from __future__ import annotations

from intervals._kernels import down, mid_rad_a, up

__all__ = ["down", "mid_rad_a", "up"]
