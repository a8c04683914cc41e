"""Certificates: content of real runs, schema validation, refusal of non-rigorous results, robustness payloads."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import numpy as np
import pytest

from verinet import Layer, Network, __version__
from verinet.evidence.certificate import (
    SEMANTICS,
    lipschitz_certificate,
    lipschitz_statement,
    load_certificate,
    robustness_certificate,
    schema,
    write_certificate,
)
from verinet.errors import CertificateError
from verinet.exactfmt import float_to_exact_str
from verinet.analyses.lipschitz import lipschitz
from verinet.io import load_network, read_seed_query, save_network
from verinet.region import Region

SEED = Path(__file__).resolve().parents[1] / "data" / "seed"
SHARED_SEED = Path(__file__).resolve().parents[1] / "data" / "seed"

_VALIDATOR = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def valid_schema(cert: dict) -> dict:
    """Every certificate the tests produce goes through the JSON Schema."""
    errors = sorted(_VALIDATOR.iter_errors(cert), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    return cert


def seed_file(name: str, tmp_path: Path) -> Path:
    for root in (SEED, SHARED_SEED):
        if (root / name).is_file():
            dst = tmp_path / name
            shutil.copyfile(root / name, dst)
            return dst
    pytest.skip(f"seed network {name} not available")


def seed_run(name: str, tmp_path: Path):
    path = seed_file(name, tmp_path)
    net = load_network(path)
    q = read_seed_query(path)
    result = lipschitz(net, Region.ball(q.center, q.radius, "inf"))
    return path, net, result


def saved(net: Network, path: Path) -> Network:
    save_network(net, path)
    return load_network(path)


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(schema())


@pytest.mark.parametrize("name", ["random01.json", "iris.json"])
def test_seed_certificate_content(name, tmp_path):
    path, net, result = seed_run(name, tmp_path)
    cert = valid_schema(lipschitz_certificate(result, net))
    assert cert["format"] == "verinet-certificate" and cert["schema_version"] == "2"
    assert cert["kind"] == "lipschitz"
    assert cert["tool"] == {"name": "verinet", "version": __version__}
    assert cert["model"]["file"] == name
    assert cert["model"]["format"] == "json"
    assert cert["model"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert cert["semantics"] == SEMANTICS
    assert cert["query"]["region"] == result.region.to_json()
    assert cert["query"]["norm"] == "inf"
    assert cert["query"]["output"]["kind"] == "index" and cert["query"]["output"]["index"] == 0
    # the bounds are the exact decimal values of the result's floats
    assert cert["claim"]["upper"] == float_to_exact_str(result.upper)
    assert cert["claim"]["lower"] == float_to_exact_str(result.lower)
    assert Fraction(cert["claim"]["upper"]) == Fraction(result.upper)
    assert cert["claim"]["status"] == result.status.value
    assert "For every pair of inputs x, y in the region" in cert["claim"]["statement"]
    st = cert["statistics"]
    assert st["boxes"] == result.boxes and st["leaves"] == len(result.partition)
    assert st["backend"].startswith("float64") and st["precision"] == 53
    env = cert["environment"]
    assert env["numpy"] == np.__version__ and env["python"] and env["platform"] and env["mpmath"]
    ev = cert["evidence"]
    assert len(ev["leaves"]) == len(result.partition)
    for leaf, rl in zip(ev["leaves"], result.partition):
        assert [Fraction(v) for v in leaf["lower"]] == [Fraction(v) for v in rl.lower]
        assert [Fraction(v) for v in leaf["upper"]] == [Fraction(v) for v in rl.upper]
        assert Fraction(leaf["bound"]) == Fraction(rl.bound)
    assert [Fraction(v) for v in ev["witness"]["point"]] == [Fraction(v) for v in result.witness]
    assert result.region.contains([Fraction(v) for v in ev["witness"]["point"]])
    g = ev["input_gradient"]
    assert len(g["lower"]) == net.n_inputs and all(Fraction(a) <= Fraction(b) for a, b in zip(g["lower"], g["upper"]))
    assert cert["history"] and cert["history"][-1][2:] == [result.lower, result.upper]


def test_write_and_load_round_trip(tmp_path):
    _, net, result = seed_run("random01.json", tmp_path)
    cert = lipschitz_certificate(result, net)
    out = write_certificate(cert, tmp_path / "c.json")
    assert load_certificate(out) == json.loads(json.dumps(cert))
    assert not list(tmp_path.glob("*.tmp"))


def test_load_certificate_errors(tmp_path):
    with pytest.raises(CertificateError, match="not found"):
        load_certificate(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CertificateError, match="invalid JSON"):
        load_certificate(bad)
    bad.write_text('{"format": "something-else"}', encoding="utf-8")
    with pytest.raises(CertificateError, match="not a verinet certificate"):
        load_certificate(bad)
    with pytest.raises(CertificateError):
        write_certificate({"format": "x"}, tmp_path / "x.json")


def _tiny(tmp_path: Path) -> tuple[Network, object]:
    net = saved(Network((Layer.from_exact([["1"], ["-1"]], ["0", "0"]),
                         Layer.from_exact([["2", "1"]], ["0"], "identity"))), tmp_path / "tiny.json")
    return net, lipschitz(net, Region.box(["-1"], ["1"]), tol=1e-9)


def test_refuses_non_rigorous_results(tmp_path):
    """STYLE habit 3: anything that is not a complete rigorous LipschitzResult is refused."""
    net, r = _tiny(tmp_path)
    valid_schema(lipschitz_certificate(r, net))
    fake = SimpleNamespace(**{f.name: getattr(r, f.name) for f in dataclasses.fields(r)})
    bad = [
        fake,  # an approximate look-alike, not a LipschitzResult
        dataclasses.replace(r, status=None),
        dataclasses.replace(r, status="converged"),
        dataclasses.replace(r, upper=math.nan),
        dataclasses.replace(r, upper=math.inf),
        dataclasses.replace(r, lower=r.upper * 2),
        dataclasses.replace(r, partition=()),
        dataclasses.replace(r, witness=None),  # positive lower bound without witness
        dataclasses.replace(r, upper=r.partition[0].bound / 2, lower=0.0),  # a leaf above the claim
    ]
    for result in bad:
        with pytest.raises(CertificateError):
            lipschitz_certificate(result, net)


def test_refuses_network_without_model_file():
    net = Network((Layer.from_exact([["1", "2"]], ["0"], "identity"),))
    r = lipschitz(net, Region.box(["0", "0"], ["1", "1"]))
    with pytest.raises(CertificateError, match="no model file"):
        lipschitz_certificate(r, net)


def test_output_selections_and_norms(tmp_path):
    rng = np.random.default_rng(3)
    net = saved(Network((Layer.from_floats(rng.normal(size=(5, 2)), rng.normal(size=5)),
                         Layer.from_floats(rng.normal(size=(2, 5)), np.zeros(2), "identity"))), tmp_path / "n.json")
    region = Region.box(["-0.5", "-0.5"], ["0.5", "0.5"])
    for norm, output, kind in [("inf", 1, "index"), ("2", [1.0, -1.0], "combination"), ("1", "all", "all")]:
        r = lipschitz(net, region, norm=norm, output=output, max_boxes=50)
        cert = valid_schema(lipschitz_certificate(r, net))
        assert cert["query"]["norm"] == norm and cert["query"]["output"]["kind"] == kind
        if kind == "combination":
            assert [Fraction(c) for c in cert["query"]["output"]["coefficients"]] == [1, -1]
        assert cert["claim"]["status"] in ("converged", "box_limit")


def test_statement_wording():
    s = lipschitz_statement("inf", {"kind": "index", "index": 0}, "2", "1.5")
    assert s == ("For every pair of inputs x, y in the region, |f_0(x) − f_0(y)| ≤ U·‖x − y‖∞ with U = 2, "
                 "and no constant smaller than L = 1.5 is valid.")
    assert "‖f(x) − f(y)‖2" in lipschitz_statement("2", {"kind": "all"}, "1", "0")
    assert "|cᵀf(x) − cᵀf(y)|" in lipschitz_statement("1", {"kind": "combination"}, "1", "0")


# ---------------------------------------------------------------------------------------------- robustness
def _classifier(tmp_path: Path) -> Network:
    # y0 = x1, y1 = x2 through a ReLU layer on the positive quadrant
    return saved(Network((Layer.from_exact([["1", "0"], ["0", "1"]], ["0", "0"]),
                          Layer.from_exact([["1", "0"], ["0", "1"]], ["0", "0"], "identity"))), tmp_path / "clf.json")


def test_robustness_certificates(tmp_path):
    net = _classifier(tmp_path)
    region = Region.ball(["0.5", "0.4"], "0.2", "inf")
    query = {"region": region.to_json(), "property": {"type": "classification", "label": 0}}
    cx = robustness_certificate("local_robustness", query, "falsified",
                                {"counterexample": {"point": [0.4, 0.5], "output": [0.4, 0.5]}}, net,
                                statistics={"seconds": 0.01, "samples": np.int64(3)})
    valid_schema(cx)
    assert cx["kind"] == "local-robustness" and cx["claim"]["verdict"] == "falsified"
    assert cx["evidence"]["counterexample"]["point"] == [float_to_exact_str(0.4), float_to_exact_str(0.5)]
    assert cx["statistics"] == {"seconds": 0.01, "samples": 3}
    lo, hi = region.outer_box()
    ver = robustness_certificate("local-robustness", {"region": Region.ball(["0.5", "0.4"], "0.02").to_json(),
                                                      "property": {"type": "classification", "label": 0}},
                                 "verified", {"domain": {"lower": lo, "upper": hi},
                                              "leaves": [{"lower": lo, "upper": hi}]}, net)
    valid_schema(ver)
    assert "For every input x in the region" in ver["claim"]["statement"]
    unk = valid_schema(robustness_certificate("local-robustness", query, "unknown", {}, net))
    assert unk["claim"]["statement"].startswith("No claim")


def test_robustness_certificate_refusals(tmp_path):
    net = _classifier(tmp_path)
    query = {"region": Region.box(["0", "0"], ["1", "1"]).to_json(), "property": {"type": "classification", "label": 0}}
    with pytest.raises(CertificateError, match="candidate"):
        robustness_certificate("local-robustness", query, "candidate_counterexample", {"counterexample": {}}, net)
    with pytest.raises(CertificateError, match="counterexample"):
        robustness_certificate("local-robustness", query, "falsified", {}, net)
    with pytest.raises(CertificateError, match="leaves"):
        robustness_certificate("local-robustness", query, "verified", {}, net)
    with pytest.raises(CertificateError, match="verdict"):
        robustness_certificate("local-robustness", query, "probably", {}, net)
    with pytest.raises(CertificateError, match="region"):
        robustness_certificate("local-robustness", {"property": {}}, "unknown", {}, net)
    with pytest.raises(CertificateError, match="non-finite"):
        robustness_certificate("local-robustness", query, "falsified",
                               {"counterexample": {"point": [math.nan, 0.0]}}, net)
