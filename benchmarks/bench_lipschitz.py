"""The validated Lipschitz branch-and-bound: boxes and seconds to a relative gap, default vs ``bisect-all``.

Run ``python benchmarks/bench_lipschitz.py`` (a few minutes: every run is capped at ``--time-limit``
seconds, 60 by default) or ``--quick`` (a smoke run of a few seconds: small networks, 2 s cap, one timing
repeat). Every number is measured in this one run, ``time.perf_counter``, one process.

Table 1 (``boxes to a gap``): for each seed network of the paper's accuracy table (l∞ ball of the
file's ``query``, output 0) and for random ReLU networks with 2, 4, 8 and 16 inputs (two hidden layers of
16–32 neurons, float64 weights, box of radius 0.1–0.5 around a random centre, l∞ norm, output 0): the
boxes evaluated and the seconds until the relative gap ``(upper − lower)/upper`` reaches ``--tol``
(1e-6), or the gap reached when the time cap stops the run, for the default strategy (``influence``:
one coordinate per split, and ReLU-sign branching on boxes with few unstable neurons) and for the
reference tool's ``bisect-all`` (all coordinates at once; only up to 8 inputs: 2^16 children per box is
not a strategy). ``ratio`` = boxes(bisect-all) / boxes(default), when both converged.

Table 2 (``seed timings``): seconds per ``lipschitz`` call on each seed network after a warm-up call
(median of repeats), to the published digits (tol 1e-15) and to 1e-6, next to the paper's C++ tool
(8.3 ms random01, 12.5 ms random02 converged, 59 µs iris, 164 ms MNIST; their machine, their settings).

Table 3 (``before/after``): random ReLU networks with 8–16 inputs and 2–4 hidden layers of 16–64
neurons (l∞ box, output 0), each run twice in this one process: *before* — interval bounds and
coordinate splitting only (``bounds="interval", neurons="never"``: the paper's method with our split
heuristic) — and *after* — sound linear bounds with activation splitting (``bounds="linear",
neurons="auto"``: sign constraints tighten later layers and shrink the box, Farkas certificates drop
empty parts, and a point is sought inside every fully fixed piece). ``speed-up`` is the ratio of the
times to ``--tol`` (``≥`` when only *after* converged: the cap over its time) and ``gap ratio`` the ratio
of the relative gaps reached; the target is ≥ 10× on either for each network of the larger half.

Targets: ≥ 10× fewer boxes than bisect-all at 4 inputs; 16 inputs handled at all; table 3 as above.
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

from verinet.analyses.lipschitz import lipschitz
from verinet.io import load_network, read_seed_query
from verinet.network import Layer, Network
from verinet.region import Region

ROOT = Path(__file__).resolve().parents[1]
SEED_DIRS = [ROOT / "tests" / "data" / "seed"]
SEEDS = ("random01", "random02", "iris", "mnist_784_10_10_2")
PAPER_SECONDS = {"random01": 8.3e-3, "random02": 12.5e-3, "iris": 59e-6, "mnist_784_10_10_2": 164e-3}


def seed_query(name: str):
    for d in SEED_DIRS:
        p = d / f"{name}.json"
        if p.exists():
            q = read_seed_query(p)
            return load_network(p), Region.ball(list(q.center), q.radius, "inf"), q.expected
    return None


def random_relu(n_in: int, hidden: tuple[int, ...], seed: int) -> Network:
    """He-initialised float64 ReLU network ``n_in -> hidden... -> 1`` (exact binary weights)."""
    rng = np.random.default_rng(seed)
    sizes = [n_in, *hidden, 1]
    layers = []
    for k in range(len(sizes) - 1):
        W = rng.standard_normal((sizes[k + 1], sizes[k])) * np.sqrt(2.0 / sizes[k])
        b = rng.standard_normal(sizes[k + 1]) * 0.1
        layers.append(Layer.from_floats(W, b, "identity" if k == len(sizes) - 2 else "relu"))
    return Network(tuple(layers), name=f"relu {'-'.join(map(str, sizes))}")


def random_box(n_in: int, radius: float, seed: int) -> Region:
    rng = np.random.default_rng(seed + 7919)
    centre = rng.uniform(-1.0, 1.0, n_in)
    return Region.ball([float(c) for c in centre], radius, "inf")


def fmt_s(t: float) -> str:
    if t < 1e-3:
        return f"{t * 1e6:.0f} µs"
    if t < 1:
        return f"{t * 1e3:.1f} ms"
    return f"{t:.2f} s"


def run(net, region, strategy: str, tol: float, time_limit: float):
    t0 = time.perf_counter()
    r = lipschitz(net, region, tol=tol, time_limit=time_limit, max_boxes=10**9, strategy=strategy)
    return r, time.perf_counter() - t0


def table_boxes(cases, tol: float, time_limit: float, bisect_max_inputs: int) -> list[dict]:
    rows = []
    header = (f"{'network':<26} {'n':>3}  {'strategy':<10} {'status':<10} {'gap':>9} {'boxes':>10} "
              f"{'seconds':>9} {'lower':>12} {'upper':>12} {'ratio':>7}")
    print(header)
    print("-" * len(header))
    for label, net, region in cases:
        res = {}
        for strategy in ("influence", "bisect-all"):
            if strategy == "bisect-all" and net.n_inputs > bisect_max_inputs:
                continue
            r, secs = run(net, region, strategy, tol, time_limit)
            res[strategy] = r
            ratio = ""
            if strategy == "bisect-all":
                a = res["influence"]
                if a.status.value == "converged" and r.status.value == "converged":
                    ratio = f"{r.boxes / a.boxes:.1f}x"
                else:  # at least this many (the bisect-all run was capped)
                    ratio = f"≥{r.boxes / a.boxes:.1f}x" if a.status.value == "converged" else "n/a"
            print(f"{label:<26} {net.n_inputs:>3}  {strategy:<10} {r.status.value:<10} {r.gap:>9.2e} "
                  f"{r.boxes:>10} {secs:>9.2f} {r.lower:>12.6g} {r.upper:>12.6g} {ratio:>7}", flush=True)
            rows.append({"network": label, "n": net.n_inputs, "strategy": strategy, "status": r.status.value,
                         "gap": r.gap, "boxes": r.boxes, "seconds": secs})
    return rows


def table_seed_timings(repeats: int, tols=(1e-15, 1e-6)) -> None:
    header = (f"{'seed network':<20} {'expected':>20} {'lower':>20} {'upper':>20} "
              + " ".join(f"{'t(tol=' + format(t, '.0e') + ')':>15}" for t in tols) + f" {'paper C++':>11}")
    print(header)
    print("-" * len(header))
    for name in SEEDS:
        q = seed_query(name)
        if q is None:
            print(f"{name:<20} (not found)")
            continue
        net, region, expected = q
        times = []
        r = None
        for tol in tols:
            lipschitz(net, region, tol=tol)  # warm-up (compiled kernels, caches)
            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                rr = lipschitz(net, region, tol=tol)
                samples.append(time.perf_counter() - t0)
            times.append(statistics.median(samples))
            r = r or rr
        print(f"{name:<20} {expected:>20} {r.lower!r:>20} {r.upper!r:>20} "
              + " ".join(f"{fmt_s(t):>15}" for t in times) + f" {fmt_s(PAPER_SECONDS[name]):>11}", flush=True)


BEFORE_AFTER = ((8, (16, 16), 0.1), (8, (32, 32), 0.1), (16, (16, 16, 16), 0.05), (16, (64, 64), 0.05),
                (12, (32, 32, 32), 0.05), (8, (32, 32, 32), 0.05), (12, (64, 64, 64), 0.02),
                (16, (64, 64, 64, 64), 0.02))
MODES = {"before": {"bounds": "interval", "neurons": "never"}, "after": {"bounds": "linear", "neurons": "auto"}}


def table_before_after(spec, tol: float, time_limit: float) -> list[dict]:
    header = (f"{'network':<24} {'r':>5}  {'mode':<7} {'status':<10} {'rel gap':>9} {'boxes':>9} "
              f"{'seconds':>8} {'lower':>12} {'upper':>12} {'speed-up':>9} {'gap ratio':>9}")
    print(header)
    print("-" * len(header))
    rows = []
    for i, (n, hidden, radius) in enumerate(spec):
        net = random_relu(n, hidden, seed=200 + i)
        region = random_box(n, radius, seed=200 + i)
        got = {}
        for mode, kw in MODES.items():
            t0 = time.perf_counter()
            r = lipschitz(net, region, tol=tol, time_limit=time_limit, max_boxes=10**9, **kw)
            got[mode] = (r, time.perf_counter() - t0)
        (rb, tb), (ra, ta) = got["before"], got["after"]
        conv_b, conv_a = rb.status.value == "converged", ra.status.value == "converged"
        if conv_a and conv_b:
            speed = f"{tb / ta:.1f}x"
        elif conv_a:  # before was stopped by the cap (its wall time also counts building the partition)
            speed = f">={time_limit / ta:.0f}x"
        else:
            speed = "n/a"
        gap_ratio = rb.gap / max(ra.gap, 1e-300)
        for mode, (r, secs) in got.items():
            last = mode == "after"
            print(f"{net.name:<24} {radius:>5g}  {mode:<7} {r.status.value:<10} {r.gap:>9.2e} {r.boxes:>9} "
                  f"{secs:>8.2f} {r.lower:>12.6g} {r.upper:>12.6g} {speed if last else '':>9} "
                  f"{(f'{gap_ratio:.3g}x' if last else ''):>9}", flush=True)
        rows.append({"network": net.name, "hidden": sum(hidden),
                     "speed": (tb if conv_b else time_limit) / ta if conv_a else 0.0,
                     "gap_ratio": gap_ratio, "converged_after": conv_a})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: small networks, 2 s cap, 1 repeat")
    ap.add_argument("--tol", type=float, default=1e-6, help="relative gap to reach (default 1e-6)")
    ap.add_argument("--time-limit", type=float, default=None, help="seconds per run (default 60; quick 2)")
    ap.add_argument("--tables", default="boxes,seeds,before-after",
                    help="comma-separated subset of boxes, seeds, before-after (default: all)")
    args = ap.parse_args(argv)
    quick = args.quick
    time_limit = args.time_limit if args.time_limit is not None else (2.0 if quick else 60.0)
    repeats = 1 if quick else 5

    print(f"verinet Lipschitz benchmark — python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} cpus; tol {args.tol:g}, time cap {time_limit:g} s per run"
          + (" (quick)" if quick else ""))
    print()

    tables = set(args.tables.split(","))
    if "boxes" in tables:
        cases = []
        for name in SEEDS if not quick else SEEDS[:3]:
            q = seed_query(name)
            if q is not None:
                cases.append((name, q[0], q[1]))
        spec = ((2, (16, 16), 0.5), (4, (16, 16), 0.25), (8, (32, 32), 0.1), (16, (32, 32), 0.1))
        if quick:
            spec = ((2, (8, 8), 0.5), (4, (8, 8), 0.25), (16, (16, 16), 0.1))
        for i, (n, hidden, radius) in enumerate(spec):
            net = random_relu(n, hidden, seed=100 + i)
            cases.append((f"{net.name} r={radius:g}", net, random_box(n, radius, seed=100 + i)))
        print("Boxes and seconds to the relative gap (or the gap reached at the time cap)")
        rows = table_boxes(cases, args.tol, time_limit, bisect_max_inputs=8)
        print()
        four = [r for r in rows if r["n"] == 4 and r["network"].startswith("relu")]
        by = {r["strategy"]: r for r in four}
        if "influence" in by and "bisect-all" in by:
            ratio = by["bisect-all"]["boxes"] / max(by["influence"]["boxes"], 1)
            capped = by["bisect-all"]["status"] != "converged"
            print(f"target: >= 10x fewer boxes than bisect-all at 4 inputs: {'≥' if capped else ''}{ratio:.1f}x "
                  f"({'met' if ratio >= 10 and by['influence']['status'] == 'converged' else 'NOT met'})")
        sixteen = [r for r in rows if r["n"] == 16]
        if sixteen:
            r = sixteen[0]
            print(f"target: 16 inputs handled: status {r['status']}, gap {r['gap']:.2e}, {r['boxes']} boxes in "
                  f"{r['seconds']:.1f} s")
        print()
    if "seeds" in tables:
        print(f"Seed networks: seconds per call after a warm-up (median of {repeats})")
        table_seed_timings(repeats)
        print()
    if "before-after" in tables:
        ba_spec = BEFORE_AFTER if not quick else BEFORE_AFTER[:2]
        print("Before/after: interval bounds + coordinate splits vs linear bounds + activation splitting")
        ba = table_before_after(ba_spec, args.tol, time_limit)
        larger = sorted(ba, key=lambda r: r["hidden"])[len(ba) // 2:]
        met = [r["speed"] >= 10 or r["gap_ratio"] >= 10 for r in larger]
        print(f"target: >= 10x faster or 10x smaller gap on the larger half ({len(larger)} networks): "
              f"{sum(met)}/{len(larger)} met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
