"""Objectives: cheap synthetic ones (tests, benchmarks, docs) and the digits demo.

They live in a module (not in a test or a script) so that they pickle by reference and
run unchanged in a process pool or on a Dask worker.
"""
import math
import time

import numpy as np

from .space import Choice, IntUniform, LogUniform, OneMinusLogUniform

__all__ = ["log_bowl", "log_bowl_space", "fake_training", "cpu_burn", "failing_sometimes",
           "digits_space", "digits_objective", "DigitsObjective"]

#: the minimum of :func:`log_bowl`
BOWL_LR, BOWL_BETA, BOWL_UNITS = 3e-3, 0.98, 64


def log_bowl_space():
    return {"lr": LogUniform(1e-5, 1.0), "beta": OneMinusLogUniform(0.8, 0.9999),
            "units": IntUniform(4, 1024, log=True)}


def log_bowl(trial):
    """A bowl in log coordinates, minimum 0 at lr=3e-3, beta=0.98, units=64."""
    p = trial.params
    return ((math.log10(p["lr"]) - math.log10(BOWL_LR)) ** 2
            + (math.log10(1 - p["beta"]) - math.log10(1 - BOWL_BETA)) ** 2
            + 0.25 * (math.log10(p["units"]) - math.log10(BOWL_UNITS)) ** 2)


def fake_training(trial, epochs=None, sleep=0.0):
    """A fake epoch loop: loss decays towards the bowl's value; reports every epoch and
    obeys the pruner.  ``trial.params['epochs']`` (if present) sets the epoch count."""
    from .trial import TrialPruned
    final = log_bowl(trial)
    epochs = epochs or trial.params.get("epochs", 9)
    loss = final
    for e in range(1, epochs + 1):
        loss = final + 2.0 / e
        if sleep:
            time.sleep(sleep)
        trial.report(loss, e)
        if trial.should_prune():
            raise TrialPruned()
    return loss


def cpu_burn(trial, n=None):
    """CPU-bound work (pure NumPy, small matrices) whose result depends on the params."""
    n = n or int(trial.params.get("work", 60))
    rng = np.random.default_rng(trial.index)
    a = rng.standard_normal((64, 64))
    acc = 0.0
    for _ in range(n):
        a = np.tanh(a @ a.T * 0.01 + 0.1)
        acc += float(a[0, 0])
    return acc + log_bowl(trial)


def failing_sometimes(trial):
    """Raises for large learning rates, returns NaN for tiny ones: failures are data."""
    lr = trial.params["lr"]
    if lr > 0.1:
        raise RuntimeError(f"diverged at lr={lr:.3g}")
    if lr < 1e-4:
        return float("nan")
    return log_bowl(trial)


# -- the digits demo --------------------------------------------------------------------

def digits_space():
    """Learning rate, Adam's beta_1, hidden units, batch size, batch norm on/off."""
    return {
        "learning_rate": LogUniform(1e-4, 1e-1),
        "beta_1": OneMinusLogUniform(0.8, 0.999),
        "hidden_units": IntUniform(16, 256, log=True),
        "batch_size": Choice([16, 32, 64, 128]),
        "batch_norm": Choice([True, False]),
    }


_DATA = {}


def _digits_data(validation_fraction=0.2, seed=0):
    """Train/validation split of the digits training set (the test set stays unseen
    by tuning).  Cached per process: workers load it once."""
    key = (validation_fraction, seed)
    if key not in _DATA:
        from ..datasets import load_digits
        (x, y), _ = load_digits()
        perm = np.random.default_rng(seed).permutation(len(x))
        n_val = int(round(validation_fraction * len(x)))
        val, tr = perm[:n_val], perm[n_val:]
        _DATA[key] = (x[tr], y[tr], x[val], y[val])
    return _DATA[key]


def build_digits_model(params, n_features=64, n_classes=10):
    from ..keras import Activation, BatchNormalization, Dense, Sequential
    units = int(params["hidden_units"])
    if params.get("batch_norm"):
        layers = [Dense(units, use_bias=False), BatchNormalization(), Activation("relu"),
                  Dense(units, use_bias=False), BatchNormalization(), Activation("relu")]
    else:
        layers = [Dense(units, activation="relu"), Dense(units, activation="relu")]
    return Sequential(layers + [Dense(n_classes)])


def make_report_callback(trial, monitor="val_loss"):
    """A training-loop callback that reports ``logs[monitor]`` to the trial after every
    epoch and stops training (``model.stop_training``) when the pruner says so."""
    from ..callbacks import Callback

    class _Report(Callback):
        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(monitor)
            if value is None:
                return
            trial.report(float(value), epoch + 1)
            if not math.isfinite(float(value)) or trial.should_prune():
                if math.isfinite(float(value)):
                    trial.prune()
                self.model.stop_training = True

    return _Report()


class DigitsObjective:
    """Train the demo network on digits with the trial's parameters; the value is the
    final validation loss (minimise).  Validation accuracy is kept as a user attribute."""

    def __init__(self, epochs=10, seed=0):
        self.epochs, self.seed = int(epochs), int(seed)

    def __call__(self, trial):
        from ..losses import SparseCategoricalCrossentropy
        from ..optimizers import Adam
        from ..utils import set_seed
        set_seed(self.seed + trial.index)
        x, y, xv, yv = _digits_data()
        p = trial.params
        model = build_digits_model(p, x.shape[1])
        model.compile(optimizer=Adam(learning_rate=p["learning_rate"], beta_1=p["beta_1"]),
                      loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        hist = model.fit(x, y, batch_size=int(p["batch_size"]), epochs=self.epochs,
                         validation_data=(xv, yv), verbose=0,
                         callbacks=[make_report_callback(trial, "val_loss")])
        h = hist.history
        if h.get("val_accuracy"):
            trial.set_user_attr("val_acc", float(h["val_accuracy"][-1]))
        if not h.get("val_loss"):
            raise RuntimeError("training produced no validation loss")
        return float(h["val_loss"][-1])

    def __repr__(self):
        return f"DigitsObjective(epochs={self.epochs}, seed={self.seed})"


def digits_objective(trial):
    """:class:`DigitsObjective` with the defaults (10 epochs)."""
    return DigitsObjective()(trial)


def report_thread_limits(trial):
    """Records the worker's BLAS/OpenMP thread settings as user attributes (tests)."""
    import os
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        trial.set_user_attr(var, os.environ.get(var))
    try:
        import threadpoolctl
        blas = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
        trial.set_user_attr("blas_threads", max(blas) if blas else None)
    except ImportError:
        trial.set_user_attr("blas_threads", None)
    return trial.params["x"]
