"""Every example runs as documented (fast mode) and produces its figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _run(script: str, tmp_path: Path, *extra: str) -> str:
    cmd = [sys.executable, str(EXAMPLES / script), "--fast", *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_certify_regressor(tmp_path):
    out = _run("certify_regressor.py", tmp_path, "--out", str(tmp_path))
    assert "whole interval" in out
    assert (tmp_path / "sine_regressor.json").exists()
    pytest.importorskip("matplotlib")
    assert (tmp_path / "regressor.png").stat().st_size > 10_000


def test_paper_accuracy_table(tmp_path):
    out = _run("paper_accuracy_table.py", tmp_path)
    for name in ("random01", "random02", "iris"):
        assert name in out


def test_benign_overfitting(tmp_path):
    out = _run("benign_overfitting.py", tmp_path, "--out", str(tmp_path))
    assert "interpolant: 4" in out
    pytest.importorskip("matplotlib")
    assert (tmp_path / "benign_overfitting.png").stat().st_size > 10_000


def test_import_has_no_side_effects():
    """Importing the packages changes neither the root logger nor the warning filters."""
    code = (
        "import logging, warnings\n"
        "import numpy, numba, mpmath, click  # third-party imports may set their own filters\n"
        "before = (list(logging.getLogger().handlers), list(warnings.filters))\n"
        "import intervals, verinet\n"
        "after = (list(logging.getLogger().handlers), list(warnings.filters))\n"
        "assert before == after, (before, after)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_classifier_radius(tmp_path):
    out = _run("classifier_radius.py", tmp_path, "--out", str(tmp_path))
    assert "certified r" in out


def test_quantisation(tmp_path):
    out = _run("quantisation.py", tmp_path)
    assert "float16" in out and "int8" in out


def test_acasxu(tmp_path):
    out = _run("acasxu.py", tmp_path, "--timeout", "30")
    rows = [line.split() for line in out.splitlines() if line.startswith("1_9")]
    assert [r[4] for r in rows] == ["sat", "sat"]  # properties 3 and 4 are violated on 1_9
