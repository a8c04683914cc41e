"""The benign-overfitting experiment of Zhou, Shaikh, Li & Farjudian (MSCS 2023), reproduced.

    python examples/benign_overfitting.py [--fast]

1-n-1 ReLU regressors are trained on the 11 points x = -5..5 with the targets below, for
n = 3, 6, ..., 99. Their verified Lipschitz constants on [-5, 5] are plotted against n; the piecewise-
linear interpolant of the data has constant 4.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from verinet import Region, lipschitz

try:
    from _train import train_relu_regressor
except ImportError:
    from examples._train import train_relu_regressor

X = np.arange(-5, 6, dtype=np.float64)
Y = np.array([-2.5, -2.6, -3, 1, -0.2, 0.1, 2.5, 2.3, 2.4, -0.1, 2.7])


def main(argv=None) -> list[tuple[int, float, float, float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="a few widths and short training")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out"), help="output directory")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    widths = [3, 12, 48] if args.fast else list(range(3, 100, 3))
    steps = 1500 if args.fast else 8000
    interp = float(np.max(np.abs(np.diff(Y))))
    rows = []
    print(f"{'n':>4}  {'train MSE':>10}  {'lower':>12}  {'upper':>12}  status      (interpolant: {interp:g})")
    for n in widths:
        net = train_relu_regressor(X, Y, [n], steps=steps, lr=1e-2, seed=n, name=f"1-{n}-1")
        mse = float(np.mean((net.approx_evaluate(X[:, None])[:, 0] - Y) ** 2))
        r = lipschitz(net, Region.box(["-5"], ["5"]), tol=1e-9, time_limit=30)
        rows.append((n, mse, r.lower, r.upper))
        print(f"{n:>4}  {mse:10.2e}  {r.lower:12.6f}  {r.upper:12.6f}  {r.status.value}")
    _plot(rows, interp, out / "benign_overfitting.png")
    return rows


def _plot(rows, interp: float, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'verinet[plot]')")
        return
    n = [r[0] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(n, [r[3] for r in rows], "o-", label="verified upper bound")
    ax.plot(n, [r[2] for r in rows], "x--", label="verified lower bound")
    ax.axhline(interp, color="grey", ls=":", label=f"interpolant ({interp:g})")
    ax.set_xlabel("hidden neurons n")
    ax.set_ylabel("Lipschitz constant on [-5, 5]")
    ax.legend()
    ax.set_title("1-n-1 ReLU regressors trained on 11 points")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


if __name__ == "__main__":
    main()
