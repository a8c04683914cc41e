"""Command-line hardening: a report never says more than the checker, long options, unwritable outputs,
Ctrl-C, exit codes, resource limits on every number and nesting, and the smaller defects of a new user's
first hour. One test (or a few) per defect; ``test_cli_fuzz.py`` runs the malformed-file corpus."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from verinet.evidence.certificate import lipschitz_certificate, write_certificate
from verinet.cli import main
from verinet.cli._query import parse_center
from verinet.errors import NumberFormatError, QueryError, VerinetInputError
from verinet.exactfmt import parse_exact
from verinet.analyses.lipschitz import lipschitz
from verinet.io import load_network
from verinet.region import Region

DATA = Path(__file__).resolve().parents[1] / "data"
SEED = DATA / "seed"
REPO = Path(__file__).resolve().parents[2]


def _run(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], **kw)


def _one_error_line(r, code: int, *needles: str) -> str:
    """The run failed with ``code`` and exactly one ``verinet: error:`` line on stderr, no traceback."""
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("verinet: error: "), r.stderr
    assert "Traceback" not in r.output
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory):
    """random01 copied into a folder with a valid certificate next to it."""
    d = tmp_path_factory.mktemp("cert")
    model = d / "random01.json"
    shutil.copyfile(SEED / "random01.json", model)
    net = load_network(model)
    region = Region.ball(["-4.83220219994085959", "-7.36428754448496261"], "1e-7", "inf")
    res = lipschitz(net, region, norm="inf", output=0, tol=1e-12, bounds="interval", workers=1)
    write_certificate(lipschitz_certificate(res, net), d / "r.cert.json")
    return d


def _tampered(cert_dir: Path, tmp_path: Path, change) -> Path:
    doc = json.loads((cert_dir / "r.cert.json").read_text())
    change(doc)
    out = tmp_path / "r.cert.json"
    out.write_text(json.dumps(doc))
    shutil.copyfile(cert_dir / "random01.json", tmp_path / "random01.json")
    return out


# ---------------------------------------------------------------- 1. report never says more than check
def test_report_of_valid_certificate_says_certified(cert_dir):
    r = _run("report", cert_dir / "r.cert.json")
    assert r.exit_code == 0 and "**Certified:**" in r.stdout and "NOT VALID" not in r.stdout


@pytest.mark.parametrize("change", [
    lambda d: d["claim"].update(upper=d["claim"]["lower"][:-3]),          # upper lowered below the lower bound
    lambda d: d["evidence"]["leaves"].pop(),                               # a leaf deleted
    lambda d: d["model"].update(sha256="0" * 64),                          # wrong model hash
], ids=["upper-below-lower", "deleted-leaf", "wrong-hash"])
def test_report_of_rejected_certificate_says_not_valid(cert_dir, tmp_path, change):
    path = _tampered(cert_dir, tmp_path, change)
    assert _run("check", path).exit_code == 1
    r = _run("report", path)
    assert r.exit_code == 0, r.stderr
    assert "NOT VALID" in r.stdout and "Certified" not in r.stdout


def test_report_without_model_says_not_checked(cert_dir, tmp_path):
    shutil.copyfile(cert_dir / "r.cert.json", tmp_path / "alone.json")
    doc = json.loads((tmp_path / "alone.json").read_text())
    doc["model"]["path"] = str(tmp_path / "nowhere" / "random01.json")
    (tmp_path / "alone.json").write_text(json.dumps(doc))
    r = _run("report", tmp_path / "alone.json")
    assert r.exit_code == 0 and "Not checked" in r.stdout and "Certified" not in r.stdout
    assert "model not available" in r.stdout


def test_unknown_claim_status_is_rejected(cert_dir, tmp_path):
    path = _tampered(cert_dir, tmp_path, lambda d: d["claim"].update(status="verified-by-god"))
    _one_error_line(_run("check", path), 3, "claim.status")
    r = _run("report", path)
    assert "NOT VALID" in r.stdout and "Certified" not in r.stdout


# ---------------------------------------------------------------- 2. long option values
def test_long_center_is_numbers_not_a_file_name():
    text = ",".join(["0.5"] * 784)
    assert len(text) > 255
    assert parse_center(text) == tuple([parse_exact("0.5")] * 784)


def test_long_center_on_mnist_and_long_coef():
    center = ",".join(["0.5"] * 784)
    r = _run("lipschitz", SEED / "mnist_784_10_10_2.json", "--center", center, "--radius", "1e-9", "--workers", "1",
             "--quiet", "--max-boxes", "50")
    assert r.exit_code in (0, 20), r.output
    assert "784 coordinates" in r.stdout
    coef = "1." + "0" * 300 + ",-1"  # exactly 1, -1
    r = _run("lipschitz", SEED / "random01.json", "--center", "0.1,0.2", "--radius", "0.01", "--coef", coef,
             "--workers", "1", "--quiet")
    assert r.exit_code == 0 and "combination" in r.stdout, r.output


# ---------------------------------------------------------------- 3. unwritable outputs
def test_output_paths_checked_before_the_run(tmp_path):
    missing = tmp_path / "no" / "such" / "c.json"
    r = _run("lipschitz", SEED / "random01.json", "--center", "0.1,0.2", "--radius", "0.01", "--certificate", missing)
    _one_error_line(r, 3, "--certificate", "does not exist")
    assert r.stdout == ""  # refused before any work
    _one_error_line(_run("lipschitz", SEED / "random01.json", "--center", "0.1,0.2", "--radius", "0.01",
                         "--certificate", tmp_path), 3, "is a directory")
    _one_error_line(_run("verify", DATA / "vnncomp_test" / "test_tiny.onnx", DATA / "vnncomp_test" / "test_tiny.vnnlib",
                         "--result", missing), 3, "--result")


def test_report_and_demo_unwritable(cert_dir, tmp_path):
    _one_error_line(_run("report", cert_dir / "r.cert.json", "-o", tmp_path / "no" / "r.html"), 3, "-o/--output")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _one_error_line(_run("demo", "--out", blocker / "sub"), 3, "--out")


def test_result_printed_even_if_saving_fails(tmp_path, monkeypatch):
    import verinet.evidence.certificate as certificate

    def fail(cert, path, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(certificate, "write_certificate", fail)
    r = _run("lipschitz", SEED / "random01.json", "--center", "0.1,0.2", "--radius", "0.01", "--workers", "1",
             "--certificate", tmp_path / "c.json")
    assert "upper" in r.stdout and "lower" in r.stdout  # the bounds are not lost
    assert r.exit_code == 3 and "not saved" in r.stderr and "No space left" in r.stderr


# ---------------------------------------------------------------- 4. Ctrl-C
def test_interrupted_lipschitz_prints_sound_bounds(monkeypatch):
    lip = sys.modules["verinet.analyses.lipschitz"]  # the package attribute of that name is the function

    def interrupted(*args, progress=None, **kw):
        progress({"seconds": 3.0, "boxes": 1234, "boxes_per_second": 400.0, "lower": 0.25, "upper": 0.5})
        raise KeyboardInterrupt

    monkeypatch.setattr(lip, "lipschitz", interrupted)
    r = _run("lipschitz", SEED / "random01.json", "--center", "0.1,0.2", "--radius", "0.01", "--quiet")
    assert r.exit_code == 20
    assert "interrupted" in r.stdout and "lower  0.25" in r.stdout and "upper  0.5" in r.stdout


def test_interrupted_verify_and_robust_exit_unknown(monkeypatch):
    import verinet.analyses.robustness as rob
    import verinet.analyses.verify as ver

    def boom(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(ver, "verify_vnnlib", boom)
    monkeypatch.setattr(rob, "local_robustness", boom)
    r = _run("verify", DATA / "vnncomp_test" / "test_tiny.onnx", DATA / "vnncomp_test" / "test_tiny.vnnlib")
    assert r.exit_code == 20 and r.stdout.strip() == "unknown" and "interrupted" in r.stderr
    r = _run("robust", "local", SEED / "random01.json", "--center", "0.1,0.2", "--radius", "0.01", "--epsilon", "1")
    assert r.exit_code == 20 and "unknown (interrupted)" in r.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_real_ctrl_c_on_a_running_search(tmp_path):
    """A real SIGINT during the branch-and-bound: sound bounds on stdout, exit 20, no traceback."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-c", "from verinet.cli import main; main()", "lipschitz",
           str(SEED / "mnist_784_10_10_2.json"), "--domain" if False else "--center",
           ",".join(["0.5"] * 784), "--radius", "0.5", "--tol", "0", "--workers", "1", "--bounds", "interval",
           "--neurons", "never"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stderr.readline()  # the first progress line: the search is running
        assert line.startswith("["), line
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 20, (out, err)
    assert "interrupted after" in out and "lower" in out and "upper" in out
    assert "Traceback" not in err and "Aborted" not in err


# ---------------------------------------------------------------- 5. exit codes and status
def test_lipschitz_budget_exhausted_exits_unknown():
    r = _run("lipschitz", SEED / "iris.json", "--center", "5,3,4,1", "--radius", "3", "--max-boxes", "2",
             "--workers", "1", "--quiet")
    assert r.exit_code == 20 and "box_limit" in r.stdout


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_time_limits_must_be_positive_everywhere(value):
    m, c = SEED / "random01.json", ("--center", "0.1,0.2", "--radius", "0.01")
    _one_error_line(_run("lipschitz", m, *c, "--time-limit", value), 3, "--time-limit")
    _one_error_line(_run("robust", "local", m, *c, "--epsilon", "1", "--time-limit", value), 3, "--time-limit")
    _one_error_line(_run("verify", DATA / "vnncomp_test" / "test_tiny.onnx",
                         DATA / "vnncomp_test" / "test_tiny.vnnlib", "--timeout", value), 3, "--timeout")


def test_usage_errors_are_one_line():
    _one_error_line(_run("lipschitz"), 2, "Missing argument")
    _one_error_line(_run("lipschitz", SEED / "random01.json", "--norm", "7"), 2, "--norm")
    _one_error_line(_run("nosuch"), 2, "No such command")
    _one_error_line(_run("robust", "local", SEED / "random01.json"), 2, "--center")


# ---------------------------------------------------------------- 6. resource exhaustion
def test_huge_exponent_is_refused_fast():
    t0 = time.perf_counter()
    _one_error_line(_run("lipschitz", SEED / "random01.json", "--center", "0,0", "--radius", "1e99999999"), 3,
                    "--radius", "exponent")
    assert time.perf_counter() - t0 < 10
    with pytest.raises(QueryError, match="exponent"):
        Region.ball([0, 0], "1e99999999")


def test_one_parser_with_limits():
    assert parse_exact("0.1") * 10 == 1 and parse_exact("-3/4") == parse_exact("-0.75")
    for bad in ("1e10001", "1" * 20_001, "nan", "-inf", "1/0", "0x1p3", "", "1e400"):
        with pytest.raises(NumberFormatError):
            parse_exact(bad)
    assert parse_exact("1e400", float_range=False) == 10 ** 400
    assert issubclass(NumberFormatError, VerinetInputError) and issubclass(NumberFormatError, ValueError)


def test_deep_nesting_is_a_clear_error(cert_dir, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "m.json").write_text('{"layers": ' + deep + "}")
    _one_error_line(_run("info", tmp_path / "m.json"), 3, "nested too deeply")
    (tmp_path / "b.json").write_text('{"lower": ' + deep + "}")
    _one_error_line(_run("lipschitz", SEED / "random01.json", "--box", tmp_path / "b.json"), 3, "nested too deeply")
    (tmp_path / "c.json").write_text('{"format": "verinet-certificate", "x": ' + deep + "}")
    _one_error_line(_run("check", tmp_path / "c.json"), 3, "nested too deeply")
    (tmp_path / "p.vnnlib").write_text("(declare-const X_0 Real)\n(assert " + "(and " * 100_000 + ")" * 100_001)
    _one_error_line(_run("verify", SEED / "random01.json", tmp_path / "p.vnnlib"), 3, "nested deeper")


def test_empty_npz_is_a_clear_error(tmp_path):
    (tmp_path / "e.npz").write_bytes(b"")
    _one_error_line(_run("info", tmp_path / "e.npz"), 3, "empty file")
    (tmp_path / "t.npz").write_bytes(b"PK\x03\x04")
    _one_error_line(_run("info", tmp_path / "t.npz"), 3, "t.npz")


# ---------------------------------------------------------------- 7. smaller ones
def test_empty_fields_are_errors_not_dropped():
    for text in ("1,,2", ",1", "1,", "1;;2"):
        with pytest.raises(QueryError, match="empty"):
            parse_center(text)
    assert parse_center("1, 2;3 4") == tuple(map(parse_exact, "1234"))
    _one_error_line(_run("lipschitz", SEED / "random01.json", "--center", "1,,2", "--radius", "1"), 3, "--center")


def test_out_of_range_values_name_their_origin(tmp_path):
    _one_error_line(_run("lipschitz", SEED / "random01.json", "--center", "1e400,0", "--radius", "1"), 3,
                    "--center[0]", "float64 range")
    _one_error_line(_run("lipschitz", SEED / "random01.json", "--center", "1e308,0", "--radius", "1e308"), 3,
                    "float64 range")
    prop = (DATA / "vnncomp_test" / "test_tiny.vnnlib").read_text()
    bad = tmp_path / "big.vnnlib"
    bad.write_text(prop + "\n(assert (<= X_0 1e400))\n")
    r = _run("verify", DATA / "vnncomp_test" / "test_tiny.onnx", bad)
    _one_error_line(r, 3, "big.vnnlib:", "float64 range")
    assert "RuntimeWarning" not in r.output


def test_directory_as_model_is_bad_input(tmp_path):
    _one_error_line(_run("info", tmp_path), 3, "is a directory")
    _one_error_line(_run("lipschitz", tmp_path, "--center", "0", "--radius", "1"), 3, "is a directory")


def test_internal_errors_are_not_blamed_on_the_input(monkeypatch):
    import verinet.analyses.info as info_mod

    def broken(*args, **kw):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(info_mod.ModelInfo, "from_network", broken)
    r = _run("info", SEED / "random01.json")
    assert r.exit_code == 4
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("verinet: internal error: ZeroDivisionError")
    assert "report" in lines[0] and "Traceback" not in r.output


# ---------------------------------------------------------------- 8. check CERT alone
def test_check_finds_the_model_where_it_was_read(tmp_path):
    model_dir, cert_dir = tmp_path / "models", tmp_path / "certs"
    model_dir.mkdir()
    cert_dir.mkdir()
    shutil.copyfile(SEED / "random01.json", model_dir / "random01.json")
    r = _run("lipschitz", model_dir / "random01.json", "--center", "0.1,0.2", "--radius", "0.01", "--workers", "1",
             "--quiet", "--certificate", cert_dir / "c.json")
    assert r.exit_code == 0, r.output
    r = _run("check", cert_dir / "c.json")
    assert r.exit_code == 0 and r.stdout == "valid\n", r.output
    text = (model_dir / "random01.json").read_text()
    (model_dir / "random01.json").write_text(text + " ")  # same network, different file: hash still checked
    r = _run("check", cert_dir / "c.json")
    assert r.exit_code == 1 and "SHA-256 mismatch" in r.stdout
    (model_dir / "random01.json").unlink()
    _one_error_line(_run("check", cert_dir / "c.json"), 3, "model file not found", "--model")


# ---------------------------------------------------------------- 9. progress for long phases
def test_large_certificate_check_announces_itself(cert_dir, tmp_path):
    doc = json.loads((cert_dir / "r.cert.json").read_text())
    doc["statistics"]["padding"] = "x" * (1 << 20)  # informative section: not checked
    (tmp_path / "big.json").write_text(json.dumps(doc))
    shutil.copyfile(cert_dir / "random01.json", tmp_path / "random01.json")
    r = _run("check", tmp_path / "big.json")
    assert r.exit_code == 0 and "checking" in r.stderr and r.stdout == "valid\n"
    r = _run("check", cert_dir / "r.cert.json")
    assert r.stderr == ""  # small: no noise


# ---------------------------------------------------------------- 10. a certificate keeps the bounds printed
def test_certificate_keeps_back_substituted_gradients(tmp_path):
    r = _run("lipschitz", SEED / "random01.json", "--center", "0.1,0.2", "--radius", "0.01", "--workers", "1",
             "--bounds", "linear", "--jacobian", "linear", "--certificate", tmp_path / "c.json")
    assert r.exit_code == 0 and "--jacobian interval" not in r.stderr
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["evidence"]["gradient"] == "backsub"
    shutil.copyfile(SEED / "random01.json", tmp_path / "random01.json")
    r = _run("check", tmp_path / "c.json")
    assert r.exit_code == 0 and r.stdout == "valid\n"


# ---------------------------------------------------------------- 11. a constant region
def test_constant_zero_region_reads_as_zero():
    r = _run("lipschitz", SEED / "random01.json", "--center", "0.5,0.5", "--radius", "1e-3", "--workers", "1",
             "--quiet")
    assert r.exit_code == 0
    assert "the constant is 0 on this region" in r.stdout and "relative gap 1" not in r.stdout


def test_readme_quickstart_inputs_exist():
    """Every input file the README's Quickstart names ships with the repository (outputs excepted)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("### Command line", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    variables = dict(re.findall(r"^(\w+)=(\S+)$", block, flags=re.M))
    named = 0
    for line in block.splitlines():
        tokens = line.split("#", 1)[0].split()
        for prev, tok in zip([""] + tokens, tokens):
            tok = re.sub(r"\$(\w+)", lambda m: variables[m.group(1)], tok)
            if prev in ("--certificate", "-o") or not re.search(r"\.(json|onnx|nnet|npy|vnnlib)$", tok):
                continue
            if tok.startswith("cert"):  # written by an earlier line
                continue
            assert (REPO / tok).is_file(), tok
            named += 1
    assert named >= 8


def test_interrupt_with_nothing_to_report_exits_130(monkeypatch):
    import verinet.analyses.info as info_mod

    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(info_mod.ModelInfo, "from_network", interrupted)
    r = _run("info", SEED / "random01.json")
    assert r.exit_code == 130 and r.stderr.strip() == "verinet: interrupted" and "Aborted" not in r.output
