"""Certified radius of a small classifier around test points.

    python examples/classifier_radius.py [--fast]

A 2-input, 3-class ReLU classifier is trained here with plain numpy. When PyTorch is installed, the
same architecture is trained with PyTorch instead, exported to ONNX and loaded from the ONNX file, which
is the usual route for users' models. For each test point verinet reports the largest l∞ radius on
which the predicted label provably does not change, and the smallest radius at which a confirmed
counterexample was found.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from verinet import Layer, Network, load_network
from verinet.analyses.robustness import certified_radius


def _data(rng, n=300):
    centers = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.5]])
    y = rng.integers(0, 3, n)
    return centers[y] + 0.45 * rng.standard_normal((n, 2)), y


def train_numpy(x, y, hidden=16, steps=800, lr=0.05, seed=0) -> Network:
    rng = np.random.default_rng(seed)
    W1 = rng.normal(0, 0.7, (hidden, 2))
    b1 = np.zeros(hidden)
    W2 = rng.normal(0, 0.3, (3, hidden))
    b2 = np.zeros(3)
    Y = np.eye(3)[y]
    for _ in range(steps):
        z = x @ W1.T + b1
        a = np.maximum(z, 0)
        logits = a @ W2.T + b2
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        g = (p - Y) / len(x)
        gW2, gb2 = g.T @ a, g.sum(0)
        ga = g @ W2 * (z > 0)
        gW1, gb1 = ga.T @ x, ga.sum(0)
        W1 -= lr * 10 * gW1
        b1 -= lr * 10 * gb1
        W2 -= lr * 10 * gW2
        b2 -= lr * 10 * gb2
    return Network((Layer.from_floats(W1, b1, "relu"), Layer.from_floats(W2, b2, "identity")), name="clf")


def train_torch_onnx(x, y, out: Path) -> Network:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    X = torch.tensor(x, dtype=torch.float32)
    Y = torch.tensor(y)
    for _ in range(400):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), Y)
        loss.backward()
        opt.step()
    path = out / "classifier.onnx"
    torch.onnx.export(model, X[:1], str(path), input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}})
    return load_network(path)


def main(argv=None) -> list[tuple]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="two test points")
    ap.add_argument("--out", default=None, help="directory for the ONNX export (default: a temporary one)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(1)
    x, y = _data(rng)
    try:
        import torch  # noqa: F401

        out = Path(args.out or tempfile.mkdtemp())
        net = train_torch_onnx(x, y, out)
        source = "PyTorch → ONNX"
    except ImportError:
        net = train_numpy(x, y)
        source = "numpy (PyTorch is not installed)"
    print(f"classifier trained with {source}; accuracy "
          f"{np.mean(np.argmax(net.approx_evaluate(x), axis=1) == y):.2f}")
    tests = [[-1.0, 0.1], [0.9, -0.2], [0.1, 1.4], [0.0, 0.6]][: 2 if args.fast else 4]
    rows = []
    print(f"{'point':<16} {'label':>5} {'certified r':>14} {'falsified r':>14}")
    for t in tests:
        r = certified_radius(net, [str(v) for v in t], norm="inf", r_max="2", tol="1e-2",
                             time_limit=10 if args.fast else 60)
        fals = "—" if r.falsified_radius is None else f"{float(r.falsified_radius):.4f}"
        cert = "—" if r.verified_radius is None else f"{float(r.verified_radius):.4f}"
        rows.append((tuple(t), r.label, r.verified_radius, r.falsified_radius))
        print(f"{str(tuple(t)):<16} {str(r.label):>5} {cert:>14} {fals:>14}")
    return rows


if __name__ == "__main__":
    main()
