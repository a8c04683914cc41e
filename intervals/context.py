"""Working precision of the arbitrary-precision (mp) interval backend.

The kernel functions in ``intervals.rounding`` take their precision as an argument (mpmath ``libmp``
style). The thin object layer (``intervals.Interval``) reads the precision in force from a
``contextvars.ContextVar`` holding an immutable :class:`Context`, so a ``with precision(...)`` block is
local to the current thread / asyncio task and nothing assigns ``mpmath.mp.prec``.

>>> current_precision()
53
>>> with precision(128) as ctx:
...     ctx.prec, current_precision()
(128, 128)
>>> current_precision()
53
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "DEFAULT_CONTEXT",
    "MAX_PREC",
    "MIN_PREC",
    "Context",
    "current_precision",
    "get_context",
    "local_context",
    "precision",
]

#: smallest accepted working precision in bits
MIN_PREC = 2
#: largest accepted working precision in bits (a guard against typos such as ``precision(10**9)``)
MAX_PREC = 1 << 20


@dataclass(frozen=True, slots=True)
class Context:
    """Immutable settings of the mp backend.

    Parameters
    ----------
    prec : int
        Working precision in bits (``MIN_PREC <= prec <= MAX_PREC``). Results of interval operations
        are rounded outward to ``prec``-bit binary floating-point endpoints.

    >>> Context(113)
    Context(prec=113)
    >>> Context(1)
    Traceback (most recent call last):
    ...
    ValueError: Context: prec must be between 2 and 1048576 bits, got 1
    """

    prec: int = 53

    def __post_init__(self) -> None:
        if isinstance(self.prec, bool) or not isinstance(self.prec, int):
            raise TypeError(f"Context: prec must be an int, got {type(self.prec).__name__}")
        if not MIN_PREC <= self.prec <= MAX_PREC:
            raise ValueError(f"Context: prec must be between {MIN_PREC} and {MAX_PREC} bits, got {self.prec}")


#: the context in force when no ``precision``/``local_context`` block is active (binary64's 53 bits)
DEFAULT_CONTEXT = Context(53)

_CURRENT: contextvars.ContextVar[Context] = contextvars.ContextVar("intervals_context", default=DEFAULT_CONTEXT)


def get_context() -> Context:
    """The :class:`Context` in force in the current thread / task."""
    return _CURRENT.get()


def current_precision() -> int:
    """Working precision in bits of the context in force."""
    return _CURRENT.get().prec


@contextlib.contextmanager
def local_context(ctx: Context) -> Iterator[Context]:
    """Run a block under ``ctx``; the previous context is restored on exit (also on error)."""
    if not isinstance(ctx, Context):
        raise TypeError(f"local_context: expected a Context, got {type(ctx).__name__}")
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)


@contextlib.contextmanager
def precision(prec: int) -> Iterator[Context]:
    """Run a block with working precision ``prec`` bits.

    >>> with precision(200):
    ...     with precision(64):
    ...         current_precision()
    ...     current_precision()
    64
    200
    """
    with local_context(Context(prec)) as ctx:
        yield ctx
