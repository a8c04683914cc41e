"""Split policies: how a node becomes children that together cover it.

* :func:`bisect` halves one input coordinate (or, ``"bisect-all"``, every one at once). Chosen by
  ``"influence"`` (largest width × score, the score being a per-coordinate bound of the objective's
  sensitivity, e.g. gradient magnitudes) or ``"widest"`` (largest width relative to the root's);
  ``"influence"`` falls back to ``"widest"`` when every score is 0.
* :func:`neuron_children` fixes the sign of one unstable neuron: the parts ``z ≤ 0`` and ``z ≥ 0`` cover
  the piece (why this is sound for each analysis is argued where its evaluation is).

A gradient-sign policy (split the piece by the sign of one gradient component) would be a third function
here returning sign vectors over the gradient components; objectives choose their policy per node.
Coordinates are halved at ``0.5·lo + 0.5·hi`` (no overflow); a coordinate whose midpoint rounds onto an
end cannot be split in float64.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["COORDINATE_RULES", "bisect", "neuron_children"]

COORDINATE_RULES = ("influence", "widest", "bisect-all")


def bisect(lo: np.ndarray, hi: np.ndarray, width0: np.ndarray, rule: str = "influence",
           score: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Children ``(lo, hi)`` of the box, or None when no coordinate can be split in float64.

    ``width0``: the root box's widths (``"widest"`` compares widths relative to them; zero widths count
    as 0). ``score``: per-coordinate influence for ``"influence"``.
    """
    mid = 0.5 * lo + 0.5 * hi
    splittable = (mid > lo) & (mid < hi)
    if not splittable.any():
        return None
    if rule == "bisect-all":
        axes = np.flatnonzero(splittable)
        kids = []
        for choice in itertools.product((0, 1), repeat=len(axes)):
            clo, chi = lo.copy(), hi.copy()
            for ax, side in zip(axes, choice):
                if side == 0:
                    chi[ax] = mid[ax]
                else:
                    clo[ax] = mid[ax]
            kids.append((clo, chi))
        return kids
    rel = np.divide(hi - lo, width0, out=np.zeros_like(width0, dtype=np.float64), where=width0 > 0)
    if rule == "influence":
        s = np.where(splittable, (hi - lo) * score, -1.0)
        ax = int(np.argmax(s)) if s.max() > 0 else int(np.argmax(np.where(splittable, rel, -1.0)))
    elif rule == "widest":
        ax = int(np.argmax(np.where(splittable, rel, -1.0)))
    else:
        raise ValueError(f"unknown coordinate rule {rule!r}: use one of {', '.join(COORDINATE_RULES)}")
    left_hi = hi.copy()
    left_hi[ax] = mid[ax]
    right_lo = lo.copy()
    right_lo[ax] = mid[ax]
    return [(lo.copy(), left_hi), (right_lo, hi.copy())]


def neuron_children(fix: np.ndarray, neuron: int, signs=(-1, 1)) -> list[np.ndarray]:
    """Sign vectors of the children fixing ``neuron`` to each of ``signs`` (−1: ``z ≤ 0``, +1: ``z ≥ 0``)."""
    out = []
    for s in signs:
        f = fix.copy()
        f[neuron] = s
        out.append(f)
    return out
