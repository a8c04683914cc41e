"""Optimised lower slopes of unstable ReLUs (α-CROWN), with a sound final bound.

Xu, Zhang, Wang, Wang, Jana, Lin & Hsieh, "Fast and complete: enabling complete neural network
verification with rapid and massively parallel incomplete verifiers" (ICLR 2021): the lower line
``a ≥ s·z`` of an unstable ReLU (``l < 0 < u``) is valid for *every* slope ``s ∈ [0, 1]`` (for leaky ReLU,
``s ∈ [α, 1]``), so the slope can be chosen per neuron and per output constraint to maximise that
constraint's lower bound. CROWN's back-substitution bound is a differentiable function of the slopes
almost everywhere; for an MLP its gradient is simple: with ``x*`` the corner of the input box that
minimises the final linear function, pushing ``x*`` forward through the *relaxed* network (each ReLU
replaced by the line that the back-substitution chose for it) gives a virtual pre-activation ``v`` per
neuron, and ``∂ bound / ∂ s_j = Λ_j · v_j`` where ``Λ_j ≥ 0`` is the coefficient of ``a_j`` (only neurons
using their lower line depend on ``s``). The slopes are optimised in plain float64 by projected Adam
steps (:func:`optimise_slopes`); that search proves nothing.

Soundness: the bound that is *reported* is recomputed by :func:`sound_lower_bounds` with the sound
back-substitution of :mod:`verinet.bounds.linear` (a-priori rounding-error terms, directed rounding), in which
only the lower lines of unstable neurons change: slope ``s`` a float in ``[α_hi, 1]`` (clipped there, so
any optimiser output is admissible) and offset ``k_L ≤ s·b_lo`` rounded down (the intercept of the line
``s·z`` is 0). The error weights ``w`` of :mod:`verinet.bounds.linear` do not depend on the slopes. Both
intersect with the enclosure they were given, so the result can only tighten a valid bound.
"""

from __future__ import annotations

import numpy as np

from intervals.array import IntervalArray
from verinet.activations.relu import admissible_slopes
from verinet.bounds.linear import _backsub, _input_data, _prepare, _relaxation
from verinet.network import Activation, Layer, Network

__all__ = ["ALPHA_MIN_INPUTS", "SlopeTightener", "box_relaxations", "default_slopes", "optimise_multipliers",
           "optimise_slopes", "sound_lower_bounds", "supports_slopes"]

_KINKED = tuple(a for a in Activation if a.impl.has_kinks)  # lower lines with optimisable slopes


def supports_slopes(network: Network) -> bool:
    """Whether every hidden layer is ReLU / leaky ReLU / identity and the last one identity."""
    layers = network.layers
    return layers[-1].activation is Activation.IDENTITY and all(
        L.activation in _KINKED + (Activation.IDENTITY,) for L in layers[:-1])


def _nonnegative(beta: np.ndarray) -> np.ndarray:
    """Multipliers made admissible: ``β ≥ 0`` (NaN and ``±inf`` → 0), the range of weak duality."""
    return np.maximum(np.nan_to_num(beta, nan=0.0, posinf=0.0, neginf=0.0), 0.0)


def _leak(L) -> float:
    return float(L.alpha) if L.activation is Activation.LEAKY_RELU else 0.0


class _CrownPlan:
    """The parts of the float CROWN bound (:func:`_crown`) that do not depend on the slopes and multipliers,
    computed once per optimisation instead of once per step: the rows' pre-activation bounds, upper chords
    and stable lines, the input corners, the split signs and the weights (in ``dtype``: the optimiser only
    proposes parameters, so it may run in float32; every bound that is reported is re-evaluated by
    :func:`sound_lower_bounds` in float64). Non-rigorous.
    """

    def __init__(self, layers, lows, ups, box, atoms, xl, xu, fixed=None, split=None, dtype=np.float64) -> None:
        dt = np.dtype(dtype)
        self.dtype = dt
        self.n_hidden = len(layers) - 1
        last = layers[-1]
        self.A_top = np.asarray(last.weight_mid[atoms], dtype=dt)  # coefficients over a_{L−1}
        self.c_top = np.asarray(last.bias_mid[atoms], dtype=dt)
        self.layers = []
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for k in range(self.n_hidden):
                L = layers[k]
                W = np.ascontiguousarray(L.weight_mid, dtype=dt)
                b = np.asarray(L.bias_mid, dtype=dt)
                sgn = None if split is None or split[k] is None else np.asarray(split[k][box], dtype=dt)
                if L.activation is Activation.IDENTITY:
                    self.layers.append((W, b, None, None, None, None, sgn))
                    continue
                l, u = lows[k][box], ups[k][box]
                leak = _leak(L)
                unst = (l < 0) & (u > 0)
                s_up = np.nan_to_num(np.where(unst, (u - leak * l) / (u - l), 0.0), nan=1.0, posinf=1.0, neginf=0.0)
                stable = np.where(l >= 0, 1.0, np.where(u <= 0, leak, 0.0))
                # where the coefficient is ≥ 0: the lower line s z on optimised neurons, else the stable line;
                # where < 0: the upper chord s_up z + t on unstable neurons, else the stable line
                S_neg = np.where(unst, s_up, stable).astype(dt)
                T_neg = np.where(unst, np.nan_to_num((leak - s_up) * l), 0.0).astype(dt)
                opt = unst if fixed is None or fixed[k] is None else unst | fixed[k][box]
                self.layers.append((W, b, stable.astype(dt), S_neg, T_neg, opt, sgn))
        self.lo = np.asarray(xl[box], dtype=dt)
        self.hi = np.asarray(xu[box], dtype=dt)

    def run(self, slopes, grad: bool, betas=None):
        """``(bound (R,), x* (R, n), saved or gradients)`` of :func:`_crown` for these slopes/multipliers."""
        A = self.A_top
        c = self.c_top.copy()
        saved = [None] * self.n_hidden
        # the sound back-substitution stops once every coefficient of the batch is exactly 0 (a dead layer:
        # the bound is then exact) and adds no multiplier terms below it; the float objective does the same
        no_beta = [False] * self.n_hidden
        for k in range(self.n_hidden - 1, -1, -1):
            W, b, stable, S_neg, T_neg, opt, sgn = self.layers[k]
            if stable is None:  # identity layer
                S, T, lower = np.ones_like(A), np.zeros_like(A), np.zeros(A.shape, dtype=bool)
                D = A
            else:
                pos = A >= 0
                S = np.where(pos, np.where(opt, slopes[k], stable), S_neg)
                T = np.where(pos, 0.0, T_neg).astype(A.dtype, copy=False)
                lower = opt & pos
                c = c + np.einsum("ij,ij->i", A, T)
                D = A * S
            if sgn is not None and not no_beta[k]:
                D = D - sgn * betas[k]
            if not D.any():
                no_beta[:k] = [True] * k
            c = c + D @ b
            saved[k] = (A, S, T, lower)
            A = D @ W
        xstar = np.where(A > 0, self.lo, self.hi)
        bound = c + np.einsum("ij,ij->i", A, xstar)
        if not grad:
            return bound, xstar, saved
        grads = []
        bgrads = []
        g = xstar
        for k in range(self.n_hidden):
            W, b, _, _, _, _, sgn = self.layers[k]
            A, S, T, lower = saved[k]
            v = g @ W.T + b  # virtual pre-activation of layer k
            grads.append(np.where(lower, A * v, 0.0))
            if betas is not None:
                bgrads.append(None if sgn is None else np.zeros_like(v) if no_beta[k] else -sgn * v)
            g = S * v + T  # the chosen line evaluated at v
        return bound, xstar, grads + bgrads


def _crown(layers, lows, ups, box, atoms, xl, xu, slopes, grad: bool, fixed=None, split=None, betas=None):
    """Float CROWN lower bound of ``z_atom`` per row with lower slopes ``slopes[k]`` (R, n_k).

    ``fixed[k]`` (B, n_k) bool or None: neurons whose sign is fixed on the part; their lower slope is
    optimised too (their bounds are clamped, so they look stable; the line ``s·z`` is valid anyway).
    ``split[k]`` (B, n_k) signs (+1: ``z ≥ 0``, −1: ``z ≤ 0``, 0 free) with ``betas[k]`` (R, n_k) ≥ 0: the
    term ``−Σ β_i sign_i z_i`` (≤ 0 on the part) is added (β-CROWN); its gradient is ``−sign_i v_i``.

    Rows ``r`` bound atom ``atoms[r]`` over box ``box[r]``. Returns ``(bound (R,), x* (R, n), gradients)``
    (gradients: one (R, n_k) array per hidden layer, then one per hidden layer for the multipliers when
    ``split`` is given; without ``grad``, the back-substitution's ``(Γ, S, T, lower)`` per hidden layer).
    Non-rigorous. (Repeated evaluations should build one :class:`_CrownPlan`.)
    """
    plan = _CrownPlan(layers, lows, ups, box, atoms, xl, xu, fixed=fixed, split=split)
    return plan.run(slopes, grad, betas if split is not None else None)


def default_slopes(layers, lows, ups, box) -> list[np.ndarray]:
    """CROWN's choice: 1 where ``u ≥ −l``, else the leak (0 for ReLU); per row (R, n_k). (Neurons fixed
    active get 1, fixed inactive the leak: the exact lines.)"""
    out = []
    for k, L in enumerate(layers[:-1]):
        if L.activation in _KINKED:
            l, u = lows[k][box], ups[k][box]
            out.append(np.where(u >= -l, 1.0, _leak(L)))
        else:
            out.append(np.zeros((len(box), L.n_out)))
    return out


def optimise_slopes(network: Network, lows, ups, xl: np.ndarray, xu: np.ndarray, box: np.ndarray,
                    atoms: np.ndarray, *, iters: int = 20, lr: float = 0.25, init=None, fixed=None):
    """Lower slopes maximising the float CROWN lower bound of ``z_atoms[r]`` over box ``box[r]``.

    Parameters
    ----------
    network : Network
        Piecewise-linear (:func:`supports_slopes`), its last layer the atoms.
    lows, ups : list of (B, n_k) arrays
        Pre-activation bounds of the hidden layers over each box (any enclosure).
    xl, xu : (B, n) boxes.
    box, atoms : (R,) int arrays; row ``r`` bounds atom ``atoms[r]`` over box ``box[r]``.
    iters : int
        Projected Adam steps.
    init : list of (R, n_k) arrays, optional
        Starting slopes (warm start), else CROWN's default choice.
    fixed : list of (B, n_k) bool arrays or None, optional
        Neurons with a fixed sign on the part of the box (bounds clamped): their lower slopes are
        optimised as well. On ``z ≤ 0`` a lower line ``s·z`` with ``s > 0`` acts like the multiplier of the
        split constraint in β-CROWN (Wang et al., NeurIPS 2021), restricted to ``s ≤ 1``.

    Returns
    -------
    (slopes, bound, x*) : the best slopes per row (one (R, n_k) array per hidden layer, inside the
    admissible range), their float bound (R,) and the minimising corner (R, n) of the final linear
    function (a natural attack candidate). Non-rigorous: use :func:`sound_lower_bounds` for a proof.
    """
    slopes, _, bound, xstar = optimise_multipliers(network, lows, ups, xl, xu, box, atoms, iters=iters, lr=lr,
                                                   init=init, fixed=fixed)
    return slopes, bound, xstar


def optimise_multipliers(network: Network, lows, ups, xl: np.ndarray, xu: np.ndarray, box: np.ndarray,
                         atoms: np.ndarray, *, iters: int = 20, lr: float = 0.25, lr_beta: float = 0.05,
                         init=None, fixed=None, split=None, init_betas=None, dtype=np.float64):
    """Lower slopes and split multipliers maximising the float CROWN lower bound (α,β-CROWN).

    As :func:`optimise_slopes`, plus ``split`` (one (B, n_k) int array of signs or None per hidden layer:
    ``+1`` on a part where ``z ≥ 0``, ``−1`` where ``z ≤ 0``) and multipliers ``β ≥ 0`` for those
    constraints (Wang et al., "Beta-CROWN", NeurIPS 2021), optimised jointly by projected Adam steps from
    ``init_betas`` (warm start) or 0. Returns ``(slopes, betas, bound, x*)``; ``betas`` is None without
    ``split``. Non-rigorous: :func:`sound_lower_bounds` with the same ``split`` and ``betas`` gives the proof.
    """
    layers = network.layers
    H = len(layers) - 1
    lo_leak = [_leak(L) for L in layers[:-1]]
    s = [np.clip(a, lk, 1.0) for a, lk in zip(init, lo_leak)] if init is not None else \
        default_slopes(layers, lows, ups, box)
    if split is not None and all(f is None or not np.any(f) for f in split):
        split = None
    if split is not None:
        s += [np.zeros((len(box), L.n_out)) if f is None
              else np.maximum(np.nan_to_num(init_betas[k], nan=0.0), 0.0) * (f[box] != 0)
              if init_betas is not None and init_betas[k] is not None else np.zeros((len(box), L.n_out))
              for k, (f, L) in enumerate(zip(split, layers[:-1]))]
    lo_b = lo_leak + [0.0] * (len(s) - H)
    hi_b = [1.0] * H + [np.inf] * (len(s) - H)
    steps = [lr] * H + [lr_beta] * (len(s) - H)
    active = [layers[k].activation in _KINKED for k in range(H)] + \
        [split[k] is not None for k in range(len(s) - H)]

    plan = _CrownPlan(layers, lows, ups, box, atoms, xl, xu, fixed=fixed, split=split, dtype=dtype)

    def run(params, grad):
        return plan.run(params[:H], grad, params[H:] if split is not None else None)

    s = [np.asarray(a, dtype=plan.dtype) for a in s]
    best_b = best_x = None
    best_s = [a.copy() for a in s]
    m = [np.zeros_like(a) for a in s]
    v = [np.zeros_like(a) for a in s]
    b1, b2 = 0.9, 0.999
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, iters + 1):
            b, x, g = run(s, True)
            if best_b is None:  # the starting point (the first step evaluates it)
                best_b, best_x = b, x
                better = np.zeros(len(b), dtype=bool)
            else:
                better = b > best_b
            if better.any():
                best_b = np.where(better, b, best_b)
                best_x = np.where(better[:, None], x, best_x)
                for k in range(len(s)):
                    best_s[k][better] = s[k][better]
            decay = 0.98 ** t
            for k in range(len(s)):
                if not active[k]:
                    continue
                m[k] = b1 * m[k] + (1 - b1) * g[k]
                v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
                mh = m[k] / (1 - b1 ** t)
                vh = v[k] / (1 - b2 ** t)
                s[k] = np.clip(s[k] + steps[k] * decay * mh / (np.sqrt(vh) + 1e-12), lo_b[k], hi_b[k])
        b, x, _ = run(s, False)
        better = b > best_b if best_b is not None else np.ones(len(b), dtype=bool)
        best_b = np.where(better, b, best_b if best_b is not None else b)
        best_x = np.where(better[:, None], x, best_x if best_x is not None else x)
        for k in range(len(s)):
            best_s[k][better] = s[k][better]
    best_s = [np.asarray(a, dtype=np.float64) for a in best_s]
    return best_s[:H], (best_s[H:] if split is not None else None), np.asarray(best_b, dtype=np.float64), \
        np.asarray(best_x, dtype=np.float64)


def box_relaxations(network: Network, xl: np.ndarray, xu: np.ndarray, pre):
    """The per-box part of :func:`sound_lower_bounds`: the input data and, per layer, the relaxation of
    :mod:`verinet.bounds.linear` (lines, offsets, error weights) on the enclosures ``pre`` with the enclosure itself.
    Depends only on the boxes and ``pre``, so one result serves any number of calls with the same ones.
    None when an input bound is infinite (nothing can be proved then).
    """
    prep = _prepare(network)
    xl = np.ascontiguousarray(xl, dtype=np.float64)
    xu = np.ascontiguousarray(xu, dtype=np.float64)
    inp = _input_data(prep, xl, xu)
    if inp is None:
        return None
    out = []
    ma_prev = inp.ma
    for k, L in enumerate(prep.layers):
        Z = IntervalArray.unchecked(np.asarray(pre[k].lo), np.asarray(pre[k].hi))
        A = prep.backend.activate(k, Z)
        out.append((_relaxation(L, Z, A, ma_prev), Z))
        ma_prev = np.maximum(np.abs(A.lo), np.abs(A.hi))
    return inp, out


def sound_lower_bounds(network: Network, xl: np.ndarray, xu: np.ndarray, pre, output: IntervalArray,
                       box: np.ndarray, atoms: np.ndarray, slopes, fixed=None, split=None,
                       betas=None, relaxed=None) -> np.ndarray:
    """Rigorous lower bounds (R,) of ``z_atoms[r](x)`` over every real ``x`` in box ``box[r]``.

    Parameters
    ----------
    network : Network
        Piecewise-linear (:func:`supports_slopes`).
    xl, xu : (B, n) float boxes.
    pre : sequence of IntervalArray (B, n_k), one per layer (the last one: the atoms)
        Sound pre-activation enclosures of every layer over each box — or over the part of each box
        where some neuron signs are fixed (then the bound holds on that part).
    output : IntervalArray (B, m)
        A sound output enclosure (the result is intersected with its lower end).
    box, atoms : (R,) int arrays.
    slopes : one (R, n_k) float array per hidden layer
        Any floats: clipped to the admissible range ``[α_hi, 1]`` of each unstable neuron's lower line.
    fixed : list of (B, n_k) bool arrays or None, optional
        Neurons whose slopes are used although their (clamped) bounds are stable: any neuron may take
        the line ``s·z``, which lies below the activation everywhere.
    split, betas : optional
        Sign constraints (one (B, n_k) int array or None per hidden layer; ``+1``: ``z ≥ 0``, ``−1``:
        ``z ≤ 0``) that hold on the part of each box that ``pre`` encloses, and multipliers (one (R, n_k)
        float array per hidden layer, any floats: NaN and negative entries count as 0). The bound of
        ``−z_atom`` gets the term ``Σ β_i sign_i z_i ≥ 0`` (weak duality: valid for every ``β ≥ 0``), added
        to the coefficients of ``z`` inside the back-substitution (step 7 of :mod:`verinet.bounds.linear`).
    relaxed : optional
        :func:`box_relaxations` of the same ``network``, ``xl``, ``xu`` and ``pre`` (computed here if not
        given; pass it to share the per-box work between calls).

    Rigorous: back-substitution of :mod:`verinet.bounds.linear` (proof in its docstring) with, for the unstable
    neurons, the lower line ``s·z`` (valid for ``s ∈ [α, 1]``, module docstring) and ``k_L = s·b_lo``
    rounded down (``≤ t_L + s_L b_lo`` with ``t_L = 0``); every other line as there. ``−inf`` where
    nothing is proved.
    """
    prep = _prepare(network)
    box = np.asarray(box, dtype=np.int64)
    atoms = np.asarray(atoms, dtype=np.int64)
    R_ = len(box)
    naive = np.asarray(output.lo)[box, atoms]
    if relaxed is None:
        relaxed = box_relaxations(network, xl, xu, pre)
    if relaxed is None or R_ == 0:
        return naive
    inp, per_layer = relaxed
    relax = []
    for k, (L, (rx, Z)) in enumerate(zip(prep.layers, per_layer)):
        # one copy per row
        sL, kL = rx.sL[box], rx.kL[box]
        if L.act.impl.has_kinks and k < len(prep.layers) - 1:
            # the lower line s·z (s ∈ [α_hi, 1]) lies below σ everywhere, so it may replace the lower line of
            # any neuron: unstable ones, and the ones whose sign was fixed (bounds clamped)
            zl, zu = Z.lo[box], Z.hi[box]
            unst = (zl < 0) & (zu > 0)
            if fixed is not None and fixed[k] is not None:
                unst = unst | np.asarray(fixed[k], dtype=bool)[box]
            s, k_new = L.act.impl.lower_line_f64(np.asarray(slopes[k], dtype=np.float64), (L.alo, L.ahi), L.blo)
            sL = np.where(unst, s, sL)
            kL = np.where(unst, k_new, kL)
        rx = type(rx)(np.ascontiguousarray(rx.sU[box]), np.ascontiguousarray(sL), np.ascontiguousarray(rx.kU[box]),
                      np.ascontiguousarray(kL), np.ascontiguousarray(rx.w[box]), np.ascontiguousarray(rx.scal[box]))
        relax.append(rx)
    inp_r = type(inp)(np.ascontiguousarray(inp.xm[box]), np.ascontiguousarray(inp.ax[box]),
                      np.ascontiguousarray(inp.ma[box]))
    m = prep.layers[-1].n_out
    T = np.zeros((R_, m))
    T[np.arange(R_), atoms] = -1.0  # upper bound of −z_atom
    seg = np.arange(R_ + 1, dtype=np.int64)
    extra = None
    if split is not None and betas is not None:
        extra = [None if f is None or betas[k] is None else
                 np.asarray(f, dtype=np.float64)[box] * _nonnegative(np.asarray(betas[k], dtype=np.float64))
                 for k, f in enumerate(split)] + [None]
    acc = _backsub(prep, relax, inp_r, len(prep.layers) - 1, T, seg, np.zeros(R_), multipliers=extra)
    lower = np.where(np.isfinite(acc), -acc, -np.inf)  # negation is exact
    return np.maximum(lower, naive)


#: precision of the float optimiser in the search: float32 halves the cost of its matrix products (measured on
#: MNIST 256x2); the bounds it leads to are re-evaluated in float64 with directed rounding
OPTIMISER_DTYPE = np.float32

#: optimised slopes are used by default ("auto" bounds) from this many inputs on: on low-dimensional
#: inputs (ACAS Xu) input splitting tightens faster than the optimisation costs
ALPHA_MIN_INPUTS = 64


class SlopeTightener:
    """Tightens the lower ends of output enclosures with optimised slopes (for the verification search).

    After each call, ``candidates`` holds the minimising corners ``x*`` of the optimised linear bounds
    (float points for the attack; nothing is claimed about them).
    """

    def __init__(self, network: Network, iters: int = 20, conjunctions=None, dtype=None) -> None:
        self.network = network
        self.iters = iters
        #: precision of the float optimiser (it only proposes slopes and multipliers)
        self.dtype = np.dtype(OPTIMISER_DTYPE if dtype is None else dtype)
        self.candidates = np.zeros((0, network.n_inputs))
        self.scores: np.ndarray | None = None
        self.kinked = [k for k, L in enumerate(network.layers[:-1]) if L.activation in _KINKED]
        self._nets: dict[int, tuple[Network, Network]] = {}
        #: the unsafe set's DNF over the output atoms (tuples of atom indices), or None: with it, a box with
        #: a warm start has only its deciding atoms optimised (:meth:`_bottleneck`), one after the other
        self.conjunctions = None if conjunctions is None else tuple(tuple(c) for c in conjunctions)
        #: after :meth:`tighten`: the optimised slopes and multipliers per box and atom (one (B, m, n_k)
        #: float32 array per hidden layer each; a warm start for the box's children, nothing is claimed)
        self.params: list = []
        #: when a list, :meth:`tighten_hidden` appends ``(layer, neuron, side, slopes)`` for every end it
        #: re-bounds of box 0 (side +1: the lower end, −1: the upper end; ``slopes`` the admissible lower-line
        #: slopes of layers ``0..layer−1`` used by the sound bound): the evidence certificates record
        self.record: list | None = None

    @staticmethod
    def wanted(network: Network, method: str, conjunctions=None) -> "SlopeTightener | None":
        """A tightener when ``method`` is ``"alpha"``, or ``"auto"`` on a high-dimensional piecewise-linear
        network; else None. Raises ``QueryError`` for ``"alpha"`` on an unsupported network."""
        if method == "alpha":
            if not supports_slopes(network):
                from verinet.errors import QueryError
                raise QueryError("optimised slopes (alpha) need ReLU / leaky ReLU / identity layers")
            return SlopeTightener(network, conjunctions=conjunctions)
        if method == "auto" and network.n_inputs >= ALPHA_MIN_INPUTS and supports_slopes(network):
            return SlopeTightener(network, conjunctions=conjunctions)
        return None

    def _empty_params(self, B: int, m: int) -> list:
        hidden = self.network.layers[:-1]
        return [np.zeros((B, m, L.n_out), dtype=np.float32) for L in hidden] + \
            [np.zeros((B, m, L.n_out), dtype=np.float32) for L in hidden]

    def _truncated(self, k: int) -> tuple[Network, Network]:
        """Layers ``0..k`` with layer ``k`` made an identity layer, as is and negated (its pre-activations
        ``z_k`` and ``−z_k`` as outputs; negating an interval enclosure of the weights is exact)."""
        if k not in self._nets:
            Lk = self.network.layers[k]
            up = Layer(Lk.weight_lo, Lk.weight_hi, Lk.bias_lo, Lk.bias_hi, Activation.IDENTITY)
            down = Layer(-Lk.weight_hi, -Lk.weight_lo, -Lk.bias_hi, -Lk.bias_lo, Activation.IDENTITY)
            head = self.network.layers[:k]
            self._nets[k] = (Network(head + (up,), self.network.input_domain),
                             Network(head + (down,), self.network.input_domain))
        return self._nets[k]

    def tighten_hidden(self, xl: np.ndarray, xu: np.ndarray, pre, fix=None,
                       iters: int | None = None) -> list:
        """Pre-activation enclosures ``pre`` (one (B, n_k) IntervalArray per layer) with the unstable
        neurons of hidden layers ``k ≥ 1`` re-bounded by optimised slopes, layer by layer (the intermediate
        bounds of α-CROWN): every later layer uses the tightened ones. Only the hidden layers are returned
        changed (the output's lower ends are the job of :meth:`tighten`).

        ``fix`` (optional, one (B, n_k) int array of signs or None per layer): ``pre`` encloses the part of
        each box where these signs hold; the constraints of the earlier layers then get multipliers
        (β-CROWN), so the new ends hold on that part. ``iters``: Adam steps (default :attr:`iters`).

        Rigorous: each new end is a :func:`sound_lower_bounds` of ``z_k`` resp. ``−z_k`` over the box (or
        its part) through :meth:`_truncated`, intersected with the old enclosure. An end that crosses the
        other proves the part empty (the caller checks ``lo > hi``).
        """
        iters = self.iters if iters is None else iters
        pre = list(pre)
        layers = self.network.layers
        for k in range(1, len(layers) - 1):
            if layers[k].activation not in _KINKED:
                continue
            lo, hi = np.asarray(pre[k].lo), np.asarray(pre[k].hi)
            box, atoms = np.nonzero((lo < 0) & (hi > 0))
            if not len(box):
                continue
            lows = [np.asarray(p.lo) for p in pre[:k]]
            ups = [np.asarray(p.hi) for p in pre[:k]]
            new_lo, new_hi = lo.copy(), hi.copy()
            split = None if fix is None else list(fix[:k])
            fixed = None if split is None else [None if f is None else f != 0 for f in split]
            for sign, net in zip((1, -1), self._truncated(k)):
                enc = pre[k] if sign > 0 else IntervalArray.unchecked(-hi, -lo)
                slopes, betas, _, _ = optimise_multipliers(net, lows, ups, xl, xu, box, atoms, iters=iters,
                                                           fixed=fixed, split=split)
                b = sound_lower_bounds(net, xl, xu, list(pre[:k]) + [enc], enc, box, atoms, slopes,
                                       fixed=fixed, split=split, betas=betas)
                if self.record is not None and fix is None:
                    adm = [admissible_slopes(np.asarray(s_j, dtype=np.float64), _leak(layers[j]))
                           for j, s_j in enumerate(slopes[:k])]
                    self.record += [(k, int(i), sign, [a[r] for a in adm])
                                    for r, (bx, i) in enumerate(zip(box, atoms)) if bx == 0]
                if sign > 0:
                    new_lo[box, atoms] = np.maximum(new_lo[box, atoms], b)
                else:  # −b ≥ z_k: negation is exact
                    new_hi[box, atoms] = np.minimum(new_hi[box, atoms], -b)
            pre[k] = IntervalArray.unchecked(new_lo, new_hi)
        return pre

    def tighten(self, xl: np.ndarray, xu: np.ndarray, pre, output: IntervalArray,
                skip: np.ndarray, fix=None, warm=None) -> IntervalArray:
        """``output`` with rigorously raised lower ends where an atom's lower end is ``≤ 0``.

        ``pre`` (one (B, n_k) enclosure per layer) and ``output`` are sound over each box (or over the part
        of it selected by fixed signs ``fix``: one (B, n_k) int array or None per layer); rows of ``skip``
        (B,) are left alone. The split constraints of ``fix`` get multipliers (β-CROWN). ``warm``: the
        :attr:`params` of each box's parent (slopes then multipliers, (B, m, n_k) per hidden layer): the
        optimisation starts there and takes a quarter of the steps (measured on MNIST 256x2: 5 warm steps
        reach a proof in less time than 10 or 2, with a few more nodes than 10), and with
        :attr:`conjunctions` only the atoms that decide whether a box closes are optimised (measured: 93 %
        of the rows optimised otherwise stayed ``≤ 0``). After the call :attr:`scores` holds per box the split
        scores (:meth:`_branch_scores`) summed over its optimised atoms whose bound stayed ``≤ 0`` (measured on
        MNIST 256x2, prop_1 at ε = 0.028: 4,159 nodes to the proof, against 9,589 with the scores of the atom
        optimised last and 7,421 with those of the worst atom; 83,000 nodes reach margin −0.003 at ε = 0.03).

        Rigorous: the new lower ends come from :func:`sound_lower_bounds`.
        """
        lo = np.array(output.lo, dtype=np.float64)
        hi = np.asarray(output.hi)
        skip = np.asarray(skip, dtype=bool)
        B, m = lo.shape
        H = len(self.network.layers) - 1
        self.scores = None
        warm_ok = warm is not None and len(warm) == 2 * H
        self.params = [np.array(w, dtype=np.float32) for w in warm] if warm_ok else self._empty_params(B, m)
        lazy = warm_ok and self.conjunctions is not None
        done = np.zeros((B, m), dtype=bool)
        box, atoms = self._bottleneck(lo, skip, done) if lazy else np.nonzero((lo <= 0) & ~skip[:, None])
        if not len(box):
            self.candidates = np.zeros((0, self.network.n_inputs))
            return output
        lows = [np.asarray(p.lo) for p in pre]
        ups = [np.asarray(p.hi) for p in pre]
        fixed = None if fix is None else [None if f is None else f != 0 for f in fix]
        split = None if fix is None else list(fix[:-1])
        iters = max(self.iters // 4, 1) if warm_ok else self.iters
        scores = np.zeros((B, sum(self.network.layers[k].n_out for k in self.kinked)))
        candidates = []
        relaxed = None
        while len(box):
            init = init_b = None
            if warm_ok:
                init = [np.asarray(w[box, atoms], dtype=np.float64) for w in self.params[:H]]
                init_b = [np.asarray(w[box, atoms], dtype=np.float64) for w in self.params[H:]]
            slopes, betas, _, xstar = optimise_multipliers(self.network, lows, ups, xl, xu, box, atoms,
                                                           iters=iters, fixed=fixed, split=split, init=init,
                                                           init_betas=init_b, dtype=self.dtype)
            for k in range(H):
                self.params[k][box, atoms] = slopes[k]
                if betas is not None:
                    self.params[H + k][box, atoms] = betas[k]
            if relaxed is None:  # per box, shared by the rounds of this call
                relaxed = box_relaxations(self.network, xl, xu, pre)
            new = sound_lower_bounds(self.network, xl, xu, pre, IntervalArray.unchecked(lo, hi), box, atoms, slopes,
                                     fixed=fixed, split=split, betas=betas, relaxed=relaxed)
            # the split scores of a box add up over its optimised atoms that stay unrefuted: a neuron that
            # loosens several of the bounds that keep the box open is worth more (one row per box and round);
            # they are computed for those boxes only (the others' would be discarded)
            low = np.full(B, np.inf)
            np.minimum.at(low, box, np.maximum(lo[box, atoms], new))
            still = low <= 0
            rows = still[box]
            if rows.any():
                sc = self._branch_scores(lows, ups, xl, xu, box[rows], atoms[rows], [a[rows] for a in slopes],
                                         fixed, new[rows], B, split,
                                         None if betas is None else [b[rows] for b in betas])
                scores[still] += sc[still]
            candidates.append(xstar)
            lo[box, atoms] = np.maximum(lo[box, atoms], new)
            done[box, atoms] = True
            if not lazy:
                break
            box, atoms = self._bottleneck(lo, skip, done)
        self.scores = scores
        self.candidates = np.concatenate(candidates)
        return IntervalArray.unchecked(lo, hi)

    def _bottleneck(self, lo: np.ndarray, skip: np.ndarray, done: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``(box, atom)`` to optimise next, lazily: per box the atom that decides whether it closes —
        in the conjunction with the lowest margin (max of its atoms' lower ends), the atom with the highest
        lower end — unless the box is closed, skipped, or that atom was optimised in this call already."""
        B = lo.shape[0]
        best = np.full(B, np.inf)
        atom = np.zeros(B, dtype=np.int64)
        for conj in self.conjunctions:
            if not conj:  # everything is unsafe: nothing to refute
                continue
            sub = lo[:, list(conj)]
            j = np.argmax(sub, axis=1)
            v = sub[np.arange(B), j]
            better = v < best
            best = np.where(better, v, best)
            atom = np.where(better, np.asarray(conj)[j], atom)
        rows = np.flatnonzero(~skip & (best <= 0) & ~done[np.arange(B), atom])
        return rows, atom[rows]

    def _branch_scores(self, lows, ups, xl, xu, box, atoms, slopes, fixed, bound, B: int, split=None,
                       betas=None) -> np.ndarray:
        """(B, H) split scores over the kinked neurons (flat, layer order), for each box's worst atom.

        BaBSR (Bunel et al., JMLR 2020): the intercept ``|Λ_j| s_j |l_j|`` that the upper chord of neuron
        ``j`` adds to the bound (with the box's slopes and multipliers) — what a split of that neuron
        removes. (Measured on MNIST 256x2: re-scoring the 8 best candidates by the float bound of their worse
        child, as filtered smart branching does, needed as many nodes.) Heuristic only.
        """
        worst = np.full(B, np.inf)
        np.minimum.at(worst, box, bound)
        pick = np.flatnonzero(bound == worst[box])
        _, first = np.unique(box[pick], return_index=True)
        rows = pick[first]  # one row per box: its worst atom
        layers = self.network.layers
        if betas is None:
            split = None
        sub_b = None if betas is None else [b[rows] for b in betas]
        plan = _CrownPlan(layers, lows, ups, box[rows], atoms[rows], xl, xu, fixed=fixed, split=split,
                          dtype=self.dtype)
        _, _, saved = plan.run([np.asarray(s[rows], dtype=self.dtype) for s in slopes], False,
                               None if split is None else [np.asarray(b, dtype=self.dtype) for b in sub_b])
        widths = [layers[k].n_out for k in self.kinked]
        out = np.zeros((B, sum(widths)))
        off = 0
        for k, n in zip(self.kinked, widths):
            A, _, T, _ = saved[k]
            out[box[rows], off:off + n] = np.nan_to_num(np.maximum(-(A * T), 0.0))
            off += n
        return out
