"""Exact matrix–box products: the certificate checker's integer loops against SymPy's ``DomainMatrix``.

Run ``python benchmarks/bench_exact_products.py`` (under a minute). The checker (``verinet.evidence.checker``)
encloses ``W x + b`` over a box exactly, with integer numerators over one common denominator (its
``_affine``). This script times that against

* the same product written with ``fractions.Fraction`` entries (the textbook loop),
* ``sympy.polys.matrices.DomainMatrix`` over ZZ (the checker's integer numerators; the interval product
  needs two matrix–vector products, ``W⁺ lo + W⁻ hi`` and ``W⁺ hi + W⁻ lo``) and over QQ (point box
  only: one product of rationals),

on float64 weights (He-initialised) and float64 box endpoints, i.e. exact dyadic rationals of realistic
size. Every number is measured in this run (best of repeats, ``time.perf_counter``); SymPy's ground
types (python ints, gmpy2 or python-flint) are printed, ``SYMPY_GROUND_TYPES=python`` forces plain ints.
Results are checked equal before they are timed.
"""

from __future__ import annotations

import os
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verinet.evidence.checker import _affine, _ExactLayer, _IVec, _scaled  # noqa: E402


def best(fn, repeats: int) -> float:
    fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def fraction_affine(W, b, lo, hi):
    zl, zh = [], []
    for row, bi in zip(W, b):
        sl = sh = bi
        for w, l, h in zip(row, lo, hi):
            if w > 0:
                sl += w * l
                sh += w * h
            elif w < 0:
                sl += w * h
                sh += w * l
        zl.append(sl)
        zh.append(sh)
    return zl, zh


def case(n: int, repeats: int, rng) -> list[tuple]:
    from sympy.polys.domains import QQ, ZZ
    from sympy.polys.matrices import DomainMatrix

    Wf = rng.standard_normal((n, n)) * np.sqrt(2.0 / n)
    bf = rng.standard_normal(n) * 0.01
    xf = rng.random(n)
    W = [[Fraction(v) for v in row] for row in Wf.tolist()]
    b = [Fraction(v) for v in bf.tolist()]
    lo = [Fraction(v) for v in xf.tolist()]
    hi = [Fraction(v) + Fraction(1, 2**20) for v in xf.tolist()]
    nums, den = _scaled([v for row in W for v in row] + b)
    rows = tuple(tuple(nums[i * n:(i + 1) * n]) for i in range(n))
    L = _ExactLayer(rows, tuple(nums[n * n:]), den, "identity", 0, 1)
    box = _IVec.box(lo, hi)
    ref = [(Fraction(a, 1), Fraction(c, 1)) for a, c in zip(*fraction_affine(W, b, lo, hi))]
    assert _affine(L, box).fractions() == ref

    # DomainMatrix over ZZ: W⁺, W⁻ numerators; (W⁺ lo + W⁻ hi + b·d, W⁺ hi + W⁻ lo + b·d) / (D·d)
    Wp = DomainMatrix([[ZZ(max(v, 0)) for v in row] for row in L.Wn], (n, n), ZZ)
    Wm = DomainMatrix([[ZZ(min(v, 0)) for v in row] for row in L.Wn], (n, n), ZZ)
    xl = DomainMatrix([[ZZ(v)] for v in box.lo], (n, 1), ZZ)
    xh = DomainMatrix([[ZZ(v)] for v in box.hi], (n, 1), ZZ)
    bd = DomainMatrix([[ZZ(v * box.den)] for v in L.bn], (n, 1), ZZ)

    def dm_zz():
        return Wp * xl + Wm * xh + bd, Wp * xh + Wm * xl + bd

    zl, zh = dm_zz()
    D = L.den * box.den
    pairs = zip(zl.to_list_flat(), zh.to_list_flat())
    assert [(Fraction(int(a), D), Fraction(int(c), D)) for a, c in pairs] == ref

    # DomainMatrix over QQ, point box (one product of rationals), against the checker on the same point box
    Wq = DomainMatrix([[QQ(v.numerator, v.denominator) for v in row] for row in W], (n, n), QQ)
    xq = DomainMatrix([[QQ(v.numerator, v.denominator)] for v in lo], (n, 1), QQ)
    pbox = _IVec.box(lo, lo)

    def dm_qq():
        return Wq * xq

    t_chk = best(lambda: _affine(L, box), repeats)
    t_chk_pt = best(lambda: _affine(L, pbox, bias=False), repeats)
    t_fr = best(lambda: fraction_affine(W, b, lo, hi), max(1, repeats // 3))
    t_zz = best(dm_zz, repeats)
    t_qq = best(dm_qq, repeats)
    return [(n, "box", "checker _affine (ints)", t_chk, 1.0), (n, "box", "Fraction loop", t_fr, t_fr / t_chk),
            (n, "box", "DomainMatrix ZZ (4 products)", t_zz, t_zz / t_chk),
            (n, "point", "checker _affine (ints)", t_chk_pt, 1.0),
            (n, "point", "DomainMatrix QQ (1 product)", t_qq, t_qq / t_chk_pt)]


def main() -> int:
    try:
        import sympy
        from sympy.polys.domains import ZZ
    except ImportError:
        print("this comparison needs SymPy (not a verinet dependency): pip install sympy", file=sys.stderr)
        return 1

    rng = np.random.default_rng(7)
    print(f"# sympy {sympy.__version__}, ground type {ZZ.dtype.__module__}.{ZZ.dtype.__name__}, "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"{'n':>4} {'box':>6}  {'method':<30}{'time':>12}{'vs checker':>12}")
    for n in (50, 300):
        for row in case(n, 5 if n == 50 else 3, rng):
            print(f"{row[0]:>4} {row[1]:>6}  {row[2]:<30}{row[3] * 1e3:>9.2f} ms{row[4]:>11.2f}x")
    print(f"# load {os.getloadavg()[0]:.2f} after the run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
