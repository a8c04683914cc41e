"""VNN-COMP instances with the competition's time limits: verdict, seconds and correctness per instance.

Run ``python benchmarks/bench_vnncomp.py`` (all three sets: ``mnistfc`` 10 × 120 s, ACAS Xu 12 × 116 s,
the VNN-COMP test networks) or choose with ``--set mnistfc,acasxu,test``; ``--timeout S`` replaces every
limit (a quick run), ``--baseline`` also runs each instance with plain (non-optimised) linear bounds and
prints the time ratio; ``--workers N`` (default 2) processes evaluate the search's batches; ``--match S``
runs only the instances whose property or network name contains ``S``. Instances come from
``tests/data`` (the copies of the shared reference data).

Known answers (VNN-COMP 2021, majority of the participants; ``tests/data/README.md``) are in
``EXPECTED`` below. A row is ``ok`` for the expected answer, ``open`` for ``unknown``/``timeout`` (no
claim), ``WRONG`` for a contradiction (a soundness bug: the script exits with status 1), ``n/a`` when the
answer is not known. Every ``sat`` witness is re-checked here in exact rational arithmetic.
The machine's load average is printed beside the figures: on a shared machine times are noisy; the CPU
seconds of the run (this process and its worker processes) and boxes per CPU second are less so.
"""

from __future__ import annotations

import argparse
import os

# one BLAS thread: the search calls many small matrix products, and on a shared 2-core machine a second
# BLAS thread was measured 5-7x slower per product (contention); set the variable to override
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import platform
import resource
import sys
import time
from pathlib import Path

from verinet.analyses.verify import verify_vnnlib
from verinet.analyses.vnncomp import Instance, load_instance, read_instances

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"

#: (network file stem, property file stem) -> answer
EXPECTED = {
    **{("mnist-net_256x2", f"prop_{i}_0.03"): "unsat" for i in range(5)},
    ("mnist-net_256x2", "prop_0_0.05"): "sat",
    ("mnist-net_256x2", "prop_1_0.05"): "sat",
    ("mnist-net_256x2", "prop_2_0.05"): "unsat",
    ("mnist-net_256x2", "prop_3_0.05"): "sat",
    ("mnist-net_256x2", "prop_4_0.05"): "unsat",
    **{(f"ACASXU_run2a_{n}_batch_2000", f"prop_{p}"): ("sat" if n == "1_9" and p in (3, 4) else "unsat")
       for n in ("1_1", "1_9", "3_3") for p in (1, 2, 3, 4)},
}

#: public VNN-COMP 2021 counts on the full benchmarks, for the README table (instances decided)
PUBLIC_2021 = {"mnistfc": "90 instances: α,β-CROWN 70, VeriNet 61, OVAL 58, ERAN 57",
               "acasxu": "186 instances: nnenum 186 in 285 s total"}


def instances(which: str) -> list[Instance]:
    if which == "mnistfc":
        return read_instances(DATA / "mnistfc" / "mnistfc_instances.csv")
    if which == "acasxu":
        d = DATA / "acasxu"
        return [Instance(d / f"ACASXU_run2a_{n}_batch_2000.onnx", d / f"prop_{p}.vnnlib", 116.0)
                for n in ("1_1", "1_9", "3_3") for p in (1, 2, 3, 4)]
    if which == "test":
        return read_instances(DATA / "vnncomp_test" / "test_instances.csv")
    raise SystemExit(f"unknown set {which!r}: use mnistfc, acasxu or test")


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the worker processes of past runs)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def decide(inst: Instance, limit: float, bounds: str, workers: int = 1):
    t0, c0 = time.perf_counter(), cpu_seconds()
    if not (inst.onnx.is_file() and inst.vnnlib.is_file()):
        return "missing", 0.0, 0, 0.0
    net, prop = load_instance(inst.onnx, inst.vnnlib)
    res = verify_vnnlib(net, prop, timeout=max(limit - (time.perf_counter() - t0), 0.01), bounds=bounds,
                        workers=workers)
    secs, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    if res.result == "sat":  # independent exact re-check of the witness
        assert prop.violated_by_exact(res.x, net.evaluate_exact(res.x)), "witness does not violate"
    return res.result, secs, res.boxes, cpu


def run(args) -> int:
    wrong_total = 0
    summaries = []
    for which in args.set.split(","):
        rows = []
        print(f"\n## {which}  ({platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}, "
              f"{args.workers} workers)\n")
        # boxes/s (nodes of the search per second) is less sensitive to the machine's load than seconds
        head = ("| network | property | expected | result | seconds | limit | status | boxes | boxes/s | cpu s | "
                "boxes/cpu s | load |")
        if args.baseline:
            head += " baseline | seconds | ratio |"
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        for inst in instances(which):
            if args.match and args.match not in inst.vnnlib.stem and args.match not in inst.onnx.stem:
                continue
            limit = args.timeout if args.timeout is not None else inst.timeout
            exp = EXPECTED.get((inst.onnx.stem, inst.vnnlib.stem))
            result, secs, boxes, cpu = decide(inst, limit, "auto", args.workers)
            if result == "missing":
                status = "skipped"
            elif exp is None:
                status = "n/a"
            elif result in ("sat", "unsat"):
                status = "ok" if result == exp else "WRONG"
            else:
                status = "open"
            line = (f"| {inst.onnx.stem} | {inst.vnnlib.stem} | {exp or '?'} | {result} | {secs:.2f} | {limit:g} | "
                    f"{status} | {boxes} | {boxes / max(secs, 1e-9):.0f} | {cpu:.1f} | {boxes / max(cpu, 1e-9):.0f} | "
                    f"{os.getloadavg()[0]:.1f} |")
            if args.baseline and result != "missing":
                b_res, b_secs, _, _ = decide(inst, limit, "linear", args.workers)
                line += f" {b_res} | {b_secs:.2f} | {b_secs / max(secs, 1e-9):.2f} |"
            print(line, flush=True)
            rows.append((result, secs, status))
        solved = sum(r[0] in ("sat", "unsat") for r in rows)
        wrong = sum(r[2] == "WRONG" for r in rows)
        ran = sum(r[2] != "skipped" for r in rows)
        total = sum(r[1] for r in rows)
        wrong_total += wrong
        summaries.append(f"{which}: solved {solved}/{ran}, wrong {wrong}, total {total:.1f} s"
                         + (f"  (VNN-COMP 2021, {PUBLIC_2021[which]})" if which in PUBLIC_2021 else ""))
        print(f"\n{summaries[-1]}")
    print("\n" + "\n".join(summaries) + f"\nload average at the end: {os.getloadavg()}")
    return 1 if wrong_total else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="mnistfc,acasxu,test", help="comma-separated: mnistfc, acasxu, test")
    ap.add_argument("--timeout", type=float, help="seconds per instance instead of the competition's limits")
    ap.add_argument("--baseline", action="store_true",
                    help="also run with plain linear bounds (no optimised slopes) and print time ratios")
    ap.add_argument("--workers", type=int, default=2, help="processes per search (default 2)")
    ap.add_argument("--match", help="only instances whose property or network name contains this")
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
