"""Model loaders and writers: exact semantics, agreement between formats, round trips, clear errors.

Exact comparisons use ``Network.evaluate_exact`` (rational arithmetic). Comparisons with float32 files
or with onnxruntime use a tolerance and are named ``test_tightness_*``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from verinet.errors import ModelFormatError
from verinet.io import (
    load_network,
    load_nnet,
    parse_nnet,
    read_seed_query,
    save_network,
)
from verinet.io._common import exact_str
from verinet.network import Activation, InputDomain, Layer, Network

DATA = Path(__file__).resolve().parents[1] / "data"
SHARED = Path(__file__).resolve().parents[1] / "data"
ACAS = SHARED / "acasxu" / "ACASXU_run2a_1_1_batch_2000"

FC_NNET = DATA / "nnet" / "fc_2-2-3.nnet"
FC_ONNX = DATA / "nnet" / "fc_2-2-3.onnx"
SEEDS = [DATA / "seed" / f"{n}.json" for n in ("random01", "random02", "iris")]
VNNCOMP = sorted((DATA / "vnncomp_test").glob("*.onnx"))


def _acas():
    if not (ACAS.with_suffix(".nnet").exists() and ACAS.with_suffix(".onnx").exists()):
        pytest.skip("ACAS Xu networks not found in tests/data")
    return ACAS


def _rational_points(n_in: int, count: int, seed: int = 0, scale: int = 3) -> list[list[Fraction]]:
    rng = np.random.default_rng(seed)
    return [
        [
            Fraction(int(rng.integers(-1000 * scale, 1000 * scale)), int(rng.integers(1, 1000)))
            for _ in range(n_in)
        ]
        for _ in range(count)
    ]


def _same_exact_weights(a: Network, b: Network) -> None:
    assert len(a.layers) == len(b.layers)
    for La, Lb in zip(a.layers, b.layers):
        assert La.activation is Lb.activation and La.alpha == Lb.alpha
        assert La.weight_exact().tolist() == Lb.weight_exact().tolist()
        assert La.bias_exact().tolist() == Lb.bias_exact().tolist()
        assert La.is_float_exact == Lb.is_float_exact
    assert (a.input_domain is None) == (b.input_domain is None)
    if a.input_domain is not None:
        assert a.input_domain == b.input_domain


# ---------------------------------------------------------------------------------------------- provenance


@pytest.mark.parametrize(
    "path, fmt", [(FC_NNET, "nnet"), (FC_ONNX, "onnx"), (SEEDS[0], "json"), (VNNCOMP[0], "onnx")]
)
def test_provenance_is_set(path, fmt):
    net = load_network(path)
    assert net.name == path.stem
    assert net.format == fmt
    assert net.source == str(path)
    assert net.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------- nnet vs onnx


def test_fc_223_nnet_and_onnx_are_the_same_function():
    parsed = parse_nnet(FC_NNET.read_text())
    # The normalisation of this file is trivial, so raw and normalised coordinates coincide.
    assert parsed.means == (0, 0, 0) and parsed.ranges == (1, 1, 1)
    raw = load_network(FC_NNET)
    normalized = load_network(FC_NNET, coordinates="normalized")
    onnx_net = load_network(FC_ONNX)
    assert onnx_net.is_float_exact and raw.is_float_exact
    for x in _rational_points(2, 25) + [[0, 0], [1, -1], [Fraction(1, 3), Fraction(-1, 7)]]:
        y = onnx_net.evaluate_exact(x)
        assert raw.evaluate_exact(x) == y
        assert normalized.evaluate_exact(x) == y
        # README: output 0 is 2 relu(x1 + x2) - relu(-x1 - x2)
        s = x[0] + x[1]
        assert y[0] == 2 * max(s, 0) - max(-s, 0)
    assert raw.input_domain == InputDomain.from_values([-100000, -100000], [100000, 100000])


def test_tightness_acasxu_nnet_normalized_matches_onnx():
    base = _acas()
    nnet = load_network(base.with_suffix(".nnet"), coordinates="normalized")
    onnx_net = load_network(base.with_suffix(".onnx"))
    assert onnx_net.is_float_exact and not nnet.is_float_exact
    lo = np.array([float(v) for v in nnet.input_domain.lower])
    hi = np.array([float(v) for v in nnet.input_domain.upper])
    X = lo + (hi - lo) * np.random.default_rng(1).random((300, 5))
    # The ONNX weights are the float32 roundings of the .nnet decimals (relative error <= 2^-24).
    np.testing.assert_allclose(onnx_net.approx_evaluate(X), nnet.approx_evaluate(X), rtol=1e-5, atol=1e-6)


def test_acasxu_raw_is_normalized_composed_with_the_normalisation():
    base = _acas()
    path = base.with_suffix(".nnet")
    parsed = parse_nnet(path.read_text())
    raw = load_nnet(path)  # coordinates="raw" is the default
    normalized = load_nnet(path, coordinates="normalized")
    assert raw.input_domain == InputDomain(parsed.input_min, parsed.input_max)
    assert normalized.input_domain == InputDomain(
        tuple(parsed.normalize(parsed.input_min)), tuple(parsed.normalize(parsed.input_max))
    )
    # The normalised network carries the weights exactly as written.
    assert normalized.layers[0].weight_exact()[0, 0] == Fraction("5.40062e-02")
    rng = np.random.default_rng(2)
    lo, hi = parsed.input_min, parsed.input_max
    for _ in range(3):
        t = [Fraction(int(rng.integers(0, 1001)), 1000) for _ in range(5)]
        x = [a + (b - a) * ti for a, b, ti in zip(lo, hi, t)]  # rational point of the domain
        assert raw.evaluate_exact(x) == parsed.unscale(normalized.evaluate_exact(parsed.normalize(x)))


# ---------------------------------------------------------------------------------------------- seed JSON


def _hand_evaluate(doc: dict, x: list[Fraction]) -> list[Fraction]:
    a = x
    layers = doc["layers"]
    for k, layer in enumerate(layers):
        z = [
            Fraction(b) + sum(Fraction(w) * v for w, v in zip(row, a))
            for row, b in zip(layer["weight"], layer["bias"])
        ]
        a = [max(v, Fraction(0)) for v in z] if k < len(layers) - 1 else z
    return a


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_seed_json_is_exact(path):
    doc = json.loads(path.read_text())
    net = load_network(path)
    assert not net.is_float_exact  # 19-digit decimals: not floats, kept as rationals
    assert [L.activation for L in net.layers] == [Activation.RELU] * (len(doc["layers"]) - 1) + [
        Activation.IDENTITY
    ]
    q = read_seed_query(path)
    center = [Fraction(c) for c in q.center]
    points = [center] + _rational_points(net.n_inputs, 10, seed=3)
    for x in points:
        assert net.evaluate_exact(x) == _hand_evaluate(doc, x)


def test_read_seed_query(tmp_path):
    q = read_seed_query(SEEDS[0])
    assert q.center == ("-4.832202221268014242e+00", "-7.364287590384273940e+00")
    assert q.radius == "1e-7"
    assert q.expected == "0.32270569085905976"
    assert q.output_index == 0 and q.input_norm == "linf"
    p = tmp_path / "noquery.json"
    p.write_text('{"layers": []}')
    with pytest.raises(ModelFormatError, match="no 'query'"):
        read_seed_query(p)


# ---------------------------------------------------------------------------------------------- ONNX


def _onnx():
    return pytest.importorskip("onnx")


def _model(nodes, inits, in_shape, out_name="y", out_shape=None, opset=13, in_name="x", in_type=None):
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT if in_type is None else in_type
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(in_name, elem, list(in_shape))],
        [helper.make_tensor_value_info(out_name, elem, out_shape)],
        initializer=[numpy_helper.from_array(np.asarray(v), name=k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    del onnx  # the runtime validates models in the ORT tests; our reader validates what it needs
    return model


def _save(model, tmp_path, name="m.onnx") -> Path:
    p = tmp_path / name
    p.write_bytes(model.SerializeToString())
    return p


def _ort_run(path: Path, X: np.ndarray, in_shape) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dtype = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}[
        inp.type
    ]
    outs = []
    for x in X:
        outs.append(np.asarray(sess.run(None, {inp.name: x.reshape(in_shape).astype(dtype)})[0]).reshape(-1))
    return np.array(outs, dtype=np.float64)


def _rng_f32(shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _custom_models():
    """(id, model, ORT input shape, n_in) for operators beyond the reference files."""
    from onnx import TensorProto, helper

    W1, b1 = _rng_f32((3, 4), 10), _rng_f32((4,), 11)
    W2, b2 = _rng_f32((2, 4), 12), _rng_f32((2,), 13)  # used with transB=1
    models = []
    # Gemm x W + b, Gemm with transB/alpha/beta, final Relu; symbolic batch
    models.append(
        (
            "gemm_trans_alpha_beta",
            _model(
                [
                    helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], name="g1"),
                    helper.make_node("Relu", ["h"], ["r"], name="r1"),
                    helper.make_node(
                        "Gemm", ["r", "W2", "b2"], ["z"], name="g2", transB=1, alpha=0.5, beta=3.0
                    ),
                    helper.make_node("Relu", ["z"], ["y"], name="r2"),
                ],
                {"W1": W1, "b1": b1, "W2": W2, "b2": b2},
                ["N", 3],
            ),
            (1, 3),
            3,
        )
    )
    # Gemm with the weight as A and transA (W' x), input a column vector
    A = _rng_f32((3, 2), 14)  # transA -> (2, 3)
    models.append(
        (
            "gemm_weight_first",
            _model(
                [
                    helper.make_node("Gemm", ["A", "x"], ["h"], name="gA", transA=1),
                    helper.make_node("Tanh", ["h"], ["y"], name="t"),
                ],
                {"A": A},
                [3, 1],
            ),
            (3, 1),
            3,
        )
    )
    # Normalisation (Sub, Div), MatMul, Add, Mul, LeakyRelu, Reshape, Flatten, Constant, Sigmoid
    mean = np.array([0.5, -1.0, 2.0, 0.0], dtype=np.float32)
    std = np.array([3.0, 0.1, 7.0, 1.0], dtype=np.float32)
    Wm, bm = _rng_f32((4, 5), 15), _rng_f32((5,), 16)
    models.append(
        (
            "normalise_leaky_sigmoid",
            _model(
                [
                    helper.make_node("Sub", ["x", "mean"], ["c"], name="sub"),
                    helper.make_node("Div", ["c", "std"], ["n"], name="div"),
                    helper.make_node("Flatten", ["n"], ["f"], name="flat", axis=1),
                    helper.make_node("MatMul", ["f", "Wm"], ["m"], name="mm"),
                    helper.make_node("Add", ["m", "bm"], ["a"], name="add"),
                    helper.make_node(
                        "Constant",
                        [],
                        ["k"],
                        name="const",
                        value=helper.make_tensor("kv", TensorProto.FLOAT, [1], [0.25]),
                    ),
                    helper.make_node("Mul", ["k", "a"], ["s"], name="mul"),
                    helper.make_node("LeakyRelu", ["s"], ["l"], name="leaky", alpha=0.125),
                    helper.make_node(
                        "Constant",
                        [],
                        ["shape"],
                        name="shp",
                        value=helper.make_tensor("sv", TensorProto.INT64, [2], [1, -1]),
                    ),
                    helper.make_node("Reshape", ["l", "shape"], ["rs"], name="reshape"),
                    helper.make_node("Sub", ["one", "rs"], ["neg"], name="one_minus"),
                    helper.make_node("Sigmoid", ["neg"], ["y"], name="sig"),
                ],
                {"mean": mean, "std": std, "Wm": Wm, "bm": bm, "one": np.array(1.0, dtype=np.float32)},
                [1, 4],
            ),
            (1, 4),
            4,
        )
    )
    # float64 and float16 initialisers; two MatMuls in a row (composed exactly); Identity
    W16 = _rng_f32((3, 3), 17).astype(np.float16)
    models.append(
        (
            "float16_then_float64_composed",
            _model(
                [
                    helper.make_node("MatMul", ["x", "W64"], ["m1"], name="mm1"),
                    helper.make_node("Identity", ["m1"], ["i1"], name="id"),
                    helper.make_node("MatMul", ["i1", "W64b"], ["y"], name="mm2"),
                ],
                {"W64": _rng_f32((3, 3), 18).astype(np.float64) / 3, "W64b": W16.astype(np.float64)},
                [1, 3],
                in_type=TensorProto.DOUBLE,
            ),
            (1, 3),
            3,
        )
    )
    return models


@pytest.mark.parametrize("path", VNNCOMP + [FC_ONNX], ids=lambda p: p.stem)
def test_tightness_onnx_files_match_onnxruntime(path):
    net = load_network(path)
    import onnx

    dims = [d.dim_value or 1 for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    X = np.random.default_rng(4).uniform(-3, 3, size=(50, net.n_inputs))
    np.testing.assert_allclose(net.approx_evaluate(X), _ort_run(path, X, dims), rtol=1e-5, atol=1e-5)


def test_tightness_acasxu_onnx_matches_onnxruntime():
    base = _acas()
    net = load_network(base.with_suffix(".onnx"))
    X = np.random.default_rng(5).uniform(-0.5, 0.5, size=(50, 5))
    np.testing.assert_allclose(
        net.approx_evaluate(X), _ort_run(base.with_suffix(".onnx"), X, (1, 1, 1, 5)), rtol=1e-5, atol=1e-5
    )


def test_tightness_custom_onnx_models_match_onnxruntime(tmp_path):
    _onnx()
    for name, model, in_shape, n_in in _custom_models():
        p = _save(model, tmp_path, f"{name}.onnx")
        net = load_network(p)
        assert net.n_inputs == n_in, name
        X = np.random.default_rng(6).uniform(-2, 2, size=(40, n_in))
        np.testing.assert_allclose(
            net.approx_evaluate(X), _ort_run(p, X, in_shape), rtol=2e-5, atol=2e-5, err_msg=name
        )


def test_onnx_custom_models_structure(tmp_path):
    _onnx()
    nets = {name: load_network(_save(m, tmp_path, f"{name}.onnx")) for name, m, _, _ in _custom_models()}
    g = nets["gemm_trans_alpha_beta"]
    assert [L.activation for L in g.layers] == [Activation.RELU, Activation.RELU]  # final Relu kept
    assert g.layers[0].is_float_exact  # plain Gemm: fast path
    s = nets["normalise_leaky_sigmoid"]
    assert [L.activation for L in s.layers] == [Activation.LEAKY_RELU, Activation.SIGMOID]
    assert s.layers[0].alpha == Fraction(1, 8)
    assert not s.layers[0].is_float_exact  # divided by 3, 0.1f, 7: rationals kept
    assert s.layers[1].weight_exact().tolist() == (-np.eye(5)).tolist()  # 1 - t
    c = nets["float16_then_float64_composed"]
    assert len(c.layers) == 1 and c.layers[0].activation is Activation.IDENTITY
    assert nets["gemm_weight_first"].layers[0].activation is Activation.TANH


def test_onnx_exact_composition(tmp_path):
    """Div by 3, Gemm alpha, and two Gemms in a row: exactly the real-arithmetic function."""
    _onnx()
    from onnx import helper

    W1 = np.array([[1.0, 2.0], [0.1, -1.0]], dtype=np.float32)  # (in, out) for x @ W1
    b1 = np.array([0.5, -0.25], dtype=np.float32)
    W2 = np.array([[3.0], [0.2]], dtype=np.float32)
    three = np.array([3.0], dtype=np.float32)
    model = _model(
        [
            helper.make_node("Div", ["x", "three"], ["d"], name="div"),
            helper.make_node("Gemm", ["d", "W1", "b1"], ["h"], name="g1", alpha=0.1),
            helper.make_node("Gemm", ["h", "W2"], ["z"], name="g2"),
            helper.make_node("Relu", ["z"], ["y"], name="relu"),
        ],
        {"three": three, "W1": W1, "b1": b1, "W2": W2},
        ["batch", 2],
    )
    net = load_network(_save(model, tmp_path))
    assert len(net.layers) == 1 and net.layers[0].activation is Activation.RELU
    F = lambda v: Fraction(float(np.float32(v)))
    alpha = F(0.1)  # Gemm's alpha attribute is a float32
    for x in _rational_points(2, 10, seed=7):
        d = [xi / 3 for xi in x]
        h = [alpha * sum(d[i] * F(W1[i, j]) for i in range(2)) + F(b1[j]) for j in range(2)]
        z = sum(h[j] * F(W2[j, 0]) for j in range(2))
        assert net.evaluate_exact(x) == [max(z, Fraction(0))]


def test_onnx_weight_on_the_left_1d(tmp_path):
    net = load_network(DATA / "vnncomp_test" / "test_small.onnx")
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(DATA / "vnncomp_test" / "test_small.onnx"))
    w = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in m.graph.initializer}
    assert net.layers[0].weight_lo.tolist() == w["W0"].tolist()  # W @ x: weight used as is
    assert net.layers[2].bias_lo.tolist() == w["B2"].tolist()


# ---------------------------------------------------------------------------------------------- round trips


def _exotic_network() -> Network:
    return Network(
        (
            Layer.from_exact([["0.1", "1/3"], [2, "-7.25e-3"]], ["0", "5/7"], Activation.LEAKY_RELU, "1/3"),
            Layer.from_exact([["1e-30", "123456789.123456789"]], ["-0"], Activation.IDENTITY),
        ),
        input_domain=InputDomain.from_values(["-1/3", 0], ["0.1", "2"]),
    )


@pytest.mark.parametrize("source", [FC_ONNX, FC_NNET, SEEDS[2], VNNCOMP[-1]], ids=lambda p: p.name)
def test_round_trip_json(tmp_path, source):
    net = load_network(source)
    out = tmp_path / "net.json"
    save_network(net, out)
    back = load_network(out)
    _same_exact_weights(net, back)
    assert back.format == "json" and back.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()


def test_round_trip_json_rationals_leaky_and_domain(tmp_path):
    net = _exotic_network()
    out = tmp_path / "exotic.json"
    save_network(net, out)
    doc = json.loads(out.read_text())
    assert doc["layers"][0]["weight"][0][1] == "1/3" and doc["layers"][0]["alpha"] == "1/3"
    _same_exact_weights(net, load_network(out))


def test_round_trip_json_floats_are_exact(tmp_path):
    w = np.array([[0.1, 1e-300], [5e-324, -(2.0**70)]])
    net = Network(
        (
            Layer.from_floats(w, np.array([1 / 3, 0.0]), Activation.SIGMOID),
            Layer.from_floats(np.ones((1, 2)), np.zeros(1), Activation.TANH),
        )
    )
    out = tmp_path / "floats.json"
    save_network(net, out)
    back = load_network(out)
    assert back.is_float_exact
    assert back.layers[0].weight_lo.tolist() == w.tolist()
    _same_exact_weights(net, back)


@pytest.mark.parametrize("source", [FC_ONNX, VNNCOMP[0], VNNCOMP[-1]], ids=lambda p: p.name)
def test_round_trip_npz(tmp_path, source):
    net = load_network(source)
    out = tmp_path / "net.npz"
    save_network(net, out)
    back = load_network(out)
    _same_exact_weights(net, back)
    assert back.format == "npz" and back.name == "net"


def test_round_trip_npz_leaky_and_domain(tmp_path):
    net = Network(
        (
            Layer.from_floats(np.array([[0.1, -2.0]]), np.array([0.3]), Activation.LEAKY_RELU, 0.125),
            Layer.from_floats(np.array([[1.5]]), np.array([0.0]), Activation.IDENTITY),
        ),
        input_domain=InputDomain.from_values([-1.0, 0.1], [1.0, 0.2]),
    )
    out = tmp_path / "leaky.npz"
    save_network(net, out)
    _same_exact_weights(net, load_network(out))


def test_npz_accepts_float32_and_default_activations(tmp_path):
    out = tmp_path / "f32.npz"
    W0 = _rng_f32((3, 2), 20)
    np.savez(out, W0=W0, b0=np.zeros(3, np.float32), W1=np.ones((1, 3), np.float16), b1=np.ones(1))
    net = load_network(out)
    assert [L.activation for L in net.layers] == [Activation.RELU, Activation.IDENTITY]
    assert net.layers[0].weight_lo.tolist() == W0.astype(np.float64).tolist()


def test_npz_refuses_inexact_weights(tmp_path):
    with pytest.raises(ModelFormatError, match="JSON"):
        save_network(load_network(SEEDS[0]), tmp_path / "x.npz")
    with pytest.raises(ModelFormatError, match="JSON"):
        save_network(_exotic_network(), tmp_path / "y.npz")


def test_save_unknown_extension(tmp_path):
    with pytest.raises(ModelFormatError, match=r"'\.nnet'.*supported: \.npz, \.json"):
        save_network(load_network(FC_ONNX), tmp_path / "x.nnet")


@given(st.fractions())
def test_exact_str_round_trips(q):
    assert Fraction(exact_str(q)) == q


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_exact_str_of_floats_is_a_terminating_decimal(x):
    s = exact_str(x)
    assert "/" not in s and Fraction(s) == Fraction(x)


# ---------------------------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    p = tmp_path / "nope.onnx"
    with pytest.raises(ModelFormatError, match=f"model file not found: {p}"):
        load_network(p)


def test_unknown_extension(tmp_path):
    p = tmp_path / "model.h5"
    p.write_bytes(b"\x89HDF")
    with pytest.raises(ModelFormatError) as e:
        load_network(p)
    msg = str(e.value)
    assert "'.h5'" in msg and ".onnx" in msg and ".nnet" in msg and ".npz" in msg and ".json" in msg


def test_unknown_option_is_rejected():
    with pytest.raises(TypeError, match="coordinates"):
        load_network(FC_ONNX, coordinates="raw")
    with pytest.raises(ValueError, match="raw.*normalized"):
        load_network(FC_NNET, coordinates="scaled")


def _write(tmp_path, name, text) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _nnet_lines() -> list[str]:
    return FC_NNET.read_text().splitlines()


def test_nnet_truncated(tmp_path):
    lines = _nnet_lines()
    p = _write(tmp_path, "t.nnet", "\n".join(lines[:-2]) + "\n")
    with pytest.raises(ModelFormatError, match=r"ends early .*expected bias 1 of layer 1"):
        load_network(p)
    p = _write(tmp_path, "h.nnet", "\n".join(lines[:4]) + "\n")
    with pytest.raises(ModelFormatError, match="ends early.*input minimums"):
        load_network(p)


def test_nnet_wrong_layer_sizes(tmp_path):
    lines = _nnet_lines()
    lines[2] = "2,3,3,"  # hidden layer of 3, but the weights have 2 rows
    with pytest.raises(
        ModelFormatError,
        match=r"line 11: expected row 2 of the weights of layer 0 \(3x2\) "
        r"\(2 numbers\), found 1",
    ):
        load_network(_write(tmp_path, "s.nnet", "\n".join(lines)))
    lines = _nnet_lines()
    lines[2] = "2,2,4,"
    with pytest.raises(ModelFormatError, match=r"line 3: layer sizes .* do not match the header"):
        load_network(_write(tmp_path, "h.nnet", "\n".join(lines)))
    lines = _nnet_lines()
    lines[2] = "2,3,"
    with pytest.raises(ModelFormatError, match="3 layer sizes are expected, found 2"):
        load_network(_write(tmp_path, "n.nnet", "\n".join(lines)))
    lines = _nnet_lines() + ["1.0,"]
    with pytest.raises(ModelFormatError, match="unexpected data after the last bias"):
        load_network(_write(tmp_path, "x.nnet", "\n".join(lines)))


@pytest.mark.parametrize("token", ["nan", "NaN", "inf", "-inf"])
def test_nnet_nan_weight(tmp_path, token):
    lines = _nnet_lines()
    lines[8] = f"1.0,{token},"
    with pytest.raises(
        ModelFormatError, match=r"line 9: row 0 of the weights of layer 0.*value 1.*not finite"
    ):
        load_network(_write(tmp_path, "nan.nnet", "\n".join(lines)))


def test_nnet_non_numeric(tmp_path):
    lines = _nnet_lines()
    lines[6] = "0.0,abc,0.0,"
    with pytest.raises(ModelFormatError, match=r"line 7: the means.*'abc' is not a number"):
        load_network(_write(tmp_path, "a.nnet", "\n".join(lines)))
    lines = _nnet_lines()
    lines[1] = "2,two,3,3,"
    with pytest.raises(ModelFormatError, match="line 2: .*non-integer 'two'"):
        load_network(_write(tmp_path, "b.nnet", "\n".join(lines)))


def test_json_nan_and_bad_numbers(tmp_path):
    doc = json.loads(SEEDS[0].read_text())
    doc["layers"][1]["weight"][0][1] = "NaN"
    with pytest.raises(ModelFormatError, match=r"layer 1 weight entry \(0, 1\).*not finite"):
        load_network(_write(tmp_path, "n.json", json.dumps(doc)))
    with pytest.raises(ModelFormatError, match="NaN"):
        load_network(_write(tmp_path, "m.json", '{"layers": [{"weight": [[NaN]], "bias": [0]}]}'))
    with pytest.raises(ModelFormatError, match="invalid JSON at line 1"):
        load_network(_write(tmp_path, "j.json", '{"layers": '))
    with pytest.raises(ModelFormatError, match="unknown activation 'softmax'"):
        load_network(
            _write(
                tmp_path,
                "s.json",
                '{"layers": [{"weight": [["1"]], "bias": ["0"], "activation": "softmax"}]}',
            )
        )


def test_json_numbers_keep_their_decimal_meaning(tmp_path):
    net = load_network(_write(tmp_path, "d.json", '{"layers": [{"weight": [[0.1, 3]], "bias": [1e-1]}]}'))
    assert net.layers[0].weight_exact().tolist() == [[Fraction(1, 10), 3]]
    assert net.evaluate_exact([1, 0]) == [Fraction(1, 5)]


def test_json_shapes_do_not_chain(tmp_path):
    doc = {"layers": [{"weight": [["1", "2"]], "bias": ["0"]}, {"weight": [["1", "2"]], "bias": ["0"]}]}
    with pytest.raises(ModelFormatError, match="layer 1 expects 2 inputs but layer 0 produces 1"):
        load_network(_write(tmp_path, "c.json", json.dumps(doc)))
    doc = {"layers": [{"weight": [["1", "2"]], "bias": ["0", "1"]}]}
    with pytest.raises(ModelFormatError, match="bias shape"):
        load_network(_write(tmp_path, "b.json", json.dumps(doc)))


def test_npz_nan_and_bad_keys(tmp_path):
    p = tmp_path / "nan.npz"
    np.savez(p, W0=np.array([[1.0, np.nan]]), b0=np.zeros(1))
    with pytest.raises(ModelFormatError, match=r"layer 0 weight: entry \(0, 1\) is nan"):
        load_network(p)
    p = tmp_path / "chain.npz"
    np.savez(p, W0=np.ones((2, 3)), b0=np.zeros(2), W1=np.ones((1, 3)), b1=np.zeros(1))
    with pytest.raises(ModelFormatError, match="shapes do not chain"):
        load_network(p)
    p = tmp_path / "keys.npz"
    np.savez(p, W0=np.ones((2, 3)), b0=np.zeros(2), weights=np.ones(3))
    with pytest.raises(ModelFormatError, match="unexpected arrays.*weights"):
        load_network(p)
    p = tmp_path / "gap.npz"
    np.savez(p, W0=np.ones((2, 3)), b0=np.zeros(2), W2=np.ones((1, 2)), b2=np.zeros(1))
    with pytest.raises(ModelFormatError, match="W1 is missing"):
        load_network(p)
    p = tmp_path / "junk.npz"
    p.write_bytes(b"not a zip")
    with pytest.raises(ModelFormatError, match="not a readable .npz"):
        load_network(p)


@pytest.mark.parametrize("op", ["Softmax", "Conv"])
def test_onnx_unsupported_operator(tmp_path, op):
    _onnx()
    from onnx import helper

    if op == "Softmax":
        nodes = [
            helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
            helper.make_node("Softmax", ["h"], ["y"], name="my_softmax"),
        ]
        model = _model(nodes, {"W": _rng_f32((3, 2), 1)}, [1, 3])
    else:
        nodes = [helper.make_node("Conv", ["x", "K"], ["y"], name="my_conv")]
        model = _model(nodes, {"K": _rng_f32((1, 1, 2, 2), 1)}, [1, 1, 4, 4])
    with pytest.raises(ModelFormatError) as e:
        load_network(_save(model, tmp_path))
    assert f"'{op}'" in str(e.value) and f"my_{op.lower()}" in str(e.value)


def test_onnx_nan_weight(tmp_path):
    _onnx()
    from onnx import helper

    W = np.ones((3, 2), np.float32)
    W[1, 0] = np.nan
    model = _model([helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")], {"W": W}, [1, 3])
    with pytest.raises(
        ModelFormatError, match=r"node 'mm' \(MatMul, layer 0\): constant 'W' entry \(1, 0\) is nan"
    ):
        load_network(_save(model, tmp_path))
    model = _model([helper.make_node("Div", ["x", "W"], ["y"], name="div")], {"W": W[:, :1].T.copy()}, [1, 3])
    with pytest.raises(
        ModelFormatError, match=r"node 'div' \(Div, layer 0\): constant 'W' entry \(0, 1\) is nan"
    ):
        load_network(_save(model, tmp_path))


def test_onnx_shapes_do_not_chain(tmp_path):
    _onnx()
    from onnx import helper

    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")]
    model = _model(nodes, {"W": _rng_f32((4, 2), 1)}, [1, 3])
    model.graph.node[0].input[:] = ["x", "W"]
    with pytest.raises(
        ModelFormatError,
        match=r"node 'mm' \(MatMul, layer 0\): tensor of shape \(1, 3\) "
        r"cannot multiply a weight of shape \(4, 2\)",
    ):
        load_network(_save(model, tmp_path))


def test_onnx_not_a_chain_and_nonaffine(tmp_path):
    _onnx()
    from onnx import helper

    W = _rng_f32((2, 2), 3)
    skip = [
        helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("Add", ["r", "x"], ["y"], name="residual"),
    ]
    with pytest.raises(ModelFormatError, match="residual.*used after a later activation"):
        load_network(_save(_model(skip, {"W": W}, [1, 2]), tmp_path, "skip.onnx"))
    prod = [helper.make_node("Mul", ["x", "x"], ["y"], name="square")]
    with pytest.raises(ModelFormatError, match="square.*not affine"):
        load_network(_save(_model(prod, {}, [1, 2]), tmp_path, "sq.onnx"))


def test_onnx_garbage_file(tmp_path):
    _onnx()
    p = tmp_path / "junk.onnx"
    p.write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(ModelFormatError, match="not a readable ONNX model"):
        load_network(p)


def test_onnx_missing_dependency(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes ``import onnx`` raise ImportError
    with pytest.raises(
        ModelFormatError, match=r"needs the optional dependency onnx: pip install 'verinet\[onnx\]'"
    ):
        load_network(FC_ONNX)


def test_acasxu_onnx_loads_fast():
    import time

    base = _acas()
    load_network(base.with_suffix(".onnx"))  # warm the onnx import
    t0 = time.perf_counter()
    net = load_network(base.with_suffix(".onnx"))
    assert time.perf_counter() - t0 < 0.5  # fast path: float weights used as is
    assert net.is_float_exact and [L.n_out for L in net.layers] == [50] * 6 + [5]


# ---------------------------------------------------------------------------------------------- torch


def test_torch_sequential():
    torch = pytest.importorskip("torch")
    from verinet.io import from_torch

    nn = torch.nn
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(3, 4), nn.LeakyReLU(0.125), nn.Linear(4, 4), nn.Linear(4, 2), nn.Tanh()
    )
    net = from_torch(model)
    assert [L.activation for L in net.layers] == [Activation.LEAKY_RELU, Activation.IDENTITY, Activation.TANH]
    assert net.layers[0].alpha == Fraction(1, 8)
    X = np.random.default_rng(0).normal(size=(10, 3))
    with torch.no_grad():
        ref = model(torch.tensor(X, dtype=torch.float64).to(torch.float32)).double().numpy()
    np.testing.assert_allclose(net.approx_evaluate(X.astype(np.float32)), ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ModelFormatError, match="Softmax"):
        from_torch(nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=-1)))
