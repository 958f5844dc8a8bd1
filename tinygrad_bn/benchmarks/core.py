"""Engine-core benchmarks: the course example, the per-op cost of a tiny graph, and a
Hessian-vector product against its gradient (issue 10: at most 4x).

Each case times tinygrad_bn, hand-written NumPy (forward and a hand-derived
backward) and PyTorch when importable (one intra-op thread: the tensors are
tiny), each in its own process (:mod:`.common`).

    python -m tinygrad_bn bench --only core      (or python bench/bench_core.py)
"""
import numpy as np

from .common import Contender, compare, header, parse_args, report, torch_available

MOD = "tinygrad_bn.benchmarks.core"


def course_ours(steps=1000):
    import tinygrad_bn as tg

    def run():
        w = tg.Var(0, dtype=np.float32)
        x = np.array([1.0, -10.0, 25.0], dtype=np.float32)
        opt = tg.optimizers.Adam(0.1)

        def cost_fn():
            return x[0] * w ** 2 + x[1] * w + x[2]

        for _ in range(steps):
            opt.minimize(cost_fn, [w])
        return float(w)
    w = run()
    if steps >= 1000 and abs(w - 5.0) > 1e-3:
        raise RuntimeError(f"course example: w = {w} after {steps} steps, expected 5")
    return run


def course_numpy(steps=1000):
    """The same Adam steps with the gradient written by hand (2*x0*w + x1)."""
    def run():
        x = np.array([1.0, -10.0, 25.0], dtype=np.float32)
        w = np.zeros((), np.float32)
        m = np.zeros((), np.float32)
        v = np.zeros((), np.float32)
        lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-7
        for t in range(1, steps + 1):
            cost = x[0] * w ** 2 + x[1] * w + x[2]  # the forward, as the others compute it
            g = 2 * x[0] * w + x[1]
            m += (g - m) * (1 - b1)
            v += (g * g - v) * (1 - b2)
            alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            w -= alpha * m / (np.sqrt(v) + eps)
        del cost
        return float(w)
    return run


def course_torch(steps=1000):
    import torch
    torch.set_num_threads(1)

    def run():
        x = torch.tensor([1.0, -10.0, 25.0])
        w = torch.zeros((), requires_grad=True)
        opt = torch.optim.Adam([w], lr=0.1, eps=1e-7)
        for _ in range(steps):
            opt.zero_grad()
            cost = x[0] * w ** 2 + x[1] * w + x[2]
            cost.backward()
            opt.step()
        return float(w.detach())
    return run


def perop_ours():
    import tinygrad_bn as tg
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


def perop_torch():
    import torch
    torch.set_num_threads(1)
    x = torch.arange(4, dtype=torch.float32, requires_grad=True)

    def run():
        x.grad = None
        y = (x * x + x).sum()
        y.backward()
        return x.grad
    return run


HVP_SIZES = [(64, 256), (256, 128), (128, 10)]


def _hvp_setup(batch=64, seed=0):
    rng = np.random.default_rng(seed)
    ws = [(rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32) for a, b in HVP_SIZES]
    bs = [np.zeros(b, np.float32) for _, b in HVP_SIZES]
    x = rng.standard_normal((batch, HVP_SIZES[0][0])).astype(np.float32)
    y = rng.integers(0, HVP_SIZES[-1][1], batch)
    vs = [rng.standard_normal(a.shape).astype(np.float32) for pair in zip(ws, bs) for a in pair]
    return ws, bs, x, y, vs


def _mlp_ours(kind):
    """The loss of a tanh MLP (64 -> 256 -> 128 -> 10, softmax cross-entropy) at batch 64:
    ``kind='grad'`` times its gradient, ``'hvp'`` one Hessian-vector product (two tapes)."""
    import tinygrad_bn as tg
    from tinygrad_bn.ops.softmax_ce import softmax_cross_entropy
    ws, bs, x, y, vs = _hvp_setup()
    params = [tg.Var(a) for pair in zip(ws, bs) for a in pair]

    def loss():
        h = x
        for i in range(0, len(params) - 2, 2):
            h = tg.tanh(h @ params[i] + params[i + 1])
        return softmax_cross_entropy(h @ params[-2] + params[-1], y)

    def grad():
        with tg.GradientTape() as tape:
            value = loss()
        return tape.gradient(value, params)

    def hvp():
        with tg.GradientTape() as outer:
            with tg.GradientTape() as inner:
                value = loss()
            g = inner.gradient(value, params)
            gv = sum((a * v).sum() for a, v in zip(g, vs))
        return outer.gradient(gv, params)
    return grad if kind == "grad" else hvp


def hvp_ours():
    return _mlp_ours("hvp")


def grad_ours():
    return _mlp_ours("grad")


def hvp_torch():
    import torch
    ws, bs, x, y, vs = _hvp_setup()
    params = [torch.tensor(a, requires_grad=True) for pair in zip(ws, bs) for a in pair]
    tx, ty = torch.tensor(x), torch.tensor(y)
    tvs = [torch.tensor(v) for v in vs]

    def run():
        h = tx
        for i in range(0, len(params) - 2, 2):
            h = torch.tanh(h @ params[i] + params[i + 1])
        value = torch.nn.functional.cross_entropy(h @ params[-2] + params[-1], ty)
        g = torch.autograd.grad(value, params, create_graph=True)
        gv = sum((a * v).sum() for a, v in zip(g, tvs))
        return torch.autograd.grad(gv, params)
    return run


def main(argv=None):
    args = parse_args(argv, __doc__)
    header("core")
    torch = torch_available()
    steps = 20 if args.quick else 1000
    t = compare({"ours": Contender(f"{MOD}:course_ours", steps=steps),
                 "numpy": Contender(f"{MOD}:course_numpy", steps=steps),
                 "torch": Contender(f"{MOD}:course_torch", steps=steps) if torch else None},
                rounds=args.rounds, min_time=0.2, quick=args.quick)
    lines = [report(f"course example: {steps} Adam minimize steps", t, "ours", ["numpy", "torch"],
                    "target ours/torch <= 0.10")]
    t = compare({"ours": Contender(f"{MOD}:perop_ours"), "numpy": Contender(f"{MOD}:perop_numpy"),
                 "torch": Contender(f"{MOD}:perop_torch") if torch else None},
                rounds=args.rounds, quick=args.quick)
    lines.append(report("(x*x + x).sum() fwd+bwd, shape (4,)", t, "ours", ["numpy", "torch"],
                        "target ours/torch <= 0.25"))
    t = compare({"hvp": Contender(f"{MOD}:hvp_ours"), "gradient": Contender(f"{MOD}:grad_ours"),
                 "torch hvp": Contender(f"{MOD}:hvp_torch") if torch else None},
                rounds=args.rounds, quick=args.quick)
    lines.append(report("tanh MLP b=64: one HVP (two tapes) vs its gradient", t, "hvp",
                        ["gradient", "torch hvp"], "target hvp/gradient <= 4"))
    return lines


if __name__ == "__main__":
    main()
