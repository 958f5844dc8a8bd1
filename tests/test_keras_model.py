"""keras.Model: subclassing, the one train step, fit options, atomic steps, tracking, losses."""
import warnings

import numpy as np
import pytest

from _data import make_blobs
import tinygrad_bn as tg
from tinygrad_bn import keras
from tinygrad_bn.keras import Input, Model, Sequential
from tinygrad_bn.keras.base_layer import Layer, add_state_update, deferred_state_updates
from tinygrad_bn.keras.layers import BatchNormalization, Dense, Dropout, ReLU
from tinygrad_bn.keras.losses import SparseCategoricalCrossentropy


def blobs(n=96, d=5, c=3, seed=0):
    return make_blobs(n=n, d=d, c=c, seed=seed)


def sce():
    return SparseCategoricalCrossentropy(from_logits=True)


def three_layers():
    return Dense(8, use_bias=False), BatchNormalization(), Dense(3)


class Net(Model):
    def __init__(self, d1, bn, d2, **kw):
        super().__init__(**kw)
        self.d1, self.bn, self.act, self.d2 = d1, bn, ReLU(), d2

    def call(self, inputs, training=None):
        return self.d2(self.act(self.bn(self.d1(inputs), training=training)))


def build(kind, d=5, weights=None):
    d1, bn, d2 = three_layers()
    if kind == "sequential":
        model = Sequential([Input(shape=(d,)), d1, bn, ReLU(), d2])
    elif kind == "functional":
        x = Input(shape=(d,))
        model = Model(x, d2(ReLU()(bn(d1(x)))))
    else:
        model = Net(d1, bn, d2)
        model.build((None, d))
    if weights is not None:
        model.set_weights(weights)
    return model


def reference_weights(d=5):
    rng = np.random.default_rng(42)
    return [rng.standard_normal((d, 8)).astype(np.float32) * 0.5, np.ones(8, np.float32),
            np.zeros(8, np.float32), np.zeros(8, np.float32), np.ones(8, np.float32),
            rng.standard_normal((8, 3)).astype(np.float32) * 0.5, np.zeros(3, np.float32)]


# ---------------------------------------------------------------------------
# Three ways to write the same model
# ---------------------------------------------------------------------------

def test_subclassed_functional_sequential_same_training_curve():
    x, y = blobs()
    curves, finals = {}, {}
    for kind in ("sequential", "functional", "subclassed"):
        model = build(kind, weights=reference_weights())
        assert [w.shape for w in model.get_weights()] == [w.shape for w in reference_weights()]
        model.compile(optimizer=tg.optimizers.Adam(0.02), loss=sce(), metrics=["accuracy"])
        h = model.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)
        curves[kind] = np.array(h.history["loss"])
        finals[kind] = model.get_weights()
        assert model.optimizer.iterations == 4 * 6
    for kind in ("functional", "subclassed"):
        np.testing.assert_allclose(curves[kind], curves["sequential"], rtol=1e-6, atol=1e-7)
        for a, b in zip(finals[kind], finals["sequential"]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert curves["sequential"][-1] < curves["sequential"][0]


def test_subclassed_model_tracks_layers_and_variables():
    class Block(Layer):                       # a custom layer with sublayers, as Keras allows
        def __init__(self):
            super().__init__()
            self.inner = [Dense(4), Dense(4)]
            self.norms = {"a": BatchNormalization()}

        def call(self, x, training=None):
            return self.norms["a"](self.inner[1](self.inner[0](x)))

    class Deep(Model):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.head = Sequential([Dense(2)])
            self.extra = []
            self.extra.append(Dense(2))        # appended after assignment: still tracked

        def call(self, inputs, training=None):
            return self.extra[0](self.head(self.block(inputs)))

    model = Deep()
    out = model(np.ones((3, 6), np.float32))
    assert out.shape == (3, 2)
    assert [type(l).__name__ for l in model.layers] == ["Block", "Sequential", "Dense"]
    # kernels: 6x4, 4x4, 4x2, 2x2 ; biases 4, 4, 2, 2 ; BN gamma/beta trainable, moving stats not
    assert len(model.trainable_variables) == 4 * 2 + 2
    assert len(model.non_trainable_variables) == 2
    assert model.count_params() == (24 + 4) + (16 + 4) + 4 * 4 + (8 + 2) + (4 + 2)
    assert len({id(v) for v in model.weights}) == len(model.weights) == 12
    model.block.trainable = False
    assert len(model.trainable_variables) == 4    # head and extra only
    assert all(not l.trainable for l in model.block.inner)


def test_shared_variable_listed_once_and_var_attributes_tracked():
    class Scale(Layer):
        def __init__(self):
            super().__init__()
            self.w = tg.Var(np.array([2.0], np.float32))

        def call(self, x, training=None):
            return x * self.w

    class Twice(Model):
        def __init__(self):
            super().__init__()
            self.s = Scale()
            self.again = self.s                # the same layer under two names

        def call(self, inputs, training=None):
            return self.again(self.s(inputs))

    m = Twice()
    assert m(np.ones((1, 1), np.float32)).numpy()[0, 0] == pytest.approx(4.0)
    assert len(m.trainable_variables) == 1


def test_training_flag_is_inherited_by_sublayers():
    seen = []

    class Probe(Layer):
        def call(self, x, training=None):
            seen.append(training)
            return x

    class M(Model):
        def __init__(self):
            super().__init__()
            self.p = Probe()
            self.d = Dense(1)

        def call(self, inputs):                   # no training argument at all
            return self.d(self.p(inputs))

    m = M()
    m(np.ones((2, 3), np.float32), training=True)
    m(np.ones((2, 3), np.float32))
    assert seen[-2:] == [True, False]
    m.compile(optimizer="sgd", loss="mse")
    seen.clear()
    m.fit(np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32), epochs=1, verbose=0)
    assert seen[-1] is True and seen.count(True) == 1     # (before it: one inference call for the output shape)
    seen.clear()
    m.predict(np.ones((4, 3), np.float32))
    assert seen == [False]


# ---------------------------------------------------------------------------
# The train step: overrides, train_on_batch
# ---------------------------------------------------------------------------

def test_overridden_train_step_keras3_style():
    x, y = blobs()
    calls = []

    class Custom(Model):
        def __init__(self):
            super().__init__()
            self.d = Dense(3)
            self.tracker = keras.metrics.Mean(name="loss")

        def call(self, inputs, training=None):
            return self.d(inputs)

        def train_step(self, data):
            xb, yb = data
            calls.append(len(xb))
            with tg.GradientTape() as tape:
                pred = self(xb, training=True)
                loss = self.compute_loss(y=yb, y_pred=pred)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.tracker.update_state(float(loss))
            return {"loss": self.tracker.result(), "twice": 2 * self.tracker.result()}

        @property
        def metrics(self):
            return [self.tracker]

    m = Custom()
    m.compile(optimizer=tg.optimizers.SGD(0.1), loss=sce())
    h = m.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert calls == [32, 32, 32] * 2
    assert set(h.history) == {"loss", "twice"}
    np.testing.assert_allclose(h.history["twice"], 2 * np.array(h.history["loss"]))
    assert h.history["loss"][1] < h.history["loss"][0]
    assert m.optimizer.iterations == 6


def test_overridden_train_step_keras2_style_with_compiled_loss_and_metrics():
    x, y = blobs()

    class K2(Model):
        def __init__(self):
            super().__init__()
            self.d = Dense(3)

        def call(self, inputs, training=None):
            return self.d(inputs)

        def train_step(self, data):
            xb, yb = data
            with tg.GradientTape() as tape:
                pred = self(xb, training=True)
                loss = self.compiled_loss(yb, pred, regularization_losses=self.losses)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.compiled_metrics.update_state(yb, pred)
            return {m.name: m.result() for m in self.metrics if m.name != "loss"}

    tg.utils.set_seed(3)
    m = K2()
    m.compile(optimizer=tg.optimizers.Adam(0.05), loss=sce(), metrics=["accuracy"])
    h = m.fit(x, y, epochs=6, verbose=0)
    assert list(h.history) == ["accuracy"]
    assert h.history["accuracy"][-1] > 0.8


def test_train_on_batch_is_the_fit_step():
    x, y = blobs(n=40)
    a = build("sequential", weights=reference_weights())
    b = build("sequential", weights=reference_weights())
    for m in (a, b):
        m.compile(optimizer=tg.optimizers.Adam(0.01), loss=sce(), metrics=["accuracy"])
    a.fit(x, y, batch_size=40, epochs=1, shuffle=False, verbose=0)
    res = b.train_on_batch(x, y)
    assert isinstance(res, list) and len(res) == 2
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    d = b.train_on_batch(x, y, return_dict=True)
    assert set(d) == {"loss", "accuracy"} and b.optimizer.iterations == 2


# ---------------------------------------------------------------------------
# sample_weight and class_weight
# ---------------------------------------------------------------------------

def fit_curve(x, y, **kw):
    m = build("sequential", weights=reference_weights())
    m.compile(optimizer=tg.optimizers.SGD(0.1), loss=sce())
    h = m.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0, **kw)
    return np.array(h.history["loss"]), m.get_weights()


def test_sample_weight_ones_equals_no_weights():
    x, y = blobs()
    c0, w0 = fit_curve(x, y)
    c1, w1 = fit_curve(x, y, sample_weight=np.ones(len(x)))
    np.testing.assert_allclose(c1, c0, rtol=1e-6)
    for a, b in zip(w0, w1):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    m = build("sequential", weights=reference_weights())
    m.compile(optimizer="sgd", loss=sce())
    plain = m.evaluate(x, y, verbose=0)
    assert m.evaluate(x, y, sample_weight=np.full(len(x), 2.0), verbose=0) == pytest.approx(2 * plain, rel=1e-6)
    assert m.evaluate(x, y, sample_weight=np.ones(len(x)), verbose=0) == pytest.approx(plain, rel=1e-7)


def test_class_weight_equals_matching_sample_weight():
    x, y = blobs()
    cw = {0: 1.0, 1: 3.0, 2: 0.5}
    c_cw, w_cw = fit_curve(x, y, class_weight=cw)
    c_sw, w_sw = fit_curve(x, y, sample_weight=np.array([cw[int(k)] for k in y]))
    np.testing.assert_allclose(c_cw, c_sw, rtol=1e-6)
    for a, b in zip(w_cw, w_sw):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    c0, _ = fit_curve(x, y)
    assert not np.allclose(c_cw, c0)


def test_weighted_loss_is_sum_w_l_over_n():
    x, y = blobs(n=20)
    m = Sequential([Dense(3)])
    m.compile(optimizer=tg.optimizers.SGD(0.0), loss=sce())
    w = np.linspace(0.0, 2.0, 20).astype(np.float32)
    h = m.fit(x, y, sample_weight=w, batch_size=20, epochs=1, verbose=0)
    logits = m.predict(x).astype(np.float64)
    z = logits - logits.max(1, keepdims=True)
    per = -(z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(20), y]
    assert h.history["loss"][0] == pytest.approx(float((w * per).sum() / 20), rel=1e-5)
    assert m.evaluate(x, y, sample_weight=w, verbose=0) == pytest.approx(float((w * per).sum() / 20), rel=1e-5)


# ---------------------------------------------------------------------------
# Datasets, generators, validation, epochs
# ---------------------------------------------------------------------------

def test_fit_on_dataset_equals_fit_on_arrays():
    x, y = blobs()
    ca, wa = fit_curve(x, y)
    m = build("sequential", weights=reference_weights())
    m.compile(optimizer=tg.optimizers.SGD(0.1), loss=sce())
    ds = tg.data.Dataset.from_tensor_slices((x, y)).batch(16)
    h = m.fit(ds, epochs=3, verbose=0)
    np.testing.assert_allclose(h.history["loss"], ca, rtol=1e-6)
    for a, b in zip(m.get_weights(), wa):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    ev_ds = m.evaluate(ds, verbose=0)
    assert ev_ds == pytest.approx(m.evaluate(x, y, verbose=0), rel=1e-6)
    np.testing.assert_allclose(m.predict(tg.data.Dataset.from_tensor_slices(x).batch(7)), m.predict(x),
                               rtol=1e-6)
    # a dataset with sample weights: (x, y, w) elements
    ones = tg.data.Dataset.from_tensor_slices((x, y, np.ones(len(x), np.float32))).batch(16)
    m2 = build("sequential", weights=reference_weights())
    m2.compile(optimizer=tg.optimizers.SGD(0.1), loss=sce())
    np.testing.assert_allclose(m2.fit(ones, epochs=3, verbose=0).history["loss"], ca, rtol=1e-6)


def test_fit_on_generator_with_steps_per_epoch():
    x, y = blobs()

    def gen():
        while True:
            for s in range(0, len(x), 16):
                yield x[s:s + 16], y[s:s + 16]

    m = build("sequential", weights=reference_weights())
    m.compile(optimizer=tg.optimizers.SGD(0.1), loss=sce())
    h = m.fit(gen(), steps_per_epoch=6, epochs=3, verbose=0)
    assert m.optimizer.iterations == 18
    ca, wa = fit_curve(x, y)
    np.testing.assert_allclose(h.history["loss"], ca, rtol=1e-6)


def test_steps_per_epoch_continues_one_iterator_and_stops_when_it_runs_out():
    x, y = blobs(n=64)
    m = Sequential([Dense(3)])
    m.compile(optimizer=tg.optimizers.SGD(0.0), loss=sce())
    ds = tg.data.Dataset.from_tensor_slices((x, y)).batch(16)      # 4 batches, no repeat
    with pytest.warns(UserWarning, match="ran out of data"):
        h = m.fit(ds, steps_per_epoch=3, epochs=3, verbose=0)
    # epoch 1: batches 0-2; epoch 2: batch 3, then the data ends: training stops
    assert m.optimizer.iterations == 4
    assert len(h.history["loss"]) == 2


def test_validation_freq_and_initial_epoch():
    x, y = blobs()
    m = build("sequential", weights=reference_weights())
    m.compile(optimizer=tg.optimizers.SGD(0.1), loss=sce(), metrics=["accuracy"])
    seen = []

    class Rec(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, "val_loss" in logs))

    h = m.fit(x, y, epochs=5, initial_epoch=1, validation_data=(x[:20], y[:20]), validation_freq=2,
              callbacks=[Rec()], verbose=0)
    # epochs 1..4 run (0-based); validation after epochs whose 1-based number is a multiple of 2
    assert seen == [(1, True), (2, False), (3, True), (4, False)]
    assert h.epoch == [1, 2, 3, 4]
    assert len(h.history["loss"]) == 4 and len(h.history["val_loss"]) == 2
    assert m.optimizer.iterations == 4 * 3
    m.compile(optimizer=tg.optimizers.SGD(0.0), loss=sce(), metrics=["accuracy"])
    h = m.fit(x, y, epochs=1, validation_data=tg.data.Dataset.from_tensor_slices((x[:20], y[:20])).batch(8),
              verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(m.evaluate(x[:20], y[:20], verbose=0)[0], rel=1e-6)


def test_verbose_generator_progress_counts_batches(capsys):
    x, y = blobs(n=48)
    m = Sequential([Dense(3)])
    m.compile(optimizer="sgd", loss=sce())
    m.fit((b for b in [(x[:16], y[:16]), (x[16:], y[16:])]), epochs=1, verbose=2)
    assert "Epoch 1/1 - 2/2" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# A failed step changes nothing
# ---------------------------------------------------------------------------

def snapshot(model):
    opt = model.optimizer
    return ([np.array(w) for w in model.get_weights()], opt.iterations,
            [[np.array(s) for s in slots] if slots is not None else None
             for slots in opt.get_state(model.trainable_variables)["slots"]])


def assert_same(a, b):
    for wa, wb in zip(a[0], b[0]):
        np.testing.assert_array_equal(wa, wb)
    assert a[1] == b[1]
    for sa, sb in zip(a[2], b[2]):
        assert (sa is None) == (sb is None)
        for x, y in zip(sa or [], sb or []):
            np.testing.assert_array_equal(x, y)


class Snap(keras.callbacks.Callback):
    def __init__(self, at):
        super().__init__()
        self.at, self.state = at, None

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.at:
            self.state = snapshot(self.model)


@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_a_loss_that_raises_changes_nothing(kind):
    x, y = blobs()

    class Flaky(SparseCategoricalCrossentropy):
        calls = 0

        def __call__(self, y_true, y_pred, sample_weight=None):
            Flaky.calls += 1
            if Flaky.calls == 3:
                raise RuntimeError("the loss failed")
            return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    m = build(kind, weights=reference_weights())
    m.compile(optimizer=tg.optimizers.Adam(0.05), loss=Flaky(from_logits=True))
    snap = Snap(at=1)
    with pytest.raises(RuntimeError, match="the loss failed"):
        m.fit(x, y, batch_size=16, shuffle=False, epochs=1, callbacks=[snap], verbose=0)
    assert snap.state is not None and snap.state[1] == 2
    assert_same(snapshot(m), snap.state)
    bn = [l for l in m._flatten_layers() if isinstance(l, BatchNormalization)][0]
    assert not np.allclose(bn.moving_mean.numpy(), 0.0)       # the two good steps did move it


def test_a_bad_label_in_a_late_dataset_batch_changes_nothing():
    x, y = blobs()
    y = y.copy()
    y[70] = 7                                                  # in batch 4 of 16
    m = build("sequential", weights=reference_weights())
    m.compile(optimizer=tg.optimizers.Adam(0.05), loss=sce())
    snap = Snap(at=3)
    with pytest.raises(ValueError, match="out of range"):
        m.fit(tg.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=1, callbacks=[snap], verbose=0)
    assert snap.state[1] == 4
    assert_same(snapshot(m), snap.state)


def test_a_failing_backward_changes_nothing():
    x, y = blobs()

    @tg.op(name="test.explodes_in_backward")
    class explodes:
        def forward(x):
            return np.array(x), None

        def backward(res, g, needs):
            raise FloatingPointError("backward failed")

    class Bad(Model):
        def __init__(self):
            super().__init__()
            self.d, self.bn, self.out = Dense(4), BatchNormalization(), Dense(3)
            self.armed = False

        def call(self, inputs, training=None):
            h = self.bn(self.d(inputs), training=training)
            return self.out(explodes(h) if self.armed else h)

    m = Bad()
    m.compile(optimizer=tg.optimizers.Adam(0.05), loss=sce())
    m.fit(x, y, epochs=1, verbose=0)
    before = snapshot(m)
    m.armed = True
    with pytest.raises(FloatingPointError):
        m.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(FloatingPointError):
        m.train_on_batch(x, y)
    assert_same(snapshot(m), before)


def test_state_updates_apply_now_outside_a_step_and_at_commit_inside():
    log = []
    add_state_update(lambda: log.append("now"))
    assert log == ["now"]
    with deferred_state_updates() as pending:
        add_state_update(lambda: log.append("later"))
        with deferred_state_updates() as inner:          # nested: handed to the outer block
            add_state_update(lambda: log.append("inner"))
            inner.commit()
        assert log == ["now"] and len(pending) == 2
        pending.commit()
    assert log == ["now", "later", "inner"]
    with pytest.raises(KeyError):
        with deferred_state_updates():
            add_state_update(lambda: log.append("dropped"))
            raise KeyError("step failed")
    assert log == ["now", "later", "inner"]
    # a user's own tape loop: batch norm moves at once, as in Keras
    bn = BatchNormalization(momentum=0.5)
    bn(np.array([[2.0], [4.0]], np.float32), training=True)
    assert bn.moving_mean.numpy()[0] == pytest.approx(0.5 * 0 + 0.5 * 3.0)


# ---------------------------------------------------------------------------
# Losses of the model: add_loss and regularizers
# ---------------------------------------------------------------------------

def test_add_loss_is_added_to_the_training_loss():
    x, y = blobs(n=32)

    class Penalised(Model):
        def __init__(self):
            super().__init__()
            self.d = Dense(3)

        def call(self, inputs, training=None):
            out = self.d(inputs)
            self.add_loss(tg.reduce_sum(out * out) * 0.0 + 1.5)   # a constant penalty of 1.5
            return out

    tg.utils.set_seed(0)
    m = Penalised()
    m.compile(optimizer=tg.optimizers.SGD(0.0), loss=sce())
    h = m.fit(x, y, batch_size=32, epochs=1, verbose=0)
    plain = m.evaluate(x, y, verbose=0)
    assert len(m.losses) == 1                       # only the last call's, not accumulated
    logits = m.predict(x).astype(np.float64)
    z = logits - logits.max(1, keepdims=True)
    ce = -(z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(32), y].mean()
    assert h.history["loss"][0] == pytest.approx(ce + 1.5, rel=1e-5)
    assert plain == pytest.approx(ce + 1.5, rel=1e-5)


def test_weight_regularizer_enters_the_loss_and_the_gradient():
    class L2(Layer):
        def build(self, input_shape):
            self.w = self.add_weight("w", (input_shape[-1], 1), "ones", regularizer=lambda v: tg.reduce_sum(v * v))

        def call(self, x, training=None):
            return tg.matmul(x, self.w)

    layer = L2()
    m = Sequential([layer])
    m.compile(optimizer=tg.optimizers.SGD(0.1), loss="mse")
    x = np.zeros((4, 2), np.float32)                 # the data term has zero gradient
    h = m.fit(x, np.zeros((4, 1), np.float32), batch_size=4, epochs=1, verbose=0)
    assert h.history["loss"][0] == pytest.approx(2.0)           # sum(w^2) with w = ones(2)
    np.testing.assert_allclose(layer.w.numpy(), np.full((2, 1), 1 - 0.1 * 2.0), rtol=1e-6)


# ---------------------------------------------------------------------------
# Saving, summary, namespace
# ---------------------------------------------------------------------------

def test_subclassed_save_weights_load_weights(tmp_path):
    x, y = blobs()
    a = build("subclassed", weights=reference_weights())
    a.compile(optimizer="adam", loss=sce())
    a.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "w.npz")
    a.save_weights(path)
    b = build("subclassed")
    b.load_weights(path)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    with pytest.raises(NotImplementedError, match="save_weights"):
        a.save(str(tmp_path / "full.npz"))
    text = a.summary(print_fn=None)
    assert "Total params: 99" in text and "(None, 3)" in text


def test_keras_namespace_mirrors_tf_keras():
    for name in ("layers", "losses", "optimizers", "initializers", "regularizers", "callbacks", "metrics",
                 "activations", "utils", "backend"):
        assert getattr(keras, name) is not None, name
    assert keras.optimizers is tg.optimizers and hasattr(keras.optimizers, "schedules")
    assert keras.Sequential is Sequential and keras.Model is Model and keras.Input is Input
    np.testing.assert_array_equal(keras.utils.to_categorical([0, 2], 3), [[1, 0, 0], [0, 0, 1]])
    assert keras.backend.floatx() == "float32"
    from tinygrad_bn.keras.models import Sequential as S2, load_model   # tf.keras.models
    import tinygrad_bn.keras.backend as K
    assert S2 is Sequential and callable(load_model) and K.epsilon() == pytest.approx(1e-7)
    assert issubclass(Sequential, Model) and issubclass(Model, Layer)


def test_dropout_model_trains_with_a_seeded_rng_and_predicts_deterministically():
    x, y = blobs()
    tg.utils.set_seed(1)
    inp = Input(shape=(5,))
    m = Model(inputs=inp, outputs=Dense(3)(Dropout(0.5, seed=1)(Dense(16, activation="relu")(inp))))
    m.compile(optimizer="adam", loss=sce())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.fit(x, y, epochs=2, verbose=0)
    np.testing.assert_array_equal(m.predict(x), m.predict(x))


def test_dense_kernel_regularizer_enters_fit_loss():
    layer = Dense(1, use_bias=False, kernel_initializer="ones", kernel_regularizer=keras.regularizers.l2(0.1))
    m = Sequential([Input(shape=(3,)), layer])
    assert len(m.losses) == 1 and float(m.losses[0]) == pytest.approx(0.3)     # 0.1 * sum(ones(3)**2)
    m.compile(optimizer=tg.optimizers.SGD(0.5), loss="mse")
    h = m.fit(np.zeros((4, 3), np.float32), np.zeros((4, 1), np.float32), batch_size=4, epochs=1, verbose=0)
    assert h.history["loss"][0] == pytest.approx(0.3)
    np.testing.assert_allclose(layer.kernel.numpy(), np.full((3, 1), 1 - 0.5 * 0.2), rtol=1e-6)


def test_automatic_names_are_unique_across_threads():
    import threading
    names = []

    def make():
        names.extend(Dense(1).name for _ in range(50))

    threads = [threading.Thread(target=make) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(names) == 300 and len(set(names)) == 300


def test_validation_evaluate_and_predict_call_the_test_and_predict_hooks():
    x, y = blobs(n=40)
    m = Sequential([Dense(3)])
    m.compile(optimizer="sgd", loss=sce())
    events = []

    class Rec(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            events.append("test_begin")

        def on_test_batch_end(self, batch, logs=None):
            events.append(("test_batch", batch, "loss" in logs))

        def on_test_end(self, logs=None):
            events.append("test_end")

        def on_predict_batch_end(self, batch, logs=None):
            events.append(("predict_batch", batch, logs["outputs"].shape))

    m.fit(x, y, batch_size=40, validation_data=(x, y), validation_batch_size=25, callbacks=[Rec()], verbose=0)
    assert events == ["test_begin", ("test_batch", 0, True), ("test_batch", 1, True), "test_end"]
    events.clear()
    m.evaluate(x, y, batch_size=40, callbacks=[Rec()], verbose=0)
    assert events == ["test_begin", ("test_batch", 0, True), "test_end"]
    events.clear()
    m.predict(x, batch_size=30, callbacks=[Rec()])
    assert events == [("predict_batch", 0, (30, 3)), ("predict_batch", 1, (10, 3))]


def test_fit_with_use_ema_ends_on_the_moving_averages_as_keras():
    import tinygrad_bn as tg
    from tinygrad_bn.keras import Sequential
    from tinygrad_bn.keras.layers import Dense
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32))
    model = Sequential([Dense(1)])
    opt = tg.optimizers.SGD(0.05, use_ema=True, ema_momentum=0.9)
    model.compile(optimizer=opt, loss="mse")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    averages = [opt._slots[id(v)][-1] for v in model.trainable_variables]
    for v, avg in zip(model.trainable_variables, averages):
        np.testing.assert_array_equal(v.numpy(), avg)
