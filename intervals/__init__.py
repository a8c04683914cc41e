"""intervals: rigorous interval arithmetic (float64 with Numba kernels, and arbitrary precision via mpmath).

Every operation returns an enclosure of the exact real result for all real inputs in the operands.
Usable on its own: knows nothing about neural networks.
"""

from __future__ import annotations

__all__: list[str] = []
