"""The compiled output constraints of a specification: ``z = C f(x) − d`` as one exact network, its DNF
structure, and the VNN-LIB case → specification glue."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from intervals.rounding import to_fraction
from verinet.errors import QueryError
from verinet.network import Activation, Layer, Network

__all__ = ["OutputSpec", "Verdict", "approx_scores", "build_spec", "case_spec"]

#: merge the constraint rows into the last layer when the exact product costs at most this many products
_MERGE_LIMIT = 400_000


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
        return approx_scores(self.conjunctions, Z)

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


def approx_scores(conjunctions, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``s = min_conj max_{i∈conj} z_i`` per row of ``Z`` (B, k) and the atom that attains it (heuristic:
    float scores that order candidates and choose atoms, never a bound)."""
    best = np.full(Z.shape[0], np.inf)
    atom = np.zeros(Z.shape[0], dtype=np.int64)
    for conj in conjunctions:
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


def case_spec(network: Network, case) -> OutputSpec:
    """The specification of one case of a VNN-LIB property (atoms shared between its conjunctions)."""
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
