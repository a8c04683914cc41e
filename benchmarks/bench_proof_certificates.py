"""Proof certificates of VNN-LIB verdicts and linear-bound Lipschitz runs: search time, leaves, certificate
size, write time and independent check time (the ratio check / search beside each row).

    PYTHONPATH=. python benchmarks/bench_proof_certificates.py [--quick]

The machine load (``os.getloadavg()``) is printed beside every row: timings on a busy machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"

VNNLIB = [
    ("acasxu/ACASXU_run2a_3_3_batch_2000.onnx", "acasxu/prop_3.vnnlib"),
    ("acasxu/ACASXU_run2a_3_3_batch_2000.onnx", "acasxu/prop_1.vnnlib"),
    ("acasxu/ACASXU_run2a_1_1_batch_2000.onnx", "acasxu/prop_4.vnnlib"),
    ("mnistfc/mnist-net_256x2.onnx", "mnistfc/prop_2_0.03.vnnlib"),
    ("acasxu/ACASXU_run2a_1_1_batch_2000.onnx", "acasxu/prop_3.vnnlib"),
]


def _row(name, search, leaves, path, write, check, result) -> None:
    size = path.stat().st_size / 1e6
    load = os.getloadavg()[0]
    print(f"{name:44s} {search:8.2f} {leaves:7d} {size:8.2f} {write:7.2f} {check:8.2f} {check / search:7.1f}"
          f"  {load:5.2f}  {result}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="skip the largest instance")
    args = ap.parse_args()
    from verinet.evidence.certificate import lipschitz_certificate, write_certificate
    from verinet.evidence.checker import check_certificate
    from verinet.analyses.lipschitz import lipschitz
    from verinet.io import load_network
    from verinet.evidence.prooftree import SplitTreeRecorder, vnnlib_certificate
    from verinet.region import Region
    from verinet.analyses.verify import verify_vnnlib
    from verinet.io.vnnlib import parse_vnnlib

    print(f"{'instance':44s} {'search s':>8s} {'leaves':>7s} {'MB':>8s} {'write s':>7s} {'check s':>8s} "
          f"{'ratio':>7s}  {'load':>5s}  check result")
    items = VNNLIB[:-1] if args.quick else VNNLIB
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for model, prop in items:
            for f in (model, prop):
                shutil.copyfile(DATA / f, tmp / Path(f).name)
            net = load_network(tmp / Path(model).name)
            p = parse_vnnlib(tmp / Path(prop).name)
            rec = SplitTreeRecorder()
            t = time.perf_counter()
            res = verify_vnnlib(net, p, timeout=120, recorder=rec)
            search = time.perf_counter() - t
            t = time.perf_counter()
            path = write_certificate(vnnlib_certificate(res, net, p, rec), tmp / "cert.json")
            write = time.perf_counter() - t
            t = time.perf_counter()
            r = check_certificate(path)
            check = time.perf_counter() - t
            _row(f"{Path(model).stem[:24]} {Path(prop).stem} {res.result}", search, rec.n_leaves, path, write,
                 check, str(r))
        # Lipschitz with linear bounds on ACAS Xu 1_1, output 0, l∞ ball of radius 0.01
        shutil.copyfile(DATA / VNNLIB[2][0], tmp / "acas.onnx")
        net = load_network(tmp / "acas.onnx")
        t = time.perf_counter()
        res = lipschitz(net, Region.ball([0.0, 0.1, -0.1, 0.2, 0.3], "0.01", "inf"), output=0, bounds="linear",
                        time_limit=10)
        search = time.perf_counter() - t
        t = time.perf_counter()
        path = write_certificate(lipschitz_certificate(res, net), tmp / "cert.json")
        write = time.perf_counter() - t
        t = time.perf_counter()
        r = check_certificate(path)
        check = time.perf_counter() - t
        _row(f"lipschitz acas 1_1 y0 r=0.01 linear U={res.upper:.4g}", search, len(res.partition), path, write,
             check, str(r))


if __name__ == "__main__":
    main()
