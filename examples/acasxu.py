"""ACAS Xu: local Lipschitz constants on the property boxes, and the VNN-LIB properties decided.

    python examples/acasxu.py [--fast] [--timeout S]

The networks and properties are the copies in `tests/data/acasxu` (see `tests/data/README.md`); the
properties are stated in normalised coordinates, so the ONNX networks (which have no
normalisation inside) are used. Known answers (VNN-COMP 2021): properties 1 and 2 hold on the three
networks here; properties 3 and 4 hold on 1_1 and 3_3 and are violated on 1_9.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from verinet import Region, lipschitz, load_network
from verinet.analyses.verify import verify_vnnlib
from verinet.io.vnnlib import parse_vnnlib


def data_dir() -> Path:
    cand = Path(__file__).resolve().parent.parent / "tests" / "data" / "acasxu"
    if cand.is_dir():
        return cand
    raise SystemExit(f"ACAS Xu reference data not found ({cand})")


def main(argv=None) -> list[tuple]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="one network, properties 3 and 4, short limits")
    ap.add_argument("--timeout", type=float, default=116.0, help="seconds per VNN-LIB instance")
    args = ap.parse_args(argv)
    d = data_dir()
    nets = ["1_9"] if args.fast else ["1_1", "1_9", "3_3"]
    props = [3, 4] if args.fast else [1, 2, 3, 4]
    timeout = min(args.timeout, 20.0) if args.fast else args.timeout
    rows = []
    print(f"{'network':<8} {'prop':<5} {'L lower':>12} {'L upper':>14} {'verdict':<8} {'seconds':>8}")
    for name in nets:
        net = load_network(d / f"ACASXU_run2a_{name}_batch_2000.onnx")
        for p in props:
            prop = parse_vnnlib(d / f"prop_{p}.vnnlib")
            case = prop.cases[0]
            region = Region.box(case.lower, case.upper)
            lip = lipschitz(net, region, norm="inf", output="all", time_limit=2.0 if args.fast else 10.0)
            res = verify_vnnlib(net, prop, timeout=timeout)
            rows.append((name, p, lip.lower, lip.upper, res.result, res.seconds))
            print(f"{name:<8} {p:<5} {lip.lower:12.4f} {lip.upper:14.4f} {res.result:<8} {res.seconds:8.2f}")
    print("\nL: verified l∞→l∞ Lipschitz constant of the 5 outputs on the property's input box (normalised).")
    return rows


if __name__ == "__main__":
    main()
