"""Interval bound propagation: the interval extension of the network over a box or a batch of boxes.

For ``a_0 ∈ X``, ``z_k = W_k a_{k−1} + b_k`` and ``a_k = σ_k(z_k)``: each step is an enclosure computed by
the backend, so by induction every ``z_k`` returned contains the exact pre-activation of every input in
the box (the inclusion property of interval extensions; Moore, Kearfott & Cloud, *Introduction to
Interval Analysis*, Thm 5.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from verinet.bounds.backends import make_backend
from verinet.network import Network

__all__ = ["LayerBounds", "SplitBounds", "clamp_signs", "kinked_layout", "output_bounds", "per_layer_signs",
           "propagate", "propagate_fixed"]


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


@dataclass(frozen=True)
class SplitBounds:
    """Enclosures over the *part* of each box where some neurons have fixed signs.

    ``bounds`` holds for every input of the part; ``infeasible`` (B,) marks boxes whose part was proved
    empty (their ``bounds`` rows carry no information).
    """

    bounds: LayerBounds
    infeasible: np.ndarray


def kinked_layout(network: Network) -> tuple[list[tuple[int, int, int]], int]:
    """``(layer, offset, width)`` of every ReLU / leaky-ReLU layer in a flat numbering of their neurons,
    and the number ``H`` of such neurons (the layout of flat sign vectors (B, H))."""
    kinked, offset = [], 0
    for k, L in enumerate(network.layers):
        if L.activation.impl.has_kinks:
            kinked.append((k, offset, L.n_out))
            offset += L.n_out
    return kinked, offset


def per_layer_signs(F: np.ndarray, kinked, n_layers: int) -> list:
    """Flat signs (B, H) as one entry per layer: views (B, n_k) for kinked layers, None for the others."""
    fix = [None] * n_layers
    for k, off, n in kinked:
        fix[k] = F[:, off:off + n]
    return fix


def clamp_signs(z, fix: np.ndarray | None, dead: np.ndarray):
    """``z`` (float64 :class:`IntervalArray`, (B, n)) intersected with the sign constraints of ``fix``.

    ``fix[b, i] = +1`` restricts box ``b`` to ``z_i ≥ 0``, ``−1`` to ``z_i ≤ 0``, ``0`` leaves it free. A row
    whose intersection is empty is marked in ``dead`` (updated in place) and keeps its old values.

    Why splitting on a sign is sound: ``{z_i ≥ 0} ∪ {z_i ≤ 0}`` is the whole box, so enclosures over the
    two parts together enclose everything; on each part the closed constraint is exact (no rounding:
    ``max(lo, 0)`` and ``min(hi, 0)`` are exact in floating point).
    """
    from intervals.array import IntervalArray

    if fix is None or not fix.any():
        return z
    lo = np.where(fix > 0, np.maximum(z.lo, 0.0), z.lo)
    hi = np.where(fix < 0, np.minimum(z.hi, 0.0), z.hi)
    empty = (lo > hi).any(axis=1)
    dead |= empty
    lo = np.where(empty[:, None], z.lo, lo)
    hi = np.where(empty[:, None], z.hi, hi)
    return IntervalArray.unchecked(lo, hi)


def propagate_fixed(backend, lo: np.ndarray, hi: np.ndarray, fix) -> SplitBounds:
    """Interval propagation over the parts of the boxes ``[lo, hi]`` (B, n) fixed by ``fix``.

    ``fix`` is a sequence with one entry per layer: None, or an int8 array (B, n_k) of signs (see
    :func:`clamp_signs`). Float64 backend only.

    Rigorous: for every box not marked infeasible, ``pre[k]`` contains ``z_k(x)`` and ``output`` contains
    ``f(x)`` for every real ``x`` of the box whose fixed pre-activations have their signs (induction as in
    :func:`propagate`, each clamp being exact); an infeasible box has no such ``x``.
    """
    if backend.name != "float64":
        raise TypeError("sign-constrained propagation needs the float64 backend")
    dead = np.zeros(lo.shape[0], dtype=bool)
    pre = []
    a = backend.box(lo, hi)
    for k in range(len(backend.network.layers)):
        z = clamp_signs(backend.affine(k, a), fix[k], dead)
        pre.append(z)
        a = backend.activate(k, z)
    return SplitBounds(LayerBounds(tuple(pre), a), dead)


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
