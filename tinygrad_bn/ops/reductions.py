"""Reductions (sum, mean, var, max, min) and the softmax family.

Each reduction takes NumPy's ``axis`` and ``keepdims``; its backward puts the
gradient back into the input's shape (with NumPy functions, so it runs on
Tensors too for higher-order gradients).
"""
import builtins

import numpy as np

from .._engine import Tensor
from .registry import op
from .shape import broadcast_to

__all__ = ["sum", "mean", "var", "std", "max", "min", "amax", "amin", "prod", "softmax", "log_softmax",
           "logsumexp"]


_AXES = {}          # (axis, ndim) -> normalised axes: a reduction's axis argument is usually the same


def _axes(axis, ndim):
    """Normalise ``axis`` to a sorted tuple of non-negative axes."""
    kind = type(axis)
    if kind is tuple:
        for a in axis:
            if type(a) is not int:      # np.integer, bool, float ...: no cache (True == 1 as a key)
                return _normalise_axes(axis, ndim)
    elif kind is not int and axis is not None:
        return _normalise_axes(axis, ndim)
    out = _AXES.get((axis, ndim))
    if out is None:
        out = _normalise_axes(axis, ndim)
        if len(_AXES) < 4096:
            _AXES[axis, ndim] = out
    return out


def _normalise_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    elif not isinstance(axis, (tuple, list)):
        raise TypeError(f"axis must be an integer or a tuple of integers, got {axis!r}")
    out = []
    for a in axis:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"axis must be an integer or a tuple of integers, got {a!r}")
        a = int(a)
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis!r}")
    return tuple(sorted(out))


def _expand(g, shape, axes, keepdims):
    """Give a reduced gradient back its reduced axes (size 1), ready to broadcast."""
    if keepdims or not axes:
        return g
    kept = tuple(1 if i in axes else n for i, n in enumerate(shape))
    return g.reshape(kept) if type(g) is _ndarray or isinstance(g, Tensor) else np.reshape(g, kept)


def _fill(shape, dtype, g):
    """``g`` broadcast to ``shape``: a new contiguous array (or, on Tensors, a recorded broadcast)."""
    if isinstance(g, Tensor):
        return broadcast_to(g, shape)
    out = np.empty(shape, dtype)
    out[...] = g
    return out


def _ndim(x):
    return x.ndim if hasattr(x, "ndim") else np.ndim(x)


_add_reduce = np.add.reduce
_max_reduce = np.maximum.reduce
_ndarray = np.ndarray


@op(operator="sum")
class sum:  # noqa: A001 - NumPy's name
    """Sum over ``axis`` (all axes by default)."""
    def forward(x, axis=None, keepdims=False):
        if axis is not None:
            try:
                nd = x.ndim
            except AttributeError:
                nd = np.ndim(x)
            axis = _axes(axis, nd)
        return _add_reduce(x, axis, None, None, keepdims), (x, axis, keepdims)

    def backward(res, g, needs):
        x, axis, keepdims = res
        shape = x.shape
        if axis is not None and not keepdims:
            g = _expand(g, shape, axis, False)
        return (_fill(shape, x.dtype, g),)


_F16 = np.dtype(np.float16)


def _mean_of(x, axes, keepdims, count):
    """``x.mean(axis=axes, keepdims=keepdims)`` with NumPy's exact arithmetic (the sum, then a
    division by the count as an intp, rounded into the dtype) without its Python-level wrapper."""
    if count == 0 or x.dtype.kind != "f" or x.dtype == _F16:
        return x.mean(axis=axes, keepdims=keepdims)     # NumPy's warnings, f16 and int promotion
    total = _add_reduce(x, axes, None, None, keepdims)
    if type(total) is _ndarray:
        return np.true_divide(total, np.intp(count), out=total, casting="unsafe")
    return total.dtype.type(total / np.intp(count))


@op(operator="mean")
class mean:
    """Mean over ``axis`` (all axes by default)."""
    def forward(x, axis=None, keepdims=False):
        if not hasattr(x, "mean"):
            x = np.asarray(x)
        axes = _axes(axis, x.ndim)
        count = 1
        for a in axes:
            count *= x.shape[a]
        if type(x) is _ndarray:
            out = _mean_of(x, axes, keepdims, count)
        else:
            out = x.mean(axis=axes, keepdims=keepdims)
        return out, (x.shape, x.dtype, axes, keepdims, count)

    def backward(res, g, needs):
        shape, dtype, axes, keepdims, count = res
        return (_fill(shape, dtype, _expand(g, shape, axes, keepdims) / count),)

    def tensor_backward(res, g, needs):
        shape, dtype, axes, keepdims, count = res
        return (mean_grad(g, shape, axes, keepdims, count),)     # one recorded op, not two


@op(nin=1)
class mean_grad:
    """The vjp of ``mean``: ``g / count`` spread over ``shape`` (``g`` reduced over ``axes``), one op
    so that a differentiated backward records one op; its own vjp is ``mean`` again."""
    def forward(g, shape, axes, keepdims, count):
        if not hasattr(g, "dtype"):
            g = np.asarray(g)
        if type(shape) is not tuple or type(axes) is not tuple:
            shape = tuple(shape)
            axes = _axes(tuple(axes), len(shape))
        return _fill(shape, g.dtype, _expand(g, shape, axes, keepdims) / count), (g.shape, axes, keepdims)

    def backward(res, gg, needs):
        gshape, axes, keepdims = res
        count = 1
        for a in axes:
            count *= gg.shape[a]
        out = _mean_of(gg, axes, keepdims, count)
        return (out if out.shape == gshape else np.reshape(out, gshape),)

    def tensor_backward(res, gg, needs):
        gshape, axes, keepdims = res
        out = mean(gg, axis=axes, keepdims=keepdims)
        return (out if out.shape == gshape else np.reshape(out, gshape),)


@op(operator="var")
class var:
    """Variance over ``axis`` with ``ddof`` (biased, ddof=0, by default, as NumPy).

    As NumPy, ``ddof >= count`` divides by zero: inf or NaN, not an exception."""
    def forward(x, axis=None, keepdims=False, ddof=0):
        if not hasattr(x, "mean"):
            x = np.asarray(x)
        axes = _axes(axis, x.ndim)
        count = 1
        for a in axes:
            count *= x.shape[a]
        denom = np.float64(builtins.max(count - ddof, 0))
        centered = x - x.mean(axis=axes, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.sum(centered * centered, axis=axes, keepdims=keepdims) / centered.dtype.type(denom)
        return out, (centered, axes, keepdims, denom)

    def backward(res, g, needs):
        centered, axes, keepdims, denom = res
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.float64(2.0) / denom
        return (_expand(g, centered.shape, axes, keepdims) * centered.dtype.type(scale) * centered,)


def std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation: ``sqrt(var(x))``."""
    from .elementwise import sqrt
    return sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


class _extreme:
    """Shared backward of max and min: the gradient is split among tied winners."""
    @staticmethod
    def backward(res, g, needs):
        x, out, axes, keepdims = res
        out_k = _expand(out, x.shape, axes, keepdims)
        mask = (x == out_k)
        ties = np.sum(mask, axis=axes, keepdims=True)
        return (np.where(mask, _expand(g, x.shape, axes, keepdims) / ties, 0),)


@op(name="max", operator="max")
class max_:
    """Maximum over ``axis``; ties share the gradient equally."""
    def forward(x, axis=None, keepdims=False):
        if not hasattr(x, "max"):
            x = np.asarray(x)
        axes = _axes(axis, x.ndim)
        if x.size == 0:
            raise ValueError(f"zero-size array (shape {x.shape}) has no maximum")
        out = x.max(axis=axes, keepdims=keepdims)
        return out, (x, out, axes, keepdims)

    backward = _extreme.backward


@op(name="min", operator="min")
class min_:
    """Minimum over ``axis``; ties share the gradient equally."""
    def forward(x, axis=None, keepdims=False):
        if not hasattr(x, "min"):
            x = np.asarray(x)
        axes = _axes(axis, x.ndim)
        if x.size == 0:
            raise ValueError(f"zero-size array (shape {x.shape}) has no minimum")
        out = x.min(axis=axes, keepdims=keepdims)
        return out, (x, out, axes, keepdims)

    backward = _extreme.backward


@op(operator="prod")
class prod:
    """Product over ``axis`` (gradient exact also where elements are zero)."""
    def forward(x, axis=None, keepdims=False):
        if not hasattr(x, "prod"):
            x = np.asarray(x)
        axes = _axes(axis, x.ndim)
        out = np.prod(x, axis=axes, keepdims=keepdims)
        return out, (x, axes, keepdims)

    def backward(res, g, needs):
        x, axes, keepdims = res
        # d prod / d x_i is the product of the other elements of x_i's group
        if not np.any(x == 0):
            others = np.prod(x, axis=axes, keepdims=True) / x
        else:
            # zeros: the product of the others, literally (x_i replaced by 1), which stays
            # exact and differentiable where elements are zero
            rest = tuple(i for i in range(x.ndim) if i not in axes)
            moved = np.transpose(x, rest + axes)
            lead = moved.shape[:len(rest)]
            n = 1
            for a in axes:
                n *= x.shape[a]
            flat = np.reshape(moved, lead + (n,))
            rows = np.where(np.eye(n, dtype=bool), 1, flat[..., None, :])     # (..., n, n)
            others = np.reshape(np.prod(rows, axis=-1), moved.shape)
            others = np.transpose(others, tuple(np.argsort(rest + axes)))
        return (_expand(g, x.shape, axes, keepdims) * others,)


amax, amin = max_, min_
max = max_  # noqa: A001 - NumPy's name
min = min_  # noqa: A001 - NumPy's name


@op
class softmax:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the max for stability."""
    def forward(x, axis=-1):
        z = np.exp(x - np.max(x, axis=axis, keepdims=True))
        out = z / np.sum(z, axis=axis, keepdims=True)
        return out, (out, axis)

    def backward(res, g, needs):
        out, axis = res
        return (out * (g - np.sum(g * out, axis=axis, keepdims=True)),)


@op
class log_softmax:
    """x - logsumexp(x) along ``axis``, computed stably."""
    def forward(x, axis=-1):
        if type(x) is not _ndarray:
            x = np.asarray(x)
        shifted = x - _max_reduce(x, axis, None, None, True)
        out = shifted - np.log(_add_reduce(np.exp(shifted), axis, None, None, True))
        return out, (out, axis)

    def backward(res, g, needs):
        out, axis = res
        return (g - np.exp(out) * _add_reduce(g, axis, None, None, True),)

    def tensor_backward(res, g, needs):
        out, axis = res
        return (log_softmax_grad(out, g, axis),)        # one recorded op, not four


@op
class log_softmax_grad:
    """``g - exp(y) * sum(g, axis)``: the vjp of ``log_softmax`` given its output ``y``, one op so
    that a differentiated backward records one op (its own vjp is written with ops)."""
    def forward(y, g, axis=-1):
        return g - np.exp(y) * _add_reduce(g, axis, None, None, True), (y, g, axis)

    def backward(res, gg, needs):
        y, g, axis = res
        gp = gg * np.exp(y)
        return (-gp * _add_reduce(g, axis, None, None, True) if needs[0] else None,
                gg - _add_reduce(gp, axis, None, None, True) if needs[1] else None)

    def tensor_backward(res, gg, needs):
        y, g, axis = res
        gp = gg * np.exp(y)
        return (-gp * g.sum(axis=axis, keepdims=True) if needs[0] else None,
                gg - gp.sum(axis=axis, keepdims=True) if needs[1] else None)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) composed from primitives, shifted by a constant max for stability.

    As IEEE arithmetic says: a row of all ``-inf`` gives ``-inf``, a row holding
    ``+inf`` gives ``+inf``, NaN gives NaN."""
    from .elementwise import add, exp, log, subtract
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    m = np.max(data, axis=axis, keepdims=True) if data.size else np.zeros((1,) * data.ndim, data.dtype)
    m = np.where(np.isfinite(m), m, 0).astype(data.dtype if data.dtype.kind == "f" else np.float32)
    with np.errstate(divide="ignore"):
        out = add(log(sum(exp(subtract(x, m)), axis=axis, keepdims=True)), m)
    if not keepdims:
        from .shape import reshape
        shape = tuple(n for i, n in enumerate(out.shape) if i not in _axes(axis, data.ndim))
        out = reshape(out, shape)
    return out
