"""Certificates of back-substituted gradient bounds: round trips, tampering, and the checker's own
re-derivation (:mod:`verinet.evidence.checker_backsub`) against exact rationals."""

from __future__ import annotations

import copy
import json
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tests import oracle
from verinet.evidence.certificate import BACKSUB_MARGIN, lipschitz_certificate, write_certificate
from verinet.evidence.checker import _exact_layers, check_certificate
from verinet.evidence.checker_backsub import BacksubNet, fixed_arrays, gradient_upper, leaf_upper
from verinet.analyses.lipschitz import lipschitz
from verinet.io import load_network, save_network
from verinet.region import Region

DATA = Path(__file__).resolve().parents[1] / "data"
ACAS = DATA / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx"


def _check(cert: dict, tmp: Path, name: str = "t.json"):
    path = tmp / name
    path.write_text(json.dumps(cert), encoding="utf-8")
    return check_certificate(path)


def _leaf_with(cert, pred):
    return next(i for i, leaf in enumerate(cert["evidence"]["leaves"]) if pred(leaf))


# ---------------------------------------------------------------------------------------------- ACAS Xu
@pytest.fixture(scope="module")
def acas(tmp_path_factory):
    """A certificate of the coordinate search with linear bounds on ACAS Xu, box radius 0.01."""
    tmp = tmp_path_factory.mktemp("acas")
    shutil.copy(ACAS, tmp / ACAS.name)
    net = load_network(tmp / ACAS.name)
    region = Region.box(["-0.01"] * 5, ["0.01"] * 5)
    r = lipschitz(net, region, output=0, bounds="linear", jacobian="linear", max_boxes=64, search=0, workers=1)
    assert r.jacobian == "linear" and r.strategy != "neurons"
    cert = lipschitz_certificate(r, net)
    return tmp, r, cert


def test_acas_round_trip(acas):
    tmp, r, cert = acas
    ev = cert["evidence"]
    assert ev["gradient"] == "backsub" and "checker_backsub" in ev["checker"]["method"]
    # the claim is the printed upper bound raised by the stated margin, nothing more
    up = Fraction(cert["claim"]["upper"])
    assert Fraction(r.upper) < up <= Fraction(r.upper) * (1 + Fraction(BACKSUB_MARGIN)) * (1 + Fraction(1, 2**50))
    res = _check(cert, tmp)
    assert res.valid, res.reason


def test_acas_tampering_rejected(acas):
    tmp, r, cert = acas
    leaves = cert["evidence"]["leaves"]
    # a leaf removed
    bad = copy.deepcopy(cert)
    del bad["evidence"]["leaves"][len(leaves) // 2]
    assert not _check(bad, tmp).valid
    # a positive leaf bound lowered (to a quarter): the checker's own bound exceeds it
    bad = copy.deepcopy(cert)
    i = max(range(len(leaves)), key=lambda j: Fraction(leaves[j]["bound"]))
    bad["evidence"]["leaves"][i]["bound"] = str(Fraction(leaves[i]["bound"]) / 4)
    res = _check(bad, tmp)
    assert not res.valid and f"leaf {i}" in res.reason
    # the claimed upper bound lowered below the largest leaf
    bad = copy.deepcopy(cert)
    bad["claim"]["upper"] = str(Fraction(leaves[i]["bound"]) / 2)
    assert not _check(bad, tmp).valid
    # a fixed sign flipped
    j = _leaf_with(cert, lambda leaf: leaf["fixed"])
    bad = copy.deepcopy(cert)
    bad["evidence"]["leaves"][j]["fixed"][0][2] *= -1
    assert not _check(bad, tmp).valid
    # a box shifted
    bad = copy.deepcopy(cert)
    lo = Fraction(bad["evidence"]["leaves"][0]["lower"][0])
    bad["evidence"]["leaves"][0]["lower"][0] = str(lo - Fraction(1, 1000))
    assert not _check(bad, tmp).valid
    # the model changed
    other = tmp / "other"
    other.mkdir(exist_ok=True)
    shutil.copy(DATA / "acasxu" / "ACASXU_run2a_1_9_batch_2000.onnx", other / ACAS.name)
    (other / "t.json").write_text(json.dumps(cert), encoding="utf-8")
    res = check_certificate(other / "t.json", other / ACAS.name)
    assert not res.valid and "SHA-256" in res.reason


def test_acas_source_of_inherited_bounds(acas):
    """A leaf whose bound is its ancestor's names that ancestor's part; the checker confirms the bound
    there, and refuses a source that does not contain the leaf."""
    tmp, r, cert = acas
    sources = cert["evidence"].get("sources") or {}
    if not sources:
        pytest.skip("no leaf kept an ancestor's bound in this run")
    i, src = next(iter(sources.items()))
    leaf = cert["evidence"]["leaves"][int(i)]
    assert all(Fraction(a) <= Fraction(b) for a, b in zip(src["lower"], leaf["lower"]))
    bad = copy.deepcopy(cert)
    s = bad["evidence"]["sources"][i]
    s["lower"] = list(leaf["upper"])  # a box that does not contain the leaf
    assert not _check(bad, tmp).valid


# ---------------------------------------------------------------------------------------------- neuron-sign search
@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A certificate of the neuron-sign search (64 inputs) with root bounds and recorded slopes."""
    tmp = tmp_path_factory.mktemp("wide")
    rng = np.random.default_rng(3)
    spec = oracle.random_spec(rng, 64, [12, 10], 2, kind="dyadic")
    path = tmp / "wide.npz"
    save_network(oracle.network_from_spec(spec), path)
    net = load_network(path)
    c0 = [str(Fraction(int(v), 64)) for v in rng.integers(-32, 33, 64)]
    region = Region.box([str(Fraction(v) - Fraction(1, 8)) for v in c0], [str(Fraction(v) + Fraction(1, 8)) for v in c0])
    r = lipschitz(net, region, output=0, bounds="linear", max_boxes=24, search=0, workers=1)
    assert r.strategy == "neurons" and r.jacobian == "linear"
    cert = lipschitz_certificate(r, net)
    return tmp, r, cert


def test_neuron_search_round_trip(wide):
    from verinet.evidence.report import render_report

    tmp, r, cert = wide
    ev = cert["evidence"]
    assert ev["gradient"] == "backsub" and ev["root"]["slopes"], "the root tightening records its slopes"
    assert len(ev["leaves"]) > 1
    res = _check(cert, tmp)
    assert res.valid, res.reason
    text = render_report(cert, "md", check=res)
    assert "back-substituted" in text and "checker_backsub" in text  # the report names the checker's method
    # npz companion: the same verdict
    path = write_certificate(lipschitz_certificate(r, load_network(tmp / "wide.npz"), format="npz"),
                             tmp / "wide.cert.json")
    res = check_certificate(path)
    assert res.valid, res.reason
    res = check_certificate(path, workers=2)  # the pool's workers get the confirmed root bounds
    assert res.valid, res.reason
    # a lowered bound in the companion table is found by the table checker too
    from verinet.evidence.leaftable import read_leaf_table

    doc = json.loads(path.read_text())
    table = read_leaf_table(doc["evidence"]["leaves"], tmp, 64)
    i = int(np.argmax(table.bound))
    table.bound[i] /= 4
    doc["evidence"]["leaves"] = table.reference("low.npz", table.write(tmp / "low.npz"))
    res = _check(doc, tmp, "low.json")
    assert not res.valid and f"leaf {i}: the checker's back-substituted bound" in res.reason


def test_neuron_search_tampering_rejected(wide):
    tmp, r, cert = wide
    root = cert["evidence"]["root"]
    # a slope outside [0, 1]
    bad = copy.deepcopy(cert)
    bad["evidence"]["root"]["slopes"][0]["slopes"][0][0] = "1.5"
    res = _check(bad, tmp)
    assert not res.valid and "slope" in res.reason
    # hidden-layer (root) bounds narrowed: a recorded interval shrunk to its midpoint
    bad = copy.deepcopy(cert)
    k = 1
    i = max(range(len(root["lower"][k])),
            key=lambda j: Fraction(root["upper"][k][j]) - Fraction(root["lower"][k][j]))
    mid = (Fraction(root["lower"][k][i]) + Fraction(root["upper"][k][i])) / 2
    bad["evidence"]["root"]["lower"][k][i] = str(float(mid))
    res = _check(bad, tmp)
    assert not res.valid and "root bounds" in res.reason
    # a leaf's fixed sign flipped
    leaves = cert["evidence"]["leaves"]
    j = _leaf_with(cert, lambda leaf: leaf["fixed"])
    bad = copy.deepcopy(cert)
    bad["evidence"]["leaves"][j]["fixed"][-1][2] *= -1
    assert not _check(bad, tmp).valid
    # a leaf removed
    bad = copy.deepcopy(cert)
    del bad["evidence"]["leaves"][-1]
    assert not _check(bad, tmp).valid
    # a positive leaf bound lowered
    bad = copy.deepcopy(cert)
    i = max(range(len(leaves)), key=lambda j: Fraction(leaves[j]["bound"]))
    bad["evidence"]["leaves"][i]["bound"] = str(Fraction(leaves[i]["bound"]) / 4)
    res = _check(bad, tmp)
    assert not res.valid and f"leaf {i}: the checker's back-substituted bound" in res.reason
    # the box shifted
    bad = copy.deepcopy(cert)
    for leaf in bad["evidence"]["leaves"]:
        leaf["lower"][0] = str(Fraction(leaf["lower"][0]) + Fraction(1, 64))
    assert not _check(bad, tmp).valid


# ---------------------------------------------------------------------------------------------- exact oracle
def _part_constant(spec, lo, hi, fixed: dict, norm: str):
    """The exact Lipschitz constant of output 0 on the part of the box where ``fixed`` holds (None when the
    part has no interior): the largest gradient norm over the linear regions inside it."""
    vals = [oracle.norm_value(J, norm, 0) for _, J, _, signs in oracle.cells(spec, lo, hi)
            if all(signs.get(key, 0) in (0, s) for key, s in fixed.items())]
    return oracle.ExactConstant(tuple(vals)) if vals else None


@pytest.mark.parametrize("seed", range(8))
def test_rederivation_encloses_exact_constant(seed):
    """The checker's re-derived bound is ≥ the exact constant (rational linear regions) on parts of boxes
    with kinks exactly at a corner, on a face and inside; a part it calls empty has no interior."""
    rng = np.random.default_rng(100 + seed)
    act = "leaky_relu" if seed % 4 == 3 else "relu"
    kind = "decimal" if seed % 2 else "dyadic"
    spec = oracle.random_spec(rng, 2, [4, 3] if seed % 3 else [5, 4, 3], 1, act=act, kind=kind)
    net = oracle.network_from_spec(spec)
    if act == "leaky_relu":  # α = 1/10 is not a float: the re-derivation declines (the exact path remains)
        with pytest.raises(ValueError):
            BacksubNet.from_exact(_exact_layers(net))
        return
    bn = BacksubNet.from_exact(_exact_layers(net))
    # a point on two kinks of the first layer: move their biases so that both vanish at x0
    x0 = [Fraction(int(v), 8) for v in rng.integers(-4, 5, 2)]
    W, b = spec[0].W, list(spec[0].b)
    for i in (0, 1):
        b[i] = -sum(w * x for w, x in zip(W[i], x0))
    spec[0] = oracle.ExactLayer(W, tuple(b), spec[0].act, spec[0].alpha)
    net = oracle.network_from_spec(spec)
    bn = BacksubNet.from_exact(_exact_layers(net))
    c = np.array([1.0])
    free = np.ones(2, dtype=bool)
    h = Fraction(1, 4)
    boxes = [([x0[0], x0[1]], [x0[0] + h, x0[1] + h]),  # kinks through a corner
             ([x0[0] - h, x0[1]], [x0[0] + h, x0[1] + h]),  # ... along a face
             ([x0[0] - h, x0[1] - h], [x0[0] + h, x0[1] + h])]  # ... through the middle
    parts = [{}, {(0, 0): 1}, {(0, 0): -1}, {(0, 0): 1, (0, 1): -1}, {(0, 1): 1, (1, 0): -1}]
    for lo, hi in boxes:
        xl = np.array([float(v) for v in lo])
        xu = np.array([float(v) for v in hi])
        assert all(Fraction(a) == v for a, v in zip(xl.tolist(), lo + hi[:0]))
        for fixed in parts:
            for norm in ("inf", "2", "1"):
                u = leaf_upper(bn, xl, xu, fixed, c, norm, free)
                exact = _part_constant(spec, lo, hi, fixed, norm)
                if exact is None:
                    continue  # no interior: any bound holds
                assert exact.le(u), (seed, lo, fixed, norm, u, exact)
                assert u > 0 or exact.le(0)


@pytest.mark.parametrize("seed", range(4))
def test_forward_bounds_enclose_exact_preactivations(seed):
    """The checker's pre-activation bounds contain the exact pre-activations at every vertex of every linear
    region of the part (where the extremes of a piecewise-affine function over a polytope lie)."""
    rng = np.random.default_rng(200 + seed)
    spec = oracle.random_spec(rng, 2, [5, 4], 1, kind="decimal" if seed % 2 else "dyadic")
    bn = BacksubNet.from_exact(_exact_layers(oracle.network_from_spec(spec)))
    lo, hi = [Fraction(-1, 2), Fraction(-1, 4)], [Fraction(1, 2), Fraction(3, 4)]
    for fixed in ({}, {(0, 1): 1}, {(0, 0): -1, (1, 2): 1}):
        F = fixed_arrays(bn, fixed)
        pre = bn.forward(np.array([float(v) for v in lo]), np.array([float(v) for v in hi]), F)
        regions = [cell for cell in oracle.cells(spec, lo, hi)
                   if all(cell[3].get(key, 0) in (0, s) for key, s in fixed.items())]
        if pre is None:
            assert not regions
            continue
        for cell, _, _, _ in regions:
            for p in cell:
                a = list(p)
                for k, L in enumerate(spec[:-1]):
                    z = [sum((w * x for w, x in zip(row, a)), bi) for row, bi in zip(L.W, L.b)]
                    zl, zh = pre[k]
                    assert all(Fraction(float(l)) <= v <= Fraction(float(u)) for l, v, u in zip(zl, z, zh))
                    a = [L.activation(v) for v in z]


def test_gradient_upper_at_a_point_is_the_exact_gradient_norm():
    """On a degenerate box away from kinks the bound is the exact gradient norm up to rounding (tightness)."""
    rng = np.random.default_rng(7)
    spec = oracle.random_spec(rng, 2, [4, 3], 1, kind="dyadic")
    bn = BacksubNet.from_exact(_exact_layers(oracle.network_from_spec(spec)))
    x = [Fraction(1, 3), Fraction(-1, 5)]
    xf = np.array([float(v) for v in x])
    F = fixed_arrays(bn, {})
    pre = bn.forward(xf, xf, F)
    u = gradient_upper(bn, pre, F, np.array([1.0]), "inf", np.ones(2, dtype=bool))
    grads = oracle.gradients_at(spec, [Fraction(v) for v in xf.tolist()], 0)
    exact = max(sum(abs(v) for v in g[0]) for g in grads)
    assert exact <= Fraction(u) <= exact * (1 + Fraction(1, 2**30)) + Fraction(1, 2**60)


def test_overflow_is_never_taken_for_an_empty_part():
    """Boxes whose bounds overflow float64 prove nothing: the bound is +inf, never the 0 of an empty part."""
    rng = np.random.default_rng(11)
    spec = oracle.random_spec(rng, 2, [4, 3], 1, kind="dyadic")
    bn = BacksubNet.from_exact(_exact_layers(oracle.network_from_spec(spec)))
    big = np.array([1e308, 1e308])
    for fixed in ({}, {(0, 0): 1}, {(1, 1): -1}):
        u = leaf_upper(bn, -big, big, fixed, np.array([1.0]), "inf", np.ones(2, dtype=bool))
        assert u == np.inf


# ---------------------------------------------------------------------------------------------- vnnlib tables
def test_vnnlib_certificate_with_companion_tables(tmp_path):
    """``verinet verify --certificate-format npz`` writes one companion table per case; the checker reads
    them after their SHA-256 and accepts the certificate, and rejects a changed companion or a leaf dropped
    from it."""
    import jsonschema
    from click.testing import CliRunner

    from verinet.evidence.certificate import schema
    from verinet.cli import main
    from verinet.evidence.leaftable import LeafTable, read_leaf_table

    model = DATA / "acasxu" / "ACASXU_run2a_3_3_batch_2000.onnx"  # property 3: a handful of leaves
    for f in (model, DATA / "acasxu" / "prop_3.vnnlib"):
        shutil.copyfile(f, tmp_path / f.name)
    cert = tmp_path / "p3.cert.json"
    r = CliRunner().invoke(main, ["verify", str(tmp_path / model.name), str(tmp_path / "prop_3.vnnlib"),
                                  "--certificate", str(cert), "--certificate-format", "npz", "--quiet"])
    assert r.exit_code == 0 and r.stdout.startswith("unsat"), r.output
    doc = json.loads(cert.read_text())
    jsonschema.Draft202012Validator(schema()).validate(doc)
    assert doc["schema_version"] == "3"
    ref = doc["evidence"]["cases"][0]["leaves"]
    assert isinstance(ref, dict) and (tmp_path / ref["file"]).is_file()
    r = CliRunner().invoke(main, ["check", str(cert)])
    assert r.exit_code == 0 and r.stdout == "valid\n", r.output
    # a leaf dropped from the companion (rewritten with its new SHA-256 in the document): a gap
    table = read_leaf_table(ref, tmp_path, 5)
    lo, hi = table.corners()
    keep = np.arange(table.count) != table.count // 2
    fixed = [table.fixed_of(i) for i in range(table.count) if keep[i]]
    t2 = LeafTable.from_boxes(lo[keep], hi[keep], fixed=fixed if any(fixed) else None)
    digest = t2.write(tmp_path / "t2.npz")
    bad = copy.deepcopy(doc)
    bad["evidence"]["cases"][0]["leaves"] = t2.reference("t2.npz", digest)
    res = _check(bad, tmp_path)
    assert not res.valid and "cover" in res.reason
    # the companion changed under the document: SHA-256 mismatch
    (tmp_path / ref["file"]).write_bytes((tmp_path / "t2.npz").read_bytes())
    res = check_certificate(cert)
    assert not res.valid and "SHA-256" in res.reason
