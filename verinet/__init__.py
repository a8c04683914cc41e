"""verinet: rigorous Lipschitz constants and robustness verdicts for neural networks.

>>> from verinet import Layer, Network, Region, lipschitz
>>> net = Network((Layer.from_exact([["1"], ["-1"]], ["0", "0"]), Layer.from_exact([["2", "1"]], ["0"], "identity")))
>>> r = lipschitz(net, Region.box(["-1"], ["1"]), tol=1e-9)
>>> bool(r.lower <= 2 <= r.upper)
True
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING

from verinet.errors import ModelFormatError as ModelFormatError
from verinet.errors import PropertyFormatError as PropertyFormatError
from verinet.errors import QueryError as QueryError
from verinet.errors import VerinetError as VerinetError
from verinet.errors import VerinetInputError as VerinetInputError

#: public name -> module that defines it; imported on first use (PEP 562), so that ``verinet --help``
#: and other light entry points do not pay for numpy, Numba and the kernels
_LAZY = {
    "gradient_enclosure": "verinet.bounds.gradient",
    "jacobian_enclosure": "verinet.bounds.gradient",
    "ModelInfo": "verinet.analyses.info",
    "Leaf": "verinet.analyses.lipschitz",
    "LipschitzResult": "verinet.analyses.lipschitz",
    "Status": "verinet.analyses.lipschitz",
    "lipschitz": "verinet.analyses.lipschitz",
    "from_torch": "verinet.io",
    "load_network": "verinet.io",
    "save_network": "verinet.io",
    "Activation": "verinet.network",
    "InputDomain": "verinet.network",
    "Layer": "verinet.network",
    "Network": "verinet.network",
    "output_bounds": "verinet.bounds.propagation",
    "Region": "verinet.region",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'verinet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # static analysers and IDEs see the eager imports
    from verinet.bounds.gradient import gradient_enclosure as gradient_enclosure
    from verinet.bounds.gradient import jacobian_enclosure as jacobian_enclosure
    from verinet.analyses.info import ModelInfo as ModelInfo
    from verinet.analyses.lipschitz import Leaf as Leaf
    from verinet.analyses.lipschitz import LipschitzResult as LipschitzResult
    from verinet.analyses.lipschitz import Status as Status
    from verinet.analyses.lipschitz import lipschitz as lipschitz
    from verinet.io import from_torch as from_torch
    from verinet.io import load_network as load_network
    from verinet.io import save_network as save_network
    from verinet.network import Activation as Activation
    from verinet.network import InputDomain as InputDomain
    from verinet.network import Layer as Layer
    from verinet.network import Network as Network
    from verinet.bounds.propagation import output_bounds as output_bounds
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
