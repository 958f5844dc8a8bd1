"""Batch norm and softmax cross-entropy in ops/: dispatch, statistics as outputs, IEEE
propagation, empty batches, higher-order gradients through the fused ops, logsumexp edges."""
import warnings

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn.ops import batchnorm as BN
from tinygrad_bn.ops import softmax_ce as CE
from tinygrad_bn.keras import functional as F

rng = np.random.default_rng(1234)


def _np_bn(x, gamma, beta, eps):
    """Independent NumPy training batch norm in long double, over all axes but the last."""
    xl = x.astype(np.longdouble)
    axes = tuple(range(x.ndim - 1))
    m = xl.mean(axis=axes)
    v = ((xl - m) ** 2).mean(axis=axes)
    return (xl - m) / np.sqrt(v + eps) * gamma + beta, m, v


def _np_ce(logits, labels, ls=0.0):
    """Independent per-example softmax cross-entropy (long double)."""
    x = logits.astype(np.longdouble)
    n, c = x.shape
    t = np.eye(c)[labels] if labels.ndim == 1 else labels.astype(np.longdouble)
    t = t * (1 - ls) + ls / c
    lse = np.log(np.exp(x - x.max(1, keepdims=True)).sum(1)) + x.max(1)
    return (t * (lse[:, None] - x)).sum(1)


class _Spy:
    """Counts calls of a module-level op while forwarding to it."""
    def __init__(self, monkeypatch, module, name):
        self.calls = 0
        real = getattr(module, name)

        def spy(*a, **k):
            self.calls += 1
            return real(*a, **k)
        monkeypatch.setattr(module, name, spy)


# ---------------------------------------------------------------------------
# One home: the functional module re-exports the ops' functions
# ---------------------------------------------------------------------------

def test_functional_reexports_the_ops_functions():
    for name in ("batch_norm", "batch_norm_composite", "batch_norm_fused", "batch_norm_inference",
                 "batch_norm_inference_composite", "batch_norm_inference_fused"):
        assert getattr(F, name) is getattr(BN, name)
    for name in ("softmax_cross_entropy", "softmax_cross_entropy_composite", "softmax_cross_entropy_fused"):
        assert getattr(F, name) is getattr(CE, name)


def test_no_thread_local_stats_side_channel():
    from tinygrad_bn.ops import fused
    assert not hasattr(fused, "last_batch_stats")
    assert not hasattr(BN, "last_batch_stats")


@pytest.mark.parametrize("dtype,fused_on,expect_fused", [
    (np.float32, True, True), (np.float64, True, True), (np.float16, True, False),
    (np.float32, False, False)])
def test_batch_norm_dispatch(monkeypatch, dtype, fused_on, expect_fused):
    spy = _Spy(monkeypatch, BN, "batch_norm_train")
    x = rng.standard_normal((8, 3)).astype(dtype)
    g, b = np.ones(3, dtype), np.zeros(3, dtype)
    with tg.config(fused=fused_on):
        y = BN.batch_norm(x, g, b)
    assert spy.calls == (1 if expect_fused else 0)
    assert y.dtype == dtype
    ref, _, _ = _np_bn(x.astype(np.float64), 1.0, 0.0, 1e-3)
    np.testing.assert_allclose(y.numpy().astype(np.float64), ref.astype(np.float64),
                               rtol=0, atol=5e-3 if dtype == np.float16 else 1e-5)


def test_batch_norm_mixed_dtypes_take_the_composite(monkeypatch):
    spy = _Spy(monkeypatch, BN, "batch_norm_train")
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = BN.batch_norm(x, np.ones(3, np.float64), np.zeros(3, np.float32))
    assert spy.calls == 0
    assert y.dtype == np.float64                 # NumPy's promotion, as the composite computes it


@pytest.mark.parametrize("dtype,expect_fused", [(np.float32, True), (np.float64, True), (np.float16, False)])
def test_softmax_ce_dispatch(monkeypatch, dtype, expect_fused):
    spy = _Spy(monkeypatch, CE, "softmax_ce")
    logits = rng.standard_normal((6, 4)).astype(dtype)
    labels = np.array([0, 1, 2, 3, 0, 1])
    loss = CE.softmax_cross_entropy(logits, labels)
    assert spy.calls == (1 if expect_fused else 0)
    np.testing.assert_allclose(float(loss.numpy()), float(_np_ce(logits.astype(np.float64), labels).mean()),
                               rtol=3e-3 if dtype == np.float16 else 1e-6)


# ---------------------------------------------------------------------------
# The batch statistics are ordinary outputs
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", [BN.batch_norm, BN.batch_norm_fused, BN.batch_norm_composite])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_return_stats_are_the_batch_statistics(path, dtype):
    x = (rng.standard_normal((2, 5, 4)) * 3 + 7).astype(dtype)
    g = rng.standard_normal(4).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    y, m, v = path(x, g, b, 1e-3, return_stats=True)
    ref, rm, rv = _np_bn(x, g, b, 1e-3)
    assert m.shape == v.shape == (4,) and m.dtype == v.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(m, rm.astype(np.float64), rtol=tol)
    np.testing.assert_allclose(v, rv.astype(np.float64), rtol=tol * 10)
    np.testing.assert_allclose(y.numpy(), ref.astype(np.float64), rtol=0, atol=50 * tol)


@pytest.mark.parametrize("path", [BN.batch_norm_fused, BN.batch_norm_composite])
@pytest.mark.parametrize("buf_dtype", [np.float32, np.float64])
def test_stats_out_buffers_are_filled(path, buf_dtype):
    x = rng.standard_normal((9, 3)) * [1.0, 2.0, 0.5] + [0.0, -4.0, 10.0]
    mbuf = np.full(3, -99.0, buf_dtype)
    vbuf = np.full(3, -99.0, buf_dtype)
    y = path(x, None, None, 1e-3, stats_out=(mbuf, vbuf))
    assert isinstance(y, tg.Tensor)
    np.testing.assert_allclose(mbuf, x.mean(0), rtol=1e-6)
    np.testing.assert_allclose(vbuf, x.var(0), rtol=1e-6)
    y2, m2, v2 = path(x, None, None, 1e-3, return_stats=True, stats_out=(mbuf, vbuf))
    assert m2 is mbuf and v2 is vbuf


def test_returned_stats_do_not_alias_the_residuals():
    """Changing the returned mean in place must not change the gradient (the fused backward keeps
    its own copy)."""
    x = rng.standard_normal((7, 3))
    dy = rng.standard_normal((7, 3))
    X = tg.Var(x)

    def grad(spoil):
        with tg.GradientTape() as tape:
            y, m, v = BN.batch_norm_fused(X, np.ones(3), np.zeros(3), 1e-3, return_stats=True)
            if spoil:
                m[...] = 1e6
                v[...] = 1e6
        return tape.gradient(y, X, output_gradients=dy).numpy()
    np.testing.assert_array_equal(grad(False), grad(True))


def test_layer_moving_statistics_follow_the_batch():
    layer = tg.keras.layers.BatchNormalization(momentum=0.5)
    x = (rng.standard_normal((16, 2)) * [1.0, 3.0] + [2.0, -1.0]).astype(np.float32)
    layer(x, training=True)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.5 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.5 + 0.5 * x.var(0), rtol=1e-5)


# ---------------------------------------------------------------------------
# Empty batches, NaN and inf
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", [BN.batch_norm, BN.batch_norm_fused, BN.batch_norm_composite])
@pytest.mark.parametrize("shape", [(0, 3), (2, 0, 3)])
def test_empty_training_batch_raises(path, shape):
    with pytest.raises(ValueError, match=r"batch_norm.*empty batch") as info:
        path(np.zeros(shape, np.float32), None, None)
    assert str(shape).replace(" ", "") in str(info.value).replace(" ", "")


def test_empty_training_batch_raises_in_the_op_too():
    with pytest.raises(ValueError, match=r"batch_norm_train.*empty batch"):
        BN.batch_norm_train(np.zeros((0, 3)), np.ones(3), np.zeros(3))


def test_empty_inference_batch_is_an_empty_output():
    for path in (BN.batch_norm_inference, BN.batch_norm_inference_fused, BN.batch_norm_inference_composite):
        y = path(np.zeros((0, 3), np.float32), np.zeros(3, np.float32), np.ones(3, np.float32), None, None)
        assert y.shape == (0, 3)


@pytest.mark.parametrize("path", [BN.batch_norm_fused, BN.batch_norm_composite])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_nan_stays_in_its_feature(path, dtype):
    x = rng.standard_normal((6, 3)).astype(dtype)
    x[2, 1] = np.nan
    X = tg.Var(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with tg.GradientTape() as tape:
            y, m, v = path(X, np.ones(3, dtype), np.zeros(3, dtype), 1e-3, return_stats=True)
        dx = tape.gradient(y, X, output_gradients=np.ones((6, 3), dtype)).numpy()
    out = y.numpy()
    assert np.isnan(out[:, 1]).all() and np.isfinite(out[:, [0, 2]]).all()
    assert np.isnan(m[1]) and np.isnan(v[1]) and np.isfinite(m[[0, 2]]).all()
    assert np.isnan(dx[:, 1]).all() and np.isfinite(dx[:, [0, 2]]).all()


@pytest.mark.parametrize("path", [BN.batch_norm_inference_fused, BN.batch_norm_inference_composite])
def test_batch_norm_inference_propagates_nan_and_inf(path):
    x = np.array([[1.0, np.nan, np.inf], [2.0, 3.0, 4.0]])
    y = path(x, np.zeros(3), np.ones(3), None, None, epsilon=0.0).numpy()
    np.testing.assert_array_equal(np.isnan(y), [[False, True, False], [False, False, False]])
    assert y[0, 2] == np.inf


@pytest.mark.parametrize("path", [CE.softmax_cross_entropy_fused, CE.softmax_cross_entropy_composite])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dense", [False, True])
def test_softmax_ce_nan_logit_gives_nan(path, dtype, dense):
    logits = np.array([[0.0, np.nan, 0.0], [1.0, 2.0, 3.0]], dtype)
    labels = np.array([0, 2])
    if dense:
        labels = np.eye(3, dtype=dtype)[labels]
    L = tg.Var(logits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with tg.GradientTape() as tape:
            per = path(L, labels, reduction="none")
        g = tape.gradient(per, L).numpy()
    per = per.numpy()
    assert np.isnan(per[0]) and np.isfinite(per[1])
    assert np.isnan(g[0]).all() and np.isfinite(g[1]).all()


@pytest.mark.parametrize("path", [CE.softmax_cross_entropy_fused, CE.softmax_cross_entropy_composite])
def test_softmax_ce_minus_inf_logit_is_a_zero_probability(path):
    logits = np.array([[0.0, -np.inf, 0.0], [0.0, -np.inf, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        per = path(logits, np.array([0, 1]), reduction="none").numpy()
        smooth = path(logits, np.array([0, 0]), reduction="none", label_smoothing=0.3).numpy()
    assert per[0] == pytest.approx(np.log(2.0), rel=1e-12)      # the other class is impossible
    assert per[1] == np.inf                                       # the label is impossible
    assert (smooth == np.inf).all()                               # smoothing puts mass on it


def test_softmax_ce_empty_batch():
    for path in (CE.softmax_cross_entropy_fused, CE.softmax_cross_entropy_composite):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            assert np.isnan(path(np.zeros((0, 3)), np.zeros(0, np.int64)).numpy())
            assert path(np.zeros((0, 3)), np.zeros(0, np.int64), reduction="sum").numpy() == 0.0
            assert path(np.zeros((0, 3)), np.zeros(0, np.int64), reduction="none").shape == (0,)


def test_softmax_and_log_softmax_propagate_nan_in_its_row():
    x = np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]])
    for fn in (tg.softmax, tg.log_softmax):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            y = fn(x, axis=-1).numpy()
        assert np.isnan(y[0]).all() and np.isfinite(y[1]).all()


def test_wide_unsigned_label_is_reported_with_its_value():
    big = np.array([2 ** 63 + 5, 1], dtype=np.uint64)
    for path in (CE.softmax_cross_entropy, CE.softmax_cross_entropy_fused, CE.softmax_cross_entropy_composite):
        with pytest.raises(ValueError, match=str(2 ** 63 + 5)):
            path(np.zeros((2, 3)), big)


# ---------------------------------------------------------------------------
# logsumexp at the edges (issue 8 §2)
# ---------------------------------------------------------------------------

def test_logsumexp_edges():
    x = np.array([[-np.inf, -np.inf, -np.inf],
                  [0.0, np.inf, 1.0],
                  [-np.inf, np.inf, 0.0],
                  [0.0, np.nan, 1.0],
                  [1000.0, 1000.0, -np.inf],
                  [1.0, 2.0, 3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = tg.logsumexp(x, axis=1).numpy()
    assert out[0] == -np.inf
    assert out[1] == np.inf
    assert out[2] == np.inf
    assert np.isnan(out[3])
    assert out[4] == pytest.approx(1000.0 + np.log(2.0), rel=1e-15)
    assert out[5] == pytest.approx(np.log(np.e + np.e ** 2 + np.e ** 3), rel=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert tg.logsumexp(np.full(4, -np.inf)).numpy() == -np.inf


# ---------------------------------------------------------------------------
# Higher order: the fused ops' second derivatives equal the composite's
# ---------------------------------------------------------------------------

def _hvp(loss_fn, xs, vs):
    """Hessian-vector product of ``loss_fn(*Vars)`` in direction ``vs`` with two nested tapes."""
    params = [tg.Var(x) for x in xs]
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            loss = loss_fn(*params)
        grads = inner.gradient(loss, params)
        dot = None
        for g, v in zip(grads, vs):
            term = tg.sum(tg.multiply(g, v))
            dot = term if dot is None else tg.add(dot, term)
    return [h.numpy() for h in outer.gradient(dot, params)]


def _grad(loss_fn, xs):
    params = [tg.Var(x) for x in xs]
    with tg.GradientTape() as tape:
        loss = loss_fn(*params)
    return [g.numpy() for g in tape.gradient(loss, params)]


def _fd_hvp(loss_fn, xs, vs, h=1e-5):
    """Central finite differences of the gradient along vs (float64)."""
    plus = _grad(loss_fn, [x + h * v for x, v in zip(xs, vs)])
    minus = _grad(loss_fn, [x - h * v for x, v in zip(xs, vs)])
    return [(p - m) / (2 * h) for p, m in zip(plus, minus)]


W_BN = rng.standard_normal((6, 3))


def _bn_loss(fn):
    return lambda x, g, b: tg.sum(tg.multiply(tg.tanh(fn(x, g, b, 1e-3)), W_BN))


def test_hvp_through_fused_batch_norm_equals_composite_and_finite_differences():
    xs = [rng.standard_normal((6, 3)) * 2 + 1, rng.standard_normal(3), rng.standard_normal(3)]
    vs = [rng.standard_normal(a.shape) for a in xs]
    fused = _hvp(_bn_loss(BN.batch_norm_fused), xs, vs)
    comp = _hvp(_bn_loss(BN.batch_norm_composite), xs, vs)
    fd = _fd_hvp(_bn_loss(BN.batch_norm_composite), xs, vs)
    for f, c, d in zip(fused, comp, fd):
        np.testing.assert_allclose(f, c, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(f, d, rtol=1e-5, atol=1e-7)


def test_hvp_through_fused_batch_norm_inference():
    mm, mv = rng.standard_normal(3), rng.random(3) + 0.5
    W = rng.standard_normal((5, 3))

    def loss(fn):
        return lambda x, g, b: tg.sum(tg.multiply(tg.tanh(fn(x, mm, mv, g, b)), W))
    xs = [rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal(3)]
    vs = [rng.standard_normal(a.shape) for a in xs]
    fused = _hvp(loss(BN.batch_norm_inference_fused), xs, vs)
    fd = _fd_hvp(loss(BN.batch_norm_inference_composite), xs, vs)
    comp = _hvp(loss(BN.batch_norm_inference_composite), xs, vs)
    for f, c, d in zip(fused, comp, fd):
        np.testing.assert_allclose(f, c, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(f, d, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("reduction,ls", [("mean", 0.0), ("sum", 0.1), ("none", 0.0)])
def test_hvp_through_fused_softmax_ce_equals_composite_and_finite_differences(dense, reduction, ls):
    labels = np.array([0, 3, 1, 1, 2])
    if dense:
        labels = rng.dirichlet(np.ones(4), size=5)
    weights = np.arange(1.0, 6.0)
    W = rng.standard_normal((3, 4))

    def loss(fn):
        def f(x, w):
            out = fn(tg.tanh(tg.matmul(x, w)), labels, reduction=reduction, label_smoothing=ls)
            return tg.sum(tg.multiply(out, weights)) if reduction == "none" else out
        return f
    xs = [rng.standard_normal((5, 3)), W]
    vs = [rng.standard_normal(a.shape) for a in xs]
    fused = _hvp(loss(CE.softmax_cross_entropy_fused), xs, vs)
    comp = _hvp(loss(CE.softmax_cross_entropy_composite), xs, vs)
    fd = _fd_hvp(loss(CE.softmax_cross_entropy_composite), xs, vs)
    for f, c, d in zip(fused, comp, fd):
        np.testing.assert_allclose(f, c, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(f, d, rtol=1e-5, atol=1e-7)


def test_first_order_outside_an_outer_tape_uses_the_kernels(monkeypatch):
    """Without an outer tape the fused backward (kernel) runs, not the composite."""
    calls = []
    real = CE.softmax_ce.composite
    monkeypatch.setattr(CE.softmax_ce, "composite", lambda *a, **k: calls.append(1) or real(*a, **k))
    L = tg.Var(rng.standard_normal((4, 3)))
    with tg.GradientTape() as tape:
        loss = CE.softmax_cross_entropy_fused(L, np.array([0, 1, 2, 0]))
    tape.gradient(loss, L)
    assert calls == []


# ---------------------------------------------------------------------------
# When the composite and the fused batch norm agree (the statement in ops/batchnorm.py)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("offset", [0.0, 10.0, 100.0, 1e4])
def test_float32_agreement_depends_on_mean_over_std(offset):
    r = np.random.default_rng(5)
    x = (r.standard_normal((256, 16)) + offset).astype(np.float32)
    ref, _, _ = _np_bn(x, 1.0, 0.0, 1e-3)                 # long double, on the same float32 input
    ref = ref.astype(np.float64)
    fused = BN.batch_norm_fused(x, None, None).numpy().astype(np.float64)
    comp = BN.batch_norm_composite(x, None, None).numpy().astype(np.float64)
    # the kernel stays at float32 rounding whatever the offset
    assert np.abs(fused - ref).max() < 2e-6
    # the two agree to about |mean|/std * 5e-7 (documented bound, with a factor 4 of slack)
    assert np.abs(fused - comp).max() < 2e-6 + offset * 2e-6
    if offset >= 1e4:
        assert np.abs(comp - ref).max() > 1e-4             # the composite is the one that lost digits


def test_float64_paths_agree_at_large_offsets():
    r = np.random.default_rng(6)
    x = r.standard_normal((256, 16)) + 1e4
    dy = r.standard_normal((256, 16))
    got = []
    for path in (BN.batch_norm_fused, BN.batch_norm_composite):
        X = tg.Var(x)
        with tg.GradientTape() as tape:
            y = path(X, None, None)
        got.append((y.numpy(), tape.gradient(y, X, output_gradients=dy).numpy()))
    np.testing.assert_allclose(got[0][0], got[1][0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(got[0][1], got[1][1], rtol=0, atol=1e-10 * np.abs(got[1][1]).max())


# ---------------------------------------------------------------------------
# The op's gradient for dense labels (used by tf.nn.softmax_cross_entropy_with_logits)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("reduction,ls", [("mean", 0.0), ("sum", 0.2), ("none", 0.1)])
def test_softmax_ce_op_label_gradient_matches_the_composite(reduction, ls):
    r = np.random.default_rng(8)
    logits = r.standard_normal((5, 4))
    labels = r.dirichlet(np.ones(4), size=5)
    u = r.standard_normal(5) if reduction == "none" else 1.7

    def grads(fn):
        L, Y = tg.Var(logits), tg.Var(labels)
        with tg.GradientTape() as tape:
            out = fn(L, Y, reduction, ls)
        return [g.numpy() for g in tape.gradient(out, [L, Y], output_gradients=u)]
    fused = grads(CE.softmax_ce)
    comp = grads(CE._softmax_ce_composite)
    for f, c in zip(fused, comp):
        np.testing.assert_allclose(f, c, rtol=1e-12, atol=1e-14)
    # d(loss)/d(labels) written out: -(1 - ls) * log_softmax(logits), scaled like the loss
    lp = logits - logits.max(1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(1, keepdims=True))
    scale = {"mean": 1.7 / 5, "sum": 1.7, "none": None}[reduction]
    expect = -(1 - ls) * lp * (u[:, None] if reduction == "none" else scale)
    np.testing.assert_allclose(fused[1], expect, rtol=1e-12)


def test_public_softmax_cross_entropy_gives_no_label_gradient():
    L, Y = tg.Var(np.zeros((2, 3))), tg.Var(np.full((2, 3), 1 / 3))
    for path in CE_PATHS_ALL:
        with tg.GradientTape() as tape:
            loss = path(L, Y)
        gl, gy = tape.gradient(loss, [L, Y])
        assert gl is not None and gy is None


CE_PATHS_ALL = [CE.softmax_cross_entropy, CE.softmax_cross_entropy_fused, CE.softmax_cross_entropy_composite]


def test_inference_with_trainable_statistics_differentiates_them():
    x = rng.standard_normal((6, 2))
    M, V = tg.Var(np.array([0.5, -1.0])), tg.Var(np.array([2.0, 0.5]))
    with tg.GradientTape() as tape:
        y = BN.batch_norm_inference(x, M, V, None, None, epsilon=0.0)
        loss = tg.sum(y)
    gm, gv = tape.gradient(loss, [M, V])
    np.testing.assert_allclose(gm.numpy(), -6 / np.sqrt([2.0, 0.5]))
    np.testing.assert_allclose(gv.numpy(), -0.5 * (x - [0.5, -1.0]).sum(0) * np.array([2.0, 0.5]) ** -1.5)
