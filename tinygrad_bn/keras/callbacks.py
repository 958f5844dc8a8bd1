"""Keras-style callbacks: the tools for babysitting one model.

A callback sees the training loop through the Keras protocol:
``set_model(model)``, ``set_params(params)``, ``on_train_begin(logs)``,
``on_epoch_begin(epoch, logs)``, ``on_train_batch_begin(batch, logs)``,
``on_train_batch_end(batch, logs)``, ``on_epoch_end(epoch, logs)``,
``on_train_end(logs)`` (and ``on_test_*``/``on_predict_*``).  Epoch logs hold
``loss``, the metrics and ``val_*``; batch logs hold the running averages of
the epoch so far.  Setting ``model.stop_training = True`` ends ``fit`` after
the current epoch (after the current batch for ``TerminateOnNaN``).

Per-batch hooks cost nothing unless a callback overrides them.  ``on_batch_begin`` /
``on_batch_end`` are the old names of the train-batch hooks (Keras keeps them as aliases).

The callbacks follow Keras 3: ``EarlyStopping`` stops when ``wait >= patience`` (its
docstring example, patience 3, runs 4 epochs); a monitored name missing from the logs
gives a warning, not an error; ``LearningRateScheduler`` and ``ReduceLROnPlateau`` raise
TypeError when the optimizer's learning rate is a schedule (it is not settable);
``BackupAndRestore`` resumes a killed ``fit``.  Arguments are checked when a callback is
made (TypeError / ValueError naming the argument), where Keras sometimes only warns.
"""
import csv
import io
import math
import os
import warnings

import numpy as np

from ..tensor import Tensor
from ..utils import atomic_write

__all__ = ["Callback", "CallbackList", "History", "EarlyStopping", "ModelCheckpoint",
           "LearningRateScheduler", "ReduceLROnPlateau", "TerminateOnNaN", "CSVLogger", "LambdaCallback",
           "BackupAndRestore", "ProgbarLogger"]


class Callback:
    """Base class; override the hooks you need."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)         # Keras: the old name is an alias

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


def _overrides(cb, name):
    if name in getattr(cb, "__dict__", {}):
        return True
    return getattr(type(cb), name, None) is not getattr(Callback, name)


class CallbackList:
    """Dispatches each hook to a list of callbacks (skipping batch hooks nobody overrides)."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks or [])
        for i, cb in enumerate(self.callbacks):
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks[{i}] must be a tinygrad_bn.keras.callbacks.Callback instance, got "
                                f"{type(cb).__name__}" + (" (a class: did you forget the parentheses?)"
                                                          if isinstance(cb, type) else ""))
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self.batch_begin = [cb for cb in self.callbacks
                            if _overrides(cb, "on_train_batch_begin") or _overrides(cb, "on_batch_begin")]
        self.batch_end = [cb for cb in self.callbacks
                          if _overrides(cb, "on_train_batch_end") or _overrides(cb, "on_batch_end")]

    def __getattr__(self, name):
        if not name.startswith("on_"):
            raise AttributeError(name)

        def call(*args):
            for cb in self.callbacks:
                getattr(cb, name)(*args)
        return call


class History(Callback):
    """Records the epoch logs: ``history.history['loss'][i]`` is epoch i's loss."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"


# -- monitoring a logged quantity -------------------------------------------------------------------
_UP_WORDS = ("acc", "auc", "precision", "recall", "f1", "fmeasure", "top_k", "iou")
_DOWN_WORDS = ("loss", "error", "mse", "mae", "mape", "msle", "crossentropy", "hinge", "divergence", "poisson",
               "cosine_similarity_loss", "logcosh")


def _check_mode(mode, name):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{name}: mode must be 'auto', 'min' or 'max', got mode={mode!r}")
    return mode


def _check_monitor(monitor, name):
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"{name}: monitor must be the name of a logged quantity (a non-empty str, e.g. "
                        f"'val_loss'), got {type(monitor).__name__} {monitor!r}")
    return monitor


def _real_arg(value, name, arg, minimum=None, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: {arg} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name}: {arg} must not be NaN")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: {arg} must be >= {minimum}, got {arg}={value!r}")
    return value


def _int_arg(value, name, arg, minimum=0):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: {arg} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: {arg} must be >= {minimum}, got {arg}={value}")
    return value


def _direction(monitor, model):
    """Keras 3's 'auto' mode: 'min' for losses, the metric's own direction for metrics
    (``_direction`` when the metric object has one, else by its name); None if unknown."""
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss":
        return "min"
    for m in list(getattr(model, "_metrics", None) or []) + list(getattr(model, "metrics", None) or []):
        if getattr(m, "name", None) == name and getattr(m, "_direction", None) in ("up", "down"):
            return "max" if m._direction == "up" else "min"
    low = name.lower()
    if any(w in low for w in _UP_WORDS):
        return "max"
    if any(w in low for w in _DOWN_WORDS):
        return "min"
    return None


def _logged_value(logs, monitor):
    v = (logs or {}).get(monitor)
    if v is None:
        return None
    if isinstance(v, Tensor):
        v = v.data
    return float(v)


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving (Keras 3 semantics).

    Each epoch from ``start_from_epoch`` on, ``wait`` counts the epochs since the last
    improvement (an improvement is a change by more than ``min_delta`` in the direction of
    ``mode``); training stops when ``wait >= patience``.  So with ``patience=3`` and a loss
    that improves only in the first epoch, 4 epochs run.  With ``baseline``, ``wait`` is
    reset only by a value that also beats the baseline.  ``restore_best_weights=True``
    puts back the weights of the best epoch when training ends (also when it ran to the
    last epoch).  ``mode='auto'`` minimises losses and maximises accuracy-like metrics, and
    raises ValueError (as Keras) for a name whose direction it cannot tell.  A ``monitor``
    that is not in the logs gives a warning and the epoch is ignored (Keras).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        name = "EarlyStopping"
        self.monitor = _check_monitor(monitor, name)
        self.min_delta = abs(_real_arg(min_delta, name, "min_delta"))
        self.patience = _int_arg(patience, name, "patience")
        self.verbose = verbose
        self.mode = _check_mode(mode, name)
        self.baseline = _real_arg(baseline, name, "baseline", allow_none=True)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = _int_arg(start_from_epoch, name, "start_from_epoch")
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None
        self._op = None

    def _set_monitor_op(self):
        mode = self.mode if self.mode != "auto" else _direction(self.monitor, self.model)
        if mode is None:
            raise ValueError(f"EarlyStopping callback received monitor={self.monitor} but it cannot tell "
                             "automatically whether that metric should be maximized or minimized. Pass "
                             "mode='max' to stop on the highest value, or mode='min' for the lowest.")
        self._op = mode

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        if self._op == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self._op is None:
            self._set_monitor_op()
        current = _logged_value(logs, self.monitor)
        if current is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(list(logs or {}))}", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()     # the current weights are the best so far
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (``model.save``) or its weights (``save_weights_only=True``) atomically,
    every epoch (``save_freq='epoch'``) or every ``save_freq`` batches.

    ``filepath`` may contain ``str.format`` fields from the epoch number (counted from 1),
    the batch number and the logs: ``'ckpt-{epoch:02d}-{val_loss:.3f}.npz'``.  With
    ``save_best_only=True`` a save happens only when ``monitor`` beats the best value so far
    (``initial_value_threshold``, if given, is the value to beat first); ``mode='auto'``
    maximises names containing 'acc' and minimises the rest (Keras).  A ``monitor`` that is
    not in the logs gives a warning and no save.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        name = "ModelCheckpoint"
        try:
            self.filepath = os.fspath(filepath)
        except TypeError:
            raise TypeError(f"{name}: filepath must be a str or os.PathLike, got {type(filepath).__name__}") from None
        if not self.filepath:
            raise ValueError(f"{name}: filepath must not be empty")
        self.monitor = _check_monitor(monitor, name)
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        mode = _check_mode(mode, name)
        if mode == "auto":
            mode = "max" if ("acc" in self.monitor or self.monitor.startswith("fmeasure")) else "min"
        self.mode = mode
        if save_freq != "epoch":
            if isinstance(save_freq, str):
                raise ValueError(f"{name}: save_freq must be 'epoch' or a positive integer number of batches, "
                                 f"got {save_freq!r}")
            save_freq = _int_arg(save_freq, name, "save_freq", minimum=1)
        self.save_freq = save_freq
        thr = _real_arg(initial_value_threshold, name, "initial_value_threshold", allow_none=True)
        self.best = thr if thr is not None else (math.inf if mode == "min" else -math.inf)
        self._batches_since_save = 0
        self._current_epoch = 0

    def _better(self, current):
        return current < self.best if self.mode == "min" else current > self.best

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch, batch, logs):
        logs = dict(logs or {})
        try:
            path = self.filepath.format(epoch=epoch + 1, batch=batch, **logs)
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} uses the field {e.args[0]!r}, which is "
                           f"not in the logs (available: {sorted(logs)}, plus 'epoch' and 'batch')") from None
        if self.save_best_only:
            current = _logged_value(logs, self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available, skipping.", stacklevel=2)
                return
            if not self._better(current):
                if self.verbose > 0:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


# -- learning rate ------------------------------------------------------------------------------------
def _optimizer(model, name):
    opt = getattr(model, "optimizer", None)
    if opt is None or not hasattr(opt, "learning_rate"):
        raise ValueError(f"{name}: the model's optimizer must have a learning_rate (compile the model first)")
    return opt


def _require_settable_lr(model, name):
    opt = _optimizer(model, name)
    lr = opt.learning_rate
    if callable(lr):
        raise TypeError(f"{name}: the optimizer was created with a learning-rate schedule or callable "
                        f"({type(lr).__name__}) as its learning_rate, hence its learning rate is not settable; "
                        f"{name} would replace the schedule by a number. Create the optimizer with a float "
                        "learning_rate to use this callback.")
    return opt


def _current_lr(model):
    opt = model.optimizer
    cur = getattr(opt, "current_learning_rate", None)
    return float(cur()) if cur is not None else float(opt.learning_rate)


def _schedule_arity(fn):
    import inspect
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        sig.bind(0, 0.0)
        return 2
    except TypeError:
        pass
    try:
        sig.bind(0)
        return 1
    except TypeError:
        return None


class LearningRateScheduler(Callback):
    """At the start of each epoch, set the learning rate to ``schedule(epoch, lr)`` (``lr`` is
    the current rate, ``epoch`` counts from 0), or ``schedule(epoch)`` for a one-argument
    function, as Keras.  The schedule must return a float (Keras raises ValueError for
    anything else).  The rate used is logged as ``learning_rate``.  An optimizer whose
    learning rate is itself a schedule or callable raises TypeError (Keras does too: it is
    not settable)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be a function schedule(epoch, lr) -> float, "
                            f"got {type(schedule).__name__} {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose
        self._arity = _schedule_arity(schedule)

    def on_train_begin(self, logs=None):
        _require_settable_lr(self.model, "LearningRateScheduler")

    def on_epoch_begin(self, epoch, logs=None):
        opt = _require_settable_lr(self.model, "LearningRateScheduler")
        lr = _current_lr(self.model)
        if self._arity == 2:
            new = self.schedule(epoch, lr)
        elif self._arity == 1:
            new = self.schedule(epoch)
        else:
            try:
                new = self.schedule(epoch, lr)
            except TypeError:            # Keras's fallback to the old one-argument API
                new = self.schedule(epoch)
        if isinstance(new, Tensor):
            new = new.data
        if isinstance(new, np.ndarray) and new.ndim == 0:
            new = new[()]
        if not isinstance(new, (float, np.floating)):
            raise ValueError(f"LearningRateScheduler: the output of the schedule function should be a float, got "
                             f"{type(new).__name__} {new!r} for epoch {epoch}")
        new = float(new)
        if not (math.isfinite(new) and new >= 0):
            raise ValueError(f"LearningRateScheduler: the schedule returned {new!r} for epoch {epoch}; a learning "
                             "rate must be a finite number >= 0")
        opt.learning_rate = new
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _current_lr(self.model)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` once ``monitor`` has not improved (by more
    than ``min_delta``) for ``patience`` epochs; then wait ``cooldown`` epochs before
    counting again; never go below ``min_lr`` (Keras semantics).  ``learning_rate`` is
    logged each epoch with the rate that epoch trained with (before any reduction, as
    Keras).  ``mode='auto'`` maximises names containing 'acc' and minimises the rest.  An
    optimizer whose learning rate is a schedule or callable raises TypeError when training
    starts (Keras raises when it first tries to reduce: the rate is not settable)."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        name = "ReduceLROnPlateau"
        if kwargs:
            raise TypeError(f"{name}: unexpected keyword argument(s) {sorted(kwargs)}")
        self.monitor = _check_monitor(monitor, name)
        factor = _real_arg(factor, name, "factor")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        if factor < 0:
            raise ValueError(f"{name}: factor must be in [0, 1), got factor={factor}")
        self.factor = factor
        self.patience = _int_arg(patience, name, "patience")
        self.verbose = verbose
        self.mode = _check_mode(mode, name)
        self.min_delta = _real_arg(min_delta, name, "min_delta")
        self.cooldown = _int_arg(cooldown, name, "cooldown")
        self.min_lr = _real_arg(min_lr, name, "min_lr", minimum=0.0)
        self._reset()

    def _reset(self):
        self._max = self.mode == "max" or (self.mode == "auto" and "acc" in self.monitor)
        self.best = -math.inf if self._max else math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def _improved(self, current):
        if self._max:
            return current > self.best + self.min_delta
        return current < self.best - self.min_delta

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        _require_settable_lr(self.model, "ReduceLROnPlateau")
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _current_lr(self.model)
        current = _logged_value(logs, self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(list(logs))}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old = _current_lr(self.model)
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    _require_settable_lr(self.model, "ReduceLROnPlateau").learning_rate = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or infinite (the loss of that batch
    when the batch logs carry ``batch_loss``, else the running ``loss``)."""

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        loss = logs.get("batch_loss", logs.get("loss"))
        if loss is None:
            return
        loss = float(loss.data if isinstance(loss, Tensor) else loss)
        if not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


# -- resuming ------------------------------------------------------------------------------------------
class BackupAndRestore(Callback):
    """Resume a ``fit`` that was interrupted (killed, preempted) where it stopped (Keras 3).

    At the end of every epoch (``save_freq='epoch'``) or every ``save_freq`` batches, the
    whole training state -- weights and moving statistics, optimizer slots and step count,
    learning rate, random-generator states, and the number of finished epochs -- is written
    atomically to ``backup_dir`` (``tinygrad_bn.keras.saving.save_training_state``; a kill
    mid-write leaves the previous state intact).  When ``fit`` starts with this callback and
    ``backup_dir`` holds a state, the state is loaded and training continues at the first
    unfinished epoch (so the re-run gives the same weights as an uninterrupted run).  When
    training ends normally the state is deleted (``delete_checkpoint=True``).  A mid-epoch
    state (integer ``save_freq``) resumes at the start of that epoch with the weights of the
    save.  ``double_checkpoint`` is accepted for Keras compatibility; it is not needed since
    every write is atomic.

    The epoch to resume at is handed to ``fit`` as ``model._initial_epoch`` (Keras 3's
    attribute), read after ``on_train_begin``.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        name = "BackupAndRestore"
        if backup_dir is None or (isinstance(backup_dir, str) and not backup_dir):
            raise ValueError(f"{name}: empty backup_dir argument passed")
        try:
            self.backup_dir = os.fspath(backup_dir)
        except TypeError:
            raise TypeError(f"{name}: backup_dir must be a str or os.PathLike, got "
                            f"{type(backup_dir).__name__}") from None
        if save_freq != "epoch":
            if isinstance(save_freq, str) or isinstance(save_freq, (bool, np.bool_)) or \
                    not isinstance(save_freq, (int, np.integer)):
                raise ValueError(f"{name}: invalid value for argument save_freq. Received: save_freq={save_freq!r}. "
                                 "Expected either 'epoch' or an integer value.")
            save_freq = _int_arg(save_freq, name, "save_freq", minimum=1)
        self.save_freq = save_freq
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._current_epoch = 0
        self._batches_since_save = 0
        self.restored_epoch = None

    def on_train_begin(self, logs=None):
        from .saving import load_training_state
        self._current_epoch = 0
        self._batches_since_save = 0
        epoch = load_training_state(self.model, self.backup_dir)
        self.restored_epoch = epoch
        if epoch is not None:
            self._current_epoch = int(epoch)
            self.model._initial_epoch = int(epoch)

    def _save(self):
        from .saving import save_training_state
        save_training_state(self.model, self.backup_dir, self._current_epoch)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch
        self._batches_since_save = 0

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        if self.save_freq == "epoch":
            self._save()

    def on_train_end(self, logs=None):
        if getattr(self.model, "_initial_epoch", None) is not None:
            self.model._initial_epoch = None
        if self.delete_checkpoint:
            from .saving import remove_training_state
            remove_training_state(self.backup_dir)


class CSVLogger(Callback):
    """Write the epoch logs to a CSV file (one row per epoch, header first).

    The whole file is rewritten atomically at each epoch end, so a crash never
    leaves a half-written row.  ``append=True`` keeps the rows of an existing
    file (for resumed runs).
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        try:
            self.filename = os.fspath(filename)
        except TypeError:
            raise TypeError(f"CSVLogger: filename must be a str or os.PathLike, got "
                            f"{type(filename).__name__}") from None
        if not self.filename:
            raise ValueError("CSVLogger: filename must not be empty")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: separator must be a one-character string, got {separator!r}")
        self.sep = separator
        self.append = append

    def on_train_begin(self, logs=None):
        self.rows = []
        self.keys = None
        if self.append and os.path.exists(self.filename):
            with open(self.filename, newline="") as fh:
                reader = csv.reader(fh, delimiter=self.sep)
                lines = list(reader)
            if lines:
                self.keys = lines[0][1:]
                self.rows = lines[1:]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        row = [str(epoch)]
        for k in self.keys:
            v = logs.get(k, "NA")
            row.append(repr(float(v)) if isinstance(v, (float, int, np.floating, np.integer)) else str(v))
        self.rows.append(row)
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=self.sep, lineterminator="\n")
        writer.writerow(["epoch"] + list(self.keys))
        writer.writerows(self.rows)
        data = buf.getvalue().encode()
        atomic_write(self.filename, lambda fh: fh.write(data))


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks):
        super().__init__()
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise TypeError(f"LambdaCallback: unknown hook {name!r}")
            if not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be callable, got {type(fn).__name__}")
            setattr(self, name, fn)
        self._hooks = set(hooks)



class ProgbarLogger(Callback):
    """Print a progress bar per epoch (what ``fit(verbose=1)`` shows; ``verbose=2``: one line
    per epoch), from the ``verbose``, ``epochs`` and ``steps`` that ``fit`` passes in
    ``params``.  Epoch lines end with the epoch's logs (``val_*`` included)."""

    def __init__(self, count_mode=None, stateful_metrics=None):
        super().__init__()
        self._bar = None
        self._logs = {}

    def on_epoch_begin(self, epoch, logs=None):
        from .progress import EpochProgress
        p = self.params or {}
        verbose = p.get("verbose", 1)
        verbose = 1 if verbose == "auto" else int(verbose or 0)
        self._bar = EpochProgress(epoch, p.get("epochs") or epoch + 1, p.get("steps") or 0, verbose)
        self._logs = {}

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None and self._bar.bar is not None:
            self._logs = dict(logs or {})
            self._bar.update(batch + 1, lambda: {k: v for k, v in self._logs.items() if k != "batch_loss"})

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.close({k: v for k, v in (logs or {}).items() if k != "batch_loss"})
            self._bar = None
