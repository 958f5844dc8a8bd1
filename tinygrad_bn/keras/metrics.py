"""Streaming metrics, computed on NumPy arrays outside any tape.

A metric accumulates over batches: ``update_state(y_true, y_pred)``,
``result()``, ``reset_state()``.  ``compile(metrics=['accuracy'])`` resolves
``'accuracy'``/``'acc'`` from the loss, as Keras does: integer labels give
``sparse_categorical_accuracy``, one-hot targets ``categorical_accuracy``, a
binary loss ``binary_accuracy``; the history key is the name you gave.
"""
import numpy as np

from ..tensor import Tensor

__all__ = ["Metric", "Mean", "SparseCategoricalAccuracy", "CategoricalAccuracy", "BinaryAccuracy",
           "MeanSquaredError", "MeanAbsoluteError", "get", "resolve"]


def _arr(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


class Metric:
    """Base class: a weighted running mean of per-example values."""

    def __init__(self, name=None):
        self.name = name or type(self).__name__.lower()
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, y_true, y_pred):
        values = self.values(_arr(y_true), _arr(y_pred))
        self.total += float(np.sum(values))
        self.count += values.size

    def values(self, y_true, y_pred):
        raise NotImplementedError

    def result(self):
        return self.total / self.count if self.count else 0.0

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r} result={self.result():.4f}>"


class Mean(Metric):
    """Weighted mean of the values given to ``update_state(value, weight=1)`` (the running loss)."""

    def __init__(self, name="mean"):
        super().__init__(name)

    def update_state(self, value, weight=1.0):
        self.total += float(value) * weight
        self.count += weight


class SparseCategoricalAccuracy(Metric):
    """Fraction of examples whose arg-max prediction equals the integer label."""

    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(name)

    def values(self, y_true, y_pred):
        if y_true.ndim == y_pred.ndim:
            y_true = y_true.reshape(y_true.shape[:-1])
        return np.argmax(y_pred, axis=-1) == y_true


class CategoricalAccuracy(Metric):
    """Fraction of examples whose arg-max prediction equals the arg-max target."""

    def __init__(self, name="categorical_accuracy"):
        super().__init__(name)

    def values(self, y_true, y_pred):
        return np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)


class BinaryAccuracy(Metric):
    """Fraction of predictions on the right side of ``threshold`` (0.5; 0.0 for logits)."""

    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(name)
        self.threshold = float(threshold)

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}

    def values(self, y_true, y_pred):
        if y_true.shape != y_pred.shape and y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]
        return (y_pred > self.threshold) == (y_true > 0.5)


class MeanSquaredError(Metric):
    def __init__(self, name="mean_squared_error"):
        super().__init__(name)

    def values(self, y_true, y_pred):
        if y_true.shape != y_pred.shape and y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]
        return np.square(y_pred - y_true)


class MeanAbsoluteError(Metric):
    def __init__(self, name="mean_absolute_error"):
        super().__init__(name)

    def values(self, y_true, y_pred):
        if y_true.shape != y_pred.shape and y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]
        return np.abs(y_pred - y_true)


_BY_NAME = {"sparse_categorical_accuracy": SparseCategoricalAccuracy,
            "categorical_accuracy": CategoricalAccuracy,
            "binary_accuracy": BinaryAccuracy,
            "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
            "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError}


_CLASSES = {c.__name__: c for c in (Mean, SparseCategoricalAccuracy, CategoricalAccuracy, BinaryAccuracy,
                                    MeanSquaredError, MeanAbsoluteError)}


def serialize(metric):
    if isinstance(metric, str):
        return metric
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def get(identifier):
    """A metric instance from a name or an instance (``'accuracy'`` needs the loss: see :func:`resolve`)."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"unknown metric class {identifier.get('class_name')!r}")
        return cls(**identifier.get("config", {}))
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown metric {identifier!r}; known: {sorted(_BY_NAME) + ['accuracy', 'acc']}")
        return cls(name=identifier)
    raise TypeError(f"cannot interpret {identifier!r} as a metric")


def resolve(identifier, loss):
    """Like :func:`get`, but ``'accuracy'``/``'acc'`` picks the accuracy that fits ``loss``."""
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        from . import losses
        if isinstance(loss, losses.SparseCategoricalCrossentropy):
            return SparseCategoricalAccuracy(name=identifier)
        if isinstance(loss, losses.BinaryCrossentropy):
            return BinaryAccuracy(name=identifier, threshold=0.0 if loss.from_logits else 0.5)
        return CategoricalAccuracy(name=identifier)
    if isinstance(identifier, str) and identifier.lower() == "binary_accuracy":
        from . import losses
        if isinstance(loss, losses.BinaryCrossentropy) and loss.from_logits:
            return BinaryAccuracy(name=identifier, threshold=0.0)
    return get(identifier)
