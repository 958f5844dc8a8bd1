"""Keras-style losses: ``loss(y_true, y_pred) -> scalar Tensor``.

* ``from_logits=True`` (recommended for classification): the model's last
  layer is linear and the loss applies softmax/sigmoid itself, stably.  The
  categorical cases go through the fused softmax cross-entropy kernel.
* ``from_logits=False``: ``y_pred`` are probabilities (a softmax/sigmoid
  output layer).  As in Keras, rows are renormalised and probabilities are
  clipped to ``[1e-7, 1 - 1e-7]`` before the log, so a saturated softmax
  gives a large but finite loss, never NaN.

``reduction``: ``'sum_over_batch_size'`` (default, alias ``'mean'``): the
mean over examples; ``'sum'``; ``'none'``: one loss per example.

Each loss also has ``prepare_targets(y, output_shape, where)``, used by
``Sequential.fit``/``evaluate`` to validate and convert the labels once, before
any training step (labels out of range, wrong shapes, NaN targets).
"""
import numpy as np

from .. import ops as _ops
from ..ops.registry import op as _op
from ..tensor import Tensor, wrap

__all__ = ["Loss", "SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy",
           "MeanSquaredError", "MeanAbsoluteError", "get", "serialize", "deserialize"]

EPSILON = 1e-7  # Keras' backend epsilon, used for clipping probabilities

_REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "none")


def _arr(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _reduce(per_example, reduction):
    if reduction in ("sum_over_batch_size", "mean"):
        return _ops.mean(per_example)
    if reduction == "sum":
        return _ops.sum(per_example)
    return per_example


# ---------------------------------------------------------------------------
# Fused ops for the probability / binary paths (one record each)
# ---------------------------------------------------------------------------

@_op(name="nn.prob_cross_entropy")
class prob_cross_entropy:
    """Per-example ``-sum(t * log(clip(p / sum(p))))`` over the last axis (Keras'
    ``from_logits=False`` categorical cross-entropy).  The gradient is zero
    where the clip is active, as in Keras."""
    def forward(p, t):
        p = np.asarray(p)
        s = p.sum(axis=-1, keepdims=True)
        q = p / s
        qc = np.clip(q, EPSILON, 1 - EPSILON)
        out = -(t * np.log(qc)).sum(axis=-1)
        return out.astype(p.dtype, copy=False), (p, s, q, qc, t)

    def backward(res, g, needs):
        p, s, q, qc, t = res
        inside = (q >= EPSILON) & (q <= 1 - EPSILON)
        dq = np.where(inside, -t / qc, 0.0) * g[..., None]       # d loss / d q
        # q = p / s: dp = (dq - sum(dq * q)) / s
        dp = (dq - (dq * q).sum(axis=-1, keepdims=True)) / s
        return dp.astype(p.dtype, copy=False), None


@_op(name="nn.sigmoid_bce")
class sigmoid_bce:
    """Elementwise binary cross-entropy from logits, stable:
    ``max(x, 0) - x * z + log1p(exp(-|x|))``; gradient ``sigmoid(x) - z``."""
    def forward(x, z):
        x = np.asarray(x)
        out = np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))
        return out.astype(x.dtype, copy=False), (x, z)

    def backward(res, g, needs):
        x, z = res
        e = np.exp(-np.abs(x))
        sig = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return ((sig - z) * g).astype(x.dtype, copy=False), None


@_op(name="nn.prob_bce")
class prob_bce:
    """Elementwise binary cross-entropy from probabilities clipped to [eps, 1 - eps]."""
    def forward(p, z):
        p = np.asarray(p)
        pc = np.clip(p, EPSILON, 1 - EPSILON)
        out = -(z * np.log(pc) + (1 - z) * np.log(1 - pc))
        return out.astype(p.dtype, copy=False), (p, pc, z)

    def backward(res, g, needs):
        p, pc, z = res
        inside = (p >= EPSILON) & (p <= 1 - EPSILON)
        d = np.where(inside, (pc - z) / (pc * (1 - pc)), 0.0) * g
        return d.astype(p.dtype, copy=False), None


# ---------------------------------------------------------------------------
# Loss classes
# ---------------------------------------------------------------------------

class Loss:
    """Base class: ``__call__(y_true, y_pred)`` returns the reduced loss as a Tensor."""

    def __init__(self, reduction="sum_over_batch_size", name=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self.name = name or _snake(type(self).__name__)

    def __call__(self, y_true, y_pred):
        return self.call(y_true, y_pred)

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def prepare_targets(self, y, output_shape, where="y"):
        """Validate and convert targets once (float32, same shape as the output)."""
        y = _float_targets(y, where, self)
        if y.ndim == len(output_shape) - 1 and output_shape[-1] == 1:
            y = y[..., None]
        if y.shape[1:] != tuple(output_shape[1:]):
            raise ValueError(f"{type(self).__name__}: {where} has shape {y.shape} but the model outputs "
                             f"{_shape_str(output_shape)}; targets must have the output's shape")
        return y

    def get_config(self):
        return {"reduction": self.reduction, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


def _snake(name):
    import re
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def _shape_str(shape):
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _float_targets(y, where, loss):
    y = np.asarray(_arr(y))
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{type(loss).__name__}: {where} must be numeric, got dtype {y.dtype}")
    y = np.ascontiguousarray(y, dtype=np.float32)
    if not np.all(np.isfinite(y)):
        i = int(np.argmax(~np.isfinite(y).reshape(len(y), -1).all(axis=1))) if y.ndim else 0
        raise ValueError(f"{type(loss).__name__}: {where} contains NaN or inf (first at sample {i})")
    return y


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with integer class labels (shape (N,) or (N, 1)).

    ``from_logits=True``: ``y_pred`` are logits (fused softmax cross-entropy
    kernel, stable).  ``from_logits=False``: probabilities, clipped like Keras.
    """

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name=None, ignore_class=None):
        super().__init__(reduction, name)
        if ignore_class is not None:
            raise NotImplementedError("SparseCategoricalCrossentropy: ignore_class is not supported")
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        labels = _arr(y_true)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.dtype.kind not in "iu":
            labels = labels.astype(np.int64)
        if self.from_logits:
            from .functional import softmax_cross_entropy
            red = "mean" if self.reduction == "sum_over_batch_size" else self.reduction
            return softmax_cross_entropy(y_pred, labels, reduction=red)
        p = _arr(y_pred)
        if p.ndim != 2:
            raise ValueError(f"SparseCategoricalCrossentropy: predictions must have shape (N, C), got {p.shape}")
        c = p.shape[1]
        if labels.size and (labels.min() < 0 or labels.max() >= c):
            raise ValueError(f"SparseCategoricalCrossentropy: labels must be in [0, {c}), "
                             f"got values from {labels.min()} to {labels.max()}")
        t = np.zeros(p.shape, dtype=p.dtype)
        t[np.arange(len(labels)), labels] = 1
        return _reduce(prob_cross_entropy(y_pred, t), self.reduction)

    def prepare_targets(self, y, output_shape, where="y"):
        y = np.asarray(_arr(y))
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"SparseCategoricalCrossentropy: {where} must hold one integer class label per "
                             f"example (shape (N,)), got shape {y.shape}; for one-hot targets use "
                             "CategoricalCrossentropy")
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)):
                raise ValueError(f"SparseCategoricalCrossentropy: {where} contains NaN or inf")
            if np.any(y != np.round(y)):
                i = int(np.argmax(y != np.round(y)))
                raise ValueError(f"SparseCategoricalCrossentropy: {where} must be integer class labels; "
                                 f"{where}[{i}] = {y[i]!r}")
        elif y.dtype.kind not in "iub":
            raise TypeError(f"SparseCategoricalCrossentropy: {where} must be integer class labels, "
                            f"got dtype {y.dtype}")
        y = y.astype(np.int64)
        c = output_shape[-1]
        if len(output_shape) != 2:
            raise ValueError(f"SparseCategoricalCrossentropy: the model output must have shape (N, classes), "
                             f"got {_shape_str(output_shape)}")
        bad = (y < 0) | (y >= c)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise ValueError(f"SparseCategoricalCrossentropy: label {int(y[i])} ({where}[{i}]) is out of range "
                             f"for a model with {c} outputs: labels must be in [0, {c}) "
                             f"(got labels from {int(y.min())} to {int(y.max())})")
        return y

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


class CategoricalCrossentropy(Loss):
    """Cross-entropy with one-hot / probability targets of shape (N, C).

    ``label_smoothing`` mixes targets with the uniform distribution:
    ``t * (1 - ls) + ls / C`` (Keras).
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        if not 0.0 <= self.label_smoothing <= 1.0:
            raise ValueError(f"CategoricalCrossentropy: label_smoothing must be in [0, 1], got {label_smoothing}")

    def call(self, y_true, y_pred):
        t = _arr(y_true)
        p = _arr(y_pred)
        if t.dtype != p.dtype:
            t = t.astype(p.dtype)
        if self.from_logits:
            from .functional import softmax_cross_entropy
            red = "mean" if self.reduction == "sum_over_batch_size" else self.reduction
            return softmax_cross_entropy(y_pred, t, reduction=red, label_smoothing=self.label_smoothing)
        if t.shape != p.shape:
            raise ValueError(f"CategoricalCrossentropy: targets of shape {t.shape} do not match "
                             f"predictions of shape {p.shape}")
        if self.label_smoothing:
            c = t.shape[-1]
            t = t * (1 - self.label_smoothing) + self.label_smoothing / c
        return _reduce(prob_cross_entropy(y_pred, t), self.reduction)

    def prepare_targets(self, y, output_shape, where="y"):
        y = _float_targets(y, where, self)
        if y.ndim == 1 and len(output_shape) == 2 and output_shape[-1] != 1:
            raise ValueError(f"CategoricalCrossentropy: {where} has shape {y.shape} (integer labels?) but "
                             f"needs one-hot targets of shape (N, {output_shape[-1]}); use "
                             "SparseCategoricalCrossentropy or tinygrad_bn.utils.one_hot")
        return super().prepare_targets(y, output_shape, where)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(Loss):
    """Binary cross-entropy, averaged over the last axis then reduced over examples.

    ``from_logits=True`` uses the stable ``max(x,0) - x*z + log1p(exp(-|x|))``.
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        z = _arr(y_true)
        p = _arr(y_pred)
        if z.shape != p.shape:
            if z.ndim == p.ndim - 1 and p.shape[-1] == 1:
                z = z[..., None]
            else:
                raise ValueError(f"BinaryCrossentropy: targets of shape {z.shape} do not match "
                                 f"predictions of shape {p.shape}")
        z = z.astype(p.dtype, copy=False)
        if self.label_smoothing:
            z = z * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        elem = sigmoid_bce(y_pred, z) if self.from_logits else prob_bce(y_pred, z)
        per_example = _ops.mean(elem, axis=-1) if p.ndim > 1 else elem
        return _reduce(per_example, self.reduction)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class MeanSquaredError(Loss):
    """``mean((y_pred - y_true)**2)`` over the last axis, then reduced over examples."""

    def call(self, y_true, y_pred):
        t = _arr(y_true)
        p = _arr(y_pred)
        if t.shape != p.shape:
            if t.ndim == p.ndim - 1 and p.shape[-1] == 1:
                t = t[..., None]
            else:
                raise ValueError(f"MeanSquaredError: targets of shape {t.shape} do not match "
                                 f"predictions of shape {p.shape}")
        d = _ops.subtract(y_pred, t.astype(p.dtype, copy=False))
        sq = _ops.multiply(d, d)
        if self.reduction in ("sum_over_batch_size", "mean") and p.ndim >= 1:
            return _ops.mean(sq)  # the mean of per-example means equals the overall mean
        per_example = _ops.mean(sq, axis=-1) if p.ndim > 1 else sq
        return _reduce(per_example, self.reduction)


class MeanAbsoluteError(Loss):
    """``mean(|y_pred - y_true|)`` over the last axis, then reduced over examples."""

    def call(self, y_true, y_pred):
        t = _arr(y_true)
        p = _arr(y_pred)
        if t.shape != p.shape and t.ndim == p.ndim - 1 and p.shape[-1] == 1:
            t = t[..., None]
        d = _ops.abs(_ops.subtract(y_pred, t.astype(p.dtype, copy=False)))
        per_example = _ops.mean(d, axis=-1) if p.ndim > 1 else d
        return _reduce(per_example, self.reduction)


class _FunctionLoss(Loss):
    """Wraps a plain function ``fn(y_true, y_pred) -> Tensor`` (per-example or scalar)."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name or getattr(fn, "__name__", "loss"))
        self.fn = fn

    def call(self, y_true, y_pred):
        out = self.fn(y_true, y_pred)
        if not isinstance(out, Tensor):
            out = wrap(np.asarray(out))
        return out if out.ndim == 0 else _reduce(out, self.reduction)

    def get_config(self):
        raise TypeError(f"the loss function {self.fn!r} cannot be saved; use a Loss subclass")


MSE = mse = MeanSquaredError
MAE = mae = MeanAbsoluteError

_CLASSES = {c.__name__: c for c in (SparseCategoricalCrossentropy, CategoricalCrossentropy,
                                    BinaryCrossentropy, MeanSquaredError, MeanAbsoluteError)}
_ALIASES = {"sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
            "categorical_crossentropy": CategoricalCrossentropy,
            "binary_crossentropy": BinaryCrossentropy,
            "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
            "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError}


def get(identifier):
    """A loss from a string (``'sparse_categorical_crossentropy'``, ``'mse'`` ...), a config
    dict, an instance or a function ``fn(y_true, y_pred)``."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(f"unknown loss {identifier!r}; known: {sorted(_ALIASES)}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return _FunctionLoss(identifier)
    raise TypeError(f"cannot interpret {identifier!r} as a loss")


def serialize(loss):
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config, custom_objects=None):
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"unknown loss class {name!r}; pass it in custom_objects")
    return cls.from_config(config.get("config", {}))
