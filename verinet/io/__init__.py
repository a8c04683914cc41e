"""Reading and writing models: one entry point, the format chosen by the file extension.

=============  ========  ==================================================================
extension      format    notes
=============  ========  ==================================================================
``.npz``       npz       verinet's binary format (exact float arrays), see ``io/npz.py``
``.json``      json      verinet's exact text format (decimal / ``p/q`` strings)
``.nnet``      nnet      option ``coordinates="raw"`` (default) or ``"normalized"``
``.onnx``      onnx      fully connected graphs; needs ``onnx``
``.pt .pth``   torch     TorchScript, or a pickled module with ``trusted=True``; needs ``torch``
=============  ========  ==================================================================

Every loaded :class:`~verinet.network.Network` carries its provenance: ``name`` (the file stem),
``format``, ``source`` (the path) and ``sha256`` (of the file's bytes). Every problem with a file is a
:class:`~verinet.errors.ModelFormatError` with one clear message.
"""

from __future__ import annotations

import os
from pathlib import Path

from verinet.errors import ModelFormatError
from verinet.io.jsonfmt import SeedQuery, load_json, read_seed_query, save_json
from verinet.io.nnet import load_nnet, parse_nnet
from verinet.io.npz import load_npz, save_npz
from verinet.network import Network

__all__ = [
    "LOAD_EXTENSIONS",
    "SAVE_EXTENSIONS",
    "SeedQuery",
    "from_torch",
    "load_json",
    "load_network",
    "load_nnet",
    "load_npz",
    "load_onnx",
    "load_torch",
    "parse_nnet",
    "read_seed_query",
    "save_json",
    "save_network",
    "save_npz",
]


def load_onnx(path) -> Network:
    """Read an ONNX model of fully connected layers (see ``verinet.io.onnx``)."""
    from verinet.io.onnx import load_onnx as _load

    return _load(path)


def load_torch(path, *, trusted: bool = False) -> Network:
    """Read a PyTorch ``.pt``/``.pth`` file (see ``verinet.io.torch``)."""
    from verinet.io.torch import load_torch as _load

    return _load(path, trusted=trusted)


def from_torch(module, *, name: str = "torch_model") -> Network:
    """A Network from a PyTorch ``nn.Sequential`` (see ``verinet.io.torch``)."""
    from verinet.io.torch import from_torch as _from

    return _from(module, name=name)


LOAD_EXTENSIONS = {
    ".npz": load_npz,
    ".json": load_json,
    ".nnet": load_nnet,
    ".onnx": load_onnx,
    ".pt": load_torch,
    ".pth": load_torch,
}
SAVE_EXTENSIONS = {".npz": save_npz, ".json": save_json}


def _extension(path, table: dict, verb: str) -> str:
    ext = Path(os.fspath(path)).suffix.lower()
    if ext not in table:
        shown = f"extension {ext!r}" if ext else "no extension"
        raise ModelFormatError(
            f"cannot {verb} {os.fspath(path)}: {shown} is not a supported model format "
            f"(supported: {', '.join(table)})"
        )
    return ext


def load_network(path, **options) -> Network:
    """Read a model file, choosing the reader by extension (see the table in the module docstring).

    ``options`` go to the reader: ``coordinates="raw"|"normalized"`` for ``.nnet``, ``trusted=True``
    for pickled PyTorch files. Raises ``ModelFormatError`` for a missing, malformed or unsupported file.

    Rigorous: the network's weights are exactly the numbers written in the file (floats as their binary
    values, decimals as exact decimals), composed exactly where the format requires it.
    """
    if not Path(os.fspath(path)).exists():
        raise ModelFormatError(f"model file not found: {os.fspath(path)}")
    if Path(os.fspath(path)).is_dir():
        raise ModelFormatError(f"model path is a directory, not a file: {os.fspath(path)}")
    ext = _extension(path, LOAD_EXTENSIONS, "read")
    reader = LOAD_EXTENSIONS[ext]
    allowed = {".nnet": {"coordinates"}, ".pt": {"trusted"}, ".pth": {"trusted"}}.get(ext, set())
    unknown = set(options) - allowed
    if unknown:
        raise TypeError(
            f"load_network: option(s) {sorted(unknown)} do not apply to {ext} files"
            + (f" (allowed: {sorted(allowed)})" if allowed else "")
        )
    return reader(path, **options)


def save_network(net: Network, path) -> None:
    """Write ``net`` to ``.json`` (exact for every network) or ``.npz`` (exact float weights only).

    Rigorous: reading the file back gives identical exact weights; ``.npz`` refuses rather than round.
    """
    ext = _extension(path, SAVE_EXTENSIONS, "write")
    SAVE_EXTENSIONS[ext](net, path)
