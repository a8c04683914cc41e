"""Sound linear (symbolic) bound propagation: CROWN/DeepPoly back-substitution, rigorous in float64.

Mathematics: Zhang, Weng, Chen, Hsieh & Daniel, "Efficient neural network robustness certification with
general activation functions" (CROWN, NeurIPS 2018), Thm 3.2; Singh, Gehr, Püschel & Vechev, "An abstract
domain for certifying neural networks" (DeepPoly, POPL 2019), Section 4. To bound a linear function
``Γ a_j`` of the activations of layer ``j`` from above, every activation is replaced by a line that lies
above it (where the coefficient is ≥ 0) or below it (where it is < 0) on its pre-activation interval;
``z_j = W_j a_{j−1} + b_j`` is substituted, and so on down to the input box, where the remaining linear
function ``G x`` is maximised exactly: ``Σ_l max(G_l lo_l, G_l hi_l)``. Lower bounds are upper bounds of
``−Γ a_j``. Pre-activation bounds of layer ``k`` use the bounds of layers ``< k``; each is intersected with
interval bound propagation (both are enclosures, so their intersection is one).

Rounding (the proof). The back-substituted coefficients are **point float
matrices**, and every rounding error is folded into the scalar offset with an a-priori bound, so the
statement carried from step to step is, for one box and one row, with ``Γ`` the *exact values of the
floats* we hold:

    S_j:  for every real input x in the box,  f(x) ≤ Γ · a_j(x) + c,  c a float (upper bound).

Step ``S_j ⇒ S_{j−1}`` (layer ``j``: ``z = W a + b`` with ``a = a_{j−1}``, ``W ∈ [Wm − Wr, Wm + Wr]``,
``b ∈ [b_lo, b_hi]``; ``ma ≥ |a|`` from the bounds of layer ``j−1`` or the input box):

1. Relaxation (exact): on ``z_i ∈ [l_i, u_i]``, ``s_L z + t_L ≤ σ(z) ≤ s_U z + t_U`` with float slopes
   ``s ≥ 0`` and intercepts proved by the activation (:meth:`verinet.activations.ActivationFn.relax_f64`).
   With ``s_i, t_i`` the upper line where ``Γ_i ≥ 0`` and the lower line where ``Γ_i < 0``:
   ``Γ a_j ≤ Σ_i Γ_i (s_i z_i + t_i)``.
2. Substitute ``z_i = W_i a + b_i``. As ``s_i ≥ 0``, ``Γ_i s_i b_i ≤ Γ_i s_i β_i`` with ``β = b_hi`` if
   ``Γ_i ≥ 0`` else ``b_lo``; so ``Γ_i (t_i + s_i b_i) ≤ Γ_i k_i`` for ``k_i ≥ t_U + s_U b_hi`` (rounded up)
   where ``Γ_i ≥ 0`` and ``k_i ≤ t_L + s_L b_lo`` (rounded down) where ``Γ_i < 0``. Hence
   ``Γ a_j ≤ Σ_i Λ_i W_i a + Σ_i Γ_i k_i`` with ``Λ_i = Γ_i s_i`` (exact real).
3. We keep ``Λ̂ = fl(Γ ⊙ s)``: ``|Λ_i − Λ̂_i| ≤ u|Λ̂_i| + η/2`` (Higham eq. 2.5, plus the underflow
   error; 0 when ``s_i = 1``) and ``|W_i a| ≤ h_i := ((|Wm| + Wr) ma)_i``.
4. ``Λ̂ W a ≤ Λ̂ Wm a + Σ_i |Λ̂_i| (Wr ma)_i``, and ``Γ' = fl(Λ̂ Wm)`` (one BLAS GEMM, inner dimension
   ``n_j``) has ``|Γ' − Λ̂ Wm| ≤ γ_{n_j} |Λ̂||Wm| + n_j η`` entrywise (Higham Thm 3.5 with an underflow error
   ``≤ η/2`` per product; any summation order, FMA or not; no Strassen-type GEMM, the assumption of
   :mod:`intervals.linalg`), so ``Λ̂ Wm a ≤ Γ' a + γ_{n_j} Σ_i |Λ̂_i| (|Wm| ma)_i + n_j η Σ ma``.
5. Together ``S_{j−1}`` holds with ``Γ'`` and ``c' ≥ c + Σ_i Γ_i k_i + Σ_i |Λ̂_i| w_i + σ``, where
   ``w_i ≥ γ_{n_j}(|Wm| ma)_i + (Wr ma)_i (+ u h_i unless s_i = 1)`` and
   ``σ = η n_j (n_{j−1} + 1) max(h, ma) ≥ η/2 Σ h + n_j η Σ ma``. ``Σ Γ_i k_i`` is a dot product of ``n_j``
   float products computed in round-to-nearest: its exact value is ``≤ ĉ + γ_n S + nη`` with
   ``S = Σ|Γ_i k_i| ≤ (ŝ + nη)/(1 − γ_n)`` (``ŝ`` the computed sum of the absolute values: non-negative
   terms, ``|ŝ − S| ≤ γ_n S + nη``). The same bound makes the computed ``Σ|Λ̂_i| w_i`` an upper bound.
6. At the input (``a_{−1} = x``, box ``⟨xm, xr⟩``): ``G x ≤ ĉ + |G|(xr + γ_n|xm|) + nη``, ``ĉ = fl(G xm)``
   (the argument of :mod:`intervals.linalg`).

7. Split multipliers (β-CROWN; Wang, Zhang, Xu, Lin, Jana, Hsieh & Kolter, "Beta-CROWN", NeurIPS 2021).
   On the part of a box where neuron signs are fixed (``z_i ≥ 0`` or ``z_i ≤ 0``), any ``D_i`` with
   ``D_i z_i ≥ 0`` there gives ``f ≤ f + Σ_i D_i z_i`` (weak duality: ``D_i = β_i·sign_i``, ``β_i ≥ 0``), so the
   coefficients of ``z`` may move from ``Λ̂`` to ``M̂ = fl(Λ̂ + E)`` with ``E_i = β_i·sign_i``
   (:func:`_split_terms`). Rounding is monotone and fixes floats, so ``D = M̂ − Λ̂`` (exact real) has the
   sign of ``E`` or is 0: the multiplier actually used is admissible. ``Σ D_i b_i`` is bounded above with
   the enclosure ``[sub_down, sub_up]`` of ``D`` and the bias interval, and since ``|M̂| ≤ |Λ̂| + |D|`` the
   error terms of steps 3–5 for ``M̂`` are those of ``Λ̂`` plus ``Σ |D_i| w_i``; ``|Λ − Λ̂|`` is unchanged.

Every float operation that must round up is followed by ``up`` (:mod:`intervals._kernels`: a float
``≥`` the successor of the round-to-nearest result, hence ``≥`` the exact value), or uses
:mod:`intervals.rounding`'s directed operations in numpy code. Overflow and NaN: a coefficient vector
that becomes non-finite, or a non-finite partial sum, turns that row's bound into ``+inf`` (the a-priori
bounds assume no overflow; an IEEE overflow never becomes finite again in a sum, and coefficients are
checked explicitly); ``0·inf`` is never formed. No NaN escapes; ``±inf`` is the answer where nothing
better is proved.

Why point coefficients rather than interval ones: the sign of every coefficient is known exactly, so the
upper/lower relaxation choice is never ambiguous and no interval widening accumulates over depth; the
price is a few matrix-vector products per layer (``|Wm| ma``), negligible next to the GEMMs.

Only float64. Activations: any class of :mod:`verinet.activations` (ReLU, leaky ReLU (``0 ≤ α ≤ 1``),
identity, sigmoid and tanh): each one gives its lines and offsets through ``relax_f64``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np
from numba import njit

from intervals import _kernels
from intervals import rounding as R
from intervals._kernels import down, up
from intervals.array import IntervalArray
from intervals.linalg import PointMatrix
from verinet.bounds.backends import make_backend
from verinet.bounds.backends.float64 import Float64Backend
from verinet.network import Network
from verinet.bounds.propagation import LayerBounds, SplitBounds, clamp_signs, propagate

__all__ = ["Refine", "linear_objective_bounds", "linear_propagate", "linear_propagate_fixed"]

Refine = Literal["unstable", "all"]

_ETA = R.ETA
_U = R.U


# --------------------------------------------------------------------------------------------------
# compiled kernels (plain round-to-nearest sums; the rounding argument is in the module docstring)
# --------------------------------------------------------------------------------------------------


@njit(cache=True, fastmath=False)
def _relax_step(T, seg, sU, sL, kU, kL, w, scal, gam, inv, neta, Lt, acc):  # pragma: no cover
    """One back-substitution step through the activation and the bias of a layer ``j`` (steps 1–5).

    Rows of ``T`` (shape (P, n_j)) are the coefficient vectors ``Γ`` of (box, row) pairs sorted by box:
    box ``b`` owns rows ``seg[b]:seg[b+1]``. Writes ``Lt = fl(Γ ⊙ s)`` and adds to ``acc[p]`` an upper
    bound of ``Σ Γ_i k_i + Σ |Λ̂_i| w_i + σ``. A row whose ``acc`` is ``+inf`` is dead: its coefficients
    are zeroed so that the next GEMM sees finite numbers. ``gam, inv, neta``: ``γ_n, 1/(1 − γ_n), nη``
    rounded up. The selects below compile to branch-free code (a sign pattern is data, not control).
    Returns True when some live output coefficient is nonzero.
    """
    n = T.shape[1]
    nonzero = False
    for b in range(seg.shape[0] - 1):
        su = sU[b]
        sl_ = sL[b]
        ku = kU[b]
        kl = kL[b]
        wb = w[b]
        for p in range(seg[b], seg[b + 1]):
            Tp = T[p]
            Lp = Lt[p]
            c = 0.0  # Σ Γ_i k_i (round-to-nearest)
            s = 0.0  # Σ |Γ_i k_i|
            e = 0.0  # Σ |Λ̂_i| w_i
            chk = 0.0  # Σ Γ_i·0: 0 for finite coefficients, NaN as soon as one is inf/NaN
            na = 0.0  # Σ |Λ̂_i|: zero iff the output row is zero
            for i in range(n):
                g = Tp[i]
                pos = g >= 0.0  # Γ_i ≥ 0: the upper line bounds Γ_i a_i from above; else the lower one
                sl = su[i] if pos else sl_[i]
                k = ku[i] if pos else kl[i]
                lam = g * sl
                Lp[i] = lam
                al = abs(lam)
                t = g * k
                if g == 0.0:  # exact 0 (k may be infinite: never 0·inf)
                    t = 0.0
                ew = al * wb[i]
                if al == 0.0:
                    ew = 0.0
                c += t
                s += abs(t)
                e += ew
                chk += g * 0.0
                na += al
            if acc[p] != np.inf and chk == 0.0 and np.isfinite(c) and np.isfinite(s) and np.isfinite(e):
                rho = up(up(gam * up(up(s + neta) * inv)) + neta)  # ≥ γ_n S + nη
                ebound = up(up(e + neta) * inv)  # ≥ exact Σ |Λ̂_i| w_i (non-negative terms)
                acc[p] = up(acc[p] + up(up(c + rho) + up(ebound + scal[b])))
                if na != 0.0:
                    nonzero = True
            else:
                acc[p] = np.inf
                for i in range(n):
                    Lp[i] = 0.0
    return nonzero


@njit(cache=True, fastmath=False)
def _concretize(T, seg, xm, ax, inv, neta, acc):  # pragma: no cover - compiled
    """Add to ``acc[p]`` an upper bound of ``G x`` over the input box ``⟨xm, xr⟩``, ``ax ≥ xr + γ_n|xm|``.

    ``G`` is row ``p`` of ``T`` (step 6): ``G x ≤ ĉ + |G| ax + nη``, ``|G| ax ≤ (ŝ + nη)/(1 − γ_n)``.
    """
    n = T.shape[1]
    for b in range(seg.shape[0] - 1):
        m = xm[b]
        a = ax[b]
        for p in range(seg[b], seg[b + 1]):
            Tp = T[p]
            c = 0.0
            s = 0.0
            chk = 0.0
            for l in range(n):
                g = Tp[l]
                c += g * m[l]
                s += abs(g) * a[l]
                chk += g * 0.0
            if acc[p] != np.inf and chk == 0.0 and np.isfinite(c) and np.isfinite(s):
                rho = up(up(up(s + neta) * inv) + neta)
                acc[p] = up(acc[p] + up(c + rho))
            else:
                acc[p] = np.inf


# --------------------------------------------------------------------------------------------------
# per-network preparation
# --------------------------------------------------------------------------------------------------


def _consts(n: int) -> tuple[float, float, float]:
    """``(γ_n, 1/(1 − γ_n), n·η)``, each rounded up (exact rationals, then one directed rounding)."""
    n = max(n, 1)
    nu = Fraction(n, 2**53)
    g = nu / (1 - nu)
    return R.float_up(g), R.float_up(1 / (1 - g)), R.float_up(n * Fraction(_ETA))


class _LayerPrep:
    """Float data of one layer: ``W ∈ [Wm − Wr, Wm + Wr]`` (``Wr`` None for float weights), biases, slopes."""

    def __init__(self, layer) -> None:
        lo, hi = layer.weight_lo, layer.weight_hi
        self.act = layer.activation
        self.n_out, self.n_in = lo.shape
        if np.array_equal(lo, hi):
            self.Wm = np.ascontiguousarray(lo, dtype=np.float64)
            self.WrT = None
        else:
            # any float midpoint; radius rounded up so that |W − Wm| ≤ Wr for every W in [lo, hi]
            self.Wm = np.ascontiguousarray(0.5 * lo + 0.5 * hi)
            self.WrT = np.ascontiguousarray(R.next_up(np.maximum(hi - self.Wm, self.Wm - lo)).T)
        self.absWmT = np.ascontiguousarray(np.abs(self.Wm).T)  # (n_in, n_out)
        self.blo = np.ascontiguousarray(layer.bias_lo, dtype=np.float64)
        self.bhi = np.ascontiguousarray(layer.bias_hi, dtype=np.float64)
        # α enclosed by floats; both in [0, 1] because α ∈ [0, 1] and 0, 1 are floats
        self.alo, self.ahi = (R.float_down(layer.alpha), R.float_up(layer.alpha)) \
            if layer.activation.impl.has_alpha else (0.0, 0.0)
        # GEMM Λ̂ Wm and the relaxation-step sums have n_out terms
        self.gam_out, self.inv_out, self.neta_out = _consts(self.n_out)
        _, self.inv_in, self.neta_in = _consts(self.n_in)  # |Wm| ma, Wr ma (inner dimension n_in)
        self.scal_k = R.float_up(Fraction(self.n_out * (self.n_in + 1)) * Fraction(_ETA))


class _Prepared:
    def __init__(self, network: Network, backend: Float64Backend) -> None:
        self.network = network
        self.backend = backend
        self.layers = [_LayerPrep(L) for L in network.layers]
        self.gam0, self.inv0, self.neta0 = _consts(network.n_inputs)


_CACHE: weakref.WeakKeyDictionary[Network, _Prepared] = weakref.WeakKeyDictionary()


def _prepare(backend_or_network) -> _Prepared:
    if isinstance(backend_or_network, Network):
        net, backend = backend_or_network, None
    else:
        backend = backend_or_network
        net = getattr(backend, "network", None)
        if not isinstance(net, Network):
            raise TypeError(f"expected a Network or a backend, got {type(backend_or_network).__name__}")
    if backend is not None and not isinstance(backend, Float64Backend):
        raise TypeError("linear bounds need the float64 backend (use make_backend(network) without precision)")
    prep = _CACHE.get(net)
    if prep is None:
        prep = _Prepared(net, backend if backend is not None else make_backend(net))
        _CACHE[net] = prep
    return prep


# --------------------------------------------------------------------------------------------------
# per-box data
# --------------------------------------------------------------------------------------------------


@dataclass
class _Input:
    xm: np.ndarray  # (B, n) midpoints
    ax: np.ndarray  # (B, n) ≥ xr + γ_n |xm|
    ma: np.ndarray  # (B, n) ≥ |x|


@dataclass
class _Relax:
    """Per-box data of one layer ``j`` for :func:`_relax_step`, each (B, n_j) unless noted."""

    sU: np.ndarray  # upper-line slopes (≥ 0)
    sL: np.ndarray  # lower-line slopes (≥ 0)
    kU: np.ndarray  # ≥ t_U + s_U b_hi
    kL: np.ndarray  # ≤ t_L + s_L b_lo
    w: np.ndarray  # ≥ γ_{n_j}(|Wm| ma)_i + (Wr ma)_i + u h_i
    scal: np.ndarray  # (B,) ≥ η/2 Σ h + n_j η Σ ma


def _input_data(prep: _Prepared, xl: np.ndarray, xu: np.ndarray) -> _Input | None:
    """Midpoint/radius data of the input boxes, or None when an endpoint is infinite."""
    xm = np.empty(xl.shape)
    ax = np.empty(xl.shape)
    if not _kernels.mid_rad_a(xl.reshape(-1), xu.reshape(-1), prep.gam0, xm.reshape(-1), ax.reshape(-1)):
        return None
    return _Input(xm, ax, np.maximum(np.abs(xl), np.abs(xu)))


def _nonneg_matvec_up(v: np.ndarray, MT: np.ndarray, inv: float, neta: float) -> np.ndarray:
    """Upper bound of ``v @ MT`` for ``v ≥ 0`` (``+inf`` allowed, ``0·inf = 0``) and finite ``MT ≥ 0``.

    Non-negative terms: ``|ŝ − S| ≤ γ_n S + nη`` gives ``S ≤ (ŝ + nη)/(1 − γ_n)``; each step rounded up.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(v).all():
            s = v @ MT
        else:  # rare path (overflowed bounds): exact zero weights contribute exactly 0
            prod = v[:, :, None] * MT[None, :, :]  # (B, n_in, n_out)
            s = np.where(MT[None, :, :] == 0.0, 0.0, prod).sum(axis=1)
        return R.next_up(R.next_up(s + neta) * inv)


@njit(cache=True, fastmath=False)
def _weights(gma, wrma, gam, scal_k, mamax, w, scal):  # pragma: no cover - compiled
    """Error weights of :func:`_relaxation` (steps 3–5 of the module docstring), elementwise over (B, n):
    ``w ≥ γ_{n_j}(|Wm| ma)_i + (Wr ma)_i + u h_i`` and ``scal ≥ η/2 Σ h + n_j η Σ ma`` (as ``scal_k·max(h, ma)``).
    ``up`` bounds the exact value of the round-to-nearest operation it wraps; zero terms are not stepped.
    """
    B, n = gma.shape
    for b in range(B):
        hmax = 0.0
        for i in range(n):
            g = gma[b, i]
            wr = wrma[b, i] if wrma.shape[0] > 0 else 0.0
            h = g if wr == 0.0 else up(g + wr)  # ≥ (|Wm| + Wr) ma
            w1 = up(gam * g) if g != 0.0 else 0.0
            w1 = w1 if wr == 0.0 else up(w1 + wr)
            w[b, i] = w1 if h == 0.0 else up(w1 + up(_U * h))
            hmax = max(hmax, h)
        scal[b] = up(scal_k * max(hmax, mamax[b]))


_NO_ARRAY = np.empty((0, 0))


def _relaxation(L: _LayerPrep, Z: IntervalArray, A: IntervalArray, ma_prev: np.ndarray) -> _Relax:
    """Lines ``s_L z + t_L ≤ σ(z) ≤ s_U z + t_U`` on every pre-activation interval ``[l, u]`` of ``Z``.

    The lines and the offsets ``k`` of step 2 (module docstring) are the activation's
    (:meth:`verinet.activations.ActivationFn.relax_f64`, proofs there; ``A`` encloses ``σ(Z)``); the error
    weights ``w``, ``σ`` of steps 3–5 are the layer's, from ``ma_prev ≥ |a_{j−1}|`` (:func:`_weights`).
    """
    gma = np.ascontiguousarray(_nonneg_matvec_up(ma_prev, L.absWmT, L.inv_in, L.neta_in))  # ≥ |Wm| ma
    wrma = _NO_ARRAY if L.WrT is None else np.ascontiguousarray(_nonneg_matvec_up(ma_prev, L.WrT, L.inv_in,
                                                                                  L.neta_in))  # ≥ Wr ma
    zl = np.ascontiguousarray(Z.lo, dtype=np.float64)
    zu = np.ascontiguousarray(Z.hi, dtype=np.float64)
    Alo = np.ascontiguousarray(A.lo, dtype=np.float64)
    Ahi = np.ascontiguousarray(A.hi, dtype=np.float64)
    w = np.empty(zl.shape)
    scal = np.empty(zl.shape[0])
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        sU, sL, kU, kL = L.act.impl.relax_f64(zl, zu, Alo, Ahi, (L.alo, L.ahi), L.blo, L.bhi)
        _weights(gma, wrma, L.gam_out, L.scal_k, np.ascontiguousarray(ma_prev.max(axis=-1)), w, scal)
    return _Relax(sU, sL, kU, kL, w, scal)


def _backsub(prep: _Prepared, relax: list, inp: _Input, j0: int, T: np.ndarray, seg: np.ndarray,
             acc: np.ndarray, concretize: bool = True, multipliers: list | None = None):
    """Upper bounds of ``Γ a_{j0} + acc`` per row, updated in place in ``acc`` (P,).

    ``T`` (P, n_{j0}) holds one ``Γ`` per row; ``seg`` (B+1,) the row range of each box. With
    ``concretize=False`` returns ``(G, acc)`` instead: the statement ``S_{−1}`` of the module docstring,
    ``Γ a_{j0}(x) + acc_in ≤ G x + acc`` for every real ``x`` of the box (``G`` the exact values of the
    floats returned; a row with ``acc = +inf`` says nothing). ``multipliers[j]`` (None or (P, n_j) floats
    ``E``): split terms added to the coefficients of ``z_j`` (step 7); the bounds then hold on the part of
    each box where ``E_i z_i ≥ 0`` for every ``i`` (the caller's sign constraints).
    """
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for j in range(j0, -1, -1):
            L = prep.layers[j]
            rx = relax[j]
            Lt = np.empty(T.shape)
            nonzero = _relax_step(T, seg, rx.sU, rx.sL, rx.kU, rx.kL, rx.w, rx.scal,
                                  L.gam_out, L.inv_out, L.neta_out, Lt, acc)
            if multipliers is not None and multipliers[j] is not None:
                w_rows = np.repeat(rx.w, np.diff(seg), axis=0)
                nonzero = _split_terms(Lt, multipliers[j], w_rows, L, acc) or nonzero
            if not nonzero:  # every live coefficient is exactly 0: nothing more to add
                return acc if concretize else (np.zeros((T.shape[0], prep.network.n_inputs)), acc)
            T = Lt @ L.Wm  # (P, n_j) @ (n_j, n_{j−1}): one GEMM for all boxes and rows
        if not concretize:
            return T, acc
        _concretize(T, seg, inp.xm, inp.ax, prep.inv0, prep.neta0, acc)
    return acc


def _split_terms(Lt: np.ndarray, E: np.ndarray, w_rows: np.ndarray, L: _LayerPrep, acc: np.ndarray) -> bool:
    """Step 7 of the module docstring, in place: ``Lt ← fl(Lt + E)`` and ``acc`` raised by an upper bound
    of ``Σ D_i b_i + Σ |D_i| w_i`` with ``D = fl(Lt + E) − Lt`` (exact). Non-finite ``E`` entries count as 0;
    a row whose terms are not finite becomes dead (``acc = +inf``, coefficients 0). Returns whether some live
    coefficient is nonzero.

    Rounding (two lines each): ``D ∈ [down(d), up(d)]`` with ``d = fl(M̂ − Λ̂)`` (``d = 0`` only when ``D = 0``:
    gradual underflow) and ``D_i b_i`` is bilinear, so its maximum over that box and ``[b_lo, b_hi]`` is at a
    corner, each corner product rounded up. A sum of
    ``n_j`` floats ``t`` (no products, so no underflow) has ``|Σt − fl(Σt)| ≤ γ_n Σ|t|`` and
    ``Σ|t| ≤ fl(Σ|t|)/(1 − γ_n)`` (Higham Thm 3.5, any order): the kernel's ``γ_n S + nη`` over-covers it.
    The upward rounding of the corner products is a second margin, not needed: a nearest-rounded product
    obeys ``p ≤ t + u|t| + η/2``, which that term covers too. The step that must round up is the last one,
    ``acc ← up(acc + add)`` (``tests/verinet/test_beta.py`` fails when it rounds to nearest).
    """
    E = np.ascontiguousarray(E, dtype=np.float64)
    w_rows = np.ascontiguousarray(w_rows, dtype=np.float64)
    return _split_kernel(Lt, E, w_rows, np.ascontiguousarray(L.blo, dtype=np.float64),
                         np.ascontiguousarray(L.bhi, dtype=np.float64), L.gam_out, L.inv_out, L.neta_out, acc)


@njit(cache=True, fastmath=False)
def _split_kernel(Lt, E, w, blo, bhi, gam, inv, neta, acc):  # pragma: no cover - compiled
    """The loop of :func:`_split_terms` (proof there), in place. ``up``/``down`` bound the exact value of the
    round-to-nearest result they wrap (:mod:`intervals._kernels`); an entry with ``E_i = 0`` (or non-finite,
    counted as 0) leaves ``M̂_i = Λ̂_i`` exactly, so ``D_i = 0`` and it adds nothing."""
    P, n = Lt.shape
    nonzero = False
    for p in range(P):
        c = 0.0  # Σ t_i, t_i ≥ max over the corners of D_i b_i
        s = 0.0  # Σ |t_i|
        es = 0.0  # Σ e_i, e_i ≥ |D_i| w_i
        finite = True
        for i in range(n):
            e = E[p, i]
            if e == 0.0 or not np.isfinite(e):
                continue
            lt = Lt[p, i]
            m = lt + e  # round to nearest: monotone, so m − lt has the sign of e (or is 0)
            if not np.isfinite(m):
                finite = False
                continue
            d = m - lt
            if d == 0.0:  # RN of the exact difference is 0 only when it is exactly 0 (no underflow in a sum)
                continue
            dlo = down(d)  # ≤ D_i = m − lt (exact real) ≤ dhi
            dhi = up(d)
            t = -np.inf
            for dd in (dlo, dhi):
                for bb in (blo[i], bhi[i]):
                    q = 0.0 if (dd == 0.0 or bb == 0.0) else up(dd * bb)
                    t = max(t, q)
            dmax = max(abs(dlo), abs(dhi))
            wi = w[p, i]
            ew = 0.0 if (dmax == 0.0 or wi == 0.0) else up(dmax * wi)
            c += t
            s += abs(t)
            es += ew
        ok = finite and np.isfinite(c) and np.isfinite(s) and np.isfinite(es) and np.isfinite(acc[p])
        if ok:
            rho = up(up(gam * up(up(s + neta) * inv)) + neta)  # ≥ γ_n S + nη
            ebound = up(up(es + neta) * inv)  # ≥ exact Σ |D_i| w_i (non-negative terms)
            add = up(up(c + rho) + ebound)
            ok = np.isfinite(add)
            if ok:
                acc[p] = up(acc[p] + add)
                ok = np.isfinite(acc[p])
        if not ok:
            acc[p] = np.inf
            for i in range(n):
                Lt[p, i] = 0.0
            continue
        for i in range(n):
            e = E[p, i]
            if e != 0.0 and np.isfinite(e):
                Lt[p, i] = Lt[p, i] + e
            if Lt[p, i] != 0.0:
                nonzero = True
    return nonzero


# directed scalar operations for compiled kernels, each the twin of one in intervals.rounding (round to
# nearest, then one ulp outward unless the result is proved exact: TwoSum for sums, a zero or infinite
# operand for products and quotients)


@njit(cache=True, fastmath=False, inline="always")
def _s_add_up(a, b):  # pragma: no cover - compiled
    s = a + b
    if np.isinf(a) or np.isinf(b):
        return s
    bb = s - a
    e = (a - (s - bb)) + (b - bb)  # TwoSum: a + b = s + e exactly when s is finite
    return s if (np.isfinite(s) and np.isfinite(e) and e <= 0) else np.nextafter(s, np.inf)


@njit(cache=True, fastmath=False, inline="always")
def _s_add_down(a, b):  # pragma: no cover - compiled
    return -_s_add_up(-a, -b)  # negation is exact


@njit(cache=True, fastmath=False, inline="always")
def _s_mul_up(a, b):  # pragma: no cover - compiled
    p = a * b
    if a == 0 or b == 0 or np.isinf(a) or np.isinf(b):
        return 0.0 if p == 0 else p
    return np.nextafter(p, np.inf)


@njit(cache=True, fastmath=False, inline="always")
def _s_mul_down(a, b):  # pragma: no cover - compiled
    p = a * b
    if a == 0 or b == 0 or np.isinf(a) or np.isinf(b):
        return 0.0 if p == 0 else p
    return np.nextafter(p, -np.inf)


@njit(cache=True, fastmath=False, inline="always")
def _s_div(a, b, upward):  # pragma: no cover - compiled
    q = a / b
    if a == 0 or np.isinf(a) or np.isinf(b):
        return 0.0 if q == 0 else q
    return np.nextafter(q, np.inf if upward else -np.inf)


@njit(cache=True, fastmath=False)
def _tighten_box_kernel(A, d, bb, xl, xu, gam, inv):  # pragma: no cover - compiled
    """:func:`_tighten_box` (its docstring has the rounding argument); every row reads the boxes as they
    were on entry. Returns how many bounds moved."""
    Q, n = A.shape
    lo0 = xl.copy()
    hi0 = xu.copy()
    m_up = np.empty(n)
    for q in range(Q):
        b = bb[q]
        ok = np.isfinite(d[q])
        S_dn = 0.0
        E = 0.0
        for j in range(n):
            a = A[q, j]
            ok = ok and np.isfinite(a)
            m_dn = min(_s_mul_down(a, lo0[b, j]), _s_mul_down(a, hi0[b, j]))
            m_up[j] = min(_s_mul_up(a, lo0[b, j]), _s_mul_up(a, hi0[b, j]))
            ok = ok and np.isfinite(m_up[j])
            S_dn += m_dn
            E += abs(m_dn)
        err = _s_mul_up(gam, _s_mul_up(E, inv))
        S = _s_add_down(S_dn, -err)  # ≤ Σ_l m_l
        if not (ok and np.isfinite(S)):
            continue
        for j in range(n):
            a = A[q, j]
            if a == 0:
                continue
            rest = _s_add_down(S, -m_up[j])  # ≤ Σ_{l≠j} m_l
            r = _s_add_up(d[q], -rest)  # ≥ A_j x_j
            if not np.isfinite(r):
                continue
            if a > 0:
                xu[b, j] = min(xu[b, j], _s_div(r, a, True))
            else:
                xl[b, j] = max(xl[b, j], _s_div(r, a, False))
    moved = 0
    for b in range(xl.shape[0]):
        for j in range(n):
            moved += (xl[b, j] != lo0[b, j]) + (xu[b, j] != hi0[b, j])
    return moved


def _tighten_box(A: np.ndarray, d: np.ndarray, bb: np.ndarray, xl: np.ndarray, xu: np.ndarray) -> int:
    """Shrink the boxes ``[xl, xu]`` (B, n), in place, to the bounding boxes of their intersections with
    the halfspaces ``A[q]·x ≤ d[q]`` (of box ``bb[q]``); returns how many bounds moved.

    For coordinate ``j``: ``A_j x_j ≤ d − Σ_{l≠j} A_l x_l ≤ d − Σ_{l≠j} m_l`` with ``m_l = min(A_l lo_l,
    A_l hi_l)`` the least value over the box. Rounding (two lines): ``S = Σ_l m_l`` is bounded below by
    ``fl(Σ m̌_l) − γ_n Σ|m̌_l|`` (Higham Thm 3.5 on the rounded-down products ``m̌_l``; sums of floats have no
    underflow error), and ``Σ_{l≠j} m_l ≥ S − m̂_j`` with ``m̂_j ≥ m_j`` rounded up; each step is
    directed, and the division by ``A_j`` rounds up (``A_j > 0``: an upper end) or down (``A_j < 0``).
    Rows with a non-finite entry are skipped (no information). An emptied box has ``xl > xu`` somewhere.
    """
    gam, inv, _ = _consts(xl.shape[1])
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        return int(_tighten_box_kernel(np.ascontiguousarray(A, dtype=np.float64),
                                       np.ascontiguousarray(d, dtype=np.float64),
                                       np.ascontiguousarray(bb, dtype=np.int64), xl, xu, gam, inv))


def _farkas_empty(rows: list, xl: np.ndarray, xu: np.ndarray, dead: np.ndarray, iters: int = 60) -> np.ndarray:
    """Boxes (B,) proved to have no point satisfying all their halfspaces ``A·x ≤ d`` (``rows``: a list of
    ``(A (Q, n), d (Q,), box index (Q,))``).

    Search (float, heuristic): multipliers ``λ ≥ 0`` on the simplex maximising the concave function
    ``φ(λ) = min_{x ∈ box} Σ_i λ_i (a_i·x − d_i)`` by exponentiated supergradient ascent (rows scaled to
    unit norm). Proof: if ``φ(λ) > 0`` then no ``x`` of the box satisfies all ``a_i·x ≤ d_i`` (summing them
    with weights ``λ_i ≥ 0`` gives ``Σ λ_i (a_i·x − d_i) ≤ 0``) — Farkas' lemma; a box is claimed empty
    only when a rigorous lower bound of ``φ`` (:func:`_farkas_lower`, directed rounding) is positive.
    """
    A = np.concatenate([r[0] for r in rows])
    d = np.concatenate([r[1] for r in rows])
    bb = np.concatenate([r[2] for r in rows])
    keep = ~dead[bb] & np.isfinite(d) & np.isfinite(A).all(axis=1)
    A, d, bb = A[keep], d[keep], bb[keep]
    out = np.zeros(len(dead), dtype=bool)
    if len(bb) < 2:
        return out
    order = np.argsort(bb, kind="stable")  # rows grouped by box (they come layer by layer)
    A, d, bb = A[order], d[order], bb[order]
    boxes, start, count = np.unique(bb, return_index=True, return_counts=True)
    sel = count >= 2  # one halfspace alone is handled exactly by _tighten_box
    if not sel.any():
        return out
    group = np.repeat(np.arange(len(boxes)), count)  # each row's box (among the unique ones)
    pos = np.arange(len(bb)) - np.repeat(start, count)  # each row's place within its box
    boxes, count = boxes[sel], count[sel]
    mine = sel[group]
    slot = (np.cumsum(sel) - 1)[group[mine]]
    Bn, Qm, n = len(boxes), int(count.max()), A.shape[1]
    As = np.zeros((Bn, Qm, n))
    ds = np.zeros((Bn, Qm))
    live = np.zeros((Bn, Qm), dtype=bool)
    As[slot, pos[mine]], ds[slot, pos[mine]], live[slot, pos[mine]] = A[mine], d[mine], True
    with np.errstate(all="ignore"):
        nrm = np.linalg.norm(As, axis=2)
        scale = np.where(nrm > 0, 1.0 / np.where(nrm > 0, nrm, 1.0), 0.0)
        An, dn = As * scale[:, :, None], ds * scale
        lo, hi = xl[boxes], xu[boxes]
        width = np.linalg.norm(hi - lo, axis=1) + 1e-300
    best, best_lam = _farkas_search(An, dn, live, count, lo, hi, width, iters)
    cand = np.flatnonzero(best > 0)
    if len(cand):
        proved = _farkas_lower(best_lam[cand] * scale[cand], As[cand], ds[cand], lo[cand], hi[cand]) > 0
        out[boxes[cand[proved]]] = True
    return out


@njit(cache=True, fastmath=False)
def _farkas_search(An, dn, live, count, lo, hi, width, iters):  # pragma: no cover
    """Float search behind :func:`_farkas_empty` (heuristic: only its result's check is rigorous).

    Per box ``b`` (rows ``An[b, :count[b]]`` of unit norm): exponentiated supergradient ascent of
    ``φ(λ) = min_{x ∈ box} Σ_i λ_i (a_i·x − d_i)`` on the simplex; returns the best ``φ`` (B,) and its ``λ``
    (B, Q). A box stops when ``φ > 0`` (a candidate) or when the minimiser ``x`` satisfies every row with a
    margin: then the system has a point and no ``λ`` can give ``φ > 0``."""
    Bn, Qm, n = An.shape
    best = np.full(Bn, -np.inf)
    best_lam = np.zeros((Bn, Qm))
    lam = np.zeros(Qm)
    cvec = np.zeros(n)
    x = np.zeros(n)
    g = np.zeros(Qm)
    for b in range(Bn):
        Q = count[b]
        for q in range(Q):
            lam[q] = 1.0 / Q
        xmax = 0.0
        for j in range(n):
            xmax = max(xmax, abs(lo[b, j]), abs(hi[b, j]))
        margin = 1e-9 * (1.0 + xmax)
        for _ in range(iters):
            for j in range(n):
                cvec[j] = 0.0
            for q in range(Q):
                for j in range(n):
                    cvec[j] += lam[q] * An[b, q, j]
            for j in range(n):
                x[j] = lo[b, j] if cvec[j] > 0 else hi[b, j]
            phi = 0.0
            gmax = -np.inf
            for q in range(Q):
                t = -dn[b, q]
                for j in range(n):
                    t += An[b, q, j] * x[j]
                g[q] = t
                phi += lam[q] * t
                gmax = max(gmax, t)
            if phi > best[b]:
                best[b] = phi
                for q in range(Q):
                    best_lam[b, q] = lam[q]
            if best[b] > 0 or gmax < -margin:
                break
            tot = 0.0
            for q in range(Q):
                e = min(max(4.0 * g[q] / width[b], -30.0), 30.0)
                lam[q] = lam[q] * np.exp(e) if live[b, q] else 0.0
                tot += lam[q]
            tot = max(tot, 1e-300)
            for q in range(Q):
                lam[q] /= tot
    return best, best_lam


def _farkas_lower(lam: np.ndarray, A: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Lower bounds (B,) of ``Φ = min_{x ∈ [lo, hi]} Σ_i λ_i (a_i·x − d_i)`` for floats ``λ ≥ 0`` (B, Q),
    ``A`` (B, Q, n), ``d`` (B, Q) and boxes (B, n) (``−inf`` when nothing is proved).

    Rounding (two lines each): ``c = λᵀA`` is enclosed by ``ĉ ± (γ_Q Σ_i|λ_i a_ij| + Qη)`` (Higham Thm 3.5
    with an underflow term per product; the computed ``Σ|λa|`` is scaled by ``1/(1 − γ_Q)``), and the
    minimum of ``c_j x_j`` over both intervals is at a corner, each corner product rounded down;
    ``Σ_j`` of those minima is bounded below and ``Σ λ_i d_i`` above by the same a-priori bound.
    """
    Q, n = A.shape[1], A.shape[2]
    gq, iq, nq = _consts(Q)
    gn, in_, _ = _consts(n)
    with np.errstate(all="ignore"):
        c = np.einsum("bq,bqn->bn", lam, A)
        err = R.add_up(R.mul_up(gq, R.mul_up(np.einsum("bq,bqn->bn", lam, np.abs(A)), iq)), nq)
        c_lo, c_hi = R.sub_down(c, err), R.add_up(c, err)
        m = np.minimum(np.minimum(R.mul_down(c_lo, lo), R.mul_down(c_lo, hi)),
                       np.minimum(R.mul_down(c_hi, lo), R.mul_down(c_hi, hi)))
        S = R.sub_down(m.sum(axis=1), R.mul_up(gn, R.mul_up(np.abs(m).sum(axis=1), in_)))
        D = (lam * d).sum(axis=1)
        D_err = R.add_up(R.mul_up(gq, R.mul_up(np.abs(lam * d).sum(axis=1), iq)), nq)
        phi = R.sub_down(S, R.add_up(D, D_err))
    ok = np.isfinite(phi) & (lam >= 0).all(axis=1) & np.isfinite(lam).all(axis=1)
    return np.where(ok, phi, -np.inf)


def _meet(a: IntervalArray, lo: np.ndarray, hi: np.ndarray, dead: np.ndarray | None = None) -> IntervalArray:
    """Intersection of two enclosures of the same values.

    Never empty unless a bound is unsound, or (with ``dead``, (B,) updated in place) unless the set they
    enclose is empty: the part of a box fixed by sign constraints. Such rows keep the values of ``a``.
    """
    nlo = np.maximum(a.lo, lo)
    nhi = np.minimum(a.hi, hi)
    empty = nlo > nhi
    if empty.any():
        if dead is None:
            raise RuntimeError("internal error: two enclosures of the same values do not intersect")
        rows = empty.reshape(len(dead), -1).any(axis=1)
        dead |= rows
        nlo = np.where(rows.reshape((-1,) + (1,) * (nlo.ndim - 1)), a.lo, nlo)
        nhi = np.where(rows.reshape((-1,) + (1,) * (nhi.ndim - 1)), a.hi, nhi)
    return IntervalArray._unsafe(nlo, nhi)


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


def _refine_mask(L: _LayerPrep, z: IntervalArray, last: bool, refine: str) -> np.ndarray:
    """(B, n_k) mask of the (box, neuron) pairs whose bounds are back-substituted."""
    if last or refine == "all":
        return np.ones(z.shape, dtype=bool)
    return L.act.impl.bounds_matter(z)  # e.g. unstable ReLUs: the only neurons whose relaxation uses l, u


def _start_rows(L: _LayerPrep, bb: np.ndarray, rr: np.ndarray, ma_prev: np.ndarray):
    """Coefficients (2Q, n_in) and offsets (2Q,) of ``+z_i`` and ``−z_i`` (rows 2q, 2q+1) for the pairs
    ``(bb[q], rr[q])``, in terms of ``a = a_{k−1}``:
    ``±z_i = ±Wm_i a ± b_i ± (W − Wm)_i a ≤ ±Wm_i a + (b_hi | −b_lo)_i + (Wr ma)_i``.
    """
    Q = bb.size
    T = np.empty((2 * Q, L.n_in))
    T[0::2] = L.Wm[rr]
    T[1::2] = -L.Wm[rr]
    acc = np.empty(2 * Q)
    acc[0::2] = L.bhi[rr]
    acc[1::2] = -L.blo[rr]
    if L.WrT is not None:
        wrma = _nonneg_matvec_up(ma_prev, L.WrT, L.inv_in, L.neta_in)  # (B, n_k) ≥ Wr ma
        acc = R.add_up(acc, np.repeat(wrma[bb, rr], 2))
    return T, np.ascontiguousarray(acc, dtype=np.float64)


def _refine_pre(prep: _Prepared, relax: list, inp: _Input, k: int, z: IntervalArray,
                mask: np.ndarray, ma_prev: np.ndarray, dead: np.ndarray | None = None) -> IntervalArray:
    """``z`` (layer ``k ≥ 1``) intersected with back-substituted bounds at the pairs of ``mask``."""
    B = z.shape[0]
    bb, rr = np.nonzero(mask)  # sorted by box
    T, acc = _start_rows(prep.layers[k], bb, rr, ma_prev)
    seg = np.zeros(B + 1, dtype=np.int64)
    np.cumsum(2 * np.bincount(bb, minlength=B), out=seg[1:])
    acc = _backsub(prep, relax, inp, k - 1, T, seg, acc)
    lo, hi = z.lo.copy(), z.hi.copy()
    lo[bb, rr] = np.maximum(lo[bb, rr], -acc[1::2])
    hi[bb, rr] = np.minimum(hi[bb, rr], acc[0::2])
    return _meet(z, lo, hi, dead)


def _squeeze(a: IntervalArray, single: bool) -> IntervalArray:
    return IntervalArray._unsafe(a.lo[0], a.hi[0]) if single else a


def _tighten_by_signs(prep: _Prepared, relax: list, inp: _Input, k: int, z: IntervalArray, f: np.ndarray,
                      ma_prev: np.ndarray, xl: np.ndarray, xu: np.ndarray, dead: np.ndarray,
                      rows: list | None = None) -> bool:
    """Shrink the boxes ``[xl, xu]`` (in place) with the sign constraints ``f`` of layer ``k``.

    On the part where ``z_i ≥ 0``, back-substitution gives ``z_i(x) ≤ G x + c`` for every ``x`` of the box
    (``concretize=False``), so the part lies in the halfspace ``−G x ≤ c``; likewise ``−z_i ≤ G' x + c'``
    where ``z_i ≤ 0``. The bounding box of the box and these halfspaces (:func:`_tighten_box`) contains
    the part, so every later enclosure may be taken over it. Boxes emptied this way are marked ``dead``
    (and keep their corners). The halfspaces ``(A, d, box index)`` are appended to ``rows`` when given.
    Returns whether some box moved.
    """
    need = ((f > 0) & (z.lo < 0)) | ((f < 0) & (z.hi > 0))
    need &= ~dead[:, None]
    if not need.any():
        return False
    bb, rr = np.nonzero(need)  # sorted by box
    T, acc = _start_rows(prep.layers[k], bb, rr, ma_prev)
    if k > 0:
        seg = np.zeros(len(dead) + 1, dtype=np.int64)
        np.cumsum(2 * np.bincount(bb, minlength=len(dead)), out=seg[1:])
        T, acc = _backsub(prep, relax, inp, k - 1, T, seg, acc, concretize=False)
    up = f[bb, rr] > 0  # z ≥ 0: the row of +z (even); z ≤ 0: the row of −z (odd)
    G = np.where(up[:, None], T[0::2], T[1::2])
    c = np.where(up, acc[0::2], acc[1::2])
    old_lo, old_hi = xl.copy(), xu.copy()
    if rows is not None:
        rows.append((-G, c, bb))
    if not _tighten_box(-G, c, bb, xl, xu):
        return False
    empty = (xl > xu).any(axis=1)
    if empty.any():
        dead |= empty
        xl[empty], xu[empty] = old_lo[empty], old_hi[empty]
    return True


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
    X = IntervalArray._unsafe(xl, xu)
    # interval bounds on the box exactly as given (same shapes, so the same rounding as propagate())
    ibp = propagate(backend, IntervalArray._unsafe(xl[0], xu[0]) if single else X)
    inp = _input_data(prep, xl, xu)
    n_layers = len(prep.layers)
    pre = []
    relax: list[_Relax] = []
    tight_a = X
    ma_prev = inp.ma if inp is not None else None
    for k, L in enumerate(prep.layers):
        ibp_z = ibp.pre[k]
        z = IntervalArray._unsafe(np.reshape(ibp_z.lo, (-1, L.n_out)), np.reshape(ibp_z.hi, (-1, L.n_out)))
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


# --------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------


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
    bounds = LayerBounds(tuple(IntervalArray._unsafe(lo, hi) for lo, hi in pre), IntervalArray._unsafe(*out))
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
        pre = [IntervalArray._unsafe(np.reshape(p.lo, (B, -1)), np.reshape(p.hi, (B, -1))) for p in bounds.pre]
        out = IntervalArray._unsafe(np.reshape(bounds.output.lo, (B, -1)), np.reshape(bounds.output.hi, (B, -1)))
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
    return IntervalArray._unsafe(np.asarray(rlo), np.asarray(rhi))
