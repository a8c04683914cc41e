"""One branch-and-bound engine for the analyses (see :mod:`verinet.search.engine`).

* :class:`SearchConfig` — the stopping rules and frontier order of a run (frozen);
* :class:`Node` — a box, optionally restricted to fixed neuron signs, with its bound and split hints;
* :class:`Frontier` — the open nodes, best bound (or oldest) first, ties to the older node;
* :mod:`verinet.search.splits` — split policies (coordinate bisection, neuron signs);
* :func:`stop_status` — the stopping rules, one order of precedence;
* :class:`Status` — the one status vocabulary of every search;
* :class:`Search` — the loop, progress reports and the final :class:`SearchOutcome`.

Analyses are objectives: :mod:`verinet.analyses.lipschitz` (boxes with coordinate and neuron splits, through
the worker pool of :mod:`verinet.parallel`), :mod:`verinet.analyses.lipschitz_neuron` (neuron signs on one box),
:mod:`verinet.analyses.robustness` (suprema of per-box quantities) and the interval evidence of
:mod:`verinet.evidence.certificate`.
"""

from verinet.search.config import SearchConfig
from verinet.search.engine import Objective, ObjectiveBase, Progress, Search, SearchOutcome, pool_chunk
from verinet.search.frontier import Frontier
from verinet.search.node import Node
from verinet.search.splits import bisect, neuron_children
from verinet.search.status import Status
from verinet.search.stopping import stop_status

__all__ = ["Frontier", "Node", "Objective", "ObjectiveBase", "Progress", "Search", "SearchConfig",
           "SearchOutcome", "Status", "bisect", "neuron_children", "pool_chunk", "stop_status"]
