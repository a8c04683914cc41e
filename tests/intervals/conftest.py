"""Hypothesis profiles for the interval-engine tests.

``default``: quick local runs. ``ci``: derandomized (reproducible) and a little wider; loaded when the
``CI`` environment variable is set. Select one explicitly with ``--hypothesis-profile=NAME``.
"""

import os
from fractions import Fraction

import mpmath
import pytest
from hypothesis import HealthCheck, settings
from mpmath import libmp

settings.register_profile("default", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=80,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


# ---- high-precision reference for transcendental functions ---------------------------------------


_FUNCS = {
    "exp": lambda c, x: c.exp(x),
    "expm1": lambda c, x: c.expm1(x),
    "log": lambda c, x: c.log(x),
    "tanh": lambda c, x: c.tanh(x),
    "logistic": lambda c, x: 1 / (1 + c.exp(-x)),
}


def _mpf_fraction(v) -> Fraction:
    sign, man, exp, _ = v._mpf_
    return Fraction(-man if sign else man) * Fraction(2) ** exp


def encloses_reference(name: str, x: Fraction, lo: Fraction | None, hi: Fraction | None) -> bool:
    """True when ``[lo, hi]`` (``None`` = infinite) contains ``name(x)`` for the rational ``x``.

    All five functions are increasing. ``x`` is enclosed by ``[xl, xh]`` (``p``-bit numbers, directed
    rounding) and ``name`` evaluated there by mpmath in a *private* context at ``p`` = 400, 1200, 4000
    bits (the global ``mpmath.mp`` is never touched); ``[f(xl) - d, f(xh) + d]`` with
    ``d = |f|·2^-(p-40)`` (far above mpmath's few-ulp error) must lie inside ``[lo, hi]``. The precision
    escalates only to resolve values extremely close to an endpoint (``tanh(300)`` is within 1e-260 of
    1); a wrong enclosure fails at every precision. Comparisons are exact (Fractions).
    """
    exact = {("exp", 0): 1, ("expm1", 0): 0, ("tanh", 0): 0, ("logistic", 0): Fraction(1, 2), ("log", 1): 0}
    if (name, x) in exact:
        v = Fraction(exact[name, x])
        return (lo is None or lo <= v) and (hi is None or v <= hi)
    for p in (400, 1200, 4000):
        ctx = mpmath.MPContext()
        ctx.prec = p
        xl, xh = (ctx.make_mpf(libmp.from_rational(x.numerator, x.denominator, p, r)) for r in "fc")
        vl, vh = _mpf_fraction(_FUNCS[name](ctx, xl)), _mpf_fraction(_FUNCS[name](ctx, xh))
        dl, dh = abs(vl) / 2 ** (p - 40), abs(vh) / 2 ** (p - 40)
        if (lo is None or lo <= vl - dl) and (hi is None or vh + dh <= hi):
            return True
    return False


@pytest.fixture(scope="session")
def reference():
    """The :func:`encloses_reference` oracle."""
    return encloses_reference
