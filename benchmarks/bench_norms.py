"""Operator norms, start-up and loading: where users wait.

Run ``python benchmarks/bench_norms.py`` (a few minutes; ``--quick`` for a smoke run) or pick tables with
``--tables lipschitz,startup,loading``. Every number is measured in this run, ``time.perf_counter``; the
load average is printed beside each table (the machine may be shared: compare ratios, not seconds).

Table ``lipschitz``: ``lipschitz(..., output="all")`` (the induced operator norm of the Jacobian: max row
sum for l∞, max column sum for l1, spectral norm for l2) to a relative gap of ``--tol`` (1e-6) on
networks of the shapes of LipBaB's three saved networks (Bhowmick et al. 2021), which are not shipped:
He-initialised ReLU networks with seeded weights — ``iris`` 4-5-5-3 on [0, 1]⁴, 10-15-10-3 and
10-20-15-10-3 on [0, 0.1]¹⁰. Seed 1 is the main network of each shape, seeds 2–4 are held out (same
family, not looked at while tuning). ``LipBaB s`` is LipBaB's time for l2 on its own network of that
shape (reported by LipBaB's users; another machine, other weights): context, not a ratio. Each case
runs ``--repeats`` times after a warm-up (JIT and caches) on seed 0 of the same shape, capped at
``--time-limit`` seconds; the best wall time and the best process (CPU) time are printed, the latter
less sensitive to a loaded machine.

Table ``cold`` (not in the default set: ``--tables cold``): the first ``lipschitz`` call of a fresh
interpreter (l2, output all; Numba's on-disk cache warm, its start-up in the process is not) and the
second call in the same process, per network and seed.

Table ``startup``: wall time of fresh interpreters: ``python -c pass`` (the floor), ``verinet --help``,
``verinet info`` on a small model, and the import of ``verinet.cli`` (``-X importtime`` total). Target:
``--help`` ≤ 0.3 s.

Table ``loading``: a 784-1024-1024-10 network (seeded, float32 weights written as 9-digit decimal strings,
which are mostly *not* floats: each becomes its tightest enclosing interval) in verinet's JSON layout,
generated into a temporary directory; ``verinet info`` in a fresh process: wall time and peak RSS.
Target: ≤ 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verinet.analyses.lipschitz import lipschitz  # noqa: E402
from verinet.network import Layer, Network  # noqa: E402
from verinet.region import Region  # noqa: E402

SHAPES = (("iris", (4, 5, 5, 3), 1.0, 0.02), ("10-15-10-3", (10, 15, 10, 3), 0.1, 0.13),
          ("10-20-15-10-3", (10, 20, 15, 10, 3), 0.1, 1.7))
NORMS = ("1", "2", "inf")


def load() -> str:
    return "load %.1f" % os.getloadavg()[0]


def relu_net(sizes: tuple[int, ...], seed: int) -> Network:
    """He-initialised ReLU network with biases of standard deviation 0.5 (float64, exact binary)."""
    rng = np.random.default_rng(seed)
    layers = []
    for k in range(len(sizes) - 1):
        W = rng.standard_normal((sizes[k + 1], sizes[k])) * np.sqrt(2.0 / sizes[k])
        b = rng.standard_normal(sizes[k + 1]) * 0.5
        layers.append(Layer.from_floats(W, b, "identity" if k == len(sizes) - 2 else "relu"))
    return Network(tuple(layers), name="-".join(map(str, sizes)))


def table_lipschitz(seeds: list[int], tol: float, time_limit: float, repeats: int = 1) -> None:
    print(f"\n## lipschitz, output all, tol {tol:g}, cap {time_limit:g} s, best of {repeats}  ({load()})")
    print(f"{'network':<15}{'seed':>5}{'norm':>5}{'lower':>20}{'upper':>20}{'gap':>10}{'status':>12}"
          f"{'boxes':>9}{'seconds':>9}{'cpu s':>8}{'LipBaB s':>9}{'load':>6}")
    for name, sizes, width, lipbab in SHAPES:
        region = Region.box([0.0] * sizes[0], [width] * sizes[0])
        for norm in NORMS:  # warm-up (JIT, caches) on an unrelated seed of the same shape
            lipschitz(relu_net(sizes, 0), region, norm=norm, output="all", max_boxes=200)
        for seed in seeds:
            net = relu_net(sizes, seed)
            for norm in NORMS:
                dt = cpu = float("inf")
                for _ in range(repeats):  # the search is deterministic: only the clock varies
                    t, c0 = time.perf_counter(), time.process_time()
                    r = lipschitz(net, region, norm=norm, output="all", tol=tol, time_limit=time_limit)
                    dt, cpu = min(dt, time.perf_counter() - t), min(cpu, time.process_time() - c0)
                ref = f"{lipbab:g}" if norm == "2" else ""
                print(f"{name:<15}{seed:>5}{norm:>5}{r.lower:>20.12g}{r.upper:>20.12g}{r.gap:>10.1e}"
                      f"{r.status.value:>12}{r.boxes:>9}{dt:>9.3f}{cpu:>8.3f}{ref:>9}{os.getloadavg()[0]:>6.1f}",
                      flush=True)


def table_cold(seeds: list[int], tol: float, repeats: int) -> None:
    """First call in a fresh interpreter (Numba's on-disk cache already warm) against a second call in it."""
    print(f"\n## lipschitz l2, output all: first call in a fresh process vs. the next (best of {repeats}; {load()})")
    print(f"{'network':<15}{'seed':>5}{'cold s':>9}{'cold cpu':>10}{'warm s':>9}{'warm cpu':>10}")
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from benchmarks.bench_norms import relu_net; "
            "from verinet.analyses.lipschitz import lipschitz; from verinet.region import Region\n"
            "sizes = tuple(map(int, sys.argv[2].split('-'))); seed = int(sys.argv[3]); w = float(sys.argv[4])\n"
            "net = relu_net(sizes, seed); reg = Region.box([0.0] * sizes[0], [w] * sizes[0]); out = []\n"
            "for _ in range(2):\n"
            "    t, c = time.perf_counter(), time.process_time()\n"
            "    lipschitz(net, reg, norm='2', output='all', tol=float(sys.argv[5]))\n"
            "    out += [time.perf_counter() - t, time.process_time() - c]\n"
            "print(*out)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name, sizes, width, _ in SHAPES:
        for seed in seeds:
            best = [float("inf")] * 4
            for _ in range(repeats):
                out = subprocess.run([sys.executable, "-c", code, str(ROOT), "-".join(map(str, sizes)), str(seed),
                                      repr(width), repr(tol)], env=env, capture_output=True, text=True, check=True)
                best = [min(a, float(b)) for a, b in zip(best, out.stdout.split())]
            print(f"{name:<15}{seed:>5}{best[0]:>9.3f}{best[1]:>10.3f}{best[2]:>9.4f}{best[3]:>10.4f}", flush=True)


def _wall(cmd: list[str], repeats: int) -> float:
    best = float("inf")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        best = min(best, time.perf_counter() - t)
    return best


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from verinet.cli import main; sys.argv[0] = 'verinet'; main()", *args]


def table_startup(repeats: int) -> None:
    print(f"\n## start-up (best of {repeats} fresh processes; {load()})")
    small = str(ROOT / "tests" / "data" / "seed" / "iris.json")
    floor = _wall([sys.executable, "-c", "pass"], repeats)
    rows = [("python -c pass", floor), ("verinet --help", _wall(_cli("--help"), repeats)),
            ("verinet info iris.json", _wall(_cli("info", small), repeats))]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import verinet.cli"], env=env,
                         capture_output=True, text=True, cwd=ROOT).stderr
    total = max((int(m.group(1)) for m in re.finditer(r"\|\s*(\d+)\s*\|\s*verinet\.cli$", out, re.M)), default=0)
    numba = "numba" in out
    print(f"{'command':<26}{'seconds':>9}{'over floor':>12}")
    for name, t in rows:
        print(f"{name:<26}{t:>9.3f}{t - floor:>12.3f}")
    print(f"import verinet.cli: {total / 1e6:.3f} s cumulative (-X importtime), Numba imported: {numba}")


def write_big_json(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    sizes = (784, 1024, 1024, 10)
    layers = []
    for k in range(3):
        W = (rng.standard_normal((sizes[k + 1], sizes[k])) * np.sqrt(2.0 / sizes[k])).astype(np.float32)
        b = (rng.standard_normal(sizes[k + 1]) * 0.01).astype(np.float32)
        layers.append({"weight": [[f"{v:.9g}" for v in row] for row in W.tolist()],
                       "bias": [f"{v:.9g}" for v in b.tolist()]})
    path.write_text(json.dumps({"name": "784-1024-1024-10", "layers": layers}))


def table_loading(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "net.json"
        write_big_json(p)
        size = p.stat().st_size / 1e6
        # peak RSS from /proc (VmHWM, kB): ru_maxrss would include the forked parent's pages
        code = ("import re, sys, time; t = time.perf_counter(); from verinet.cli import main; "
                "sys.argv = ['verinet', 'info', sys.argv[1]]\n"
                "try: main()\nexcept SystemExit: pass\n"
                "hwm = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read())\n"
                "print('RESULT', time.perf_counter() - t, hwm.group(1) if hwm else 0, file=sys.stderr)")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        best = None
        for _ in range(repeats):
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", code, str(p)], env=env, capture_output=True, text=True,
                                 cwd=ROOT)
            wall = time.perf_counter() - t
            m = re.search(r"RESULT (\S+) (\d+)", out.stderr)
            rss = int(m.group(2)) / 1024 if m else float("nan")
            if best is None or wall < best[0]:
                best = (wall, rss)
        print(f"\n## loading a 784-1024-1024-10 JSON model ({size:.1f} MB, decimal strings; {load()})")
        print(f"verinet info: {best[0]:.2f} s wall (fresh process, best of {repeats}), peak RSS {best[1]:.0f} MB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", default="lipschitz,startup,loading")
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seeds", default="1,2,3,4", help="seed 1 is the main network, the others are held out")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smoke run: seed 1 only, 5 s cap, one repeat")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.quick:
        seeds, args.time_limit, args.repeats = seeds[:1], 5.0, 1
    tables = set(args.tables.split(","))
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} cpus")
    if "lipschitz" in tables:
        table_lipschitz(seeds, args.tol, args.time_limit, args.repeats)
    if "cold" in tables:
        table_cold(seeds, args.tol, args.repeats)
    if "startup" in tables:
        table_startup(args.repeats)
    if "loading" in tables:
        table_loading(args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
