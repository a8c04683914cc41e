"""Compact certificates (schema 3: leaves in a companion .npz), the streaming checker, its screening kernel
and exact coverage at scale, radius certificates, and the refusal of --certificate where it cannot be
certified."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from fractions import Fraction
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from tests.helpers import kink_box, kink_neurons, place_kinks, random_spec
from tests.verinet.grid_partition import grid_result
from verinet.evidence.certificate import (
    companion_name,
    lipschitz_certificate,
    load_certificate,
    local_robustness_certificate,
    radius_certificate,
    schema,
    write_certificate,
)
from verinet.evidence.checker import _exact_layers, _IVec, _propagate, _Quantity, _tiling_failure, check_certificate
from verinet.evidence.checker_cover import tiling_failure_ranks
from verinet.evidence.checker_fast import FloatNet, _dd, norm_upper, output_bounds
from verinet.cli import main
from verinet.errors import CertificateError
from verinet.evidence.leaftable import LeafTable, file_sha256, read_leaf_table
from verinet.analyses.lipschitz import lipschitz
from verinet.io import load_network, save_network
from verinet.region import Region
from verinet.analyses.robustness import certified_radius, local_robustness

DATA = Path(__file__).resolve().parents[1] / "data"
_VALIDATOR = jsonschema.Draft202012Validator(schema())


def _copy(name: str, tmp_path: Path) -> Path:
    dst = tmp_path / Path(name).name
    shutil.copyfile(DATA / name, dst)
    return dst


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """A genuine 1600-leaf Lipschitz result on a uniform grid (random02, decimal weights)."""
    tmp = tmp_path_factory.mktemp("grid")
    path = _copy("seed/random02.json", tmp)
    net = load_network(path)
    res, _ = grid_result(net, Region.ball([0.5, 0.5], 0.5, "inf"), 40)
    return path, net, res


@pytest.fixture(scope="module")
def signs(tmp_path_factory):
    """A real search whose leaves fix neuron signs, some with null parts (float weights)."""
    tmp = tmp_path_factory.mktemp("signs")
    path = tmp / "net8.json"
    save_network(random_spec(np.random.default_rng(0), [2, 8, 8, 1], "relu").build(), path)
    net = load_network(path)
    res = lipschitz(net, Region.box([-1, -1], [1, 1]), tol=1e-9, max_boxes=300, workers=1)
    assert any(leaf.fixed for leaf in res.partition) and any(leaf.null for leaf in res.partition)
    return path, net, res


def _write(res, net, model: Path, tmp_path: Path, fmt: str, name: str = "c.json") -> Path:
    shutil.copyfile(model, tmp_path / model.name)
    return write_certificate(lipschitz_certificate(res, net, format=fmt), tmp_path / name)


# ---------------------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("which", ["grid", "signs"])
def test_npz_round_trip_matches_json(which, grid, signs, tmp_path):
    model, net, res = grid if which == "grid" else signs
    pj = _write(res, net, model, tmp_path, "json", "j.json")
    pn = _write(res, net, model, tmp_path, "npz", "n.json")
    doc = load_certificate(pn)
    assert doc["schema_version"] == "3" and not list(_VALIDATOR.iter_errors(doc))
    ref = doc["evidence"]["leaves"]
    assert ref["file"] == companion_name(pn) == "n.leaves.npz" and ref["count"] == len(res.partition)
    assert ref["sha256"] == file_sha256(tmp_path / ref["file"])
    assert pn.stat().st_size < 20_000 < pj.stat().st_size or len(res.partition) < 100
    table = read_leaf_table(ref, tmp_path, net.n_inputs)  # the exact floats, leaf by leaf
    lo, hi = table.corners()
    assert lo.tolist() == [list(leaf.lower) for leaf in res.partition]
    assert hi.tolist() == [list(leaf.upper) for leaf in res.partition]
    assert table.bound.tolist() == [leaf.bound for leaf in res.partition]
    assert [table.fixed_of(i) for i in range(table.count)] == [list(leaf.fixed) for leaf in res.partition]
    a, b = check_certificate(pj), check_certificate(pn)
    assert a.valid and b.valid and a.total_leaves == b.total_leaves == len(res.partition), (a, b)
    assert check_certificate(pn, workers=2).valid
    s = check_certificate(pn, sample=50)
    assert s.valid and s.sampled and s.checked_leaves == 50


def test_auto_format_threshold(grid, tmp_path, monkeypatch):
    model, net, res = grid
    assert lipschitz_certificate(res, net, format="auto")["schema_version"] == "2"  # 1600 < default threshold
    monkeypatch.setattr("verinet.evidence.leaftable.AUTO_NPZ_LEAVES", 1000)
    doc = lipschitz_certificate(res, net, format="auto")
    assert doc["schema_version"] == "3" and isinstance(doc["evidence"]["leaves"], LeafTable)
    with pytest.raises(CertificateError, match="unknown certificate format"):
        lipschitz_certificate(res, net, format="xml")


def test_write_is_atomic(grid, tmp_path, monkeypatch):
    model, net, res = grid
    cert = lipschitz_certificate(res, net, format="npz")

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("verinet.evidence.certificate.json.dumps", boom)
    with pytest.raises(KeyboardInterrupt):
        write_certificate(cert, tmp_path / "c.json")
    assert list(tmp_path.iterdir()) == []  # neither the document, nor its companion, nor a temporary file


def test_progress_messages(grid, tmp_path):
    model, net, res = grid
    seen = []
    write_certificate(lipschitz_certificate(res, net, format="npz"), tmp_path / "c.json", progress=seen.append)
    assert any("1600 leaves" in m for m in seen)
    shutil.copyfile(model, tmp_path / model.name)
    calls = []
    assert check_certificate(tmp_path / "c.json", progress=lambda d, t: calls.append((d, t))).valid
    assert calls[-1] == (1600, 1600)


# ---------------------------------------------------------------------------------------------- tampering
def _retable(path: Path, n: int, drop: int | None = None, **arrays) -> None:
    """Rewrite the companion of ``path`` with some arrays changed (and a matching hash and count)."""
    doc = load_certificate(path)
    ref = doc["evidence"]["leaves"]
    t = read_leaf_table(ref, path.parent, n)
    fields = {k: getattr(t, k) for k in ("coords", "lower_index", "upper_index", "bound", "precision",
                                         "fixed_ptr", "fixed", "outside", "null")}
    fields.update(arrays)
    if drop is not None:
        keep = np.arange(t.count) != drop
        for k in ("lower_index", "upper_index", "bound", "precision", "outside"):
            if fields[k] is not None:
                fields[k] = fields[k][keep]
    new = LeafTable(**fields)
    ref["sha256"] = new.write(path.parent / ref["file"])
    ref["count"] = new.count
    path.write_text(json.dumps(doc), encoding="utf-8")


def test_tampered_tables_are_rejected(grid, signs, tmp_path):
    model, net, res = grid
    p = _write(res, net, model, tmp_path, "npz")
    companion = tmp_path / companion_name(p)
    original = companion.read_bytes()
    t = read_leaf_table(load_certificate(p)["evidence"]["leaves"], tmp_path, 2)

    companion.unlink()  # missing: the certificate cannot be checked (bad input)
    with pytest.raises(CertificateError, match="leaf table not found"):
        check_certificate(p)
    companion.write_bytes(original + b"\0")  # another file: rejected before it is read
    r = check_certificate(p)
    assert not r.valid and "leaf table SHA-256 mismatch" in r.reason
    companion.write_bytes(original)
    assert check_certificate(p).valid

    _retable(p, 2, drop=7)  # a leaf removed: a hole
    r = check_certificate(p)
    assert not r.valid and "do not cover" in r.reason, r.reason

    p = _write(res, net, model, tmp_path, "npz")
    bound = t.bound.copy()
    bound[123] = bound[123] / 2  # a bound lowered below the exact enclosure
    _retable(p, 2, bound=bound)
    r = check_certificate(p)
    assert not r.valid and r.reason.startswith("leaf 123:"), r.reason

    p = _write(res, net, model, tmp_path, "npz")
    lo_i = t.lower_index.copy()
    lo_i[55, 0] += 1  # a box shifted: its corner moved to the next coordinate value
    _retable(p, 2, lower_index=lo_i)
    r = check_certificate(p)
    assert not r.valid and "do not cover" in r.reason, r.reason

    p = _write(res, net, model, tmp_path, "npz")
    text = (tmp_path / model.name).read_text()
    (tmp_path / model.name).write_text(text.replace("0.", "0.0", 1) if "0." in text else text + " ")
    r = check_certificate(p)  # the model changed
    assert not r.valid and "model SHA-256 mismatch" in r.reason

    # a sign flipped (a real search's leaves)
    model, net, res = signs
    p = _write(res, net, model, tmp_path, "npz", "s.json")
    t = read_leaf_table(load_certificate(p)["evidence"]["leaves"], tmp_path, 2)
    fixed = t.fixed.copy()
    fixed[0, 2] = -fixed[0, 2]
    _retable(p, 2, fixed=fixed)
    r = check_certificate(p)
    assert not r.valid, r


def test_malformed_tables_raise(grid, tmp_path):
    model, net, res = grid
    p = _write(res, net, model, tmp_path, "npz")
    t = read_leaf_table(load_certificate(p)["evidence"]["leaves"], tmp_path, 2)
    bad_coords = (t.coords[0][::-1].copy(), t.coords[1])
    _retable(p, 2, coords=bad_coords)
    with pytest.raises(CertificateError, match="strictly increasing"):
        check_certificate(p)
    p = _write(res, net, model, tmp_path, "npz")  # a pickled object array is never loaded
    doc = load_certificate(p)
    ref = doc["evidence"]["leaves"]
    src = tmp_path / ref["file"]
    members = {}
    with zipfile.ZipFile(src) as zf:
        for name in zf.namelist():
            members[name] = zf.read(name)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, t.bound.astype(object), allow_pickle=True)
    members["bound.npy"] = buf.getvalue()
    with zipfile.ZipFile(src, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    ref["sha256"] = file_sha256(src)
    p.write_text(json.dumps(doc))
    with pytest.raises(CertificateError, match="not a plain numeric array"):
        check_certificate(p)
    doc = load_certificate(p)
    doc["evidence"]["leaves"]["file"] = "../elsewhere.npz"
    p.write_text(json.dumps(doc))
    with pytest.raises(CertificateError, match="bare file name"):
        check_certificate(p)


def test_check_cli_exit_codes(grid, tmp_path):
    model, net, res = grid
    p = _write(res, net, model, tmp_path, "npz")
    ok = CliRunner().invoke(main, ["check", str(p), "--workers", "2"])
    assert ok.exit_code == 0 and ok.stdout.strip() == "valid"
    (tmp_path / companion_name(p)).write_bytes(b"not a zip")
    bad = CliRunner().invoke(main, ["check", str(p)])
    assert bad.exit_code == 1 and bad.stdout.startswith("invalid: leaf table SHA-256 mismatch")
    (tmp_path / companion_name(p)).unlink()
    gone = CliRunner().invoke(main, ["check", str(p)])
    assert gone.exit_code == 3 and "leaf table not found" in gone.output and len(gone.output.splitlines()) == 1
    rep = CliRunner().invoke(main, ["report", str(p)])
    assert rep.exit_code == 0 and "NOT VALID" in rep.output or "not found" in rep.output


def test_lipschitz_cli_writes_npz(tmp_path):
    model = _copy("nnet/fc_2-2-3.nnet", tmp_path)
    cert = tmp_path / "l.json"
    r = CliRunner().invoke(main, ["lipschitz", str(model), "--box", str(_box(tmp_path)), "--workers", "1",
                                  "--certificate", str(cert), "--certificate-format", "npz", "--tol", "1e-9"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "l.leaves.npz").is_file() and load_certificate(cert)["schema_version"] == "3"
    assert check_certificate(cert).valid
    rep = CliRunner().invoke(main, ["report", str(cert)])
    assert rep.exit_code == 0 and "Certified" in rep.output and "l.leaves.npz" in rep.output


def _box(tmp_path: Path) -> Path:
    b = tmp_path / "box.json"
    b.write_text(json.dumps({"lower": [-1, -1], "upper": [1, 1]}))
    return b


# ---------------------------------------------------------------------------------------------- robustness
def test_local_robustness_npz(tmp_path):
    model = _copy("seed/random02.json", tmp_path)
    net = load_network(model)
    r = local_robustness(net, [0.5, 0.5], "0.45", epsilon="0.3")
    assert r.verdict.value == "verified"
    doc = local_robustness_certificate(r, net, format="npz")
    p = write_certificate(doc, tmp_path / "r.json")
    assert load_certificate(p)["schema_version"] == "3" and not list(_VALIDATOR.iter_errors(load_certificate(p)))
    assert check_certificate(p).valid
    t = read_leaf_table(load_certificate(p)["evidence"]["leaves"], tmp_path, 2)
    _retable(p, 2, drop=0)
    assert not check_certificate(p).valid
    rep = CliRunner().invoke(main, ["report", str(p)])
    assert rep.exit_code == 0 and "leaves are stored" in rep.output
    assert t.count > 1


def test_radius_certificate_round_trip_and_tampering(tmp_path):
    model = _copy("seed/random02.json", tmp_path)
    net = load_network(model)
    res = certified_radius(net, [0.5, 0.5], epsilon="0.3", time_limit=10)
    assert res.verified_radius is not None and res.falsified_radius is not None
    doc = radius_certificate(res, net, [0.5, 0.5])
    assert not list(_VALIDATOR.iter_errors(doc))
    p = write_certificate(doc, tmp_path / "rad.json")
    assert check_certificate(p).valid
    for key, scale, why in (("verified_radius", Fraction(3, 2), "not the ball"),
                            ("falsified_radius", Fraction(1, 2), "farther from the centre")):
        bad = load_certificate(p)
        bad["claim"][key] = str(Fraction(bad["claim"][key]) * scale)
        r = check_certificate(bad, model)
        assert not r.valid and why in r.reason, r.reason
    bad = load_certificate(p)  # a wider verified ball with the old partition
    v = bad["evidence"]["verified"]["region"]
    rv = Fraction(bad["claim"]["verified_radius"]) * 2
    bad["claim"]["verified_radius"] = str(rv)
    v["radius"] = str(rv)
    v["lower"] = [str(Fraction(c) - rv) for c in v["center"]]
    v["upper"] = [str(Fraction(c) + rv) for c in v["center"]]
    assert not check_certificate(bad, model).valid
    rep = CliRunner().invoke(main, ["report", str(p)])
    assert rep.exit_code == 0 and "Verified radius" in rep.output and "valid" in rep.output


@pytest.mark.parametrize("command", [["global", "--delta", "0.1", "--epsilon", "1"], ["params", "--relative", "0.01"]])
def test_uncertifiable_commands_refuse(command, tmp_path):
    model = _copy("seed/random02.json", tmp_path)
    out = tmp_path / "c.json"
    r = CliRunner().invoke(main, ["robust", command[0], str(model), "--box", str(_box(tmp_path)), *command[1:],
                                  "--certificate", str(out)])
    assert r.exit_code == 2 and "--certificate is not supported" in r.output and not out.exists()
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1
    h = CliRunner().invoke(main, ["robust", command[0], "--help"])
    assert "Not supported (refused" in h.output


# ---------------------------------------------------------------------------------------------- kernels
def _exact_norm(q: _Quantity, lo, hi, fixed) -> Fraction | None:
    G = q.enclosure([Fraction(v) for v in lo], [Fraction(v) for v in hi], fixed)
    if G is None:
        return None
    mags = [Fraction(max(abs(a), abs(b)), G.den) for a, b in zip(G.lo, G.hi)]
    return {"inf": sum(mags, Fraction(0)), "1": max(mags), "2": sum((m * m for m in mags), Fraction(0))}[q.norm]


@pytest.mark.parametrize("seed", range(6))
def test_screening_kernel_encloses_exact(seed):
    """The double-double kernel's bounds contain the exact enclosures (rationals), on adversarial boxes:
    kinks exactly at a corner or inside, decimal and full-precision weights, huge and tiny widths."""
    rng = np.random.default_rng(seed)
    acts = ["relu", "leaky_relu", "relu"][: 1 + seed % 3]
    spec = random_spec(rng, [3, 5, 4, 2][: len(acts) + 1] + [2], acts + ["identity"], exact_decimals=seed % 2 == 0)
    c0 = rng.standard_normal(3) * (1e3 if seed == 4 else 1.0)
    spec = place_kinks(spec, [Fraction(v) for v in c0], kink_neurons(rng, spec, 2))
    net = spec.build()
    layers = _exact_layers(net)
    fast = FloatNet(layers)
    boxes = [kink_box(rng, c0, where) for where in ("corner", "inside", "inside", "corner")]
    boxes.append((c0 - 1e-300, c0 + 1e-300))
    boxes.append((c0, c0))
    lo = np.array([b[0] for b in boxes])
    hi = np.array([b[1] for b in boxes])
    fixed = np.zeros((len(boxes), 1, 3), dtype=np.int64)
    fixed[1] = [0, 0, 1]
    fixed[2] = [0, 1, -1]
    pre, _, empty, bad = fast.forward(lo, hi, fixed)
    for norm in ("inf", "1", "2"):
        q = _Quantity(layers, norm, {"kind": "index", "index": 0}, 3)
        b2 = bad.copy()
        g = fast.gradient(pre, [_dd(a) for a, _ in q.c.fractions()], b2)
        up = norm_upper(*g, norm)
        for i in range(len(boxes)):
            fx = {(0, 0): 1} if i == 1 else ({(0, 1): -1} if i == 2 else None)
            exact = _exact_norm(q, lo[i], hi[i], fx)
            if exact is None:
                continue
            assert not empty[i]  # the kernel never calls a non-empty part empty
            if not b2[i]:
                assert Fraction(float(up[i])) >= exact, (norm, i)
    yl, yh, bad = output_bounds(fast, lo, hi)
    for i in range(len(boxes)):
        _, y = _propagate(layers, _IVec.box([Fraction(v) for v in lo[i]], [Fraction(v) for v in hi[i]]))
        for k, (a, b) in enumerate(y.fractions()):
            assert Fraction(float(yl[i, k])) <= a and b <= Fraction(float(yh[i, k]))


def _random_tree(rng, n: int, count: int):
    boxes = [(np.zeros(n), np.ones(n))]
    while len(boxes) < count:
        lo, hi = boxes.pop(int(rng.integers(len(boxes))))
        d = int(rng.integers(n))
        m = lo[d] + (hi[d] - lo[d]) * float(rng.choice([0.5, 0.25, 0.75]))
        a, b = hi.copy(), lo.copy()
        a[d] = b[d] = m
        boxes += [(lo, a), (b, hi)]
    return np.array([b[0] for b in boxes]), np.array([b[1] for b in boxes])


@pytest.mark.parametrize("seed", range(12))
def test_vectorised_coverage_agrees_with_scalar(seed):
    rng = np.random.default_rng(seed)
    n = 1 + seed % 3
    lo, hi = _random_tree(rng, n, int(rng.integers(1, 300)))
    change = seed % 4
    if change == 1 and len(lo) > 1:  # a leaf removed
        k = int(rng.integers(len(lo)))
        lo, hi = np.delete(lo, k, axis=0), np.delete(hi, k, axis=0)
    elif change == 2:  # a leaf duplicated
        lo, hi = np.vstack([lo, lo[:1]]), np.vstack([hi, hi[:1]])
    elif change == 3:  # a corner moved
        k = int(rng.integers(len(lo)))
        hi[k, 0] = lo[k, 0] + (hi[k, 0] - lo[k, 0]) / 2
    t = LeafTable.from_boxes(lo, hi)
    top = np.array([c.size - 1 for c in t.coords])
    fast = tiling_failure_ranks(t.lower_index, t.upper_index, top, t.n_fixed(), lambda i: {})
    full = t.coords[0][0] == 0 and all(c[0] == 0 and c[-1] == 1 for c in t.coords)
    slow = _tiling_failure(lo.tolist(), hi.tolist(), [{}] * len(lo), [0.0] * n, [1.0] * n)
    assert (fast is None) == (slow is None and full), (fast, slow)
    if change == 0:
        assert fast is None


def test_vectorised_coverage_with_sign_splits():
    """Pieces no coordinate cut separates go to the sign recursion (both signs needed)."""
    lo = np.array([[0.0], [0.5], [0.5]])
    hi = np.array([[0.5], [1.0], [1.0]])
    t = LeafTable.from_boxes(lo, hi, fixed=[[], [(0, 0, 1)], [(0, 0, -1)]])
    top = np.array([c.size - 1 for c in t.coords])
    fx = {i: {(k, j): s for k, j, s in t.fixed_of(i)} for i in range(3)}
    assert tiling_failure_ranks(t.lower_index, t.upper_index, top, t.n_fixed(), fx.__getitem__) is None
    t = LeafTable.from_boxes(lo[:2], hi[:2], fixed=[[], [(0, 0, 1)]])
    top = np.array([c.size - 1 for c in t.coords])
    why = tiling_failure_ranks(t.lower_index, t.upper_index, top, t.n_fixed(),
                               lambda i: {(k, j): s for k, j, s in t.fixed_of(i)})
    assert why is not None and "complement" in why


def test_save_network_round_trip_for_tables(tmp_path):
    """A network saved by verinet (float weights) checks through the kernel and exactly alike."""
    rng = np.random.default_rng(3)
    net = random_spec(rng, [2, 6, 6, 1], "relu").build()
    save_network(net, tmp_path / "n.json")
    net = load_network(tmp_path / "n.json")
    res, _ = grid_result(net, Region.box([-1, -1], [1, 1]), 12)
    p = write_certificate(lipschitz_certificate(res, net, format="npz"), tmp_path / "c.json")
    r = check_certificate(p)
    assert r.valid and r.total_leaves == 144


def test_radius_cli_certificate(tmp_path):
    model = _copy("seed/random02.json", tmp_path)
    out = tmp_path / "rad.json"
    r = CliRunner().invoke(main, ["robust", "radius", str(model), "--center", "0.5,0.5", "--epsilon", "0.3",
                                  "--time-limit", "10", "--certificate", str(out)])
    assert r.exit_code == 0, r.output
    assert load_certificate(out)["kind"] == "radius-robustness"
    c = CliRunner().invoke(main, ["check", str(out)])
    assert c.exit_code == 0 and c.stdout.strip() == "valid"


def test_kernel_refuses_weights_outside_its_range(tmp_path):
    """Weights below 2⁻⁹⁰⁰ would break the relative error bound: the kernel refuses them and every leaf is
    checked exactly instead (same answer)."""
    from verinet import Layer, Network

    net = Network((Layer.from_exact([["1e-300", "1"], ["-1", "0.5"]], ["0", "0.25"]),
                   Layer.from_exact([["2", "-1"]], ["0"], "identity")))
    with pytest.raises(OverflowError):
        FloatNet(_exact_layers(net))
    save_network(net, tmp_path / "tiny.json")
    net = load_network(tmp_path / "tiny.json")
    res, _ = grid_result(net, Region.box([-1, -1], [1, 1]), 6)
    p = write_certificate(lipschitz_certificate(res, net, format="npz"), tmp_path / "c.json")
    assert check_certificate(p).valid
