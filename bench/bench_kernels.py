"""Benchmarks of the fused kernels against the composite path, NumPy and PyTorch.

Cases (float32): batch norm training forward+backward at (256, 256) and
(4096, 1024); softmax cross-entropy forward+backward at (512, 10) and
(4096, 1000); one Adam update of 1,000,000 parameters.  Every contender is
timed in the same run (medians, ``bench.common.median_time``); the large cases
also print the achieved GB/s (bytes the kernel's passes move / time) next to
the copy bandwidth measured at the start of the run.

    python bench/bench_kernels.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import fmt_time, median_time, median_times, report, try_import_torch  # noqa: E402

import tinygrad_bn as tg  # noqa: E402
from tinygrad_bn._kernels import optim as _optim  # noqa: E402
from tinygrad_bn.keras import functional as F  # noqa: E402

EPS = 1e-3


def copy_bandwidth(nbytes=64 << 20):
    """GB/s of np.copyto on a buffer far larger than cache (reads + writes counted)."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    t = median_time(lambda: np.copyto(dst, src), repeats=7, min_time=0.05)
    return 2 * nbytes / t / 1e9


def _gbs(nbytes, t):
    return nbytes / t / 1e9


# ---------------------------------------------------------------------------
# Batch norm
# ---------------------------------------------------------------------------

def numpy_bn_fwd_bwd(x, gamma, beta, dy):
    """Hand-written NumPy batch norm training forward + backward."""
    n = x.shape[0]
    mu = x.mean(axis=0)
    xc = x - mu
    var = (xc * xc).mean(axis=0)
    inv = 1.0 / np.sqrt(var + EPS)
    xhat = xc * inv
    y = gamma * xhat + beta
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    dx = (gamma * inv / n) * (n * dy - dbeta - xhat * dgamma)
    return y, dx, dgamma, dbeta


def tape_bn(fn, x, gamma, beta, dy):
    X, G, B = tg.Var(x), tg.Var(gamma), tg.Var(beta)

    def run():
        with tg.GradientTape() as tape:
            y = fn(X, G, B, EPS)
        return tape.gradient(y, [X, G, B], output_gradients=dy)
    return run


def torch_bn(torch, x, gamma, beta, dy):
    tx = torch.tensor(x, requires_grad=True)
    tgm = torch.tensor(gamma, requires_grad=True)
    tb = torch.tensor(beta, requires_grad=True)
    tdy = torch.tensor(dy)

    def run():
        tx.grad = tgm.grad = tb.grad = None
        y = torch.nn.functional.batch_norm(tx, None, None, tgm, tb, training=True, eps=EPS)
        y.backward(tdy)
    return run


def bench_bn(shape, torch, copy_gbs):
    rng = np.random.default_rng(0)
    n, d = shape
    x = rng.standard_normal(shape, dtype=np.float32) * 2 + 3
    gamma = rng.random(d, dtype=np.float32) + 0.5
    beta = rng.random(d, dtype=np.float32)
    dy = rng.standard_normal(shape, dtype=np.float32)
    t = median_times({"fused": tape_bn(F.batch_norm_fused, x, gamma, beta, dy),
                      "composite": tape_bn(F.batch_norm_composite, x, gamma, beta, dy),
                      "numpy": lambda: numpy_bn_fwd_bwd(x, gamma, beta, dy),
                      "torch": torch_bn(torch, x, gamma, beta, dy) if torch is not None else None})
    t_fused, t_comp, t_np, t_torch = t["fused"], t["composite"], t["numpy"], t["torch"]
    extra = ""
    if n * d >= 1 << 20:
        # forward: 2 reads of x + 1 write of y; backward: 2 reads of (x, dy) + 1 write of dx
        nbytes = 8 * x.nbytes
        extra = f"{_gbs(nbytes, t_fused):5.1f} GB/s (8 passes) vs copy {copy_gbs:5.1f} GB/s"
    return report(f"batch_norm fwd+bwd f32 {shape}", t_fused,
                  {"composite": t_comp, "numpy": t_np, "torch": t_torch}, extra)


# ---------------------------------------------------------------------------
# Softmax cross-entropy
# ---------------------------------------------------------------------------

def numpy_ce_fwd_bwd(logits, labels):
    """Hand-written NumPy softmax cross-entropy (mean) and its gradient."""
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = np.mean(np.log(s[:, 0]) - z[rows, labels])
    grad = e / s
    grad[rows, labels] -= 1
    grad /= n
    return loss, grad


def tape_ce(fn, logits, labels):
    X = tg.Var(logits)

    def run():
        with tg.GradientTape() as tape:
            loss = fn(X, labels)
        return tape.gradient(loss, X)
    return run


def torch_ce(torch, logits, labels):
    tx = torch.tensor(logits, requires_grad=True)
    tl = torch.tensor(labels)

    def run():
        tx.grad = None
        loss = torch.nn.functional.cross_entropy(tx, tl)
        loss.backward()
    return run


def bench_ce(shape, torch, copy_gbs):
    rng = np.random.default_rng(1)
    n, c = shape
    logits = rng.standard_normal(shape, dtype=np.float32) * 3
    labels = rng.integers(0, c, n).astype(np.int64)
    t = median_times({"fused": tape_ce(F.softmax_cross_entropy_fused, logits, labels),
                      "composite": tape_ce(F.softmax_cross_entropy_composite, logits, labels),
                      "numpy": lambda: numpy_ce_fwd_bwd(logits, labels),
                      "torch": torch_ce(torch, logits, labels) if torch is not None else None})
    t_fused, t_comp, t_np, t_torch = t["fused"], t["composite"], t["numpy"], t["torch"]
    extra = ""
    if n * c >= 1 << 20:
        nbytes = 2 * logits.nbytes          # one read of the logits, one write of the gradient
        extra = f"{_gbs(nbytes, t_fused):5.1f} GB/s (2 passes) vs copy {copy_gbs:5.1f} GB/s"
    return report(f"softmax_ce fwd+bwd f32 {shape}", t_fused,
                  {"composite": t_comp, "numpy": t_np, "torch": t_torch}, extra)


# ---------------------------------------------------------------------------
# Adam
# ---------------------------------------------------------------------------

def bench_adam(size, torch, copy_gbs):
    rng = np.random.default_rng(2)
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-7
    p = rng.standard_normal(size, dtype=np.float32)
    g = rng.standard_normal(size, dtype=np.float32)
    m = np.zeros(size, np.float32)
    v = np.zeros(size, np.float32)
    alpha = lr * np.sqrt(1 - b2) / (1 - b1)

    def fused():
        _optim.adam_update(p, g, m, v, None, alpha, b1, b2, eps)

    pn, mn, vn = p.copy(), m.copy(), v.copy()
    tmp = np.empty_like(pn)
    tmp2 = np.empty_like(pn)

    def numpy_inplace():
        # in-place NumPy, as a careful user would write it (12 ufunc passes, no temporaries)
        np.subtract(g, mn, out=tmp)
        np.multiply(tmp, 1 - b1, out=tmp)
        np.add(mn, tmp, out=mn)
        np.multiply(g, g, out=tmp)
        np.subtract(tmp, vn, out=tmp)
        np.multiply(tmp, 1 - b2, out=tmp)
        np.add(vn, tmp, out=vn)
        np.sqrt(vn, out=tmp)
        np.add(tmp, eps, out=tmp)
        np.multiply(mn, alpha, out=tmp2)
        np.divide(tmp2, tmp, out=tmp2)
        np.subtract(pn, tmp2, out=pn)

    pt, st = p.copy(), {"m": m.copy(), "v": v.copy()}

    def numpy_textbook():
        # the Keras formulas as a student writes them (temporaries for every sub-expression)
        st["m"] = b1 * st["m"] + (1 - b1) * g
        st["v"] = b2 * st["v"] + (1 - b2) * g ** 2
        pt[...] -= alpha * st["m"] / (np.sqrt(st["v"]) + eps)

    torch_step = None
    if torch is not None:
        tp = torch.nn.Parameter(torch.tensor(p))
        tp.grad = torch.tensor(g)
        torch_step = torch.optim.Adam([tp], lr=lr, betas=(b1, b2), eps=eps).step
    t = median_times({"fused": fused, "in-place": numpy_inplace, "textbook": numpy_textbook,
                      "torch": torch_step})
    t_fused, t_np, t_text, t_torch = t["fused"], t["in-place"], t["textbook"], t["torch"]
    nbytes = 7 * p.nbytes                   # read p, g, m, v; write p, m, v
    bound = nbytes / (copy_gbs * 1e9)
    extra = (f"{_gbs(nbytes, t_fused):5.1f} GB/s vs copy {copy_gbs:5.1f} GB/s; "
             f"bandwidth bound {fmt_time(bound).strip()}, ours/bound {t_fused / bound:4.2f}")
    if t_fused < bound:
        # p, g, m, v are 4 x size x 4 bytes: a 16 MB working set can stay in a large L3,
        # while the copy bandwidth is measured on 128 MiB (DRAM)
        extra += f" (working set {4 * p.nbytes / 1e6:.0f} MB: cache-resident, faster than the DRAM copy)"
    return report(f"adam_update f32 ({size:,} params)", t_fused,
                  {"numpy (in-place)": t_np, "numpy (textbook)": t_text, "torch": t_torch}, extra)


def main(argv=None):
    torch = try_import_torch()
    if torch is not None:
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    from tinygrad_bn._kernels import batchnorm
    copy_gbs = copy_bandwidth()
    print(f"# kernels bench: {batchnorm.max_threads()} OpenMP threads, torch "
          f"{'n/a' if torch is None else torch.__version__}, copy bandwidth {copy_gbs:.1f} GB/s "
          f"(np.copyto 64 MiB, reads + writes)", flush=True)
    lines = [
        bench_bn((256, 256), torch, copy_gbs),
        bench_bn((4096, 1024), torch, copy_gbs),
        bench_ce((512, 10), torch, copy_gbs),
        bench_ce((4096, 1000), torch, copy_gbs),
        bench_adam(1_000_000, torch, copy_gbs),
    ]
    return lines


if __name__ == "__main__":
    main()
