"""Fused batch norm == composite batch norm (forward, every gradient), errors, determinism."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_bn as tg
from tinygrad_bn.nn import functional as F

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
    x = (rng.standard_normal((2048, 160)) * 3 + 1).astype(np.float32)   # big enough for threads
    g = rng.random(160).astype(np.float32)
    b = rng.random(160).astype(np.float32)
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
    with pytest.raises(ValueError, match="0-d"):
        F.batch_norm_fused(np.float32(1.0), None, None)
    from tinygrad_bn._kernels import batchnorm as K
    with pytest.raises(ValueError, match="bn_train_forward: out has shape"):
        K.bn_train_forward(x, np.ones(3, np.float32), np.zeros(3, np.float32), 1e-3,
                           np.empty((3, 3), np.float32), np.empty(3), np.empty(3), np.empty(3))
    with pytest.raises(ValueError):   # non-contiguous straight into the kernel is refused
        K.bn_affine(np.ones((4, 6), np.float32)[:, ::2], np.ones(3), np.zeros(3), np.empty((4, 3), np.float32))


def test_mixed_dtype_uses_composite_promotion():
    x = np.ones((4, 3), np.float32)
    y = F.batch_norm(x, np.ones(3), np.zeros(3))          # float64 params: NumPy promotion
    assert y.dtype == np.float64
