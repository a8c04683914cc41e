"""verinet: rigorous Lipschitz constants and robustness verdicts for neural networks."""

from __future__ import annotations

__version__ = "0.1.0"

from verinet.network import Activation as Activation
from verinet.network import InputDomain as InputDomain
from verinet.network import Layer as Layer
from verinet.network import Network as Network

__all__ = ["__version__", "Activation", "InputDomain", "Layer", "Network"]
