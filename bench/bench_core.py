"""Engine-core benchmarks: the course example and the per-op cost of a tiny graph.

Each case is timed for tinygrad_bn, hand-written NumPy (forward and a
hand-derived backward) and PyTorch when importable, in the same run.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import median_times, report, try_import_torch  # noqa: E402

import tinygrad_bn as tg  # noqa: E402


def course_ours():
    w = tg.Var(0, dtype=np.float32)
    x = np.array([1.0, -10.0, 25.0], dtype=np.float32)
    opt = tg.optimizers.Adam(0.1)

    def cost_fn():
        return x[0] * w ** 2 + x[1] * w + x[2]

    for _ in range(1000):
        opt.minimize(cost_fn, [w])
    return float(w)


def course_numpy():
    """The same 1000 Adam steps with the gradient written by hand (2*x0*w + x1)."""
    x = np.array([1.0, -10.0, 25.0], dtype=np.float32)
    w = np.zeros((), np.float32)
    m = np.zeros((), np.float32)
    v = np.zeros((), np.float32)
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-7
    for t in range(1, 1001):
        cost = x[0] * w ** 2 + x[1] * w + x[2]  # the forward, as the others compute it
        g = 2 * x[0] * w + x[1]
        m += (g - m) * (1 - b1)
        v += (g * g - v) * (1 - b2)
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        w -= alpha * m / (np.sqrt(v) + eps)
    del cost
    return float(w)


def course_torch(torch):
    def run():
        x = torch.tensor([1.0, -10.0, 25.0])
        w = torch.zeros((), requires_grad=True)
        opt = torch.optim.Adam([w], lr=0.1, eps=1e-7)
        for _ in range(1000):
            opt.zero_grad()
            cost = x[0] * w ** 2 + x[1] * w + x[2]
            cost.backward()
            opt.step()
        return float(w.detach())
    return run


def perop_ours():
    x = tg.Tensor(np.arange(4, dtype=np.float32))

    def run():
        with tg.GradientTape() as tape:
            tape.watch(x)
            y = (x * x + x).sum()
        return tape.gradient(y, x)
    return run


def perop_numpy():
    x = np.arange(4, dtype=np.float32)

    def run():
        y = (x * x + x).sum()
        g = np.ones_like(x)          # d sum
        gx = g * x + g * x + g       # d(x*x) + d(x)
        return y, gx
    return run


def perop_torch(torch):
    x = torch.arange(4, dtype=torch.float32, requires_grad=True)

    def run():
        x.grad = None
        y = (x * x + x).sum()
        y.backward()
        return x.grad
    return run


def main(argv=None, repeats=7):
    torch = try_import_torch()
    if torch is not None:
        torch.set_num_threads(1)
    assert abs(course_ours() - 5.0) < 1e-3
    t = median_times({"ours": course_ours, "numpy": course_numpy,
                      "torch": course_torch(torch) if torch is not None else None},
                     repeats=repeats, min_time=0.2)
    report("course example: 1000 Adam minimize steps", t.pop("ours"), t, "target ours/torch <= 0.10")
    t = median_times({"ours": perop_ours(), "numpy": perop_numpy(),
                      "torch": perop_torch(torch) if torch is not None else None}, repeats=repeats)
    report("(x*x + x).sum() fwd+bwd, shape (4,)", t.pop("ours"), t, "target ours/torch <= 0.25")


if __name__ == "__main__":
    main()
