"""Rigorous output enclosures over batches of boxes (or of their parts with fixed neuron signs), and the
choice of the neuron to split."""

from __future__ import annotations

import numpy as np

from intervals.array import IntervalArray
from verinet.bounds.alpha import SlopeTightener as _SlopeBounds
from verinet.bounds.backends import make_backend
from verinet.bounds.linear import linear_propagate, linear_propagate_fixed
from verinet.bounds.propagation import clamp_signs, kinked_layout, per_layer_signs, propagate, propagate_fixed
from verinet.errors import QueryError
from verinet.network import Network

__all__ = ["Enclosure"]


class Enclosure:
    """Rigorous output enclosures over batches of boxes, or over their parts with fixed neuron signs.

    ``method``: ``"linear"`` — sound CROWN/DeepPoly back-substitution (:mod:`verinet.bounds.linear`, itself
    intersected with interval propagation); ``"ibp"`` — interval bound propagation
    (:mod:`verinet.bounds.propagation`); ``"auto"`` — linear. Neuron signs are given flat (B, H) over the
    ``H`` ReLU / leaky-ReLU neurons in layer order (``kinked`` lists ``(layer, offset, width)``).
    """

    def __init__(self, network: Network, method: str, conjunctions=None) -> None:
        if method not in ("auto", "linear", "ibp", "alpha"):
            raise QueryError(f"unknown bound method {method!r}: use auto, linear, alpha or ibp")
        self.network = network
        self.backend = make_backend(network)
        self.linear = method != "ibp"
        self.slopes = _SlopeBounds.wanted(network, method, conjunctions)
        self.kinked, self.n_kinked = kinked_layout(network)
        # influence of a neuron on the next layer: the l1 norm of its column of outgoing weights
        layers = network.layers
        self.influence = np.concatenate(
            [np.abs(layers[k + 1].weight_mid).sum(axis=0) if k + 1 < len(layers) else np.ones(n)
             for k, _, n in self.kinked]) if self.kinked else np.zeros(0)

    def __call__(self, L: np.ndarray, H: np.ndarray, F: np.ndarray | None = None, parent=None, same=None):
        """``(pre-activations, output, infeasible (B,))`` over the boxes (parts when ``F`` is given).

        ``parent``: optional ``(lo, hi)`` lists (one (B, n_k) array per layer, the output last) of enclosures
        valid on a set containing each box's part (its parent's); they are intersected in, so a child is
        never looser than its parent (with optimised slopes only; an empty intersection proves the part
        empty). ``same`` (B,) bool: parts that are their parent's part cut by one more sign constraint (a
        neuron split, same box); with optimised slopes their hidden-layer enclosures are the parent's,
        clamped to the signs of ``F`` (valid on the smaller part), and only the output is re-bounded, with
        multipliers for the split constraints (β-CROWN, :func:`verinet.bounds.alpha.optimise_multipliers`).
        """
        if self.slopes is not None and parent is not None and same is not None and np.any(same):
            pre, out, empty = self._reuse(L, H, F, parent, np.asarray(same, dtype=bool))
        else:
            pre, out, empty = self._fresh(L, H, F)
        if self.slopes is not None:
            if parent is None and (F is None or not F.any()):  # a root: optimised intermediate bounds
                pre = self.slopes.tighten_hidden(L, H, pre)
            if parent is not None:  # both enclose the part: their intersection does too
                plo, phi = parent[0], parent[1]
                pre = [IntervalArray.unchecked(np.maximum(p.lo, a), np.minimum(p.hi, b)) for p, a, b
                       in zip(pre, plo[:-1], phi[:-1])]
                empty = empty | np.any([(p.lo > p.hi).any(axis=1) for p in pre], axis=0)
                pre = [IntervalArray.unchecked(np.where(empty[:, None], a, p.lo), np.where(empty[:, None], b, p.hi))
                       for p, a, b in zip(pre, plo[:-1], phi[:-1])]
                out = IntervalArray.unchecked(np.maximum(out.lo, plo[-1]), np.minimum(out.hi, phi[-1]))
                out = IntervalArray.unchecked(np.where(empty[:, None], plo[-1], out.lo),
                                            np.where(empty[:, None], phi[-1], out.hi))
            out = self.slopes.tighten(L, H, pre, out, empty,
                                      None if F is None else per_layer_signs(F, self.kinked, len(self.network.layers)),
                                      warm=None if parent is None or len(parent) < 3 else parent[2])
            self.last = ([p.lo for p in pre] + [out.lo], [p.hi for p in pre] + [out.hi], self.slopes.params)
        return pre, out, empty

    def _reuse(self, L, H, F, parent, same):
        """Enclosures of the parts: the parent's, clamped to the signs of ``F``, where ``same``; fresh
        ones (:meth:`_fresh`) elsewhere. Sound: the parent's enclosures hold on the parent's part, which
        contains the child's, and on the child's part every fixed sign holds (:func:`clamp_signs`)."""
        plo, phi = parent[0], parent[1]
        lo = [np.array(a, dtype=np.float64) for a in plo]
        hi = [np.array(a, dtype=np.float64) for a in phi]
        empty = np.zeros(len(L), dtype=bool)
        rest = np.flatnonzero(~same)
        if len(rest):
            p2, o2, e2 = self._fresh(L[rest], H[rest], None if F is None else F[rest])
            for k, p in enumerate(list(p2) + [o2]):
                lo[k][rest], hi[k][rest] = p.lo, p.hi
            empty[rest] = e2
        pre = [IntervalArray.unchecked(a, b) for a, b in zip(lo[:-1], hi[:-1])]
        if F is not None:
            fix = per_layer_signs(F, self.kinked, len(self.network.layers))
            dead = np.zeros(len(L), dtype=bool)
            pre = [p if f is None else clamp_signs(p, f, dead) for p, f in zip(pre, fix)]
            empty |= dead
        return pre, IntervalArray.unchecked(lo[-1], hi[-1]), empty

    def _fresh(self, L, H, F):
        """Enclosures computed from the boxes (and signs) alone."""
        if F is None or not F.any():
            if self.linear:
                b = linear_propagate(self.backend, L, H)
            else:
                b = propagate(self.backend, self.backend.box(L, H))
            pre, out, empty = b.pre, b.output, np.zeros(len(L), dtype=bool)
        else:
            fix = per_layer_signs(F, self.kinked, len(self.network.layers))
            r = (linear_propagate_fixed(self.backend, L, H, fix) if self.linear
                 else propagate_fixed(self.backend, L, H, fix))
            pre, out, empty = r.bounds.pre, r.bounds.output, r.infeasible
        return pre, out, empty

    def neuron_choice(self, pre, F: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Per box the number of free unstable neurons and the one to split (flat index, −1 if none).

        Score (BaBSR-like, Bunel et al. 2020): the height ``−l·u/(u − l)`` of the triangle relaxation
        times the neuron's outgoing weight mass; ties go to the earlier layer.
        """
        B = pre[0].shape[0]
        scores = self.slopes.scores if self.slopes is not None else None
        if scores is not None and scores.shape[0] != B:
            scores = None
        count = np.zeros(B, dtype=np.int64)
        best = np.full(B, -1.0)
        cand = np.full(B, -1, dtype=np.int64)
        for k, off, n in self.kinked:
            lo, hi = pre[k].lo, pre[k].hi
            free = (lo < 0) & (hi > 0)
            if F is not None:
                free &= F[:, off:off + n] == 0
            count += free.sum(axis=1)
            with np.errstate(over="ignore", invalid="ignore"):
                gap = np.where(free, -lo * hi / (hi - lo), -1.0)
            score = np.where(free, np.nan_to_num(gap, nan=0.0, posinf=1e300) * self.influence[off:off + n], -1.0)
            if scores is not None:  # the intercepts a split removes from the open atoms' bounds (BaBSR)
                tie = np.maximum(score, 0.0) / max(float(score.max()), 1e-300)  # in [0, 1]: breaks ties only
                score = np.where(free, scores[:, off:off + n] + 1e-12 * tie, -1.0)
            j = np.argmax(score, axis=1)
            s = score[np.arange(B), j]
            better = s > best
            best = np.where(better, s, best)
            cand = np.where(better, off + j, cand)
        return count, cand


#: the name used before the package split
_Enclosure = Enclosure
