"""Interval bound propagation: the interval extension of the network over a box or a batch of boxes.

For ``a_0 ∈ X``, ``z_k = W_k a_{k−1} + b_k`` and ``a_k = σ_k(z_k)``: each step is an enclosure computed by
the backend, so by induction every ``z_k`` returned contains the exact pre-activation of every input in
the box (the inclusion property of interval extensions; Moore, Kearfott & Cloud, *Introduction to
Interval Analysis*, Thm 5.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from verinet.backends import make_backend
from verinet.network import Network

__all__ = ["LayerBounds", "propagate", "output_bounds"]


@dataclass(frozen=True)
class LayerBounds:
    """Pre-activation enclosures of every layer and the output enclosure (backend arrays).

    ``pre[k]`` has shape ``(..., n_out_k)`` with the same leading (batch) axes as the input box.
    """

    pre: tuple
    output: object


def propagate(backend, x) -> LayerBounds:
    """Propagate a backend box ``x`` (shape ``(..., n_in)``) through the network of ``backend``.

    Rigorous: ``pre[k]`` contains ``z_k(x)`` and ``output`` contains ``f(x)`` for every real ``x`` in the box.
    """
    pre = []
    a = x
    for k in range(len(backend.network.layers)):
        z = backend.affine(k, a)
        pre.append(z)
        a = backend.activate(k, z)
    return LayerBounds(tuple(pre), a)


def output_bounds(network: Network, lo, hi, precision: int | None = None):
    """Float64 enclosure of the network's outputs over the box ``[lo, hi]`` (or a batch of boxes).

    Examples
    --------
    >>> from verinet import Layer, Network
    >>> net = Network((Layer.from_exact([["1", "-1"]], ["0"], "identity"),))
    >>> y = output_bounds(net, [0.0, 0.0], [1.0, 1.0])    # x1 - x2 ranges over [-1, 1]
    >>> bool(y.lo[0] <= -1.0 and 1.0 <= y.hi[0] < 1.0 + 1e-14)
    True

    Rigorous: contains ``f(x)`` for every real ``x`` in the box.
    """
    backend = make_backend(network, precision)
    x = backend.box(np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))
    return backend.to_float(propagate(backend, x).output)
