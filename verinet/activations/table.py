"""The table of activations: :class:`~verinet.network.Activation` members to their implementing objects,
and the operator names of each model file format."""

from __future__ import annotations

from verinet.activations.base import ActivationFn
from verinet.activations.identity import Identity
from verinet.activations.relu import LeakyReLU, ReLU
from verinet.activations.smooth import Sigmoid, Tanh
from verinet.network import Activation

__all__ = ["activation_of", "names"]

_IMPLS: dict[Activation, ActivationFn] = {c.enum: c() for c in (Identity, ReLU, LeakyReLU, Sigmoid, Tanh)}
assert set(_IMPLS) == set(Activation), "every Activation member needs a class"


def activation_of(act: Activation | str) -> ActivationFn:
    """The object implementing ``act`` (an :class:`Activation` or its value, e.g. ``"relu"``)."""
    return _IMPLS[Activation(act)]


def names(fmt: str) -> dict[str, Activation]:
    """Activation names of a model file format: ``"onnx"`` (op types), ``"torch"`` (module classes), or
    ``"json"``/``"npz"`` (the lowercase :class:`Activation` values)."""
    if fmt == "onnx":
        return {f.onnx_op: a for a, f in _IMPLS.items() if f.onnx_op is not None}
    if fmt == "torch":
        return {f.torch_module: a for a, f in _IMPLS.items() if f.torch_module is not None}
    if fmt in ("json", "npz"):
        return {a.value: a for a in _IMPLS}
    raise ValueError(f"unknown model format {fmt!r} (known: onnx, torch, json, npz)")
