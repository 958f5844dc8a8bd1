"""Fused softmax cross-entropy == composite (loss and gradient), labels, errors, stability."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_bn as tg
from tinygrad_bn.keras import functional as F

RTOL = {np.float32: 1e-5, np.float64: 1e-10}
ATOL = {np.float32: 1e-6, np.float64: 1e-12}


def run(fn, logits, labels, reduction="mean", ls=0.0, seed=0):
    X = tg.Var(logits)
    with tg.GradientTape() as tape:
        loss = fn(X, labels, reduction=reduction, label_smoothing=ls)
    u = None
    if reduction == "none":
        u = np.random.default_rng(seed).standard_normal(loss.shape).astype(logits.dtype)
    grad = tape.gradient(loss, X, output_gradients=u)
    return np.asarray(loss.data), np.asarray(grad.data)


def agree(logits, labels, reduction="mean", ls=0.0, rtol=None, atol=None):
    dt = logits.dtype.type
    rtol = RTOL[dt] if rtol is None else rtol
    atol = ATOL[dt] if atol is None else atol
    lf, gf = run(F.softmax_cross_entropy_fused, logits, labels, reduction, ls)
    lc, gc = run(F.softmax_cross_entropy_composite, logits, labels, reduction, ls)
    assert lf.shape == lc.shape and gf.shape == gc.shape == logits.shape
    assert lf.dtype == gf.dtype == logits.dtype
    assert np.isfinite(lf).all() and np.isfinite(gf).all()
    lscale = max(1.0, float(np.max(np.abs(lc)))) if lc.size else 1.0
    np.testing.assert_allclose(lf, lc, rtol=rtol, atol=atol * lscale, err_msg="loss")
    np.testing.assert_allclose(gf, gc, rtol=rtol, atol=atol, err_msg="grad")
    return lf, gf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ls", [0.0, 0.1])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 3), (33, 10), (16, 130)])
def test_sparse_and_dense(shape, reduction, ls, dtype):
    rng = np.random.default_rng(sum(shape))
    logits = (rng.standard_normal(shape) * 3).astype(dtype)
    n, c = shape
    for lab_dtype in (np.int32, np.int64):
        labels = rng.integers(0, c, n).astype(lab_dtype)
        agree(logits, labels, reduction, ls)
    onehot = np.eye(c, dtype=dtype)[rng.integers(0, c, n)]
    agree(logits, onehot, reduction, ls)
    probs = rng.random(shape).astype(dtype)
    probs /= probs.sum(axis=1, keepdims=True)
    agree(logits, probs, reduction, ls)


def test_sparse_equals_onehot_fused():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((9, 6)).astype(np.float32)
    labels = rng.integers(0, 6, 9)
    a = run(F.softmax_cross_entropy_fused, logits, labels, ls=0.2)
    b = run(F.softmax_cross_entropy_fused, logits, np.eye(6, dtype=np.float32)[labels], ls=0.2)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [5e3, 1e4, 1e4 - 1], [0, 0, 1e4]], dtype)
    labels = np.array([1, 0, 2, 2])
    for red in ("mean", "none"):
        lf, gf = agree(logits, labels, red, rtol=RTOL[dtype], atol=1e-6)
        assert np.isfinite(lf).all() and np.isfinite(gf).all()
    lf, _ = run(F.softmax_cross_entropy_fused, logits, labels, "none")
    np.testing.assert_allclose(lf[0], 2e4, rtol=1e-6)
    np.testing.assert_allclose(lf[1], np.log(3), rtol=1e-6)
    agree(logits, np.eye(3, dtype=dtype)[labels], "sum", 0.1, atol=1e-6)


def test_non_contiguous_and_incoming_gradient():
    rng = np.random.default_rng(2)
    base = rng.standard_normal((12, 20)).astype(np.float32)
    logits = base[::2, ::3]
    labels = rng.integers(0, logits.shape[1], logits.shape[0])
    agree(logits, labels)
    agree(logits.T.copy().T, labels)
    # loss scaled by 3: the cached gradient is scaled, not reused as is
    for fn in (F.softmax_cross_entropy_fused, F.softmax_cross_entropy_composite):
        X = tg.Var(logits)
        with tg.GradientTape() as tape:
            loss = fn(X, labels) * 3.0
        g = tape.gradient(loss, X).data
        _, g1 = run(fn, logits, labels)
        np.testing.assert_allclose(g, 3 * g1, rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 30), c=st.integers(1, 40), scale=st.sampled_from([0.1, 3.0, 100.0]),
       sparse=st.booleans(), reduction=st.sampled_from(["mean", "sum", "none"]),
       ls=st.sampled_from([0.0, 0.05, 1.0]), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_hypothesis(n, c, scale, sparse, reduction, ls, dtype, seed):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, c)) * scale).astype(dtype)
    if sparse:
        labels = rng.integers(0, c, n).astype(rng.choice([np.int32, np.int64]))
    else:
        labels = rng.random((n, c)).astype(dtype)
        labels /= labels.sum(axis=1, keepdims=True)
    tol = 1 if dtype is np.float64 else 10 * scale
    agree(logits, labels, reduction, ls, atol=ATOL[dtype] * tol)


@pytest.mark.parametrize("path", [F.softmax_cross_entropy_fused, F.softmax_cross_entropy_composite])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradcheck(path, reduction):
    rng = np.random.default_rng(3)
    labels = np.array([0, 2, 1, 2])
    assert tg.gradcheck(lambda x: path(x, labels, reduction=reduction, label_smoothing=0.1),
                        rng.standard_normal((4, 3)))
    dense = rng.random((4, 3))
    assert tg.gradcheck(lambda x: path(x, dense, reduction=reduction), rng.standard_normal((4, 3)))


def test_label_out_of_range_names_label_and_index():
    logits = np.zeros((5, 3), np.float32)
    for fn in (F.softmax_cross_entropy, F.softmax_cross_entropy_fused, F.softmax_cross_entropy_composite):
        with pytest.raises(ValueError, match=r"label 3 at index 2 .*\[0, 3\)"):
            fn(logits, np.array([0, 1, 3, 7, 1]))
        with pytest.raises(ValueError, match=r"label -1 at index 0"):
            fn(logits, np.array([-1, 1, 2, 0, 1], np.int32))


def test_errors():
    logits = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        F.softmax_cross_entropy(logits, np.zeros(5, np.int64))
    with pytest.raises(ValueError, match="dense labels"):
        F.softmax_cross_entropy(logits, np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        F.softmax_cross_entropy(np.zeros(3, np.float32), np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="floating point"):
        F.softmax_cross_entropy(np.zeros((4, 3), np.int64), np.zeros(4, np.int64))
    with pytest.raises(TypeError, match="labels"):
        F.softmax_cross_entropy(logits, np.array(["a"] * 4))
    with pytest.raises(ValueError, match="reduction"):
        F.softmax_cross_entropy(logits, np.zeros(4, np.int64), reduction="avg")


def test_deterministic_parallel_rows():
    rng = np.random.default_rng(4)
    logits = (rng.standard_normal((3000, 100)) * 4).astype(np.float32)   # above the parallel size
    labels = rng.integers(0, 100, 3000)
    a = run(F.softmax_cross_entropy_fused, logits, labels)
    b = run(F.softmax_cross_entropy_fused, logits, labels)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    c = run(F.softmax_cross_entropy_composite, logits.astype(np.float64), labels)
    np.testing.assert_allclose(a[0], c[0], rtol=1e-6)
    np.testing.assert_allclose(a[1], c[1], rtol=1e-4, atol=1e-8)


def test_baseline_and_simd_kernels_agree():
    from tinygrad_bn._kernels import softmax_ce as K
    rng = np.random.default_rng(5)
    logits = (rng.standard_normal((64, 37)) * 5).astype(np.float32)
    labels = rng.integers(0, 37, 64)
    level = K.select_isa()
    try:
        K.select_isa(baseline=True)
        base = run(F.softmax_cross_entropy_fused, logits, labels)
    finally:
        assert K.select_isa() == level
    best = run(F.softmax_cross_entropy_fused, logits, labels)
    np.testing.assert_allclose(base[0], best[0], rtol=1e-6)
    np.testing.assert_allclose(base[1], best[1], rtol=1e-5, atol=1e-8)


def test_fast_expf_accuracy():
    from tinygrad_bn._kernels import softmax_ce as K
    x = np.concatenate([-np.logspace(-8, np.log10(86.9), 5000), [0.0, -87.5, -1e4, -np.inf]]).astype(np.float32)
    out = np.empty_like(x)
    K.expf_vec(x, out)
    ref = np.exp(x.astype(np.float64))
    ok = x > -87
    np.testing.assert_allclose(out[ok], ref[ok], rtol=3e-7)
    assert (out[~ok] == 0).all()


def test_dispatch_follows_config():
    X = tg.Var(np.zeros((3, 4)))
    labels = np.array([0, 1, 2])
    with tg.config(fused=True):
        with tg.GradientTape() as tape:
            F.softmax_cross_entropy(X, labels)
        assert len(tape) == 1
    with tg.config(fused=False):
        with tg.GradientTape() as tape:
            F.softmax_cross_entropy(X, labels)
        assert len(tape) > 2


# ---------------------------------------------------------------------------
# The few-classes float32 path (C <= 32: 8 rows per vector, one row per lane)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("c", [1, 2, 3, 7, 8, 9, 10, 15, 16, 17, 31, 32, 33])
def test_small_c_path_every_width(c):
    rng = np.random.default_rng(100 + c)
    for n in (1, 7, 8, 9, 23, 64):     # partial and full blocks of 8 rows
        logits = (rng.standard_normal((n, c)) * 4).astype(np.float32)
        labels = rng.integers(0, c, n)
        for ls in (0.0, 0.1):
            agree(logits, labels.astype(np.int32), "none", ls)
            agree(logits, labels, "mean", ls)
            probs = rng.random((n, c)).astype(np.float32)
            probs /= probs.sum(axis=1, keepdims=True)
            agree(logits, probs, "sum", ls)


def _kernel_rows(x, y, ls=0.0):
    from tinygrad_bn._kernels import softmax_ce as K
    g = np.empty(x.shape, x.dtype.newbyteorder("="))
    loss = np.empty(x.shape[0])
    if y.dtype.kind == "f":
        K.ce_forward_dense(x, y, ls, 1.0, g, loss)
    else:
        K.ce_forward_sparse(x, y, ls, 1.0, g, loss)
    return loss, g


@pytest.mark.parametrize("c", [3, 10, 24, 100])
def test_rows_do_not_depend_on_block_position_or_threads(c):
    # a row's loss and gradient are bit-identical whichever block of 8 (or thread) computed it;
    # n * c >= 262144 runs in parallel, the short slices serially
    n = 262144 // c + 9
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((n, c)) * 3).astype(np.float32)
    y = rng.integers(0, c, n)
    d = rng.random((n, c)).astype(np.float32)
    for lab in (y, d):
        loss, g = _kernel_rows(x, lab, 0.1)
        for k in range(9):
            lk, gk = _kernel_rows(x[k:k + 40], lab[k:k + 40], 0.1)
            np.testing.assert_array_equal(lk, loss[k:k + 40])
            np.testing.assert_array_equal(gk, g[k:k + 40])
        l2, g2 = _kernel_rows(x, lab, 0.1)
        np.testing.assert_array_equal(l2, loss)
        np.testing.assert_array_equal(g2, g)


def test_small_path_inf_nan_rows_stay_in_their_row():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((16, 10)).astype(np.float32)
    y = rng.integers(0, 10, 16)
    ref_l, ref_g = _kernel_rows(x, y)
    bad = x.copy()
    bad[2, 3] = np.nan
    bad[5, 0] = np.inf
    bad[6, :] = -np.inf
    lb, gb = _kernel_rows(bad, y)
    ok = np.ones(16, bool)
    ok[[2, 5, 6]] = False
    np.testing.assert_array_equal(lb[ok], ref_l[ok])
    np.testing.assert_array_equal(gb[ok], ref_g[ok])


@pytest.mark.parametrize("c", [3, 10, 32, 37])
def test_baseline_and_simd_kernels_agree_small_and_wide(c):
    from tinygrad_bn._kernels import softmax_ce as K
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((45, c)) * 5).astype(np.float32)
    y = rng.integers(0, c, 45)
    d = rng.random((45, c)).astype(np.float32)
    d /= d.sum(axis=1, keepdims=True)
    level = K.select_isa()
    try:
        K.select_isa(baseline=True)
        base = [_kernel_rows(x, lab, 0.1) for lab in (y, d)]
    finally:
        assert K.select_isa() == level
    best = [_kernel_rows(x, lab, 0.1) for lab in (y, d)]
    for (lb, gb), (ls_, gs) in zip(base, best):
        if c <= 32:
            # the few-classes path is built without FMA contraction: identical on both ISAs
            np.testing.assert_array_equal(lb, ls_)
            np.testing.assert_array_equal(gb, gs)
        else:
            np.testing.assert_allclose(lb, ls_, rtol=1e-6)
            # (softmax - target) cancels: 1 float32 ulp of the O(1) terms
            np.testing.assert_allclose(gb, gs, rtol=1e-5, atol=1.2e-7)


def test_fast_logf_accuracy():
    from tinygrad_bn._kernels import softmax_ce as K
    x = np.concatenate([1 + np.logspace(-7.5, 0, 5000), np.logspace(0, 38.5, 5000), [1.0, 3.4e38]])
    x = x.astype(np.float32)
    out = np.empty_like(x)
    K.logf_vec(x, out)
    ref = np.log(x.astype(np.float64))
    np.testing.assert_allclose(out, ref, rtol=2e-7, atol=0)
    assert out[x == 1].max() == 0


def test_kernel_validates_outputs_and_copies_odd_inputs():
    from tinygrad_bn._kernels import softmax_ce as K
    rng = np.random.default_rng(10)
    x = rng.standard_normal((13, 10)).astype(np.float32)
    y = rng.integers(0, 10, 13)
    ref_l, ref_g = _kernel_rows(x, y, 0.1)
    # byte-swapped, unaligned and strided inputs are converted, never misread
    buf = np.zeros(x.nbytes + 1, np.uint8)
    xu = np.ndarray(x.shape, np.float32, buffer=buf, offset=1)
    xu[...] = x
    assert not xu.flags.aligned
    xs = np.zeros((13, 20), np.float32)[:, ::2]
    xs[...] = x
    for xi, yi in ((x.astype(">f4"), y.astype(">i8")), (xu, y), (xs, np.repeat(y, 2)[::2])):
        li, gi = _kernel_rows(xi, yi, 0.1)
        np.testing.assert_array_equal(li, ref_l)
        np.testing.assert_array_equal(gi, ref_g)
    g, loss = np.empty_like(x), np.empty(13)
    with pytest.raises(TypeError, match="grad must have dtype float32"):
        K.ce_forward_sparse(x, y, 0.0, 1.0, np.empty((13, 10)), loss)
    with pytest.raises(ValueError, match=r"loss has shape \(12,\).*expected \(13,\)"):
        K.ce_forward_sparse(x, y, 0.0, 1.0, g, np.empty(12))
    with pytest.raises(ValueError, match="C-contiguous"):
        K.ce_forward_sparse(x, y, 0.0, 1.0, np.empty((10, 13), np.float32).T, loss)
    ro = np.empty_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="grad is read-only"):
        K.ce_forward_sparse(x, y, 0.0, 1.0, ro, loss)
    with pytest.raises(ValueError, match="grad shares memory with logits"):
        K.ce_forward_sparse(x, y, 0.0, 1.0, x, loss)
    with pytest.raises(ValueError, match="grad shares memory with labels"):
        K.ce_forward_dense(x, g, 0.0, 1.0, g, loss)
    with pytest.raises(TypeError, match="labels must be integer class ids"):
        K.ce_forward_sparse(x, y.astype(np.float32), 0.0, 1.0, g, loss)
    # any integer dtype: int16 labels give the int64 result
    li, gi = _kernel_rows(x, y.astype(np.int16), 0.1)
    np.testing.assert_array_equal(li, ref_l)
    with pytest.raises(TypeError, match="logits must be float32 or float64"):
        K.ce_forward_sparse(x.astype(np.int32), y, 0.0, 1.0, g, loss)
    with pytest.raises(TypeError, match="must be a NumPy array"):
        K.ce_forward_sparse(x.tolist(), y, 0.0, 1.0, g, loss)
    with pytest.raises(ValueError, match=r"label 10 at index 4"):
        K.ce_forward_sparse(x, np.where(np.arange(13) == 4, 10, y), 0.0, 1.0, g, loss)


# ---------------------------------------------------------------------------
# The row path (float32, C > 32: one row at a time, all passes in C)
# ---------------------------------------------------------------------------

@pytest.fixture(params=[0, None], ids=["baseline", "best"])
def isa(request):
    from tinygrad_bn._kernels import softmax_ce as K
    level = K.select_isa()
    K.select_isa(level=request.param)
    yield
    K.select_isa(level=level)


def test_row_expf_accuracy(isa):
    from tinygrad_bn._kernels import softmax_ce as K
    x = -np.logspace(-8, np.log10(86.99), 20001).astype(np.float32)
    out = np.empty_like(x)
    K.row_expf_vec(x, out)
    # float32 ulp at 1 is 1.19e-7: within 1.1 ulp on the baseline build, 0.9 with FMA
    np.testing.assert_allclose(out, np.exp(x.astype(np.float64)), rtol=1.5e-7, atol=0)
    special = np.array([0.0, -0.0, -87.5, -1e4, -np.inf, np.nan, -1e-30, -np.log(2)], np.float32)
    out = np.empty_like(special)
    K.row_expf_vec(special, out)
    assert out[0] == 1 and out[1] == 1 and out[6] == 1
    assert out[2] == 0 and out[3] == 0 and out[4] == 0
    assert np.isnan(out[5])
    np.testing.assert_allclose(out[7], 0.5, rtol=1.2e-7)


@pytest.mark.parametrize("c", [33, 47, 48, 63, 64, 65, 100, 2047, 2048, 2049, 5000])
def test_row_path_widths_and_last_row(isa, c):
    # vector loops of 32 (max) and 16 (exp) with their remainders; the next row is prefetched
    # up to C = 2048 (not after the last row)
    rng = np.random.default_rng(c)
    for n in (1, 3):
        logits = (rng.standard_normal((n, c)) * 4).astype(np.float32)
        labels = rng.integers(0, c, n)
        agree(logits, labels, "none", 0.1)
        probs = rng.random((n, c)).astype(np.float32)
        probs /= probs.sum(axis=1, keepdims=True)
        agree(logits, probs, "mean", 0.0)


def test_row_path_nan_hidden_from_the_max(isa):
    # The AVX2 row max (vmaxps) returns its second operand when either is NaN: 1e4 at
    # column 0 and a NaN at column 32 (the same lane of the same accumulator) leave that
    # lane at -50, so the row max is 0 and exp(1e4 - 0) overflows.  The row must still be
    # NaN everywhere (loss and gradient) and the other rows untouched.
    x = np.zeros((4, 100), np.float32)
    x[:, 1::7] = 1.5
    x[1, 0] = 1e4
    x[1, 32] = np.nan
    x[1, 64] = -50
    x[2, 99] = np.nan                       # in the remainder of the max loop
    x[2, 98] = 1e4
    labels = np.array([0, 0, 5, 99])
    for lab in (labels, np.eye(100, dtype=np.float32)[labels]):
        loss, g = _kernel_rows(x, lab)
        assert np.isnan(loss[[1, 2]]).all() and np.isnan(g[[1, 2]]).all()
        ok_l, ok_g = _kernel_rows(x[[0, 3]], lab[[0, 3]])
        np.testing.assert_array_equal(loss[[0, 3]], ok_l)
        np.testing.assert_array_equal(g[[0, 3]], ok_g)
        assert np.isfinite(ok_l).all() and np.isfinite(ok_g).all()


def test_row_expf_vec_checks_its_arguments():
    from tinygrad_bn._kernels import softmax_ce as K
    x = np.zeros(9, np.float32)
    with pytest.raises(ValueError, match="row_expf_vec.*out shares memory with x"):
        K.row_expf_vec(x, x)
    with pytest.raises(TypeError, match="row_expf_vec.*x must have dtype float32"):
        K.row_expf_vec(x.astype(np.float64), np.empty(9, np.float32))
    with pytest.raises(ValueError, match="row_expf_vec.*out"):
        K.row_expf_vec(x, np.empty(8, np.float32))
