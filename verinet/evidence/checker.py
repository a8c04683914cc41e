"""The independent certificate checker: re-verifies a certificate's evidence in exact rational arithmetic.

Nothing here uses verinet's bound propagation, gradient, norm or interval code (``intervals``,
``verinet.bounds.propagation``, ``verinet.bounds.gradient``, ``verinet.bounds.norms``, ``verinet.bounds.backends``). The only shared
pieces are the model reader (``verinet.io.load_network``, for the exact weights as written in the
file), the parser of exact number literals (``verinet.exactfmt.parse_exact``) and the error types. Everything below is a small re-implementation with ``fractions.Fraction``:

* **Interval propagation** (Moore, Kearfott & Cloud, *Introduction to Interval Analysis*, Thm 5.1): for a
  point weight ``w`` and an interval ``[l, u]``, ``w·[l, u] = [w·l, w·u]`` if ``w ≥ 0`` else ``[w·u, w·l]``
  (the extremes of a linear function are at the endpoints); sums of intervals add endpoints; ReLU, leaky
  ReLU (slope ``α ∈ [0, 1]``) and identity are monotone, so they map endpoints to endpoints. Exact: no
  rounding anywhere. Sigmoid and tanh have irrational values and are rejected as unsupported.
* **Clarke-gradient enclosure** (Zhou, Shaikh, Li & Farjudian, MSCS 2023, Sections 3–4; Clarke 1983,
  Thm 2.6.6): reverse mode ``gᵀ ← (gᵀ ⊙ D_k) W_k`` from the output back, with ``D_k`` the derivative
  enclosure of the activation on its pre-activation interval: ReLU ``{1}`` if ``lo > 0``, ``{0}`` if
  ``hi < 0``, ``[0, 1]`` otherwise (an interval that contains or only touches 0); leaky ReLU ``{1}``,
  ``{α}`` or ``[α, 1]``; identity ``{1}``. For ``output="all"`` the Jacobian is enclosed both in reverse
  and in forward mode (``P ← D_k W_k P``) and the two enclosures are intersected (each contains the
  Clarke Jacobian, so their intersection does).
* **Norms** (dual ``q`` of the input norm ``p``; Zhou et al., Thm 5.3, Lebourg's mean value theorem):
  ``L(f, B) ≤ ‖mag G‖_q``: l∞ input → l1 of the gradient magnitudes, l2 → compare squares exactly
  (``U² ≥ Σ mag²``), l1 → max. Jacobians (``output="all"``): max row sum (l∞), max column sum (l1), and
  for l2 the Frobenius norm of the magnitudes (``‖J‖₂ ≤ ‖|J|‖_F``) or, when that is too coarse, the
  Collatz–Wielandt bound ``‖|J|‖₂² = ρ(MᵀM) ≤ max_i (MᵀM v)_i / v_i`` for a positive rational ``v``
  (any ``v > 0`` is valid; a float power iteration only *suggests* it).
* **Coverage**: the leaves must cover the recorded box — checked as a split tree: recursively find a
  coordinate ``d`` and value ``t`` strictly inside the current box such that every leaf lies on one side of
  ``x_d = t``, or a neuron whose sign every remaining leaf fixes (both signs present: a leaf may be the
  part of its box where some ReLUs are active or inactive), and recurse; a single leaf must equal its
  piece. Success proves the leaves cover the box, in ``O(N log² N · n)`` for balanced trees
  (branch-and-bound partitions are such trees, ``bisect-all`` included). The recorded box must contain
  the region's bounding box. A leaf with fixed signs is bounded by the enclosure over its part: each
  fixed pre-activation interval is intersected with its sign's closed half-line (exact), and the
  neuron's slope is fixed (see ``_Quantity.enclosure``); a part proved empty bounds nothing.
* **Null parts**: a leaf may instead carry multipliers ``λ_i > 0`` for some of its fixed neurons proving that
  its part has no interior (zero volume: it bounds nothing, the constant being an essential supremum).
  Checked exactly: every kinked neuron below the rows used is fixed or has a sign proved by the part's
  exact intervals, so each row ``ℓ_i = −s_i z_i`` is affine on the part; each row has a non-zero
  coefficient on a coordinate the region leaves free (or a positive constant); and
  ``min_{x ∈ box} Σ λ_i ℓ_i(x) ≥ 0``. An interior point would make every row negative (see
  :mod:`verinet.analyses.null_parts` for the two-line proof), so the part is a null set.
* **Lower bound**: the witness must lie in the region (exactly), and the smallest norm over the exact
  gradient enclosure at the point must be ≥ the claimed lower bound.
* **Counterexamples**: the point must lie in the region and violate the property exactly.
* **Linear bounds** (leaves marked ``evidence.preactivation = "linear"``, and ``vnnlib`` leaves that exact
  intervals do not close): the pre-activation intervals are also intersected with the checker's own
  linear back-substitution in ball arithmetic (:mod:`verinet.evidence.checker_linear`, python-flint ``arb``,
  outward-rounded: not exact, but independent of the fast path). ``vnnlib`` certificates are checked by
  :mod:`verinet.evidence.checker_vnnlib`.
* **Back-substituted gradient bounds** (``evidence.gradient = "backsub"``): each leaf's bound is first
  re-derived by :mod:`verinet.evidence.checker_backsub` (its own CROWN bounds of the part, the backward network's
  product relaxation, float64 with every rounding bounded; the root bounds of ``evidence.root`` confirmed
  first, an ancestor's part from ``evidence.sources`` where the leaf keeps its bound); a leaf it does not
  confirm is re-verified exactly as above.

The result is the *first* reason a check fails; a malformed document raises
:class:`~verinet.errors.CertificateError`.
"""

from __future__ import annotations

import decimal
import hashlib
import math
import os
import random
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from verinet.errors import CertificateError, ModelFormatError, NumberFormatError
from verinet.exactfmt import parse_exact

__all__ = ["CheckResult", "check_certificate"]

_ZERO = Fraction(0)
#: why a Lipschitz search stopped (``verinet.analyses.lipschitz.Status``); every one leaves [lower, upper] sound
_LIPSCHITZ_STATUSES = ("converged", "time_limit", "box_limit", "resolution")
_ONE = Fraction(1)


@dataclass(frozen=True)
class CheckResult:
    """Outcome of :func:`check_certificate`.

    ``valid`` is True only when every check passed; ``reason`` is ``"valid"`` (or says how many leaves
    were sampled) or the first failure. ``sampled`` is True when only some leaves were re-verified.

    >>> str(CheckResult(False, "model SHA-256 mismatch"))
    'invalid: model SHA-256 mismatch'
    >>> str(CheckResult(True, "valid (sampled 100 of 12000 leaves)", 100, 12000, True))
    'valid (sampled 100 of 12000 leaves)'
    """

    valid: bool
    reason: str
    checked_leaves: int = 0
    total_leaves: int = 0
    sampled: bool = False

    def __str__(self) -> str:
        return self.reason if self.valid else f"invalid: {self.reason}"

    def to_json(self) -> dict:
        return {
            "valid": self.valid,
            "reason": self.reason,
            "checked_leaves": self.checked_leaves,
            "total_leaves": self.total_leaves,
            "sampled": self.sampled,
        }


class _Invalid(Exception):
    """A well-formed certificate whose claim is not confirmed (internal; becomes a CheckResult)."""


# ============================================================================================ parsing
def _get(doc: dict, path: str, types=None):
    cur = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise CertificateError(f"malformed certificate: missing '{path}'")
        cur = cur[part]
    if types is not None and not isinstance(cur, types):
        raise CertificateError(f"malformed certificate: '{path}' has the wrong type ({type(cur).__name__})")
    return cur


def _q(value, where: str) -> Fraction:
    """An exact number: a decimal/``p/q`` string or a JSON integer (never a JSON float: not exact text)."""
    if isinstance(value, bool):
        raise CertificateError(f"malformed certificate: {where} is not a number")
    if isinstance(value, int):
        return Fraction(value)
    if not isinstance(value, str):
        raise CertificateError(f"malformed certificate: {where} must be an exact decimal string, got {value!r}")
    try:
        return parse_exact(value, "", float_range=False)
    except NumberFormatError as exc:
        raise CertificateError(f"malformed certificate: {where} is not an exact number ({exc})") from None


def _qvec(value, n: int | None, where: str) -> list[Fraction]:
    if not isinstance(value, list):
        raise CertificateError(f"malformed certificate: {where} must be a list")
    if n is not None and len(value) != n:
        raise CertificateError(f"malformed certificate: {where} has {len(value)} entries, expected {n}")
    return [_q(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _show(q: Fraction, sqrt: bool = False) -> str:
    """About 17 significant digits of ``q`` (or of ``√q``) for messages."""
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        d = decimal.Decimal(q.numerator) / decimal.Decimal(q.denominator)
        if sqrt:
            d = d.sqrt()
        return format(d, ".17g")


@dataclass(frozen=True)
class _Region:
    """The query region in exact rationals (box, or l2/l1 ball with its bounding box)."""

    kind: str
    lower: tuple[Fraction, ...]
    upper: tuple[Fraction, ...]
    center: tuple[Fraction, ...] | None
    radius: Fraction | None
    norm: str

    @classmethod
    def parse(cls, d, where: str = "query.region") -> _Region:
        if not isinstance(d, dict):
            raise CertificateError(f"malformed certificate: {where} must be an object")
        kind = d.get("kind")
        if kind not in ("box", "ball"):
            raise CertificateError(f"malformed certificate: {where}.kind must be 'box' or 'ball', got {kind!r}")
        lo = _qvec(d.get("lower"), None, f"{where}.lower")
        hi = _qvec(d.get("upper"), len(lo), f"{where}.upper")
        if not lo or any(a > b for a, b in zip(lo, hi)):
            raise CertificateError(f"malformed certificate: {where} is empty or inverted")
        center = radius = None
        norm = str(d.get("norm", "inf"))
        if "center" in d or kind == "ball":
            center = _qvec(d.get("center"), len(lo), f"{where}.center")
            radius = _q(d.get("radius"), f"{where}.radius")
            if radius <= 0 or norm not in ("inf", "2", "1") or (kind == "ball") == (norm == "inf"):
                raise CertificateError(f"malformed certificate: {where} has an invalid radius or norm")
            # the bounding box must be exactly centre ± radius (else the stated region is ambiguous)
            if lo != [c - radius for c in center] or hi != [c + radius for c in center]:
                raise CertificateError(f"malformed certificate: {where} lower/upper are not centre ± radius")
        return cls(kind, tuple(lo), tuple(hi), None if center is None else tuple(center), radius, norm)

    def misses(self, lo: list[Fraction], hi: list[Fraction]) -> bool:
        """True if the box ``[lo, hi]`` does not meet the (closed) region."""
        if any(a > u or b < v for a, b, v, u in zip(lo, hi, self.lower, self.upper)):
            return True
        if self.kind == "box":
            return False
        d = [max(a - c, c - b, _ZERO) for a, b, c in zip(lo, hi, self.center)]  # distance per coordinate
        if self.norm == "1":
            return sum(d, _ZERO) > self.radius
        return sum((v * v for v in d), _ZERO) > self.radius * self.radius

    def contains(self, x: list[Fraction]) -> bool:
        if len(x) != len(self.lower) or any(v < a or v > b for v, a, b in zip(x, self.lower, self.upper)):
            return False
        if self.kind == "box":
            return True
        d = [abs(v - c) for v, c in zip(x, self.center)]
        if self.norm == "1":
            return sum(d, _ZERO) <= self.radius
        return sum((v * v for v in d), _ZERO) <= self.radius * self.radius


# ============================================================================================ exact numbers
@dataclass(frozen=True)
class _IVec:
    """An interval vector over a common denominator: entry ``i`` is ``[lo[i]/den, hi[i]/den]``, ``den > 0``.

    Integer numerators over one denominator are exact rationals like ``Fraction`` but avoid a gcd per
    operation (``benchmarks/bench_exact_products.py`` times both); comparisons with 0 are comparisons of
    numerators.
    """

    lo: list[int]
    hi: list[int]
    den: int

    @classmethod
    def box(cls, lo: list[Fraction], hi: list[Fraction]) -> _IVec:
        den = math.lcm(*(v.denominator for v in lo), *(v.denominator for v in hi))
        return cls([v.numerator * (den // v.denominator) for v in lo],
                   [v.numerator * (den // v.denominator) for v in hi], den)

    def reduced(self) -> _IVec:
        g = math.gcd(self.den, *self.lo, *self.hi)
        if g <= 1:
            return self
        return _IVec([v // g for v in self.lo], [v // g for v in self.hi], self.den // g)

    def fractions(self) -> list[tuple[Fraction, Fraction]]:
        return [(Fraction(a, self.den), Fraction(b, self.den)) for a, b in zip(self.lo, self.hi)]


def _scaled(values: list[Fraction]) -> tuple[list[int], int]:
    """Integer numerators over the least common denominator."""
    den = math.lcm(*(v.denominator for v in values))
    return [v.numerator * (den // v.denominator) for v in values], den


# ============================================================================================ the network
@dataclass(frozen=True)
class _ExactLayer:
    """``σ(W x + b)`` with ``W = Wn/den`` and ``b = bn/den`` exactly; leaky slope ``α = a_num/a_den``."""

    Wn: tuple[tuple[int, ...], ...]  # (n_out, n_in)
    bn: tuple[int, ...]
    den: int
    act: str  # "relu", "leaky_relu" or "identity"
    a_num: int
    a_den: int


def _exact_layers(network) -> list[_ExactLayer]:
    """Exact weights of a loaded network; raises _Invalid for activations the exact checker cannot do."""
    layers = []
    for k, L in enumerate(network.layers):
        act = L.activation.value
        if act not in ("relu", "leaky_relu", "identity"):
            raise _Invalid(
                f"layer {k} uses the {act} activation: not supported by the exact checker "
                "(only ReLU, leaky ReLU and identity have exact rational semantics)"
            )
        W = [[Fraction(v) for v in row] for row in L.weight_exact().tolist()]
        b = [Fraction(v) for v in L.bias_exact().tolist()]
        nums, den = _scaled([v for row in W for v in row] + b)
        n_in = len(W[0])
        Wn = tuple(tuple(nums[i * n_in:(i + 1) * n_in]) for i in range(len(W)))
        alpha = Fraction(L.alpha) if act == "leaky_relu" else _ZERO
        layers.append(_ExactLayer(Wn, tuple(nums[len(W) * n_in:]), den, act, alpha.numerator, alpha.denominator))
    return layers


# ============================================================================================ exact kernels
def _affine(L: _ExactLayer, x: _IVec, bias: bool = True) -> _IVec:
    """Exact range of ``W x + b`` (or ``W x``) over the box ``x``.

    ``(Wn/D)(xn/d) + bn/D = (Wn·xn + bn·d)/(D·d)``; for each weight the extremes of ``w·x_j`` are at the
    endpoints: ``w > 0`` increasing (low end at ``lo``), ``w < 0`` decreasing (low end at ``hi``).
    """
    zl, zh = [], []
    for row, bi in zip(L.Wn, L.bn):
        s_lo = s_hi = bi * x.den if bias else 0
        for w, lo, hi in zip(row, x.lo, x.hi):
            if w > 0:
                s_lo += w * lo
                s_hi += w * hi
            elif w < 0:
                s_lo += w * hi
                s_hi += w * lo
        zl.append(s_lo)
        zh.append(s_hi)
    return _IVec(zl, zh, L.den * x.den).reduced()


def _activate(L: _ExactLayer, z: _IVec) -> _IVec:
    """Exact image of the intervals under a monotone activation (endpoints to endpoints)."""
    if L.act == "identity":
        return z
    if L.act == "relu":  # max(z, 0), non-decreasing
        return _IVec([max(v, 0) for v in z.lo], [max(v, 0) for v in z.hi], z.den)
    p, q = L.a_num, L.a_den  # leaky ReLU z ↦ z (z > 0), α z (z ≤ 0), non-decreasing as 0 ≤ α ≤ 1
    return _IVec([v * q if v > 0 else v * p for v in z.lo], [v * q if v > 0 else v * p for v in z.hi], z.den * q)


def _propagate(layers: list[_ExactLayer], x: _IVec, fixed: dict | None = None):
    """Pre-activation intervals of every layer and the output interval over the box ``x``, or over the
    part of it where the neurons of ``fixed`` (``{(layer, neuron): ±1}``) have their signs: each fixed
    pre-activation is intersected with ``[0, ∞)`` (+1) or ``(−∞, 0]`` (−1) before it is used. Returns
    None when an intersection is empty (the part has no point)."""
    pre = []
    for k, L in enumerate(layers):
        z = _affine(L, x)
        if fixed:
            lo, hi = list(z.lo), list(z.hi)
            for (kk, j), sign in fixed.items():
                if kk != k:
                    continue
                if sign > 0:
                    lo[j] = max(lo[j], 0)
                else:
                    hi[j] = min(hi[j], 0)
                if lo[j] > hi[j]:
                    return None
            z = _IVec(lo, hi, z.den)
        pre.append(z)
        x = _activate(L, z)
    return pre, x


def _chain(L: _ExactLayer, g: _IVec, z: _IVec) -> _IVec:
    """``g ⊙ σ'(z)``: interval products with the Clarke-derivative enclosure of the activation.

    ReLU: ``{1}`` if ``lo > 0``, ``{0}`` if ``hi < 0``, else ``[0, 1]`` (contains or touches 0), and
    ``[a, b]·[0, 1] = [min(a, 0), max(b, 0)]``. Leaky ReLU: ``{1}``, ``{α}`` or ``[α, 1]``, the product's
    ends among the four endpoint products. Identity: ``{1}``.
    """
    if L.act == "identity":
        return g
    if L.act == "relu":
        lo, hi = [], []
        for a, b, zl, zh in zip(g.lo, g.hi, z.lo, z.hi):
            if zl > 0:  # strictly positive: slope 1
                lo.append(a)
                hi.append(b)
            elif zh < 0:  # strictly negative: slope 0
                lo.append(0)
                hi.append(0)
            else:  # slope anywhere in [0, 1]
                lo.append(min(a, 0))
                hi.append(max(b, 0))
        return _IVec(lo, hi, g.den)
    p, q = L.a_num, L.a_den  # slopes α = p/q and 1 = q/q, over the denominator g.den·q
    lo, hi = [], []
    for a, b, zl, zh in zip(g.lo, g.hi, z.lo, z.hi):
        if zl > 0:
            ends = (a * q, b * q)
        elif zh < 0:
            ends = (a * p, b * p)
        else:
            ends = (a * p, a * q, b * p, b * q)
        lo.append(min(ends))
        hi.append(max(ends))
    return _IVec(lo, hi, g.den * q)


def _linear_t(L: _ExactLayer, g: _IVec) -> _IVec:
    """Exact ``gᵀ W`` (interval row times point matrix): ``Σ_i g_i W_ij``, over ``g.den·D``."""
    n_in = len(L.Wn[0])
    lo = [0] * n_in
    hi = [0] * n_in
    for row, a, b in zip(L.Wn, g.lo, g.hi):
        if a == 0 and b == 0:
            continue
        for j, w in enumerate(row):
            if w > 0:
                lo[j] += a * w
                hi[j] += b * w
            elif w < 0:
                lo[j] += b * w
                hi[j] += a * w
    return _IVec(lo, hi, g.den * L.den).reduced()


def _reverse(layers: list[_ExactLayer], pre: list[_IVec], c: _IVec) -> _IVec:
    """Enclosure of ``∇(cᵀf)`` over the box whose pre-activations are ``pre`` (reverse mode)."""
    g = c
    for L, z in zip(reversed(layers), reversed(pre)):
        g = _linear_t(L, _chain(L, g, z))
    return g


def _jacobian(layers: list[_ExactLayer], pre: list[_IVec], n: int) -> list[_IVec]:
    """Rows ``r`` enclose ``∂f_r/∂x``: the intersection of reverse- and forward-mode enclosures (both
    contain the Clarke Jacobian), all rows over one denominator."""
    m = len(layers[-1].bn)
    cols = []  # forward mode: column i = D_L W_L … D_1 W_1 e_i
    for i in range(n):
        e = [1 if j == i else 0 for j in range(n)]
        p = _IVec(e, list(e), 1)
        for L, z in zip(layers, pre):
            p = _chain(L, _affine(L, p, bias=False), z)
        cols.append(p)
    rows = [_reverse(layers, pre, _IVec([int(k == r) for k in range(m)], [int(k == r) for k in range(m)], 1))
            for r in range(m)]
    den = math.lcm(*(c.den for c in cols), *(r.den for r in rows))
    out = []
    for r, row in enumerate(rows):
        s = den // row.den
        lo = [max(row.lo[i] * s, cols[i].lo[r] * (den // cols[i].den)) for i in range(n)]
        hi = [min(row.hi[i] * s, cols[i].hi[r] * (den // cols[i].den)) for i in range(n)]
        out.append(_IVec(lo, hi, den))
    return out


def _meet(z: _IVec, lo: list[Fraction], hi: list[Fraction]) -> _IVec | None:
    """Intersection of two enclosures of the same values (None if empty: then no value exists)."""
    a = [max(Fraction(v, z.den), w) for v, w in zip(z.lo, lo)]
    b = [min(Fraction(v, z.den), w) for v, w in zip(z.hi, hi)]
    if any(x > y for x, y in zip(a, b)):
        return None
    return _IVec.box(a, b)


def _mag(a: int, b: int) -> int:
    return max(abs(a), abs(b))


def _mig(a: int, b: int) -> int:
    return 0 if a <= 0 <= b else min(abs(a), abs(b))


# ============================================================================================ norms
def _le(num: int, den: int, B: Fraction) -> bool:
    """``num/den ≤ B`` exactly (``den > 0``)."""
    return num * B.denominator <= B.numerator * den


class _Quantity:
    """The Lipschitz quantity of a certificate: gradient of ``cᵀf`` or the Jacobian, and a norm."""

    def __init__(self, layers: list[_ExactLayer], norm: str, output: dict, n: int) -> None:
        self.layers, self.norm, self.n = layers, norm, n
        m = len(layers[-1].bn)
        kind = output.get("kind")
        self.c: _IVec | None
        if kind == "all":
            self.c = None
        elif kind == "index":
            k = output.get("index")
            if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < m:
                raise CertificateError(f"malformed certificate: output index {k!r} out of range (0..{m - 1})")
            e = [_ONE if j == k else _ZERO for j in range(m)]
            self.c = _IVec.box(e, e)
        elif kind == "combination":
            c = _qvec(output.get("coefficients"), m, "query.output.coefficients")
            self.c = _IVec.box(c, c)
        else:
            raise CertificateError(f"malformed certificate: unknown output kind {kind!r}")

    def enclosure(self, lo: list[Fraction], hi: list[Fraction], fixed: dict | None = None, linear=None):
        """Gradient enclosure (one _IVec) or Jacobian enclosure (list of row _IVecs) over the box, or over
        the part of it where the neurons of ``fixed`` have the given signs.

        Why fixing is sound: on the part ``P`` where a neuron has sign +1 (−1), ``f`` equals ``f_P``, the
        network with that neuron's activation replaced by the identity (by ``z ↦ α z``). At almost every
        ``x ∈ P`` (density points where both are differentiable) ``∇f(x) = ∇f_P(x) ∈ ∂f_P(x)``, and the
        interval chain rule encloses ``∂f_P(x)``: the fixed neuron's slope is the constant 1 (α), every other
        pre-activation at ``x`` is the same for ``f`` and ``f_P`` and lies in the box's intervals. The
        Lipschitz constant on a convex set is the essential supremum of ``‖∇f‖`` (Rademacher), so leaves that
        cover the box bound it. Implemented by replacing the fixed neuron's pre-activation interval by the
        point ±1 for the chain rule only.

        The pre-activation intervals are those of the part (see :func:`_propagate`): each fixed neuron's
        interval is intersected with its sign's half-line before later layers use it.

        Returns None when the part is empty: an intersection with a half-line is empty (the exact
        intervals prove the opposite strict sign), so the leaf bounds nothing.

        ``linear`` (a :class:`verinet.evidence.checker_linear.ArbNetwork`): the pre-activation intervals are also
        intersected with the checker's own linear bounds of the part (both enclose the same values).
        """
        got = _propagate(self.layers, _IVec.box(lo, hi), fixed)
        if got is None:
            return None
        pre = got[0]
        if linear is not None:
            extra = linear.preactivations(lo, hi, fixed or {})
            if extra is None:
                return None
            pre = [_meet(z, elo, ehi) for z, (elo, ehi) in zip(pre, extra)]
            if any(z is None for z in pre):
                return None
        for (k, j), sign in (fixed or {}).items():
            z = pre[k]
            zl, zh = list(z.lo), list(z.hi)
            zl[j] = zh[j] = sign * z.den
            pre[k] = _IVec(zl, zh, z.den)
        if self.c is not None:
            return _reverse(self.layers, pre, self.c)
        return _jacobian(self.layers, pre, self.n)

    def _reduce(self, G, part) -> tuple[int, int, bool]:
        """``(value numerator, value denominator, squared?)`` of the dual norm of the magnitudes (``part =
        _mag``, upper) or mignitudes (``part = _mig``, lower); for ``all`` with l2 the Frobenius norm."""
        p = self.norm
        if self.c is not None:
            v = [part(a, b) for a, b in zip(G.lo, G.hi)]
            if p == "inf":  # l∞ input: l1 norm of the gradient
                return sum(v), G.den, False
            if p == "1":  # l1 input: l∞ norm of the gradient
                return max(v), G.den, False
            return sum(x * x for x in v), G.den * G.den, True  # l2: the square, compared exactly
        den = G[0].den
        M = [[part(a, b) for a, b in zip(row.lo, row.hi)] for row in G]
        if p == "inf":  # induced l∞: max row sum
            return max(sum(row) for row in M), den, False
        if p == "1":  # induced l1: max column sum
            return max(sum(row[i] for row in M) for i in range(self.n)), den, False
        return sum(x * x for row in M for x in row), den * den, True  # Frobenius² (≥ ‖·‖₂²)

    # ---- upper bounds
    def upper_ok(self, G, B: Fraction) -> tuple[bool, str, bool]:
        """``(exact bound ≤ B, the bound shown, sufficient-only)``; the last flag is True when the test is
        only a sufficient condition (l2 operator norm), so a failure means "cannot confirm"."""
        num, den, squared = self._reduce(G, _mag)
        shown = _show(Fraction(num, den), sqrt=squared)
        if not squared:
            return _le(num, den, B), shown, False
        ok = B >= 0 and _le(num, den, B * B)
        if self.c is not None:
            return ok, shown, False
        shown = f"Frobenius norm of the magnitudes {shown}"
        if ok:
            return True, shown, True
        M = [[Fraction(_mag(a, b), row.den) for a, b in zip(row.lo, row.hi)] for row in G]
        return B >= 0 and (_collatz_wielandt_ok(M, B * B) or _mid_rad_spectral_ok(G, B)), shown, True

    # ---- lower bounds at a point: min over the enclosure of the norm ≥ L?
    def lower_ok(self, G, L: Fraction) -> tuple[bool, str, bool]:
        """``(min norm over the enclosure ≥ L, the value shown, sufficient-only)``."""
        if L <= 0:
            return True, "0", False
        if self.c is not None or self.norm != "2":
            num, den, squared = self._reduce(G, _mig)
            bound = L * L if squared else L
            return num * bound.denominator >= bound.numerator * den, _show(Fraction(num, den), squared), False
        J = [row.fractions() for row in G]
        best = max(Fraction(_mig(a, b), row.den) for row in G for a, b in zip(row.lo, row.hi))  # ‖J‖₂ ≥ |J_ri|
        return best >= L or _spectral_lower_ok(J, L), f"largest entry {_show(best)}", True


def _positive_vector(A: np.ndarray) -> list[Fraction]:
    """A positive rational vector suggested by float power iteration on ``A ≥ 0`` (any positive one is valid)."""
    v = np.ones(A.shape[1])
    for _ in range(50):
        w = A @ v
        s = float(np.max(w)) if w.size else 0.0
        if not np.isfinite(s) or s <= 0:
            break
        v = w / s
    top = float(np.max(v)) if np.isfinite(v).all() and v.size and np.max(v) > 0 else 1.0
    v = np.where(np.isfinite(v), v, top)
    v = np.maximum(v, top * 1e-12)
    return [Fraction(float(x)) for x in v]


def _collatz_wielandt_ok(M: list[list[Fraction]], B2: Fraction) -> bool:
    """``ρ(MᵀM) ≤ B2`` via ``ρ(A) ≤ max_i (A v)_i / v_i`` for ``A = MᵀM ≥ 0`` and rational ``v > 0``."""
    Mf = np.array([[float(x) for x in row] for row in M])
    v = _positive_vector(Mf.T @ Mf)
    Mv = [sum((a * b for a, b in zip(row, v)), _ZERO) for row in M]
    Av = [sum((M[r][i] * Mv[r] for r in range(len(M))), _ZERO) for i in range(len(v))]
    return all(a <= B2 * vi for a, vi in zip(Av, v))


def _positive_definite(A: list[list[int]]) -> bool:
    """Exact test that the symmetric integer matrix ``A`` is positive definite: every leading principal
    minor is positive (Sylvester). Bareiss' fraction-free elimination: the pivot of step ``k`` is the
    ``(k+1)``-th leading minor, and every division is exact."""
    A = [row[:] for row in A]
    n = len(A)
    prev = 1
    for k in range(n):
        piv = A[k][k]
        if piv <= 0:
            return False
        for i in range(k + 1, n):
            for j in range(k + 1, n):
                A[i][j] = (A[i][j] * piv - A[i][k] * A[k][j]) // prev
        prev = piv
    return True


def _mid_rad_spectral_ok(G, B: Fraction) -> bool:
    """``‖J‖₂ ≤ B`` for every ``J`` in the interval matrix with rows ``G`` (``_IVec``), via
    ``‖J‖₂ ≤ ‖mid‖₂ + ‖rad‖₂``: for a rational ``c`` (a float estimate of ``‖mid‖₂`` raised by 2⁻⁴⁴),
    ``c²I − XXᵀ ≻ 0`` (``X`` the midpoint or its transpose, whichever has fewer rows; exact, in integers)
    gives ``‖mid‖₂ < c``, and ``‖rad‖₂ ≤ B − c`` by Frobenius or Collatz–Wielandt, exactly."""
    D = 2 * math.lcm(*(row.den for row in G))
    mid = [[(a + b) * (D // (2 * row.den)) for a, b in zip(row.lo, row.hi)] for row in G]  # mid·D
    rad = [[(b - a) * (D // (2 * row.den)) for a, b in zip(row.lo, row.hi)] for row in G]  # rad·D
    est = float(np.linalg.norm(np.array([[x / D for x in row] for row in mid], dtype=np.float64), 2))
    if not math.isfinite(est):
        return False
    c = Fraction(est) * (1 + Fraction(1, 2**44)) + Fraction(1, 2**1000)
    r = B - c  # the room left for ‖rad‖₂
    if r < 0:
        return False
    rad2 = sum(x * x for row in rad for x in row)
    if not (rad2 <= r * r * D * D or _collatz_wielandt_ok([[Fraction(x, D) for x in row] for row in rad], r * r)):
        return False
    X = mid if len(mid) <= len(mid[0]) else [list(col) for col in zip(*mid)]
    k = len(X)
    # (c²I − XXᵀ/D²)·D²·den(c)² in integers
    cn2, cd2 = (c.numerator * D) ** 2, c.denominator ** 2
    A = [[(cn2 if i == j else 0) - cd2 * sum(x * y for x, y in zip(X[i], X[j])) for j in range(k)]
         for i in range(k)]
    return _positive_definite(A)


def _spectral_lower_ok(J: list[list[tuple[Fraction, Fraction]]], L: Fraction) -> bool:
    """``min_J ‖J‖₂ ≥ L`` via ``‖J‖₂ ≥ ‖J v‖₂ / ‖v‖₂`` for a rational ``v`` (top singular vector of the midpoint)."""
    mid = np.array([[float((a + b) / 2) for a, b in row] for row in J])
    if not np.isfinite(mid).all() or not mid.any():
        return False
    v = [Fraction(float(x)) for x in np.linalg.svd(mid)[2][0]]
    total = _ZERO
    for row in J:
        lo = hi = _ZERO
        for (a, b), w in zip(row, v):
            if w > 0:
                lo += a * w
                hi += b * w
            elif w < 0:
                lo += b * w
                hi += a * w
        m = _ZERO if lo <= 0 <= hi else min(abs(lo), abs(hi))
        total += m * m
    return total >= L * L * sum((w * w for w in v), _ZERO)


# ============================================================================================ coverage
def _keys(values: list[list[Fraction]]) -> list[list]:
    """Fast exact sort keys: floats when every value is exactly a float64 (order-preserving), else Fractions."""
    try:
        fl = [[float(v) for v in row] for row in values]
    except OverflowError:
        return values
    if all(Fraction(f) == v for frow, row in zip(fl, values) for f, v in zip(frow, row)):
        return fl
    return values


def _tiling_failure(lo, hi, fixed, box_lo: list, box_hi: list, ids: list[int] | None = None) -> str | None:
    """None if the leaves tile the box exactly, else the reason.

    A leaf is the part of its box ``[lo[i], hi[i]]`` where the neurons of ``fixed[i]`` (``{(layer, neuron):
    ±1}``) have those signs (``z ≥ 0`` for +1, ``z ≤ 0`` for −1). The recursion decomposes the current piece
    ``(box, F)`` (the box where the signs ``F`` hold) by

    * a cut ``x_d = t`` strictly inside the box that no leaf straddles (the most balanced one), or
    * a neuron fixed in every remaining leaf but not in ``F``, with both signs present
      (``{z ≥ 0} ∪ {z ≤ 0}`` is everything);

    a single leaf must be exactly ``(box, F)``. Success proves the leaves cover the box (induction over the
    recursion); leaves with disjoint boxes or opposite signs overlap at most on a null set. Any valid
    decomposition order succeeds on the trees branch-and-bound builds, so the greedy choice is complete.

    ``lo``, ``hi`` and ``fixed`` are lists, or mappings from the leaf numbers ``ids`` (a piece of a larger
    partition, :mod:`verinet.evidence.checker_cover`).
    """
    n = len(box_lo)
    stack = [(list(range(len(lo))) if ids is None else list(ids), list(box_lo), list(box_hi), {})]
    while stack:
        idx, blo, bhi, F = stack.pop()
        if not idx:
            return "an empty part of the box is not covered by any leaf"
        if len(idx) == 1:
            i = idx[0]
            if lo[i] != blo or hi[i] != bhi:
                return f"leaf {i} does not fill its part of the box (a gap, an overlap or a leaf outside it)"
            if fixed[i] != F:
                return f"leaf {i} fixes neuron signs whose complement no leaf covers"
            continue
        best = None  # (imbalance, d, p, t, order)
        half = len(idx) / 2
        for d in range(n):
            order = sorted(idx, key=lambda i, d=d: lo[i][d])
            reach = None
            for p in range(1, len(order)):
                h = hi[order[p - 1]][d]
                reach = h if reach is None or h > reach else reach
                t = lo[order[p]][d]
                if reach <= t and blo[d] < t < bhi[d]:
                    score = abs(p - half)
                    if best is None or score < best[0]:
                        best = (score, d, p, t, order)
            if best is not None and best[0] < 1:
                break
        if best is not None:
            _, d, p, t, order = best
            left_hi = list(bhi)
            left_hi[d] = t
            right_lo = list(blo)
            right_lo[d] = t
            stack.append((order[:p], blo, left_hi, F))
            stack.append((order[p:], right_lo, bhi, F))
            continue
        common = set(fixed[idx[0]]).difference(F)
        for i in idx[1:]:
            common.intersection_update(fixed[i])
        split = next((nk for nk in sorted(common) if {fixed[i][nk] for i in idx} == {1, -1}), None)
        if split is None:
            return "no split separates the leaves (overlapping, duplicated or misplaced leaves)"
        for sign in (1, -1):
            stack.append(([i for i in idx if fixed[i][split] == sign], blo, bhi, {**F, split: sign}))
    return None


def _parse_fixed(value, i: int, layers: list[_ExactLayer]) -> dict:
    """``{(layer, neuron): ±1}`` of a leaf; only ReLU / leaky ReLU neurons can be fixed."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise CertificateError(f"malformed certificate: leaf {i} fixed must be a list of [layer, neuron, sign]")
    out = {}
    for item in value:
        ok = isinstance(item, list) and len(item) == 3 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                 for v in item)
        if ok:
            k, j, s = item
            ok = (0 <= k < len(layers) and layers[k].act in ("relu", "leaky_relu") and 0 <= j < len(layers[k].bn)
                  and s in (1, -1) and (k, j) not in out)
        if not ok:
            raise CertificateError(f"malformed certificate: leaf {i} has an invalid fixed neuron {item!r}")
        out[(k, j)] = s
    return out


def _check_cover(region: _Region, evidence: dict, n: int, layers: list[_ExactLayer] | None = None):
    """Parse the partition; raise _Invalid unless its leaves tile a box containing the region.

    Returns the leaves' lower corners, upper corners and fixed neuron signs.
    """
    dlo = _qvec(_get(evidence, "domain.lower", list), n, "evidence.domain.lower")
    dhi = _qvec(_get(evidence, "domain.upper", list), n, "evidence.domain.upper")
    leaves = _get(evidence, "leaves", list)
    if not leaves:
        raise _Invalid("leaves do not cover the region: the partition is empty")
    L, H, FX = [], [], []
    for i, leaf in enumerate(leaves):
        if not isinstance(leaf, dict):
            raise CertificateError(f"malformed certificate: leaf {i} is not an object")
        a = _qvec(leaf.get("lower"), n, f"leaf {i} lower")
        b = _qvec(leaf.get("upper"), n, f"leaf {i} upper")
        if any(x > y for x, y in zip(a, b)):
            raise _Invalid(f"leaf {i} is empty (lower > upper)")
        L.append(a)
        H.append(b)
        FX.append(_parse_fixed(leaf.get("fixed"), i, layers) if layers is not None and leaf.get("fixed") else {})
    for d in range(n):
        if dlo[d] > region.lower[d] or dhi[d] < region.upper[d]:
            raise _Invalid(f"leaves do not cover the region: the partitioned box misses coordinate {d} of the region")
    keys = _keys(L + H + [dlo, dhi])
    kl, kh = keys[: len(L)], keys[len(L): 2 * len(L)]
    why = _tiling_failure(kl, kh, FX, keys[-2], keys[-1])
    if why is not None:
        raise _Invalid(f"leaves do not cover the region: {why}")
    return L, H, FX


def _null_failure(layers: list[_ExactLayer], lo: list[Fraction], hi: list[Fraction], fixed: dict, null,
                  free: list[bool], i: int) -> str | None:
    """None if the leaf's ``null`` multipliers prove that its part has no interior, else the reason."""
    if not isinstance(null, list) or not null:
        raise CertificateError(f"malformed certificate: leaf {i} null must be a non-empty list of [layer, neuron, λ]")
    lam = {}
    for item in null:
        if not (isinstance(item, list) and len(item) == 3 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                  for v in item[:2])):
            raise CertificateError(f"malformed certificate: leaf {i} has an invalid null entry {item!r}")
        lam[(item[0], item[1])] = _q(item[2], f"leaf {i} null multiplier")
    for key, v in lam.items():
        if key not in fixed:
            return f"leaf {i}: null multiplier on neuron {list(key)}, which the leaf does not fix"
        if v <= 0:
            return f"leaf {i}: null multipliers must be positive"
    got = _propagate(layers, _IVec.box(lo, hi), fixed)
    if got is None:
        return None  # the part is empty: a null set
    pre = got[0]
    top = max(k for k, _ in lam)
    n = len(lo)
    # exact ReLU slopes of layers 0..top−1 on the part, from the fixed or proved signs (None: identity)
    slopes: list = []
    for k, L in enumerate(layers[:top]):
        if L.act == "identity":
            slopes.append(None)
            continue
        alpha = Fraction(L.a_num, L.a_den) if L.act == "leaky_relu" else _ZERO
        sl = []
        for j in range(len(L.bn)):
            s = fixed.get((k, j))
            if s is None:  # not fixed: its sign on the part must follow from the exact intervals
                zl, zh = pre[k].lo[j], pre[k].hi[j]
                s = 1 if zl >= 0 else (-1 if zh <= 0 else 0)
            if s == 0:
                return f"leaf {i}: neuron {[k, j]} changes sign on the part, so the null rows are not affine"
            sl.append(_ONE if s > 0 else alpha)
        slopes.append(sl)
    weights: dict = {}

    def pull(seeds: dict) -> tuple[list[Fraction], Fraction]:
        """``(C, e)`` with ``Σ seeds[(k, j)]·z_kj(x) = C·x + e`` on the part, exactly: the combination is
        pulled back layer by layer (``Σ y z_k = (W_kᵀ y)·a_{k−1} + yᵀ b_k``, ``a_{k−1} = slope ⊙ z_{k−1}``),
        so one pass costs one product per weight instead of one per weight and input."""
        const, y = _ZERO, None
        for k in range(top, -1, -1):
            L = layers[k]
            y = [_ZERO] * len(L.bn) if y is None else y
            for (kk, j), w in seeds.items():
                if kk == k:
                    y[j] += w
            D = math.lcm(*(v.denominator for v in y))
            Y = np.array([int(v * D) for v in y], dtype=object)  # y = Y/D with integers
            if k not in weights:
                weights[k] = np.array(L.Wn, dtype=object)
            const += Fraction(int(np.dot(Y, np.array(L.bn, dtype=object))), D * L.den)
            g = [Fraction(int(t), D * L.den) for t in np.dot(Y, weights[k])]
            if k == 0:
                return g, const
            y = g if slopes[k - 1] is None else [sl * v for sl, v in zip(slopes[k - 1], g)]
        raise AssertionError("unreachable")

    for key in lam:  # each row ℓ = −s z must be able to be strictly negative on an interior point
        r, e = pull({key: Fraction(-fixed[key])})
        if not (any(r[d] != 0 for d in range(n) if free[d]) or e > 0):
            return f"leaf {i}: null row of neuron {list(key)} has no free coefficient and no positive constant"
    C, const = pull({key: -fixed[key] * v for key, v in lam.items()})
    low = sum((min(a * x, a * y) for a, x, y in zip(C, lo, hi)), const)
    if low < 0:
        return f"leaf {i}: the null multipliers do not prove that the part has no interior"
    return None


def _choose(total: int, sample: int | None, seed: int, first: int) -> list[int]:
    """All leaves, or ``sample`` of them: the leaf ``first`` (largest recorded bound) plus random others."""
    if sample is None or sample >= total:
        return list(range(total))
    rng = random.Random(seed)
    others = [i for i in range(total) if i != first]
    return sorted([first] + rng.sample(others, sample - 1))


# ============================================================================================ Lipschitz
def _check_lipschitz(cert: dict, layers: list[_ExactLayer], n: int, sample, seed, **table_options) -> CheckResult:
    region = _Region.parse(_get(cert, "query.region", dict))
    if len(region.lower) != n:
        raise _Invalid(f"the region has {len(region.lower)} coordinates, the model has {n} inputs")
    norm = _get(cert, "query.norm", str)
    if norm not in ("inf", "2", "1"):
        raise CertificateError(f"malformed certificate: unknown norm {norm!r}")
    quantity = _Quantity(layers, norm, _get(cert, "query.output", dict), n)
    status = _get(cert, "claim.status", str)
    if status not in _LIPSCHITZ_STATUSES:
        raise CertificateError(f"malformed certificate: unknown claim.status {status[:40]!r} (one of "
                               f"{', '.join(_LIPSCHITZ_STATUSES)})")
    lower = _q(_get(cert, "claim.lower"), "claim.lower")
    upper = _q(_get(cert, "claim.upper"), "claim.upper")
    if lower > upper:
        raise _Invalid("the claimed lower bound exceeds the claimed upper bound")
    if upper < 0:
        raise _Invalid("the claimed upper bound is negative")
    evidence = _get(cert, "evidence", dict)
    if isinstance(evidence.get("leaves"), dict):  # schema 3: the leaves are in a companion .npz table
        from verinet.evidence.checker_stream import check_lipschitz_table

        _check_witness(evidence, region, quantity, lower, n)
        return check_lipschitz_table(cert, layers, n, region, quantity, upper, sample, seed, **table_options)

    L, H, FX = _check_cover(region, evidence, n, layers)
    leaves = evidence["leaves"]
    total = len(leaves)
    _check_witness(evidence, region, quantity, lower, n)

    # upper bound: every recorded leaf bound ≤ the claim, then the exact enclosure of each (sampled) leaf
    bounds = [_q(leaf.get("bound"), f"leaf {i} bound") for i, leaf in enumerate(leaves)]
    for i, b in enumerate(bounds):
        if b > upper:
            raise _Invalid(f"leaf {i}: recorded bound {_show(b)} exceeds the claimed upper bound {_show(upper)}")
    first = max(range(total), key=bounds.__getitem__)
    chosen = _choose(total, sample, seed, first)
    free = [a < b for a, b in zip(region.lower, region.upper)]
    linear = _linear_network(evidence, layers)
    backsub = _backsub_leaves(layers, quantity, evidence, free)
    sources = evidence.get("sources") or {}
    if not isinstance(sources, dict):
        raise CertificateError("malformed certificate: evidence.sources must be an object")
    for i in chosen:
        if backsub is not None and leaves[i].get("null") is None:
            why = backsub.failure(L[i], H[i], FX[i], bounds[i], i, sources.get(str(i)))
            if why is None:
                continue  # the checker's own back-substituted bound confirms the leaf
            if not backsub.exact_fallback:
                raise _Invalid(why)
        why = _lipschitz_leaf_failure(quantity, layers, L[i], H[i], FX[i], bounds[i], upper, leaves[i].get("null"),
                                      free, linear, i)
        if why is not None:
            raise _Invalid(why)
    sampled = len(chosen) < total
    reason = f"valid (sampled {len(chosen)} of {total} leaves)" if sampled else "valid"
    return CheckResult(True, reason, len(chosen), total, sampled)


def _backsub_leaves(layers, quantity, evidence: dict, free):
    """The checker's back-substituted leaf bounds (:mod:`verinet.evidence.checker_backsub`) when the certificate's
    leaves used them (``evidence.gradient = "backsub"``), else None."""
    if evidence.get("gradient", "interval") == "interval":
        return None
    from verinet.evidence.checker_backsub import BacksubLeaves

    return BacksubLeaves.build(layers, quantity, evidence, free)


def _linear_network(evidence: dict, layers: list[_ExactLayer]):
    """The checker's arb network when the leaves were enclosed with linear bounds, else None."""
    if evidence.get("preactivation", "interval") == "linear":  # leaves enclosed with linear bounds
        from verinet.evidence.checker_linear import ArbNetwork

        return ArbNetwork.from_exact(layers)
    if evidence.get("preactivation", "interval") != "interval":
        raise CertificateError("malformed certificate: evidence.preactivation must be 'interval' or 'linear'")
    return None


def _check_witness(evidence: dict, region: _Region, quantity: _Quantity, lower: Fraction, n: int) -> None:
    """The lower bound: a witness point of the region whose exact gradient enclosure has min norm ≥ lower."""
    if lower <= 0:
        return
    w = evidence.get("witness")
    if not isinstance(w, dict) or "point" not in w:
        raise _Invalid("no witness point for the positive lower bound")
    x = _qvec(w["point"], n, "evidence.witness.point")
    if not region.contains(x):
        raise _Invalid("witness outside the region")
    ok, shown, sufficient_only = quantity.lower_ok(quantity.enclosure(x, x), lower)
    if not ok and sufficient_only:
        raise _Invalid(f"cannot confirm the l2 operator norm lower bound {_show(lower)} at the witness "
                       f"exactly ({shown})")
    if not ok:
        raise _Invalid(f"exact gradient norm at the witness ({shown}) is below the claimed lower bound "
                       f"{_show(lower)}")


def _lipschitz_leaf_failure(quantity: _Quantity, layers, lo, hi, fixed: dict, bound: Fraction, upper: Fraction,
                            null, free: list[bool], linear, i: int) -> str | None:
    """None if leaf ``i``'s recorded bound is confirmed exactly (or its part is a null set), else the reason."""
    if null is not None:
        return _null_failure(layers, lo, hi, fixed, null, free, i)  # a null set bounds nothing
    G = quantity.enclosure(lo, hi, fixed, linear)
    if G is None:  # an empty piece: no point of the region to bound
        return None
    ok, shown, sufficient_only = quantity.upper_ok(G, bound)
    if not ok and linear is not None:  # the checker's own bounds may be coarser: halve the leaf
        ok = _halves_ok(quantity, lo, hi, fixed, linear, bound)
    if ok:
        return None
    if sufficient_only:
        return f"leaf {i}: cannot confirm l2 operator norm bound exactly ({shown}, recorded bound {_show(bound)})"
    over_claim = not quantity.upper_ok(G, upper)[0]
    target = f"the claimed upper bound {_show(upper)}" if over_claim else f"the leaf's recorded bound {_show(bound)}"
    return f"leaf {i}: exact bound {shown} exceeds {target}"


#: a leaf whose checker-side linear bounds are too coarse is split into at most this many pieces
_MAX_PIECES = 16


def _halves_ok(quantity: _Quantity, lo, hi, fixed, linear, bound: Fraction) -> bool:
    """Whether bisecting the leaf's box (at most :data:`_MAX_PIECES` pieces, widest coordinate first)
    gives pieces whose exact enclosures all satisfy ``bound``: the pieces cover the leaf, so the leaf's
    bound holds (the Lipschitz constant over the part is the essential supremum over its pieces)."""
    todo, pieces = [(list(lo), list(hi))], 0
    while todo:
        a, b = todo.pop()
        pieces += 1
        if pieces > _MAX_PIECES:
            return False
        G = quantity.enclosure(a, b, fixed, linear)
        if G is None or quantity.upper_ok(G, bound)[0]:
            continue
        d = max(range(len(a)), key=lambda j: b[j] - a[j])
        if a[d] == b[d]:
            return False
        mid = (a[d] + b[d]) / 2
        left_hi, right_lo = list(b), list(a)
        left_hi[d] = right_lo[d] = mid
        todo += [(a, left_hi), (right_lo, b)]
    return True


# ============================================================================================ robustness
def _output_at(layers: list[_ExactLayer], x: list[Fraction]) -> list[Fraction]:
    """Exact network output at a rational point (propagation of the degenerate box)."""
    _, y = _propagate(layers, _IVec.box(x, x))
    return [a for a, _ in y.fractions()]


def _index(value, m: int, what: str) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < m:
        raise CertificateError(f"malformed certificate: {what} {value!r} out of range (0..{m - 1})")
    return value


def _property(cert: dict, m: int, region: _Region, layers):
    """``(type, outputs, ε, {k: f_k(reference)})`` of a robustness query.

    ``classification``: output ``label`` strictly above every other output. ``regression``:
    ``|f_k(x) − f_k(reference)| ≤ ε`` for every ``k`` of ``outputs`` (or the one ``output``).
    """
    prop = _get(cert, "query.property", dict)
    ptype = prop.get("type")
    if ptype == "classification":
        return ("classification", (_index(prop.get("label"), m, "label"),), None, None)
    if ptype != "regression":
        raise _Invalid(f"the exact checker does not support properties of type {ptype!r}")
    raw = prop.get("outputs", [prop.get("output", 0)])
    if not isinstance(raw, list) or not raw:
        raise CertificateError("malformed certificate: query.property.outputs must be a non-empty list")
    ks = tuple(_index(k, m, "output") for k in raw)
    eps = _q(prop.get("epsilon"), "query.property.epsilon")
    if "reference" in prop:
        ref = _qvec(prop["reference"], len(region.lower), "query.property.reference")
    elif region.center is not None:
        ref = list(region.center)
    else:
        raise CertificateError("malformed certificate: a regression property needs a reference point")
    y0 = _output_at(layers, ref)
    return ("regression", ks, eps, {k: y0[k] for k in ks})


def _violates(prop, y: list[Fraction]) -> bool:
    kind, ks, eps, y0 = prop
    if kind == "classification":  # robust means y_k strictly above every other output
        k = ks[0]
        return any(y[j] >= y[k] for j in range(len(y)) if j != k)
    return any(abs(y[k] - y0[k]) > eps for k in ks)


def _box_proves(prop, layers: list[_ExactLayer], lo: list[Fraction], hi: list[Fraction]) -> bool:
    """True if exact interval propagation over the box proves the property everywhere in it."""
    kind, ks, eps, y0 = prop
    x = _IVec.box(lo, hi)
    if kind == "regression":
        _, y = _propagate(layers, x)
        ys = y.fractions()
        return all(y0[k] - eps <= ys[k][0] and ys[k][1] <= y0[k] + eps for k in ks)
    k = ks[0]
    last = layers[-1]
    _, a = _propagate(layers[:-1], x)  # activations entering the last layer
    if last.act == "identity":  # margin y_k − y_j = (W_k − W_j)·a + (b_k − b_j), exact range over the box
        for j in range(len(last.bn)):
            if j != k:
                diff = _ExactLayer((tuple(p - q for p, q in zip(last.Wn[k], last.Wn[j])),),
                                   (last.bn[k] - last.bn[j],), last.den, "identity", 0, 1)
                if not _affine(diff, a).lo[0] > 0:
                    return False
        return True
    y = _activate(last, _affine(last, a)).fractions()  # monotone activation: compare the ranges
    return all(y[k][0] > y[j][1] for j in range(len(y)) if j != k)


def _check_robustness(cert: dict, layers: list[_ExactLayer], n: int, sample, seed, **table_options) -> CheckResult:
    kind = cert.get("kind")
    if kind != "local-robustness":
        raise _Invalid(f"the exact checker does not support certificates of kind {kind!r}")
    verdict = _get(cert, "claim.verdict", str)
    region = _Region.parse(_get(cert, "query.region", dict))
    if len(region.lower) != n:
        raise _Invalid(f"the region has {len(region.lower)} coordinates, the model has {n} inputs")
    if verdict in ("unknown", "timeout"):
        return CheckResult(True, f"valid (verdict {verdict!r} makes no claim)", 0, 0, False)
    prop = _property(cert, len(layers[-1].bn), region, layers)
    evidence = _get(cert, "evidence", dict)
    if verdict == "falsified":
        x = _qvec(_get(evidence, "counterexample.point", list), n, "evidence.counterexample.point")
        if not region.contains(x):
            raise _Invalid("counterexample outside the region")
        if not _violates(prop, _output_at(layers, x)):
            raise _Invalid("the counterexample does not violate the property (exact evaluation)")
        return CheckResult(True, "valid", 0, 0, False)
    if verdict != "verified":
        raise CertificateError(f"malformed certificate: unknown verdict {verdict!r}")
    if isinstance(evidence.get("leaves"), dict):  # schema 3: the leaves are in a companion .npz table
        from verinet.evidence.checker_stream import check_robustness_table

        return check_robustness_table(cert, layers, n, region, prop, sample, seed, **table_options)
    L, H, _ = _check_cover(region, evidence, n)
    total = len(L)
    chosen = _choose(total, sample, seed, 0)
    leaves = evidence["leaves"]
    for i in chosen:
        why = _robust_leaf_failure(prop, layers, region, L[i], H[i], leaves[i].get("outside") is True, i)
        if why is not None:
            raise _Invalid(why)
    sampled = len(chosen) < total
    reason = f"valid (sampled {len(chosen)} of {total} leaves)" if sampled else "valid"
    return CheckResult(True, reason, len(chosen), total, sampled)


def _robust_leaf_failure(prop, layers: list[_ExactLayer], region: _Region, lo, hi, outside: bool,
                         i: int) -> str | None:
    """None if leaf ``i`` proves the property exactly (or, marked outside, misses the region exactly)."""
    if outside:  # claims to lie outside the region: check that exactly
        return None if region.misses(lo, hi) else f"leaf {i} is marked outside the region but meets it"
    if not _box_proves(prop, layers, lo, hi):
        return f"leaf {i}: exact interval bounds do not prove the property on this leaf"
    return None


# ============================================================================================ entry point
def _resolve_model(cert: dict, model_path, base: Path) -> Path:
    """The model file: ``model_path``, else ``model.file`` next to the certificate, else ``model.path``
    (where the model was read from, relative to the certificate's folder). The SHA-256 is checked later."""
    if model_path is not None:
        return Path(os.fspath(model_path))
    name = _get(cert, "model.file", str)
    if not name or name != Path(name).name or name in (".", ".."):
        raise CertificateError(f"malformed certificate: model.file must be a bare file name, got {name!r}")
    tried = [base / name]
    recorded = cert["model"].get("path")
    if isinstance(recorded, str) and recorded:
        tried.append(base / recorded)  # absolute as recorded (relative paths: from the certificate's folder)
    for p in tried:
        try:
            if p.is_file():
                return p
        except (OSError, ValueError):
            continue
    raise ModelFormatError(f"model file not found (looked for {' and '.join(map(str, tried))}); "
                           "give the model path with --model")


#: schema versions this checker reads ("2" adds the ``vnnlib`` kind, "3" leaves in a companion ``.npz``
#: table, :mod:`verinet.evidence.leaftable`; older documents check unchanged)
SCHEMA_VERSIONS = ("1", "2", "3")


def check_certificate(cert, model_path=None, *, sample: int | None = None, seed: int = 0,
                      property_path=None, progress=None, workers: int = 1) -> CheckResult:
    """Re-verify a certificate with exact rational arithmetic, independently of the fast path.

    Parameters
    ----------
    cert : dict or path
        The certificate, or its file (then a model named by the certificate is looked up next to it).
    model_path : path, optional
        The model file; default: the certificate's ``model.file`` relative to the certificate's directory
        (the current directory when ``cert`` is a dict).
    sample : int, optional
        Re-verify only this many leaves exactly: the one with the largest recorded bound plus random
        others (``seed``). Coverage, the witness and every recorded bound are still checked in full. The
        result then says ``valid (sampled k of N leaves)``: that is evidence, not a proof.
    property_path : path, optional
        ``vnnlib`` certificates: the VNN-LIB file (default: the certificate's ``query.property.file`` next
        to the certificate); its SHA-256 and parsed cases must match the recorded query.
    progress : callable, optional
        ``progress(done, total)`` after each re-verified leaf (``vnnlib`` certificates) or block of leaves
        (leaf tables).
    workers : int
        ``vnnlib`` certificates and leaf tables (schema 3): re-verify the leaves in this many processes
        (same answer).

    Returns
    -------
    CheckResult
        ``valid`` with the first failure as ``reason`` otherwise, e.g. ``"model SHA-256 mismatch: ..."``,
        ``"leaves do not cover the region: ..."``, ``"leaf 17: exact bound ... exceeds the claimed upper
        bound ..."``, ``"witness outside the region"``, ``"counterexample outside the region"``.

    Raises
    ------
    CertificateError
        The document is not a well-formed verinet certificate.
    ModelFormatError
        The model file is missing or cannot be read.

    Rigorous: ``valid`` (not sampled) means the claim holds for the exact real semantics of the weights
    read from the model file whose SHA-256 the certificate names; every comparison is exact.
    """
    base = Path.cwd()
    if not isinstance(cert, dict):
        from verinet.evidence.certificate import load_certificate

        base = Path(os.fspath(cert)).resolve().parent
        cert = load_certificate(cert)
    if sample is not None and (not isinstance(sample, int) or sample < 1):
        raise ValueError(f"sample must be a positive number of leaves, got {sample!r}")
    if cert.get("format") != "verinet-certificate":
        raise CertificateError("not a verinet certificate (expected \"format\": \"verinet-certificate\")")
    version = cert.get("schema_version")
    if version not in SCHEMA_VERSIONS:
        raise CertificateError(f"unsupported certificate schema version {version!r} "
                               f"(this checker reads {', '.join(repr(v) for v in SCHEMA_VERSIONS)})")
    kind = _get(cert, "kind", str)
    expected_sha = _get(cert, "model.sha256", str).lower()

    path = _resolve_model(cert, model_path, base)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFormatError(f"model file not found: {path}") from None
    except OSError as exc:
        raise ModelFormatError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    actual_sha = hashlib.sha256(data).hexdigest()
    if actual_sha != expected_sha:
        return CheckResult(False, f"model SHA-256 mismatch: the certificate names {expected_sha}, "
                                  f"{path.name} has {actual_sha}")
    from verinet.io import load_network

    options = cert.get("model", {}).get("load_options") or {}
    # only options that change how numbers are read; never e.g. ``trusted`` (unpickling runs code)
    if not isinstance(options, dict) or not set(options) <= {"coordinates"}:
        raise CertificateError("malformed certificate: 'model.load_options' may only hold 'coordinates'")
    network = load_network(path, **options)
    if network.sha256 != expected_sha:  # the file changed between the two reads
        return CheckResult(False, "model SHA-256 mismatch: the model file changed while it was read")
    try:
        layers = _exact_layers(network)
        table_options = {"base": base, "progress": progress, "workers": workers}
        if kind == "lipschitz":
            return _check_lipschitz(cert, layers, network.n_inputs, sample, seed, **table_options)
        if kind == "vnnlib":
            from verinet.evidence.checker_vnnlib import check_vnnlib

            return check_vnnlib(cert, layers, network.n_inputs, sample, seed, base=base,
                                property_path=property_path, progress=progress, workers=workers)
        if kind == "radius-robustness":
            from verinet.evidence.checker_radius import check_radius

            return check_radius(cert, layers, network.n_inputs, sample, seed, **table_options)
        return _check_robustness(cert, layers, network.n_inputs, sample, seed, **table_options)
    except _Invalid as exc:
        total = cert.get("evidence", {}).get("leaves") if isinstance(cert.get("evidence"), dict) else None
        return CheckResult(False, str(exc), 0, len(total) if isinstance(total, list) else 0, False)
