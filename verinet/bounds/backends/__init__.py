"""Arithmetic backends for bound propagation: one algorithm, two meanings of "number".

A backend is built for one network and prepares its weights once. The algorithms in
:mod:`verinet.bounds.propagation` and :mod:`verinet.bounds.gradient` only call the methods below, so they run
unchanged in float64 (Numba/BLAS kernels, a-priori rounding-error bounds) and at arbitrary precision
(mpmath, exact accumulation with directed rounding).

Arrays are the backend's own interval-array type; the last axis is the neuron axis and any leading
axes are batch axes (boxes, or rows of a Jacobian).

Protocol
--------
``box(lo, hi)``
    Exact conversion of float64 endpoint arrays.
``point(values)``
    An exact point array from float64 values.
``affine(k, x)`` / ``linear(k, x)``
    Enclosure of ``W_k x + b_k`` / ``W_k x`` over the last axis (``n_in -> n_out``).
``linear_t(k, g)``
    Enclosure of ``g W_k`` over the last axis (``n_out -> n_in``): the reverse-mode step.
``activate(k, z)``
    Enclosure of ``σ_k(z)``.
``chain(k, g, z)``
    Enclosure of ``g · σ_k'(z)`` elementwise, where ``σ_k'(z)`` is the Clarke-derivative enclosure of the
    activation on the pre-activation box ``z`` (broadcast against ``g``).
``dot(P, c)``
    Enclosure of ``P c`` contracting the last axis with a float64 vector ``c`` (exact entries).
``to_float(a)``
    Outward float64 :class:`intervals.IntervalArray`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from verinet.network import Network

__all__ = ["make_backend"]


def make_backend(network: "Network", precision: int | None = None):
    """The float64 backend (``precision`` None or 53 with float-exact weights) or the mp backend.

    ``precision`` is in bits. With ``None`` the float64 backend is used; an explicit precision selects
    the arbitrary-precision backend (also at 53 bits, for comparisons).
    """
    if precision is None:
        from verinet.bounds.backends.float64 import Float64Backend

        return Float64Backend(network)
    if int(precision) < 24:
        from verinet.errors import QueryError

        raise QueryError(f"precision must be at least 24 bits, got {precision}")
    from verinet.bounds.backends.mp import MPBackend

    return MPBackend(network, int(precision))
