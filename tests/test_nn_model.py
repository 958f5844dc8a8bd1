"""Sequential: the course's Keras snippet, fit/evaluate/predict, input validation, progress display."""
from functools import partial

import numpy as np
import pytest

from _data import make_blobs
import tinygrad_bn as tg
from tinygrad_bn.losses import SparseCategoricalCrossentropy
from tinygrad_bn.keras import BatchNormalization, Dense, Input, ReLU, Sequential


blobs = partial(make_blobs, n=300, d=8, c=3)


def bn_model(seed=0, out=3):
    tg.utils.set_seed(seed)
    return Sequential([Dense(16, use_bias=False), BatchNormalization(), ReLU(),
                       Dense(8, use_bias=False), BatchNormalization(), ReLU(), Dense(out)])


# The course's snippet (seeds/004, "version 2") exactly as written for TensorFlow, with
# the commas the notes dropped between the layers put back (without them it is a
# SyntaxError in TensorFlow too).  The test swaps only the import lines.
COURSE_SNIPPET_TF = """
import tensorflow as tf
from tensorflow.keras import Sequential
from tensorflow.keras.layers import Dense

# version 2
model = Sequential([
    Dense(units = 25, activation = 'relu'),
    Dense(units = 15, activation = 'relu'),
    Dense(units = 10, activation = 'linear')
])

from tensorflow.keras.losses import SparseCategoricalCrossentropy

model.compile(loss = SparseCategoricalCrossentropy(from_logits = True))
model.fit(X, Y, epochs = 10)
"""

IMPORTS = {
    "import tensorflow as tf": "import tinygrad_bn as tf",
    "from tensorflow.keras import Sequential": "from tinygrad_bn.keras import Sequential",
    "from tensorflow.keras.layers import Dense": "from tinygrad_bn.keras.layers import Dense",
    "from tensorflow.keras.losses import SparseCategoricalCrossentropy":
        "from tinygrad_bn.losses import SparseCategoricalCrossentropy",
}


def test_course_keras_snippet_runs_with_only_imports_changed(capsys):
    code = COURSE_SNIPPET_TF
    for tf_line, our_line in IMPORTS.items():
        assert tf_line in code
        code = code.replace(tf_line, our_line)
    assert "tensorflow" not in code
    x, y = blobs(n=400, d=64, c=10)
    tg.utils.set_seed(0)
    ns = {"X": x, "Y": y}
    exec(compile(code, "course_snippet", "exec"), ns)
    model = ns["model"]
    hist = model.history.history
    assert len(hist["loss"]) == 10
    assert hist["loss"][-1] < hist["loss"][0] * 0.5
    assert (model.predict(x).argmax(1) == y).mean() > 0.9
    captured = capsys.readouterr()
    assert "Epoch 10/10" in captured.out + captured.err
    # version 1 (softmax output, from_logits=False) works too and never gives NaN
    model = Sequential([Dense(25, activation="relu"), Dense(10, activation="softmax")])
    model.compile(loss=SparseCategoricalCrossentropy())
    h = model.fit(x, y, epochs=2, verbose=0)
    assert np.all(np.isfinite(h.history["loss"]))


def test_fit_history_keys_and_learning():
    x, y = blobs()
    model = bn_model()
    model.compile(optimizer=tg.optimizers.Adam(0.01), loss=SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    h = model.fit(x, y, epochs=5, batch_size=32, validation_split=0.2, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 5 for v in h.history.values())
    assert h.history["accuracy"][-1] > 0.9 and h.history["val_accuracy"][-1] > 0.9
    assert h.epoch == [0, 1, 2, 3, 4]
    assert model.optimizer.iterations == 5 * 8   # 240 training samples / 32
    assert model.evaluate(x, y, verbose=0)[1] > 0.9


def test_fit_then_evaluate_agree_with_hand_computed_loss():
    x, y = blobs(n=101)
    model = Sequential([Dense(6, activation="relu"), Dense(3)])
    # learning rate 0: the epoch's running loss is then the loss of the fixed model
    model.compile(optimizer=tg.optimizers.SGD(learning_rate=0.0),
                  loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    h = model.fit(x, y, epochs=1, batch_size=7, verbose=0)
    logits = model.predict(x).astype(np.float64)
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    hand = -logp[np.arange(len(y)), y].mean()
    acc = (logits.argmax(1) == y).mean()
    assert h.history["loss"][0] == pytest.approx(hand, rel=1e-5)
    assert h.history["accuracy"][0] == pytest.approx(acc)
    loss, ev_acc = model.evaluate(x, y, batch_size=10, verbose=0)
    assert loss == pytest.approx(hand, rel=1e-5) and ev_acc == pytest.approx(acc)
    # after real training, evaluate still equals the hand-computed loss of predict()
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=3, verbose=0)
    logits = model.predict(x).astype(np.float64)
    z = logits - logits.max(1, keepdims=True)
    hand = -(z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(len(y)), y].mean()
    assert model.evaluate(x, y, verbose=0) == pytest.approx(hand, rel=1e-5)


def test_predict_one_example_equals_inside_a_batch():
    x, y = blobs()
    model = bn_model()
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, verbose=0)
    full = model.predict(x, batch_size=128)
    for i in (0, 17, 299):
        one = model.predict(x[i:i + 1])
        np.testing.assert_allclose(one[0], full[i], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(x[:5]).numpy(), full[:5], rtol=1e-5, atol=1e-6)


def test_training_is_reproducible_from_seed():
    x, y = blobs()
    ws = []
    for _ in range(2):
        model = bn_model(seed=7)
        model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, epochs=2, verbose=0)
        ws.append(model.get_weights())
    for a, b in zip(*ws):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# Bad input: a clear error before any training step
# ---------------------------------------------------------------------------

def compiled_built_model():
    model = bn_model()
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))
    model.build((None, 8))
    return model


def assert_untouched(model, before):
    assert model.optimizer.iterations == 0
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_labels_out_of_range():
    x, y = blobs()
    model = compiled_built_model()
    before = model.get_weights()
    y = y.copy()
    y[5] = 3
    with pytest.raises(ValueError, match=r"label 3 \(y\[5\]\) is out of range for a model with 3 outputs"):
        model.fit(x, y, verbose=0)
    y[5] = -1
    with pytest.raises(ValueError, match="out of range"):
        model.fit(x, y, verbose=0)
    assert_untouched(model, before)
    # also for an unbuilt model, and for validation data
    model = bn_model()
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="out of range"):
        model.fit(x, y, verbose=0)
    x2, y2 = blobs()
    with pytest.raises(ValueError, match=r"label 7 \(y_val\[0\]\)"):
        model.fit(x2, y2, validation_data=(x2[:3], np.array([7, 0, 0])), verbose=0)
    assert model.optimizer.iterations == 0


def test_x_y_length_mismatch():
    x, y = blobs()
    model = compiled_built_model()
    before = model.get_weights()
    with pytest.raises(ValueError, match="x has 300 samples, y has 299"):
        model.fit(x, y[:-1], verbose=0)
    with pytest.raises(ValueError, match="different lengths"):
        model.evaluate(x[:10], y[:9], verbose=0)
    assert_untouched(model, before)


def test_feature_size_mismatch_names_layer_and_sizes():
    x, y = blobs(d=8)
    model = compiled_built_model()
    before = model.get_weights()
    first = model.layers[0].name
    with pytest.raises(ValueError, match=rf"Dense layer '{first}' was built for inputs with 8 features, "
                                         r"but got 5 features"):
        model.fit(x[:, :5], y, verbose=0)
    with pytest.raises(ValueError, match="8 features, but got 5"):
        model.predict(x[:, :5])
    assert_untouched(model, before)
    with pytest.raises(ValueError, match="8 features, but got 5"):
        model(x[:, :5])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_x(bad):
    x, y = blobs()
    model = compiled_built_model()
    before = model.get_weights()
    x = x.copy()
    x[12, 3] = bad
    with pytest.raises(ValueError, match=r"x contains NaN or inf: 1 value\(s\), the first at x\[12, 3\]"):
        model.fit(x, y, verbose=0)
    assert_untouched(model, before)


def test_predict_before_build_says_so():
    model = Sequential([Dense(3)])
    with pytest.raises(ValueError, match="has not been built yet"):
        model.predict(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="has not been built yet"):
        model.summary()


def test_fit_before_compile():
    with pytest.raises(RuntimeError, match="compile the model first"):
        Sequential([Dense(3)]).fit(np.zeros((4, 2)), np.zeros(4))


# ---------------------------------------------------------------------------
# Structure, summary, progress display
# ---------------------------------------------------------------------------

def test_build_summary_and_params():
    model = Sequential([Input(shape=(64,)), Dense(25, use_bias=False), BatchNormalization(), ReLU(),
                        Dense(10)])
    assert model.built and model.output_shape == (None, 10)
    text = model.summary(print_fn=None)
    assert "(None, 25)" in text and "1,600" in text and "Total params: 1,960" in text
    assert "Non-trainable params: 50" in text
    assert model.count_params() == 1960
    assert len(model.trainable_variables) == 5 and len(model.non_trainable_variables) == 2
    model.add(Dense(2))
    assert model.output_shape == (None, 2)
    with pytest.raises(ValueError, match="unique"):
        model.add(model.layers[0])


def test_verbose_progress_with_and_without_tqdm(capsys, monkeypatch):
    x, y = blobs(n=64)
    model = bn_model()
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    from tinygrad_bn.keras import progress
    monkeypatch.setattr(progress, "_is_tty", lambda fh: True)     # as on a terminal: tqdm bars
    model.fit(x, y, epochs=2, verbose=1)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "2/2" in text
    assert "loss:" in text and "accuracy:" in text
    monkeypatch.setattr(progress, "_tqdm", lambda: None)           # tqdm not installed
    model.fit(x, y, epochs=1, verbose=1)
    text = capsys.readouterr().out
    assert text.startswith("Epoch 1/1 - 2/2") and "loss:" in text
    monkeypatch.undo()                                              # a pipe: one plain line per epoch
    model.fit(x, y, epochs=2, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2 - 2/2")
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_own_training_loop_with_model_call():
    x, y = blobs(n=64)
    model = bn_model()
    opt = tg.optimizers.Adam(0.01)
    loss_fn = SparseCategoricalCrossentropy(from_logits=True)
    first = None
    for _ in range(20):
        with tg.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        first = first if first is not None else float(loss)
    assert float(loss) < first


def test_warns_on_softmax_output_with_from_logits():
    x, y = blobs(n=32)
    model = Sequential([Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))
    with pytest.warns(UserWarning, match="softmax a second time"):
        model.fit(x, y, epochs=1, verbose=0)


def test_validation_split_takes_the_last_samples():
    x, y = blobs(n=100)
    model = Sequential([Dense(3)])
    model.compile(optimizer=tg.optimizers.SGD(0.0), loss=SparseCategoricalCrossentropy(from_logits=True))
    h = model.fit(x, y, epochs=1, validation_split=0.3, verbose=0)
    assert model.optimizer.iterations == 3           # 70 training samples, batches of 32
    assert h.history["val_loss"][0] == pytest.approx(model.evaluate(x[70:], y[70:], verbose=0), rel=1e-6)


def test_target_shape_errors_and_categorical_training():
    x, y = blobs(n=60)
    model = Sequential([Dense(3)])
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="one integer class label per example"):
        model.fit(x, tg.utils.one_hot(y, 3), verbose=0)
    from tinygrad_bn.losses import CategoricalCrossentropy
    model.compile(optimizer="adam", loss=CategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    with pytest.raises(ValueError, match="one-hot targets"):
        model.fit(x, y, verbose=0)
    h = model.fit(x, tg.utils.one_hot(y, 3), epochs=2, verbose=0)
    assert set(h.history) == {"loss", "accuracy"}
    assert model.optimizer.iterations == 4


def test_binary_and_regression_models():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 4)).astype(np.float32)
    yb = (x[:, 0] + x[:, 1] > 0).astype(np.float32)
    tg.utils.set_seed(0)
    model = Sequential([Dense(8, activation="relu"), Dense(1)])
    model.compile(optimizer=tg.optimizers.Adam(0.05), loss=tg.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    h = model.fit(x, yb, epochs=15, verbose=0)
    assert h.history["accuracy"][-1] > 0.9
    yr = x @ np.array([1.0, -2.0, 0.5, 0.0], np.float32)
    model = Sequential([Dense(1)])
    model.compile(optimizer=tg.optimizers.Adam(0.1), loss="mse", metrics=["mae"])
    h = model.fit(x, yr, epochs=30, verbose=0)
    assert h.history["loss"][-1] < 0.01 and "mae" in h.history
