"""The checker's own back-substituted gradient bounds: an independent, outward-rounded re-derivation.

Part of the certificate checker (:mod:`verinet.evidence.checker`): written for it, sharing no code with the fast
path (:mod:`verinet.bounds.linear`, :mod:`verinet.bounds.jacobian_bounds`, :mod:`verinet.bounds.alpha`, ``intervals``, the
backends). It re-derives, for one leaf of a Lipschitz certificate (a box, and the neuron signs the leaf
fixes), an upper bound of ``‖∇(cᵀf)‖_q`` the way the search did, and the checker accepts the leaf when
that bound is ≤ the leaf's recorded bound. Arithmetic: float64 with every rounding error bounded
(midpoint–radius matrices, a-priori error bounds of BLAS products, ``nextafter`` after every
elementwise operation), because exact rationals or ball arithmetic cost seconds per leaf on
784-input networks (``python-flint``'s ``arb_mat`` multiplies 64×256×256 in about 0.15 s).

What is re-derived (the mathematics of :mod:`verinet.bounds.jacobian_bounds`: RecurJac, Zhang et al., AAAI 2019;
Shi et al., NeurIPS 2022; CROWN, Zhang et al., NeurIPS 2018):

1. **Pre-activation bounds over the leaf's part** (forward CROWN, layer by layer): interval propagation,
   met with back-substituted bounds of every neuron the intervals leave unstable; fixed neurons are
   clamped to their sign's half-line (an empty intersection proves the part empty). ReLU / leaky-ReLU
   lines on ``[l, u]``: the chord above (σ convex), ``s z`` below for any ``s ∈ [α, 1]`` (CROWN's
   choice ``s = 1`` if ``u ≥ −l`` else ``α``, or a slope the certificate records, see 2). Optionally met with
   the certificate's **root bounds** (bounds of the hidden layers over the whole box, valid on every part),
   which the checker first confirms (2). The part lies in the halfspaces ``G x + c ≥ 0`` of its fixed
   neurons (``G x + c`` the back-substituted upper bound of ``s z``): the box is shrunk to them and the
   bounds derived again (:data:`PASSES` passes), and a Farkas combination (an LP's multipliers, checked
   with outward rounding) may prove the part empty, as the search does.
2. **Root bounds** (neuron-sign search): the certificate records bounds of every hidden neuron over the
   box and, for some neurons, the lower-line slopes (α-CROWN, Xu et al., ICLR 2021) of the earlier layers
   that prove them. The checker derives its own root bounds (1, with those slopes: any slope in
   ``[α, 1]`` gives a valid lower line; a slope outside, or not a number, is rejected) and requires every
   recorded bound to contain its own.
3. **Derivative enclosures**: ReLU ``{1}`` where ``l ≥ 0`` or the leaf fixes +1, ``{0}`` where ``u ≤ 0``
   or fixed −1, ``[0, 1]`` otherwise (leaky: ``{1}``, ``{α}``, ``[α, 1]``). ``l ≥ 0`` on the part is as
   good as fixing +1 there (the argument of :mod:`verinet.analyses.lipschitz_neuron` for the kink ``z = 0``).
4. **The backward network** ``v_{k−1} = W_kᵀ u_k``, ``u_k = d_k ⊙ v_k``, ``g = W_0ᵀ u_0``: its input box
   ``u_{L−2}`` from the interval chain rule, the product ``d ⊙ v`` (``d ∈ [dl, dh] ⊆ [0, ∞)``, ``v ∈ [l, r]``)
   relaxed by the chords of the convex ``max(dl v, dh v)`` (above) and concave ``min(dl v, dh v)`` (below),
   intermediate bounds back-substituted where ``d`` is uncertain and ``[l, r]`` contains 0, and each
   ``g_i`` bounded by back-substituting ``±e_i``; all met with the interval chain rule.
5. **The norm**: l∞ inputs, ``‖g‖₁ ≤ Σ mag(g_i)`` and ``‖g‖₁ ≤ max_s (sᵀ g + Σ_rest (a_i g_i + b_i))`` with
   ``|t| ≤ a t + b`` the chord of ``|·|`` on ``[lo_i, hi_i]`` and the signs ``s`` of the (up to
   :data:`SIGNS`) coordinates with the largest ``b_i`` enumerated, every row back-substituted (Shi et al.,
   Sec. 3.3); the smaller is the bound. l2 inputs: ``√(Σ mag²)``; l1 inputs: ``max mag``.

Every choice above (slopes of chords, which signs to enumerate) only needs to be *valid*, not the one
the search made: the offsets that make a line valid are computed here from the checker's own bounds.

Rounding (proofs; ``u = 2⁻⁵³``, ``η = 2⁻¹⁰⁷⁴``). Elementwise: IEEE operations are correctly rounded, so
``nextafter`` of the result towards ±∞ bounds the exact value (two lines: the rounded result is within
one ulp of the exact one, and ``nextafter`` moves by one ulp in the chosen direction). Products of float
matrices ``A`` (p×n) and ``B`` (n×q) computed by BLAS in any order, FMA or not (no Strassen-type
algorithm): ``|fl(AB) − AB| ≤ γ_n|A||B| + nη`` (Higham, *Accuracy and Stability*, Thm 3.5, with an
underflow error ``≤ η/2`` per product), and ``fl(|A||B|) ≥ (1 − γ_n)|A||B| − nη`` (non-negative terms), so
``|fl(AB) − AB| ≤ 2γ_n fl(|A||B|) + 2nη ≤ 4nu·fl(|A||B|) + 2nη`` for ``nu ≤ 1/8`` (:func:`_mm`); a product of
non-negative matrices is bounded above by ``fl(PQ)(1 + 4nu) + 2nη`` (:func:`_nn_up`). Midpoint–radius
products: ``|AB − A_m B_m| ≤ |A_m| B_r + A_r |B_m| + A_r B_r`` (Rump, BIT 39, 1999).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

__all__ = ["BacksubNet", "METHOD", "RootBounds", "SIGNS", "leaf_upper"]

#: what the certificate and ``verinet report`` say about the checker's method
METHOD = ("float64 with outward rounding (midpoint-radius matrices, a-priori error bounds of BLAS products; "
          "verinet.evidence.checker_backsub, independent of the search's code)")
#: l∞ inputs: the signs of up to this many gradient coordinates of unknown sign are enumerated
SIGNS = 5
#: passes of :meth:`BacksubNet.forward` over a part with fixed signs, each from the box shrunk by the last
PASSES = 6
#: a leaf the re-derivation does not confirm goes to the exact path below this many inputs (else it fails)
EXACT_FALLBACK_INPUTS = 64

_U = 2.0 ** -53
_ETA = 5e-324  # 2⁻¹⁰⁷⁴
_INF = np.inf


# ============================================================================================ rounding
def _up(x):
    return np.nextafter(x, _INF)


def _dn(x):
    return np.nextafter(x, -_INF)


def _mul_up(a, b):
    with np.errstate(all="ignore"):
        return _up(np.multiply(a, b))


def _mul_dn(a, b):
    with np.errstate(all="ignore"):
        return _dn(np.multiply(a, b))


def _gam(n: int) -> float:
    """``4nu`` (exact), ≥ the ``2γ_n`` of the module docstring for ``nu ≤ 1/8``."""
    return 4.0 * n * _U


def _mm(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(C, E)``: ``C = fl(A @ B)`` and ``E ≥ |C − AB|`` entrywise (module docstring)."""
    n = A.shape[-1]
    with np.errstate(all="ignore"):
        C = A @ B
        F = np.abs(A) @ np.abs(B)
        # 4nu·F rounded up (one product, then one ulp), plus 2nη rounded up
        E = _up(_up(_gam(n) * F) + 2 * n * _ETA)
    return C, E


def _nn_up(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """An upper bound of ``P @ Q`` for non-negative float matrices (module docstring)."""
    n = P.shape[-1]
    with np.errstate(all="ignore"):
        F = P @ Q
        return _up(_up(F * (1.0 + _gam(n))) + 2 * n * _ETA)


def _imm(Am, Ar, Bm, Br):
    """Midpoint–radius product ``(Am ± Ar)(Bm ± Br) ⊆ Cm ± Cr`` (``Ar``/``Br`` None: points)."""
    C, E = _mm(Am, Bm)
    parts = [E]
    if Br is not None:
        parts.append(_nn_up(np.abs(Am), Br))
    if Ar is not None:
        Bmag = np.abs(Bm) if Br is None else _up(np.abs(Bm) + Br)
        parts.append(_nn_up(Ar, Bmag))
    R = parts[0]
    for p in parts[1:]:
        R = _up(R + p)
    return C, R


def _dot_up(Gm: np.ndarray, Gr: np.ndarray | None, v: np.ndarray) -> np.ndarray:
    """Upper bounds (R,) of ``Γ·v`` for rows ``Γ ∈ Gm ± Gr`` (R, n) and a point float vector ``v``."""
    C, R = _imm(Gm, Gr, v[:, None], None)
    return _up(C[:, 0] + R[:, 0])


def _sum_up(a: np.ndarray, axis=-1) -> np.ndarray:
    """Upper bound of a sum of floats: ``fl(Σ) + γ_n Σ|a|`` rounded up (Higham Thm 3.5; no underflow in
    sums of floats)."""
    n = a.shape[axis]
    with np.errstate(all="ignore"):
        s = a.sum(axis=axis)
        e = _up(_up(_gam(n) * np.abs(a).sum(axis=axis)))
        return _up(s + e)


class _NoProof(ArithmeticError):
    """The outward-rounded arithmetic overflowed: the leaf is not confirmed (never taken as empty)."""


# ============================================================================================ the network
@dataclass(frozen=True)
class _Layer:
    Wm: np.ndarray  # (n_out, n_in) floats nearest the exact weights
    Wr: np.ndarray | None  # radius: |W − Wm| ≤ Wr (None: the weights are floats)
    bm: np.ndarray
    br: np.ndarray | None
    act: str  # relu, leaky_relu, identity
    alpha: float  # leak (a float ≤ the exact leak: see BacksubNet.from_exact)
    alpha_hi: float  # a float ≥ the exact leak


def _mid_rad(nums: list[int], den: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Floats nearest the rationals ``nums[i]/den`` (Python's int true division is correctly rounded) and a
    radius ``≥`` the distance (None when every value is a float)."""
    mid = [v / den for v in nums]
    exact = True
    for v, m in zip(nums, mid):
        p, q = m.as_integer_ratio()
        if p * den != v * q:
            exact = False
            break
    midarr = np.array(mid, dtype=np.float64)
    if exact:
        return midarr, None
    err = [abs(Fraction(v, den) - Fraction(m)) for v, m in zip(nums, mid)]
    rad = np.array([float(e) for e in err], dtype=np.float64)  # nearest: may be below the exact error
    return midarr, _up(rad)  # one ulp up: ≥ the exact error


class BacksubNet:
    """A ReLU / leaky-ReLU / identity network (identity output layer) in midpoint–radius floats."""

    def __init__(self, layers: list[_Layer]) -> None:
        self.layers = layers
        self.n_inputs = layers[0].Wm.shape[1]

    @classmethod
    def from_exact(cls, layers) -> BacksubNet:
        """From the checker's exact layers (:class:`verinet.evidence.checker._ExactLayer`). Raises ValueError for
        weights beyond the float range or an output layer that is not the identity."""
        out = []
        for L in layers:
            n_in = len(L.Wn[0])
            W, Wr = _mid_rad([w for row in L.Wn for w in row], L.den)
            b, br = _mid_rad(list(L.bn), L.den)
            if not (np.isfinite(W).all() and np.isfinite(b).all()):
                raise ValueError("weights beyond the float64 range")
            a = Fraction(L.a_num, L.a_den) if L.act == "leaky_relu" else Fraction(0)
            alo, ahi = float(a), float(a)
            if Fraction(alo) > a:
                alo = float(_dn(alo))
            if Fraction(ahi) < a:
                ahi = float(_up(ahi))
            out.append(_Layer(W.reshape(-1, n_in), None if Wr is None else Wr.reshape(-1, n_in), b, br, L.act,
                              alo, ahi))
        if out[-1].act != "identity":
            raise ValueError("the output layer must be an identity layer")
        if out[-1].alpha != out[-1].alpha_hi or any(L.alpha != L.alpha_hi for L in out):
            raise ValueError("leaky slopes must be float64 numbers")  # exact leaks keep the lines simple
        return cls(out)

    # -------------------------------------------------------------------------------------- forward
    def _affine_box(self, k: int, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Interval bounds of ``W_k a + b_k`` over the box ``a ∈ [lo, hi]``."""
        L = self.layers[k]
        with np.errstate(all="ignore"):
            m = 0.5 * lo + 0.5 * hi  # a float; the radius below covers both ends exactly
            r = _up(np.maximum(_up(hi - m), _up(m - lo)))
        C, R = _imm(L.Wm, L.Wr, m[:, None], r[:, None])
        C, R = C[:, 0], R[:, 0]
        if L.br is not None:
            R = _up(R + L.br)
        with np.errstate(all="ignore"):
            return _dn(_dn(C - R) + L.bm), _up(_up(C + R) + L.bm)

    def _lines(self, k: int, lo, hi, fixed: np.ndarray, slopes: np.ndarray | None = None):
        """Relaxation of ``a = σ_k(z)`` for ``z ∈ [lo, hi]``: ``(sU, tU, sL, tL, mag)`` with
        ``sL z + tL ≤ a ≤ sU z + tU`` and ``|a| ≤ mag`` (floats; the lines are exact reals).

        Stable or fixed neurons: ``a = z`` or ``a = α z`` (both lines the same, offsets 0). Unstable: the
        chord ``s z + t`` above with ``t ≥ max(σ(l) − s l, σ(u) − s u)`` (σ convex: a line above σ at both
        ends is above it between), and ``s z`` below, ``s ∈ [α, 1]`` (``s z ≤ z`` for ``z ≥ 0`` and
        ``s z ≤ α z`` for ``z ≤ 0``): ``slopes`` where given, else 1 if ``u ≥ −l`` else α.
        """
        L = self.layers[k]
        n = lo.shape[0]
        if L.act == "identity":
            one = np.ones(n)
            return one, np.zeros(n), one, np.zeros(n), _up(np.maximum(np.abs(lo), np.abs(hi)))
        a = L.alpha
        pos = (fixed > 0) | (lo >= 0)
        neg = ~pos & ((fixed < 0) | (hi <= 0))
        uns = ~pos & ~neg
        with np.errstate(all="ignore"):
            l = np.where(uns, lo, -1.0)
            u = np.where(uns, hi, 1.0)
            s = (u - a * l) / (u - l)
            s = np.where(np.isfinite(s), np.clip(s, a, 1.0), 1.0)
            sig_l = _mul_dn(a, l) if a else np.zeros(n)  # σ(l) = α l (l < 0); rounded up below
            sig_l_up = _mul_up(a, l) if a else np.zeros(n)
            tU = np.maximum(_up(sig_l_up - _mul_dn(s, l)), _up(u - _mul_dn(s, u)))
            if slopes is None:
                sl = np.where(u >= -l, 1.0, a)
            else:
                sl = slopes
            mag = _up(np.maximum(np.abs(sig_l), u))
        sU = np.where(pos, 1.0, np.where(neg, a, s))
        sL = np.where(pos, 1.0, np.where(neg, a, sl))
        tU = np.where(uns, tU, 0.0)
        tL = np.zeros(n)
        m_exact = _up(np.where(pos, np.maximum(np.abs(lo), np.abs(hi)),
                               np.where(neg, _mul_up(a, np.maximum(np.abs(lo), np.abs(hi))), mag)))
        return sU, tU, sL, tL, m_exact

    def forward(self, xl: np.ndarray, xu: np.ndarray, fixed: list[np.ndarray], root=None, slope_rows=None,
                layers: int | None = None):
        """Pre-activation bounds ``[(lo, hi), ...]`` of the hidden layers over the part of the box where the
        ``fixed`` signs hold (one int array per layer, 0 = free), or None when the part is proved empty.

        ``root``: bounds ``[(lo, hi), ...]`` valid on the whole box (met with every layer's).
        ``slope_rows``: ``{(k, i, side): [slopes of layer 0, ..., layer k−1]}`` — the lower-line slopes with
        which the bound of ``side·z_{k,i}`` (``+1``: lower end, ``−1``: upper end) is back-substituted too.

        The part also lies in the halfspaces ``G x + c ≥ 0`` of its fixed neurons (``G x + c`` the
        back-substituted upper bound of ``s z_{k,i}``, valid on the box, and ``s z ≥ 0`` on the part): the
        box is shrunk to the bounding box of their intersection (:func:`_shrink`), and the bounds are
        derived again from the smaller box (up
        to :data:`PASSES` times, while some width shrinks by more than 1/8); finally a Farkas combination
        of the halfspaces may prove the part empty (:func:`_farkas_empty`).

        Rigorous: each interval contains ``z_k(x)`` for every real ``x`` of the part (exact weights).
        """
        xl, xu = np.array(xl, dtype=np.float64), np.array(xu, dtype=np.float64)
        got = None
        for _ in range(PASSES):
            ol, ou = xl.copy(), xu.copy()
            halfspaces: list = []
            got = self._pass(xl, xu, fixed, root, slope_rows, layers, halfspaces)
            if got is None:
                return None
            if not ((xu - xl) < 0.875 * (ou - ol)).any():
                break
        if len(halfspaces) >= 2 and _farkas_empty(halfspaces, xl, xu):
            return None
        return got

    def _pass(self, xl, xu, fixed, root, slope_rows, layers, halfspaces):
        """One pass of :meth:`forward`; shrinks ``xl``, ``xu`` in place and appends the halfspaces."""
        H = len(self.layers) - 1 if layers is None else layers
        pre = []
        lines = []
        for k in range(H):
            if k == 0:
                lo, hi = self._affine_box(0, xl, xu)
            else:
                plo, phi = pre[-1]
                alo, ahi = _act_ends(self.layers[k - 1], plo, phi)
                lo, hi = self._affine_box(k, alo, ahi)
                f = fixed[k]
                want = ((lo < 0) & (hi > 0)) | (f != 0)
                idx = np.flatnonzero(want)
                if idx.size:
                    lo, hi = self._refine(k, idx, lo, hi, lines, xl, xu)
                if slope_rows:
                    lo, hi = self._refine_slopes(k, lo, hi, pre, xl, xu, fixed, slope_rows)
            if np.isnan(lo).any() or np.isnan(hi).any():  # overflow: nothing is proved (never "empty")
                raise _NoProof(f"layer {k}: the bounds overflow")
            if root is not None:
                lo = np.maximum(lo, root[k][0])
                hi = np.minimum(hi, root[k][1])
            f = fixed[k]
            if (lo > hi).any():
                return None
            need = np.flatnonzero(((f > 0) & (lo < 0)) | ((f < 0) & (hi > 0)))
            if need.size:
                for G, cc in self._halfspaces(k, need, f, lines):
                    halfspaces.append((G, cc))
                    if not _shrink(G, cc, xl, xu):
                        return None
            lo = np.where(f > 0, np.maximum(lo, 0.0), lo)
            hi = np.where(f < 0, np.minimum(hi, 0.0), hi)
            if (lo > hi).any():
                return None
            pre.append((lo, hi))
            lines.append(self._lines(k, lo, hi, f))
        return pre

    def _halfspaces(self, k: int, idx: np.ndarray, f: np.ndarray, lines):
        """``(G, c)`` per neuron of ``idx``: ``s z_{k,i}(x) ≤ G·x + c`` on the box (``s`` its fixed sign, the
        back-substituted upper bound of ``s z``), so on the part ``0 ≤ s z ≤ G·x + c``: the part lies in
        ``G·x + c ≥ 0``. The radius of interval coefficients is folded into ``c`` later (:func:`_shrink`
        bounds ``Gr·|x|`` over the box)."""
        L = self.layers[k]
        s = f[idx].astype(np.float64)
        Gm = s[:, None] * L.Wm[idx]
        Gr = None if L.Wr is None else L.Wr[idx]
        acc = s * L.bm[idx]
        if L.br is not None:
            acc = _up(acc + L.br[idx])
        if k > 0:
            Gm, Gr, acc = _backsub_forward(self, k - 1, Gm, Gr, acc, lines, None, None, concretise=False)
        return [(Gm[r], (acc[r], None if Gr is None else Gr[r])) for r in range(idx.size)]

    def _refine(self, k: int, idx: np.ndarray, lo, hi, lines, xl, xu):
        """``[lo, hi]`` met with back-substituted bounds of ``±z_{k,i}`` for ``i`` in ``idx``."""
        L = self.layers[k]
        Gm = np.concatenate([L.Wm[idx], -L.Wm[idx]])
        Gr = None if L.Wr is None else np.concatenate([L.Wr[idx], L.Wr[idx]])
        acc = np.concatenate([L.bm[idx], -L.bm[idx]])
        if L.br is not None:
            acc = _up(acc + np.concatenate([L.br[idx], L.br[idx]]))
        ub = _backsub_forward(self, k - 1, Gm, Gr, acc, lines, xl, xu)
        m = idx.size
        lo, hi = lo.copy(), hi.copy()
        lo[idx] = np.maximum(lo[idx], -ub[m:])
        hi[idx] = np.minimum(hi[idx], ub[:m])
        return lo, hi

    def _refine_slopes(self, k, lo, hi, pre, xl, xu, fixed, slope_rows):
        """Bounds of the rows of ``slope_rows`` in layer ``k`` with their recorded lower-line slopes."""
        L = self.layers[k]
        lo, hi = lo.copy(), hi.copy()
        for (kk, i, side), slopes in slope_rows.items():
            if kk != k:
                continue
            lines = [self._lines(j, pre[j][0], pre[j][1], fixed[j], slopes[j]) for j in range(k)]
            Gm = (-side * L.Wm[i])[None, :]
            Gr = None if L.Wr is None else L.Wr[i][None, :]
            acc = np.array([-side * L.bm[i]])
            if L.br is not None:
                acc = _up(acc + L.br[i])
            ub = float(_backsub_forward(self, k - 1, Gm, Gr, acc, lines, xl, xu)[0])  # ≥ −side·z
            if side > 0:
                lo[i] = max(lo[i], -ub)
            else:
                hi[i] = min(hi[i], ub)
        return lo, hi


def _act_ends(layer: _Layer, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``σ(z)`` for ``z ∈ [lo, hi]`` (σ non-decreasing: ends to ends, rounded outward)."""
    if layer.act == "identity":
        return lo, hi
    if layer.act == "relu":
        return np.maximum(lo, 0.0), np.maximum(hi, 0.0)
    a = layer.alpha
    return np.where(lo >= 0, lo, _mul_dn(a, lo)), np.where(hi >= 0, hi, _mul_up(a, hi))


# ============================================================================================ back-substitution
def _backsub_forward(net: BacksubNet, j0: int, Gm, Gr, acc, lines, xl, xu, concretise: bool = True):
    """Upper bounds (R,) of rows ``Γ·a_{j0} + acc`` (``Γ ∈ Gm ± Gr``) over the part, through the relaxed
    layers ``j0, …, 0`` of the forward network down to the input box (``concretise=False``: the rows
    ``(Gm, Gr, acc)`` over ``x`` instead, ``Γ·a_{j0} + acc ≤ Γ'·x + acc'`` on the part)."""
    for j in range(j0, -1, -1):
        sU, tU, sL, tL, mag = lines[j]
        Gm, Gr, acc = _relax(Gm, Gr, acc, sU, tU, sL, tL, mag)
        L = net.layers[j]
        acc = _up(acc + _dot_up(Gm, Gr, L.bm))
        if L.br is not None:
            acc = _up(acc + _nn_up(np.abs(Gm) if Gr is None else _up(np.abs(Gm) + Gr), L.br[:, None])[:, 0])
        Gm, Gr = _imm(Gm, Gr, L.Wm, L.Wr)
    if not concretise:
        return Gm, Gr, acc
    return _concretise(Gm, Gr, acc, xl, xu)


def _relax(Gm, Gr, acc, sU, tU, sL, tL, mag):
    """Rows over ``a`` to rows over ``z`` (``sL z + tL ≤ a ≤ sU z + tU``, ``|a| ≤ mag``):
    ``Γ a ≤ Gm a + Gr|a| ≤ Σ_i Gm_i·line_i(z_i) + Gr·mag`` with the upper line where ``Gm_i ≥ 0`` and
    the lower one where ``Gm_i < 0``; where both lines are the same exact line ``s z`` the radius is kept
    on the coefficient instead (``|Γ_i s| ≤ |Gm_i s| + Gr_i|s|``)."""
    pos = Gm >= 0
    s = np.where(pos, sU[None, :], sL[None, :])
    t = np.where(pos, tU[None, :], tL[None, :])
    exact = (sU == sL) & (tU == 0) & (tL == 0)
    with np.errstate(all="ignore"):
        Lm = Gm * s
        Lr = _up(_U * 2 * np.abs(Lm) + _ETA)  # ≥ |Gm s − fl(Gm s)|
        acc = _up(acc + _sum_up(np.where(t != 0, _mul_up(Gm, t), 0.0)))  # Gm_i t_i rounded up, summed up
        if Gr is not None:
            keep = np.where(exact[None, :], Gr, 0.0)
            Lr = _up(Lr + _mul_up(keep, np.abs(s)))
            rest = np.where(exact[None, :], 0.0, Gr)
            if rest.any():
                acc = _up(acc + _nn_up(rest, mag[:, None])[:, 0])
    return Lm, Lr, acc


def _concretise(Gm, Gr, acc, xl, xu) -> np.ndarray:
    """``max_{x ∈ box} Γ·x + acc`` bounded above: ``Gm·m + |Gm|·r + Gr·mag(x)``."""
    with np.errstate(all="ignore"):
        m = 0.5 * xl + 0.5 * xu
        r = _up(np.maximum(_up(xu - m), _up(m - xl)))
        out = _up(acc + _dot_up(Gm, None, m))
        out = _up(out + _nn_up(np.abs(Gm), r[:, None])[:, 0])
        if Gr is not None:
            out = _up(out + _nn_up(Gr, _up(np.maximum(np.abs(xl), np.abs(xu)))[:, None])[:, 0])
    return np.where(np.isnan(out), _INF, out)


# ============================================================================================ the backward network
def _product_hull(dl, dh, l, r):
    """Enclosure of ``{d v : d ∈ [dl, dh], v ∈ [l, r]}`` for ``0 ≤ dl ≤ dh``: ``d v`` is non-decreasing in
    ``v`` and linear in ``d``, so its least value is at ``v = l`` and ``d ∈ {dl, dh}``, its largest at ``r``."""
    return np.minimum(_mul_dn(dl, l), _mul_dn(dh, l)), np.maximum(_mul_up(dl, r), _mul_up(dh, r))


def _product_lines(dl, dh, l, r):
    """Lines ``sL v + tL ≤ d v ≤ sU v + tU`` for every ``d ∈ [dl, dh]`` (``0 ≤ dl ≤ dh``), ``v ∈ [l, r]``,
    and ``mag ≥ |d v|``.

    ``dl = dh``: ``d v`` exactly. ``l ≥ 0``: ``dl v ≤ d v ≤ dh v``; ``r ≤ 0``: ``dh v ≤ d v ≤ dl v``.
    Otherwise ``φ(v) = max(dl v, dh v)`` is convex and ``ψ(v) = min(dl v, dh v)`` concave with
    ``ψ ≤ d v ≤ φ``; a line of any slope through offsets ``tU ≥ max(φ(l) − s l, φ(r) − s r)`` lies above φ on
    ``[l, r]`` (``φ − line`` convex and ``≤ 0`` at both ends), and ``tL ≤ min(ψ(l) − s l, ψ(r) − s r)`` below ψ.
    The slopes are the chords (any float will do).
    """
    same = dl == dh
    pos = ~same & (l >= 0)
    neg = ~same & ~pos & (r <= 0)
    mix = ~same & ~pos & ~neg
    with np.errstate(all="ignore"):
        ll = np.where(mix, l, -1.0)
        rr = np.where(mix, r, 1.0)
        w = rr - ll
        gU = np.clip((dh * rr - dl * ll) / w, dl, dh)
        gL = np.clip((dl * rr - dh * ll) / w, dl, dh)
        gU = np.where(np.isfinite(gU), gU, dh)
        gL = np.where(np.isfinite(gL), gL, dl)
        # φ(l) = dl l, φ(r) = dh r and ψ(l) = dh l, ψ(r) = dl r for l < 0 < r
        tU = np.maximum(_up(_mul_up(dl, ll) - _mul_dn(gU, ll)), _up(_mul_up(dh, rr) - _mul_dn(gU, rr)))
        tL = np.minimum(_dn(_mul_dn(dh, ll) - _mul_up(gL, ll)), _dn(_mul_dn(dl, rr) - _mul_up(gL, rr)))
        mag = _mul_up(dh, np.maximum(np.abs(l), np.abs(r)))
    sU = np.where(same, dl, np.where(pos, dh, np.where(neg, dl, gU)))
    sL = np.where(same, dl, np.where(pos, dl, np.where(neg, dh, gL)))
    tU = np.where(mix, tU, 0.0)
    tL = np.where(mix, tL, 0.0)
    bad = ~(np.isfinite(tU) & np.isfinite(tL) & np.isfinite(mag))
    return sU, tU, sL, tL, mag, bad


def _derivatives(net: BacksubNet, pre, fixed):
    """Derivative enclosures ``[dl, dh]`` of every hidden layer (module docstring, item 3)."""
    out = []
    for k, (lo, hi) in enumerate(pre):
        L = net.layers[k]
        if L.act == "identity":
            one = np.ones(lo.shape)
            out.append((one, one))
            continue
        a = L.alpha
        pos = (fixed[k] > 0) | (lo >= 0)
        neg = ~pos & ((fixed[k] < 0) | (hi <= 0))
        out.append((np.where(pos, 1.0, a), np.where(neg, a, 1.0)))
    return out


def _linear_t(L: _Layer, lo, hi):
    """Interval bounds of ``W_kᵀ u`` over the box ``u ∈ [lo, hi]`` (no bias)."""
    with np.errstate(all="ignore"):
        m = 0.5 * lo + 0.5 * hi
        r = _up(np.maximum(_up(hi - m), _up(m - lo)))
    C, R = _imm(L.Wm.T, None if L.Wr is None else L.Wr.T, m[:, None], r[:, None])
    C, R = C[:, 0], R[:, 0]
    with np.errstate(all="ignore"):
        return _dn(C - R), _up(C + R)


def _backsub_backward(net: BacksubNet, blines: dict, kf: int, Gm, Gr, acc, top_box) -> np.ndarray:
    """Upper bounds (R,) of ``Γ·y + acc`` for rows over ``y = W_kfᵀ u_kf`` (``v_{kf−1}``, or ``g`` for
    ``kf = 0``), through ``u_j = d_j ⊙ v_j`` (lines ``blines[j]``) and ``v_j = W_{j+1}ᵀ u_{j+1}`` up to the
    backward network's input box ``u_{H−1} ∈ top_box``."""
    H = len(net.layers) - 1
    j = kf
    while True:
        L = net.layers[j]
        Gm, Gr = _imm(Gm, Gr, L.Wm.T, None if L.Wr is None else L.Wr.T)  # rows over u_j
        if j == H - 1:
            return _concretise(Gm, Gr, acc, *top_box)
        sU, tU, sL, tL, mag = blines[j]
        Gm, Gr, acc = _relax(Gm, Gr, acc, sU, tU, sL, tL, mag)  # rows over v_j = W_{j+1}ᵀ u_{j+1}
        j += 1


def _abs_chord(lo, hi):
    """``(a, b)`` with ``|t| ≤ a t + b`` on ``[lo, hi]``: ``a = ±1, b = 0`` where the sign is known, else a
    chord slope ``a`` and ``b ≥ max(|lo| − a lo, |hi| − a hi)`` (``|·|`` convex: above at both ends)."""
    mixed = (lo < 0) & (hi > 0)
    with np.errstate(all="ignore"):
        l = np.where(mixed, lo, -1.0)
        u = np.where(mixed, hi, 1.0)
        a = np.clip((u + l) / (u - l), -1.0, 1.0)
        a = np.where(np.isfinite(a), a, 0.0)
        b = np.maximum(_up(-l - _mul_dn(a, l)), _up(u - _mul_dn(a, u)))
    a = np.where(mixed, a, np.where(lo >= 0, 1.0, -1.0))
    b = np.where(mixed, b, 0.0)
    return a, b


def _norm_up(glo, ghi, q: str) -> float:
    """Upper bound of ``‖g‖_q`` over the box ``[glo, ghi]``."""
    mag = np.maximum(np.abs(glo), np.abs(ghi))
    if q == "1":
        v = _sum_up(mag)
    elif q == "2":
        with np.errstate(all="ignore"):
            v = _up(np.sqrt(_sum_up(_mul_up(mag, mag))))
    else:
        v = mag.max()
    v = float(v)
    return v if v == v else _INF


def _dual(norm: str) -> str:
    return {"inf": "1", "1": "inf", "2": "2"}[norm]


def gradient_upper(net: BacksubNet, pre, fixed, c: np.ndarray, norm: str, free: np.ndarray,
                   signs: int = SIGNS) -> float:
    """Upper bound of ``‖∇(cᵀf)(x)‖_q`` at every point ``x`` of the part where ``f`` is differentiable,
    from its pre-activation bounds ``pre`` (module docstring, items 3–5; ``q`` dual to ``norm``; only the
    ``free`` coordinates count).

    Rigorous: given that ``pre`` encloses the part's pre-activations, the result bounds the Lipschitz
    constant of ``cᵀf`` on the part (exact weights; every rounding bounded).
    """
    q = _dual(norm)
    D = _derivatives(net, pre, fixed)
    H = len(net.layers) - 1
    out = net.layers[-1]
    # v_{H−1} = W_Hᵀ c (a point up to rounding)
    C, R = _imm(out.Wm.T, None if out.Wr is None else out.Wr.T, c[:, None], None)
    with np.errstate(all="ignore"):
        vlo, vhi = _dn(C[:, 0] - R[:, 0]), _up(C[:, 0] + R[:, 0])
    if H == 0:
        g = (np.where(free, vlo, 0.0), np.where(free, vhi, 0.0))
        return _norm_up(*g, q)
    # the interval chain rule (its own bound, and the enclosure the back-substituted bounds are met with)
    ilo, ihi = vlo, vhi
    for k in range(H - 1, -1, -1):
        ulo, uhi = _product_hull(D[k][0], D[k][1], ilo, ihi)
        ilo, ihi = _linear_t(net.layers[k], ulo, uhi)
    ilo, ihi = np.where(free, ilo, 0.0), np.where(free, ihi, 0.0)
    chain = _norm_up(ilo, ihi, q)
    if not (np.isfinite(vlo).all() and np.isfinite(vhi).all()):
        return chain
    top = _product_hull(D[H - 1][0], D[H - 1][1], vlo, vhi)  # the backward network's input box u_{H−1}
    alo, ahi = top
    blines: dict = {}
    Z = None
    for kf in range(H - 1, -1, -1):
        Z = _linear_t(net.layers[kf], alo, ahi)  # v_{kf−1}, or g for kf = 0
        zlo, zhi = Z
        if kf < H - 1:
            if kf == 0:
                mask = free.copy()
            else:
                dl, dh = D[kf - 1]
                mask = (dl < dh) & (zlo < 0) & (zhi > 0)
            idx = np.flatnonzero(mask)
            if idx.size:
                n = zlo.size
                eye = np.zeros((2 * idx.size, n))
                eye[np.arange(idx.size), idx] = 1.0
                eye[idx.size + np.arange(idx.size), idx] = -1.0
                ub = _backsub_backward(net, blines, kf, eye, None, np.zeros(2 * idx.size), top)
                zlo, zhi = zlo.copy(), zhi.copy()
                zlo[idx] = np.maximum(zlo[idx], -ub[idx.size:])
                zhi[idx] = np.minimum(zhi[idx], ub[:idx.size])
                if (zlo > zhi).any():  # disjoint enclosures: only an empty set of products; prove nothing
                    return chain
        if kf == 0:
            Z = (zlo, zhi)
            break
        dl, dh = D[kf - 1]
        sU, tU, sL, tL, mag, bad = _product_lines(dl, dh, zlo, zhi)
        if bad.any():
            return chain
        blines[kf - 1] = (sU, tU, sL, tL, mag)
        alo, ahi = _product_hull(dl, dh, zlo, zhi)
    glo = np.where(free, np.maximum(Z[0], ilo), 0.0)
    ghi = np.where(free, np.minimum(Z[1], ihi), 0.0)
    best = min(chain, _norm_up(glo, ghi, q))
    if q == "1" and H >= 1:
        best = min(best, _l1_joint(net, blines, top, glo, ghi, free, signs))
    return best


def _l1_joint(net, blines, top, glo, ghi, free, signs: int) -> float:
    """``‖g‖₁ ≤ max_s (sᵀg_E + Σ_rest (a_i g_i + b_i))`` over the signs ``s`` of the enumerated coordinates
    ``E`` (those of unknown sign with the largest ``b_i``), and ``≤ Σ (a_i g_i + b_i)``; each row bounded by
    back-substitution through the backward network. Returns the smaller of the two."""
    a, b = _abs_chord(glo, ghi)
    a = np.where(free, a, 0.0)
    b = np.where(free, b, 0.0)
    if not np.isfinite(b).all():
        return _INF
    order = np.argsort(-b, kind="stable")
    pick = [int(i) for i in order[:signs] if b[i] > 0]
    combos = list(itertools.product((-1.0, 1.0), repeat=len(pick)))
    rows = np.repeat(a[None, :], len(combos) + 1, axis=0)
    offs = np.repeat(b[None, :], len(combos) + 1, axis=0)
    for r, s in enumerate(combos):
        rows[r, pick] = s
        offs[r, pick] = 0.0
    acc = _sum_up(offs)
    ub = _backsub_backward(net, blines, 0, rows, None, acc, top)
    ub = np.where(np.isnan(ub), _INF, ub)
    joint = float(ub[:-1].max()) if combos and pick else _INF
    return min(joint, float(ub[-1]))


# ============================================================================================ leaves
def fixed_arrays(net: BacksubNet, fixed: dict) -> list[np.ndarray]:
    """``{(layer, neuron): ±1}`` as one int8 array per hidden layer."""
    out = [np.zeros(L.Wm.shape[0], dtype=np.int8) for L in net.layers[:-1]]
    for (k, j), s in fixed.items():
        out[k][j] = s
    return out


def leaf_upper(net: BacksubNet, xl: np.ndarray, xu: np.ndarray, fixed: dict, c: np.ndarray, norm: str,
               free: np.ndarray, root=None) -> float:
    """Upper bound of the Lipschitz constant of ``cᵀf`` (input norm ``norm``) on the part of the box
    ``[xl, xu]`` where the ``fixed`` signs hold: 0 when the part is proved empty (it bounds nothing).

    ``root``: confirmed bounds of the hidden layers over a box containing this one (:class:`RootBounds`).

    Rigorous: as :func:`gradient_upper` with the pre-activation bounds of :meth:`BacksubNet.forward`.
    """
    F = fixed_arrays(net, fixed)
    try:
        pre = net.forward(xl, xu, F, root=None if root is None else root.bounds)
    except _NoProof:
        return _INF
    if pre is None:
        return 0.0
    u = gradient_upper(net, pre, F, c, norm, free)
    return u if u == u else _INF


# ============================================================================================ halfspaces
def _shrink(G: np.ndarray, cc, xl: np.ndarray, xu: np.ndarray) -> bool:
    """Shrink ``[xl, xu]`` (in place) to the bounding box of its intersection with ``{x : Γ·x + c ≥ 0}``
    (``Γ ∈ G ± Gr``, ``cc = (c, Gr)``); False when the intersection is proved empty.

    ``Γ·x + c ≤ G·x + (c + Gr·|x|max) =: G·x + c'``. For coordinate ``j``: ``G_j x_j ≥ −c' − Σ_{l≠j} G_l x_l
    ≥ −c' − Σ_{l≠j} M_l`` with ``M_l ≥ max(G_l lo_l, G_l hi_l)`` (a linear term is largest at an end), all
    rounded in the safe direction; dividing by ``G_j`` bounds ``x_j`` below (``G_j > 0``) or above
    (``G_j < 0``). Empty when ``c' + Σ M_l < 0`` (the largest value over the box is negative).
    """
    c, Gr = cc
    with np.errstate(all="ignore"):
        mag = np.maximum(np.abs(xl), np.abs(xu))
        if Gr is not None:
            c = _up(c + _sum_up(_mul_up(Gr, mag)))
        M = np.maximum(_mul_up(G, xl), _mul_up(G, xu))
        S = _sum_up(M)
        if not np.isfinite(S) or not np.isfinite(c):
            return True
        if _up(S + c) < 0:
            return False
        rest = _up(S - _dn(M))  # ≥ Σ_{l≠j} M_l  (S ≥ Σ M and M_j ≥ its rounded-down copy)
        R = _dn(-c - rest)
        pos, neg = G > 0, G < 0
        new_lo = np.where(pos, _dn(R / np.where(pos, G, 1.0)), -_INF)
        new_hi = np.where(neg, _up(R / np.where(neg, G, -1.0)), _INF)
    ok = np.isfinite(R) & np.isfinite(M)
    xl[:] = np.where(ok & pos, np.maximum(xl, new_lo), xl)
    xu[:] = np.where(ok & neg, np.minimum(xu, new_hi), xu)
    return not (xl > xu).any()


def _farkas_empty(halfspaces: list, xl: np.ndarray, xu: np.ndarray) -> bool:
    """True if some ``λ ≥ 0`` makes ``max_{x ∈ box} Σ_i λ_i (Γ_i·x + c_i) < 0``: no point of the box lies in
    every halfspace ``Γ_i·x + c_i ≥ 0`` (Farkas' lemma). ``λ`` is a float LP solution (scipy HiGHS), a
    candidate only; the proof is the outward-rounded bound of that maximum (:func:`_shrink`'s test on the
    combined row, with the coefficients' rounding enclosed)."""
    try:
        from scipy.optimize import linprog
    except ImportError:
        return False
    mag = np.maximum(np.abs(xl), np.abs(xu))
    G = np.array([h[0] for h in halfspaces])
    c = np.array([h[1][0] if h[1][1] is None else float(_up(h[1][0] + _sum_up(_mul_up(h[1][1], mag))))
                  for h in halfspaces])
    if not (np.isfinite(G).all() and np.isfinite(c).all()):
        return False
    q, n = G.shape
    lo, hi = xl, xu
    # variables [λ (q), t (n)]: min c·λ + Σ t  s.t.  (Gᵀλ)_j lo_j ≤ t_j, (Gᵀλ)_j hi_j ≤ t_j, Σ λ = 1
    cost = np.concatenate([c, np.ones(n)])
    A = np.vstack([np.hstack([G.T * lo[:, None], -np.eye(n)]), np.hstack([G.T * hi[:, None], -np.eye(n)])])
    try:
        res = linprog(cost, A_ub=A, b_ub=np.zeros(2 * n), A_eq=np.concatenate([np.ones(q), np.zeros(n)])[None, :],
                      b_eq=[1.0], bounds=[(0, None)] * q + [(None, None)] * n, method="highs")
    except ValueError:
        return False
    if res.status != 0 or not res.fun < 0:
        return False
    lam = np.maximum(res.x[:q], 0.0)
    # the combined row Σ λ_i Γ_i with its rounding error, and Σ λ_i c_i rounded up
    a, E = _mm(lam[None, :], G)
    with np.errstate(all="ignore"):
        const = _dot_up(lam[None, :], None, c)[0]
        M = np.maximum(_mul_up(a[0], xl), _mul_up(a[0], xu))
        total = _up(_up(const + _sum_up(M)) + _sum_up(_mul_up(E[0], mag)))
    return bool(total < 0)


# ============================================================================================ evidence
@dataclass(frozen=True)
class RootBounds:
    """Confirmed bounds ``[(lo, hi), ...]`` of the hidden layers over the partitioned box."""

    bounds: list


def _floats(values, where: str, rounding: str) -> np.ndarray:
    """Exact numbers of the certificate as floats: rounded ``"down"`` (lower bounds), ``"up"`` (upper
    bounds) or to the ``"nearest"`` (slopes: any slope in ``[α, 1]`` is valid, checked after rounding)."""
    from verinet.evidence.checker import _q
    from verinet.evidence.checker_fast import float_down, float_up
    from verinet.errors import CertificateError

    if not isinstance(values, list):
        raise CertificateError(f"malformed certificate: {where} must be a list")
    out = np.empty(len(values))
    for i, v in enumerate(values):
        q = _q(v, f"{where}[{i}]")
        try:
            out[i] = float_down(q) if rounding == "down" else (float_up(q) if rounding == "up" else float(q))
        except OverflowError:
            out[i] = -_INF if rounding == "down" else (_INF if rounding == "up" else np.nan)
    return out


def confirm_root(net: BacksubNet, root: dict, dlo: np.ndarray, dhi: np.ndarray) -> RootBounds:
    """Parse the certificate's root evidence and confirm it: the checker's own bounds of every hidden
    layer over the box ``[dlo, dhi]`` (with the recorded slopes, each checked to lie in ``[α, 1]``) must lie
    inside the recorded ones, which are then used for every leaf. Raises the checker's ``_Invalid`` with the
    first failure, ``CertificateError`` for a malformed section."""
    from verinet.evidence.checker import _Invalid
    from verinet.errors import CertificateError

    if not isinstance(root, dict):
        raise CertificateError("malformed certificate: evidence.root must be an object")
    H = len(net.layers) - 1
    lows, ups = root.get("lower"), root.get("upper")
    if not (isinstance(lows, list) and isinstance(ups, list) and len(lows) == H and len(ups) == H):
        raise CertificateError(f"malformed certificate: evidence.root needs lower and upper bounds of {H} layers")
    rec = []
    for k in range(H):
        n_k = net.layers[k].Wm.shape[0]
        lo = _floats(lows[k], f"evidence.root.lower[{k}]", "down")  # a weaker claim: still sound
        hi = _floats(ups[k], f"evidence.root.upper[{k}]", "up")
        if lo.size != n_k or hi.size != n_k:
            raise CertificateError(f"malformed certificate: evidence.root layer {k} needs {n_k} bounds")
        rec.append((lo, hi))
    rows = {}
    items = root.get("slopes")
    if not isinstance(items, list):
        raise CertificateError("malformed certificate: evidence.root.slopes must be a list")
    for r, item in enumerate(items):
        if not isinstance(item, dict):
            raise CertificateError(f"malformed certificate: evidence.root.slopes[{r}] must be an object")
        k, i, side = item.get("layer"), item.get("neuron"), item.get("side")
        if not (isinstance(k, int) and isinstance(i, int) and side in (1, -1) and 0 < k < H
                and 0 <= i < net.layers[k].Wm.shape[0]):
            raise CertificateError(f"malformed certificate: evidence.root.slopes[{r}] names no hidden neuron")
        sl = item.get("slopes")
        if not isinstance(sl, list) or len(sl) != k:
            raise CertificateError(f"malformed certificate: evidence.root.slopes[{r}] needs slopes of {k} layers")
        vec = []
        for j in range(k):
            s = _floats(sl[j], f"evidence.root.slopes[{r}].slopes[{j}]", "nearest")
            a = net.layers[j].alpha
            if s.size != net.layers[j].Wm.shape[0]:
                raise CertificateError(f"malformed certificate: evidence.root.slopes[{r}] layer {j} has "
                                       f"{s.size} slopes")
            if not ((s >= a) & (s <= 1.0)).all():  # NaN fails too
                raise _Invalid(f"root slopes of neuron {[k, i]}: a lower-line slope outside [{a}, 1] "
                               "(no valid relaxation)")
            vec.append(s)
        rows[(k, i, side)] = vec
    zero = [np.zeros(L.Wm.shape[0], dtype=np.int8) for L in net.layers[:-1]]
    try:
        own = net.forward(dlo, dhi, zero, slope_rows=rows)
    except _NoProof as exc:
        raise _Invalid(f"root bounds: the checker cannot derive its own ({exc})") from None
    if own is None:
        raise _Invalid("root bounds: the checker's own bounds over the box cross (the box cannot be empty)")
    for k, ((lo, hi), (olo, ohi)) in enumerate(zip(rec, own)):
        bad = (lo > olo) | (hi < ohi)
        if bad.any():
            i = int(np.argmax(bad))
            raise _Invalid(f"root bounds: the recorded bounds of neuron {[k, i]} [{lo[i]!r}, {hi[i]!r}] are not "
                           f"confirmed (the checker derives [{olo[i]!r}, {ohi[i]!r}])")
    return RootBounds(rec)


class BacksubLeaves:
    """Re-derivation of back-substituted leaf bounds for one certificate (see the module docstring)."""

    def __init__(self, net: BacksubNet, c: np.ndarray, norm: str, free: np.ndarray, root: RootBounds | None,
                 domain=None):
        self.net, self.c, self.norm, self.free, self.root = net, c, norm, free, root
        self.domain = domain  # the partitioned box (Fractions), where the root bounds hold

    @classmethod
    def build(cls, layers, quantity, evidence: dict, region_free) -> BacksubLeaves | None:
        """For a certificate whose ``evidence.gradient`` is ``"backsub"`` (else None). Confirms the root
        evidence (``_Invalid`` on failure)."""
        from verinet.errors import CertificateError

        g = evidence.get("gradient", "interval")
        if g == "interval":
            return None
        if g != "backsub":
            raise CertificateError("malformed certificate: evidence.gradient must be 'interval' or 'backsub'")
        if quantity.c is None:
            raise CertificateError("malformed certificate: back-substituted gradient bounds need one output or "
                                   "a combination")
        try:
            net = BacksubNet.from_exact(layers)
            c = np.array([float(a) for a, b in quantity.c.fractions()])
            if any(Fraction(float(a)) != a for a, _ in quantity.c.fractions()):
                return None  # coefficients that are not floats: the exact path only
        except (ValueError, OverflowError):
            return None  # the exact path only
        root = domain = None
        if evidence.get("root") is not None:
            from verinet.evidence.checker import _qvec

            from verinet.evidence.checker_fast import float_down, float_up

            n = net.n_inputs
            # the recorded box rounded outward (a larger box: its bounds hold on the recorded one)
            dlo = np.array([float_down(v) for v in _qvec(evidence["domain"]["lower"], n, "evidence.domain.lower")])
            dhi = np.array([float_up(v) for v in _qvec(evidence["domain"]["upper"], n, "evidence.domain.upper")])
            root = confirm_root(net, evidence["root"], dlo, dhi)
            domain = (_qvec(evidence["domain"]["lower"], n, "evidence.domain.lower"),
                      _qvec(evidence["domain"]["upper"], n, "evidence.domain.upper"))
        return cls(net, c, quantity.norm, np.asarray(region_free, dtype=bool), root, domain)

    def upper(self, lo, hi, fixed: dict) -> float:
        """The re-derived upper bound of one leaf (0 for a part proved empty); ``lo``, ``hi`` floats, or
        Fractions (rounded outward: a larger box)."""
        from verinet.evidence.checker_fast import float_down, float_up

        if not isinstance(lo, np.ndarray):
            try:
                lo = np.array([float_down(v) for v in lo])
                hi = np.array([float_up(v) for v in hi])
            except OverflowError:  # beyond the float range: not confirmed here
                return _INF
        with np.errstate(all="ignore"):
            return leaf_upper(self.net, np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64), fixed,
                              self.c, self.norm, self.free, self.root)

    @property
    def exact_fallback(self) -> bool:
        """Whether a leaf this re-derivation does not confirm is worth the exact path (rationals and
        ball-arithmetic linear bounds, bisecting the leaf): on small inputs only; from
        :data:`EXACT_FALLBACK_INPUTS` inputs on it costs minutes per leaf and cannot be tighter."""
        return self.net.n_inputs < EXACT_FALLBACK_INPUTS

    def failure(self, lo, hi, fixed: dict, bound, i: int, source=None) -> str | None:
        """None if the re-derived bound confirms leaf ``i``'s recorded ``bound``, else the reason."""
        if source is not None:
            lo, hi, fixed = self._source_part(lo, hi, fixed, source)
        u = self.upper(lo, hi, fixed)
        if Fraction(u) <= Fraction(bound):
            return None
        return (f"leaf {i}: the checker's back-substituted bound {u!r} exceeds the leaf's recorded bound "
                f"{float(bound)!r}")

    def confirms(self, lo, hi, fixed: dict, bound, source=None) -> bool:
        """Whether the re-derived bound is ≤ the recorded ``bound`` (compared exactly; for l2 the norm itself
        is bounded above, no squares needed).

        ``source`` (``{"lower", "upper", "fixed"}`` of the certificate's ``evidence.sources``): the bound was
        computed on that larger part (an ancestor of the leaf). It is used only when it contains the leaf's
        part: its box contains the leaf's box and its fixed signs are some of the leaf's. The box is met with
        the partitioned box first (the root bounds hold there only); the leaf lies in both.
        """
        if source is not None:
            lo, hi, fixed = self._source_part(lo, hi, fixed, source)
        return Fraction(self.upper(lo, hi, fixed)) <= Fraction(bound)

    def _source_part(self, lo, hi, fixed: dict, source):
        from verinet.evidence.checker import _Invalid, _qvec
        from verinet.errors import CertificateError

        n = self.net.n_inputs
        if not isinstance(source, dict):
            raise CertificateError("malformed certificate: a leaf source must be an object")
        slo = _qvec(source.get("lower"), n, "source lower")
        shi = _qvec(source.get("upper"), n, "source upper")
        raw = source.get("fixed") or []
        if not isinstance(raw, list) or not all(isinstance(t, list) and len(t) == 3 for t in raw):
            raise CertificateError("malformed certificate: a leaf source's fixed signs must be [layer, neuron, ±1]")
        sf = {(t[0], t[1]): t[2] for t in raw}
        flo = [Fraction(v) for v in (lo.tolist() if isinstance(lo, np.ndarray) else lo)]
        fhi = [Fraction(v) for v in (hi.tolist() if isinstance(hi, np.ndarray) else hi)]
        if any(a > b for a, b in zip(slo, flo)) or any(a < b for a, b in zip(shi, fhi)):
            raise _Invalid("a leaf's source box does not contain the leaf")
        if any(fixed.get(key) != sgn for key, sgn in sf.items()):
            raise _Invalid("a leaf's source fixes a sign the leaf does not fix")
        if self.root is not None:  # the root bounds hold on the partitioned box only
            slo = [max(a, b) for a, b in zip(slo, self.domain[0])]
            shi = [min(a, b) for a, b in zip(shi, self.domain[1])]
        return slo, shi, sf

