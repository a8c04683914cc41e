"""Exact Lipschitz constants of small piecewise-linear networks, in rational arithmetic (test oracle).

Nothing from ``intervals``/``verinet`` is trusted here: a network is a list of :class:`ExactLayer` (weights
as ``fractions.Fraction``), built directly or read from a ``verinet.network.Network`` through its exact
weights only.

Method (exact region enumeration)
---------------------------------
A ReLU / leaky-ReLU / identity network is continuous and piecewise affine. Restricted to a box ``X`` of
dimension 1 or 2, the box is cut into convex *cells* on which every neuron has a fixed activation, layer by
layer: a cell is cut by the zero set of a neuron's pre-activation (affine on the cell) only when the
pre-activation changes sign on it. In 1-D a cell is an interval, in 2-D a convex polygon (exact
Sutherland–Hodgman clipping of a convex polygon by a half-plane); cells of zero length/area are dropped.
On each remaining cell (non-empty interior) the network is ``f(x) = J x + d`` exactly.

For a continuous piecewise-affine ``f`` on a convex set, the Lipschitz constant for input norm ``p`` is the
maximum over the cells with non-empty interior of the dual norm of the gradient (scalar output ``cᵀf``,
output ``|·|``) or of the induced operator norm ``‖J‖_{p→p}`` (output ``"all"``, the same norm on both
sides): a segment between two points crosses finitely many cells and the bound adds up along it; inside a
cell the bound is attained.

The values are kept exact as ``sqrt(p + sqrt(q))`` with rationals ``p, q`` (:class:`Surd`), which covers
``|g|_1``, ``|g|_∞`` (as ``sqrt(v²)``), ``|g|_2`` and the spectral norm of an ``m×2`` or ``m×1`` Jacobian;
comparisons with floats are exact.

Also here: an exact forward pass, exact finite-difference slopes (lower bounds on the constant for any
dimension), an exact check that a box has one activation pattern (exact interval propagation) with the
gradient there, and random network specifications.

>>> net = [ExactLayer(((F(1),), (F(-1),)), (F(0), F(0))), ExactLayer(((F(2), F(1)),), (F(0),), "identity")]
>>> L = exact_lipschitz(net, [F(-1)], [F(1)], "inf", 0)      # f(x) = 2 relu(x) + relu(-x)
>>> L.to_float(), L.le(2.0), L.ge(2.0), L.ge(2.0000000000000004)
(2.0, True, True, False)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

F = Fraction
ZERO = F(0)

__all__ = [
    "ExactConstant",
    "ExactLayer",
    "Surd",
    "cell_area",
    "cells",
    "clip_to_box",
    "constant_pattern_lipschitz",
    "dot",
    "evaluate",
    "exact_lipschitz",
    "finite_difference_slope",
    "gradients_at",
    "network_from_spec",
    "norm_value",
    "random_spec",
    "spec_from_network",
    "to_fraction",
]


def to_fraction(v) -> Fraction:
    """Exact rational of an int, float (its binary value), Fraction or decimal/``p/q`` string."""
    if isinstance(v, Fraction):
        return v
    if isinstance(v, (bool, np.bool_)):
        raise TypeError("booleans are not numbers here")
    if isinstance(v, (int, np.integer)):
        return F(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"{f} is not a finite number")
        return F(f)
    if isinstance(v, str):
        return F(v.strip())
    raise TypeError(f"cannot convert {type(v).__name__} to a rational")


# --------------------------------------------------------------------------------------------------
# networks
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExactLayer:
    """``a = σ(W x + b)`` with exact rational ``W`` (rows), ``b``; ``act`` relu, leaky_relu or identity."""

    W: tuple[tuple[Fraction, ...], ...]
    b: tuple[Fraction, ...]
    act: str = "relu"
    alpha: Fraction = ZERO

    @property
    def n_in(self) -> int:
        return len(self.W[0])

    @property
    def n_out(self) -> int:
        return len(self.W)

    def slope(self, positive: bool) -> Fraction:
        """Derivative of the activation on the open side ``z > 0`` (positive) or ``z < 0``."""
        if self.act == "identity" or positive:
            return F(1)
        return self.alpha if self.act == "leaky_relu" else F(0)

    def activation(self, z: Fraction) -> Fraction:
        return z if z > 0 else z * self.slope(False)


def spec_from_network(network) -> list[ExactLayer]:
    """The exact layers of a ``verinet.network.Network`` (read through its exact weights only)."""
    out = []
    for L in network.layers:
        act = L.activation.value
        if act not in ("relu", "leaky_relu", "identity"):
            raise ValueError(f"the exact oracle handles piecewise-linear activations only, not {act}")
        W = L.weight_exact()
        b = L.bias_exact()
        out.append(
            ExactLayer(
                tuple(tuple(to_fraction(W[i, j]) for j in range(W.shape[1])) for i in range(W.shape[0])),
                tuple(to_fraction(v) for v in b),
                act,
                to_fraction(L.alpha),
            )
        )
    return out


def network_from_spec(spec: Sequence[ExactLayer]):
    """A ``verinet`` Network with exactly these weights (``Layer.from_exact``)."""
    from verinet.network import Layer, Network

    return Network(
        tuple(
            Layer.from_exact([list(r) for r in L.W], list(L.b), L.act, L.alpha, name=f"layer {k}")
            for k, L in enumerate(spec)
        )
    )


def random_spec(
    rng: np.random.Generator,
    n_in: int,
    widths: Sequence[int],
    n_out: int = 1,
    *,
    act: str = "relu",
    alpha: Fraction = Fraction(1, 10),
    kind: str = "dyadic",
) -> list[ExactLayer]:
    """A random network ``n_in -> widths... -> n_out`` (identity output layer).

    ``kind``: ``"dyadic"`` (multiples of 2^-12, exact floats), ``"decimal"`` (3-digit decimals, mostly not
    floats: exercises interval weights) or ``"float"`` (standard-normal float64 values).
    """

    def num(scale: float) -> Fraction:
        if kind == "dyadic":
            return F(int(rng.integers(-4096, 4097)), 4096) * to_fraction(scale)
        if kind == "decimal":
            return F(int(rng.integers(-1000, 1001)), 1000) * to_fraction(scale)
        if kind == "float":
            return F(float(rng.standard_normal() * scale))
        raise ValueError(kind)

    sizes = [n_in, *widths, n_out]
    spec = []
    for k in range(len(sizes) - 1):
        a, b = sizes[k], sizes[k + 1]
        last = k == len(sizes) - 2
        spec.append(
            ExactLayer(
                tuple(tuple(num(1.5) for _ in range(a)) for _ in range(b)),
                tuple(num(0.5) for _ in range(b)),
                "identity" if last else act,
                alpha if (act == "leaky_relu" and not last) else F(0),
            )
        )
    return spec


def dot(ws: Sequence[Fraction], xs: Sequence[Fraction], start: Fraction = ZERO) -> Fraction:
    """Exact ``start + Σ ws[i]·xs[i]``, summed over a common denominator (one normalisation at the end:
    much faster than adding Fractions one by one when the terms have large, different denominators)."""
    nums, dens = [start.numerator], [start.denominator]
    for w, x in zip(ws, xs):
        if w and x:
            nums.append(w.numerator * x.numerator)
            dens.append(w.denominator * x.denominator)
    D = math.lcm(*dens)
    return F(sum(n * (D // d) for n, d in zip(nums, dens)), D)


def evaluate(spec: Sequence[ExactLayer], x: Sequence) -> list[Fraction]:
    """Exact output at the rational point ``x``."""
    a = [to_fraction(v) for v in x]
    for L in spec:
        z = [dot(row, a, bi) for row, bi in zip(L.W, L.b)]
        a = [L.activation(v) for v in z]
    return a


# --------------------------------------------------------------------------------------------------
# exact cells (1-D intervals, 2-D convex polygons)
# --------------------------------------------------------------------------------------------------


def _affine_at(coef: Sequence[Fraction], const: Fraction, p: Sequence[Fraction]) -> Fraction:
    return sum((c * v for c, v in zip(coef, p)), const)


def _measure(cell: list) -> Fraction:
    """Length (1-D, two endpoints) or twice the signed area (2-D, counter-clockwise polygon)."""
    if len(cell[0]) == 1:
        return cell[1][0] - cell[0][0]
    s = F(0)
    for i in range(len(cell)):
        (x1, y1), (x2, y2) = cell[i], cell[(i + 1) % len(cell)]
        s += x1 * y2 - x2 * y1
    return s


def _clip(cell: list, coef, const, keep_positive: bool) -> list:
    """The part of the convex cell where ``±(coef·x + const) ≥ 0`` (exact Sutherland–Hodgman)."""
    sgn = 1 if keep_positive else -1
    vals = [sgn * _affine_at(coef, const, p) for p in cell]
    if len(cell[0]) == 1:  # an interval [l, r]: keep the sub-interval where the affine value is >= 0
        (l,), (r,) = cell
        vl, vr = vals
        if vl >= 0 and vr >= 0:
            return cell
        if vl < 0 and vr < 0:
            return []
        t = l + (r - l) * vl / (vl - vr)
        return [(l,), (t,)] if vl >= 0 else [(t,), (r,)]
    out = []
    n = len(cell)
    for i in range(n):
        p, q = cell[i], cell[(i + 1) % n]
        vp, vq = vals[i], vals[(i + 1) % n]
        if vp >= 0:
            out.append(p)
        if (vp > 0 and vq < 0) or (vp < 0 and vq > 0):
            t = vp / (vp - vq)
            out.append(tuple(a + t * (b - a) for a, b in zip(p, q)))
    # drop repeated consecutive vertices (from vertices exactly on the line)
    dedup = []
    for v in out:
        if not dedup or dedup[-1] != v:
            dedup.append(v)
    while len(dedup) > 1 and dedup[0] == dedup[-1]:
        dedup.pop()
    return dedup


def _box_cell(lower: Sequence[Fraction], upper: Sequence[Fraction]) -> list:
    if len(lower) == 1:
        return [(lower[0],), (upper[0],)]
    if len(lower) == 2:
        (x0, y0), (x1, y1) = lower, upper
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]  # counter-clockwise
    raise ValueError("exact cell enumeration is implemented for 1-D and 2-D inputs only")


def cells(spec: Sequence[ExactLayer], lower: Sequence, upper: Sequence) -> list[tuple[list, list, list, dict]]:
    """The linear regions of the network on the box with non-empty interior.

    Returns ``(cell, J, d, signs)``: the cell's vertices (1-D: two endpoints; 2-D: a counter-clockwise
    convex polygon), ``f(x) = J x + d`` on it exactly (``J`` is ``m × n`` as a list of rows), and
    ``signs[(layer, neuron)]`` = +1 (pre-activation ≥ 0 on the cell), −1 (≤ 0) or 0 (≡ 0) for every neuron
    of a relu/leaky-relu layer.
    """
    lo = [to_fraction(v) for v in lower]
    hi = [to_fraction(v) for v in upper]
    n = len(lo)
    if any(a >= b for a, b in zip(lo, hi)):
        raise ValueError("the box must have non-empty interior")
    eye = [[F(int(i == j)) for j in range(n)] for i in range(n)]
    # current state per cell: activations a = A x + d (A rows of length n)
    work = [(_box_cell(lo, hi), eye, [F(0)] * n, {})]
    for k, L in enumerate(spec):
        nxt = []
        for cell, A, d, signs in work:
            Z = [[sum((w * A[j][col] for j, w in enumerate(row)), F(0)) for col in range(n)] for row in L.W]
            e = [sum((w * d[j] for j, w in enumerate(row)), bi) for row, bi in zip(L.W, L.b)]
            pieces = [(cell, [], signs)]  # (cell, slopes chosen so far for this layer, signs)
            for i in range(L.n_out):
                new_pieces = []
                for c, slopes, sg in pieces:
                    if L.act == "identity":
                        new_pieces.append((c, slopes + [F(1)], sg))
                        continue
                    vals = [_affine_at(Z[i], e[i], p) for p in c]
                    if all(v == 0 for v in vals):
                        new_pieces.append((c, slopes + [L.slope(True)], {**sg, (k, i): 0}))
                    elif all(v >= 0 for v in vals):
                        new_pieces.append((c, slopes + [L.slope(True)], {**sg, (k, i): 1}))
                    elif all(v <= 0 for v in vals):
                        new_pieces.append((c, slopes + [L.slope(False)], {**sg, (k, i): -1}))
                    else:
                        for pos in (True, False):
                            sub = _clip(c, Z[i], e[i], pos)
                            if len(sub) >= len(c[0]) + 1 and _measure(sub) > 0:
                                new_pieces.append((sub, slopes + [L.slope(pos)], {**sg, (k, i): 1 if pos else -1}))
                pieces = new_pieces
            for c, slopes, sg in pieces:
                nxt.append((c, [[s * z for z in row] for s, row in zip(slopes, Z)], [s * v for s, v in zip(slopes, e)],
                            sg))
        work = nxt
    return work


def minima_on_signs(spec: Sequence[ExactLayer], lower: Sequence, upper: Sequence, want: dict) -> list[Fraction] | None:
    """Exact minima of the outputs over the part of the box where each neuron ``(layer, j)`` of ``want`` has
    the sign ``want[(layer, j)]`` (``z ≥ 0`` for +1, ``z ≤ 0`` for −1); None when the part has no interior."""
    best = None
    for cell, J, d, signs in cells(spec, lower, upper):
        if any(signs.get(key, 0) not in (0, s) for key, s in want.items()):
            continue
        for p in cell:
            y = [sum((a * b for a, b in zip(row, p)), di) for row, di in zip(J, d)]
            best = y if best is None else [min(a, b) for a, b in zip(best, y)]
    return best


def clip_to_box(cell: list, lower: Sequence, upper: Sequence) -> list:
    """The part of a cell inside the box ``[lower, upper]`` (empty list when it has no interior)."""
    n = len(cell[0])
    for i in range(n):
        unit = [F(int(j == i)) for j in range(n)]
        neg = [-u for u in unit]
        for coef, const in ((unit, -to_fraction(lower[i])), (neg, to_fraction(upper[i]))):
            cell = _clip(cell, coef, const, True)
            if len(cell) < n + 1 or _measure(cell) <= 0:
                return []
    return cell


def cell_area(cell: list) -> Fraction:
    """Length (1-D) or area (2-D) of a cell."""
    m = _measure(cell)
    return m if len(cell[0]) == 1 else m / 2


# --------------------------------------------------------------------------------------------------
# exact norms
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Surd:
    """The non-negative real ``sqrt(p + sqrt(q))`` (``q ≥ 0``, ``p + sqrt(q) ≥ 0``), compared exactly."""

    p: Fraction
    q: Fraction = ZERO

    @classmethod
    def of(cls, v: Fraction) -> Surd:
        """The rational ``v ≥ 0``."""
        if v < 0:
            raise ValueError("negative value")
        return cls(v * v)

    def le(self, x) -> bool:
        """``self ≤ x`` exactly (``x`` a float or rational)."""
        x = to_fraction(x)
        if x < 0:
            return False
        t = x * x - self.p  # need sqrt(q) <= t
        return t >= 0 and self.q <= t * t

    def ge(self, x) -> bool:
        """``self ≥ x`` exactly."""
        x = to_fraction(x)
        if x <= 0:
            return True
        t = x * x - self.p  # need sqrt(q) >= t
        return t <= 0 or self.q >= t * t

    def to_float(self) -> float:
        """Approximate value (for messages and tolerances, never for soundness checks)."""
        import mpmath

        with mpmath.workprec(200):
            return float(mpmath.sqrt(mpmath.mpf(self.p.numerator) / self.p.denominator
                                     + mpmath.sqrt(mpmath.mpf(self.q.numerator) / self.q.denominator)))


@dataclass(frozen=True)
class ExactConstant:
    """``max`` of finitely many :class:`Surd` values: the exact constant, compared exactly with floats."""

    values: tuple[Surd, ...]

    def le(self, x) -> bool:
        """``L ≤ x``."""
        return all(v.le(x) for v in self.values)

    def ge(self, x) -> bool:
        """``L ≥ x``."""
        return any(v.ge(x) for v in self.values) if self.values else to_fraction(x) <= 0

    def to_float(self) -> float:
        return max((v.to_float() for v in self.values), default=0.0)

    def __repr__(self) -> str:
        return f"ExactConstant(≈{self.to_float()!r}, {len(self.values)} candidates)"


def _canon_norm(norm) -> str:
    return {"inf": "inf", "linf": "inf", "2": "2", "l2": "2", "1": "1", "l1": "1"}[str(norm).lower()]


def _coefficients(output, m: int) -> list[Fraction] | None:
    if isinstance(output, str) and output == "all":
        return None
    if isinstance(output, (int, np.integer)):
        return [F(int(i == output)) for i in range(m)]
    c = [to_fraction(v) for v in output]
    if len(c) != m:
        raise ValueError("coefficient vector has the wrong length")
    return c


def norm_value(J: list[list[Fraction]], norm, output) -> Surd:
    """The exact Lipschitz value of one affine piece with Jacobian ``J`` (``m × n``).

    Scalar output ``cᵀf``: dual norm of ``g = cᵀJ``. ``output="all"``: the operator norm ``‖J‖_{p→p}``
    (spectral norm for ``p = 2``, exact for ``n ≤ 2`` through the largest eigenvalue of ``JᵀJ``).
    """
    p = _canon_norm(norm)
    m, n = len(J), len(J[0])
    c = _coefficients(output, m)
    if c is not None:
        g = [sum((c[i] * J[i][j] for i in range(m)), F(0)) for j in range(n)]
        if p == "inf":
            return Surd.of(sum((abs(v) for v in g), F(0)))
        if p == "1":
            return Surd.of(max(abs(v) for v in g))
        return Surd(sum((v * v for v in g), F(0)))
    if p == "inf":
        return Surd.of(max(sum((abs(v) for v in row), F(0)) for row in J))
    if p == "1":
        return Surd.of(max(sum((abs(J[i][j]) for i in range(m)), F(0)) for j in range(n)))
    G = [[sum((J[k][i] * J[k][j] for k in range(m)), F(0)) for j in range(n)] for i in range(n)]  # JᵀJ
    if n == 1:
        return Surd(G[0][0])
    if n == 2:
        a, b, d = G[0][0], G[0][1], G[1][1]
        h = (a - d) / 2
        return Surd((a + d) / 2, h * h + b * b)
    raise ValueError("exact spectral norm only for 1 or 2 inputs")


def exact_lipschitz(spec: Sequence[ExactLayer], lower: Sequence, upper: Sequence, norm="inf", output=0) -> ExactConstant:
    """The exact Lipschitz constant of the network on the box ``[lower, upper]`` (1 or 2 inputs).

    ``output``: an index, coefficients ``c`` of ``cᵀf`` (output ``|·|``), or ``"all"`` (same norm on the
    output; the induced operator norm).
    """
    vals = {norm_value(J, norm, output) for _, J, _, _ in cells(spec, lower, upper)}
    return ExactConstant(tuple(sorted(vals, key=lambda s: (s.p, s.q))))


# --------------------------------------------------------------------------------------------------
# any dimension: one activation pattern, finite differences
# --------------------------------------------------------------------------------------------------


def constant_pattern_lipschitz(spec: Sequence[ExactLayer], lower: Sequence, upper: Sequence, norm="inf", output=0):
    """Exact constant when exact interval propagation proves one activation pattern on the box, else None.

    Every neuron's pre-activation is enclosed exactly-rationally (interval arithmetic in Fractions, which
    over-approximates the range); if none of the enclosures contains 0 in its interior or touches it, the
    network is one affine map on the box and its gradient is exact. Works in any dimension (the spectral
    norm only for ``n ≤ 2``).
    """
    lo = [to_fraction(v) for v in lower]
    hi = [to_fraction(v) for v in upper]
    n = len(lo)
    A = None  # the identity (input layer)
    for L in spec:
        nlo, nhi, rows = [], [], []
        for row, bi in zip(L.W, L.b):
            zlo = dot(row, [a if w >= 0 else b for w, a, b in zip(row, lo, hi)], bi)
            zhi = dot(row, [b if w >= 0 else a for w, a, b in zip(row, lo, hi)], bi)
            if L.act == "identity":
                s = F(1)
            elif zlo > 0:
                s = L.slope(True)
            elif zhi < 0:
                s = L.slope(False)
            else:
                return None
            nlo.append(s * zlo if s >= 0 else s * zhi)
            nhi.append(s * zhi if s >= 0 else s * zlo)
            if A is None:
                rows.append([s * w for w in row])
            else:
                rows.append([s * dot(row, [A[j][col] for j in range(len(row))]) for col in range(n)])
        lo, hi, A = nlo, nhi, rows
    return ExactConstant((norm_value(A, norm, output),))


def finite_difference_slope(spec: Sequence[ExactLayer], x: Sequence, y: Sequence, norm="inf", output=0) -> Surd:
    """The exact slope ``‖f(x) − f(y)‖ / ‖x − y‖_p`` (a lower bound of the Lipschitz constant on any convex
    set holding ``x`` and ``y``); output ``|cᵀ·|`` or, for ``"all"``, the same norm ``p``."""
    p = _canon_norm(norm)
    xs = [to_fraction(v) for v in x]
    ys = [to_fraction(v) for v in y]
    fx, fy = evaluate(spec, xs), evaluate(spec, ys)
    c = _coefficients(output, len(fx))
    dy = [a - b for a, b in zip(fx, fy)]
    if c is not None:
        dy = [sum((ci * v for ci, v in zip(c, dy)), F(0))]
    dx = [a - b for a, b in zip(xs, ys)]

    def sq_norm(v):  # the p-norm squared, exact
        if p == "inf":
            return max(abs(t) for t in v) ** 2
        if p == "1":
            return sum((abs(t) for t in v), F(0)) ** 2
        return sum((t * t for t in v), F(0))

    den = sq_norm(dx)
    if den == 0:
        raise ValueError("x == y")
    return Surd(sq_norm(dy) / den)


def gradients_at(spec: Sequence[ExactLayer], x: Sequence, output=0, limit: int = 256) -> list[list[list[Fraction]]]:
    """The exact Jacobians ``J`` (``m × n``) of the chain rule at the point ``x``, for every choice of the
    one-sided slope at the neurons whose pre-activation is exactly 0 there (one Jacobian when there is
    none: then ``f`` is affine near ``x`` and ``J`` is its derivative). Every rigorous Clarke-Jacobian
    enclosure at ``x`` contains all of them (interval chain rule with ``σ'(0) = [α, 1]``)."""
    xs = [to_fraction(v) for v in x]
    n = len(xs)
    states = [([v for v in xs], [[F(int(i == j)) for j in range(n)] for i in range(n)])]
    for L in spec:
        nxt = []
        for a, A in states:
            z = [sum((w * v for w, v in zip(row, a)), bi) for row, bi in zip(L.W, L.b)]
            dz = [[sum((w * A[j][col] for j, w in enumerate(row)), F(0)) for col in range(n)] for row in L.W]
            choices = [[L.slope(True)] if (L.act == "identity" or v > 0) else
                       [L.slope(False)] if v < 0 else sorted({L.slope(True), L.slope(False)}) for v in z]
            combos = [[]]
            for ch in choices:
                combos = [c + [s] for c in combos for s in ch]
                if len(combos) > limit:
                    raise ValueError("too many ties at this point")
            out_a = [L.activation(v) for v in z]
            for c in combos:
                nxt.append((out_a, [[s * t for t in row] for s, row in zip(c, dz)]))
        states = nxt
    return [A for _, A in states]
