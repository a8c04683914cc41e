"""A summary of a network for people and machines (``verinet info``): architecture, size, provenance.

Exact numbers (the input domain, leaky ReLU slopes) are given as exact decimal or ``p/q`` strings.
"""

from __future__ import annotations

from dataclasses import dataclass

from verinet.io._common import exact_str
from verinet.network import Network

__all__ = ["LayerInfo", "ModelInfo"]


@dataclass(frozen=True)
class LayerInfo:
    """One layer: ``n_in -> n_out`` and its activation (``alpha`` only for leaky ReLU)."""

    n_in: int
    n_out: int
    activation: str
    alpha: str | None
    float_exact: bool

    def to_json(self) -> dict:
        d = {"inputs": self.n_in, "outputs": self.n_out, "activation": self.activation}
        if self.alpha is not None:
            d["alpha"] = self.alpha
        d["float_exact"] = self.float_exact
        return d


@dataclass(frozen=True)
class ModelInfo:
    """What ``verinet info`` reports about a network; build it with :meth:`from_network`."""

    name: str
    format: str
    source: str | None
    sha256: str | None
    n_inputs: int
    n_outputs: int
    layers: tuple[LayerInfo, ...]
    n_parameters: int
    float_exact: bool
    piecewise_linear: bool
    input_domain: tuple[tuple[str, str], ...] | None
    notes: tuple[str, ...] = ()

    @classmethod
    def from_network(cls, net: Network) -> ModelInfo:
        layers = tuple(
            LayerInfo(
                L.n_in,
                L.n_out,
                L.activation.value,
                exact_str(L.alpha) if L.activation.impl.has_alpha else None,
                L.is_float_exact,
            )
            for L in net.layers
        )
        domain = None
        if net.input_domain is not None:
            domain = tuple(
                (exact_str(lo), exact_str(hi))
                for lo, hi in zip(net.input_domain.lower, net.input_domain.upper)
            )
        return cls(
            name=net.name,
            format=net.format,
            source=net.source,
            sha256=net.sha256,
            n_inputs=net.n_inputs,
            n_outputs=net.n_outputs,
            layers=layers,
            n_parameters=net.n_parameters,
            float_exact=net.is_float_exact,
            piecewise_linear=net.piecewise_linear,
            input_domain=domain,
            notes=tuple(net.notes),
        )

    @property
    def architecture(self) -> str:
        """Layer widths, e.g. ``"5-50-50-5"``."""
        return "-".join(str(w) for w in [self.n_inputs] + [L.n_out for L in self.layers])

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "format": self.format,
            "source": self.source,
            "sha256": self.sha256,
            "architecture": self.architecture,
            "inputs": self.n_inputs,
            "outputs": self.n_outputs,
            "layers": [L.to_json() for L in self.layers],
            "parameters": self.n_parameters,
            "float_exact": self.float_exact,
            "piecewise_linear": self.piecewise_linear,
            "input_domain": None
            if self.input_domain is None
            else {"lower": [lo for lo, _ in self.input_domain], "upper": [hi for _, hi in self.input_domain]},
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        lines = [
            f"model:        {self.name}",
            f"format:       {self.format}",
        ]
        if self.source is not None:
            lines.append(f"file:         {self.source}")
        if self.sha256 is not None:
            lines.append(f"sha256:       {self.sha256}")
        lines += [
            (
                f"architecture: {self.architecture} ({len(self.layers)} layers, {self.n_inputs} inputs, "
                f"{self.n_outputs} outputs)"
            ),
            f"parameters:   {self.n_parameters}",
            "weights:      "
            + (
                "exact float64 numbers"
                if self.float_exact
                else "exact decimals/rationals, not all float64 (the float backend encloses them)"
            ),
            "activations:  "
            + ("piecewise linear" if self.piecewise_linear else "includes smooth activations"),
            "layers:",
        ]
        for k, L in enumerate(self.layers):
            act = L.activation + (f"(alpha={L.alpha})" if L.alpha is not None else "")
            lines.append(f"  {k}: {L.n_in} -> {L.n_out}  {act}")
        if self.input_domain is None:
            lines.append("input domain: none")
        else:
            lines.append("input domain:")
            width = max(len(lo) for lo, _ in self.input_domain)
            for i, (lo, hi) in enumerate(self.input_domain):
                lines.append(f"  x{i}: [{lo:>{width}}, {hi}]")
        for n in self.notes:
            lines.append(f"note: {n}")
        return "\n".join(lines)
