"""Exceptions raised by the interval engine.

Comparison semantics follow IEEE 1788-2015 §10.5.10 ("boolean functions of intervals"): an order
relation between two *sets* of reals has no single truth value, so ``intervals`` offers explicit
predicates (``certainly_lt``, ``possibly_lt``, ...) and refuses the ambiguous operators. See
``docs/design.md``, "Comparison semantics".
"""

from __future__ import annotations

__all__ = ["IndeterminateComparison", "IntervalError"]


class IntervalError(Exception):
    """Base class of the errors specific to ``intervals``."""


class IndeterminateComparison(IntervalError, TypeError):
    """An order comparison (``<``, ``<=``, ``>``, ``>=``) or truth test was applied to an interval.

    It subclasses ``TypeError`` because, like ``1 < "a"``, the operation is not defined for these
    operands. The message names the explicit predicates to use instead.

    >>> raise IndeterminateComparison("<", "certainly_lt", "possibly_lt")
    Traceback (most recent call last):
    ...
    intervals.errors.IndeterminateComparison: interval comparison '<' is undecidable in general; use certainly_lt(x, y) or possibly_lt(x, y)
    """

    def __init__(self, operator: str, *predicates: str) -> None:
        self.operator = operator
        self.predicates = predicates
        uses = " or ".join(f"{p}(x, y)" if p.startswith(("certainly", "possibly")) else p
                           for p in predicates)
        super().__init__(f"interval comparison {operator!r} is undecidable in general; use {uses}")
