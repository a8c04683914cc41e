"""Input regions of a query: an exact box, or a norm ball around a centre.

Bounds are stored as exact rationals (decimal strings keep their decimal meaning). The float64 analysis
works on :meth:`Region.outer_box`, a float box that contains the region; lower bounds on Lipschitz
constants and counterexamples are only taken from points that :meth:`Region.contains` (exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np

from intervals.rounding import float_down, float_up, to_fraction
from verinet.errors import NumberFormatError, QueryError
from verinet.exactfmt import FLOAT_MAX, parse_exact
from verinet.bounds.norms import canonical_norm

__all__ = ["Region"]


def _exact(v, what: str) -> Fraction:
    """Exact value of a number or of its text (one parser with size limits for all text: ``parse_exact``)."""
    if isinstance(v, str):
        try:
            return parse_exact(v, what)
        except NumberFormatError as exc:
            raise QueryError(str(exc)) from None
    try:
        return to_fraction(v)
    except (ValueError, TypeError) as exc:
        raise QueryError(f"{what}: {exc}") from None


def _exact_list(values, what: str) -> tuple[Fraction, ...]:
    out = tuple(_exact(v, f"{what}[{i}]") for i, v in enumerate(np.asarray(values, dtype=object).reshape(-1)))
    if not out:
        raise QueryError(f"{what} is empty")
    return out


def _in_float_range(lo: tuple[Fraction, ...], hi: tuple[Fraction, ...]) -> None:
    """Every analysed box is a float64 box: a region beyond the float64 range cannot be enclosed."""
    for name, vals in (("lower", lo), ("upper", hi)):
        for i, v in enumerate(vals):
            if abs(v) > FLOAT_MAX:
                raise QueryError(f"region: {name}[{i}] is beyond the float64 range (|x| > 1.8e308)")


@dataclass(frozen=True)
class Region:
    """A box ``lower ≤ x ≤ upper`` or a ball ``‖x − center‖_p ≤ radius`` (exact rationals).

    Examples
    --------
    >>> Region.ball(["0.5", "0.5"], "0.1", "inf").outer_box()[1].tolist()
    [0.6000000000000001, 0.6000000000000001]
    >>> Region.box([0, 1], [1, 0])
    Traceback (most recent call last):
    verinet.errors.QueryError: inverted box: lower[1] = 1 > upper[1] = 0
    """

    kind: str
    lower: tuple[Fraction, ...] = ()
    upper: tuple[Fraction, ...] = ()
    center: tuple[Fraction, ...] = ()
    radius: Fraction = Fraction(0)
    norm: str = "inf"

    @classmethod
    def box(cls, lower: Sequence, upper: Sequence) -> "Region":
        """The box ``[lower, upper]``; entries are numbers or exact decimal strings."""
        lo = _exact_list(lower, "lower")
        hi = _exact_list(upper, "upper")
        if len(lo) != len(hi):
            raise QueryError(f"box: lower has {len(lo)} entries, upper has {len(hi)}")
        for i, (a, b) in enumerate(zip(lo, hi)):
            if a > b:
                raise QueryError(f"inverted box: lower[{i}] = {a} > upper[{i}] = {b}")
        _in_float_range(lo, hi)
        return cls("box", lo, hi)

    @classmethod
    def ball(cls, center: Sequence, radius, norm="inf") -> "Region":
        """The closed ball of ``radius > 0`` around ``center`` in the l∞, l2 or l1 norm."""
        c = _exact_list(center, "center")
        r = _exact(radius, "radius")
        if r <= 0:
            raise QueryError(f"radius must be > 0, got {radius}")
        try:
            p = canonical_norm(norm)
        except ValueError as exc:
            raise QueryError(str(exc)) from None
        _in_float_range(tuple(x - r for x in c), tuple(x + r for x in c))
        if p == "inf":
            return cls("box", tuple(x - r for x in c), tuple(x + r for x in c), c, r, p)
        return cls("ball", tuple(x - r for x in c), tuple(x + r for x in c), c, r, p)

    @classmethod
    def from_domain(cls, network) -> "Region":
        """The network's own input domain (``.nnet`` files carry one)."""
        if network.input_domain is None:
            raise QueryError(f"model {network.name!r} has no input domain: give --box or --center/--radius")
        return cls.box(network.input_domain.lower, network.input_domain.upper)

    # ------------------------------------------------------------------ views
    @property
    def dim(self) -> int:
        return len(self.lower)

    def check_dim(self, n: int) -> None:
        if self.dim != n:
            raise QueryError(f"region has {self.dim} coordinates, the network has {n} inputs")

    def outer_box(self) -> tuple[np.ndarray, np.ndarray]:
        """Float64 box containing the region (the bounding box of a ball), rounded outward."""
        return (
            np.array([float_down(v) for v in self.lower], dtype=np.float64),
            np.array([float_up(v) for v in self.upper], dtype=np.float64),
        )

    def contains(self, x) -> bool:
        """Exact test that the point ``x`` (floats are exact binary numbers) lies in the region."""
        xs = [to_fraction(v) for v in np.asarray(x, dtype=object).reshape(-1)]
        if len(xs) != self.dim:
            return False
        if any(v < a or v > b for v, a, b in zip(xs, self.lower, self.upper)):
            return False
        if self.kind == "box":
            return True
        d = [abs(v - c) for v, c in zip(xs, self.center)]
        if self.norm == "1":
            return sum(d) <= self.radius
        return sum(v * v for v in d) <= self.radius * self.radius

    def describe(self) -> str:
        if self.kind == "box" and not self.center:
            return f"box of {self.dim} coordinates"
        name = {"inf": "l∞", "2": "l2", "1": "l1"}[self.norm]
        return f"{name} ball of radius {_s(self.radius)} in {self.dim} coordinates"

    def to_json(self) -> dict:
        """Exact JSON form: every number as a string of its exact value (``p/q`` when not a decimal)."""
        d = {"kind": self.kind, "lower": [_s(v) for v in self.lower], "upper": [_s(v) for v in self.upper]}
        if self.center:
            d.update(center=[_s(v) for v in self.center], radius=_s(self.radius), norm=self.norm)
        return d


def _s(q: Fraction) -> str:
    """Exact decimal string when ``q`` has a finite decimal expansion, else ``p/q``."""
    from verinet.exactfmt import fraction_to_str

    return fraction_to_str(q)
