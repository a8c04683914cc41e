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

__all__ = ["logistic_bounds", "tanh_bounds", "logistic_deriv_bounds", "tanh_deriv_bounds",
           "logistic_bounds_mpf", "tanh_bounds_mpf", "logistic_deriv_bounds_mpf", "tanh_deriv_bounds_mpf"]

_ONE = (libmp.fone, libmp.fone)
_TWO = (libmp.from_int(2), libmp.from_int(2))


def _exp_iv(x, prec: int):
    """Enclosure of ``exp`` on the mpmath interval ``x``: exp is increasing, so :func:`rounding.mp_exp`
    (every step directed, proved) rounded down at the lower end and up at the upper end.

    Not ``libmpi.mpi_exp``: ``libmp.mpf_exp`` is not directed (it truncates its argument to ``prec + 14``
    bits), e.g. ``exp(3.6e-21)`` at 53 bits rounded *up* returns exactly 1, below the true value.
    """
    return R.mp_exp(x[0], prec, R.MP_FLOOR), R.mp_exp(x[1], prec, R.MP_CEIL)


def _point(x: float, prec: int):
    v = R.mpf_from_float(x, max(prec, 53), R.MP_FLOOR)  # exact at >= 53 bits
    return (v, v)


def _logistic_iv(x: float, prec: int):
    if math.isinf(x):
        v = libmp.fone if x > 0 else libmp.fzero
        return (v, v)
    e = _exp_iv(I.mpi_neg(_point(x, prec)), prec)
    return I.mpi_div(_ONE, I.mpi_add(_ONE, e, prec), prec)


def _tanh_iv(x: float, prec: int):
    if math.isinf(x):
        v = libmp.fone if x > 0 else libmp.fnone
        return (v, v)
    e = _exp_iv(I.mpi_mul(_TWO, _point(x, prec), prec), prec)
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


# --------------------------------------------------------------------------------------------------
# mp variants: exact raw-mpf endpoints in, raw-mpf enclosures at ``prec`` bits out (the mp backend)
#
# Built on the proved directed primitives of :mod:`intervals.rounding` (``mp_logistic``, ``mp_tanh``,
# ``mp_exp``, ``mp_add``/``mp_sub``/``mp_mul``/``mp_div``), and written to keep *relative* accuracy where
# a direct formula cancels: the derivatives use σ'(t) = σ(−|t|)·(1 − σ(−|t|)) and
# tanh'(t) = 4u/(1 + u)² with u = e^{−2|t|} (1 − σ(|t|) and 1 − tanh²(|t|) would be 0 ± 2^−prec for large
# |t|); ``mp_tanh`` is accurate near 0 (expm1).
# --------------------------------------------------------------------------------------------------

#: beyond ``|x| >= 2^20`` the functions are evaluated at ``±2^20`` (monotonicity keeps this sound, and at
#: any precision below a million bits it loses nothing: ``e^{−2^20} < 2^{−1.5·10^6}``)
_SAT = libmp.from_int(1 << 20)
_NSAT = libmp.mpf_neg(_SAT)
_QUARTER = libmp.from_man_exp(1, -2)
_HALF = libmp.from_man_exp(1, -1)


def _sat(v):
    """``v`` clamped to ``[−2^20, 2^20]``, and which side was clamped (−1, 0, +1)."""
    if libmp.mpf_gt(v, _SAT):
        return _SAT, 1
    if libmp.mpf_lt(v, _NSAT):
        return _NSAT, -1
    return v, 0


def _logistic_iv_mpf(v, prec: int):
    """Enclosure of ``logistic(v)`` for an exact raw mpf ``v``, clipped to ``[0, 1]``."""
    w, side = _sat(v)
    lo = _clip(R.mp_logistic(w, prec, R.MP_FLOOR), libmp.fzero, libmp.fone)
    hi = _clip(R.mp_logistic(w, prec, R.MP_CEIL), libmp.fzero, libmp.fone)
    # clamped: logistic(v) >= logistic(2^20) for v > 2^20 (increasing) and <= 1; symmetrically below
    if side > 0:
        hi = libmp.fone
    elif side < 0:
        lo = libmp.fzero
    return lo, hi


def _tanh_iv_mpf(v, prec: int):
    """Enclosure of ``tanh(v)`` for an exact raw mpf ``v``, clipped to ``[−1, 1]``."""
    w, side = _sat(v)
    lo = _clip(R.mp_tanh(w, prec, R.MP_FLOOR), libmp.fnone, libmp.fone)
    hi = _clip(R.mp_tanh(w, prec, R.MP_CEIL), libmp.fnone, libmp.fone)
    if side > 0:  # tanh(v) in [tanh(2^20), 1] (increasing)
        hi = libmp.fone
    elif side < 0:
        lo = libmp.fnone
    return lo, hi


def _mig_mag_mpf(lo, hi):
    """Exact ``min |x|`` and ``max |x|`` over ``[lo, hi]`` (raw mpf)."""
    alo, ahi = libmp.mpf_abs(lo), libmp.mpf_abs(hi)
    mag = ahi if libmp.mpf_ge(ahi, alo) else alo
    if libmp.mpf_le(lo, libmp.fzero) and libmp.mpf_ge(hi, libmp.fzero):
        return libmp.fzero, mag  # 0 in [lo, hi]
    return (alo if libmp.mpf_le(alo, ahi) else ahi), mag


def _logistic_deriv_mpf(t, prec: int, rnd: str):
    """``σ'(t)`` for an exact ``t >= 0``, rounded on the ``rnd`` side.

    ``σ'(t) = f(s)`` with ``s = σ(−t)`` in ``(0, 1/2]`` and ``f(s) = s(1 − s)`` increasing there: evaluate
    ``f`` at the bound of ``s`` on the same side (clipped to ``1/2``), each operation rounded that way.
    Beyond ``2^20``: ``0 <= σ'(t) <= σ'(2^20)``.
    """
    w, side = _sat(t)
    if side and rnd == R.MP_FLOOR:
        return libmp.fzero
    wp = prec + 10
    s = R.mp_logistic(libmp.mpf_neg(w), wp, rnd)
    s = _clip(s, libmp.fzero, _HALF)
    return R.mp_mul(s, R.mp_sub(libmp.fone, s, wp, rnd), prec, rnd)


def _tanh_deriv_mpf(t, prec: int, rnd: str):
    """``tanh'(t)`` for an exact ``t >= 0``, rounded on the ``rnd`` side.

    ``tanh'(t) = 1 − tanh²(t) = g(u) = 4u/(1 + u)²`` with ``u = e^{−2t}`` in ``(0, 1]``; ``g`` is increasing
    there (``g'(u) = 4(1 − u)/(1 + u)³``), so the bound of ``u`` on the ``rnd`` side is used, the numerator
    rounded that way and the denominator the other way. Beyond ``2^20``: ``0 <= tanh'(t) <= tanh'(2^20)``.
    """
    w, side = _sat(t)
    if side and rnd == R.MP_FLOOR:
        return libmp.fzero
    wp = prec + 10
    other = R.MP_CEIL if rnd == R.MP_FLOOR else R.MP_FLOOR
    u = _clip(R.mp_exp(libmp.mpf_neg(libmp.mpf_shift(w, 1)), wp, rnd), libmp.fzero, libmp.fone)
    a = R.mp_add(libmp.fone, u, wp, other)
    return R.mp_div(libmp.mpf_shift(u, 2), R.mp_mul(a, a, wp, other), prec, rnd)


def logistic_bounds_mpf(lo, hi, prec: int):
    """Raw-mpf enclosure ``(lower, upper)`` of ``logistic([lo, hi])`` at ``prec`` bits.

    ``lo <= hi`` are exact raw mpf tuples (``mpmath.libmp``). Increasing function: the lower bound is
    taken at ``lo`` and the upper at ``hi``.

    Rigorous: contains ``1/(1 + e^{−x})`` for every real ``x`` in ``[lo, hi]``.
    """
    return _logistic_iv_mpf(lo, prec)[0], _logistic_iv_mpf(hi, prec)[1]


def tanh_bounds_mpf(lo, hi, prec: int):
    """Raw-mpf enclosure ``(lower, upper)`` of ``tanh([lo, hi])`` at ``prec`` bits.

    Rigorous: contains ``tanh(x)`` for every real ``x`` in ``[lo, hi]`` (increasing function).
    """
    return _tanh_iv_mpf(lo, prec)[0], _tanh_iv_mpf(hi, prec)[1]


def logistic_deriv_bounds_mpf(lo, hi, prec: int):
    """Raw-mpf enclosure of ``logistic'([lo, hi])``: even and decreasing in ``|x|``, so the range is
    ``[σ'(mag), σ'(mig)]``, each end rounded outward at ``prec`` bits.

    Rigorous: contains ``σ(x)(1 − σ(x))`` for every real ``x`` in ``[lo, hi]``.
    """
    mig, mag = _mig_mag_mpf(lo, hi)
    dl = _logistic_deriv_mpf(mag, prec, R.MP_FLOOR)
    dh = _logistic_deriv_mpf(mig, prec, R.MP_CEIL)
    return (dl if libmp.mpf_gt(dl, libmp.fzero) else libmp.fzero,
            dh if libmp.mpf_lt(dh, _QUARTER) else _QUARTER)  # 0 <= σ' <= 1/4 everywhere


def tanh_deriv_bounds_mpf(lo, hi, prec: int):
    """Raw-mpf enclosure of ``tanh'([lo, hi]) = 1 − tanh²``: even, decreasing in ``|x|``.

    Rigorous: contains ``1 − tanh(x)²`` for every real ``x`` in ``[lo, hi]``.
    """
    mig, mag = _mig_mag_mpf(lo, hi)
    dl = _tanh_deriv_mpf(mag, prec, R.MP_FLOOR)
    dh = _tanh_deriv_mpf(mig, prec, R.MP_CEIL)
    return (dl if libmp.mpf_gt(dl, libmp.fzero) else libmp.fzero,
            dh if libmp.mpf_lt(dh, libmp.fone) else libmp.fone)  # 0 <= tanh' <= 1 everywhere
