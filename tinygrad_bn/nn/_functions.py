"""TF's ``tf.nn`` functions on the tape, with TF's signatures and semantics.

Activations (``relu``, ``relu6``, ``elu``, ``selu``, ``leaky_relu``,
``sigmoid``, ``tanh``, ``softplus``, ``softsign``, ``silu``/``swish``,
``gelu``) share their implementation with :mod:`tinygrad_bn.keras.activations`;
``softmax``/``log_softmax`` act on the last axis when ``axis=None`` (TF).

Normalisation: ``moments``, ``batch_normalization`` (TF's formula and
argument order: ``x * inv + (offset - mean * inv)`` with
``inv = scale / sqrt(variance + variance_epsilon)``), ``normalize_moments``,
``sufficient_statistics``, ``l2_normalize``.

Losses, per example as in TF: ``softmax_cross_entropy_with_logits(labels,
logits, axis=-1)`` (dense labels; the gradient flows into the labels too, as
TF v2's), ``sparse_softmax_cross_entropy_with_logits(labels, logits)``
(integer labels of shape ``logits.shape[:-1]``; both use the fused
softmax-CE kernel for float32/float64 when ``tinygrad_bn.config.fused()``),
``sigmoid_cross_entropy_with_logits`` (TF's stable
``max(x, 0) - x * z + log(1 + exp(-|x|))``),
``weighted_cross_entropy_with_logits``, ``l2_loss`` (``sum(t**2) / 2``),
``compute_average_loss``, ``scale_regularization_loss``.

Others: ``bias_add``, ``dropout`` (``seed``: an int gives a reproducible mask;
TF's combination of global and op seeds is not modelled), ``embedding_lookup``.

Every function accepts TF's ``name=`` (ignored).  Bad input raises
TypeError/ValueError naming the function and the argument.
"""
import numbers

import numpy as np

from .. import ops as _ops
from .._engine import Tensor
from ..config import fused as _fused_selected
from ..keras import activations as _act
from ..ops.softmax_ce import _ce as _ce_kernels, _check_label_range, _softmax_ce_composite
from ..ops.softmax_ce import softmax_ce as _softmax_ce_op

__all__ = ["relu", "relu6", "elu", "selu", "leaky_relu", "sigmoid", "tanh", "softplus", "softsign",
           "silu", "swish", "gelu", "softmax", "log_softmax", "moments", "batch_normalization",
           "normalize_moments", "sufficient_statistics", "l2_normalize",
           "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits",
           "sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits", "l2_loss",
           "compute_average_loss", "scale_regularization_loss", "bias_add", "dropout", "embedding_lookup"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


def _data(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _t(x):
    """A Tensor or NumPy array the ops accept (Python numbers and lists become float32 / int32 as TF)."""
    if isinstance(x, (Tensor, np.ndarray)):
        return x
    return Tensor(x)


def _float_input(fname, arg, x):
    x = _t(x)
    dt = _data(x).dtype
    if dt.kind != "f":
        raise TypeError(f"{fname}: {arg} must be a floating-point tensor (float16, float32 or float64), "
                        f"got dtype {dt} (shape {tuple(_data(x).shape)})")
    return x


def _same_dtype(fname, arg, y, dt):
    """``y`` as a float tensor of dtype ``dt`` (TF requires matching dtypes; a float of another
    width is cast, anything else is refused)."""
    y = _t(y)
    ydt = _data(y).dtype
    if ydt.kind != "f":
        raise TypeError(f"{fname}: {arg} must be floating point like the logits ({dt}), got dtype {ydt}")
    if ydt != dt:
        y = _ops.cast(y, dt) if isinstance(y, Tensor) else y.astype(dt)
    return y


def _axis(fname, axis, ndim):
    if axis is None:
        return -1 if ndim else None
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{fname}: axis must be an integer, got {axis!r}")
    a = int(axis)
    if not -ndim <= a < ndim:
        raise ValueError(f"{fname}: axis {a} is out of range for a tensor of rank {ndim}")
    return a


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------

def relu(features, name=None):
    """``max(features, 0)``."""
    return _ops.relu(_t(features))


def relu6(features, name=None):
    """``min(max(features, 0), 6)``."""
    return _act.relu6(_float_input("relu6", "features", features))


def elu(features, name=None):
    """``features`` if > 0 else ``exp(features) - 1``."""
    return _act.elu(_float_input("elu", "features", features))


def selu(features, name=None):
    """``scale * elu(features, alpha)`` with Klambauer et al.'s constants."""
    return _act.selu(_float_input("selu", "features", features))


def leaky_relu(features, alpha=0.2, name=None):
    """``features`` if > 0 else ``alpha * features`` (TF's default alpha 0.2)."""
    return _act.leaky_relu(_float_input("leaky_relu", "features", features), negative_slope=alpha)


def sigmoid(x, name=None):
    """``1 / (1 + exp(-x))``."""
    return _ops.sigmoid(_float_input("sigmoid", "x", x))


def tanh(x, name=None):
    """Hyperbolic tangent."""
    return _ops.tanh(_float_input("tanh", "x", x))


def softplus(features, name=None):
    """``log(exp(features) + 1)``, stable."""
    return _act.softplus(_float_input("softplus", "features", features))


def softsign(features, name=None):
    """``features / (abs(features) + 1)``."""
    return _act.softsign(_float_input("softsign", "features", features))


def silu(features, beta=1.0, name=None):
    """``features * sigmoid(beta * features)`` (swish)."""
    x = _float_input("silu", "features", features)
    if isinstance(beta, (bool, np.bool_)) or not isinstance(beta, numbers.Real):
        raise TypeError(f"silu: beta must be a real number, got {beta!r}")
    if beta == 1.0:
        return _act.silu(x)
    return _ops.multiply(x, _ops.sigmoid(_ops.multiply(x, float(beta))))


swish = silu


def gelu(features, approximate=False, name=None):
    """Gaussian error linear unit: exact ``x * (1 + erf(x / sqrt(2))) / 2`` by default, the tanh
    approximation with ``approximate=True``."""
    return _act.gelu(_float_input("gelu", "features", features), approximate=approximate)


def softmax(logits, axis=None, name=None):
    """``exp(logits) / sum(exp(logits), axis)``; ``axis=None`` is the last axis (TF)."""
    x = _float_input("softmax", "logits", logits)
    return _ops.softmax(x, axis=_axis("softmax", axis, _data(x).ndim))


def log_softmax(logits, axis=None, name=None):
    """``logits - log(sum(exp(logits), axis))``; ``axis=None`` is the last axis (TF)."""
    x = _float_input("log_softmax", "logits", logits)
    return _ops.log_softmax(x, axis=_axis("log_softmax", axis, _data(x).ndim))


# ---------------------------------------------------------------------------
# Moments and normalisation
# ---------------------------------------------------------------------------

def _axes(fname, axes, ndim):
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, (bool, np.bool_)):
        axes = [axes]
    if isinstance(axes, (Tensor, np.ndarray)):
        axes = [int(a) for a in np.asarray(_data(axes)).reshape(-1)]
    if not isinstance(axes, (list, tuple)):
        raise TypeError(f"{fname}: axes must be a list of integers, got {axes!r}")
    out = []
    for a in axes:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{fname}: axes must be integers, got {axes!r}")
        if not -ndim <= int(a) < ndim:
            raise ValueError(f"{fname}: axis {int(a)} is out of range for a tensor of rank {ndim}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{fname}: repeated axis in {list(axes)}")
    return tuple(sorted(out))


def moments(x, axes, shift=None, keepdims=False, name=None):
    """``(mean, variance)`` of ``x`` over ``axes`` (the biased variance, as TF: the mean of the
    squared deviations from a stopped-gradient mean).  ``shift`` is accepted and unused (TF
    ignores it too)."""
    x = _float_input("moments", "x", x)
    xd = _data(x)
    ax = _axes("moments", axes, xd.ndim)
    # TF computes float16 moments in float32
    y = _ops.cast(x, np.float32) if xd.dtype == np.float16 else x
    m = _ops.mean(y, axis=ax, keepdims=True)
    v = _ops.mean(_ops.square(_ops.subtract(y, _ops.stop_gradient(m))), axis=ax, keepdims=True)
    if not keepdims:
        m = _ops.squeeze(m, axis=ax)
        v = _ops.squeeze(v, axis=ax)
    if xd.dtype == np.float16:
        m, v = _ops.cast(m, np.float16), _ops.cast(v, np.float16)
    return m, v


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """TF's batch normalisation with given statistics (all broadcast against ``x``)::

        inv = scale / sqrt(variance + variance_epsilon)     # (1 / sqrt(...) when scale is None)
        y = x * inv + (offset - mean * inv)                  # (-mean * inv when offset is None)

    Differentiable w.r.t. every tensor argument."""
    x = _float_input("batch_normalization", "x", x)
    dt = _data(x).dtype
    shapes = {"x": _data(x).shape}
    args = {}
    for arg, v, req in (("mean", mean, True), ("variance", variance, True), ("offset", offset, False),
                        ("scale", scale, False)):
        if v is None:
            if req:
                raise TypeError(f"batch_normalization: {arg} is required, got None")
            args[arg] = None
            continue
        v = _same_dtype("batch_normalization", arg, v, dt)
        shapes[arg] = _data(v).shape
        args[arg] = v
    try:
        np.broadcast_shapes(*shapes.values())
    except ValueError:
        raise ValueError("batch_normalization: shapes do not broadcast against x: "
                         + ", ".join(f"{k} {tuple(s)}" for k, s in shapes.items())) from None
    if isinstance(variance_epsilon, (bool, np.bool_)) or not isinstance(variance_epsilon, numbers.Real):
        raise TypeError(f"batch_normalization: variance_epsilon must be a real number, got {variance_epsilon!r}")
    eps = float(variance_epsilon)
    if not eps >= 0:
        raise ValueError(f"batch_normalization: variance_epsilon must be >= 0, got {variance_epsilon!r}")
    inv = _ops.divide(dt.type(1), _ops.sqrt(_ops.add(args["variance"], dt.type(eps))))
    if args["scale"] is not None:
        inv = _ops.multiply(inv, args["scale"])
    shift = _ops.multiply(args["mean"], inv)
    if args["offset"] is not None:
        shift = _ops.subtract(args["offset"], shift)
        return _ops.add(_ops.multiply(x, inv), shift)
    return _ops.subtract(_ops.multiply(x, inv), shift)


def normalize_moments(counts, mean_ss, variance_ss, shift, name=None):
    """Mean and variance from sufficient statistics (TF): ``mean = mean_ss / counts (+ shift)``,
    ``variance = variance_ss / counts - (mean_ss / counts)**2``."""
    mean_ss = _float_input("normalize_moments", "mean_ss", mean_ss)
    dt = _data(mean_ss).dtype
    variance_ss = _same_dtype("normalize_moments", "variance_ss", variance_ss, dt)
    counts = _same_dtype("normalize_moments", "counts", counts, dt) if not isinstance(counts, numbers.Real) \
        else dt.type(counts)
    divisor = _ops.divide(dt.type(1), counts)
    shifted_mean = _ops.multiply(mean_ss, divisor)
    mean = shifted_mean if shift is None else _ops.add(shifted_mean, _same_dtype("normalize_moments", "shift",
                                                                                  shift, dt))
    variance = _ops.subtract(_ops.multiply(variance_ss, divisor), _ops.square(shifted_mean))
    return mean, variance


def sufficient_statistics(x, axes, shift=None, keepdims=False, name=None):
    """``(count, mean_ss, var_ss, shift)``: the element count over ``axes``, ``sum(x - shift)``
    and ``sum((x - shift)**2)`` (TF)."""
    x = _float_input("sufficient_statistics", "x", x)
    xd = _data(x)
    ax = _axes("sufficient_statistics", axes, xd.ndim)
    count = 1
    for a in ax:
        count *= xd.shape[a]
    y = x if shift is None else _ops.subtract(x, _same_dtype("sufficient_statistics", "shift", shift, xd.dtype))
    m_ss = _ops.sum(y, axis=ax, keepdims=keepdims)
    v_ss = _ops.sum(_ops.square(y), axis=ax, keepdims=keepdims)
    return Tensor(np.asarray(count, xd.dtype)), m_ss, v_ss, shift


def l2_normalize(x, axis=None, epsilon=1e-12, name=None):
    """``x / sqrt(max(sum(x**2, axis), epsilon))`` (TF; ``axis=None``: all axes)."""
    x = _float_input("l2_normalize", "x", x)
    xd = _data(x)
    ax = None if axis is None else _axes("l2_normalize", axis, xd.ndim)
    sq = _ops.sum(_ops.square(x), axis=ax, keepdims=True)
    return _ops.multiply(x, _ops.divide(xd.dtype.type(1), _ops.sqrt(_ops.maximum(sq, xd.dtype.type(epsilon)))))


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------

def _to_rows(x, axis, ndim):
    """(rows, C) view of ``x`` with ``axis`` moved last, and the batch shape."""
    if axis != ndim - 1:
        perm = [i for i in range(ndim) if i != axis] + [axis]
        x = _ops.transpose(x, perm)
    shape = tuple(_data(x).shape)
    return _ops.reshape(x, (-1, shape[-1])), shape[:-1]


def softmax_cross_entropy_with_logits(labels, logits, axis=-1, name=None):
    """Per-example ``-sum(labels * log_softmax(logits, axis), axis)`` (TF v2).

    ``labels`` (probabilities, same shape as ``logits``) get a gradient too.
    The result has the logits' shape without ``axis``."""
    fname = "softmax_cross_entropy_with_logits"
    x = _float_input(fname, "logits", logits)
    xd = _data(x)
    if xd.ndim < 1:
        raise ValueError(f"{fname}: logits must have at least 1 dimension (classes), got a scalar")
    y = _same_dtype(fname, "labels", labels, xd.dtype)
    if _data(y).shape != xd.shape:
        raise ValueError(f"{fname}: labels and logits must have the same shape, got labels "
                         f"{tuple(_data(y).shape)} and logits {tuple(xd.shape)}")
    a = _axis(fname, axis, xd.ndim) % xd.ndim
    if xd.shape[a] < 1:
        raise ValueError(f"{fname}: logits have no classes along axis {axis} (shape {tuple(xd.shape)})")
    x2, batch = _to_rows(x, a, xd.ndim)
    y2, _ = _to_rows(y, a, xd.ndim)
    if xd.dtype in (_F32, _F64) and _ce_kernels is not None and _fused_selected():
        per = _softmax_ce_op(x2, y2, "none", 0.0)
    else:
        per = _softmax_ce_composite(x2, y2, "none", 0.0)
    return _ops.reshape(per, batch)


def sparse_softmax_cross_entropy_with_logits(labels, logits, name=None):
    """Per-example ``-log_softmax(logits)[labels]`` with integer ``labels`` of shape
    ``logits.shape[:-1]``, each in ``[0, num_classes)`` (TF raises on CPU for others too)."""
    fname = "sparse_softmax_cross_entropy_with_logits"
    x = _float_input(fname, "logits", logits)
    xd = _data(x)
    yd = _data(labels)
    if yd.dtype.kind not in "iu":
        raise TypeError(f"{fname}: labels must be integer class ids (int32 or int64), got dtype {yd.dtype}")
    if xd.ndim < 1 or yd.shape != xd.shape[:-1]:
        raise ValueError(f"{fname}: labels must have the logits' shape without the last (class) axis: "
                         f"logits {tuple(xd.shape)} need labels {tuple(xd.shape[:-1])}, got {tuple(yd.shape)}")
    c = xd.shape[-1]
    if c < 1:
        raise ValueError(f"{fname}: logits have no classes (shape {tuple(xd.shape)})")
    batch = yd.shape
    x2 = _ops.reshape(x, (-1, c))
    y2 = yd.reshape(-1)
    if y2.size:
        _check_label_range(fname, y2, c, xd.shape)
    if xd.dtype in (_F32, _F64) and _ce_kernels is not None and _fused_selected():
        per = _softmax_ce_op(x2, y2, "none", 0.0)
    else:
        per = _softmax_ce_composite(x2, y2, "none", 0.0)
    return _ops.reshape(per, batch)


def _logits_and_labels(fname, labels, logits):
    if labels is None or logits is None:
        raise TypeError(f"{fname}: both labels and logits are required")
    x = _float_input(fname, "logits", logits)
    xd = _data(x)
    z = _same_dtype(fname, "labels", labels, xd.dtype)
    if _data(z).shape != xd.shape:
        raise ValueError(f"{fname}: logits and labels must have the same shape, got logits {tuple(xd.shape)} "
                         f"and labels {tuple(_data(z).shape)}")
    return x, z, xd


def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """Per-element ``max(x, 0) - x * z + log(1 + exp(-|x|))`` with ``x = logits``, ``z = labels``
    (TF's stable form; gradient ``sigmoid(x) - z`` for the logits, ``-x`` for the labels)."""
    x, z, xd = _logits_and_labels("sigmoid_cross_entropy_with_logits", labels, logits)
    zero = xd.dtype.type(0)
    cond = xd >= 0
    relu_logits = _ops.where(cond, x, zero)
    neg_abs = _ops.where(cond, _ops.negative(x), x)
    return _ops.add(_ops.subtract(relu_logits, _ops.multiply(x, z)), _ops.log1p(_ops.exp(neg_abs)))


def weighted_cross_entropy_with_logits(labels, logits, pos_weight, name=None):
    """Sigmoid cross-entropy with the positive term weighted by ``pos_weight`` (TF)::

        (1 - z) * x + (1 + (pos_weight - 1) * z) * (log(1 + exp(-|x|)) + max(-x, 0))
    """
    fname = "weighted_cross_entropy_with_logits"
    x, z, xd = _logits_and_labels(fname, labels, logits)
    if isinstance(pos_weight, numbers.Real) and not isinstance(pos_weight, (bool, np.bool_)):
        pw = xd.dtype.type(pos_weight)
    else:
        pw = _same_dtype(fname, "pos_weight", pos_weight, xd.dtype)
    one = xd.dtype.type(1)
    zero = xd.dtype.type(0)
    log_weight = _ops.add(one, _ops.multiply(_ops.subtract(pw, one), z))
    neg_abs = _ops.where(xd >= 0, _ops.negative(x), x)
    relu_neg = _ops.where(xd < 0, _ops.negative(x), zero)
    return _ops.add(_ops.multiply(_ops.subtract(one, z), x),
                    _ops.multiply(log_weight, _ops.add(_ops.log1p(_ops.exp(neg_abs)), relu_neg)))


def l2_loss(t, name=None):
    """``sum(t ** 2) / 2`` (a scalar of t's dtype)."""
    x = _float_input("l2_loss", "t", t)
    return _ops.multiply(_ops.sum(_ops.square(x)), _data(x).dtype.type(0.5))


def compute_average_loss(per_example_loss, sample_weight=None, global_batch_size=None):
    """``sum(per_example_loss * sample_weight) / global_batch_size`` (TF; the batch size defaults
    to the number of examples, the first axis)."""
    fname = "compute_average_loss"
    loss = _float_input(fname, "per_example_loss", per_example_loss)
    ld = _data(loss)
    if sample_weight is not None:
        loss = _ops.multiply(loss, _same_dtype(fname, "sample_weight", sample_weight, ld.dtype))
    if global_batch_size is None:
        n = ld.shape[0] if ld.ndim else 1
    else:
        if isinstance(global_batch_size, (bool, np.bool_)) or not isinstance(global_batch_size, numbers.Integral):
            raise TypeError(f"{fname}: global_batch_size must be an integer, got {global_batch_size!r}")
        n = int(global_batch_size)
        if n <= 0:
            raise ValueError(f"{fname}: global_batch_size must be positive, got {global_batch_size}")
    total = _ops.sum(loss)
    return _ops.divide(total, ld.dtype.type(n)) if n else _ops.multiply(total, ld.dtype.type(0))


def scale_regularization_loss(regularization_loss):
    """The sum of the regularization losses (one replica: nothing to divide by)."""
    if isinstance(regularization_loss, (list, tuple)):
        if not regularization_loss:
            return Tensor(np.float32(0))
        total = regularization_loss[0]
        for r in regularization_loss[1:]:
            total = _ops.add(total, r)
        return _ops.sum(total) if _data(total).ndim else _ops.add(total, 0.0)
    return _ops.sum(_float_input("scale_regularization_loss", "regularization_loss", regularization_loss))


# ---------------------------------------------------------------------------
# Others
# ---------------------------------------------------------------------------

def bias_add(value, bias, data_format=None, name=None):
    """``value + bias`` along the channel axis: the last one (``'NHWC'``, ``'NWC'``, ``None``)
    or axis 1 (``'NCHW'``, ``'NCW'``, any format starting with ``'NC'``)."""
    fname = "bias_add"
    x = _t(value)
    xd = _data(x)
    b = _t(bias)
    bd = _data(b)
    if xd.dtype.kind not in "iuf":
        raise TypeError(f"{fname}: value must be numeric, got dtype {xd.dtype}")
    if bd.dtype != xd.dtype:
        raise TypeError(f"{fname}: bias must have value's dtype {xd.dtype}, got {bd.dtype}")
    if bd.ndim != 1:
        raise ValueError(f"{fname}: bias must be 1-D, got shape {tuple(bd.shape)}")
    if xd.ndim < 2:
        raise ValueError(f"{fname}: value must be at least 2-D, got shape {tuple(xd.shape)}")
    if data_format is None or (isinstance(data_format, str) and data_format.startswith("N")
                               and data_format.endswith("C")):
        axis = xd.ndim - 1
    elif isinstance(data_format, str) and data_format.startswith("NC"):
        axis = 1
    else:
        raise ValueError(f"{fname}: unknown data_format {data_format!r} (use 'N...C' or 'NC...')")
    if xd.shape[axis] != bd.shape[0]:
        raise ValueError(f"{fname}: bias of shape {tuple(bd.shape)} does not match the channel axis {axis} "
                         f"of value with shape {tuple(xd.shape)}")
    if axis != xd.ndim - 1:
        b = _ops.reshape(b, (bd.shape[0],) + (1,) * (xd.ndim - axis - 1))
    return _ops.add(x, b)


_RNG = np.random.default_rng()


def dropout(x, rate, noise_shape=None, seed=None, name=None):
    """Zero each element with probability ``rate`` and scale the kept ones by ``1 / (1 - rate)``
    (TF).  ``noise_shape`` broadcasts the mask; ``seed`` (an int) makes the mask reproducible."""
    fname = "dropout"
    x = _float_input(fname, "x", x)
    xd = _data(x)
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real):
        raise TypeError(f"{fname}: rate must be a float in [0, 1), got {rate!r}")
    r = float(rate)
    if not 0.0 <= r < 1.0:
        raise ValueError(f"{fname}: rate must be in [0, 1), got {rate!r}")
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"{fname}: seed must be an integer or None, got {seed!r}")
    shape = xd.shape if noise_shape is None else tuple(int(s) for s in _data(noise_shape).reshape(-1)) \
        if isinstance(noise_shape, (Tensor, np.ndarray)) else tuple(noise_shape)
    try:
        np.broadcast_shapes(shape, xd.shape)
    except ValueError:
        raise ValueError(f"{fname}: noise_shape {shape} does not broadcast to x's shape {xd.shape}") from None
    if r == 0.0:
        return x if isinstance(x, Tensor) else Tensor(x)
    rng = _RNG if seed is None else np.random.default_rng(int(seed))
    keep = rng.random(shape) >= r
    mask = keep.astype(xd.dtype) * xd.dtype.type(1.0 / (1.0 - r))
    return _ops.multiply(x, mask)


def embedding_lookup(params, ids, max_norm=None, name=None):
    """``params[ids]`` along the first axis (gradient scattered back into ``params``)."""
    if max_norm is not None:
        raise NotImplementedError("embedding_lookup: max_norm is not supported")
    p = _t(params)
    idx = _data(ids)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding_lookup: ids must be integers, got dtype {idx.dtype}")
    n = _data(p).shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"embedding_lookup: ids must be in [0, {n}), got values from {idx.min()} to {idx.max()}")
    return _ops.getitem(p, idx)
