"""Streaming metrics, computed on NumPy arrays outside any tape (as ``tf.keras.metrics``).

A metric accumulates over batches: ``update_state(y_true, y_pred, sample_weight=None)``,
``result()``, ``reset_state()``.  ``compile(metrics=['accuracy'])`` resolves
``'accuracy'``/``'acc'`` from the loss, as Keras does: integer labels give
``sparse_categorical_accuracy``, one-hot targets ``categorical_accuracy``, a
binary loss ``binary_accuracy``; the history key is the name you gave.

Mean metrics (accuracies, top-k, MSE/MAE) are weighted means of per-sample
values: ``sum(w * v) / sum(w)``.  ``Precision``, ``Recall`` and ``AUC`` keep
(weighted) confusion-matrix counts at their thresholds, as Keras: a prediction
counts as positive when it is strictly above the threshold.  ``AUC`` uses
Keras's ``num_thresholds=200`` evenly spaced thresholds in [0, 1] (the first
just below 0, the last just above 1), the ROC area by the trapezoidal rule and
the PR area by Davis & Goadrich's interpolation (``summation_method='interpolation'``).
"""
import math

import numpy as np

from ..tensor import Tensor
from .base_layer import _snake

__all__ = ["Metric", "Mean", "Sum", "MeanMetricWrapper", "SparseCategoricalAccuracy", "CategoricalAccuracy",
           "BinaryAccuracy", "Accuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
           "MeanSquaredError", "MeanAbsoluteError", "Precision", "Recall", "AUC", "BinaryCrossentropy",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence", "Poisson", "Hinge",
           "SquaredHinge", "CategoricalHinge", "LogCoshError", "MeanAbsolutePercentageError",
           "MeanSquaredLogarithmicError", "CosineSimilarity", "RootMeanSquaredError", "get", "resolve",
           "serialize", "deserialize"]

_EPS = 1e-7


def _arr(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _numeric(who, arg, x):
    a = np.asarray(_arr(x))
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{who}: {arg} must be numeric, got dtype {a.dtype}")
    return a


def _sample_weight(who, sample_weight, values):
    """Weights broadcast to ``values`` (Keras: a trailing size-1 axis is squeezed or added)."""
    w = _numeric(who, "sample_weight", sample_weight).astype(np.float64)
    if w.ndim == values.ndim + 1 and w.shape[-1] == 1:
        w = w[..., 0]
    elif w.ndim == values.ndim - 1 and w.ndim > 0:
        w = w[..., None]
    try:
        return np.broadcast_to(w, values.shape)
    except ValueError:
        raise ValueError(f"{who}: sample_weight of shape {np.shape(_arr(sample_weight))} does not match "
                         f"the {values.shape} values it weights") from None


class Result(float):
    """A metric's result: a Python float (history, formatting, comparisons) that also has TF's
    ``.numpy()`` (a float32 scalar, as Keras's metrics are float32)."""

    __slots__ = ()

    def numpy(self):
        return np.float32(self)


def _int_arg(who, arg, value, lo=1):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{who}: {arg} must be an integer >= {lo}, got {value!r}")
    if int(value) < lo:
        raise ValueError(f"{who}: {arg} must be an integer >= {lo}, got {value!r}")
    return int(value)


class Metric:
    """Base class: a weighted running mean of per-example values."""

    def __init__(self, name=None, dtype=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, got {name!r}")
        self.name = name or _snake(type(self).__name__)
        self.dtype = "float32" if dtype is None else np.dtype(dtype).name
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    reset_states = reset_state

    def update_state(self, y_true, y_pred, sample_weight=None):
        who = type(self).__name__
        values = np.asarray(self.values(_numeric(who, "y_true", y_true), _numeric(who, "y_pred", y_pred)),
                            dtype=np.float64)
        if sample_weight is None:
            self.total += float(np.sum(values))
            self.count += values.size
        else:
            w = _sample_weight(who, sample_weight, values)
            self.total += float(np.sum(values * w))
            self.count += float(np.sum(w))

    def values(self, y_true, y_pred):
        raise NotImplementedError

    def result(self):
        return Result(self.total / self.count if self.count else 0.0)

    def __call__(self, y_true, y_pred, sample_weight=None):
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r} result={self.result():.4f}>"


class Mean(Metric):
    """Weighted mean of the values given to ``update_state(values, sample_weight=None)``
    (the running loss)."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, values, sample_weight=None, weight=None):
        if weight is not None:        # the old spelling
            sample_weight = weight
        v = _numeric("Mean", "values", values).astype(np.float64)
        if sample_weight is None:
            self.total += float(np.sum(v))
            self.count += v.size
        else:
            w = _sample_weight("Mean", sample_weight, v)
            self.total += float(np.sum(v * w))
            self.count += float(np.sum(w))

    def __call__(self, values, sample_weight=None):
        """``train_loss(loss)`` as in TF's tutorials: update, then return the result."""
        self.update_state(values, sample_weight)
        return self.result()


class Sum(Metric):
    """Weighted sum of the values."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, values, sample_weight=None):
        v = _numeric("Sum", "values", values).astype(np.float64)
        if sample_weight is not None:
            v = v * _sample_weight("Sum", sample_weight, v)
        self.total += float(np.sum(v))

    def __call__(self, values, sample_weight=None):
        self.update_state(values, sample_weight)
        return self.result()

    def result(self):
        return Result(self.total)


class MeanMetricWrapper(Metric):
    """The weighted mean of ``fn(y_true, y_pred)`` (one value per sample)."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self._fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name or getattr(fn, "__name__", "mean_metric"), dtype)

    def values(self, y_true, y_pred):
        return _arr(self._fn(y_true, y_pred, **self._fn_kwargs))


def _labels_like(y_true, y_pred):
    """Integer labels of shape y_pred.shape[:-1] ((N,) or (N, 1) given)."""
    if y_true.ndim == y_pred.ndim and y_true.shape[-1:] == (1,):
        y_true = y_true.reshape(y_true.shape[:-1])
    return y_true


class SparseCategoricalAccuracy(Metric):
    """Fraction of examples whose arg-max prediction equals the integer label."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        y_true = _labels_like(y_true, y_pred)
        if y_true.shape != y_pred.shape[:-1]:
            raise ValueError(f"SparseCategoricalAccuracy: y_true has shape {y_true.shape} but y_pred has "
                             f"shape {y_pred.shape}; integer labels need shape {y_pred.shape[:-1]}")
        return np.argmax(y_pred, axis=-1) == y_true


class CategoricalAccuracy(Metric):
    """Fraction of examples whose arg-max prediction equals the arg-max target."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        if y_true.shape != y_pred.shape:
            raise ValueError(f"CategoricalAccuracy: y_true has shape {y_true.shape} but y_pred has shape "
                             f"{y_pred.shape}; one-hot targets must match the predictions")
        return np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)


class Accuracy(Metric):
    """Fraction of predictions exactly equal to the targets."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        return y_true == y_pred


class BinaryAccuracy(Metric):
    """Fraction of predictions on the right side of ``threshold`` (0.5; 0.0 for logits)."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if isinstance(threshold, (bool, np.bool_)) or not isinstance(
                threshold, (int, float, np.integer, np.floating)) or not math.isfinite(threshold):
            raise TypeError(f"BinaryAccuracy: threshold must be a finite number, got {threshold!r}")
        self.threshold = float(threshold)
        super().__init__(name, dtype)

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}

    def values(self, y_true, y_pred):
        if y_true.shape != y_pred.shape and y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]
        v = (y_pred > self.threshold) == (y_true > 0.5)
        return v.mean(axis=-1) if v.ndim > 1 else v


class TopKCategoricalAccuracy(Metric):
    """Fraction of examples whose target class (the arg-max of the one-hot target) is among
    the ``k`` largest predictions (``k=5``)."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        self.k = _int_arg(type(self).__name__, "k", k)
        super().__init__(name, dtype)

    def get_config(self):
        return {"name": self.name, "k": self.k}

    def _in_top_k(self, y_pred, labels):
        who = type(self).__name__
        if y_pred.ndim < 1:
            raise ValueError(f"{who}: y_pred must have a class axis, got a scalar")
        c = y_pred.shape[-1]
        if labels.size and (labels.min() < 0 or labels.max() >= c):
            raise ValueError(f"{who}: label {int(labels.max() if labels.max() >= c else labels.min())} is "
                             f"out of range [0, {c})")
        target = np.take_along_axis(y_pred, labels[..., None].astype(np.int64), axis=-1)
        # in the top k: fewer than k predictions are strictly larger (ties favour the target, as TF's in_top_k)
        larger = (y_pred > target).sum(axis=-1)
        # as TF's in_top_k: a row holding a non-finite prediction is never a hit
        return (larger < self.k) & np.isfinite(y_pred).all(axis=-1)

    def values(self, y_true, y_pred):
        if y_true.shape != y_pred.shape:
            raise ValueError(f"TopKCategoricalAccuracy: y_true has shape {y_true.shape} but y_pred has shape "
                             f"{y_pred.shape}; one-hot targets must match the predictions")
        return self._in_top_k(y_pred, np.argmax(y_true, axis=-1))


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """Fraction of examples whose integer label is among the ``k`` largest predictions (``k=5``)."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(k, name, dtype)

    def values(self, y_true, y_pred):
        y_true = _labels_like(y_true, y_pred)
        if y_true.shape != y_pred.shape[:-1]:
            raise ValueError(f"SparseTopKCategoricalAccuracy: y_true has shape {y_true.shape} but y_pred has "
                             f"shape {y_pred.shape}; integer labels need shape {y_pred.shape[:-1]}")
        if y_true.dtype.kind == "f" and np.any(y_true != np.round(y_true)):
            raise ValueError("SparseTopKCategoricalAccuracy: y_true must hold integer class labels")
        return self._in_top_k(y_pred, y_true.astype(np.int64))


class MeanSquaredError(Metric):
    """Mean over samples of ``mean((y_pred - y_true)**2)`` over the last axis."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        if y_true.shape != y_pred.shape and y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]
        v = np.square(y_pred - y_true)
        return v.mean(axis=-1) if v.ndim > 1 else v


class MeanAbsoluteError(Metric):
    """Mean over samples of ``mean(|y_pred - y_true|)`` over the last axis."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        if y_true.shape != y_pred.shape and y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]
        v = np.abs(y_pred - y_true)
        return v.mean(axis=-1) if v.ndim > 1 else v


class _LossMetric(Metric):
    """The weighted mean of a per-sample loss function (``tf.keras.metrics.BinaryCrossentropy`` ...)."""

    _fn_name = None
    _default_name = None

    def __init__(self, name=None, dtype=None, **kwargs):
        self._kwargs = kwargs
        super().__init__(name or self._default_name, dtype)

    def values(self, y_true, y_pred):
        from . import losses
        fn = getattr(losses, self._fn_name)
        y_pred = np.asarray(y_pred)
        if y_pred.dtype.kind != "f":
            y_pred = y_pred.astype(np.float64)
        if y_pred.ndim == 1 and self._fn_name not in ("sparse_categorical_crossentropy",
                                                      "categorical_crossentropy"):
            y_pred = y_pred[:, None]
            if y_true.shape == y_pred.shape[:1]:
                y_true = y_true[:, None]
        return np.asarray(fn(y_true, y_pred, **self._kwargs).data)

    def get_config(self):
        return {"name": self.name, **self._kwargs}


def _loss_metric(clsname, fn_name, default_name, params=()):
    def __init__(self, name=default_name, dtype=None, **kwargs):
        bad = set(kwargs) - set(params)
        if bad:
            raise TypeError(f"{clsname}: unexpected keyword argument(s) {sorted(bad)}")
        _LossMetric.__init__(self, name, dtype, **kwargs)
    return type(clsname, (_LossMetric,), {"__init__": __init__, "_fn_name": fn_name,
                                          "_default_name": default_name, "__module__": __name__,
                                          "__doc__": f"Weighted mean of ``losses.{fn_name}`` per sample."})


BinaryCrossentropy = _loss_metric("BinaryCrossentropy", "binary_crossentropy", "binary_crossentropy",
                                  ("from_logits", "label_smoothing"))
CategoricalCrossentropy = _loss_metric("CategoricalCrossentropy", "categorical_crossentropy",
                                       "categorical_crossentropy", ("from_logits", "label_smoothing", "axis"))
SparseCategoricalCrossentropy = _loss_metric("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy",
                                             "sparse_categorical_crossentropy", ("from_logits", "axis"))
KLDivergence = _loss_metric("KLDivergence", "kl_divergence", "kl_divergence")
Poisson = _loss_metric("Poisson", "poisson", "poisson")
Hinge = _loss_metric("Hinge", "hinge", "hinge")
SquaredHinge = _loss_metric("SquaredHinge", "squared_hinge", "squared_hinge")
CategoricalHinge = _loss_metric("CategoricalHinge", "categorical_hinge", "categorical_hinge")
LogCoshError = _loss_metric("LogCoshError", "log_cosh", "logcosh")
MeanAbsolutePercentageError = _loss_metric("MeanAbsolutePercentageError", "mean_absolute_percentage_error",
                                           "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _loss_metric("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error",
                                           "mean_squared_logarithmic_error")


class CosineSimilarity(Metric):
    """Weighted mean of the cosine similarity along ``axis`` (+1 for aligned vectors; the loss
    of the same name is its negative)."""

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        self.axis = axis
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        from . import losses
        return -np.asarray(losses.cosine_similarity(y_true, np.asarray(y_pred, dtype=np.float64),
                                                    axis=self.axis).data)

    def get_config(self):
        return {"name": self.name, "axis": self.axis}


class RootMeanSquaredError(MeanSquaredError):
    """``sqrt`` of the weighted mean squared error."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def result(self):
        return Result(math.sqrt(self.total / self.count) if self.count else 0.0)


# ---------------------------------------------------------------------------
# Confusion-matrix metrics
# ---------------------------------------------------------------------------

def _thresholds(who, thresholds, default):
    if thresholds is None:
        return np.array([default], dtype=np.float64), True
    single = not isinstance(thresholds, (list, tuple, np.ndarray))
    items = [thresholds] if single else list(thresholds)
    if not items:
        raise ValueError(f"{who}: thresholds must not be empty")
    out = []
    for t in items:
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, float, np.integer, np.floating)):
            raise TypeError(f"{who}: thresholds must be numbers in [0, 1], got {thresholds!r}")
        if not 0.0 <= float(t) <= 1.0:
            raise ValueError(f"{who}: thresholds must be in [0, 1], got {t!r}")
        out.append(float(t))
    return np.array(out, dtype=np.float64), single


class _ConfusionMetric(Metric):
    """Weighted true/false positive/negative counts at each threshold."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        who = type(self).__name__
        self.init_thresholds = thresholds
        self.thresholds, self._single = _thresholds(who, thresholds, 0.5)
        if thresholds is None and top_k is not None:     # Keras: every top-k prediction is positive
            self.thresholds = np.array([-np.inf])
        self.top_k = None if top_k is None else _int_arg(who, "top_k", top_k)
        self.class_id = None if class_id is None else _int_arg(who, "class_id", class_id, lo=0)
        super().__init__(name, dtype)

    def reset_state(self):
        n = len(self.thresholds)
        self.true_positives = np.zeros(n)
        self.false_positives = np.zeros(n)
        self.true_negatives = np.zeros(n)
        self.false_negatives = np.zeros(n)

    def _prepare(self, y_true, y_pred, sample_weight):
        who = type(self).__name__
        t = _numeric(who, "y_true", y_true).astype(np.float64)
        p = _numeric(who, "y_pred", y_pred).astype(np.float64)
        if t.shape != p.shape:
            if t.ndim == p.ndim - 1 and p.shape[-1:] == (1,):
                t = t[..., None]
            elif t.ndim == p.ndim + 1 and t.shape[-1:] == (1,):
                t = t[..., 0]
        if t.shape != p.shape:
            raise ValueError(f"{who}: y_true has shape {t.shape} but y_pred has shape {p.shape}; they must match")
        if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 1):
            raise ValueError(f"{who}: y_pred must be probabilities in [0, 1], got values from "
                             f"{np.nanmin(p)} to {np.nanmax(p)} (apply a sigmoid to logits)")
        if np.isnan(p).any():
            raise ValueError(f"{who}: y_pred contains NaN")
        w = None if sample_weight is None else _sample_weight(who, sample_weight, t if t.ndim else t)
        if self.top_k is not None:
            if p.ndim < 1:
                raise ValueError(f"{who}: top_k needs predictions with a class axis")
            k = min(self.top_k, p.shape[-1])
            kth = np.sort(p, axis=-1)[..., -k][..., None]
            p = np.where(p >= kth, p, -np.inf)     # outside the top k: never above a threshold
        if self.class_id is not None:
            if p.ndim < 1 or self.class_id >= p.shape[-1]:
                raise ValueError(f"{who}: class_id {self.class_id} is out of range for predictions of "
                                 f"shape {p.shape}")
            t, p = t[..., self.class_id], p[..., self.class_id]
            if w is not None:
                w = w[..., self.class_id]
        return t, p, w

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p, w = self._prepare(y_true, y_pred, sample_weight)
        pos = (t > 0.5).reshape(-1)              # Keras casts labels to bool
        p = p.reshape(-1)
        w = np.ones_like(p) if w is None else np.asarray(w, dtype=np.float64).reshape(-1)
        thr = np.asarray(self.thresholds, dtype=np.float64)
        order = np.argsort(thr, kind="stable")
        sorted_thr = thr[order]
        n = len(thr)
        # thresholds strictly below each prediction: it is "positive" at exactly those
        below = np.searchsorted(sorted_thr, p, side="left")
        at_or_below_pos = np.cumsum(np.bincount(below[pos], weights=w[pos], minlength=n + 1))[:n]
        at_or_below_neg = np.cumsum(np.bincount(below[~pos], weights=w[~pos], minlength=n + 1))[:n]
        tp = np.empty(n)
        fp = np.empty(n)
        fn = np.empty(n)
        tn = np.empty(n)
        tp[order] = w[pos].sum() - at_or_below_pos
        fn[order] = at_or_below_pos
        fp[order] = w[~pos].sum() - at_or_below_neg
        tn[order] = at_or_below_neg
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn
        self.true_negatives += tn

    def get_config(self):
        return {"name": self.name, "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


def _div(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.where(b > 0, a / np.where(b > 0, b, 1.0), 0.0)


class Precision(_ConfusionMetric):
    """``tp / (tp + fp)`` (0 when nothing is predicted positive), at ``thresholds`` (0.5):
    a prediction is positive when it is above the threshold.  ``top_k``/``class_id`` as Keras."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        r = _div(self.true_positives, self.true_positives + self.false_positives)
        return Result(r[0]) if self._single else r


class Recall(_ConfusionMetric):
    """``tp / (tp + fn)`` (0 when there are no positives), at ``thresholds`` (0.5)."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        r = _div(self.true_positives, self.true_positives + self.false_negatives)
        return Result(r[0]) if self._single else r


class AUC(_ConfusionMetric):
    """Area under the ROC curve (``curve='ROC'``) or the precision-recall curve (``'PR'``).

    Confusion counts at ``num_thresholds`` (200) thresholds ``i / (n - 1)`` with the ends
    moved to ``-1e-7`` and ``1 + 1e-7`` (so every prediction in [0, 1] is above the first
    and below the last); ``thresholds=`` gives the interior ones instead.
    ``summation_method``: ``'interpolation'`` (default: trapezoids for ROC, Davis &
    Goadrich's interpolation for PR), ``'minoring'`` or ``'majoring'`` (left/right Riemann
    sums).  ``from_logits=True`` applies a sigmoid first.
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name="auc",
                 dtype=None, thresholds=None, multi_label=False, num_labels=None, label_weights=None,
                 from_logits=False):
        who = "AUC"
        if not isinstance(curve, str) or curve.upper() not in ("ROC", "PR"):
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', got {curve!r}")
        if not isinstance(summation_method, str) or summation_method.lower() not in (
                "interpolation", "minoring", "majoring"):
            raise ValueError(f"AUC: summation_method must be 'interpolation', 'minoring' or 'majoring', "
                             f"got {summation_method!r}")
        if multi_label or num_labels is not None or label_weights is not None:
            raise NotImplementedError("AUC: multi_label / num_labels / label_weights are not supported")
        if not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(f"AUC: from_logits must be True or False, got {from_logits!r}")
        self.curve = curve.upper()
        self.summation_method = summation_method.lower()
        self.from_logits = bool(from_logits)
        if thresholds is not None:
            inner, _ = _thresholds(who, list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray))
                                   else [thresholds], 0.5)
            self.num_thresholds = len(inner) + 2
            self._auc_thresholds = np.concatenate([[-_EPS], np.sort(inner), [1.0 + _EPS]])
        else:
            n = _int_arg(who, "num_thresholds", num_thresholds, lo=2)
            if n < 2:
                raise ValueError(f"AUC: num_thresholds must be > 1, got {num_thresholds!r}")
            self.num_thresholds = n
            inner = np.array([(i + 1) / (n - 1) for i in range(n - 2)])
            self._auc_thresholds = np.concatenate([[-_EPS], inner, [1.0 + _EPS]])
        self._user_thresholds = thresholds
        Metric.__init__(self, name, dtype)

    # _ConfusionMetric pieces, with the AUC's own thresholds
    top_k = None
    class_id = None

    @property
    def thresholds(self):
        return self._auc_thresholds

    def reset_state(self):
        n = len(self._auc_thresholds)
        self.true_positives = np.zeros(n)
        self.false_positives = np.zeros(n)
        self.true_negatives = np.zeros(n)
        self.false_negatives = np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.from_logits:
            p = _numeric("AUC", "y_pred", y_pred).astype(np.float64)
            y_pred = 1.0 / (1.0 + np.exp(-p))
        super().update_state(y_true, y_pred, sample_weight)

    def result(self):
        tp, fp, fn, tn = self.true_positives, self.false_positives, self.false_negatives, self.true_negatives
        if self.curve == "PR" and self.summation_method == "interpolation":
            return Result(self._interpolate_pr(tp, fp, fn))
        recall = _div(tp, tp + fn)
        if self.curve == "ROC":
            x = _div(fp, fp + tn)      # false positive rate
            y = recall
        else:
            x = recall
            y = _div(tp, tp + fp)      # precision
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return Result(np.sum((x[:-1] - x[1:]) * heights))

    @staticmethod
    def _interpolate_pr(tp, fp, fn):
        """Davis & Goadrich (2006): between two thresholds precision is interpolated as
        ``tp / (tp + fp)`` varies linearly in tp with the number of predicted positives."""
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _div(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _div(p[:-1], np.maximum(p[1:], 0)), 1.0)
        inc = _div(slope * (dtp + intercept * np.log(np.where(ratio > 0, ratio, 1.0))),
                   np.maximum(tp[1:] + fn[1:], 0))
        return np.sum(inc)

    def get_config(self):
        return {"name": self.name, "num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method, "thresholds": self._user_thresholds,
                "from_logits": self.from_logits}


# ---------------------------------------------------------------------------
# Lookup
# ---------------------------------------------------------------------------

_BY_NAME = {"sparse_categorical_accuracy": SparseCategoricalAccuracy,
            "categorical_accuracy": CategoricalAccuracy,
            "binary_accuracy": BinaryAccuracy,
            "top_k_categorical_accuracy": TopKCategoricalAccuracy,
            "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
            "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
            "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
            "precision": Precision, "recall": Recall, "auc": AUC,
            "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
            "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
            "kl_divergence": KLDivergence, "kld": KLDivergence, "poisson": Poisson, "hinge": Hinge,
            "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge, "logcosh": LogCoshError,
            "log_cosh": LogCoshError, "mape": MeanAbsolutePercentageError,
            "mean_absolute_percentage_error": MeanAbsolutePercentageError,
            "msle": MeanSquaredLogarithmicError, "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
            "cosine_similarity": CosineSimilarity, "root_mean_squared_error": RootMeanSquaredError,
            "rmse": RootMeanSquaredError}


_CLASSES = {c.__name__: c for c in (Mean, Sum, SparseCategoricalAccuracy, CategoricalAccuracy, BinaryAccuracy,
                                    Accuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
                                    MeanSquaredError, MeanAbsoluteError, Precision, Recall, AUC,
                                    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
                                    KLDivergence, Poisson, Hinge, SquaredHinge, CategoricalHinge, LogCoshError,
                                    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity,
                                    RootMeanSquaredError)}


def serialize(metric):
    if isinstance(metric, str):
        return metric
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config, custom_objects=None):
    if isinstance(config, str):
        return get(config)
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"unknown metric class {name!r}; known: {sorted(_CLASSES)}")
    return cls.from_config(config.get("config", {}))


def get(identifier):
    """A metric instance from a name or an instance (``'accuracy'`` needs the loss: see :func:`resolve`)."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown metric {identifier!r}; known: {sorted(_BY_NAME) + ['accuracy', 'acc']}")
        return cls(name=identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
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
