"""Every sub-command on a corpus of malformed files: one line on stderr, a documented exit code, no
traceback, no hang; and a report never says "Certified" for a certificate the checker rejects.

The corpus: generic garbage (empty, binary, truncated, deeply nested, NaN, huge exponents, wrong
structure) written under each file type a command reads (model, box, centre, certificate, property),
plus mutations of a valid certificate (each section replaced by a value of the wrong kind).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from verinet.evidence.certificate import lipschitz_certificate, write_certificate
from verinet.cli import main
from verinet.cli._common import EXIT_CODES
from verinet.analyses.lipschitz import lipschitz
from verinet.io import load_network
from verinet.region import Region

DATA = Path(__file__).resolve().parents[1] / "data"
SEED = DATA / "seed"
ONNX, PROP = DATA / "vnncomp_test" / "test_tiny.onnx", DATA / "vnncomp_test" / "test_tiny.vnnlib"
HANG_SECONDS = 60

GARBAGE = {
    "empty": b"",
    "binary": bytes(range(256)) * 4,
    "bad-utf8": b"\xff\xfe\x00{",
    "truncated-json": b'{"layers": [{"weight": [["1", "2"]',
    "json-list": b"[1, 2, 3]",
    "json-null": b"null",
    "json-object": b"{}",
    "deep-json": b"[" * 50_000 + b"]" * 50_000,
    "deep-object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "nan": b'{"layers": [{"weight": [[NaN]], "bias": [NaN]}], "lower": [NaN], "upper": [1], "center": [NaN]}',
    "huge-exponent": (b'{"layers": [{"weight": [["1e99999999"]], "bias": ["0"]}], "lower": ["1e99999999"], '
                      b'"upper": ["1"], "center": ["1e99999999"], "radius": "1e99999999"}'),
    "out-of-range": (b'{"layers": [{"weight": [["1e400"]], "bias": ["0"]}], "lower": [-1e400, 0], '
                     b'"upper": [1e400, 1], "center": [1e400, 0], "radius": 1}'),
    "wrong-types": b'{"layers": "relu", "lower": "0", "upper": {"a": 1}, "center": true, "radius": []}',
    "long-number": ('{"lower": ["' + "1" * 30_000 + '", 0], "upper": [1, 1]}').encode(),
    "sexpr": b"(declare-const X_0 Real)\n(assert (<= X_0 1e400))\n(assert " + b"(and " * 5_000 + b")" * 5_001,
    "unbalanced": b"(assert (<= X_0 1)",
    "nnet-text": b"// comment\n2,2,2,2,\n2,2,2,\n0,\n-1,-1,\n1,1,\nnan\n",
}
MODEL_EXT = (".json", ".nnet", ".npz", ".onnx")


def _run(args: list) -> object:
    """Invoke the CLI in-process; a run that takes longer than HANG_SECONDS fails the test."""

    def hang(signum, frame):
        raise TimeoutError(f"verinet {' '.join(map(str, args))[:200]} hangs")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(HANG_SECONDS)
    try:
        return CliRunner().invoke(main, [str(a) for a in args])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _assert_clean(r, args, allowed=frozenset(EXIT_CODES)) -> None:
    where = " ".join(map(str, args))[:300]
    assert not isinstance(r.exception, TimeoutError), where
    assert r.exception is None or isinstance(r.exception, SystemExit), (where, repr(r.exception))
    assert r.exit_code in allowed, (where, r.exit_code, r.stderr)
    assert "Traceback" not in r.output and "Warning" not in r.stderr, (where, r.stderr)
    if r.exit_code in (2, 3, 4):
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("verinet: error: "), (where, r.stderr)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("corpus")
    for name, data in GARBAGE.items():
        for ext in MODEL_EXT + (".vnnlib", ".txt", ".npy"):
            (d / f"{name}{ext}").write_bytes(data)
    (d / "a-directory.json").mkdir()
    (d / "good-box.json").write_text('{"lower": ["-1", "-1"], "upper": ["1", "1"]}')
    return d


def _bad_files(corpus: Path, ext: str) -> list[Path]:
    return sorted(corpus.glob(f"*{ext}")) + [corpus / "a-directory.json", corpus / f"missing{ext}"]


def test_malformed_models(corpus):
    box = corpus / "good-box.json"
    for ext in MODEL_EXT:
        for m in _bad_files(corpus, ext):
            if m.name.startswith("good-"):
                continue
            for args in (["info", m],
                         ["lipschitz", m, "--center", "0,0", "--radius", "0.1", "--workers", "1", "--quiet"],
                         ["robust", "local", m, "--center", "0,0", "--radius", "0.1", "--epsilon", "1", "--quiet"],
                         ["robust", "radius", m, "--center", "0,0", "--quiet"],
                         ["robust", "global", m, "--box", box, "--delta", "0.1", "--epsilon", "1", "--quiet"],
                         ["robust", "params", m, "--box", box, "--relative", "0.01", "--quiet"],
                         ["verify", m, PROP, "--quiet"]):
                r = _run(args)
                _assert_clean(r, args, {3})


def test_malformed_boxes_and_centres(corpus):
    good = SEED / "random01.json"
    for f in _bad_files(corpus, ".json") + _bad_files(corpus, ".txt") + _bad_files(corpus, ".npy"):
        if f.name.startswith("good-"):
            continue
        for args in (["lipschitz", good, "--box", f, "--workers", "1", "--quiet"],
                     ["robust", "global", good, "--box", f, "--delta", "0.1", "--epsilon", "1", "--quiet"],
                     ["lipschitz", good, "--center", f, "--radius", "0.1", "--workers", "1", "--quiet"],
                     ["robust", "local", good, "--center", f, "--radius", "0.1", "--epsilon", "1", "--quiet"]):
            _assert_clean(_run(args), args, {3})


def test_malformed_properties(corpus):
    for p in _bad_files(corpus, ".vnnlib"):
        args = ["verify", ONNX, p, "--quiet"]
        _assert_clean(_run(args), args, {3})


def test_malformed_option_values():
    good = SEED / "random01.json"
    base = ["lipschitz", good, "--workers", "1", "--quiet"]
    for center, radius in (("1e99999999,0", "1"), ("0,0", "1e99999999"), ("nan,0", "1"), ("0,0", "-1"),
                           ("0,0", "0"), ("0,,0", "1"), ("0", "1"), ("x,y", "1"), ("0,0", "1/0"), ("1e400,0", "1"),
                           ("0,0", "1e-99999999"), ("0," * 400 + "0", "1"), ("0,0", "inf")):
        args = base + ["--center", center, "--radius", radius]
        _assert_clean(_run(args), args, {3})
    for opt in (["--output", "7"], ["--output", "-1"], ["--coef", "1,2,3"], ["--coef", "0.1,1"],
                ["--precision", "3"], ["--tol", "nan"], ["--max-boxes", "0"]):
        args = base + ["--center", "0,0", "--radius", "0.1"] + opt
        _assert_clean(_run(args), args, {3})
    for opt in (["--norm", "7"], ["--workers", "0"], ["--max-boxes", "x"], ["--bogus"]):
        args = base + ["--center", "0,0", "--radius", "0.1"] + opt
        _assert_clean(_run(args), args, {2})


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, dict]:
    d = tmp_path_factory.mktemp("fuzzcert")
    shutil.copyfile(SEED / "random01.json", d / "random01.json")
    net = load_network(d / "random01.json")
    region = Region.ball(["0.1", "0.2"], "0.01", "inf")
    res = lipschitz(net, region, norm="inf", output=0, tol=1e-9, bounds="interval", workers=1)
    cert = lipschitz_certificate(res, net)
    write_certificate(cert, d / "valid.json")
    return d, json.loads((d / "valid.json").read_text())


def _mutations(cert: dict):
    """(name, document): each section and claim field replaced by wrong kinds of values."""
    bad_values = [None, "x", [], {}, -1, "1e99999999", "-0.5", "1/0", [[["deep"]]]]
    for path in ("format", "schema_version", "kind", "model", "model.file", "model.sha256", "model.load_options",
                 "query", "query.region", "query.region.lower", "query.norm", "query.output", "claim",
                 "claim.lower", "claim.upper", "claim.status", "evidence", "evidence.leaves", "evidence.witness",
                 "evidence.domain", "history", "statistics"):
        for k, v in enumerate(bad_values):
            doc = copy.deepcopy(cert)
            *head, last = path.split(".")
            target = doc
            for part in head:
                target = target[part]
            target[last] = v
            yield f"{path}={k}", doc
        doc = copy.deepcopy(cert)
        target = doc
        for part in path.split(".")[:-1]:
            target = target[part]
        del target[path.split(".")[-1]]
        yield f"{path}-deleted", doc
    for i in range(min(3, len(cert["evidence"]["leaves"]))):
        doc = copy.deepcopy(cert)
        doc["evidence"]["leaves"][i]["bound"] = "0"
        yield f"leaf{i}-bound-0", doc


def test_mutated_certificates(certificate, corpus, monkeypatch):
    monkeypatch.setattr("verinet.evidence.report._matplotlib", lambda: None)  # plots are slow and beside the point
    d, cert = certificate
    for name, doc in _mutations(cert):
        path = d / "mutant.json"
        path.write_text(json.dumps(doc))
        c = _run(["check", path])
        _assert_clean(c, ["check", name], {0, 1, 3})
        r = _run(["report", path])
        _assert_clean(r, ["report", name], {0, 3})
        if r.exit_code == 0 and "Certified" in r.stdout:
            assert c.exit_code == 0, (name, c.stdout)  # the report never says more than the checker
    for f in _bad_files(corpus, ".json"):
        for cmd in ("check", "report"):
            _assert_clean(_run([cmd, f]), [cmd, f], {3})


def test_readme_exit_code_table_matches_the_tool():
    """The README's exit-code table lists exactly the codes the command line documents and uses."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\|\s*(\d+)\s*\|\s*(.+?)\s*\|\s*$", section, flags=re.M))
    assert {int(k) for k in rows} == set(EXIT_CODES)
    for code, meaning in EXIT_CODES.items():
        # the first words of the tool's meaning open the README's row
        first = meaning.split(":")[0].split(";")[0].split(",")[0].split("/")[0].strip()
        assert rows[str(code)].lower().startswith(first.lower()[:12]), (code, rows[str(code)], meaning)
    import verinet.cli as cli

    for code in EXIT_CODES:
        assert re.search(rf"^{code}\s", cli.__doc__, flags=re.M), f"exit code {code} missing from verinet --help"
