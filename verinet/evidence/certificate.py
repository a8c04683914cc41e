"""Certificates: versioned JSON documents that an independent exact checker can re-verify.

A certificate records *what* was claimed (the query and the verdict or bounds, as exact decimal
strings), *about which file* (its name, format and SHA-256), *under which semantics* (exact real
arithmetic on the weights as written in the model file), and the *evidence* that lets
:func:`verinet.evidence.checker.check_certificate` re-verify the claim with rational arithmetic alone:

* a Lipschitz certificate carries the leaves of the final branch-and-bound partition (float64 box
  corners written as their exact decimal values, and the ReLUs whose sign the leaf fixes:
  ``[layer, neuron, +1 | -1]``) with the upper bound each leaf contributes, the box they partition, and
  the witness point of the lower bound (Zhou, Shaikh, Li & Farjudian, MSCS 2023,
  Section 5: ``max_B min_{g∈G(B)} ‖g‖ ≤ L(f, X) ≤ max_B max_{g∈G(B)} ‖g‖`` over a partition ``{B}``);
* a robustness certificate carries the query (region and property), the verdict and generic evidence:
  a partition whose leaves each satisfy the property, or a counterexample point;
* a ``vnnlib`` certificate (schema version 2, :mod:`verinet.evidence.prooftree`) carries the cases of a VNN-LIB
  property and, for ``unsat``, the split tree of the search (or, for ``sat``, the counterexample);
* a ``radius-robustness`` certificate carries the verified radius with a partition of that ball and the
  falsified radius with its counterexample (:func:`radius_certificate`).

Schema version ``"3"``: the leaves of a Lipschitz or local-robustness certificate may instead live in a
binary companion ``<name>.leaves.npz`` (exact float64 arrays, :mod:`verinet.evidence.leaftable`) named in
``evidence.leaves`` with its SHA-256; ``format="auto"`` chooses it from
:data:`~verinet.evidence.leaftable.AUTO_NPZ_LEAVES` leaves on.

Back-substituted gradient bounds (``jacobian="linear"``): ``evidence.gradient = "backsub"``, the checker's
method and a relative margin in ``evidence.checker`` (leaf bounds and the claimed upper bound are the
search's raised by :data:`BACKSUB_MARGIN`), the neuron-sign search's root bounds with the slopes that prove
them in ``evidence.root``, and in ``evidence.sources`` the ancestor part of every leaf that keeps its
ancestor's bound (:mod:`verinet.evidence.checker_backsub` re-derives them).

Layout (schema version ``"2"``, JSON Schema in ``verinet/schemas/certificate.schema.json``; version ``"1"``
documents, ``certificate-1.schema.json``, are valid version-2 documents and still check)::

    {"format": "verinet-certificate", "schema_version": "1", "kind": "lipschitz" | "local-robustness" | ...,
     "created": ISO-8601 UTC, "tool": {"name", "version"},
     "model": {"file", "format", "sha256", "name", "inputs", "outputs", "load_options", "path"},
     "semantics": "exact real arithmetic on the weights as written in the model file",
     "query": {...}, "claim": {...}, "statistics": {...}, "environment": {...}, "evidence": {...},
     "history": [[seconds, boxes, lower, upper], ...]}

Numbers that carry meaning (region, bounds, leaf corners, witness, counterexample) are strings holding
an exact decimal or ``p/q``; statistics and the convergence history are plain JSON numbers
(informative only, never checked).

Certificates are only built from rigorous results: anything else raises
:class:`~verinet.errors.CertificateError` (STYLE habit 3).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import math
import os
import platform
from fractions import Fraction
from pathlib import Path

import numpy as np

from verinet.errors import CertificateError
from verinet.exactfmt import float_to_exact_str, fraction_to_str

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "TABLE_SCHEMA_VERSION",
    "SEMANTICS",
    "VERDICTS",
    "lipschitz_certificate",
    "lipschitz_statement",
    "radius_certificate",
    "load_certificate",
    "resolve_format",
    "robustness_certificate",
    "schema",
    "write_certificate",
]

FORMAT = "verinet-certificate"
SCHEMA_VERSION = "2"
#: documents whose leaves are in a companion ``.npz`` table (:mod:`verinet.evidence.leaftable`)
TABLE_SCHEMA_VERSION = "3"
SEMANTICS = "exact real arithmetic on the weights as written in the model file"
#: verdicts a robustness certificate may carry (an unconfirmed counterexample is not a certificate)
VERDICTS = ("verified", "falsified", "unknown", "timeout")
_MAX_HISTORY = 1000
_NORM_SYMBOL = {"inf": "∞", "2": "2", "1": "1"}


# ---------------------------------------------------------------------------------------------- helpers
def _exact_text(x) -> str:
    """Exact decimal string of a float, int or Fraction (floats: their binary value)."""
    if isinstance(x, Fraction):
        return fraction_to_str(x)
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return str(int(x))
    x = float(x)
    if not math.isfinite(x):
        raise CertificateError(f"cannot certify a non-finite number ({x})")
    return float_to_exact_str(x)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _environment() -> dict:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "numba": _version("numba"),
        "mpmath": _version("mpmath"),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def _load_options(network) -> dict:
    """Reader options needed to reload the same network from the file (``.nnet`` coordinates)."""
    if network.format == "nnet":
        normalized = any(n.lower().startswith("normalised coordinates") for n in network.notes)
        return {"coordinates": "normalized" if normalized else "raw"}
    return {}


def _model_section(network) -> dict:
    if not network.sha256 or not network.source:
        raise CertificateError(
            f"network {network.name!r} has no model file (no source/SHA-256): save it with "
            "verinet.io.save_network and load it back before certifying"
        )
    return {
        "file": Path(network.source).name,
        "format": network.format,
        "sha256": network.sha256,
        "name": network.name,
        "inputs": network.n_inputs,
        "outputs": network.n_outputs,
        "load_options": _load_options(network),
        # where the model was read from: the checker looks there when it is not next to the certificate
        "path": os.path.abspath(network.source),
    }


def _header(kind: str, network) -> dict:
    from verinet import __version__

    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "tool": {"name": "verinet", "version": __version__},
        "model": _model_section(network),
        "semantics": SEMANTICS,
    }


def _thin_history(history) -> list:
    """At most ``_MAX_HISTORY`` entries (first and last kept): ``[seconds, boxes, lower, upper]``."""
    rows = [[float(s), int(b), float(lo), float(up)] for s, b, lo, up in history]
    rows = [r for r in rows if all(math.isfinite(v) for v in r)]
    if len(rows) <= _MAX_HISTORY:
        return rows
    keep = sorted(set(np.linspace(0, len(rows) - 1, _MAX_HISTORY).round().astype(int).tolist()))
    return [rows[i] for i in keep]


def _output_spec(label: str, n_outputs: int) -> dict:
    """``{"kind": "index"|"combination"|"all", ...}`` from a LipschitzResult's output label."""
    if label == "all":
        return {"kind": "all", "label": label}
    if label.startswith("c=[") and label.endswith("]"):
        coeffs = [float(v) for v in label[3:-1].split(",")]  # repr of float64: round-trips exactly
        if len(coeffs) != n_outputs:
            raise CertificateError(f"output combination has {len(coeffs)} entries, network has {n_outputs}")
        return {"kind": "combination", "coefficients": [_exact_text(v) for v in coeffs], "label": label}
    try:
        k = int(label)
    except ValueError:
        raise CertificateError(f"cannot interpret the result's output selection {label!r}") from None
    if not 0 <= k < n_outputs:
        raise CertificateError(f"output index {k} out of range for {n_outputs} outputs")
    return {"kind": "index", "index": k, "label": label}


def lipschitz_statement(norm: str, output: dict, upper: str, lower: str) -> str:
    """The claim of a Lipschitz certificate in one sentence (plain text, Unicode)."""
    p = _NORM_SYMBOL.get(norm, norm)
    if output["kind"] == "all":
        lhs = f"‖f(x) − f(y)‖{p}"
    elif output["kind"] == "index":
        lhs = f"|f_{output['index']}(x) − f_{output['index']}(y)|"
    else:
        lhs = "|cᵀf(x) − cᵀf(y)|"
    return (
        f"For every pair of inputs x, y in the region, {lhs} ≤ U·‖x − y‖{p} with U = {upper}, "
        f"and no constant smaller than L = {lower} is valid."
    )


# ---------------------------------------------------------------------------------------------- Lipschitz
def _require_rigorous(result) -> None:
    """Refuse anything that is not a complete, rigorous LipschitzResult."""
    from verinet.analyses.lipschitz import Leaf, LipschitzResult, Status
    from verinet.region import Region

    if not isinstance(result, LipschitzResult):
        raise CertificateError(
            f"cannot certify a {type(result).__name__}: only rigorous LipschitzResult values are certified"
        )
    if getattr(result, "bounds", "interval") not in ("interval", "linear"):
        raise CertificateError(f"unknown pre-activation bounds {result.bounds!r}: not a rigorous result")
    if getattr(result, "jacobian", "interval") not in ("interval", "linear"):
        raise CertificateError(f"unknown gradient bounds {result.jacobian!r}: not a rigorous result")
    if not isinstance(result.status, Status):
        raise CertificateError(f"result has no valid status ({result.status!r}): not a rigorous result")
    if not isinstance(result.region, Region):
        raise CertificateError("result has no exact region")
    for name in ("lower", "upper"):
        v = getattr(result, name)
        if not isinstance(v, (float, int)) or isinstance(v, bool) or not math.isfinite(v):
            raise CertificateError(f"result has no finite {name} bound ({v!r})")
    if not 0 <= result.lower <= result.upper:
        raise CertificateError(f"inconsistent bounds: lower {result.lower} and upper {result.upper}")
    if not result.partition:
        raise CertificateError("result has no partition: nothing to serve as evidence for the upper bound")
    for i, leaf in enumerate(result.partition):
        if not isinstance(leaf, Leaf) or not math.isfinite(leaf.bound):
            raise CertificateError(f"leaf {i} is not a finite rigorous leaf")
        if leaf.bound > result.upper:
            raise CertificateError(f"leaf {i} bound {leaf.bound} exceeds the result's upper bound {result.upper}")
    if result.lower > 0 and result.witness is None:
        raise CertificateError("result has a positive lower bound but no witness point")


def _input_gradient(result, network, lo0: np.ndarray, hi0: np.ndarray, output: dict) -> dict | None:
    """Per-input enclosure of the gradient over the whole partitioned box (for the report's bars)."""
    from verinet.bounds.gradient import gradient_enclosure, jacobian_enclosure

    try:
        if output["kind"] == "all":
            J = jacobian_enclosure(network, lo0, hi0)  # shape (m, n)
            lo, hi = np.min(J.lo, axis=0), np.max(J.hi, axis=0)  # (n,): encloses every ∂f_k/∂x_i
            quantity = "union over outputs k of the enclosure of ∂f_k/∂x_i"
        else:
            if output["kind"] == "index":
                sel = output["index"]
            else:
                sel = [float(Fraction(c)) for c in output["coefficients"]]
            G = gradient_enclosure(network, lo0, hi0, output=sel)  # shape (n,)
            lo, hi = G.lo, G.hi
            quantity = "enclosure of ∂(cᵀf)/∂x_i" if output["kind"] == "combination" else (
                f"enclosure of ∂f_{output['index']}/∂x_i")
    except (ValueError, ArithmeticError):  # informative only: leave it out rather than fail
        return None
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        return None
    return {
        "quantity": quantity + " over the partitioned box (informative; not checked)",
        "lower": [_exact_text(v) for v in lo.tolist()],
        "upper": [_exact_text(v) for v in hi.tolist()],
    }


def lipschitz_certificate(result, network, *, format: str = "json") -> dict:
    """A certificate (a JSON-ready dict) for a rigorous :class:`~verinet.analyses.lipschitz.LipschitzResult`.

    ``network`` must be the network the result was computed for, loaded from a file (its ``source`` and
    ``sha256`` name the file). Raises :class:`~verinet.errors.CertificateError` for anything that is not a
    complete rigorous result (no status, non-finite or inconsistent bounds, no partition, a positive lower
    bound without witness) and for a network without a model file.

    ``format``: ``"json"`` (leaves inline, exact decimal strings), ``"npz"`` (schema version 3: the leaves
    as a :class:`~verinet.evidence.leaftable.LeafTable` that :func:`write_certificate` writes to a companion
    ``.npz``) or ``"auto"`` (``npz`` from :data:`~verinet.evidence.leaftable.AUTO_NPZ_LEAVES` leaves on).

    Rigorous: the document states exactly the result's bounds (exact decimals of the float64 values,
    already rounded outward) and its evidence; it adds no claim of its own.
    """
    _require_rigorous(result)
    backsub = getattr(result, "jacobian", "interval") == "linear"
    if backsub:  # the checker's own rounding may land a few ulps above the search's: state a margin
        result = _with_margin(result)
    table = resolve_format(format, len(result.partition)) == "npz"
    region = result.region
    if region.dim != network.n_inputs:
        raise CertificateError(f"result's region has {region.dim} coordinates, network has {network.n_inputs} inputs")
    doc = _header("lipschitz", network)
    output = _output_spec(result.output, network.n_outputs)
    lo0, hi0 = region.outer_box()
    lower_s, upper_s = _exact_text(result.lower), _exact_text(result.upper)
    precisions = sorted({int(leaf.precision) for leaf in result.partition})
    backend = "float64" if precisions == [53] and result.precision == 53 else (
        "float64 with arbitrary-precision refinement" if result.precision == 53 else "mp")
    doc.update(
        query={
            "region": region.to_json(),
            "norm": result.norm,
            "output": output,
            "tol": float(result.tol),
            "strategy": result.strategy,
        },
        claim={
            "lower": lower_s,
            "upper": upper_s,
            "status": result.status.value,
            "statement": lipschitz_statement(result.norm, output, upper_s, lower_s),
        },
        statistics={
            "boxes": int(result.boxes),
            "seconds": round(float(result.seconds), 6),
            "leaves": len(result.partition),
            "backend": backend,
            "precision": int(result.precision),
            "leaf_precisions": precisions,
            "strategy": result.strategy,
        },
        environment=_environment(),
        evidence={
            "domain": {"lower": [_exact_text(v) for v in lo0.tolist()], "upper": [_exact_text(v) for v in hi0.tolist()]},
            "leaves": _lipschitz_table(result.partition) if table else [
                {
                    "lower": [_exact_text(v) for v in leaf.lower],
                    "upper": [_exact_text(v) for v in leaf.upper],
                    "bound": _exact_text(leaf.bound),
                    "precision": int(leaf.precision),
                    "fixed": [[int(k), int(j), int(sgn)] for k, j, sgn in leaf.fixed],
                    **({"null": [[int(k), int(j), _exact_text(v)] for k, j, v in leaf.null]} if leaf.null else {}),
                }
                for leaf in result.partition
            ],
            "witness": None if result.witness is None else {
                "point": [_exact_text(v) for v in result.witness],
                "lower": lower_s,
            },
            "input_gradient": _input_gradient(result, network, lo0, hi0, output),
            # how the leaves' pre-activation bounds were obtained: the checker re-derives them the same
            # way with its own code ("linear": back-substitution in ball arithmetic, python-flint arb)
            "preactivation": getattr(result, "bounds", "interval"),
            **(_backsub_evidence(result) if backsub else {}),
        },
        history=_thin_history(result.history),
    )
    if table:
        doc["schema_version"] = TABLE_SCHEMA_VERSION
    return doc


#: back-substituted gradient bounds: the leaf bounds and the claimed upper bound are raised by this relative
#: margin (then rounded up), so that the checker's independent outward-rounded re-derivation, whose
#: rounding differs from the search's by about 1e-12 relative, can confirm them
BACKSUB_MARGIN = 2.0 ** -24


def _raise(v: float) -> float:
    """``v(1 + margin)`` rounded up (0 stays 0); monotone, so leaf ≤ upper stays true."""
    return 0.0 if v == 0 else float(np.nextafter(v * (1.0 + BACKSUB_MARGIN), np.inf))


def _with_margin(result):
    import dataclasses

    leaves = tuple(dataclasses.replace(leaf, bound=_raise(leaf.bound)) for leaf in result.partition)
    return dataclasses.replace(result, upper=_raise(result.upper), partition=leaves)


def _backsub_evidence(result) -> dict:
    """What the checker needs besides the leaves to re-derive back-substituted gradient bounds."""
    from verinet.evidence.checker_backsub import METHOD

    ev: dict = {"gradient": "backsub",
                "checker": {"method": METHOD, "margin": _exact_text(BACKSUB_MARGIN),
                            "note": "leaf bounds and the upper bound are the search's raised by the relative "
                                    "margin (rounded up)"}}
    sources = {str(i): {"lower": [_exact_text(v) for v in leaf.source[0]], "upper": [_exact_text(v) for v in leaf.source[1]],
                        "fixed": [[int(k), int(j), int(sgn)] for k, j, sgn in leaf.source[2]]}
               for i, leaf in enumerate(result.partition) if getattr(leaf, "source", None) is not None}
    if sources:  # leaves that keep an ancestor's bound (bounds are not monotone under refinement)
        ev["sources"] = sources
    root = getattr(result, "root", None)
    if root:
        # widened by the margin too (relative to each bound, and to the layer's scale for bounds near 0):
        # the checker's own rounding of the same bounds must fit inside
        def wide(lo, hi):
            mag = np.maximum(np.abs(lo), np.abs(hi))
            r = BACKSUB_MARGIN * mag + BACKSUB_MARGIN ** 2 * (float(mag.max()) if mag.size else 0.0)
            return (np.nextafter(lo - r, -np.inf), np.nextafter(hi + r, np.inf))

        bounds = [wide(np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)) for lo, hi in root["bounds"]]
        ev["root"] = {
            "lower": [[_exact_text(v) for v in lo.tolist()] for lo, _ in bounds],
            "upper": [[_exact_text(v) for v in hi.tolist()] for _, hi in bounds],
            "slopes": [{"layer": int(k), "neuron": int(i), "side": int(side),
                        "slopes": [[_exact_text(v) for v in np.asarray(a, dtype=np.float64).tolist()] for a in sl]}
                       for k, i, side, sl in root["slopes"]],
        }
    return ev


def resolve_format(format: str, n_leaves: int) -> str:
    """``"json"`` or ``"npz"`` for a certificate of ``n_leaves`` leaves (``"auto"``: npz from
    :data:`~verinet.evidence.leaftable.AUTO_NPZ_LEAVES` leaves on)."""
    from verinet.evidence.leaftable import AUTO_NPZ_LEAVES

    if format not in ("json", "npz", "auto"):
        raise CertificateError(f"unknown certificate format {format!r}: use json, npz or auto")
    if format == "auto":
        return "npz" if n_leaves >= AUTO_NPZ_LEAVES else "json"
    return format


def _lipschitz_table(partition):
    """The leaves of a Lipschitz partition as a :class:`~verinet.evidence.leaftable.LeafTable` (exact float64)."""
    from verinet.evidence.leaftable import LeafTable

    lo = np.array([leaf.lower for leaf in partition], dtype=np.float64)
    hi = np.array([leaf.upper for leaf in partition], dtype=np.float64)
    bound = np.fromiter((leaf.bound for leaf in partition), dtype=np.float64, count=len(partition))
    precision = np.fromiter((leaf.precision for leaf in partition), dtype=np.int32, count=len(partition))
    fixed = [leaf.fixed for leaf in partition] if any(leaf.fixed for leaf in partition) else None
    null = {i: list(leaf.null) for i, leaf in enumerate(partition) if leaf.null}
    return LeafTable.from_boxes(lo, hi, bound=bound, precision=precision, fixed=fixed, null=null)


# ---------------------------------------------------------------------------------------------- robustness
def _exactify(value, where: str):
    """Deep copy of a JSON payload with floats replaced by their exact decimal strings (and Fractions)."""
    if isinstance(value, dict):
        return {str(k): _exactify(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_exactify(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _exactify(value.tolist(), where)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating, Fraction)):
        try:
            return _exact_text(value)
        except CertificateError as exc:
            raise CertificateError(f"{where}: {exc}") from None
    if hasattr(value, "to_json"):
        return _exactify(value.to_json(), where)
    raise CertificateError(f"{where}: cannot store a {type(value).__name__} in a certificate")


def _plain(value, where: str):
    """Informative JSON payload (statistics): numbers stay JSON numbers, numpy scalars become Python ones."""
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(list(value))]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else str(v)
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _robustness_statement(kind: str, prop: dict, verdict: str) -> str:
    if verdict in ("unknown", "timeout"):
        return f"No claim: the analysis ended with verdict {verdict!r} (neither proof nor counterexample)."
    ptype = prop.get("type")
    if ptype == "classification":
        what = f"the network's output {prop.get('label')} is strictly larger than every other output"
    elif ptype == "regression":
        ks = prop.get("outputs", [prop.get("output", 0)])
        which = f"k = {ks[0]}" if len(ks) == 1 else f"every k in {{{', '.join(str(k) for k in ks)}}}"
        what = (f"|f_k(x) − f_k(x₀)| ≤ ε for {which}, with ε = {prop.get('epsilon')} and x₀ the reference "
                "point")
    else:
        what = f"the property of type {ptype!r} holds"
    if verdict == "verified":
        return f"For every input x in the region, {what}."
    return f"The counterexample lies in the region and violates the property: it is not true there that {what}."


def robustness_certificate(kind: str, query: dict, verdict, evidence: dict, network, *,
                           statistics: dict | None = None, history=None) -> dict:
    """A certificate for a robustness verdict, from a generic payload.

    Parameters
    ----------
    kind : str
        ``"local-robustness"`` (checked by :mod:`verinet.evidence.checker`), or another kind such as
        ``"global-robustness"`` (recorded; the exact checker reports it as unsupported).
    query : dict
        ``{"region": Region.to_json(), "property": {...}, ...}``. Properties the checker understands:
        ``{"type": "classification", "label": k}`` (output ``k`` strictly above every other output) and
        ``{"type": "regression", "outputs": [k, ...], "epsilon": "0.01", "reference": [...]}``
        (``|f_k(x) − f_k(reference)| ≤ ε`` for each ``k``; ``reference`` defaults to the region's centre).
        :func:`local_robustness_certificate` builds all of this from a ``verinet.analyses.robustness`` result.
    verdict : str or enum
        ``verified``, ``falsified``, ``unknown`` or ``timeout`` (an enum's ``value`` is used).
        An unconfirmed (candidate) counterexample is refused.
    evidence : dict
        ``verified``: ``{"domain": {"lower", "upper"}, "leaves": [{"lower", "upper"}, ...]}``, boxes that
        partition a box containing the region, each proving the property by exact interval propagation or
        marked ``"outside": true`` (not meeting the region; checked exactly).
        ``falsified``: ``{"counterexample": {"point": [...], ...}}``.
    network : Network
        The analysed network, loaded from its model file.

    Floats anywhere in ``query``/``evidence`` are written as their exact decimal values.

    Rigorous: records the verdict as given; :func:`verinet.evidence.checker.check_certificate` re-verifies it.
    """
    kind = str(kind).strip().lower().replace("_", "-")
    if not kind or kind == "lipschitz":
        raise CertificateError(f"robustness certificate kind must be a robustness kind, got {kind!r}")
    v = getattr(verdict, "value", verdict)
    v = str(v).strip().lower()
    if v in ("candidate", "candidate-counterexample", "candidate_counterexample"):
        raise CertificateError("an unconfirmed (candidate) counterexample is not a certificate: "
                               "confirm it with rigorous arithmetic first")
    if v not in VERDICTS:
        raise CertificateError(f"unknown verdict {verdict!r}: use one of {', '.join(VERDICTS)}")
    if not isinstance(query, dict) or "region" not in query:
        raise CertificateError("robustness query must be a dict with a 'region' (Region.to_json())")
    evidence = {} if evidence is None else evidence
    if not isinstance(evidence, dict):
        raise CertificateError("evidence must be a dict")
    if v == "falsified" and not (isinstance(evidence.get("counterexample"), dict)
                                 and "point" in evidence["counterexample"]):
        raise CertificateError("a falsified verdict needs evidence {'counterexample': {'point': [...]}}")
    if v == "verified" and kind == "local-robustness" and not (evidence.get("leaves") and evidence.get("domain")):
        raise CertificateError("a verified local-robustness verdict needs evidence {'domain': ..., 'leaves': [...]}")
    q = _exactify(query, "query")
    doc = _header(kind, network)
    prop = q.get("property") if isinstance(q.get("property"), dict) else {}
    doc.update(
        query=q,
        claim={"verdict": v, "statement": _robustness_statement(kind, prop, v)},
        statistics=_plain(statistics or {}, "statistics"),
        environment=_environment(),
        evidence=_exactify(evidence, "evidence"),
    )
    if history is not None:
        doc["history"] = _thin_history(history)
    return doc


def _misses(region, lo, hi) -> bool:
    """Exact test that the box ``[lo, hi]`` does not meet the (closed) region."""
    a = [Fraction(v) for v in lo.tolist()]
    b = [Fraction(v) for v in hi.tolist()]
    if any(x > u or y < v for x, y, v, u in zip(a, b, region.lower, region.upper)):
        return True
    if region.kind != "ball":
        return False
    d = [max(x - c, c - y, Fraction(0)) for x, y, c in zip(a, b, region.center)]  # distance per coordinate
    if region.norm == "1":
        return sum(d) > region.radius
    return sum(v * v for v in d) > region.radius ** 2


def _ibp_evidence(network, region, prop: dict, max_leaves: int) -> dict:
    """A partition of the region's bounding box whose every leaf proves the property by float64 interval
    propagation (so exact propagation, which is tighter, proves it too) or lies outside the region
    (``"outside": true``, e.g. corners of an l2 ball's bounding box). Bisects the relatively widest
    coordinate of unproved boxes; raises CertificateError beyond ``max_leaves`` boxes."""
    from verinet.bounds.propagation import output_bounds

    if not network.piecewise_linear:
        raise CertificateError("exact-checkable evidence needs a piecewise-linear network (ReLU, leaky, identity)")
    lo0, hi0 = region.outer_box()
    width0 = hi0 - lo0
    if prop["type"] == "classification":
        k = int(prop["label"])

        def proves(ylo, yhi) -> bool:  # y_k strictly above every other output on the whole box
            return all(ylo[k] > yhi[j] for j in range(len(ylo)) if j != k)
    else:
        eps = Fraction(prop["epsilon"])
        y0 = network.evaluate_exact(prop["reference"])
        ks = [int(v) for v in prop["outputs"]]

        def proves(ylo, yhi) -> bool:  # |f_k − f_k(reference)| ≤ ε on the whole box
            return all(y0[j] - eps <= Fraction(ylo[j]) and Fraction(yhi[j]) <= y0[j] + eps for j in ks)

    from verinet.search import Node, ObjectiveBase, Search, SearchConfig, Status, bisect

    class Evidence(ObjectiveBase):
        """Breadth first: a box proves the property, lies outside the region, or is bisected."""

        batch = 256

        def evaluate(self, nodes, search) -> None:
            Y = output_bounds(network, np.array([n.lo for n in nodes]), np.array([n.hi for n in nodes]))
            for n, ylo, yhi in zip(nodes, Y.lo.tolist(), Y.hi.tolist()):
                if proves(ylo, yhi):
                    n.tag = "proved"
                elif _misses(region, n.lo, n.hi):  # a corner of the ball's bounding box outside the ball
                    n.tag = "outside"

        def expand(self, node, search) -> list:
            if node.tag is not None:
                search.close(node)
                return []
            kids = bisect(node.lo, node.hi, width0, "widest")
            if kids is None:
                search.hold(node)
                return []
            return [Node(lo, hi) for lo, hi in kids]

    search = Search(Evidence(), SearchConfig(order="fifo", lazy=True, max_nodes=max_leaves))
    search.add([Node(lo0, hi0)])
    out = search.run()
    if out.status is Status.RESOLUTION:
        raise CertificateError("a box too small to split does not prove the property: "
                               "cannot build exact-checkable evidence for this verdict")
    if out.status is not Status.PROVED:
        raise CertificateError(f"no partition of at most {max_leaves} boxes proves the property by interval "
                               "propagation: cannot build exact-checkable evidence for this verdict")
    leaves = [{"lower": n.lo.tolist(), "upper": n.hi.tolist()} for n in out.closed]
    for leaf, n in zip(leaves, out.closed):
        if n.tag == "outside":
            leaf["outside"] = True
    return {"domain": {"lower": lo0.tolist(), "upper": hi0.tolist()}, "leaves": leaves}


def local_robustness_certificate(result, network, *, max_leaves: int = 4096, format: str = "json") -> dict:
    """A certificate for a local robustness result (``verinet.analyses.robustness.LocalResult`` or anything whose
    ``to_json()`` has ``verdict``, ``mode``, ``region``, ``label``/``epsilon``/``outputs`` and
    ``counterexample``).

    A FALSIFIED verdict carries its counterexample. A VERIFIED verdict needs evidence the exact checker can
    re-verify: a partition of the ball's bounding box on whose every leaf interval propagation proves the
    property, built here (at most ``max_leaves`` boxes, else CertificateError: the verdict may rest on a
    proof the checker cannot replay). UNKNOWN and TIMEOUT make no claim.

    ``format``: ``"json"``, ``"npz"`` or ``"auto"`` as for :func:`lipschitz_certificate`.

    Rigorous: records the result's verdict; the evidence is re-verified by :mod:`verinet.evidence.checker`.
    """
    from verinet.region import Region

    d = result.to_json()
    verdict = str(d.get("verdict"))
    region = result.region if isinstance(getattr(result, "region", None), Region) else None
    if region is None:
        raise CertificateError("the result carries no exact region")
    if d.get("mode") == "classifier":
        prop = {"type": "classification"}
        if d.get("label") is not None:
            prop["label"] = int(d["label"])
    elif d.get("mode") == "regressor":
        prop = {"type": "regression", "outputs": [int(k) for k in d.get("outputs") or []],
                "epsilon": d.get("epsilon"), "reference": region.to_json().get("center")}
    else:
        raise CertificateError(f"unknown robustness mode {d.get('mode')!r}")
    evidence: dict = {}
    if verdict == "falsified":
        cx = d.get("counterexample") or {}
        evidence["counterexample"] = {"point": cx.get("x")}
        if cx.get("y") is not None:
            evidence["counterexample"]["output"] = cx["y"]
    elif verdict == "verified":
        if prop["type"] == "classification" and "label" not in prop:
            raise CertificateError("a verified classifier result without its label cannot be certified")
        evidence = _ibp_evidence(network, region, prop, max_leaves)
    stats = {key: d.get(key) for key in ("boxes", "seconds", "bound", "lipschitz_bound", "note") if key in d}
    doc = robustness_certificate("local-robustness", {"region": region.to_json(), "property": prop}, verdict,
                                 evidence, network, statistics=stats)
    return _tabulate_robust(doc, evidence, format)


def radius_certificate(result, network, center, *, output: int | None = None, max_leaves: int = 4096) -> dict:
    """A certificate (kind ``radius-robustness``) for a :class:`verinet.analyses.robustness.RadiusResult`.

    The claim is the pair of radii: robust on the ball of radius ``verified_radius`` around ``center``
    (evidence: a partition of that ball's bounding box on whose every leaf interval propagation proves the
    property, as for ``local-robustness``; CertificateError beyond ``max_leaves`` boxes), and not robust
    on any ball of radius ≥ ``falsified_radius`` (evidence: a counterexample at distance ≤ it). Either may
    be absent; with neither the certificate makes no claim. ``output``: the regression output the run
    watched (default: every output).

    Rigorous: records the result's radii; :mod:`verinet.evidence.checker_radius` re-verifies both exactly.
    """
    from verinet.region import Region

    c = [Fraction(v) if isinstance(v, (Fraction, int)) else Fraction(float(v)) for v in center]
    vr, fr = result.verified_radius, result.falsified_radius
    if result.epsilon is None:
        if result.label is None:
            raise CertificateError("a classifier radius result without its label cannot be certified")
        prop = {"type": "classification", "label": int(result.label)}
    else:
        outs = list(range(network.n_outputs)) if output is None else [int(output)]
        prop = {"type": "regression", "outputs": outs, "epsilon": Fraction(result.epsilon), "reference": c}
    evidence: dict = {}
    if vr is not None:
        ball = Region.ball(c, vr, result.norm)
        evidence["verified"] = {"region": ball.to_json(), **_ibp_evidence(network, ball, prop, max_leaves)}
    if fr is not None:
        if result.x is None:
            raise CertificateError("a falsified radius without its counterexample cannot be certified")
        evidence["counterexample"] = {"point": [Fraction(v) if isinstance(v, Fraction) else float(v)
                                                for v in result.x]}
    verdict = "verified" if vr is not None else ("falsified" if fr is not None else "unknown")
    shown = vr if vr is not None else (fr if fr is not None else (result.probes[0][0] if result.probes else 1))
    query = {"region": Region.ball(c, shown, result.norm).to_json(), "center": c, "norm": result.norm,
             "property": prop}
    stats = {"probes": len(result.probes), "seconds": result.seconds}
    doc = robustness_certificate("radius-robustness", query, verdict, evidence, network, statistics=stats)
    doc["claim"].update(verified_radius=None if vr is None else _exact_text(vr),
                        falsified_radius=None if fr is None else _exact_text(fr))
    doc["claim"]["statement"] = radius_statement(doc["query"]["property"], doc["claim"], result.norm)
    return doc


def radius_statement(prop: dict, claim: dict, norm: str) -> str:
    """The claim of a radius certificate in one or two sentences."""
    p = _NORM_SYMBOL.get(norm, norm)
    what = _robustness_statement("local-robustness", prop, "verified")[len("For every input x in the region, "):]
    parts = []
    if claim.get("verified_radius") is not None:
        parts.append(f"For every input x with ‖x − x₀‖{p} ≤ {claim['verified_radius']}, {what}")
    if claim.get("falsified_radius") is not None:
        parts.append(f"A counterexample at ‖x − x₀‖{p} ≤ {claim['falsified_radius']} violates the property, "
                     "so no larger radius is robust.")
    return " ".join(parts) or "No claim: no radius was verified or falsified."


def _tabulate_robust(doc: dict, evidence: dict, format: str) -> dict:
    """``doc`` with its leaves moved to a :class:`~verinet.evidence.leaftable.LeafTable` when ``format`` asks for it."""
    from verinet.evidence.leaftable import LeafTable

    leaves = evidence.get("leaves") or []
    if not leaves or resolve_format(format, len(leaves)) != "npz":
        return doc
    lo = np.array([leaf["lower"] for leaf in leaves], dtype=np.float64)
    hi = np.array([leaf["upper"] for leaf in leaves], dtype=np.float64)
    outside = np.array([1 if leaf.get("outside") else 0 for leaf in leaves], dtype=np.int8)
    doc["evidence"]["leaves"] = LeafTable.from_boxes(lo, hi, outside=outside if outside.any() else None)
    doc["schema_version"] = TABLE_SCHEMA_VERSION
    return doc


# ---------------------------------------------------------------------------------------------- files
def companion_name(path, case: int | None = None) -> str:
    """File name of the leaf table of the certificate ``path``: ``net.cert.json`` → ``net.cert.leaves.npz``
    (case ``k`` of a ``vnnlib`` certificate: ``net.cert.case<k>.leaves.npz``)."""
    p = Path(os.fspath(path))
    stem = p.name[:-5] if p.name.lower().endswith(".json") else p.name
    return f"{stem}.leaves.npz" if case is None else f"{stem}.case{case}.leaves.npz"


def write_certificate(cert: dict, path, progress=None) -> Path:
    """Write ``cert`` as UTF-8 JSON, atomically (temporary files renamed into place; nothing is left
    behind on an error or Ctrl-C). A document whose ``evidence.leaves`` is a
    :class:`~verinet.evidence.leaftable.LeafTable` is written as a small JSON file plus the companion
    ``<name>.leaves.npz`` next to it, named there with its SHA-256. ``progress(message)`` is called at
    each step (for large certificates). Returns the path of the JSON document."""
    from verinet.evidence.leaftable import LeafTable

    if not isinstance(cert, dict) or cert.get("format") != FORMAT:
        raise CertificateError("not a verinet certificate (missing 'format': 'verinet-certificate')")
    p = Path(os.fspath(path))
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    evidence = cert.get("evidence")
    table = evidence.get("leaves") if isinstance(evidence, dict) else None
    cases = evidence.get("cases") if isinstance(evidence, dict) else None
    companions: list[Path] = []

    def put(t, case: int | None) -> dict:
        name = companion_name(p, case)
        if progress is not None:
            progress(f"writing {t.count} leaves to {name} ...")
        companions.append(p.with_name(name))
        return t.reference(name, t.write(p.with_name(name)))

    try:
        if isinstance(table, LeafTable):
            cert = {**cert, "evidence": {**evidence, "leaves": put(table, None)}}
        if isinstance(cases, list) and any(isinstance(c, dict) and isinstance(c.get("leaves"), LeafTable)
                                           for c in cases):
            cases = [{**c, "leaves": put(c["leaves"], k)} if isinstance(c, dict) and isinstance(c.get("leaves"),
                                                                                               LeafTable) else c
                     for k, c in enumerate(cases)]
            cert = {**cert, "evidence": {**cert["evidence"], "cases": cases}}
        if progress is not None:
            progress(f"writing {p.name} ...")
        tmp.write_text(json.dumps(cert, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, p)
    except BaseException:  # no document was written: remove its companions too
        tmp.unlink(missing_ok=True)
        for c in companions:
            c.unlink(missing_ok=True)
        raise
    return p


def load_certificate(path) -> dict:
    """Read a certificate file. Missing, unreadable, non-JSON or non-certificate files raise
    :class:`~verinet.errors.CertificateError` with one clear line."""
    p = Path(os.fspath(path))
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CertificateError(f"certificate file not found: {p}") from None
    except IsADirectoryError:
        raise CertificateError(f"certificate path is a directory: {p}") from None
    except UnicodeDecodeError as exc:
        raise CertificateError(f"{p}: not a UTF-8 text file ({exc.reason})") from None
    except OSError as exc:
        raise CertificateError(f"cannot read certificate {p}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CertificateError(f"{p}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise CertificateError(f"{p}: JSON nested too deeply") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CertificateError(f"{p}: not a verinet certificate (expected \"format\": \"{FORMAT}\")")
    return doc


def schema() -> dict:
    """The JSON Schema (draft 2020-12) of certificates, from ``verinet/schemas/certificate.schema.json``."""
    path = Path(__file__).resolve().parents[1] / "schemas" / "certificate.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))

