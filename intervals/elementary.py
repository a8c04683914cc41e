"""Sound enclosures of the smooth activations and their derivatives, at any precision.

Built from mpmath's interval kernels (``mpmath.libmp.libmpi``: every operation returns an interval that
contains the exact result), applied to point or interval arguments. Monotonicity gives the enclosure on
an interval from its endpoints:

* ``logistic(x) = 1 / (1 + exp(−x))`` and ``tanh(x) = 1 − 2 / (exp(2x) + 1)`` are increasing;
* their derivatives ``logistic' = logistic·(1 − logistic)`` and ``tanh' = 1 − tanh²`` are even and
  decreasing in ``|x|``, so on ``[a, b]`` they range over ``[f'(mag), f'(mig)]``.
"""

from __future__ import annotations

import math

from mpmath.libmp import libmpi as I
from mpmath import libmp

from intervals import rounding as R

__all__ = ["logistic_bounds", "tanh_bounds", "logistic_deriv_bounds", "tanh_deriv_bounds"]

_ONE = (libmp.fone, libmp.fone)
_TWO = (libmp.from_int(2), libmp.from_int(2))


def _point(x: float, prec: int):
    v = R.mpf_from_float(x, max(prec, 53), R.MP_FLOOR)  # exact at >= 53 bits
    return (v, v)


def _logistic_iv(x: float, prec: int):
    if math.isinf(x):
        v = libmp.fone if x > 0 else libmp.fzero
        return (v, v)
    e = I.mpi_exp(I.mpi_neg(_point(x, prec)), prec)
    return I.mpi_div(_ONE, I.mpi_add(_ONE, e, prec), prec)


def _tanh_iv(x: float, prec: int):
    if math.isinf(x):
        v = libmp.fone if x > 0 else libmp.fnone
        return (v, v)
    e = I.mpi_exp(I.mpi_mul(_TWO, _point(x, prec), prec), prec)
    t = I.mpi_sub(_ONE, I.mpi_div(_TWO, I.mpi_add(e, _ONE, prec), prec), prec)
    # tanh ∈ [−1, 1]: intersecting keeps the enclosure valid and tight near saturation
    return (_clip(t[0], libmp.fnone, libmp.fone), _clip(t[1], libmp.fnone, libmp.fone))


def _clip(v, lo, hi):
    if libmp.mpf_lt(v, lo):
        return lo
    if libmp.mpf_gt(v, hi):
        return hi
    return v


def _to_floats(iv) -> tuple[float, float]:
    return R.mpf_to_float_down(iv[0]), R.mpf_to_float_up(iv[1])


def logistic_bounds(lo: float, hi: float, prec: int = 64) -> tuple[float, float]:
    """Float64 enclosure of ``logistic([lo, hi])``.

    Rigorous: contains ``1/(1 + e^{−x})`` for every real ``x`` in ``[lo, hi]`` (increasing function,
    endpoints enclosed with interval kernels).
    """
    return _to_floats(_logistic_iv(lo, prec))[0], _to_floats(_logistic_iv(hi, prec))[1]


def tanh_bounds(lo: float, hi: float, prec: int = 64) -> tuple[float, float]:
    """Float64 enclosure of ``tanh([lo, hi])``.

    Rigorous: contains ``tanh(x)`` for every real ``x`` in ``[lo, hi]``.
    """
    return _to_floats(_tanh_iv(lo, prec))[0], _to_floats(_tanh_iv(hi, prec))[1]


def _mig_mag(lo: float, hi: float) -> tuple[float, float]:
    mig = 0.0 if lo <= 0.0 <= hi else min(abs(lo), abs(hi))
    return mig, max(abs(lo), abs(hi))


def logistic_deriv_bounds(lo: float, hi: float, prec: int = 64) -> tuple[float, float]:
    """Float64 enclosure of ``logistic'([lo, hi])`` (even, decreasing in ``|x|``).

    Rigorous: contains ``σ(x)(1 − σ(x))`` for every real ``x`` in ``[lo, hi]``.
    """
    mig, mag = _mig_mag(lo, hi)

    def d(t: float):
        s = _logistic_iv(t, prec)
        return I.mpi_mul(s, I.mpi_sub(_ONE, s, prec), prec)

    dl = d(mag)
    dh = d(mig)
    return max(R.mpf_to_float_down(dl[0]), 0.0), R.mpf_to_float_up(dh[1])


def tanh_deriv_bounds(lo: float, hi: float, prec: int = 64) -> tuple[float, float]:
    """Float64 enclosure of ``tanh'([lo, hi]) = 1 − tanh²`` (even, decreasing in ``|x|``).

    Rigorous: contains ``1 − tanh(x)²`` for every real ``x`` in ``[lo, hi]``.
    """
    mig, mag = _mig_mag(lo, hi)

    def d(t: float):
        th = _tanh_iv(abs(t), prec)  # tanh(|t|) >= 0, so squaring the interval is monotone
        return I.mpi_sub(_ONE, I.mpi_mul(th, th, prec), prec)

    dl = d(mag)
    dh = d(mig)
    return max(R.mpf_to_float_down(dl[0]), 0.0), min(R.mpf_to_float_up(dh[1]), 1.0)
