"""Bad-input battery for input pipelines (``tinygrad_bn.data``), callbacks and the data helpers
in ``tinygrad_bn.utils``: every case ends in a clear exception naming the function and the
argument (and the shapes / dtypes / file involved), or, where TF/Keras only warn, a warning.
Nothing here can crash the interpreter (pure Python and NumPy), so no case needs a subprocess.
"""
import warnings

import numpy as np
import pytest

from badinput import expect_error
import tinygrad_bn as tf
from tinygrad_bn.data import Dataset, TensorSpec
from tinygrad_bn.keras import Dense, Sequential, callbacks

D = Dataset


def _model(lr=0.01):
    tf.utils.set_seed(0)
    m = Sequential([Dense(2)])
    m.build((None, 3))
    m.compile(optimizer=tf.optimizers.SGD(lr), loss="mse")
    return m


def _fit(*cbs, epochs=2):
    m = _model()
    m.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), epochs=epochs, batch_size=2, verbose=0,
          callbacks=list(cbs))
    return m


def _gen(*values):
    return lambda: iter(values)


CASES = {
    # -- Dataset sources ------------------------------------------------------------------------
    "slices-mismatched-first-dims": (lambda: D.from_tensor_slices((np.zeros((3, 2)), np.zeros(4))),
                                     ValueError, ["from_tensor_slices", "(3, 2)", "(4,)", "first dimension"]),
    "slices-dict-mismatched": (lambda: D.from_tensor_slices({"x": np.zeros(3), "y": np.zeros(5)}),
                               ValueError, ["from_tensor_slices", "['x']", "(5,)"]),
    "slices-scalar": (lambda: D.from_tensor_slices(np.float32(3.0)), ValueError, ["from_tensor_slices", "scalar"]),
    "slices-none": (lambda: D.from_tensor_slices(None), TypeError, ["from_tensor_slices", "NoneType"]),
    "slices-none-component": (lambda: D.from_tensor_slices((np.zeros(2), None)), TypeError,
                              ["from_tensor_slices", "tensors[1]"]),
    "slices-strings": (lambda: D.from_tensor_slices(np.array(["a", "b"])), TypeError,
                       ["from_tensor_slices", "dtype <U1"]),
    "slices-object-array": (lambda: D.from_tensor_slices(np.array([object(), object()])), TypeError,
                            ["from_tensor_slices", "object"]),
    "slices-ragged-list": (lambda: D.from_tensor_slices([[1, 2], [3]]), ValueError,
                           ["from_tensor_slices", "rectangular"]),
    "slices-empty-structure": (lambda: D.from_tensor_slices(()), ValueError, ["from_tensor_slices", "no tensors"]),
    "slices-of-a-dataset": (lambda: D.from_tensor_slices(D.range(3)), TypeError, ["from_tensor_slices", "Dataset"]),
    "slices-complex": (lambda: D.from_tensor_slices(np.zeros(3, np.complex64)), TypeError,
                       ["from_tensor_slices", "complex64"]),
    "range-float": (lambda: D.range(2.5), TypeError, ["Dataset.range", "stop", "integer"]),
    "range-zero-step": (lambda: D.range(0, 5, 0), ValueError, ["Dataset.range", "step"]),
    "range-too-many-args": (lambda: D.range(1, 2, 3, 4), TypeError, ["Dataset.range", "1 to 3"]),
    "generator-object-not-callable": (lambda: D.from_generator((i for i in range(3))), TypeError,
                                      ["from_generator", "callable", "generator object"]),
    "generator-signature-not-spec": (lambda: D.from_generator(_gen(1), output_signature=(np.float32,)),
                                     TypeError, ["from_generator", "TensorSpec"]),
    "generator-dtype-mismatch": (lambda: list(D.from_generator(_gen(np.zeros(2, np.float64)),
                                                               output_signature=TensorSpec((2,), np.int32))),
                                 TypeError, ["from_generator", "element 0", "float64", "int32"]),
    "generator-shape-mismatch": (lambda: list(D.from_generator(_gen(np.zeros(3)),
                                                               output_signature=TensorSpec((2,), np.float64))),
                                 ValueError, ["from_generator", "(3,)", "(2,)"]),
    "generator-structure-mismatch": (lambda: list(D.from_generator(
        _gen((1, 2)), output_signature=(TensorSpec((), np.int32),) * 3)), TypeError,
        ["from_generator", "structure"]),
    "generator-changing-structure": (lambda: list(D.from_generator(_gen((1, 2), 3))), TypeError,
                                     ["from_generator", "element 1", "structure"]),
    "generator-returns-non-iterable": (lambda: list(D.from_generator(lambda: 5)), TypeError,
                                       ["from_generator", "iterable", "int"]),
    "zip-non-dataset": (lambda: D.zip(D.range(3), [1, 2, 3]), TypeError, ["Dataset.zip", "datasets[1][0]", "int"]),
    "zip-nothing": (lambda: D.zip(), TypeError, ["Dataset.zip", "at least one"]),
    # -- transformations ---------------------------------------------------------------------------
    "batch-zero": (lambda: D.range(5).batch(0), ValueError, ["Dataset.batch", "batch_size", ">= 1", "0"]),
    "batch-negative": (lambda: D.range(5).batch(-3), ValueError, ["Dataset.batch", "batch_size", "-3"]),
    "batch-float": (lambda: D.range(5).batch(2.5), TypeError, ["Dataset.batch", "batch_size", "integer", "2.5"]),
    "batch-bool": (lambda: D.range(5).batch(True), TypeError, ["Dataset.batch", "batch_size", "bool"]),
    "batch-string": (lambda: D.range(5).batch("32"), TypeError, ["Dataset.batch", "batch_size", "str"]),
    "batch-drop-remainder-not-bool": (lambda: D.range(5).batch(2, drop_remainder="yes"), TypeError,
                                      ["Dataset.batch", "drop_remainder", "bool"]),
    "batch-different-shapes": (lambda: list(D.from_generator(_gen(np.zeros(2), np.zeros(3))).batch(2)),
                               ValueError, ["Dataset.batch", "different shapes", "(2,)", "(3,)"]),
    "batch-different-dtypes": (lambda: list(D.from_generator(_gen(np.zeros(2), np.zeros(2, np.int64))).batch(2)),
                               ValueError, ["Dataset.batch", "different dtypes", "float64", "int64"]),
    "shuffle-zero-buffer": (lambda: D.range(5).shuffle(0), ValueError, ["Dataset.shuffle", "buffer_size", "zero"]),
    "shuffle-float-buffer": (lambda: D.range(5).shuffle(10.0), TypeError, ["Dataset.shuffle", "buffer_size"]),
    "shuffle-float-seed": (lambda: D.range(5).shuffle(10, seed=1.5), TypeError, ["Dataset.shuffle", "seed"]),
    "shuffle-reshuffle-not-bool": (lambda: D.range(5).shuffle(10, reshuffle_each_iteration=1), TypeError,
                                   ["Dataset.shuffle", "reshuffle_each_iteration"]),
    "repeat-float": (lambda: D.range(5).repeat(2.0), TypeError, ["Dataset.repeat", "count", "float"]),
    "take-string": (lambda: D.range(5).take("3"), TypeError, ["Dataset.take", "count"]),
    "skip-none": (lambda: D.range(5).skip(None), TypeError, ["Dataset.skip", "count", "NoneType"]),
    "prefetch-negative": (lambda: D.range(5).prefetch(-5), ValueError, ["Dataset.prefetch", "buffer_size", "-5"]),
    "map-not-callable": (lambda: D.range(5).map(3), TypeError, ["Dataset.map", "map_func", "callable"]),
    "map-bad-parallelism": (lambda: D.range(5).map(lambda x: x, num_parallel_calls=0), ValueError,
                            ["Dataset.map", "num_parallel_calls"]),
    "map-returns-none": (lambda: list(D.range(3).map(lambda x: None)), TypeError, ["Dataset.map", "None"]),
    "map-returns-string": (lambda: list(D.range(3).map(lambda x: "label")), TypeError,
                           ["Dataset.map", "map_func's result", "str"]),
    "filter-not-callable": (lambda: D.range(5).filter(None), TypeError, ["Dataset.filter", "predicate"]),
    "filter-non-boolean": (lambda: list(D.range(5).filter(lambda x: x)), ValueError,
                           ["Dataset.filter", "scalar boolean", "int64"]),
    "filter-vector-boolean": (lambda: list(D.from_tensor_slices(np.zeros((3, 2))).filter(lambda x: x > 0)),
                              ValueError, ["Dataset.filter", "scalar boolean", "(2,)"]),
    "padded-batch-rank-mismatch": (lambda: D.from_tensor_slices(np.zeros((4, 3))).padded_batch(2, padded_shapes=(3, 3)),
                                   ValueError, ["padded_batch", "padded_shapes", "rank 2", "(3,)"]),
    "padded-batch-negative-dim": (lambda: D.from_tensor_slices(np.zeros((4, 3))).padded_batch(2, padded_shapes=(-3,)),
                                  ValueError, ["padded_batch", "negative"]),
    "padded-batch-vector-padding": (lambda: D.from_tensor_slices(np.zeros((4, 3))).padded_batch(
        2, padding_values=np.zeros(2)), ValueError, ["padded_batch", "padding_values", "scalar", "(2,)"]),
    "padded-batch-bad-shape": (lambda: D.from_tensor_slices(np.zeros((4, 3))).padded_batch(2, padded_shapes="x"),
                               TypeError, ["padded_batch", "padded_shapes", "'x'"]),
    "padded-batch-too-small": (lambda: list(D.from_tensor_slices(np.zeros((4, 3))).padded_batch(2, padded_shapes=2)),
                               ValueError, ["padded_batch", "(3,)", "larger", "(2,)"]),
    "unbatch-scalars": (lambda: list(D.range(3).unbatch()), ValueError, ["Dataset.unbatch", "scalar"]),
    "concatenate-different-structures": (lambda: D.range(3).concatenate(D.zip(D.range(2), D.range(2))),
                                         TypeError, ["Dataset.concatenate", "structures"]),
    "concatenate-different-dtypes": (lambda: D.range(3).concatenate(D.from_tensor_slices(np.zeros(2))),
                                     TypeError, ["Dataset.concatenate", "int64", "float64"]),
    "concatenate-non-dataset": (lambda: D.range(3).concatenate([1, 2]), TypeError,
                                ["Dataset.concatenate", "list"]),
    "flat-map-returns-array": (lambda: list(D.range(2).flat_map(lambda x: np.zeros(2))), TypeError,
                               ["Dataset.flat_map", "must return a Dataset", "ndarray"]),
    "len-infinite": (lambda: len(D.range(3).repeat()), TypeError, ["infinite"]),
    "len-unknown": (lambda: len(D.range(3).filter(lambda x: x > 0)), TypeError, ["unknown"]),
    "cache-to-file": (lambda: D.range(3).cache("/tmp/x"), NotImplementedError, ["Dataset.cache", "filename"]),
    "single-element-of-two": (lambda: D.range(2).get_single_element(), ValueError,
                              ["get_single_element", "more than one"]),
    "reduce-structure-change": (lambda: D.range(3).reduce(np.int64(0), lambda s, x: (s, x)), TypeError,
                                ["Dataset.reduce", "structure"]),
    # -- callbacks: arguments ---------------------------------------------------------------------------
    "early-stopping-mode": (lambda: callbacks.EarlyStopping(mode="bigger"), ValueError,
                            ["EarlyStopping", "mode", "'bigger'"]),
    "early-stopping-negative-patience": (lambda: callbacks.EarlyStopping(patience=-1), ValueError,
                                         ["EarlyStopping", "patience", "-1"]),
    "early-stopping-float-patience": (lambda: callbacks.EarlyStopping(patience=1.5), TypeError,
                                      ["EarlyStopping", "patience", "integer"]),
    "early-stopping-monitor-none": (lambda: callbacks.EarlyStopping(monitor=None), TypeError,
                                    ["EarlyStopping", "monitor"]),
    "early-stopping-baseline-string": (lambda: callbacks.EarlyStopping(baseline="0.5"), TypeError,
                                       ["EarlyStopping", "baseline"]),
    "early-stopping-min-delta-nan": (lambda: callbacks.EarlyStopping(min_delta=float("nan")), ValueError,
                                     ["EarlyStopping", "min_delta", "nan"]),
    "early-stopping-start-negative": (lambda: callbacks.EarlyStopping(start_from_epoch=-2), ValueError,
                                      ["EarlyStopping", "start_from_epoch"]),
    "early-stopping-auto-mode-unknown-metric": (lambda: _fit(callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: logs.update(score=1.0)), callbacks.EarlyStopping(monitor="score")),
        ValueError, ["EarlyStopping", "monitor=score", "mode='max'"]),
    "plateau-factor-one": (lambda: callbacks.ReduceLROnPlateau(factor=1.0), ValueError,
                           ["ReduceLROnPlateau", "factor", "1.0"]),
    "plateau-factor-negative": (lambda: callbacks.ReduceLROnPlateau(factor=-0.5), ValueError,
                                ["ReduceLROnPlateau", "factor", "-0.5"]),
    "plateau-min-lr-negative": (lambda: callbacks.ReduceLROnPlateau(min_lr=-1), ValueError,
                                ["ReduceLROnPlateau", "min_lr"]),
    "plateau-cooldown-negative": (lambda: callbacks.ReduceLROnPlateau(cooldown=-1), ValueError,
                                  ["ReduceLROnPlateau", "cooldown"]),
    "plateau-unknown-kwarg": (lambda: callbacks.ReduceLROnPlateau(epsilon=1e-4), TypeError,
                              ["ReduceLROnPlateau", "epsilon"]),
    "plateau-on-a-schedule": (lambda: _model_with_schedule().fit(
        np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), verbose=0,
        callbacks=[callbacks.ReduceLROnPlateau(monitor="loss")]), TypeError,
        ["ReduceLROnPlateau", "schedule", "not settable"]),
    "scheduler-not-callable": (lambda: callbacks.LearningRateScheduler(0.1), TypeError,
                               ["LearningRateScheduler", "schedule", "float"]),
    "scheduler-returns-nan": (lambda: _fit(callbacks.LearningRateScheduler(lambda e, lr: float("nan"))),
                              ValueError, ["LearningRateScheduler", "nan", "epoch 0"]),
    "scheduler-returns-int": (lambda: _fit(callbacks.LearningRateScheduler(lambda e, lr: 1)), ValueError,
                              ["LearningRateScheduler", "should be a float", "int"]),
    "scheduler-returns-negative": (lambda: _fit(callbacks.LearningRateScheduler(lambda e, lr: -0.1)),
                                   ValueError, ["LearningRateScheduler", "-0.1", ">= 0"]),
    "scheduler-on-a-schedule": (lambda: _model_with_schedule().fit(
        np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), verbose=0,
        callbacks=[callbacks.LearningRateScheduler(lambda e, lr: lr)]), TypeError,
        ["LearningRateScheduler", "schedule", "not settable"]),
    "checkpoint-save-freq-string": (lambda: callbacks.ModelCheckpoint("m.npz", save_freq="batch"), ValueError,
                                    ["ModelCheckpoint", "save_freq", "'batch'"]),
    "checkpoint-save-freq-zero": (lambda: callbacks.ModelCheckpoint("m.npz", save_freq=0), ValueError,
                                  ["ModelCheckpoint", "save_freq"]),
    "checkpoint-filepath-none": (lambda: callbacks.ModelCheckpoint(None), TypeError,
                                 ["ModelCheckpoint", "filepath", "NoneType"]),
    "checkpoint-mode": (lambda: callbacks.ModelCheckpoint("m.npz", mode="up"), ValueError,
                        ["ModelCheckpoint", "mode"]),
    "backup-empty-dir": (lambda: callbacks.BackupAndRestore(""), ValueError, ["BackupAndRestore", "backup_dir"]),
    "backup-dir-none": (lambda: callbacks.BackupAndRestore(None), ValueError, ["BackupAndRestore", "backup_dir"]),
    "backup-save-freq": (lambda: callbacks.BackupAndRestore("d", save_freq="batch"), ValueError,
                         ["BackupAndRestore", "save_freq", "'batch'"]),
    "backup-save-freq-zero": (lambda: callbacks.BackupAndRestore("d", save_freq=0), ValueError,
                              ["BackupAndRestore", "save_freq"]),
    "csv-separator": (lambda: callbacks.CSVLogger("log.csv", separator=""), ValueError,
                      ["CSVLogger", "separator"]),
    "csv-filename-none": (lambda: callbacks.CSVLogger(None), TypeError, ["CSVLogger", "filename"]),
    "lambda-unknown-hook": (lambda: callbacks.LambdaCallback(on_epoch_finish=print), TypeError,
                            ["LambdaCallback", "on_epoch_finish"]),
    "lambda-hook-not-callable": (lambda: callbacks.LambdaCallback(on_epoch_end=3), TypeError,
                                 ["LambdaCallback", "on_epoch_end", "callable"]),
    "callback-class-not-instance": (lambda: _fit(callbacks.EarlyStopping), TypeError,
                                    ["callback", "EarlyStopping", "parentheses"]),
    "callback-not-a-callback": (lambda: _fit(lambda *a: None), TypeError,
                                ["callback", "Callback instance", "function"]),
    # -- utils ---------------------------------------------------------------------------------------------
    "to-categorical-zero-classes": (lambda: tf.utils.to_categorical([0], num_classes=0), ValueError,
                                    ["to_categorical", "num_classes"]),
    "to-categorical-strings": (lambda: tf.utils.to_categorical(["a", "b"]), TypeError,
                               ["to_categorical", "integers", "<U1"]),
    "to-categorical-fractional": (lambda: tf.utils.to_categorical([0.5, 1.0]), ValueError,
                                  ["to_categorical", "whole numbers"]),
    "to-categorical-out-of-range": (lambda: tf.utils.to_categorical([0, 5], num_classes=3), ValueError,
                                    ["to_categorical", "label 5", "index 1", "[0, 3)"]),
    "to-categorical-float-classes": (lambda: tf.utils.to_categorical([0], num_classes=2.0), TypeError,
                                     ["to_categorical", "num_classes"]),
    "set-seed-string": (lambda: tf.utils.set_seed("42"), TypeError, ["set_seed", "seed", "str"]),
    "set-seed-negative": (lambda: tf.utils.set_seed(-1), ValueError, ["set_seed", "seed", "-1"]),
    "set-random-seed-float": (lambda: tf.keras.utils.set_random_seed(1.5), TypeError,
                              ["set_random_seed", "seed"]),
    "batches-mismatched": (lambda: list(tf.utils.batches(np.zeros(3), np.zeros(4))), ValueError,
                           ["batches", "3 rows", "4"]),
    "load-digits-test-size-string": (lambda: tf.datasets.load_digits(test_size="0.2"), TypeError,
                                     ["load_digits", "test_size", "str"]),
    "load-digits-test-size-one": (lambda: tf.datasets.load_digits(test_size=1.0), ValueError,
                                  ["load_digits", "test_size", "(0, 1)"]),
    "batches-zero-size": (lambda: list(tf.utils.batches(np.zeros(3), batch_size=0)), ValueError,
                          ["batches", "batch_size"]),
}


def _model_with_schedule():
    m = Sequential([Dense(2)])
    m.build((None, 3))
    m.compile(optimizer=tf.optimizers.SGD(tf.schedules.ExponentialDecay(0.1, 10, 0.5)), loss="mse")
    return m


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case):
    fn, exc, words = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expect_error(fn, exc, *words)


def test_enough_cases():
    assert len(CASES) >= 20


# -- cases whose right result is a warning (as Keras), or that need files ------------------------------
@pytest.mark.parametrize("cb", ["early", "plateau", "checkpoint"])
def test_missing_monitor_warns_and_names_it(cb, tmp_path):
    made = {"early": lambda: callbacks.EarlyStopping(monitor="val_acc"),
            "plateau": lambda: callbacks.ReduceLROnPlateau(monitor="val_acc"),
            "checkpoint": lambda: callbacks.ModelCheckpoint(str(tmp_path / "m.npz"), monitor="val_acc",
                                                            save_best_only=True)}[cb]()
    with pytest.warns(UserWarning, match="val_acc"):
        _fit(made, epochs=1)


def test_checkpoint_filepath_with_a_missing_field(tmp_path):
    cb = callbacks.ModelCheckpoint(str(tmp_path / "m-{val_acc:.2f}.npz"))
    expect_error(lambda: _fit(cb, epochs=1), KeyError, "ModelCheckpoint", "val_acc", "available")


def test_backup_dir_that_is_a_file(tmp_path):
    f = tmp_path / "not_a_dir"
    f.write_text("x")
    expect_error(lambda: _fit(callbacks.BackupAndRestore(f), epochs=1), ValueError, "not_a_dir", "directory")


def test_backup_with_a_corrupt_state_leaves_the_model_alone(tmp_path):
    from tinygrad_bn.keras import saving
    d = tmp_path / "bk"
    d.mkdir()
    (d / saving.TRAINING_STATE_FILE).write_bytes(b"PK\x03\x04 this is not a zip file")
    m = _model()
    before = m.get_weights()
    expect_error(lambda: m.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), epochs=1, verbose=0,
                               callbacks=[callbacks.BackupAndRestore(d)]),
                 ValueError, saving.TRAINING_STATE_FILE)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_dataset_with_nan_reaches_fit_as_a_clear_error():
    m = _model()
    x = np.ones((4, 3), np.float32)
    x[2, 1] = np.nan
    ds = D.from_tensor_slices((x, np.zeros((4, 2), np.float32))).batch(2)
    expect_error(lambda: m.fit(ds, epochs=1, verbose=0), ValueError, "nan")
