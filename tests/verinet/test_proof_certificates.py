"""Proof certificates for VNN-LIB verdicts: real runs check, tampered documents are rejected, the
independent ball-arithmetic linear bounds are sound against exact rational evaluation."""

from __future__ import annotations

import copy
import itertools
import json
import random
import shutil
from fractions import Fraction
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from verinet import Layer, Network
from verinet.evidence.certificate import schema, write_certificate
from verinet.evidence.checker import check_certificate
from verinet.cli import main
from verinet.errors import CertificateError
from verinet.io import load_network, save_network
from verinet.evidence.prooftree import SplitTreeRecorder, vnnlib_certificate
from verinet.evidence.report import render_report
from verinet.analyses.verify import verify_vnnlib
from verinet.io.vnnlib import parse_vnnlib

pytest.importorskip("flint")

DATA = Path(__file__).resolve().parents[1] / "data"
VNN = DATA / "vnncomp_test"
ACAS = DATA / "acasxu"
_VALIDATOR = jsonschema.Draft202012Validator(schema())


def valid_schema(cert: dict) -> dict:
    errors = list(_VALIDATOR.iter_errors(cert))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    return cert


def certify(model: Path, prop: Path, tmp: Path, **kw) -> tuple[dict, Path]:
    """Copy model and property into ``tmp``, verify with a recorder, write the certificate there."""
    for f in (model, prop):
        if f.parent != tmp:
            shutil.copyfile(f, tmp / f.name)
    net, p = load_network(tmp / model.name), parse_vnnlib(tmp / prop.name)
    rec = SplitTreeRecorder()
    res = verify_vnnlib(net, p, recorder=rec, **kw)
    cert = valid_schema(vnnlib_certificate(res, net, p, rec))
    path = tmp / "cert.json"
    write_certificate(cert, path)
    return cert, path


def check(cert: dict, path: Path, **kw):
    """Check a (possibly modified) document written next to the original's files."""
    other = path.with_name("tampered.json")
    other.write_text(json.dumps(cert))
    return check_certificate(other, **kw)


# ---------------------------------------------------------------------------------------------- real runs
@pytest.mark.parametrize("name", ["test_nano", "test_tiny", "test_small"])
def test_vnncomp_unsat_certificates_check(name, tmp_path):
    cert, path = certify(VNN / f"{name}.onnx", VNN / f"{name}.vnnlib", tmp_path, timeout=20)
    assert cert["claim"]["result"] == "unsat" and cert["kind"] == "vnnlib" and cert["schema_version"] == "2"
    assert cert["statistics"]["leaves"] >= 1
    r = check_certificate(path)
    assert r.valid, r.reason


@pytest.fixture(scope="module")
def acas(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("acas")
    cert, path = certify(ACAS / "ACASXU_run2a_3_3_batch_2000.onnx", ACAS / "prop_3.vnnlib", tmp, timeout=60)
    assert cert["claim"]["result"] == "unsat"
    return cert, path


def test_acas_unsat_certificate_checks(acas):
    cert, path = acas
    r = check_certificate(path)
    assert r.valid and r.checked_leaves == r.total_leaves == cert["statistics"]["leaves"] > 1, r.reason


def test_acas_leaves_need_the_independent_linear_bounds(acas):
    # exact interval propagation alone does not close these leaves: the arb back-substitution does
    from verinet.evidence.checker import _exact_layers
    from verinet.evidence.checker_vnnlib import _case, _Spec

    cert, path = acas
    layers = _exact_layers(load_network(path.parent / cert["model"]["file"]))
    _, _, conjs = _case(cert["query"]["cases"][0], 5, 5, "case")
    spec = _Spec(layers, conjs)
    leaves = cert["evidence"]["cases"][0]["leaves"]
    boxes = [([Fraction(v) for v in leaf["lower"]], [Fraction(v) for v in leaf["upper"]]) for leaf in leaves]
    assert not all(spec.by_intervals(lo, hi, {}) for lo, hi in boxes)
    assert sum(spec.by_linear(lo, hi, {}) for lo, hi in boxes) >= len(boxes) - 2


# ---------------------------------------------------------------------------------------------- tampering
def _leaves(cert):
    return cert["evidence"]["cases"][0]["leaves"]


def test_tampered_leaf_removed(acas):
    cert, path = acas
    bad = copy.deepcopy(cert)
    del _leaves(bad)[len(_leaves(bad)) // 2]
    r = check(bad, path)
    assert not r.valid and "do not cover" in r.reason


def test_tampered_box_shrunk_or_shifted(acas):
    cert, path = acas
    bad = copy.deepcopy(cert)
    leaf = _leaves(bad)[0]
    lo, hi = Fraction(leaf["lower"][0]), Fraction(leaf["upper"][0])
    leaf["upper"][0] = str(hi - (hi - lo) / 4)  # shrunk: a gap
    assert not check(bad, path).valid
    bad = copy.deepcopy(cert)
    leaf = _leaves(bad)[1]
    shift = (Fraction(leaf["upper"][2]) - Fraction(leaf["lower"][2])) / 8
    leaf["lower"][2] = str(Fraction(leaf["lower"][2]) + shift)  # shifted: a gap and an overlap
    leaf["upper"][2] = str(Fraction(leaf["upper"][2]) + shift)
    r = check(bad, path)
    assert not r.valid and "cover" in r.reason


def test_tampered_domain_smaller_than_the_case(acas):
    cert, path = acas
    bad = copy.deepcopy(cert)
    dom = bad["evidence"]["cases"][0]["domain"]
    dom["upper"][0] = str(Fraction(cert["query"]["cases"][0]["upper"][0]) - Fraction(1, 10**6))
    assert not check(bad, path).valid


def test_neuron_split_checks_and_flipped_sign_is_rejected(acas):
    # replace a leaf by its two sign parts for a first-layer neuron: a valid split tree; then flip a sign
    cert, path = acas
    good = copy.deepcopy(cert)
    leaves = _leaves(good)
    leaf = leaves.pop(0)
    leaves += [{**leaf, "fixed": [[0, 3, 1]]}, {**leaf, "fixed": [[0, 3, -1]]}]
    r = check(good, path)
    assert r.valid, r.reason
    bad = copy.deepcopy(good)
    _leaves(bad)[-1]["fixed"] = [[0, 3, 1]]
    r = check(bad, path)
    assert not r.valid and "cover" in r.reason


def test_tampered_claim_and_query_are_rejected(acas, tmp_path):
    cert, path = acas
    bad = copy.deepcopy(cert)  # the recorded query no longer the file's
    bad["query"]["cases"][0]["unsafe"][0][0]["rhs"] = "5"
    r = check(bad, path)
    assert not r.valid and "not the property" in r.reason
    # a property file with a larger unsafe set, recorded consistently: the leaves no longer prove it
    text = (path.parent / "prop_3.vnnlib").read_text()
    prop2 = tmp_path / "prop_3.vnnlib"
    for j in range(1, 5):
        text = text.replace(f"(<= Y_0 Y_{j})", f"(<= Y_0 (+ Y_{j} 1000))")
    prop2.write_text(text)
    assert prop2.read_text() != (path.parent / "prop_3.vnnlib").read_text()
    import hashlib

    bad = copy.deepcopy(cert)
    bad["query"]["property"]["sha256"] = hashlib.sha256(prop2.read_bytes()).hexdigest()
    rhs_case = parse_vnnlib(prop2).cases[0]
    bad["query"]["cases"][0]["unsafe"] = [[{"coef": [str(c) for c in a.coef], "rhs": str(a.rhs),
                                            "strict": a.strict} for a in conj] for conj in rhs_case.unsafe]
    r = check(bad, path, property_path=prop2)
    assert not r.valid and "do not prove" in r.reason


def test_tampered_property_hash_and_model(acas):
    cert, path = acas
    bad = copy.deepcopy(cert)
    bad["query"]["property"]["sha256"] = "0" * 64
    r = check(bad, path)
    assert not r.valid and "property SHA-256 mismatch" in r.reason
    bad = copy.deepcopy(cert)
    bad["model"]["sha256"] = "f" * 64
    r = check(bad, path)
    assert not r.valid and "model SHA-256 mismatch" in r.reason
    other = ACAS / "ACASXU_run2a_1_1_batch_2000.onnx"  # another network with the same shape
    r = check_certificate(path, other)
    assert not r.valid and "SHA-256" in r.reason


def test_result_changed_without_evidence_is_malformed(acas):
    cert, path = acas
    bad = copy.deepcopy(cert)
    bad["claim"]["result"] = "sat"
    with pytest.raises(CertificateError):
        check(bad, path)


# ---------------------------------------------------------------------------------------------- sat, versions
def test_sat_certificate_carries_an_exact_counterexample(tmp_path):
    # test_small's output ranges over [30.5, 78.5] on its box: Y_0 >= 50 is reachable
    text = (VNN / "test_small.vnnlib").read_text()
    prop = tmp_path / "reach.vnnlib"
    prop.write_text(text.replace("(>= Y_0 100)", "(>= Y_0 50)"))
    assert prop.read_text() != text
    cert, path = certify(VNN / "test_small.onnx", prop, tmp_path, timeout=20)
    assert cert["claim"]["result"] == "sat"
    assert check_certificate(path).valid
    bad = copy.deepcopy(cert)
    bad["evidence"]["counterexample"]["x"] = ["-1000"] * len(bad["evidence"]["counterexample"]["x"])
    assert not check(bad, path).valid


def test_version_1_certificates_still_check(tmp_path):
    from verinet.evidence.certificate import lipschitz_certificate
    from verinet.analyses.lipschitz import lipschitz
    from verinet.region import Region

    rng = np.random.default_rng(3)
    net = Network((Layer.from_floats(rng.normal(size=(4, 2)), rng.normal(size=4)),
                   Layer.from_floats(rng.normal(size=(1, 4)), [0.0], "identity")))
    save_network(net, tmp_path / "net.json")
    net = load_network(tmp_path / "net.json")
    cert = lipschitz_certificate(lipschitz(net, Region.box([-1, -1], [1, 1]), max_boxes=50), net)
    cert["schema_version"] = "1"
    v1 = jsonschema.Draft202012Validator(json.loads(
        (Path(__file__).resolve().parents[2] / "verinet" / "schemas" / "certificate-1.schema.json").read_text()))
    assert not list(v1.iter_errors(cert))
    valid_schema(cert)
    write_certificate(cert, tmp_path / "c.json")
    assert check_certificate(tmp_path / "c.json").valid
    cert["schema_version"] = "4"
    write_certificate(cert, tmp_path / "c.json")
    with pytest.raises(CertificateError, match="schema version"):
        check_certificate(tmp_path / "c.json")


# ---------------------------------------------------------------------------------------------- CLI, report
def test_cli_verify_certificate_check_and_report(tmp_path):
    for f in ("test_small.onnx", "test_small.vnnlib"):
        shutil.copyfile(VNN / f, tmp_path / f)
    cert = tmp_path / "small.cert.json"
    r = CliRunner().invoke(main, ["verify", str(tmp_path / "test_small.onnx"), str(tmp_path / "test_small.vnnlib"),
                                  "--timeout", "20", "--certificate", str(cert)])
    assert r.exit_code == 0 and r.stdout == "unsat\n" and "certificate (" in r.stderr
    r = CliRunner().invoke(main, ["check", str(cert)])
    assert r.exit_code == 0 and r.stdout.strip() == "valid"
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.move(cert, moved / cert.name)
    r = CliRunner().invoke(main, ["check", str(moved / cert.name), "--model", str(tmp_path / "test_small.onnx")])
    assert r.exit_code == 3 and "property file not found" in r.stderr
    r = CliRunner().invoke(main, ["check", str(moved / cert.name), "--model", str(tmp_path / "test_small.onnx"),
                                  "--property", str(tmp_path / "test_small.vnnlib")])
    assert r.exit_code == 0, r.output
    text = render_report(moved / cert.name)
    assert "Proved (unsat)" in text and "test_small.vnnlib" in text and "Limits of the claim" in text
    assert "leaf part(s)" in text and "python-flint arb" in text


# ---------------------------------------------------------------------------------------------- arb soundness
def _exact_out(net: Network, x):
    return net.evaluate_exact(x)


def _pre(net: Network, x):
    """Exact pre-activations of every layer at ``x``."""
    out, a = [], [Fraction(v) for v in x]
    for L in net.layers:
        W, b = L.weight_exact(), L.bias_exact()
        z = [sum((Fraction(w) * v for w, v in zip(row, a)), Fraction(b_)) for row, b_ in zip(W.tolist(), b.tolist())]
        out.append(z)
        act = L.activation.value
        a = z if act == "identity" else [v if v > 0 else (Fraction(L.alpha) * v if act == "leaky_relu" else 0)
                                         for v in z]
    return out


@pytest.mark.parametrize("seed, act", [(0, "relu"), (1, "relu"), (2, "leaky_relu"), (3, "relu")])
def test_arb_linear_bounds_contain_exact_outputs(seed, act):
    from verinet.evidence.checker import _exact_layers
    from verinet.evidence.checker_linear import ArbNetwork
    from verinet.evidence.checker_vnnlib import _Spec

    rng = np.random.default_rng(seed)
    sizes = [2, 5, 4, 3]
    layers = []
    for k, (a, b) in enumerate(itertools.pairwise(sizes)):
        last = k == len(sizes) - 2
        W = rng.normal(size=(b, a))
        W[0, 0] = 1e-300 if seed == 3 else W[0, 0]  # a tiny weight (underflowing products)
        layers.append(Layer.from_floats(W, 0.3 * rng.normal(size=b), "identity" if last else act,
                                        0.125 if act == "leaky_relu" and not last else 0))
    net = Network(tuple(layers))
    exact = _exact_layers(net)
    arbnet = ArbNetwork(_Spec._plain(L) for L in exact)
    lo, hi = [Fraction(-1, 2), Fraction(1, 3)], [Fraction(1, 4), Fraction(1)]
    # points: corners, random rationals, and points exactly at a first-layer kink (z_0j = 0)
    pts = [list(c) for c in itertools.product(*zip(lo, hi))]
    rnd = random.Random(seed)
    pts += [[a + (b - a) * Fraction(rnd.randint(0, 999), 999) for a, b in zip(lo, hi)] for _ in range(300)]
    W0, b0 = exact[0].Wn, exact[0].bn
    for j in range(len(b0)):
        if W0[j][1] != 0:
            for t in (lo[0], hi[0], (lo[0] + hi[0]) / 2):
                x1 = -(Fraction(b0[j]) + Fraction(W0[j][0]) * t) / Fraction(W0[j][1])
                if lo[1] <= x1 <= hi[1]:
                    pts.append([t, x1])
    bounds = [_fraction(v) for v in arbnet.output_lower(lo, hi, {}, [0, 1, 2])]
    ys = [_exact_out(net, x) for x in pts]
    for i in range(3):
        assert all(bounds[i] <= y[i] for y in ys)
        assert min(y[i] for y in ys) - bounds[i] < 2  # not a vacuous bound
    # fixed signs (one or three neurons, first layer included: halfspaces shrink the box, a Farkas
    # combination may prove the part empty): only points of the part count
    pres = [_pre(net, x) for x in pts]
    fixes = [{(1, 0): s} for s in (1, -1)] + [{(0, 0): a, (0, 1): b, (1, 1): c}
                                              for a, b, c in itertools.product((1, -1), repeat=3)]
    for fx in fixes:
        got = arbnet.output_lower(lo, hi, fx, [0, 1, 2])
        part = [x for x, z in zip(pts, pres) if all(z[k][j] * s >= 0 for (k, j), s in fx.items())]
        if got is None:
            assert not part
            continue
        for x in part:
            y = _exact_out(net, x)
            assert all(_fraction(got[i]) <= y[i] for i in range(3))


def _fraction(v) -> Fraction:
    """The exact value of an exact (radius 0) arb."""
    assert v.rad() == 0
    m, e = v.man_exp()
    return Fraction(int(m)) * Fraction(2) ** int(e)


def test_mnist_unsat_certificate_checks(tmp_path):
    # 784 inputs, two hidden layers of 256 ReLUs: one leaf, proved by linear bounds in the search; the
    # checker re-derives it with its own ball-arithmetic back-substitution
    cert, path = certify(DATA / "mnistfc" / "mnist-net_256x2.onnx", DATA / "mnistfc" / "prop_2_0.03.vnnlib",
                         tmp_path, timeout=60)
    assert cert["claim"]["result"] == "unsat"
    r = check_certificate(path)
    assert r.valid, r.reason
    bad = copy.deepcopy(cert)
    leaf = _leaves(bad)[0]
    leaf["lower"][300] = leaf["upper"][300]  # box shrunk to a face: the rest of the case is uncovered
    r = check(bad, path)
    assert not r.valid and "cover" in r.reason


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_cli_robust_local_certificate_round_trip(norm, tmp_path):
    shutil.copyfile(DATA / "nnet" / "fc_2-2-3.onnx", tmp_path / "fc.onnx")
    cert = tmp_path / "local.json"
    r = CliRunner().invoke(main, ["robust", "local", str(tmp_path / "fc.onnx"), "--center", "0.5,0.5", "--radius",
                                  "0.1", "--norm", norm, "--certificate", str(cert), "--quiet"])
    assert r.exit_code == 0 and r.stdout.startswith("verified"), r.output
    doc = valid_schema(json.loads(cert.read_text()))
    assert doc["kind"] == "local-robustness" and doc["claim"]["verdict"] == "verified"
    assert check_certificate(cert).valid
    bad = copy.deepcopy(doc)
    bad["query"]["region"]["radius"] = "0.2"  # a larger ball than the partition covers
    bad["query"]["region"]["lower"] = ["0.3", "0.3"]
    bad["query"]["region"]["upper"] = ["0.7", "0.7"]
    assert not check(bad, cert).valid


# ---------------------------------------------------------------------------------------------- Lipschitz, linear
@pytest.mark.parametrize("seed, output", [(0, 0), (1, "all")])
def test_lipschitz_certificate_with_linear_bounds(seed, output, tmp_path):
    from verinet.evidence.certificate import lipschitz_certificate
    from verinet.analyses.lipschitz import lipschitz
    from verinet.region import Region

    rng = np.random.default_rng(seed)
    sizes = [3, 12, 12, 12, 2]
    layers = [Layer.from_floats(rng.normal(size=(b, a)) / np.sqrt(a), 0.1 * rng.normal(size=b),
                                "identity" if k == len(sizes) - 2 else "relu")
              for k, (a, b) in enumerate(itertools.pairwise(sizes))]
    save_network(Network(tuple(layers)), tmp_path / "deep.json")
    net = load_network(tmp_path / "deep.json")
    region = Region.ball([0.1, -0.2, 0.3], "0.25", "inf")
    res = lipschitz(net, region, output=output, bounds="linear", jacobian="interval", max_boxes=400)
    assert res.bounds == "linear"
    cert = valid_schema(lipschitz_certificate(res, net))
    assert cert["evidence"]["preactivation"] == "linear"
    write_certificate(cert, tmp_path / "c.json")
    r = check_certificate(tmp_path / "c.json")
    assert r.valid, r.reason
    # the recorded bounds were computed with linear bounds: the checker's exact intervals alone would be
    # coarser on some leaf, so the linear re-derivation is what accepts them (a bound lowered is rejected)
    bad = copy.deepcopy(cert)  # the checker's exact interval enclosures alone do not reproduce the bounds
    bad["evidence"]["preactivation"] = "interval"
    r = check(bad, tmp_path / "c.json")
    assert not r.valid and "exact bound" in r.reason
    bad = copy.deepcopy(cert)  # every bound halved: some leaf's re-derived bound exceeds its record
    for leaf in bad["evidence"]["leaves"]:
        leaf["bound"] = str(Fraction(leaf["bound"]) / 2)
    bad["claim"]["upper"] = str(Fraction(cert["claim"]["upper"]) / 2)
    bad["claim"]["lower"] = "0"
    r = check(bad, tmp_path / "c.json")
    assert not r.valid and "exact bound" in r.reason


def test_parallel_check_gives_the_same_answers(acas, tmp_path):
    cert, path = acas
    r = CliRunner().invoke(main, ["check", str(path), "--workers", "2", "--quiet"])
    assert r.exit_code == 0 and r.stdout.strip() == "valid"
    # a larger unsafe set (every atom relaxed by 1000): the same first failing leaf either way
    text = (path.parent / "prop_3.vnnlib").read_text()
    for j in range(1, 5):
        text = text.replace(f"(<= Y_0 Y_{j})", f"(<= Y_0 (+ Y_{j} 1000))")
    prop2 = tmp_path / "prop_3.vnnlib"
    prop2.write_text(text)
    import hashlib

    bad = copy.deepcopy(cert)
    bad["query"]["property"]["sha256"] = hashlib.sha256(prop2.read_bytes()).hexdigest()
    bad["query"]["cases"][0]["unsafe"] = [[{"coef": [str(c) for c in a.coef], "rhs": str(a.rhs), "strict": a.strict}
                                           for a in conj] for conj in parse_vnnlib(prop2).cases[0].unsafe]
    a = check(bad, path, property_path=prop2, sample=3)
    b = check(bad, path, property_path=prop2, sample=3, workers=2)
    assert not a.valid and a.reason == b.reason
