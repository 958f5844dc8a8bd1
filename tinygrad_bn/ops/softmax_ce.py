"""Softmax cross-entropy from logits: the composite reference, the fused op, dispatch, validation.

* ``softmax_cross_entropy(logits, labels, reduction='mean', label_smoothing=0.0)``:
  the public function (Keras ``from_logits=True``).  It validates once and
  picks the fused op ``softmax_ce`` when ``tinygrad_bn.config.fused()`` is
  true, the kernels import and the logits are float32/float64; otherwise the
  composite (float16 ...).
* ``softmax_cross_entropy_composite``: primitives only --
  ``-log_softmax(logits)[label]`` for integer labels,
  ``-sum(target * log_softmax(logits), -1)`` for dense ones.
* ``softmax_cross_entropy_fused``: the op ``softmax_ce``, whose forward calls
  ``tinygrad_bn._kernels.softmax_ce`` (loss and gradient from one read of the
  logits); its composite twin :func:`_softmax_ce_composite` has the op's exact
  signature, for higher-order gradients.

Labels are integer class ids of shape (N,) or dense probabilities (N, C).
Through the public functions they are constants (no gradient flows into
them, as Keras' losses treat ``y_true``).  The op ``softmax_ce`` itself, given
a *tensor* of dense labels that a tape watches, also returns their gradient
``-(1 - label_smoothing) * log_softmax(logits)`` (scaled by the reduction), as
TF's ``tf.nn.softmax_cross_entropy_with_logits`` does: ``tinygrad_bn.nn`` uses it.

IEEE semantics: a NaN logit makes its row's loss and gradient NaN; a ``-inf``
logit is a class of probability 0 (loss ``inf`` if the label is that class,
finite otherwise for integer labels; dense labels compute ``0 * -inf = NaN``
where their target is 0, as the formula says); an empty batch gives NaN for
``reduction='mean'`` (the mean of nothing) and 0 for ``'sum'``.
"""
import numpy as np

from .._engine import Tensor
from ..config import fused as _fused_selected
from .elementwise import add, multiply, negative, subtract
from .reductions import log_softmax, mean as _mean, softmax, sum as _sum
from .registry import data_of as _data, fmt_shape as _fmt, op
from .shape import getitem, reshape

try:
    from .._kernels import softmax_ce as _ce
except ImportError:             # pragma: no cover - kernels not built: composite only
    _ce = None

__all__ = ["softmax_cross_entropy", "softmax_cross_entropy_composite", "softmax_cross_entropy_fused",
           "softmax_ce", "softmax_ce_grad"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_FLOATS = (_F32, _F64)
_REDUCTIONS = ("mean", "sum", "none")
_LABEL_INTS = (np.dtype(np.int32), np.dtype(np.int64))
_ndarray = np.ndarray
_NAME = "softmax_cross_entropy"


# ---------------------------------------------------------------------------
# Validation (once per public call)
# ---------------------------------------------------------------------------

def _label_smoothing(name, label_smoothing):
    if (isinstance(label_smoothing, (bool, np.bool_))
            or not isinstance(label_smoothing, (int, float, np.integer, np.floating))):
        raise TypeError(f"{name}: label_smoothing must be a number in [0, 1], got {label_smoothing!r} "
                        f"({type(label_smoothing).__name__})")
    ls = float(label_smoothing)
    if not 0.0 <= ls <= 1.0:                     # also rejects NaN
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return ls


def _check_ce(name, logits, labels, reduction, label_smoothing, check_range):
    """Validate; returns (logits array, labels array, sparse?, label_smoothing as float)."""
    if type(reduction) is not str or reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if type(label_smoothing) is float and label_smoothing == 0.0:
        ls = 0.0
    else:
        ls = _label_smoothing(name, label_smoothing)
    ld = _data(logits)
    if ld.dtype.kind != "f":
        raise TypeError(f"{name}: logits must be floating point (float16, float32 or float64), "
                        f"got dtype {ld.dtype} (shape {_fmt(ld.shape)})")
    if ld.ndim != 2:
        raise ValueError(f"{name}: logits must have shape (N, C), got shape {_fmt(ld.shape)}")
    n, c = ld.shape
    if c < 1:
        raise ValueError(f"{name}: logits have no classes (shape {_fmt(ld.shape)})")
    yd = _data(labels)
    kind = yd.dtype.kind
    if kind in "iu":
        if yd.shape != (n,):
            raise ValueError(f"{name}: integer labels must have shape ({n},) to match logits of shape "
                             f"{_fmt(ld.shape)}, got shape {_fmt(yd.shape)}")
        if n and check_range:
            _check_label_range(name, yd, c, ld.shape)
        return ld, yd, True, ls
    if kind == "f":
        if yd.shape != ld.shape:
            raise ValueError(f"{name}: dense labels must have the logits' shape {_fmt(ld.shape)}, got shape "
                             f"{_fmt(yd.shape)} (integer class ids take shape ({n},))")
        return ld, yd, False, ls
    raise TypeError(f"{name}: labels must be integer class ids of shape (N,) or float probabilities of "
                    f"shape (N, C), got dtype {yd.dtype} and shape {_fmt(yd.shape)}")


def _check_label_range(name, yd, c, lshape):
    lo = yd.min()
    hi = yd.max()
    if lo < 0 or hi >= c:
        bad = (yd < 0) | (yd >= c)
        i = int(np.argmax(bad))
        raise ValueError(f"{name}: label {int(yd[i])} at index {i} is outside [0, {c}) for logits of "
                         f"shape {_fmt(lshape)}")


# ---------------------------------------------------------------------------
# The fused op and its composite twin (same signature)
# ---------------------------------------------------------------------------

def _scale(n, reduction):
    """The factor of the summed loss: 1/N for ``reduction='mean'`` (1 for an empty batch)."""
    return 1.0 / n if (reduction == "mean" and n > 0) else 1.0


def _smoothed(target, dt, ls, c):
    """``target * (1 - ls) + ls / C`` (Keras' label smoothing) written with the ops."""
    return add(multiply(target, dt.type(1 - ls)), dt.type(ls / c)) if ls else target


def _softmax_ce_composite(logits, labels, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from primitives, with :class:`softmax_ce`'s signature.

    ``log_softmax`` subtracts the row maximum first (the stable log-sum-exp).
    Integer labels pick ``-log_softmax[label]``; dense labels (N, C) give
    ``-sum(target * log_softmax, -1)``.  Label smoothing mixes the target with
    the uniform distribution: ``target * (1 - ls) + ls / C``.
    """
    ld = _data(logits)
    n, c = ld.shape
    dt = ld.dtype
    ls = float(label_smoothing)
    logp = log_softmax(logits, axis=-1)
    yd = _data(labels)
    if yd.dtype.kind in "iu":
        per = negative(getitem(logp, (np.arange(n), yd.astype(np.intp, copy=False))))
        if ls:
            per = add(multiply(per, dt.type(1 - ls)), multiply(_sum(logp, axis=-1), dt.type(-ls / c)))
    else:
        target = labels if isinstance(labels, Tensor) and yd.dtype == dt else yd.astype(dt, copy=False)
        per = negative(_sum(multiply(_smoothed(target, dt, ls, c), logp), axis=-1))
    if reduction == "mean":
        return _mean(per)
    if reduction == "sum":
        return _sum(per)
    return per


def _sparse_labels(y, c):
    """int32/int64 labels for the kernel (which checks their range); a wide unsigned label that
    would wrap negative in int64 is reported with its true value."""
    if y.dtype.kind == "u" and y.dtype.itemsize == 8 and y.size:
        hi = y.max()
        if hi >= c:
            i = int(np.argmax(y >= c))
            raise ValueError(f"softmax_ce: label {int(y[i])} at index {i} is outside [0, {c})")
    return y.astype(np.int64)


def _kernel(x, y, ls, scale):
    """One read of the logits by the fused kernel: ``(grad, per-row losses, their sum)`` with
    ``grad = (softmax * sum(t) - t) * scale`` (t the smoothed target)."""
    n, c = x.shape
    ydt = y.dtype
    grad = np.empty((n, c), x.dtype)
    loss = np.empty(n)
    if ydt in _LABEL_INTS:
        total = _ce.ce_forward_sparse(x, y, ls, scale, grad, loss)
    elif ydt.kind in "iu":
        total = _ce.ce_forward_sparse(x, _sparse_labels(y, c), ls, scale, grad, loss)
    elif ydt.kind == "f":
        if y.shape != x.shape:
            raise ValueError(f"softmax_ce: dense labels must have the logits' shape {x.shape}, got {y.shape}")
        if ydt != x.dtype:
            y = y.astype(x.dtype)
        total = _ce.ce_forward_dense(x, y, ls, scale, grad, loss)
    else:
        raise TypeError(f"softmax_ce: labels must be integer class ids or float probabilities, "
                        f"got dtype {ydt}")
    return grad, loss, total


def _check_logits(x, reduction, label_smoothing):
    """The op's own checks (the public functions validated already); returns (scale, ls)."""
    dtype = x.dtype
    if dtype not in _FLOATS:
        raise TypeError(f"softmax_ce: logits must be float32 or float64, got dtype {dtype}")
    if x.ndim != 2:
        raise ValueError(f"softmax_ce: logits must have shape (N, C), got shape {x.shape}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"softmax_ce: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    ls = float(label_smoothing)
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"softmax_ce: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return _scale(x.shape[0], reduction), ls


@op(composite=_softmax_ce_composite)
class softmax_ce:
    """Softmax cross-entropy from logits (N, C) and integer (N,) or dense (N, C) labels.

    The forward computes the loss and keeps ``(softmax * sum(t) - t) * scale`` as the
    residual (one read of the logits, one write of the gradient); the backward only
    scales it by the incoming gradient (and returns it as is when that is 1).  Dense
    labels that need a gradient get ``-(1 - ls) * log_softmax(logits) * scale``.

    Higher order: the backward on Tensors is one recorded op, :class:`softmax_ce_grad`
    (whose own derivatives come from its composite), instead of the composite loss
    differentiated again; dense labels that a tape watches take the primitives.
    """
    def forward(logits, labels, reduction="mean", label_smoothing=0.0):
        if isinstance(logits, Tensor) or isinstance(labels, Tensor):
            # run again on Tensors by the engine for a higher-order gradient: only the
            # residuals matter, and tensor_backward records the gradient as ops of them
            scale, ls = _check_logits(_data(logits), reduction, label_smoothing)
            dense = _data(labels).dtype.kind == "f"
            return None, (None, reduction, logits, labels, dense, ls, scale)
        # Kept lean: at (512, 10) the kernel takes a few microseconds, so every NumPy helper
        # call here shows.  The kernel validates shapes and label values and copies
        # non-contiguous inputs itself.
        x = logits if type(logits) is _ndarray else np.asarray(logits)
        scale, ls = _check_logits(x, reduction, label_smoothing)
        y = labels if type(labels) is _ndarray else np.asarray(labels)
        grad, loss, total = _kernel(x, y, ls, scale)
        dtype = x.dtype
        n = x.shape[0]
        if reduction == "mean":
            out = dtype.type(total / n) if n else dtype.type(np.nan)
        elif reduction == "sum":
            out = dtype.type(total)
        else:
            out = loss.astype(dtype)
        return out, (grad, reduction, x, y, y.dtype.kind == "f", ls, scale)

    def backward(res, g, needs):
        grad, reduction, x, _, dense, ls, scale = res
        if reduction == "none":
            gcol = np.asarray(g, dtype=grad.dtype).reshape(-1, 1)
            gx = grad * gcol
        elif g == 1:
            gx = grad                      # the common case: d(loss)/d(loss) = 1, no extra pass
        else:
            gx = grad * grad.dtype.type(g)
        gy = None
        if dense and needs[1]:
            # d(loss)/d(labels) = -(1 - ls) * log_softmax(logits), scaled like the loss
            m = np.max(x, axis=-1, keepdims=True)
            m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
            shifted = x - m
            logp = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
            w = -(1.0 - ls) * scale
            if reduction == "none":
                gy = logp * (gcol * x.dtype.type(w))
            else:
                gy = logp * x.dtype.type(w * float(g))
        return (gx if needs[0] else None, gy)

    def tensor_backward(res, g, needs):
        _, reduction, x, y, dense, ls, scale = res
        if not (dense and isinstance(y, Tensor)):    # constant labels: one op
            return (softmax_ce_grad(x, g, _data(y), reduction, ls) if needs[0] else None, None)
        # dense labels a tape watches: the same two gradients, written with primitives
        dt = _data(x).dtype
        gcol = reshape(g, (-1, 1)) if reduction == "none" else g
        logp = log_softmax(x, axis=-1)
        gx = gy = None
        if needs[0]:
            t = _smoothed(y, dt, ls, _data(x).shape[1])
            total = _sum(t, axis=-1, keepdims=True)
            gx = multiply(subtract(multiply(softmax(x, axis=-1), total), t), multiply(gcol, dt.type(scale)))
        if needs[1]:
            gy = multiply(logp, multiply(gcol, dt.type(-(1.0 - ls) * scale)))
        return gx, gy


def _target(labels, n, c, dt, ls):
    """The smoothed target as an array (N, C) and its row sums (N, 1) (None: all 1)."""
    yd = _data(labels)
    sparse = yd.dtype.kind in "iu"
    if sparse:
        t = np.zeros((n, c), dt)
        t[np.arange(n), yd] = 1
    else:
        t = yd.astype(dt, copy=False)
    if ls:
        t = t * dt.type(1 - ls) + dt.type(ls / c)
    return t, None if sparse else np.sum(t, axis=-1, keepdims=True)


def _softmax_ce_grad_composite(logits, g, labels, reduction="mean", label_smoothing=0.0):
    """:class:`softmax_ce_grad` from primitives: ``(softmax(logits) * T - t) * scale * g``."""
    ld = _data(logits)
    n, c = ld.shape
    dt = ld.dtype
    scale = _scale(n, reduction)
    t, total = _target(labels, n, c, dt, float(label_smoothing))
    p = softmax(logits, axis=-1)
    unit = subtract(p if total is None else multiply(p, total), t)
    gcol = reshape(g, (-1, 1)) if reduction == "none" else g
    return multiply(unit, multiply(gcol, dt.type(scale)))


@op(composite=_softmax_ce_grad_composite, nin=2)
class softmax_ce_grad:
    """``d softmax_ce(logits, labels) / d logits`` times its incoming gradient ``g`` (a scalar,
    or (N,) for ``reduction='none'``): ``(softmax(logits) * T - t) * scale * g``, with t the
    smoothed target and T its row sums (1 for integer labels).  The labels are constants.

    It is what :class:`softmax_ce` records as its backward under an outer tape (TF's
    ``SoftmaxCrossEntropyWithLogits`` gradient), so a Hessian-vector product through the loss
    costs one fused kernel forward and a closed-form vjp:
    ``d/dlogits = scale * g * T * (softmax * G - softmax * sum(softmax * G))`` and
    ``d/dg = sum(G * (softmax * T - t)) * scale``.
    """
    def forward(logits, g, labels, reduction="mean", label_smoothing=0.0):
        x = logits if type(logits) is _ndarray else np.asarray(logits)
        scale, ls = _check_logits(x, reduction, label_smoothing)
        y = labels if type(labels) is _ndarray else np.asarray(labels)
        unit, _, _ = _kernel(x, y, ls, scale)
        gd = np.asarray(g)
        if reduction == "none":
            if gd.shape != (x.shape[0],):
                raise ValueError(f"softmax_ce_grad: g must have shape ({x.shape[0]},) for reduction='none', "
                                 f"got shape {gd.shape}")
            out = unit * gd.astype(x.dtype, copy=False).reshape(-1, 1)
        elif gd.shape != ():
            raise ValueError(f"softmax_ce_grad: g must be a scalar for reduction={reduction!r}, "
                             f"got shape {gd.shape}")
        else:
            out = unit if gd == 1 else unit * x.dtype.type(gd)
        return out, (x, gd, y, unit, reduction, ls, scale)

    def backward(res, gg, needs):
        x, gd, y, unit, reduction, ls, scale = res
        dt = x.dtype
        gcol = gd.astype(dt, copy=False).reshape(-1, 1) if reduction == "none" else dt.type(gd)
        gx = gg_in = None
        if needs[0]:
            p = softmax.forward(x, -1)[0]
            pg = p * gg
            pg -= p * np.sum(pg, axis=-1, keepdims=True)
            w = gcol * dt.type(scale)
            if y.dtype.kind == "f":                 # T: the smoothed target's row sums
                w = w * _target(y, *x.shape, dt, ls)[1]
            gx = pg * w
        if needs[1]:
            prod = np.sum(gg * unit, axis=-1)
            gg_in = prod if reduction == "none" else dt.type(np.sum(prod))
        return gx, gg_in


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------

def softmax_cross_entropy(logits, labels, reduction="mean", label_smoothing=0.0):
    """Cross-entropy between ``softmax(logits)`` and ``labels`` (Keras ``from_logits=True``).

    ``logits``: (N, C).  ``labels``: integer class ids of shape (N,) (each in
    ``[0, C)``) or dense probabilities / one-hot of shape (N, C).
    ``reduction``: ``'mean'`` (default) over the N examples, ``'sum'``, or
    ``'none'`` (the per-example losses, shape (N,)).  ``label_smoothing`` as
    Keras: ``target * (1 - ls) + ls / C``.  No gradient flows into the labels.
    """
    ld, yd, _, ls = _check_ce(_NAME, logits, labels, reduction, label_smoothing, False)
    dt = ld.dtype
    if (dt is _F32 or dt is _F64) and _ce is not None and _fused_selected():
        return _call_fused(_NAME, logits, yd, reduction, ls)
    if yd.dtype.kind in "iu" and yd.size:
        _check_label_range(_NAME, yd, ld.shape[1], ld.shape)
    return _softmax_ce_composite(logits, yd, reduction, ls)


def softmax_cross_entropy_composite(logits, labels, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from primitives (the reference; see :func:`_softmax_ce_composite`)."""
    _, yd, _, ls = _check_ce(_NAME, logits, labels, reduction, label_smoothing, True)
    return _softmax_ce_composite(logits, yd, reduction, ls)


def softmax_cross_entropy_fused(logits, labels, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy as one fused op (loss and gradient from one read of the logits)."""
    ld, yd, _, ls = _check_ce(_NAME, logits, labels, reduction, label_smoothing, False)
    if _ce is None:
        raise RuntimeError("softmax_cross_entropy_fused: the compiled softmax-CE kernels are not available "
                           "(tinygrad_bn._kernels.softmax_ce did not import)")
    if ld.dtype not in _FLOATS:
        raise TypeError(f"softmax_cross_entropy_fused: the fused kernel takes float32 or float64 logits, got "
                        f"dtype {ld.dtype}; use softmax_cross_entropy or the composite")
    return _call_fused(_NAME, logits, yd, reduction, ls)


def _call_fused(name, logits, yd, reduction, ls):
    """The op, with the kernel's label-range error (found inside the op) naming ``name`` too."""
    try:
        return softmax_ce(logits, yd, reduction, ls)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc
