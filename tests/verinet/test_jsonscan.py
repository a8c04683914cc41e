"""The JSON loader's bulk path: rows of decimal strings cut from the bytes (verinet.io._jsonscan) and their
enclosures (verinet.io.decimals.enclose_decimal_rows), against exact rationals and against ``json.loads``."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import hyp
from tests.verinet.test_decimals import ADVERSARIAL, _random_decimals
from verinet.errors import ModelFormatError
from verinet.io import _jsonscan, decimals, jsonfmt, load_network
from verinet.io._jsonscan import expand, scan
from verinet.io.decimals import enclose_decimal_rows, enclose_decimals

ROOT = Path(__file__).resolve().parents[2]

MORE = [
    "4.940656458412465441765687928682213723650598026143247644255856825006755072702087518652998363616359923797965646954457177309266567103559397963987747960107818781263007131903114045278458171678489821036887186360569987307230500063874091535649843873124733972731696151400317153853980741262385655911710266585566867681870395603106249319452715914924553293054565444011274801297099995419319894090804165633245247571478690147267801593552386115501348035264934720193790268107107491703332226844753335720832431936092382893458368060106011506169809753078342277318329247904982524730776375927247874656084778203734469699533647017972677717585125660551199131504891101451037862738167250955837389733598993664809941164205702637090279242767544565229087538682506419718265533447265625e-324",  # the least subnormal, all 751 digits
    "2.4703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818081799618989828234772285886546332835517796989819938739800539093906315035659515570226392290858392449105184435931802849936536152500319370457678249219365623669863658480757001585769269903706311928279558551332927834338409351978015531246597263579574622766465272827220056374006485499977096599470454020828166226237857393450736339007967761930577506740176324673600968951340535537458516661134223766678604162159680461914467291840300530057530849048765391711386591646239524912623653881879636239373280423891018672348497668235089863388587925628302755995657524455507255189313690836254779186948667994968324049705821028513185451396213837722826145437693412532098591327667236328125e-324",  # half of it, exactly
    "-9007199254740993.000000000000000000000000000000001", "9007199254740992.999999999999999999999999999999999",
    "1e-320", "-1.5e-323", "2.2250738585072009e-308", "1e308", "-1.7976931348623157e308",
    "123456789012345678901234567890123456789012345678901234567890e-50", "0." + "0" * 300 + "1",
    "1" + "0" * 300, "0.000000000000000000000000000000000000001e+38", "1E+0", "-.5", "+5.",
]


def _tightest(s: str, lo: float, hi: float) -> None:
    """``lo ≤ d ≤ hi`` exactly, and nothing tighter: equal when ``d`` is a float, neighbours otherwise."""
    q = Fraction(s)
    assert Fraction(lo) <= q if np.isfinite(lo) else lo == -np.inf, s
    assert q <= Fraction(hi) if np.isfinite(hi) else hi == np.inf, s
    if lo == hi:
        assert Fraction(lo) == q, s
    else:
        assert np.nextafter(lo, np.inf) == hi and Fraction(lo) != q and (not np.isfinite(hi) or Fraction(hi) != q), s


def _rows(values: list[str], n: int) -> list[bytes]:
    return [",".join(values[i:i + n]).encode() for i in range(0, len(values), n)]


@pytest.mark.parametrize("n", [1, 3])
def test_rows_get_the_tightest_enclosure_of_adversarial_decimals(n):
    vals = [s for s in ADVERSARIAL + MORE if s not in ("1.7976931348623158e308",)]
    vals += ["0.5"] * (-len(vals) % n)
    r = enclose_decimal_rows(_rows(vals, n), n)
    assert r is not None
    for s, lo, hi in zip(vals, *r):
        _tightest(s, lo, hi)


def test_rows_agree_with_the_list_path_on_random_decimals():
    vals = _random_decimals(random.Random(7), 3000) + [f"{v:.9g}" for v in np.random.default_rng(0).standard_normal(3000)]
    r = enclose_decimal_rows(_rows(vals, 100), 100)
    ref = enclose_decimals(vals)
    assert r is not None and ref is not None
    assert np.array_equal(r[0], ref[0]) and np.array_equal(r[1], ref[1])
    for i in range(0, len(vals), 37):
        _tightest(vals[i], r[0][i], r[1][i])


def test_rows_accept_exactly_what_fraction_accepts_on_the_alphabet():
    for k in range(5):
        for t in itertools.product("01.eE+-", repeat=k):
            s = "".join(t)
            try:
                Fraction(s)
                ok = s != ""
            except ValueError:
                ok = False
            for row, n, at in (([s.encode()], 1, 0), ([b"1," + s.encode()], 2, 1), ([s.encode() + b",2"], 2, 0)):
                r = enclose_decimal_rows(row, n)
                assert (r is not None) == ok, (s, row)
                if ok:
                    _tightest(s, r[0][at], r[1][at])


@pytest.mark.parametrize("rows,n", [([b"1,2"], 3), ([b"1,2,"], 2), ([b",1"], 2), ([b"1e400"], 1), ([b"nan"], 1),
                                    ([b"0x10"], 1), ([b"1 "], 1), ([b"1/3"], 1), ([], 1), ([b"1"], 0)])
def test_rows_that_are_not_plain_decimals_take_the_exact_path(rows, n):
    assert enclose_decimal_rows(rows, n) is None


def test_without_a_faithful_fromstring_the_rows_path_steps_aside(monkeypatch, tmp_path):
    monkeypatch.setattr(decimals, "_fromstring_ok", lambda: False)
    assert enclose_decimal_rows([b"0.1,0.2"], 2) is None
    p = tmp_path / "n.json"
    p.write_text(json.dumps({"layers": [{"weight": [["0.1", "0.2"]], "bias": ["0.3"]}]}))
    L = load_network(p).layers[0]
    _tightest("0.1", L.weight_lo[0, 0], L.weight_hi[0, 0])
    assert L.weight_exact()[0, 1] == Fraction(1, 5)


# ----------------------------------------------------------------------------------------------- scanner

DOCS = [
    '{"layers": [{"weight": [["1", "2"], ["3", "4"]], "bias": ["0", "-1e-5"]}]}',
    '{"a": [ "1" ,\n\t"2"\r\n ], "b": ["1", 2], "c": ["x", "1"], "d": [[]], "e": ["1"], "f": "[\\"1\\"]"}',
    '{"k": "[", "v": ["1"], "w": "]", "z": [["-1.5e3"]]}',
    '{"name": "a[\\"1\\"]", "x": ["1e", ".", "+"]}',  # backslash: not scanned
    '["1", "2"]', '[["1"], ["2"]]', '{"layers": ["1"]}', '{"ünï": ["1"], "ç": "é"}', '{"s": "\\u0001"}',
]
BAD_DOCS = [
    '{["1"]: 2}', '{"a": ["1"] ["2"]}', '{"a": ["1",]}', '{"a": "b["1"]"}', '{"a": ["1"]', '{"a": ["1"]}}',
    '{"a": "x\x01", "b": ["1"]}', '{"a": ["1" "2"]}', '{"a": [,"1"]}', '{"a": ["1"], }', '["1"] ["2"]',
]


def _loads(text: str):
    return json.loads(text, parse_float=str, parse_int=str)


@pytest.mark.parametrize("doc", DOCS)
def test_skeleton_plus_rows_is_the_document(doc):
    r = scan(doc.encode())
    if "\\" in doc:  # escapes: never scanned
        assert r is None
        return
    skeleton, rows = r
    assert rows.blobs and _loads(skeleton) != _loads(doc)  # rows were cut out (as markers)
    assert expand(_loads(skeleton), rows) == _loads(doc)


@pytest.mark.parametrize("doc", BAD_DOCS)
def test_skeleton_is_invalid_when_the_document_is(doc):
    with pytest.raises(ValueError):
        _loads(doc)
    r = scan(doc.encode())
    if r is not None:
        with pytest.raises(ValueError):
            _loads(r[0])


def test_not_utf8_is_reported_as_before(tmp_path):
    data = b'{"layers": [{"weight": [["1"]], "bias": ["0"]}], "name": "\xff"}'
    with pytest.raises(UnicodeDecodeError):
        scan(data)
    p = tmp_path / "net.json"
    p.write_bytes(data)
    with pytest.raises(ModelFormatError, match="not a UTF-8 text file"):
        load_network(p)


def _containers(kids):
    keys = st.sampled_from(["a", "1", "[", "w"])
    return st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=3)


_json_text = st.recursive(
    st.sampled_from(["1", "-2.5e-3", "x", "[", "]", ":", ",", "", "1e", "é"]) | st.integers(-5, 5) | st.none()
    | st.booleans(),
    _containers,
    max_leaves=12,
)


@hyp(80)
@given(_json_text, st.sampled_from([None, 0, 1]), st.integers(0, 10**6))
def test_property_skeleton_round_trip(doc, indent, seed):
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    r = scan(text.encode())
    if r is not None:
        assert expand(_loads(r[0]), r[1]) == _loads(text)
    # a mutation (one byte dropped): the skeleton parses exactly when the text does
    if text:
        i = seed % len(text)
        bad = text[:i] + text[i + 1:]
        try:
            want = _loads(bad)
        except ValueError:
            want = None
        r = scan(bad.encode())
        if r is not None:
            try:
                got = expand(_loads(r[0]), r[1])
            except ValueError:
                got = None
            assert got == want


# ----------------------------------------------------------------------------------------------- loader


def _net_doc(rng: random.Random, sizes, indent=None) -> str:
    layers = []
    pool = ADVERSARIAL[:-2] + MORE[2:] + _random_decimals(rng, 50)
    for a, b in itertools.pairwise(sizes):
        layers.append({"weight": [[rng.choice(pool) for _ in range(a)] for _ in range(b)],
                       "bias": [rng.choice(pool) for _ in range(b)]})
    return json.dumps({"name": "t", "layers": layers, "input_domain": {"lower": ["0"] * sizes[0],
                                                                       "upper": ["1"] * sizes[0]}}, indent=indent)


@pytest.mark.parametrize("indent", [None, 2])
def test_loader_rows_path_equals_the_general_path(tmp_path, monkeypatch, indent):
    p = tmp_path / "net.json"
    text = _net_doc(random.Random(11), (5, 7, 3), indent)
    p.write_text(text)
    fast = load_network(p)
    monkeypatch.setattr(_jsonscan, "scan", lambda data: None)
    slow = load_network(p)
    doc = json.loads(text)
    for k, (A, B) in enumerate(zip(fast.layers, slow.layers)):
        for name in ("weight_lo", "weight_hi", "bias_lo", "bias_hi"):
            assert np.array_equal(getattr(A, name), getattr(B, name))
        assert (A.weight_exact() == np.array([[Fraction(s) for s in r] for r in doc["layers"][k]["weight"]])).all()
        assert list(A.bias_exact()) == [Fraction(s) for s in doc["layers"][k]["bias"]]
        for (i, j), s in np.ndenumerate(np.array(doc["layers"][k]["weight"], dtype=object)):
            _tightest(s, A.weight_lo[i, j], A.weight_hi[i, j])
    assert fast.input_domain == slow.input_domain and fast.sha256 == slow.sha256


@pytest.mark.parametrize("entry,msg", [("1e999", "entry (1, 0)"), ("1..5", "entry (1, 0)"), ("1/0", "entry (1, 0)")])
def test_loader_errors_in_rows_name_the_entry(tmp_path, entry, msg):
    p = tmp_path / "net.json"
    p.write_text(json.dumps({"layers": [{"weight": [["1", "2"], [entry, "3"]], "bias": ["0", "0"]}]}))
    with pytest.raises(ModelFormatError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        load_network(p)


def test_loader_ragged_rows_are_an_error(tmp_path):
    p = tmp_path / "net.json"
    p.write_text(json.dumps({"layers": [{"weight": [["1", "2"], ["3"]], "bias": ["0", "0"]}]}))
    with pytest.raises(ModelFormatError, match="row 1 has 1 entries"):
        load_network(p)


def test_invalid_json_is_reported_at_its_place_in_the_file(tmp_path):
    p = tmp_path / "net.json"
    p.write_text('{"layers": [{"weight": [["1", "2"]],\n "bias": ["0"]]}')
    with pytest.raises(ModelFormatError, match="line 2 column"):
        load_network(p)


def test_info_on_a_json_model_does_not_import_numba():
    code = ("import sys; from verinet.cli import main; sys.argv = ['verinet', 'info', sys.argv[1]]\n"
            "try: main()\nexcept SystemExit: pass\n"
            "print('NUMBA' if 'numba' in sys.modules else 'NO-NUMBA')")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "tests" / "data" / "seed" / "iris.json")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert out.stdout.strip().splitlines()[-1] == "NO-NUMBA", out.stderr


def test_jsonfmt_reads_scanned_rows_for_every_numeric_array(tmp_path):
    """input_domain and biases given as rows go through expand/enclose alike (no marker leaks)."""
    p = tmp_path / "net.json"
    p.write_text(json.dumps({"layers": [{"weight": [["0.1"]], "bias": ["0.2"]}],
                             "input_domain": {"lower": ["-0.5"], "upper": ["0.5"]}}))
    net = jsonfmt.load_json(p)
    assert net.input_domain.lower == (Fraction(-1, 2),) and net.layers[0].bias_exact()[0] == Fraction(1, 5)
