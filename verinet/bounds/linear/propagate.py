"""The public entry points of the linear bounds: :func:`linear_propagate`, :func:`linear_propagate_fixed`
and :func:`linear_objective_bounds`, and the layer-by-layer pass behind them.

Proofs referred to as "the module docstring" (the statement ``S_j`` and steps 1–7) are in the docstring
of :mod:`verinet.bounds.linear`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from intervals.array import IntervalArray
from intervals.linalg import PointMatrix
from verinet.bounds.linear.backsub import _backsub
from verinet.bounds.linear.prep import _prepare, _Prepared
from verinet.bounds.linear.relaxation import _input_data, _Relax, _relaxation
from verinet.bounds.linear.tightening import (
    _farkas_empty,
    _meet,
    _refine_mask,
    _refine_pre,
    _tighten_by_signs,
)
from verinet.bounds.propagation import LayerBounds, SplitBounds, clamp_signs, propagate

__all__ = ["Refine", "linear_objective_bounds", "linear_propagate", "linear_propagate_fixed"]


Refine = Literal["unstable", "all"]


def _box(prep: _Prepared, lo, hi) -> tuple[np.ndarray, np.ndarray, bool]:
    if hi is None:
        if not isinstance(lo, IntervalArray):
            raise TypeError("give the box as lo, hi arrays or as one IntervalArray")
        lo, hi = lo.lo, lo.hi
    x = IntervalArray(lo, hi)  # validates: float64, no NaN, lo <= hi
    n = prep.network.n_inputs
    if x.ndim not in (1, 2) or x.shape[-1] != n:
        raise ValueError(f"box of shape {x.shape}: expected ({n},) or (B, {n})")
    single = x.ndim == 1
    xl = np.ascontiguousarray(np.atleast_2d(x.lo))
    xu = np.ascontiguousarray(np.atleast_2d(x.hi))
    return xl, xu, single


def _squeeze(a: IntervalArray, single: bool) -> IntervalArray:
    return IntervalArray.unchecked(a.lo[0], a.hi[0]) if single else a


def _propagate(prep: _Prepared, xl: np.ndarray, xu: np.ndarray, single: bool, refine: str,
               last_relax: bool = False, fix=None, dead: np.ndarray | None = None, rows: list | None = None):
    """:func:`linear_propagate` on validated (B, n) boxes; also returns the relaxations (of the last layer
    too when ``last_relax``), the input data (None for unbounded boxes) and the (B, n_out) output.

    With ``fix`` (one entry per layer: None or signs (B, n_k), see :func:`verinet.bounds.propagation.clamp_signs`)
    the bounds are over the part of each box where the fixed neurons have their signs: each layer's
    pre-activation bounds are clamped before they are used (relaxations, later layers), and ``dead``
    (B,) marks the boxes whose part was proved empty. Back-substitution stays sound on the part: every
    relaxation line is valid on the clamped interval, which contains ``z(x)`` for every ``x`` of the part.
    The sign constraints also shrink the boxes ``xl``, ``xu`` *in place* (:func:`_tighten_by_signs`): pass
    copies.
    """
    if refine not in ("unstable", "all"):
        raise ValueError(f"refine must be 'unstable' or 'all', got {refine!r}")
    backend = prep.backend
    X = IntervalArray.unchecked(xl, xu)
    # interval bounds on the box exactly as given (same shapes, so the same rounding as propagate())
    ibp = propagate(backend, IntervalArray.unchecked(xl[0], xu[0]) if single else X)
    inp = _input_data(prep, xl, xu)
    n_layers = len(prep.layers)
    pre = []
    relax: list[_Relax] = []
    tight_a = X
    ma_prev = inp.ma if inp is not None else None
    for k, L in enumerate(prep.layers):
        ibp_z = ibp.pre[k]
        z = IntervalArray.unchecked(np.reshape(ibp_z.lo, (-1, L.n_out)), np.reshape(ibp_z.hi, (-1, L.n_out)))
        if k > 0:
            step = backend.affine(k, tight_a)  # interval step from the tightened bounds of layer k−1
            z = _meet(z, step.lo, step.hi, dead)
            if inp is not None:
                mask = _refine_mask(L, z, k == n_layers - 1, refine)
                if mask.any():
                    z = _refine_pre(prep, relax, inp, k, z, mask, ma_prev, dead)
        if fix is not None and fix[k] is not None:
            if inp is not None and _tighten_by_signs(prep, relax, inp, k, z, fix[k], ma_prev, xl, xu, dead, rows):
                inp = _input_data(prep, xl, xu)  # later layers concretise over the smaller boxes
            z = clamp_signs(z, fix[k], dead)
        pre.append(z)
        tight_a = backend.activate(k, z)
        if inp is not None and (k < n_layers - 1 or last_relax):
            relax.append(_relaxation(L, z, tight_a, ma_prev))
            ma_prev = np.maximum(np.abs(tight_a.lo), np.abs(tight_a.hi))
    out = _meet(tight_a, np.reshape(ibp.output.lo, tight_a.shape), np.reshape(ibp.output.hi, tight_a.shape),
                dead)
    return LayerBounds(tuple(_squeeze(p, single) for p in pre), _squeeze(out, single)), relax, inp, out


def linear_propagate(backend_or_network, lo, hi=None, *, refine: Refine = "unstable") -> LayerBounds:
    """Pre-activation and output enclosures by sound linear back-substitution, intersected with IBP.

    Parameters
    ----------
    backend_or_network : Network or Float64Backend
    lo, hi : array_like, shape (n,) or (B, n)
        The input box or a batch of boxes (floats are their exact binary values); or pass one
        :class:`IntervalArray` as ``lo`` and omit ``hi``.
    refine : {"unstable", "all"}
        Which hidden neurons get back-substituted bounds: by default only the (box, neuron) pairs whose
        interval bounds straddle 0 (the relaxation of any other neuron is exact, so its bounds matter
        neither for later layers nor for Clarke derivatives); ``"all"`` refines every neuron. Output
        bounds are always back-substituted.

    Returns
    -------
    LayerBounds
        ``pre[k]`` and ``output`` as :class:`IntervalArray` with the shapes :func:`verinet.bounds.propagation.propagate`
        gives, each contained in the interval (IBP) bounds. A box with an infinite endpoint gets its
        interval bounds (back-substitution needs a bounded box). Raises ``TypeError`` for a backend other
        than the float64 one.

    Examples
    --------
    >>> from verinet import Layer, Network
    >>> net = Network((Layer.from_exact([["1", "1"], ["1", "-1"]], ["0", "0"]),
    ...                Layer.from_exact([["1", "1"]], ["0"], "identity")))
    >>> b = linear_propagate(net, [-1.0, -1.0], [1.0, 1.0])   # relu(x+y) + relu(x-y) ranges over [0, 2]
    >>> round(float(b.output.hi[0]), 9), bool(3.0 <= b.output.hi[0]), bool(b.output.lo[0] <= 0.0)  # IBP: 4
    (3.0, True, True)

    Rigorous: ``pre[k]`` contains ``z_k(x)`` and ``output`` contains ``f(x)`` for every real ``x`` in each box,
    for the exact weights of the network (rounding errors bounded a priori; see the module docstring).
    """
    prep = _prepare(backend_or_network)
    xl, xu, single = _box(prep, lo, hi)
    return _propagate(prep, xl, xu, single, refine)[0]


def linear_propagate_fixed(backend_or_network, lo, hi, fix, *, refine: Refine = "unstable") -> SplitBounds:
    """:func:`linear_propagate` over the part of each box where some neurons have fixed signs.

    Parameters
    ----------
    backend_or_network : Network or Float64Backend
    lo, hi : array_like, shape (B, n)
        A batch of boxes.
    fix : sequence
        One entry per layer: None, or an int8 array (B, n_k) with ``+1`` (the part where ``z_i ≥ 0``),
        ``−1`` (``z_i ≤ 0``) or ``0`` (free) per neuron. Splitting a box on a neuron's sign gives two parts
        that cover it; on each part the neuron's relaxation is exact (active or inactive), which tightens
        every later layer.
    refine : {"unstable", "all"}

    Returns
    -------
    SplitBounds
        ``bounds`` (batched (B, ·) enclosures) and ``infeasible`` (B,): parts proved empty.

    Examples
    --------
    >>> import numpy as np
    >>> from verinet import Layer, Network
    >>> net = Network((Layer.from_exact([["1"], ["-1"]], ["0", "0"]), Layer.from_exact([["1", "1"]], ["0"], "identity")))
    >>> fix = [np.array([[1, 0], [1, 1]], dtype=np.int8), None]   # relu(x) + relu(-x) on x ∈ [-1, 1]
    >>> r = linear_propagate_fixed(net, [[-1.0], [-1.0]], [[1.0], [1.0]], fix)
    >>> r.infeasible.tolist()
    [False, False]
    >>> bool(r.bounds.output.hi[1, 0] < 1e-12)   # both active: the output is x − x = 0 exactly
    True
    >>> fix[0][0] = [-1, 0]; fix[0][1] = [1, -1]   # x ≤ 0 on [0.5, 1]: empty; x ≥ 0 on [-1, 1]: [0, 1]
    >>> linear_propagate_fixed(net, [[0.5], [-1.0]], [[1.0], [1.0]], fix).infeasible.tolist()
    [True, False]

    Rigorous: for every box not marked infeasible the enclosures contain ``z_k(x)`` and ``f(x)`` for every
    real ``x`` of the box satisfying the sign constraints; an infeasible box has no such ``x``.
    """
    prep = _prepare(backend_or_network)
    xl, xu, single = _box(prep, lo, hi)
    if single:
        raise ValueError("linear_propagate_fixed takes a batch of boxes, shape (B, n)")
    if len(fix) != len(prep.layers):
        raise ValueError(f"fix needs one entry per layer ({len(prep.layers)}), got {len(fix)}")
    B = xl.shape[0]
    for k, (f, L) in enumerate(zip(fix, prep.layers)):
        if f is not None and np.shape(f) != (B, L.n_out):
            raise ValueError(f"fix[{k}] has shape {np.shape(f)}, expected {(B, L.n_out)}")
    dead = np.zeros(B, dtype=bool)
    tl, tu = xl.copy(), xu.copy()  # shrunk in place by each pass
    rows: list = []
    bounds = _propagate(prep, tl, tu, False, refine, fix=fix, dead=dead, rows=rows)[0]
    if rows:  # a positive combination of the halfspaces may contradict the box: the part is empty
        dead |= _farkas_empty(rows, xl, xu, dead)
    pre = [[p.lo, p.hi] for p in bounds.pre]
    out = [bounds.output.lo, bounds.output.hi]
    for _ in range(_SPLIT_PASSES - 1):
        # boxes that shrank by more than 1/8 of a width in some coordinate get another pass, from the
        # smaller box (any box containing the part will do)
        again = np.flatnonzero(~dead & ((tu - tl) < 0.875 * (xu - xl)).any(axis=1))
        if not len(again):
            break
        xl, xu = tl.copy(), tu.copy()
        sub_dead = dead[again].copy()
        sl, su = tl[again], tu[again]
        sub = _propagate(prep, sl, su, False, refine, fix=[None if f is None else f[again] for f in fix],
                         dead=sub_dead)[0]
        dead[again] = sub_dead
        tl[again], tu[again] = sl, su
        for k, p in enumerate(sub.pre):
            pre[k][0][again], pre[k][1][again] = p.lo, p.hi
        out[0][again], out[1][again] = sub.output.lo, sub.output.hi
    bounds = LayerBounds(tuple(IntervalArray.unchecked(lo, hi) for lo, hi in pre),
                         IntervalArray.unchecked(*out))
    return SplitBounds(bounds, dead)


#: at most this many passes of :func:`linear_propagate_fixed`, each from the boxes shrunk by the last
_SPLIT_PASSES = 6


def linear_objective_bounds(backend_or_network, lo, hi, C, *, bounds: LayerBounds | None = None,
                            refine: Refine = "unstable") -> IntervalArray:
    """Enclosure of ``C y`` over each box, by back-substituting ``C`` through the network.

    Parameters
    ----------
    backend_or_network : Network or Float64Backend
    lo, hi : array_like, shape (n,) or (B, n)
        Input box or batch of boxes (or one :class:`IntervalArray` as ``lo`` with ``hi=None``).
    C : array_like, shape (m, n_outputs) or (n_outputs,)
        Exact float64 coefficients (e.g. VNN-LIB constraint rows); ``y`` is the network output.
    bounds : LayerBounds, optional
        Enclosures for the *same* boxes (from :func:`linear_propagate`, or
        :func:`verinet.bounds.propagation.propagate`); computed with :func:`linear_propagate` when omitted.
    refine : {"unstable", "all"}
        Passed to :func:`linear_propagate` when ``bounds`` is omitted.

    Returns
    -------
    IntervalArray of shape (m,) or (B, m) (``()``/``(B,)`` for a 1-D ``C``), intersected with ``C``
    applied to the output enclosure.

    Examples
    --------
    >>> from verinet import Layer, Network
    >>> net = Network((Layer.from_exact([["1"], ["-1"]], ["0", "0"]), Layer.from_exact([["1", "0"], ["0", "1"]], ["0", "0"], "identity")))
    >>> y = linear_objective_bounds(net, [-1.0], [1.0], [[1.0, 1.0]])   # relu(x) + relu(-x) = |x|
    >>> bool(y.lo[0] <= 0.0 and 1.0 <= y.hi[0] < 1.5)
    True

    Rigorous: contains ``C f(x)`` for every real ``x`` in each box (exact weights, exact ``C``).
    """
    prep = _prepare(backend_or_network)
    net = prep.network
    C = np.asarray(C)
    vec = C.ndim == 1
    C = np.atleast_2d(C)
    if C.dtype.kind not in "fiu" or C.ndim != 2 or C.shape[1] != net.n_outputs:
        raise ValueError(f"C must be a numeric (m, {net.n_outputs}) matrix, got shape {C.shape}")
    C = np.ascontiguousarray(C, dtype=np.float64)
    if not np.isfinite(C).all():
        raise ValueError("C has a NaN or infinite entry")
    xl, xu, single = _box(prep, lo, hi)
    B = xl.shape[0]
    if bounds is None:
        _, relax, inp, out = _propagate(prep, xl, xu, single, refine, last_relax=True)
    else:  # relaxations from the given enclosures (any sound ones for these boxes will do)
        pre = [IntervalArray.unchecked(np.reshape(p.lo, (B, -1)), np.reshape(p.hi, (B, -1)))
               for p in bounds.pre]
        out = IntervalArray.unchecked(np.reshape(bounds.output.lo, (B, -1)),
                                      np.reshape(bounds.output.hi, (B, -1)))
        inp = _input_data(prep, xl, xu)
        relax = []
        ma_prev = inp.ma if inp is not None else None
        for k, L in enumerate(prep.layers):
            if inp is None:
                break
            A = prep.backend.activate(k, pre[k])
            relax.append(_relaxation(L, pre[k], A, ma_prev))
            ma_prev = np.maximum(np.abs(A.lo), np.abs(A.hi))
    naive = PointMatrix(C).matvec(out)  # (B, m): C applied to the output enclosure
    result = naive
    if inp is not None:
        m = C.shape[0]
        T = np.tile(np.concatenate([C, -C]), (B, 1))  # (B·2m, n_out): row b·2m + r is ±C[r]
        seg = np.arange(B + 1, dtype=np.int64) * (2 * m)
        acc = _backsub(prep, relax, inp, len(prep.layers) - 1, np.ascontiguousarray(T), seg, np.zeros(B * 2 * m))
        acc = acc.reshape(B, 2 * m)
        result = _meet(naive, -acc[:, m:], acc[:, :m])
    rlo, rhi = result.lo, result.hi  # (B, m)
    if vec:
        rlo, rhi = rlo[:, 0], rhi[:, 0]
    if single:
        rlo, rhi = rlo[0], rhi[0]
    return IntervalArray.unchecked(np.asarray(rlo), np.asarray(rhi))
