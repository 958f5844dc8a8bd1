"""The functional API of the layers: batch norm and softmax cross-entropy.

Each function has two implementations that compute the same thing:

* the **composite** reference (``*_composite``), written only with the tape's
  primitives (``mean``, ``var``, ``sqrt``, ``log_softmax``, ``sum`` ...): the
  readable definition a student can follow line by line, differentiated by
  the tape with no hand-written vjp;
* the **fused** path (``*_fused``), one op on the tape whose forward and
  backward call the Cython kernels of ``tinygrad_bn._kernels`` (fewer passes
  over memory, OpenMP over rows/features, statistics in double precision).

The public functions (``batch_norm``, ``batch_norm_inference``,
``softmax_cross_entropy``) pick the fused path when
``tinygrad_bn.config.fused()`` is true (the default; switch with
``tinygrad_bn.config(fused=False)`` or ``TINYGRAD_BN_FUSED=0``) and the
inputs are float32/float64; otherwise the composite one.

Conventions (Keras): batch norm normalises over every axis but the last
(feature) axis with the *biased* batch variance, ``epsilon=1e-3``; the
moving averages are the layer's business (``return_stats=True`` hands it the
batch mean and variance as plain NumPy arrays).  Labels of the cross-entropy
are constants: no gradient flows into them.
"""
import numpy as np

from ..config import fused as _fused_selected
from .._engine import Tensor
from ..ops import log_softmax, mean, sqrt, sum as _sum, var

__all__ = [
    "batch_norm", "batch_norm_composite", "batch_norm_fused",
    "batch_norm_inference", "batch_norm_inference_composite", "batch_norm_inference_fused",
    "softmax_cross_entropy", "softmax_cross_entropy_composite", "softmax_cross_entropy_fused",
]

_REDUCTIONS = ("mean", "sum", "none")


def _data(x):
    """The array behind a Tensor / array-like (no copy for arrays)."""
    if isinstance(x, Tensor):
        return x.data
    return np.asarray(x)


def _fused_ok(x, *others):
    """The kernels take float32/float64, with the parameters in x's dtype (else: composite,
    which follows NumPy's type promotion)."""
    dt = _data(x).dtype
    if dt != np.float32 and dt != np.float64:
        return False
    for a in others:
        if a is not None and _data(a).dtype != dt:
            return False
    return True


def _check_bn_args(name, x, params):
    xd = _data(x)
    if xd.dtype.kind != "f":
        raise TypeError(f"{name}: x must be floating point, got dtype {xd.dtype} (shape {xd.shape})")
    if xd.ndim < 1:
        raise ValueError(f"{name}: x must have at least 1 dimension (features last), got a 0-d array")
    d = xd.shape[-1]
    for pname, p in params:
        if p is None:
            continue
        pd = _data(p)
        if pd.dtype.kind != "f":
            raise TypeError(f"{name}: {pname} must be floating point, got dtype {pd.dtype}")
        if pd.shape != (d,):
            raise ValueError(f"{name}: {pname} has shape {pd.shape}, expected ({d},) to match "
                             f"the last (feature) axis of x with shape {xd.shape}")
    return xd


# ---------------------------------------------------------------------------
# Batch norm
# ---------------------------------------------------------------------------

def batch_norm_composite(x, gamma, beta, epsilon=1e-3, return_stats=False):
    """Training-mode batch norm from primitives (the reference definition).

    ``mean`` and biased ``var`` over every axis but the last, then
    ``gamma * (x - mean) / sqrt(var + epsilon) + beta``.
    """
    xd = _check_bn_args("batch_norm", x, (("gamma", gamma), ("beta", beta)))
    axes = tuple(range(xd.ndim - 1))
    mu = mean(x, axis=axes, keepdims=True)             # shape (1, ..., 1, D)
    sigma2 = var(x, axis=axes, keepdims=True)          # biased: divides by the count
    y = (x - mu) / sqrt(sigma2 + epsilon)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    if return_stats:
        d = xd.shape[-1]
        return y, np.asarray(mu.data).reshape(d).copy(), np.asarray(sigma2.data).reshape(d).copy()
    return y


def batch_norm_inference_composite(x, moving_mean, moving_var, gamma, beta, epsilon=1e-3):
    """Inference-mode batch norm from primitives: normalise with given statistics."""
    _check_bn_args("batch_norm_inference", x, (("moving_mean", moving_mean), ("moving_var", moving_var),
                                                ("gamma", gamma), ("beta", beta)))
    y = (x - moving_mean) / sqrt(moving_var + epsilon)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y


def batch_norm_fused(x, gamma, beta, epsilon=1e-3, return_stats=False):
    """Training-mode batch norm as one fused op (same result as the composite)."""
    from ..ops.fused import batch_norm_train
    xd = _check_bn_args("batch_norm", x, (("gamma", gamma), ("beta", beta)))
    d = xd.shape[-1]
    dtype = xd.dtype if xd.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    # A missing scale/offset is a constant (never recorded, no gradient computed for it).
    g = np.ones(d, dtype) if gamma is None else gamma
    b = np.zeros(d, dtype) if beta is None else beta
    y = batch_norm_train(x, g, b, epsilon=float(epsilon))
    if return_stats:
        from ..ops.fused import last_batch_stats
        mu, sigma2 = last_batch_stats()
        return y, mu.astype(dtype), sigma2.astype(dtype)
    return y


def batch_norm_inference_fused(x, moving_mean, moving_var, gamma, beta, epsilon=1e-3):
    """Inference-mode batch norm as one fused op."""
    from ..ops.fused import batch_norm_infer
    xd = _check_bn_args("batch_norm_inference", x, (("moving_mean", moving_mean), ("moving_var", moving_var),
                                                     ("gamma", gamma), ("beta", beta)))
    d = xd.shape[-1]
    dtype = xd.dtype
    g = np.ones(d, dtype) if gamma is None else gamma
    b = np.zeros(d, dtype) if beta is None else beta
    return batch_norm_infer(x, g, b, _data(moving_mean), _data(moving_var), epsilon=float(epsilon))


def batch_norm(x, gamma, beta, epsilon=1e-3, return_stats=False):
    """Training-mode batch normalisation over every axis but the last.

    ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the batch mean
    and *biased* batch variance (Keras and PyTorch both normalise with the
    biased one).  ``gamma``/``beta`` may be ``None`` (Keras ``scale=False`` /
    ``center=False``).  With ``return_stats=True`` returns ``(y, batch_mean,
    batch_var)``, the statistics as NumPy arrays of shape ``(D,)`` for the
    layer's moving averages (Keras convention:
    ``moving = momentum * moving + (1 - momentum) * batch``, momentum 0.99).
    """
    if _fused_selected() and _have_fused() and _fused_ok(x, gamma, beta):
        return batch_norm_fused(x, gamma, beta, epsilon, return_stats)
    return batch_norm_composite(x, gamma, beta, epsilon, return_stats)


def batch_norm_inference(x, moving_mean, moving_var, gamma, beta, epsilon=1e-3):
    """Batch normalisation with given (moving) statistics; differentiable w.r.t. x, gamma, beta.

    The statistics are treated as constants by the fused path; if one is a
    trainable variable the composite path is used so its gradient is exact.
    """
    if (_fused_selected() and _have_fused() and _fused_ok(x, moving_mean, moving_var, gamma, beta)
            and not _trainable(moving_mean, moving_var)):
        return batch_norm_inference_fused(x, moving_mean, moving_var, gamma, beta, epsilon)
    return batch_norm_inference_composite(x, moving_mean, moving_var, gamma, beta, epsilon)


def _trainable(*stats):
    return any(isinstance(s, Tensor) and getattr(s, "trainable", False) for s in stats)


_FUSED = []


def _have_fused():
    """True when the compiled kernels import (else everything runs on the composite path)."""
    if not _FUSED:
        try:
            from ..ops import fused  # noqa: F401
            _FUSED.append(True)
        except ImportError:
            _FUSED.append(False)
    return _FUSED[0]


# ---------------------------------------------------------------------------
# Softmax cross-entropy
# ---------------------------------------------------------------------------

def _check_ce_args(logits, labels, reduction, label_smoothing, check_range=True):
    ld = _data(logits)
    yd = _data(labels)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"softmax_cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    ls = float(label_smoothing)
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"softmax_cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if ld.dtype.kind != "f":
        raise TypeError(f"softmax_cross_entropy: logits must be floating point, got dtype {ld.dtype}")
    if ld.ndim != 2:
        raise ValueError(f"softmax_cross_entropy: logits must have shape (N, C), got shape {ld.shape}")
    n, c = ld.shape
    if c < 1:
        raise ValueError(f"softmax_cross_entropy: logits have no classes (shape {ld.shape})")
    if yd.dtype.kind in "iu":
        if yd.shape != (n,):
            raise ValueError(f"softmax_cross_entropy: integer labels must have shape ({n},) to match "
                             f"logits of shape {ld.shape}, got {yd.shape}")
        if n and check_range:   # (the fused kernel checks the range itself, before its loop)
            bad = (yd < 0) | (yd >= c)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"softmax_cross_entropy: label {int(yd[i])} at index {i} is outside "
                                 f"[0, {c}) for logits of shape {ld.shape}")
        return ld, yd, True, ls
    if yd.dtype.kind == "f":
        if yd.shape != ld.shape:
            raise ValueError(f"softmax_cross_entropy: dense labels must have the logits' shape {ld.shape}, "
                             f"got {yd.shape}")
        return ld, yd, False, ls
    raise TypeError(f"softmax_cross_entropy: labels must be integer class ids (N,) or float "
                    f"probabilities (N, C), got dtype {yd.dtype} and shape {yd.shape}")


def softmax_cross_entropy_composite(logits, labels, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from primitives: ``-sum(target * log_softmax(logits), -1)``.

    ``log_softmax`` subtracts the row maximum first (the stable log-sum-exp).
    Integer labels become a constant one-hot target; label smoothing mixes the
    target with the uniform distribution: ``target * (1 - ls) + ls / C``.
    """
    ld, yd, sparse, ls = _check_ce_args(logits, labels, reduction, label_smoothing)
    n, c = ld.shape
    if sparse:
        target = np.zeros((n, c), ld.dtype)
        target[np.arange(n), yd] = 1
    else:
        target = yd.astype(ld.dtype, copy=False)
    if ls:
        target = target * ld.dtype.type(1 - ls) + ld.dtype.type(ls / c)
    per_example = -_sum(target * log_softmax(logits, axis=-1), axis=-1)
    if reduction == "mean":
        return mean(per_example)
    if reduction == "sum":
        return _sum(per_example)
    return per_example


def softmax_cross_entropy_fused(logits, labels, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy as one fused op (loss and gradient from one read of the logits)."""
    from ..ops.fused import softmax_ce
    _, yd, _, ls = _check_ce_args(logits, labels, reduction, label_smoothing, check_range=False)
    return softmax_ce(logits, yd, reduction=reduction, label_smoothing=ls)


def softmax_cross_entropy(logits, labels, reduction="mean", label_smoothing=0.0):
    """Cross-entropy between ``softmax(logits)`` and ``labels`` (Keras ``from_logits=True``).

    ``logits``: (N, C).  ``labels``: integer class ids of shape (N,) (int32 or
    int64; each in ``[0, C)``) or dense probabilities / one-hot of shape
    (N, C).  ``reduction``: ``'mean'`` (default) over the N examples,
    ``'sum'``, or ``'none'`` (the per-example losses, shape (N,)).
    ``label_smoothing`` as Keras: ``target * (1 - ls) + ls / C``.
    No gradient flows into the labels.
    """
    if _fused_selected() and _have_fused() and _fused_ok(logits):
        return softmax_cross_entropy_fused(logits, labels, reduction, label_smoothing)
    return softmax_cross_entropy_composite(logits, labels, reduction, label_smoothing)
