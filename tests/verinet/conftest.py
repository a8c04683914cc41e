"""Shared fixtures for the network-analysis tests: random networks with exact specifications, seed networks.

``random_network(rng, sizes, activations, exact_decimals=False)`` builds a :class:`verinet.Network`;
``random_spec(...)`` (same arguments) gives the exact :class:`helpers.NetSpec` behind it, whose
``.build()`` is the network and which the exact oracles in ``tests/helpers.py`` evaluate.
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers

from intervals.rounding import float_down, float_up, to_fraction

SEED_DIR = Path(__file__).resolve().parents[1] / "data" / "seed"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20231124)


@pytest.fixture(scope="session")
def random_spec():
    """Factory ``random_spec(rng, sizes, activations, exact_decimals=False, **kw) -> helpers.NetSpec``."""
    return helpers.random_spec


@pytest.fixture(scope="session")
def random_network():
    """Factory ``random_network(rng, sizes, activations, exact_decimals=False, **kw) -> Network``."""

    def make(rng, sizes, activations, exact_decimals: bool = False, **kw):
        return helpers.random_spec(rng, sizes, activations, exact_decimals, **kw).build()

    return make


def load_seed(name: str):
    """(network, spec, lo, hi, query) for ``tests/data/seed/<name>.json`` (skips when absent).

    Hidden layers ReLU, last layer identity, weights as exact decimals (``Layer.from_exact``); the box is
    ``center ± radius`` computed exactly and enclosed outward with ``float_down``/``float_up``.
    """
    path = SEED_DIR / f"{name}.json"
    if not path.exists():
        pytest.skip(f"seed network {path} not available")
    data = json.loads(path.read_text())
    layers = data["layers"]
    acts = ["relu"] * (len(layers) - 1) + ["identity"]
    spec = helpers.NetSpec(
        weights=[np.array([[to_fraction(v) for v in row] for row in L["weight"]], dtype=object) for L in layers],
        biases=[np.array([to_fraction(v) for v in L["bias"]], dtype=object) for L in layers],
        activations=acts,
        alphas=[Fraction(0)] * len(layers),
        decimal_strings=True,
    )
    from verinet.network import Layer, Network

    net = Network(tuple(Layer.from_exact(L["weight"], L["bias"], a) for L, a in zip(layers, acts)))
    qry = data["query"]
    c = [to_fraction(v) for v in qry["center"]]
    r = to_fraction(qry["radius"])
    lo = np.array([float_down(v - r) for v in c])
    hi = np.array([float_up(v + r) for v in c])
    return net, spec, lo, hi, qry, Fraction(data["expected_lipschitz"])


@pytest.fixture(scope="session")
def seed():
    """``seed(name)`` -> (network, spec, lo, hi, query, expected_lipschitz)."""
    return load_seed
