"""The functional API: Input, symbolic tensors, graphs of layers, Model(inputs, outputs)."""
import numpy as np
import pytest

from _data import make_blobs
import tinygrad_bn as tg
from tinygrad_bn.keras import Input, InputLayer, KerasTensor, Model, Sequential
from tinygrad_bn.keras.layers import BatchNormalization, Dense, ReLU
from tinygrad_bn.keras.losses import SparseCategoricalCrossentropy


def np_dense(x, layer):
    out = x @ layer.kernel.numpy()
    return out + layer.bias.numpy() if layer.bias is not None else out


def test_input_is_symbolic_and_layers_record_nodes():
    x = Input(shape=(4,), name="features")
    assert isinstance(x, KerasTensor) and x.shape == (None, 4) and x.dtype == "float32"
    assert isinstance(x._keras_history[0], InputLayer) and x.name == "features"
    d = Dense(3)
    h = d(x)
    assert isinstance(h, KerasTensor) and h.shape == (None, 3)
    assert h._keras_history[0] is d and d.built and d.kernel.shape == (4, 3)
    with pytest.raises(TypeError, match="no value"):
        np.asarray(h)


def test_functional_model_computes_the_graph():
    x = Input(shape=(4,))
    d1, d2 = Dense(5, activation="relu"), Dense(2)
    model = Model(inputs=x, outputs=d2(d1(x)))
    data = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    hand = np_dense(np.maximum(np_dense(data, d1), 0), d2)
    np.testing.assert_allclose(model.predict(data), hand, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(data).numpy(), hand, rtol=1e-5, atol=1e-6)
    assert [type(l).__name__ for l in model.layers] == ["InputLayer", "Dense", "Dense"]
    assert len(model.trainable_variables) == 4 and model.count_params() == 4 * 5 + 5 + 5 * 2 + 2
    text = model.summary(print_fn=None)
    assert "(None, 5)" in text and "(None, 2)" in text and "Total params: 37" in text


def test_multiple_inputs_and_outputs_as_lists():
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    da, db = Dense(4), Dense(4)
    head1, head2 = Dense(1, name="regress"), Dense(3, name="classify")
    ha, hb = da(a), db(b)
    model = Model([a, b], [head1(ha), head2(hb)])
    rng = np.random.default_rng(1)
    xa = rng.standard_normal((8, 3)).astype(np.float32)
    xb = rng.standard_normal((8, 2)).astype(np.float32)
    out = model.predict([xa, xb])
    assert isinstance(out, list) and out[0].shape == (8, 1) and out[1].shape == (8, 3)
    np.testing.assert_allclose(out[0], np_dense(np_dense(xa, da), head1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1], np_dense(np_dense(xb, db), head2), rtol=1e-5, atol=1e-6)
    by_name = model.predict({"a": xa, "b": xb})
    np.testing.assert_array_equal(by_name[0], out[0])
    # training with one loss per output and loss weights: the loss is the weighted sum
    yr = rng.standard_normal((8, 1)).astype(np.float32)
    yc = rng.integers(0, 3, 8)
    model.compile(optimizer=tg.optimizers.SGD(0.0),
                  loss=["mse", SparseCategoricalCrossentropy(from_logits=True)], loss_weights=[2.0, 0.5])
    h = model.fit([xa, xb], [yr, yc], batch_size=8, epochs=1, verbose=0)
    mse = float(((out[0] - yr) ** 2).mean())
    z = out[1].astype(np.float64)
    z = z - z.max(1, keepdims=True)
    ce = float(-(z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(8), yc].mean())
    assert h.history["loss"][0] == pytest.approx(2.0 * mse + 0.5 * ce, rel=1e-5)
    # a dict of losses keyed by output layer name
    model.compile(optimizer=tg.optimizers.SGD(0.0), loss={"regress": "mse",
                                                         "classify": SparseCategoricalCrossentropy(from_logits=True)})
    assert model.evaluate([xa, xb], [yr, yc], verbose=0) == pytest.approx(mse + ce, rel=1e-5)


def test_layer_sharing_uses_one_set_of_weights():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    shared = Dense(2, use_bias=False)
    from tinygrad_bn.keras.layers import Layer

    class Add(Layer):
        def call(self, inputs, training=None):
            return inputs[0] + inputs[1]

        def compute_output_shape(self, input_shape):
            return input_shape[0]

    model = Model([a, b], Add()([shared(a), shared(b)]))
    assert len(model.trainable_variables) == 1
    assert [type(l).__name__ for l in model.layers].count("Dense") == 1
    xa = np.ones((2, 3), np.float32)
    xb = 2 * np.ones((2, 3), np.float32)
    np.testing.assert_allclose(model.predict([xa, xb]), (xa + xb) @ shared.kernel.numpy(), rtol=1e-6)


def test_custom_layer_without_compute_output_shape_is_probed():
    from tinygrad_bn.keras.layers import Layer

    class FirstTwo(Layer):
        def call(self, x, training=None):
            return x[:, :2]

    x = Input(shape=(5,))
    h = FirstTwo()(x)
    assert h.shape == (None, 2)
    model = Model(x, Dense(1)(h))
    assert model.predict(np.ones((3, 5), np.float32)).shape == (3, 1)


def test_nested_models_and_sequential_inside_functional():
    inner = Sequential([Dense(4, activation="relu"), Dense(2)])
    x = Input(shape=(3,))
    sub_in = Input(shape=(2,))
    sub = Model(sub_in, Dense(1)(sub_in))
    model = Model(x, sub(inner(x)))
    assert model.output_shape == (None, 1)
    data = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(data), sub.predict(inner.predict(data)), rtol=1e-5, atol=1e-6)
    assert len(model.weights) == len(inner.weights) + len(sub.weights)


def test_functional_training_with_batch_norm_matches_sequential():
    x, y = make_blobs(n=64, d=4, c=3, seed=0)
    tg.utils.set_seed(5)
    inp = Input(shape=(4,))
    f = Model(inp, Dense(3)(ReLU()(BatchNormalization()(Dense(6, use_bias=False)(inp)))))
    tg.utils.set_seed(5)
    s = Sequential([Input(shape=(4,)), Dense(6, use_bias=False), BatchNormalization(), ReLU(), Dense(3)])
    curves = []
    for m in (f, s):
        m.compile(optimizer=tg.optimizers.Adam(0.01), loss=SparseCategoricalCrossentropy(from_logits=True))
        curves.append(m.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(curves[0], curves[1], rtol=1e-6)
    bn_f = [l for l in f.layers if isinstance(l, BatchNormalization)][0]
    bn_s = [l for l in s.layers if isinstance(l, BatchNormalization)][0]
    np.testing.assert_allclose(bn_f.moving_mean.numpy(), bn_s.moving_mean.numpy(), rtol=1e-6)


def test_sequential_accepts_input_tensor_and_input_layer():
    m = Sequential([Input(shape=(4,)), Dense(2)])
    assert m.built and m.output_shape == (None, 2) and len(m.layers) == 1
    m2 = Sequential([InputLayer(shape=(4,)), Dense(2)])
    assert m2.built and m2.layers[0].kernel.shape == (4, 2)
    with pytest.raises(ValueError, match="only be the first layer"):
        Sequential([Dense(2), Input(shape=(4,))])


def test_graph_errors():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    out = Dense(1)(b)
    with pytest.raises(ValueError, match="graph disconnected"):
        Model(inputs=a, outputs=out)
    with pytest.raises(ValueError, match="needs both inputs and outputs"):
        Model(inputs=a)
    with pytest.raises(TypeError, match="symbolic tensors"):
        Model(inputs=np.zeros((2, 3)), outputs=out)
    model = Model(b, out)
    with pytest.raises(ValueError, match="expects shape"):
        model.predict(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="was built for inputs with 3 features"):
        out._keras_history[0](Input(shape=(5,)))


def test_metrics_per_output_are_named_after_the_output():
    x = Input(shape=(4,))
    model = Model(x, [Dense(1, name="reg")(x), Dense(3, name="cls")(x)])
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((16, 4)).astype(np.float32)
    yr = rng.standard_normal((16, 1)).astype(np.float32)
    yc = rng.integers(0, 3, 16)
    model.compile(optimizer=tg.optimizers.SGD(0.0), loss=["mse", SparseCategoricalCrossentropy(from_logits=True)],
                  metrics={"cls": ["accuracy"], "reg": ["mae"]})
    logs = model.evaluate(xs, [yr, yc], verbose=0, return_dict=True)
    pr, pc = model.predict(xs)
    assert set(logs) == {"loss", "reg_mae", "cls_accuracy"}
    assert logs["cls_accuracy"] == pytest.approx(float((pc.argmax(1) == yc).mean()))
    assert logs["reg_mae"] == pytest.approx(float(np.abs(pr - yr).mean()), rel=1e-5)
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    h = model.fit(xs, [yr, np.eye(3)[yc]], epochs=1, verbose=0)
    assert set(h.history) == {"loss", "reg_mae", "cls_mae"}
    with pytest.raises(ValueError, match="not outputs"):
        model.compile(optimizer="sgd", loss="mse", metrics={"nope": ["mae"]})
        model.evaluate(xs, [yr, np.eye(3)[yc]], verbose=0)


def test_functional_config_round_trip_rebuilds_the_graph():
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    shared = Dense(4, activation="relu")
    from tinygrad_bn.keras.layers import Layer

    class Concat(Layer):
        def call(self, inputs, training=None):
            return tg.concat(inputs, axis=-1)

        def compute_output_shape(self, input_shape):
            return (None, sum(s[-1] for s in input_shape))

    h = Concat()([shared(Dense(2)(a)), shared(b)])
    model = Model(inputs=[a, b], outputs=[Dense(1)(h), BatchNormalization()(h)])
    cfg = model.get_config()
    clone = Model.from_config(cfg, custom_objects={"Concat": Concat})
    assert [type(l).__name__ for l in clone.layers] == [type(l).__name__ for l in model.layers]
    clone.set_weights(model.get_weights())
    rng = np.random.default_rng(4)
    xa, xb = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((5, 2)).astype(np.float32)
    for p, q in zip(model.predict([xa, xb]), clone.predict([xa, xb])):
        np.testing.assert_array_equal(p, q)
    with pytest.raises(ValueError, match="malformed"):
        Model.from_config({"nodes": [{"layer": "nope", "args": {"ref": ["input", 0]}}], "inputs": [],
                           "layers": [], "outputs": {"ref": ["node", 0, 0]}})
