"""Lipschitz constants of the MNIST 784-256x2-10 network: one-box bounds, [lower, upper] after 60 s / 600 s.

Run ``python benchmarks/bench_lipschitz_mnist.py`` (properties 0, 1, 2 of ``mnistfc_instances.csv``, output
0 and the margin ``y_label − y_j``; about 15 minutes) or choose: ``--props 0``, ``--outputs y0``,
``--limit 60``, ``--long`` (adds 600 s runs), ``--milp-seconds 60``, ``--tighten none root beta`` (the
pre-activation tightenings of :class:`verinet.analyses.lipschitz_neuron._Tightening` to compare, one row each:
``none`` is the search without them). Every number is measured in this run;
the machine load (``os.getloadavg``, 1 min) is printed beside each row: the machine is shared and noisy.

l∞ input box of each VNN-LIB property, ``‖∇(cᵀf)‖₁``. Columns:

* ``one-box interval`` / ``one-box linear``: sound upper bounds over the whole box from the linear
  pre-activation bounds: interval chain rule vs back-substitution through the backward pass
  (:mod:`verinet.bounds.jacobian_bounds`); ``one-box tightened``: the latter from the row's tightened bounds
  (the root of the search);
* ``[lower, upper] up/low``: :func:`verinet.analyses.lipschitz.lipschitz` with default options and ``time_limit=T``
  (for 784 inputs: the neuron-sign branch-and-bound of :mod:`verinet.analyses.lipschitz_neuron`, lower bounds from
  the gradient search and the MILP sign ascent); rigorous;
* ``float MILP bound (not sound)``: the dual bound of HiGHS on the MILP of :mod:`verinet.analyses.gradient_milp`
  after ``--milp-seconds`` — float tolerances and float big-M constants, so NOT a bound; it shows where the
  true constant lies;
* ``baseline lower``: 20,000 random points + PGD on ``±cᵀf`` for ``T`` seconds (float, not rigorous;
  :func:`bench_lipschitz_real.baseline_lower`), once per case and limit;
* ``up/none``: the row's upper bound over the ``none`` row's upper bound of the same case and limit.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lipschitz_real import MNIST, baseline_lower, label_of, mnist_properties  # noqa: E402

from verinet.bounds.backends import make_backend  # noqa: E402
from verinet.bounds.gradient import gradient_from_bounds  # noqa: E402
from verinet.analyses.gradient_milp import gradient_milp  # noqa: E402
from verinet.bounds.jacobian_bounds import gradient_bounds  # noqa: E402
from verinet.bounds.linear import linear_propagate  # noqa: E402
import verinet.analyses.lipschitz_neuron as ln  # noqa: E402
from verinet.analyses.lipschitz import _Evaluator, lipschitz  # noqa: E402
from verinet.io import load_network  # noqa: E402
from verinet.bounds.norms import gradient_norm_bounds  # noqa: E402
from verinet.region import Region  # noqa: E402
from verinet.io.vnnlib import parse_vnnlib  # noqa: E402


def cases(net, props: list[int], outputs: list[str]):
    paths = mnist_properties()
    out = []
    for p in props:
        prop = parse_vnnlib(paths[p])
        region = Region.box(prop.cases[0].lower, prop.cases[0].upper)
        lab = label_of(prop)
        lo, hi = region.outer_box()
        y = net.approx_evaluate(0.5 * lo + 0.5 * hi)
        j = int(np.argsort(-y)[1]) if int(np.argmax(y)) == lab else int(np.argmax(y))
        c = np.zeros(10)
        if "y0" in outputs:
            c0 = c.copy()
            c0[0] = 1.0
            out.append((f"{paths[p].stem} y0", region, 0, c0))
        if "margin" in outputs:
            cm = c.copy()
            cm[lab], cm[j] = 1.0, -1.0
            out.append((f"{paths[p].stem} y{lab}-y{j}", region, [float(v) for v in cm], cm))
    return out


def one_box(net, region, c) -> tuple[float, float, list]:
    b = make_backend(net)
    lo, hi = region.outer_box()
    bounds = linear_propagate(b, lo[None, :], hi[None, :])
    G = b.to_float(gradient_from_bounds(b, bounds, c, "auto"))
    old = float(gradient_norm_bounds(G, "inf")[1][0])
    jb = gradient_bounds(b, bounds, c, "inf", G=G)
    pre = [(np.asarray(p.lo).reshape(-1), np.asarray(p.hi).reshape(-1)) for p in bounds.pre]
    return old, float(jb.upper[0]), [pre, (jb.lo[0], jb.hi[0])]


def one_box_tightened(net, region, c, mode: str) -> float:
    """The root upper bound of the neuron search with tightening ``mode``."""
    lo, hi = region.outer_box()
    ev = _Evaluator(net, c, "inf", None, None, "linear", "linear")
    F = np.zeros((1, ev.n_kinked), dtype=np.int8)
    up, _, _ = ln._evaluate(ev, net, lo, hi, F, tight=ln._Tightening(net, ev.kinked, mode))
    return float(up[0])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=float, default=60.0)
    ap.add_argument("--long", action="store_true", help="also run with a 600 s limit")
    ap.add_argument("--long-limit", type=float, default=600.0)
    ap.add_argument("--only-long", action="store_true", help="run only the long limit")
    ap.add_argument("--props", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--outputs", nargs="*", default=["y0", "margin"], choices=["y0", "margin"])
    ap.add_argument("--milp-seconds", type=float, default=30.0, help="time for the float MILP bound (0: skip)")
    ap.add_argument("--tighten", nargs="*", default=[ln.TIGHTEN], choices=list(ln.TIGHTENINGS),
                    help="pre-activation tightenings to compare (one row each)")
    args = ap.parse_args(argv)
    net = load_network(MNIST)
    print(f"# MNIST 784-256x2-10, {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    limits = [] if args.only_long else [args.limit]
    limits += [args.long_limit] if args.long or args.only_long else []
    print("| case | tighten | one-box interval | one-box linear | one-box tightened | T (s) "
          "| [lower, upper] up/low | up/none | boxes | float MILP bound (not sound) | baseline lower | lower/baseline | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    lipschitz(net, Region.box(["0"] * 784, ["0.01"] * 784), output=0, time_limit=2.0)  # compile kernels
    for name, region, output, c in cases(net, args.props, args.outputs):
        old, new, (pre, gb) = one_box(net, region, c)
        lo, hi = region.outer_box()
        fb = "—"
        if args.milp_seconds > 0:
            res = gradient_milp(net, c, lo, hi, pre=pre, grad_bounds=gb, seconds=args.milp_seconds)
            fb = f"{res.float_bound:.4g} ({args.milp_seconds:g} s)"
        for T in limits:
            base = baseline_lower(net, c, lo, hi, T)
            ref = None
            for mode in args.tighten:
                tight = one_box_tightened(net, region, c, mode)
                saved = ln.TIGHTEN
                ln.TIGHTEN = mode  # the search's default tightening, for this row only
                try:
                    t = time.perf_counter()
                    r = lipschitz(net, region, output=output, time_limit=T)
                    el = time.perf_counter() - t
                finally:
                    ln.TIGHTEN = saved
                ratio = r.upper / r.lower if r.lower > 0 else float("inf")
                ref = r.upper if mode == "none" else ref
                rel = f"{r.upper / ref:.3g}" if ref else "—"
                print(f"| {name} | {mode} | {old:.4g} | {new:.4g} | {tight:.4g} | {T:g} ({el:.0f}) | "
                      f"[{r.lower:.4g}, {r.upper:.4g}] {ratio:.3g}x | {rel} | {r.boxes} | {fb} | "
                      f"{base:.4g} | {r.lower / base:.3g} | {os.getloadavg()[0]:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
