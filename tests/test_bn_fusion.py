"""Dense -> BatchNormalization -> ReLU fused into one batch norm (issue 9).

The kernels (``relu=True``, ``dsum``) against a long-double reference at every ISA level
and on the parallel path; the op ``batch_norm_block_train`` against its composite; the
Sequential fusion against the same layers called one by one (outputs, every gradient,
moving statistics), and the cases that must not fuse.
"""
import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn._kernels import batchnorm as K
from tinygrad_bn.keras import (Activation, BatchNormalization, Dense, Dropout, ReLU, Sequential,
                               regularizers)
from tinygrad_bn.keras.layers import FusedBlock
from tinygrad_bn.ops.batchnorm import batch_norm_block, batch_norm_block_train

LD = np.longdouble


def _reference(x, gamma, beta, dy, eps, relu):
    """Batch norm (+ ReLU) forward and backward in long double."""
    X, G, B, DY = (np.asarray(a, LD) for a in (x, gamma, beta, dy))
    n = X.shape[0]
    mu = X.mean(0)
    var = ((X - mu) ** 2).mean(0)
    inv = 1 / np.sqrt(var + LD(eps))
    xh = (X - mu) * inv
    u = xh * G + B
    y = np.maximum(u, 0) if relu else u
    e = DY * (u > 0) if relu else DY
    dbeta = e.sum(0)
    dgamma = (e * xh).sum(0)
    dx = G * inv / n * (n * e - dbeta - xh * dgamma)
    return y, mu, var, dx, dgamma, dbeta


@pytest.fixture(params=[-1, 0, 1], ids=["cython", "baseline", "best"])
def level(request):
    before = K.select_isa()
    K.select_isa(level=request.param)
    yield request.param
    K.select_isa(level=before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 3), (37, 13), (300, 41), (2048, 520)])
def test_kernel_relu_and_dsum_match_long_double(level, dtype, shape):
    rng = np.random.default_rng(sum(shape))
    n, d = shape
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    gamma = (rng.random(d) + 0.5).astype(dtype)
    beta = rng.standard_normal(d).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    y_ref, mu_ref, var_ref, dx_ref, dg_ref, db_ref = _reference(x, gamma, beta, dy, 1e-3, True)
    out, mean, var, inv = K.bn_train_forward(x, gamma, beta, 1e-3, relu=True)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    assert np.all(out >= 0)
    np.testing.assert_allclose(out, y_ref.astype(float), atol=tol * 10)
    np.testing.assert_allclose(mean, mu_ref.astype(float), atol=tol)
    np.testing.assert_allclose(var, var_ref.astype(float), rtol=tol * 10)
    dsum = np.full(d, 7.0, dtype)
    dx, dg, db = K.bn_train_backward(x, dy, mean, inv, gamma, beta=beta, relu=True, dsum=dsum)
    scale = float(np.abs(dx_ref).max())
    np.testing.assert_allclose(dx, dx_ref.astype(float), atol=tol * 10 * scale)
    np.testing.assert_allclose(dg, dg_ref.astype(float), atol=tol * 10 * n ** 0.5)
    np.testing.assert_allclose(db, db_ref.astype(float), atol=tol * 10 * n ** 0.5)
    # dsum: the column sums of dx (zero up to rounding: the mean subtraction cancels a bias)
    colsum = dx.astype(LD).sum(0)
    assert np.all(np.abs(dsum.astype(LD)) <= tol * 10 * scale * n)
    assert np.all(np.abs(colsum - dsum) <= tol * 10 * scale * n)
    # without relu the same call is the plain batch norm, and dsum is filled as well
    out2, mean2, _, inv2 = K.bn_train_forward(x, gamma, beta, 1e-3)
    dx2, _, _ = K.bn_train_backward(x, dy, mean2, inv2, gamma, dsum=dsum)
    y_plain, _, _, dx_plain, _, _ = _reference(x, gamma, beta, dy, 1e-3, False)
    np.testing.assert_allclose(out2, y_plain.astype(float), atol=tol * 10)
    np.testing.assert_allclose(dx2, dx_plain.astype(float), atol=tol * 10 * float(np.abs(dx_plain).max()))
    assert np.all(np.abs(dsum.astype(LD)) <= tol * 10 * float(np.abs(dx_plain).max()) * n)


@pytest.mark.parametrize("threads", [1, 2])
def test_kernel_relu_parallel_path_is_bit_identical(threads):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4096, 300)).astype(np.float32)      # above the parallel threshold
    gamma = (rng.random(300) + 0.5).astype(np.float32)
    beta = rng.standard_normal(300).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    with tg.config(num_threads=1):
        ref = K.bn_train_forward(x, gamma, beta, 1e-3, relu=True)
        ref_b = K.bn_train_backward(x, dy, ref[1], ref[3], gamma, beta=beta, relu=True)
    with tg.config(num_threads=threads):
        got = K.bn_train_forward(x, gamma, beta, 1e-3, relu=True)
        got_b = K.bn_train_backward(x, dy, got[1], got[3], gamma, beta=beta, relu=True)
    for a, b in zip(ref + ref_b, got + got_b):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_relu_nan_propagates_as_the_composite(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((40, 6)).astype(dtype)
    x[3, 1] = np.nan
    gamma = np.ones(6, dtype)
    beta = np.zeros(6, dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    dy[5, 4] = np.nan
    out, mean, var, inv = K.bn_train_forward(x, gamma, beta, 1e-3, relu=True)
    assert np.isnan(out[:, 1]).all() and not np.isnan(np.delete(out, 1, axis=1)).any()
    dx, dg, db = K.bn_train_backward(x, dy, mean, inv, gamma, beta=beta, relu=True)
    # column 1: NaN statistics; column 4: a NaN dy (0 * NaN is NaN where the ReLU is shut too)
    assert np.isnan(dx[:, 1]).all() and np.isnan(dx[:, 4]).all()
    assert np.isnan(dg[[1, 4]]).all() and np.isnan(db[4])
    assert not np.isnan(dx[:, [0, 2, 3, 5]]).any()


def test_kernel_relu_bad_arguments():
    x = np.ones((4, 3), np.float32)
    g = np.ones(3, np.float32)
    out, mean, var, inv = K.bn_train_forward(x, g, g, 1e-3, relu=True)
    with pytest.raises(TypeError, match="bn_train_backward: relu=True needs beta"):
        K.bn_train_backward(x, x, mean, inv, g, relu=True)
    with pytest.raises(ValueError, match="beta"):
        K.bn_train_backward(x, x, mean, inv, g, beta=np.ones(4, np.float32), relu=True)
    with pytest.raises(TypeError, match="beta"):
        K.bn_train_backward(x, x, mean, inv, g, beta=np.ones(3, np.float64), relu=True)
    with pytest.raises(ValueError, match="dsum"):
        K.bn_train_backward(x, x, mean, inv, g, dsum=np.ones(5, np.float32))
    dx = np.empty_like(x)
    with pytest.raises(ValueError, match="dsum"):
        K.bn_train_backward(x, x, mean, inv, g, dx=dx, dsum=dx[0])


# ---------------------------------------------------------------------------
# The op and its composite
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_batch_norm_block_fused_equals_composite(relu, with_bias):
    rng = np.random.default_rng(5)
    x = tg.Var(rng.standard_normal((64, 5)) * 2 + 3)
    bias = tg.Var(rng.standard_normal(5)) if with_bias else None
    gamma = tg.Var(rng.random(5) + 0.5)
    beta = tg.Var(rng.standard_normal(5))
    w = rng.standard_normal(5)
    srcs = [v for v in (x, bias, gamma, beta) if v is not None]
    results = []
    for fused in (True, False):
        with tg.config(fused=fused):
            with tg.GradientTape() as tape:
                y, m, v = batch_norm_block(x, bias, gamma, beta, epsilon=1e-3, relu=relu, return_stats=True)
                loss = (y * y * w).sum()
            results.append((y.numpy(), m, v, [g.numpy() for g in tape.gradient(loss, srcs)]))
    (y1, m1, v1, g1), (y2, m2, v2, g2) = results
    np.testing.assert_allclose(y1, y2, atol=1e-12)
    np.testing.assert_allclose(m1, m2, atol=1e-12)       # the mean of x + bias
    np.testing.assert_allclose(v1, v2, atol=1e-12)
    xb = x.numpy() + (bias.numpy() if with_bias else 0)
    np.testing.assert_allclose(m1, xb.mean(0), atol=1e-12)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, atol=1e-9)
    if with_bias:
        assert np.abs(g1[1]).max() < 1e-9                # the mean subtraction cancels the bias
    if relu:
        assert (y1 >= 0).all() and (y1 == 0).any()


def test_batch_norm_block_train_checks_like_batch_norm():
    x = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="batch_norm_block: bias has shape"):
        batch_norm_block(x, np.ones(4, np.float32), None, None)
    with pytest.raises(ValueError, match="empty batch"):
        batch_norm_block(np.ones((0, 3), np.float32), None, None, None)
    # a float64 bias on float32 data: the composite path (NumPy's promotion), still correct
    y = batch_norm_block(x + np.arange(4, dtype=np.float32)[:, None], np.ones(3), None, None, relu=True)
    assert y.dtype == np.float64


# ---------------------------------------------------------------------------
# Sequential
# ---------------------------------------------------------------------------

def _model(dtype="float64", relu_layer=None, **dense_kw):
    tg.utils.set_seed(0)
    relu = relu_layer if relu_layer is not None else ReLU(dtype=dtype)
    return Sequential([Dense(16, dtype=dtype, **dense_kw), BatchNormalization(dtype=dtype), relu,
                       Dense(8, dtype=dtype), BatchNormalization(dtype=dtype),
                       Activation("relu", dtype=dtype), Dense(3, dtype=dtype)])


def _run(model, x, y, fused_plan):
    """One training forward + backward; ``fused_plan=False`` calls the layers one by one."""
    loss_fn = tg.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tg.GradientTape() as tape:
        if fused_plan:
            out = model(x, training=True)
        else:
            out = x
            for layer in model.layers:
                out = layer(out, training=True)
        loss = loss_fn(y, out)
    grads = tape.gradient(loss, model.trainable_variables)
    return out.numpy(), [g.numpy() for g in grads], [v.numpy().copy() for v in model.non_trainable_variables]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sequential_fuses_and_matches_the_layers_one_by_one(dtype):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((128, 10)).astype(dtype)
    y = rng.integers(0, 3, 128)
    a, b = _model(dtype), _model(dtype)
    a.build((None, 10))
    b.build((None, 10))
    for v in a.trainable_variables:            # non-zero biases, gamma != 1, beta != 0
        v.assign((v.numpy() + 0.3 * rng.standard_normal(v.shape)).astype(dtype))
    b.set_weights(a.get_weights())
    assert [type(s).__name__ for s in a._plan] == ["FusedBlock", "FusedBlock", "Dense"]
    out1, g1, s1 = _run(a, x, y, True)
    out2, g2, s2 = _run(b, x, y, False)
    tol = 1e-10 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(out1, out2, atol=tol)
    names = [v.name for v in a.trainable_variables]
    for name, p, q in zip(names, g1, g2):
        scale = max(float(np.abs(q).max()), 1e-3)
        np.testing.assert_allclose(p, q, atol=tol * scale, err_msg=name)
    for p, q in zip(s1, s2):                              # moving mean (with the bias) and variance
        np.testing.assert_allclose(p, q, atol=tol)
    # inference: the layers themselves
    np.testing.assert_allclose(a(x, training=False).numpy(), b(x, training=False).numpy(), atol=tol)


def test_fit_with_fusion_learns_and_keeps_moving_statistics():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((512, 10)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = _model("float32")
    model.compile(optimizer=tg.optimizers.Adam(0.01),
                  loss=tg.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    hist = model.fit(x, y, epochs=5, batch_size=64, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert hist.history["accuracy"][-1] > 0.85
    bn = model.layers[1]
    dense = model.layers[0]
    # the moving mean tracks the Dense output's mean, bias included
    z = x @ dense.kernel.numpy() + dense.bias.numpy()
    assert np.abs(bn.moving_mean.numpy() - z.mean(0)).max() < 0.2 * z.std(0).max()


@pytest.mark.parametrize("case", ["activity_regularizer", "relu6", "leaky", "dense_activation", "dropout_between",
                                  "bn_subclass", "bn_axis"])
def test_cases_that_do_not_fuse_still_compute_the_same(case):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((64, 6, 4)).astype(np.float64) if case == "bn_axis" else rng.standard_normal((64, 6))
    y = rng.integers(0, 3, 64)
    kw = dict(dtype="float64")

    class MyBN(BatchNormalization):
        def call(self, x, training=False):
            return super().call(x, training) * 1.0

    def build():
        tg.utils.set_seed(1)
        if case == "activity_regularizer":
            layers = [Dense(5, activity_regularizer=regularizers.L2(0.1), **kw), BatchNormalization(**kw),
                      ReLU(**kw)]
        elif case == "relu6":
            layers = [Dense(5, **kw), BatchNormalization(**kw), ReLU(max_value=6.0, **kw)]
        elif case == "leaky":
            layers = [Dense(5, **kw), BatchNormalization(**kw), ReLU(negative_slope=0.1, **kw)]
        elif case == "dense_activation":
            layers = [Dense(5, activation="tanh", **kw), BatchNormalization(**kw), Activation("tanh", **kw)]
        elif case == "dropout_between":
            layers = [Dense(5, **kw), Dropout(0.0, **kw), BatchNormalization(**kw), Activation("tanh", **kw)]
        elif case == "bn_subclass":
            layers = [Dense(5, **kw), MyBN(**kw), ReLU(**kw)]
        else:
            layers = [Dense(5, **kw), BatchNormalization(axis=1, **kw), ReLU(**kw),
                      tg.keras.layers.Flatten(**kw)]
        return Sequential(layers + [Dense(3, **kw)])

    a, b = build(), build()
    a.build((None,) + x.shape[1:])
    b.build((None,) + x.shape[1:])
    for v in a.trainable_variables:
        v.assign(v.numpy() + 0.3 * rng.standard_normal(v.shape))
    b.set_weights(a.get_weights())
    assert not any(isinstance(s, FusedBlock) and s.dense is not None and s.relu is not None
                   and case in ("activity_regularizer", "bn_subclass", "bn_axis") for s in a._plan)
    out1, g1, s1 = _run(a, x, y, True)
    n_losses = len(a.losses)
    out2, g2, s2 = _run(b, x, y, False)
    np.testing.assert_allclose(out1, out2, atol=1e-10)
    for p, q in zip(g1 + s1, g2 + s2):
        np.testing.assert_allclose(p, q, atol=1e-9)
    assert n_losses == (case == "activity_regularizer")


def test_a_regularizer_added_after_build_turns_the_fusion_off():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((32, 6))
    model = _model("float64")
    model.build((None, 6))
    model.layers[0].activity_regularizer = regularizers.L2(0.5)
    model(x, training=True)
    assert len(model.losses) == 1                        # the Dense layer's call ran, with its penalty


def test_use_moving_statistics_and_inference_use_the_moving_statistics():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((32, 10))
    model = _model("float64")
    model.build((None, 10))
    bn = model.layers[1]
    before = bn.moving_mean.numpy().copy()
    bn.use_moving_statistics = True
    model(x, training=True)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)
    bn.use_moving_statistics = False
    model(x, training=True)
    assert not np.array_equal(bn.moving_mean.numpy(), before)


def test_higher_order_through_the_fused_block():
    rng = np.random.default_rng(11)
    x = tg.Var(rng.standard_normal((16, 4)))
    bias, gamma, beta = (tg.Var(rng.standard_normal(4)) for _ in range(3))
    v = rng.standard_normal((16, 4))

    def grad_dot(fused):
        with tg.config(fused=fused):
            with tg.GradientTape() as t2:
                with tg.GradientTape() as t1:
                    y = batch_norm_block(x, bias, gamma, beta, relu=True)
                    loss = (y * y * y).sum()
                g = t1.gradient(loss, x)
                s = (g * v).sum()
            return t2.gradient(s, [x, gamma, beta])

    for a, b in zip(grad_dot(True), grad_dot(False)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-9)
    assert batch_norm_block_train.composite is not None


def test_fused_model_saves_loads_and_nests(tmp_path):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((64, 10)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = _model("float32")
    model.compile(optimizer="adam", loss=tg.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "m.npz"
    model.save(path)
    again = tg.keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert [l.name for l in again.layers] == [l.name for l in model.layers]
    assert any(isinstance(s, FusedBlock) for s in again._plan)
    # a Sequential inside a Sequential runs its own plan
    outer = Sequential([model, Dense(2)])
    outer.build((None, 10))
    with tg.GradientTape() as tape:
        loss = (outer(x, training=True) ** 2).sum()
    grads = tape.gradient(loss, outer.trainable_variables)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
