"""Callbacks: the Keras protocol, early stopping, checkpoints, learning-rate control, CSV logs."""
import csv
from functools import partial

import numpy as np
import pytest

from _data import make_blobs
import tinygrad_bn as tg
from tinygrad_bn import callbacks
from tinygrad_bn.losses import MeanSquaredError, SparseCategoricalCrossentropy
from tinygrad_bn.keras import Dense, Sequential, load_model


blobs = partial(make_blobs, n=96, d=4, c=3)


def model(lr=0.01):
    tg.utils.set_seed(0)
    m = Sequential([Dense(8, activation="relu"), Dense(3)])
    m.compile(optimizer=tg.optimizers.Adam(lr), loss=SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return m


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin", self.params["epochs"], self.params["steps"]))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("batch_end", batch, sorted(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, sorted(logs)))

    def on_train_end(self, logs=None):
        self.events.append(("train_end",))


def test_callback_protocol_order():
    x, y = blobs(n=40)
    m = model()
    rec = Recorder()
    m.fit(x, y, epochs=2, batch_size=16, callbacks=[rec], validation_data=(x, y), verbose=0)
    assert rec.model is m
    ev = rec.events
    assert ev[0] == ("train_begin", 2, 3) and ev[-1] == ("train_end",)
    assert ev[1] == ("epoch_begin", 0)
    assert ev[2] == ("batch_end", 0, ["accuracy", "loss"])
    assert ev[5] == ("epoch_end", 0, ["accuracy", "loss", "val_accuracy", "val_loss"])
    assert len(ev) == 2 + 2 * 5


def test_early_stopping_restores_best_weights():
    x, y = blobs()
    m = model()
    seen = []
    es = callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    # make val_loss go up after epoch 2 by feeding fake logs through a wrapper callback
    fake = iter([1.0, 0.5, 0.7, 0.9, 0.3, 0.1])

    class Fake(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(fake)
            seen.append(self.model.get_weights())

    h = m.fit(x, y, epochs=6, callbacks=[Fake(), es], verbose=0)
    # Keras: epoch 2 is the first without improvement, wait = 1 >= patience -> stop there
    assert len(h.history["loss"]) == 3 and es.stopped_epoch == 2 and es.best_epoch == 1
    for a, b in zip(m.get_weights(), seen[1]):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_best_only(tmp_path):
    x, y = blobs()
    m = model()
    pattern = str(tmp_path / "ckpt-{epoch:02d}.npz")
    cb = callbacks.ModelCheckpoint(pattern, monitor="loss", save_best_only=True)
    m.fit(x, y, epochs=3, callbacks=[cb], verbose=0)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["ckpt-01.npz", "ckpt-02.npz", "ckpt-03.npz"]   # the loss keeps improving
    np.testing.assert_array_equal(load_model(tmp_path / "ckpt-03.npz").predict(x), m.predict(x))
    w = callbacks.ModelCheckpoint(str(tmp_path / "w.npz"), save_weights_only=True)
    m.fit(x, y, epochs=1, callbacks=[w], verbose=0, validation_data=(x, y))
    fresh = model()
    fresh.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(fresh.predict(x), m.predict(x))


def test_learning_rate_scheduler_and_reduce_on_plateau():
    x, y = blobs()
    m = model(lr=0.1)
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch > 0 else lr)
    h = m.fit(x, y, epochs=3, callbacks=[sched], verbose=0)
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    assert m.optimizer.learning_rate == pytest.approx(0.025)

    m = model(lr=0.1)
    fake = iter([1.0, 1.0, 1.0, 1.0, 1.0])

    class Flat(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(fake)

    plateau = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=0.02)
    h = m.fit(x, y, epochs=5, callbacks=[Flat(), plateau], verbose=0)
    # Keras logs the rate each epoch trained with (before that epoch's reduction)
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05])
    assert m.optimizer.learning_rate == pytest.approx(0.025)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_terminate_on_nan():
    x = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32) * 1e3
    y = x.sum(1, keepdims=True)
    tg.utils.set_seed(0)
    m = Sequential([Dense(4), Dense(1)])
    m.compile(optimizer=tg.optimizers.SGD(1e6), loss=MeanSquaredError())
    h = m.fit(x, y, epochs=50, batch_size=8, callbacks=[callbacks.TerminateOnNaN()], verbose=0)
    assert len(h.history["loss"]) == 1 and not np.isfinite(h.history["loss"][0])


def test_csv_logger(tmp_path):
    x, y = blobs()
    path = tmp_path / "log.csv"
    m = model()
    m.fit(x, y, epochs=2, callbacks=[callbacks.CSVLogger(path)], validation_split=0.25, verbose=0)
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1"]
    m.fit(x, y, epochs=4, initial_epoch=2, callbacks=[callbacks.CSVLogger(path, append=True)],
          validation_split=0.25, verbose=0)
    rows = list(csv.reader(open(path)))
    assert [r[0] for r in rows[1:]] == ["0", "1", "2", "3"]
    assert float(rows[-1][2]) == pytest.approx(m.history.history["loss"][-1])
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]


def test_stop_training_from_a_callback():
    x, y = blobs()
    m = model()

    class StopAt(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    h = m.fit(x, y, epochs=10, callbacks=[StopAt()], verbose=0)
    assert len(h.history["loss"]) == 2


def test_lambda_callback():
    x, y = blobs()
    m = model()
    batches = []
    cb = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))
    m.fit(x, y, epochs=1, batch_size=32, callbacks=[cb], verbose=0)
    assert batches == [0, 1, 2]
