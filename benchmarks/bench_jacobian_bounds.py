"""Back-substituted gradient bounds vs interval chain rules: one box, and the full search.

Run ``python benchmarks/bench_jacobian_bounds.py`` (about 7 minutes: six searches of ``--time-limit``
seconds, 60 by default) or ``--quick`` (5 s searches). Every number is measured in this one run,
``time.perf_counter``, one process; the machine load (``os.getloadavg``) is printed beside each row.

Cases (l∞ input norm, so the gradient is measured in l1; output 0):

* ACAS Xu ``ACASXU_run2a_1_1_batch_2000.onnx`` on the boxes ``[-0.01, 0.01]^5`` and ``[-0.3, 0.3]^5``;
* MNIST ``mnist-net_256x2.onnx`` on the input box of ``prop_0_0.03.vnnlib``.

Table 1 (one box): the upper bound of the gradient norm over the whole box from the pre-activation bounds
the search uses (sound linear bounds, :mod:`verinet.bounds.linear`): the interval chain rule
(:func:`verinet.bounds.gradient.gradient_from_bounds`) vs back-substitution through the backward pass
(:func:`verinet.bounds.jacobian_bounds.gradient_bounds`, which also intersects with the former), with the
milliseconds each takes (median of ``--repeats``; the pre-activation bounds are computed once, not timed).
For reference, auto_LiRPA's float (not sound) Jacobian bounds on the same quantities: 577 (CROWN) / 130
(optimised), 3.2e5, 237 / 207.

Table 2 (search): ``[lower, upper]`` and ``upper/lower`` after ``--time-limit`` seconds of
:func:`verinet.analyses.lipschitz.lipschitz` with ``jacobian="interval"`` (before) and ``jacobian="linear"`` (after),
otherwise default options (linear pre-activation bounds, neuron splitting).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from verinet.bounds.backends import make_backend
from verinet.bounds.gradient import coefficient_vector, gradient_from_bounds
from verinet.bounds.jacobian_bounds import gradient_bounds
from verinet.bounds.linear import linear_propagate
from verinet.analyses.lipschitz import lipschitz
from verinet.io import load_network
from verinet.bounds.norms import gradient_norm_bounds
from verinet.region import Region
from verinet.io.vnnlib import parse_vnnlib

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def cases():
    acas = load_network(DATA / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx")
    out = [("ACAS Xu [-0.01,0.01]^5", acas, Region.box(["-0.01"] * 5, ["0.01"] * 5)),
           ("ACAS Xu [-0.3,0.3]^5", acas, Region.box(["-0.3"] * 5, ["0.3"] * 5))]
    mnist = load_network(DATA / "mnistfc" / "mnist-net_256x2.onnx")
    prop = parse_vnnlib(DATA / "mnistfc" / "prop_0_0.03.vnnlib")
    case = prop.cases[0]
    out.append(("MNIST 256x2 prop_0_0.03", mnist, Region.box(list(case.lower), list(case.upper))))
    return out


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def one_box(name, net, region, repeats: int) -> None:
    b = make_backend(net)
    lo, hi = region.outer_box()
    lo, hi = lo[None, :], hi[None, :]
    c = coefficient_vector(net, 0)
    bounds = linear_propagate(b, lo, hi)
    t_old, t_new = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        G = b.to_float(gradient_from_bounds(b, bounds, c, "auto"))
        old = float(gradient_norm_bounds(G, "inf")[1][0])
        t_old.append(time.perf_counter() - t)
        t = time.perf_counter()
        new = float(gradient_bounds(b, bounds, c, "inf", G=G).upper[0])
        t_new.append(time.perf_counter() - t)
    print(f"{name:<26} {old:>12.5g} {new:>12.5g} {old / new:>7.1f}x {statistics.median(t_old) * 1e3:>9.1f} "
          f"{statistics.median(t_new) * 1e3:>9.1f}   {load()}")


def search(name, net, region, time_limit: float) -> None:
    row = []
    for jac in ("interval", "linear"):
        r = lipschitz(net, region, norm="inf", output=0, time_limit=time_limit, jacobian=jac, workers=1)
        ratio = r.upper / r.lower if r.lower > 0 else float("inf")
        row.append(f"[{r.lower:.4g}, {r.upper:.4g}] {ratio:.3g} ({r.boxes} boxes, {r.seconds:.0f} s, "
                   f"{r.status.value})")
    print(f"{name:<26} {row[0]:<55} {row[1]:<55} {load()}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 s searches, 3 repeats")
    ap.add_argument("--time-limit", type=float, default=None, help="seconds per search (default 60; quick 5)")
    ap.add_argument("--repeats", type=int, default=None, help="timing repeats of the one-box bounds (default 7)")
    ap.add_argument("--tables", default="one-box,search", help="comma-separated subset of one-box, search")
    args = ap.parse_args(argv)
    time_limit = args.time_limit if args.time_limit is not None else (5.0 if args.quick else 60.0)
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 7)
    print(f"verinet Jacobian-bounds benchmark — python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} cpus; search cap {time_limit:g} s; load = 1/5/15-min loadavg")
    print()
    tables = set(args.tables.split(","))
    all_cases = cases()
    if "one-box" in tables:
        print("One box: upper bound of ‖∇f‖₁ (l∞ inputs), linear pre-activation bounds")
        print(f"{'case':<26} {'interval':>12} {'back-subst':>12} {'ratio':>8} {'ms int':>9} {'ms back':>9}   load")
        for name, net, region in all_cases:
            one_box(name, net, region, repeats)
        print()
    if "search" in tables:
        print(f"Search: [lower, upper] upper/lower after {time_limit:g} s (one worker)")
        print(f"{'case':<26} {'jacobian=interval (before)':<55} {'jacobian=linear (after)':<55} load")
        for name, net, region in all_cases:
            search(name, net, region, time_limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
