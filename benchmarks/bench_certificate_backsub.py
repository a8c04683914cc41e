"""Certificates of back-substituted gradient bounds: search time against the independent check's time.

Run ``python benchmarks/bench_certificate_backsub.py`` (MNIST 256×2, the box of ``prop_0_0.03``, output 0,
60 s search, one worker) or choose ``--limit 20``, ``--prop prop_1_0.03``, ``--format npz``. One row per
run: the bounds, parts evaluated, leaves, certificate size, the search's and the check's wall time and their
ratio, and the machine load (``os.getloadavg``, 1 min) before and after: the machine is shared and noisy.
The check is :func:`verinet.evidence.checker.check_certificate` on the written files (``verinet check``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "mnistfc"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=float, default=60.0, help="search time limit (s)")
    ap.add_argument("--prop", default="prop_0_0.03", help="VNN-LIB property whose box is the region")
    ap.add_argument("--format", default="auto", choices=["auto", "json", "npz"])
    args = ap.parse_args()

    from verinet.evidence.certificate import lipschitz_certificate, write_certificate
    from verinet.evidence.checker import check_certificate
    from verinet.analyses.lipschitz import lipschitz
    from verinet.io import load_network
    from verinet.region import Region
    from verinet.io.vnnlib import parse_vnnlib

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "mnist-net_256x2.onnx"
        shutil.copyfile(DATA / model.name, model)
        net = load_network(model)
        case = parse_vnnlib(DATA / f"{args.prop}.vnnlib").cases[0]
        region = Region.box(case.lower, case.upper)
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        r = lipschitz(net, region, output=0, time_limit=args.limit, workers=1)
        search = time.perf_counter() - t
        path = write_certificate(lipschitz_certificate(r, net, format=args.format), Path(tmp) / "cert.json")
        size = sum(p.stat().st_size for p in Path(tmp).glob("cert*"))
        t = time.perf_counter()
        res = check_certificate(path)
        check = time.perf_counter() - t
        load1 = os.getloadavg()[0]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print("| case | [lower, upper] | parts | leaves | certificate | search | check | check/search | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| MNIST 256×2 {args.prop} y0 | [{r.lower:.4g}, {r.upper:.4g}] | {r.boxes} | {len(r.partition)} | "
          f"{size / 1e6:.2f} MB | {search:.1f} s | {check:.1f} s ({res}) | {check / search:.2f} | "
          f"{load0:.1f} → {load1:.1f} |")


if __name__ == "__main__":
    main()
