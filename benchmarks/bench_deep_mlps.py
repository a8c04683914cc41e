"""Robustness properties on deeper MLPs than the shared MNIST network: a generalisation check, not a score.

The shared data has one MNIST network (256x2); VNN-COMP's ``mnistfc`` also has 256x4 and 256x6 networks.
This script builds seeded *synthetic* stand-ins — 784 inputs, ``depth`` hidden layers of 256 ReLUs (He
initialisation, float32 weights like an ONNX export), 10 outputs — and asks the ``mnistfc`` question
around the centres of the shared MNIST properties: is the network's own label (its float argmax at the
centre) kept on the l∞ ball of radius ``eps`` clipped to [0, 1]? Each instance is decided with the default
bounds (optimised slopes and split multipliers) under the competition's 120 s limit (``--timeout``), and
again with plain linear bounds (``--check`` seconds, shorter) as a cross-check: the two answers must never
contradict (one ``sat``, the other ``unsat``), and every ``sat`` witness is re-checked in exact arithmetic.
Random weights are not trained weights: the figures say that the method runs and stays consistent on
deeper networks, not how hard real 256x4/256x6 instances are. The machine's load average is printed.

A second table times one exact confirmation (``Network.evaluate_exact`` at a point of the first property)
on each network: the integer evaluation of :mod:`verinet.bounds.exact_eval` with a cold cache (weights converted)
and a warm one, against the ``Fraction`` loop it replaced (weights converted to Fractions on every call,
kept here as the baseline); the results are checked equal.

Run ``python benchmarks/bench_deep_mlps.py [--depths 4,6] [--images 0,1,2] [--eps 0.005,0.01]``
(``--confirm-only`` prints only the confirmation table).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from intervals.rounding import to_fraction
from verinet.bounds.exact_eval import integer_layer
from verinet.network import Activation, Layer, Network
from verinet.analyses.verify import verify_vnnlib
from verinet.io.vnnlib import parse_vnnlib

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "mnistfc"


def deep_mlp(depth: int, seed: int) -> Network:
    """784 → ``depth`` × 256 ReLU → 10, He-initialised float32 weights (exact binary numbers)."""
    rng = np.random.default_rng(seed)
    sizes = [784] + [256] * depth + [10]
    layers = []
    for k in range(depth + 1):
        W = (rng.standard_normal((sizes[k + 1], sizes[k])) * np.sqrt(2.0 / sizes[k])).astype(np.float32)
        b = (0.01 * rng.standard_normal(sizes[k + 1])).astype(np.float32)
        layers.append(Layer.from_floats(W, b, "relu" if k < depth else "identity"))
    return Network(tuple(layers), name=f"synthetic-784-256x{depth}-10")


def centre(image: int) -> np.ndarray:
    """The centre of the shared property ``prop_{image}_0.03`` (its box is the 0.03-ball clipped to [0, 1])."""
    case = parse_vnnlib(DATA / f"prop_{image}_0.03.vnnlib").cases[0]
    lo = np.array([float(v) for v in case.lower])
    hi = np.array([float(v) for v in case.upper])
    return np.where(hi < 1.0, hi - 0.03, lo + 0.03).clip(0.0, 1.0)


def property_text(c: np.ndarray, eps: float, label: int) -> str:
    lines = [f"(declare-const X_{i} Real)" for i in range(len(c))] + [f"(declare-const Y_{j} Real)" for j in range(10)]
    for i, v in enumerate(c):
        lines.append(f"(assert (<= X_{i} {float(min(1.0, v + eps))!r}))")
        lines.append(f"(assert (>= X_{i} {float(max(0.0, v - eps))!r}))")
    others = " ".join(f"(and (>= Y_{j} Y_{label}))" for j in range(10) if j != label)
    lines.append(f"(assert (or {others}))")
    return "\n".join(lines) + "\n"


def decide(net: Network, prop, limit: float, bounds: str) -> tuple[str, float]:
    t0 = time.perf_counter()
    res = verify_vnnlib(net, prop, timeout=limit, bounds=bounds)
    seconds = time.perf_counter() - t0  # the answer's wall time (the re-check below is not part of it)
    if res.result == "sat":
        assert prop.violated_by_exact(res.x, net.evaluate_exact(res.x)), "witness does not violate"
    return res.result, seconds


def fraction_evaluate(net: Network, x) -> list[Fraction]:
    """The previous exact evaluation: Fraction weights (converted on every call), Fraction sums."""
    a = [to_fraction(v) for v in x]
    for L in net.layers:
        W, b = L.weight_exact(), L.bias_exact()
        z = [sum((W[i, j] * a[j] for j in range(L.n_in)), b[i]) for i in range(L.n_out)]
        if L.activation is Activation.RELU:
            a = [v if v > 0 else Fraction(0) for v in z]
        elif L.activation is Activation.LEAKY_RELU:
            a = [v if v > 0 else L.alpha * v for v in z]
        else:
            a = z
    return a


def confirmation_table(depths, image: int, eps: float) -> None:
    """Seconds of one exact evaluation at a point of the ``eps`` box around image ``image``: Fraction loop
    against the integer evaluation (cold: weights converted in the call; warm: cached)."""
    print("\n| network | Fraction loop s | integer, cold s | integer, warm s | speed-up (warm) | equal "
          "| load |")
    print("|---|---|---|---|---|---|---|")
    for depth in depths:
        net = deep_mlp(depth, seed=depth)
        x = np.clip(centre(image) + eps * np.random.default_rng(0).choice([-1.0, 1.0], 784), 0.0, 1.0)
        t = time.perf_counter()
        y_old = fraction_evaluate(net, x)
        s_old = time.perf_counter() - t
        t = time.perf_counter()
        y_cold = net.evaluate_exact(x)
        s_cold = time.perf_counter() - t
        for L in net.layers:
            integer_layer(L)
        t = time.perf_counter()
        y_warm = net.evaluate_exact(x)
        s_warm = time.perf_counter() - t
        same = y_old == y_cold == y_warm
        print(f"| {net.name} | {s_old:.3f} | {s_cold:.3f} | {s_warm:.4f} | {s_old / s_warm:.0f}x | {same} | "
              f"{os.getloadavg()[0]:.1f} |", flush=True)
        assert same, "integer and Fraction evaluations differ"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", default="4,6")
    ap.add_argument("--images", default="0,1,2")
    ap.add_argument("--eps", default="0.005,0.01")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--check", type=float, default=30.0, help="seconds for the plain-linear cross-check")
    ap.add_argument("--confirm-only", action="store_true", help="only the exact-confirmation timing table")
    args = ap.parse_args(argv)
    depths = [int(d) for d in args.depths.split(",")]
    if args.confirm_only:
        confirmation_table(depths, int(args.images.split(",")[0]), float(args.eps.split(",")[0]))
        return 0
    print("| network | image | eps | result | seconds | linear | seconds | status | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    contradictions = solved = total = 0
    secs_total = 0.0
    for depth in depths:
        net = deep_mlp(depth, seed=depth)
        for image in (int(i) for i in args.images.split(",")):
            c = centre(image)
            label = int(np.argmax(net.approx_evaluate(c)))
            for eps in (float(e) for e in args.eps.split(",")):
                prop = parse_vnnlib(property_text(c, eps, label))
                r, s = decide(net, prop, args.timeout, "auto")
                r2, s2 = decide(net, prop, args.check, "linear")
                bad = {r, r2} == {"sat", "unsat"}
                contradictions += bad
                solved += r in ("sat", "unsat")
                total += 1
                secs_total += s
                print(f"| {net.name} | {image} | {eps:g} | {r} | {s:.1f} | {r2} | {s2:.1f} | "
                      f"{'CONTRADICTION' if bad else 'ok'} | {os.getloadavg()[0]:.1f} |", flush=True)
    print(f"\nsolved {solved}/{total} (default bounds, {args.timeout:g} s limit), {secs_total:.1f} s total; "
          f"contradictions {contradictions}; load average at the end: {os.getloadavg()}")
    confirmation_table(depths, int(args.images.split(",")[0]), float(args.eps.split(",")[0]))
    return 1 if contradictions else 0


if __name__ == "__main__":
    sys.exit(main())
