"""Fused ops: batch norm and softmax cross-entropy, each one op on the tape.

The forward and the backward call the Cython kernels of
``tinygrad_bn._kernels`` (see ``kernels/*.pyx`` and ``docs/kernels.md``); the
readable composite definitions they must agree with are in
``tinygrad_bn.keras.functional``.  Inputs are float32 or float64; the feature /
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
_F32, _F64 = _FLOATS
_tls = threading.local()


def last_batch_stats():
    """``(mean, var)`` (float64 arrays of shape (D,)) of the latest ``batch_norm_train``
    forward in this thread: how ``batch_norm(..., return_stats=True)`` gets them."""
    return _tls.stats


def _as_rows(name, x):
    """x as a C-contiguous float32/float64 (rows, features) array, plus its original shape."""
    if (type(x) is np.ndarray and (x.dtype is _F32 or x.dtype is _F64) and x.ndim == 2
            and x.flags.c_contiguous and x.flags.aligned):
        return x, x.shape                   # the common case, without NumPy helper calls
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
    return np.require(x, requirements="CA").reshape(n, d), shape     # contiguous, aligned


def _vec(name, pname, a, d, dtype):
    if (type(a) is np.ndarray and a.dtype == dtype and a.shape == (d,) and a.flags.c_contiguous
            and a.flags.aligned):
        return a
    a = np.asarray(a)
    if a.dtype.kind != "f":
        raise TypeError(f"{name}: {pname} must be floating point, got dtype {a.dtype}")
    if a.shape != (d,):
        raise ValueError(f"{name}: {pname} has shape {a.shape}, expected ({d},) (one value per feature)")
    return np.require(a, dtype=dtype, requirements="CA")


@op
class batch_norm_train:
    """Training batch norm over all axes but the last: ``gamma * (x - mean) / sqrt(var + eps) + beta``
    with the batch mean and biased variance (kernel: 2 reads of x + 1 write forward, 2 reads of
    (x, dy) + 1 write backward; statistics in double)."""
    def forward(x, gamma, beta, epsilon=1e-3):
        x2, shape = _as_rows("batch_norm_train", x)
        d = x2.shape[1]
        dtype = x2.dtype
        gamma = _vec("batch_norm_train", "gamma", gamma, d, dtype)
        beta = _vec("batch_norm_train", "beta", beta, d, dtype)
        # the kernel allocates out, mean, var, invstd (cheaper than np.empty from Python)
        out, mean, var, invstd = _bn.bn_train_forward(x2, gamma, beta, float(epsilon))
        _tls.stats = (mean, var)
        if len(shape) != 2:
            out = out.reshape(shape)
        return out, (x2, mean, invstd, gamma, shape)

    def backward(res, g, needs):
        x2, mean, invstd, gamma, shape = res
        dy = g
        if (type(dy) is not np.ndarray or dy.dtype != x2.dtype or not dy.flags.c_contiguous
                or not dy.flags.aligned):
            dy = np.require(g, dtype=x2.dtype, requirements="CA")
        if dy.shape != x2.shape:
            dy = dy.reshape(x2.shape)
        # dgamma, dbeta: summed in double, stored in x's dtype by the kernel
        dx, dgamma, dbeta = _bn.bn_train_backward(x2, dy, mean, invstd, gamma)
        if len(shape) != 2:
            dx = dx.reshape(shape)
        return (dx if needs[0] else None,
                dgamma if needs[1] else None,
                dbeta if needs[2] else None)


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
_LABEL_INTS = (np.dtype(np.int32), np.dtype(np.int64))


@op
class softmax_ce:
    """Softmax cross-entropy from logits (N, C) and integer (N,) or dense (N, C) labels.

    The forward computes the loss and keeps ``(softmax * sum(t) - t) * scale`` as the
    residual (one read of the logits, one write of the gradient); the backward only
    scales it by the incoming gradient (and returns it as is when that is 1).
    """
    def forward(logits, labels, reduction="mean", label_smoothing=0.0):
        # Kept lean: at (512, 10) the kernel takes a few microseconds, so every NumPy helper
        # call here shows.  The kernel validates shapes and label values and copies
        # non-contiguous inputs itself.
        x = logits if type(logits) is np.ndarray else np.asarray(logits)
        dtype = x.dtype
        if dtype not in _FLOATS:
            raise TypeError(f"softmax_ce: logits must be float32 or float64, got dtype {dtype}")
        if x.ndim != 2:
            raise ValueError(f"softmax_ce: logits must have shape (N, C), got shape {x.shape}")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"softmax_ce: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        n, c = x.shape
        ls = float(label_smoothing)
        scale = 1.0 / n if (reduction == "mean" and n > 0) else 1.0
        y = labels if type(labels) is np.ndarray else np.asarray(labels)
        ydt = y.dtype
        grad = np.empty((n, c), dtype)
        loss = np.empty(n)
        if ydt in _LABEL_INTS:
            total = _ce.ce_forward_sparse(x, y, ls, scale, grad, loss)
        elif ydt.kind in "iu":
            total = _ce.ce_forward_sparse(x, y.astype(np.int64), ls, scale, grad, loss)
        elif ydt.kind == "f":
            if y.shape != x.shape:
                raise ValueError(f"softmax_ce: dense labels must have the logits' shape {x.shape}, got {y.shape}")
            if ydt != dtype:
                y = y.astype(dtype)
            total = _ce.ce_forward_dense(x, y, ls, scale, grad, loss)
        else:
            raise TypeError(f"softmax_ce: labels must be integer class ids or float probabilities, "
                            f"got dtype {ydt}")
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
