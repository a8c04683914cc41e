"""intervals: rigorous interval arithmetic (float64 with Numba kernels, and arbitrary precision via mpmath).

Every operation returns an enclosure of the exact real result for all real inputs in the operands.
Usable on its own: knows nothing about neural networks.

>>> from intervals import Interval, precision
>>> with precision(128):
...     x = Interval("0.1") + Interval("0.2")
>>> x.contains("0.3")
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

#: public name -> module that defines it, imported on first use (PEP 562): importing one submodule
#: (e.g. ``intervals.rounding``) does not pull in Numba and the compiled kernels
_LAZY = {
    "IntervalArray": "intervals.array",
    "Context": "intervals.context",
    "current_precision": "intervals.context",
    "precision": "intervals.context",
    "IndeterminateComparison": "intervals.errors",
    "IntervalError": "intervals.errors",
    "IntervalMatrix": "intervals.linalg",
    "PointMatrix": "intervals.linalg",
    "MPIntervalArray": "intervals.mparray",
    "MPIntervalMatrix": "intervals.mparray",
    "MPPointMatrix": "intervals.mparray",
    "Interval": "intervals.scalar",
    "certainly_ge": "intervals.scalar",
    "certainly_gt": "intervals.scalar",
    "certainly_le": "intervals.scalar",
    "certainly_lt": "intervals.scalar",
    "contains": "intervals.scalar",
    "exp": "intervals.scalar",
    "is_subset": "intervals.scalar",
    "log": "intervals.scalar",
    "logistic": "intervals.scalar",
    "maximum": "intervals.scalar",
    "minimum": "intervals.scalar",
    "possibly_ge": "intervals.scalar",
    "possibly_gt": "intervals.scalar",
    "possibly_le": "intervals.scalar",
    "possibly_lt": "intervals.scalar",
    "relu": "intervals.scalar",
    "sqrt": "intervals.scalar",
    "tanh": "intervals.scalar",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'intervals' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:
    from intervals.array import IntervalArray as IntervalArray
    from intervals.context import Context as Context
    from intervals.context import current_precision as current_precision
    from intervals.context import precision as precision
    from intervals.errors import IndeterminateComparison as IndeterminateComparison
    from intervals.errors import IntervalError as IntervalError
    from intervals.linalg import IntervalMatrix as IntervalMatrix
    from intervals.linalg import PointMatrix as PointMatrix
    from intervals.mparray import MPIntervalArray as MPIntervalArray
    from intervals.mparray import MPIntervalMatrix as MPIntervalMatrix
    from intervals.mparray import MPPointMatrix as MPPointMatrix
    from intervals.scalar import Interval as Interval
    from intervals.scalar import certainly_ge as certainly_ge
    from intervals.scalar import certainly_gt as certainly_gt
    from intervals.scalar import certainly_le as certainly_le
    from intervals.scalar import certainly_lt as certainly_lt
    from intervals.scalar import contains as contains
    from intervals.scalar import exp as exp
    from intervals.scalar import is_subset as is_subset
    from intervals.scalar import log as log
    from intervals.scalar import logistic as logistic
    from intervals.scalar import maximum as maximum
    from intervals.scalar import minimum as minimum
    from intervals.scalar import possibly_ge as possibly_ge
    from intervals.scalar import possibly_gt as possibly_gt
    from intervals.scalar import possibly_le as possibly_le
    from intervals.scalar import possibly_lt as possibly_lt
    from intervals.scalar import relu as relu
    from intervals.scalar import sqrt as sqrt
    from intervals.scalar import tanh as tanh

__all__ = [
    "Context",
    "IndeterminateComparison",
    "Interval",
    "IntervalArray",
    "IntervalError",
    "IntervalMatrix",
    "MPIntervalArray",
    "MPIntervalMatrix",
    "MPPointMatrix",
    "PointMatrix",
    "certainly_ge",
    "certainly_gt",
    "certainly_le",
    "certainly_lt",
    "contains",
    "current_precision",
    "exp",
    "is_subset",
    "log",
    "logistic",
    "maximum",
    "minimum",
    "possibly_ge",
    "possibly_gt",
    "possibly_le",
    "possibly_lt",
    "precision",
    "relu",
    "sqrt",
    "tanh",
]
