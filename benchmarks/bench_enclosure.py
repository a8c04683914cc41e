"""Time per box of the Clarke-gradient enclosure: sound float64, sound mp (128 bits), unsound numpy.

The quantity timed is the whole enclosure of one box: interval bound propagation (pre-activation boxes of
every layer) followed by the reverse-mode interval chain rule for output 0, i.e.

    bounds = verinet.bounds.propagation.propagate(backend, backend.box(lo, hi))
    grad   = verinet.bounds.gradient.gradient_from_bounds(backend, bounds, c, "reverse")

with ``backend = verinet.bounds.backends.make_backend(net)`` (float64) or ``make_backend(net, 128)`` (mp),
prepared once per network. The baseline is the same computation in plain numpy float64 *without any
rounding control* (``W⁺ lo + W⁻ hi`` products with the midpoint weights, ReLU, then the reverse pass):
it is unsound and only shows what the rigour costs.

Networks: the MNIST network of the paper's accuracy table (``tests/data/seed``, 784-10-10-2, decimal
weights, its query box centre ± 1e-3) and ACAS Xu ``run2a_1_1`` (``.nnet``, 5-50x6-5, raw coordinates, a
box of 1% of the input domain around its centre). Batches are boxes around random perturbations of the
centre, so activation patterns differ between boxes.

Targets: float64 within 4× of the unsound numpy version per box in batches; MNIST under 5 ms for a
single box (the paper reports 164 ms for its C++/MPFI tool and 2.4 s for its Python tool).

Usage::

    python benchmarks/bench_enclosure.py            # batch 256, mp included
    python benchmarks/bench_enclosure.py --quick    # fewer repetitions, smaller mp batch
    python benchmarks/bench_enclosure.py --profile  # cProfile of the sound batched path
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

# BLAS threads must be fixed before numpy loads. Default 1: on a shared 2-core machine OpenBLAS with 2
# threads ran a 256x784 @ 784x10 product 40x slower than with 1 (oversubscription), which made every
# number noise. ``--threads N`` overrides.
_THREADS = "1"
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        _THREADS = sys.argv[_i + 1]
    elif _a.startswith("--threads="):
        _THREADS = _a.split("=", 1)[1]
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, _THREADS)

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from intervals.rounding import float_down, float_up
from verinet.bounds.backends import make_backend
from verinet.bounds.gradient import gradient_from_bounds
from verinet.network import Activation, Layer, Network
from verinet.bounds.propagation import propagate

DATA = ROOT / "tests" / "data"  # copies of the reference networks
MNIST = DATA / "seed" / "mnist_784_10_10_2.json"
ACAS = DATA / "acasxu" / "ACASXU_run2a_1_1_batch_2000.nnet"

TARGET_BATCH_RATIO = 4.0
TARGET_MNIST_SINGLE_S = 5e-3


# --------------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------------


def _load(path: Path) -> Network:
    try:
        from verinet.io import load_network
    except ImportError:  # loaders not written yet: minimal readers
        return _minimal_json(path) if path.suffix == ".json" else _minimal_nnet(path)
    return load_network(path)


def _minimal_json(path: Path) -> Network:
    import json

    layers = json.loads(path.read_text())["layers"]
    acts = ["relu"] * (len(layers) - 1) + ["identity"]
    return Network(tuple(Layer.from_exact(L["weight"], L["bias"], a) for L, a in zip(layers, acts)))


def _minimal_nnet(path: Path) -> Network:
    """Weights and biases of a ``.nnet`` file in normalised coordinates (normalisation not folded in)."""
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("//")]
    n_layers = int(lines[0].split(",")[0])
    sizes = [int(v) for v in lines[1].split(",") if v.strip()]
    rows = iter(lines[7:])  # after: counts, sizes, flag, min, max, means, ranges
    layers = []
    for k in range(n_layers):
        W = [[v.strip() for v in next(rows).split(",") if v.strip()] for _ in range(sizes[k + 1])]
        b = [next(rows).split(",")[0].strip() for _ in range(sizes[k + 1])]
        layers.append(Layer.from_exact(W, b, "relu" if k < n_layers - 1 else "identity"))
    return Network(tuple(layers))


def mnist_case():
    import json

    net = _load(MNIST)
    q = json.loads(MNIST.read_text())["query"]
    r = Fraction(q["radius"])
    c = [Fraction(v) for v in q["center"]]
    lo = np.array([float_down(v - r) for v in c])
    hi = np.array([float_up(v + r) for v in c])
    return net, lo, hi, 1e-3


def acas_case():
    net = _load(ACAS)
    dom = net.input_domain
    if dom is not None:
        a = np.array([float(v) for v in dom.lower])
        b = np.array([float(v) for v in dom.upper])
    else:
        a, b = -np.ones(net.n_inputs) * 0.5, np.ones(net.n_inputs) * 0.5
    c = 0.5 * (a + b)
    r = 0.005 * (b - a)
    return net, c - r, c + r, float(np.max(r))


def batch_of(lo, hi, B: int, spread: float, rng: np.random.Generator):
    """``B`` boxes of the same widths around random perturbations of the centre."""
    c = 0.5 * (lo + hi)
    r = 0.5 * (hi - lo)
    cs = c + spread * rng.standard_normal((B, len(c))) * np.maximum(np.abs(c), 1.0) * 1e-2
    return cs - r, cs + r


# --------------------------------------------------------------------------------------------------
# the three engines
# --------------------------------------------------------------------------------------------------


class SoundEngine:
    def __init__(self, net: Network, precision: int | None):
        self.backend = make_backend(net, precision)
        self.c = np.zeros(net.n_outputs)
        self.c[0] = 1.0

    def __call__(self, lo, hi):
        b = self.backend
        bounds = propagate(b, b.box(lo, hi))
        return b.to_float(gradient_from_bounds(b, bounds, self.c, "reverse"))


class UnsoundNumpy:
    """Plain float64 interval propagation + reverse chain rule, no rounding control (NOT sound)."""

    def __init__(self, net: Network):
        self.W = [np.ascontiguousarray(L.weight_mid) for L in net.layers]
        self.WpT = [np.ascontiguousarray(np.maximum(W, 0.0).T) for W in self.W]
        self.WnT = [np.ascontiguousarray(np.minimum(W, 0.0).T) for W in self.W]
        self.Wp = [np.ascontiguousarray(np.maximum(W, 0.0)) for W in self.W]
        self.Wn = [np.ascontiguousarray(np.minimum(W, 0.0)) for W in self.W]
        self.b = [L.bias_mid for L in net.layers]
        self.relu = [L.activation is Activation.RELU for L in net.layers]
        for L in net.layers:
            if L.activation not in (Activation.RELU, Activation.IDENTITY):
                raise ValueError("the baseline handles ReLU and identity layers only")
        self.m = net.n_outputs

    def __call__(self, lo, hi):
        pre = []
        for k in range(len(self.W)):
            zl = lo @ self.WpT[k] + hi @ self.WnT[k] + self.b[k]
            zh = hi @ self.WpT[k] + lo @ self.WnT[k] + self.b[k]
            pre.append((zl, zh))
            if self.relu[k]:
                lo, hi = np.maximum(zl, 0.0), np.maximum(zh, 0.0)
            else:
                lo, hi = zl, zh
        gl = np.zeros(lo.shape[:-1] + (self.m,))
        gl[..., 0] = 1.0
        gh = gl.copy()
        for k in range(len(self.W) - 1, -1, -1):
            if self.relu[k]:
                zl, zh = pre[k]
                on, off = zl > 0, zh < 0
                gl = np.where(on, gl, np.where(off, 0.0, np.minimum(gl, 0.0)))
                gh = np.where(on, gh, np.where(off, 0.0, np.maximum(gh, 0.0)))
            gl, gh = gl @ self.Wp[k] + gh @ self.Wn[k], gh @ self.Wp[k] + gl @ self.Wn[k]
        return gl, gh


# --------------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------------


def time_call(fn, lo, hi, min_time: float, max_reps: int) -> float:
    """Median wall time of ``fn(lo, hi)`` over repetitions (after one warm-up call)."""
    fn(lo, hi)
    times = []
    start = time.perf_counter()
    while len(times) < max_reps and (time.perf_counter() - start < min_time or len(times) < 3):
        t = time.perf_counter()
        fn(lo, hi)
        times.append(time.perf_counter() - t)
        if len(times) >= 1 and times[-1] > min_time:
            break
    return statistics.median(times)


def fmt_t(s: float) -> str:
    if s >= 1:
        return f"{s:8.2f} s "
    if s >= 1e-3:
        return f"{s * 1e3:8.2f} ms"
    return f"{s * 1e6:8.1f} µs"


def profile_batched(engine, lo, hi, top: int = 18) -> str:
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(5):
        engine(lo, hi)
    pr.disable()
    out = io.StringIO()
    pstats.Stats(pr, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and a smaller mp batch")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--mp-bits", type=int, default=128)
    ap.add_argument("--no-mp", action="store_true")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the sound batched path")
    ap.add_argument("--threads", default="1", help="BLAS threads (read before numpy is imported; default 1)")
    args = ap.parse_args(argv)

    min_time = 0.2 if args.quick else 1.0
    max_reps = 20 if args.quick else 200
    mp_batch = 16 if args.quick else args.batch
    have_mp = (ROOT / "verinet" / "bounds" / "backends" / "mp.py").exists() and not args.no_mp
    rng = np.random.default_rng(0)

    cases = []
    for name, loader, path in (("MNIST 784-10-10-2", mnist_case, MNIST), ("ACAS Xu 1_1 5-50x6-5", acas_case, ACAS)):
        if not path.exists():
            print(f"# {name}: {path} not found, skipped", file=sys.stderr)
            continue
        cases.append((name,) + loader())

    print(f"# per-box time of propagate + reverse-mode Clarke-gradient enclosure (output 0); "
          f"batch = {args.batch} boxes, mp batch = {mp_batch}, BLAS threads = "
          f"{os.environ.get('OPENBLAS_NUM_THREADS')}")
    header = f"{'network':22} {'engine':18} {'boxes':>5} {'per call':>12} {'per box':>12} {'vs unsound':>11}"
    print(header)
    print("-" * len(header))
    verdicts = []
    profiles = []
    for name, net, lo, hi, _ in cases:
        engines = {"unsound numpy": UnsoundNumpy(net), "sound float64": SoundEngine(net, None)}
        if have_mp:
            engines[f"sound mp{args.mp_bits}"] = SoundEngine(net, args.mp_bits)
        Blo, Bhi = batch_of(lo, hi, args.batch, 1.0, rng)
        base = {}
        for ename, eng in engines.items():
            for boxes, L, H in ((1, lo, hi), (args.batch, Blo, Bhi)):
                if ename.startswith("sound mp") and boxes > 1:
                    boxes, L, H = mp_batch, Blo[:mp_batch], Bhi[:mp_batch]
                reps = 3 if ename.startswith("sound mp") else max_reps
                t = time_call(eng, L, H, min_time, reps)
                per_box = t / boxes
                key = "single" if boxes == 1 else "batch"
                if ename == "unsound numpy":
                    base[key] = per_box
                ratio = per_box / base[key]
                print(f"{name:22} {ename:18} {boxes:5d} {fmt_t(t):>12} {fmt_t(per_box):>12} {ratio:10.2f}×")
                if ename == "sound float64" and key == "batch":
                    verdicts.append((f"{name}: float64 batched within {TARGET_BATCH_RATIO:g}× of unsound numpy",
                                     ratio <= TARGET_BATCH_RATIO, f"{ratio:.2f}×"))
                    if ratio > TARGET_BATCH_RATIO or args.profile:
                        profiles.append((name, profile_batched(eng, Blo, Bhi)))
                if ename == "sound float64" and key == "single" and name.startswith("MNIST"):
                    verdicts.append(("MNIST single box under 5 ms (paper: C++/MPFI 164 ms, Python 2.4 s)",
                                     t <= TARGET_MNIST_SINGLE_S, fmt_t(t).strip()))
        # sanity: the sound enclosure over the single box and its width relative to the unsound one
        g = engines["sound float64"](lo, hi)
        ul, uh = engines["unsound numpy"](lo, hi)
        scale = max(float(np.max(np.abs(uh))), float(np.max(np.abs(ul))), 1e-300)
        excess = float(np.max((g.hi - g.lo) - (uh - ul))) / scale
        print(f"{'':22} (single box: sound width − unsound width, max over inputs, relative to max|g|: "
              f"{excess:.2e})")
    if not have_mp:
        print("# mp backend: skipped (" + ("--no-mp" if args.no_mp else "verinet/bounds/backends/mp.py not available") + ")")
    print()
    for text, ok, value in verdicts:
        print(f"{'PASS' if ok else 'MISS'}  {text}: {value}")
    for name, prof in profiles:
        print(f"\n# profile of the sound float64 batched path, {name} (5 calls, cumulative):")
        print(prof)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
