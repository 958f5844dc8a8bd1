"""Layers, initializers, losses and metrics of tinygrad_bn.keras."""
import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import initializers, losses, metrics
from tinygrad_bn.keras import (Activation, BatchNormalization, Dense, Dropout, Flatten, ReLU,
                            Softmax)
from tinygrad_bn.keras.layers import dense_nobias_op, dense_op
from tinygrad_bn.keras.losses import prob_bce, prob_cross_entropy, sigmoid_bce


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------------------
# Dense
# ---------------------------------------------------------------------------

def test_dense_builds_lazily_and_computes_affine():
    layer = Dense(4, kernel_initializer=initializers.GlorotUniform(seed=1))
    assert not layer.built and layer.weights == []
    x = rand(3, 5)
    y = layer(x)
    assert layer.built and layer.kernel.shape == (5, 4) and layer.bias.shape == (4,)
    layer.bias.assign(np.arange(4, dtype=np.float32))
    np.testing.assert_allclose(layer(x).numpy(), x @ layer.kernel.data + np.arange(4), rtol=1e-6)
    assert y.shape == (3, 4)
    assert [v.name for v in layer.trainable_variables] == [f"{layer.name}/kernel", f"{layer.name}/bias"]
    assert layer.non_trainable_variables == []


@pytest.mark.parametrize("activation,ref", [
    ("relu", lambda z: np.maximum(z, 0)),
    ("linear", lambda z: z),
    (None, lambda z: z),
    ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
    ("tanh", np.tanh),
    ("softmax", lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)),
])
def test_dense_activations_by_name(activation, ref):
    layer = Dense(3, activation=activation, use_bias=False)
    x = rand(4, 2)
    out = layer(x).numpy()
    np.testing.assert_allclose(out, ref(x @ layer.kernel.data), rtol=1e-5, atol=1e-6)


def test_dense_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'relux'"):
        Dense(3, activation="relux")


def test_dense_feature_mismatch_names_layer_and_sizes():
    layer = Dense(3, name="hidden")
    layer(rand(2, 5))
    with pytest.raises(ValueError, match=r"'hidden'.*5 features.*got 4"):
        layer(rand(2, 4))


def test_dense_on_3d_input():
    layer = Dense(3)
    x = rand(2, 4, 5)
    np.testing.assert_allclose(layer(x).numpy(), x @ layer.kernel.data, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("relu", [False, True])
def test_fused_dense_gradcheck(relu):
    x, w, b = rand(4, 3, seed=1), rand(3, 5, seed=2), rand(5, seed=3)
    assert tg.gradcheck(lambda x, w, b: dense_op(x, w, b, relu=relu), x, w, b)
    assert tg.gradcheck(lambda x, w: dense_nobias_op(x, w, relu=relu), x, w)
    x3 = rand(2, 2, 3, seed=4)
    assert tg.gradcheck(lambda x, w, b: dense_op(x, w, b, relu=relu), x3, w, b)


def test_dense_gradients_through_tape_match_composite():
    layer = Dense(4, activation="relu")
    x = tg.Tensor(rand(6, 3))
    with tg.GradientTape(persistent=True) as tape:
        y1 = tg.sum(layer(x) * layer(x))
        z = tg.relu(tg.matmul(x, layer.kernel) + layer.bias)
        y2 = tg.sum(z * z)
    g1 = tape.gradient(y1, layer.trainable_variables)
    g2 = tape.gradient(y2, layer.trainable_variables)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_get_set_weights_and_errors():
    layer = Dense(2)
    layer(rand(1, 3))
    w = layer.get_weights()
    assert [a.shape for a in w] == [(3, 2), (2,)]
    layer.set_weights([np.ones((3, 2)), np.zeros(2)])
    np.testing.assert_array_equal(layer.kernel.data, np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="has 2 weights"):
        layer.set_weights([np.ones((3, 2))])
    with pytest.raises(ValueError, match=r"shape \(3, 2\)"):
        layer.set_weights([np.ones((2, 2)), np.zeros(2)])


# ---------------------------------------------------------------------------
# BatchNormalization
# ---------------------------------------------------------------------------

def test_batchnorm_moving_statistics_follow_keras_formula():
    bn = BatchNormalization(momentum=0.9, epsilon=1e-3)
    mm = np.zeros(3)
    mv = np.ones(3)
    for step in range(4):
        x = rand(16, 3, seed=step) * (step + 1) + step
        y = bn(x, training=True).numpy()
        mu, var = x.mean(0), x.var(0)      # biased batch variance, as Keras
        mm = 0.9 * mm + 0.1 * mu
        mv = 0.9 * mv + 0.1 * var
        np.testing.assert_allclose(bn.moving_mean.data, mm, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bn.moving_variance.data, mv, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(y, (x - mu) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-4)
    # inference uses the moving statistics (and leaves them alone)
    x = rand(5, 3, seed=9)
    bn.gamma.assign([1.0, 2.0, 3.0])
    bn.beta.assign([0.5, 0.0, -0.5])
    y = bn(x, training=False).numpy()
    ref = (x - mm) / np.sqrt(mv + 1e-3) * [1, 2, 3] + [0.5, 0, -0.5]
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.moving_mean.data, mm, rtol=1e-5, atol=1e-6)


def test_batchnorm_defaults_and_variables():
    bn = BatchNormalization()
    assert bn.momentum == 0.99 and bn.epsilon == 1e-3
    bn(rand(4, 6))
    assert [v.name.split("/")[1] for v in bn.trainable_variables] == ["gamma", "beta"]
    assert [v.name.split("/")[1] for v in bn.non_trainable_variables] == ["moving_mean", "moving_variance"]
    bn2 = BatchNormalization(center=False, scale=False)
    bn2(rand(4, 6))
    assert bn2.trainable_variables == [] and len(bn2.non_trainable_variables) == 2


def test_batchnorm_single_example_inference():
    bn = BatchNormalization()
    bn(rand(32, 4), training=True)
    one = bn(rand(1, 4), training=False).numpy()
    assert np.all(np.isfinite(one))


def test_batchnorm_trainable_false_freezes_gamma_beta_not_training_mode():
    bn = BatchNormalization(momentum=0.5)
    x = rand(8, 3) + 2.0
    bn(x)
    bn.trainable = False
    assert bn.trainable_variables == [] and len(bn.non_trainable_variables) == 4
    with tg.GradientTape() as tape:
        y = bn(x, training=True)          # still batch statistics ...
        loss = tg.sum(y * y)
    assert tape.watched_variables() == ()  # ... but gamma/beta are not watched
    np.testing.assert_allclose(y.numpy().mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(bn.moving_mean.data, 0.5 * x.mean(0), rtol=1e-5)  # stats still move
    bn.trainable = True
    assert len(bn.trainable_variables) == 2


def test_batchnorm_axis_1_on_3d_input():
    bn = BatchNormalization(axis=1, momentum=0.0)
    x = rand(4, 3, 5)
    y = bn(x, training=True).numpy()
    mu = x.mean(axis=(0, 2), keepdims=True)
    var = x.var(axis=(0, 2), keepdims=True)
    np.testing.assert_allclose(y, (x - mu) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.moving_mean.data, mu.ravel(), rtol=1e-5, atol=1e-6)


def test_batchnorm_layer_gradcheck():
    bn = BatchNormalization()
    x = rand(6, 3).astype(np.float64)
    bn(x.astype(np.float32))

    def f(x, g, b):
        from tinygrad_bn.keras import functional as F
        return F.batch_norm(x, g, b, epsilon=1e-3)
    assert tg.gradcheck(f, x, rand(3, seed=5), rand(3, seed=6))


# ---------------------------------------------------------------------------
# Other layers
# ---------------------------------------------------------------------------

def test_activation_relu_softmax_flatten():
    x = rand(2, 3, 4)
    np.testing.assert_allclose(Flatten()(x).numpy(), x.reshape(2, 12))
    np.testing.assert_allclose(ReLU()(x).numpy(), np.maximum(x, 0))
    s = Softmax()(x).numpy()
    np.testing.assert_allclose(s.sum(-1), 1, rtol=1e-6)
    np.testing.assert_allclose(Activation("tanh")(x).numpy(), np.tanh(x), rtol=1e-6)


def test_dropout_training_vs_inference():
    d = Dropout(0.5, seed=0)
    x = np.ones((200, 50), np.float32)
    np.testing.assert_array_equal(d(x, training=False).numpy(), x)
    y = d(x, training=True).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.4 < (y == 0).mean() < 0.6
    with tg.GradientTape() as tape:
        xt = tg.Tensor(x)
        tape.watch(xt)
        out = tg.sum(d(xt, training=True))
    g = tape.gradient(out, xt).numpy()
    assert set(np.unique(g)) <= {0.0, 2.0}
    with pytest.raises(ValueError):
        Dropout(1.0)


# ---------------------------------------------------------------------------
# Initializers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform",
                                  "random_normal", "zeros", "ones"])
def test_initializer_strings(name):
    init = initializers.get(name)
    a = init((64, 32))
    assert a.shape == (64, 32) and a.dtype == np.float32


def test_initializer_distributions_and_seeds():
    shape = (400, 300)
    lim = np.sqrt(6 / 700)
    a = initializers.GlorotUniform(seed=3)(shape)
    assert np.abs(a).max() <= lim and abs(a.std() - lim / np.sqrt(3)) < 0.01 * lim
    np.testing.assert_array_equal(a, initializers.GlorotUniform(seed=3)(shape))
    assert not np.array_equal(a, initializers.GlorotUniform(seed=4)(shape))
    g = initializers.GlorotNormal(seed=0)(shape)
    std = np.sqrt(2 / 700)
    assert np.abs(g).max() <= 2 * std / 0.87962566103423978 + 1e-6   # truncated at 2 sigma
    assert abs(g.std() - std) < 0.02 * std
    h = initializers.HeNormal(seed=0)(shape)
    assert abs(h.std() - np.sqrt(2 / 400)) < 0.02 * np.sqrt(2 / 400)
    hu = initializers.HeUniform(seed=0)(shape)
    assert np.abs(hu).max() <= np.sqrt(6 / 400)
    r = initializers.RandomNormal(mean=1.0, stddev=0.5, seed=0)(shape)
    assert abs(r.mean() - 1) < 0.01 and abs(r.std() - 0.5) < 0.01
    assert np.all(initializers.Zeros()((3,)) == 0) and np.all(initializers.Ones()((3,)) == 1)


def test_global_seed_makes_layers_reproducible():
    tg.utils.set_seed(123)
    a = Dense(5)
    a(rand(1, 4))
    tg.utils.set_seed(123)
    b = Dense(5)
    b(rand(1, 4))
    np.testing.assert_array_equal(a.kernel.data, b.kernel.data)


# ---------------------------------------------------------------------------
# Losses and metrics
# ---------------------------------------------------------------------------

def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_sparse_cce_from_logits_and_probabilities():
    z = rand(6, 4)
    y = np.array([0, 1, 2, 3, 1, 0])
    ref = -_log_softmax(z)[np.arange(6), y].mean()
    assert float(losses.SparseCategoricalCrossentropy(from_logits=True)(y, z)) == pytest.approx(ref, rel=1e-5)
    p = np.exp(_log_softmax(z))
    assert float(losses.SparseCategoricalCrossentropy()(y, p)) == pytest.approx(ref, rel=1e-5)
    none = losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")(y, z).numpy()
    np.testing.assert_allclose(none, -_log_softmax(z)[np.arange(6), y], rtol=1e-5)


def test_categorical_cce_label_smoothing():
    z = rand(5, 3)
    t = tg.utils.one_hot([0, 1, 2, 1, 0], 3)
    ts = t * 0.8 + 0.2 / 3
    ref = -(ts * _log_softmax(z)).sum(-1).mean()
    got = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)(t, z)
    assert float(got) == pytest.approx(ref, rel=1e-5)
    got = losses.CategoricalCrossentropy(label_smoothing=0.2)(t, np.exp(_log_softmax(z)))
    assert float(got) == pytest.approx(ref, rel=1e-5)


def test_probability_losses_never_nan_on_saturated_softmax():
    z = tg.Tensor(np.array([[1000.0, -1000.0, 0.0], [0.0, 2000.0, -50.0]], np.float32))
    for loss in (losses.SparseCategoricalCrossentropy(), losses.CategoricalCrossentropy()):
        with tg.GradientTape() as tape:
            tape.watch(z)
            p = tg.softmax(z)
            target = [2, 0] if isinstance(loss, losses.SparseCategoricalCrossentropy) else \
                tg.utils.one_hot([2, 0], 3)
            value = loss(target, p)
        g = tape.gradient(value, z).numpy()
        assert np.isfinite(float(value)) and float(value) == pytest.approx(-np.log(1e-7), rel=1e-3)
        assert np.all(np.isfinite(g))
    p = np.array([[0.0], [1.0]], np.float32)
    assert np.isfinite(float(losses.BinaryCrossentropy()(np.array([[1.0], [0.0]]), p)))


def test_binary_crossentropy_logits_and_probs():
    z = rand(8, 2)
    t = (rand(8, 2, seed=3) > 0).astype(np.float32)
    p = 1 / (1 + np.exp(-z))
    ref = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean()
    assert float(losses.BinaryCrossentropy(from_logits=True)(t, z)) == pytest.approx(ref, rel=1e-5)
    assert float(losses.BinaryCrossentropy()(t, p)) == pytest.approx(ref, rel=1e-4)


def test_mse():
    a, b = rand(4, 3), rand(4, 3, seed=1)
    assert float(losses.MeanSquaredError()(a, b)) == pytest.approx(((a - b) ** 2).mean(), rel=1e-6)
    assert float(losses.get("mse")(a, b)) == pytest.approx(((a - b) ** 2).mean(), rel=1e-6)


def test_loss_op_gradchecks():
    p = np.abs(rand(4, 3)) + 0.1
    t = np.abs(rand(4, 3, seed=2))
    assert tg.gradcheck(lambda p: prob_cross_entropy(p, t), p)
    z = rand(4, 3, seed=5)
    zt = (rand(4, 3, seed=6) > 0).astype(np.float64)
    assert tg.gradcheck(lambda z: sigmoid_bce(z, zt), z)
    q = 1 / (1 + np.exp(-z))
    assert tg.gradcheck(lambda q: prob_bce(q, zt), q)


def test_sparse_targets_out_of_range_message():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    with pytest.raises(ValueError, match=r"label 10 \(y\[2\]\) is out of range.*10 outputs"):
        loss.prepare_targets(np.array([0, 1, 10]), (None, 10))
    with pytest.raises(ValueError, match="integer class labels"):
        loss.prepare_targets(np.array([0.5, 1.0]), (None, 10))


def test_metrics():
    m = metrics.resolve("accuracy", losses.SparseCategoricalCrossentropy())
    assert isinstance(m, metrics.SparseCategoricalAccuracy) and m.name == "accuracy"
    m.update_state(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]]))
    m.update_state(np.array([1]), np.array([[0.1, 0.9]]))
    assert m.result() == pytest.approx(2 / 3)
    c = metrics.resolve("accuracy", losses.CategoricalCrossentropy())
    c.update_state(np.eye(2), np.array([[0.9, 0.1], [0.8, 0.2]]))
    assert c.result() == 0.5
    mean = metrics.Mean()
    mean.update_state(1.0, 3)
    mean.update_state(3.0, 1)
    assert mean.result() == 1.5


def test_one_hot_and_batches():
    np.testing.assert_array_equal(tg.utils.one_hot([1, 0, 2]), np.eye(3)[[1, 0, 2]])
    with pytest.raises(ValueError, match="label 3 at index 1"):
        tg.utils.one_hot([0, 3], 3)
    x = np.arange(10)
    y = np.arange(10) * 2
    got = list(tg.utils.batches(x, y, batch_size=4))
    assert [len(b[0]) for b in got] == [4, 4, 2]
    shuffled = np.concatenate([b[0] for b in tg.utils.batches(x, y, batch_size=3, shuffle=True, seed=0)])
    assert sorted(shuffled) == list(range(10)) and list(shuffled) != list(range(10))
    assert all(np.array_equal(bx * 2, by) for bx, by in tg.utils.batches(x, y, batch_size=3, shuffle=True))
    assert len(list(tg.utils.batches(x, batch_size=4, drop_remainder=True))) == 2
