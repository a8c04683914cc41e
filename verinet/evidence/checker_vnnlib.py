"""Checking ``vnnlib`` certificates: VNN-LIB verdicts re-verified independently of the search.

Part of the checker (:mod:`verinet.evidence.checker`; same independence: exact rationals and python-flint balls,
no fast-path code). Besides the model reader it shares the VNN-LIB reader (:func:`verinet.io.vnnlib.parse_vnnlib`),
only to confirm that the query recorded in the certificate is the property file's (SHA-256 and the parsed
cases compared exactly); the claim itself is checked on the recorded query.

* ``unsat``: for every case with an unsafe set, the leaves must tile a box containing the case box
  (:func:`verinet.evidence.checker._check_cover`: exact rationals; a neuron split needs both signs under its parent),
  and on each leaf (the part of its box where its fixed neurons have their signs) every unsafe conjunction
  must have an atom ``c·y − d`` proved ``> 0`` (``≥ 0`` when the atom is strict): first by exact rational
  interval propagation through the network with ``C`` folded into its last layer, else by linear
  back-substitution in ball arithmetic (:mod:`verinet.evidence.checker_linear`), bisecting the leaf's box (up to
  :data:`MAX_PIECES` pieces) when that is still too coarse. Leaves marked ``outside`` must miss the case
  box exactly.
* ``sat``: the counterexample must lie in some case box and its exact output must satisfy that case's
  unsafe condition.
"""

from __future__ import annotations

import hashlib
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from verinet.evidence.checker import (
    CheckResult,
    _ExactLayer,
    _get,
    _Invalid,
    _IVec,
    _output_at,
    _propagate,
    _q,
    _qvec,
    _Region,
    _check_cover,
    _choose,
)
from verinet.errors import CertificateError

__all__ = ["check_vnnlib"]

#: a leaf the checker's own bounds cannot close at once is bisected into at most this many pieces
MAX_PIECES = 64


def _case(d, n: int, m: int, where: str):
    if not isinstance(d, dict):
        raise CertificateError(f"malformed certificate: {where} must be an object")
    lo = _qvec(d.get("lower"), n, f"{where}.lower")
    hi = _qvec(d.get("upper"), n, f"{where}.upper")
    unsafe = d.get("unsafe")
    if not isinstance(unsafe, list):
        raise CertificateError(f"malformed certificate: {where}.unsafe must be a list")
    conjs = []
    for a, conj in enumerate(unsafe):
        if not isinstance(conj, list):
            raise CertificateError(f"malformed certificate: {where}.unsafe[{a}] must be a list")
        atoms = []
        for b, atom in enumerate(conj):
            w = f"{where}.unsafe[{a}][{b}]"
            if not isinstance(atom, dict) or not isinstance(atom.get("strict"), bool):
                raise CertificateError(f"malformed certificate: {w} needs coef, rhs and a boolean strict")
            atoms.append((tuple(_qvec(atom.get("coef"), m, f"{w}.coef")), _q(atom.get("rhs"), f"{w}.rhs"),
                          atom["strict"]))
        conjs.append(tuple(atoms))
    return tuple(lo), tuple(hi), tuple(conjs)


def _same_as_file(cases, cert: dict, path: Path) -> str | None:
    """None if the property file has the recorded SHA-256 and parses to the recorded cases."""
    from verinet.io.vnnlib import parse_vnnlib

    want = _get(cert, "query.property.sha256", str).lower()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CertificateError(f"cannot read property file {path}: {exc.strerror or exc}") from None
    have = hashlib.sha256(data).hexdigest()
    if have != want:
        return f"property SHA-256 mismatch: the certificate names {want}, {path.name} has {have}"
    prop = parse_vnnlib(path)
    parsed = tuple((tuple(c.lower), tuple(c.upper),
                    tuple(tuple((tuple(a.coef), a.rhs, a.strict) for a in conj) for conj in c.unsafe))
                   for c in prop.cases)
    if parsed != tuple(cases):
        return f"the recorded query is not the property of {path.name}"
    return None


def _resolve_property(cert: dict, property_path, base: Path) -> Path:
    if property_path is not None:
        return Path(os.fspath(property_path))
    name = _get(cert, "query.property.file", str)
    if not name or name != Path(name).name or name in (".", ".."):
        raise CertificateError(f"malformed certificate: query.property.file must be a bare file name, got {name!r}")
    p = base / name
    if not p.exists():
        raise CertificateError(f"property file not found: {p} (give it with --property)")
    return p


class _Spec:
    """The network with the atoms ``z = C y − d`` of one case as its last layer (exact)."""

    def __init__(self, layers: list[_ExactLayer], conjs) -> None:
        index: dict = {}
        rows = []
        self.conj = []
        for conj in conjs:
            ids = []
            for atom in conj:
                if atom not in index:
                    index[atom] = len(rows)
                    rows.append(atom)
                ids.append(index[atom])
            self.conj.append(tuple(ids))
        self.strict = [a[2] for a in rows]
        last = layers[-1]
        W = [[Fraction(w, last.den) for w in row] for row in last.Wn]
        b = [Fraction(v, last.den) for v in last.bn]
        C = [a[0] for a in rows]
        d = [a[1] for a in rows]
        if last.act == "identity":  # fold C into the last layer: z = (C W) a + (C b − d), exact
            Wz = [[sum((c * W[k][j] for k, c in enumerate(crow) if c), Fraction(0)) for j in range(len(W[0]))]
                  for crow in C]
            bz = [sum((c * bk for c, bk in zip(crow, b) if c), Fraction(0)) - dk for crow, dk in zip(C, d)]
            hidden = [self._plain(L) for L in layers[:-1]]
        else:
            Wz, bz = [list(r) for r in C], [-dk for dk in d]
            hidden = [self._plain(L) for L in layers]
        self.plain = hidden + [(Wz, bz, "identity", Fraction(0))]
        self.exact = layers[:len(hidden)] + [_make_layer(Wz, bz)]
        self._arb = None

    @staticmethod
    def _plain(L: _ExactLayer):
        return ([[Fraction(w, L.den) for w in row] for row in L.Wn], [Fraction(v, L.den) for v in L.bn], L.act,
                Fraction(L.a_num, L.a_den))

    def refuted(self, zlo: list[Fraction]) -> bool:
        """Every conjunction has an atom whose lower bound proves it false (``> 0``; ``≥ 0`` if strict)."""
        return all(any(zlo[i] >= 0 if self.strict[i] else zlo[i] > 0 for i in c) for c in self.conj)

    def by_intervals(self, lo, hi, fixed) -> bool:
        got = _propagate(self.exact, _IVec.box(lo, hi), fixed or None)
        if got is None:  # the part is empty
            return True
        return self.refuted([a for a, _ in got[1].fractions()])

    def by_linear(self, lo, hi, fixed) -> bool:
        if self._arb is None:
            from verinet.evidence.checker_linear import ArbNetwork

            self._arb = ArbNetwork(self.plain)
        atoms = sorted({i for c in self.conj for i in c})
        got = self._arb.output_lower(lo, hi, fixed, atoms)
        if got is None:
            return True
        z = {i: v for i, v in zip(atoms, got)}
        return all(any(z[i] >= 0 if self.strict[i] else z[i] > 0 for i in c) for c in self.conj)

    def proves(self, lo, hi, fixed, linear: bool) -> tuple[bool, int]:
        """Whether the leaf's part has no unsafe point; the number of pieces used."""
        if self.by_intervals(lo, hi, fixed):
            return True, 1
        if not linear:
            return False, 1
        todo = [(list(lo), list(hi))]
        pieces = 0
        while todo:
            a, b = todo.pop()
            pieces += 1
            if pieces > MAX_PIECES:
                return False, pieces
            if self.by_linear(a, b, fixed):
                continue
            d = max(range(len(a)), key=lambda i: b[i] - a[i])
            if b[d] == a[d]:
                return False, pieces
            mid = (a[d] + b[d]) / 2
            left_hi, right_lo = list(b), list(a)
            left_hi[d] = right_lo[d] = mid
            todo += [(a, left_hi), (right_lo, b)]
        return True, pieces


def _make_layer(W, b) -> _ExactLayer:
    from verinet.evidence.checker import _scaled

    nums, den = _scaled([v for row in W for v in row] + list(b))
    n_in = len(W[0])
    Wn = tuple(tuple(nums[i * n_in:(i + 1) * n_in]) for i in range(len(W)))
    return _ExactLayer(Wn, tuple(nums[len(W) * n_in:]), den, "identity", 0, 1)


def _leaf_failure(item) -> str | None:
    """None if the leaf's claim is re-proved, else the reason."""
    k, i, lo, hi, fx, linear, outside, spec, region = item
    if outside:
        return None if region.misses(lo, hi) else f"case {k} leaf {i} is marked outside the case box but meets it"
    if spec.proves(lo, hi, fx, linear)[0]:
        return None
    return (f"case {k} leaf {i}: the checker's own bounds do not prove the unsafe set empty on this leaf "
            f"(exact intervals, then linear bounds in balls on {MAX_PIECES} pieces)")


def _chunk_failure(items) -> str | None:
    for item in items:
        why = _leaf_failure(item)
        if why is not None:
            return why
    return None


def _parallel(items: list, workers: int, progress) -> str | None:
    """:func:`_leaf_failure` over the items in ``workers`` processes (chunks in order; the first failing
    chunk's reason, so the answer does not depend on scheduling)."""
    import concurrent.futures
    import multiprocessing

    size = max(1, min(256, len(items) // (4 * workers) or 1))
    chunks = [items[a:a + size] for a in range(0, len(items), size)]
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    reasons: dict[int, str] = {}
    done = 0
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_chunk_failure, c): j for j, c in enumerate(chunks)}
        for f in concurrent.futures.as_completed(futures):
            why = f.result()
            done += len(chunks[futures[f]])
            if why is not None:
                reasons[futures[f]] = why
            if progress is not None:
                progress(done, len(items))
    return reasons[min(reasons)] if reasons else None


def check_vnnlib(cert: dict, layers: list[_ExactLayer], n: int, sample, seed, *, base: Path,
                 property_path=None, progress=None, workers: int = 1) -> CheckResult:
    """Check a ``vnnlib`` certificate (see the module docstring). Raises _Invalid on the first failure."""
    m = len(layers[-1].bn)
    raw = _get(cert, "query.cases", list)
    cases = [_case(c, n, m, f"query.cases[{i}]") for i, c in enumerate(raw)]
    why = _same_as_file(cases, cert, _resolve_property(cert, property_path, base))
    if why is not None:
        raise _Invalid(why)
    result = _get(cert, "claim.result", str)
    if result in ("unknown", "timeout"):
        return CheckResult(True, f"valid (result {result!r} makes no claim)")
    evidence = _get(cert, "evidence", dict)
    if result == "sat":
        x = _qvec(_get(evidence, "counterexample.x", list), n, "evidence.counterexample.x")
        y = _output_at(layers, x)
        for lo, hi, conjs in cases:
            inside = all(a <= v <= b for a, v, b in zip(lo, x, hi))
            if inside and any(all((sum((c * v for c, v in zip(coef, y)), Fraction(0)) < rhs) if strict else
                                  (sum((c * v for c, v in zip(coef, y)), Fraction(0)) <= rhs)
                                  for coef, rhs, strict in conj) for conj in conjs):
                return CheckResult(True, "valid")
        raise _Invalid("the counterexample is not in a case box with an unsafe exact output")
    if result != "unsat":
        raise CertificateError(f"malformed certificate: unknown result {result!r}")
    ev_cases = _get(evidence, "cases", list)
    if len(ev_cases) != len(cases):
        raise _Invalid(f"the evidence has {len(ev_cases)} case(s), the query {len(cases)}")
    work = []  # (case, leaf, lower, upper, fixed, linear, outside)
    for k, ((lo, hi, conjs), ev) in enumerate(zip(cases, ev_cases)):
        if not conjs:  # no unsafe output at all: nothing to prove
            continue
        if not isinstance(ev, dict):
            raise CertificateError(f"malformed certificate: evidence.cases[{k}] must be an object")
        region = _Region("box", lo, hi, None, None, "inf")
        spec = _Spec(layers, conjs)
        if isinstance(ev.get("leaves"), dict):  # schema 3: the case's leaves are in a companion .npz table
            work += _table_work(k, ev, layers, n, region, spec, base)
            continue
        try:
            L, H, FX = _check_cover(region, ev, n, layers)
        except _Invalid as exc:
            raise _Invalid(f"case {k}: {exc}") from None
        for i, leaf in enumerate(ev["leaves"]):
            work.append((k, i, L[i], H[i], FX[i], leaf.get("proof") != "interval", leaf.get("outside") is True,
                         spec, region))
    total = len(work)
    if total == 0:
        return CheckResult(True, "valid")
    chosen = _choose(total, sample, seed, 0)
    if workers > 1 and len(chosen) > 1:
        why = _parallel([work[w] for w in chosen], workers, progress)
    else:
        why = None
        for done, w in enumerate(chosen, 1):
            why = _leaf_failure(work[w])
            if why is not None:
                break
            if progress is not None:
                progress(done, len(chosen))
    if why is not None:
        raise _Invalid(why)
    sampled = len(chosen) < total
    reason = f"valid (sampled {len(chosen)} of {total} leaves)" if sampled else "valid"
    return CheckResult(True, reason, len(chosen), total, sampled)


def _table_work(k: int, ev: dict, layers, n: int, region, spec, base: Path) -> list:
    """The work items of case ``k`` whose leaves are in a companion table (schema 3): the table is read after
    its SHA-256 matches, its coverage checked exactly (:mod:`verinet.evidence.checker_stream`), and every leaf becomes
    an item as for an inline leaf (``ev["proof"]``: the enclosure the search closed the case's leaves with)."""
    from verinet.evidence.checker_stream import _cover, _read

    proof = ev.get("proof", "linear")
    if proof not in ("interval", "linear"):
        raise CertificateError(f"malformed certificate: evidence.cases[{k}].proof must be 'interval' or 'linear'")
    if ev["leaves"].get("null"):
        raise CertificateError(f"malformed certificate: evidence.cases[{k}] leaves cannot carry null parts")
    try:
        table = _read({"evidence": {"leaves": ev["leaves"]}}, base, n)
        _cover(table, layers, region, ev, n)
    except _Invalid as exc:
        raise _Invalid(f"case {k}: {exc}") from None
    lo, hi = table.corners()
    outside = table.outside if table.outside is not None else np.zeros(table.count, dtype=np.int8)
    items = []
    for i in range(table.count):
        fx = {(a, b): c for a, b, c in table.fixed_of(i)}
        items.append((k, i, [Fraction(v) for v in lo[i].tolist()], [Fraction(v) for v in hi[i].tolist()], fx,
                      proof != "interval", bool(outside[i]), spec, region))
    return items
