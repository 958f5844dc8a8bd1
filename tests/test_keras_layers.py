"""Activations by name, regularizers, dtype, LayerNormalization, BatchNormalization state,
and the shape/merge layers of tinygrad_bn.keras.  Reference numbers are written out from the
definitions (``math`` per element) or from Keras's documented examples."""
import math
import threading

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn.keras import activations, layers as L, regularizers
from tinygrad_bn.keras.base_layer import deferred_state_updates

X5 = [-10.0, -5.0, 0.0, 5.0, 10.0]


def vec(fn, xs):
    return np.array([fn(x) for x in xs])


# ---------------------------------------------------------------------------
# Activations: Keras's documented examples and the definitions element by element
# ---------------------------------------------------------------------------

def test_relu_keras_docstring_examples():
    x = np.array(X5, np.float32)
    np.testing.assert_array_equal(activations.relu(x).numpy(), [0, 0, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu(x, negative_slope=0.5).numpy(), [-5, -2.5, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu(x, max_value=5.0).numpy(), [0, 0, 0, 5, 5])
    np.testing.assert_array_equal(activations.relu(x, threshold=5.0).numpy(), [0, 0, 0, 0, 10])


def test_relu_layer_keras_docstring_examples():
    x = np.array([-3.0, -1.0, 0.0, 2.0], np.float32)
    assert list(L.ReLU()(x[None]).numpy()[0]) == [0, 0, 0, 2]
    assert list(L.ReLU(max_value=1.0)(x[None]).numpy()[0]) == [0, 0, 0, 1]
    assert list(L.ReLU(negative_slope=1.0)(x[None]).numpy()[0]) == [-3, -1, 0, 2]
    y = np.array([[-3.0, -1.0, 1.0, 2.0]], np.float32)
    assert list(L.ReLU(threshold=1.5)(y).numpy()[0]) == [0, 0, 0, 2]
    z = np.array([[-10, -5, 0.0, 5, 10]], np.float32)
    np.testing.assert_array_equal(L.ReLU(max_value=10, negative_slope=0.5)(z).numpy(), [[-5, -2.5, 0, 5, 10]])


SELU_A, SELU_S = 1.6732632423543772, 1.0507009873554805

REFERENCES = {
    "linear": lambda x: x,
    "relu": lambda x: max(x, 0.0),
    "relu6": lambda x: min(max(x, 0.0), 6.0),
    "leaky_relu": lambda x: x if x > 0 else 0.2 * x,
    "elu": lambda x: x if x > 0 else math.exp(x) - 1,
    "selu": lambda x: SELU_S * (x if x > 0 else SELU_A * (math.exp(x) - 1)),
    "gelu": lambda x: 0.5 * x * (1 + math.erf(x / math.sqrt(2))),
    "softplus": lambda x: math.log1p(math.exp(-abs(x))) + max(x, 0.0),
    "softsign": lambda x: x / (1 + abs(x)),
    "silu": lambda x: x / (1 + math.exp(-x)),
    "swish": lambda x: x / (1 + math.exp(-x)),
    "hard_sigmoid": lambda x: min(max(x + 3, 0.0), 6.0) / 6,
    "hard_silu": lambda x: x * min(max(x + 3, 0.0), 6.0) / 6,
    "mish": lambda x: x * math.tanh(math.log1p(math.exp(x))),
    "exponential": math.exp,
    "sigmoid": lambda x: 1 / (1 + math.exp(-x)),
    "tanh": math.tanh,
}

XS = [-7.3, -2.9, -1.1, -0.4, 0.3, 0.8, 2.2, 4.6]   # away from every kink


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_activation_values_float64(name):
    fn = activations.get(name)
    out = fn(np.array(XS))
    assert out.numpy().dtype == np.float64
    np.testing.assert_allclose(out.numpy(), vec(REFERENCES[name], XS), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_activation_keeps_float32(name):
    out = activations.get(name)(np.array(XS, np.float32))
    assert out.numpy().dtype == np.float32
    np.testing.assert_allclose(out.numpy(), vec(REFERENCES[name], XS), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(REFERENCES) + ["softmax", "log_softmax"])
def test_activation_gradcheck_float64(name):
    fn = activations.get(name)
    x = np.array(XS).reshape(2, 4)
    assert tg.gradcheck(fn, x)


def test_gelu_approximate_and_gradcheck():
    ref = [0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))) for x in XS]
    np.testing.assert_allclose(activations.gelu(np.array(XS), approximate=True).numpy(), ref, rtol=1e-12)
    assert tg.gradcheck(lambda t: activations.gelu(t, approximate=True), np.array(XS))
    # the exact form differs from the tanh approximation by less than 1e-3 but not by nothing
    diff = activations.gelu(np.array(XS)).numpy() - np.array(ref)
    assert 0 < np.max(np.abs(diff)) < 1e-3


def test_erf_op_values_and_gradient():
    xs = np.array([-2.5, -0.7, 0.0, 0.1, 1.3])
    np.testing.assert_allclose(activations.erf(xs).numpy(), vec(math.erf, xs), rtol=1e-14, atol=1e-16)
    assert tg.gradcheck(activations.erf, xs)
    # d erf / dx at 0 is 2 / sqrt(pi)
    x = tg.Var(np.array(0.0))
    with tg.GradientTape() as tape:
        y = activations.erf(x)
    assert float(tape.gradient(y, x).numpy()) == pytest.approx(2 / math.sqrt(math.pi), rel=1e-14)


def test_softplus_tails_exact_and_finite():
    x = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])
    out = activations.softplus(x).numpy()
    np.testing.assert_allclose(out, [0.0, math.exp(-40.0), math.log(2.0), 40.0, 800.0], rtol=1e-12)
    v = tg.Var(np.array([0.0, -50.0, 50.0]))
    with tg.GradientTape() as tape:
        y = tg.sum(activations.softplus(v))
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), [0.5, math.exp(-50.0), 1.0], rtol=1e-12)


def test_elu_large_input_no_overflow_warning():
    with np.errstate(over="raise", invalid="raise"):
        out = activations.elu(np.array([1000.0, -1000.0])).numpy()
    np.testing.assert_array_equal(out, [1000.0, -1.0])


def test_leaky_relu_default_slope_is_keras3():
    assert activations.leaky_relu(np.array([-1.0])).numpy()[0] == pytest.approx(-0.2)
    assert L.LeakyReLU()(np.array([[-1.0]])).numpy()[0, 0] == pytest.approx(-0.3)   # the layer's default
    assert L.LeakyReLU(negative_slope=0.1)(np.array([[-2.0, 3.0]])).numpy().tolist() == [[pytest.approx(-0.2), 3.0]]


def test_hard_sigmoid_is_relu6_shifted():
    np.testing.assert_allclose(activations.hard_sigmoid(np.array([-4.0, -3.0, 0.0, 1.5, 3.0, 9.0])).numpy(),
                               [0, 0, 0.5, 0.75, 1, 1])


def test_softmax_axis_and_names():
    x = np.array([[1.0, 2.0], [3.0, 5.0]])
    out = activations.softmax(x, axis=0).numpy()
    np.testing.assert_allclose(out[:, 0], [1 / (1 + math.e ** 2), math.e ** 2 / (1 + math.e ** 2)])
    assert activations.serialize(activations.swish) == "silu"
    assert activations.serialize(tg.relu) == "relu"
    assert activations.deserialize("gelu") is activations.gelu
    assert activations.get(None) is activations.linear
    with pytest.raises(ValueError, match="unknown activation 'gleu'"):
        activations.get("gleu")


@pytest.mark.parametrize("name", ["elu", "gelu", "selu", "softplus", "softsign", "swish", "hard_sigmoid",
                                  "leaky_relu", "mish", "relu6"])
def test_dense_and_activation_layer_take_new_names(name):
    d = L.Dense(3, activation=name, kernel_initializer=tg.initializers.GlorotUniform(seed=2))
    x = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)
    z = x @ d.kernel.numpy() if d.built else None
    out = d(x).numpy()
    z = x @ d.kernel.numpy()
    np.testing.assert_allclose(out, vec(REFERENCES[name if name != "swish" else "silu"], z.ravel()).reshape(z.shape),
                               rtol=1e-5, atol=1e-6)
    assert d.get_config()["activation"] == ("silu" if name == "swish" else name)
    np.testing.assert_allclose(L.Activation(name)(z).numpy(), out, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------
# dtype
# ---------------------------------------------------------------------------

def test_dense_float64_end_to_end():
    d = L.Dense(2, dtype="float64", kernel_initializer=tg.initializers.GlorotUniform(seed=0))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with tg.GradientTape() as tape:
        y = d(x)
        loss = tg.sum(y * y)
    assert d.dtype == "float64" and d.kernel.numpy().dtype == np.float64 and d.bias.numpy().dtype == np.float64
    assert y.numpy().dtype == np.float64
    gk, gb = tape.gradient(loss, [d.kernel, d.bias])
    assert gk.numpy().dtype == np.float64
    np.testing.assert_allclose(gk.numpy(), x.astype(np.float64).T @ (2 * y.numpy()), rtol=1e-12)


@pytest.mark.parametrize("make", [lambda: L.BatchNormalization(dtype="float64"),
                                  lambda: L.LayerNormalization(dtype="float64"),
                                  lambda: L.Dense(3, activation="gelu", dtype="float64")])
def test_float64_layers_compute_in_float64(make):
    layer = make()
    out = layer(np.random.default_rng(0).standard_normal((4, 3)), training=True)
    assert out.numpy().dtype == np.float64
    assert all(v.numpy().dtype == np.float64 for v in layer.weights)


def test_float64_sequential_fit_runs():
    from tinygrad_bn.keras import Sequential
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    m = Sequential([L.Dense(8, activation="relu", dtype="float64"), L.LayerNormalization(dtype="float64"),
                    L.Dense(2, dtype="float64")])
    m.compile(optimizer="adam", loss=tg.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    h = m.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    assert all(w.dtype == np.float64 for w in m.get_weights())
    assert m.predict(x[:2], verbose=0).dtype == np.float64


# ---------------------------------------------------------------------------
# Regularizers
# ---------------------------------------------------------------------------

def test_regularizer_penalties_by_hand():
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    assert float(regularizers.L1(0.1)(w).numpy()) == pytest.approx(0.1 * 3.5)
    assert float(regularizers.L2(0.1)(w).numpy()) == pytest.approx(0.1 * 5.25)
    assert float(regularizers.L1L2(l1=0.1, l2=0.2)(w).numpy()) == pytest.approx(0.35 + 1.05)
    assert regularizers.l1().l1 == 0.01 and regularizers.l2().l2 == 0.01
    r = regularizers.l1_l2()
    assert (r.l1, r.l2) == (0.01, 0.01)
    assert (regularizers.L1L2().l1, regularizers.L1L2().l2) == (0.0, 0.0)
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    again = regularizers.deserialize(regularizers.serialize(regularizers.L1L2(0.3, 0.4)))
    assert (again.l1, again.l2) == (0.3, 0.4)


def test_dense_kernel_and_bias_regularizers_reach_losses_and_gradients():
    d = L.Dense(2, kernel_regularizer=regularizers.L2(0.5), bias_regularizer=regularizers.L1(0.25),
                bias_initializer="ones", dtype="float64")
    x = np.ones((3, 4))
    d(x)
    k = d.kernel.numpy()
    vals = sorted(float(p.numpy()) for p in d.losses)
    assert vals == pytest.approx(sorted([0.5 * float(np.sum(k * k)), 0.25 * 2.0]))
    with tg.GradientTape() as tape:
        total = tg.add(*d.losses)
    gk, gb = tape.gradient(total, [d.kernel, d.bias])
    np.testing.assert_allclose(gk.numpy(), 0.5 * 2 * k)
    np.testing.assert_allclose(gb.numpy(), [0.25, 0.25])


def test_activity_regularizer_is_per_sample_mean_and_reset_each_call():
    d = L.Dense(2, activity_regularizer=regularizers.L1(0.1), kernel_initializer="ones", dtype="float64")
    x = np.array([[1.0, -3.0], [2.0, 0.0], [0.0, 0.5]])
    y = d(x).numpy()
    assert len(d.losses) == 1
    assert float(d.losses[0].numpy()) == pytest.approx(0.1 * np.abs(y).sum() / 3)
    d(x[:1])
    assert len(d.losses) == 1   # the previous call's penalty is forgotten


def test_batchnorm_gamma_beta_regularizers():
    bn = L.BatchNormalization(gamma_regularizer=regularizers.L2(1.0), beta_regularizer=regularizers.L1(1.0),
                              beta_initializer="ones")
    bn(np.ones((2, 3)), training=False)
    assert sorted(float(p.numpy()) for p in bn.losses) == pytest.approx([3.0, 3.0])


def test_regularized_layer_config_round_trip():
    d = L.Dense(3, kernel_regularizer=regularizers.L1L2(0.01, 0.02), activity_regularizer="l2")
    cfg = d.get_config()
    d2 = L.Dense.from_config(dict(cfg, name="copy"))
    assert isinstance(d2.kernel_regularizer, regularizers.L1L2) and d2.kernel_regularizer.l2 == 0.02
    assert isinstance(d2.activity_regularizer, regularizers.L2)


# ---------------------------------------------------------------------------
# LayerNormalization
# ---------------------------------------------------------------------------

def test_layer_normalization_keras_docstring_example():
    data = np.arange(10, dtype=np.float32).reshape(5, 2) * 10
    out = L.LayerNormalization(axis=1)(data).numpy()
    expect = np.tile([-5 / math.sqrt(25.001), 5 / math.sqrt(25.001)], (5, 1))
    np.testing.assert_allclose(out, expect, rtol=1e-6)


def test_layer_normalization_by_hand_with_gamma_beta():
    ln = L.LayerNormalization(epsilon=0.5, dtype="float64")
    x = np.array([[1.0, 2.0, 6.0], [0.0, 0.0, 0.0]])
    ln(x)
    ln.gamma.assign([1.0, 2.0, 3.0])
    ln.beta.assign([0.0, 1.0, -1.0])
    out = ln(x).numpy()
    # row 0: mean 3, var (4 + 1 + 9) / 3 = 14/3; row 1: all zero -> beta
    s = math.sqrt(14 / 3 + 0.5)
    np.testing.assert_allclose(out[0], [-2 / s, 2 * (-1 / s) + 1, 3 * (3 / s) - 1], rtol=1e-12)
    np.testing.assert_allclose(out[1], [0.0, 1.0, -1.0])
    assert ln(x, training=True).numpy().tolist() == out.tolist()   # same in training and inference


def test_layer_normalization_multiple_axes_and_gradcheck():
    ln = L.LayerNormalization(axis=[1, 2], dtype="float64")
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    out = ln(x).numpy()
    m = x.mean(axis=(1, 2), keepdims=True)
    v = x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, (x - m) / np.sqrt(v + 1e-3), rtol=1e-10)
    assert ln.gamma.shape == (3, 4)
    ln.gamma.assign(np.random.default_rng(2).standard_normal((3, 4)))
    assert tg.gradcheck(lambda t: ln(t), x)


def test_layer_normalization_axis_out_of_range():
    with pytest.raises(ValueError, match="LayerNormalization.*axis 3 is out of range"):
        L.LayerNormalization(axis=3)(np.ones((2, 3)))


# ---------------------------------------------------------------------------
# BatchNormalization: empty batch, NaN, deferred state updates
# ---------------------------------------------------------------------------

def test_batchnorm_empty_training_batch_raises_and_leaves_stats():
    bn = L.BatchNormalization(name="bn_empty")
    bn(np.ones((2, 3), np.float32), training=False)
    with pytest.raises(ValueError, match="'bn_empty'.*empty batch"):
        bn(np.zeros((0, 3), np.float32), training=True)
    np.testing.assert_array_equal(bn.moving_variance.numpy(), [1, 1, 1])
    np.testing.assert_array_equal(bn.moving_mean.numpy(), [0, 0, 0])
    assert bn(np.zeros((0, 3), np.float32), training=False).shape == (0, 3)   # inference: fine


def test_batchnorm_nan_propagates():
    bn = L.BatchNormalization()
    x = np.array([[1.0, 2.0], [np.nan, 4.0], [3.0, 0.0]], np.float32)
    y = bn(x, training=True).numpy()
    assert np.isnan(y[:, 0]).all() and np.isfinite(y[:, 1]).all()
    assert np.isnan(bn.moving_mean.numpy()[0]) and np.isfinite(bn.moving_mean.numpy()[1])


def test_batchnorm_update_deferred_until_commit():
    bn = L.BatchNormalization(momentum=0.5)
    x = np.array([[2.0], [4.0]], np.float32)
    with deferred_state_updates() as pending:
        bn(x, training=True)
        assert bn.moving_mean.numpy().tolist() == [0.0]          # not yet
        pending.commit()
    assert bn.moving_mean.numpy().tolist() == [1.5]              # 0.5 * 0 + 0.5 * 3
    assert bn.moving_variance.numpy().tolist() == [1.0]          # 0.5 * 1 + 0.5 * 1
    with deferred_state_updates():
        bn(x * 10, training=True)                                # never committed: discarded
    assert bn.moving_mean.numpy().tolist() == [1.5]


def test_batchnorm_update_is_copy_on_write():
    bn = L.BatchNormalization(momentum=0.5)
    bn(np.ones((2, 1), np.float32), training=False)
    before = bn.moving_mean.numpy()
    held = bn.moving_mean.data      # someone still holds the old array
    bn(np.array([[2.0], [4.0]], np.float32), training=True)
    assert held.tolist() == [0.0] and before.tolist() == [0.0]
    assert bn.moving_mean.numpy().tolist() == [1.5]


# ---------------------------------------------------------------------------
# Dropout, Reshape, merge layers, Embedding
# ---------------------------------------------------------------------------

def test_dropout_noise_shape_drops_whole_columns():
    d = L.Dropout(0.5, noise_shape=(1, None), seed=3)
    out = d(np.ones((6, 8), np.float32), training=True).numpy()
    assert set(np.unique(out)) <= {0.0, 2.0}
    assert (out == out[0]).all()        # the same mask for every row


def test_reshape_and_flatten():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert L.Reshape((4, 3))(x).shape == (2, 4, 3)
    assert L.Reshape((-1, 2))(x).shape == (2, 6, 2)
    np.testing.assert_array_equal(L.Flatten()(x).numpy(), x.reshape(2, 12))
    with pytest.raises(ValueError, match="Reshape.*12 values per sample.*5"):
        L.Reshape((5,))(x)


def test_merge_layers_values_and_gradients():
    a = tg.Var(np.array([[1.0, 2.0]], np.float32))
    b = tg.Var(np.array([[3.0, -1.0]], np.float32))
    assert L.Add()([a, b]).numpy().tolist() == [[4.0, 1.0]]
    assert L.Subtract()([a, b]).numpy().tolist() == [[-2.0, 3.0]]
    assert L.Multiply()([a, b]).numpy().tolist() == [[3.0, -2.0]]
    assert L.Average()([a, b]).numpy().tolist() == [[2.0, 0.5]]
    assert L.Maximum()([a, b]).numpy().tolist() == [[3.0, 2.0]]
    assert L.Minimum()([a, b]).numpy().tolist() == [[1.0, -1.0]]
    assert L.Concatenate()([a, b]).numpy().tolist() == [[1.0, 2.0, 3.0, -1.0]]
    with tg.GradientTape() as tape:
        y = tg.sum(L.Concatenate()([a, L.Multiply()([a, b])]))
    ga, gb = tape.gradient(y, [a, b])
    np.testing.assert_array_equal(ga.numpy(), [[4.0, 0.0]])
    np.testing.assert_array_equal(gb.numpy(), [[1.0, 2.0]])


def test_merge_layers_in_functional_model():
    from tinygrad_bn.keras import Input, Model
    i1, i2 = Input(shape=(3,)), Input(shape=(2,))
    h = L.Concatenate()([L.Dense(4, name="d_a")(i1), i2])
    out = L.Add()([L.Dense(2, name="d_b")(h), L.Dense(2, name="d_c")(h)])
    m = Model([i1, i2], out)
    y = m([np.ones((5, 3), np.float32), np.ones((5, 2), np.float32)])
    assert y.shape == (5, 2)


def test_embedding_lookup_and_repeated_index_gradient():
    e = L.Embedding(4, 2, embeddings_initializer=tg.initializers.Constant(0.0))
    e(np.array([0]))
    e.embeddings.assign(np.arange(8, dtype=np.float32).reshape(4, 2))
    idx = np.array([[1, 3], [1, 0]])
    out = e(idx)
    np.testing.assert_array_equal(out.numpy(), np.arange(8).reshape(4, 2)[idx])
    with tg.GradientTape() as tape:
        s = tg.sum(e(idx))
    g = tape.gradient(s, e.embeddings).numpy()
    np.testing.assert_array_equal(g, [[1, 1], [2, 2], [0, 0], [1, 1]])


def test_automatic_names_unique_across_threads():
    names = []
    lock = threading.Lock()

    def make():
        got = [L.Dense(1).name for _ in range(200)]
        with lock:
            names.extend(got)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(names) == 800 and len(set(names)) == 800


# ---------------------------------------------------------------------------
# Initializers added for tf.keras parity
# ---------------------------------------------------------------------------

def test_orthogonal_and_identity_initializers():
    from tinygrad_bn.keras import initializers as I
    q = I.Orthogonal(gain=2.0, seed=0)((5, 3), np.float64)
    np.testing.assert_allclose(q.T @ q, 4.0 * np.eye(3), atol=1e-12)
    w = I.Orthogonal(seed=1)((3, 6))
    np.testing.assert_allclose(w @ w.T, np.eye(3), atol=1e-6)
    np.testing.assert_array_equal(I.Orthogonal(seed=4)((3, 3)), I.Orthogonal(seed=4)((3, 3)))
    np.testing.assert_array_equal(I.Identity(3.0)((2, 3)), [[3, 0, 0], [0, 3, 0]])
    assert isinstance(I.get("orthogonal"), I.Orthogonal) and isinstance(I.get("uniform"), I.RandomUniform)
    assert I.glorot_normal is I.GlorotNormal and I.he_uniform is I.HeUniform
    d = L.Dense(3, kernel_initializer="orthogonal")
    d(np.ones((1, 3), np.float32))
    k = d.kernel.numpy().astype(np.float64)
    np.testing.assert_allclose(k.T @ k, np.eye(3), atol=1e-6)


@pytest.mark.parametrize("name", ["gelu", "elu", "selu", "softplus", "mish", "silu", "softsign"])
def test_activation_second_derivatives(name):
    # the vjps are built from primitives (erf's from NumPy operators), so an outer tape sees them
    assert tg.gradgradcheck(activations.get(name), np.array([-1.3, 0.2, 0.9, 2.1]))


def test_failed_fit_step_leaves_batchnorm_moving_stats():
    from tinygrad_bn.keras import Sequential

    def failing_loss(y_true, y_pred):
        raise RuntimeError("loss failed")

    m = Sequential([L.Dense(3), L.BatchNormalization()])
    m.compile(optimizer="sgd", loss=failing_loss)
    x = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [2.0, 2.0]], np.float32)
    m(x)
    bn = m.layers[1]
    mean0, var0 = bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()
    with pytest.raises(RuntimeError, match="loss failed"):
        m.fit(x, np.zeros((4, 3), np.float32), epochs=1, verbose=0)
    with pytest.raises(RuntimeError, match="loss failed"):
        m.train_on_batch(x, np.zeros((4, 3), np.float32))
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mean0)
    np.testing.assert_array_equal(bn.moving_variance.numpy(), var0)


# ---------------------------------------------------------------------------
# Permute, RepeatVector, Identity, ActivityRegularization, GaussianNoise, Lambda
# ---------------------------------------------------------------------------

def test_permute_repeat_identity():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(L.Permute((2, 1))(x).numpy(), x.transpose(0, 2, 1))
    v = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    np.testing.assert_array_equal(L.RepeatVector(3)(v).numpy(), np.stack([v] * 3, axis=1))
    w = tg.Var(v)
    with tg.GradientTape() as tape:
        s = tg.sum(L.RepeatVector(3)(w))
    np.testing.assert_array_equal(tape.gradient(s, w).numpy(), np.full((2, 2), 3.0))
    assert L.Identity()(v).numpy().tolist() == v.tolist()


def test_activity_regularization_layer():
    a = L.ActivityRegularization(l1=0.1, l2=0.5)
    x = np.array([[1.0, -2.0], [0.0, 1.0]])
    a(x)
    # (0.1 * 4 + 0.5 * 6) / 2 samples
    assert [float(v.numpy()) for v in a.losses] == [pytest.approx(1.7)]


def test_gaussian_noise_training_only_and_seeded():
    x = np.zeros((200, 50), np.float32)
    g = L.GaussianNoise(0.5, seed=1)
    assert not g(x).numpy().any()
    noise = g(x, training=True).numpy()
    assert abs(noise.std() - 0.5) < 0.02 and abs(noise.mean()) < 0.02
    np.testing.assert_array_equal(L.GaussianNoise(0.5, seed=1)(x, training=True).numpy(), noise)


def test_lambda_layer_eager_and_functional():
    from tinygrad_bn.keras import Input, Model
    double = L.Lambda(lambda t, k: t * k, arguments={"k": 2.0})
    assert double(np.array([[1.0, 2.0]], np.float32)).numpy().tolist() == [[2.0, 4.0]]
    i = Input(shape=(3,))
    h = L.Lambda(lambda t: tg.concatenate([t, t * t], axis=1))(i)
    assert h.shape == (None, 6)
    m = Model(i, L.Dense(1, kernel_initializer="ones", use_bias=False)(h))
    assert m(np.array([[1.0, 2.0, 3.0]], np.float32)).numpy().tolist() == [[6.0 + 14.0]]
    with pytest.raises(TypeError, match="Lambda.*cannot be saved"):
        double.get_config()


@pytest.mark.parametrize("make", [
    lambda: L.Dense(3, activation="gelu", use_bias=False, kernel_regularizer=regularizers.L2(0.1),
                    activity_regularizer=regularizers.L1(0.2), dtype="float64"),
    lambda: L.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-2, center=False,
                                 gamma_regularizer=regularizers.L1L2(0.1, 0.2)),
    lambda: L.LayerNormalization(axis=[1, 2], epsilon=1e-4, scale=False),
    lambda: L.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5),
    lambda: L.LeakyReLU(0.25), lambda: L.ELU(0.7), lambda: L.Softmax(axis=1),
    lambda: L.Dropout(0.3, noise_shape=(None, 1), seed=5), lambda: L.Reshape((2, -1)),
    lambda: L.Concatenate(axis=1), lambda: L.Add(), lambda: L.Embedding(10, 4),
    lambda: L.Permute((2, 1)), lambda: L.RepeatVector(3), lambda: L.ActivityRegularization(0.1, 0.2),
    lambda: L.GaussianNoise(0.3, seed=2), lambda: L.Activation("softsign"),
])
def test_layer_config_round_trip(make):
    layer = make()
    cfg = layer.get_config()
    again = L.deserialize(L.serialize(layer))
    assert type(again) is type(layer)
    assert again.get_config() == cfg


def test_layer_normalization_fuzz_against_numpy():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=12, deadline=None)
    @hypothesis.given(st.lists(st.integers(1, 4), min_size=2, max_size=4), st.data())
    def check(shape, data):
        ndim = len(shape)
        axes = data.draw(st.lists(st.integers(1, ndim - 1), min_size=1, max_size=ndim - 1, unique=True))
        x = np.random.default_rng(sum(shape)).standard_normal(shape) * 3 + 1
        out = L.LayerNormalization(axis=axes, epsilon=1e-3, dtype="float64")(x).numpy()
        ax = tuple(sorted(axes))
        ref = (x - x.mean(axis=ax, keepdims=True)) / np.sqrt(x.var(axis=ax, keepdims=True) + 1e-3)
        np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)

    check()


def test_activity_regularizer_and_embedding_inside_sequential():
    from tinygrad_bn.keras import Sequential
    m = Sequential([L.Dense(2, kernel_initializer="ones", use_bias=False, activity_regularizer=regularizers.L1(1.0))])
    m.compile(optimizer=tg.optimizers.SGD(0.0), loss="mse")
    x = np.ones((4, 3), np.float32)
    m(x)
    # outputs are all 3: L1 = 24 over 4 samples; the targets match, so the loss is the penalty alone
    assert [float(v.numpy()) for v in m.losses] == [6.0]
    assert m.evaluate(x, np.full((4, 2), 3.0, np.float32), verbose=0) == pytest.approx(6.0)
    e = Sequential([L.Embedding(5, 2, embeddings_initializer="ones"), L.Flatten()])
    assert e(np.array([[1, 2, 3]])).numpy().tolist() == [[1.0] * 6]
    with pytest.raises(ValueError, match="Embedding.*index 7"):
        e(np.array([[1, 7, 3]]))


def test_user_class_with_a_builtin_name_does_not_hijack_deserialize():
    class Add(tg.keras.layers.Layer):     # a user's own layer that happens to share the name
        pass

    again = L.deserialize(L.serialize(L.Add(name="builtin_add")))
    assert type(again) is L.Add
    assert type(L.deserialize(L.serialize(Add(name="mine")), custom_objects={"Add": Add})) is Add


def test_softplus_and_mish_accurate_on_a_dense_grid():
    x = np.linspace(-60.0, 60.0, 2401)
    sp = np.array([math.log1p(math.exp(-abs(v))) + max(v, 0.0) for v in x])
    np.testing.assert_allclose(activations.softplus(x).numpy(), sp, rtol=4e-16, atol=0)
    mish = x * np.tanh(sp)
    np.testing.assert_allclose(activations.mish(x).numpy(), mish, rtol=1e-15, atol=1e-300)
    x32 = x.astype(np.float32)
    sp32 = np.array([math.log1p(math.exp(-abs(v))) + max(v, 0.0) for v in x32.astype(np.float64)])
    np.testing.assert_allclose(activations.softplus(x32).numpy(), sp32, rtol=2e-7, atol=1e-44)


def test_elu_selu_gelu_keep_their_digits_near_zero_and_in_the_tails():
    x = np.concatenate([np.linspace(-30.0, 30.0, 1201), -np.logspace(-12, 0, 60), np.logspace(-12, 0, 60)])
    elu = np.array([v if v > 0 else math.expm1(v) for v in x])       # exp(x) - 1 would lose digits
    np.testing.assert_allclose(activations.elu(x).numpy(), elu, rtol=1e-15, atol=0)
    selu = SELU_S * np.array([v if v > 0 else SELU_A * math.expm1(v) for v in x])
    np.testing.assert_allclose(activations.selu(x).numpy(), selu, rtol=1e-15, atol=0)
    gelu = np.array([0.5 * v * math.erfc(-v / math.sqrt(2)) for v in x])   # 1 + erf(z) cancels for z << 0
    np.testing.assert_allclose(activations.gelu(x).numpy(), gelu, rtol=1e-12, atol=0)
    assert activations.gelu(np.array([-10.0])).numpy()[0] < 0      # not a rounded-off zero


def test_tf_nn_functions_as_activations_serialise_by_name():
    import tinygrad_bn.nn as tfnn
    d = L.Dense(2, activation=tfnn.relu, kernel_initializer=tg.initializers.GlorotUniform(seed=0))
    x = np.array([[1.0, -2.0, 0.5]], np.float32)
    np.testing.assert_allclose(d(x).numpy(), np.maximum(x @ d.kernel.numpy(), 0), rtol=1e-6)
    assert d.get_config()["activation"] == "relu"
    assert L.Dense(2, activation=tfnn.sigmoid).get_config()["activation"] == "sigmoid"
    assert activations.serialize(tg.tanh) == "tanh"


def test_erf_without_scipy_falls_back_to_math(monkeypatch):
    monkeypatch.setattr(activations, "_SPECIAL", [None])
    xs = np.array([-3.0, -0.2, 0.0, 1.7], np.float32)
    out = activations.erf(xs).numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, vec(math.erf, xs.astype(np.float64)), rtol=1e-7)
    np.testing.assert_allclose(activations.gelu(np.array([-9.0, 0.5])).numpy(),
                               [0.5 * v * math.erfc(-v / math.sqrt(2)) for v in (-9.0, 0.5)], rtol=1e-13)
