"""Exact decimal formatting: every string reads back as the same rational."""

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from verinet.exactfmt import fraction_to_str


def test_regression_long_decimals_are_not_rounded():
    """The decimal module's 28-digit context used to round long expansions (e.g. region corners)."""
    q = Fraction(115461257624395294189453125, 137438953472)
    assert Fraction(fraction_to_str(q)) == q


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**40), 10**40), st.integers(0, 120), st.integers(0, 60), st.integers(1, 7))
def test_fraction_to_str_round_trips(num, twos, fives, other):
    q = Fraction(num, 2**twos * 5**fives * other)
    assert Fraction(fraction_to_str(q)) == q
