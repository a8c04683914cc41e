"""Activations as objects: everything verinet knows about one activation function, in one class.

One module per family: :mod:`~verinet.activations.identity`, :mod:`~verinet.activations.relu` (ReLU and
leaky ReLU), :mod:`~verinet.activations.smooth` (sigmoid, tanh); the shared base class and its documented
interface in :mod:`~verinet.activations.base`; the table from :class:`~verinet.network.Activation` members
and file-format names to objects in :mod:`~verinet.activations.table`.

Adding an activation: a member of :class:`~verinet.network.Activation`, a subclass of
:class:`ActivationFn` (values, enclosures, Clarke derivatives, linear relaxation, operator names)
registered in ``table._IMPLS``, and its exact semantics in the certificate checker (which keeps its own
code on purpose).
"""

from verinet.activations.base import ActivationFn
from verinet.activations.identity import Identity
from verinet.activations.relu import LeakyReLU, ReLU
from verinet.activations.smooth import Sigmoid, Tanh
from verinet.activations.table import activation_of, names

__all__ = ["ActivationFn", "Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "activation_of", "names"]
