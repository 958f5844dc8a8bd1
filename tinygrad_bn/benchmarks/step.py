"""One training step of an MLP with batch norm, at batch 64, 256, 1024 and 4096 (issue 9).

Model: Dense 64->256, BatchNormalization, ReLU, Dense 256->128, BatchNormalization,
ReLU, Dense 128->10; softmax cross-entropy from logits (mean); Adam(1e-3, eps 1e-7);
BN epsilon 1e-3, momentum 0.99 (PyTorch: 0.01).  float32, the same batch every step.

Contenders, each in its own process:
- ``tape``: ours, a ``GradientTape`` loop with ``optimizer.apply_gradients``
- ``train_on_batch``: ours, ``Sequential.compile`` + ``train_on_batch``
- ``numpy``: forward, backward and Adam written by hand in NumPy
- ``torch``: PyTorch eager, the same layers and settings (when importable)
- ``tape+torch``: ours (tape loop) in a process where torch is imported and has run
  a matmul (its thread pool is up); target: within 1.2x of ``tape``
- ``tape, glibc malloc``: the tape loop without :func:`tinygrad_bn.memory.tune_malloc`
  (every other worker applies it, as ``python -m tinygrad_bn bench`` does)
- ``sgemm`` (batch 4096): only the step's matmuls (forward, and backward dW and dX;
  no dX for the first layer), ``np.matmul`` float32 into preallocated outputs: the
  GEMM bound.  Printed as GFLOP/s and ours/bound.

    python -m tinygrad_bn bench --only step      (or python bench/bench_step.py)
"""
import numpy as np

from .common import Contender, compare, header, parse_args, report, torch_available

SIZES = [(64, 256), (256, 128), (128, 10)]   # (fan_in, fan_out) of the three Dense layers
N_IN = 64
BATCHES = [64, 256, 1024, 4096]
EPS_BN = 1e-3
LR, B1, B2, EPS_ADAM = 1e-3, 0.9, 0.999, 1e-7


def data(batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, N_IN), dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    return x, y


def _keras_model():
    from tinygrad_bn.keras import BatchNormalization, Dense, ReLU, Sequential
    model = Sequential([Dense(256), BatchNormalization(epsilon=EPS_BN), ReLU(),
                        Dense(128), BatchNormalization(epsilon=EPS_BN), ReLU(),
                        Dense(10)])
    model.build((None, N_IN))
    return model


def ours_tape(batch):
    """Ours: the TF2 custom training loop."""
    import tinygrad_bn as tg
    from tinygrad_bn.keras.losses import SparseCategoricalCrossentropy
    x, y = data(batch)
    model = _keras_model()
    opt = tg.optimizers.Adam(LR, epsilon=EPS_ADAM)
    loss_fn = SparseCategoricalCrossentropy(from_logits=True)
    tvars = model.trainable_variables

    def step():
        with tg.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, tvars), tvars))
        return loss

    loss = float(np.asarray(step().data))
    if not np.isfinite(loss):
        raise RuntimeError(f"ours_tape: loss {loss}")
    return step, {"loss0": loss}


def ours_train_on_batch(batch):
    """Ours: compile + train_on_batch."""
    import tinygrad_bn as tg
    from tinygrad_bn.keras.losses import SparseCategoricalCrossentropy
    x, y = data(batch)
    model = _keras_model()
    model.compile(optimizer=tg.optimizers.Adam(LR, epsilon=EPS_ADAM),
                  loss=SparseCategoricalCrossentropy(from_logits=True))
    return lambda: model.train_on_batch(x, y)


def init_params(seed=0):
    rng = np.random.default_rng(seed)
    p = {}
    for i, (fi, fo) in enumerate(SIZES, 1):
        lim = np.sqrt(6.0 / (fi + fo))
        p[f"W{i}"] = rng.uniform(-lim, lim, (fi, fo)).astype(np.float32)
        p[f"c{i}"] = np.zeros(fo, np.float32)
        if i < 3:
            p[f"g{i}"] = np.ones(fo, np.float32)
            p[f"b{i}"] = np.zeros(fo, np.float32)
    return p


class NumpyStep:
    """The step written by hand: forward, backward and Adam (in place), NumPy float32."""

    def __init__(self, x, y, params=None):
        self.x, self.y = x, y
        self.p = init_params() if params is None else params
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.moving = {f"{s}{i}": (np.zeros if s == "mean" else np.ones)(SIZES[i - 1][1], np.float32)
                       for i in (1, 2) for s in ("mean", "var")}
        self.t = 0

    def _bn_fwd(self, z, i):
        mu = z.mean(0)
        zc = z - mu
        var = (zc * zc).mean(0)
        inv = 1.0 / np.sqrt(var + np.float32(EPS_BN))
        h = zc * inv
        mv = self.moving
        mv[f"mean{i}"] += (mu - mv[f"mean{i}"]) * np.float32(0.01)
        mv[f"var{i}"] += (var - mv[f"var{i}"]) * np.float32(0.01)
        return h, inv, self.p[f"g{i}"] * h + self.p[f"b{i}"]

    def _bn_bwd(self, dy, h, inv, i, g):
        n = dy.shape[0]
        g[f"b{i}"] = dy.sum(0)
        g[f"g{i}"] = (dy * h).sum(0)
        return (self.p[f"g{i}"] * inv / n) * (n * dy - g[f"b{i}"] - h * g[f"g{i}"])

    def __call__(self):
        p, x, y = self.p, self.x, self.y
        n = x.shape[0]
        z1 = x @ p["W1"] + p["c1"]
        h1, inv1, y1 = self._bn_fwd(z1, 1)
        a1 = np.maximum(y1, 0)
        z2 = a1 @ p["W2"] + p["c2"]
        h2, inv2, y2 = self._bn_fwd(z2, 2)
        a2 = np.maximum(y2, 0)
        logits = a2 @ p["W3"] + p["c3"]
        zs = logits - logits.max(1, keepdims=True)
        e = np.exp(zs)
        s = e.sum(1, keepdims=True)
        rows = np.arange(n)
        loss = float(np.mean(np.log(s[:, 0]) - zs[rows, y]))
        d = e / s
        d[rows, y] -= 1
        d *= np.float32(1.0 / n)
        g = {"W3": a2.T @ d, "c3": d.sum(0)}
        dz2 = self._bn_bwd((d @ p["W3"].T) * (y2 > 0), h2, inv2, 2, g)
        g["W2"] = a1.T @ dz2
        g["c2"] = dz2.sum(0)
        dz1 = self._bn_bwd((dz2 @ p["W2"].T) * (y1 > 0), h1, inv1, 1, g)
        g["W1"] = x.T @ dz1
        g["c1"] = dz1.sum(0)
        self.t += 1
        alpha = np.float32(LR * np.sqrt(1 - B2 ** self.t) / (1 - B1 ** self.t))
        for k, gk in g.items():
            m, v, w = self.m[k], self.v[k], self.p[k]
            m += (gk - m) * np.float32(1 - B1)
            v += (gk * gk - v) * np.float32(1 - B2)
            w -= alpha * m / (np.sqrt(v) + np.float32(EPS_ADAM))
        return loss


def numpy_step(batch):
    x, y = data(batch)
    return NumpyStep(x, y)


def torch_step(batch, threads=None):
    """PyTorch eager with its default thread count (as a user gets it)."""
    import torch
    if threads:
        torch.set_num_threads(threads)
    nn = torch.nn
    torch.manual_seed(0)
    layers = []
    for i, (fi, fo) in enumerate(SIZES):
        layers.append(nn.Linear(fi, fo))
        if i < 2:
            layers += [nn.BatchNorm1d(fo, eps=EPS_BN, momentum=0.01), nn.ReLU()]
    model = nn.Sequential(*layers)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=LR, eps=EPS_ADAM)
    lossf = nn.CrossEntropyLoss()
    x, y = data(batch)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = lossf(model(xt), yt)
        loss.backward()
        opt.step()
        return loss
    return step, {"torch": torch.__version__, "threads": torch.get_num_threads()}


def matmul_shapes(batch):
    """(m, k, n) of every matmul in one step: forward; backward dW (all) and dX (not layer 1)."""
    shapes = []
    for i, (fi, fo) in enumerate(SIZES):
        shapes.append((batch, fi, fo))          # forward  X @ W
        shapes.append((fi, batch, fo))          # dW = X.T @ dZ
        if i > 0:
            shapes.append((batch, fo, fi))      # dX = dZ @ W.T
    return shapes


def step_flops(batch):
    return sum(2 * m * k * n for m, k, n in matmul_shapes(batch))


def sgemm(batch):
    """Only the step's matmuls, with the operands' real layouts (transposed views)."""
    rng = np.random.default_rng(3)
    calls = []
    for i, (fi, fo) in enumerate(SIZES):
        X = rng.standard_normal((batch, fi), dtype=np.float32)
        W = rng.standard_normal((fi, fo), dtype=np.float32)
        dZ = rng.standard_normal((batch, fo), dtype=np.float32)
        calls.append((X, W, np.empty((batch, fo), np.float32)))
        calls.append((X.T, dZ, np.empty((fi, fo), np.float32)))
        if i > 0:
            calls.append((dZ, W.T, np.empty((batch, fi), np.float32)))

    def run():
        for a, b, out in calls:
            np.matmul(a, b, out=out)
    return run, {"flops": step_flops(batch)}


def prelude_torch():
    """Worker prelude: torch imported and its intra-op pool started, before tinygrad_bn loads."""
    return "import torch\n(torch.ones(256, 256) @ torch.ones(256, 256)).sum().item()\n"


def contenders(batch, torch=None, bound=False):
    torch = torch_available() if torch is None else torch
    mod = "tinygrad_bn.benchmarks.step"
    c = {"tape": Contender(f"{mod}:ours_tape", batch=batch),
         "train_on_batch": Contender(f"{mod}:ours_train_on_batch", batch=batch),
         "numpy": Contender(f"{mod}:numpy_step", batch=batch),
         "torch": Contender(f"{mod}:torch_step", batch=batch) if torch else None,
         "tape+torch": Contender(f"{mod}:ours_tape", prelude=prelude_torch(), batch=batch) if torch else None,
         "tape, glibc malloc": Contender(f"{mod}:ours_tape", batch=batch, malloc=False,
                                         env={"TINYGRAD_BN_MALLOC_TUNING": "0"})}
    if bound:
        c["sgemm"] = Contender(f"{mod}:sgemm", batch=batch)
    return c


def run_case(batch, rounds=5, quick=False, torch=None):
    res = compare(contenders(batch, torch, bound=batch >= 4096 or quick), rounds=rounds, repeats=5,
                  min_time=0.05, quick=quick)
    name = f"step MLP+BN b={batch}"
    lines = [report(f"{name}: tape loop", res, "tape", {"numpy": "numpy", "torch": "torch"},
                    "target ours/torch <= " + ("0.50" if batch <= 256 else "0.75")),
             report(f"{name}: train_on_batch", res, "train_on_batch", {"numpy": "numpy", "torch": "torch"})]
    if "tape+torch" in res:
        lines.append(report(f"{name}: tape loop, torch in-process", res, "tape+torch",
                            {"separate": "tape"}, "target <= 1.20"))
    if "tape, glibc malloc" in res:
        lines.append(report(f"{name}: tape loop, no tune_malloc", res, "tape, glibc malloc",
                            {"tuned": "tape"}, "what a script gets without memory.tune_malloc()"))
    if "sgemm" in res:
        flops = res.info("sgemm")["flops"]
        rate = flops / res.time("sgemm")
        line = (f"{name}: GEMM bound {flops / 1e6:.1f} MFLOP per step at {rate / 1e9:.1f} GFLOP/s "
                f"(np.matmul f32, same run) = {res.time('sgemm') * 1e3:.3f} ms; "
                f"tape/bound {res.ratio('tape', 'sgemm'):.2f}, "
                f"train_on_batch/bound {res.ratio('train_on_batch', 'sgemm'):.2f} (target <= 1.5)")
        print(line, flush=True)
        lines.append(line)
    return lines


def main(argv=None):
    args = parse_args(argv, __doc__, lambda ap: ap.add_argument(
        "--batch", default=",".join(map(str, BATCHES)), help="comma-separated batch sizes"))
    header("step")
    batches = [int(b) for b in args.batch.split(",") if b.strip()]
    if args.quick and args.batch == ",".join(map(str, BATCHES)):
        batches = [16]
    lines = []
    for b in batches:
        lines += run_case(b, rounds=args.rounds, quick=args.quick)
    return lines


if __name__ == "__main__":
    main()
