"""Training a small network end to end: the course's digits network with batch norm
(Dense 25 -> BN -> ReLU -> Dense 15 -> BN -> ReLU -> Dense 10, softmax cross-entropy,
Adam, batch 32), one epoch over scikit-learn's digits (1437 training images).

Contenders, each in its own process (:mod:`.common`):
- ours, the model API: ``Sequential.fit(epochs=1, verbose=0)``
- ours, a hand-rolled loop over the tape (Vars + functional batch norm / softmax-CE)
- hand-written NumPy: forward, backward and Adam derived by hand
- PyTorch (when importable) with the same layers, eps and optimizer settings

    python -m tinygrad_bn bench --only train      (or python bench/bench_train.py)
"""
import numpy as np

from .common import Contender, compare, header, importable, parse_args, report, torch_available

MOD = "tinygrad_bn.benchmarks.train"
BATCH = 32
EPS = 1e-3


def data(limit=None):
    from tinygrad_bn.datasets import load_digits
    (x, y), _ = load_digits()
    x, y = x.astype(np.float32), y.astype(np.int64)
    return (x[:limit], y[:limit]) if limit else (x, y)


def init_params(seed=0):
    rng = np.random.default_rng(seed)

    def glorot(fan_in, fan_out):
        lim = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-lim, lim, (fan_in, fan_out)).astype(np.float32)
    return {"W1": glorot(64, 25), "g1": np.ones(25, np.float32), "b1": np.zeros(25, np.float32),
            "W2": glorot(25, 15), "g2": np.ones(15, np.float32), "b2": np.zeros(15, np.float32),
            "W3": glorot(15, 10), "c3": np.zeros(10, np.float32)}


class NumpyAdam:
    def __init__(self, params, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
        self.p, self.lr, self.b1, self.b2, self.eps, self.t = params, lr, b1, b2, eps, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads):
        self.t += 1
        alpha = self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for k, g in grads.items():
            m, v = self.m[k], self.v[k]
            m += (g - m) * (1 - self.b1)
            v += (g * g - v) * (1 - self.b2)
            self.p[k] -= alpha * m / (np.sqrt(v) + self.eps)


def numpy_epoch(x, y, params, opt):
    """Forward and backward written out by hand: what a student would write."""
    p = params
    n = len(x)
    loss = None
    for s in range(0, n, BATCH):
        xb, yb = x[s:s + BATCH], y[s:s + BATCH]
        B = len(xb)
        z1 = xb @ p["W1"]
        mu1 = z1.mean(0); var1 = z1.var(0); inv1 = 1 / np.sqrt(var1 + EPS); h1 = (z1 - mu1) * inv1  # noqa: E702
        y1 = p["g1"] * h1 + p["b1"]; a1 = np.maximum(y1, 0)  # noqa: E702
        z2 = a1 @ p["W2"]
        mu2 = z2.mean(0); var2 = z2.var(0); inv2 = 1 / np.sqrt(var2 + EPS); h2 = (z2 - mu2) * inv2  # noqa: E702
        y2 = p["g2"] * h2 + p["b2"]; a2 = np.maximum(y2, 0)  # noqa: E702
        logits = a2 @ p["W3"] + p["c3"]
        e = np.exp(logits - logits.max(1, keepdims=True))
        prob = e / e.sum(1, keepdims=True)
        loss = -np.log(prob[np.arange(B), yb]).mean()
        d = prob
        d[np.arange(B), yb] -= 1
        d /= B
        g = {"W3": a2.T @ d, "c3": d.sum(0)}
        dy2 = (d @ p["W3"].T) * (y2 > 0)
        g["g2"] = (dy2 * h2).sum(0); g["b2"] = dy2.sum(0)  # noqa: E702
        dh = dy2 * p["g2"]
        dz2 = inv2 / B * (B * dh - dh.sum(0) - h2 * (dh * h2).sum(0))
        g["W2"] = a1.T @ dz2
        dy1 = (dz2 @ p["W2"].T) * (y1 > 0)
        g["g1"] = (dy1 * h1).sum(0); g["b1"] = dy1.sum(0)  # noqa: E702
        dh = dy1 * p["g1"]
        dz1 = inv1 / B * (B * dh - dh.sum(0) - h1 * (dh * h1).sum(0))
        g["W1"] = xb.T @ dz1
        opt.step(g)
    return loss


def numpy_fn(limit=None):
    x, y = data(limit)
    params = init_params()
    opt = NumpyAdam(params)
    return lambda: numpy_epoch(x, y, params, opt)


def tape_fn(limit=None):
    """Our engine without the model API: Vars, the tape, fused batch norm and softmax-CE."""
    import tinygrad_bn as tg
    from tinygrad_bn.keras import functional as F
    x, y = data(limit)
    v = {k: tg.Var(a) for k, a in init_params().items()}
    variables = list(v.values())

    def epoch():
        opt = tg.optimizers.Adam(1e-3)
        loss = None
        for s in range(0, len(x), BATCH):
            xb, yb = x[s:s + BATCH], y[s:s + BATCH]
            with tg.GradientTape() as tape:
                h = tg.relu(F.batch_norm(xb @ v["W1"], v["g1"], v["b1"], EPS))
                h = tg.relu(F.batch_norm(h @ v["W2"], v["g2"], v["b2"], EPS))
                loss = F.softmax_cross_entropy(h @ v["W3"] + v["c3"], yb)
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss
    return epoch


def fit_fn(limit=None):
    import tinygrad_bn as tg
    from tinygrad_bn.keras import BatchNormalization, Dense, ReLU, Sequential
    from tinygrad_bn.keras.losses import SparseCategoricalCrossentropy
    x, y = data(limit)
    model = Sequential([Dense(25, use_bias=False), BatchNormalization(epsilon=EPS), ReLU(),
                        Dense(15, use_bias=False), BatchNormalization(epsilon=EPS), ReLU(),
                        Dense(10)])
    model.compile(optimizer=tg.optimizers.Adam(1e-3), loss=SparseCategoricalCrossentropy(from_logits=True))
    return lambda: model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)


def torch_fn(limit=None):
    import torch
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 25, bias=False), nn.BatchNorm1d(25, eps=EPS, momentum=0.01), nn.ReLU(),
                          nn.Linear(25, 15, bias=False), nn.BatchNorm1d(15, eps=EPS, momentum=0.01), nn.ReLU(),
                          nn.Linear(15, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    lossf = nn.CrossEntropyLoss()
    x, y = data(limit)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()

    def epoch():
        loss = None
        for s in range(0, len(xt), BATCH):
            opt.zero_grad()
            loss = lossf(model(xt[s:s + BATCH]), yt[s:s + BATCH])
            loss.backward()
            opt.step()
        return loss
    return epoch


def main(argv=None):
    args = parse_args(argv, __doc__)
    header("train")
    if not importable("sklearn"):
        print("# train suite skipped: scikit-learn is not installed (pip install tinygrad_bn[demo])")
        return []
    limit = 96 if args.quick else None
    t = compare({"fit": Contender(f"{MOD}:fit_fn", limit=limit),
                 "tape loop": Contender(f"{MOD}:tape_fn", limit=limit),
                 "numpy": Contender(f"{MOD}:numpy_fn", limit=limit),
                 "torch": Contender(f"{MOD}:torch_fn", limit=limit) if torch_available() else None},
                rounds=args.rounds, repeats=5, min_time=0.2, quick=args.quick)
    what = "3 batches" if args.quick else "1 epoch"
    return [report(f"digits MLP+BN, {what}, batch 32: Sequential.fit", t, "fit", ["numpy", "torch"]),
            report(f"digits MLP+BN, {what}, batch 32: tape loop", t, "tape loop", ["numpy", "torch"])]


if __name__ == "__main__":
    main()
