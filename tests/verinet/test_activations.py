"""The activation objects of :mod:`verinet.activations`: one per Activation member, format name tables,
and the kinked enclosures of both backends against exact rationals (at kinks, tiny and huge inputs)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from intervals.array import IntervalArray
from intervals.mparray import MPIntervalArray
from intervals.rounding import float_down, float_up
from tests.helpers import q
from verinet.activations import LeakyReLU, ReLU, activation_of, names
from verinet.network import Activation

_POINTS = [0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 0.1, -0.1, 1.0, -3.0, 1e300, -1e300]


def test_every_member_has_its_object():
    for a in Activation:
        f = activation_of(a)
        assert f.enum is a and a.impl is f and activation_of(a.value) is f
        assert a.piecewise_linear == (a in (Activation.IDENTITY, Activation.RELU, Activation.LEAKY_RELU))
        assert f.has_kinks == (a in (Activation.RELU, Activation.LEAKY_RELU))
        assert f.has_alpha == (a is Activation.LEAKY_RELU)


def test_format_names():
    A = Activation
    assert names("onnx") == {"Relu": A.RELU, "LeakyRelu": A.LEAKY_RELU, "Sigmoid": A.SIGMOID, "Tanh": A.TANH}
    assert names("torch") == {"ReLU": A.RELU, "LeakyReLU": A.LEAKY_RELU, "Sigmoid": A.SIGMOID, "Tanh": A.TANH}
    assert names("json") == names("npz") == {a.value: a for a in A}
    with pytest.raises(ValueError, match="unknown model format"):
        names("caffe")


@pytest.mark.parametrize("cls, alpha", [(ReLU, Fraction(0)), (LeakyReLU, Fraction(1, 10)),
                                        (LeakyReLU, Fraction(0)), (LeakyReLU, Fraction(1))])
def test_kinked_enclosures_contain_exact(cls, alpha):
    f = cls()
    a64 = (float_down(alpha), float_up(alpha))  # as the float64 backend prepares it
    amp = MPIntervalArray(np.array(alpha, dtype=object), prec=63).with_prec(53)
    pts = np.array(_POINTS)
    for lo, hi in [(pts, pts), (np.minimum(pts, 0.0), np.maximum(pts, 0.0))]:
        z = IntervalArray(lo, hi)
        zm = MPIntervalArray(lo, hi, prec=53)
        v, d = f.enclose_f64(z, a64), f.derivative_f64(z, a64)
        vm, dm = f.enclose_mp(zm, amp, 53).to_float(), f.derivative_mp(zm, amp, 53).to_float()
        for i in range(len(pts)):
            for x in {q(lo[i]), q(hi[i]), Fraction(0) if lo[i] <= 0 <= hi[i] else q(lo[i])}:
                ex = f.exact(x, alpha)
                # the Clarke derivative at 0 is the hull of both one-sided slopes
                slopes = [Fraction(1) if x > 0 else f.slope_below(alpha)] + ([Fraction(1)] if x == 0 else [])
                for enc_v, enc_d in ((v, d), (vm, dm)):
                    assert q(enc_v.lo[i]) <= ex <= q(enc_v.hi[i]), (x, i)
                    for s in slopes:
                        assert q(enc_d.lo[i]) <= s <= q(enc_d.hi[i]), (x, s, i)
        g = IntervalArray(np.full(len(pts), -2.0), np.full(len(pts), 3.0))
        c = f.chain_f64(g, z, a64)  # encloses every g·D with D in the derivative enclosure
        for i in range(len(pts)):
            for gv in (Fraction(-2), Fraction(3)):
                for dv in (q(d.lo[i]), q(d.hi[i])):
                    assert q(c.lo[i]) <= gv * dv <= q(c.hi[i])


def test_float_paths_are_consistent():
    z = np.linspace(-4, 4, 33)
    for a in Activation:
        f = a.impl
        if f.piecewise_linear:
            want = np.array([float(f.exact(Fraction(x), Fraction(1, 4))) for x in z])
            assert np.array_equal(f.value(z, 0.25), want)
        h = 1e-6
        num = (f.value(z + h, 0.25) - f.value(z - h, 0.25)) / (2 * h)
        away = np.abs(z) > 1e-3
        assert np.allclose(f.derivative(z, 0.25)[away], num[away], atol=1e-6)
