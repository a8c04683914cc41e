"""A tiny numpy trainer for the examples: fully connected ReLU regressors fitted with Adam.

Training is ordinary float64 numpy (nothing about it needs to be rigorous): verinet then certifies the
trained weights exactly as they are.
"""

from __future__ import annotations

import numpy as np

from verinet import Layer, Network


def train_relu_regressor(x, y, hidden, *, steps=3000, lr=1e-2, seed=0, name="regressor") -> Network:
    """Fit ``y ≈ f(x)`` with a ReLU network ``n_in-hidden...-1`` by full-batch Adam on the squared loss."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), 1)
    sizes = [x.shape[1], *hidden, 1]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params.append(rng.normal(0.0, np.sqrt(2.0 / a), (b, a)))
        params.append(rng.normal(0.0, 0.1, b))
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        # forward
        acts, pre = [x], []
        for k in range(0, len(params), 2):
            z = acts[-1] @ params[k].T + params[k + 1]
            pre.append(z)
            acts.append(np.maximum(z, 0.0) if k + 2 < len(params) else z)
        grad_out = 2.0 * (acts[-1] - y) / len(x)
        grads = [None] * len(params)
        g = grad_out
        for k in range(len(params) - 2, -1, -2):
            grads[k] = g.T @ acts[k // 2]
            grads[k + 1] = g.sum(axis=0)
            if k > 0:
                g = (g @ params[k]) * (pre[k // 2 - 1] > 0)
        for i, p in enumerate(params):
            m[i] = 0.9 * m[i] + 0.1 * grads[i]
            v[i] = 0.999 * v[i] + 0.001 * grads[i] ** 2
            p -= lr * (m[i] / (1 - 0.9**t)) / (np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)
    layers = []
    for k in range(0, len(params), 2):
        act = "relu" if k + 2 < len(params) else "identity"
        layers.append(Layer.from_floats(params[k], params[k + 1], act, name=f"layer {k // 2}"))
    return Network(tuple(layers), name=name, format="python")
