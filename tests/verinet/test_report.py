"""Reports: content for a review, outward-rounded numbers, self-contained HTML, plots, the CLI, a screenshot."""

from __future__ import annotations

import base64
import copy
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from verinet import Layer, Network
from verinet.evidence.certificate import lipschitz_certificate, robustness_certificate, schema, write_certificate
from verinet.evidence.checker import check_certificate
from verinet.cli import main
from verinet.errors import CertificateError
from verinet.analyses.lipschitz import lipschitz
from verinet.io import load_network, read_seed_query, save_network
from verinet.region import Region
from verinet.evidence.report import render_report

DATA = Path(__file__).resolve().parents[1] / "data"
SHARED = Path(__file__).resolve().parents[1] / "data"
_VALIDATOR = jsonschema.Draft202012Validator(schema())
PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def valid_schema(cert: dict) -> dict:
    errors = list(_VALIDATOR.iter_errors(cert))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    return cert


def seed_cert(name: str, tmp_path: Path) -> tuple[dict, Path]:
    for root in (DATA, SHARED):
        src = root / "seed" / name
        if src.is_file():
            path = tmp_path / name
            shutil.copyfile(src, path)
            net = load_network(path)
            q = read_seed_query(path)
            r = lipschitz(net, Region.ball(q.center, q.radius, "inf"))
            return valid_schema(lipschitz_certificate(r, net)), path
    pytest.skip(f"seed network {name} not available")


@pytest.fixture(scope="module")
def random01(tmp_path_factory):
    return seed_cert("random01.json", tmp_path_factory.mktemp("r01"))


class _Tags(HTMLParser):
    """Checks that non-void tags are balanced and collects src/href attributes."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.links: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("src", "href") and v]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def _displayed(text: str, name: str) -> Fraction:
    m = re.search(rf"{name} = (-?[0-9.]+(?:e-?[0-9]+)?)", text)
    assert m, f"{name} not shown"
    return Fraction(m.group(1))


def test_markdown_report_content(random01):
    cert, _ = random01
    md = render_report(cert, "md")
    assert md.startswith("# Lipschitz certificate: random01.json")
    for needle in [cert["model"]["sha256"], "random01.json", cert["claim"]["upper"], cert["claim"]["lower"],
                   "For every pair of inputs x, y in the region, |f_0(x) − f_0(y)| ≤ U·‖x − y‖∞",
                   "no constant smaller than L", "## Limits of the claim", "## Statistics and environment",
                   "exact real arithmetic on the weights as written in the model file", "verinet check",
                   "radius `0.0000001`", "-4.832202221268014242"]:
        assert needle in md, needle
    # prose numbers are rounded outward: never stronger than the certificate
    assert _displayed(md, "U") >= Fraction(cert["claim"]["upper"])
    assert _displayed(md, "L") <= Fraction(cert["claim"]["lower"])
    assert len(PNG.findall(md)) == 3  # bounds, partition (2-D), gradient bars


def test_html_report_is_self_contained(random01):
    cert, _ = random01
    page = render_report(cert, "html")
    parser = _Tags()
    parser.feed(page)
    assert not parser.errors and parser.stack == [], (parser.errors, parser.stack)
    assert all(link.startswith("data:image/png;base64,") for link in parser.links), parser.links
    images = PNG.findall(page)
    assert len(images) == 3
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert cert["model"]["sha256"] in page and "Limits of the claim" in page


def test_report_with_check_result_and_plot_dir(random01, tmp_path):
    cert, model = random01
    res = check_certificate(cert, model)
    md = render_report(cert, "md", check=res, plot_dir=tmp_path, plot_prefix="r")
    assert "The exact checker reports: **valid**" in md
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["r-bounds.png", "r-gradient.png", "r-partition.png"]
    assert "](r-partition.png)" in md and "data:image" not in md


def test_report_without_matplotlib(random01, monkeypatch):
    cert, _ = random01
    for mod in [m for m in list(sys.modules) if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    for fmt in ("md", "html"):
        text = render_report(cert, fmt)
        assert "Plots omitted: matplotlib is not installed" in text
        assert not PNG.findall(text)


def test_reports_for_other_shapes(tmp_path):
    rng = np.random.default_rng(2)
    one = Network((Layer.from_floats(rng.normal(size=(6, 1)), rng.normal(size=6)),
                   Layer.from_floats(rng.normal(size=(1, 6)), np.zeros(1), "identity")))
    save_network(one, tmp_path / "one.json")
    one = load_network(tmp_path / "one.json")
    r = lipschitz(one, Region.box(["-2"], ["2"]), max_boxes=200)
    md = render_report(valid_schema(lipschitz_certificate(r, one)), "md")
    assert len(PNG.findall(md)) == 3  # 1-D partition plot too
    many = Network((Layer.from_floats(rng.normal(size=(4, 60)), rng.normal(size=4)),
                    Layer.from_floats(rng.normal(size=(3, 4)), np.zeros(3), "identity")))
    save_network(many, tmp_path / "many.json")
    many = load_network(tmp_path / "many.json")
    r = lipschitz(many, Region.ball(["0"] * 60, "0.01", "2"), norm="2", output="all", max_boxes=20)
    html = render_report(valid_schema(lipschitz_certificate(r, many)), "html")
    assert "the 40 inputs of largest magnitude out of 60" in html
    assert "all outputs: induced operator norm" in html and "l2 ball" in html
    assert len(PNG.findall(html)) == 2  # no partition plot beyond 2-D


def test_robustness_report(tmp_path):
    net = Network((Layer.from_exact([["1", "0"], ["0", "1"]], ["0", "0"]),
                   Layer.from_exact([["1", "0"], ["0", "1"]], ["0", "0"], "identity")))
    save_network(net, tmp_path / "clf.json")
    net = load_network(tmp_path / "clf.json")
    query = {"region": Region.ball(["0.5", "0.4"], "0.2", "inf").to_json(),
             "property": {"type": "classification", "label": 0}}
    cert = valid_schema(robustness_certificate("local-robustness", query, "falsified",
                                               {"counterexample": {"point": ["0.4", "0.5"]}}, net))
    check = check_certificate(cert)  # finds the model where it was read from
    assert check.valid
    for fmt in ("md", "html"):
        text = render_report(cert, fmt, check=check)
        assert "Verdict: falsified" in text and "Counterexample" in text and cert["model"]["sha256"] in text
        unchecked = render_report(cert, fmt)
        assert "Verdict: falsified" not in unchecked and "Not checked" in unchecked


def test_malformed_certificate_is_refused(random01):
    cert, _ = random01
    with pytest.raises(ValueError, match="format"):
        render_report(cert, "pdf")
    bad = copy.deepcopy(cert)
    del bad["query"]
    with pytest.raises(CertificateError):
        render_report(bad, "md")
    with pytest.raises(CertificateError):
        render_report({"format": "other"}, "md")


def test_cli_report(random01, tmp_path):
    cert, _ = random01
    path = write_certificate(cert, tmp_path / "random01.cert.json")
    runner = CliRunner()
    r = runner.invoke(main, ["report", str(path)])
    assert r.exit_code == 0 and r.output.startswith("# Lipschitz certificate: random01.json")
    r = runner.invoke(main, ["report", str(path), "-o", str(tmp_path / "review.html")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "review.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    r = runner.invoke(main, ["report", str(path), "--format", "md", "-o", str(tmp_path / "review.md")])
    assert r.exit_code == 0 and (tmp_path / "review-partition.png").is_file()
    garbage = tmp_path / "garbage.json"
    garbage.write_text("[1, 2")
    for args in (["report", str(garbage)], ["report", str(tmp_path / "none.json")]):
        r = runner.invoke(main, args)
        assert r.exit_code == 3 and r.output.startswith("verinet: error:") and r.output.count("\n") == 1


def test_html_report_screenshot(random01, tmp_path):
    """Render the seed random01 report in headless Chromium (skipped when Chromium is not installed)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed")
    cert, _ = random01
    page = tmp_path / "random01.html"
    page.write_text(render_report(cert, "html"), encoding="utf-8")
    shot = tmp_path / "out.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,1600", page.as_uri()], capture_output=True, timeout=120, check=False)
    assert shot.is_file() and shot.stat().st_size > 10_000
    from matplotlib.image import imread

    img = imread(shot)
    assert img.shape[:2] == (1600, 1200)
    assert float(np.std(img[..., :3])) > 0.05  # not a blank page
