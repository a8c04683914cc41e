"""Certificate size, write time, check time and peak memory for 1k / 100k / 1M leaves, JSON vs npz (schema 3),
in the same run; the ratio check / search beside each row and the machine load (``os.getloadavg()``).

    PYTHONPATH=. python benchmarks/bench_certificates.py [--sizes 1000,100000,1000000] [--json-sample 1000]

The certificates are genuine: a uniform grid over the l∞ ball of radius 0.5 around (0.5, 0.5) for the seed
network ``random02.json`` (2-2-2, decimal weights), each cell bounded by verinet's rigorous gradient
enclosure ("search" = computing those bounds, vectorised: a branch-and-bound search producing the same
number of leaves evaluates about twice as many boxes and takes longer). Every check runs in a fresh
subprocess (``verinet check``'s code path) and reports its own peak RSS (``VmHWM``; helper processes of
``--workers 2`` not included). A JSON certificate of
a million leaves is checked with ``--sample`` (coverage and every recorded bound in full, ``K`` leaves
re-verified): its full exact check takes many minutes; the row says so. Timings on a busy machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "data" / "seed" / "random02.json"

_CHILD = """
import sys, time
from verinet.evidence.checker import check_certificate
t = time.perf_counter()
sample = int(sys.argv[3]) if sys.argv[3] != "0" else None
r = check_certificate(sys.argv[1], workers=int(sys.argv[2]), sample=sample)
# VmHWM: this process's peak RSS (ru_maxrss would include the parent's, inherited through fork and exec)
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(f"{time.perf_counter() - t:.3f} {hwm / 1024:.1f} {r.valid} {r.checked_leaves}")
"""


def _check(path: Path, workers: int, sample: int | None) -> tuple[float, float, bool, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(workers), str(sample or 0)],
                         capture_output=True, text=True, env=env, check=True).stdout.split()
    return float(out[0]), float(out[1]), out[2] == "True", int(out[3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000,100000,1000000", help="leaf counts (rounded to squares)")
    ap.add_argument("--json-sample", type=int, default=1000,
                    help="leaves re-verified when checking a JSON certificate of 1M leaves or more")
    ap.add_argument("--workers", default="1,2", help="worker counts for the npz check")
    ap.add_argument("--search-boxes", type=int, default=2000, help="box budget of the genuine search row")
    ap.add_argument("--formats", default="json,npz", help="certificate formats to measure")
    args = ap.parse_args()
    from tests.verinet.grid_partition import grid_result
    from verinet.evidence.certificate import lipschitz_certificate, write_certificate
    from verinet.io import load_network
    from verinet.region import Region

    print(f"{'leaves':>8s} {'format':6s} {'search s':>8s} {'MB':>8s} {'write s':>7s} {'workers':>7s} "
          f"{'check s':>8s} {'peak MB':>8s} {'check/search':>12s}  {'load':>5s}  result")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shutil.copyfile(MODEL, tmp / MODEL.name)
        net = load_network(tmp / MODEL.name)
        region = Region.ball(["0.5", "0.5"], "0.5", "inf")
        for size in (int(s) for s in args.sizes.split(",")):
            k = max(1, round(size ** 0.5))
            res, search = grid_result(net, region, k)
            n = len(res.partition)
            for fmt in args.formats.split(","):
                path = tmp / f"c{n}.{fmt}.json"
                t = time.perf_counter()
                write_certificate(lipschitz_certificate(res, net, format=fmt), path)
                write = time.perf_counter() - t
                mb = sum(p.stat().st_size for p in tmp.glob(f"c{n}.{fmt}*")) / 1e6
                sample = args.json_sample if fmt == "json" and n >= 1_000_000 else None
                for w in ([1] if fmt == "json" else [int(v) for v in args.workers.split(",")]):
                    secs, peak, valid, checked = _check(path, w, sample)
                    what = ("valid" if valid else "INVALID") + (f" (sampled {checked} of {n})" if sample else "")
                    print(f"{n:8d} {fmt:6s} {search:8.2f} {mb:8.2f} {write:7.2f} {w:7d} {secs:8.2f} {peak:8.1f} "
                          f"{secs / search:12.1f}  {os.getloadavg()[0]:5.2f}  {what}", flush=True)
                for p in tmp.glob(f"c{n}.{fmt}*"):
                    p.unlink()
            del res
        # a genuine branch-and-bound search (leaves fixing neuron signs, null parts): the check against the
        # real search time
        import numpy as np

        from tests.helpers import random_spec
        from verinet.analyses.lipschitz import lipschitz
        from verinet.io import save_network

        save_network(random_spec(np.random.default_rng(0), [2, 8, 8, 1], "relu").build(), tmp / "net8.json")
        net = load_network(tmp / "net8.json")
        t = time.perf_counter()
        res = lipschitz(net, Region.box([-1, -1], [1, 1]), tol=0, max_boxes=args.search_boxes, workers=1)
        search = time.perf_counter() - t
        n = len(res.partition)
        print(f"genuine search: net 2-8-8-1 (ReLU), box [-1, 1]², tol 0, {res.boxes} boxes, {n} leaves "
              f"({sum(1 for leaf in res.partition if leaf.fixed)} fixing signs)")
        for fmt in args.formats.split(","):
            path = tmp / f"s.{fmt}.json"
            t = time.perf_counter()
            write_certificate(lipschitz_certificate(res, net, format=fmt), path)
            write = time.perf_counter() - t
            mb = sum(p.stat().st_size for p in tmp.glob(f"s.{fmt}*")) / 1e6
            secs, peak, valid, _ = _check(path, 1, None)
            print(f"{n:8d} {fmt:6s} {search:8.2f} {mb:8.2f} {write:7.2f} {1:7d} {secs:8.2f} {peak:8.1f} "
                  f"{secs / search:12.2f}  {os.getloadavg()[0]:5.2f}  {'valid' if valid else 'INVALID'}", flush=True)


if __name__ == "__main__":
    main()
