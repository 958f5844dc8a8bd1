"""Bad input to fit / evaluate / predict / compile and to model construction: each case a clear
exception naming the function and the argument, raised before any training step (nothing moves)."""
import numpy as np
import pytest

from _data import make_blobs
from badinput import expect_error
import tinygrad_bn as tg
from tinygrad_bn.keras import Input, Model, Sequential
from tinygrad_bn.keras.callbacks import EarlyStopping
from tinygrad_bn.keras.layers import BatchNormalization, Dense, Layer
from tinygrad_bn.keras.losses import SparseCategoricalCrossentropy

X, Y = make_blobs(n=96, d=5, c=3, seed=0)


def model():
    tg.utils.set_seed(0)
    m = Sequential([Input(shape=(5,)), Dense(4, use_bias=False), BatchNormalization(), Dense(3)])
    m.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))
    return m


def ds(*arrays, batch=16):
    return tg.data.Dataset.from_tensor_slices(arrays if len(arrays) > 1 else arrays[0]).batch(batch)


def gen():
    for s in range(0, 96, 16):
        yield X[s:s + 16], Y[s:s + 16]


# (id, call on a compiled model, exception, words the message must contain)
FIT_CASES = [
    ("batch_size_float", lambda m: m.fit(X, Y, batch_size=2.5), TypeError, ["fit", "batch_size", "2.5"]),
    ("batch_size_zero", lambda m: m.fit(X, Y, batch_size=0), ValueError, ["fit", "batch_size", ">= 1"]),
    ("batch_size_bool", lambda m: m.fit(X, Y, batch_size=True), TypeError, ["batch_size"]),
    ("batch_size_str", lambda m: m.fit(X, Y, batch_size="32"), TypeError, ["batch_size"]),
    ("epochs_negative", lambda m: m.fit(X, Y, epochs=-1), ValueError, ["fit", "epochs"]),
    ("epochs_float", lambda m: m.fit(X, Y, epochs=1.5), TypeError, ["fit", "epochs", "1.5"]),
    ("initial_epoch_after_epochs", lambda m: m.fit(X, Y, epochs=2, initial_epoch=3), ValueError,
     ["initial_epoch", "3", "epochs", "2"]),
    ("initial_epoch_negative", lambda m: m.fit(X, Y, initial_epoch=-1), ValueError, ["initial_epoch"]),
    ("steps_per_epoch_zero", lambda m: m.fit(X, Y, steps_per_epoch=0), ValueError, ["steps_per_epoch"]),
    ("steps_per_epoch_float", lambda m: m.fit(gen(), steps_per_epoch=2.0), TypeError, ["steps_per_epoch"]),
    ("validation_split_one", lambda m: m.fit(X, Y, validation_split=1.0), ValueError,
     ["validation_split", "[0, 1)"]),
    ("validation_split_negative", lambda m: m.fit(X, Y, validation_split=-0.1), ValueError,
     ["validation_split"]),
    ("validation_split_str", lambda m: m.fit(X, Y, validation_split="0.2"), TypeError, ["validation_split"]),
    ("validation_split_too_small", lambda m: m.fit(X[:1], Y[:1], validation_split=0.5), ValueError,
     ["validation_split", "no training or no validation"]),
    ("validation_split_with_dataset", lambda m: m.fit(ds(X, Y), validation_split=0.2), ValueError,
     ["validation_split", "array"]),
    ("validation_freq_zero", lambda m: m.fit(X, Y, validation_data=(X, Y), validation_freq=0), ValueError,
     ["validation_freq"]),
    ("validation_data_triple_wrong", lambda m: m.fit(X, Y, validation_data=(X,)), ValueError,
     ["validation_data"]),
    ("validation_data_bad_labels", lambda m: m.fit(X, Y, validation_data=(X[:2], np.array([0, 9]))), ValueError,
     ["y_val", "9"]),
    ("verbose_3", lambda m: m.fit(X, Y, verbose=3), ValueError, ["verbose", "3"]),
    ("shuffle_str", lambda m: m.fit(X, Y, shuffle="yes"), TypeError, ["shuffle"]),
    ("class_weight_missing_key", lambda m: m.fit(X, Y, class_weight={0: 1.0, 2: 1.0}), ValueError,
     ["class_weight", "keys from 0"]),
    ("class_weight_str_key", lambda m: m.fit(X, Y, class_weight={"a": 1.0}), TypeError,
     ["class_weight", "'a'"]),
    ("class_weight_nan", lambda m: m.fit(X, Y, class_weight={0: 1.0, 1: float("nan"), 2: 1.0}), ValueError,
     ["class_weight[1]"]),
    ("class_weight_label_not_covered", lambda m: m.fit(X, Y, class_weight={0: 1.0, 1: 2.0}), ValueError,
     ["class_weight", "class 2"]),
    ("class_weight_not_dict", lambda m: m.fit(X, Y, class_weight=[1.0, 2.0, 3.0]), TypeError,
     ["class_weight", "dict"]),
    ("sample_weight_wrong_length", lambda m: m.fit(X, Y, sample_weight=np.ones(95)), ValueError,
     ["sample_weight", "(96,)", "(95,)"]),
    ("sample_weight_2d", lambda m: m.fit(X, Y, sample_weight=np.ones((96, 2))), ValueError,
     ["sample_weight", "(96, 2)"]),
    ("sample_weight_nan", lambda m: m.fit(X, Y, sample_weight=np.r_[np.ones(95), np.nan]), ValueError,
     ["sample_weight", "nan"]),
    ("sample_weight_str", lambda m: m.fit(X, Y, sample_weight=np.array(["a"] * 96)), TypeError,
     ["sample_weight", "numeric"]),
    ("x_y_lengths", lambda m: m.fit(X, Y[:-1]), ValueError, ["x has 96 samples", "y has 95"]),
    ("y_missing", lambda m: m.fit(X), ValueError, ["fit", "y"]),
    ("x_strings", lambda m: m.fit(np.array([["a"] * 5] * 96), Y), TypeError, ["x", "numeric"]),
    ("x_nan", lambda m: m.fit(np.where(np.arange(5) == 2, np.nan, X), Y), ValueError, ["x", "nan"]),
    ("x_wrong_features", lambda m: m.fit(X[:, :4], Y), ValueError, ["5 features", "4"]),
    ("labels_out_of_range", lambda m: m.fit(X, np.where(np.arange(96) == 50, 3, Y)), ValueError,
     ["out of range", "y[50]"]),
    ("dataset_with_y", lambda m: m.fit(ds(X, Y), Y), ValueError, ["y", "dataset"]),
    ("dataset_with_batch_size", lambda m: m.fit(ds(X, Y), batch_size=16), ValueError, ["batch_size"]),
    ("dataset_with_sample_weight", lambda m: m.fit(ds(X, Y), sample_weight=np.ones(96)), ValueError,
     ["sample_weight"]),
    ("dataset_without_targets", lambda m: m.fit(ds(X)), ValueError, ["batch 0", "no targets"]),
    ("generator_bad_batch", lambda m: m.fit((b for b in [(X[:4, :3], Y[:4]), (X[:4], Y[:4])])), ValueError,
     ["batch 0", "features"]),
    ("callback_class", lambda m: m.fit(X, Y, callbacks=[EarlyStopping]), TypeError,
     ["callback", "parentheses"]),
    ("callbacks_not_list", lambda m: m.fit(X, Y, callbacks="early"), TypeError, ["callbacks"]),
    ("seed_negative", lambda m: m.fit(X, Y, seed=-3), ValueError, ["seed"]),
    ("evaluate_batch_size", lambda m: m.evaluate(X, Y, batch_size=-1), ValueError, ["evaluate", "batch_size"]),
    ("evaluate_steps_zero", lambda m: m.evaluate(X, Y, steps=0), ValueError, ["evaluate", "steps"]),
    ("evaluate_sample_weight", lambda m: m.evaluate(X, Y, sample_weight=np.ones(3)), ValueError,
     ["evaluate", "sample_weight"]),
    ("evaluate_verbose", lambda m: m.evaluate(X, Y, verbose="loud"), ValueError, ["evaluate", "verbose"]),
    ("predict_batch_size_float", lambda m: m.predict(X, batch_size=1.5), TypeError, ["predict", "batch_size"]),
    ("predict_features", lambda m: m.predict(X[:, :2]), ValueError, ["5 features", "2"]),
    ("predict_strings", lambda m: m.predict(np.array([["x"] * 5])), TypeError, ["predict", "numeric"]),
    ("predict_scalar", lambda m: m.predict(3.0), ValueError, ["predict", "batch axis"]),
    ("train_on_batch_class_weight", lambda m: m.train_on_batch(X, Y, class_weight={1: 2.0}), ValueError,
     ["train_on_batch", "class_weight"]),
]


@pytest.mark.parametrize("call,exc,words", [c[1:] for c in FIT_CASES], ids=[c[0] for c in FIT_CASES])
def test_fit_evaluate_predict_bad_input(call, exc, words):
    m = model()
    before = m.get_weights()
    expect_error(lambda: call(m), exc, *words)
    assert m.optimizer.iterations == 0
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)


def compile_with(**kw):
    return lambda: Sequential([Dense(3)]).compile(**kw)


def _unconnected():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    return Model(a, Dense(1)(b))


def _fit_multi_output_y_not_list():
    x = Input(shape=(5,))
    m = Model(x, [Dense(1)(x), Dense(3)(x)])
    m.compile(optimizer="sgd", loss="mse")
    m.fit(X, Y)


def _loss_list_length():
    x = Input(shape=(5,))
    m = Model(x, [Dense(1)(x), Dense(3)(x)])
    m.compile(optimizer="sgd", loss=["mse"])
    m.fit(X, [Y, Y])


def _no_call():
    class NoCall(Model):
        pass
    NoCall()(X)


def _train_step_not_dict():
    class Odd(Model):
        def __init__(self):
            super().__init__()
            self.d = Dense(3)

        def call(self, inputs, training=None):
            return self.d(inputs)

        def train_step(self, data):
            return 1.0
    m = Odd()
    m.compile(optimizer="sgd", loss="mse")
    m.fit(X, np.zeros((96, 3)))


OTHER_CASES = [
    ("compile_unknown_optimizer", compile_with(optimizer="nope"), ValueError, ["nope"]),
    ("compile_unknown_loss", compile_with(loss="nope"), ValueError, ["loss", "nope"]),
    ("compile_unknown_metric", compile_with(loss="mse", metrics=["nope"]), ValueError, ["metric", "nope"]),
    ("compile_metrics_not_list", compile_with(loss="mse", metrics=3), TypeError, ["metrics"]),
    ("compile_loss_weights_str", compile_with(loss="mse", loss_weights="x"), TypeError, ["loss_weights"]),
    ("compile_loss_weights_nan", compile_with(loss="mse", loss_weights=[float("nan")]), ValueError,
     ["loss_weights"]),
    ("compile_steps_per_execution", compile_with(loss="mse", steps_per_execution=0), ValueError,
     ["steps_per_execution"]),
    ("compile_duplicate_metrics", compile_with(loss="mse", metrics=["mae", "mae"]), ValueError,
     ["metric names", "unique"]),
    ("fit_before_compile", lambda: Sequential([Dense(3)]).fit(X, Y), RuntimeError, ["fit", "compile"]),
    ("model_inputs_only", lambda: Model(inputs=Input(shape=(3,))), ValueError, ["inputs and outputs"]),
    ("model_disconnected", _unconnected, ValueError, ["graph disconnected"]),
    ("model_inputs_array", lambda: Model(np.zeros((2, 3)), Dense(1)(Input(shape=(3,)))), TypeError,
     ["inputs", "symbolic"]),
    ("model_unknown_kwarg", lambda: Model(foo=1), TypeError, ["model", "foo"]),
    ("model_three_positional", lambda: Model(1, 2, 3), TypeError, ["model", "inputs, outputs"]),
    ("model_duplicate_input", lambda: (lambda a: Model([a, a], Dense(1)(a)))(Input(shape=(3,))), ValueError,
     ["twice"]),
    ("multi_output_y_not_list", _fit_multi_output_y_not_list, ValueError, ["2 outputs", "list"]),
    ("loss_list_length", _loss_list_length, ValueError, ["1 losses", "2 output"]),
    ("subclass_without_call", _no_call, NotImplementedError, ["call"]),
    ("train_step_returns_float", _train_step_not_dict, TypeError, ["train_step", "dict"]),
    ("sequential_not_a_layer", lambda: Sequential([Dense(2), "relu"]), TypeError, ["sequential.add", "str"]),
    ("sequential_layer_class", lambda: Sequential([Dense]), TypeError, ["parentheses"]),
    ("sequential_not_list", lambda: Sequential(Dense(2)), TypeError, ["sequential", "list"]),
    ("sequential_build_no_batch_axis", lambda: Sequential([Dense(2)]).build((4,)), ValueError,
     ["build", "batch axis"]),
    ("sequential_symbolic_not_input", lambda: Sequential([Dense(2)(Input(shape=(3,)))]), TypeError,
     ["sequential.add", "input"]),
    ("input_negative_shape", lambda: Input(shape=(-1,)), ValueError, ["input", "shape"]),
    ("input_shape_str", lambda: Input(shape="4"), TypeError, ["input", "shape"]),
    ("input_batch_size", lambda: Input(shape=(4,), batch_size=0), ValueError, ["input", "batch_size"]),
    ("layer_name_not_str", lambda: Layer(name=3), TypeError, ["name", "string"]),
    ("layer_dtype_int", lambda: Dense(2, dtype="int32"), ValueError, ["dtype", "int32"]),
    ("layer_trainable_str", lambda: Layer(trainable="no"), TypeError, ["trainable"]),
    ("symbolic_into_fit", lambda: model().fit(Input(shape=(5,)), Y), TypeError, ["symbolic"]),
    ("mixed_symbolic_and_values", lambda: Layer()([Input(shape=(2,)), np.zeros((1, 2))]), TypeError,
     ["symbolic", "mix"]),
    ("get_layer_bad_name", lambda: model().get_layer("nope"), ValueError, ["no layer named", "nope"]),
    ("get_layer_bad_index", lambda: model().get_layer(index=7), ValueError, ["index 7", "out of range"]),
    ("set_weights_wrong_count", lambda: model().set_weights([np.zeros(1)]), ValueError,
     ["set_weights", "1 arrays"]),
    ("summary_unbuilt", lambda: Sequential([Dense(2)]).summary(), ValueError, ["summary", "not been built"]),
]


@pytest.mark.parametrize("call,exc,words", [c[1:] for c in OTHER_CASES], ids=[c[0] for c in OTHER_CASES])
def test_compile_and_model_construction_bad_input(call, exc, words):
    expect_error(call, exc, *words)


def test_set_weights_checks_everything_before_writing():
    m = model()
    before = m.get_weights()
    bad = [np.full_like(w, 7.0) for w in before]
    bad[-1] = np.zeros(99)
    expect_error(lambda: m.set_weights(bad), ValueError, "set_weights", "(99,)")
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)
