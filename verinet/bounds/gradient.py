"""Clarke-gradient (L-derivative) enclosures of a network over a box.

Zhou, Shaikh, Li & Farjudian (MSCS 2023), Sections 3–4: Edalat's L-derivative of a Lipschitz map equals
Clarke's generalized gradient, and the interval chain rule

    ∂(cᵀ f)(x) ⊆ cᵀ W_L D_{L−1} W_{L−1} ⋯ D_1 W_1,   D_k = diag(σ_k'(Z_k)),

with ``Z_k`` an enclosure of the pre-activations over the box ``X`` and ``σ_k'(Z_k)`` the Clarke-derivative
enclosure of the activation (``[0, 1]`` for ReLU wherever ``Z_k`` meets 0), contains every Clarke gradient of
``cᵀ f`` at every point of ``X`` (Clarke 1983, Thm 2.6.6 chain rule, applied layer by layer; interval
products enclose every product of members). Two evaluation orders:

* **reverse**: ``gᵀ ← gᵀ W_k`` then ``g ← g ⊙ σ'`` from the output back (cost ∝ number of outputs);
* **forward**: ``P_k = W_k D_{k−1} P_{k−1}`` from the input (cost ∝ number of inputs).

Both are enclosures; neither is always tighter, and their intersection is also an enclosure.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from verinet.bounds.backends import make_backend
from verinet.errors import QueryError
from verinet.network import Network
from verinet.bounds.propagation import LayerBounds, propagate

__all__ = ["Mode", "coefficient_vector", "gradient_from_bounds", "jacobian_from_bounds", "gradient_enclosure",
           "jacobian_enclosure", "choose_mode"]

Mode = Literal["auto", "reverse", "forward", "both"]


def coefficient_vector(network: Network, output=0) -> np.ndarray:
    """The float64 vector ``c`` of the scalar quantity ``cᵀ y``: an output index or explicit coefficients.

    Coefficients must be exact float64 numbers (integers, margins ``±1``, or binary fractions); a
    decimal that is not a float is rejected rather than silently rounded.
    """
    m = network.n_outputs
    if isinstance(output, (int, np.integer)):
        k = int(output)
        if not 0 <= k < m:
            raise QueryError(f"output index {k} out of range: the network has {m} outputs (0..{m - 1})")
        c = np.zeros(m)
        c[k] = 1.0
        return c
    from intervals.rounding import to_fraction

    vals = list(output)
    if len(vals) != m:
        raise QueryError(f"coefficient vector has {len(vals)} entries, the network has {m} outputs")
    c = np.empty(m)
    for i, v in enumerate(vals):
        q = to_fraction(v)
        f = float(q)
        if to_fraction(f) != q:
            raise QueryError(f"coefficient {v} is not exactly a float64 number; scale the combination")
        c[i] = f
    return c


def choose_mode(network: Network, n_rows_out: int = 1) -> str:
    """Reverse mode costs ∝ ``n_rows_out`` rows, forward mode ∝ ``n_inputs`` rows: pick the cheaper.

    On a tie forward mode is taken: with one input, every derivative enclosure enters the forward
    product once, so it is the exact hull (reverse mode can suffer from interval dependency).
    """
    return "forward" if network.n_inputs <= n_rows_out else "reverse"


def _reverse(backend, bounds: LayerBounds, seed):
    """``seed`` has shape (..., r, m_L) (rows of output coefficients); returns (..., r, n_in)."""
    g = seed
    for k in range(len(backend.network.layers) - 1, -1, -1):
        z = bounds.pre[k]
        g = backend.chain(k, g, z[..., None, :])
        g = backend.linear_t(k, g)
    return g


def _forward(backend, bounds: LayerBounds, n_in: int, batch_shape: tuple[int, ...]):
    """Returns ``P`` with shape (..., n_in, m_L): row ``i`` encloses ``∂f/∂x_i``."""
    eye = np.broadcast_to(np.eye(n_in), batch_shape + (n_in, n_in))
    P = backend.point(np.ascontiguousarray(eye))
    for k in range(len(backend.network.layers)):
        P = backend.linear(k, P)
        P = backend.chain(k, P, bounds.pre[k][..., None, :])
    return P


def _intersect(a, b):
    return a.intersect(b)


def gradient_from_bounds(backend, bounds: LayerBounds, c: np.ndarray, mode: str = "auto"):
    """Enclosure of ``∇(cᵀ f)`` over the box whose propagated bounds are ``bounds`` (backend array).

    Shape ``(..., n_in)`` with the batch axes of the box.
    """
    net = backend.network
    if mode == "auto":
        mode = choose_mode(net, 1)
    batch_shape = tuple(bounds.pre[0].shape[:-1])
    rev = fwd = None
    if mode in ("reverse", "both"):
        seed = backend.point(np.ascontiguousarray(np.broadcast_to(c, batch_shape + (1, len(c)))))
        rev = _reverse(backend, bounds, seed)[..., 0, :]
    if mode in ("forward", "both"):
        fwd = backend.dot(_forward(backend, bounds, net.n_inputs, batch_shape), c)
    if mode not in ("reverse", "forward", "both"):
        raise ValueError(f"unknown gradient mode {mode!r}: use auto, reverse, forward or both")
    if rev is not None and fwd is not None:
        return _intersect(backend.to_float(rev), backend.to_float(fwd))
    return rev if rev is not None else fwd


def jacobian_from_bounds(backend, bounds: LayerBounds, mode: str = "auto"):
    """Enclosure of the Jacobian ``∂f/∂x`` over the box: shape ``(..., m, n_in)``."""
    net = backend.network
    m = net.n_outputs
    if mode == "auto":
        mode = choose_mode(net, m)
    batch_shape = tuple(bounds.pre[0].shape[:-1])
    rev = fwd = None
    if mode in ("reverse", "both"):
        seed = backend.point(np.ascontiguousarray(np.broadcast_to(np.eye(m), batch_shape + (m, m))))
        rev = _reverse(backend, bounds, seed)
    if mode in ("forward", "both"):
        P = backend.to_float(_forward(backend, bounds, net.n_inputs, batch_shape))
        fwd = type(P).unchecked(np.swapaxes(P.lo, -1, -2).copy(), np.swapaxes(P.hi, -1, -2).copy())
        if mode == "forward":
            return fwd
    if mode not in ("reverse", "forward", "both"):
        raise ValueError(f"unknown gradient mode {mode!r}: use auto, reverse, forward or both")
    if fwd is not None:
        return _intersect(backend.to_float(rev), fwd)
    return rev


def _box_arrays(network: Network, lo, hi):
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    if lo.shape[-1] != network.n_inputs:
        raise ValueError(f"box has {lo.shape[-1]} coordinates, the network has {network.n_inputs} inputs")
    return lo, hi


def gradient_enclosure(network: Network, lo, hi, output=0, mode: Mode = "auto", precision: int | None = None):
    """Float64 enclosure of every Clarke gradient of ``cᵀ f`` over the box ``[lo, hi]``.

    Parameters
    ----------
    network : Network
    lo, hi : array_like, shape (n,) or (B, n)
        The box (or a batch of boxes); floats are exact binary numbers.
    output : int or sequence
        Output index, or coefficients ``c`` of the combination ``cᵀ y`` (exact float64 numbers).
    mode : {"auto", "reverse", "forward", "both"}
    precision : int, optional
        Bits for the arbitrary-precision backend; float64 backend when omitted.

    Returns
    -------
    IntervalArray of shape (n,) or (B, n)

    Examples
    --------
    >>> from verinet import Layer, Network
    >>> net = Network((Layer.from_exact([["1"], ["-1"]], ["0", "0"]), Layer.from_exact([["2", "1"]], ["0"], "identity")))
    >>> g = gradient_enclosure(net, [-1.0], [1.0])      # f(x) = 2 relu(x) + relu(-x)
    >>> bool(g.lo[0] <= -1.0 and g.hi[0] >= 2.0), round(float(g.lo[0]), 12), round(float(g.hi[0]), 12)
    (True, -1.0, 2.0)

    Rigorous: contains every element of Clarke's generalized gradient of ``cᵀ f`` at every point of the box.
    """
    backend = make_backend(network, precision)
    lo, hi = _box_arrays(network, lo, hi)
    c = coefficient_vector(network, output)
    bounds = propagate(backend, backend.box(lo, hi))
    return backend.to_float(gradient_from_bounds(backend, bounds, c, mode))


def jacobian_enclosure(network: Network, lo, hi, mode: Mode = "auto", precision: int | None = None):
    """Float64 enclosure of the Clarke Jacobian of ``f`` over the box: shape (m, n) or (B, m, n).

    Rigorous: contains every element of Clarke's generalized Jacobian at every point of the box.
    """
    backend = make_backend(network, precision)
    lo, hi = _box_arrays(network, lo, hi)
    bounds = propagate(backend, backend.box(lo, hi))
    return backend.to_float(jacobian_from_bounds(backend, bounds, mode))
