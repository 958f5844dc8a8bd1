"""Keras callbacks with Keras's documented behaviour: docstring examples and hand-worked sequences.

Most tests feed a chosen sequence of monitored values through a callback placed before the
one under test (it overwrites the logged value), so the expected epochs follow from Keras's
rules worked out by hand, not from this implementation.
"""
import io
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest

import tinygrad_bn as tf
from tinygrad_bn.keras import callbacks
from tinygrad_bn.keras import Dense, Sequential

keras = tf.keras


def tiny_model(lr=0.01):
    tf.utils.set_seed(0)
    m = Sequential([Dense(2)])
    m.build((None, 3))
    m.compile(optimizer=tf.optimizers.SGD(lr), loss="mse")
    return m


XY = (np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32))


class Feed(callbacks.Callback):
    """Overwrite ``key`` in the epoch logs with the next value of ``values``."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, list(values)

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


def run(cb, key, values, epochs=None, model=None, **fit):
    m = model or tiny_model()
    h = m.fit(*XY, epochs=epochs or len(values), batch_size=4, verbose=0, callbacks=[Feed(key, values), cb], **fit)
    return m, h


# -- EarlyStopping ---------------------------------------------------------------------------------
def test_early_stopping_keras_docstring_example():
    # keras.callbacks.EarlyStopping's docstring: "Only 4 epochs are run."  (Keras's targets are
    # np.zeros(5), broadcast against the 10 outputs; zeros of the output's shape are the same loss.)
    callback = keras.callbacks.EarlyStopping(monitor="loss", patience=3)
    model = keras.Sequential([keras.layers.Dense(10)])
    model.compile(keras.optimizers.SGD(), loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)           # the docstring's loss overflows
        history = model.fit(np.arange(100).reshape(5, 20), np.zeros((5, 10)), epochs=10, batch_size=1,
                            callbacks=[callback], verbose=0)
    assert len(history.history["loss"]) == 4


def test_early_stopping_stops_when_wait_reaches_patience():
    es = callbacks.EarlyStopping(monitor="loss", patience=2)
    _, h = run(es, "loss", [1.0, 0.9, 0.95, 0.91, 0.92, 0.5])
    assert len(h.history["loss"]) == 4 and es.stopped_epoch == 3 and es.best == 0.9 and es.best_epoch == 1


def test_early_stopping_patience_zero_stops_at_the_first_non_improvement():
    es = callbacks.EarlyStopping(monitor="loss", patience=0)
    _, h = run(es, "loss", [1.0, 0.5, 0.6, 0.1])
    assert len(h.history["loss"]) == 3


def test_early_stopping_min_delta():
    # improvements must exceed min_delta: 0.9 is not one (1.0 - 0.15 = 0.85), 0.8 is
    es = callbacks.EarlyStopping(monitor="loss", patience=2, min_delta=0.15)
    _, h = run(es, "loss", [1.0, 0.9, 0.8, 0.7])
    assert len(h.history["loss"]) == 4 and es.best == 0.8 and es.best_epoch == 2 and es.wait == 1


def test_early_stopping_mode_max_and_auto():
    es = callbacks.EarlyStopping(monitor="val_accuracy", patience=2)          # auto -> max for accuracy
    _, h = run(es, "val_accuracy", [0.5, 0.6, 0.6, 0.55, 0.9])
    assert len(h.history["loss"]) == 4 and es.best == 0.6
    es = callbacks.EarlyStopping(monitor="score", patience=1, mode="max")
    _, h = run(es, "score", [1.0, 2.0, 3.0, 2.5, 4.0])
    assert len(h.history["loss"]) == 4
    es = callbacks.EarlyStopping(monitor="score", patience=1, mode="min")
    _, h = run(es, "score", [1.0, 2.0, 3.0, 2.5, 4.0])
    assert len(h.history["loss"]) == 2


def test_early_stopping_auto_mode_for_an_unknown_metric_raises_like_keras():
    es = callbacks.EarlyStopping(monitor="score", patience=1)
    with pytest.raises(ValueError, match="mode='max'"):
        run(es, "score", [1.0, 2.0])


def test_early_stopping_baseline():
    # Keras 3: wait is reset only by values beating the baseline too, so 0.9 (best, but not
    # below 0.5) leaves wait = 1 and the non-improving 0.95 makes it 2 = patience.
    es = callbacks.EarlyStopping(monitor="loss", patience=2, baseline=0.5)
    _, h = run(es, "loss", [0.9, 0.95, 0.8, 0.7, 0.6])
    assert len(h.history["loss"]) == 2
    es = callbacks.EarlyStopping(monitor="loss", patience=2)
    _, h = run(es, "loss", [0.9, 0.95, 0.8, 0.7, 0.6])
    assert len(h.history["loss"]) == 5
    seq = [0.9, 0.95, 0.8, 0.85, 0.84, 0.83, 0.1]
    es = callbacks.EarlyStopping(monitor="loss", patience=3, baseline=0.85)
    _, h = run(es, "loss", seq)
    # wait 1, 2, then 0.8 beats best and baseline (wait 0); 3 epochs without improvement -> stop at 5
    assert len(h.history["loss"]) == 6 and es.best == 0.8
    es = callbacks.EarlyStopping(monitor="loss", patience=3, baseline=0.7)
    _, h = run(es, "loss", seq)
    # 0.8 is the best but not below 0.7: wait stays 3, and epoch 3 (no improvement) stops
    assert len(h.history["loss"]) == 4


def test_early_stopping_start_from_epoch():
    es = callbacks.EarlyStopping(monitor="loss", patience=1, start_from_epoch=2)
    _, h = run(es, "loss", [0.1, 0.2, 0.3, 0.4, 0.5])
    assert len(h.history["loss"]) == 4 and es.best == 0.3
    es = callbacks.EarlyStopping(monitor="loss", patience=1)
    _, h = run(es, "loss", [0.1, 0.2, 0.3, 0.4, 0.5])
    assert len(h.history["loss"]) == 2


def test_early_stopping_restores_the_best_weights_also_without_stopping():
    m = tiny_model(lr=0.1)
    snapshots = []
    snap = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(m.get_weights()))
    es = callbacks.EarlyStopping(monitor="loss", patience=5, restore_best_weights=True)
    m.fit(*XY, epochs=3, batch_size=4, verbose=0, callbacks=[Feed("loss", [0.5, 0.4, 0.6]), snap, es])
    assert es.stopped_epoch == 0 and es.best_epoch == 1
    assert not np.array_equal(snapshots[1][0], snapshots[2][0])
    for a, b in zip(m.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_unknown_monitor_warns_and_training_continues():
    es = callbacks.EarlyStopping(monitor="val_loss", patience=0)
    m = tiny_model()
    with pytest.warns(UserWarning, match="val_loss.*not available"):
        h = m.fit(*XY, epochs=3, batch_size=4, verbose=0, callbacks=[es])
    assert len(h.history["loss"]) == 3


def test_early_stopping_can_be_reused():
    es = callbacks.EarlyStopping(monitor="loss", patience=1)
    _, h1 = run(es, "loss", [1.0, 2.0, 3.0])
    _, h2 = run(es, "loss", [1.0, 0.5, 0.4])
    assert len(h1.history["loss"]) == 2 and len(h2.history["loss"]) == 3


# -- LearningRateScheduler -------------------------------------------------------------------------------
def test_learning_rate_scheduler_keras_docstring_example():
    def scheduler(epoch, lr):
        if epoch < 10:
            return lr
        return lr * np.exp(-0.1)

    model = keras.Sequential([keras.layers.Dense(10)])
    model.compile(keras.optimizers.SGD(), loss="mse")
    assert round(model.optimizer.learning_rate, 5) == 0.01
    callback = keras.callbacks.LearningRateScheduler(scheduler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(np.arange(100).reshape(5, 20), np.zeros((5, 10)), epochs=15, callbacks=[callback], verbose=0)
    assert round(model.optimizer.learning_rate, 5) == 0.00607       # 0.01 * exp(-0.5)


def test_learning_rate_scheduler_one_argument_schedule_and_logs():
    m = tiny_model()
    cb = callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    h = m.fit(*XY, epochs=3, batch_size=4, verbose=0, callbacks=[cb])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_learning_rate_scheduler_sees_the_current_rate():
    seen = []

    def sched(epoch, lr):
        seen.append(lr)
        return lr * 0.5

    m = tiny_model(lr=0.08)
    m.fit(*XY, epochs=3, batch_size=4, verbose=0, callbacks=[callbacks.LearningRateScheduler(sched)])
    assert seen == pytest.approx([0.08, 0.04, 0.02]) and m.optimizer.learning_rate == pytest.approx(0.01)


def test_learning_rate_scheduler_output_must_be_a_float():
    m = tiny_model()
    with pytest.raises(ValueError, match="should be a float"):
        m.fit(*XY, epochs=1, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: 1)])


def test_learning_rate_callbacks_refuse_a_schedule():
    sched = tf.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    for cb in (callbacks.LearningRateScheduler(lambda e, lr: lr * 0.5),
               callbacks.ReduceLROnPlateau(monitor="loss", patience=1)):
        m = Sequential([Dense(2)])
        m.build((None, 3))
        m.compile(optimizer=tf.optimizers.SGD(sched), loss="mse")
        before = m.get_weights()
        with pytest.raises(TypeError, match="schedule"):
            m.fit(*XY, epochs=2, verbose=0, callbacks=[cb])
        assert m.optimizer.learning_rate is sched        # the schedule was not replaced
        for a, b in zip(before, m.get_weights()):
            np.testing.assert_array_equal(a, b)


# -- ReduceLROnPlateau -----------------------------------------------------------------------------------
def test_reduce_lr_on_plateau_keras_rules():
    cb = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=0.02)
    m, h = run(cb, "val_loss", [1.0] * 5, model=tiny_model(lr=0.1))
    # reductions at epochs 2 and 4; each epoch logs the rate it trained with
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05])
    assert m.optimizer.learning_rate == pytest.approx(0.025)


def test_reduce_lr_on_plateau_cooldown_and_min_lr():
    cb = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=2)
    m, h = run(cb, "val_loss", [1.0] * 6, model=tiny_model(lr=0.1))
    # reduce at epoch 2; epochs 3, 4 cool down (epoch 4 counts wait 1); epoch 5 reduces again
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05])
    assert m.optimizer.learning_rate == pytest.approx(0.025)
    cb = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=0.07)
    m, _ = run(cb, "val_loss", [1.0] * 6, model=tiny_model(lr=0.1))
    assert m.optimizer.learning_rate == pytest.approx(0.07)       # max(0.05, min_lr), then no further


def test_reduce_lr_on_plateau_improvement_resets_and_mode_max():
    cb = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=2, min_delta=0.01)
    m, _ = run(cb, "val_loss", [1.0, 1.0, 0.98, 0.975, 0.97], model=tiny_model(lr=0.1))
    # 0.98 improves by more than 0.01; 0.975 and 0.97 do not (0.98 - 0.01 = 0.97) -> reduce at epoch 4
    assert m.optimizer.learning_rate == pytest.approx(0.01)
    cb = callbacks.ReduceLROnPlateau(monitor="val_acc", factor=0.5, patience=1)
    m, _ = run(cb, "val_acc", [0.5, 0.6, 0.7], model=tiny_model(lr=0.1))
    assert m.optimizer.learning_rate == pytest.approx(0.1)        # accuracy rising: no reduction


def test_reduce_lr_on_plateau_missing_monitor_warns():
    m = tiny_model()
    with pytest.warns(UserWarning, match="val_loss"):
        m.fit(*XY, epochs=1, verbose=0, callbacks=[callbacks.ReduceLROnPlateau()])


# -- TerminateOnNaN, ModelCheckpoint, CSVLogger, History, Lambda, Progbar --------------------------------
@pytest.mark.parametrize("from_logits", [True, False])
def test_terminate_on_nan_sees_a_nan_cross_entropy(from_logits):
    # a learning rate of 1e38 sends the logits to inf after one step: the next loss is NaN, through
    # the fused softmax-CE kernel (from_logits=True) or the clipped probability path
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32) * 100
    y = rng.integers(0, 3, 64)
    tf.utils.set_seed(0)
    m = Sequential([Dense(3)] if from_logits else [Dense(3, activation="softmax")])
    m.build((None, 4))
    m.compile(optimizer=tf.optimizers.SGD(1e38),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits))
    seen = []
    log = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(logs["loss"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        h = m.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[log, callbacks.TerminateOnNaN()])
    assert 2 <= len(seen) < 8                          # stopped inside the first epoch ...
    assert np.isfinite(seen[0]) and not np.isfinite(seen[-1]) and np.all(np.isfinite(seen[:-1]))
    assert len(h.history["loss"]) == 1 and not np.isfinite(h.history["loss"][0])   # ... at the NaN batch


def test_model_checkpoint_save_freq_in_batches_and_best_only(tmp_path):
    m = tiny_model()
    pattern = str(tmp_path / "b-{epoch}-{batch}.npz")
    m.fit(np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32), epochs=2, batch_size=2, verbose=0,
          callbacks=[callbacks.ModelCheckpoint(pattern, save_freq=3, save_weights_only=True)])
    # 8 batches over 2 epochs, a save after every 3rd: batches (epoch 1, batch 2) and (epoch 2, batch 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b-1-2.npz", "b-2-1.npz"]
    best = callbacks.ModelCheckpoint(str(tmp_path / "best-{epoch}.npz"), monitor="val_loss",
                                     save_best_only=True, save_weights_only=True)
    run(best, "val_loss", [0.5, 0.7, 0.4, 0.45], model=m)
    assert sorted(p.name for p in tmp_path.glob("best-*")) == ["best-1.npz", "best-3.npz"]
    thr = callbacks.ModelCheckpoint(str(tmp_path / "thr-{epoch}.npz"), monitor="val_loss", save_best_only=True,
                                    save_weights_only=True, initial_value_threshold=0.45)
    run(thr, "val_loss", [0.5, 0.7, 0.4, 0.45], model=m)
    assert sorted(p.name for p in tmp_path.glob("thr-*")) == ["thr-3.npz"]
    with pytest.warns(UserWarning, match="val_loss"):
        m.fit(*XY, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(str(tmp_path / "x.npz"),
                                                                             save_best_only=True)])
    assert not (tmp_path / "x.npz").exists()


def test_history_and_lambda_callback_hooks():
    m = tiny_model()
    events = []
    cb = callbacks.LambdaCallback(on_train_begin=lambda logs: events.append("begin"),
                                  on_epoch_begin=lambda epoch, logs: events.append(("e", epoch)),
                                  on_batch_end=lambda batch, logs: events.append(("b", batch)),
                                  on_train_end=lambda logs: events.append("end"))
    h = m.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), epochs=2, batch_size=2, verbose=0,
              callbacks=[cb])
    assert events == ["begin", ("e", 0), ("b", 0), ("b", 1), ("e", 1), ("b", 0), ("b", 1), "end"]
    assert h.epoch == [0, 1] and len(h.history["loss"]) == 2 and m.history is h


def test_old_batch_hook_names_are_aliases():
    seen = []

    class Old(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(batch)

    tiny_model().fit(np.ones((6, 3), np.float32), np.zeros((6, 2), np.float32), epochs=1, batch_size=2,
                     verbose=0, callbacks=[Old()])
    assert seen == [0, 1, 2]


def test_progbar_logger_prints_one_line_per_epoch():
    cb = callbacks.ProgbarLogger()
    cb.set_params({"verbose": 2, "epochs": 2, "steps": 3})
    out = io.StringIO()
    with redirect_stdout(out):
        for epoch in range(2):
            cb.on_epoch_begin(epoch)
            for b in range(3):
                cb.on_train_batch_end(b, {"loss": 0.5})
            cb.on_epoch_end(epoch, {"loss": 0.25, "val_loss": 0.125})
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Epoch 1/2") and lines[1].startswith("Epoch 2/2")
    assert "loss: 0.2500" in lines[0] and "val_loss: 0.1250" in lines[0] and "3/3" in lines[0]
    cb.set_params({"verbose": 0, "epochs": 1, "steps": 1})
    out = io.StringIO()
    with redirect_stdout(out):
        cb.on_epoch_begin(0)
        cb.on_epoch_end(0, {"loss": 1.0})
    assert out.getvalue() == ""


# -- BackupAndRestore ---------------------------------------------------------------------------------
_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import tinygrad_bn as tf
    from tinygrad_bn.keras import Dense, Sequential, callbacks

    backup, out, kill_at, epoch_log = sys.argv[1:5]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 4)).astype(np.float32)
    y = (x[:, :1] * 2 - x[:, 1:2]).astype(np.float32)
    tf.utils.set_seed(0)
    m = Sequential([Dense(8, activation="relu"), Dense(1)])
    m.build((None, 4))
    m.compile(optimizer=tf.optimizers.Adam(0.01), loss="mse")

    class Killer(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            with open(epoch_log, "a") as f:
                f.write(f"{epoch} ")
        def on_train_batch_end(self, batch, logs=None):
            if kill_at.startswith("batch") and self.epoch == int(kill_at[5:]) and batch == 2:
                os.kill(os.getpid(), signal.SIGKILL)        # mid-epoch: this epoch is lost

    if kill_at.startswith("save"):     # die half-way through writing the state after epoch N
        from tinygrad_bn.keras import saving
        real, n, count = saving.atomic_write, int(kill_at[4:]), [0]
        def dying(path, write):
            count[0] += 1
            if count[0] != n + 1:
                return real(path, write)
            def half(fh):
                import io
                buf = io.BytesIO()
                write(buf)
                fh.write(buf.getvalue()[:len(buf.getvalue()) // 2])
                fh.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return real(path, half)
        saving.atomic_write = dying

    m.fit(x, y, epochs=6, batch_size=8, verbose=0, callbacks=[callbacks.BackupAndRestore(backup), Killer()])
    np.savez(out, *m.get_weights())
""")


def _train(tmp_path, backup, out, kill_at, log):
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(script), str(backup), str(out), kill_at, str(log)],
                          capture_output=True, text=True, timeout=120, env=env)


def test_backup_and_restore_resumes_a_killed_fit(tmp_path):
    backup, log = tmp_path / "backup", tmp_path / "epochs.log"
    # the reference runs in its own process too: the test process's kernel choices (an earlier test may
    # have selected another ISA or thread count) must not make the numbers differ
    p = _train(tmp_path, tmp_path / "bk_ref", tmp_path / "ref.npz", "never", tmp_path / "ref.log")
    assert p.returncode == 0, p.stderr[-3000:]
    assert (tmp_path / "ref.log").read_text().split() == ["0", "1", "2", "3", "4", "5"]
    # 1. killed while writing the state after epoch 3: the state of epoch 2 (3 epochs done) stays valid
    p = _train(tmp_path, backup, tmp_path / "out.npz", "save3", log)
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    # 2. the re-run resumes at epoch 3, and is killed in the middle of epoch 4
    p = _train(tmp_path, backup, tmp_path / "out.npz", "batch4", log)
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    assert not (tmp_path / "out.npz").exists() and backup.is_dir()
    # 3. the third run resumes at epoch 4 and finishes
    p = _train(tmp_path, backup, tmp_path / "out.npz", "never", log)
    assert p.returncode == 0, p.stderr[-3000:]
    assert log.read_text().split() == ["0", "1", "2", "3", "3", "4", "4", "5"]
    with np.load(tmp_path / "out.npz") as b, np.load(tmp_path / "ref.npz") as r:
        assert len(r.files) == 4
        for k in r.files:                               # ... where the uninterrupted run ended
            np.testing.assert_allclose(b[k], r[k], rtol=1e-6, atol=1e-7)
    assert not backup.exists()                          # delete_checkpoint=True after a finished fit
