"""PyTorch ``nn.Sequential`` models (optional dependency: ``pip install 'verinet[torch]'``).

Supported modules: ``Linear``, ``ReLU``, ``LeakyReLU``, ``Sigmoid``, ``Tanh``, ``Flatten``, ``Identity``
and nested ``Sequential`` containers (flattened in order). Any other module is rejected by name.

Mapping: each ``Linear`` starts a layer; the activation module that follows closes it. A ``Linear``
followed directly by another ``Linear`` (or ending the model) gets the identity activation, which is
exact (no composition of weights is needed). An activation with no ``Linear`` before it becomes an
identity-weight layer. ``Flatten`` is a no-op (networks act on flat vectors).

Exactness: float16/bfloat16/float32/float64 parameters are converted to float64, which is exact;
``LeakyReLU.negative_slope`` is a Python float (an exact binary number) and is used as stored.

Files (``.pt``/``.pth``): a TorchScript archive (``torch.jit.save``) is read with ``torch.jit.load``,
which runs no Python code from the file. A pickled module (``torch.save(model)``) can only be read by
unpickling, which executes code from the file: :func:`load_torch` does that only with ``trusted=True``.
"""

from __future__ import annotations

import numpy as np

from verinet.activations import names
from verinet.errors import ModelFormatError
from verinet.io._common import build_network, read_model_bytes, with_provenance
from verinet.network import Activation, Layer, Network

__all__ = ["from_torch", "load_torch"]

_TORCH_MISSING = "PyTorch models need the optional dependency torch: pip install 'verinet[torch]'"

# class name (also TorchScript's ``original_name``) -> activation
_ACT_NAMES = names("torch")
_NOOP_NAMES = ("Flatten", "Identity")


def _import_torch():
    try:
        import torch
    except ImportError:
        raise ModelFormatError(_TORCH_MISSING) from None
    return torch


def _kind(module) -> str:
    """The module's class name; TorchScript modules keep it in ``original_name``."""
    return getattr(module, "original_name", None) or type(module).__name__


def _flatten_modules(module) -> list:
    if _kind(module) == "Sequential":
        out = []
        for child in module.children():
            out.extend(_flatten_modules(child))
        return out
    return [module]


def _tensor_to_float64(t, what: str) -> np.ndarray:
    torch = _import_torch()
    if not t.is_floating_point():
        raise ModelFormatError(f"{what}: expected a floating-point tensor, got {t.dtype}")
    # float16/bfloat16/float32 -> float64 is exact; .double() happens in torch, before numpy.
    return t.detach().to(device="cpu", dtype=torch.float64).contiguous().numpy().copy()


def _layers_from_modules(modules: list, name: str) -> list[Layer]:
    layers: list[Layer] = []
    pending = None  # (W, b) of a Linear not yet closed by an activation
    width = None  # current vector width, when known

    def close(act: Activation, alpha) -> None:
        nonlocal pending
        k = len(layers)
        if pending is None:
            if width is None:
                raise ModelFormatError(
                    f"{name}: the model starts with an activation, so its input size is unknown; "
                    "start it with a Linear layer"
                )
            W, b = np.eye(width), np.zeros(width)
        else:
            W, b = pending
        try:
            layers.append(Layer.from_floats(W, b, act, alpha, name=f"{name}: layer {k}"))
        except ValueError as exc:
            raise ModelFormatError(str(exc)) from None
        pending = None

    for i, m in enumerate(modules):
        kind = _kind(m)
        if kind == "Linear":
            if pending is not None:
                close(Activation.IDENTITY, 0)
            W = _tensor_to_float64(m.weight, f"{name}: module {i} (Linear) weight")
            b = (
                np.zeros(W.shape[0])
                if getattr(m, "bias", None) is None
                else _tensor_to_float64(m.bias, f"{name}: module {i} (Linear) bias")
            )
            if width is not None and W.shape[1] != width:
                raise ModelFormatError(
                    f"{name}: module {i} (Linear) expects {W.shape[1]} inputs but receives {width} "
                    "(shapes do not chain)"
                )
            pending = (W, b)
            width = W.shape[0]
        elif kind in _ACT_NAMES:
            act = _ACT_NAMES[kind]
            alpha = float(m.negative_slope) if act.impl.has_alpha else 0
            close(act, alpha)
        elif kind in _NOOP_NAMES:
            continue
        else:
            raise ModelFormatError(
                f"{name}: unsupported module {kind!r} at position {i}; verinet reads nn.Sequential models "
                "of Linear, ReLU, LeakyReLU, Sigmoid, Tanh, Flatten and Identity"
            )
    if pending is not None:
        close(Activation.IDENTITY, 0)
    if not layers:
        raise ModelFormatError(f"{name}: the model has no Linear layer")
    return layers


def from_torch(module, *, name: str = "torch_model") -> Network:
    """A :class:`Network` from a PyTorch ``nn.Sequential`` (or TorchScript of one); weights exact.

    Raises ``ModelFormatError`` when torch is missing or the model has an unsupported module.

    Rigorous: parameters convert to float64 without rounding; no weights are composed.
    """
    _import_torch()
    modules = _flatten_modules(module)
    layers = _layers_from_modules(modules, name)
    try:
        return Network(tuple(layers), name=name, format="torch")
    except ValueError as exc:
        raise ModelFormatError(f"{name}: {exc}") from None


def load_torch(path, *, trusted: bool = False) -> Network:
    """Read a ``.pt``/``.pth`` file: TorchScript always; a pickled module only with ``trusted=True``.

    Rigorous: as :func:`from_torch`.
    """
    p, data = read_model_bytes(path)
    torch = _import_torch()
    import io

    module = None
    try:
        module = torch.jit.load(io.BytesIO(data), map_location="cpu")
    except Exception:  # noqa: BLE001  (not a TorchScript archive)
        module = None
    if module is None:
        if not trusted:
            raise ModelFormatError(
                f"{p}: not a TorchScript archive. A pickled PyTorch module can only be read by running "
                "code from the file: load it with verinet.io.load_torch(path, trusted=True) if you "
                "trust it, or save the model with torch.jit.save(torch.jit.script(model), path)"
            )
        try:
            module = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001
            raise ModelFormatError(
                f"{p}: cannot read the PyTorch file ({type(exc).__name__}: {exc})"
            ) from None
        if isinstance(module, dict):
            raise ModelFormatError(
                f"{p}: the file holds a state_dict (weights without an architecture); save the whole "
                "nn.Sequential model instead"
            )
    if hasattr(module, "eval"):
        module.eval()
    layers = _layers_from_modules(_flatten_modules(module), str(p))
    net = build_network(p, layers)
    return with_provenance(net, p, data, "torch")
