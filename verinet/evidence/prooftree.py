"""Proof certificates for VNN-LIB verdicts: the split tree of a search, recorded and written out.

An ``unsat`` answer of :func:`verinet.analyses.verify.verify_vnnlib` rests on a branch-and-bound tree per case of
the property: the case's input box (its outer float box) is bisected on coordinates and on the signs of
unstable ReLUs until, on every leaf, a rigorous enclosure of ``z = C f(x) − d`` refutes one atom of each
unsafe conjunction. The leaves tile the root box (children cover their parent: a bisection at a float
midpoint, or the two closed sign half-spaces ``z ≥ 0`` and ``z ≤ 0`` of one neuron), so the tree *is* the
proof. :class:`SplitTreeRecorder` collects the closed leaves during the search and
:func:`vnnlib_certificate` writes them, with the exact query (the cases of the property file, as exact
decimal strings, and the file's SHA-256), into a certificate of kind ``"vnnlib"`` that
:func:`verinet.evidence.checker.check_certificate` re-verifies without the search's code:

* coverage, per case: the leaves tile a box containing the case box (exact rationals; neuron splits with
  both signs present under a parent);
* each leaf: exact rational interval propagation, and where that is too coarse an independent linear
  back-substitution in ball arithmetic (python-flint ``arb``), bisecting the leaf if needed;
* ``sat``: the counterexample lies in a case box and its exact output is unsafe.

Leaf layout (schema version 2)::

    {"lower": [...], "upper": [...], "fixed": [[layer, neuron, ±1], ...], "proof": "linear" | "interval"}

``fixed`` is omitted when empty; ``proof`` names the enclosure that closed the leaf in the search
(informative: the checker always tries its own interval bounds first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from verinet.errors import CertificateError

__all__ = ["CaseRecorder", "SplitTreeRecorder", "vnnlib_certificate", "vnnlib_statement"]


@dataclass(eq=False)
class CaseRecorder:
    """The closed leaves of one case's search (float64 boxes and flat neuron signs)."""

    domain: tuple[np.ndarray, np.ndarray] | None = None
    kinked: list = field(default_factory=list)
    method: str = "interval"
    parts: list = field(default_factory=list)  # [(L (B, n), H (B, n), F (B, H) or None, outside)]

    def start(self, lo: np.ndarray, hi: np.ndarray, kinked, method: str) -> None:
        """The root box of the search, the flat layout of ReLU neurons and the enclosure used."""
        self.domain = (np.array(lo, dtype=np.float64), np.array(hi, dtype=np.float64))
        self.kinked = list(kinked)
        self.method = method
        self.parts = []

    def closed(self, L: np.ndarray, H: np.ndarray, F: np.ndarray | None) -> None:
        """Boxes (parts, when ``F`` fixes signs) on which every unsafe conjunction was refuted."""
        self.parts.append((np.array(L), np.array(H), None if F is None else np.array(F), False))

    def outside(self, L: np.ndarray, H: np.ndarray, F: np.ndarray | None) -> None:
        """Boxes dropped as disjoint from the region (ball regions)."""
        self.parts.append((np.array(L), np.array(H), None if F is None else np.array(F), True))

    @property
    def n_leaves(self) -> int:
        return sum(len(p[0]) for p in self.parts)

    def fixed_of(self, f: np.ndarray | None) -> list[list[int]]:
        """``[[layer, neuron, sign], ...]`` from a flat sign vector."""
        if f is None:
            return []
        out = []
        for k, off, n in self.kinked:
            for j in np.flatnonzero(f[off:off + n]).tolist():
                out.append([int(k), int(j), int(f[off + j])])
        return out

    def leaves(self):
        """Yield ``(lower, upper, fixed, outside)`` per leaf (floats, in recording order)."""
        for L, H, F, out in self.parts:
            for b in range(len(L)):
                yield L[b], H[b], self.fixed_of(None if F is None else F[b]), out


@dataclass(eq=False)
class SplitTreeRecorder:
    """Collects the split tree of every case of a VNN-LIB property (pass to ``verify_vnnlib``)."""

    cases: dict = field(default_factory=dict)

    def case(self, k: int) -> CaseRecorder:
        self.cases[k] = CaseRecorder()
        return self.cases[k]

    @property
    def n_leaves(self) -> int:
        return sum(c.n_leaves for c in self.cases.values())


def vnnlib_statement(result: str, n_cases: int, prop_file: str) -> str:
    """The claim of a ``vnnlib`` certificate in one sentence."""
    if result == "unsat":
        return (f"For each of the {n_cases} case(s) of {prop_file}, no input in the case's box has an output "
                "in the case's unsafe set: the property holds (VNN-LIB 'unsat').")
    if result == "sat":
        return (f"The counterexample lies in a case box of {prop_file} and the network's exact output there "
                "is in that case's unsafe set (VNN-LIB 'sat').")
    return f"No claim: the analysis ended with {result!r} (neither proof nor counterexample)."


def _query(prop) -> dict:
    from verinet.evidence.certificate import _exact_text

    if not prop.source or not prop.sha256:
        raise CertificateError("the property was not read from a file: a certificate names its VNN-LIB file")
    from pathlib import Path

    return {
        "property": {"file": Path(prop.source).name, "sha256": prop.sha256,
                     "inputs": prop.n_inputs, "outputs": prop.n_outputs},
        "cases": [
            {"lower": [_exact_text(v) for v in case.lower], "upper": [_exact_text(v) for v in case.upper],
             "unsafe": [[{"coef": [_exact_text(c) for c in atom.coef], "rhs": _exact_text(atom.rhs),
                          "strict": bool(atom.strict)} for atom in conj] for conj in case.unsafe]}
            for case in prop.cases
        ],
    }


#: how the checker re-derives each leaf's claim (stated in the certificate and by the checker)
CHECKING = ("exact rational interval propagation (fractions); where it does not close a leaf, linear "
            "back-substitution in ball arithmetic (python-flint arb, outward-rounded), bisecting the leaf "
            "if needed; coverage in exact rationals")


def vnnlib_certificate(result, network, prop, recorder: SplitTreeRecorder | None, *, bounds: str = "linear",
                       progress=None, format: str = "json") -> dict:
    """A certificate (JSON-ready dict) for a :class:`~verinet.analyses.verify.VerifyResult` of ``prop`` on ``network``.

    ``unsat`` needs the ``recorder`` passed to :func:`~verinet.analyses.verify.verify_vnnlib` (the split tree of every
    case); ``sat`` carries the counterexample; ``unknown`` / ``timeout`` make no claim. ``network`` and
    ``prop`` must have been read from files (their names and SHA-256 go into the certificate).

    ``format``: ``"json"`` (leaves inline), ``"npz"`` (schema version 3: each case's leaves as a
    :class:`~verinet.evidence.leaftable.LeafTable` that :func:`~verinet.evidence.certificate.write_certificate` writes to a
    companion ``<name>.case<k>.leaves.npz``, the case's enclosure in ``proof``) or ``"auto"`` (``npz`` from
    :data:`~verinet.evidence.leaftable.AUTO_NPZ_LEAVES` leaves on).

    Rigorous: records the verdict and its evidence as computed; adds no claim of its own.
    """
    from verinet.evidence.certificate import _environment, _exact_text, _header, resolve_format

    table = resolve_format(format, recorder.n_leaves if recorder is not None else 0) == "npz"

    verdict = str(result.result)
    if verdict not in ("unsat", "sat", "unknown", "timeout"):
        raise CertificateError(f"unknown VNN-LIB result {verdict!r}")
    doc = _header("vnnlib", network)
    query = _query(prop)
    query["bounds"] = bounds
    evidence: dict = {}
    leaves_total = 0
    if verdict == "unsat":
        if recorder is None:
            raise CertificateError("an unsat certificate needs the split tree: pass a SplitTreeRecorder to "
                                   "verify_vnnlib")
        cases = []
        for k, case in enumerate(prop.cases):
            rec = recorder.cases.get(k)
            if rec is None or rec.domain is None:  # no search: the case has no unsafe conjunction
                if case.unsafe:
                    raise CertificateError(f"case {k} has no recorded split tree")
                cases.append({"domain": None, "leaves": []})
                continue
            if table and rec.n_leaves:
                cases.append(_case_table(rec))
                leaves_total += rec.n_leaves
                continue
            leaves = []
            for lo, hi, fixed, out in rec.leaves():
                leaf = {"lower": [_exact_text(v) for v in lo.tolist()], "upper": [_exact_text(v) for v in hi.tolist()]}
                if fixed:
                    leaf["fixed"] = fixed
                if out:
                    leaf["outside"] = True
                else:
                    leaf["proof"] = rec.method
                leaves.append(leaf)
                leaves_total += 1
                if progress is not None and leaves_total % 100_000 == 0:
                    progress(leaves_total)
            if not leaves:
                raise CertificateError(f"case {k} has an empty split tree")
            lo0, hi0 = rec.domain
            cases.append({"domain": {"lower": [_exact_text(v) for v in lo0.tolist()],
                                     "upper": [_exact_text(v) for v in hi0.tolist()]}, "leaves": leaves})
        evidence = {"checking": CHECKING, "cases": cases}
    elif verdict == "sat":
        if result.x is None or result.y is None:
            raise CertificateError("a sat result without its counterexample cannot be certified")
        evidence = {"counterexample": {"x": [_exact_text(v) for v in result.x], "y": [_exact_text(v) for v in result.y]}}
    doc.update(
        query=query,
        claim={"result": verdict, "statement": vnnlib_statement(verdict, len(prop.cases), query["property"]["file"])},
        statistics={"boxes": int(result.boxes), "seconds": round(float(result.seconds), 6), "leaves": leaves_total,
                    "cases": len(prop.cases), "bounds": bounds,
                    "margin": None if result.margin is None or not math.isfinite(result.margin) else result.margin},
        environment=_environment(),
        evidence=evidence,
    )
    if table and verdict == "unsat":
        from verinet.evidence.certificate import TABLE_SCHEMA_VERSION

        doc["schema_version"] = TABLE_SCHEMA_VERSION
    return doc


def _case_table(rec: CaseRecorder) -> dict:
    """One case's evidence with its leaves as a :class:`~verinet.evidence.leaftable.LeafTable` (exact float64)."""
    from verinet.evidence.certificate import _exact_text
    from verinet.evidence.leaftable import LeafTable

    lo = np.concatenate([p[0] for p in rec.parts])
    hi = np.concatenate([p[1] for p in rec.parts])
    outside = np.concatenate([np.full(len(p[0]), 1 if p[3] else 0, dtype=np.int8) for p in rec.parts])
    fixed = None
    if any(p[2] is not None for p in rec.parts):
        fixed = [rec.fixed_of(None if p[2] is None else p[2][b]) for p in rec.parts for b in range(len(p[0]))]
    lo0, hi0 = rec.domain
    return {"domain": {"lower": [_exact_text(v) for v in lo0.tolist()], "upper": [_exact_text(v) for v in hi0.tolist()]},
            "leaves": LeafTable.from_boxes(lo, hi, fixed=fixed, outside=outside if outside.any() else None),
            "proof": rec.method}
