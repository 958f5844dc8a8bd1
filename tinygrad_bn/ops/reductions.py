"""Reductions (sum, mean, var, max, min) and the softmax family.

Each reduction takes NumPy's ``axis`` and ``keepdims``; its backward puts the
gradient back into the input's shape.
"""
import numpy as np

from .registry import op


def _axes(axis, ndim):
    """Normalise ``axis`` to a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(out))


def _expand(g, shape, axes, keepdims):
    """Give a reduced gradient back its reduced axes (size 1), ready to broadcast."""
    if keepdims or not axes:
        return g
    return np.reshape(g, tuple(1 if i in axes else n for i, n in enumerate(shape)))


_ndarray = np.ndarray
_add_reduce = np.add.reduce


def _fill(shape, dtype, g):
    """A new contiguous array of ``shape`` holding ``g`` broadcast."""
    out = np.empty(shape, dtype)
    out[...] = g
    return out


@op
class sum:  # noqa: A001 - NumPy's name
    """Sum over ``axis`` (all axes by default)."""
    def forward(x, axis=None, keepdims=False):
        if type(x) is not _ndarray:
            x = np.asarray(x)
        return _add_reduce(x, axis, None, None, keepdims), (x, axis, keepdims)

    def backward(res, g, needs):
        x, axis, keepdims = res
        shape = x.shape
        if axis is not None and not keepdims:
            g = _expand(g, shape, _axes(axis, len(shape)), False)
        return (_fill(shape, x.dtype, g),)


@op
class mean:
    """Mean over ``axis`` (all axes by default)."""
    def forward(x, axis=None, keepdims=False):
        if type(x) is not np.ndarray:
            x = np.asarray(x)
        axes = _axes(axis, x.ndim)
        count = 1
        for a in axes:
            count *= x.shape[a]
        return x.mean(axis=axis, keepdims=keepdims), (x.shape, x.dtype, axes, keepdims, count)

    def backward(res, g, needs):
        shape, dtype, axes, keepdims, count = res
        return (_fill(shape, dtype, _expand(g, shape, axes, keepdims) / count),)


@op
class var:
    """Variance over ``axis`` with ``ddof`` (biased, ddof=0, by default, as NumPy)."""
    def forward(x, axis=None, keepdims=False, ddof=0):
        x = np.asarray(x)
        axes = _axes(axis, x.ndim)
        count = 1
        for a in axes:
            count *= x.shape[a]
        centered = x - x.mean(axis=axes, keepdims=True)
        out = np.sum(centered * centered, axis=axes, keepdims=keepdims) / (count - ddof)
        return out, (centered, axes, keepdims, count - ddof)

    def backward(res, g, needs):
        centered, axes, keepdims, denom = res
        return (_expand(g, centered.shape, axes, keepdims) * (2.0 / denom) * centered,)


class _extreme:
    """Shared backward of max and min: the gradient is split among tied winners."""
    @staticmethod
    def backward(res, g, needs):
        x, out, axes, keepdims = res
        out_k = _expand(out, x.shape, axes, keepdims)
        mask = (x == out_k)
        ties = mask.sum(axis=axes, keepdims=True)
        return ((_expand(g, x.shape, axes, keepdims) / ties) * mask,)


@op(name="max")
class max_:
    """Maximum over ``axis``; ties share the gradient equally."""
    def forward(x, axis=None, keepdims=False):
        x = np.asarray(x)
        out = x.max(axis=axis, keepdims=keepdims)
        return out, (x, out, _axes(axis, x.ndim), keepdims)

    backward = _extreme.backward


@op(name="min")
class min_:
    """Minimum over ``axis``; ties share the gradient equally."""
    def forward(x, axis=None, keepdims=False):
        x = np.asarray(x)
        out = x.min(axis=axis, keepdims=keepdims)
        return out, (x, out, _axes(axis, x.ndim), keepdims)

    backward = _extreme.backward


@op
class softmax:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the max for stability."""
    def forward(x, axis=-1):
        z = np.exp(x - np.max(x, axis=axis, keepdims=True))
        out = z / z.sum(axis=axis, keepdims=True)
        return out, (out, axis)

    def backward(res, g, needs):
        out, axis = res
        return (out * (g - np.sum(g * out, axis=axis, keepdims=True)),)


@op
class log_softmax:
    """x - logsumexp(x) along ``axis``, computed stably."""
    def forward(x, axis=-1):
        shifted = x - np.max(x, axis=axis, keepdims=True)
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
        return out, (out, axis)

    def backward(res, g, needs):
        out, axis = res
        return (g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) composed from primitives (stable: shifted by a constant max)."""
    from .elementwise import add, exp, log, stop_gradient, subtract
    m = stop_gradient(max_(x, axis=axis, keepdims=True))
    s = sum(exp(subtract(x, m)), axis=axis, keepdims=True)
    out = add(log(s), m)
    if not keepdims:
        from .shape import squeeze
        out = squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return out
