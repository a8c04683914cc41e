"""Does rounding a network's weights to float16 or int8 keep it within ε of the original on its domain?

    python examples/quantisation.py [--fast]

A small regressor is trained here with numpy on [-1, 1]²; verinet bounds, for every input of the domain
and every network whose parameters lie between the original and the quantised ones, how far the output
can move, and the Lipschitz constant of that whole family.
"""

from __future__ import annotations

import argparse

import numpy as np

from verinet import Region
from verinet.analyses.robustness import Perturbation, parameter_robustness

try:
    from _train import train_relu_regressor
except ImportError:
    from examples._train import train_relu_regressor


def main(argv=None) -> list[tuple]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="short training and time limits")
    ap.add_argument("--epsilon", default="0.05", help="allowed output change")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (200, 2))
    y = np.sin(2 * x[:, 0]) * np.cos(x[:, 1])
    net = train_relu_regressor(x, y, [12, 12], steps=400 if args.fast else 2000, name="regressor")
    domain = Region.box(["-1", "-1"], ["1", "1"])
    rows = []
    print(f"{'format':<9} {'verdict':<10} {'max |Δf| ≤':>12} {'L(family) ≤':>12}   (ε = {args.epsilon})")
    for fmt in ("float16", "bfloat16", "int8"):
        res = parameter_robustness(net, domain, perturbation=Perturbation.quantize(fmt), epsilon=args.epsilon,
                                   time_limit=5 if args.fast else 30)
        d = res.to_json()
        change = d.get("change_upper")
        lip = d.get("lipschitz_upper")
        rows.append((fmt, d["verdict"], change, lip))
        print(f"{fmt:<9} {d['verdict']:<10} {_fmt(change):>12} {_fmt(lip):>12}")
    return rows


def _fmt(v) -> str:
    return "—" if v is None else f"{float(v):.4g}"


if __name__ == "__main__":
    main()
