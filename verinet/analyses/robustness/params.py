"""Robustness to parameter perturbations: interval weights (absolute/relative radius, or quantisation).

Mathematics and the verdict rule: :mod:`verinet.analyses.robustness`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from intervals import rounding as R
from intervals.rounding import float_down, float_up, to_fraction
from verinet.analyses.robustness._common import _check_time, _enclose_at, _f, _geometry, _outputs, _s, _vec
from verinet.analyses.robustness.supremum import _bound_search, _status_text
from verinet.analyses.verify import Verdict, approx_value_and_grad
from verinet.bounds.backends import make_backend
from verinet.bounds.gradient import jacobian_from_bounds
from verinet.bounds.norms import canonical_norm, gradient_norm_bounds
from verinet.bounds.propagation import propagate
from verinet.errors import QueryError
from verinet.exactfmt import fraction_to_str
from verinet.network import Activation, Layer, Network
from verinet.region import Region
from verinet.search import Status

QUANT_FORMATS = ("float16", "bfloat16", "int8")


@dataclass(frozen=True, slots=True)
class Perturbation:
    """How the parameters may move: ``kind`` is ``"absolute"`` (``|w' − w| ≤ amount``), ``"relative"``
    (``|w' − w| ≤ amount·|w|``) or ``"quantize"`` (``w'`` between ``w`` and its quantised value in
    ``fmt``: float16 or bfloat16 round to nearest even; int8 is symmetric per tensor,
    ``q = s·round(w/s)`` with ``s = max|w|/127``). ``biases`` says whether biases move too."""

    kind: str
    amount: Fraction | None = None
    fmt: str | None = None
    biases: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("absolute", "relative", "quantize"):
            raise QueryError(f"unknown perturbation {self.kind!r}: use absolute, relative or quantize")
        if self.kind == "quantize":
            if self.fmt not in QUANT_FORMATS:
                raise QueryError(f"unknown quantisation {self.fmt!r}: use {', '.join(QUANT_FORMATS)}")
        elif self.amount is None or to_fraction(self.amount) < 0:
            raise QueryError(f"{self.kind} perturbation needs an amount >= 0")

    @classmethod
    def absolute(cls, a, biases: bool = True) -> Perturbation:
        return cls("absolute", to_fraction(a), None, biases)

    @classmethod
    def relative(cls, r, biases: bool = True) -> Perturbation:
        return cls("relative", to_fraction(r), None, biases)

    @classmethod
    def quantize(cls, fmt: str, biases: bool = True) -> Perturbation:
        return cls("quantize", None, str(fmt).lower(), biases)

    def describe(self) -> str:
        if self.kind == "quantize":
            return f"quantize to {self.fmt}" + ("" if self.biases else " (weights only)")
        return f"{self.kind} {fraction_to_str(self.amount)}" + ("" if self.biases else " (weights only)")


def _quantize_array(w: np.ndarray, fmt: str) -> np.ndarray:
    """Quantised values as an object array of exact Fractions (float16/bfloat16 exact floats)."""
    if fmt == "float16":
        with np.errstate(over="ignore"):
            q = w.astype(np.float16).astype(np.float64)
    elif fmt == "bfloat16":
        _, e = np.frexp(w)  # w = m·2^e, 0.5 ≤ |m| < 1: 8 significant bits of bfloat16
        e = np.maximum(e, -125)  # below 2^-126: the subnormal spacing 2^-133
        q = np.ldexp(np.round(np.ldexp(w, 8 - e)), e - 8)  # np.round: half to even; scalings are exact
        if (np.abs(q) > 3.3895313892515355e38).any():
            q = np.full_like(q, np.inf)
    else:
        s = float(np.max(np.abs(w))) / 127.0 if w.size else 0.0
        if s == 0.0:
            return np.array([Fraction(0)] * w.size, dtype=object).reshape(w.shape)
        k = np.clip(np.round(w / s), -127, 127).astype(np.int64)
        sq = Fraction(s)
        return np.array([sq * int(v) for v in k.reshape(-1)], dtype=object).reshape(w.shape)
    if not np.isfinite(q).all():
        raise QueryError(f"a parameter exceeds the {fmt} range (quantising it gives infinity)")
    return np.array([Fraction(float(v)) for v in q.reshape(-1)], dtype=object).reshape(w.shape)


def quantized_network(network: Network, fmt: str, biases: bool = True) -> Network:
    """The network with weights (and biases) quantised to ``fmt`` (exact values of the quantised numbers).

    Rigorous: the returned weights are exactly the quantised numbers (float16/bfloat16 values, or
    ``s·k`` for int8 with the float scale ``s``).
    """
    layers = []
    for i, L in enumerate(network.layers):
        wq = _quantize_array(L.weight_mid, fmt)
        bq = _quantize_array(L.bias_mid, fmt) if biases else L.bias_exact()
        layers.append(Layer.from_exact(wq, bq, L.activation, L.alpha, name=f"layer {i}"))
    return Network(tuple(layers), network.input_domain, name=f"{network.name}:{fmt}", format=network.format)


def _hull_exact(lo: np.ndarray, hi: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    qlo = np.array([float_down(v) for v in q.reshape(-1)]).reshape(q.shape)
    qhi = np.array([float_up(v) for v in q.reshape(-1)]).reshape(q.shape)
    return np.minimum(lo, qlo), np.maximum(hi, qhi)


def perturbed_network(network: Network, perturbation: Perturbation) -> Network:
    """The family of networks as one network with interval weights and biases (float64 backend only).

    Rigorous: every weight (bias) of every member of the family lies in ``[weight_lo, weight_hi]``
    (``[bias_lo, bias_hi]``), including the original and, for quantisation, the quantised network.
    The layers carry no exact weights (``weight_q``): analyse the family with the float64 backend.
    """
    p = perturbation
    layers = []
    for L in network.layers:
        def widen(lo, hi, mid, move):
            if not move:
                return lo, hi
            if p.kind == "quantize":
                return _hull_exact(lo, hi, _quantize_array(mid, p.fmt))
            if p.kind == "absolute":
                a = float_up(p.amount)
                return R.sub_down(lo, a), R.add_up(hi, a)
            mag = np.maximum(np.abs(lo), np.abs(hi))
            r = R.mul_up(mag, float_up(p.amount))
            return R.sub_down(lo, r), R.add_up(hi, r)

        wlo, whi = widen(L.weight_lo, L.weight_hi, L.weight_mid, True)
        blo, bhi = widen(L.bias_lo, L.bias_hi, L.bias_mid, p.biases)
        layers.append(Layer(np.asarray(wlo, dtype=np.float64), np.asarray(whi, dtype=np.float64),
                            np.asarray(blo, dtype=np.float64), np.asarray(bhi, dtype=np.float64),
                            L.activation, L.alpha, None, None))
    return Network(tuple(layers), network.input_domain, name=f"{network.name}:family", format=network.format)


@dataclass(frozen=True, slots=True)
class ParamResult:
    """Effect of a parameter perturbation on a domain.

    Attributes
    ----------
    verdict : Verdict or None
        For ``epsilon`` given: VERIFIED when ``change_upper ≤ ε``; FALSIFIED when a point shows
        ``|f_q(x) − f(x)| > ε`` for the quantised network exactly; None when no ``epsilon`` was asked.
    change_upper : float
        Rigorous upper bound of ``sup_x sup_θ' |f_θ'(x) − f_θ(x)|`` over the domain and the family.
    change_lower : float
        Rigorous lower bound of that supremum from the quantised network at sample points (0 otherwise).
    lipschitz_upper : float or None
        Upper bound of the Lipschitz constant of every member of the family on the domain.
    status : Status
        Why the search for ``change_upper`` stopped (:class:`verinet.search.Status`; the JSON writes
        ``"timeout"`` for a time limit, :attr:`status_text`).
    """

    verdict: Verdict | None
    perturbation: Perturbation
    epsilon: Fraction | None
    outputs: tuple[int, ...]
    change_upper: float
    change_lower: float
    lipschitz_upper: float | None
    status: Status
    x: tuple | None = None
    values: tuple | None = None
    boxes: int = 0
    seconds: float = 0.0

    @property
    def status_text(self) -> str:
        """The status as the JSON output and the CLI write it."""
        return _status_text(self.status)

    def to_json(self) -> dict:
        return {
            "verdict": None if self.verdict is None else self.verdict.value,
            "perturbation": self.perturbation.describe(),
            "epsilon": _s(self.epsilon),
            "outputs": list(self.outputs),
            "change_upper": _f(self.change_upper),
            "change_upper_exact": _s(self.change_upper),
            "change_lower": _f(self.change_lower),
            "lipschitz_upper": _f(self.lipschitz_upper),
            "status": self.status_text,
            "counterexample": None if self.x is None else {"x": _vec(self.x), "f": _vec(self.values[0]),
                                                           "f_quantized": _vec(self.values[1])},
            "boxes": self.boxes,
            "seconds": round(self.seconds, 6),
        }


class _ChangeBound:
    """Upper bounds of ``|f_θ'(x) − f_θ(x)|`` per box and output (B, m), for every ``θ'`` of the family.

    Two sound bounds, the smaller is kept:

    * ranges: ``max(P.hi − O.lo, O.hi − P.lo)`` with ``P``/``O`` the family/original output enclosures;
    * differences (in the style of ReluDiff, Paulsen, Wang & Wang, ICSE 2020): with ``Δa = a' − a``,
      ``Δz_k = W'_k Δa_{k−1} + (W'_k − W_k) a_{k−1} + (b'_k − b_k)`` exactly, so
      ``Δz_k ∈ [W'_k]·[Δa] + [W'_k − W_k]·A_{k−1} + [b'_k − b_k]``; and ``σ(z') − σ(z) = s·Δz`` with ``s`` a
      Clarke derivative at a point between ``z`` and ``z'`` (mean value theorem; secant slopes of ReLU lie
      in ``[0, 1]``), so ``Δa_k ∈ σ'(hull(Z_k, Z'_k))·Δz_k``. This bound scales with the perturbation, not
      with the width of the box.
    """

    def __init__(self, network: Network, family: Network) -> None:
        self.net_b = make_backend(network)
        self.fam_b = make_backend(family)
        delta = []
        for L, F in zip(network.layers, family.layers):
            delta.append(Layer(R.sub_down(F.weight_lo, L.weight_hi), R.sub_up(F.weight_hi, L.weight_lo),
                               R.sub_down(F.bias_lo, L.bias_hi), R.sub_up(F.bias_hi, L.bias_lo),
                               Activation.IDENTITY, Fraction(0), None, None))
        self.delta_b = make_backend(Network(tuple(delta), name="parameter-difference"))
        # every member equals the original (e.g. quantising exactly representable weights): no change at all
        self.identical = all(not (D.weight_lo.any() or D.weight_hi.any() or D.bias_lo.any() or D.bias_hi.any())
                             for D in delta)

    def __call__(self, L: np.ndarray, H: np.ndarray) -> np.ndarray:
        nb, fb, db = self.net_b, self.fam_b, self.delta_b
        if self.identical:
            return np.zeros((len(L), nb.network.n_outputs))
        O = propagate(nb, nb.box(L, H))
        P = propagate(fb, fb.box(L, H))
        ranges = np.maximum(R.sub_up(P.output.hi, O.output.lo), R.sub_up(O.output.hi, P.output.lo))
        a = nb.box(L, H)  # A_{k-1}: enclosure of the original activations
        da = None  # Δa_0 = 0: both networks see the same x
        for k in range(len(nb.network.layers)):
            dz = db.affine(k, a)  # (W' − W) a + (b' − b)
            if da is not None:
                dz = dz + fb.linear(k, da)  # + W' Δa
            z, zf = O.pre[k], P.pre[k]
            hull = type(z).unchecked(np.minimum(z.lo, zf.lo), np.maximum(z.hi, zf.hi))
            da = nb.chain(k, dz, hull)
            a = nb.activate(k, z)
        diffs = np.maximum(np.abs(da.lo), np.abs(da.hi))
        return np.minimum(ranges, diffs)


def _family_lipschitz(family, region, norm, outs, deadline, max_boxes) -> float:
    backend = make_backend(family)
    lo0, hi0 = region.outer_box()

    def evaluate(L, H):
        bounds = propagate(backend, backend.box(L, H))
        J = backend.to_float(jacobian_from_bounds(backend, bounds))
        up = np.zeros(len(L))
        for k in outs:
            up = np.maximum(up, gradient_norm_bounds(J[:, k, :], norm)[1])
        return up, J[:, list(outs), :].mag().max(axis=1)

    return _bound_search(evaluate, lo0, hi0, threshold=None, deadline=deadline, max_boxes=max_boxes,
                         tol=1e-2).upper


def parameter_robustness(
    network: Network,
    domain: Region | None,
    *,
    perturbation: Perturbation,
    epsilon=None,
    norm="inf",
    output: int | None = None,
    time_limit: float = 30.0,
    max_boxes: int | None = 100_000,
    lipschitz: bool = True,
    seed: int = 0,
    progress: Callable[[dict], None] | None = None,
) -> ParamResult:
    """Bound the output change (and the Lipschitz constant) under a parameter perturbation.

    Parameters
    ----------
    domain : Region, optional
        Inputs considered (the network's input domain when None).
    perturbation : Perturbation
    epsilon : number, optional
        The question "does the perturbation keep every output within ε of the original?".

    Rigorous: ``change_upper`` bounds ``|f_θ'(x) − f_θ(x)|`` for every ``x`` in the domain and every
    ``θ'`` of the family; ``lipschitz_upper`` bounds the Lipschitz constant of every member; a FALSIFIED
    point is checked exactly for the quantised network.
    """
    t0 = time.perf_counter()
    time_limit = _check_time(time_limit)
    norm = canonical_norm(norm)
    region = Region.from_domain(network) if domain is None else domain
    region.check_dim(network.n_inputs)
    eps = None if epsilon is None else to_fraction(epsilon)
    if eps is not None and eps < 0:
        raise QueryError(f"epsilon must be >= 0, got {epsilon}")
    outs = _outputs(network, output)
    deadline = t0 + time_limit
    family = perturbed_network(network, perturbation)
    qnet = quantized_network(network, perturbation.fmt, perturbation.biases) if perturbation.kind == "quantize" else None
    geom = _geometry(region)
    rng = np.random.default_rng(seed)
    best = [Fraction(0), None]  # rigorous lower bound of the change, its point and values

    def probe(X) -> tuple | None:
        """Exact change at points (quantised network); a confirmed violation of ε ends the search."""
        if qnet is None:
            return None
        fq = qnet.approx_evaluate(X)[:, list(outs)]
        f0 = network.approx_evaluate(X)[:, list(outs)]
        gap = np.abs(fq - f0).max(axis=1)
        for i in np.argsort(-gap)[:2]:
            x = geom.exact_point(X[i])
            if x is None or not region.contains(x):
                continue
            al, ah = _enclose_at(network, x)
            bl, bh = _enclose_at(qnet, x)
            low = max(max(bl[k] - ah[k], al[k] - bh[k]) for k in outs)
            if low > best[0]:
                best[0] = low
                mid = (lambda lo, hi: tuple(lo) if network.piecewise_linear else
                       tuple((a + b) / 2 for a, b in zip(lo, hi)))
                best[1] = (x, (mid(al, ah), mid(bl, bh)))
            if eps is not None and low > eps:
                return best[1]
        return None

    found = None
    if qnet is not None:
        for _ in range(8):
            X = geom.sample(rng, 256)
            for t in range(10):
                found = probe(X)
                if found is not None or time.perf_counter() > t0 + 0.15 * time_limit:
                    break
                f0, g0 = approx_value_and_grad(network, X, np.full(len(X), outs[0]))
                fq, gq = approx_value_and_grad(qnet, X, np.full(len(X), outs[0]))
                sgn = np.sign(fq[:, outs[0]] - f0[:, outs[0]])[:, None]
                X = geom.project(geom.step(X, -(gq - g0) * sgn, 0.05))
            if found is not None or time.perf_counter() > t0 + 0.15 * time_limit:
                break
    if found is not None:
        x, vals = found
        return ParamResult(Verdict.FALSIFIED, perturbation, eps, outs, math.inf, float_down(best[0]), None,
                           Status.FALSIFIED, x, vals, 0, time.perf_counter() - t0)

    change = _ChangeBound(network, family)

    def evaluate(L, H):
        ch = change(L, H)[:, list(outs)].max(axis=1)
        return ch, np.ones(L.shape)

    lo0, hi0 = region.outer_box()
    share = deadline if not lipschitz else t0 + 0.6 * time_limit
    threshold = None if eps is None else float_down(eps)
    out = _bound_search(evaluate, lo0, hi0, threshold=threshold, deadline=share, max_boxes=max_boxes,
                        lower=float(best[0]), tol=1e-2, progress=progress, t0=t0)
    lip = _family_lipschitz(family, region, norm, outs, deadline, max_boxes) if lipschitz else None
    verdict = None
    if eps is not None:
        if Fraction(out.upper) <= eps:
            verdict = Verdict.VERIFIED
        else:
            verdict = Verdict.TIMEOUT if out.status is Status.TIME_LIMIT else Verdict.UNKNOWN
    return ParamResult(verdict, perturbation, eps, outs, out.upper, float_down(best[0]), lip, out.status,
                       best[1][0] if best[1] else None, best[1][1] if best[1] else None, out.boxes,
                       time.perf_counter() - t0)
