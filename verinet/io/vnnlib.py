"""VNN-LIB 1.0 property files (as used in VNN-COMP), read with every number kept exact.

Why our own parser: the PyPI package ``vnnlib`` (1.0.2) implements the VNN-LIB *2.0* grammar
(``declare-network``/``declare-input``) and rejects every 1.0 file (``declare-const``) in the reference
data with a syntax error; and although its AST keeps literal text, its linear forms, DNF and box outputs
(``vnnlib.compat``) are float64 only. So it is not used, not even as an optional fast path.

A file describes the *unsafe* set. The property is violated (VNN-COMP answer ``sat``) iff some input
``x`` satisfies the input constraints and the network output ``y = f(x)`` satisfies the output
constraints. :func:`parse_vnnlib` converts the conjunction of all ``assert`` commands to disjunctive normal
form and groups it into :class:`PropertyCase` objects, one per distinct input box; each case carries its
unsafe output condition as an OR of ANDs of :class:`LinearConstraint` ``c·y <= d`` (or ``<``).

Every number is an exact :class:`fractions.Fraction` of its decimal text: ``0.1`` is 1/10, not the
nearest float. Supported: ``declare-const`` (and ``declare-fun NAME () Real``) of ``X_i``/``Y_j`` of
sort ``Real``; ``assert``; comparisons ``<= >= < > =`` (chainable) between linear terms built from
numbers, variables, ``+``, ``-`` (unary and n-ary), ``*`` (at most one non-constant factor) and ``/`` by a
constant; ``and``, ``or``, ``not``; ``;`` comments; ``check-sat``, ``get-model``, ``set-logic``,
``set-info``, ``set-option`` and ``exit`` are ignored. Input constraints must be bounds on single inputs
(``<=``, ``>=`` or ``=``: a strict input bound is rejected because a box is closed), and every input of
every case needs a lower and an upper bound.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import math
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from numbers import Rational
from typing import Iterable, Sequence

from verinet.errors import NumberFormatError, PropertyFormatError, QueryError
from verinet.exactfmt import decimal_parts, fixed_point, parse_exact

__all__ = [
    "LinearConstraint",
    "PropertyCase",
    "VnnlibProperty",
    "parse_vnnlib",
    "format_counterexample",
    "MAX_DNF_SIZE",
]

#: Largest number of DNF disjuncts :func:`parse_vnnlib` builds before giving up with an error.
MAX_DNF_SIZE = 100_000
#: Deepest nesting of parentheses :func:`parse_vnnlib` accepts (properties in use nest a handful deep).
MAX_DEPTH = 256

_NUMBER_RE = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_VAR_RE = re.compile(r"(X|Y)_(0|[1-9]\d*)")
_IDENT_RE = re.compile(r"[A-Za-z_~!@$%^&*+=<>.?/-][A-Za-z0-9_~!@$%^&*+=<>.?/-]*")
_TOKEN_RE = re.compile(r"\(|\)|[^\s()]+")
_NONFINITE = frozenset({"inf", "infinity", "nan"})
_IGNORED_COMMANDS = frozenset({"check-sat", "get-model", "set-logic", "set-info", "set-option", "exit"})


# --------------------------------------------------------------------------------------------------
# Exact numbers


def _exact(v: object, what: str = "value") -> Fraction:
    """Exact rational value of an int, Fraction, finite float (binary value), Decimal or numpy scalar."""
    if isinstance(v, bool):
        raise TypeError(f"{what}: booleans are not numbers")
    if isinstance(v, Fraction):
        return v
    if isinstance(v, Rational):
        return Fraction(int(v.numerator), int(v.denominator))
    if isinstance(v, (float, Decimal)):
        if not (math.isfinite(v) if isinstance(v, float) else v.is_finite()):
            raise ValueError(f"{what}: {v!r} is not a finite number")
        return Fraction(v)
    if isinstance(v, str):
        q = _parse_decimal(v.strip(), what)
        if q is None:
            raise ValueError(f"{what}: {v!r} is not a decimal number")
        return q
    ratio = getattr(v, "as_integer_ratio", None)  # numpy floating / integer scalars
    if ratio is not None:
        try:
            n, d = ratio()
        except (OverflowError, ValueError):
            raise ValueError(f"{what}: {v!r} is not a finite number") from None
        return Fraction(n, d)
    raise TypeError(f"{what}: cannot use {type(v).__name__} as an exact number")


def _parse_decimal(text: str, what: str = "") -> Fraction | None:
    """Exact value of a decimal literal (``-0.5``, ``1e-05``, ``.5``, ``3.``), or None if it is not one.

    Raises :class:`~verinet.errors.NumberFormatError` for a decimal beyond the limits of
    :func:`verinet.exactfmt.parse_exact` (exponent, length, float64 range).
    """
    m = _NUMBER_RE.fullmatch(text)
    if m is None or not (m.group(2) or m.group(3)):
        return None
    return parse_exact(text, what)


def _decimal_text(q: Fraction) -> str:
    """Exact decimal text of ``q`` (``"-0.5"``, ``"3.0"``); ValueError if it does not terminate."""
    parts = decimal_parts(q)
    if parts is None:
        raise ValueError(f"{q} has no finite decimal expansion; choose a decimal or float point")
    text = fixed_point(*parts)
    return text if "." in text else text + ".0"


# --------------------------------------------------------------------------------------------------
# Public data model


@dataclass(frozen=True)
class LinearConstraint:
    """A halfspace ``sum_j coef[j] * Y_j <= rhs`` over the outputs (``<`` when ``strict``).

    Parameters
    ----------
    coef : tuple of Fraction
        One exact coefficient per network output.
    rhs : Fraction
        Exact right-hand side.
    strict : bool
        True for ``<`` (from ``<`` or ``>`` in the file), False for ``<=``.

    Examples
    --------
    >>> c = LinearConstraint((Fraction(1), Fraction(-1)), Fraction(0), False)   # Y_0 <= Y_1
    >>> c.holds_exact([Fraction(1, 3), Fraction(1, 3)])
    True
    >>> LinearConstraint(c.coef, c.rhs, True).holds_exact([0.5, 0.5])
    False
    """

    coef: tuple[Fraction, ...]
    rhs: Fraction
    strict: bool = False

    def value_exact(self, y: Sequence[object]) -> Fraction:
        """Exact ``coef · y`` (floats are taken at their exact binary value)."""
        if len(y) != len(self.coef):
            raise QueryError(f"output vector has {len(y)} entries, the constraint has {len(self.coef)}")
        return sum((c * _exact(v, "output") for c, v in zip(self.coef, y) if c), Fraction(0))

    def holds_exact(self, y: Sequence[object]) -> bool:
        """Whether the output vector ``y`` satisfies the constraint, decided in exact arithmetic."""
        s = self.value_exact(y)
        return s < self.rhs if self.strict else s <= self.rhs

    def __str__(self) -> str:
        terms = " + ".join(f"{c}*Y_{j}" for j, c in enumerate(self.coef) if c) or "0"
        return f"{terms} {'<' if self.strict else '<='} {self.rhs}"


@dataclass(frozen=True)
class PropertyCase:
    """One input box with the unsafe output condition that goes with it.

    Parameters
    ----------
    lower, upper : tuple of Fraction
        Exact closed bounds of each input ``X_i`` (``lower[i] <= upper[i]``).
    unsafe : tuple of tuple of LinearConstraint
        Disjunction (outer tuple) of conjunctions (inner tuples). An empty inner tuple means every
        output is unsafe; an empty outer tuple never happens for a parsed file.
    """

    lower: tuple[Fraction, ...]
    upper: tuple[Fraction, ...]
    unsafe: tuple[tuple[LinearConstraint, ...], ...]

    def contains_exact(self, x: Sequence[object]) -> bool:
        """Whether ``x`` lies in the closed box ``[lower, upper]`` (exact comparison)."""
        if len(x) != len(self.lower):
            raise QueryError(f"input vector has {len(x)} entries, the property has {len(self.lower)}")
        return all(lo <= _exact(v, "input") <= hi for lo, v, hi in zip(self.lower, x, self.upper))

    def unsafe_exact(self, y: Sequence[object]) -> bool:
        """Whether the output ``y`` satisfies the unsafe condition (some conjunction holds entirely)."""
        return any(all(c.holds_exact(y) for c in conj) for conj in self.unsafe)


@dataclass(frozen=True)
class VnnlibProperty:
    """A parsed VNN-LIB property: violated iff some case has ``x`` in its box and ``f(x)`` unsafe.

    Parameters
    ----------
    n_inputs, n_outputs : int
        Number of declared ``X_i`` and ``Y_j``.
    cases : tuple of PropertyCase
        The unsafe set is the union over the cases (empty only if every disjunct of the file contains
        a constant comparison that is false, such as ``(<= 1 0)``: then nothing can violate it).
    source : str or None
        The file path when parsed from a file, None when parsed from text.
    sha256 : str or None
        SHA-256 (hex) of the file's bytes, or of the UTF-8 text when parsed from text.
    """

    n_inputs: int
    n_outputs: int
    cases: tuple[PropertyCase, ...]
    source: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        for case in self.cases:
            if len(case.lower) != self.n_inputs or len(case.upper) != self.n_inputs:
                raise ValueError("every case needs one lower and one upper bound per input")
            for conj in case.unsafe:
                if any(len(c.coef) != self.n_outputs for c in conj):
                    raise ValueError("every output constraint needs one coefficient per output")

    def violated_by_exact(self, x: Sequence[object], y: Sequence[object]) -> bool:
        """Whether the pair ``(x, y)`` witnesses a violation, in exact arithmetic.

        ``y`` must be the network's output at ``x``; checking that is the caller's job. Floats are
        taken at their exact binary value, so a float input just outside a decimal bound is outside.
        """
        if len(x) != self.n_inputs:
            raise QueryError(f"input vector has {len(x)} entries, the property has {self.n_inputs}")
        if len(y) != self.n_outputs:
            raise QueryError(f"output vector has {len(y)} entries, the property has {self.n_outputs}")
        return any(case.contains_exact(x) and case.unsafe_exact(y) for case in self.cases)


# --------------------------------------------------------------------------------------------------
# S-expressions


class _Atom:
    __slots__ = ("text", "line")

    def __init__(self, text: str, line: int) -> None:
        self.text = text
        self.line = line


class _List:
    __slots__ = ("items", "line")

    def __init__(self, line: int) -> None:
        self.items: list[_Atom | _List] = []
        self.line = line


def _show(node: _Atom | _List, limit: int = 60) -> str:
    """Short source-like rendering of a node for error messages."""
    if isinstance(node, _Atom):
        return node.text
    s = "(" + " ".join(_show(i, limit) for i in node.items) + ")"
    return s if len(s) <= limit else s[: limit - 3] + "..."


class _Reader:
    """Parses text into s-expressions and raises errors that name the source and line."""

    def __init__(self, source: str | None) -> None:
        self.source = source

    def error(self, message: str, line: int | None = None) -> PropertyFormatError:
        where = self.source or "<vnnlib text>"
        if line is not None:
            where += f":{line}"
        return PropertyFormatError(f"{where}: {message}")

    def read(self, text: str) -> list[_Atom | _List]:
        top: list[_Atom | _List] = []
        stack: list[_List] = []
        for lineno, raw in enumerate(text.split("\n"), start=1):
            semi = raw.find(";")
            line = raw if semi < 0 else raw[:semi]
            for tok in _TOKEN_RE.findall(line):
                if tok == "(":
                    if len(stack) >= MAX_DEPTH:
                        raise self.error(f"expressions nested deeper than {MAX_DEPTH} levels", lineno)
                    stack.append(_List(lineno))
                elif tok == ")":
                    if not stack:
                        raise self.error("unbalanced parentheses: unexpected ')'", lineno)
                    done = stack.pop()
                    (stack[-1].items if stack else top).append(done)
                else:
                    (stack[-1].items if stack else top).append(_Atom(tok, lineno))
        if stack:
            raise self.error(
                f"unbalanced parentheses: '(' opened on line {stack[-1].line} is never closed", stack[-1].line
            )
        return top


# --------------------------------------------------------------------------------------------------
# Linear terms and formulas

_Var = tuple[str, int]  # ("X", i) or ("Y", j)


class _Lin:
    """An atomic constraint ``sum coefs[v]*v + const (< or <=) 0`` with its source line."""

    __slots__ = ("coefs", "const", "strict", "line")

    def __init__(self, coefs: dict[_Var, Fraction], const: Fraction, strict: bool, line: int) -> None:
        self.coefs = coefs
        self.const = const
        self.strict = strict
        self.line = line


# Formula: ("atom", _Lin) | ("and", [formulas]) | ("or", [formulas]); ("and", []) is true, ("or", []) false.
_TRUE: tuple = ("and", [])
_FALSE: tuple = ("or", [])

_COMPARISONS = {"<=", ">=", "<", ">", "="}
# negation of a binary comparison
_NEGATE = {"<=": ">", "<": ">=", ">=": "<", ">": "<="}


class _Builder:
    def __init__(self, reader: _Reader, declared: dict[str, _Var]) -> None:
        self.reader = reader
        self.declared = declared

    # ---- arithmetic -------------------------------------------------------------------------------

    def term(self, node: _Atom | _List) -> tuple[dict[_Var, Fraction], Fraction]:
        """Linear form (coefficients, constant) of an arithmetic term."""
        if isinstance(node, _Atom):
            t = node.text
            if t in self.declared:
                return {self.declared[t]: Fraction(1)}, Fraction(0)
            try:
                q = _parse_decimal(t)
            except NumberFormatError as exc:
                raise self.reader.error(str(exc), node.line) from None
            if q is not None:
                return {}, q
            if t[0].isdigit() or (t[0] in "+-." and len(t) > 1) or t.lower().lstrip("+-") in _NONFINITE:
                raise self.reader.error(f"non-numeric literal {t!r}", node.line)
            if _VAR_RE.fullmatch(t):
                raise self.reader.error(f"undeclared variable {t}", node.line)
            if t in _COMPARISONS or t in ("and", "or", "not", "+", "-", "*", "/"):
                raise self.reader.error(f"operator {t!r} used as a value", node.line)
            if _IDENT_RE.fullmatch(t):
                raise self.reader.error(f"undeclared variable {t}", node.line)
            raise self.reader.error(f"non-numeric literal {t!r}", node.line)
        op, args = self.head(node)
        if op in ("+", "-", "*", "/") and not args:
            raise self.reader.error(f"'{op}' needs at least one argument", node.line)
        if op == "+":
            return _lin_sum([self.term(a) for a in args], node.line)
        if op == "-":
            parts = [self.term(a) for a in args]
            if len(parts) == 1:
                return _lin_scale(parts[0], Fraction(-1))
            return _lin_sum([parts[0]] + [_lin_scale(p, Fraction(-1)) for p in parts[1:]], node.line)
        if op == "*":
            parts = [self.term(a) for a in args]
            factor = Fraction(1)
            linear = None
            for p in parts:
                if p[0]:
                    if linear is not None:
                        raise self.reader.error(f"nonlinear product {_show(node)}", node.line)
                    linear = p
                else:
                    factor *= p[1]
            return _lin_scale(linear if linear is not None else ({}, Fraction(1)), factor)
        if op == "/":
            parts = [self.term(a) for a in args]
            result = parts[0]
            for p in parts[1:]:
                if p[0]:
                    raise self.reader.error(f"division by a variable in {_show(node)}", node.line)
                if p[1] == 0:
                    raise self.reader.error(f"division by zero in {_show(node)}", node.line)
                result = _lin_scale(result, 1 / p[1])
            return result
        if op in _COMPARISONS or op in ("and", "or", "not"):
            raise self.reader.error(f"expected a number or a linear term, got {_show(node)}", node.line)
        raise self.reader.error(f"unknown operator {op!r} in {_show(node)}", node.line)

    def head(self, node: _List) -> tuple[str, list[_Atom | _List]]:
        if not node.items:
            raise self.reader.error("empty expression '()'", node.line)
        first = node.items[0]
        if not isinstance(first, _Atom):
            raise self.reader.error(f"expected an operator at the start of {_show(node)}", node.line)
        return first.text, node.items[1:]

    # ---- formulas ---------------------------------------------------------------------------------

    def formula(self, node: _Atom | _List, positive: bool = True) -> tuple:
        """Formula tree in negation normal form (``positive=False`` builds the negation)."""
        if isinstance(node, _Atom):
            if node.text in ("true", "false"):
                return _TRUE if (node.text == "true") == positive else _FALSE
            raise self.reader.error(f"expected a comparison, 'and' or 'or', got {node.text!r}", node.line)
        op, args = self.head(node)
        if op in ("and", "or"):
            if not args:
                raise self.reader.error(f"'{op}' needs at least one argument", node.line)
            kind = op if positive else ("or" if op == "and" else "and")
            return (kind, [self.formula(a, positive) for a in args])
        if op == "not":
            if len(args) != 1:
                raise self.reader.error("'not' takes exactly one argument", node.line)
            return self.formula(args[0], not positive)
        if op in _COMPARISONS:
            if len(args) < 2:
                raise self.reader.error(f"'{op}' needs at least two arguments", node.line)
            terms = [self.term(a) for a in args]
            pairs = [
                self.comparison(op, terms[k], terms[k + 1], positive, node.line) for k in range(len(args) - 1)
            ]
            return pairs[0] if len(pairs) == 1 else ("and" if positive else "or", pairs)
        if op in ("+", "-", "*", "/"):
            raise self.reader.error(f"expected a comparison, got the term {_show(node)}", node.line)
        raise self.reader.error(f"unknown operator {op!r} in {_show(node)}", node.line)

    def comparison(self, op: str, lhs, rhs, positive: bool, line: int) -> tuple:
        if not positive:
            if op == "=":
                return ("or", [self.comparison(o, lhs, rhs, True, line) for o in ("<", ">")])
            op = _NEGATE[op]
        if op == "=":
            return ("and", [self.comparison(o, lhs, rhs, True, line) for o in ("<=", ">=")])
        if op in ("<=", "<"):
            diff = _lin_sum([lhs, _lin_scale(rhs, Fraction(-1))], line)
        else:
            diff = _lin_sum([rhs, _lin_scale(lhs, Fraction(-1))], line)
        coefs, const = diff
        strict = op in ("<", ">")
        if not coefs:  # constant comparison: decide it now
            holds = const < 0 if strict else const <= 0
            return _TRUE if holds else _FALSE
        lin = _Lin(coefs, const, strict, line)
        kinds = {v[0] for v in coefs}
        if kinds == {"X", "Y"}:
            raise self.reader.error("constraints that mix inputs and outputs are unsupported", line)
        if kinds == {"X"}:
            if len(coefs) > 1:
                raise self.reader.error(
                    "general input constraints are unsupported (only bounds on single inputs X_i)", line
                )
            if strict:
                raise self.reader.error(
                    "strict input bounds (< or >) are unsupported: input boxes are closed, use <= or >=", line
                )
        return ("atom", lin)


def _lin_sum(parts: Iterable[tuple[dict[_Var, Fraction], Fraction]], line: int) -> tuple[dict, Fraction]:
    coefs: dict[_Var, Fraction] = {}
    const = Fraction(0)
    for c, k in parts:
        const += k
        for v, a in c.items():
            s = coefs.get(v, 0) + a
            if s:
                coefs[v] = s
            else:
                coefs.pop(v, None)
    return coefs, const


def _lin_scale(part: tuple[dict[_Var, Fraction], Fraction], factor: Fraction) -> tuple[dict, Fraction]:
    if factor == 0:
        return {}, Fraction(0)
    return {v: a * factor for v, a in part[0].items()}, part[1] * factor


def _dnf(f: tuple, reader: _Reader) -> list[list[_Lin]]:
    """Disjunctive normal form: a list of conjunctions (lists of atoms)."""
    kind, body = f
    if kind == "atom":
        return [[body]]
    if kind == "or":
        out: list[list[_Lin]] = []
        for child in body:
            out.extend(_dnf(child, reader))
            if len(out) > MAX_DNF_SIZE:
                raise reader.error(f"the property expands to more than {MAX_DNF_SIZE} cases")
        return out
    # and: conjunctions with a single disjunct are merged once; the others multiply out
    common: list[_Lin] = []
    multi: list[list[list[_Lin]]] = []
    size = 1
    for child in body:
        d = _dnf(child, reader)
        if not d:
            return []
        if len(d) == 1:
            common.extend(d[0])
        else:
            multi.append(d)
            size *= len(d)
            if size > MAX_DNF_SIZE:
                raise reader.error(f"the property expands to more than {MAX_DNF_SIZE} cases")
    if not multi:
        return [common]
    return [common + list(itertools.chain.from_iterable(combo)) for combo in itertools.product(*multi)]


# --------------------------------------------------------------------------------------------------
# Top level


def _read_source(path_or_text: str | os.PathLike) -> tuple[str, str | None, str]:
    """(text, source path or None, sha256) of a path or of literal VNN-LIB text."""
    if isinstance(path_or_text, str) and "(" in path_or_text:
        return path_or_text, None, hashlib.sha256(path_or_text.encode("utf-8")).hexdigest()
    if not isinstance(path_or_text, (str, os.PathLike)):
        raise TypeError(f"parse_vnnlib expects a path or VNN-LIB text, not {type(path_or_text).__name__}")
    path = os.fspath(path_or_text)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise PropertyFormatError(f"{path}: no such VNN-LIB file") from None
    except IsADirectoryError:
        raise PropertyFormatError(f"{path}: is a directory, not a VNN-LIB file") from None
    except OSError as exc:
        raise PropertyFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    digest = hashlib.sha256(data).hexdigest()
    if path.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise PropertyFormatError(f"{path}: not a valid gzip file ({exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PropertyFormatError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return text, path, digest


def _declare(node: _List, op: str, args: list, reader: _Reader, declared: dict[str, _Var]) -> None:
    if op == "declare-const":
        if len(args) != 2:
            raise reader.error(f"expected (declare-const NAME Real), got {_show(node)}", node.line)
        name, sort = args
    else:  # declare-fun NAME () Real
        if len(args) != 3 or not isinstance(args[1], _List) or args[1].items:
            raise reader.error(f"expected (declare-fun NAME () Real), got {_show(node)}", node.line)
        name, sort = args[0], args[2]
    if not isinstance(name, _Atom) or not isinstance(sort, _Atom):
        raise reader.error(f"malformed declaration {_show(node)}", node.line)
    if sort.text != "Real":
        raise reader.error(f"variable {name.text} has sort {sort.text!r}; only Real is supported", node.line)
    m = _VAR_RE.fullmatch(name.text)
    if m is None:
        raise reader.error(
            f"variable name {name.text!r} is not X_<i> (input) or Y_<j> (output)", node.line
        )
    if name.text in declared:
        raise reader.error(f"variable {name.text} is declared twice", node.line)
    declared[name.text] = (m.group(1), int(m.group(2)))


def _count(declared: dict[str, _Var], kind: str, reader: _Reader) -> int:
    idx = sorted(i for k, i in declared.values() if k == kind)
    what = "inputs X_i" if kind == "X" else "outputs Y_j"
    if not idx:
        raise reader.error(f"no {what} are declared")
    if idx[-1] != len(idx) - 1:
        missing = next(i for i in range(len(idx)) if i != idx[i])
        raise reader.error(f"{kind}_{missing} is not declared but {kind}_{idx[-1]} is; declare {what} from 0")
    return len(idx)


def parse_vnnlib(path_or_text: str | os.PathLike) -> VnnlibProperty:
    """Read a VNN-LIB 1.0 property exactly.

    Parameters
    ----------
    path_or_text : str or os.PathLike
        A path to a ``.vnnlib`` (or ``.vnnlib.gz``) file, or the VNN-LIB text itself: a ``str``
        containing ``(`` is taken as text (pass a :class:`pathlib.Path` for a path that contains one).

    Returns
    -------
    VnnlibProperty
        The unsafe set as cases (input box, OR of ANDs of output halfspaces), with exact numbers.

    Raises
    ------
    PropertyFormatError
        Missing/unreadable file, unbalanced parentheses, unknown operator or command, undeclared
        variable, non-numeric literal, nonlinear term, unsupported input constraint, missing or
        inverted input bounds. The message names the file and line.

    Examples
    --------
    >>> p = parse_vnnlib('''
    ... (declare-const X_0 Real)
    ... (declare-const Y_0 Real)
    ... (declare-const Y_1 Real)
    ... (assert (<= X_0 0.1))
    ... (assert (>= X_0 (- 0.5)))
    ... (assert (or (>= Y_0 1e-05) (< Y_0 Y_1)))''')
    >>> p.cases[0].lower, p.cases[0].upper
    ((Fraction(-1, 2),), (Fraction(1, 10),))
    >>> [str(c) for (c,) in p.cases[0].unsafe]
    ['-1*Y_0 <= -1/100000', '1*Y_0 + -1*Y_1 < 0']
    >>> p.violated_by_exact([0], [Fraction(1, 100000), 0])
    True
    """
    text, source, digest = _read_source(path_or_text)
    reader = _Reader(source)
    forms = reader.read(text)

    declared: dict[str, _Var] = {}
    assertions: list[_List] = []
    for node in forms:
        if isinstance(node, _Atom):
            raise reader.error(f"unexpected {node.text!r} outside parentheses", node.line)
        builder = _Builder(reader, declared)
        op, args = builder.head(node)
        if op in ("declare-const", "declare-fun"):
            _declare(node, op, args, reader, declared)
        elif op == "assert":
            if len(args) != 1:
                raise reader.error(f"'assert' takes exactly one formula, got {_show(node)}", node.line)
            assertions.append(args[0])
        elif op not in _IGNORED_COMMANDS:
            raise reader.error(f"unknown command {op!r}", node.line)
    n_in = _count(declared, "X", reader)
    n_out = _count(declared, "Y", reader)

    builder = _Builder(reader, declared)
    formula = ("and", [builder.formula(a) for a in assertions])
    disjuncts = _dnf(formula, reader)

    boxes: dict[tuple, list[tuple[LinearConstraint, ...]]] = {}
    for conj in disjuncts:
        lower: list[Fraction | None] = [None] * n_in
        upper: list[Fraction | None] = [None] * n_in
        outs: list[LinearConstraint] = []
        for lin in conj:
            (kind, i), a = next(iter(lin.coefs.items()))
            if kind == "X":  # a*x_i + const <= 0
                bound = -lin.const / a
                if a > 0:
                    upper[i] = bound if upper[i] is None else min(upper[i], bound)
                else:
                    lower[i] = bound if lower[i] is None else max(lower[i], bound)
            else:
                coef = [Fraction(0)] * n_out
                for (_, j), c in lin.coefs.items():
                    coef[j] = c
                outs.append(LinearConstraint(tuple(coef), -lin.const, lin.strict))
        for i in range(n_in):
            if lower[i] is None or upper[i] is None:
                side = "lower" if lower[i] is None else "upper"
                where = " in one of the cases" if len(disjuncts) > 1 else ""
                raise reader.error(f"input X_{i} has no {side} bound{where}")
            if lower[i] > upper[i]:
                raise reader.error(
                    f"inverted bounds for input X_{i}: lower {lower[i]} > upper {upper[i]}"
                )
        key = (tuple(lower), tuple(upper))
        conds = boxes.setdefault(key, [])
        if tuple(outs) not in conds:
            conds.append(tuple(outs))
    cases = tuple(PropertyCase(lo, hi, tuple(conds)) for (lo, hi), conds in boxes.items())
    return VnnlibProperty(n_in, n_out, cases, source, digest)


def _value_text(v: object) -> str:
    q = _exact(v, "counterexample value")
    if isinstance(v, (int, Fraction, Decimal)) or isinstance(v, Rational):
        return _decimal_text(q)
    f = float(v)  # floats and numpy floats: repr if the value is exactly a float64
    return repr(f) if Fraction(f) == q else _decimal_text(q)


def format_counterexample(x: Sequence[object], y: Sequence[object]) -> str:
    """Body of a VNN-COMP result file for a counterexample (the line ``sat`` is not included).

    Floats are written with ``repr`` (which reads back to the same float); ints, Fractions and
    Decimals as exact decimals (ValueError for a Fraction such as 1/3 with no finite decimal).

    Examples
    --------
    >>> print(format_counterexample([Fraction(1, 10), -0.5], [3]), end="")
    ((X_0 0.1)
     (X_1 -0.5)
     (Y_0 3.0))
    """
    entries = [f"(X_{i} {_value_text(v)})" for i, v in enumerate(x)]
    entries += [f"(Y_{j} {_value_text(v)})" for j, v in enumerate(y)]
    if not entries:
        raise ValueError("a counterexample needs at least one value")
    return "(" + "\n ".join(entries) + ")\n"
