"""Batch normalization: the composite reference, the fused op, their dispatch and validation.

One home for batch norm (training and inference):

* ``batch_norm`` / ``batch_norm_inference``: the public functions.  They
  validate their arguments once (:func:`_check_train`, :func:`_check_infer`)
  and pick the fused op when ``tinygrad_bn.config.fused()`` is true (the
  default), the compiled kernels import, and ``x`` and the parameters are all
  float32 or all float64; otherwise the composite one (float16, mixed dtypes:
  NumPy's type promotion).
* ``*_composite``: the reference written only with the tape's primitives
  (``mean``, ``var``, ``sqrt`` ...), differentiated by the tape.
* ``*_fused``: one op on the tape (``batch_norm_train``, ``batch_norm_infer``)
  whose forward and backward call the Cython kernels of
  ``tinygrad_bn._kernels.batchnorm`` (3 passes over memory forward, 2 backward,
  statistics in double).  Each op's composite twin (``_bn_train_composite``,
  ``_bn_infer_composite``) has the op's exact signature, for the engine's
  higher-order gradients.

Conventions (Keras): normalisation over every axis but the last (feature)
axis, with the *biased* batch variance and ``epsilon=1e-3``.  The batch
statistics leave the op as ordinary outputs: ``return_stats=True`` returns
``(y, mean, var)``, or the caller passes ``stats_out=(mean_buf, var_buf)``
(writable float arrays of shape ``(D,)``) and the forward fills them.

When the composite and the fused path agree: both compute the same formula,
but the composite forms the batch mean and ``x - mean`` in x's own dtype,
while the kernels accumulate the statistics in double around a per-feature
shift.  The composite's rounding error therefore grows with each feature's
``|mean| / std``; the fused kernel's does not (it stays within float rounding
of a long-double reference at any offset).  Measured on (256, 16) batches of
unit variance: in float64 the two agree to ~3e-15 for centred data and ~1e-11
at ``|mean| = 1e4``; in float32 their outputs differ by about
``|mean| / std * 5e-7`` (normalised units): ~1e-6 for centred data, ~5e-5 at
``|mean| / std = 100``, ~5e-3 at ``|mean| / std = 1e4`` -- there the
composite, not the kernel, has lost the digits.  The tests hold them equal
in float64, and in float32 for data with ``|mean| / std`` up to about 10.

Bad input raises a TypeError/ValueError naming the function and the
argument (shapes, dtypes); NaN and inf propagate as IEEE arithmetic says (no
early returns); an empty training batch (0 rows) is a ValueError.
"""
import math

import numpy as np

from .._engine import Tensor
from ..config import fused as _fused_selected
from .elementwise import add, divide, multiply, relu as _relu, sqrt, stop_gradient, subtract
from .reductions import mean as _mean, var as _var
from .registry import data_of as _data, fmt_shape as _fmt, op

try:
    from .._kernels import batchnorm as _bn
except ImportError:             # pragma: no cover - kernels not built: composite only
    _bn = None

__all__ = ["batch_norm", "batch_norm_composite", "batch_norm_fused", "batch_norm_block",
           "batch_norm_inference", "batch_norm_inference_composite", "batch_norm_inference_fused",
           "batch_norm_train", "batch_norm_block_train", "batch_norm_infer"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_FLOATS = (_F32, _F64)
_ndarray = np.ndarray


# ---------------------------------------------------------------------------
# Validation (once per public call)
# ---------------------------------------------------------------------------

def _epsilon(name, epsilon):
    if isinstance(epsilon, (bool, np.bool_)) or not isinstance(epsilon, (int, float, np.integer, np.floating)):
        if not (isinstance(epsilon, _ndarray) and epsilon.ndim == 0 and epsilon.dtype.kind in "iuf"):
            raise TypeError(f"{name}: epsilon must be a real number, got {epsilon!r} ({type(epsilon).__name__})")
    eps = float(epsilon)
    if not (eps >= 0.0 and eps != math.inf):        # also rejects NaN
        raise ValueError(f"{name}: epsilon must be a finite number >= 0, got {epsilon!r}")
    return eps


def _check_x(name, x, training):
    xd = _data(x)
    dt = xd.dtype
    if dt.kind != "f":
        raise TypeError(f"{name}: x must be floating point (float16, float32 or float64), got dtype {dt} "
                        f"(shape {_fmt(xd.shape)})")
    if xd.ndim < 1:
        raise ValueError(f"{name}: x must have at least 1 dimension (features last), got a 0-d array")
    if training and 0 in xd.shape[:-1]:
        raise ValueError(f"{name}: x of shape {_fmt(xd.shape)} is an empty batch; training batch norm "
                         "needs at least one example for its batch statistics")
    return xd


def _check_param(name, pname, p, d, xshape, required=False):
    if p is None:
        if required:
            raise TypeError(f"{name}: {pname} is required (an array of shape ({d},)), got None")
        return None
    pd = _data(p)
    if pd.dtype.kind != "f":
        raise TypeError(f"{name}: {pname} must be floating point, got dtype {pd.dtype} (shape {_fmt(pd.shape)})")
    if pd.shape != (d,):
        raise ValueError(f"{name}: {pname} has shape {_fmt(pd.shape)}, expected ({d},) to match the last "
                         f"(feature) axis of x with shape {_fmt(xshape)}")
    return pd


def _check_stats_out(name, stats_out, d):
    try:
        m, v = stats_out
    except (TypeError, ValueError):
        raise TypeError(f"{name}: stats_out must be a pair (mean_buf, var_buf) of arrays of shape ({d},), "
                        f"got {type(stats_out).__name__}") from None
    for pname, b in (("stats_out[0] (mean)", m), ("stats_out[1] (var)", v)):
        if type(b) is not _ndarray and not isinstance(b, _ndarray):
            raise TypeError(f"{name}: {pname} must be a NumPy array of shape ({d},), got {type(b).__name__}")
        if b.dtype.kind != "f" or b.shape != (d,):
            raise ValueError(f"{name}: {pname} must be a floating-point array of shape ({d},), got dtype "
                             f"{b.dtype} and shape {_fmt(b.shape)}")
        if not b.flags.writeable:
            raise ValueError(f"{name}: {pname} is read-only")
    if np.may_share_memory(m, v):
        raise ValueError(f"{name}: stats_out arrays overlap in memory")
    return m, v


def _check_train(name, x, gamma, beta, epsilon, stats_out):
    xd = _check_x(name, x, True)
    d = xd.shape[-1]
    gd = _check_param(name, "gamma", gamma, d, xd.shape)
    bd = _check_param(name, "beta", beta, d, xd.shape)
    eps = _epsilon(name, epsilon)
    if stats_out is not None:
        _check_stats_out(name, stats_out, d)
    dt = xd.dtype
    fusable = ((dt is _F32 or dt is _F64 or dt in _FLOATS)
               and (gd is None or gd.dtype == dt) and (bd is None or bd.dtype == dt))
    return xd, d, eps, fusable


def _check_infer(name, x, moving_mean, moving_var, gamma, beta, epsilon):
    xd = _check_x(name, x, False)
    d = xd.shape[-1]
    dt = xd.dtype
    fusable = dt in _FLOATS
    for pname, p, req in (("moving_mean", moving_mean, True), ("moving_var", moving_var, True),
                          ("gamma", gamma, False), ("beta", beta, False)):
        pd = _check_param(name, pname, p, d, xd.shape, required=req)
        if pd is not None and pd.dtype != dt:
            fusable = False
    eps = _epsilon(name, epsilon)
    return xd, d, eps, fusable


def _have_fused():
    return _bn is not None


# ---------------------------------------------------------------------------
# The fused ops (kernels) and their composite twins (same signature)
# ---------------------------------------------------------------------------

def _as_rows(name, x, training):
    """x as a C-contiguous float32/float64 (rows, features) array, plus its original shape."""
    if (type(x) is _ndarray and (x.dtype is _F32 or x.dtype is _F64) and x.ndim == 2
            and x.flags.c_contiguous and x.flags.aligned and (x.shape[0] or not training)):
        return x, x.shape                   # the common case, without NumPy helper calls
    x = np.asarray(x)
    if x.dtype not in _FLOATS:
        raise TypeError(f"{name}: x must be float32 or float64, got dtype {x.dtype} (shape {_fmt(x.shape)})")
    if x.ndim < 1:
        raise ValueError(f"{name}: x must have at least 1 dimension (features last), got a 0-d array")
    shape = x.shape
    d = shape[-1]
    n = 1
    for s in shape[:-1]:
        n *= s
    if training and n == 0:
        raise ValueError(f"{name}: x of shape {_fmt(shape)} is an empty batch; training batch norm "
                         "needs at least one example for its batch statistics")
    return np.require(x, requirements="CA").reshape(n, d), shape     # contiguous, aligned


def _vec(name, pname, a, d, dtype):
    if (type(a) is _ndarray and a.dtype == dtype and a.shape == (d,) and a.flags.c_contiguous
            and a.flags.aligned):
        return a
    a = np.asarray(a)
    if a.dtype.kind != "f":
        raise TypeError(f"{name}: {pname} must be floating point, got dtype {a.dtype}")
    if a.shape != (d,):
        raise ValueError(f"{name}: {pname} has shape {_fmt(a.shape)}, expected ({d},) (one value per feature)")
    return np.require(a, dtype=dtype, requirements="CA")


def _dy_rows(g, x2):
    """The upstream gradient as a C-contiguous array of x2's dtype and (rows, features) shape."""
    dy = g
    if type(dy) is not _ndarray or dy.dtype != x2.dtype or not dy.flags.c_contiguous or not dy.flags.aligned:
        dy = np.require(g, dtype=x2.dtype, requirements="CA")
    if dy.shape != x2.shape:
        dy = dy.reshape(x2.shape)
    return dy


def _bn_train_composite(x, gamma, beta, epsilon=1e-3, stats_out=None):
    """Training batch norm from primitives, with :class:`batch_norm_train`'s signature.

    ``mean`` and biased ``var`` over every axis but the last, then
    ``(x - mean) / sqrt(var + epsilon) * gamma + beta`` (``gamma``/``beta`` may
    be None).  Fills ``stats_out = (mean_buf, var_buf)`` when given.
    """
    ndim = _data(x).ndim
    axes = tuple(range(ndim - 1))
    mu = _mean(x, axis=axes, keepdims=True)             # shape (1, ..., 1, D)
    sigma2 = _var(x, axis=axes, keepdims=True)          # biased: divides by the count
    y = divide(subtract(x, mu), sqrt(add(sigma2, epsilon)))
    if gamma is not None:
        y = multiply(y, gamma)
    if beta is not None:
        y = add(y, beta)
    if stats_out is not None:
        m, v = stats_out
        m[...] = mu.data.reshape(m.shape)
        v[...] = sigma2.data.reshape(v.shape)
    return y


@op(composite=_bn_train_composite)
class batch_norm_train:
    """Training batch norm over all axes but the last: ``gamma * (x - mean) / sqrt(var + eps) + beta``
    with the batch mean and biased variance (kernel: 2 reads of x + 1 write forward, 2 reads of
    (x, dy) + 1 write backward; statistics in double).  ``stats_out=(mean_buf, var_buf)``: arrays
    of shape (D,) the forward fills with the batch statistics."""
    def forward(x, gamma, beta, epsilon=1e-3, stats_out=None):
        x2, shape = _as_rows("batch_norm_train", x, True)
        d = x2.shape[1]
        dtype = x2.dtype
        gamma = _vec("batch_norm_train", "gamma", gamma, d, dtype)
        beta = _vec("batch_norm_train", "beta", beta, d, dtype)
        if stats_out is None:
            # the kernel allocates out, mean, var, invstd (cheaper than np.empty from Python)
            out, mean, var, invstd = _bn.bn_train_forward(x2, gamma, beta, epsilon)
        else:
            mbuf, vbuf = _check_stats_out("batch_norm_train", stats_out, d)
            if vbuf.dtype is _F64 and vbuf.flags.c_contiguous and vbuf.flags.aligned:
                out, mean, var, invstd = _bn.bn_train_forward(x2, gamma, beta, epsilon, None, None, vbuf)
            else:
                out, mean, var, invstd = _bn.bn_train_forward(x2, gamma, beta, epsilon)
                vbuf[...] = var
            mbuf[...] = mean            # a copy: the residual's mean is never the caller's array
        if len(shape) != 2:
            out = out.reshape(shape)
        return out, (x2, mean, invstd, gamma, shape)

    def backward(res, g, needs):
        x2, mean, invstd, gamma, shape = res
        dy = _dy_rows(g, x2)
        # dgamma, dbeta: summed in double, stored in x's dtype by the kernel
        dx, dgamma, dbeta = _bn.bn_train_backward(x2, dy, mean, invstd, gamma)
        if len(shape) != 2:
            dx = dx.reshape(shape)
        return (dx if needs[0] else None,
                dgamma if needs[1] else None,
                dbeta if needs[2] else None)


def _bn_block_composite(x, bias, gamma, beta, epsilon=1e-3, stats_out=None, relu=False):
    """:class:`batch_norm_block_train` from primitives (same signature): batch norm of
    ``x + bias``, then ReLU when ``relu``."""
    y = _bn_train_composite(add(x, bias), gamma, beta, epsilon, stats_out)
    return _relu(y) if relu else y


@op(composite=_bn_block_composite)
class batch_norm_block_train:
    """``relu(batch_norm_train(x + bias))`` (the ReLU when ``relu=True``): a Dense layer's bias,
    the batch norm after it and a ReLU after that, in the passes of one batch norm.

    The bias only shifts the batch mean (the statistics are those of ``x``, and the mean
    reported in ``stats_out`` is ``mean(x) + bias``), so the kernel never adds it; its
    gradient, the column sums of dx, comes from dx's closed form (zero up to rounding:
    the mean subtraction cancels any bias).  The ReLU is applied as the output is written,
    and the backward gates dy by the pre-ReLU value it recomputes from x: no bias add, no
    ReLU pass and no column sum over memory, forward or backward."""
    def forward(x, bias, gamma, beta, epsilon=1e-3, stats_out=None, relu=False):
        name = "batch_norm_block_train"
        x2, shape = _as_rows(name, x, True)
        d = x2.shape[1]
        dtype = x2.dtype
        gamma = _vec(name, "gamma", gamma, d, dtype)
        beta = _vec(name, "beta", beta, d, dtype)
        bias = _vec(name, "bias", bias, d, dtype)
        relu = bool(relu)
        out, mean, var, invstd = _bn.bn_train_forward(x2, gamma, beta, epsilon, None, None, None, None, relu)
        if stats_out is not None:
            mbuf, vbuf = _check_stats_out(name, stats_out, d)
            np.add(mean, bias, out=mbuf, casting="same_kind")
            vbuf[...] = var
        if len(shape) != 2:
            out = out.reshape(shape)
        return out, (x2, mean, invstd, gamma, beta, shape, relu)

    def backward(res, g, needs):
        x2, mean, invstd, gamma, beta, shape, relu = res
        dy = _dy_rows(g, x2)
        dbias = np.empty(x2.shape[1], x2.dtype) if needs[1] else None
        dx, dgamma, dbeta = _bn.bn_train_backward(x2, dy, mean, invstd, gamma, None, None, None,
                                                  beta, relu, dbias)
        if len(shape) != 2:
            dx = dx.reshape(shape)
        return (dx if needs[0] else None, dbias,
                dgamma if needs[2] else None,
                dbeta if needs[3] else None)


def _bn_infer_math(x, moving_mean, moving_var, gamma, beta, epsilon):
    y = divide(subtract(x, moving_mean), sqrt(add(moving_var, epsilon)))
    if gamma is not None:
        y = multiply(y, gamma)
    if beta is not None:
        y = add(y, beta)
    return y


def _bn_infer_composite(x, gamma, beta, moving_mean, moving_var, epsilon=1e-3):
    """Inference batch norm from primitives, with :class:`batch_norm_infer`'s signature (the
    statistics are constants there, as in the fused op)."""
    return _bn_infer_math(x, stop_gradient(moving_mean), stop_gradient(moving_var), gamma, beta, epsilon)


@op(composite=_bn_infer_composite)
class batch_norm_infer:
    """Inference batch norm with given statistics (constants: no gradient for them):
    ``gamma * (x - moving_mean) / sqrt(moving_var + eps) + beta`` (one read, one write)."""
    def forward(x, gamma, beta, moving_mean, moving_var, epsilon=1e-3):
        x2, shape = _as_rows("batch_norm_infer", x, False)
        n, d = x2.shape
        dtype = x2.dtype
        gamma = _vec("batch_norm_infer", "gamma", gamma, d, _F64)
        beta = _vec("batch_norm_infer", "beta", beta, d, _F64)
        mm = _vec("batch_norm_infer", "moving_mean", moving_mean, d, _F64)
        mv = _vec("batch_norm_infer", "moving_var", moving_var, d, _F64)
        if not epsilon >= 0:
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


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------

def _train_fused(x, dt, d, gamma, beta, eps, return_stats, stats_out):
    # A missing scale/offset is a constant (never recorded, no gradient computed for it).
    g = np.ones(d, dt) if gamma is None else gamma
    b = np.zeros(d, dt) if beta is None else beta
    if return_stats and stats_out is None:
        stats_out = (np.empty(d, dt), np.empty(d, dt))
    if stats_out is None:
        return batch_norm_train(x, g, b, eps)
    y = batch_norm_train(x, g, b, eps, stats_out)
    if return_stats:
        return y, stats_out[0], stats_out[1]
    return y


def _train_composite(x, dt, d, gamma, beta, eps, return_stats, stats_out):
    if return_stats and stats_out is None:
        stats_out = (np.empty(d, dt), np.empty(d, dt))
    y = _bn_train_composite(x, gamma, beta, eps, stats_out)
    if return_stats:
        return y, stats_out[0], stats_out[1]
    return y


def batch_norm(x, gamma, beta, epsilon=1e-3, return_stats=False, stats_out=None):
    """Training-mode batch normalisation over every axis but the last.

    ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the batch mean
    and *biased* batch variance (Keras and PyTorch both normalise with the
    biased one).  ``gamma``/``beta`` may be ``None`` (Keras ``scale=False`` /
    ``center=False``).  With ``return_stats=True`` returns ``(y, batch_mean,
    batch_var)``, the statistics as NumPy arrays of shape ``(D,)`` in x's dtype
    (new arrays, or the ``stats_out`` buffers when given) for the layer's
    moving averages (Keras convention:
    ``moving = momentum * moving + (1 - momentum) * batch``, momentum 0.99).
    ``stats_out=(mean_buf, var_buf)``: writable float arrays of shape ``(D,)``
    filled with the batch statistics.  An empty batch raises ValueError.
    """
    xd, d, eps, fusable = _check_train("batch_norm", x, gamma, beta, epsilon, stats_out)
    if fusable and _bn is not None and _fused_selected():
        return _train_fused(x, xd.dtype, d, gamma, beta, eps, return_stats, stats_out)
    return _train_composite(x, xd.dtype, d, gamma, beta, eps, return_stats, stats_out)


def batch_norm_block(x, bias, gamma, beta, epsilon=1e-3, relu=False, return_stats=False, stats_out=None):
    """``batch_norm(x + bias, gamma, beta)``, then ReLU when ``relu=True``: the block
    Dense (its bias) -> BatchNormalization -> ReLU in the passes of one fused batch norm
    (``bias`` may be None; the statistics returned are those of ``x + bias``).

    Same arguments and results as :func:`batch_norm`; the fused op
    :class:`batch_norm_block_train` when :func:`batch_norm` would take the fused path and
    ``bias`` has x's dtype, else the composite ``relu(batch_norm_composite(x + bias))``.
    ``Sequential`` models use it for their Dense -> BatchNormalization -> ReLU runs.
    """
    name = "batch_norm_block"
    xd, d, eps, fusable = _check_train(name, x, gamma, beta, epsilon, stats_out)
    bd = _check_param(name, "bias", bias, d, xd.shape)
    dt = xd.dtype
    if return_stats and stats_out is None:
        stats_out = (np.empty(d, dt), np.empty(d, dt))
    if fusable and (bd is None or bd.dtype == dt) and _bn is not None and _fused_selected():
        y = batch_norm_block_train(x, np.zeros(d, dt) if bias is None else bias,
                                   np.ones(d, dt) if gamma is None else gamma,
                                   np.zeros(d, dt) if beta is None else beta, eps, stats_out, bool(relu))
    else:
        y = _bn_train_composite(x if bias is None else add(x, bias), gamma, beta, eps, stats_out)
        if relu:
            y = _relu(y)
    if return_stats:
        return y, stats_out[0], stats_out[1]
    return y


def batch_norm_composite(x, gamma, beta, epsilon=1e-3, return_stats=False, stats_out=None):
    """Training-mode batch norm from primitives (the reference definition).

    ``mean`` and biased ``var`` over every axis but the last, then
    ``gamma * (x - mean) / sqrt(var + epsilon) + beta``.
    """
    xd, d, eps, _ = _check_train("batch_norm", x, gamma, beta, epsilon, stats_out)
    return _train_composite(x, xd.dtype, d, gamma, beta, eps, return_stats, stats_out)


def batch_norm_fused(x, gamma, beta, epsilon=1e-3, return_stats=False, stats_out=None):
    """Training-mode batch norm as one fused op (same result as the composite).

    x (and gamma/beta when given) must be float32 or float64."""
    xd, d, eps, _ = _check_train("batch_norm", x, gamma, beta, epsilon, stats_out)
    _require_fused("batch_norm_fused", xd)
    return _train_fused(x, xd.dtype, d, gamma, beta, eps, return_stats, stats_out)


def _require_fused(name, xd):
    if _bn is None:
        raise RuntimeError(f"{name}: the compiled batch-norm kernels are not available "
                           "(tinygrad_bn._kernels.batchnorm did not import)")
    if xd.dtype not in _FLOATS:
        raise TypeError(f"{name}: the fused kernel takes float32 or float64, got dtype {xd.dtype} "
                        f"(shape {_fmt(xd.shape)}); use the composite or batch_norm")


def _infer_fused(x, dt, d, moving_mean, moving_var, gamma, beta, eps):
    g = np.ones(d, dt) if gamma is None else gamma
    b = np.zeros(d, dt) if beta is None else beta
    return batch_norm_infer(x, g, b, _data(moving_mean), _data(moving_var), eps)


def _trainable(*stats):
    return any(isinstance(s, Tensor) and getattr(s, "trainable", False) for s in stats)


def batch_norm_inference(x, moving_mean, moving_var, gamma, beta, epsilon=1e-3):
    """Batch normalisation with given (moving) statistics; differentiable w.r.t. x, gamma, beta.

    ``y = gamma * (x - moving_mean) / sqrt(moving_var + epsilon) + beta`` (an
    empty batch gives an empty output).  The statistics are constants for the
    fused path; if one is a trainable variable the composite path is used so
    its gradient is exact.
    """
    xd, d, eps, fusable = _check_infer("batch_norm_inference", x, moving_mean, moving_var, gamma, beta, epsilon)
    if fusable and _bn is not None and _fused_selected() and not _trainable(moving_mean, moving_var):
        return _infer_fused(x, xd.dtype, d, moving_mean, moving_var, gamma, beta, eps)
    return _bn_infer_math(x, moving_mean, moving_var, gamma, beta, eps)


def batch_norm_inference_composite(x, moving_mean, moving_var, gamma, beta, epsilon=1e-3):
    """Inference-mode batch norm from primitives: normalise with given statistics."""
    _, _, eps, _ = _check_infer("batch_norm_inference", x, moving_mean, moving_var, gamma, beta, epsilon)
    return _bn_infer_math(x, moving_mean, moving_var, gamma, beta, eps)


def batch_norm_inference_fused(x, moving_mean, moving_var, gamma, beta, epsilon=1e-3):
    """Inference-mode batch norm as one fused op (the statistics are constants)."""
    xd, d, eps, _ = _check_infer("batch_norm_inference", x, moving_mean, moving_var, gamma, beta, epsilon)
    _require_fused("batch_norm_inference_fused", xd)
    return _infer_fused(x, xd.dtype, d, moving_mean, moving_var, gamma, beta, eps)
