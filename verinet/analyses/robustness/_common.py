"""Helpers shared by the robustness analyses: exact text and JSON numbers, geometries, rigorous output
enclosures at a point or a box, time limits and the mapping of search statuses to verdicts.

Mathematics and the verdict rule: :mod:`verinet.analyses.robustness`.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from intervals.rounding import float_down, float_up, to_fraction
from verinet.analyses.verify import BallGeometry, BoxGeometry, Verdict
from verinet.bounds.propagation import output_bounds
from verinet.errors import QueryError
from verinet.exactfmt import fraction_to_str
from verinet.network import Network
from verinet.region import Region

_STATUS = {"proved": Verdict.VERIFIED, "falsified": Verdict.FALSIFIED, "timeout": Verdict.TIMEOUT,
           "box_limit": Verdict.UNKNOWN, "resolution": Verdict.UNKNOWN}


def _s(v) -> str | None:
    """Exact text of a number (floats by their exact binary value), None passes through."""
    if v is None:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return fraction_to_str(to_fraction(v))


def _f(v) -> float | None:
    """A float for JSON: None for missing or non-finite values (strict JSON has no infinity)."""
    return None if v is None or not math.isfinite(v) else float(v)


def _vec(v) -> list | None:
    return None if v is None else [_s(x) for x in v]


def _geometry(region: Region):
    if region.kind == "box":
        return BoxGeometry(region.lower, region.upper)
    return BallGeometry(region.center, region.radius, region.norm)


def _outputs(network: Network, output) -> tuple[int, ...]:
    m = network.n_outputs
    if output is None:
        return tuple(range(m))
    k = int(output)
    if not 0 <= k < m:
        raise QueryError(f"output index {k} out of range: the network has {m} outputs (0..{m - 1})")
    return (k,)


def _point_box(x) -> tuple[np.ndarray, np.ndarray]:
    q = [to_fraction(v) for v in x]
    return np.array([float_down(v) for v in q]), np.array([float_up(v) for v in q])


def _enclose_at(network: Network, x) -> tuple[list[Fraction], list[Fraction]]:
    """Exact outputs at ``x`` as ``(y, y)`` for piecewise-linear networks, else a rigorous enclosure.

    Rigorous: ``lo[k] ≤ f_k(x) ≤ hi[k]`` (equality for piecewise-linear networks).
    """
    if network.piecewise_linear:
        y = network.evaluate_exact(x)
        return y, y
    Y = output_bounds(network, *_point_box(x))
    return [Fraction(v) for v in Y.lo.tolist()], [Fraction(v) for v in Y.hi.tolist()]


def _check_time(time_limit) -> float:
    if not (time_limit > 0):
        raise QueryError(f"time limit must be > 0, got {time_limit}")
    return float(time_limit)
