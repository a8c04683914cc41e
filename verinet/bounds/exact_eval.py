"""Exact rational evaluation of piecewise-linear networks with integer arithmetic.

The exact output ``f(x)`` at a rational point confirms a counterexample (``sat`` answers) and anchors
certificates. Multiplying ``Fraction`` objects costs a gcd per operation; instead every layer's weights
and biases are written once as integer numerators over one common denominator, ``W = Wn/D``,
``b = bn/D`` (for float weights ``D`` is a power of two: every float64 is ``m·2^e``; for decimal or other
rational weights ``D`` is the lcm of their denominators), and the activations as numerators over one
denominator ``d``: ``W a + b = (Wn·an + bn·d)/(D·d)``, a matrix–vector product of Python ints (numpy
object arrays: the loop runs in C, the arithmetic is exact). ReLU keeps the denominator
(``max(n, 0)/d = max(n/d, 0)`` for ``d > 0``); leaky ReLU with slope ``p/q`` multiplies it by ``q``
(``n·q`` or ``n·p`` over ``d·q``). The conversion is cached per layer (a layer never changes).
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from intervals.rounding import to_fraction

__all__ = ["ExactEvaluationTimeout", "IntegerLayer", "integer_layer", "evaluate_exact"]


class ExactEvaluationTimeout(TimeoutError):
    """The deadline passed before the exact evaluation finished (no result: nothing was confirmed)."""


@dataclass(frozen=True, eq=False)
class IntegerLayer:
    """A layer's exact weights ``W = weight/den`` and biases ``b = bias/den`` (object arrays of ints)."""

    weight: np.ndarray  # (n_out, n_in)
    bias: np.ndarray  # (n_out,)
    den: int  # > 0


# per-layer cache of the integer form; layers are immutable, and the entry goes with the layer
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _dyadic(a: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer numerators over a power of two for a float64 array: ``a = nums / 2^k`` exactly.

    ``frexp`` gives ``a = m·2^e`` with ``0.5 <= |m| < 1`` (subnormals included), so ``M = m·2^53`` is an
    integer (53 significand bits) and ``a = M·2^(e−53)``; over ``2^k`` with ``k = −min(e−53)`` the
    numerator is ``M·2^(e−53+k)`` with a non-negative shift.
    """
    m, e = np.frexp(np.asarray(a, dtype=np.float64))
    mant = (m * 2.0**53).astype(np.int64)  # exact: |m·2^53| < 2^53 is an integer
    exp = np.where(mant != 0, e.astype(np.int64) - 53, 0)
    k = max(0, -int(exp.min())) if exp.size else 0
    nums = np.left_shift(mant.astype(object), (exp + k).astype(object))
    return nums, 1 << k


def _rational(q: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer numerators over the lcm of the denominators for an object array of Fractions."""
    flat = [to_fraction(v) for v in q.reshape(-1).tolist()]
    den = math.lcm(*(v.denominator for v in flat)) if flat else 1
    nums = np.empty(len(flat), dtype=object)
    nums[:] = [v.numerator * (den // v.denominator) for v in flat]
    return nums.reshape(q.shape), den


def _numerators(layer, kind: str) -> tuple[np.ndarray, int]:
    q = layer.weight_q if kind == "weight" else layer.bias_q
    if q is not None:
        return _rational(q)
    return _dyadic(layer.weight_lo if kind == "weight" else layer.bias_lo)


def integer_layer(layer) -> IntegerLayer:
    """The exact integer form of a :class:`verinet.network.Layer` (computed once per layer)."""
    cached = _CACHE.get(layer)
    if cached is not None:
        return cached
    W, dw = _numerators(layer, "weight")
    b, db = _numerators(layer, "bias")
    den = math.lcm(dw, db)
    W = W * (den // dw) if den != dw else W
    b = b * (den // db) if den != db else b
    g = math.gcd(den, *W.reshape(-1).tolist(), *b.tolist())  # smaller numerators: faster products
    if g > 1:
        W, b, den = W // g, b // g, den // g
    out = IntegerLayer(W, b, den)
    _CACHE[layer] = out
    return out


def evaluate_exact(network, x, *, deadline: float | None = None) -> list[Fraction]:
    """Exact output of a piecewise-linear network at a rational point (see :meth:`Network.evaluate_exact`).

    ``deadline`` (a ``time.perf_counter()`` value) is checked before every layer; past it,
    :class:`ExactEvaluationTimeout` is raised.
    """
    xs = np.asarray(x, dtype=object).reshape(-1)
    if len(xs) != network.n_inputs:
        raise ValueError(f"input has {len(xs)} coordinates, network expects {network.n_inputs}")
    a, den = _rational(xs)
    for L in network.layers:
        if deadline is not None and time.perf_counter() > deadline:
            raise ExactEvaluationTimeout("exact evaluation stopped at its deadline")
        I = integer_layer(L)
        # (Wn/D)(an/d) + bn/D = (Wn·an + bn·d)/(D·d): all products and sums of Python ints, exact
        z = I.weight.dot(a) + I.bias * den
        den *= I.den
        act = L.activation.value
        if act == "relu":
            vals = [v if v > 0 else 0 for v in z.tolist()]  # sign of n/d is the sign of n (d > 0)
        elif act == "leaky_relu":
            p, q = L.alpha.numerator, L.alpha.denominator  # n/d > 0 -> n·q/(d·q); else α·n/d = n·p/(d·q)
            vals = [v * q if v > 0 else v * p for v in z.tolist()]
            den *= q
        elif act == "identity":
            vals = z.tolist()
        else:
            raise ValueError(f"no exact rational value for the {act} activation")
        g = math.gcd(den, *vals)
        if g > 1:
            den //= g
            vals = [v // g for v in vals]
        a = np.empty(len(vals), dtype=object)
        a[:] = vals
    return [Fraction(int(v), den) for v in a.tolist()]
