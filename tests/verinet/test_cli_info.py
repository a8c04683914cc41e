"""``verinet info``: every reference model, text and JSON output, one-line errors with exit code 3."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from verinet.cli import main
from verinet.analyses.info import ModelInfo
from verinet.io import load_network

DATA = Path(__file__).resolve().parents[1] / "data"
SHARED = Path(__file__).resolve().parents[1] / "data"
MODEL_SUFFIXES = (".nnet", ".onnx", ".json")


def _models(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.suffix in MODEL_SUFFIXES and p.is_file())


LOCAL = [p for sub in ("nnet", "seed", "vnncomp_test") for p in _models(DATA / sub)]
SHARED_MODELS = _models(SHARED)


def _run(*args):
    return CliRunner().invoke(main, list(args))


def _check_text(path: Path, out: str) -> None:
    net = load_network(path)
    assert f"sha256:       {hashlib.sha256(path.read_bytes()).hexdigest()}" in out
    assert f"format:       {net.format}" in out
    assert f"parameters:   {net.n_parameters}" in out
    for k, L in enumerate(net.layers):
        assert f"  {k}: {L.n_in} -> {L.n_out}  {L.activation.value}" in out


def _check_json(path: Path, out: str) -> None:
    doc = json.loads(out)
    net = load_network(path)
    assert doc["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc["format"] == path.suffix[1:]
    assert doc["inputs"] == net.n_inputs and doc["outputs"] == net.n_outputs
    assert doc["parameters"] == net.n_parameters
    assert [(L["inputs"], L["outputs"], L["activation"]) for L in doc["layers"]] == [
        (L.n_in, L.n_out, L.activation.value) for L in net.layers
    ]
    assert doc["float_exact"] == net.is_float_exact
    assert (doc["input_domain"] is None) == (net.input_domain is None)


@pytest.mark.parametrize("path", LOCAL, ids=lambda p: p.name)
def test_info_local_models(path):
    r = _run("info", str(path))
    assert r.exit_code == 0, r.output
    _check_text(path, r.stdout)
    r = _run("info", str(path), "--json")
    assert r.exit_code == 0, r.output
    _check_json(path, r.stdout)


@pytest.mark.skipif(not SHARED_MODELS, reason="tests/data not available")
@pytest.mark.parametrize("path", SHARED_MODELS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_info_shared_models(path):
    for args in ((), ("--json",)):
        r = _run("info", str(path), *args)
        assert r.exit_code == 0, r.output
        (_check_json if args else _check_text)(path, r.stdout)


def test_info_nnet_shows_the_domain():
    r = _run("info", str(DATA / "nnet" / "fc_2-2-3.nnet"), "--json")
    doc = json.loads(r.stdout)
    assert doc["input_domain"] == {"lower": ["-100000", "-100000"], "upper": ["100000", "100000"]}
    assert doc["architecture"] == "2-2-3" and doc["float_exact"] is True
    text = _run("info", str(DATA / "nnet" / "fc_2-2-3.nnet")).stdout
    assert "x0: [-100000, 100000]" in text and "exact float64 numbers" in text


def test_info_missing_file(tmp_path):
    missing = tmp_path / "missing.onnx"
    r = _run("info", str(missing))
    assert r.exit_code == 3
    assert r.stdout == ""
    assert r.stderr == f"verinet: error: model file not found: {missing}\n"


def test_info_bad_files_give_one_line(tmp_path):
    bad_ext = tmp_path / "model.h5"
    bad_ext.write_text("x")
    bad_nnet = tmp_path / "bad.nnet"
    bad_nnet.write_text("2,2,3,3,\n2,2,3,\n")
    for path in (bad_ext, bad_nnet):
        r = _run("info", str(path), "--json")
        assert r.exit_code == 3, r.output
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("verinet: error: ")
        assert "Traceback" not in r.output


def test_model_info_api_is_frozen_and_serialisable():
    info = ModelInfo.from_network(load_network(DATA / "seed" / "iris.json"))
    with pytest.raises(AttributeError):
        info.name = "x"  # type: ignore[misc]
    doc = info.to_json()
    assert json.loads(json.dumps(doc)) == doc
    assert doc["architecture"] == "4-3-3" and doc["float_exact"] is False
    assert "architecture: 4-3-3 (2 layers, 4 inputs, 3 outputs)" in info.to_text()
