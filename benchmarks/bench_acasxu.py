"""ACAS Xu with VNN-LIB properties: verdict and seconds per instance (3 networks × 4 properties).

Run ``python benchmarks/bench_acasxu.py`` (VNN-COMP budget: 116 s per instance, up to ~25 minutes) or
``--quick`` (10 s per instance). ``--timeout S`` overrides the budget of the instances whose expected
answer is ``unsat`` (the ``sat`` ones keep the full budget: a counterexample must be found within it).

Known answers (VNN-COMP 2021, ``tests/data/README.md``): property 1 and 2 hold on 1_1, 1_9 and 3_3;
properties 3 and 4 hold on 1_1 and 3_3 and are violated on 1_9. A row is ``ok`` when the answer is the
expected one, ``open`` for ``unknown``/``timeout`` (honest: no claim), and ``WRONG`` for a contradiction
(which would be a soundness bug: the script exits with status 1).

Each ``sat`` witness is re-checked here in exact rational arithmetic (``evaluate_exact`` and
``violated_by_exact``), independently of the check inside :func:`verinet.analyses.verify.verify_vnnlib`.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from verinet.io import load_network
from verinet.analyses.verify import verify_vnnlib
from verinet.io.vnnlib import parse_vnnlib

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "acasxu"
NETWORKS = ("1_1", "1_9", "3_3")
PROPERTIES = (1, 2, 3, 4)


def expected(net: str, prop: int) -> str:
    return "sat" if (net == "1_9" and prop in (3, 4)) else "unsat"


def run(args) -> int:
    rows = []
    wrong = 0
    for net_name in NETWORKS:
        suffix = "onnx" if args.format == "onnx" else "nnet"
        path = args.data / f"ACASXU_run2a_{net_name}_batch_2000.{suffix}"
        net = load_network(path, coordinates="normalized") if suffix == "nnet" else load_network(path)
        for p in PROPERTIES:
            prop = parse_vnnlib(args.data / f"prop_{p}.vnnlib")
            exp = expected(net_name, p)
            budget = args.budget if exp == "sat" or args.timeout is None else args.timeout
            t0 = time.perf_counter()
            res = verify_vnnlib(net, prop, timeout=budget)
            secs = time.perf_counter() - t0
            if res.result == "sat":  # independent exact re-check of the witness
                assert prop.violated_by_exact(res.x, net.evaluate_exact(res.x)), "witness does not violate"
            if res.result in ("sat", "unsat"):
                status = "ok" if res.result == exp else "WRONG"
            else:
                status = "open"
            wrong += status == "WRONG"
            rows.append({"network": net_name, "property": p, "expected": exp, "result": res.result,
                         "seconds": round(secs, 2), "timeout": budget, "boxes": res.boxes,
                         "margin": res.margin, "status": status})
            print(f"{net_name}  prop {p}  {res.result:8s} {secs:7.2f} s  (expected {exp}, {status})",
                  file=sys.stderr, flush=True)
    print(f"\nACAS Xu ({args.format}), {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}\n")
    print("| network | property | expected | result | seconds | timeout | boxes | status |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['network']} | {r['property']} | {r['expected']} | {r['result']} | {r['seconds']:.2f} | "
              f"{r['timeout']:g} | {r['boxes']} | {r['status']} |")
    solved = sum(r["status"] == "ok" for r in rows)
    print(f"\nsolved {solved}/{len(rows)}, wrong {wrong}, total {sum(r['seconds'] for r in rows):.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 1 if wrong else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 s per instance")
    ap.add_argument("--timeout", type=float, help="budget (s) of the instances expected to be unsat")
    ap.add_argument("--format", choices=("onnx", "nnet"), default="onnx")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    args.budget = 10.0 if args.quick else 116.0
    if args.quick and args.timeout is None:
        args.timeout = 10.0
    if not args.data.is_dir():
        print(f"ACAS Xu data not found in {args.data}", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
