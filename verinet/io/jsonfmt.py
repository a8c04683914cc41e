"""verinet's JSON model format: exact decimal (or ``p/q``) strings, readable by people and by the checker.

Layout (the seed networks of ``tests/data/seed`` are instances)::

    {
      "name": "iris",                           # optional, informative
      "activation": "relu",                     # optional: activation of the hidden layers (default relu)
      "layers": [
        {"weight": [["0.5", "-1.25e-3"], ...],  # shape (out, in)
         "bias": ["0", ...],                    # shape (out,)
         "activation": "leaky_relu",            # optional, per layer: relu, identity, leaky_relu,
         "alpha": "0.01"},                      #   sigmoid, tanh; "alpha" only for leaky_relu
        ...
      ],
      "input_domain": {"lower": [...], "upper": [...]}   # optional box of inputs
    }

Numbers are strings holding an exact decimal (``"0.1"`` is one tenth, not the float nearest to it) or an
exact ratio ``"p/q"``; JSON number literals are accepted too and are read from their *text*, with the same
exact-decimal meaning. Without per-layer ``"activation"`` keys, every layer but the last uses the
top-level ``"activation"`` (default ``relu``) and the last layer is the identity.

The writer is exact: a float weight is written as the terminating decimal equal to it (so ``0.1``
as a float64 becomes ``"0.1000000000000000055511151231257827021181583404541015625"``) and a rational
that is not a terminating decimal as ``"p/q"``. Reading back gives identical exact weights.

A file's ``"query"`` (the seed files carry one) is not part of the network; :func:`read_seed_query`
returns it.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from verinet.activations import names
from verinet.errors import ModelFormatError
from verinet.io import _jsonscan
from verinet.io._common import build_network, exact_str, parse_exact, read_model_bytes, with_provenance
from verinet.io._jsonscan import ScannedRows, expand, marker_index
from verinet.io.decimals import enclose_decimal_rows, enclose_decimals
from verinet.network import Activation, InputDomain, Layer, Network

__all__ = ["SeedQuery", "load_json", "network_to_json", "read_seed_query", "save_json"]


@dataclass(frozen=True)
class SeedQuery:
    """The ``query`` of a seed JSON file: the box ``center ± radius`` (exact decimal strings)."""

    center: tuple[str, ...]
    radius: str
    input_norm: str | None = None
    output_index: int | None = None
    expected: str | None = None  # ``expected_lipschitz`` when present


def _load_document(path, *, scan_rows: bool = True) -> tuple[Path, bytes, dict, ScannedRows | None]:
    """The file's bytes and its JSON document; with ``scan_rows`` (big files) arrays of decimal strings
    may come back as markers of ``rows`` (:mod:`verinet.io._jsonscan`; :func:`expand` undoes that)."""
    p, data = read_model_bytes(path)
    if scan_rows:
        try:
            scanned = _jsonscan.scan(data)
            doc = None if scanned is None else json.loads(
                scanned[0], parse_float=str, parse_int=str, parse_constant=_reject_constant)
        except (ValueError, RecursionError):  # incl. UnicodeDecodeError
            doc = None  # the general path below reports the error at its place in the original text
        if isinstance(doc, dict):
            return p, data, doc, scanned[1]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFormatError(f"{p}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    try:
        # Number literals keep their text: a JSON 0.1 means the decimal 0.1 exactly.
        doc = json.loads(text, parse_float=str, parse_int=str, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ModelFormatError(
            f"{p}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise ModelFormatError(f"{p}: {exc}") from None
    except RecursionError:
        raise ModelFormatError(f"{p}: JSON nested too deeply") from None
    if not isinstance(doc, dict):
        raise ModelFormatError(f"{p}: expected a JSON object at the top level, got {type(doc).__name__}")
    return p, data, doc, None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed (NaN and infinite numbers are not allowed)")


def _numbers(value, shape_rank: int, where: str, p: Path) -> np.ndarray:
    """Object array of Fractions from nested lists of strings; checks the rank and rectangularity."""

    def conv(v, idx):
        if isinstance(v, bool) or not isinstance(v, str):
            raise ModelFormatError(f"{p}: {where} entry {idx}: expected a number, got {json.dumps(v)[:40]}")
        try:
            return parse_exact(v)
        except ValueError as exc:
            raise ModelFormatError(f"{p}: {where} entry {idx}: {exc}") from None

    if shape_rank == 1:
        if not isinstance(value, list):
            raise ModelFormatError(f"{p}: {where}: expected a list of numbers")
        out = np.empty(len(value), dtype=object)
        for i, v in enumerate(value):
            out[i] = conv(v, (i,))
        return out
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
        raise ModelFormatError(f"{p}: {where}: expected a non-empty list of rows (shape (out, in))")
    n_in = len(value[0])
    out = np.empty((len(value), n_in), dtype=object)
    for i, row in enumerate(value):
        if len(row) != n_in:
            raise ModelFormatError(f"{p}: {where}: row {i} has {len(row)} entries, row 0 has {n_in}")
        for j, v in enumerate(row):
            out[i, j] = conv(v, (i, j))
    return out


def _fast_numbers(value, shape_rank: int, rows: ScannedRows | None):
    """``(lo, hi, text)`` arrays for a well-formed vector/matrix of plain decimal strings (see
    :mod:`verinet.io.decimals`), or None: the exact path then reads it (and reports any error)."""
    if rows is not None:  # rows cut from the bytes: no Python string per number
        if shape_rank == 1:
            k = marker_index(value)
            ks = None if k is None else [k]
        else:
            ks = [marker_index(r) for r in value] if isinstance(value, list) and value else None
            ks = None if ks is None or None in ks else ks
        if ks is not None:
            n_in = rows.counts[ks[0]]
            if all(rows.counts[k] == n_in for k in ks):
                blobs = [rows.blobs[k] for k in ks]
                r = enclose_decimal_rows(blobs, n_in)
                if r is not None:
                    shape = (n_in,) if shape_rank == 1 else (len(ks), n_in)
                    return r[0].reshape(shape), r[1].reshape(shape), (b",".join(blobs), shape)
        value = expand(value, rows)  # the general path below decides (and finds any error)
    if shape_rank == 1:
        if not isinstance(value, list) or not value:
            return None
        flat, shape = value, (len(value),)
    else:
        if not isinstance(value, list) or not value or not all(type(r) is list for r in value):
            return None
        n_in = len(value[0])
        if n_in == 0 or any(len(r) != n_in for r in value):
            return None
        flat, shape = list(itertools.chain.from_iterable(value)), (len(value), n_in)
    r = enclose_decimals(flat)
    if r is None:
        return None
    return tuple(a.reshape(shape) for a in r)


def _activation(name, where: str, p: Path) -> Activation:
    try:
        return names("json")[str(name).lower()]
    except KeyError:
        known = ", ".join(names("json"))
        raise ModelFormatError(f"{p}: {where}: unknown activation {name!r} (known: {known})") from None


def load_json(path) -> Network:
    """Read a verinet JSON model (see the module docstring).

    Rigorous: every weight is the exact decimal or ratio written in the file.
    """
    p, data, doc, rows = _load_document(path)
    layers_doc = doc.get("layers")  # a list of layers: their weight and bias arrays may be scanned rows
    if not isinstance(layers_doc, list) or not layers_doc:
        raise ModelFormatError(f"{p}: expected a non-empty list 'layers'")
    hidden = _activation(expand(doc.get("activation", "relu"), rows), "top-level 'activation'", p)
    layers = []
    for k, ld in enumerate(layers_doc):
        where = f"layer {k}"
        if not isinstance(ld, dict) or "weight" not in ld or "bias" not in ld:
            raise ModelFormatError(f"{p}: {where}: expected an object with 'weight' and 'bias'")
        fast_w = _fast_numbers(ld["weight"], 2, rows)
        fast_b = _fast_numbers(ld["bias"], 1, rows) if fast_w is not None else None
        if fast_b is None:
            w = _numbers(expand(ld["weight"], rows), 2, f"{where} weight", p)
            b = _numbers(expand(ld["bias"], rows), 1, f"{where} bias", p)
        if "activation" in ld:
            act = _activation(expand(ld["activation"], rows), where, p)
        else:
            act = hidden if k < len(layers_doc) - 1 else Activation.IDENTITY
        alpha = 0
        if act.impl.has_alpha:
            if "alpha" not in ld:
                raise ModelFormatError(f"{p}: {where}: leaky_relu needs an 'alpha'")
            try:
                alpha = parse_exact(str(expand(ld["alpha"], rows)))
            except ValueError as exc:
                raise ModelFormatError(f"{p}: {where} alpha: {exc}") from None
        try:
            if fast_b is not None:
                (wlo, whi, wtext), (blo, bhi, btext) = fast_w, fast_b
                layers.append(Layer.from_enclosure(wlo, whi, blo, bhi, wtext, btext, act, alpha, name=where))
            else:
                layers.append(Layer.from_exact(w, b, act, alpha, name=where))
        except ValueError as exc:
            raise ModelFormatError(f"{p}: {exc}") from None
    domain = None
    if doc.get("input_domain") is not None:
        dd = expand(doc["input_domain"], rows)
        if not isinstance(dd, dict) or "lower" not in dd or "upper" not in dd:
            raise ModelFormatError(f"{p}: 'input_domain' must be an object with 'lower' and 'upper'")
        lo = _numbers(dd["lower"], 1, "input_domain lower", p)
        hi = _numbers(dd["upper"], 1, "input_domain upper", p)
        try:
            domain = InputDomain(tuple(lo), tuple(hi))
        except ValueError as exc:
            raise ModelFormatError(f"{p}: {exc}") from None
    net = build_network(p, layers, input_domain=domain)
    return with_provenance(net, p, data, "json")


def read_seed_query(path) -> SeedQuery:
    """The ``query`` block (and ``expected_lipschitz``) of a seed JSON file, as exact decimal strings."""
    p, _, doc, _ = _load_document(path, scan_rows=False)
    q = doc.get("query")
    if not isinstance(q, dict) or "center" not in q or "radius" not in q:
        raise ModelFormatError(f"{p}: no 'query' with 'center' and 'radius'")
    center = _numbers(q["center"], 1, "query center", p)  # validates the numbers
    del center
    try:
        parse_exact(str(q["radius"]))
    except ValueError as exc:
        raise ModelFormatError(f"{p}: query radius: {exc}") from None
    out_idx = q.get("output_index")
    return SeedQuery(
        center=tuple(str(v) for v in q["center"]),
        radius=str(q["radius"]),
        input_norm=q.get("input_norm"),
        output_index=None if out_idx is None else int(out_idx),
        expected=None if doc.get("expected_lipschitz") is None else str(doc["expected_lipschitz"]),
    )


def network_to_json(net: Network) -> dict:
    """The JSON document (a dict of strings and lists) for ``net``, exact."""
    layers = []
    for L in net.layers:
        W = L.weight_exact()
        b = L.bias_exact()
        entry = {
            "weight": [[exact_str(v) for v in row] for row in W],
            "bias": [exact_str(v) for v in b],
            "activation": L.activation.value,
        }
        if L.activation.impl.has_alpha:
            entry["alpha"] = exact_str(L.alpha)
        layers.append(entry)
    doc = {
        "name": net.name,
        "format": "y = σ_L(W_L ... σ_1(W_1 x + b_1) ... + b_L); each weight matrix is (out, in); "
        "numbers are exact decimal or p/q strings",
        "layers": layers,
    }
    if net.input_domain is not None:
        doc["input_domain"] = {
            "lower": [exact_str(v) for v in net.input_domain.lower],
            "upper": [exact_str(v) for v in net.input_domain.upper],
        }
    return doc


def save_json(net: Network, path) -> None:
    """Write ``net`` as verinet JSON.

    Rigorous: exact for every network (floats become their exact decimals, other rationals ``p/q``).
    """
    text = json.dumps(network_to_json(net), indent=1, ensure_ascii=False)
    Path(path).write_text(text + "\n", encoding="utf-8")
