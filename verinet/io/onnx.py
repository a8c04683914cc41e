"""Reader for ONNX models made of fully connected layers.

Supported operators (default domain): Gemm (any ``transA``/``transB``/``alpha``/``beta``), MatMul with the
constant weight on either side (``x @ W``, or ``W @ x`` for 1-D and column tensors), Add, Sub, Mul and Div
by constants (Add/Sub of two tensors computed from the same layer input too), Relu, LeakyRelu, Sigmoid,
Tanh, Flatten, Reshape, Identity and Constant. Any other operator is rejected with its type and node name.

How a graph becomes a :class:`~verinet.network.Network`: the nodes are walked in order (ONNX requires
topological order) from the single graph input. Every tensor computed from the input is kept as an affine
map ``flat(T) = W u + b`` of the current layer input ``u`` (the graph input, or the output of the last
activation), together with its shape. Affine operators update ``(W, b)``; an activation closes a layer
``σ(W u + b)`` and starts the next one with ``u`` its output. What is left after the last activation
becomes a final layer with the identity activation; a graph that ends with an activation (say a final
Relu) keeps that activation on its last layer.

Exactness: initialisers (float16/32/64) are exact binary numbers, converted to float64 without rounding.
A weight tensor used as is (``W u`` then ``+ b``, the common case) is stored as floats directly (fast
path). Anything that composes numbers -- two affine operators in a row, ``alpha``/``beta`` scaling,
Div/Mul by constants -- is computed exactly in rational arithmetic, so the network means exactly what
the graph computes in real arithmetic (``Layer.from_exact`` keeps the rationals when they are not floats).

Shapes: symbolic dimensions (``N``, ``batch``) count as 1. A tensor must stay one vector per example:
MatMul/Gemm on a tensor whose leading (non-batch) dimensions hold more than one row is rejected, as are
broadcasts that would enlarge a computed tensor.

An initialiser that is also listed as a graph input (IR version 3 files do this) is taken as the constant
stored in the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from verinet.activations import names
from verinet.errors import ModelFormatError
from verinet.io._common import build_network, read_model_bytes, with_provenance
from verinet.network import Activation, Layer, Network

__all__ = ["SUPPORTED_OPS", "load_onnx", "network_from_onnx_model"]

_ACTIVATIONS = names("onnx")  # op type -> Activation
_AFFINE_OPS = ("Gemm", "MatMul", "Add", "Sub", "Mul", "Div")
_SHAPE_OPS = ("Flatten", "Reshape", "Identity", "Constant")
SUPPORTED_OPS = _AFFINE_OPS + tuple(_ACTIVATIONS) + _SHAPE_OPS

_ONNX_MISSING = "reading ONNX needs the optional dependency onnx: pip install 'verinet[onnx]'"


def _import_onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ModelFormatError(_ONNX_MISSING) from None
    return onnx, numpy_helper


# ---------------------------------------------------------------------------------------------------
# exact arrays: float64 arrays (exact binary numbers) or object arrays of Fractions
# ---------------------------------------------------------------------------------------------------


def _q(a: np.ndarray) -> np.ndarray:
    """The same array as exact Fractions (object dtype); floats convert exactly."""
    if a.dtype == object:
        return a
    out = np.empty(a.shape, dtype=object)
    out.reshape(-1)[:] = [Fraction(*float(v).as_integer_ratio()) for v in a.reshape(-1)]
    return out


def _int_form(a: np.ndarray) -> tuple[np.ndarray, int]:
    """``a = N / D`` exactly, with ``N`` an object array of Python ints and ``D`` a positive int."""
    if a.dtype == object:  # Fractions (or the int 0 of object zeros)
        pairs = [(v.numerator, v.denominator) for v in a.reshape(-1)]
    else:
        pairs = [float(v).as_integer_ratio() for v in a.reshape(-1)]
    D = math.lcm(*(d for _, d in pairs)) if pairs else 1
    N = np.empty(a.shape, dtype=object)
    N.reshape(-1)[:] = [n * (D // d) for n, d in pairs]
    return N, D


def _exact_matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A @ B`` exactly, as Fractions: one integer matrix product over common denominators.

    Python-int products are an order of magnitude faster than Fraction products (no gcd per step).
    """
    NA, DA = _int_form(A)
    NB, DB = _int_form(B)
    P = NA @ NB  # (m, k) @ (k, n) or (m, k) @ (k,): exact integer sums
    D = DA * DB
    out = np.empty(P.shape, dtype=object)
    out.reshape(-1)[:] = [Fraction(int(v), D) for v in P.reshape(-1)]
    return out


def _is_zero(a: np.ndarray) -> bool:
    return all(v == 0 for v in a.reshape(-1))


@dataclass
class _Affine:
    """A tensor computed from the current layer input ``u`` (dimension ``n``): ``flat(T) = W u + b``.

    ``W`` is kept in one of three forms: ``None`` (the identity: ``T`` is ``u`` reshaped), a vector ``d``
    in ``diag`` (``W = diag(d)``, after elementwise Mul/Div of the input) or a dense matrix ``W``.
    ``b is None`` means zero. ``stage`` is the number of layers closed when this value was computed: a
    value from an earlier stage is stale.
    """

    stage: int
    shape: tuple[int, ...]
    n: int
    W: np.ndarray | None = None  # (size, n), float64 or Fractions
    b: np.ndarray | None = None  # (size,)
    diag: np.ndarray | None = None  # (n,) when W = diag(diag); then W is None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def matrix(self) -> np.ndarray:
        if self.W is not None:
            return self.W
        if self.diag is not None:
            W = np.zeros((self.n, self.n), dtype=self.diag.dtype)  # object zeros are the int 0: exact
            W[np.arange(self.n), np.arange(self.n)] = self.diag
            return W
        return np.eye(self.n, dtype=np.float64)

    def bias(self) -> np.ndarray:
        return np.zeros(self.size, dtype=np.float64) if self.b is None else self.b

    def is_identity(self) -> bool:
        return self.W is None and self.diag is None and self.b is None

    def _new(self, shape, W=None, b=None, diag=None) -> _Affine:
        return _Affine(self.stage, shape, self.n, W, b, diag)

    # ---- affine updates; each returns a new value (shape given by the caller) ----
    def lmul(self, M: np.ndarray, shape: tuple[int, ...]) -> _Affine:
        """``M @ flat(T)``: exact; the float weights stay floats when ``T`` is the layer input itself."""
        # M: (m, size) ; W: (size, n) -> (m, n)
        if self.W is not None:
            W = _exact_matmul(M, self.W)
        elif self.diag is not None:
            W = _q(M) * _q(self.diag)[None, :]  # M diag(d): scale the columns, exact
        else:
            W = np.array(M, copy=True)  # fast path: the weights as stored
        b = None if self.b is None else _nz(_exact_matmul(M, self.b))
        return self._new(shape, W, b)

    def scale(self, c: np.ndarray, shape: tuple[int, ...]) -> _Affine:
        """``diag(c) flat(T)`` (elementwise product by a constant broadcast to the tensor)."""
        # c: (size,)
        b = None if self.b is None else _nz(_q(c) * _q(self.b))
        if self.W is not None:
            return self._new(shape, _q(c)[:, None] * _q(self.W), b)
        if self.diag is not None:
            return self._new(shape, None, b, _q(c) * _q(self.diag))
        return self._new(shape, None, b, c.copy())

    def shift(self, c: np.ndarray, shape: tuple[int, ...]) -> _Affine:
        """``flat(T) + c``."""
        b = _nz(c.copy()) if self.b is None else _nz(_q(self.b) + _q(c))
        return self._new(shape, self.W, b, self.diag)

    def neg(self) -> _Affine:
        # negation is exact in floats and rationals alike
        b = None if self.b is None else -self.b
        if self.W is not None:
            return self._new(self.shape, -self.W, b)
        d = -self.diag if self.diag is not None else -np.ones(self.n, dtype=np.float64)
        return self._new(self.shape, None, b, d)

    def plus(self, other: _Affine) -> _Affine:
        W = _q(self.matrix()) + _q(other.matrix())
        if self.b is None and other.b is None:
            b = None
        else:
            b = _nz(_q(self.bias()) + _q(other.bias()))
        return self._new(self.shape, W, b)

    def reshaped(self, shape: tuple[int, ...]) -> _Affine:
        return self._new(shape, self.W, self.b, self.diag)


def _nz(b: np.ndarray) -> np.ndarray | None:
    return None if _is_zero(b) else b


def _exact_scalar_times(s: float, a: np.ndarray) -> np.ndarray:
    """``s * a`` exactly (unchanged float array when ``s == 1``)."""
    if s == 1.0:
        return a
    f = Fraction(s)
    return f * _q(a)


# ---------------------------------------------------------------------------------------------------
# the graph walk
# ---------------------------------------------------------------------------------------------------


class _Walker:
    def __init__(self, model, path: Path, numpy_helper):
        self.model = model
        self.path = path
        self.nh = numpy_helper
        self.layers: list[Layer] = []
        self.env: dict[str, object] = {}  # name -> np.ndarray (constant) or _Affine

    # ---- errors ----
    def fail(self, msg: str) -> ModelFormatError:
        return ModelFormatError(f"{self.path}: {msg}")

    def where(self, node, index: int) -> str:
        name = f"{node.name!r}" if node.name else f"#{index} (unnamed)"
        return f"node {name} ({node.op_type}, layer {len(self.layers)})"

    # ---- values ----
    def value(self, name: str, node, index: int):
        if name not in self.env:
            raise self.fail(f"{self.where(node, index)}: input {name!r} is not defined before this node")
        v = self.env[name]
        if isinstance(v, _Affine) and v.stage != len(self.layers):
            raise self.fail(
                f"{self.where(node, index)}: tensor {name!r} is used after a later activation "
                "(the graph is not a chain of layers)"
            )
        return v

    def fconst(self, name: str, arr: np.ndarray, node, index: int) -> np.ndarray:
        """A constant used as weights: float64 (exact), finite, else a clear error."""
        if arr.dtype.kind in "iu":
            if arr.size and np.abs(arr.astype(object)).max() > 2**53:
                raise self.fail(f"{self.where(node, index)}: integer constant {name!r} is too large")
            return arr.astype(np.float64)
        if arr.dtype.kind != "f":
            raise self.fail(f"{self.where(node, index)}: constant {name!r} has unsupported type {arr.dtype}")
        a = arr.astype(np.float64)  # float16/32 -> float64 is exact
        bad = ~np.isfinite(a)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise self.fail(
                f"{self.where(node, index)}: constant {name!r} entry {idx} is {a[idx]} "
                "(NaN and infinite weights are not allowed)"
            )
        return a

    def attrs(self, node) -> dict:
        from onnx.helper import get_attribute_value

        return {a.name: get_attribute_value(a) for a in node.attribute}

    # ---- entry ----
    def run(self) -> tuple[list[Layer], int]:
        graph = self.model.graph
        inits = {t.name for t in graph.initializer}
        for t in graph.initializer:
            try:
                self.env[t.name] = self.nh.to_array(t)
            except Exception as exc:  # noqa: BLE001  (onnx raises various types on corrupt tensors)
                raise self.fail(f"initializer {t.name!r} cannot be read ({exc})") from None
        inputs = [i for i in graph.input if i.name not in inits]
        if len(inputs) != 1:
            names = [i.name for i in inputs]
            raise self.fail(
                f"expected exactly one graph input (not an initializer), found {len(inputs)}: {names}"
            )
        inp = inputs[0]
        shape = self.input_shape(inp)
        n0 = math.prod(shape)
        self.env[inp.name] = _Affine(0, shape, n0)
        for index, node in enumerate(graph.node):
            self.step(node, index)
        if len(graph.output) != 1:
            raise self.fail(f"expected exactly one graph output, found {len(graph.output)}")
        out_name = graph.output[0].name
        out = self.env.get(out_name)
        if not isinstance(out, _Affine):
            raise self.fail(f"graph output {out_name!r} does not depend on the input")
        if out.stage != len(self.layers):
            raise self.fail(f"graph output {out_name!r} is a tensor from before the last activation")
        if not out.is_identity() or not self.layers:
            self.close_layer(out, Activation.IDENTITY, 0, f"output {out_name!r}")
        return self.layers, n0

    def input_shape(self, inp) -> tuple[int, ...]:
        tt = inp.type.tensor_type
        if not inp.type.HasField("tensor_type") or not tt.HasField("shape"):
            raise self.fail(f"graph input {inp.name!r} has no tensor shape")
        if tt.elem_type not in (1, 10, 11, 16):  # float, float16, double, bfloat16
            raise self.fail(
                f"graph input {inp.name!r} has element type {tt.elem_type}, expected a float type"
            )
        dims = []
        for d in tt.shape.dim:
            if d.HasField("dim_value"):
                if d.dim_value <= 0:
                    raise self.fail(f"graph input {inp.name!r} has a dimension of size {d.dim_value}")
                dims.append(int(d.dim_value))
            else:
                dims.append(1)  # symbolic (batch) dimension
        return tuple(dims)

    def close_layer(self, a: _Affine, act: Activation, alpha, what: str) -> None:
        k = len(self.layers)
        W, b = a.matrix(), a.bias()
        try:
            if W.dtype != object and b.dtype != object:
                layer = Layer.from_floats(W, b, act, alpha, name=f"layer {k} ({what})")
            else:
                layer = Layer.from_exact(_q(W), _q(b), act, alpha, name=f"layer {k} ({what})")
        except ValueError as exc:
            raise self.fail(str(exc)) from None
        self.layers.append(layer)

    # ---- one node ----
    def step(self, node, index: int) -> None:
        op = node.op_type
        if node.domain not in ("", "ai.onnx") or op not in SUPPORTED_OPS:
            dom = f" (domain {node.domain!r})" if node.domain not in ("", "ai.onnx") else ""
            label = f"{node.name!r}" if node.name else f"#{index} (unnamed)"
            raise self.fail(
                f"unsupported ONNX operator {op!r}{dom} at node {label}; verinet reads fully connected "
                f"networks made of {', '.join(SUPPORTED_OPS)}"
            )
        if len(node.output) < 1:
            raise self.fail(f"{self.where(node, index)}: node has no output")
        out = node.output[0]
        if op == "Constant":
            self.env[out] = self.constant_node(node, index)
            return
        ins = [self.value(n, node, index) if n else None for n in node.input]
        at = self.attrs(node)
        handler = getattr(self, f"op_{op}", None)
        if op in _ACTIVATIONS:
            self.env[out] = self.activation(node, index, ins, _ACTIVATIONS[op], at)
        else:
            self.env[out] = handler(node, index, ins, at)

    def constant_node(self, node, index: int) -> np.ndarray:
        at = self.attrs(node)
        if "value" in at:
            return self.nh.to_array(at["value"])
        if "value_float" in at:
            return np.array(at["value_float"], dtype=np.float32)
        if "value_floats" in at:
            return np.array(at["value_floats"], dtype=np.float32)
        if "value_int" in at:
            return np.array(at["value_int"], dtype=np.int64)
        if "value_ints" in at:
            return np.array(at["value_ints"], dtype=np.int64)
        raise self.fail(f"{self.where(node, index)}: unsupported Constant attribute(s) {sorted(at)}")

    def split(self, node, index, ins):
        """(affine, constant, affine_first) for a binary op with one computed and one constant input."""
        if len(ins) != 2 or ins[0] is None or ins[1] is None:
            raise self.fail(f"{self.where(node, index)}: expected two inputs")
        a, c = ins
        if isinstance(a, _Affine) and isinstance(c, np.ndarray):
            return a, self.fconst(node.input[1], c, node, index), True
        if isinstance(c, _Affine) and isinstance(a, np.ndarray):
            return c, self.fconst(node.input[0], a, node, index), False
        if isinstance(a, _Affine):
            return a, c, True  # both computed: the caller decides
        raise self.fail(
            f"{self.where(node, index)}: both inputs are constants (constant subgraphs are not evaluated)"
        )

    def broadcast(self, a: _Affine, c: np.ndarray, node, index) -> tuple[np.ndarray, tuple[int, ...]]:
        """``c`` broadcast to the computed tensor's shape, flattened; the tensor may gain leading 1s."""
        try:
            bshape = tuple(np.broadcast_shapes(a.shape, c.shape))
        except ValueError:
            raise self.fail(
                f"{self.where(node, index)}: constant of shape {c.shape} does not broadcast to the "
                f"tensor of shape {a.shape}"
            ) from None
        if math.prod(bshape) != a.size:
            raise self.fail(
                f"{self.where(node, index)}: constant of shape {c.shape} would enlarge the tensor of "
                f"shape {a.shape} to {bshape}"
            )
        # Equal sizes: broadcasting only prepends/keeps size-1 axes of T, so T's flat order is kept.
        return np.broadcast_to(c, bshape).reshape(-1).copy(), bshape

    # ---- affine operators ----
    def op_Add(self, node, index, ins, at):
        a, c, _ = self.split(node, index, ins)
        if isinstance(c, _Affine):
            return self.add_affine(a, c, node, index)
        cf, shape = self.broadcast(a, c, node, index)
        return a.shift(cf, shape)

    def op_Sub(self, node, index, ins, at):
        a, c, affine_first = self.split(node, index, ins)
        if isinstance(c, _Affine):
            return self.add_affine(a, c.neg(), node, index)
        cf, shape = self.broadcast(a, c, node, index)
        if affine_first:  # T - c
            return a.shift(-cf, shape)
        return a.neg().shift(cf, shape)  # c - T

    def add_affine(self, a: _Affine, c: _Affine, node, index):
        if a.shape != c.shape:
            raise self.fail(
                f"{self.where(node, index)}: tensors of shapes {a.shape} and {c.shape} (shapes differ)"
            )
        return a.plus(c)

    def op_Mul(self, node, index, ins, at):
        a, c, _ = self.split(node, index, ins)
        if isinstance(c, _Affine):
            raise self.fail(f"{self.where(node, index)}: product of two computed tensors is not affine")
        cf, shape = self.broadcast(a, c, node, index)
        return a.scale(cf, shape)

    def op_Div(self, node, index, ins, at):
        a, c, affine_first = self.split(node, index, ins)
        if isinstance(c, _Affine) or not affine_first:
            raise self.fail(f"{self.where(node, index)}: division by a computed tensor is not affine")
        cf, shape = self.broadcast(a, c, node, index)
        if (cf == 0).any():
            raise self.fail(f"{self.where(node, index)}: division by zero (constant {node.input[1]!r})")
        inv = np.empty(cf.shape, dtype=object)
        inv[:] = [1 / Fraction(float(v)) for v in cf]  # exact reciprocal
        return a.scale(inv, shape)

    def op_MatMul(self, node, index, ins, at):
        a, c, affine_first = self.split(node, index, ins)
        if isinstance(c, _Affine):
            raise self.fail(f"{self.where(node, index)}: product of two computed tensors is not affine")
        where = self.where(node, index)
        if affine_first:  # T @ C
            if c.ndim == 1:
                c2, drop = c[:, None], True  # (k,) -> (k, 1); result loses its last axis
            elif c.ndim == 2:
                c2, drop = c, False
            else:
                raise self.fail(f"{where}: weight of shape {c.shape}: only 1-D and 2-D weights are supported")
            k, m = c2.shape
            if not a.shape or a.shape[-1] != k:
                raise self.fail(
                    f"{where}: tensor of shape {a.shape} cannot multiply a weight of shape {c.shape}"
                )
            if math.prod(a.shape[:-1]) != 1:
                raise self.fail(f"{where}: tensor of shape {a.shape} holds several rows (not a vector)")
            shape = a.shape[:-1] if drop else a.shape[:-1] + (m,)
            # flat(T @ C) = C^T flat(T): (m, k)
            return a.lmul(np.ascontiguousarray(c2.T), shape)
        # C @ T
        if c.ndim == 1:
            c2, drop = c[None, :], True  # (k,) -> (1, k); result loses its first axis
        elif c.ndim == 2:
            c2, drop = c, False
        else:
            raise self.fail(f"{where}: weight of shape {c.shape}: only 1-D and 2-D weights are supported")
        m, k = c2.shape
        if a.shape == (k,):
            shape = () if drop else (m,)
        elif len(a.shape) == 2 and a.shape == (k, 1):
            shape = (1,) if drop else (m, 1)
        else:
            raise self.fail(f"{where}: weight of shape {c.shape} cannot multiply a tensor of shape {a.shape}")
        return a.lmul(c2, shape)

    def op_Gemm(self, node, index, ins, at):
        where = self.where(node, index)
        if len(ins) < 2 or ins[0] is None or ins[1] is None:
            raise self.fail(f"{where}: Gemm needs inputs A and B")
        alpha = float(at.get("alpha", 1.0))
        beta = float(at.get("beta", 1.0))
        ta, tb = int(at.get("transA", 0)), int(at.get("transB", 0))
        A, B = ins[0], ins[1]
        C = ins[2] if len(ins) > 2 else None
        if isinstance(A, _Affine) == isinstance(B, _Affine):
            raise self.fail(
                f"{where}: exactly one of A and B must be computed from the input, the other constant"
            )
        if isinstance(A, _Affine):  # Y = alpha * A' B' + beta C, A' (1, k), B' (k, m)
            Bc = self.fconst(node.input[1], B, node, index)
            if Bc.ndim != 2:
                raise self.fail(f"{where}: B must be a matrix, got shape {Bc.shape}")
            Bp = Bc.T if tb else Bc
            k, m = Bp.shape
            want = (k, 1) if ta else (1, k)
            if A.shape != want:
                raise self.fail(
                    f"{where}: A of shape {A.shape} does not match B' of shape {Bp.shape} "
                    f"(expected A of shape {want} with transA={ta})"
                )
            M = _exact_scalar_times(alpha, np.ascontiguousarray(Bp.T))  # (m, k)
            y = A.lmul(M, (1, m))
        else:  # Y = alpha * A' B' + beta C, A' (m, k), B' (k, 1)
            Ac = self.fconst(node.input[0], A, node, index)
            if Ac.ndim != 2:
                raise self.fail(f"{where}: A must be a matrix, got shape {Ac.shape}")
            Ap = Ac.T if ta else Ac
            m, k = Ap.shape
            want = (1, k) if tb else (k, 1)
            if B.shape != want:
                raise self.fail(
                    f"{where}: B of shape {B.shape} does not match A' of shape {Ap.shape} "
                    f"(expected B of shape {want} with transB={tb})"
                )
            M = _exact_scalar_times(alpha, np.ascontiguousarray(Ap))
            y = B.lmul(M, (m, 1))
        if C is None or beta == 0.0:
            return y
        if isinstance(C, _Affine):
            raise self.fail(f"{where}: the bias C must be a constant")
        Cc = self.fconst(node.input[2], C, node, index)
        try:
            cf = np.broadcast_to(Cc, y.shape).reshape(-1).copy()
        except ValueError:
            raise self.fail(f"{where}: C of shape {Cc.shape} does not broadcast to {y.shape}") from None
        return y.shift(_exact_scalar_times(beta, cf), y.shape)

    # ---- activations ----
    def activation(self, node, index, ins, act: Activation, at):
        if len(ins) != 1 or not isinstance(ins[0], _Affine):
            raise self.fail(f"{self.where(node, index)}: expected one input computed from the graph input")
        a = ins[0]
        alpha = 0
        if act.impl.has_alpha:
            # ONNX attributes are float32: the default 0.01 means float32(0.01), as runtimes use it.
            alpha = float(np.float32(at.get("alpha", np.float32(0.01))))
        self.close_layer(a, act, alpha, self.where(node, index))
        return _Affine(len(self.layers), a.shape, a.size)

    # ---- shape operators ----
    def op_Identity(self, node, index, ins, at):
        return ins[0]

    def op_Flatten(self, node, index, ins, at):
        x = ins[0]
        shape = x.shape
        axis = int(at.get("axis", 1))
        if axis < 0:
            axis += len(shape)
        if not 0 <= axis <= len(shape):
            raise self.fail(
                f"{self.where(node, index)}: axis {at.get('axis')} out of range for shape {shape}"
            )
        new = (math.prod(shape[:axis]), math.prod(shape[axis:]))
        return x.reshape(new) if isinstance(x, np.ndarray) else x.reshaped(new)

    def op_Reshape(self, node, index, ins, at):
        x = ins[0]
        where = self.where(node, index)
        if len(ins) > 1 and ins[1] is not None:
            target = ins[1]
            if not isinstance(target, np.ndarray) or target.dtype.kind not in "iu":
                raise self.fail(f"{where}: the target shape must be a constant integer tensor")
            target = [int(v) for v in target.reshape(-1)]
        elif "shape" in at:  # opset < 5
            target = [int(v) for v in at["shape"]]
        else:
            raise self.fail(f"{where}: no target shape")
        shape = x.shape
        allowzero = int(at.get("allowzero", 0))
        new = []
        for i, t in enumerate(target):
            if t == 0 and not allowzero:
                if i >= len(shape):
                    raise self.fail(f"{where}: target {target} copies dimension {i} of shape {shape}")
                new.append(shape[i])
            else:
                new.append(t)
        size = math.prod(shape)
        if new.count(-1) > 1:
            raise self.fail(f"{where}: target shape {target} has more than one -1")
        if -1 in new:
            rest = math.prod(v for v in new if v != -1)
            if rest == 0 or size % rest:
                raise self.fail(f"{where}: cannot reshape {shape} to {target}")
            new[new.index(-1)] = size // rest
        if math.prod(new) != size or any(v < 0 for v in new):
            raise self.fail(f"{where}: cannot reshape {shape} to {target}")
        new_t = tuple(new)
        return x.reshape(new_t) if isinstance(x, np.ndarray) else x.reshaped(new_t)


def network_from_onnx_model(model, path="<model>") -> tuple[list[Layer], int]:
    """The layers of an in-memory ``onnx.ModelProto`` (see the module docstring) and the input dimension.

    Rigorous: as :func:`load_onnx`.
    """
    _, numpy_helper = _import_onnx()
    return _Walker(model, Path(str(path)), numpy_helper).run()


def load_onnx(path) -> Network:
    """Read an ONNX model of fully connected layers (see the module docstring).

    Rigorous: the network computes exactly, in real arithmetic, what the graph computes with the stored
    initialisers (compositions of affine operators are done in rational arithmetic).
    """
    p, data = read_model_bytes(path)
    onnx, numpy_helper = _import_onnx()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # noqa: BLE001  (protobuf raises DecodeError and others)
        raise ModelFormatError(f"{p}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise ModelFormatError(f"{p}: not a readable ONNX model (no graph nodes)")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        from onnx.external_data_helper import load_external_data_for_model

        try:
            load_external_data_for_model(model, str(p.parent))
        except Exception as exc:  # noqa: BLE001
            raise ModelFormatError(f"{p}: cannot read the external tensor data ({exc})") from None
    layers, _ = _Walker(model, p, numpy_helper).run()
    net = build_network(p, layers)
    return with_provenance(net, p, data, "onnx")
