"""Reader for the ``.nnet`` text format (Kyle Julian, Stanford 2016; used by ACAS Xu, Reluplex, Marabou).

File layout, after any number of comment lines starting with ``//``; values are separated by commas
(a trailing comma is usual)::

    numLayers, inputSize, outputSize, maxLayerSize
    size_0, size_1, ..., size_numLayers          (size_0 = inputSize, size_numLayers = outputSize)
    symmetric flag                                (unused)
    input minimums                                (inputSize values)
    input maximums                                (inputSize values)
    means                                         (inputSize values, then the output mean)
    ranges                                        (inputSize values, then the output range)
    then for each layer k: size_{k+1} lines of size_k weights (one row per line),
                           followed by size_{k+1} lines of one bias each.

Semantics: inputs are clamped to ``[min, max]``, normalised ``x_n = (x − mean) / range``, fed to the
network (ReLU on hidden layers, identity on the output), and the output is scaled back
``y = y_n · range_out + mean_out`` (the same mean and range for every output).

Every number is read as the exact decimal it is written as (``"0.1"`` is one tenth).

Coordinates (``load_nnet(path, coordinates=...)``):

* ``"raw"`` (default): the normalisation is folded into the first layer and the output scaling into the
  last layer, exactly in rational arithmetic::

      W_1' = W_1 · diag(1/range),           b_1' = b_1 − W_1 · (mean / range)
      W_L' = range_out · W_L,               b_L' = range_out · b_L + mean_out

  so the network maps raw inputs to raw outputs, and ``input_domain`` is the box ``[min, max]``.
* ``"normalized"``: the weights exactly as written; inputs and outputs in normalised coordinates (the
  coordinates of the ACAS Xu ONNX files and of the VNN-LIB properties); ``input_domain`` is the
  normalised box ``[(min − mean)/range, (max − mean)/range]``.

The clamping is not part of the network: both forms agree with the ``.nnet`` semantics on the input
domain, which is where analyses should be run.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from verinet.errors import ModelFormatError
from verinet.io._common import build_network, parse_exact, read_model_bytes, with_provenance
from verinet.network import Activation, InputDomain, Layer, Network

__all__ = ["NNetFile", "load_nnet", "parse_nnet"]


@dataclass(frozen=True)
class NNetFile:
    """The contents of a ``.nnet`` file, every number an exact Fraction.

    ``weights[k]`` has shape ``(sizes[k+1], sizes[k])`` and ``biases[k]`` shape ``(sizes[k+1],)`` (object
    arrays); ``means``/``ranges`` have ``inputSize + 1`` entries, the last one for the outputs.
    """

    sizes: tuple[int, ...]
    input_min: tuple[Fraction, ...]
    input_max: tuple[Fraction, ...]
    means: tuple[Fraction, ...]
    ranges: tuple[Fraction, ...]
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    @property
    def n_inputs(self) -> int:
        return self.sizes[0]

    def normalize(self, x) -> list[Fraction]:
        """Raw input -> normalised input, exactly: ``(x − mean) / range``."""
        return [(Fraction(v) - m) / r for v, m, r in zip(x, self.means, self.ranges)]

    def unscale(self, y) -> list[Fraction]:
        """Normalised output -> raw output, exactly: ``y · range_out + mean_out``."""
        return [Fraction(v) * self.ranges[-1] + self.means[-1] for v in y]


class _Lines:
    """Non-comment, non-blank lines with their 1-based line numbers, consumed one at a time."""

    def __init__(self, text: str, path: Path):
        self.path = path
        self.items = []
        in_header = True
        for no, line in enumerate(text.splitlines(), start=1):
            s = line.strip()
            if in_header and s.startswith("//"):
                continue
            if not s:
                continue
            in_header = False
            self.items.append((no, s))
        self.pos = 0

    def next(self, what: str) -> tuple[int, list[str]]:
        if self.pos >= len(self.items):
            raise ModelFormatError(
                f"{self.path}: file ends early (after line {self.items[-1][0] if self.items else 0}): "
                f"expected {what}"
            )
        no, s = self.items[self.pos]
        self.pos += 1
        tokens = [t.strip() for t in s.split(",")]
        if tokens and tokens[-1] == "":
            tokens.pop()  # trailing comma
        return no, tokens

    def error(self, no: int, msg: str) -> ModelFormatError:
        return ModelFormatError(f"{self.path}: line {no}: {msg}")


def _ints(lines: _Lines, what: str, count: int | None) -> tuple[int, list[int]]:
    no, toks = lines.next(what)
    if count is not None and len(toks) < count:
        raise lines.error(no, f"expected {what} ({count} integers), found {len(toks)} values")
    out = []
    for t in toks if count is None else toks[:count]:
        try:
            v = int(t)
        except ValueError:
            raise lines.error(no, f"expected {what}, found non-integer {t!r}") from None
        if v <= 0:
            raise lines.error(no, f"{what}: sizes must be positive, found {v}")
        out.append(v)
    return no, out


def _fracs(lines: _Lines, what: str, count: int) -> list[Fraction]:
    no, toks = lines.next(what)
    if len(toks) != count:
        raise lines.error(no, f"expected {what} ({count} numbers), found {len(toks)}")
    out = []
    for i, t in enumerate(toks):
        try:
            out.append(parse_exact(t))
        except ValueError as exc:
            raise lines.error(no, f"{what}, value {i}: {exc}") from None
    return out


def parse_nnet(text: str, path="<string>") -> NNetFile:
    """Parse the text of a ``.nnet`` file; ``ModelFormatError`` names the line of any problem.

    Rigorous: every number is the exact decimal written in the file.
    """
    p = Path(str(path))
    lines = _Lines(text, p)
    _, header = _ints(lines, "the header 'numLayers, inputSize, outputSize, maxLayerSize'", 4)
    n_layers, n_in, n_out, _max_size = header
    no, sizes = _ints(lines, f"the layer sizes line ({n_layers + 1} sizes)", None)
    if len(sizes) != n_layers + 1:
        raise lines.error(
            no,
            f"the header says {n_layers} layers, so {n_layers + 1} layer sizes are "
            f"expected, found {len(sizes)}",
        )
    if sizes[0] != n_in or sizes[-1] != n_out:
        raise lines.error(
            no, f"layer sizes {sizes} do not match the header (inputSize {n_in}, outputSize {n_out})"
        )
    lines.next("the 'symmetric' flag line")
    input_min = _fracs(lines, "the input minimums", n_in)
    input_max = _fracs(lines, "the input maximums", n_in)
    means = _fracs(lines, f"the means ({n_in} input means, then the output mean)", n_in + 1)
    ranges = _fracs(lines, f"the ranges ({n_in} input ranges, then the output range)", n_in + 1)
    for i, r in enumerate(ranges):
        if r == 0:
            raise ModelFormatError(f"{p}: range {i} is zero: the normalisation divides by it")
    for i, (a, b) in enumerate(zip(input_min, input_max)):
        if a > b:
            raise ModelFormatError(f"{p}: input {i}: minimum {a} > maximum {b}")
    weights, biases = [], []
    for k in range(n_layers):
        rows, cols = sizes[k + 1], sizes[k]
        W = np.empty((rows, cols), dtype=object)
        for i in range(rows):
            W[i, :] = _fracs(lines, f"row {i} of the weights of layer {k} ({rows}x{cols})", cols)
        b = np.empty(rows, dtype=object)
        for i in range(rows):
            b[i] = _fracs(lines, f"bias {i} of layer {k} (one number per line)", 1)[0]
        weights.append(W)
        biases.append(b)
    if lines.pos < len(lines.items):
        no, _ = lines.items[lines.pos]
        raise lines.error(no, "unexpected data after the last bias (do the layer sizes match the weights?)")
    return NNetFile(
        tuple(sizes),
        tuple(input_min),
        tuple(input_max),
        tuple(means),
        tuple(ranges),
        tuple(weights),
        tuple(biases),
    )


def load_nnet(path, coordinates: str = "raw") -> Network:
    """Read a ``.nnet`` file; ``coordinates`` is ``"raw"`` or ``"normalized"`` (see the module docstring).

    Rigorous: exact decimals; in raw coordinates the normalisation is folded in exactly (rationals).
    """
    if coordinates not in ("raw", "normalized"):
        raise ValueError(f"coordinates must be 'raw' or 'normalized', got {coordinates!r}")
    p, data = read_model_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFormatError(f"{p}: not a text file ({exc.reason} at byte {exc.start})") from None
    f = parse_nnet(text, p)
    n_layers = len(f.weights)
    Ws = list(f.weights)
    bs = list(f.biases)
    notes = []
    if coordinates == "raw":
        n_in = f.n_inputs
        inv_r = [1 / r for r in f.ranges[:n_in]]
        shift = [m / r for m, r in zip(f.means[:n_in], f.ranges[:n_in])]
        W0 = Ws[0]
        # W_1 (x − mean)/range + b = (W_1 diag(1/range)) x + (b − W_1 (mean/range)); exact rationals.
        Ws[0] = np.array(
            [[W0[i, j] * inv_r[j] for j in range(n_in)] for i in range(W0.shape[0])], dtype=object
        )
        bs[0] = np.array(
            [bs[0][i] - sum(W0[i, j] * shift[j] for j in range(n_in)) for i in range(W0.shape[0])],
            dtype=object,
        )
        r_out, m_out = f.ranges[-1], f.means[-1]
        Ws[-1] = Ws[-1] * r_out  # object arrays of Fractions: exact
        bs[-1] = bs[-1] * r_out + m_out
        domain = InputDomain(f.input_min, f.input_max)
        notes.append(
            "input normalisation (x - mean)/range folded into layer 0, output scaling "
            "y*range + mean folded into the last layer: raw coordinates"
        )
    else:
        domain = InputDomain(tuple(f.normalize(f.input_min)), tuple(f.normalize(f.input_max)))
        notes.append("normalised coordinates: weights as written, no input normalisation or output scaling")
    notes.append(
        "inputs are clamped to the input domain in the .nnet semantics; the clamping is not modelled"
    )
    layers = []
    for k in range(n_layers):
        act = Activation.RELU if k < n_layers - 1 else Activation.IDENTITY
        try:
            layers.append(Layer.from_exact(Ws[k], bs[k], act, name=f"layer {k}"))
        except ValueError as exc:
            raise ModelFormatError(f"{p}: {exc}") from None
    net = build_network(p, layers, input_domain=domain, notes=tuple(notes))
    return with_provenance(net, p, data, "nnet")
