"""Keras-style losses, as ``tf.keras.losses``.

Functions (``categorical_crossentropy``, ``sparse_categorical_crossentropy``,
``binary_crossentropy``, ``mean_squared_error``/``mse``,
``mean_absolute_error``/``mae``, ``huber``, ``kl_divergence`` ...) return one
loss per sample (the last axis is reduced, as Keras's functions do: shape
``(N,)`` for ``(N, C)`` inputs).  Classes take ``reduction`` and are called as
``loss(y_true, y_pred, sample_weight=None)``:

* ``'sum_over_batch_size'`` (default; ``'mean'`` is the same): ``sum(w * l) / n``
  with ``n`` the number of per-sample losses (not the sum of the weights);
* ``'mean_with_sample_weight'``: ``sum(w * l) / sum(w)``;
* ``'sum'``: ``sum(w * l)``;  ``'none'`` or ``None``: the weighted per-sample losses.

``sample_weight`` of shape ``(N,)`` (or ``(N, 1)``, or matching the losses)
multiplies the per-sample losses, as Keras.  An empty batch reduces to 0.

* ``from_logits=True`` (recommended for classification): the model's last
  layer is linear and the loss applies softmax/sigmoid itself, stably.  The
  categorical cases go through the fused softmax cross-entropy kernel.
* ``from_logits=False``: ``y_pred`` are probabilities (a softmax/sigmoid
  output layer).  As in Keras, rows are renormalised and probabilities are
  clipped to ``[1e-7, 1 - 1e-7]`` before the log, so a saturated softmax
  gives a large but finite loss, never NaN.

Each loss class also has ``prepare_targets(y, output_shape, where)``, used by
``fit``/``evaluate`` to validate and convert the labels once, before any
training step (labels out of range, wrong shapes, NaN targets).
"""
import math

import numpy as np

from .. import ops as _ops
from ..ops.registry import op as _op
from ..tensor import Tensor, wrap
from .base_layer import _fmt_shape, _snake

__all__ = ["Loss", "LossFunctionWrapper", "Reduction", "SparseCategoricalCrossentropy", "CategoricalCrossentropy",
           "BinaryCrossentropy", "MeanSquaredError", "MeanAbsoluteError", "Huber", "KLDivergence",
           "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
           "mean_squared_error", "mean_absolute_error", "mse", "mae", "MSE", "MAE", "huber",
           "kl_divergence", "kld", "KLD", "Hinge", "SquaredHinge", "CategoricalHinge", "Poisson", "LogCosh",
           "CosineSimilarity", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "hinge",
           "squared_hinge", "categorical_hinge", "poisson", "log_cosh", "logcosh", "cosine_similarity",
           "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "mape", "msle", "MAPE", "MSLE",
           "get", "serialize", "deserialize"]

EPSILON = 1e-7  # Keras' backend epsilon, used for clipping probabilities

_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight", "sum", "none", None, "auto")


class Reduction:
    """tf.keras 2's reduction names (``losses.Reduction.SUM`` ...); ``AUTO`` is 'sum_over_batch_size'."""
    AUTO = "auto"
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"

    @classmethod
    def all(cls):
        return (cls.AUTO, cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE)

    @classmethod
    def validate(cls, key):
        if key not in cls.all():
            raise ValueError(f"Reduction: invalid reduction key {key!r}; expected one of {cls.all()}")


def _arr(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _pred(fn, y_pred):
    """``y_pred`` as a float Tensor (arrays are wrapped; integer predictions become float32)."""
    if isinstance(y_pred, Tensor):
        if y_pred.data.dtype.kind != "f":
            raise TypeError(f"{fn}: y_pred must be floating point, got dtype {y_pred.data.dtype}")
        return y_pred
    arr = np.asarray(y_pred)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: y_pred must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float32)
    return wrap(arr)


def _true(fn, y_true, dtype):
    """``y_true`` as a constant array in the predictions' dtype."""
    t = _arr(y_true)
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: y_true must be numeric, got dtype {t.dtype}")
    return t.astype(dtype, copy=False)


def _same_shape(fn, t, p):
    """Keras's squeeze-or-expand of a trailing size-1 axis, then the shapes must match."""
    if t.shape != p.shape:
        if t.ndim == p.ndim - 1 and p.shape[-1:] == (1,) and t.shape == p.shape[:-1]:
            t = t[..., None]
        elif t.ndim == p.ndim + 1 and t.shape[-1:] == (1,) and t.shape[:-1] == p.shape:
            t = t[..., 0]
    if t.shape != p.shape:
        raise ValueError(f"{fn}: y_true has shape {t.shape} but y_pred has shape {p.shape}; "
                         "they must match")
    return t


def _axis(fn, axis, ndim):
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{fn}: axis must be an integer, got {axis!r}")
    if ndim == 0:
        raise ValueError(f"{fn}: y_pred must have at least one axis, got a scalar")
    if not -ndim <= int(axis) < ndim:
        raise ValueError(f"{fn}: axis {axis} is out of range for y_pred with {ndim} dimensions")
    return int(axis) % ndim


def _move_last(x, axis, ndim):
    if axis == ndim - 1:
        return x
    perm = [i for i in range(ndim) if i != axis] + [axis]
    return _ops.transpose(x, tuple(perm)) if isinstance(x, Tensor) else np.transpose(x, perm)


def _smoothing(fn, label_smoothing):
    if isinstance(label_smoothing, (bool, np.bool_)) or not isinstance(
            label_smoothing, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
    ls = float(label_smoothing)
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return ls


def _bool(fn, arg, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: {arg} must be True or False, got {value!r}")
    return bool(value)


def _clip_const(x, lo, hi):
    """``clip(x, lo, hi)`` on the tape: gradient 1 inside ``[lo, hi]``, 0 where clipped."""
    xd = x.data
    dt = xd.dtype
    clipped = np.clip(xd, lo, hi)
    inside = (xd >= lo) & (xd <= hi)
    if inside.all():
        return x
    return _ops.where(inside, x, clipped.astype(dt, copy=False))


# ---------------------------------------------------------------------------
# Loss functions: one loss per sample
# ---------------------------------------------------------------------------

def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Cross-entropy between one-hot / probability targets and predictions, per sample.

    ``label_smoothing``: targets become ``t * (1 - ls) + ls / C`` (Keras).
    ``from_logits=True``: ``y_pred`` are logits (stable log-softmax; the fused
    kernel for 2-D inputs along the last axis).
    """
    fn = "categorical_crossentropy"
    from_logits = _bool(fn, "from_logits", from_logits)
    ls = _smoothing(fn, label_smoothing)
    p = _pred(fn, y_pred)
    t = _true(fn, y_true, p.data.dtype)
    if t.shape != p.shape:
        raise ValueError(f"{fn}: y_true has shape {t.shape} but y_pred has shape {p.shape}; "
                         "one-hot targets must match the predictions (for integer labels use "
                         "sparse_categorical_crossentropy)")
    ndim = p.ndim
    ax = _axis(fn, axis, ndim)
    c = p.shape[ax]
    if ls:
        t = t * (1.0 - ls) + ls / c
    if from_logits:
        if ndim == 2 and ax == 1 and c >= 1:
            from .functional import softmax_cross_entropy
            return softmax_cross_entropy(p, np.ascontiguousarray(t), reduction="none")
        return _ops.negative(_ops.sum(_ops.multiply(t, _ops.log_softmax(p, axis=ax)), axis=ax))
    return prob_cross_entropy(_move_last(p, ax, ndim), np.ascontiguousarray(_move_last(t, ax, ndim)))


def _int_labels(fn, y_true, p_shape, ax):
    labels = _arr(y_true)
    want = p_shape[:ax] + p_shape[ax + 1:]
    if labels.shape != want and labels.shape == want + (1,):
        labels = labels[..., 0]
    if labels.shape != want:
        raise ValueError(f"{fn}: y_true has shape {labels.shape} but y_pred has shape {p_shape}; integer "
                         f"labels need shape {want} (one per sample; for one-hot targets use "
                         "categorical_crossentropy)")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"{fn}: y_true must hold integer class labels, got non-integer values")
    elif labels.dtype.kind not in "iub":
        raise TypeError(f"{fn}: y_true must hold integer class labels, got dtype {labels.dtype}")
    c = p_shape[ax]
    if labels.dtype.kind == "u" and labels.size and labels.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{fn}: label {int(labels.max())} is out of range [0, {c})")
    labels = labels.astype(np.int64)
    if labels.size:
        bad = (labels < 0) | (labels >= c)
        if bad.any():
            i = int(np.argmax(bad.reshape(-1)))
            raise ValueError(f"{fn}: label {int(labels.reshape(-1)[i])} (at flat index {i}) is out of range "
                             f"[0, {c}) for y_pred with {c} classes (shape {p_shape})")
    return labels


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Cross-entropy with integer class labels (shape ``(N,)`` or ``(N, 1)``), per sample.

    Labels must be in ``[0, C)``; ``ignore_class`` (Keras) gives 0 loss where the label
    equals it.
    """
    fn = "sparse_categorical_crossentropy"
    from_logits = _bool(fn, "from_logits", from_logits)
    p = _pred(fn, y_pred)
    ndim = p.ndim
    ax = _axis(fn, axis, ndim)
    keep = None
    if ignore_class is not None:
        if isinstance(ignore_class, (bool, np.bool_)) or not isinstance(ignore_class, (int, np.integer)):
            raise TypeError(f"{fn}: ignore_class must be an integer or None, got {ignore_class!r}")
        raw = np.asarray(_arr(y_true))
        want = p.shape[:ax] + p.shape[ax + 1:]
        if raw.shape == want + (1,):
            raw = raw[..., 0]
        keep = raw != ignore_class
        y_true = np.where(keep, raw, 0)
    labels = _int_labels(fn, y_true, p.shape, ax)
    c = p.shape[ax]
    pl = _move_last(p, ax, ndim)
    lead = pl.shape[:-1]
    flat = pl if ndim == 2 else _ops.reshape(pl, (-1, c))
    lab = labels.reshape(-1)
    if from_logits:
        from .functional import softmax_cross_entropy
        out = softmax_cross_entropy(flat, lab, reduction="none")
    else:
        t = np.zeros(flat.shape, dtype=p.data.dtype)
        t[np.arange(len(lab)), lab] = 1
        out = prob_cross_entropy(flat, t)
    if ndim != 2:
        out = _ops.reshape(out, lead)
    if keep is not None:
        out = _ops.multiply(out, keep.astype(p.data.dtype))
    return out


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy averaged over ``axis`` (the last), per sample.

    ``label_smoothing``: targets become ``t * (1 - ls) + 0.5 * ls`` (Keras).
    ``from_logits=True`` uses the stable ``max(x,0) - x*z + log1p(exp(-|x|))``.
    """
    fn = "binary_crossentropy"
    from_logits = _bool(fn, "from_logits", from_logits)
    ls = _smoothing(fn, label_smoothing)
    p = _pred(fn, y_pred)
    z = _same_shape(fn, _true(fn, y_true, p.data.dtype), p.data)
    ax = _axis(fn, axis, p.ndim)
    if ls:
        z = z * (1.0 - ls) + 0.5 * ls
    elem = sigmoid_bce(p, z) if from_logits else prob_bce(p, z)
    return _ops.mean(elem, axis=ax)


def mean_squared_error(y_true, y_pred):
    """``mean((y_true - y_pred)**2)`` over the last axis, per sample."""
    fn = "mean_squared_error"
    p = _pred(fn, y_pred)
    t = _same_shape(fn, _true(fn, y_true, p.data.dtype), p.data)
    _axis(fn, -1, p.ndim)
    d = _ops.subtract(p, t)
    return _ops.mean(_ops.multiply(d, d), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_true - y_pred|)`` over the last axis, per sample."""
    fn = "mean_absolute_error"
    p = _pred(fn, y_pred)
    t = _same_shape(fn, _true(fn, y_true, p.data.dtype), p.data)
    _axis(fn, -1, p.ndim)
    return _ops.mean(_ops.abs(_ops.subtract(p, t)), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """Huber loss over the last axis, per sample: ``0.5 * e**2`` where ``|e| <= delta``,
    else ``delta * |e| - 0.5 * delta**2`` (``e = y_pred - y_true``)."""
    fn = "huber"
    if isinstance(delta, (bool, np.bool_)) or not isinstance(delta, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: delta must be a positive number, got {delta!r}")
    delta = float(delta)
    if not (math.isfinite(delta) and delta > 0):
        raise ValueError(f"{fn}: delta must be a positive finite number, got {delta!r}")
    p = _pred(fn, y_pred)
    t = _same_shape(fn, _true(fn, y_true, p.data.dtype), p.data)
    _axis(fn, -1, p.ndim)
    e = _ops.subtract(p, t)
    a = _ops.abs(e)
    quad = _ops.multiply(_ops.multiply(e, e), 0.5)
    lin = _ops.subtract(_ops.multiply(a, delta), 0.5 * delta * delta)
    return _ops.mean(_ops.where(a.data <= delta, quad, lin), axis=-1)


def kl_divergence(y_true, y_pred):
    """Kullback-Leibler divergence ``sum(t * log(t / p))`` over the last axis, per sample,
    with both clipped to ``[1e-7, 1]`` as Keras."""
    fn = "kl_divergence"
    p = _pred(fn, y_pred)
    t = _same_shape(fn, _true(fn, y_true, p.data.dtype), p.data)
    _axis(fn, -1, p.ndim)
    t = np.clip(t, EPSILON, 1.0)
    pc = _clip_const(p, EPSILON, 1.0)
    return _ops.sum(_ops.multiply(t, _ops.subtract(np.log(t), _ops.log(pc))), axis=-1)


def _regression_inputs(fn, y_true, y_pred):
    p = _pred(fn, y_pred)
    t = _same_shape(fn, _true(fn, y_true, p.data.dtype), p.data)
    _axis(fn, -1, p.ndim)
    return t, p


def _hinge_labels(t):
    """Keras: labels given as 0/1 become -1/1."""
    if t.size and np.all((t == 0) | (t == 1)):
        return 2.0 * t - 1.0
    return t


def hinge(y_true, y_pred):
    """``mean(max(1 - t * p, 0))`` over the last axis, per sample (0/1 labels become -1/1)."""
    t, p = _regression_inputs("hinge", y_true, y_pred)
    return _ops.mean(_ops.relu(_ops.subtract(1.0, _ops.multiply(p, _hinge_labels(t)))), axis=-1)


def squared_hinge(y_true, y_pred):
    """``mean(max(1 - t * p, 0)**2)`` over the last axis, per sample (0/1 labels become -1/1)."""
    t, p = _regression_inputs("squared_hinge", y_true, y_pred)
    h = _ops.relu(_ops.subtract(1.0, _ops.multiply(p, _hinge_labels(t))))
    return _ops.mean(_ops.multiply(h, h), axis=-1)


def categorical_hinge(y_true, y_pred):
    """``max(max((1 - t) * p) - sum(t * p) + 1, 0)`` per sample (one-hot targets)."""
    t, p = _regression_inputs("categorical_hinge", y_true, y_pred)
    pos = _ops.sum(_ops.multiply(p, t), axis=-1)
    neg = _ops.max(_ops.multiply(p, 1.0 - t), axis=-1)
    return _ops.relu(_ops.add(_ops.subtract(neg, pos), 1.0))


def poisson(y_true, y_pred):
    """``mean(p - t * log(p + 1e-7))`` over the last axis, per sample."""
    t, p = _regression_inputs("poisson", y_true, y_pred)
    return _ops.mean(_ops.subtract(p, _ops.multiply(_ops.log(_ops.add(p, EPSILON)), t)), axis=-1)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(p - t)))`` over the last axis, per sample, computed without overflow
    as ``x + softplus(-2x) - log 2``."""
    t, p = _regression_inputs("log_cosh", y_true, y_pred)
    x = _ops.subtract(p, t)
    sp = _softplus_composite(_ops.multiply(x, -2.0))
    return _ops.mean(_ops.subtract(_ops.add(x, sp), math.log(2.0)), axis=-1)


def _l2_normalize(x, axis):
    ss = _ops.sum(_ops.multiply(x, x), axis=axis, keepdims=True)
    return _ops.divide(x, _ops.sqrt(_ops.maximum(ss, 1e-12)))


def cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(l2_normalize(t) * l2_normalize(p))`` along ``axis``, per sample (Keras's loss is the
    negative similarity: -1 for aligned vectors, 0 for orthogonal ones)."""
    fn = "cosine_similarity"
    t, p = _regression_inputs(fn, y_true, y_pred)
    ax = _axis(fn, axis, p.ndim)
    tn = np.asarray(_l2_normalize(wrap(t), ax).data)
    return _ops.negative(_ops.sum(_ops.multiply(_l2_normalize(p, ax), tn), axis=ax))


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|(t - p) / max(|t|, 1e-7)|)`` over the last axis, per sample."""
    t, p = _regression_inputs("mean_absolute_percentage_error", y_true, y_pred)
    scale = 100.0 / np.maximum(np.abs(t), EPSILON)
    return _ops.mean(_ops.multiply(_ops.abs(_ops.subtract(p, t)), scale.astype(t.dtype, copy=False)), axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(max(p, eps) + 1) - log(max(t, eps) + 1))**2)`` over the last axis, per sample."""
    t, p = _regression_inputs("mean_squared_logarithmic_error", y_true, y_pred)
    lt = np.log(np.maximum(t, EPSILON) + 1.0)
    d = _ops.subtract(_ops.log(_ops.add(_ops.maximum(p, EPSILON), 1.0)), lt)
    return _ops.mean(_ops.multiply(d, d), axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kullback_leibler_divergence = kl_divergence
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
logcosh = log_cosh


# ---------------------------------------------------------------------------
# Fused ops for the probability / binary paths (one record each).  Each has a
# composite twin made of primitives, which an outer tape differentiates for
# higher-order gradients (the hand-written vjps are first-order only).
# ---------------------------------------------------------------------------

def _clip_composite(x, lo, hi):
    """``clip(x, lo, hi)`` from primitives: gradient 1 inside, 0 where clipped (as the fused vjps)."""
    return _ops.minimum(_ops.maximum(x, lo), hi)


def _prob_cross_entropy_composite(p, t):
    q = _ops.divide(p, _ops.sum(p, axis=-1, keepdims=True))
    qc = _clip_composite(q, EPSILON, 1 - EPSILON)
    return _ops.negative(_ops.sum(_ops.multiply(t, _ops.log(qc)), axis=-1))


def _softplus_composite(x):
    m = _ops.stop_gradient(_ops.maximum(x, 0.0))
    return _ops.add(_ops.log(_ops.add(_ops.exp(_ops.subtract(x, m)), _ops.exp(_ops.negative(m)))), m)


def _sigmoid_bce_composite(x, z):
    return _ops.subtract(_softplus_composite(x), _ops.multiply(x, z))


def _prob_bce_composite(p, z):
    pc = _clip_composite(p, EPSILON, 1 - EPSILON)
    return _ops.negative(_ops.add(_ops.multiply(z, _ops.log(pc)),
                                  _ops.multiply(_ops.subtract(1.0, z), _ops.log(_ops.subtract(1.0, pc)))))


@_op(name="nn.prob_cross_entropy", composite=_prob_cross_entropy_composite)
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


@_op(name="nn.sigmoid_bce", composite=_sigmoid_bce_composite)
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


@_op(name="nn.prob_bce", composite=_prob_bce_composite)
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
# Reduction and sample weights (Keras's rules)
# ---------------------------------------------------------------------------

def _check_reduction(who, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{who}: reduction must be one of {list(_REDUCTIONS)}, got {reduction!r}")
    if reduction == "auto":
        return "sum_over_batch_size"
    return "none" if reduction is None else reduction


def _weights(who, sample_weight, losses):
    """``sample_weight`` as an array broadcastable to the per-sample ``losses`` (Keras's
    squeeze-or-expand of a trailing axis)."""
    w = _arr(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{who}: sample_weight must be numeric, got dtype {w.dtype}")
    w = w.astype(losses.data.dtype, copy=False)
    ls = losses.shape
    if w.ndim == len(ls) + 1 and w.shape[-1] == 1:
        w = w[..., 0]
    elif w.ndim == len(ls) - 1 and w.ndim > 0:
        w = w[..., None]
    try:
        np.broadcast_shapes(w.shape, ls)
    except ValueError:
        raise ValueError(f"{who}: sample_weight of shape {_arr(sample_weight).shape} does not match the "
                         f"per-sample losses of shape {ls}") from None
    if np.broadcast_shapes(w.shape, ls) != tuple(ls):
        raise ValueError(f"{who}: sample_weight of shape {_arr(sample_weight).shape} would broadcast the "
                         f"per-sample losses of shape {ls}")
    return w


def _reduce(values, reduction, weights=None):
    if reduction == "none":
        return values
    if reduction in ("sum_over_batch_size", "mean") and values.data.size:
        return _ops.mean(values)                 # sum(w * l) / n in one op
    total = _ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and weights is not None:
        divisor = float(np.sum(np.broadcast_to(weights, values.shape)))
    else:
        divisor = float(values.data.size)
    if divisor == 0:           # an empty batch (or all-zero weights): divide_no_nan, as Keras
        return _ops.multiply(total, 0.0)
    return _ops.divide(total, divisor)


# ---------------------------------------------------------------------------
# Loss classes
# ---------------------------------------------------------------------------

class Loss:
    """Base class: ``__call__(y_true, y_pred, sample_weight=None)`` returns the reduced loss
    (a Tensor).  Subclasses implement ``call(y_true, y_pred)`` returning per-sample losses."""

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        self.reduction = _check_reduction(type(self).__name__, reduction)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, got {name!r}")
        self.name = name or _snake(type(self).__name__)
        if dtype is not None and np.dtype(dtype).kind != "f":
            raise ValueError(f"{type(self).__name__}: dtype must be a float dtype, got {dtype!r}")
        self.dtype = None if dtype is None else np.dtype(dtype).name

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.dtype is not None:
            if isinstance(y_pred, Tensor):
                if y_pred.data.dtype != np.dtype(self.dtype):
                    y_pred = _ops.multiply(y_pred, np.ones((), self.dtype))
            else:
                y_pred = np.asarray(y_pred, dtype=self.dtype)
        values = self.call(y_true, y_pred)
        if not isinstance(values, Tensor):
            values = wrap(np.asarray(values))
        w = None
        if sample_weight is not None:
            w = _weights(type(self).__name__, sample_weight, values)
            values = _ops.multiply(values, w)
        if values.ndim == 0:
            return values
        return _reduce(values, self.reduction, w)

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def prepare_targets(self, y, output_shape, where="y"):
        """Validate and convert targets once (float32, same shape as the output)."""
        y = _float_targets(y, where, self)
        if y.ndim == len(output_shape) - 1 and output_shape[-1] == 1:
            y = y[..., None]
        if y.shape[1:] != tuple(output_shape[1:]):
            raise ValueError(f"{type(self).__name__}: {where} has shape {y.shape} but the model outputs "
                             f"{_fmt_shape(output_shape)}; targets must have the output's shape")
        return y

    def get_config(self):
        cfg = {"reduction": self.reduction, "name": self.name}
        if self.dtype is not None:
            cfg["dtype"] = self.dtype
        return cfg

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


def _float_targets(y, where, loss):
    y = np.asarray(_arr(y))
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{type(loss).__name__}: {where} must be numeric, got dtype {y.dtype}")
    y = np.ascontiguousarray(y, dtype=np.float32)
    if not np.all(np.isfinite(y)):
        i = int(np.argmax(~np.isfinite(y).reshape(len(y), -1).all(axis=1))) if y.ndim else 0
        raise ValueError(f"{type(loss).__name__}: {where} contains NaN or inf (first at sample {i})")
    return y


class LossFunctionWrapper(Loss):
    """A loss class around a per-sample function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(reduction, name or getattr(fn, "__name__", None), dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with integer class labels (shape (N,) or (N, 1)).

    ``from_logits=True``: ``y_pred`` are logits (fused softmax cross-entropy
    kernel, stable).  ``from_logits=False``: probabilities, clipped like Keras.
    """

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", name=None,
                 dtype=None, axis=-1):
        super().__init__(reduction, name, dtype)
        self.from_logits = _bool(type(self).__name__, "from_logits", from_logits)
        if ignore_class is not None and (isinstance(ignore_class, (bool, np.bool_))
                                         or not isinstance(ignore_class, (int, np.integer))):
            raise TypeError(f"SparseCategoricalCrossentropy: ignore_class must be an integer or None, "
                            f"got {ignore_class!r}")
        self.ignore_class = ignore_class
        self.axis = axis

    def __call__(self, y_true, y_pred, sample_weight=None):
        # the common case as one fused op: logits (N, C), mean over the batch, no weights
        if (sample_weight is None and self.from_logits and self.reduction in ("sum_over_batch_size", "mean")
                and self.ignore_class is None and self.axis in (-1, 1) and self.dtype is None):
            p = _arr(y_pred)
            if p.ndim == 2 and p.dtype.kind == "f" and p.shape[0] > 0:
                from .functional import softmax_cross_entropy
                labels = y_true.data if isinstance(y_true, Tensor) else y_true
                if not (isinstance(labels, np.ndarray) and labels.dtype.kind in "iu"
                        and labels.shape == (p.shape[0],)):   # (integer (N,) labels: range checked by the op)
                    labels = _int_labels("SparseCategoricalCrossentropy", y_true, p.shape, 1)
                return softmax_cross_entropy(y_pred, labels, reduction="mean")
        if self.ignore_class is not None and self.reduction in ("sum_over_batch_size", "mean"):
            # Keras: ignored entries are masked out, and the mean is over the valid ones
            values = self.call(y_true, y_pred)
            if sample_weight is not None:
                values = _ops.multiply(values, _weights(type(self).__name__, sample_weight, values))
            raw = np.asarray(_arr(y_true))
            if raw.shape == tuple(values.shape) + (1,):
                raw = raw[..., 0]
            valid = float(np.sum(raw != self.ignore_class))
            total = _ops.sum(values)
            return _ops.divide(total, valid) if valid else _ops.multiply(total, 0.0)
        return super().__call__(y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred):
        return sparse_categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits,
                                               ignore_class=self.ignore_class, axis=self.axis)

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
        if y.dtype.kind == "u" and y.size and y.max() > np.iinfo(np.int64).max:
            raise ValueError(f"SparseCategoricalCrossentropy: label {int(y.max())} in {where} is out of range")
        y = y.astype(np.int64)
        c = output_shape[-1]
        if len(output_shape) != 2:
            raise ValueError(f"SparseCategoricalCrossentropy: the model output must have shape (N, classes), "
                             f"got {_fmt_shape(output_shape)}")
        bad = (y < 0) | (y >= c)
        if self.ignore_class is not None:
            bad &= y != self.ignore_class
        if np.any(bad):
            i = int(np.argmax(bad))
            raise ValueError(f"SparseCategoricalCrossentropy: label {int(y[i])} ({where}[{i}]) is out of range "
                             f"for a model with {c} outputs: labels must be in [0, {c}) "
                             f"(got labels from {int(y.min())} to {int(y.max())})")
        return y

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": self.ignore_class,
                "axis": self.axis}


class CategoricalCrossentropy(Loss):
    """Cross-entropy with one-hot / probability targets of shape (N, C).

    ``label_smoothing`` mixes targets with the uniform distribution:
    ``t * (1 - ls) + ls / C`` (Keras).
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name=None, dtype=None):
        super().__init__(reduction, name, dtype)
        self.from_logits = _bool(type(self).__name__, "from_logits", from_logits)
        self.label_smoothing = _smoothing("CategoricalCrossentropy", label_smoothing)
        self.axis = axis

    def __call__(self, y_true, y_pred, sample_weight=None):
        # the common case as one fused op: logits (N, C), mean over the batch, no weights
        if (sample_weight is None and self.from_logits and self.reduction in ("sum_over_batch_size", "mean")
                and self.axis in (-1, 1) and self.dtype is None):
            p = _arr(y_pred)
            t = _arr(y_true)
            if p.ndim == 2 and p.dtype.kind == "f" and p.shape[0] > 0 and t.shape == p.shape \
                    and t.dtype.kind in "biuf":
                from .functional import softmax_cross_entropy
                return softmax_cross_entropy(y_pred, np.ascontiguousarray(t, dtype=p.dtype), reduction="mean",
                                             label_smoothing=self.label_smoothing)
        return super().__call__(y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred):
        return categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits,
                                        label_smoothing=self.label_smoothing, axis=self.axis)

    def prepare_targets(self, y, output_shape, where="y"):
        y = _float_targets(y, where, self)
        if y.ndim == 1 and len(output_shape) == 2 and output_shape[-1] != 1:
            raise ValueError(f"CategoricalCrossentropy: {where} has shape {y.shape} (integer labels?) but "
                             f"needs one-hot targets of shape (N, {output_shape[-1]}); use "
                             "SparseCategoricalCrossentropy or tinygrad_bn.utils.one_hot")
        return super().prepare_targets(y, output_shape, where)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class BinaryCrossentropy(Loss):
    """Binary cross-entropy, averaged over the last axis then reduced over examples.

    ``from_logits=True`` uses the stable ``max(x,0) - x*z + log1p(exp(-|x|))``.
    Predictions of shape ``(N,)`` are one output per sample (as ``(N, 1)``).
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name=None, dtype=None):
        super().__init__(reduction, name, dtype)
        self.from_logits = _bool(type(self).__name__, "from_logits", from_logits)
        self.label_smoothing = _smoothing("BinaryCrossentropy", label_smoothing)
        self.axis = axis

    def call(self, y_true, y_pred):
        y_true, y_pred = _per_sample_1d(y_true, y_pred)
        return binary_crossentropy(y_true, y_pred, from_logits=self.from_logits,
                                   label_smoothing=self.label_smoothing, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


def _per_sample_1d(y_true, y_pred):
    """Predictions of shape (N,) as (N, 1), so each element is one sample's loss."""
    p = _arr(y_pred)
    if p.ndim == 1:
        y_pred = _ops.reshape(y_pred, (-1, 1)) if isinstance(y_pred, Tensor) else p.reshape(-1, 1)
        t = _arr(y_true)
        if t.shape == p.shape:
            y_true = t.reshape(-1, 1)
    return y_true, y_pred


class _ElementwiseMean(Loss):
    """A loss that is the mean of an elementwise term over the last axis: without weights,
    'sum_over_batch_size' is the mean over every element (one op fewer)."""

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None and self.reduction in ("sum_over_batch_size", "mean") and self.dtype is None:
            p = _arr(y_pred)
            t = _arr(y_true)
            if (p.dtype.kind == "f" and p.ndim >= 1 and p.size and t.dtype.kind in "biuf"
                    and (t.shape == p.shape or (t.ndim == p.ndim - 1 and p.shape[-1] == 1
                                                and t.shape == p.shape[:-1]))):
                if t.shape != p.shape:
                    t = t[..., None]
                return _ops.mean(self._elementwise(y_pred, t.astype(p.dtype, copy=False)))
        return super().__call__(y_true, y_pred, sample_weight)


class MeanSquaredError(_ElementwiseMean):
    """``mean((y_pred - y_true)**2)`` over the last axis, then reduced over examples."""

    @staticmethod
    def _elementwise(p, t):
        d = _ops.subtract(p, t)
        return _ops.multiply(d, d)

    def call(self, y_true, y_pred):
        return mean_squared_error(*_per_sample_1d(y_true, y_pred))


class MeanAbsoluteError(_ElementwiseMean):
    """``mean(|y_pred - y_true|)`` over the last axis, then reduced over examples."""

    @staticmethod
    def _elementwise(p, t):
        return _ops.abs(_ops.subtract(p, t))

    def call(self, y_true, y_pred):
        return mean_absolute_error(*_per_sample_1d(y_true, y_pred))


class Huber(Loss):
    """Huber loss (``delta=1.0``): quadratic for errors up to ``delta``, linear beyond."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(reduction, name, dtype)
        huber(np.zeros((1, 1)), np.zeros((1, 1)), delta)   # validates delta
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        return huber(*_per_sample_1d(y_true, y_pred), delta=self.delta)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class KLDivergence(Loss):
    """Kullback-Leibler divergence ``sum(t * log(t / p))`` over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(reduction, name, dtype)

    def call(self, y_true, y_pred):
        return kl_divergence(y_true, y_pred)


def _wrapper_class(clsname, fn, doc, default_name, extra=None):
    """A Loss class around a per-sample function (``extra``: a keyword the class takes, e.g. axis)."""
    def __init__(self, reduction="sum_over_batch_size", name=default_name, dtype=None, **kw):
        bad = set(kw) - set(extra or {})
        if bad:
            raise TypeError(f"{clsname}: unexpected keyword argument(s) {sorted(bad)}")
        Loss.__init__(self, reduction, name, dtype)
        self._kw = {**(extra or {}), **kw}

    def call(self, y_true, y_pred):
        return fn(*_per_sample_1d(y_true, y_pred), **self._kw)

    def get_config(self):
        return {**Loss.get_config(self), **self._kw}

    return type(clsname, (Loss,), {"__init__": __init__, "call": call, "get_config": get_config,
                                   "__doc__": doc, "__module__": __name__})


Hinge = _wrapper_class("Hinge", hinge, "Hinge loss (labels -1/1, or 0/1 converted).", "hinge")
SquaredHinge = _wrapper_class("SquaredHinge", squared_hinge, "Squared hinge loss.", "squared_hinge")
CategoricalHinge = _wrapper_class("CategoricalHinge", categorical_hinge, "Categorical hinge loss.",
                                  "categorical_hinge")
Poisson = _wrapper_class("Poisson", poisson, "Poisson loss ``p - t log p``.", "poisson")
LogCosh = _wrapper_class("LogCosh", log_cosh, "``log(cosh(p - t))``.", "log_cosh")
CosineSimilarity = _wrapper_class("CosineSimilarity", cosine_similarity,
                                  "Negative cosine similarity along ``axis`` (-1).", "cosine_similarity",
                                  extra={"axis": -1})
MeanAbsolutePercentageError = _wrapper_class("MeanAbsolutePercentageError", mean_absolute_percentage_error,
                                             "Mean absolute percentage error.", "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _wrapper_class("MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
                                             "Mean squared logarithmic error.", "mean_squared_logarithmic_error")


class _FunctionLoss(Loss):
    """Wraps a plain function ``fn(y_true, y_pred) -> Tensor`` (per-example or scalar)."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name or getattr(fn, "__name__", "loss"))
        self.fn = fn

    def call(self, y_true, y_pred):
        out = self.fn(y_true, y_pred)
        if not isinstance(out, Tensor):
            out = wrap(np.asarray(out))
        return out

    def get_config(self):
        raise TypeError(f"the loss function {self.fn!r} cannot be saved; use a Loss subclass")


_CLASSES = {c.__name__: c for c in (SparseCategoricalCrossentropy, CategoricalCrossentropy,
                                    BinaryCrossentropy, MeanSquaredError, MeanAbsoluteError, Huber,
                                    KLDivergence, Hinge, SquaredHinge, CategoricalHinge, Poisson, LogCosh,
                                    CosineSimilarity, MeanAbsolutePercentageError, MeanSquaredLogarithmicError)}
_ALIASES = {"sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
            "categorical_crossentropy": CategoricalCrossentropy,
            "binary_crossentropy": BinaryCrossentropy,
            "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
            "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
            "huber": Huber, "huber_loss": Huber,
            "kl_divergence": KLDivergence, "kld": KLDivergence, "kullback_leibler_divergence": KLDivergence,
            "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
            "poisson": Poisson, "log_cosh": LogCosh, "logcosh": LogCosh, "cosine_similarity": CosineSimilarity,
            "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
            "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError}
# the per-sample functions, given to compile(loss=...), become their class (targets validated the same way)
_FUNCTIONS = {sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
              categorical_crossentropy: CategoricalCrossentropy, binary_crossentropy: BinaryCrossentropy,
              mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
              huber: Huber, kl_divergence: KLDivergence, hinge: Hinge, squared_hinge: SquaredHinge,
              categorical_hinge: CategoricalHinge, poisson: Poisson, log_cosh: LogCosh,
              cosine_similarity: CosineSimilarity, mean_absolute_percentage_error: MeanAbsolutePercentageError,
              mean_squared_logarithmic_error: MeanSquaredLogarithmicError}


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
        cls = _FUNCTIONS.get(identifier)
        return cls() if cls is not None else _FunctionLoss(identifier)
    raise TypeError(f"cannot interpret {identifier!r} as a loss")


def serialize(loss):
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config, custom_objects=None):
    if isinstance(config, str):
        return get(config)
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"unknown loss class {name!r}; pass it in custom_objects")
    return cls.from_config(config.get("config", {}))
