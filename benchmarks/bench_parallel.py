"""Speed-up of the Lipschitz branch-and-bound with several worker processes (and optionally Dask).

ACAS Xu network 1_1 (ONNX), region [-0.3, 0.3]^5, output 0, a fixed box budget (so the result is the same
for every worker count, and the table says so). For each configuration: seconds (pool start-up included),
boxes per second, speed-up over one worker, whether the result is identical to the one-worker result,
and the share of chunks evaluated by helper processes (or Dask workers). The last lines give the fraction
of the one-worker time spent evaluating boxes, and the speed-up Amdahl's law allows with it.

    python benchmarks/bench_parallel.py            # max_boxes 12000 (about 10 s single-process here)
    python benchmarks/bench_parallel.py --quick    # max_boxes 2000
    python benchmarks/bench_parallel.py --workers 1,2,3 --dask --repeat 3

The machine's load average is printed before and after: other processes on the same cores make the
numbers meaningless, so run it when the machine is quiet.

Measured on the 2-core development machine when the pool was designed (ACAS Xu, about 20 ms per chunk of
128 boxes): spawned helpers needed 2–4 s of CPU before their first chunk (imports, then Numba's first-call
set-up), every helper's OpenBLAS started a thread per core (two helpers and the parent's pool
oversubscribed two cores), a batch's round trip costs about 0.4 ms (IPC is not the bottleneck) and every
call has a fixed Python cost of about 5 ms (hence chunks of 128 boxes, not 64). With interval bounds a
third of the one-worker time is the sequential search (at most 1.5× with two workers); with linear
bounds evaluation is about 96 % of the time and two workers on two cores come close to 2×.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a short run (max_boxes 2000)")
    ap.add_argument("--max-boxes", type=int, help="box budget (default 12000, or 2000 with --quick)")
    ap.add_argument("--bounds", help="pre-activation bounds for lipschitz() (default: its own default)")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    ap.add_argument("--dask", action="store_true",
                    help="also a Dask LocalCluster with 2 single-thread workers")
    ap.add_argument("--model", default=str(DATA), help="ONNX/NNet model (default: ACAS Xu 1_1)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration; the fastest is shown")
    args = ap.parse_args(argv)

    if not Path(args.model).exists():
        print(f"model {args.model} not found: nothing to measure", file=sys.stderr)
        return 0
    from verinet.io import load_network
    from verinet.region import Region

    lip = importlib.import_module("verinet.analyses.lipschitz")  # the package re-exports a function of that name
    par = importlib.import_module("verinet.parallel")
    max_boxes = args.max_boxes or (2000 if args.quick else 12000)
    extra = {} if args.bounds is None else {"bounds": args.bounds}
    counts = [int(w) for w in args.workers.split(",")]

    net = load_network(args.model)
    region = Region.box(["-0.3"] * 5, ["0.3"] * 5)
    lip.lipschitz(net, region, output=0, max_boxes=300)  # loads the compiled kernels in this process

    # count what the pools did, and the time spent evaluating (for the Amdahl bound)
    pools, evaluating = [], [0.0]
    make = par.make_pool

    def counting_make_pool(*a, **k):
        pool = make(*a, **k)
        pools.append(pool)
        inner = pool.evaluate

        def timed(*arrays):
            t = time.perf_counter()
            try:
                return inner(*arrays)
            finally:
                evaluating[0] += time.perf_counter() - t

        pool.evaluate = timed
        return pool

    lip.make_pool = counting_make_pool

    def run(**kw):
        evaluating[0] = 0.0
        t = time.perf_counter()
        r = lip.lipschitz(net, region, output=0, max_boxes=max_boxes, **extra, **kw)
        return r, time.perf_counter() - t, evaluating[0]

    def key(r):
        return (r.lower, r.upper, r.status, r.boxes, r.witness, r.partition)

    print(f"ACAS Xu 1_1, [-0.3, 0.3]^5, output 0, max_boxes {max_boxes}, bounds {args.bounds or 'default'}; "
          f"{os.cpu_count()} cores; {_load()}")
    rows, ref, base, frac = [], None, None, None
    configs = [(str(w), {"workers": w}) for w in counts]
    if args.dask:
        configs.append(("dask 2", {"scheduler": "local"}))
    cluster = client = None
    try:
        for label, kw in configs:
            if kw.get("scheduler") == "local":
                # started only now: its threads would make the local pools spawn rather than fork helpers
                try:
                    import logging

                    import distributed
                except ImportError:
                    print("(no Dask: pip install 'verinet[dist]')")
                    continue
                cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                                   host="127.0.0.1", dashboard_address=None,
                                                   silence_logs=logging.ERROR)
                client = distributed.Client(cluster, set_as_default=False)
                kw = {"scheduler": client}
            r, seconds, ev_seconds = min((run(**kw) for _ in range(max(1, args.repeat))), key=lambda t: t[1])
            stats = pools[-1].stats
            helper = f"{stats['helper_chunks'] / max(1, stats['helper_chunks'] + stats['local_chunks']):.0%}"
            if ref is None:
                ref, base, frac = key(r), seconds, ev_seconds / seconds
            rows.append((label, seconds, r.boxes / seconds, base / seconds, key(r) == ref, helper))
    finally:
        if client is not None:
            client.close()
            cluster.close()

    print()
    print(f"{'workers':>8} {'seconds':>8} {'boxes/s':>8} {'speed-up':>9} {'identical':>10} "
          f"{'by helpers':>11}")
    for label, seconds, rate, speed, same, helper in rows:
        print(f"{label:>8} {seconds:8.2f} {rate:8.0f} {speed:8.2f}x {'yes' if same else 'NO':>10} "
              f"{helper:>11}")
    print()
    print(f"one worker: {frac:.0%} of the time evaluating boxes, the rest is the sequential search;")
    print(f"Amdahl's bound with 2 workers: {1 / ((1 - frac) + frac / 2):.2f}x.  {_load()}")
    return 0 if all(row[4] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
