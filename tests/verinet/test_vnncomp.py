"""The VNN-COMP interface: instances CSV, ``verinet vnncomp prepare|run|batch``, result files, and the
attack on the MNIST ``sat`` instances (counterexamples confirmed exactly)."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from verinet.cli import main
from verinet.analyses.vnncomp import Instance, read_instances, run_instance

DATA = Path(__file__).resolve().parents[1] / "data"
VNN = DATA / "vnncomp_test"
MNIST = DATA / "mnistfc"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def small_csv(tmp_path) -> Path:
    for name in ("test_nano.onnx", "test_nano.vnnlib", "test_small.onnx", "test_small.vnnlib"):
        shutil.copy(VNN / name, tmp_path / name)
    p = tmp_path / "instances.csv"
    p.write_text("test_nano.onnx,test_nano.vnnlib,60\n\ntest_small.onnx,test_small.vnnlib,60\n"
                 "missing.onnx,test_nano.vnnlib,60\n")
    return p


def test_read_instances_resolves_paths_and_rejects_bad_rows(tmp_path):
    rows = read_instances(small_csv(tmp_path))
    assert [r.onnx.name for r in rows] == ["test_nano.onnx", "test_small.onnx", "missing.onnx"]
    assert rows[0].onnx.parent == tmp_path and rows[0].timeout == 60.0
    bad = tmp_path / "bad.csv"
    for text, words in (("a.onnx,b.vnnlib\n", "got 2 fields"), ("a.onnx,b.vnnlib,soon\n", "not a number"),
                        ("a.onnx,b.vnnlib,0\n", "> 0")):
        bad.write_text(text)
        with pytest.raises(ValueError, match=words):
            read_instances(bad)


def test_batch_writes_verdicts_and_result_files(tmp_path):
    out = tmp_path / "verdicts.csv"
    r = invoke("vnncomp", "batch", small_csv(tmp_path), "--out", out, "--results-dir", tmp_path / "res",
               "--timeout", "20", "--quiet")
    assert r.exit_code == 3  # the missing model makes the batch incomplete
    lines = out.read_text().splitlines()
    assert lines[0] == "onnx,vnnlib,timeout,result,seconds"
    assert [ln.split(",")[3] for ln in lines[1:]] == ["unsat", "unsat", "error"]
    assert all(ln.split(",")[2] == "20" for ln in lines[1:])
    files = sorted((tmp_path / "res").iterdir())
    assert [f.read_text().splitlines()[0] for f in files] == ["unsat", "unsat", "error"]


def test_run_and_prepare_follow_the_competition_convention(tmp_path):
    res = tmp_path / "out.txt"
    r = invoke("vnncomp", "run", "test", VNN / "test_nano.onnx", VNN / "test_nano.vnnlib", res, "30")
    assert r.exit_code == 0, r.output
    assert res.read_text() == "unsat\n"
    assert invoke("vnncomp", "prepare", "test", VNN / "test_nano.onnx", VNN / "test_nano.vnnlib").exit_code == 0
    r = invoke("vnncomp", "prepare", "test", tmp_path / "nope.onnx", VNN / "test_nano.vnnlib")
    assert r.exit_code == 3 and "file not found" in r.output and "Traceback" not in r.output
    r = invoke("vnncomp", "run", "test", tmp_path / "nope.onnx", VNN / "test_nano.vnnlib", res, "30")
    assert r.exit_code == 3 and res.read_text() == "error\n"
    r = invoke("vnncomp", "batch", tmp_path / "none.csv")
    assert r.exit_code == 3 and "cannot read" in r.output


@pytest.mark.parametrize("prop", ["prop_0_0.05", "prop_1_0.05"])
def test_mnist_sat_instances_are_falsified_quickly(prop):
    """PGD on every disjunct finds the counterexample; the witness in the result text is in the ball and
    violates the property in exact arithmetic."""
    from verinet.io import load_network
    from verinet.io.vnnlib import parse_vnnlib

    r = run_instance(Instance(MNIST / "mnist-net_256x2.onnx", MNIST / f"{prop}.vnnlib", 60.0))
    assert r.result == "sat", r
    assert r.seconds < 60
    x = [Fraction(float(line.split()[1].rstrip(")"))) for line in r.text.splitlines()[1:] if "(X_" in line]
    net = load_network(MNIST / "mnist-net_256x2.onnx")
    p = parse_vnnlib(MNIST / f"{prop}.vnnlib")
    assert p.violated_by_exact(x, net.evaluate_exact(x))
