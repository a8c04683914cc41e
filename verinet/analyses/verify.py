"""Deciding linear output specifications over input regions, and VNN-LIB properties.

A *specification* is an unsafe set over the outputs, given as a disjunction of conjunctions of
halfspaces ``c·y ≤ d`` (``<`` when strict), on an input region (a box or a norm ball). The question is
whether some input of the region has an unsafe output (VNN-COMP ``sat``) or none has (``unsat``).

Proof (input splitting, as in Wang et al., "Formal security analysis of neural networks using symbolic
intervals" (ReluVal, USENIX Security 2018), §4): the constraints are folded into the network as one
exact affine layer ``z = C f(x) − d`` (merged with a final identity layer in exact rational arithmetic, so
margins such as ``y₀ − y₁`` are enclosed directly, without the dependency loss of subtracting two output
intervals). Over a box ``B`` a conjunction is *impossible* when one of its atoms is: ``min_B z_i > 0``
(``≥ 0`` for a strict atom), read off the rigorous lower end of an enclosure of ``z_i`` over ``B``: sound
linear back-substitution (CROWN/DeepPoly, :func:`verinet.bounds.linear.linear_propagate`) when available, else
interval bound propagation (:func:`verinet.bounds.propagation.propagate`). A box is closed when every
conjunction is impossible; open boxes are split in two (best-first on the worst margin, on the coordinate
of largest width × |approximate gradient|, sampled at a few points of the box). The boxes always cover
the region (children cover their parent; a box is dropped only when proved disjoint from an l2/l1 ball
with directed rounding), so "all boxes closed" is a proof.

Falsification: random points and projected-gradient descent (approximate float64 gradients) on every
disjunct (:func:`verinet.analyses.attack.pgd_attack`) from many starts — random points, the minimisers of the linear
lower bounds, the centres of the boxes being split — first and interleaved with the splitting.
A candidate is only reported after the caller's *confirm* function re-checks it with exact (rational)
arithmetic or a rigorous point enclosure.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from intervals import rounding as R
from intervals.array import IntervalArray
from intervals.rounding import float_down, float_nearest, float_up, to_fraction
from verinet.bounds.alpha import SlopeTightener as _SlopeBounds
from verinet.analyses.attack import pgd_attack
from verinet.bounds.backends import make_backend
from verinet.errors import QueryError
from verinet.bounds.exact_eval import ExactEvaluationTimeout
from verinet.exactfmt import fraction_to_str
from verinet.bounds.linear import linear_propagate, linear_propagate_fixed
from verinet.network import Activation, Layer, Network, approx_value_and_grad
from verinet.bounds.norms import sum_down
from verinet.bounds.propagation import clamp_signs, kinked_layout, output_bounds, per_layer_signs, propagate, propagate_fixed
from verinet.io.vnnlib import VnnlibProperty, format_counterexample

__all__ = ["BallGeometry", "BoxGeometry", "OutputSpec", "SearchOutcome", "Verdict", "VerifyResult",
           "approx_random_attack", "approx_value_and_grad", "build_spec", "search_spec", "verify_vnnlib"]

log = logging.getLogger(__name__)

#: merge the constraint rows into the last layer when the exact product costs at most this many products
_MERGE_LIMIT = 400_000

#: a box with at most this many free unstable ReLUs is split on a neuron's sign rather than a coordinate
NEURON_SPLIT_UNSTABLE = 2

#: memory for the slopes and multipliers kept as warm starts by the open boxes (optimised slopes only);
#: beyond it new boxes start cold
WARM_START_BYTES = 768 * 2**20


class Verdict(enum.Enum):
    """Outcome of a decision: a proof, a rigorously confirmed counterexample, or neither."""

    VERIFIED = "verified"
    FALSIFIED = "falsified"
    UNKNOWN = "unknown"
    TIMEOUT = "timeout"


# --------------------------------------------------------------------------------------------------
# specifications


@dataclass(frozen=True, eq=False, slots=True)
class OutputSpec:
    """Unsafe set ``∃ conj ∀ i ∈ conj: z_i ≤ 0`` (``< 0`` when ``strict[i]``) with ``z = C f(x) − d``.

    ``network`` computes ``z`` (exactly: built from ``C``, ``d`` and the original weights in rational
    arithmetic); ``C``, ``d`` are the exact coefficients (object arrays of Fractions).
    """

    network: Network
    conjunctions: tuple[tuple[int, ...], ...]
    strict: tuple[bool, ...]
    C: np.ndarray = field(repr=False)
    d: np.ndarray = field(repr=False)

    @property
    def n_atoms(self) -> int:
        return len(self.strict)

    def approx_scores(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``s = min_conj max_{i∈conj} z_i`` (B,) (``s ≤ 0`` suggests unsafe) and the bottleneck atom (B,)."""
        best = np.full(Z.shape[0], np.inf)
        atom = np.zeros(Z.shape[0], dtype=np.int64)
        for conj in self.conjunctions:
            if not conj:  # an empty conjunction: every output is unsafe
                best[:] = -np.inf
                continue
            sub = Z[:, list(conj)]
            j = np.argmax(sub, axis=1)
            v = sub[np.arange(len(sub)), j]
            better = v < best
            best = np.where(better, v, best)
            atom = np.where(better, np.asarray(conj)[j], atom)
        return best, atom

    def unsafe_exact(self, z: Sequence[Fraction]) -> bool:
        """Whether exact atom values ``z`` satisfy the unsafe condition.

        Rigorous: decided exactly (rational comparisons).
        """
        def holds(i):
            return z[i] < 0 if self.strict[i] else z[i] <= 0
        return any(all(holds(i) for i in conj) for conj in self.conjunctions)

    def atoms_exact(self, y: Sequence[Fraction]) -> list[Fraction]:
        """Exact ``z = C y − d`` from exact outputs ``y``.

        Rigorous: exact rational arithmetic.
        """
        return [sum((c * v for c, v in zip(row, y) if c), Fraction(0)) - di for row, di in zip(self.C, self.d)]


def build_spec(network: Network, coef, rhs, conjunctions, strict) -> OutputSpec:
    """The specification network ``z = C f(x) − d`` (exact rational weights) and its DNF structure.

    Parameters
    ----------
    coef : (k, m) nested sequence of exact numbers (Fractions, ints, decimal strings)
    rhs : (k,) exact numbers
    conjunctions : sequence of sequences of atom indices
    strict : (k,) bools

    Rigorous: the returned network computes ``C f(x) − d`` exactly in real arithmetic (the constraint
    rows are multiplied into a final identity layer with Fractions; the float64 backend then uses the
    tightest float enclosure of each product).
    """
    C = np.array([[to_fraction(v) for v in row] for row in coef], dtype=object).reshape(len(coef), -1)
    d = np.array([to_fraction(v) for v in rhs], dtype=object)
    if C.shape[1] != network.n_outputs:
        raise QueryError(f"specification has {C.shape[1]} output coefficients, the network has "
                         f"{network.n_outputs} outputs")
    if C.shape[0] == 0:  # no atoms at all: keep one dummy row so the network is well formed
        C = np.zeros((1, network.n_outputs), dtype=object) + Fraction(0)
        d = np.array([Fraction(-1)], dtype=object)
    last = network.layers[-1]
    merge = last.activation is Activation.IDENTITY and C.size * last.n_in <= _MERGE_LIMIT
    if merge:
        W = C.dot(last.weight_exact())  # exact: object arrays of Fractions
        b = C.dot(last.bias_exact()) - d
        layers = network.layers[:-1] + (Layer.from_exact(W, b, Activation.IDENTITY, name="specification"),)
    else:
        layers = network.layers + (Layer.from_exact(C, -d, Activation.IDENTITY, name="specification"),)
    spec_net = Network(layers, network.input_domain, name=f"{network.name}:spec", format=network.format,
                       source=network.source, sha256=network.sha256)
    conj = tuple(tuple(int(i) for i in c) for c in conjunctions)
    return OutputSpec(spec_net, conj, tuple(bool(s) for s in strict), C, d)


# --------------------------------------------------------------------------------------------------
# bounds over batches of boxes


class _Enclosure:
    """Rigorous output enclosures over batches of boxes, or over their parts with fixed neuron signs.

    ``method``: ``"linear"`` — sound CROWN/DeepPoly back-substitution (:mod:`verinet.bounds.linear`, itself
    intersected with interval propagation); ``"ibp"`` — interval bound propagation
    (:mod:`verinet.bounds.propagation`); ``"auto"`` — linear. Neuron signs are given flat (B, H) over the
    ``H`` ReLU / leaky-ReLU neurons in layer order (``kinked`` lists ``(layer, offset, width)``).
    """

    def __init__(self, network: Network, method: str, conjunctions=None) -> None:
        if method not in ("auto", "linear", "ibp", "alpha"):
            raise QueryError(f"unknown bound method {method!r}: use auto, linear, alpha or ibp")
        self.network = network
        self.backend = make_backend(network)
        self.linear = method != "ibp"
        self.slopes = _SlopeBounds.wanted(network, method, conjunctions)
        self.kinked, self.n_kinked = kinked_layout(network)
        # influence of a neuron on the next layer: the l1 norm of its column of outgoing weights
        layers = network.layers
        self.influence = np.concatenate(
            [np.abs(layers[k + 1].weight_mid).sum(axis=0) if k + 1 < len(layers) else np.ones(n)
             for k, _, n in self.kinked]) if self.kinked else np.zeros(0)

    def __call__(self, L: np.ndarray, H: np.ndarray, F: np.ndarray | None = None, parent=None, same=None):
        """``(pre-activations, output, infeasible (B,))`` over the boxes (parts when ``F`` is given).

        ``parent``: optional ``(lo, hi)`` lists (one (B, n_k) array per layer, the output last) of enclosures
        valid on a set containing each box's part (its parent's); they are intersected in, so a child is
        never looser than its parent (with optimised slopes only; an empty intersection proves the part
        empty). ``same`` (B,) bool: parts that are their parent's part cut by one more sign constraint (a
        neuron split, same box); with optimised slopes their hidden-layer enclosures are the parent's,
        clamped to the signs of ``F`` (valid on the smaller part), and only the output is re-bounded, with
        multipliers for the split constraints (β-CROWN, :func:`verinet.bounds.alpha.optimise_multipliers`).
        """
        if self.slopes is not None and parent is not None and same is not None and np.any(same):
            pre, out, empty = self._reuse(L, H, F, parent, np.asarray(same, dtype=bool))
        else:
            pre, out, empty = self._fresh(L, H, F)
        if self.slopes is not None:
            if parent is None and (F is None or not F.any()):  # a root: optimised intermediate bounds
                pre = self.slopes.tighten_hidden(L, H, pre)
            if parent is not None:  # both enclose the part: their intersection does too
                plo, phi = parent[0], parent[1]
                pre = [IntervalArray._unsafe(np.maximum(p.lo, a), np.minimum(p.hi, b)) for p, a, b
                       in zip(pre, plo[:-1], phi[:-1])]
                empty = empty | np.any([(p.lo > p.hi).any(axis=1) for p in pre], axis=0)
                pre = [IntervalArray._unsafe(np.where(empty[:, None], a, p.lo), np.where(empty[:, None], b, p.hi))
                       for p, a, b in zip(pre, plo[:-1], phi[:-1])]
                out = IntervalArray._unsafe(np.maximum(out.lo, plo[-1]), np.minimum(out.hi, phi[-1]))
                out = IntervalArray._unsafe(np.where(empty[:, None], plo[-1], out.lo),
                                            np.where(empty[:, None], phi[-1], out.hi))
            out = self.slopes.tighten(L, H, pre, out, empty,
                                      None if F is None else per_layer_signs(F, self.kinked, len(self.network.layers)),
                                      warm=None if parent is None or len(parent) < 3 else parent[2])
            self.last = ([p.lo for p in pre] + [out.lo], [p.hi for p in pre] + [out.hi], self.slopes.params)
        return pre, out, empty

    def _reuse(self, L, H, F, parent, same):
        """Enclosures of the parts: the parent's, clamped to the signs of ``F``, where ``same``; fresh
        ones (:meth:`_fresh`) elsewhere. Sound: the parent's enclosures hold on the parent's part, which
        contains the child's, and on the child's part every fixed sign holds (:func:`clamp_signs`)."""
        plo, phi = parent[0], parent[1]
        lo = [np.array(a, dtype=np.float64) for a in plo]
        hi = [np.array(a, dtype=np.float64) for a in phi]
        empty = np.zeros(len(L), dtype=bool)
        rest = np.flatnonzero(~same)
        if len(rest):
            p2, o2, e2 = self._fresh(L[rest], H[rest], None if F is None else F[rest])
            for k, p in enumerate(list(p2) + [o2]):
                lo[k][rest], hi[k][rest] = p.lo, p.hi
            empty[rest] = e2
        pre = [IntervalArray._unsafe(a, b) for a, b in zip(lo[:-1], hi[:-1])]
        if F is not None:
            fix = per_layer_signs(F, self.kinked, len(self.network.layers))
            dead = np.zeros(len(L), dtype=bool)
            pre = [p if f is None else clamp_signs(p, f, dead) for p, f in zip(pre, fix)]
            empty |= dead
        return pre, IntervalArray._unsafe(lo[-1], hi[-1]), empty

    def _fresh(self, L, H, F):
        """Enclosures computed from the boxes (and signs) alone."""
        if F is None or not F.any():
            if self.linear:
                b = linear_propagate(self.backend, L, H)
            else:
                b = propagate(self.backend, self.backend.box(L, H))
            pre, out, empty = b.pre, b.output, np.zeros(len(L), dtype=bool)
        else:
            fix = per_layer_signs(F, self.kinked, len(self.network.layers))
            r = (linear_propagate_fixed(self.backend, L, H, fix) if self.linear
                 else propagate_fixed(self.backend, L, H, fix))
            pre, out, empty = r.bounds.pre, r.bounds.output, r.infeasible
        return pre, out, empty

    def neuron_choice(self, pre, F: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Per box the number of free unstable neurons and the one to split (flat index, −1 if none).

        Score (BaBSR-like, Bunel et al. 2020): the height ``−l·u/(u − l)`` of the triangle relaxation
        times the neuron's outgoing weight mass; ties go to the earlier layer.
        """
        B = pre[0].shape[0]
        scores = self.slopes.scores if self.slopes is not None else None
        if scores is not None and scores.shape[0] != B:
            scores = None
        count = np.zeros(B, dtype=np.int64)
        best = np.full(B, -1.0)
        cand = np.full(B, -1, dtype=np.int64)
        for k, off, n in self.kinked:
            lo, hi = pre[k].lo, pre[k].hi
            free = (lo < 0) & (hi > 0)
            if F is not None:
                free &= F[:, off:off + n] == 0
            count += free.sum(axis=1)
            with np.errstate(over="ignore", invalid="ignore"):
                gap = np.where(free, -lo * hi / (hi - lo), -1.0)
            score = np.where(free, np.nan_to_num(gap, nan=0.0, posinf=1e300) * self.influence[off:off + n], -1.0)
            if scores is not None:  # the intercepts a split removes from the open atoms' bounds (BaBSR)
                tie = np.maximum(score, 0.0) / max(float(score.max()), 1e-300)  # in [0, 1]: breaks ties only
                score = np.where(free, scores[:, off:off + n] + 1e-12 * tie, -1.0)
            j = np.argmax(score, axis=1)
            s = score[np.arange(B), j]
            better = s > best
            best = np.where(better, s, best)
            cand = np.where(better, off + j, cand)
        return count, cand


# --------------------------------------------------------------------------------------------------
# input regions for the search


class BoxGeometry:
    """A box ``[lower, upper]`` (exact) for the search: outer float box, sampling, projection."""

    def __init__(self, lower: Sequence, upper: Sequence) -> None:
        self.lower = tuple(to_fraction(v) for v in lower)
        self.upper = tuple(to_fraction(v) for v in upper)
        self.lo = np.array([float_down(v) for v in self.lower])
        self.hi = np.array([float_up(v) for v in self.upper])
        ilo = np.array([float_up(v) for v in self.lower])
        ihi = np.array([float_down(v) for v in self.upper])
        near = np.array([float_nearest(v) for v in self.lower])
        bad = ilo > ihi  # no float inside (a degenerate non-binary coordinate): use the nearest
        self.ilo = np.where(bad, near, ilo)
        self.ihi = np.where(bad, near, ihi)
        self.width = self.ihi - self.ilo

    def sample(self, rng, k: int) -> np.ndarray:
        return self.ilo + rng.random((k, len(self.lo))) * self.width

    def project(self, X: np.ndarray) -> np.ndarray:
        return np.clip(X, self.ilo, self.ihi)

    def step(self, X: np.ndarray, G: np.ndarray, alpha: float) -> np.ndarray:
        return X - alpha * self.width * np.sign(G)

    def keep(self, L: np.ndarray, H: np.ndarray) -> np.ndarray:
        return np.ones(len(L), dtype=bool)

    def exact_point(self, x) -> tuple:
        """The point of the exact box nearest to ``x``: floats kept when inside, else the exact bound.

        Rigorous: the returned point lies in the exact box ``[lower, upper]``.
        """
        out = []
        for v, a, b in zip(np.asarray(x, dtype=np.float64).tolist(), self.lower, self.upper):
            q = Fraction(v)
            out.append(v if a <= q <= b else (a if q < a else b))
        return tuple(out)


class BallGeometry:
    """An l2 or l1 ball ``‖x − c‖ ≤ r`` (exact centre and radius) for the search."""

    def __init__(self, center: Sequence, radius, norm: str) -> None:
        self.center = tuple(to_fraction(v) for v in center)
        self.radius = to_fraction(radius)
        self.norm = norm
        self.c = np.array([float_nearest(v) for v in self.center])
        self.c_lo = np.array([float_down(v) for v in self.center])
        self.c_hi = np.array([float_up(v) for v in self.center])
        self.r = float_down(self.radius)
        self.lo = np.array([float_down(v - self.radius) for v in self.center])
        self.hi = np.array([float_up(v + self.radius) for v in self.center])
        self._r_sq_up = float_up(self.radius * self.radius)
        self._r_up = float_up(self.radius)

    def sample(self, rng, k: int) -> np.ndarray:
        n = len(self.c)
        if self.norm == "2":
            u = rng.standard_normal((k, n))
            u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-300)
        else:  # uniform direction on the l1 sphere: signed exponential variables
            u = rng.exponential(size=(k, n)) * rng.choice([-1.0, 1.0], size=(k, n))
            u /= np.maximum(np.abs(u).sum(axis=1, keepdims=True), 1e-300)
        t = rng.random((k, 1)) ** (1.0 / n)
        return self.c + self.r * t * u

    def project(self, X: np.ndarray) -> np.ndarray:
        D = X - self.c
        if self.norm == "2":
            nrm = np.linalg.norm(D, axis=1, keepdims=True)
            scale = np.minimum(1.0, self.r * (1 - 1e-12) / np.maximum(nrm, 1e-300))
            return self.c + D * scale
        return self.c + _project_l1(D, self.r * (1 - 1e-12))

    def step(self, X: np.ndarray, G: np.ndarray, alpha: float) -> np.ndarray:
        if self.norm == "2":
            nrm = np.maximum(np.linalg.norm(G, axis=1, keepdims=True), 1e-300)
            return X - alpha * self.r * G / nrm
        j = np.argmax(np.abs(G), axis=1)
        S = np.zeros_like(X)
        S[np.arange(len(X)), j] = np.sign(G[np.arange(len(X)), j])
        return X - alpha * self.r * S

    def keep(self, L: np.ndarray, H: np.ndarray) -> np.ndarray:
        """False only for boxes proved disjoint from the ball (directed rounding throughout).

        The distance from the centre to the box in coordinate i is at least
        ``max(0, lo_i − c_i, c_i − hi_i)``, bounded below with ``c_i ∈ [c_lo, c_hi]`` and rounding down.

        Rigorous: a box is dropped only if every point of it is farther than ``r`` from the centre.
        """
        d = np.maximum(0.0, np.maximum(R.sub_down(L, self.c_hi), R.sub_down(self.c_lo, H)))
        if self.norm == "2":
            return ~(sum_down(R.mul_down(d, d), axis=-1) > self._r_sq_up)
        return ~(sum_down(d, axis=-1) > self._r_up)

    def exact_point(self, x) -> tuple | None:
        """``x`` itself if the ball contains it exactly, else a point moved slightly towards the centre.

        Rigorous: a returned point lies in the ball (exact rational test); None when none was found.
        """
        x = np.asarray(x, dtype=np.float64)
        for shrink in (0.0, 1e-12, 1e-9, 1e-6):
            p = self.c + (x - self.c) * (1.0 - shrink)
            if self._contains(p):
                return tuple(float(v) for v in p)
        return None

    def _contains(self, p) -> bool:
        d = [abs(Fraction(float(v)) - c) for v, c in zip(p, self.center)]
        if self.norm == "2":
            return sum(v * v for v in d) <= self.radius * self.radius
        return sum(d) <= self.radius


def _project_l1(D: np.ndarray, r: float) -> np.ndarray:
    """Euclidean projection of each row of ``D`` onto the l1 ball of radius ``r`` (Duchi et al. 2008)."""
    A = np.abs(D)
    inside = A.sum(axis=1) <= r
    U = -np.sort(-A, axis=1)
    css = np.cumsum(U, axis=1) - r
    idx = np.arange(1, D.shape[1] + 1)
    cond = U - css / idx > 0
    rho = np.where(cond.any(axis=1), D.shape[1] - 1 - np.argmax(cond[:, ::-1], axis=1), 0)
    theta = np.maximum(css[np.arange(len(D)), rho] / (rho + 1), 0.0)
    P = np.sign(D) * np.maximum(A - theta[:, None], 0.0)
    return np.where(inside[:, None], D, P)


# --------------------------------------------------------------------------------------------------
# the search: attack + branch-and-bound


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """Result of :func:`search_spec`.

    ``status`` is ``"proved"``, ``"falsified"``, ``"timeout"``, ``"box_limit"`` or ``"resolution"``.
    ``margin`` is a rigorous lower bound of ``min_x min_conj max_{i∈conj} z_i(x)`` over the region (the
    property holds when it is ``> 0``), ``None`` when falsified. ``counterexample`` is what the confirm
    function returned.
    """

    status: str
    margin: float | None
    boxes: int
    seconds: float
    counterexample: object = None
    open_boxes: int = 0


class _Attacker:
    """Random sampling and projected gradient descent on the approximate score (non-rigorous)."""

    def __init__(self, spec: OutputSpec, geom, confirm, rng) -> None:
        self.spec, self.geom, self.confirm, self.rng = spec, geom, confirm, rng
        self.tried = 0

    def check(self, X: np.ndarray, s: np.ndarray, limit: int = 8):
        """Confirm up to ``limit`` candidates with approximate score ``≤ 0``, most negative first."""
        order = np.argsort(s, kind="stable")
        for i in order[:limit]:
            if not s[i] <= 0:
                break
            self.tried += 1
            found = self.confirm(X[i])
            if found is not None:
                return found
        return None

    def scores(self, X: np.ndarray):
        with np.errstate(over="ignore", invalid="ignore"):
            Z = self.spec.network.approx_evaluate(X)
        return self.spec.approx_scores(Z)

    def run(self, X: np.ndarray, steps: int, deadline: float):
        """PGD from the rows of ``X``; returns a confirmed counterexample or None."""
        X = self.geom.project(X)
        s, atom = self.scores(X)
        found = self.check(X, s)
        if found is not None:
            return found
        for t in range(steps):
            if time.perf_counter() > deadline:
                return None
            alpha = 0.1 * (0.02 ** (t / max(steps - 1, 1)))  # geometric decay 0.1 -> 0.002 of the width
            _, G = approx_value_and_grad(self.spec.network, X, atom)
            X = self.geom.project(self.geom.step(X, G, alpha))
            s, atom = self.scores(X)
            found = self.check(X, s, limit=4)
            if found is not None:
                return found
        return None

    def random(self, k: int, steps: int, deadline: float):
        return self.run(self.geom.sample(self.rng, k), steps, deadline)


def approx_random_attack(spec: OutputSpec, geom, confirm, count: int, *, seed: int = 0, deadline: float):
    """Evaluate ``count`` random points of the region approximately; confirm the most unsafe ones.

    The search is a heuristic (float64, no guarantee of finding anything); a returned counterexample is
    whatever ``confirm`` accepted (rigorously checked by the caller's function), else None.
    """
    return _Attacker(spec, geom, confirm, np.random.default_rng(seed)).random(count, 0, deadline)


def _split_axis(L: np.ndarray, H: np.ndarray, score: np.ndarray, width0: np.ndarray) -> np.ndarray:
    """Coordinate to split for each box (B,): largest width × influence, else widest relative width."""
    mid = 0.5 * L + 0.5 * H
    splittable = (mid > L) & (mid < H)
    rel = np.where(splittable, (H - L) / np.where(width0 > 0, width0, 1.0), -1.0)
    s = np.where(splittable, (H - L) * score, -1.0)
    use_s = s.max(axis=1) > 0
    return np.where(use_s, np.argmax(s, axis=1), np.argmax(rel, axis=1)), splittable.any(axis=1)


def search_spec(
    spec: OutputSpec,
    geom,
    confirm: Callable[[np.ndarray], object],
    *,
    deadline: float,
    max_boxes: int | None = None,
    batch: int = 256,
    seed: int = 0,
    attack_seconds: float = 2.0,
    bounds: str = "auto",
    split: str = "multi4",
    neurons: str = "auto",
    progress: Callable[[dict], None] | None = None,
    recorder=None,
) -> SearchOutcome:
    """Decide whether some point of the region ``geom`` has an unsafe output (attack + splitting).

    ``confirm(x)`` receives a float candidate (approximately unsafe) and must return a rigorously
    confirmed counterexample or None; ``deadline`` is a ``time.perf_counter()`` value. ``bounds`` is
    ``"auto"``/``"linear"``/``"ibp"`` (see :class:`_Enclosure`). ``split`` chooses the coordinate to bisect:
    ``"multi<k>"`` (default ``multi4``): largest width × max |approximate gradient| of the bottleneck atom
    over the centre and ``k`` random points of the box; ``"gradient"``: at the centre only; ``"widest"``:
    largest width relative to the region's. (On ACAS Xu ``multi4`` needs 5–100× fewer boxes than the
    others.)

    ``neurons`` chooses when a box is split on the sign of an unstable ReLU instead of a coordinate
    (both parts, ``z ≥ 0`` and ``z ≤ 0``, cover the box; each is bounded with the neuron's relaxation made
    exact, the box shrunk to the part's halfspaces, and may be proved empty): ``"auto"`` when the box has
    at most :data:`NEURON_SPLIT_UNSTABLE` free unstable neurons, or when it is too narrow to bisect in
    float64 (so such boxes are still refined); ``"never"``: coordinates only (the classical input
    splitting). The neuron is chosen by :meth:`_Enclosure.neuron_choice`. With optimised slopes (high-dimensional
    inputs, see :class:`verinet.bounds.alpha.SlopeTightener`) the root's hidden-layer bounds are optimised too, boxes
    are split on neurons whenever one is unstable, the two parts keep their parent's hidden-layer enclosures
    (clamped to the new sign) and only the output is re-bounded, with multipliers for the split constraints
    (β-CROWN; warm-started from the parent), and the split scores come from the bounds of the atoms that
    keep the box open.
    (Measured before the multipliers: splitting on neurons whenever one is unstable needed more time than
    input splitting on ACAS Xu and on a 32-input network, so low-dimensional inputs keep bisection.)

    ``recorder`` (optional, e.g. :class:`verinet.evidence.prooftree.CaseRecorder`) receives the split tree's
    closed leaves (``start(lo, hi, kinked, method)``, ``closed(L, H, F)``, ``outside(L, H, F)``): the
    evidence of a proof certificate.

    Rigorous: ``"proved"`` means every point of the region (of the outer float box, minus boxes
    proved disjoint from the region) has a safe output; ``margin`` is a lower bound of the score over
    the region; a counterexample is only what ``confirm`` accepted.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    atk = _Attacker(spec, geom, confirm, rng)
    strict = np.array(spec.strict, dtype=bool)
    conj = [list(c) for c in spec.conjunctions]
    width0 = geom.hi - geom.lo
    boxes = 0

    def outcome(status, margin, cex=None, open_boxes=0):
        return SearchOutcome(status, margin, boxes, time.perf_counter() - t0, cex, open_boxes)

    if not conj:  # nothing is unsafe
        return outcome("proved", math.inf)
    if any(len(c) == 0 for c in conj):  # everything is unsafe: any point of the region
        found = confirm(geom.project(geom.sample(rng, 1))[0])
        return outcome("falsified", None, found) if found is not None else outcome("resolution", None)

    # phase 1: random points (cheap)
    found = atk.random(2048, 0, deadline)
    if found is not None:
        return outcome("falsified", None, found)

    if neurons not in ("auto", "never"):
        raise QueryError(f"unknown neuron splitting {neurons!r}: use auto or never")
    enclose = _Enclosure(spec.network, bounds, spec.conjunctions)
    use_neurons = neurons == "auto" and enclose.n_kinked > 0
    # high-dimensional inputs (optimised slopes): bisecting one of hundreds of coordinates barely
    # tightens anything, so boxes are split on neurons whenever one is unstable
    neuron_limit = NEURON_SPLIT_UNSTABLE if enclose.slopes is None else enclose.n_kinked
    if recorder is not None:
        recorder.start(geom.lo, geom.hi, enclose.kinked, "linear" if enclose.linear else "interval")

    def evaluate(L: np.ndarray, H: np.ndarray, F: np.ndarray | None, P=None, same=None):
        """(closed, margin lower bound, all-unsafe, split scores, centres, centre scores, unstable count,
        neuron to split) per box (per part when ``F`` fixes neuron signs)."""
        pre, Z, empty = enclose(L, H, F, P, same)
        refuted = np.where(strict, Z.lo >= 0, Z.lo > 0)  # atom impossible on the box
        certain = np.where(strict, Z.hi < 0, Z.hi <= 0)  # atom holds on the whole box
        margin = np.full(len(L), np.inf)
        closed = np.ones(len(L), dtype=bool)
        bad = np.zeros(len(L), dtype=bool)
        for c in conj:
            closed &= refuted[:, c].any(axis=1)
            margin = np.minimum(margin, Z.lo[:, c].max(axis=1))
            bad |= certain[:, c].all(axis=1)
        closed |= empty  # an empty part has no unsafe point
        margin[empty] = np.inf
        bad &= ~empty
        centres = 0.5 * L + 0.5 * H
        _, atom = spec.approx_scores(Z.lo)  # the atom that is closest to being refuted
        zc, G = approx_value_and_grad(spec.network, centres, atom)  # split on width × |gradient|
        sc, _ = spec.approx_scores(zc)
        infl = np.abs(G)
        n_unstable, cand = enclose.neuron_choice(pre, F) if use_neurons else (None, None)
        # sampled gradients only where a coordinate may be bisected (with optimised slopes, boxes with an
        # unstable neuron are always split on a neuron)
        need = np.ones(len(L), dtype=bool)
        if use_neurons and enclose.slopes is not None:
            need = ~closed & ~((cand >= 0) & (n_unstable <= neuron_limit))
        if split == "widest":
            infl = np.zeros_like(infl)
        elif split.startswith("multi") and need.any():
            rows = np.flatnonzero(need)
            for _ in range(int(split[5:] or 3)):
                P = L[rows] + rng.random(L[rows].shape) * (H[rows] - L[rows])
                infl[rows] = np.maximum(infl[rows], np.abs(approx_value_and_grad(spec.network, P, atom[rows])[1]))
        return closed, margin, bad, infl, centres, sc, n_unstable, cand

    heap: list = []
    seq = itertools.count()
    closed_min = math.inf  # smallest margin among closed boxes
    stuck: list[float] = []
    last = time.perf_counter()

    inherited: dict[int, tuple] = {}  # heap entry id -> its enclosures (optimised slopes only)

    def add(L, H, F, P=None, same=None):
        nonlocal boxes, closed_min
        keep = geom.keep(L, H)
        if same is not None:
            same = np.asarray(same, dtype=bool)[keep]
        if recorder is not None and not keep.all():
            recorder.outside(L[~keep], H[~keep], None if F is None else F[~keep])
        L, H = L[keep], H[keep]
        F = F[keep] if F is not None else None
        if P is not None:
            P = tuple([a[keep] for a in part] for part in P)
        if len(L) == 0:
            return None
        closed, margin, bad, infl, centres, sc, n_unstable, cand = evaluate(L, H, F, P, same)
        own = enclose.last if enclose.slopes is not None else None
        if recorder is not None and closed.any():
            recorder.closed(L[closed], H[closed], None if F is None else F[closed])
        boxes += len(L)
        if closed.any():
            closed_min = min(closed_min, float(margin[closed].min()))
        points = np.concatenate([geom.project(centres[bad]), geom.project(centres)])
        cs = np.concatenate([np.full(int(bad.sum()), -np.inf), sc])
        if enclose.slopes is not None and len(enclose.slopes.candidates):  # minimisers of the linear bounds
            xs = geom.project(enclose.slopes.candidates)
            points = np.concatenate([points, xs])
            cs = np.concatenate([cs, atk.scores(xs)[0]])
        found = atk.check(points, cs, limit=4)
        if found is not None:
            return found
        axis, can_split = _split_axis(L, H, infl, width0)
        for i in np.flatnonzero(~closed):
            neuron = -1
            if use_neurons and cand[i] >= 0 and (
                    not can_split[i] or n_unstable[i] <= neuron_limit):
                neuron = int(cand[i])
            elif not can_split[i]:
                stuck.append(float(margin[i]))
                continue
            f = F[i] if F is not None else None
            key = next(seq)
            if own is not None:
                # the warm start (own[2:]) only while the open boxes' copies fit in WARM_START_BYTES
                part_bytes = sum(a[i].nbytes for a in own[2]) if len(own) > 2 else 0
                keep = len(own) if part_bytes * (len(heap) + 1) <= WARM_START_BYTES else 2
                inherited[key] = tuple([a[i] for a in part] for part in own[:keep])
            heapq.heappush(heap, (float(margin[i]), key, L[i], H[i], int(axis[i]), f, neuron))
        return None

    # phase 2: the root box; phase 3: a short gradient attack from random starts
    F0 = np.zeros((1, enclose.n_kinked), dtype=np.int8) if use_neurons else None
    found = add(geom.lo[None, :].copy(), geom.hi[None, :].copy(), F0)
    a_deadline = min(deadline, time.perf_counter() + attack_seconds)
    for r in range(8):
        if found is not None or not heap or time.perf_counter() > a_deadline:
            break
        # PGD on every disjunct, from random points and the minimisers of the root's linear bounds
        starts = enclose.slopes.candidates if enclose.slopes is not None and r == 0 else None
        found = pgd_attack(spec, geom, confirm, deadline=a_deadline, rng=rng, restarts=16, steps=60,
                           starts=starts)
    if found is not None:
        return outcome("falsified", None, found)
    next_attack = time.perf_counter() + 2.0
    step_time = 0.0
    while heap:
        now = time.perf_counter()
        worst = min(heap[0][0], min(stuck, default=math.inf), closed_min)
        if progress is not None and now - last >= 1.0:
            progress({"seconds": now - t0, "boxes": boxes, "open": len(heap), "margin": worst})
            last = now
        if now + 2.0 * step_time >= deadline:  # the next batch (up to twice as large) would overrun the budget
            return outcome("timeout", worst, open_boxes=len(heap))
        if max_boxes is not None and boxes >= max_boxes:
            return outcome("box_limit", worst, open_boxes=len(heap))
        if now >= next_attack:  # PGD from the centres of the worst boxes (and the last linear minimisers)
            starts = [np.array([0.5 * e[2] + 0.5 * e[3] for e in heap[:16]])]
            if enclose.slopes is not None:
                starts.append(enclose.slopes.candidates[:16])
            found = pgd_attack(spec, geom, confirm, deadline=min(deadline, now + 0.5), rng=rng, restarts=4,
                               steps=30, starts=np.concatenate(starts))
            if found is not None:
                return outcome("falsified", None, found)
            spent = time.perf_counter() - now
            next_attack = time.perf_counter() + max(2.0, 6.0 * spent)  # attacks take at most ~1/7 of the time
        popped = [heapq.heappop(heap) for _ in range(min(batch // 2 or 1, len(heap)))]
        Ls, Hs, Fs = [], [], []
        Ps = []
        same = []
        for _, key, lo, hi, ax, f, neuron in popped:
            Ps += [inherited.pop(key, None)] * 2
            same += [neuron >= 0] * 2
            if neuron >= 0:  # the two sign parts of the box
                neg, pos = f.copy(), f.copy()
                neg[neuron], pos[neuron] = -1, 1
                Ls += [lo, lo]
                Hs += [hi, hi]
                Fs += [neg, pos]
                continue
            mid = 0.5 * lo[ax] + 0.5 * hi[ax]
            left_hi, right_lo = hi.copy(), lo.copy()
            left_hi[ax] = mid
            right_lo[ax] = mid
            Ls += [lo, right_lo]
            Hs += [left_hi, hi]
            Fs += [f, f]
        t_step = time.perf_counter()
        P = None
        if Ps and all(p is not None for p in Ps):
            n_parts = min(len(p) for p in Ps)  # 2 when some parent kept no warm start
            P = tuple([np.array([p[j][k] for p in Ps]) for k in range(len(Ps[0][j]))] for j in range(n_parts))
        found = add(np.array(Ls), np.array(Hs), np.array(Fs) if use_neurons else None, P, same)
        step_time = time.perf_counter() - t_step
        if found is not None:
            return outcome("falsified", None, found)
    worst = min(min(stuck, default=math.inf), closed_min)
    if stuck:
        return outcome("resolution", worst, open_boxes=len(stuck))
    return outcome("proved", worst)


# --------------------------------------------------------------------------------------------------
# VNN-LIB


_RESULT = {Verdict.VERIFIED: "unsat", Verdict.FALSIFIED: "sat", Verdict.UNKNOWN: "unknown",
           Verdict.TIMEOUT: "timeout"}


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The answer to a VNN-LIB property.

    Attributes
    ----------
    result : str
        ``"unsat"`` (the property holds: proved), ``"sat"`` (a counterexample confirmed in exact
        arithmetic), ``"unknown"`` or ``"timeout"``.
    verdict : Verdict
    x : tuple or None
        Counterexample input (floats, or exact Fractions for coordinates pinned to a decimal bound).
    y : tuple of Fraction or None
        The network's exact output at ``x`` (piecewise-linear networks), or the midpoints of a rigorous
        point enclosure (smooth networks; the violation itself was certified with the enclosure).
    margin : float or None
        Rigorous lower bound of the worst case's score ``min_conj max_{c∈conj} (c·y − d)`` over the
        cases that were decided or searched (``> 0`` proves the property).
    """

    result: str
    verdict: Verdict
    seconds: float
    boxes: int
    cases: int
    x: tuple | None = None
    y: tuple | None = None
    margin: float | None = None
    notes: tuple[str, ...] = ()

    def to_text(self) -> str:
        """VNN-COMP result text: the answer line, then the counterexample for ``sat``."""
        if self.verdict is not Verdict.FALSIFIED:
            return self.result + "\n"
        y = [v if isinstance(v, float) else float_nearest(to_fraction(v)) for v in self.y]
        return "sat\n" + format_counterexample(list(self.x), y)

    def to_json(self) -> dict:
        def s(v):
            return repr(v) if isinstance(v, float) else fraction_to_str(to_fraction(v))
        return {
            "result": self.result,
            "verdict": self.verdict.value,
            "seconds": round(self.seconds, 6),
            "boxes": self.boxes,
            "cases": self.cases,
            "counterexample": None if self.x is None else {"x": [s(v) for v in self.x],
                                                           "y": [s(v) for v in self.y]},
            "margin": None if self.margin is None or not math.isfinite(self.margin) else self.margin,
            "notes": list(self.notes),
        }


def _case_spec(network: Network, case) -> OutputSpec:
    rows, rhs, strict, conjs = [], [], [], []
    index: dict[tuple, int] = {}
    for conj in case.unsafe:
        ids = []
        for c in conj:
            key = (c.coef, c.rhs, c.strict)
            if key not in index:
                index[key] = len(rows)
                rows.append(c.coef)
                rhs.append(c.rhs)
                strict.append(c.strict)
            ids.append(index[key])
        conjs.append(tuple(ids))
    if not rows:
        rows, rhs, strict = [[0] * network.n_outputs], [0], [False]
    return build_spec(network, rows, rhs, conjs, strict)


def _confirm_factory(network: Network, prop: VnnlibProperty, spec: OutputSpec, geom: BoxGeometry,
                     deadline: float | None = None):
    exact = network.piecewise_linear

    def confirm(xf):
        if deadline is not None and time.perf_counter() > deadline:
            return None  # out of time: unconfirmed; the search reports a timeout, not an unchecked sat
        x = geom.exact_point(xf)
        if exact:
            try:
                y = network.evaluate_exact(x, deadline=deadline)
            except ExactEvaluationTimeout:
                return None
            if prop.violated_by_exact(x, y):  # x in a case box and y unsafe, decided exactly
                return x, tuple(y)
            return None
        # smooth network: a rigorous enclosure of z = C f(x) − d over the point (a float box that
        # contains the exact point) must satisfy some conjunction certainly
        lo = np.array([float_down(to_fraction(v)) for v in x])
        hi = np.array([float_up(to_fraction(v)) for v in x])
        Z = output_bounds(spec.network, lo, hi)
        ok = any(all((Z.hi[i] < 0) if spec.strict[i] else (Z.hi[i] <= 0) for i in c) for c in spec.conjunctions)
        if not ok or not all(a <= to_fraction(v) <= b for v, a, b in zip(x, geom.lower, geom.upper)):
            return None
        Y = output_bounds(network, lo, hi)
        return x, tuple(float(v) for v in Y.mid())

    return confirm


def verify_vnnlib(
    network: Network,
    prop: VnnlibProperty,
    *,
    timeout: float = 116.0,
    batch: int = 256,
    max_boxes: int | None = None,
    seed: int = 0,
    bounds: str = "auto",
    neurons: str = "auto",
    progress: Callable[[dict], None] | None = None,
    recorder=None,
) -> VerifyResult:
    """Decide a VNN-LIB property: ``unsat`` (proved), ``sat`` (confirmed counterexample) or neither.

    Parameters
    ----------
    network : Network
        In the coordinates of the property (VNN-LIB ACAS Xu properties are in normalised coordinates:
        load ``.onnx``, or ``.nnet`` with ``coordinates="normalized"``).
    prop : VnnlibProperty
    timeout : float
        Seconds for the whole property (all cases).
    batch : int
        Boxes per bound-propagation call.
    max_boxes : int, optional
        Budget of evaluated boxes per case.
    bounds : {"auto", "linear", "alpha", "ibp"}
        Enclosures used for the proofs: linear back-substitution, with optimised ReLU lower slopes
        (:mod:`verinet.bounds.alpha`; ``"auto"`` uses them from :data:`verinet.bounds.alpha.ALPHA_MIN_INPUTS` inputs on,
        together with neuron splitting), or plain interval bound propagation.
    neurons : {"auto", "never"}
        Whether boxes may also be split on the sign of an unstable ReLU (see :func:`search_spec`).
    recorder : verinet.evidence.prooftree.SplitTreeRecorder, optional
        Collects the split tree of each case (the evidence of a proof certificate,
        :func:`verinet.evidence.prooftree.vnnlib_certificate`).

    Returns
    -------
    VerifyResult

    Rigorous: ``unsat`` only when every case box is covered by boxes on which interval bound propagation
    proves each unsafe conjunction impossible; ``sat`` only with ``x`` inside a case box (exact
    comparison) and the unsafe condition checked on the exact output (``evaluate_exact``), or on a
    rigorous point enclosure for smooth activations.
    """
    t0 = time.perf_counter()
    if not (timeout > 0):
        raise QueryError(f"timeout must be > 0, got {timeout}")
    if prop.n_inputs != network.n_inputs:
        raise QueryError(f"the property has {prop.n_inputs} inputs, the network has {network.n_inputs}")
    if prop.n_outputs != network.n_outputs:
        raise QueryError(f"the property has {prop.n_outputs} outputs, the network has {network.n_outputs}")
    deadline = t0 + timeout
    cases = list(prop.cases)
    if not cases:
        return VerifyResult("unsat", Verdict.VERIFIED, time.perf_counter() - t0, 0, 0, margin=math.inf,
                            notes=("the property has no satisfiable unsafe case",))
    prepared = []
    for case in cases:
        spec = _case_spec(network, case)
        geom = BoxGeometry(case.lower, case.upper)
        prepared.append((spec, geom, _confirm_factory(network, prop, spec, geom, deadline)))

    total_boxes = 0
    statuses = []
    margins = []

    def finish(verdict, x=None, y=None, notes=()):
        margin = min(margins) if margins and verdict is not Verdict.FALSIFIED else None
        return VerifyResult(_RESULT[verdict], verdict, time.perf_counter() - t0, total_boxes, len(cases),
                            x, y, margin, tuple(notes))

    # random points in every case first: counterexamples are often cheap to find
    for k, (spec, geom, confirm) in enumerate(prepared):
        found = _Attacker(spec, geom, confirm, np.random.default_rng(seed + k)).random(4096, 0, deadline)
        if found is not None:
            return finish(Verdict.FALSIFIED, *found)

    for k, (spec, geom, confirm) in enumerate(prepared):
        now = time.perf_counter()
        share = (deadline - now) / (len(cases) - k)
        out = search_spec(spec, geom, confirm, deadline=min(deadline, now + share), max_boxes=max_boxes,
                          batch=batch, seed=seed + 1000 + k, attack_seconds=min(3.0, 0.1 * share),
                          bounds=bounds, neurons=neurons, progress=progress,
                          recorder=None if recorder is None else recorder.case(k))
        total_boxes += out.boxes
        if out.status == "falsified":
            return finish(Verdict.FALSIFIED, *out.counterexample)
        statuses.append(out.status)
        if out.margin is not None:
            margins.append(out.margin)
    if all(s == "proved" for s in statuses):
        return finish(Verdict.VERIFIED)
    if "timeout" in statuses:
        return finish(Verdict.TIMEOUT)
    return finish(Verdict.UNKNOWN, notes=tuple(sorted(set(statuses) - {"proved"})))
