"""The independent exact checker: real certificates pass, each kind of tampering is rejected with its reason."""

from __future__ import annotations

import ast
import copy
import itertools
import json
import math
import shutil
import time
from fractions import Fraction
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from verinet import Layer, Network
from verinet.evidence.certificate import lipschitz_certificate, robustness_certificate, schema, write_certificate
from verinet.evidence.checker import CheckResult, check_certificate
from verinet.cli import main
from verinet.errors import CertificateError, ModelFormatError
from verinet.exactfmt import float_to_exact_str
from verinet.analyses.lipschitz import lipschitz
from verinet.io import load_network, read_seed_query, save_network
from verinet.region import Region

DATA = Path(__file__).resolve().parents[1] / "data"
SHARED = Path(__file__).resolve().parents[1] / "data"
_VALIDATOR = jsonschema.Draft202012Validator(schema())


def valid_schema(cert: dict) -> dict:
    errors = list(_VALIDATOR.iter_errors(cert))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    return cert


def data_file(rel: str, tmp_path: Path) -> Path:
    for root in (DATA, SHARED):
        if (root / rel).is_file():
            dst = tmp_path / Path(rel).name
            shutil.copyfile(root / rel, dst)
            return dst
    pytest.skip(f"{rel} not available")


def seed_cert(name: str, tmp_path: Path, **options) -> tuple[dict, Path]:
    path = data_file(f"seed/{name}", tmp_path)
    net = load_network(path)
    q = read_seed_query(path)
    r = lipschitz(net, Region.ball(q.center, q.radius, "inf"), **options)
    return valid_schema(lipschitz_certificate(r, net)), path


def random_net(sizes, act="relu", seed=0, alpha=0.125) -> Network:
    rng = np.random.default_rng(seed)
    layers = []
    for k, (a, b) in enumerate(itertools.pairwise(sizes)):
        last = k == len(sizes) - 2
        layers.append(Layer.from_floats(rng.normal(size=(b, a)), 0.3 * rng.normal(size=b),
                                        "identity" if last else act, alpha if act == "leaky_relu" and not last else 0))
    return Network(tuple(layers))


def saved(net: Network, path: Path) -> Network:
    save_network(net, path)
    return load_network(path)


def assert_invalid(cert: dict, model: Path, *fragments: str, **kw) -> CheckResult:
    res = check_certificate(cert, model, **kw)
    assert not res.valid, res
    for f in fragments:
        assert f in res.reason, res.reason
    return res


# ---------------------------------------------------------------------------------------------- valid certificates
@pytest.mark.parametrize("name", ["random01.json", "iris.json", "random02.json"])
def test_seed_certificates_are_valid(name, tmp_path):
    cert, model = seed_cert(name, tmp_path)
    res = check_certificate(cert, model)
    assert res == CheckResult(True, "valid", len(cert["evidence"]["leaves"]), len(cert["evidence"]["leaves"]), False)
    # a certificate file finds its model next to it
    write_certificate(cert, tmp_path / "c.json")
    assert check_certificate(tmp_path / "c.json").valid


CASES = [
    ((2, 8, 1), "relu", "inf", 0, Region.box(["-1", "-1"], ["1", "1"]), 300),
    ((2, 8, 3), "relu", "2", 1, Region.ball(["0.1", "0.2"], "0.5", "2"), 300),
    ((3, 6, 6, 2), "relu", "1", [1.0, -1.0], Region.ball(["0", "0", "0"], "0.3", "1"), 300),
    ((2, 6, 3), "relu", "inf", "all", Region.box(["-1", "-1"], ["1", "1"]), 300),
    ((2, 6, 3), "leaky_relu", "1", "all", Region.box(["-1", "-1"], ["1", "1"]), 300),
    ((3, 5, 2), "relu", "2", "all", Region.box(["-0.5"] * 3, ["0.5"] * 3), 60),
    ((2, 6, 3), "leaky_relu", "2", 0, Region.box(["-1", "-1"], ["1", "1"]), 300),
    ((2, 4, 1), "relu", "inf", 0, Region.box(["-3", "-3"], ["3", "3"]), 1),  # the root box alone
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_random_network_certificates_are_valid(case, tmp_path):
    sizes, act, norm, output, region, budget = CASES[case]
    net = saved(random_net(sizes, act, seed=case), tmp_path / "net.json")
    r = lipschitz(net, region, norm=norm, output=output, tol=1e-4, max_boxes=budget)
    cert = valid_schema(lipschitz_certificate(r, net))
    res = check_certificate(cert, tmp_path / "net.json")
    assert res.valid and res.reason == "valid", res
    assert res.checked_leaves == res.total_leaves == len(r.partition)


def test_bisect_all_partition_is_valid(tmp_path):
    net = saved(random_net((3, 6, 1), seed=7), tmp_path / "net.json")
    r = lipschitz(net, Region.box(["-1"] * 3, ["1"] * 3), strategy="bisect-all", max_boxes=200, tol=1e-4)
    assert check_certificate(valid_schema(lipschitz_certificate(r, net)), tmp_path / "net.json").valid


def test_nnet_certificate_records_reader_options(tmp_path):
    model = data_file("nnet/fc_2-2-3.nnet", tmp_path)
    net = load_network(model)
    r = lipschitz(net, Region.from_domain(net), output="all", max_boxes=100)
    cert = valid_schema(lipschitz_certificate(r, net))
    assert cert["model"]["load_options"] == {"coordinates": "raw"}
    assert check_certificate(cert, model).valid


# ---------------------------------------------------------------------------------------------- tampering
def _relu_pair(tmp_path: Path):
    """f(x) = 2 relu(x) + relu(−x): the exact l∞ Lipschitz constant on [−1, 1] is 2, a float."""
    net = saved(Network((Layer.from_exact([["1"], ["-1"]], ["0", "0"]),
                         Layer.from_exact([["2", "1"]], ["0"], "identity"))), tmp_path / "pair.json")
    r = lipschitz(net, Region.box(["-1"], ["1"]), tol=1e-9)
    return valid_schema(lipschitz_certificate(r, net)), tmp_path / "pair.json"


def _set_upper(cert: dict, value: float, clamp_leaves: bool) -> dict:
    c = copy.deepcopy(cert)
    c["claim"]["upper"] = float_to_exact_str(value)
    if clamp_leaves:
        for leaf in c["evidence"]["leaves"]:
            leaf["bound"] = float_to_exact_str(min(float(Fraction(leaf["bound"])), value))
    return c


def test_upper_bound_lowered_one_ulp_below_the_true_maximum(tmp_path):
    cert, model = _relu_pair(tmp_path)
    # the claim U = 2 (the true constant) with leaf bounds clamped to 2 is valid ...
    assert check_certificate(_set_upper(cert, 2.0, True), model).valid
    # ... one ulp below it is false, whatever the recorded leaf bounds say
    below = math.nextafter(2.0, 0.0)
    assert_invalid(_set_upper(cert, below, True), model, "exact bound 2 exceeds the claimed upper bound",
                   "1.9999999999999998")
    assert_invalid(_set_upper(cert, below, False), model, "recorded bound", "exceeds the claimed upper bound")


def test_seed_upper_bound_lowered_one_ulp(tmp_path):
    cert, model = seed_cert("random02.json", tmp_path)
    upper = float(Fraction(cert["claim"]["upper"]))
    top = [i for i, leaf in enumerate(cert["evidence"]["leaves"]) if Fraction(leaf["bound"]) == Fraction(upper)]
    assert top  # the claimed upper bound is a leaf's bound
    bad = _set_upper(cert, math.nextafter(upper, 0.0), False)
    res = assert_invalid(bad, model, f"leaf {top[0]}: recorded bound", "exceeds the claimed upper bound")
    assert res.reason.startswith(f"leaf {top[0]}:")


def test_leaf_bound_below_its_exact_bound(tmp_path):
    cert, model = _relu_pair(tmp_path)
    c = copy.deepcopy(cert)
    i = max(range(len(c["evidence"]["leaves"])), key=lambda k: Fraction(c["evidence"]["leaves"][k]["bound"]))
    c["evidence"]["leaves"][i]["bound"] = "1"
    assert_invalid(c, model, f"leaf {i}: exact bound 2 exceeds the leaf's recorded bound 1")


def test_removed_or_duplicated_leaf_breaks_the_cover(tmp_path):
    # without the gradient search the lower bound comes later, so the partition has several leaves
    cert, model = seed_cert("random02.json", tmp_path, search=0.0)
    assert len(cert["evidence"]["leaves"]) > 2
    c = copy.deepcopy(cert)
    del c["evidence"]["leaves"][1]
    assert_invalid(c, model, "leaves do not cover the region")
    c = copy.deepcopy(cert)
    c["evidence"]["leaves"].append(copy.deepcopy(c["evidence"]["leaves"][0]))
    assert_invalid(c, model, "leaves do not cover the region")
    c = copy.deepcopy(cert)  # a leaf shrunk: a gap
    leaf = c["evidence"]["leaves"][0]
    leaf["upper"][0] = str((Fraction(leaf["lower"][0]) + Fraction(leaf["upper"][0])) / 2)
    assert_invalid(c, model, "leaves do not cover the region")
    c = copy.deepcopy(cert)  # the partitioned box misses part of the region
    c["evidence"]["domain"]["upper"][1] = c["query"]["region"]["center"][1]
    assert_invalid(c, model, "leaves do not cover the region")


def test_neuron_sign_leaves(tmp_path):
    """Leaves that fix ReLU signs: the two signs must both be present; an empty piece proves nothing false."""
    cert, model = seed_cert("random02.json", tmp_path)
    leaves = cert["evidence"]["leaves"]
    fixed = [i for i, leaf in enumerate(leaves) if leaf["fixed"]]
    if not fixed:
        pytest.skip("this branch-and-bound run split no neuron")
    i = fixed[0]
    c = copy.deepcopy(cert)  # flip one sign: that half of the box is now covered twice, the other not at all
    c["evidence"]["leaves"][i]["fixed"][0][2] *= -1
    assert_invalid(c, model, "leaves do not cover the region")
    c = copy.deepcopy(cert)  # drop the sign constraints of one leaf: it now claims its whole box
    c["evidence"]["leaves"][i]["fixed"] = []
    assert_invalid(c, model, "leaves do not cover the region")
    c = copy.deepcopy(cert)  # a neuron that does not exist
    c["evidence"]["leaves"][i]["fixed"][0] = [0, 99, 1]
    with pytest.raises(CertificateError, match="invalid fixed neuron"):
        check_certificate(c, model)
    # a non-empty piece whose bound is set to 0 is caught by the exact enclosure
    nonempty = [j for j in fixed if Fraction(leaves[j]["bound"]) > Fraction(1, 10)]
    c = copy.deepcopy(cert)
    c["evidence"]["leaves"][nonempty[0]]["bound"] = "0"
    assert_invalid(c, model, f"leaf {nonempty[0]}: exact bound", "exceeds the leaf's recorded bound 0")


def test_different_model_file_is_a_hash_mismatch(tmp_path):
    cert, model = seed_cert("random01.json", tmp_path)
    other = tmp_path / "other.json"
    doc = json.loads(model.read_text())
    doc["layers"][1]["bias"][0] = "1"  # same shapes, another network
    other.write_text(json.dumps(doc))
    assert_invalid(cert, other, "model SHA-256 mismatch")
    model.write_text(model.read_text() + " ")  # even a whitespace change
    assert_invalid(cert, model, "model SHA-256 mismatch")


def test_witness_tampering(tmp_path):
    cert, model = seed_cert("random02.json", tmp_path)
    c = copy.deepcopy(cert)
    region = c["query"]["region"]
    c["evidence"]["witness"]["point"][0] = str(Fraction(region["upper"][0]) + Fraction(1, 10**9))
    assert_invalid(c, model, "witness outside the region")
    c = copy.deepcopy(cert)
    c["evidence"]["witness"] = None
    assert_invalid(c, model, "no witness point")
    c = copy.deepcopy(cert)  # a lower bound above what the witness proves (still ≤ upper)
    c["claim"]["lower"] = c["claim"]["upper"]
    assert_invalid(c, model, "exact gradient norm at the witness", "below the claimed lower bound")
    c = copy.deepcopy(cert)
    c["claim"]["lower"] = "1"
    assert_invalid(c, model, "lower bound exceeds the claimed upper bound")


def test_witness_in_an_l2_ball_is_checked_exactly(tmp_path):
    net = saved(random_net((2, 6, 1), seed=11), tmp_path / "net.json")
    r = lipschitz(net, Region.ball(["0", "0"], "1", "2"), max_boxes=100)
    cert = valid_schema(lipschitz_certificate(r, net))
    assert check_certificate(cert, tmp_path / "net.json").valid
    cert["evidence"]["witness"]["point"] = ["0.8", "0.8"]  # inside the bounding box, outside the ball
    assert_invalid(cert, tmp_path / "net.json", "witness outside the region")


def test_sigmoid_networks_are_not_supported(tmp_path):
    net = saved(random_net((2, 3, 1), "sigmoid"), tmp_path / "sig.json")
    r = lipschitz(net, Region.box(["0", "0"], ["1", "1"]), max_boxes=10)
    cert = valid_schema(lipschitz_certificate(r, net))
    assert_invalid(cert, tmp_path / "sig.json", "sigmoid", "not supported by the exact checker")


def test_malformed_certificates_raise(tmp_path):
    cert, model = seed_cert("random01.json", tmp_path)
    for path, value, match in [
        (("format",), "x", "not a verinet certificate"),
        (("schema_version",), "4", "schema version"),
        (("claim", "upper"), "0x1p-3", "not an exact number"),
        (("claim", "upper"), 0.5, "exact decimal string"),
        (("query", "norm"), "3", "unknown norm"),
        (("query", "output"), {"kind": "index", "index": 9}, "out of range"),
        (("model", "load_options"), {"trusted": True}, "load_options"),  # never unpickle on a document's word
    ]:
        c = copy.deepcopy(cert)
        target = c
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(CertificateError, match=match):
            check_certificate(c, model)
    c = copy.deepcopy(cert)
    del c["evidence"]
    with pytest.raises(CertificateError, match="missing 'evidence'"):
        check_certificate(c, model)
    c = copy.deepcopy(cert)
    c["query"]["region"]["upper"][0] = c["query"]["region"]["center"][0]  # not centre ± radius
    with pytest.raises(CertificateError, match="centre"):
        check_certificate(c, model)
    with pytest.raises(ModelFormatError, match="not found"):
        check_certificate(cert, tmp_path / "missing.json")
    c = copy.deepcopy(cert)
    c["model"]["file"] = "../" + model.name
    with pytest.raises(CertificateError, match="bare file name"):
        check_certificate(write_certificate(c, tmp_path / "c.json"))


def test_checker_shares_no_bound_propagation_code():
    """The checkers import nothing from the fast path (only the model reader and the error types): neither the
    bounds nor the activations' enclosures and linear relaxations."""
    evidence = Path(__file__).resolve().parents[2] / "verinet" / "evidence"
    forbidden = ("intervals", "verinet.activations", "verinet.bounds", "verinet.analyses", "verinet.search",
                 "verinet.region", "mpmath")
    sources = sorted(evidence.glob("checker*.py"))
    assert len(sources) >= 8
    for node in (n for src in sources for n in ast.walk(ast.parse(src.read_text(encoding="utf-8")))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            assert not any(name == f or name.startswith(f + ".") for f in forbidden), name


# ---------------------------------------------------------------------------------------------- sampling, large
def test_large_partition_sampled(tmp_path):
    """12288 leaves: coverage checked in full, 100 leaves exactly, well within the time budget."""
    net = saved(random_net((2, 8, 1), seed=5), tmp_path / "net.json")
    region = Region.box(["-1", "-1"], ["1", "1"])
    root = lipschitz(net, region, max_boxes=1)  # the root box's bound is valid for every sub-box
    cert = valid_schema(lipschitz_certificate(root, net))
    bound = cert["evidence"]["leaves"][0]["bound"]
    nx, ny = 128, 96
    xs = [float_to_exact_str(v) for v in np.linspace(-1.0, 1.0, nx + 1)]  # float grid lines, shared by
    ys = [float_to_exact_str(v) for v in np.linspace(-1.0, 1.0, ny + 1)]  # neighbouring leaves
    cert["evidence"]["leaves"] = [
        {"lower": [xs[i], ys[j]], "upper": [xs[i + 1], ys[j + 1]], "bound": bound, "precision": 53}
        for i in range(nx) for j in range(ny)
    ]
    t0 = time.perf_counter()
    res = check_certificate(cert, tmp_path / "net.json", sample=100, seed=1)
    assert res.valid and res.sampled and res.reason == "valid (sampled 100 of 12288 leaves)", res
    assert (res.checked_leaves, res.total_leaves) == (100, 12288)
    assert time.perf_counter() - t0 < 20
    del cert["evidence"]["leaves"][5000]
    assert_invalid(cert, tmp_path / "net.json", "leaves do not cover the region", sample=10)


# ---------------------------------------------------------------------------------------------- robustness
def _classifier(tmp_path: Path) -> tuple[Network, Path]:
    path = tmp_path / "clf.json"
    net = saved(Network((Layer.from_exact([["1", "0"], ["0", "1"]], ["0", "0"]),
                         Layer.from_exact([["1", "0"], ["0", "1"]], ["0", "0"], "identity"))), path)
    return net, path


def test_counterexample_certificates(tmp_path):
    net, model = _classifier(tmp_path)
    query = {"region": Region.ball(["0.5", "0.4"], "0.2", "inf").to_json(),
             "property": {"type": "classification", "label": 0}}
    cert = valid_schema(robustness_certificate("local-robustness", query, "falsified",
                                               {"counterexample": {"point": ["0.4", "0.5"]}}, net))
    assert check_certificate(cert, model).valid
    moved = copy.deepcopy(cert)
    moved["evidence"]["counterexample"]["point"] = ["0.4", "0.7"]  # label 1, but outside the region
    assert_invalid(moved, model, "counterexample outside the region")
    tie = copy.deepcopy(cert)
    tie["evidence"]["counterexample"]["point"] = ["0.45", "0.45"]  # a tie is not robust: still violates
    assert check_certificate(tie, model).valid
    robust = copy.deepcopy(cert)
    robust["evidence"]["counterexample"]["point"] = ["0.6", "0.3"]
    assert_invalid(robust, model, "does not violate the property")


def test_regression_counterexample(tmp_path):
    net, model = _classifier(tmp_path)
    query = {"region": Region.ball(["0.5", "0.5"], "0.1", "2").to_json(),
             "property": {"type": "regression", "output": 1, "epsilon": "0.05"}}
    cert = valid_schema(robustness_certificate("local-robustness", query, "falsified",
                                               {"counterexample": {"point": ["0.5", "0.58"]}}, net))
    assert check_certificate(cert, model).valid
    cert["evidence"]["counterexample"]["point"] = ["0.5", "0.54"]  # |Δ| = 0.04 ≤ ε
    assert_invalid(cert, model, "does not violate")
    cert["evidence"]["counterexample"]["point"] = ["0.58", "0.58"]  # in the bounding box, outside the l2 ball
    assert_invalid(cert, model, "counterexample outside the region")


def test_verified_robustness_certificate(tmp_path):
    net, model = _classifier(tmp_path)
    region = Region.ball(["0.5", "0.4"], "0.02", "inf")
    lo, hi = region.outer_box()
    mid = 0.5
    query = {"region": region.to_json(), "property": {"type": "classification", "label": 0}}
    leaves = [{"lower": [lo[0], lo[1]], "upper": [mid, hi[1]]}, {"lower": [mid, lo[1]], "upper": [hi[0], hi[1]]}]
    cert = valid_schema(robustness_certificate("local-robustness", query, "verified",
                                               {"domain": {"lower": lo, "upper": hi}, "leaves": leaves}, net))
    assert check_certificate(cert, model).reason == "valid"
    wide = copy.deepcopy(cert)  # a region where label 0 does not hold everywhere
    wide["query"]["region"] = Region.ball(["0.5", "0.4"], "0.2", "inf").to_json()
    assert_invalid(wide, model, "leaves do not cover the region")
    big = Region.ball(["0.5", "0.4"], "0.2", "inf")
    blo, bhi = big.outer_box()
    wide = valid_schema(robustness_certificate("local-robustness", {**query, "region": big.to_json()}, "verified",
                                               {"domain": {"lower": blo, "upper": bhi},
                                                "leaves": [{"lower": blo, "upper": bhi}]}, net))
    assert_invalid(wide, model, "leaf 0: exact interval bounds do not prove the property")
    unknown = valid_schema(robustness_certificate("local-robustness", query, "unknown", {}, net))
    assert check_certificate(unknown, model).reason == "valid (verdict 'unknown' makes no claim)"
    other = valid_schema(robustness_certificate("global-robustness", query, "verified", {"method": "other"}, net))
    assert_invalid(other, model, "does not support certificates of kind 'global-robustness'")


def test_local_robustness_results_become_checkable_certificates(tmp_path):
    robustness = pytest.importorskip("verinet.analyses.robustness")
    from verinet.evidence.certificate import local_robustness_certificate

    model = tmp_path / "rb.json"
    rng = np.random.default_rng(0)
    net = saved(Network((Layer.from_floats(rng.normal(size=(8, 2)), rng.normal(size=8)),
                         Layer.from_floats(rng.normal(size=(3, 8)), np.zeros(3), "identity"))), model)
    seen = set()
    for kw, radius in [({}, "0.3"), ({"label": 1}, "0.05"), ({"epsilon": "0.5"}, "0.3"), ({"epsilon": "0.01"}, "0.05")]:
        res = robustness.local_robustness(net, ["0.3", "0.2"], radius, norm="2", time_limit=5, **kw)
        cert = valid_schema(local_robustness_certificate(res, net))
        assert cert["claim"]["verdict"] == res.verdict.value
        seen.add(res.verdict.value)
        assert check_certificate(cert, model).valid, (kw, radius)
        outside = [i for i, leaf in enumerate(cert["evidence"].get("leaves", [])) if leaf.get("outside")]
        if outside:  # a leaf that meets the ball cannot be declared outside it
            inner = next(i for i, leaf in enumerate(cert["evidence"]["leaves"]) if not leaf.get("outside"))
            cert["evidence"]["leaves"][inner]["outside"] = True
            assert_invalid(cert, model, f"leaf {inner} is marked outside the region but meets it")
    assert seen == {"verified", "falsified"}


# ---------------------------------------------------------------------------------------------- command line
def test_cli_check_exit_codes(tmp_path):
    cert, model = seed_cert("random02.json", tmp_path, search=0.0)  # several leaves (see above)
    path = write_certificate(cert, tmp_path / "random02.cert.json")
    runner = CliRunner()
    r = runner.invoke(main, ["check", str(path)])
    assert r.exit_code == 0 and r.output == "valid\n", r.output
    assert len(cert["evidence"]["leaves"]) > 2
    r = runner.invoke(main, ["check", str(path), "--sample", "2", "--json"])
    doc = json.loads(r.output)
    assert r.exit_code == 0 and doc["valid"] and doc["sampled"] and doc["checked_leaves"] == 2
    bad = copy.deepcopy(cert)
    del bad["evidence"]["leaves"][0]
    bad_path = write_certificate(bad, tmp_path / "bad.cert.json")
    r = runner.invoke(main, ["check", str(bad_path)])
    assert r.exit_code == 1 and r.output.startswith("invalid: leaves do not cover the region"), r.output
    other = tmp_path / "elsewhere" / "model.json"
    other.parent.mkdir()
    shutil.copyfile(model, other)
    model.unlink()
    r = runner.invoke(main, ["check", str(path)])
    assert r.exit_code == 3 and "model file not found" in r.output
    r = runner.invoke(main, ["check", str(path), "--model", str(other)])
    assert r.exit_code == 0 and r.output == "valid\n"
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{ nope")
    for args in (["check", str(garbage)], ["check", str(tmp_path / "missing.json")]):
        r = runner.invoke(main, args)
        assert r.exit_code == 3, r.output
        assert r.output.count("\n") == 1 and r.output.startswith("verinet: error:"), r.output
    truncated = copy.deepcopy(cert)
    del truncated["claim"]
    r = runner.invoke(main, ["check", str(write_certificate(truncated, tmp_path / "t.json")), "--model", str(other)])
    assert r.exit_code == 3 and "missing 'claim" in r.output
