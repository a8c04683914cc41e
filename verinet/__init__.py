"""verinet: rigorous Lipschitz constants and robustness verdicts for neural networks.

>>> from verinet import Layer, Network, Region, lipschitz
>>> net = Network((Layer.from_exact([["1"], ["-1"]], ["0", "0"]), Layer.from_exact([["2", "1"]], ["0"], "identity")))
>>> r = lipschitz(net, Region.box(["-1"], ["1"]), tol=1e-9)
>>> bool(r.lower <= 2 <= r.upper)
True
"""

from __future__ import annotations

__version__ = "0.1.0"

from verinet.errors import ModelFormatError as ModelFormatError
from verinet.errors import PropertyFormatError as PropertyFormatError
from verinet.errors import QueryError as QueryError
from verinet.errors import VerinetError as VerinetError
from verinet.errors import VerinetInputError as VerinetInputError
from verinet.gradient import gradient_enclosure as gradient_enclosure
from verinet.gradient import jacobian_enclosure as jacobian_enclosure
from verinet.info import ModelInfo as ModelInfo
from verinet.lipschitz import Leaf as Leaf
from verinet.lipschitz import LipschitzResult as LipschitzResult
from verinet.lipschitz import Status as Status
from verinet.lipschitz import lipschitz as lipschitz
from verinet.loaders import from_torch as from_torch
from verinet.loaders import load_network as load_network
from verinet.loaders import save_network as save_network
from verinet.network import Activation as Activation
from verinet.network import InputDomain as InputDomain
from verinet.network import Layer as Layer
from verinet.network import Network as Network
from verinet.propagation import output_bounds as output_bounds
from verinet.region import Region as Region

__all__ = [
    "__version__",
    "Activation",
    "InputDomain",
    "Layer",
    "Leaf",
    "LipschitzResult",
    "ModelFormatError",
    "ModelInfo",
    "Network",
    "PropertyFormatError",
    "QueryError",
    "Region",
    "Status",
    "VerinetError",
    "VerinetInputError",
    "from_torch",
    "gradient_enclosure",
    "jacobian_enclosure",
    "lipschitz",
    "load_network",
    "output_bounds",
    "save_network",
]
