"""Feed-forward networks as immutable values: affine layers, each followed by an activation.

Semantics (what every bound in verinet is about): layer ``k`` maps ``a_{k-1}`` to
``a_k = σ_k(W_k a_{k-1} + b_k)`` in exact real arithmetic, with ``W_k`` and ``b_k`` the numbers *as
written in the model file*. A float32/float64 tensor is an exact binary number; a decimal string such
as ``"0.1"`` is the exact decimal. Each layer therefore keeps

* ``weight_lo/weight_hi`` and ``bias_lo/bias_hi``: the tightest float64 enclosures (equal when the file's
  numbers are floats), used by the fast float64 backend;
* ``weight_q/bias_q``: the exact rationals when they are not floats (``None`` otherwise), used by the
  mp backend, the exact evaluator and the certificate checker (built from the decimal strings on first
  use when the layer was read by a text loader).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

import numpy as np

from intervals.rounding import float_down, float_up, to_fraction

__all__ = ["Activation", "Layer", "Network", "InputDomain"]


class Activation(enum.Enum):
    """Activation applied after an affine layer."""

    IDENTITY = "identity"
    RELU = "relu"
    LEAKY_RELU = "leaky_relu"
    SIGMOID = "sigmoid"
    TANH = "tanh"

    @property
    def impl(self):
        """The :class:`verinet.activations.ActivationFn` implementing this activation."""
        from verinet.activations import activation_of  # it imports this module

        return activation_of(self)

    @property
    def piecewise_linear(self) -> bool:
        """True for activations whose exact value at a rational point is rational."""
        return self.impl.piecewise_linear


def _fraction_array(values, what: str) -> np.ndarray:
    """Object array of exact Fractions from numbers or decimal strings; clear error on NaN/inf/garbage."""
    arr = np.asarray(values, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    flat_in = arr.reshape(-1)
    flat_out = out.reshape(-1)
    for i, v in enumerate(flat_in):
        try:
            flat_out[i] = to_fraction(v)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{what}: entry {np.unravel_index(i, arr.shape)} is invalid ({exc})") from None
    return out


def _enclose(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tightest float64 enclosure ``lo <= q <= hi`` of an object array of Fractions."""
    lo = np.array([float_down(v) for v in q.reshape(-1)], dtype=np.float64).reshape(q.shape)
    hi = np.array([float_up(v) for v in q.reshape(-1)], dtype=np.float64).reshape(q.shape)
    return lo, hi


def _check_float(a: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{what}: expected a numeric array, got dtype {a.dtype}")
    f = a.astype(np.float64)  # float16/32 -> float64 is exact; integers only below 2**53
    if a.dtype.kind in "iu":
        big = np.abs(f) >= 2.0**53
        if big.any() and any(int(x) != int(y) for x, y in zip(f[big].tolist(), a[big].tolist())):
            raise ValueError(f"{what}: an integer entry is not exactly representable as a float64")
    a = f
    bad = ~np.isfinite(a)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{what}: entry {idx} is {a[idx]} (NaN and infinite weights are not allowed)")
    return np.ascontiguousarray(a)


class ExactText:
    """Exact decimal strings of an array, turned into Fractions on request: a numpy bytes array, or
    ``(blob, shape)`` with the strings of the flattened array joined by ``,`` (compact, from the JSON reader)."""

    __slots__ = ("text",)

    def __init__(self, text) -> None:
        self.text = text

    def fractions(self) -> np.ndarray:
        if isinstance(self.text, tuple):
            blob, shape = self.text
            strings = blob.split(b",")
        else:
            shape, strings = self.text.shape, self.text.reshape(-1).tolist()
        out = np.empty(shape, dtype=object)
        flat = out.reshape(-1)
        for i, s in enumerate(strings):
            flat[i] = Fraction(s.decode("ascii"))
        return out

    def __getstate__(self):
        return self.text

    def __setstate__(self, state) -> None:
        self.text = state


@dataclass(frozen=True, eq=False)
class Layer:
    """One affine map followed by an activation: ``a = σ(W x + b)``.

    Build it with :meth:`from_floats` (exact binary numbers) or :meth:`from_exact` (decimals or
    Fractions); the constructor itself does not validate.
    """

    weight_lo: np.ndarray
    weight_hi: np.ndarray
    bias_lo: np.ndarray
    bias_hi: np.ndarray
    activation: Activation = Activation.RELU
    alpha: Fraction = Fraction(0)
    # exact rationals when the numbers are not all floats (None otherwise): an object array of Fractions,
    # or the decimal strings they come from (converted on first use: millions of Fractions cost seconds
    # and hundreds of MB, and only the mp backend and exact evaluation need them)
    _weight_q: np.ndarray | ExactText | None = None
    _bias_q: np.ndarray | ExactText | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_floats(
        cls, weight, bias, activation: Activation = Activation.RELU, alpha=0, *, name: str = "layer"
    ) -> "Layer":
        """A layer whose weights are exactly the given binary floats (float16/32/64 tensors)."""
        w = _check_float(weight, f"{name} weight")
        b = _check_float(bias, f"{name} bias")
        _check_shapes(w, b, name)
        return cls(w, w, b, b, Activation(activation), _alpha(activation, alpha, name))

    @classmethod
    def from_exact(
        cls, weight, bias, activation: Activation = Activation.RELU, alpha=0, *, name: str = "layer"
    ) -> "Layer":
        """A layer whose weights are exact rationals (Fractions, ints, floats or decimal strings)."""
        wq = _fraction_array(weight, f"{name} weight")
        bq = _fraction_array(bias, f"{name} bias")
        _check_shapes(wq, bq, name)
        wlo, whi = _enclose(wq)
        blo, bhi = _enclose(bq)
        exact_w = bool(np.array_equal(wlo, whi))
        exact_b = bool(np.array_equal(blo, bhi))
        return cls(
            wlo,
            whi,
            blo,
            bhi,
            Activation(activation),
            _alpha(activation, alpha, name),
            None if exact_w else wq,
            None if exact_b else bq,
        )

    @classmethod
    def from_enclosure(cls, weight_lo, weight_hi, bias_lo, bias_hi, weight_text: np.ndarray, bias_text: np.ndarray,
                       activation: Activation = Activation.RELU, alpha=0, *, name: str = "layer") -> "Layer":
        """A layer from the tightest float64 enclosures of exact decimals and the decimal strings themselves
        (bytes arrays of the same shapes, or ``(b"d,d,…", shape)``; see :mod:`verinet.io.decimals`)."""
        _check_shapes(weight_lo, bias_lo, name)
        exact_w = bool(np.array_equal(weight_lo, weight_hi))
        exact_b = bool(np.array_equal(bias_lo, bias_hi))
        return cls(weight_lo, weight_hi, bias_lo, bias_hi, Activation(activation), _alpha(activation, alpha, name),
                   None if exact_w else ExactText(weight_text), None if exact_b else ExactText(bias_text))

    # ------------------------------------------------------------------ views
    @property
    def weight_q(self) -> np.ndarray | None:
        """Exact weights (object array of Fractions) when they are not all floats, else None."""
        return self._materialise("_weight_q")

    @property
    def bias_q(self) -> np.ndarray | None:
        """Exact biases (object array of Fractions) when they are not all floats, else None."""
        return self._materialise("_bias_q")

    @property
    def has_exact_weights(self) -> bool:
        """True when the exact weights and biases are known (floats, or rationals): not an interval family."""
        return ((self._weight_q is not None or np.array_equal(self.weight_lo, self.weight_hi))
                and (self._bias_q is not None or np.array_equal(self.bias_lo, self.bias_hi)))

    def _materialise(self, attr: str):
        value = getattr(self, attr)
        if isinstance(value, ExactText):
            value = value.fractions()
            object.__setattr__(self, attr, value)  # a cache: the layer's meaning does not change
        return value

    @property
    def n_in(self) -> int:
        return int(self.weight_lo.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight_lo.shape[0])

    @property
    def is_float_exact(self) -> bool:
        """True when every weight and bias is exactly a float64 (point matrices in the float backend)."""
        return self._weight_q is None and self._bias_q is None

    @property
    def weight_mid(self) -> np.ndarray:
        """Float64 weights for approximate (non-rigorous) evaluation."""
        return self.weight_lo if self._weight_q is None else 0.5 * self.weight_lo + 0.5 * self.weight_hi

    @property
    def bias_mid(self) -> np.ndarray:
        return self.bias_lo if self._bias_q is None else 0.5 * self.bias_lo + 0.5 * self.bias_hi

    def weight_exact(self) -> np.ndarray:
        """Exact weights as an object array of Fractions."""
        if self.weight_q is not None:
            return self.weight_q
        return _fraction_array(self.weight_lo, "weight")

    def bias_exact(self) -> np.ndarray:
        """Exact biases as an object array of Fractions."""
        if self.bias_q is not None:
            return self.bias_q
        return _fraction_array(self.bias_lo, "bias")


def _alpha(activation, alpha, name) -> Fraction:
    act = Activation(activation)
    a = to_fraction(alpha)
    if act.impl.has_alpha and not (0 <= a <= 1):
        raise ValueError(f"{name}: leaky ReLU slope must be in [0, 1], got {alpha}")
    return a if act.impl.has_alpha else Fraction(0)


def _check_shapes(w: np.ndarray, b: np.ndarray, name: str) -> None:
    if w.ndim != 2:
        raise ValueError(f"{name}: weight must be a matrix, got shape {w.shape}")
    if b.ndim != 1 or b.shape[0] != w.shape[0]:
        raise ValueError(f"{name}: bias shape {b.shape} does not match weight shape {w.shape}")
    if w.shape[0] == 0 or w.shape[1] == 0:
        raise ValueError(f"{name}: empty weight matrix {w.shape}")


@dataclass(frozen=True)
class InputDomain:
    """A box of inputs given by exact rational bounds (e.g. the clamping ranges of a ``.nnet`` file)."""

    lower: tuple[Fraction, ...]
    upper: tuple[Fraction, ...]

    def __post_init__(self) -> None:
        if len(self.lower) != len(self.upper):
            raise ValueError("input domain: lower and upper have different lengths")
        for i, (a, b) in enumerate(zip(self.lower, self.upper)):
            if a > b:
                raise ValueError(f"input domain: lower[{i}] = {a} > upper[{i}] = {b}")

    @classmethod
    def from_values(cls, lower: Sequence, upper: Sequence) -> "InputDomain":
        return cls(tuple(to_fraction(v) for v in lower), tuple(to_fraction(v) for v in upper))


@dataclass(frozen=True, eq=False)
class Network:
    """A feed-forward network: ``layers[k]`` is applied to the output of ``layers[k-1]``.

    Attributes
    ----------
    layers : tuple of Layer
    input_domain : InputDomain or None
        The box on which the network is meant to be analysed (``.nnet`` files carry one).
    name, format, source, sha256 : str or None
        Provenance: a certificate names the model file by its SHA-256.
    """

    layers: tuple[Layer, ...]
    input_domain: InputDomain | None = None
    name: str = "network"
    format: str = "python"
    source: str | None = None
    sha256: str | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("network has no layers")
        for k in range(1, len(self.layers)):
            if self.layers[k].n_in != self.layers[k - 1].n_out:
                raise ValueError(
                    f"layer {k} expects {self.layers[k].n_in} inputs but layer {k - 1} "
                    f"produces {self.layers[k - 1].n_out} (shapes do not chain)"
                )
        if self.input_domain is not None and len(self.input_domain.lower) != self.n_inputs:
            raise ValueError(
                f"input domain has {len(self.input_domain.lower)} coordinates, network has {self.n_inputs} inputs"
            )

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @property
    def n_parameters(self) -> int:
        return sum(L.n_in * L.n_out + L.n_out for L in self.layers)

    @property
    def is_float_exact(self) -> bool:
        return all(L.is_float_exact for L in self.layers)

    @property
    def piecewise_linear(self) -> bool:
        return all(L.activation.piecewise_linear for L in self.layers)

    def describe(self) -> str:
        """One line per layer: ``in -> out  activation``."""
        return "\n".join(
            f"layer {k}: {L.n_in} -> {L.n_out}  {L.activation.value}"
            + (f"(alpha={L.alpha})" if L.activation.impl.has_alpha else "")
            for k, L in enumerate(self.layers)
        )

    # ------------------------------------------------------------------ evaluation
    def approx_evaluate(self, x) -> np.ndarray:
        """Non-rigorous float64 evaluation (for search heuristics only). ``x``: shape (n,) or (B, n)."""
        a = np.asarray(x, dtype=np.float64)
        for L in self.layers:
            a = a @ L.weight_mid.T + L.bias_mid
            a = _approx_activation(L, a)
        return a

    def evaluate_exact(self, x, *, deadline: float | None = None) -> list[Fraction]:
        """Exact rational output at a rational point (piecewise-linear activations only).

        ``x`` entries may be ints, floats (their exact binary value), Fractions or decimal strings.
        Computed with integer numerators over common denominators (:mod:`verinet.bounds.exact_eval`).
        ``deadline`` (a ``time.perf_counter()`` value), checked between layers: past it
        :class:`verinet.bounds.exact_eval.ExactEvaluationTimeout` is raised instead of a result.
        """
        if not self.piecewise_linear:
            raise ValueError("exact evaluation needs piecewise-linear activations; use a rigorous enclosure")
        from verinet.bounds.exact_eval import evaluate_exact

        return evaluate_exact(self, x, deadline=deadline)


def _approx_activation(L: Layer, z: np.ndarray) -> np.ndarray:
    """Float value of the activation at ``z`` (heuristics only)."""
    return L.activation.impl.value(z, float(L.alpha))


def _approx_derivative(L: Layer, z: np.ndarray) -> np.ndarray:
    """Float derivative of the activation at ``z`` (one subgradient, 1 at a kink's right; heuristics only)."""
    return L.activation.impl.derivative(z, float(L.alpha))


def approx_value_and_grad(network: "Network", X: np.ndarray, rows) -> tuple[np.ndarray, np.ndarray]:
    """Non-rigorous float64 outputs ``f(X)`` (B, m) and gradients of ``Σ_j coef[b, j] f_j`` at ``X[b]`` (B, n).

    ``rows`` gives ``coef``: an int array (B,) of output indices (one-hot rows), a float array (B, m), or a
    callable mapping the outputs ``f(X)`` to such a float array (coefficients chosen after the forward pass).
    For search heuristics only (one subgradient is picked at kinks).
    """
    a = np.asarray(X, dtype=np.float64)
    pre = []
    with np.errstate(over="ignore", invalid="ignore"):
        for L in network.layers:
            z = a @ L.weight_mid.T + L.bias_mid
            pre.append(z)
            a = _approx_activation(L, z)
        rows = rows(a) if callable(rows) else np.asarray(rows)
        if rows.ndim == 1:
            g = np.zeros(a.shape)
            g[np.arange(len(rows)), rows] = 1.0
        else:
            g = np.array(rows, dtype=np.float64)
        for L, z in zip(reversed(network.layers), reversed(pre)):
            g = (g * _approx_derivative(L, z)) @ L.weight_mid  # (B, n_out) @ (n_out, n_in) -> (B, n_in)
    return a, g
