"""Checking ``radius-robustness`` certificates (:func:`verinet.evidence.certificate.radius_certificate`).

Part of the independent checker (:mod:`verinet.evidence.checker`; exact rationals only). The claim is a pair of
radii around a centre ``x₀``:

* ``verified_radius`` r_v: the property holds on the closed ball ``‖x − x₀‖ ≤ r_v``. The evidence is a
  local-robustness partition of that ball, checked exactly as a ``local-robustness`` certificate (the
  ball named by the evidence must be exactly ``x₀``, ``r_v`` and the query's norm);
* ``falsified_radius`` r_f: a counterexample ``x`` with ``‖x − x₀‖ ≤ r_f`` (exact; l2 compared as squares)
  whose exact output violates the property, so no ball of radius ≥ r_f is robust.
"""

from __future__ import annotations

from fractions import Fraction

from verinet.evidence.checker import (
    CheckResult,
    _check_robustness,
    _get,
    _Invalid,
    _output_at,
    _property,
    _q,
    _qvec,
    _Region,
    _violates,
)
from verinet.errors import CertificateError

__all__ = ["check_radius"]


def _radius(claim: dict, key: str) -> Fraction | None:
    v = claim.get(key)
    if v is None:
        return None
    r = _q(v, f"claim.{key}")
    if r <= 0:
        raise CertificateError(f"malformed certificate: claim.{key} must be > 0")
    return r


def check_radius(cert: dict, layers, n: int, sample, seed, **table_options) -> CheckResult:
    """Check a ``radius-robustness`` certificate (see the module docstring); raises _Invalid on failure."""
    query = _get(cert, "query", dict)
    claim = _get(cert, "claim", dict)
    center = _qvec(_get(cert, "query.center", list), n, "query.center")
    norm = _get(cert, "query.norm", str)
    if norm not in ("inf", "2", "1"):
        raise CertificateError(f"malformed certificate: unknown norm {norm!r}")
    vr, fr = _radius(claim, "verified_radius"), _radius(claim, "falsified_radius")
    if vr is None and fr is None:
        return CheckResult(True, "valid (no radius claimed)", 0, 0, False)
    region = _Region.parse(_get(cert, "query.region", dict))
    prop = _property(cert, len(layers[-1].bn), region, layers)
    evidence = _get(cert, "evidence", dict)
    result = CheckResult(True, "valid", 0, 0, False)
    if vr is not None:
        sub_ev = _get(evidence, "verified", dict)
        ball = _Region.parse(_get(sub_ev, "region", dict), "evidence.verified.region")
        if list(ball.center or ()) != center or ball.radius != vr or ball.norm != norm:
            raise _Invalid("the verified ball is not the ball of the claimed radius around the centre")
        sub = {"kind": "local-robustness", "claim": {"verdict": "verified"},
               "query": {"region": sub_ev["region"], "property": query.get("property")}, "evidence": sub_ev}
        result = _check_robustness(sub, layers, n, sample, seed, **table_options)
    if fr is not None:
        x = _qvec(_get(evidence, "counterexample.point", list), n, "evidence.counterexample.point")
        d = [abs(a - c) for a, c in zip(x, center)]
        far = (max(d) > fr if norm == "inf" else sum(d, Fraction(0)) > fr if norm == "1"
               else sum((v * v for v in d), Fraction(0)) > fr * fr)
        if far:
            raise _Invalid("the counterexample is farther from the centre than the claimed falsified radius")
        if not _violates(prop, _output_at(layers, x)):
            raise _Invalid("the counterexample does not violate the property (exact evaluation)")
    return result
