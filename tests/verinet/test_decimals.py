"""The vectorised decimal reader (verinet.io.decimals) against exact rationals, and the JSON loader
built on it: the tightest float64 enclosure of every decimal, the exact weights kept (lazily)."""

from __future__ import annotations

import itertools
import json
import pickle
import random
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from intervals.rounding import float_down, float_up
from tests.helpers import hyp
from verinet.io import decimals, load_network
from verinet.io.decimals import enclose_decimals


def _expected(s: str) -> tuple[float, float]:
    q = Fraction(s)
    return float_down(q), float_up(q)


def _assert_tightest(values: list[str]) -> None:
    r = enclose_decimals(values)
    assert r is not None
    lo, hi, text = r
    for i, s in enumerate(values):
        assert (lo[i], hi[i]) == _expected(s), s
        assert Fraction(text[i].decode()) == Fraction(s)


def _random_decimals(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 30)))
        out.append(rng.choice(["", "-", "+"]) + digits[:1] + "." + digits[1:] + f"e{rng.randint(-345, 307)}")
    return out


ADVERSARIAL = [
    "0", "-0", "0.5", "5.", ".5", "1E5", "+3", "-2.5e-3",
    "0.1", "0.1000000000000000055511151231257827021181583404541015625",  # the float nearest 0.1, exactly
    "0.10000000000000000555111512312578270211815834045410156249",  # just below it
    "0.10000000000000000555111512312578270211815834045410156251",  # just above it
    "9007199254740993",  # 2^53 + 1: halfway between two floats
    "9007199254740992.5", "1.0000000000000002220446049250313080847263336181640625",  # 1 + ulp, exact
    "1.00000000000000011102230246251565404236316680908203125",  # halfway between 1 and 1 + ulp
    "4.9406564584124654e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",  # subnormal min, half
    "1e-400", "-1e-400", "2.2250738585072011e-308", "2.2250738585072014e-308",
    "1.7976931348623157e308", "1.7976931348623158e308",  # above the largest float: [max, inf]
]


def test_adversarial_decimals_get_their_tightest_enclosure():
    _assert_tightest(ADVERSARIAL)


def test_random_decimals_get_their_tightest_enclosure():
    _assert_tightest(_random_decimals(random.Random(0), 4000))
    _assert_tightest([str(float(x)) for x in np.random.default_rng(1).standard_normal(500)])


def test_without_extended_precision_everything_is_settled_exactly(monkeypatch):
    monkeypatch.setattr(decimals, "_longdouble_ok", lambda: False)
    _assert_tightest(ADVERSARIAL + _random_decimals(random.Random(2), 300))


def test_the_extended_parser_is_faithful_where_it_is_used():
    """The one assumption of the fast path: bytes → longdouble rounds to one of the two neighbours."""
    if not decimals._longdouble_ok():
        pytest.skip("no 64-bit-significand long double here: every entry is settled exactly")
    vals = _random_decimals(random.Random(4), 3000) + ADVERSARIAL[:-2]
    ld = np.array(vals, dtype="S").astype(np.longdouble)
    for s, v in zip(vals, ld):
        q = Fraction(s)
        n, d = v.as_integer_ratio()
        if q != 0 and abs(q) > Fraction(2) ** -16000:
            assert abs(Fraction(n, d) - q) <= abs(q) * Fraction(1, 2**63), s


@pytest.mark.parametrize("bad", [["1/3"], ["nan"], ["inf"], ["1e400"], [" 1"], ["1..2"], [""], ["1_0"], ["0x1p3"],
                                 ["1e"], ["e5"], ["--1"], [1], [True], ["١"]])
def test_anything_unusual_takes_the_exact_path(bad):
    assert enclose_decimals(bad) is None


def test_accepts_exactly_what_fraction_accepts_on_the_alphabet():
    for n in range(1, 5):
        for t in itertools.product("01.eE+-", repeat=n):
            s = "".join(t)
            try:
                Fraction(s)
                ok = True
            except ValueError:
                ok = False
            r = enclose_decimals([s])
            assert (r is not None) == ok, s
            if ok:
                assert (r[0][0], r[1][0]) == _expected(s)


@hyp(60)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=None).map(str).filter(lambda s: "E" in s or "." in s or s.lstrip("-").isdigit()))
def test_property_decimals(s):
    r = enclose_decimals([s])
    if r is not None:
        assert (r[0][0], r[1][0]) == _expected(s)


def _write(tmp_path, layers):
    p = tmp_path / "net.json"
    p.write_text(json.dumps({"layers": layers}))
    return p


def test_json_loader_keeps_the_exact_decimal_meaning(tmp_path):
    W = [["0.1", "-0.25"], ["1e-400", "3"]]
    b = ["0.3", "-0"]
    net = load_network(_write(tmp_path, [{"weight": W, "bias": b}, {"weight": [["1", "2"]], "bias": ["0"]}]))
    L = net.layers[0]
    for i, j in itertools.product(range(2), range(2)):
        assert (L.weight_lo[i, j], L.weight_hi[i, j]) == _expected(W[i][j])
    assert L.weight_q is not None and L.weight_q[0, 0] == Fraction(1, 10) and L.weight_q[1, 0] == Fraction(1, 10**400)
    assert list(L.bias_q) == [Fraction(3, 10), 0]
    assert net.layers[1].is_float_exact and net.layers[1].weight_q is None
    # the layer survives pickling (worker processes) before and after its exact weights are built
    L2 = pickle.loads(pickle.dumps(net.layers[0]))
    assert L2.weight_q[0, 0] == Fraction(1, 10)


def test_json_fast_and_exact_paths_agree(tmp_path):
    rng = random.Random(3)
    vals = _random_decimals(rng, 12) + ADVERSARIAL[:12]
    W = [vals[i * 6:(i + 1) * 6] for i in range(4)]
    fast = load_network(_write(tmp_path, [{"weight": W, "bias": ["0.5"] * 4}])).layers[0]
    Wmixed = [row[:] for row in W]
    Wmixed[0][0] = "1/3"  # a ratio sends the layer through the exact path
    exact = load_network(_write(tmp_path, [{"weight": Wmixed, "bias": ["0.5"] * 4}])).layers[0]
    assert np.array_equal(fast.weight_lo[1:], exact.weight_lo[1:]) and np.array_equal(fast.weight_hi[1:], exact.weight_hi[1:])
    assert list(fast.weight_q.reshape(-1)[1:]) == list(exact.weight_q.reshape(-1)[1:])
