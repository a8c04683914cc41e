"""verinet's ``.npz`` model format: binary floats, exact by construction.

Layout (a NumPy ``.npz`` archive, read with ``allow_pickle=False``)::

    W0, b0, W1, b1, ..., W{L-1}, b{L-1}
        layer k: weight of shape (out, in) and bias of shape (out,); float64, float32 or float16
        (integer arrays are accepted too). Each entry is the exact binary number stored.
    activations   (optional) string array of length L, one of relu, identity, leaky_relu, sigmoid,
                  tanh per layer; default: relu on every layer but the last, identity on the last.
    alpha         (optional) float array of length L: the leaky ReLU slope of each layer (ignored,
                  and written as 0, for the other activations). Required if a layer is leaky_relu.
    domain_lower, (optional, together) float arrays of length ``in`` of layer 0: the input box.
    domain_upper

Any other array name is an error (it is probably a typo). The layer's network semantics is
``a_k = σ_k(W_k a_{k-1} + b_k)`` in exact real arithmetic on the stored binary numbers.

Saving needs a network whose weights, slopes and domain are all exact float64 numbers; a network with
decimal or rational weights (from ``.nnet`` or JSON) cannot be stored without rounding, so
:func:`save_npz` refuses it and suggests the JSON format, which is exact for every network.
"""

from __future__ import annotations

import io
import re
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from verinet.activations import names
from verinet.errors import ModelFormatError
from verinet.io._common import build_network, read_model_bytes, with_provenance
from verinet.network import Activation, InputDomain, Layer, Network

__all__ = ["load_npz", "save_npz"]

_LAYER_KEY = re.compile(r"^([Wb])(\d+)$")
_OPTIONAL = {"activations", "alpha", "domain_lower", "domain_upper"}


def _numeric(arr: np.ndarray, what: str, p: Path) -> np.ndarray:
    if arr.dtype.kind not in "fiu":
        raise ModelFormatError(
            f"{p}: array {what!r} has dtype {arr.dtype}; expected float16/32/64 or integers"
        )
    if arr.dtype.kind in "iu" and arr.size and np.abs(arr.astype(object)).max() > 2**53:
        raise ModelFormatError(f"{p}: array {what!r} has integers too large to be exact float64 numbers")
    return arr.astype(np.float64)  # float16/32 and small integers -> float64: exact


def load_npz(path) -> Network:
    """Read a verinet ``.npz`` model (see the module docstring).

    Rigorous: float16/32/64 arrays convert to float64 without rounding.
    """
    p, data = read_model_bytes(path)
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelFormatError(f"{p}: not a readable .npz archive ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ModelFormatError(f"{p}: a single .npy array, not an .npz archive")
    with archive:
        try:
            arrays = {k: archive[k] for k in archive.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelFormatError(
                f"{p}: cannot read an array ({exc}); object arrays are not allowed"
            ) from None
    idx: dict[str, set[int]] = {"W": set(), "b": set()}
    unknown = []
    for k in arrays:
        m = _LAYER_KEY.match(k)
        if m:
            idx[m.group(1)].add(int(m.group(2)))
        elif k not in _OPTIONAL:
            unknown.append(k)
    if unknown:
        raise ModelFormatError(
            f"{p}: unexpected arrays {sorted(unknown)} (expected W0, b0, W1, b1, ..., "
            "activations, alpha, domain_lower, domain_upper)"
        )
    n = len(idx["W"])
    if n == 0:
        raise ModelFormatError(f"{p}: no layers (expected arrays W0, b0, W1, b1, ...)")
    for kind in ("W", "b"):
        missing = sorted(set(range(n)) - idx[kind])
        extra = sorted(idx[kind] - set(range(n)))
        if missing or extra:
            bad = missing or extra
            raise ModelFormatError(
                f"{p}: layer arrays do not match: {kind}{bad[0]} is missing or out of order"
            )

    if "activations" in arrays:
        acts_raw = arrays["activations"]
        if acts_raw.dtype.kind not in "US" or acts_raw.ndim != 1 or acts_raw.shape[0] != n:
            raise ModelFormatError(f"{p}: 'activations' must be a string array of length {n}")
        acts = []
        table = names("npz")
        for k, a in enumerate(acts_raw.tolist()):
            name = a.decode() if isinstance(a, bytes) else a
            try:
                acts.append(table[name.strip().lower()])
            except KeyError:
                known = ", ".join(table)
                raise ModelFormatError(
                    f"{p}: layer {k}: unknown activation {name!r} (known: {known})"
                ) from None
    else:
        acts = [Activation.RELU] * (n - 1) + [Activation.IDENTITY]

    alphas = [0.0] * n
    if "alpha" in arrays:
        al = _numeric(arrays["alpha"], "alpha", p)
        if al.ndim != 1 or al.shape[0] != n:
            raise ModelFormatError(f"{p}: 'alpha' must have one entry per layer ({n}), got shape {al.shape}")
        alphas = [float(v) for v in al]
    elif any(a.impl.has_alpha for a in acts):
        raise ModelFormatError(f"{p}: a layer is leaky_relu but the archive has no 'alpha' array")

    layers = []
    for k in range(n):
        w = _numeric(arrays[f"W{k}"], f"W{k}", p)
        b = _numeric(arrays[f"b{k}"], f"b{k}", p)
        try:
            layers.append(
                Layer.from_floats(
                    w, b, acts[k], alphas[k] if acts[k].impl.has_alpha else 0, name=f"layer {k}"
                )
            )
        except ValueError as exc:
            raise ModelFormatError(f"{p}: {exc}") from None

    domain = None
    has_lo, has_hi = "domain_lower" in arrays, "domain_upper" in arrays
    if has_lo != has_hi:
        raise ModelFormatError(f"{p}: 'domain_lower' and 'domain_upper' must be given together")
    if has_lo:
        lo = _numeric(arrays["domain_lower"], "domain_lower", p).reshape(-1)
        hi = _numeric(arrays["domain_upper"], "domain_upper", p).reshape(-1)
        try:
            domain = InputDomain.from_values(lo.tolist(), hi.tolist())
        except ValueError as exc:
            raise ModelFormatError(f"{p}: {exc}") from None
    net = build_network(p, layers, input_domain=domain)
    return with_provenance(net, p, data, "npz")


def _exact_float(q: Fraction) -> bool:
    try:
        return Fraction(float(q)) == q
    except OverflowError:
        return False


def save_npz(net: Network, path) -> None:
    """Write ``net`` as a verinet ``.npz`` archive (float64 arrays). Exact, or refuses.

    Raises ``ModelFormatError`` when a weight, a slope or a domain bound is not exactly a float64.

    Rigorous: what is written is exactly the network's numbers; nothing is rounded.
    """
    hint = "save it as JSON instead (.json keeps every number exactly)"
    arrays: dict[str, np.ndarray] = {}
    for k, L in enumerate(net.layers):
        if not L.is_float_exact:
            raise ModelFormatError(
                f"cannot save {net.name!r} to .npz: layer {k} has weights that are not exactly float64 "
                f"numbers (decimal or rational values); {hint}"
            )
        arrays[f"W{k}"] = np.ascontiguousarray(L.weight_lo, dtype=np.float64)
        arrays[f"b{k}"] = np.ascontiguousarray(L.bias_lo, dtype=np.float64)
    alphas = []
    for k, L in enumerate(net.layers):
        if L.activation.impl.has_alpha and not _exact_float(L.alpha):
            raise ModelFormatError(
                f"cannot save {net.name!r} to .npz: the leaky ReLU slope {L.alpha} of layer {k} "
                f"is not a float64; {hint}"
            )
        alphas.append(float(L.alpha) if L.activation.impl.has_alpha else 0.0)
    arrays["activations"] = np.array([L.activation.value for L in net.layers], dtype=np.str_)
    arrays["alpha"] = np.array(alphas, dtype=np.float64)
    if net.input_domain is not None:
        bounds = list(net.input_domain.lower) + list(net.input_domain.upper)
        if not all(_exact_float(v) for v in bounds):
            raise ModelFormatError(
                f"cannot save {net.name!r} to .npz: the input domain has bounds that are not float64; {hint}"
            )
        arrays["domain_lower"] = np.array([float(v) for v in net.input_domain.lower], dtype=np.float64)
        arrays["domain_upper"] = np.array([float(v) for v in net.input_domain.upper], dtype=np.float64)
    p = Path(path)
    with open(p, "wb") as fh:  # a file object: np.savez would append ".npz" to a path without it
        np.savez(fh, **arrays)
