"""Tightness and speed of the bound propagators: interval (IBP) vs sound linear back-substitution.

Run ``python benchmarks/bench_bounds.py`` (about a minute) or ``--quick`` (a few seconds: fewer boxes,
fewer networks, one repeat). For each network and box size, on the *same* batch of boxes:

* ``width``: mean width of the output enclosure (``verinet.bounds.propagation.propagate`` vs
  ``verinet.bounds.linear.linear_propagate``);
* ``unstable``: mean number of hidden ReLUs per box whose pre-activation enclosure straddles 0 (what the
  Clarke-gradient enclosure pays for);
* ``obj width``: for ACAS Xu, mean width of the enclosure of ``y_0 − y_1`` (``C`` applied to the output
  box vs ``linear_objective_bounds``);
* ``time/box``: wall-clock time of one batched call divided by the batch size (best of the repeats, after
  a warm-up call that loads the Numba cache), and the process CPU time per box (all threads) next to it.
  OpenBLAS runs single-threaded unless ``--blas-threads N`` (or ``OPENBLAS_NUM_THREADS``) says otherwise.

Networks: the three ACAS Xu networks of ``tests/data/acasxu`` (ONNX, normalised inputs; boxes with
random centres in [-0.4, 0.4]^5 and the given half-widths), random ReLU networks (8–16 inputs, 2–4
hidden layers of 16–64, weights N(0, 2/n_in) as exact floats; boxes with random centres N(0, 1)), and a
tanh and a sigmoid network (``unstable`` is only counted for ReLU networks).
Every number is measured in this one run; the machine load is printed with the table because it is
shared (timings on a loaded machine are pessimistic).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

# BLAS threads must be fixed before numpy loads OpenBLAS. One thread by default: on a small shared machine
# OpenBLAS's spinning worker threads made the batched GEMMs up to 8x slower in wall time (measured).
if "--blas-threads" in sys.argv:
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--blas-threads") + 1]
else:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from verinet.bounds.backends import make_backend  # noqa: E402
from verinet.bounds.linear import linear_objective_bounds, linear_propagate  # noqa: E402
from verinet.network import Layer, Network  # noqa: E402
from verinet.bounds.propagation import propagate  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "acasxu"


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """(best wall seconds, CPU seconds of that run, result) over ``repeats`` calls after one warm-up."""
    out = fn()
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        t1, c1 = time.perf_counter(), time.process_time()
        best = min(best, (t1 - t0, c1 - c0))
    return best[0], best[1], out


def unstable(bounds) -> float:
    """Mean number of hidden neurons per box whose enclosure contains 0 in its interior."""
    pre = bounds.pre[:-1]
    if not pre:
        return 0.0
    return float(np.mean(sum(((p.lo < 0) & (p.hi > 0)).sum(axis=-1) for p in pre)))


def width(a) -> float:
    with np.errstate(invalid="ignore", over="ignore"):
        return float(np.mean(a.hi - a.lo))


def random_net(rng, sizes, act: str = "relu") -> Network:
    layers = []
    for k in range(len(sizes) - 1):
        W = rng.standard_normal((sizes[k + 1], sizes[k])) * np.sqrt(2.0 / sizes[k])
        b = rng.standard_normal(sizes[k + 1]) * 0.1
        layers.append(Layer.from_floats(W, b, act if k < len(sizes) - 2 else "identity"))
    return Network(tuple(layers), name=f"{act} " + "-".join(map(str, sizes)))


def bench_case(name, net, lo, hi, repeats, C=None) -> dict:
    backend = make_backend(net)
    box = backend.box(lo, hi)
    B = lo.shape[0]
    t_i, c_i, ibp = timed(lambda: propagate(backend, box), repeats)
    t_l, c_l, lin = timed(lambda: linear_propagate(backend, lo, hi), repeats)
    relu = net.piecewise_linear
    row = {"name": name, "B": B, "w_i": width(ibp.output), "w_l": width(lin.output),
           "u_i": unstable(ibp) if relu else None, "u_l": unstable(lin) if relu else None, "t_i": t_i / B, "t_l": t_l / B, "c_i": c_i / B, "c_l": c_l / B,
           "o_i": None, "o_l": None}
    if C is not None:
        row["o_i"] = float(np.mean((ibp.output.hi - ibp.output.lo) @ np.abs(C).T))  # width of C·[lo, hi]
        t_o, _, obj = timed(lambda: linear_objective_bounds(backend, lo, hi, C, bounds=lin), repeats)
        row["o_l"] = width(obj)
        row["t_o"] = t_o / B
    return row


def fmt_t(s: float) -> str:
    return f"{s * 1e6:8.1f} us" if s < 1e-3 else f"{s * 1e3:8.2f} ms"


def fmt_w(v) -> str:
    return "       -" if v is None else f"{v:8.3g}"


def print_table(rows) -> None:
    head = (f"{'network / half-width':34} {'B':>4} | {'width IBP':>9} {'width lin':>9} | {'unst IBP':>8} "
            f"{'unst lin':>8} | {'obj IBP':>8} {'obj lin':>8} | {'IBP/box':>11} {'lin/box':>11} "
            f"{'lin cpu/box':>11} {'obj/box':>11}")
    print(head)
    print("-" * len(head))
    for r in rows:
        u_i, u_l = ("       -", "       -") if r["u_i"] is None else (f"{r['u_i']:8.1f}", f"{r['u_l']:8.1f}")
        print(f"{r['name']:34} {r['B']:>4} | {r['w_i']:9.3g} {r['w_l']:9.3g} | {u_i} {u_l} | "
              f"{fmt_w(r['o_i'])} {fmt_w(r['o_l'])} | {fmt_t(r['t_i']):>11} {fmt_t(r['t_l']):>11} "
              f"{fmt_t(r['c_l']):>11} {fmt_t(r['t_o']) if 't_o' in r else '-':>11}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small batches, few cases, one repeat")
    ap.add_argument("--batch", type=int, default=None, help="boxes per batch (default 256, quick 64)")
    ap.add_argument("--blas-threads", default=None, help="OPENBLAS_NUM_THREADS for this run (default 1)")
    args = ap.parse_args(argv)
    B = args.batch or (64 if args.quick else 256)
    repeats = 1 if args.quick else 3
    rng = np.random.default_rng(0)
    rows = []

    acas = sorted(DATA.glob("ACASXU_run2a_*_batch_2000.onnx"))
    if acas:
        try:
            from verinet.io import load_network

            nets = [(p.stem.replace("ACASXU_run2a_", "acasxu ").replace("_batch_2000", ""), load_network(p))
                    for p in (acas[:1] if args.quick else acas)]
        except (ImportError, ValueError) as exc:  # onnx missing: say so, go on with the random networks
            print(f"(ACAS Xu skipped: {exc})", file=sys.stderr)
            nets = []
        radii = (0.001, 0.01, 0.05) if args.quick else (0.001, 0.005, 0.02, 0.05, 0.1)
        C = np.array([[1.0, -1.0, 0.0, 0.0, 0.0]])
        for name, net in nets:
            for r in radii:
                c = rng.uniform(-0.4, 0.4, (B, 5))
                rows.append(bench_case(f"{name} r={r:g}", net, c - r, c + r, repeats, C))
    shapes = [((8, 16, 16, 4), "relu"), ((12, 32, 32, 32, 4), "relu"), ((16, 64, 64, 64, 64, 4), "relu"),
              ((4, 16, 16, 3), "tanh"), ((8, 32, 32, 4), "sigmoid")]
    if args.quick:
        shapes = [shapes[0], shapes[3]]
    for sizes, act in shapes:
        net = random_net(rng, sizes, act)
        for r in ((0.01, 0.1) if args.quick else (0.01, 0.05, 0.2)):
            c = rng.standard_normal((B, sizes[0]))
            rows.append(bench_case(f"{net.name} r={r:g}", net, c - r, c + r, repeats))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"verinet bound propagation: IBP vs linear (sound CROWN-style back-substitution), batch {B}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} cpus, "
          f"load average {load:.1f}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
