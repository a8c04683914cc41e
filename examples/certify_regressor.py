"""Certify a small ReLU regressor trained here with plain numpy, and plot its certified local bounds.

    python examples/certify_regressor.py            # full run, writes examples/out/regressor.png
    python examples/certify_regressor.py --fast     # a few seconds

The network fits sin(x) on [-3, 3]. The interval is cut into pieces; on each piece verinet proves
bounds [lower, upper] on the local Lipschitz constant (|f(x) - f(y)| <= upper·|x - y| for all x, y in
the piece, and no constant below lower is valid there).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from verinet import Region, lipschitz, save_network

try:
    from _train import train_relu_regressor
except ImportError:  # run from the repository root as a module path
    from examples._train import train_relu_regressor


def main(argv=None) -> list[tuple[float, float, float, float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="fewer training steps and pieces")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out"), help="output directory")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    xs = np.linspace(-3, 3, 64)
    net = train_relu_regressor(xs, np.sin(xs), [16, 16], steps=600 if args.fast else 3000, name="sine")
    save_network(net, out / "sine_regressor.json")
    pieces = 6 if args.fast else 12
    edges = np.linspace(-3, 3, pieces + 1)
    rows = []
    print(f"{'piece':>17}  {'lower':>10}  {'upper':>10}  status")
    for a, b in zip(edges[:-1], edges[1:]):
        r = lipschitz(net, Region.box([a], [b]), tol=1e-6, time_limit=10)
        rows.append((float(a), float(b), r.lower, r.upper))
        print(f"[{a:6.2f}, {b:6.2f}]  {r.lower:10.6f}  {r.upper:10.6f}  {r.status.value}")
    whole = lipschitz(net, Region.box([-3], [3]), tol=1e-9)
    print(f"whole interval: [{whole.lower!r}, {whole.upper!r}] ({whole.status.value}); |cos| <= 1 for the target")
    _plot(net, rows, out / "regressor.png")
    return rows


def _plot(net, rows, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'verinet[plot]')")
        return
    xs = np.linspace(-3, 3, 400)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(xs, net.approx_evaluate(xs[:, None])[:, 0], label="network f(x)")
    ax.plot(xs, np.sin(xs), "--", color="grey", label="sin(x)")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax2 = ax.twinx()
    for a, b, lo, up in rows:
        ax2.fill_between([a, b], [lo, lo], [up, up], color="tab:red", alpha=0.35, step="post")
        ax2.hlines(up, a, b, color="tab:red")
    ax2.set_ylabel("certified local Lipschitz bound", color="tab:red")
    ax.legend(loc="upper left")
    ax.set_title("A numpy-trained ReLU regressor and its certified local Lipschitz constants")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


if __name__ == "__main__":
    main()
