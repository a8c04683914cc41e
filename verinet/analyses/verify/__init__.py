"""Deciding linear output specifications over input regions, and VNN-LIB properties.

A *specification* is an unsafe set over the outputs, given as a disjunction of conjunctions of
halfspaces ``c·y ≤ d`` (``<`` when strict), on an input region (a box or a norm ball). The question is
whether some input of the region has an unsafe output (VNN-COMP ``sat``) or none has (``unsat``).

Proof (input splitting, as in Wang et al., "Formal security analysis of neural networks using symbolic
intervals" (ReluVal, USENIX Security 2018), §4): the constraints are folded into the network as one
exact affine layer ``z = C f(x) − d`` (merged with a final identity layer in exact rational arithmetic, so
margins such as ``y₀ − y₁`` are enclosed directly, without the dependency loss of subtracting two output
intervals). Over a box ``B`` a conjunction is *impossible* when one of its atoms is: ``min_B z_i > 0``
(``≥ 0`` for a strict atom), read off the rigorous lower end of an enclosure of ``z_i`` over ``B``: sound
linear back-substitution (CROWN/DeepPoly, :func:`verinet.bounds.linear.linear_propagate`) when available, else
interval bound propagation (:func:`verinet.bounds.propagation.propagate`). A box is closed when every
conjunction is impossible; open boxes are split in two (best-first on the worst margin, on the coordinate
of largest width × |approximate gradient|, sampled at a few points of the box). The boxes always cover
the region (children cover their parent; a box is dropped only when proved disjoint from an l2/l1 ball
with directed rounding), so "all boxes closed" is a proof.

Falsification: random points and projected-gradient descent (approximate float64 gradients) on every
disjunct (:func:`verinet.analyses.attack.pgd_attack`) from many starts — random points, the minimisers of the linear
lower bounds, the centres of the boxes being split — first and interleaved with the splitting.
A candidate is only reported after the caller's *confirm* function re-checks it with exact (rational)
arithmetic or a rigorous point enclosure.

Modules: :mod:`~verinet.analyses.verify.spec` (the compiled output constraints),
:mod:`~verinet.analyses.verify.enclosure` (sound bounds over batches of boxes and parts),
:mod:`~verinet.analyses.verify.geometry` (boxes and balls), :mod:`~verinet.analyses.verify.falsify`
(attack glue and the confirm functions), :mod:`~verinet.analyses.verify.objective` (the search as an
objective of :mod:`verinet.search`, evaluated through the worker pool of :mod:`verinet.parallel`) and
:mod:`~verinet.analyses.verify.driver` (:func:`search_spec`, :func:`verify_vnnlib`).
"""

from verinet.analyses.verify.driver import SearchOutcome, VerifyResult, default_workers, search_spec, verify_vnnlib
from verinet.analyses.verify.enclosure import Enclosure, _Enclosure
from verinet.analyses.verify.falsify import approx_random_attack
from verinet.analyses.verify.geometry import BallGeometry, BoxGeometry
from verinet.analyses.verify.objective import NEURON_SPLIT_UNSTABLE, WARM_START_BYTES
from verinet.analyses.verify.spec import OutputSpec, Verdict, build_spec
from verinet.network import approx_value_and_grad

__all__ = ["BallGeometry", "BoxGeometry", "Enclosure", "_Enclosure", "NEURON_SPLIT_UNSTABLE", "OutputSpec",
           "SearchOutcome", "Verdict", "VerifyResult", "WARM_START_BYTES", "approx_random_attack", "approx_value_and_grad",
           "build_spec", "default_workers", "search_spec", "verify_vnnlib"]
