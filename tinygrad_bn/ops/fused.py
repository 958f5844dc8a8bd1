"""Fused ops: batch norm and softmax cross-entropy, each one op on the tape.

The forward and the backward call the Cython kernels of
``tinygrad_bn._kernels`` (see ``kernels/*.pyx`` and ``docs/kernels.md``); the
readable composite definitions they must agree with are in
``tinygrad_bn.nn.functional``.  Inputs are float32 or float64; the feature /
class axis is the last one and any leading axes are flattened into rows.
Non-contiguous inputs are copied once.
"""
import threading

import numpy as np

from .._kernels import batchnorm as _bn
from .._kernels import softmax_ce as _ce
from .registry import op

__all__ = ["batch_norm_train", "batch_norm_infer", "softmax_ce", "last_batch_stats"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_tls = threading.local()


def last_batch_stats():
    """``(mean, var)`` (float64 arrays of shape (D,)) of the latest ``batch_norm_train``
    forward in this thread: how ``batch_norm(..., return_stats=True)`` gets them."""
    return _tls.stats


def _as_rows(name, x):
    """x as a C-contiguous float32/float64 (rows, features) array, plus its original shape."""
    x = np.asarray(x)
    if x.dtype not in _FLOATS:
        raise TypeError(f"{name}: x must be float32 or float64, got dtype {x.dtype} (shape {x.shape})")
    if x.ndim < 1:
        raise ValueError(f"{name}: x must have at least 1 dimension (features last), got a 0-d array")
    shape = x.shape
    d = shape[-1]
    n = 1
    for s in shape[:-1]:
        n *= s
    return np.ascontiguousarray(x).reshape(n, d), shape


def _vec(name, pname, a, d, dtype):
    a = np.asarray(a)
    if a.dtype.kind != "f":
        raise TypeError(f"{name}: {pname} must be floating point, got dtype {a.dtype}")
    if a.shape != (d,):
        raise ValueError(f"{name}: {pname} has shape {a.shape}, expected ({d},) (one value per feature)")
    return np.ascontiguousarray(a, dtype=dtype)


@op
class batch_norm_train:
    """Training batch norm over all axes but the last: ``gamma * (x - mean) / sqrt(var + eps) + beta``
    with the batch mean and biased variance (kernel: 2 reads of x + 1 write forward, 2 reads of
    (x, dy) + 1 write backward; statistics in double)."""
    def forward(x, gamma, beta, epsilon=1e-3):
        x2, shape = _as_rows("batch_norm_train", x)
        n, d = x2.shape
        dtype = x2.dtype
        gamma = _vec("batch_norm_train", "gamma", gamma, d, dtype)
        beta = _vec("batch_norm_train", "beta", beta, d, dtype)
        out = np.empty((n, d), dtype)
        mean = np.empty(d)
        var = np.empty(d)
        invstd = np.empty(d)
        _bn.bn_train_forward(x2, gamma, beta, float(epsilon), out, mean, var, invstd)
        _tls.stats = (mean, var)
        return out.reshape(shape), (x2, mean, invstd, gamma, shape)

    def backward(res, g, needs):
        x2, mean, invstd, gamma, shape = res
        dtype = x2.dtype
        dy = np.ascontiguousarray(g, dtype=dtype).reshape(x2.shape)
        d = x2.shape[1]
        dx = np.empty_like(x2)
        dgamma = np.empty(d)
        dbeta = np.empty(d)
        _bn.bn_train_backward(x2, dy, mean, invstd, gamma, dx, dgamma, dbeta)
        return (dx.reshape(shape) if needs[0] else None,
                dgamma.astype(dtype) if needs[1] else None,
                dbeta.astype(dtype) if needs[2] else None)


@op
class batch_norm_infer:
    """Inference batch norm with given statistics (constants: no gradient for them):
    ``gamma * (x - moving_mean) / sqrt(moving_var + eps) + beta`` (one read, one write)."""
    def forward(x, gamma, beta, moving_mean, moving_var, epsilon=1e-3):
        x2, shape = _as_rows("batch_norm_infer", x)
        n, d = x2.shape
        dtype = x2.dtype
        gamma = _vec("batch_norm_infer", "gamma", gamma, d, np.float64)
        beta = _vec("batch_norm_infer", "beta", beta, d, np.float64)
        mm = _vec("batch_norm_infer", "moving_mean", moving_mean, d, np.float64)
        mv = _vec("batch_norm_infer", "moving_var", moving_var, d, np.float64)
        if epsilon < 0:
            raise ValueError(f"batch_norm_infer: epsilon must be >= 0, got {epsilon}")
        invstd = 1.0 / np.sqrt(mv + float(epsilon))
        a = gamma * invstd
        b = beta - mm * a
        out = np.empty((n, d), dtype)
        _bn.bn_affine(x2, a, b, out)
        return out.reshape(shape), (x2, mm, a, invstd, shape)

    def backward(res, g, needs):
        x2, mm, a, invstd, shape = res
        dtype = x2.dtype
        dy = np.ascontiguousarray(g, dtype=dtype).reshape(x2.shape)
        d = x2.shape[1]
        dx = np.empty_like(x2)
        s_dy = np.empty(d)
        s_dyxc = np.empty(d)
        _bn.bn_infer_backward(x2, dy, mm, a, dx, s_dy, s_dyxc)
        return (dx.reshape(shape) if needs[0] else None,
                (s_dyxc * invstd).astype(dtype) if needs[1] else None,
                s_dy.astype(dtype) if needs[2] else None,
                None, None)


_REDUCTIONS = ("mean", "sum", "none")


@op
class softmax_ce:
    """Softmax cross-entropy from logits (N, C) and integer (N,) or dense (N, C) labels.

    The forward computes the loss and keeps ``(softmax * sum(t) - t) * scale`` as the
    residual (one read of the logits, one write of the gradient); the backward only
    scales it by the incoming gradient (and returns it as is when that is 1).
    """
    def forward(logits, labels, reduction="mean", label_smoothing=0.0):
        x = np.asarray(logits)
        if x.dtype not in _FLOATS:
            raise TypeError(f"softmax_ce: logits must be float32 or float64, got dtype {x.dtype}")
        if x.ndim != 2:
            raise ValueError(f"softmax_ce: logits must have shape (N, C), got shape {x.shape}")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"softmax_ce: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        x = np.ascontiguousarray(x)
        n, c = x.shape
        dtype = x.dtype
        ls = float(label_smoothing)
        scale = 1.0 / n if (reduction == "mean" and n > 0) else 1.0
        y = np.asarray(labels)
        grad = np.empty((n, c), dtype)
        loss = np.empty(n)
        if y.dtype.kind in "iu":
            if y.dtype != np.int32 and y.dtype != np.int64:
                y = y.astype(np.int64)
            total = _ce.ce_forward_sparse(x, np.ascontiguousarray(y), ls, scale, grad, loss)
        elif y.dtype.kind == "f":
            if y.shape != x.shape:
                raise ValueError(f"softmax_ce: dense labels must have the logits' shape {x.shape}, got {y.shape}")
            total = _ce.ce_forward_dense(x, np.ascontiguousarray(y, dtype=dtype), ls, scale, grad, loss)
        else:
            raise TypeError(f"softmax_ce: labels must be integer class ids or float probabilities, "
                            f"got dtype {y.dtype}")
        if reduction == "mean":
            out = dtype.type(total / n) if n else dtype.type(np.nan)
        elif reduction == "sum":
            out = dtype.type(total)
        else:
            out = loss.astype(dtype)
        return out, (grad, reduction)

    def backward(res, g, needs):
        grad, reduction = res
        if reduction == "none":
            gx = grad * np.asarray(g, dtype=grad.dtype).reshape(-1, 1)
        elif g == 1:
            gx = grad                      # the common case: d(loss)/d(loss) = 1, no extra pass
        else:
            gx = grad * grad.dtype.type(g)
        return (gx, None)
