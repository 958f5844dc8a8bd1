"""Shape primitives: reshape, transpose, swapaxes, expand_dims, squeeze, broadcast_to,
concatenate, stack and indexing.  They move values around; their vjps move the
gradient back (with functions that also run on Tensors, for higher order)."""
import numpy as np

from .._engine import Tensor
from .registry import op, unbroadcast

__all__ = ["reshape", "transpose", "swapaxes", "expand_dims", "squeeze", "broadcast_to", "concatenate",
           "stack", "getitem", "scatter"]


def _arr(x):
    return x if hasattr(x, "shape") else np.asarray(x)


@op(nin=1, operator="reshape")
class reshape:
    """Give ``x`` a new shape with the same number of elements (``-1`` infers one axis)."""
    def forward(x, shape):
        x = _arr(x)
        if isinstance(shape, Tensor):
            shape = tuple(int(s) for s in np.asarray(shape.data).reshape(-1))
        return x.reshape(shape), x.shape

    def backward(shape, g, needs):
        return (np.reshape(g, shape),)


@op(operator="transpose")
class transpose:
    """Permute axes (reverse them by default)."""
    def forward(x, axes=None):
        x = _arr(x)
        if axes is None:
            axes = tuple(range(x.ndim))[::-1]
        axes = tuple(int(a) % max(x.ndim, 1) for a in axes)
        return np.transpose(x, axes), tuple(int(i) for i in np.argsort(axes))

    def backward(inverse, g, needs):
        return (np.transpose(g, inverse),)


def swapaxes(x, axis1, axis2):
    """Exchange two axes (a transpose)."""
    nd = len(x.shape) if hasattr(x, "shape") else np.ndim(x)
    axes = list(range(nd))
    a, b = axis1 % nd, axis2 % nd
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))


@op(nin=1)
class expand_dims:
    """Insert a size-1 axis at ``axis``."""
    def forward(x, axis):
        x = _arr(x)
        return np.expand_dims(x, axis), x.shape

    def backward(shape, g, needs):
        return (np.reshape(g, shape),)


@op
class squeeze:
    """Remove size-1 axes (all of them, or those in ``axis``)."""
    def forward(x, axis=None):
        x = _arr(x)
        return np.squeeze(x, axis), x.shape

    def backward(shape, g, needs):
        return (np.reshape(g, shape),)


@op(nin=1)
class broadcast_to:
    """Broadcast ``x`` to ``shape`` (the result is a read-only view)."""
    def forward(x, shape):
        x = _arr(x)
        return np.broadcast_to(x, shape), x.shape

    def backward(shape, g, needs):
        return (unbroadcast(g, shape),)


def _along(ax, index):
    return (slice(None),) * ax + (index,)


@op(name="concatenate")
class _concatenate:
    """Join tensors along an existing axis."""
    def forward(*arrays, axis=0):
        arrays = [_arr(a) for a in arrays]
        out = np.concatenate(arrays, axis=axis)
        ax = axis % out.ndim
        bounds = np.cumsum([0] + [a.shape[ax] for a in arrays]).tolist()
        return out, (ax, bounds)

    def backward(res, g, needs):
        ax, bounds = res
        return tuple(g[_along(ax, slice(bounds[i], bounds[i + 1]))] if needs[i] else None
                     for i in range(len(bounds) - 1))


@op(name="stack", operator="stack")
class _stack:
    """Join tensors along a new axis."""
    def forward(*arrays, axis=0):
        out = np.stack([_arr(a) for a in arrays], axis=axis)
        return out, (axis % out.ndim, len(arrays))

    def backward(res, g, needs):
        ax, n = res
        return tuple(g[_along(ax, i)] if needs[i] else None for i in range(n))


def concatenate(arrays, axis=0):
    """Join a sequence of tensors along an existing axis (NumPy's signature)."""
    return _concatenate(*arrays, axis=axis)


def stack(arrays, axis=0):
    """Join a sequence of tensors along a new axis (NumPy's signature)."""
    return _stack(*arrays, axis=axis)


def _plain_index(index):
    """Turn Tensors inside an index into arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _is_basic(index):
    """True for indexes made of ints, slices, None and Ellipsis (no repeats possible)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (slice, int, np.integer)) for i in items)


def _scatter_array(g, shape, index):
    out = np.zeros(shape, g.dtype if hasattr(g, "dtype") else np.float32)
    if _is_basic(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


@op(name="getitem", operator="getitem", nin=1)
class getitem:
    """``x[index]``: basic slicing and integer/boolean array indexing.

    The backward scatters the gradient back; repeated integer indexes add up.
    """
    def forward(x, index):
        x = _arr(x)
        index = _plain_index(index)
        return x[index], (x.shape, index)

    def backward(res, g, needs):
        shape, index = res
        if isinstance(g, Tensor):
            return (scatter(g, shape, index),)
        return (_scatter_array(g, shape, index),)


@op(nin=1)
class scatter:
    """Zeros of ``shape`` with ``g`` added at ``index`` (the vjp of ``getitem``; its own vjp is ``getitem``)."""
    def forward(g, shape, index):
        return _scatter_array(_arr(g), tuple(shape), index), index

    def backward(index, gg, needs):
        return (gg[index],)
