"""Independent linear bounds for the certificate checker: CROWN back-substitution in ball arithmetic.

Part of the checker (:mod:`verinet.evidence.checker`): it shares no code with verinet's fast path
(:mod:`verinet.bounds.linear`, ``intervals``, the backends). Arithmetic is python-flint's ``arb`` (midpoint-radius
balls, every operation outward-rounded, Johansson, "Arb: efficient arbitrary-precision midpoint-radius
interval arithmetic", IEEE Trans. Computers 2017) at the context's precision (read, never set: 53 bits by
default; any precision is sound), so the numbers computed enclose the exact real values of the same
formulas; the checker only compares *guaranteed* ends of balls (``lower()``/``upper()``, exact).

Mathematics (Zhang et al., CROWN, NeurIPS 2018, Thm 3.2; Singh et al., DeepPoly, POPL 2019): to bound
``Λ z_k`` from above over a box, with ``z_k = W_k a_{k−1} + b_k`` and ``a_j = σ(z_j)``, each activation is
replaced by a line above it (coefficient ≥ 0) or below it (coefficient < 0) on its pre-activation interval
``[l, u]``, then ``z_j`` is substituted, down to the input, where ``Γ x ≤ Γ x_m + |Γ| x_r`` over the box
``x_m ± x_r``. Lines for ``σ(z) = max(z, αz)``, ``0 ≤ α ≤ 1``:

* ``l ≥ 0``: ``z`` (exact); ``u ≤ 0``: ``α z`` (exact); a neuron whose sign the leaf fixes: ``z`` (+1) or
  ``α z`` (−1), exact on the part of the box where the sign holds;
* unstable: upper line the chord ``s (z − l) + α l`` with ``s = (u − α l)/(u − l)`` (σ is convex, so the
  chord through ``(l, σ(l))`` and ``(u, σ(u))`` lies above it on ``[l, u]``); lower line ``s z`` with
  ``s = 1`` if ``u ≥ −l`` else ``α`` (any ``s ∈ [α, 1]``: ``s z ≤ z`` for ``z ≥ 0`` and ``s z ≤ α z`` for
  ``z ≤ 0``).

A coefficient is a ball ``γ ∈ [m − r, m + r]`` whose sign may be unknown. Two lines: ``γ σ(z) = m σ(z) +
(γ − m) σ(z) ≤ m·line(z) + r·max|σ|`` with the line chosen by the sign of the exact midpoint ``m``
(``max|σ| = max(|σ(l)|, |σ(u)|)`` on ``[l, u]``). Every quantity is then a ball that contains the exact
value of a valid chain of inequalities, so its ``upper()`` is a valid upper bound.

Intermediate bounds: interval propagation (``W m ± |W| r``) of each layer, intersected with the
back-substituted bounds of the neurons it leaves unstable; the fixed neurons' intervals are intersected
with their sign's half-line (an empty intersection proves the part empty).
"""

from __future__ import annotations

from fractions import Fraction

__all__ = ["ArbNetwork", "flint_available"]

#: passes over a part with fixed signs, each from the box shrunk by the last pass's halfspaces
PASSES = 6


def flint_available() -> bool:
    try:
        import flint  # noqa: F401
    except ImportError:
        return False
    return True


def _flint():
    try:
        import flint
    except ImportError:
        raise ImportError("checking leaves proved by linear bounds needs python-flint "
                          "(pip install python-flint, or the dev extra)") from None
    return flint


class ArbNetwork:
    """A piecewise-linear network (exact rational weights) in ``arb`` balls, with the spec layer last.

    ``layers`` is a list of ``(W, b, act, alpha)``: ``W`` nested lists of Fractions (n_out × n_in), ``b``
    Fractions, ``act`` in ``relu``/``leaky_relu``/``identity``, ``alpha`` a Fraction.
    """

    def __init__(self, layers) -> None:
        flint = _flint()
        self.arb, self.arb_mat, self.fmpq = flint.arb, flint.arb_mat, flint.fmpq
        self.ctx = flint.ctx
        self._shrink = self.arb(7) / 8  # another pass when a width shrank by more than 1/8
        self.W, self.absW, self.b, self.act, self.alpha = [], [], [], [], []
        for W, b, act, alpha in layers:
            self.W.append(self.arb_mat([[self._q(v) for v in row] for row in W]))
            self.absW.append(self.arb_mat([[self._q(abs(v)) for v in row] for row in W]))
            self.b.append(self.arb_mat([[self._q(v)] for v in b]))
            self.act.append(act)
            self.alpha.append(self._q(alpha))

    @classmethod
    def from_exact(cls, layers) -> ArbNetwork:
        """From the checker's exact layers (integer numerators ``Wn``, ``bn`` over ``den``; slope
        ``a_num/a_den``)."""
        return cls([([[Fraction(w, L.den) for w in row] for row in L.Wn], [Fraction(v, L.den) for v in L.bn], L.act,
                     Fraction(L.a_num, L.a_den)) for L in layers])

    def _q(self, v: Fraction):
        """A ball containing the rational ``v`` (exact for dyadic values within the context's precision)."""
        return self.arb(self.fmpq(v.numerator, v.denominator))

    # ------------------------------------------------------------------------------------------ pieces
    def _ibp(self, k: int, lo: list, hi: list) -> tuple[list, list]:
        """Exact-ended bounds of ``z_k = W a + b`` over ``a ∈ [lo, hi]``: ``W m + b ± |W| r``."""
        half = self.arb(1) / 2
        m = self.arb_mat([[(a + c) * half] for a, c in zip(lo, hi)])
        r = self.arb_mat([[(c - a) * half] for a, c in zip(lo, hi)])
        centre = self.W[k] * m + self.b[k]
        rad = self.absW[k] * r
        n = centre.nrows()
        return ([(centre[i, 0] - rad[i, 0]).lower() for i in range(n)],
                [(centre[i, 0] + rad[i, 0]).upper() for i in range(n)])

    def _sigma(self, k: int, v):
        """σ at an exact point (ReLU / leaky ReLU / identity)."""
        act = self.act[k]
        if act == "identity" or v >= 0:
            return v
        return v * self.alpha[k] if act == "leaky_relu" else self.arb(0)

    def _lines(self, k: int, lo: list, hi: list, fixed: dict):
        """Per neuron ``(sU, tU, sL, tL, A)`` (lines and ``max|σ|``), or None for an exact line ``s z``
        given by ``sU`` only (then sL = sU and the intercepts are 0)."""
        act = self.act[k]
        one, zero = self.arb(1), self.arb(0)
        alpha = self.alpha[k] if act == "leaky_relu" else zero
        out = []
        for i, (l, u) in enumerate(zip(lo, hi)):
            sign = fixed.get((k, i))
            if act == "identity":
                out.append((one, None))
            elif sign == 1 or (sign is None and l >= 0):  # σ(z) = z on the part
                out.append((one, None))
            elif sign == -1 or u <= 0:  # σ(z) = α z on the part
                out.append((alpha, None))
            else:  # unstable: chord above, s z below
                s = (u - alpha * l) / (u - l)
                t = alpha * l - s * l
                sl = one if u >= -l else alpha
                amax = u if u >= -(alpha * l) else -(alpha * l)
                out.append((s, (t, sl, amax)))
        return out

    def _backsub(self, k: int, rows, lines: list, xlo: list, xhi: list, keep: bool = False):
        """Upper bounds (exact arbs) of ``rows · z_k`` over the part, ``rows`` an arb_mat (r × n_k).

        With ``keep``, also the linear functions themselves: ``(bounds, G, c)`` with ``rows · z_k(x) ≤
        g·x + c`` on the part for some exact ``g``, ``c`` inside the balls of row ``p`` of ``G`` and ``c``.
        """
        G = rows * self.W[k]
        c = rows * self.b[k]
        r = G.nrows()
        for j in range(k - 1, -1, -1):
            lj = lines[j]
            n = len(lj)
            D = self.arb_mat(n, n)
            unstable = []
            for i, (s, extra) in enumerate(lj):
                if extra is None:
                    D[i, i] = s
                else:
                    unstable.append(i)
            G2 = G * D
            for i in unstable:
                sU, (tU, sL, amax) = lj[i]
                for p in range(r):
                    g = G[p, i]
                    m, rad = g.mid(), g.rad()
                    if m >= 0:  # upper line: m (sU z + tU) + rad·max|σ|
                        G2[p, i] = m * sU
                        c[p, 0] = c[p, 0] + m * tU + rad * amax
                    else:  # lower line (no intercept): m sL z + rad·max|σ|
                        G2[p, i] = m * sL
                        c[p, 0] = c[p, 0] + rad * amax
            G = G2 * self.W[j]
            c = c + G2 * self.b[j]
        half = self.arb(1) / 2
        xm = self.arb_mat([[(a + b) * half] for a, b in zip(xlo, xhi)])
        xr = [(b - a) * half for a, b in zip(xlo, xhi)]
        Gm = G * xm
        out = []
        for p in range(r):
            s = c[p, 0] + Gm[p, 0]
            for i, w in enumerate(xr):
                s = s + abs(G[p, i]) * w
            out.append(s.upper())
        return (out, G, c) if keep else out

    def _tighten(self, halfspaces: list, xl: list, xh: list) -> tuple[list, list] | None:
        """The box shrunk by the halfspaces ``g·x + c ≥ 0`` (balls ``g``, ``c``; valid on the part), or
        None when it becomes empty.

        For coordinate ``j``: ``g_j x_j ≥ −c − Σ_{l≠j} g_l x_l ≥ R``, with ``R`` the lower end of
        ``−c − Σ_{l≠j} M_l`` and ``M_l`` the upper end of ``max(g_l lo_l, g_l hi_l)`` (a linear term is
        extreme at an end). Dividing by ``g_j`` (a ball of one sign) bounds ``x_j`` below (``g_j > 0``) or
        above (``g_j < 0``); the new ends are the guaranteed ends of the ball quotient.
        """
        lo, hi = [v.lower() for v in xl], [v.upper() for v in xh]
        for g, c in halfspaces:
            M = [max((gl * a).upper(), (gl * b).upper()) for gl, a, b in zip(g, lo, hi)]
            total = sum(M, self.arb(0))
            for j, gj in enumerate(g):
                if not (gj > 0 or gj < 0):
                    continue
                R = (-c - (total - M[j])).lower()
                q = R / gj
                if gj > 0 and q.lower() > lo[j]:
                    lo[j] = q.lower()
                elif gj < 0 and q.upper() < hi[j]:
                    hi[j] = q.upper()
                if lo[j] > hi[j]:
                    return None
        return lo, hi

    def _parts(self, xl: list, xh: list, fixed: dict, n_layers: int):
        """:meth:`_forward` on the box shrunk to the part by the halfspaces of its fixed neurons, up to
        :data:`PASSES` times (each box contains the part, so every pass is valid), or None if empty."""
        got = self._forward(xl, xh, fixed, n_layers)
        for _ in range(PASSES - 1):
            if got is None or not got[3]:
                break
            box = self._tighten(got[3], xl, xh)
            if box is None:
                return None
            moved = any((b - a) < (h - l) * self._shrink for a, b, l, h in zip(*box, xl, xh))
            xl, xh = box
            got = self._forward(xl, xh, fixed, n_layers)
            if not moved:
                break
        if got is not None and len(got[3]) >= 2 and self._farkas_empty(got[3], xl, xh):
            return None
        return None if got is None else (*got, (xl, xh))

    def _farkas_empty(self, halfspaces: list, xl: list, xh: list) -> bool:
        """True if a non-negative combination of the halfspaces ``g·x + c ≥ 0`` is negative on the whole
        box, so that no point of the box satisfies them all (Farkas' lemma).

        The weights ``λ`` are a float LP solution (scipy HiGHS: minimise ``max_box Σ λ_i (g_i·x + c_i)``
        over the simplex), a candidate only; the proof is the ball evaluation of ``Σ λ_i c_i + Σ_j
        max(a_j lo_j, a_j hi_j)`` with ``a = Σ λ_i g_i`` (a linear function is largest at an end of each
        interval), whose guaranteed upper end must be < 0.
        """
        try:
            import numpy as np
            from scipy.optimize import linprog
        except ImportError:
            return False
        q, n = len(halfspaces), len(xl)
        g = np.array([[float(v.mid()) for v in gi] for gi, _ in halfspaces])
        c = np.array([float(ci.mid()) for _, ci in halfspaces])
        lo = np.array([float(v.mid()) for v in xl])
        hi = np.array([float(v.mid()) for v in xh])
        if not (np.isfinite(g).all() and np.isfinite(c).all()):
            return False
        # variables [λ (q), u (n)]: min c·λ + Σ u  s.t.  (gᵀλ)_j lo_j ≤ u_j, (gᵀλ)_j hi_j ≤ u_j, Σ λ = 1
        cost = np.concatenate([c, np.ones(n)])
        A = np.vstack([np.hstack([g.T * lo[:, None], -np.eye(n)]), np.hstack([g.T * hi[:, None], -np.eye(n)])])
        res = linprog(cost, A_ub=A, b_ub=np.zeros(2 * n),
                      A_eq=np.concatenate([np.ones(q), np.zeros(n)])[None, :], b_eq=[1.0],
                      bounds=[(0, None)] * q + [(None, None)] * n, method="highs")
        if res.status != 0 or not res.fun < 0:
            return False
        lam = [self.arb(float(v)) for v in np.maximum(res.x[:q], 0.0)]  # floats: exact as arbs
        total = sum((li * ci for li, (_, ci) in zip(lam, halfspaces)), self.arb(0))
        for j in range(n):
            a = sum((li * gi[j] for li, (gi, _) in zip(lam, halfspaces)), self.arb(0))
            total += max((a * xl[j]).upper(), (a * xh[j]).upper())
        return bool(total.upper() < 0)

    # ------------------------------------------------------------------------------------------ entry
    def _forward(self, xl: list, xh: list, fixed: dict, n_layers: int):
        """Pre-activation bounds ``[(lo, hi), ...]`` (exact arbs) and relaxation lines of the first
        ``n_layers`` layers over the part, or None when the part is empty."""
        a_lo, a_hi = [v.lower() for v in xl], [v.upper() for v in xh]
        lines, bounds, halfspaces = [], [], []
        for k in range(n_layers):
            lo, hi = self._ibp(k, a_lo, a_hi)
            kinked = self.act[k] != "identity"
            unstable = [i for i, (l, u) in enumerate(zip(lo, hi)) if kinked and (k, i) not in fixed and l < 0 < u]
            mine = [i for i in range(len(lo)) if (k, i) in fixed]
            refine = mine + unstable
            if k == 0:  # z = W x + b exactly: the sign constraint itself, s·(W x + b) ≥ 0
                n_in = self.W[0].ncols()
                for i in mine:
                    s = fixed[(0, i)]
                    halfspaces.append(([self.W[0][i, j] * s for j in range(n_in)], self.b[0][i, 0] * s))
            if refine and k > 0:
                rows = self.arb_mat(2 * len(refine), len(lo))
                for p, i in enumerate(refine):
                    rows[2 * p, i] = 1
                    rows[2 * p + 1, i] = -1
                ub, G, c = self._backsub(k, rows, lines, xl, xh, keep=True)
                n_in = G.ncols()
                for p, i in enumerate(mine):  # +1: 0 ≤ z ≤ g·x + c;  −1: 0 ≥ z ≥ −(g'·x + c')
                    q = 2 * p if fixed[(k, i)] > 0 else 2 * p + 1
                    halfspaces.append(([G[q, j] for j in range(n_in)], c[q, 0]))
                for p, i in enumerate(refine):  # both are enclosures: keep the tighter end
                    u, l = ub[2 * p], -ub[2 * p + 1]
                    if u < hi[i]:
                        hi[i] = u
                    if l > lo[i]:
                        lo[i] = l
            for (kk, i), sign in fixed.items():  # the part: z ≥ 0 (+1) or z ≤ 0 (−1)
                if kk != k:
                    continue
                if sign > 0 and lo[i] < 0:
                    lo[i] = self.arb(0)
                if sign < 0 and hi[i] > 0:
                    hi[i] = self.arb(0)
                if lo[i] > hi[i]:
                    return None
            bounds.append((lo, hi))
            lines.append(self._lines(k, lo, hi, fixed))
            a_lo = [self._sigma(k, v) for v in lo]  # σ non-decreasing: ends to ends
            a_hi = [self._sigma(k, v) for v in hi]
        return bounds, lines, (a_lo, a_hi), halfspaces

    def preactivations(self, xlo: list[Fraction], xhi: list[Fraction], fixed: dict):
        """Pre-activation bounds of every layer as ``[(lo, hi), ...]`` lists of Fractions over the part of
        the box where the ``fixed`` neurons have their signs (clamped to them); None when it is empty.

        Rigorous: each interval contains ``z_k(x)`` for every real ``x`` of the part.
        """
        got = self._parts([self._q(v) for v in xlo], [self._q(v) for v in xhi], fixed, len(self.W))
        if got is None:
            return None
        return [([_fraction(v) for v in lo], [_fraction(v) for v in hi]) for lo, hi in got[0]]

    def output_lower(self, xlo: list[Fraction], xhi: list[Fraction], fixed: dict, atoms: list[int]):
        """Guaranteed lower bounds (exact arbs) of the outputs ``atoms`` of the last (identity) layer over
        the part of the box where the ``fixed`` neurons ``{(layer, neuron): ±1}`` have their signs; None
        when the part is empty.

        Rigorous: each returned value is ≤ ``z_i(x)`` for every real ``x`` of the box satisfying the sign
        constraints (exact weights; ball arithmetic encloses every rounding).
        """
        xl = [self._q(v) for v in xlo]
        xh = [self._q(v) for v in xhi]
        last = len(self.W) - 1
        got = self._parts(xl, xh, fixed, last)
        if got is None:
            return None
        _, lines, (a_lo, a_hi), _, (xl, xh) = got
        lo, _ = self._ibp(last, a_lo, a_hi)
        rows = self.arb_mat(len(atoms), len(lo))
        for p, i in enumerate(atoms):
            rows[p, i] = -1
        ub = self._backsub(last, rows, lines, xl, xh)
        return [max(lo[i], -v) for i, v in zip(atoms, ub)]


def _fraction(v) -> Fraction:
    """The exact value of an exact arb (radius 0, as ``lower()``/``upper()`` return)."""
    if v.rad() != 0:
        raise ArithmeticError("internal: an inexact ball where an exact end was expected")
    m, e = v.man_exp()
    m, e = int(m), int(e)
    return Fraction(m * 2 ** e) if e >= 0 else Fraction(m, 2 ** -e)
