"""The public entry points: :func:`search_spec` (one specification on one region, on the search engine)
and :func:`verify_vnnlib` (a VNN-LIB property, case by case)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from intervals.rounding import float_nearest, to_fraction
from verinet.analyses.attack import pgd_attack
from verinet.analyses.verify.falsify import Attacker, confirm_factory
from verinet.analyses.verify.geometry import BoxGeometry
from verinet.analyses.verify.objective import SpecEvaluator, SpecParts
from verinet.analyses.verify.spec import OutputSpec, Verdict, case_spec
from verinet.errors import QueryError
from verinet.exactfmt import fraction_to_str
from verinet.io.vnnlib import VnnlibProperty, format_counterexample
from verinet.network import Network
from verinet.parallel import make_pool
from verinet.search import Node, Search, SearchConfig, Status

__all__ = ["SearchOutcome", "VerifyResult", "default_workers", "search_spec", "verify_vnnlib"]

#: the engine's statuses in the words of :class:`SearchOutcome`
_WORDS = {Status.PROVED: "proved", Status.FALSIFIED: "falsified", Status.TIME_LIMIT: "timeout",
          Status.BOX_LIMIT: "box_limit", Status.RESOLUTION: "resolution", Status.CONVERGED: "proved"}


#: nodes evaluated per batch (children of half as many popped nodes): with optimised slopes, large batches
#: make each call of the optimiser cheaper per node (measured on MNIST 256x2: calls with fewer than 64 rows
#: cost 2.5x more per row than calls with 64-128), and a proof's tree does not depend on the batch (a
#: node's bound depends on its box, signs and parent alone); input splitting keeps 256
BATCH_ALPHA = 1024
BATCH_PLAIN = 256


def default_workers() -> int:
    """Processes for a verification run from the command line: the cores this process may use, at most 4
    (a batch of 1,024 nodes with optimised slopes goes out in four chunks)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 4))


# --------------------------------------------------------------------------------------------------
# the search: attack + branch-and-bound


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """Result of :func:`search_spec`.

    ``status`` is ``"proved"``, ``"falsified"``, ``"timeout"``, ``"box_limit"`` or ``"resolution"``.
    ``margin`` is a rigorous lower bound of ``min_x min_conj max_{i∈conj} z_i(x)`` over the region (the
    property holds when it is ``> 0``), ``None`` when falsified. ``counterexample`` is what the confirm
    function returned.
    """

    status: str
    margin: float | None
    boxes: int
    seconds: float
    counterexample: object = None
    open_boxes: int = 0


def search_spec(
    spec: OutputSpec,
    geom,
    confirm: Callable[[np.ndarray], object],
    *,
    deadline: float,
    max_boxes: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    attack_seconds: float = 2.0,
    bounds: str = "auto",
    split: str = "multi4",
    neurons: str = "auto",
    progress: Callable[[dict], None] | None = None,
    recorder=None,
    workers: int = 1,
    scheduler=None,
) -> SearchOutcome:
    """Decide whether some point of the region ``geom`` has an unsafe output (attack + splitting).

    ``confirm(x)`` receives a float candidate (approximately unsafe) and must return a rigorously
    confirmed counterexample or None; ``deadline`` is a ``time.perf_counter()`` value. ``bounds`` is
    ``"auto"``/``"linear"``/``"ibp"`` (see :class:`~verinet.analyses.verify.enclosure.Enclosure`).
    ``split`` chooses the coordinate to bisect: ``"multi<k>"`` (default ``multi4``): largest width × max |approximate gradient| of the bottleneck atom
    over the centre and ``k`` random points of the box; ``"gradient"``: at the centre only; ``"widest"``:
    largest width relative to the region's. (On ACAS Xu ``multi4`` needs 5–100× fewer boxes than the
    others.)

    ``neurons`` chooses when a box is split on the sign of an unstable ReLU instead of a coordinate
    (both parts, ``z ≥ 0`` and ``z ≤ 0``, cover the box; each is bounded with the neuron's relaxation made
    exact, the box shrunk to the part's halfspaces, and may be proved empty): ``"auto"`` when the box has
    at most :data:`~verinet.analyses.verify.objective.NEURON_SPLIT_UNSTABLE` free unstable neurons, or
    when it is too narrow to bisect in float64 (so such boxes are still refined); ``"never"``: coordinates
    only (the classical input splitting). The neuron is chosen by
    :meth:`~verinet.analyses.verify.enclosure.Enclosure.neuron_choice`. With optimised slopes
    (high-dimensional inputs, see :class:`verinet.bounds.alpha.SlopeTightener`) the root's hidden-layer
    bounds are optimised too, boxes are split on neurons whenever one is unstable, the two parts keep their
    parent's hidden-layer enclosures (clamped to the new sign) and only the output is re-bounded, with
    multipliers for the split constraints (β-CROWN; warm-started from the parent), and the split scores come
    from the bounds of the atoms that keep the box open.
    (Measured before the multipliers: splitting on neurons whenever one is unstable needed more time than
    input splitting on ACAS Xu and on a 32-input network, so low-dimensional inputs keep bisection.)

    ``recorder`` (optional, e.g. :class:`verinet.evidence.prooftree.CaseRecorder`) receives the split tree's
    closed leaves (``start(lo, hi, kinked, method)``, ``closed(L, H, F)``, ``outside(L, H, F)``): the
    evidence of a proof certificate.

    The search runs on :class:`verinet.search.Search` with the objective
    :class:`~verinet.analyses.verify.objective.SpecParts`; batches of nodes are evaluated by ``workers``
    processes of this machine (or the Dask cluster ``scheduler``, see :func:`verinet.parallel.make_pool`),
    with the same result for any number of them under a box budget.

    Rigorous: ``"proved"`` means every point of the region (of the outer float box, minus boxes
    proved disjoint from the region) has a safe output; ``margin`` is a lower bound of the score over
    the region; a counterexample is only what ``confirm`` accepted.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    atk = Attacker(spec, geom, confirm, rng)
    conj = [list(c) for c in spec.conjunctions]

    def outcome(status, margin, boxes=0, cex=None, open_boxes=0):
        return SearchOutcome(status, margin, boxes, time.perf_counter() - t0, cex, open_boxes)

    if not conj:  # nothing is unsafe
        return outcome("proved", math.inf)
    if any(len(c) == 0 for c in conj):  # everything is unsafe: any point of the region
        found = confirm(geom.project(geom.sample(rng, 1))[0])
        return outcome("falsified", None, 0, found) if found is not None else outcome("resolution", None)

    # phase 1: random points (cheap)
    found = atk.random(2048, 0, deadline)
    if found is not None:
        return outcome("falsified", None, 0, found)

    if neurons not in ("auto", "never"):
        raise QueryError(f"unknown neuron splitting {neurons!r}: use auto or never")
    pool = make_pool(SpecEvaluator, (spec.network, bounds, spec.conjunctions, spec.strict, neurons, split, geom,
                                     seed), workers, scheduler)
    try:
        return _run(pool, spec, geom, atk, rng, t0, deadline, max_boxes, batch, attack_seconds, progress,
                    recorder, outcome)
    finally:
        pool.close()


def _run(pool, spec, geom, atk, rng, t0, deadline, max_boxes, batch, attack_seconds, progress, recorder,
         outcome) -> SearchOutcome:
    """Phases 2–4 of :func:`search_spec`: the root, a short attack, the branch-and-bound."""
    ev = pool.local
    enclose = ev.enclose
    if recorder is not None:
        recorder.start(geom.lo, geom.hi, enclose.kinked, "linear" if enclose.linear else "interval")
    if batch is None:
        batch = BATCH_ALPHA if enclose.slopes is not None else BATCH_PLAIN
    objective = SpecParts(pool, atk, geom, geom.hi - geom.lo, batch, deadline, recorder)

    def report(p) -> None:
        progress({"seconds": p.seconds, "boxes": p.boxes, "open": p.open, "margin": -p.upper})
    config = SearchConfig(time_limit=deadline - t0, max_boxes=max_boxes)
    search = Search(objective, config, t0=t0, progress=None if progress is None else report)

    def done(out):
        if out.status is Status.FALSIFIED:
            return outcome("falsified", None, out.boxes, out.payload)
        margin = -out.upper
        n_open = len(out.held) if out.status is Status.RESOLUTION else len(out.open) + len(out.held)
        return outcome(_WORDS[out.status], margin, out.boxes, None, n_open)

    # phase 2: the root box
    F0 = np.zeros(ev.n_signs, dtype=np.int8)
    search.add([Node(geom.lo.copy(), geom.hi.copy(), F0)])
    found = objective.found
    # phase 3: a short gradient attack from random starts
    a_deadline = min(deadline, time.perf_counter() + attack_seconds)
    for r in range(8):
        if found is not None or not len(search.frontier) or time.perf_counter() > a_deadline:
            break
        # PGD on every disjunct, from random points and the minimisers of the root's linear bounds
        starts = objective.candidates if enclose.slopes is not None and r == 0 else None
        found = pgd_attack(spec, geom, atk.confirm, deadline=a_deadline, rng=rng, restarts=16, steps=60,
                           starts=starts)
    if found is not None:
        return outcome("falsified", None, search.boxes, found)
    # phase 4: branch-and-bound, with attacks from the worst boxes every few seconds
    objective.next_attack = time.perf_counter() + 2.0
    return done(search.run())


# --------------------------------------------------------------------------------------------------
# VNN-LIB


_RESULT = {Verdict.VERIFIED: "unsat", Verdict.FALSIFIED: "sat", Verdict.UNKNOWN: "unknown",
           Verdict.TIMEOUT: "timeout"}


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The answer to a VNN-LIB property.

    Attributes
    ----------
    result : str
        ``"unsat"`` (the property holds: proved), ``"sat"`` (a counterexample confirmed in exact
        arithmetic), ``"unknown"`` or ``"timeout"``.
    verdict : Verdict
    x : tuple or None
        Counterexample input (floats, or exact Fractions for coordinates pinned to a decimal bound).
    y : tuple of Fraction or None
        The network's exact output at ``x`` (piecewise-linear networks), or the midpoints of a rigorous
        point enclosure (smooth networks; the violation itself was certified with the enclosure).
    margin : float or None
        Rigorous lower bound of the worst case's score ``min_conj max_{c∈conj} (c·y − d)`` over the
        cases that were decided or searched (``> 0`` proves the property).
    """

    result: str
    verdict: Verdict
    seconds: float
    boxes: int
    cases: int
    x: tuple | None = None
    y: tuple | None = None
    margin: float | None = None
    notes: tuple[str, ...] = ()

    def to_text(self) -> str:
        """VNN-COMP result text: the answer line, then the counterexample for ``sat``."""
        if self.verdict is not Verdict.FALSIFIED:
            return self.result + "\n"
        y = [v if isinstance(v, float) else float_nearest(to_fraction(v)) for v in self.y]
        return "sat\n" + format_counterexample(list(self.x), y)

    def to_json(self) -> dict:
        def s(v):
            return repr(v) if isinstance(v, float) else fraction_to_str(to_fraction(v))
        return {
            "result": self.result,
            "verdict": self.verdict.value,
            "seconds": round(self.seconds, 6),
            "boxes": self.boxes,
            "cases": self.cases,
            "counterexample": None if self.x is None else {"x": [s(v) for v in self.x],
                                                           "y": [s(v) for v in self.y]},
            "margin": None if self.margin is None or not math.isfinite(self.margin) else self.margin,
            "notes": list(self.notes),
        }


def verify_vnnlib(
    network: Network,
    prop: VnnlibProperty,
    *,
    timeout: float = 116.0,
    batch: int | None = None,
    max_boxes: int | None = None,
    seed: int = 0,
    bounds: str = "auto",
    neurons: str = "auto",
    progress: Callable[[dict], None] | None = None,
    recorder=None,
    workers: int = 1,
) -> VerifyResult:
    """Decide a VNN-LIB property: ``unsat`` (proved), ``sat`` (confirmed counterexample) or neither.

    Parameters
    ----------
    network : Network
        In the coordinates of the property (VNN-LIB ACAS Xu properties are in normalised coordinates:
        load ``.onnx``, or ``.nnet`` with ``coordinates="normalized"``).
    prop : VnnlibProperty
    timeout : float
        Seconds for the whole property (all cases).
    batch : int, optional
        Nodes evaluated per batch (default :data:`BATCH_ALPHA` with optimised slopes, else
        :data:`BATCH_PLAIN`).
    max_boxes : int, optional
        Budget of evaluated boxes per case.
    bounds : {"auto", "linear", "alpha", "ibp"}
        Enclosures used for the proofs: linear back-substitution, with optimised ReLU lower slopes
        (:mod:`verinet.bounds.alpha`; ``"auto"`` uses them from :data:`verinet.bounds.alpha.ALPHA_MIN_INPUTS` inputs on,
        together with neuron splitting), or plain interval bound propagation.
    neurons : {"auto", "never"}
        Whether boxes may also be split on the sign of an unstable ReLU (see :func:`search_spec`).
    recorder : verinet.evidence.prooftree.SplitTreeRecorder, optional
        Collects the split tree of each case (the evidence of a proof certificate,
        :func:`verinet.evidence.prooftree.vnnlib_certificate`).
    workers : int
        Processes that evaluate the batches of the search (:func:`default_workers` is what the command
        line uses); the verdicts do not depend on it (only how far a search gets within its time).

    Returns
    -------
    VerifyResult

    Rigorous: ``unsat`` only when every case box is covered by boxes on which interval bound propagation
    proves each unsafe conjunction impossible; ``sat`` only with ``x`` inside a case box (exact
    comparison) and the unsafe condition checked on the exact output (``evaluate_exact``), or on a
    rigorous point enclosure for smooth activations.
    """
    t0 = time.perf_counter()
    if not (timeout > 0):
        raise QueryError(f"timeout must be > 0, got {timeout}")
    if prop.n_inputs != network.n_inputs:
        raise QueryError(f"the property has {prop.n_inputs} inputs, the network has {network.n_inputs}")
    if prop.n_outputs != network.n_outputs:
        raise QueryError(f"the property has {prop.n_outputs} outputs, the network has {network.n_outputs}")
    deadline = t0 + timeout
    cases = list(prop.cases)
    if not cases:
        return VerifyResult("unsat", Verdict.VERIFIED, time.perf_counter() - t0, 0, 0, margin=math.inf,
                            notes=("the property has no satisfiable unsafe case",))
    prepared = []
    for case in cases:
        spec = case_spec(network, case)
        geom = BoxGeometry(case.lower, case.upper)
        prepared.append((spec, geom, confirm_factory(network, prop, spec, geom, deadline)))

    total_boxes = 0
    statuses = []
    margins = []

    def finish(verdict, x=None, y=None, notes=()):
        margin = min(margins) if margins and verdict is not Verdict.FALSIFIED else None
        return VerifyResult(_RESULT[verdict], verdict, time.perf_counter() - t0, total_boxes, len(cases),
                            x, y, margin, tuple(notes))

    # random points in every case first: counterexamples are often cheap to find
    for k, (spec, geom, confirm) in enumerate(prepared):
        found = Attacker(spec, geom, confirm, np.random.default_rng(seed + k)).random(4096, 0, deadline)
        if found is not None:
            return finish(Verdict.FALSIFIED, *found)

    for k, (spec, geom, confirm) in enumerate(prepared):
        now = time.perf_counter()
        share = (deadline - now) / (len(cases) - k)
        out = search_spec(spec, geom, confirm, deadline=min(deadline, now + share), max_boxes=max_boxes,
                          batch=batch, seed=seed + 1000 + k, attack_seconds=min(3.0, 0.1 * share),
                          bounds=bounds, neurons=neurons, progress=progress,
                          recorder=None if recorder is None else recorder.case(k), workers=workers)
        total_boxes += out.boxes
        if out.status == "falsified":
            return finish(Verdict.FALSIFIED, *out.counterexample)
        statuses.append(out.status)
        if out.margin is not None:
            margins.append(out.margin)
    if all(s == "proved" for s in statuses):
        return finish(Verdict.VERIFIED)
    if "timeout" in statuses:
        return finish(Verdict.TIMEOUT)
    return finish(Verdict.UNKNOWN, notes=tuple(sorted(set(statuses) - {"proved"})))
