"""VNN-LIB 1.0 reader: exact numbers, DNF into cases, errors, exact violation checks, result format."""

from __future__ import annotations

import gzip
import hashlib
import math
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verinet.io.vnnlib as vnnlib_mod
from verinet.errors import PropertyFormatError, QueryError
from verinet.io.vnnlib import (
    LinearConstraint,
    PropertyCase,
    VnnlibProperty,
    format_counterexample,
    parse_vnnlib,
)

DATA = Path(__file__).resolve().parents[1] / "data"
SHARED = Path(__file__).resolve().parents[1] / "data"
LOCAL_FILES = sorted(DATA.glob("*.vnnlib"))
SHARED_FILES = sorted(SHARED.glob("**/*.vnnlib")) if SHARED.is_dir() else []

F = Fraction
HEADER_1_1 = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n"


def header(n_in: int, n_out: int) -> str:
    return "".join(f"(declare-const X_{i} Real)\n" for i in range(n_in)) + "".join(
        f"(declare-const Y_{j} Real)\n" for j in range(n_out)
    )


def box_text(bounds: list[tuple[str, str]]) -> str:
    return "".join(
        f"(assert (>= X_{i} {lo}))\n(assert (<= X_{i} {hi}))\n" for i, (lo, hi) in enumerate(bounds)
    )


def e(j: int, n: int, c: int = 1) -> tuple[Fraction, ...]:
    return tuple(F(c) if k == j else F(0) for k in range(n))


def le(coef: tuple[Fraction, ...], rhs=0, strict: bool = False) -> LinearConstraint:
    return LinearConstraint(coef, F(rhs), strict)


def bounds_from_text(text: str) -> tuple[dict[int, Fraction], dict[int, Fraction]]:
    """Upper/lower bounds written as (assert (<= X_i v)) / (assert (>= X_i v)) lines, read independently."""
    lower, upper = {}, {}
    for op, i, v in re.findall(r"\(assert \((<=|>=) X_(\d+) ([-+0-9.eE]+)\)\)", text):
        (upper if op == "<=" else lower)[int(i)] = Fraction(v)
    return lower, upper


# ------------------------------------------------------------------------------------------------
# every file parses; known properties


def test_local_copies_present():
    names = {p.name for p in LOCAL_FILES}
    assert {f"prop_{k}.vnnlib" for k in range(1, 5)} <= names
    assert {"test_nano.vnnlib", "test_tiny.vnnlib", "test_small.vnnlib", "test_prop.vnnlib"} <= names


@pytest.mark.parametrize("path", LOCAL_FILES + SHARED_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_file_parses_and_bounds_match_text(path):
    prop = parse_vnnlib(path)
    assert prop.source == str(path)
    assert prop.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert prop.n_inputs >= 1 and prop.n_outputs >= 1 and len(prop.cases) == 1
    case = prop.cases[0]
    lower, upper = bounds_from_text(path.read_text())
    if lower:  # files with top-level bound asserts: each bound is the exact decimal of the text
        assert case.lower == tuple(lower[i] for i in range(prop.n_inputs))
        assert case.upper == tuple(upper[i] for i in range(prop.n_inputs))
    for lo, hi in zip(case.lower, case.upper):
        assert isinstance(lo, Fraction) and isinstance(hi, Fraction) and lo <= hi


def test_str_path_and_pathlike_agree():
    p = DATA / "prop_3.vnnlib"
    assert parse_vnnlib(str(p)) == parse_vnnlib(p)


def test_prop_1():
    prop = parse_vnnlib(DATA / "prop_1.vnnlib")
    assert (prop.n_inputs, prop.n_outputs) == (5, 5)
    (case,) = prop.cases
    assert case.lower == (F("0.6"), F("-0.5"), F("-0.5"), F("0.45"), F("-0.5"))
    assert case.upper == (F("0.679857769"), F("0.5"), F("0.5"), F("0.5"), F("-0.45"))
    assert case.upper[0] == F(679857769, 10**9)
    # unsafe if Y_0 >= 3.991125645861615, i.e. -Y_0 <= -3.991125645861615
    assert case.unsafe == ((le(e(0, 5, -1), -F("3.991125645861615")),),)


def test_prop_2():
    (case,) = parse_vnnlib(DATA / "prop_2.vnnlib").cases
    assert case.lower[3] == F(9, 20) and case.upper[4] == F(-9, 20)
    # Y_j <= Y_0  ->  -Y_0 + Y_j <= 0
    expected = tuple(
        le(tuple(F(-1) if k == 0 else F(1) if k == j else F(0) for k in range(5))) for j in range(1, 5)
    )
    assert case.unsafe == (expected,)


@pytest.mark.parametrize("name", ["prop_3.vnnlib", "prop_4.vnnlib", "test_prop.vnnlib"])
def test_coc_minimal_properties(name):
    (case,) = parse_vnnlib(DATA / name).cases
    expected = tuple(
        le(tuple(F(1) if k == 0 else F(-1) if k == j else F(0) for k in range(5))) for j in range(1, 5)
    )
    assert case.unsafe == (expected,)
    assert all(not c.strict for c in expected)


def test_prop_3_and_4_bounds():
    (c3,) = parse_vnnlib(DATA / "prop_3.vnnlib").cases
    assert c3.lower[0] == F("-0.303531156") and c3.upper[0] == F("-0.298552812")
    assert c3.lower[1] == F(-9549297, 10**9) and c3.upper[1] == F(9549297, 10**9)
    assert c3.lower[2] == F("0.493380324") and c3.upper[2] == F(1, 2)
    (c4,) = parse_vnnlib(DATA / "prop_4.vnnlib").cases
    assert c4.lower[2] == c4.upper[2] == 0
    assert (c4.lower[4], c4.upper[4]) == (F("0.083333333"), F("0.166666667"))
    (ct,) = parse_vnnlib(DATA / "test_prop.vnnlib").cases
    assert ct.upper[2] == F("0.49999999998567607") and ct.upper[2] != F(0.49999999998567607)


def test_vnncomp_tiny_files():
    nano = parse_vnnlib(DATA / "test_nano.vnnlib")
    assert (nano.n_inputs, nano.n_outputs) == (1, 1)
    assert nano.cases == (PropertyCase((F(-1),), (F(1),), ((le((F(1),), -1),),)),)
    for name in ("test_tiny.vnnlib", "test_small.vnnlib"):
        prop = parse_vnnlib(DATA / name)
        # (or (and (>= X_0 -1) (<= X_0 1) (>= Y_0 100))): one box, unsafe iff Y_0 >= 100
        assert prop.cases == (PropertyCase((F(-1),), (F(1),), ((le((F(-1),), -100),),)),)
        assert prop.violated_by_exact([0], [100]) and not prop.violated_by_exact([0], [F(9999, 100)])


# ------------------------------------------------------------------------------------------------
# exact numbers and linear terms


@pytest.mark.parametrize(
    "lo, hi, expected_lo, expected_hi",
    [
        ("-0.1", "0.1", F(-1, 10), F(1, 10)),
        ("-1e-05", "1E+2", F(-1, 100000), F(100)),
        ("(- 0.5)", ".5", F(-1, 2), F(1, 2)),
        ("(- 1 3)", "(+ 0.25 0.5 (- 0.25))", F(-2), F(1, 2)),
        ("-2.5e-3", "3.", F(-1, 400), F(3)),
        ("(/ 1 3)", "(* 2 (/ 1 3))", F(1, 3), F(2, 3)),
        ("0.30000000000000000000000000001", "0.3000000000000000000000000001",
         F(30000000000000000000000000001, 10**29), F(3000000000000000000000000001, 10**28)),
    ],
)
def test_exact_numbers(lo, hi, expected_lo, expected_hi):
    prop = parse_vnnlib(HEADER_1_1 + f"(assert (>= X_0 {lo}))\n(assert (<= X_0 {hi}))\n(assert (<= Y_0 0))")
    assert prop.cases[0].lower == (expected_lo,) and prop.cases[0].upper == (expected_hi,)
    assert type(prop.cases[0].lower[0]) is Fraction


def test_point_one_is_not_a_float():
    prop = parse_vnnlib(HEADER_1_1 + "(assert (<= X_0 0.1)) (assert (>= X_0 0)) (assert (<= Y_0 0.1))")
    assert prop.cases[0].upper[0] == F(1, 10) != F(0.1)
    assert prop.cases[0].unsafe[0][0].rhs == F(1, 10)
    assert prop.violated_by_exact([F(1, 10)], [F(1, 10)])
    assert not prop.violated_by_exact([0.1], [0])  # float 0.1 is 0.1000000000000000055...
    assert prop.violated_by_exact([0], [math.nextafter(0.1, 0)])


def test_scaled_and_equality_input_bounds():
    text = header(3, 1) + (
        "(assert (<= (* 2 X_0) 1)) (assert (>= (* 4 X_0) -1))"  # X_0 in [-1/4, 1/2]
        "(assert (<= (* -2 X_1) 1)) (assert (<= (- X_1) -0.25))"  # -2 X_1 <= 1: X_1 >= -1/2; X_1 >= 1/4
        "(assert (<= X_1 (+ 0.5 0.5)))"
        "(assert (= X_2 0.125))"
        "(assert (>= Y_0 0))"
    )
    (case,) = parse_vnnlib(text).cases
    assert case.lower == (F(-1, 4), F(1, 4), F(1, 8)) and case.upper == (F(1, 2), F(1), F(1, 8))


def test_repeated_bounds_intersect():
    text = HEADER_1_1 + "(assert (<= X_0 1)) (assert (<= X_0 0.5)) (assert (>= X_0 -1)) (assert (>= X_0 -2))"
    (case,) = parse_vnnlib(text + "(assert (<= Y_0 0))").cases
    assert (case.lower, case.upper) == ((F(-1),), (F(1, 2),))


def test_output_linear_terms_and_strictness():
    text = header(1, 3) + box_text([("0", "1")]) + (
        "(assert (> (+ Y_0 (* 2 Y_1)) (- Y_2 1.5)))\n"  # Y_2 - 1.5 < Y_0 + 2 Y_1  ->  -Y_0 - 2Y_1 + Y_2 < 1.5
        "(assert (= (* 0.5 Y_0) Y_2))\n"  # 0.5 Y_0 - Y_2 <= 0 and -0.5 Y_0 + Y_2 <= 0
        "(assert (<= Y_1 Y_1 3))\n"  # chain: Y_1 <= Y_1 (always) and Y_1 <= 3
    )
    (case,) = parse_vnnlib(text).cases
    assert case.unsafe == (
        (
            LinearConstraint((F(-1), F(-2), F(1)), F(3, 2), True),
            LinearConstraint((F(1, 2), F(0), F(-1)), F(0), False),
            LinearConstraint((F(-1, 2), F(0), F(1)), F(0), False),
            LinearConstraint((F(0), F(1), F(0)), F(3), False),
        ),
    )


# ------------------------------------------------------------------------------------------------
# DNF


def test_or_of_output_conjunctions_is_one_case():
    text = header(2, 3) + box_text([("0", "1"), ("-1", "0")]) + (
        "(assert (or (and (<= Y_0 Y_1) (<= Y_0 Y_2)) (and (>= Y_1 Y_0))))"
    )
    prop = parse_vnnlib(text)
    (case,) = prop.cases
    y01 = le((F(1), F(-1), F(0)))
    y02 = le((F(1), F(0), F(-1)))
    assert case.unsafe == ((y01, y02), (y01,))
    assert prop.violated_by_exact([F(1, 2), 0], [0, 1, -1])  # second disjunct
    assert not prop.violated_by_exact([F(1, 2), 0], [2, 1, 3])


def test_or_of_input_boxes_gives_several_cases():
    text = header(1, 2) + """
    ; two boxes, each with its own output condition
    (assert (or
        (and (>= X_0 0) (<= X_0 1) (<= Y_0 Y_1))
        (and (>= X_0 2) (<= X_0 3) (>= Y_0 Y_1))
        (and (>= X_0 0) (<= X_0 1) (< Y_0 -7))
    ))
    """
    prop = parse_vnnlib(text)
    assert len(prop.cases) == 2
    c1, c2 = prop.cases
    assert (c1.lower, c1.upper, c2.lower, c2.upper) == ((0,), (1,), (2,), (3,))
    assert c1.unsafe == ((le((F(1), F(-1))),), (le((F(1), F(0)), -7, True),))
    assert c2.unsafe == ((le((F(-1), F(1))),),)
    assert prop.violated_by_exact([F(1, 2)], [0, 1])
    assert not prop.violated_by_exact([F(1, 2)], [1, 0])
    assert prop.violated_by_exact([F(5, 2)], [1, 0])
    assert not prop.violated_by_exact([F(3, 2)], [0, 1])  # between the boxes
    assert prop.violated_by_exact([1], [-8, -9])  # third disjunct, same box as the first


def test_conjunction_of_ors_multiplies_out():
    text = header(1, 2) + box_text([("0", "1")]) + (
        "(assert (or (<= Y_0 0) (<= Y_0 1)))\n(assert (or (<= Y_1 0) (<= Y_1 1) (<= Y_1 2)))"
    )
    (case,) = parse_vnnlib(text).cases
    assert len(case.unsafe) == 6
    assert case.unsafe[0] == (le((F(1), F(0)), 0), le((F(0), F(1)), 0))
    assert case.unsafe[-1] == (le((F(1), F(0)), 1), le((F(0), F(1)), 2))


def test_not_and_constants():
    text = header(1, 1) + box_text([("0", "1")]) + (
        "(assert (not (or (> Y_0 1) (not (>= Y_0 -1)))))\n"  # -1 <= Y_0 <= 1
        "(assert (<= 0 1))\n"  # true: dropped
        "(assert (or (< 1 0) (= Y_0 Y_0) (not (= 0 0))))\n"  # only the middle disjunct (true) survives
    )
    (case,) = parse_vnnlib(text).cases
    assert case.unsafe == ((le((F(1),), 1), le((F(-1),), 1)),)


def test_negated_equality_is_a_disjunction():
    text = header(1, 1) + box_text([("0", "1")]) + "(assert (not (= Y_0 2)))"
    (case,) = parse_vnnlib(text).cases
    assert case.unsafe == ((le((F(1),), 2, True),), (le((F(-1),), -2, True),))


def test_false_property_has_no_cases():
    prop = parse_vnnlib(header(1, 1) + box_text([("0", "1")]) + "(assert (> 0 0))")
    assert prop.cases == () and not prop.violated_by_exact([0], [0])


def test_comments_layout_and_ignored_commands():
    text = """; a comment (with parentheses that do not count
    (set-logic QF_LRA) (declare-fun X_0 () Real)   ; trailing comment )))
    (declare-const Y_0 Real)(assert(<= X_0 1));no space needed before comments
    (assert (>= X_0
       -1))
    (assert (<= Y_0 0)) (check-sat) (get-model) (exit)
    """
    (case,) = parse_vnnlib(text).cases
    assert (case.lower, case.upper) == ((-1,), (1,))


def test_gzip_file(tmp_path):
    raw = (DATA / "prop_3.vnnlib").read_bytes()
    path = tmp_path / "prop_3.vnnlib.gz"
    path.write_bytes(gzip.compress(raw))
    prop = parse_vnnlib(path)
    assert prop.cases == parse_vnnlib(DATA / "prop_3.vnnlib").cases
    assert prop.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_text_has_no_source_but_a_digest():
    text = (DATA / "test_nano.vnnlib").read_text()
    prop = parse_vnnlib(text)
    assert prop.source is None and prop.sha256 == hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------------------------------------
# errors

BOX = box_text([("0", "1")])


@pytest.mark.parametrize(
    "text, fragment",
    [
        (HEADER_1_1 + "(assert (<= X_0 1)\n(assert (>= X_0 0))", "opened on line 3 is never closed"),
        (HEADER_1_1 + BOX + "\n(assert (<= Y_0 1)))", ":6: unbalanced parentheses: unexpected ')'"),
        (HEADER_1_1 + BOX + "(assert (<== Y_0 1))", "unknown operator '<=='"),
        (HEADER_1_1 + BOX + "(assert (<= (abs Y_0) 1))", "unknown operator 'abs'"),
        (HEADER_1_1 + BOX + "(assert (distinct Y_0 1))", "unknown operator 'distinct'"),
        (HEADER_1_1 + BOX + "(declare-network N)", "unknown command 'declare-network'"),
        (HEADER_1_1 + BOX + "(assert (<= Y_1 1))", "undeclared variable Y_1"),
        (HEADER_1_1 + BOX + "(assert (<= Y_0 foo))", "undeclared variable foo"),
        (HEADER_1_1 + BOX + "(assert (<= Y_0 0.5.1))", "non-numeric literal '0.5.1'"),
        (HEADER_1_1 + BOX + "(assert (<= Y_0 1e))", "non-numeric literal '1e'"),
        (HEADER_1_1 + BOX + "(assert (<= Y_0 #x1F))", "non-numeric literal '#x1F'"),
        (HEADER_1_1 + BOX + "(assert (<= Y_0 -inf))", "non-numeric literal '-inf'"),
        (HEADER_1_1 + BOX + "(assert (<= Y_0 nan))", "non-numeric literal 'nan'"),
        (HEADER_1_1 + BOX + "(assert (<= Y_0 1e99999))", "exponent of '1e99999' is beyond"),
        (HEADER_1_1 + "(assert (<= X_0 1)) (assert (<= Y_0 0))", "input X_0 has no lower bound"),
        (HEADER_1_1 + "(assert (>= X_0 1)) (assert (<= Y_0 0))", "input X_0 has no upper bound"),
        (HEADER_1_1 + "(assert (<= Y_0 0))", "input X_0 has no lower bound"),
        (header(2, 1) + BOX + "(assert (<= Y_0 0))", "input X_1 has no lower bound"),
        (HEADER_1_1 + "(assert (>= X_0 0.5)) (assert (<= X_0 -0.5))", "inverted bounds for input X_0"),
        (header(2, 1) + box_text([("0", "1"), ("0", "1")]) + "(assert (<= (+ X_0 X_1) 1))",
         "general input constraints are unsupported"),
        (HEADER_1_1 + BOX + "(assert (<= X_0 Y_0))", "mix inputs and outputs"),
        (HEADER_1_1 + "(assert (< X_0 1)) (assert (>= X_0 0))", "strict input bounds"),
        (header(1, 2) + BOX + "(assert (<= (* Y_0 Y_1) 1))", "nonlinear product"),
        (HEADER_1_1 + BOX + "(assert (<= (/ 1 Y_0) 1))", "division by a variable"),
        (HEADER_1_1 + BOX + "(assert (<= (/ Y_0 0) 1))", "division by zero"),
        ("(declare-const X_0 Int)(declare-const Y_0 Real)", "only Real is supported"),
        ("(declare-const x0 Real)(declare-const Y_0 Real)", "not X_<i> (input) or Y_<j> (output)"),
        ("(declare-const X_00 Real)(declare-const Y_0 Real)", "not X_<i> (input) or Y_<j> (output)"),
        (HEADER_1_1 + "(declare-const X_0 Real)", "declared twice"),
        ("(declare-const X_0 Real)(declare-const X_2 Real)(declare-const Y_0 Real)", "X_1 is not declared"),
        ("(declare-const X_0 Real)" + BOX, "no outputs Y_j are declared"),
        (HEADER_1_1 + BOX + "()", "empty expression"),
        (HEADER_1_1 + BOX + "assert", "unexpected 'assert' outside parentheses"),
        (HEADER_1_1 + BOX + "(assert (<= Y_0 1) (<= Y_0 2))", "'assert' takes exactly one formula"),
        (HEADER_1_1 + BOX + "(assert (or))", "'or' needs at least one argument"),
        (HEADER_1_1 + BOX + "(assert (<= Y_0))", "'<=' needs at least two arguments"),
        (HEADER_1_1 + BOX + "(assert Y_0)", "expected a comparison"),
        (HEADER_1_1 + BOX + "(assert (+ Y_0 1))", "expected a comparison, got the term"),
        (HEADER_1_1 + BOX + "(assert (<= (and) 1))", "expected a number or a linear term"),
        (HEADER_1_1 + BOX + "(assert (<= Y_0 <=))", "operator '<=' used as a value"),
        (HEADER_1_1 + BOX + "(assert ((<= Y_0 1)))", "expected an operator"),
        (HEADER_1_1 + BOX + "(assert (not (<= Y_0 1) (<= Y_0 2)))", "'not' takes exactly one argument"),
    ],
)
def test_format_errors(text, fragment):
    with pytest.raises(PropertyFormatError) as info:
        parse_vnnlib(text)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message and message.startswith("<vnnlib text>")


def test_error_names_the_line():
    text = HEADER_1_1 + BOX + "\n\n(assert (<= Y_0 (foo 1)))"  # line 7
    with pytest.raises(PropertyFormatError, match=r"^<vnnlib text>:7: unknown operator 'foo'"):
        parse_vnnlib(text)


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "nope.vnnlib"
    with pytest.raises(PropertyFormatError, match="no such VNN-LIB file") as info:
        parse_vnnlib(missing)
    assert str(missing) in str(info.value)
    with pytest.raises(PropertyFormatError, match="no such VNN-LIB file"):
        parse_vnnlib(str(missing))
    with pytest.raises(PropertyFormatError, match="is a directory"):
        parse_vnnlib(tmp_path)


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.vnnlib"
    bad.write_text(HEADER_1_1 + "(assert (<= X_0 1)")
    with pytest.raises(PropertyFormatError, match=re.escape(f"{bad}:3: unbalanced")):
        parse_vnnlib(bad)
    binary = tmp_path / "binary.vnnlib"
    binary.write_bytes(b"(declare-const X_0 Real)\xff\xfe")
    with pytest.raises(PropertyFormatError, match="not UTF-8"):
        parse_vnnlib(binary)
    notgz = tmp_path / "x.vnnlib.gz"
    notgz.write_bytes(b"plain text")
    with pytest.raises(PropertyFormatError, match="gzip"):
        parse_vnnlib(notgz)


def test_dnf_size_limit(monkeypatch):
    monkeypatch.setattr(vnnlib_mod, "MAX_DNF_SIZE", 5)
    text = header(1, 1) + BOX + "(assert (or (<= Y_0 0) (<= Y_0 1) (<= Y_0 2)))" * 2
    with pytest.raises(PropertyFormatError, match="more than 5 cases"):
        parse_vnnlib(text)


def test_wrong_argument_type():
    with pytest.raises(TypeError):
        parse_vnnlib(42)  # type: ignore[arg-type]


def test_property_format_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_vnnlib("(assert")


# ------------------------------------------------------------------------------------------------
# exact violation checks


def test_violated_by_exact_prop_3():
    prop = parse_vnnlib(DATA / "prop_3.vnnlib")
    (case,) = prop.cases
    corner = list(case.lower)
    assert prop.violated_by_exact(corner, [0, 1, 1, 1, 1])
    assert prop.violated_by_exact(case.upper, [1, 1, 1, 1, 1])  # ties count (<=)
    assert not prop.violated_by_exact(corner, [F(1, 10**30), 0, 1, 1, 1])  # Y_0 not minimal
    outside = corner.copy()
    outside[3] = F(3, 10) - F(1, 10**40)
    assert not prop.violated_by_exact(outside, [0, 1, 1, 1, 1])
    # floats are exact binary values: the float just above the decimal upper bound is outside
    hi0 = case.upper[0]
    above = math.nextafter(float(hi0), math.inf) if F(float(hi0)) <= hi0 else float(hi0)
    below = math.nextafter(float(hi0), -math.inf) if F(float(hi0)) >= hi0 else float(hi0)
    x = list(case.upper)
    x[0] = above
    assert not prop.violated_by_exact(x, [0.0] * 5)
    x[0] = below
    assert prop.violated_by_exact(x, [0.0] * 5)
    # numpy inputs
    inside = np.array([float(v) for v in case.lower]) + 1e-9
    assert prop.violated_by_exact(inside, np.zeros(5))


def test_violated_by_exact_strict_and_dimensions():
    prop = parse_vnnlib(header(1, 1) + BOX + "(assert (> Y_0 1))")
    assert not prop.violated_by_exact([0], [1])
    assert prop.violated_by_exact([0], [math.nextafter(1.0, 2.0)])
    assert prop.violated_by_exact([Decimal("0.5")], [Decimal("1.0000000000000000000001")])
    assert prop.violated_by_exact([np.float32(0.25)], [np.int64(2)])
    with pytest.raises(QueryError):
        prop.violated_by_exact([0, 0], [2])
    with pytest.raises(QueryError):
        prop.violated_by_exact([0], [2, 3])
    with pytest.raises(ValueError):
        prop.violated_by_exact([math.nan], [2])
    with pytest.raises(TypeError):
        prop.violated_by_exact([True], [2])


def test_linear_constraint_holds_exact():
    c = LinearConstraint((F(1), F(-3)), F(1, 10), False)
    assert c.holds_exact([F(1, 10), 0]) and not c.holds_exact([0.1, 0])  # float 0.1 > 1/10
    assert not LinearConstraint(c.coef, c.rhs, True).holds_exact([F(1, 10), 0])
    assert c.holds_exact(["0.7", "0.2"])


def test_property_validates_shapes():
    with pytest.raises(ValueError):
        VnnlibProperty(2, 1, (PropertyCase((F(0),), (F(1),), ((),)),), None, None)
    with pytest.raises(ValueError):
        VnnlibProperty(1, 2, (PropertyCase((F(0),), (F(1),), ((le((F(1),)),),)),), None, None)


def test_dataclasses_are_frozen_and_hashable():
    prop = parse_vnnlib(DATA / "prop_2.vnnlib")
    with pytest.raises(AttributeError):
        prop.n_inputs = 3  # type: ignore[misc]
    assert hash(prop) == hash(parse_vnnlib(DATA / "prop_2.vnnlib"))


# ------------------------------------------------------------------------------------------------
# counterexample output


def test_format_counterexample_layout():
    text = format_counterexample([F(1, 10), -0.5, 0], [Decimal("1E-7"), F(-3, 8)])
    assert text == "((X_0 0.1)\n (X_1 -0.5)\n (X_2 0.0)\n (Y_0 0.0000001)\n (Y_1 -0.375))\n"


def test_format_counterexample_floats_round_trip():
    xs = [0.1, -1e-300, 5e-324, 1.7976931348623157e308, np.float32(0.1), np.float64(2.5)]
    text = format_counterexample(xs, [1 / 3])
    values = re.findall(r"\(X_\d+ (\S+)\)", text)
    assert [float(v) for v in values] == [float(v) for v in xs]
    assert "(X_4 0.10000000149011612)" in text


def test_format_counterexample_is_read_back_exactly():
    x = [F(-30353115613746867, 10**17), F(1, 1024)]
    text = format_counterexample(x, [F(7)])
    pairs = re.findall(r"\((X|Y)_(\d+) (\S+?)\)", text)
    assert [F(v) for k, _, v in pairs if k == "X"] == x


def test_format_counterexample_rejects_inexact():
    with pytest.raises(ValueError, match="no finite decimal"):
        format_counterexample([F(1, 3)], [0])
    with pytest.raises(ValueError):
        format_counterexample([math.inf], [0])
    with pytest.raises(ValueError):
        format_counterexample([], [])


# ------------------------------------------------------------------------------------------------
# properties (hypothesis)


@settings(max_examples=200, deadline=None)
@given(
    mantissa=st.integers(-(10**25), 10**25),
    frac_digits=st.integers(0, 30),
    exponent=st.one_of(st.none(), st.integers(-40, 40)),
)
def test_decimal_literals_are_exact(mantissa, frac_digits, exponent):
    digits = str(abs(mantissa)).rjust(frac_digits + 1, "0")
    literal = ("-" if mantissa < 0 else "") + digits[: len(digits) - frac_digits]
    if frac_digits:
        literal += "." + digits[len(digits) - frac_digits :]
    if exponent is not None:
        literal += f"e{exponent:+d}"
    expected = F(mantissa, 10**frac_digits) * F(10) ** (exponent or 0)
    bounds = f"(assert (>= X_0 {literal})) (assert (<= X_0 {literal}))"
    prop = parse_vnnlib(HEADER_1_1 + bounds + f"(assert (<= Y_0 {literal}))")
    assert prop.cases[0].lower == prop.cases[0].upper == (expected,)
    assert prop.cases[0].unsafe[0][0].rhs == expected


@settings(max_examples=200, deadline=None)
@given(num=st.integers(-(10**30), 10**30), twos=st.integers(0, 60), fives=st.integers(0, 60))
def test_counterexample_decimals_round_trip(num, twos, fives):
    q = F(num, 2**twos * 5**fives)
    (value,) = re.findall(r"\(X_0 (\S+)\)", format_counterexample([q], [0]))
    assert F(value) == q


@settings(max_examples=100, deadline=None)
@given(
    lo=st.fractions(min_value=-10, max_value=10, max_denominator=1000),
    width=st.fractions(min_value=0, max_value=10, max_denominator=1000),
    t=st.fractions(min_value=-1, max_value=2, max_denominator=100),
    y=st.lists(st.fractions(min_value=-5, max_value=5, max_denominator=100), min_size=2, max_size=2),
)
def test_violation_matches_direct_evaluation(lo, width, t, y):
    hi = lo + width
    text = header(1, 2) + (
        f"(assert (>= X_0 (/ {lo.numerator} {lo.denominator})))"
        f"(assert (<= X_0 (/ {hi.numerator} {hi.denominator})))"
        "(assert (or (and (<= Y_0 Y_1) (> Y_0 -1)) (>= (- Y_1 (* 2 Y_0)) 3)))"
    )
    x = lo + t * width
    expected = lo <= x <= hi and ((y[0] <= y[1] and y[0] > -1) or (y[1] - 2 * y[0] >= 3))
    assert parse_vnnlib(text).violated_by_exact([x], y) == expected
