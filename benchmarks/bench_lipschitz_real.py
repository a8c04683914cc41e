"""Lipschitz constants of trained networks: [lower, upper] after a short and a long time limit.

Run ``python benchmarks/bench_lipschitz_real.py`` (ACAS Xu and all ten MNIST properties, 60 s per run; each
case is run twice or three times, so about an hour) or choose cases: ``--props 0 3`` (MNIST property
indices, 0–9 in the order of ``mnistfc_instances.csv``), ``--no-acas``, ``--no-mnist``, ``--limit 20``,
``--long`` (adds runs with a 600 s limit), ``--no-before``, ``--workers 2``. Every number is measured in
this one run.

Table 1, ACAS Xu ``ACASXU_run2a_1_1_batch_2000.onnx`` (5-50×6-5), output 0, l∞ inputs (so the l1 norm of
the gradient), boxes ``[−0.01, 0.01]^5`` and ``[−0.3, 0.3]^5`` around 0 (normalised coordinates):

* ``one box``: the upper bound of the whole box from one evaluation, interval chain rule vs linear bounds
  (back-substitution through the forward and the backward pass, :mod:`verinet.bounds.jacobian_bounds`);
* ``previous``: the branch-and-bound with the rules it had before the low-dimensional work, restored in
  this process: every box with linear bounds and an unstable ReLU split on a neuron, batches of 128 boxes,
  no searches in the worst boxes (``--no-previous`` skips it);
* ``now``: ``lipschitz(..., time_limit=T, workers=W)`` with the defaults;
* ``up/low`` = upper/lower, the factor by which the true constant is still uncertain.

Table 2, the cases (l∞ inputs, ``cᵀf`` with the dual l1 norm of the gradient):

* MNIST ``mnist-net_256x2.onnx`` (784-256-256-10) on the input box of each VNN-LIB property, output 0 and
  the margin ``y_label − y_j`` (``j`` the runner-up class at the box centre).

Columns, per case and time limit ``T``:

* ``before``: ``lipschitz(..., search=0)`` — the lower bound from box centres, 16 random points and points
  inside fully fixed pieces only;
* ``after``: ``lipschitz(...)`` with the default search for large gradients (5 % of ``T``;
  :mod:`verinet.analyses.gradient_search`), whose points give rigorous lower bounds;
* ``baseline``: a plain search in the same ``T``, float64, not rigorous: 20,000 uniform random points,
  then projected sign-gradient ascent on ``±cᵀf`` (PGD steps, as an attack would take) from the best of
  them, recording ``‖∇(cᵀf)‖₁`` along the paths. The target is ``after.lower ≥ baseline``.

``up/low`` is upper/lower. The machine is shared and noisy: the load average is printed beside each row.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import os
import platform
import time
from pathlib import Path

import numpy as np

from verinet.analyses.gradient_search import approx_gradient_norms
from verinet.analyses.lipschitz import lipschitz
from verinet.io import load_network
from verinet.region import Region
from verinet.io.vnnlib import parse_vnnlib

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
ACAS = DATA / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx"
MNIST = DATA / "mnistfc" / "mnist-net_256x2.onnx"


def mnist_properties() -> list[Path]:
    with open(DATA / "mnistfc" / "mnistfc_instances.csv") as fh:
        rows = [r for r in csv.reader(fh) if r and "256x2" in r[0]]
    return [DATA / "mnistfc" / Path(r[1]).name for r in rows]


def label_of(prop) -> int:
    """The output that every unsafe constraint compares against (``Y_j >= Y_label``)."""
    common = None
    for conj in prop.cases[0].unsafe:
        for con in conj:
            idx = {j for j, c in enumerate(con.coef) if c}
            common = idx if common is None else common & idx
    if not common or len(common) != 1:
        raise ValueError("cannot read the label from the property")
    return common.pop()


def baseline_lower(net, c: np.ndarray, lo: np.ndarray, hi: np.ndarray, seconds: float, seed: int = 0) -> float:
    """Best float ``‖∇(cᵀf)‖₁`` found by 20,000 random points + PGD on ``±cᵀf`` in ``seconds`` (not rigorous)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    w = hi - lo
    best = 0.0
    X = lo + rng.random((20_000, len(lo))) * w
    vals = np.concatenate([approx_gradient_norms(net, c, X[i:i + 2000]) for i in range(0, len(X), 2000)])
    best = float(vals.max())
    starts = X[np.argsort(-vals)[:32]]
    from verinet.analyses.gradient_search import _Net

    fn = _Net(net)
    while time.perf_counter() - t0 < seconds:
        for sgn in (1.0, -1.0):
            Y = starts.copy()
            for t in range(50):
                zs = fn.forward(Y)
                G, _ = fn.backward(c, fn.gates(zs)[0])
                best = max(best, float(np.abs(G).sum(axis=1).max()))
                Y = np.clip(Y + sgn * 0.05 * (0.9 ** t) * w * np.sign(G), lo, hi)
                if time.perf_counter() - t0 >= seconds:
                    return best
        starts = lo + rng.random(starts.shape) * w  # fresh restarts
    return best


@contextlib.contextmanager
def previous_rules():
    """The branch-and-bound's rules before the low-dimensional work: neuron splits on every box with an
    unstable ReLU under linear bounds, fixed batches, no leaf searches."""
    mod = importlib.import_module("verinet.analyses.lipschitz")
    names = ("_LINEAR_BRANCH_SHARE", "_LINEAR_BRANCH_MAX", "_pop_count", "_LEAF_BOXES")
    saved = [getattr(mod, k) for k in names]
    for k, v in zip(names, (1.0, 10**9, lambda batch, *a: batch, 0)):
        setattr(mod, k, v)
    try:
        yield
    finally:
        for k, v in zip(names, saved):
            setattr(mod, k, v)


def one_box_upper(net, region, jacobian: str) -> float:
    return lipschitz(net, region, max_boxes=1, search=0.0, samples=0, bounds="linear" if jacobian == "linear"
                     else "interval", jacobian=jacobian, workers=1).upper


def acas_table(args, limits) -> None:
    net = load_network(ACAS)
    lipschitz(net, Region.box(["-0.01"] * 5, ["0.01"] * 5), time_limit=1.0, workers=args.workers)  # warm-up
    print(f"ACAS Xu 1_1, output 0, l∞ inputs, workers={args.workers}")
    print("| box | one box: interval | one box: linear | T (s) | previous [lower, upper] up/low | "
          "now [lower, upper] up/low | now boxes | load |")
    print("|---|---|---|---|---|---|---|---|")
    for r in args.boxes:
        region = Region.box([f"-{r}"] * 5, [r] * 5)
        iv, ln = one_box_upper(net, region, "interval"), one_box_upper(net, region, "linear")
        for T in limits:
            prev = "—"
            if not args.no_previous:
                with previous_rules():
                    rp = lipschitz(net, region, time_limit=T, workers=args.workers)
                prev = fmt(rp.lower, rp.upper)
            rn = lipschitz(net, region, time_limit=T, workers=args.workers)
            load = os.getloadavg()[0]
            print(f"| [-{r}, {r}]^5 | {iv:.4g} | {ln:.4g} | {T:g} | {prev} | {fmt(rn.lower, rn.upper)} "
                  f"({rn.status.value}, gap {rn.gap:.2g}) | {rn.boxes} | {load:.1f} |", flush=True)
    if "0.01" in args.boxes and not args.only_long:  # the target: relative gap 1e-3 within 120 s
        region = Region.box(["-0.01"] * 5, ["0.01"] * 5)
        runs = [("now", contextlib.nullcontext)] + ([] if args.no_previous else [("previous", previous_rules)])
        for name, ctx in runs:
            with ctx():
                rt = lipschitz(net, region, tol=1e-3, time_limit=120.0, workers=args.workers)
            print(f"[-0.01, 0.01]^5 to gap 1e-3, {name}: {rt.status.value} in {rt.seconds:.1f} s, {rt.boxes} boxes, "
                  f"{fmt(rt.lower, rt.upper)}, load {os.getloadavg()[0]:.1f}", flush=True)


def cases(args):
    out = []
    if not args.no_mnist:
        net = load_network(MNIST)
        props = mnist_properties()
        for p in args.props:
            prop = parse_vnnlib(props[p])
            case = prop.cases[0]
            region = Region.box(case.lower, case.upper)
            lab = label_of(prop)
            lo, hi = region.outer_box()
            y = net.approx_evaluate(0.5 * lo + 0.5 * hi)
            j = int(np.argsort(-y)[1]) if int(np.argmax(y)) == lab else int(np.argmax(y))
            margin = [0.0] * 10
            margin[lab], margin[j] = 1.0, -1.0
            out.append((f"MNIST {props[p].stem} y0", net, region, 0))
            out.append((f"MNIST {props[p].stem} y{lab}-y{j}", net, region, margin))
    return out


def fmt(lo: float, up: float) -> str:
    return f"[{lo:.4g}, {up:.4g}] {up / lo if lo > 0 else float('inf'):.3g}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=float, default=60.0, help="short time limit, seconds (default 60)")
    ap.add_argument("--long", action="store_true", help="also run with a 600 s limit")
    ap.add_argument("--long-limit", type=float, default=600.0)
    ap.add_argument("--props", type=int, nargs="*", default=list(range(10)), help="MNIST property indices 0-9")
    ap.add_argument("--no-acas", action="store_true")
    ap.add_argument("--no-mnist", action="store_true")
    ap.add_argument("--no-before", action="store_true", help="skip the runs without the gradient search")
    ap.add_argument("--no-previous", action="store_true", help="ACAS Xu: skip the runs with the previous rules")
    ap.add_argument("--only-long", action="store_true", help="ACAS Xu: only the long limit")
    ap.add_argument("--boxes", nargs="*", default=["0.01", "0.3"], help="ACAS Xu box radii")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    limits = [args.limit] + ([args.long_limit] if args.long else [])
    if args.only_long:
        limits = [args.long_limit]
    if not args.no_acas:
        acas_table(args, limits)
    if args.no_mnist:
        return
    print("| case | T (s) | before [lower, upper] up/low | after [lower, upper] up/low | baseline lower | "
          "after/baseline | load |")
    print("|---|---|---|---|---|---|---|")
    warmed = set()
    for name, net, region, output in cases(args):
        if id(net) not in warmed:  # compile the kernels outside the timed runs
            lipschitz(net, region, output=output, time_limit=1.0)
            warmed.add(id(net))
        c = np.zeros(net.n_outputs)
        if isinstance(output, int):
            c[output] = 1.0
        else:
            c[:] = output
        lo, hi = region.outer_box()
        for T in limits:
            before = "—"
            if not args.no_before:
                rb = lipschitz(net, region, output=output, time_limit=T, search=0.0)
                before = fmt(rb.lower, rb.upper)
            ra = lipschitz(net, region, output=output, time_limit=T)
            base = baseline_lower(net, c, lo, hi, T)
            load = os.getloadavg()[0]
            print(f"| {name} | {T:g} | {before} | {fmt(ra.lower, ra.upper)} | {base:.4g} | "
                  f"{ra.lower / base if base > 0 else float('inf'):.3g} | {load:.1f} |", flush=True)


if __name__ == "__main__":
    main()
