"""Fused batch norm == composite batch norm (forward, every gradient), errors, determinism."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_bn as tg
from tinygrad_bn.keras import functional as F

RTOL = {np.float32: 1e-5, np.float64: 1e-10}
ATOL = {np.float32: 1e-5, np.float64: 1e-10}


def run(fn, x, gamma, beta, dy, **kw):
    """Forward value, batch stats and the gradients of sum(dy * y) w.r.t. x, gamma, beta."""
    X = tg.Var(x)
    G = None if gamma is None else tg.Var(gamma)
    B = None if beta is None else tg.Var(beta)
    with tg.GradientTape() as tape:
        tape.watch(X)
        y, mu, var = fn(X, G, B, return_stats=True, **kw)
    srcs = [X] + [v for v in (G, B) if v is not None]
    grads = tape.gradient(y, srcs, output_gradients=dy)
    return [np.asarray(y.data), mu, var] + [np.asarray(g.data) for g in grads]


def assert_paths_agree(x, gamma, beta, dy=None, ref_dtype=None, rtol=None, atol=None, **kw):
    dt = x.dtype.type
    rtol = RTOL[dt] if rtol is None else rtol
    atol = ATOL[dt] if atol is None else atol
    if dy is None:
        dy = np.random.default_rng(7).standard_normal(x.shape).astype(x.dtype)
    fused = run(F.batch_norm_fused, x, gamma, beta, dy, **kw)
    if ref_dtype is not None:   # composite in higher precision on the same values
        cast = lambda a: None if a is None else a.astype(ref_dtype)  # noqa: E731
        comp = run(F.batch_norm_composite, cast(x), cast(gamma), cast(beta), cast(dy), **kw)
    else:
        comp = run(F.batch_norm_composite, x, gamma, beta, dy, **kw)
    names = ["y", "mean", "var", "dx", "dgamma", "dbeta"]
    if gamma is None:
        names.remove("dgamma")
    if beta is None:
        names.remove("dbeta")
    assert len(fused) == len(comp) == len(names)
    for name, a, b in zip(names, fused, comp):
        assert a.shape == b.shape, name
        assert not np.isnan(a).any(), name
        if name in ("y", "dx", "dgamma", "dbeta"):
            assert a.dtype == x.dtype, name
        scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
        np.testing.assert_allclose(a, b.astype(a.dtype), rtol=rtol, atol=atol * scale, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (7, 1), (8, 3), (64, 17), (3, 4, 5, 6), (5,), (600, 70)])
def test_fused_matches_composite(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    d = shape[-1]
    gamma = (rng.random(d) + 0.5).astype(dtype)
    beta = rng.standard_normal(d).astype(dtype)
    assert_paths_agree(x, gamma, beta)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_scale_no_center(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 4)).astype(dtype)
    assert_paths_agree(x, None, None)
    assert_paths_agree(x, None, np.ones(4, dtype))
    assert_paths_agree(x, np.full(4, 2, dtype), None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_contiguous(dtype):
    rng = np.random.default_rng(4)
    base = rng.standard_normal((20, 12)).astype(dtype)
    x = base[::2, ::3]                        # strided view, not contiguous
    assert not x.flags.c_contiguous
    gamma = rng.random(8).astype(dtype)[::2]
    beta = rng.random(8).astype(dtype)[::2]
    assert_paths_agree(x, gamma, beta)
    xt = rng.standard_normal((6, 5)).astype(dtype).T   # Fortran order
    assert_paths_agree(xt, np.ones(6, dtype), np.zeros(6, dtype))


def test_large_mean_small_variance_float64():
    rng = np.random.default_rng(5)
    x = 1e4 + rng.standard_normal((256, 8)) * 1e-2
    # condition number |mean| / std = 1e6: the float64 composite itself is only
    # good to ~1e6 * 1e-16 here (x - mean cancels), so compare at that level
    assert_paths_agree(x, np.ones(8), np.zeros(8), rtol=1e-10, atol=1e-9)


def test_large_mean_small_variance_float32_is_exact():
    # float32 data at mean 1e4, std 1e-1: the fused kernel (statistics and
    # arithmetic in double) agrees with the float64 composite on the same values
    # to float32 rounding; the float32 composite itself cannot (its mean is rounded).
    rng = np.random.default_rng(6)
    x = (1e4 + rng.standard_normal((512, 8)) * 1e-1).astype(np.float32)
    gamma = (rng.random(8) + 0.5).astype(np.float32)
    beta = rng.standard_normal(8).astype(np.float32)
    assert_paths_agree(x, gamma, beta, ref_dtype=np.float64, rtol=1e-5, atol=1e-5)


def test_batch_of_one_gives_beta():
    beta = np.array([1.0, -2.0, 3.0], np.float32)
    for fn in (F.batch_norm_fused, F.batch_norm_composite):
        y, mu, var = fn(np.array([[5.0, 6.0, 7.0]], np.float32), np.ones(3, np.float32), beta,
                        return_stats=True)
        np.testing.assert_array_equal(np.asarray(y.data), beta[None])
        np.testing.assert_array_equal(var, 0)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), d=st.integers(1, 9), lead=st.integers(1, 3),
       loc=st.sampled_from([0.0, 3.0, -50.0]), scale=st.sampled_from([1e-2, 1.0, 30.0]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_hypothesis_fused_matches_composite(n, d, lead, loc, scale, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = (lead, n, d) if lead > 1 else (n, d)
    x = (loc + scale * rng.standard_normal(shape)).astype(dtype)
    gamma = rng.standard_normal(d).astype(dtype)
    beta = rng.standard_normal(d).astype(dtype)
    if dtype is np.float32:
        # the float32 composite loses digits in x - mean when |mean| >> std; the fused
        # kernel works in double, so hold it to the float64 composite on the same values
        assert_paths_agree(x, gamma, beta, ref_dtype=np.float64)
    else:
        assert_paths_agree(x, gamma, beta, rtol=1e-10, atol=1e-10 * max(1.0, abs(loc) / scale))


@pytest.mark.parametrize("path", [F.batch_norm_fused, F.batch_norm_composite])
def test_gradcheck_train(path):
    rng = np.random.default_rng(8)
    assert tg.gradcheck(lambda x, g, b: path(x, g, b), rng.standard_normal((6, 3)),
                        rng.random(3) + 0.5, rng.standard_normal(3))
    assert tg.gradcheck(lambda x, g, b: path(x, g, b), rng.standard_normal((2, 3, 2)),
                        rng.random(2) + 0.5, rng.standard_normal(2))


@pytest.mark.parametrize("path", [F.batch_norm_inference_fused, F.batch_norm_inference_composite])
def test_gradcheck_inference(path):
    rng = np.random.default_rng(9)
    mm, mv = rng.standard_normal(3), rng.random(3) + 0.1
    assert tg.gradcheck(lambda x, g, b: path(x, mm, mv, g, b), rng.standard_normal((5, 3)),
                        rng.random(3) + 0.5, rng.standard_normal(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 4), (9, 4), (2, 3, 3, 4)])
def test_inference_fused_matches_composite(shape, dtype):
    rng = np.random.default_rng(10)
    x = rng.standard_normal(shape).astype(dtype)
    d = shape[-1]
    mm, mv = rng.standard_normal(d).astype(dtype), (rng.random(d) + 0.1).astype(dtype)
    gamma, beta = rng.standard_normal(d).astype(dtype), rng.standard_normal(d).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    out = []
    for fn in (F.batch_norm_inference_fused, F.batch_norm_inference_composite):
        X, G, B = tg.Var(x), tg.Var(gamma), tg.Var(beta)
        with tg.GradientTape() as tape:
            y = fn(X, mm, mv, G, B)
        out.append([y.data] + [g.data for g in tape.gradient(y, [X, G, B], output_gradients=dy)])
    for a, b in zip(*out):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=RTOL[dtype], atol=ATOL[dtype])


def test_dispatch_follows_config():
    x = np.random.default_rng(11).standard_normal((4, 3))
    g, b = np.ones(3), np.zeros(3)
    X = tg.Var(x)
    with tg.config(fused=True):
        with tg.GradientTape() as tape:
            F.batch_norm(X, g, b)
        assert len(tape) == 1                       # one fused op on the tape
    with tg.config(fused=False):
        with tg.GradientTape() as tape:
            F.batch_norm(X, g, b)
        assert len(tape) > 3                        # built from primitives


def test_deterministic_and_large_parallel():
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((4096, 260)) * 3 + 1).astype(np.float32)   # big enough for threads
    g = rng.random(260).astype(np.float32)
    b = rng.random(260).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    r1 = run(F.batch_norm_fused, x, g, b, dy)
    r2 = run(F.batch_norm_fused, x, g, b, dy)
    for a, c in zip(r1, r2):
        np.testing.assert_array_equal(a, c)
    comp = run(F.batch_norm_composite, x.astype(np.float64), g.astype(np.float64),
               b.astype(np.float64), dy.astype(np.float64))
    for a, c in zip(r1, comp):
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-3 * max(1, np.abs(c).max()))


def test_errors():
    x = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"gamma has shape \(2,\), expected \(3,\)"):
        F.batch_norm_fused(x, np.ones(2, np.float32), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="beta"):
        F.batch_norm(x, np.ones(3, np.float32), np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="floating point"):
        F.batch_norm_fused(np.ones((4, 3), np.int64), None, None)
    with pytest.raises(ValueError, match="batch_norm"):
        F.batch_norm_fused(np.float32(1.0), None, None)
    from tinygrad_bn._kernels import batchnorm as K
    with pytest.raises(ValueError, match="bn_train_forward: out has shape"):
        K.bn_train_forward(x, np.ones(3, np.float32), np.zeros(3, np.float32), 1e-3,
                           np.empty((3, 3), np.float32), np.empty(3), np.empty(3), np.empty(3))
    # a strided input straight into the kernel is copied; a strided output is refused
    out = np.empty((4, 3), np.float32)
    K.bn_affine(np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2], np.full(3, 2.0), np.ones(3), out)
    np.testing.assert_array_equal(out, np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2] * 2 + 1)
    with pytest.raises(ValueError, match="bn_affine: out must be C-contiguous"):
        K.bn_affine(np.ones((4, 3), np.float32), np.ones(3), np.zeros(3), np.empty((4, 6), np.float32)[:, ::2])


def test_mixed_dtype_uses_composite_promotion():
    x = np.ones((4, 3), np.float32)
    y = F.batch_norm(x, np.ones(3), np.zeros(3))          # float64 params: NumPy promotion
    assert y.dtype == np.float64


# ---------------------------------------------------------------------------
# float32 kernels: float arithmetic on shifted values (see kernels/batchnorm.pyx)
# ---------------------------------------------------------------------------

def _np_reference(x, gamma, beta, dy, eps=1e-3):
    """float64 NumPy forward + backward on the same values (two-pass statistics)."""
    x, gamma, beta, dy = (a.astype(np.float64) for a in (x, gamma, beta, dy))
    n = x.shape[0]
    mu = x.mean(0)
    xc = x - mu
    var = (xc * xc).mean(0)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = xc * inv
    y = gamma * xhat + beta
    dbeta = dy.sum(0)
    dgamma = (dy * xhat).sum(0)
    dx = (gamma * inv / n) * (n * dy - dbeta - xhat * dgamma)
    return y, mu, var, dx, dgamma, dbeta


def _check_kernels_f32(x, gamma, beta, dy, rtol=1e-5):
    from tinygrad_bn._kernels import batchnorm as K
    y, mu, var, invstd = K.bn_train_forward(x, gamma, beta, 1e-3)
    dx, dgamma, dbeta = K.bn_train_backward(x, dy, mu, invstd, gamma)
    assert y.dtype == dx.dtype == dgamma.dtype == dbeta.dtype == np.float32
    ref = _np_reference(x, gamma, beta, dy)
    for name, a, b in zip(["y", "mean", "var", "dx", "dgamma", "dbeta"],
                          [y, mu, var, dx, dgamma, dbeta], ref):
        assert np.isfinite(a).all(), name
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(1.0, np.abs(b).max()), err_msg=name)


@pytest.mark.parametrize("shape", [(1027, 37), (300, 1030), (4, 8), (5, 9), (8192, 130), (64, 7)])
@pytest.mark.parametrize("loc, scale", [(0.0, 1.0), (1e4, 1e-2), (-3e3, 0.5), (1e4, 1e-1)])
def test_f32_kernels_match_float64(shape, loc, scale):
    # shapes: tails of the 8-lane loops (d % 8), of the 4-row groups (n % 4), several column
    # tiles (d > 512), several row blocks and threads (8192 x 130 is above the parallel size)
    rng = np.random.default_rng(shape[0] * shape[1])
    x = (loc + scale * rng.standard_normal(shape)).astype(np.float32)
    gamma = (rng.random(shape[1]) + 0.5).astype(np.float32)
    beta = rng.standard_normal(shape[1]).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    _check_kernels_f32(x, gamma, beta, dy)


def test_f32_outlier_first_rows():
    # the shift comes from the first rows: an outlier there must not cost accuracy
    rng = np.random.default_rng(21)
    x = (1e3 + rng.standard_normal((600, 24))).astype(np.float32)
    x[0] += 200.0
    x[1] -= 150.0
    gamma = (rng.random(24) + 0.5).astype(np.float32)
    beta = rng.standard_normal(24).astype(np.float32)
    _check_kernels_f32(x, gamma, beta, rng.standard_normal(x.shape).astype(np.float32))


@pytest.mark.parametrize("baseline", [True, False])
def test_f32_baseline_and_best_isa_agree(baseline):
    from tinygrad_bn._kernels import batchnorm as K
    level = K.select_isa()
    try:
        K.select_isa(baseline=baseline)
        rng = np.random.default_rng(22)
        x = (5e3 + 0.3 * rng.standard_normal((3, 37, 45))).astype(np.float32)
        gamma = (rng.random(45) + 0.5).astype(np.float32)
        beta = rng.standard_normal(45).astype(np.float32)
        assert_paths_agree(x, gamma, beta, ref_dtype=np.float64)
        _check_kernels_f32(x.reshape(-1, 45), gamma, beta,
                           rng.standard_normal((111, 45)).astype(np.float32))
    finally:
        assert K.select_isa() == level


def test_f32_batch_of_one_and_constant_columns():
    from tinygrad_bn._kernels import batchnorm as K
    beta = np.array([0.5, -1.0, 2.0], np.float32)
    for n in (1, 7, 64):
        x = np.tile(np.array([[1e4, -3.0, 0.0]], np.float32), (n, 1))
        y, mu, var, invstd = K.bn_train_forward(x, np.ones(3, np.float32), beta, 1e-3)
        np.testing.assert_array_equal(y, np.broadcast_to(beta, x.shape))
        np.testing.assert_array_equal(var, 0)
        np.testing.assert_array_equal(mu, x[0])
        dx, dg, db = K.bn_train_backward(x, np.ones_like(x), mu, invstd, np.ones(3, np.float32))
        assert np.isfinite(dx).all()


def test_kernel_outputs_allocated_or_given():
    from tinygrad_bn._kernels import batchnorm as K
    rng = np.random.default_rng(23)
    for dt in (np.float32, np.float64):
        x = rng.standard_normal((9, 5)).astype(dt)
        g, b = np.ones(5, dt), np.zeros(5, dt)
        dy = rng.standard_normal((9, 5)).astype(dt)
        y, mu, var, inv = K.bn_train_forward(x, g, b, 1e-3)
        assert y.dtype == dt and mu.dtype == var.dtype == inv.dtype == np.float64
        bufs = (np.empty_like(x), np.empty(5), np.empty(5), np.empty(5))
        res = K.bn_train_forward(x, g, b, 1e-3, *bufs)
        assert all(r is o for r, o in zip(res, bufs))
        np.testing.assert_array_equal(res[0], y)
        dx, dgamma, dbeta = K.bn_train_backward(x, dy, mu, inv, g)
        assert dx.dtype == dgamma.dtype == dbeta.dtype == dt
        d64 = (np.empty_like(x), np.empty(5), np.empty(5))            # float64 sums also accepted
        res = K.bn_train_backward(x, dy, mu, inv, g, *d64)
        assert all(r is o for r, o in zip(res, d64))
        np.testing.assert_allclose(d64[1], dgamma, rtol=1e-6)
        np.testing.assert_allclose(d64[2], dbeta, rtol=1e-6)


def test_kernel_argument_errors():
    from tinygrad_bn._kernels import batchnorm as K
    x = np.ones((4, 3), np.float32)
    g, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    with pytest.raises(TypeError, match="bn_train_forward: gamma must have dtype float32"):
        K.bn_train_forward(x, np.ones(3), b, 1e-3)
    with pytest.raises(TypeError, match="float32 or float64"):
        K.bn_train_forward(x.astype(np.int32), g, b, 1e-3)
    # byte-swapped and strided inputs are copied (same result), outputs must be C-contiguous
    xs = np.arange(12, dtype=np.float32).reshape(4, 3)
    ref = K.bn_train_forward(xs, g, b, 1e-3)[0]
    np.testing.assert_array_equal(K.bn_train_forward(xs.astype(">f4"), g, b, 1e-3)[0], ref)
    np.testing.assert_array_equal(
        K.bn_train_forward(np.repeat(xs, 2, axis=1)[:, ::2], g, b, 1e-3)[0], ref)
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        K.bn_train_forward(x, g, b, 1e-3, np.empty((4, 6), np.float32)[:, ::2])
    with pytest.raises(ValueError, match="2 dimension"):
        K.bn_train_forward(np.ones(3, np.float32), g, b, 1e-3)
    with pytest.raises(ValueError, match="epsilon"):
        K.bn_train_forward(x, g, b, -1.0)
    with pytest.raises(ValueError, match="read-only"):
        out = np.empty_like(x)
        out.flags.writeable = False
        K.bn_train_forward(x, g, b, 1e-3, out)
    y, mu, var, inv = K.bn_train_forward(x, g, b, 1e-3)
    with pytest.raises(ValueError, match=r"bn_train_backward: dy has shape \(4, 2\)"):
        K.bn_train_backward(x, np.ones((4, 2), np.float32), mu, inv, g)
    with pytest.raises(TypeError, match="mean must have dtype float64"):
        K.bn_train_backward(x, x, mu.astype(np.float32), inv, g)
    with pytest.raises(TypeError, match="NumPy array"):
        K.bn_train_backward(x, x, list(mu), inv, g)
    with pytest.raises(TypeError, match="dgamma must have dtype float64"):
        K.bn_train_backward(x, x, mu, inv, g, None, np.empty(3, np.int64))


def test_f32_bit_identical_across_thread_counts(tmp_path):
    # the row blocks and their summation order depend only on the shape
    import os
    import subprocess
    import sys
    code = (
        "import sys, numpy as np\n"
        "from tinygrad_bn._kernels import batchnorm as K\n"
        "rng = np.random.default_rng(31)\n"
        "x = (7 + 3 * rng.standard_normal((5300, 200))).astype(np.float32)\n"
        "dy = rng.standard_normal(x.shape).astype(np.float32)\n"
        "g = (rng.random(200) + 0.5).astype(np.float32); b = rng.random(200).astype(np.float32)\n"
        "y, mu, var, inv = K.bn_train_forward(x, g, b, 1e-3)\n"
        "dx, dg, db = K.bn_train_backward(x, dy, mu, inv, g)\n"
        "np.savez(sys.argv[1], y=y, mu=mu, var=var, dx=dx, dg=dg, db=db)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = {}
    for t in (1, 2):
        env = dict(os.environ, OMP_NUM_THREADS=str(t), PYTHONPATH=root)
        path = tmp_path / f"t{t}.npz"
        subprocess.run([sys.executable, "-c", code, str(path)], env=env, check=True, timeout=120)
        out[t] = np.load(path)
    for k in out[1].files:
        np.testing.assert_array_equal(out[1][k], out[2][k], err_msg=k)


def test_misaligned_input_is_copied_by_the_op_and_the_kernel():
    from tinygrad_bn._kernels import batchnorm as K
    rng = np.random.default_rng(41)
    raw = np.zeros(4 * 6 * 5 + 1, np.uint8)[1:]            # float32 data at an odd address
    x = raw.view(np.float32).reshape(6, 5)
    x[...] = rng.standard_normal((6, 5))
    assert not x.flags.aligned and x.flags.c_contiguous
    assert_paths_agree(x, np.ones(5, np.float32), np.zeros(5, np.float32))
    y = K.bn_train_forward(x, np.ones(5, np.float32), np.zeros(5, np.float32), 1e-3)[0]
    np.testing.assert_array_equal(
        y, K.bn_train_forward(x.copy(), np.ones(5, np.float32), np.zeros(5, np.float32), 1e-3)[0])
    out = np.zeros(4 * 6 * 5 + 1, np.uint8)[1:].view(np.float32).reshape(6, 5)
    with pytest.raises(ValueError, match="out must be aligned"):
        K.bn_train_forward(x.copy(), np.ones(5, np.float32), np.zeros(5, np.float32), 1e-3, out)
